/* A CPU stand-in for the CUDA runtime and cuBLAS, so that src/nn/backend_cuda.cu compiles as
 * host C++ (tests/test_cuda_emu.cpp) and tests/test_cuda.c runs its kernels on a machine
 * without a GPU (the test_cuda_emu program; every build).
 *
 * What it checks: the kernels' index arithmetic, grid-stride loops, block reductions and
 * their __syncthreads, the row-major GEMM mapping onto column-major cuBLAS calls (here
 * cblas_sgemm in column-major order, the same contract), strides of the batched calls, the
 * staged copies; "device" memory is host memory filled with NaN when allocated, so a
 * kernel that reads what nobody wrote shows.  What it cannot: the GPU's memory model,
 * races between blocks (blocks run one after another here; a block's threads do run at
 * once, as real threads meeting at a barrier), launch limits, cuBLAS's own numerics, and
 * speed.  A block has EMU_THREADS threads (the kernels take any power of two), and grid-
 * stride launches at most VV_CUDA_MAX_BLOCKS blocks, to keep the thread count small. */
#ifndef VV_TEST_CUDA_EMULATION_H
#define VV_TEST_CUDA_EMULATION_H

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <thread>
#include <vector>

#define VV_CUDA_EMULATION 1
#define VV_CUDA_MAX_BLOCKS 3u
#define EMU_THREADS 32u

/* ---- Kernels ---- */
#define __global__
#define __device__
#define __shared__ static /* one copy; the blocks run one at a time */

struct dim3 {
    unsigned x, y, z;
};
static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
static pthread_barrier_t emu_barrier;

static inline void __syncthreads(void) { pthread_barrier_wait(&emu_barrier); }

/* Runs body() as grid blocks of min(block, EMU_THREADS) threads, block after block. */
template <class F> static void emu_launch(unsigned grid, unsigned block, F body) {
    unsigned threads = block < EMU_THREADS ? block : EMU_THREADS;
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{threads, 1, 1};
    pthread_barrier_init(&emu_barrier, NULL, threads);
    for (unsigned b = 0; b < grid; b++) {
        std::vector<std::thread> team;
        for (unsigned t = 0; t < threads; t++)
            team.emplace_back([=]() {
                threadIdx = dim3{t, 0, 0};
                blockIdx = dim3{b, 0, 0};
                body();
            });
        for (auto &th : team) th.join();
    }
    pthread_barrier_destroy(&emu_barrier);
}
#define LAUNCH(kernel, grid, block, ...) emu_launch((grid), (block), [=]() { kernel(__VA_ARGS__); })

/* ---- Runtime ---- */
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInsufficientDriver = 35 };
typedef void *cudaStream_t;
enum { cudaStreamNonBlocking = 1 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
struct cudaDeviceProp {
    char name[256];
};
static inline const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated failure" : "no error"; }
static inline cudaError_t cudaGetDeviceCount(int *count) { return *count = 1, cudaSuccess; }
static inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    strcpy(p->name, "CPU emulation (tests/test_cuda_emulation.h)");
    return cudaSuccess;
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, int) { return *s = NULL, cudaSuccess; }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = malloc(bytes);
    if (!*p) return cudaErrorMemoryAllocation;
    memset(*p, 0xff, bytes); /* NaN floats: reading unwritten memory shows */
    return cudaSuccess;
}
static inline cudaError_t cudaFree(void *p) { return free(p), cudaSuccess; }
static inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
    return memcpy(dst, src, bytes), cudaSuccess;
}
static inline cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t) {
    return memset(p, value, bytes), cudaSuccess;
}

/* ---- cuBLAS: column-major sgemm through CBLAS ---- */
typedef void *cublasHandle_t;
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 };
typedef enum { CUBLAS_OP_N, CUBLAS_OP_T } cublasOperation_t;
enum { CUBLAS_DEFAULT_MATH = 0 };
static inline cublasStatus_t cublasCreate(cublasHandle_t *h) { return *h = NULL, CUBLAS_STATUS_SUCCESS; }
static inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
static inline cublasStatus_t cublasSetMathMode(cublasHandle_t, int) { return CUBLAS_STATUS_SUCCESS; }
/* cuBLAS's argument checks (lda >= rows of op's stored matrix...), which CBLAS would abort on. */
static inline cublasStatus_t emu_check(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda,
                                       int ldb, int ldc) {
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < (ta == CUBLAS_OP_N ? m : k) || lda < 1) return CUBLAS_STATUS_INVALID_VALUE;
    if (ldb < (tb == CUBLAS_OP_N ? k : n) || ldb < 1) return CUBLAS_STATUS_INVALID_VALUE;
    if (ldc < m || ldc < 1) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *a, int lda, const float *b, int ldb,
                                         const float *beta, float *c, int ldc) {
    cublasStatus_t s = emu_check(ta, tb, m, n, k, lda, ldb, ldc);
    if (s == CUBLAS_STATUS_SUCCESS && m && n)
        cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_T ? CblasTrans : CblasNoTrans,
                    tb == CUBLAS_OP_T ? CblasTrans : CblasNoTrans, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
    return s;
}
static inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                                       int m, int n, int k, const float *alpha, const float *a,
                                                       int lda, long long sa, const float *b, int ldb, long long sb,
                                                       const float *beta, float *c, int ldc, long long sc, int batch) {
    for (int i = 0; i < batch; i++) {
        cublasStatus_t s = cublasSgemm(h, ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, ldc);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

#endif
