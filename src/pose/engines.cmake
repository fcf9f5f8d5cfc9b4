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
