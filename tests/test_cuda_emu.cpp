/* src/nn/backend_cuda.cu compiled as host C++ against tests/test_cuda_emulation.h: the CUDA
 * backend's kernels on CPU threads, for the test_cuda_emu program (tests/test_cuda.c
 * linked with this instead of the real backend; CMakeLists.txt). */
#include "test_cuda_emulation.h"

#include "nn/backend_cuda.cu"
