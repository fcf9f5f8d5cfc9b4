# Pose engines: TFLite reader, graph + pruning, the reference engine and (option
# CREASE_XNNPACK) the XNNPACK engine.  Library crease_pose_engine; see engine.h.
set(pose_engine_sources
    ${CMAKE_CURRENT_SOURCE_DIR}/tflite.c
    ${CMAKE_CURRENT_SOURCE_DIR}/graph.c
    ${CMAKE_CURRENT_SOURCE_DIR}/engine.c
    ${CMAKE_CURRENT_SOURCE_DIR}/engine_ref.c)
if(CREASE_XNNPACK)
  list(APPEND pose_engine_sources ${CMAKE_CURRENT_SOURCE_DIR}/engine_xnnpack.c)
endif()
add_library(crease_pose_engine STATIC ${pose_engine_sources})
target_link_libraries(crease_pose_engine PUBLIC crease_core m)
if(CREASE_XNNPACK)
  target_compile_definitions(crease_pose_engine PRIVATE CREASE_HAVE_XNNPACK=1)
  target_link_libraries(crease_pose_engine PUBLIC ${XNNPACK_LIBRARY} ${PTHREADPOOL_LIBRARY})
endif()

# ---- tests ------------------------------------------------------------------------
# Fixture: real person crops of media/cold_water.jpg as raw RGB24, made with the
# ffmpeg CLI (a 400x400 square around the standing man, chosen by hand), scaled to the
# detector's 224x224 and the landmark models' 256x256 inputs.
set(pose_engine_media ${CMAKE_CURRENT_BINARY_DIR}/engine_media)
set(pose_engine_crop "crop=400:400:270:133")
add_test(NAME pose_engine_media
         COMMAND sh -c "mkdir -p '${pose_engine_media}' && \
ffmpeg -nostdin -v error -y -i media/cold_water.jpg -vf ${pose_engine_crop},scale=224:224 \
-f rawvideo -pix_fmt rgb24 '${pose_engine_media}/cold_water_224.rgb' && \
ffmpeg -nostdin -v error -y -i media/cold_water.jpg -vf ${pose_engine_crop},scale=256:256 \
-f rawvideo -pix_fmt rgb24 '${pose_engine_media}/cold_water_256.rgb'"
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(pose_engine_media PROPERTIES FIXTURES_SETUP pose_engine_media LABELS unit)

crease_add_test(NAME test_tflite SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_tflite.c
                LIBS crease_pose_engine LABELS unit)
crease_add_test(NAME test_tflite_malformed
                SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_tflite_malformed.c
                LIBS crease_pose_engine LABELS fuzz TIMEOUT 600)
crease_add_test(NAME test_engine_ops SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_engine_ops.c
                LIBS crease_pose_engine Threads::Threads LABELS unit)
add_executable(test_engine_models ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_engine_models.c)
target_include_directories(test_engine_models PRIVATE ${CMAKE_SOURCE_DIR}/src
                                                      ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_engine_models PRIVATE crease_pose_engine)
foreach(m detector lite full heavy prune)
  add_test(NAME test_engine_models_${m} COMMAND test_engine_models ${m}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set(labels unit)
  if(m STREQUAL "heavy")
    set(labels slow) # ~2 GMAC through the reference engine
  endif()
  set_tests_properties(test_engine_models_${m} PROPERTIES
                       FIXTURES_REQUIRED pose_engine_media LABELS "${labels}"
                       ENVIRONMENT "CREASE_POSE_TEST_MEDIA=${pose_engine_media}"
                       SKIP_RETURN_CODE ${CREASE_TEST_SKIP} TIMEOUT 600)
endforeach()
