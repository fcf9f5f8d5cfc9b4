# BlazePose pipeline (library crease_pose): detector decoding, ROI, crops, landmarks,
# smoothing, the tracker, chunk JSON, skeleton overlays.  `crease pose` is in src/cli.
add_library(crease_pose STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/detector.c
    ${CMAKE_CURRENT_SOURCE_DIR}/roi.c
    ${CMAKE_CURRENT_SOURCE_DIR}/crop.c
    ${CMAKE_CURRENT_SOURCE_DIR}/landmarks.c
    ${CMAKE_CURRENT_SOURCE_DIR}/one_euro.c
    ${CMAKE_CURRENT_SOURCE_DIR}/tracker.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pose_json.c
    ${CMAKE_CURRENT_SOURCE_DIR}/overlay.c)
target_include_directories(crease_pose PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(crease_pose PUBLIC crease_pose_engine crease_core PkgConfig::JANSSON
                      PkgConfig::CAIRO PkgConfig::FFMPEG m)

# --- tests of the pipeline -------------------------------------------------------------
set(pose_pt ${CMAKE_CURRENT_SOURCE_DIR}/tests)
crease_add_test(NAME test_blazepose_unit SOURCES ${pose_pt}/test_blazepose_unit.c
                LIBS crease_pose LABELS unit)
add_library(crease_pose_testmedia STATIC ${pose_pt}/pose_test_media.c)
target_link_libraries(crease_pose_testmedia PUBLIC PkgConfig::FFMPEG)
crease_add_test(NAME test_blazepose_images SOURCES ${pose_pt}/test_blazepose_images.c
                LIBS crease_pose crease_pose_testmedia LABELS unit)
# Frames for the slower tests (known-motion clip, vtest.avi excerpt), made once per build tree.
set(pose_frames ${CMAKE_CURRENT_BINARY_DIR}/blazepose_frames)
add_test(NAME blazepose_frames COMMAND sh ${pose_pt}/blazepose_frames.sh ${pose_frames}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(blazepose_frames PROPERTIES FIXTURES_SETUP blazepose_frames LABELS slow)
crease_add_test(NAME test_blazepose_motion SOURCES ${pose_pt}/test_blazepose_motion.c
                LIBS crease_pose crease_pose_testmedia LABELS slow ARGS ${pose_frames}/motion)
set_tests_properties(test_blazepose_motion PROPERTIES FIXTURES_REQUIRED blazepose_frames)
add_executable(test_blazepose_mediapipe ${pose_pt}/test_blazepose_mediapipe.c)
target_include_directories(test_blazepose_mediapipe PRIVATE ${CMAKE_SOURCE_DIR}/src
                           ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_blazepose_mediapipe PRIVATE crease_pose crease_pose_testmedia)
add_test(NAME test_blazepose_mediapipe
         COMMAND sh ${pose_pt}/test_blazepose_mediapipe.sh $<TARGET_FILE:test_blazepose_mediapipe>
                 ${pose_frames} ${CMAKE_CURRENT_BINARY_DIR}/blazepose_mediapipe
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_blazepose_mediapipe PROPERTIES FIXTURES_REQUIRED blazepose_frames
                     LABELS slow SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME test_blazepose_cli
         COMMAND sh ${pose_pt}/test_blazepose_cli.sh $<TARGET_FILE:crease>
                 ${CMAKE_CURRENT_BINARY_DIR}/blazepose_cli ${pose_frames}/motion
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_blazepose_cli PROPERTIES FIXTURES_REQUIRED blazepose_frames LABELS slow)
crease_add_test(NAME test_blazepose_nomem SOURCES ${pose_pt}/test_blazepose_nomem.c
                LIBS crease_pose crease_pose_testmedia LABELS unit)
