# cuda.cmake -- decides whether the CUDA engine is built (CREASE_CUDA: AUTO, ON, OFF) and
# how: CREASE_HAVE_CUDA (TRUE/FALSE), CREASE_NVCC, CREASE_CUDART_STATIC.
#
# CMake's own CUDA language support is deliberately not used: with it, every program
# linking crease_engine would be linked by nvcc (CMake picks the linker of the "highest"
# language in the link), which breaks the sanitizer and fuzzing link flags.  Instead
# src/engine/CMakeLists.txt compiles engine_cuda.cu with nvcc into one object, and the
# C compiler links it with the static CUDA runtime (libcudart_static.a): the binary then
# needs no libcudart at run time and starts on machines without CUDA, where the engine
# reports "no CUDA device" (libcuda, the driver, is loaded by the runtime with dlopen).
# The object is compiled without C++ exceptions and thread-safe statics, so nothing
# from libstdc++ is needed either.
set(CREASE_HAVE_CUDA FALSE)
string(TOUPPER "${CREASE_CUDA}" _cuda_mode)
if(_cuda_mode STREQUAL "AUTO" OR CREASE_CUDA)
  find_program(CREASE_NVCC nvcc HINTS ENV CUDA_HOME PATH_SUFFIXES bin
               PATHS /usr/local/cuda/bin)
  set(_cuda_why "")
  if(NOT CREASE_NVCC)
    set(_cuda_why "nvcc not found (PATH, CUDA_HOME, /usr/local/cuda)")
  else()
    get_filename_component(_cuda_root "${CREASE_NVCC}" DIRECTORY)
    get_filename_component(_cuda_root "${_cuda_root}" DIRECTORY)
    find_library(CREASE_CUDART_STATIC NAMES libcudart_static.a
                 HINTS ${_cuda_root}/lib64 ${_cuda_root}/targets/x86_64-linux/lib
                 NO_DEFAULT_PATH)
    if(NOT CREASE_CUDART_STATIC)
      set(_cuda_why "libcudart_static.a not found under ${_cuda_root}")
    elseif(NOT DEFINED CREASE_NVCC_WORKS)
      # nvcc present is not enough (host compiler versions): compile a kernel once (the
      # answer is cached: -UCREASE_NVCC_WORKS asks again).
      set(_t ${CMAKE_BINARY_DIR}/CMakeFiles/crease_nvcc_probe)
      file(MAKE_DIRECTORY ${_t})
      file(WRITE ${_t}/probe.cu "__global__ void k(float *x) { x[0] = 1.0f; }\n")
      execute_process(COMMAND ${CREASE_NVCC} -c ${_t}/probe.cu -o ${_t}/probe.o
                      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_VARIABLE _cuda_err)
      if(_rc EQUAL 0)
        set(CREASE_NVCC_WORKS TRUE CACHE INTERNAL "nvcc compiled a probe kernel")
      else()
        set(CREASE_NVCC_WORKS FALSE CACHE INTERNAL "nvcc compiled a probe kernel")
        message(STATUS "crease: nvcc failed on a probe kernel: ${_cuda_err}")
      endif()
    endif()
    if(NOT _cuda_why AND NOT CREASE_NVCC_WORKS)
      set(_cuda_why "${CREASE_NVCC} cannot compile a kernel")
    endif()
  endif()
  if(_cuda_why)
    if(_cuda_mode STREQUAL "AUTO")
      message(STATUS "crease: CUDA engine not built: ${_cuda_why}")
    else()
      message(FATAL_ERROR "CREASE_CUDA=ON but ${_cuda_why}")
    endif()
  else()
    set(CREASE_HAVE_CUDA TRUE)
    message(STATUS "crease: CUDA engine built with ${CREASE_NVCC}, archs ${CREASE_CUDA_ARCHS}")
  endif()
endif()
