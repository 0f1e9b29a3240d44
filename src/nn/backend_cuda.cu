/* nn/backend_cuda: the CUDA backend (built with -DVV_CUDA=ON; nn/backend.h).
 *
 * Every entry of the table on device pointers: cuBLAS sgemm for GEMM (the row-major
 * contract mapped onto column-major: C^T = op(B)^T op(A)^T), convolutions as im2col /
 * col2im kernels + strided-batched cuBLAS sgemm (one call a sample over the groups), and
 * own kernels for the rest, each written after its CPU twin (nn/layers_basic.c, nn/ops.c,
 * nn/optim.c) so that tests/test_cuda.c can hold them to it: the same formulas, plane
 * statistics and loss sums in double, the per-channel sums of instance norm's backward
 * added sample by sample in the same order.  FP32 throughout (cuBLAS's default math: no
 * TF32).
 *
 * One stream, one cuBLAS handle, process-wide; ops queue work and return.  The first
 * failure (a launch, a cuBLAS status, an allocation of scratch) is kept and returned by
 * sync(); loss forwards sync for their value.  The device backend is for one thread at a
 * time; the staged backend (host pointers) serialises its calls with a mutex.
 *
 * Status: compiled and linked on machines without a GPU; the numerics are checked only by
 * scripts/gpu_check.sh (tests/test_cuda.c) on a machine with one (docs/TRAINING.md). */
extern "C" {
#include "nn/backend.h"
}

#ifndef VV_CUDA_EMULATION
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- State and errors ---- */

static int g_device = -1;
static cudaStream_t g_stream;
static cublasHandle_t g_blas;
static char g_device_name[256];
static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
/* The first failure since the last sync: a message ready for vv_fail. */
static char g_error[256];

static void note_cuda(cudaError_t e, const char *what) {
    if (e != cudaSuccess && !g_error[0])
        snprintf(g_error, sizeof g_error, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

static void note_blas(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS && !g_error[0])
        snprintf(g_error, sizeof g_error, "cuBLAS: %s: status %d", what, (int)s);
}

/* After a launch: a bad configuration shows here, a fault at the next sync. */
#define LAUNCHED(name) note_cuda(cudaGetLastError(), name)

static vv_status take_error(void) {
    if (!g_error[0]) return VV_OK;
    vv_status s = vv_fail(VV_ERR_INTERNAL, "%s", g_error);
    g_error[0] = 0;
    return s;
}

static const unsigned THREADS = 256;
#ifndef VV_CUDA_MAX_BLOCKS
#define VV_CUDA_MAX_BLOCKS (1u << 20)
#endif

/* Blocks for n elements of a grid-stride loop (capped: the loops cover the rest). */
static unsigned blocks_for(size_t n) {
    size_t b = (n + THREADS - 1) / THREADS;
    if (b < 1) b = 1;
    if (b > VV_CUDA_MAX_BLOCKS) b = VV_CUDA_MAX_BLOCKS;
    return (unsigned)b;
}

/* The current GPU is per host thread: every entry makes it the opened one on the thread
 * that calls (a rank on GPU 3 training from several threads). */
static void bind_device(void) {
    static thread_local int bound = -1;
    if (bound != g_device && g_device >= 0) {
        note_cuda(cudaSetDevice(g_device), "set device");
        bound = g_device;
    }
}

/* A kernel launch on the stream; tests/test_cuda_emulation.h runs it on CPU threads. */
#ifndef VV_CUDA_EMULATION
#define LAUNCH(kernel, grid, block, ...) (bind_device(), kernel<<<(grid), (block), 0, g_stream>>>(__VA_ARGS__))
#endif

#define GRID_LOOP(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* Growing device scratch (one for the ops, one for the convolutions' columns). */
typedef struct scratch {
    void *p;
    size_t bytes;
} scratch;

static void *scratch_get(scratch *s, size_t bytes) {
    if (bytes <= s->bytes) return s->p;
    bind_device();
    if (s->p) { /* after the queued work that may still use it */
        note_cuda(cudaStreamSynchronize(g_stream), "scratch");
        cudaFree(s->p);
    }
    s->p = NULL;
    s->bytes = 0;
    cudaError_t e = cudaMalloc(&s->p, bytes);
    if (e != cudaSuccess) {
        note_cuda(e, "scratch allocation");
        s->p = NULL;
        return NULL;
    }
    s->bytes = bytes;
    return s->p;
}

static scratch g_ops_scratch, g_col_scratch;

/* ---- Device and memory ---- */

extern "C" int nn_cuda_device_count(const char **why) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        if (why) *why = cudaGetErrorString(e);
        /* "driver version is insufficient" is also what a machine with no driver at all gets */
        void *driver = e == cudaErrorInsufficientDriver ? dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) : NULL;
        if (e == cudaErrorInsufficientDriver && !driver && why) *why = "no NVIDIA driver: libcuda.so.1 not found";
        if (driver) dlclose(driver);
        return 0;
    }
    if (count == 0 && why) *why = "the driver lists no GPU";
    return count;
}

extern "C" vv_status nn_cuda_init(int device) {
    pthread_mutex_lock(&g_init_lock);
    vv_status status = VV_OK;
    if (g_device >= 0) {
        if (device != g_device)
            status = vv_fail(VV_ERR_INVALID_ARGUMENT, "CUDA: GPU %d is open; cannot switch to GPU %d", g_device, device);
        pthread_mutex_unlock(&g_init_lock);
        return status;
    }
    const char *why = "";
    int count = nn_cuda_device_count(&why);
    cudaError_t e;
    cublasStatus_t b;
    cudaDeviceProp prop;
    if (count <= 0) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "no CUDA GPU here (%s)", why);
    } else if (device < 0 || device >= count) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "no CUDA GPU %d here (%d found)", device, count);
    } else if ((e = cudaSetDevice(device)) != cudaSuccess ||
               (e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess ||
               (e = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking)) != cudaSuccess) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "CUDA GPU %d: %s", device, cudaGetErrorString(e));
    } else if ((b = cublasCreate(&g_blas)) != CUBLAS_STATUS_SUCCESS ||
               (b = cublasSetStream(g_blas, g_stream)) != CUBLAS_STATUS_SUCCESS ||
               (b = cublasSetMathMode(g_blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "cuBLAS on GPU %d: status %d", device, (int)b);
    } else {
        snprintf(g_device_name, sizeof g_device_name, "%s", prop.name);
        g_device = device;
    }
    pthread_mutex_unlock(&g_init_lock);
    return status;
}

extern "C" const char *nn_cuda_device_name(void) { return g_device >= 0 ? g_device_name : NULL; }

static void *cu_alloc(size_t bytes) {
    void *p = NULL;
    bind_device();
    if (!bytes || cudaMalloc(&p, bytes) != cudaSuccess) return NULL;
    return p;
}

static void cu_free(void *p) {
    if (!p) return;
    bind_device();
    note_cuda(cudaStreamSynchronize(g_stream), "free"); /* queued kernels may still use it */
    cudaFree(p);
}

static vv_status cu_upload(void *dst, const void *src, size_t bytes) {
    bind_device();
    if (bytes) note_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream), "upload");
    /* the source may be reused at once: wait for it to be read */
    if (bytes) note_cuda(cudaStreamSynchronize(g_stream), "upload");
    return take_error();
}

static vv_status cu_download(void *dst, const void *src, size_t bytes) {
    bind_device();
    if (bytes) {
        note_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream), "download");
        note_cuda(cudaStreamSynchronize(g_stream), "download");
    }
    return take_error();
}

static vv_status cu_copy(void *dst, const void *src, size_t bytes) {
    bind_device();
    if (bytes) note_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_stream), "copy");
    return take_error();
}

static vv_status cu_zero(void *p, size_t bytes) {
    bind_device();
    if (bytes) note_cuda(cudaMemsetAsync(p, 0, bytes, g_stream), "zero");
    return take_error();
}

static vv_status cu_sync(void) {
    bind_device();
    note_cuda(cudaStreamSynchronize(g_stream), "sync");
    return take_error();
}

/* ---- GEMM ---- */

__global__ void k_scale_matrix(float *c, int M, int N, int ldc, float beta) {
    GRID_LOOP(i, (size_t)M * N) {
        size_t r = i / N, col = i % N;
        c[r * ldc + col] = beta == 0.0f ? 0.0f : c[r * ldc + col] * beta;
    }
}

/* Row-major C [M,N] = alpha op(A) op(B) + beta C for `batch` matrices at the given
 * strides, as column-major C^T = op(B)^T op(A)^T. */
static void rm_gemm_batched(bool ta, bool tb, int M, int N, int K, float alpha, const float *a, int lda,
                            long long stride_a, const float *b, int ldb, long long stride_b, float beta, float *c,
                            int ldc, long long stride_c, int batch) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    if (K <= 0) { /* C = beta C, as the CPU backend */
        for (int i = 0; i < batch; i++) {
            LAUNCH(k_scale_matrix, blocks_for((size_t)M * N), THREADS, c + i * stride_c, M, N, ldc, beta);
            LAUNCHED("scale");
        }
        return;
    }
    cublasOperation_t op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    bind_device();
    if (batch == 1)
        note_blas(cublasSgemm(g_blas, op_b, op_a, N, M, K, &alpha, b, ldb, a, lda, &beta, c, ldc), "sgemm");
    else
        note_blas(cublasSgemmStridedBatched(g_blas, op_b, op_a, N, M, K, &alpha, b, ldb, stride_b, a, lda, stride_a,
                                            &beta, c, ldc, stride_c, batch),
                  "sgemm (batched)");
}

static void cu_gemm(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
    rm_gemm_batched(transpose_a, transpose_b, M, N, K, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

/* ---- Convolution: im2col / col2im + sgemm ---- */

/* col [C*KH*KW, OH*OW] of one image in [C,H,W]; row (c, kh, kw), as layers_conv.c's. */
__global__ void k_im2col(float *__restrict__ col, const float *__restrict__ in, int C, int H, int W, int KH, int KW,
                         int stride, int pad, int OH, int OW) {
    size_t ohw = (size_t)OH * OW;
    GRID_LOOP(i, (size_t)C * KH * KW * ohw) {
        size_t row = i / ohw, p = i % ohw;
        int kw = (int)(row % KW), kh = (int)(row / KW % KH), c = (int)(row / ((size_t)KW * KH));
        int oh = (int)(p / OW), ow = (int)(p % OW);
        int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
        col[i] = ih >= 0 && ih < H && iw >= 0 && iw < W ? in[((size_t)c * H + ih) * W + iw] : 0.0f;
    }
}

/* in [C,H,W] += the adjoint of k_im2col applied to col: each input pixel gathers the
 * column entries that read it (no atomics). */
__global__ void k_col2im_add(float *__restrict__ in, const float *__restrict__ col, int C, int H, int W, int KH,
                             int KW, int stride, int pad, int OH, int OW) {
    size_t ohw = (size_t)OH * OW;
    GRID_LOOP(i, (size_t)C * H * W) {
        int w = (int)(i % W), h = (int)(i / W % H), c = (int)(i / ((size_t)W * H));
        float sum = 0.0f;
        for (int kh = 0; kh < KH; kh++) {
            int oh_s = h + pad - kh;
            if (oh_s < 0 || oh_s % stride) continue;
            int oh = oh_s / stride;
            if (oh >= OH) continue;
            for (int kw = 0; kw < KW; kw++) {
                int ow_s = w + pad - kw;
                if (ow_s < 0 || ow_s % stride) continue;
                int ow = ow_s / stride;
                if (ow >= OW) continue;
                sum += col[((size_t)(c * KH + kh) * KW + kw) * ohw + (size_t)oh * OW + ow];
            }
        }
        in[i] += sum;
    }
}

/* out [N,OC,P] += bias [OC] */
__global__ void k_bias_add(float *out, const float *bias, int OC, size_t P, size_t total) {
    GRID_LOOP(i, total) out[i] += bias[(i / P) % OC];
}

/* Block-wide sum in double of each thread's value; the result in thread 0. */
__device__ double block_sum(double v) {
    __shared__ double part[256];
    part[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    double r = part[0];
    __syncthreads(); /* part is reused by the next call */
    return r;
}

/* dbias [OC] += sum over n and p of dout [N,OC,P]: one block a channel. */
__global__ void k_bias_grad(float *dbias, const float *dout, int N, int OC, size_t P) {
    int oc = blockIdx.x;
    double sum = 0.0;
    for (int n = 0; n < N; n++) {
        const float *d = dout + ((size_t)n * OC + oc) * P;
        for (size_t p = threadIdx.x; p < P; p += blockDim.x) sum += d[p];
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) dbias[oc] += (float)sum;
}

static bool conv_is_pointwise(const conv2d_shape *s) {
    return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0;
}

static vv_status cu_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                                   const conv2d_shape *s) {
    int G = s->groups, Cg = s->C / G, OCg = s->OC / G, KK = s->KH * s->KW;
    size_t ohw = (size_t)s->OH * s->OW, hw = (size_t)s->H * s->W, rows = (size_t)Cg * KK;
    bool pointwise = conv_is_pointwise(s);
    float *col = pointwise ? NULL : (float *)scratch_get(&g_col_scratch, (size_t)s->C * KK * ohw * sizeof(float));
    if (!pointwise && !col) return take_error();
    for (int n = 0; n < s->N; n++) {
        const float *x = in + (size_t)n * s->C * hw;
        const float *cols = x;
        if (!pointwise) {
            LAUNCH(k_im2col, blocks_for((size_t)s->C * KK * ohw), THREADS, col, x, s->C, s->H, s->W, s->KH, s->KW,
                   s->stride, s->pad, s->OH, s->OW);
            LAUNCHED("im2col");
            cols = col;
        }
        /* out_g [OCg, ohw] = W_g [OCg, rows] col_g [rows, ohw], over the groups */
        rm_gemm_batched(false, false, OCg, (int)ohw, (int)rows, 1.0f, weight, (int)rows, (long long)OCg * rows, cols,
                        (int)ohw, (long long)rows * ohw, 0.0f, out + (size_t)n * s->OC * ohw, (int)ohw,
                        (long long)OCg * ohw, G);
    }
    if (bias) {
        size_t total = (size_t)s->N * s->OC * ohw;
        LAUNCH(k_bias_add, blocks_for(total), THREADS, out, bias, s->OC, ohw, total);
        LAUNCHED("bias");
    }
    return take_error();
}

static vv_status cu_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                                    const float *weight, const conv2d_shape *s) {
    int G = s->groups, Cg = s->C / G, OCg = s->OC / G, KK = s->KH * s->KW;
    size_t ohw = (size_t)s->OH * s->OW, hw = (size_t)s->H * s->W, rows = (size_t)Cg * KK;
    bool pointwise = conv_is_pointwise(s);
    float *col = NULL;
    if (!pointwise && (din || dweight)) {
        col = (float *)scratch_get(&g_col_scratch, (size_t)s->C * KK * ohw * sizeof(float));
        if (!col) return take_error();
    }
    for (int n = 0; n < s->N; n++) {
        const float *dy = dout + (size_t)n * s->OC * ohw;
        if (dweight) {
            const float *x = in + (size_t)n * s->C * hw, *cols = x;
            if (!pointwise) {
                LAUNCH(k_im2col, blocks_for((size_t)s->C * KK * ohw), THREADS, col, x, s->C, s->H, s->W, s->KH, s->KW,
                       s->stride, s->pad, s->OH, s->OW);
                LAUNCHED("im2col");
                cols = col;
            }
            /* dW_g [OCg, rows] += dy_g [OCg, ohw] col_g^T */
            rm_gemm_batched(false, true, OCg, (int)rows, (int)ohw, 1.0f, dy, (int)ohw, (long long)OCg * ohw, cols,
                            (int)ohw, (long long)rows * ohw, 1.0f, dweight, (int)rows, (long long)OCg * rows, G);
        }
        if (din) {
            float *dx = din + (size_t)n * s->C * hw;
            if (pointwise) { /* dx_g [Cg, hw] += W_g^T dy_g */
                rm_gemm_batched(true, false, Cg, (int)ohw, OCg, 1.0f, weight, Cg, (long long)OCg * Cg, dy, (int)ohw,
                                (long long)OCg * ohw, 1.0f, dx, (int)ohw, (long long)Cg * ohw, G);
            } else { /* dcol_g [rows, ohw] = W_g^T dy_g, then scattered back */
                rm_gemm_batched(true, false, (int)rows, (int)ohw, OCg, 1.0f, weight, (int)rows, (long long)OCg * rows,
                                dy, (int)ohw, (long long)OCg * ohw, 0.0f, col, (int)ohw, (long long)rows * ohw, G);
                LAUNCH(k_col2im_add, blocks_for((size_t)s->C * hw), THREADS, dx, col, s->C, s->H, s->W, s->KH, s->KW,
                       s->stride, s->pad, s->OH, s->OW);
                LAUNCHED("col2im");
            }
        }
    }
    if (dbias) {
        LAUNCH(k_bias_grad, s->OC, THREADS, dbias, dout, s->N, s->OC, ohw);
        LAUNCHED("bias gradient");
    }
    return take_error();
}

/* ---- Elementwise ---- */

__global__ void k_relu(float *out, const float *in, size_t n) { GRID_LOOP(i, n) out[i] = in[i] > 0.0f ? in[i] : 0.0f; }
__global__ void k_relu_back(float *din, const float *dout, const float *in, size_t n) {
    GRID_LOOP(i, n) din[i] += in[i] > 0.0f ? dout[i] : 0.0f;
}
__global__ void k_leaky(float *out, const float *in, float alpha, size_t n) {
    GRID_LOOP(i, n) out[i] = in[i] > 0.0f ? in[i] : alpha * in[i];
}
__global__ void k_leaky_back(float *din, const float *dout, const float *in, float slope, size_t n) {
    GRID_LOOP(i, n) din[i] += in[i] > 0.0f ? dout[i] : slope * dout[i];
}
__global__ void k_tanh(float *out, const float *in, size_t n) { GRID_LOOP(i, n) out[i] = tanhf(in[i]); }
__global__ void k_tanh_back(float *din, const float *dout, const float *out, size_t n) {
    GRID_LOOP(i, n) din[i] += dout[i] * (1.0f - out[i] * out[i]);
}
__global__ void k_sigmoid(float *out, const float *in, size_t n) {
    GRID_LOOP(i, n) out[i] = 1.0f / (1.0f + expf(-in[i]));
}
__global__ void k_sigmoid_back(float *din, const float *dout, const float *out, size_t n) {
    GRID_LOOP(i, n) din[i] += dout[i] * out[i] * (1.0f - out[i]);
}
__global__ void k_add(float *out, const float *a, const float *b, size_t n) { GRID_LOOP(i, n) out[i] = a[i] + b[i]; }
__global__ void k_accumulate(float *d, const float *g, size_t n) { GRID_LOOP(i, n) d[i] += g[i]; }

#define ELEMENTWISE_1(name, kernel)                                                   \
    static void name(float *out, const float *in, size_t n) {                         \
        if (!n) return;                                                               \
        LAUNCH(kernel, blocks_for(n), THREADS, out, in, n);                  \
        LAUNCHED(#kernel);                                                            \
    }
#define ELEMENTWISE_BACK(name, kernel)                                                \
    static void name(float *din, const float *dout, const float *x, size_t n) {       \
        if (!n || !din) return;                                                       \
        LAUNCH(kernel, blocks_for(n), THREADS, din, dout, x, n);             \
        LAUNCHED(#kernel);                                                            \
    }
ELEMENTWISE_1(cu_relu_forward, k_relu)
ELEMENTWISE_BACK(cu_relu_backward, k_relu_back)
ELEMENTWISE_1(cu_tanh_forward, k_tanh)
ELEMENTWISE_BACK(cu_tanh_backward, k_tanh_back)
ELEMENTWISE_1(cu_sigmoid_forward, k_sigmoid)
ELEMENTWISE_BACK(cu_sigmoid_backward, k_sigmoid_back)

static void cu_leaky_relu_forward(float *out, const float *in, float alpha, size_t n) {
    if (!n) return;
    LAUNCH(k_leaky, blocks_for(n), THREADS, out, in, alpha, n);
    LAUNCHED("leaky relu");
}

static void cu_leaky_relu_backward(float *din, const float *dout, const float *in, float slope, size_t n) {
    if (!n || !din) return;
    LAUNCH(k_leaky_back, blocks_for(n), THREADS, din, dout, in, slope, n);
    LAUNCHED("leaky relu backward");
}

static void cu_add_forward(float *out, const float *a, const float *b, size_t n) {
    if (!n) return;
    LAUNCH(k_add, blocks_for(n), THREADS, out, a, b, n);
    LAUNCHED("add");
}

static void cu_add_backward(float *da, float *db, const float *dout, size_t n) {
    if (!n) return;
    if (da) LAUNCH(k_accumulate, blocks_for(n), THREADS, da, dout, n);
    if (db) LAUNCH(k_accumulate, blocks_for(n), THREADS, db, dout, n);
    LAUNCHED("add backward");
}

/* ---- Instance norm and AdaIN: one block a (n, c) plane ---- */

/* Mean and 1/sqrt(biased variance + eps), as layers_basic.c's plane_stats: the mean in
 * double, rounded to float; the squares of the float differences summed in double; the
 * variance corrected to the one about the double mean. */
__device__ void plane_stats(const float *x, int HW, float eps, float *mean_out, float *rstd_out) {
    __shared__ float s_mean, s_rstd;
    double sum = 0.0;
    for (int i = threadIdx.x; i < HW; i += blockDim.x) sum += x[i];
    sum = block_sum(sum);
    double m = sum / HW;
    float mf = (float)m;
    double sq = 0.0;
    for (int i = threadIdx.x; i < HW; i += blockDim.x) {
        float d = x[i] - mf;
        sq += (double)d * d;
    }
    sq = block_sum(sq);
    if (threadIdx.x == 0) {
        double shift = (double)mf - m, var = sq / HW - shift * shift;
        if (var < 0.0) var = 0.0;
        s_mean = mf;
        s_rstd = (float)(1.0 / sqrt(var + eps));
    }
    __syncthreads();
    *mean_out = s_mean;
    *rstd_out = s_rstd;
}

/* Instance norm (gamma/beta per channel, or none) and AdaIN (scale/bias per plane); relu
 * fuses a ReLU. */
__global__ void k_norm_forward(float *out, float *mean, float *rstd, const float *in, const float *gamma,
                               const float *beta, const float *scale, const float *bias, int C, int HW, float eps,
                               bool relu) {
    size_t plane = blockIdx.x;
    int c = (int)(plane % C);
    const float *x = in + plane * HW;
    float m, r;
    plane_stats(x, HW, eps, &m, &r);
    float a, b;
    if (scale) {
        a = r * scale[plane];
        b = bias[plane] - m * a;
    } else {
        a = r * (gamma ? gamma[c] : 1.0f);
        b = (beta ? beta[c] : 0.0f) - m * a;
    }
    if (threadIdx.x == 0) {
        mean[plane] = m;
        rstd[plane] = r;
    }
    float *y = out + plane * HW;
    for (int i = threadIdx.x; i < HW; i += blockDim.x) {
        float v = x[i] * a + b;
        y[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
}

/* din += rstd (s g - mean(s g) - xhat mean(s g xhat)), g = dout masked where relu_out <= 0
 * when given; the plane's sum(g xhat) and sum(g) to sums [2, planes] (instance norm: added
 * per channel later) or straight into dscale / dbias [planes] (AdaIN). */
__global__ void k_norm_backward(float *din, float *sums, float *dscale, float *dbias, const float *dout,
                                const float *relu_out, const float *in, const float *mean, const float *rstd,
                                const float *gamma, const float *scale, int C, int HW, size_t planes) {
    size_t plane = blockIdx.x;
    size_t base = plane * HW;
    float m = mean[plane], r = rstd[plane];
    float s = scale ? scale[plane] : gamma ? gamma[plane % C] : 1.0f;
    double s_dy = 0.0, s_dyx = 0.0;
    for (int i = threadIdx.x; i < HW; i += blockDim.x) {
        float g = relu_out ? dout[base + i] * (float)(relu_out[base + i] > 0.0f) : dout[base + i];
        float xhat = (in[base + i] - m) * r;
        s_dy += g;
        s_dyx += (double)g * xhat;
    }
    s_dy = block_sum(s_dy);
    s_dyx = block_sum(s_dyx);
    if (threadIdx.x == 0) {
        if (sums) {
            sums[plane] = (float)s_dyx;
            sums[planes + plane] = (float)s_dy;
        }
        if (dscale) dscale[plane] += (float)s_dyx;
        if (dbias) dbias[plane] += (float)s_dy;
    }
    if (!din) return;
    float mean_g = (float)(s * s_dy / HW), mean_g_xhat = (float)(s * s_dyx / HW);
    for (int i = threadIdx.x; i < HW; i += blockDim.x) {
        float g = relu_out ? dout[base + i] * (float)(relu_out[base + i] > 0.0f) : dout[base + i];
        float xhat = (in[base + i] - m) * r;
        din[base + i] += r * (s * g - mean_g - xhat * mean_g_xhat);
    }
}

/* dgamma [C] += sums over n of the plane sums, in n order (as the CPU's). */
__global__ void k_channel_sums(float *dgamma, float *dbeta, const float *sums, int N, int C) {
    size_t planes = (size_t)N * C;
    GRID_LOOP(c, (size_t)C) {
        float g = dgamma ? dgamma[c] : 0.0f, b = dbeta ? dbeta[c] : 0.0f;
        for (int n = 0; n < N; n++) {
            g += sums[(size_t)n * C + c];
            b += sums[planes + (size_t)n * C + c];
        }
        if (dgamma) dgamma[c] = g;
        if (dbeta) dbeta[c] = b;
    }
}

static void cu_instance_norm_forward(float *out, float *mean, float *rstd, const float *in, const float *gamma,
                                     const float *beta, int N, int C, int HW, float eps) {
    if (N * C <= 0) return;
    LAUNCH(k_norm_forward, (unsigned)(N * C), THREADS, out, mean, rstd, in, gamma, beta, NULL, NULL, C, HW,
                                                                eps, false);
    LAUNCHED("instance norm");
}

static void cu_instance_norm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                                      const float *mean, const float *rstd, const float *gamma, int N, int C, int HW) {
    size_t planes = (size_t)N * C;
    if (!planes) return;
    float *sums = NULL;
    if (dgamma || dbeta) {
        sums = (float *)scratch_get(&g_ops_scratch, 2 * planes * sizeof(float));
        if (!sums) return;
    }
    LAUNCH(k_norm_backward, (unsigned)planes, THREADS, din, sums, NULL, NULL, dout, NULL, in, mean, rstd,
                                                                gamma, NULL, C, HW, planes);
    LAUNCHED("instance norm backward");
    if (sums) {
        LAUNCH(k_channel_sums, blocks_for((size_t)C), THREADS, dgamma, dbeta, sums, N, C);
        LAUNCHED("instance norm channel sums");
    }
}

static void cu_adain_forward(float *out, float *mean, float *rstd, const float *in, const float *scale,
                             const float *bias, int N, int C, int HW, float eps) {
    if (N * C <= 0) return;
    LAUNCH(k_norm_forward, (unsigned)(N * C), THREADS, out, mean, rstd, in, NULL, NULL, scale, bias, C, HW,
                                                                eps, false);
    LAUNCHED("adain");
}

static void cu_adain_relu_forward(float *out, float *mean, float *rstd, const float *in, const float *scale,
                                  const float *bias, int N, int C, int HW, float eps) {
    if (N * C <= 0) return;
    LAUNCH(k_norm_forward, (unsigned)(N * C), THREADS, out, mean, rstd, in, NULL, NULL, scale, bias, C, HW,
                                                                eps, true);
    LAUNCHED("adain relu");
}

static void cu_adain_backward(float *din, float *dscale, float *dbias, const float *dout, const float *in,
                              const float *mean, const float *rstd, const float *scale, int N, int C, int HW) {
    size_t planes = (size_t)N * C;
    if (!planes) return;
    LAUNCH(k_norm_backward, (unsigned)planes, THREADS, din, NULL, dscale, dbias, dout, NULL, in, mean, rstd,
                                                                NULL, scale, C, HW, planes);
    LAUNCHED("adain backward");
}

static void cu_adain_relu_backward(float *din, float *dscale, float *dbias, const float *dout, const float *out,
                                   const float *in, const float *mean, const float *rstd, const float *scale, int N,
                                   int C, int HW) {
    size_t planes = (size_t)N * C;
    if (!planes) return;
    LAUNCH(k_norm_backward, (unsigned)planes, THREADS, din, NULL, dscale, dbias, dout, out, in, mean, rstd,
                                                                NULL, scale, C, HW, planes);
    LAUNCHED("adain relu backward");
}

/* ---- Pooling and upsampling ---- */

__global__ void k_avg_pool(float *out, const float *in, int H, int W, int K, int stride, int OH, int OW,
                           size_t total) {
    float inv = 1.0f / (float)(K * K);
    GRID_LOOP(i, total) {
        int ow = (int)(i % OW), oh = (int)(i / OW % OH);
        size_t plane = i / ((size_t)OW * OH);
        const float *x = in + plane * H * W;
        float sum = 0.0f;
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) sum += x[(size_t)(oh * stride + kh) * W + ow * stride + kw];
        out[i] = sum * inv;
    }
}

/* Each input pixel gathers the windows that hold it. */
__global__ void k_avg_pool_back(float *din, const float *dout, int H, int W, int K, int stride, int OH, int OW,
                                size_t total) {
    float inv = 1.0f / (float)(K * K);
    GRID_LOOP(i, total) {
        int w = (int)(i % W), h = (int)(i / W % H);
        size_t plane = i / ((size_t)W * H);
        const float *dy = dout + plane * OH * OW;
        float sum = 0.0f;
        for (int kh = 0; kh < K; kh++) {
            int oh_s = h - kh;
            if (oh_s < 0 || oh_s % stride || oh_s / stride >= OH) continue;
            for (int kw = 0; kw < K; kw++) {
                int ow_s = w - kw;
                if (ow_s < 0 || ow_s % stride || ow_s / stride >= OW) continue;
                sum += dy[(size_t)(oh_s / stride) * OW + ow_s / stride] * inv;
            }
        }
        din[i] += sum;
    }
}

static void cu_avg_pool2d_forward(float *out, const float *in, int N, int C, int H, int W, int K, int stride, int OH,
                                  int OW) {
    size_t total = (size_t)N * C * OH * OW;
    if (!total) return;
    LAUNCH(k_avg_pool, blocks_for(total), THREADS, out, in, H, W, K, stride, OH, OW, total);
    LAUNCHED("avg pool");
}

static void cu_avg_pool2d_backward(float *din, const float *dout, int N, int C, int H, int W, int K, int stride,
                                   int OH, int OW) {
    size_t total = (size_t)N * C * H * W;
    if (!total || !din) return;
    LAUNCH(k_avg_pool_back, blocks_for(total), THREADS, din, dout, H, W, K, stride, OH, OW, total);
    LAUNCHED("avg pool backward");
}

__global__ void k_upsample(float *out, const float *in, int H, int W, int f, size_t total) {
    int OW = W * f, OH = H * f;
    GRID_LOOP(i, total) {
        int ow = (int)(i % OW), oh = (int)(i / OW % OH);
        size_t plane = i / ((size_t)OW * OH);
        out[i] = in[plane * H * W + (size_t)(oh / f) * W + ow / f];
    }
}

__global__ void k_upsample_back(float *din, const float *dout, int H, int W, int f, size_t total) {
    int OW = W * f;
    GRID_LOOP(i, total) {
        int w = (int)(i % W), h = (int)(i / W % H);
        size_t plane = i / ((size_t)W * H);
        const float *dy = dout + plane * H * W * f * f;
        float sum = 0.0f;
        for (int a = 0; a < f; a++)
            for (int b = 0; b < f; b++) sum += dy[(size_t)(h * f + a) * OW + w * f + b];
        din[i] += sum;
    }
}

static void cu_upsample_nearest_forward(float *out, const float *in, int N, int C, int H, int W, int f) {
    size_t total = (size_t)N * C * H * W * f * f;
    if (!total) return;
    LAUNCH(k_upsample, blocks_for(total), THREADS, out, in, H, W, f, total);
    LAUNCHED("upsample");
}

static void cu_upsample_nearest_backward(float *din, const float *dout, int N, int C, int H, int W, int f) {
    size_t total = (size_t)N * C * H * W;
    if (!total || !din) return;
    LAUNCH(k_upsample_back, blocks_for(total), THREADS, din, dout, H, W, f, total);
    LAUNCHED("upsample backward");
}

__global__ void k_global_sum(float *out, const float *in, int HW) {
    size_t plane = blockIdx.x;
    double sum = 0.0;
    for (int i = threadIdx.x; i < HW; i += blockDim.x) sum += in[plane * HW + i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) out[plane] = (float)sum;
}

__global__ void k_global_sum_back(float *din, const float *dout, int HW, size_t total) {
    GRID_LOOP(i, total) din[i] += dout[i / HW];
}

static void cu_global_sum_pool_forward(float *out, const float *in, int N, int C, int HW) {
    if (N * C <= 0) return;
    LAUNCH(k_global_sum, (unsigned)(N * C), THREADS, out, in, HW);
    LAUNCHED("global sum pool");
}

static void cu_global_sum_pool_backward(float *din, const float *dout, int N, int C, int HW) {
    size_t total = (size_t)N * C * HW;
    if (!total || !din) return;
    LAUNCH(k_global_sum_back, blocks_for(total), THREADS, din, dout, HW, total);
    LAUNCHED("global sum pool backward");
}

/* ---- Bilinear resize (align_corners=False), concatenation, linear ---- */

/* layers_basic.c's bilinear_source. */
__device__ void bilinear_source(int o, int in, int out, int *i0, int *i1, float *lambda) {
    float src = ((float)o + 0.5f) * ((float)in / (float)out) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int lo = (int)src;
    if (lo > in - 1) lo = in - 1;
    *i0 = lo;
    *i1 = lo < in - 1 ? lo + 1 : lo;
    *lambda = src - (float)lo;
}

__global__ void k_bilinear(float *out, const float *in, int H, int W, int OH, int OW, size_t total) {
    GRID_LOOP(i, total) {
        int ow = (int)(i % OW), oh = (int)(i / OW % OH);
        const float *x = in + i / ((size_t)OW * OH) * H * W;
        int h0, h1, w0, w1;
        float lh, lw;
        bilinear_source(oh, H, OH, &h0, &h1, &lh);
        bilinear_source(ow, W, OW, &w0, &w1, &lw);
        float top = x[(size_t)h0 * W + w0] * (1.0f - lw) + x[(size_t)h0 * W + w1] * lw;
        float bottom = x[(size_t)h1 * W + w0] * (1.0f - lw) + x[(size_t)h1 * W + w1] * lw;
        out[i] = top * (1.0f - lh) + bottom * lh;
    }
}

/* The outputs along one axis whose sources include input index h, and the weight each
 * gives it (both neighbours may be h at the border): a window around h / scale, each
 * candidate checked with bilinear_source itself. */
__device__ int bilinear_gather(int h, int in, int out, int *os, float *ws) {
    float scale = (float)in / (float)out;
    int lo = (int)floorf(((float)h - 0.5f) / scale - 0.5f) - 2, hi = (int)ceilf(((float)h + 1.5f) / scale - 0.5f) + 2;
    if (lo < 0) lo = 0;
    if (hi > out - 1 || h == in - 1) hi = out - 1; /* the last input also takes every clamped output */
    int count = 0;
    for (int o = lo; o <= hi; o++) {
        int i0, i1;
        float l;
        bilinear_source(o, in, out, &i0, &i1, &l);
        float w = (i0 == h ? 1.0f - l : 0.0f) + (i1 == h ? l : 0.0f);
        if (i0 == h || i1 == h) os[count] = o, ws[count] = w, count++;
        if (count == 64) break; /* more than 64 outputs per input: a 32x upscale (not used) */
    }
    return count;
}

/* din gathers: each input pixel adds its share of every output that samples it, with the
 * CPU's weights (lh (1 - lw) ...), in float. */
__global__ void k_bilinear_back(float *din, const float *dout, int H, int W, int OH, int OW, size_t total) {
    GRID_LOOP(i, total) {
        int w = (int)(i % W), h = (int)(i / W % H);
        const float *dy = dout + i / ((size_t)W * H) * OH * OW;
        int oh[64], ow[64];
        float wh[64], ww[64];
        int nh = bilinear_gather(h, H, OH, oh, wh), nw = bilinear_gather(w, W, OW, ow, ww);
        float sum = 0.0f;
        for (int a = 0; a < nh; a++)
            for (int b = 0; b < nw; b++) sum += dy[(size_t)oh[a] * OW + ow[b]] * wh[a] * ww[b];
        din[i] += sum;
    }
}

static void cu_upsample_bilinear_forward(float *out, const float *in, int N, int C, int H, int W, int OH, int OW) {
    size_t total = (size_t)N * C * OH * OW;
    if (!total) return;
    LAUNCH(k_bilinear, blocks_for(total), THREADS, out, in, H, W, OH, OW, total);
    LAUNCHED("bilinear");
}

static void cu_upsample_bilinear_backward(float *din, const float *dout, int N, int C, int H, int W, int OH, int OW) {
    size_t total = (size_t)N * C * H * W;
    if (!total || !din) return;
    LAUNCH(k_bilinear_back, blocks_for(total), THREADS, din, dout, H, W, OH, OW, total);
    LAUNCHED("bilinear backward");
}

/* out [N, Ca+Cb, HW] from a, b; backward adds the slices back. */
__global__ void k_concat(float *out, const float *a, const float *b, size_t sa, size_t sb, size_t total) {
    GRID_LOOP(i, total) {
        size_t n = i / (sa + sb), r = i % (sa + sb);
        out[i] = r < sa ? a[n * sa + r] : b[n * sb + r - sa];
    }
}

__global__ void k_concat_back(float *da, float *db, const float *dout, size_t sa, size_t sb, size_t total) {
    GRID_LOOP(i, total) {
        size_t n = i / (sa + sb), r = i % (sa + sb);
        if (r < sa) { if (da) da[n * sa + r] += dout[i]; }
        else if (db) db[n * sb + r - sa] += dout[i];
    }
}

static void cu_concat_channels_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb, int HW) {
    size_t sa = (size_t)Ca * HW, sb = (size_t)Cb * HW, total = (size_t)N * (sa + sb);
    if (!total) return;
    LAUNCH(k_concat, blocks_for(total), THREADS, out, a, b, sa, sb, total);
    LAUNCHED("concat");
}

static void cu_concat_channels_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW) {
    size_t sa = (size_t)Ca * HW, sb = (size_t)Cb * HW, total = (size_t)N * (sa + sb);
    if (!total || (!da && !db)) return;
    LAUNCH(k_concat_back, blocks_for(total), THREADS, da, db, dout, sa, sb, total);
    LAUNCHED("concat backward");
}

/* out [N, out_dim] rows = bias (or 0); dbias [out_dim] += column sums in n order (the CPU's). */
__global__ void k_rows_fill(float *out, const float *bias, int out_dim, size_t total) {
    GRID_LOOP(i, total) out[i] = bias ? bias[i % out_dim] : 0.0f;
}

__global__ void k_column_sums(float *dbias, const float *dout, int N, int out_dim) {
    GRID_LOOP(o, (size_t)out_dim) {
        float acc = dbias[o];
        for (int n = 0; n < N; n++) acc += dout[(size_t)n * out_dim + o];
        dbias[o] = acc;
    }
}

static void cu_linear_forward(float *out, const float *in, const float *weight, const float *bias, int N, int in_dim,
                              int out_dim) {
    size_t total = (size_t)N * out_dim;
    if (!total) return;
    LAUNCH(k_rows_fill, blocks_for(total), THREADS, out, bias, out_dim, total);
    LAUNCHED("linear bias");
    cu_gemm(false, true, N, out_dim, in_dim, 1.0f, in, in_dim, weight, in_dim, 1.0f, out, out_dim);
}

static void cu_linear_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                               const float *weight, int N, int in_dim, int out_dim) {
    if (din) cu_gemm(false, false, N, in_dim, out_dim, 1.0f, dout, out_dim, weight, in_dim, 1.0f, din, in_dim);
    if (dweight) cu_gemm(true, false, out_dim, in_dim, N, 1.0f, dout, out_dim, in, in_dim, 1.0f, dweight, in_dim);
    if (dbias && out_dim > 0) {
        LAUNCH(k_column_sums, blocks_for((size_t)out_dim), THREADS, dbias, dout, N, out_dim);
        LAUNCHED("linear bias gradient");
    }
}

/* ---- Losses: sums in double, per block then one block, the value downloaded ---- */

enum { LOSS_L1, LOSS_MSE, LOSS_HINGE_REAL, LOSS_HINGE_FAKE, LOSS_SUM, LOSS_DOT };

__device__ double loss_term(int kind, const float *a, const float *b, size_t i) {
    switch (kind) {
    case LOSS_L1: return fabsf(a[i] - b[i]);
    case LOSS_MSE: { double d = (double)a[i] - b[i]; return d * d; }
    case LOSS_HINGE_REAL: return a[i] < 1.0f ? 1.0 - a[i] : 0.0;
    case LOSS_HINGE_FAKE: return a[i] > -1.0f ? 1.0 + a[i] : 0.0;
    case LOSS_DOT: return (double)a[i] * b[i];
    default: return a[i];
    }
}

#define LOSS_BLOCKS 256

__global__ void k_loss_partial(double *partial, int kind, const float *a, const float *b, size_t n) {
    double sum = 0.0;
    GRID_LOOP(i, n) sum += loss_term(kind, a, b, i);
    sum = block_sum(sum);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void k_loss_final(double *partial, int blocks) {
    double sum = 0.0;
    for (int i = threadIdx.x; i < blocks; i += blockDim.x) sum += partial[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) partial[0] = sum;
}

/* The sum over n of one kind of term; NaN when the GPU failed (the error kept for sync). */
static double loss_sum(int kind, const float *a, const float *b, size_t n) {
    if (!n) return 0.0;
    double *partial = (double *)scratch_get(&g_ops_scratch, LOSS_BLOCKS * sizeof(double));
    if (!partial) return NAN;
    unsigned blocks = blocks_for(n);
    if (blocks > LOSS_BLOCKS) blocks = LOSS_BLOCKS;
    LAUNCH(k_loss_partial, blocks, THREADS, partial, kind, a, b, n);
    LAUNCHED("loss");
    LAUNCH(k_loss_final, 1, THREADS, partial, (int)blocks);
    LAUNCHED("loss");
    double sum = NAN;
    bind_device();
    note_cuda(cudaMemcpyAsync(&sum, partial, sizeof sum, cudaMemcpyDeviceToHost, g_stream), "loss");
    note_cuda(cudaStreamSynchronize(g_stream), "loss");
    return g_error[0] ? NAN : sum;
}

static float cu_l1_loss_forward(const float *a, const float *b, size_t n) {
    return (float)(loss_sum(LOSS_L1, a, b, n) / (double)n);
}

static float cu_mse_loss_forward(const float *a, const float *b, size_t n) {
    return (float)(loss_sum(LOSS_MSE, a, b, n) / (double)n);
}

static float cu_hinge_d_loss_forward(const float *real, size_t n_real, const float *fake, size_t n_fake) {
    double sr = loss_sum(LOSS_HINGE_REAL, real, NULL, n_real), sf = loss_sum(LOSS_HINGE_FAKE, fake, NULL, n_fake);
    return (float)(sr / (double)n_real + sf / (double)n_fake);
}

static float cu_hinge_g_loss_forward(const float *fake, size_t n) {
    return (float)(-loss_sum(LOSS_SUM, fake, NULL, n) / (double)n);
}

__global__ void k_l1_back(float *da, float *db, const float *a, const float *b, float g, size_t n) {
    GRID_LOOP(i, n) {
        float d = a[i] - b[i], s = d > 0.0f ? g : d < 0.0f ? -g : 0.0f;
        if (da) da[i] += s;
        if (db) db[i] -= s;
    }
}

__global__ void k_mse_back(float *da, float *db, const float *a, const float *b, float g, size_t n) {
    GRID_LOOP(i, n) {
        float d = (a[i] - b[i]) * g;
        if (da) da[i] += d;
        if (db) db[i] -= d;
    }
}

/* real: d -= g where x < 1; fake: d += g where x > -1; plain (hinge G): d -= g. */
__global__ void k_hinge_back(float *d, const float *x, float g, int kind, size_t n) {
    GRID_LOOP(i, n) {
        if (kind == LOSS_HINGE_REAL) { if (x[i] < 1.0f) d[i] -= g; }
        else if (kind == LOSS_HINGE_FAKE) { if (x[i] > -1.0f) d[i] += g; }
        else d[i] -= g;
    }
}

static void cu_l1_loss_backward(float *da, float *db, const float *a, const float *b, size_t n, float dloss) {
    if (!n || (!da && !db)) return;
    LAUNCH(k_l1_back, blocks_for(n), THREADS, da, db, a, b, dloss / (float)n, n);
    LAUNCHED("l1 backward");
}

static void cu_mse_loss_backward(float *da, float *db, const float *a, const float *b, size_t n, float dloss) {
    if (!n || (!da && !db)) return;
    LAUNCH(k_mse_back, blocks_for(n), THREADS, da, db, a, b, 2.0f * dloss / (float)n, n);
    LAUNCHED("mse backward");
}

static void cu_hinge_d_loss_backward(float *dreal, float *dfake, const float *real, size_t n_real, const float *fake,
                                     size_t n_fake, float dloss) {
    if (dreal && n_real)
        LAUNCH(k_hinge_back, blocks_for(n_real), THREADS, dreal, real, dloss / (float)n_real,
                                                                  LOSS_HINGE_REAL, n_real);
    if (dfake && n_fake)
        LAUNCH(k_hinge_back, blocks_for(n_fake), THREADS, dfake, fake, dloss / (float)n_fake,
                                                                  LOSS_HINGE_FAKE, n_fake);
    LAUNCHED("hinge backward");
}

static void cu_hinge_g_loss_backward(float *dfake, size_t n, float dloss) {
    if (!n || !dfake) return;
    LAUNCH(k_hinge_back, blocks_for(n), THREADS, dfake, dfake, dloss / (float)n, LOSS_SUM, n);
    LAUNCHED("hinge g backward");
}

/* ---- Spectral norm (layers_basic.c's, step by step) ---- */

/* v [cols] = W^T u, summed over rows in order in float, as the CPU's. */
__global__ void k_sn_wtu(float *v, const float *w, const float *u, int rows, int cols) {
    GRID_LOOP(j, (size_t)cols) {
        float acc = 0.0f;
        for (int i = 0; i < rows; i++) acc += w[(size_t)i * cols + j] * u[i];
        v[j] = acc;
    }
}

/* out [rows] = W v, each row's sum in double (one block a row); as float into u, as double
 * into wv. */
__global__ void k_sn_wv(float *u, double *wv, const float *w, const float *v, int cols) {
    size_t row = blockIdx.x;
    double sum = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) sum += (double)w[row * cols + j] * v[j];
    sum = block_sum(sum);
    if (threadIdx.x == 0) {
        if (u) u[row] = (float)sum;
        if (wv) wv[row] = sum;
    }
}

/* x /= max(|x|, eps), the norm in double; one block. */
__global__ void k_normalise(float *x, int n, float eps) {
    double sq = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) sq += (double)x[i] * x[i];
    sq = block_sum(sq);
    double norm = sqrt(sq);
    if (norm < eps) norm = eps;
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = (float)(x[i] / norm);
}

/* sigma = sum_i u_i wv_i in double, in i order (one thread, as the CPU's loop). */
__global__ void k_sn_sigma(double *sigma, const float *u, const double *wv, int rows) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double s = 0.0;
    for (int i = 0; i < rows; i++) s += u[i] * wv[i];
    *sigma = s;
}

__global__ void k_scale(float *out, const float *in, float factor, size_t n) { GRID_LOOP(i, n) out[i] = in[i] * factor; }

__global__ void k_sn_back(float *dw, const float *dwsn, const float *u, const float *v, double inv, double coef,
                          int cols, size_t n) {
    GRID_LOOP(at, n) {
        size_t i = at / cols, j = at % cols;
        dw[at] += (float)(dwsn[at] * inv - coef * u[i] * v[j]);
    }
}

static float cu_spectral_norm_forward(float *weight_sn, float *u, float *v, const float *weight, int rows, int cols,
                                      int iterations, float eps) {
    /* scratch: wv [rows] doubles, then sigma */
    double *wv = (double *)scratch_get(&g_ops_scratch, ((size_t)rows + 1) * sizeof(double));
    if (!wv || rows <= 0 || cols <= 0) return NAN;
    for (int it = 0; it < iterations; it++) {
        LAUNCH(k_sn_wtu, blocks_for((size_t)cols), THREADS, v, weight, u, rows, cols);
        LAUNCH(k_normalise, 1, THREADS, v, cols, eps);
        LAUNCH(k_sn_wv, (unsigned)rows, THREADS, u, NULL, weight, v, cols);
        LAUNCH(k_normalise, 1, THREADS, u, rows, eps);
        LAUNCHED("spectral norm iteration");
    }
    LAUNCH(k_sn_wv, (unsigned)rows, THREADS, NULL, wv, weight, v, cols);
    LAUNCH(k_sn_sigma, 1, 1, wv + rows, u, wv, rows);
    LAUNCHED("spectral norm sigma");
    double sigma = NAN;
    bind_device();
    note_cuda(cudaMemcpyAsync(&sigma, wv + rows, sizeof sigma, cudaMemcpyDeviceToHost, g_stream), "sigma");
    note_cuda(cudaStreamSynchronize(g_stream), "sigma");
    if (g_error[0]) return NAN;
    size_t n = (size_t)rows * cols;
    LAUNCH(k_scale, blocks_for(n), THREADS, weight_sn, weight, (float)(1.0 / sigma), n);
    LAUNCHED("spectral norm scale");
    return (float)sigma;
}

static void cu_spectral_norm_backward(float *dweight, const float *dweight_sn, const float *weight, const float *u,
                                      const float *v, float sigma, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    if (!n || !dweight) return;
    double dot = loss_sum(LOSS_DOT, dweight_sn, weight, n);
    double inv = 1.0 / sigma, coef = dot / ((double)sigma * sigma);
    LAUNCH(k_sn_back, blocks_for(n), THREADS, dweight, dweight_sn, u, v, inv, coef, cols, n);
    LAUNCHED("spectral norm backward");
}

/* ---- Self-attention (layers_attention.c's, its GEMMs on cuBLAS) ---- */

/* y [rows, P] = b [rows] broadcast (or 0). */
__global__ void k_rows_bias(float *y, const float *b, int P, size_t total) {
    GRID_LOOP(i, total) y[i] = b ? b[i / P] : 0.0f;
}

/* db [rows] += each row's sum of dy [rows, P], in double; one block a row. */
__global__ void k_row_sums(float *db, const float *dy, int P) {
    size_t r = blockIdx.x;
    double sum = 0.0;
    for (int p = threadIdx.x; p < P; p += blockDim.x) sum += dy[r * P + p];
    sum = block_sum(sum);
    if (threadIdx.x == 0) db[r] += (float)sum;
}

/* Block-wide max of each thread's value, for every thread. */
__device__ float block_max(float v) {
    __shared__ float part[256];
    part[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && part[threadIdx.x + s] > part[threadIdx.x]) part[threadIdx.x] = part[threadIdx.x + s];
        __syncthreads();
    }
    float r = part[0];
    __syncthreads();
    return r;
}

/* Each row of a [rows, cols]: exp(x - max) / sum (the sum in double); one block a row. */
__global__ void k_softmax_rows(float *a, int cols) {
    float *row = a + (size_t)blockIdx.x * cols;
    float top = -INFINITY;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) top = row[j] > top ? row[j] : top;
    top = block_max(top);
    double sum = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        row[j] = expf(row[j] - top);
        sum += row[j];
    }
    sum = block_sum(sum);
    float inv = (float)(1.0 / sum);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) row[j] *= inv;
}

/* In place, each row: d = a (d - sum(a d)), the sum in double; one block a row. */
__global__ void k_softmax_back_rows(float *d, const float *a, int cols) {
    float *dr = d + (size_t)blockIdx.x * cols;
    const float *ar = a + (size_t)blockIdx.x * cols;
    double dot = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)ar[j] * dr[j];
    dot = block_sum(dot);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = ar[j] * (dr[j] - (float)dot);
}

__global__ void k_add_scalar(float *x, double value) {
    if (threadIdx.x == 0 && blockIdx.x == 0) x[0] += (float)value;
}

static void pointwise_forward(float *y, const float *w, const float *b, const float *x, int rows, int C, int P) {
    size_t total = (size_t)rows * P;
    LAUNCH(k_rows_bias, blocks_for(total), THREADS, y, b, P, total);
    LAUNCHED("attention bias");
    cu_gemm(false, false, rows, P, C, 1.0f, w, C, x, P, 1.0f, y, P);
}

static void pointwise_backward(float *dx, float *dw, float *db, const float *dy, const float *w, const float *x,
                               int rows, int C, int P) {
    if (dw) cu_gemm(false, true, rows, C, P, 1.0f, dy, P, x, P, 1.0f, dw, C);
    if (db) {
        LAUNCH(k_row_sums, (unsigned)rows, THREADS, db, dy, P);
        LAUNCHED("attention bias gradient");
    }
    if (dx) cu_gemm(true, false, C, P, rows, 1.0f, w, C, dy, P, 1.0f, dx, P);
}

/* gamma [1] read back from the device (NaN on failure). */
static float read_scalar(const float *d) {
    float value = NAN;
    bind_device();
    note_cuda(cudaMemcpyAsync(&value, d, sizeof value, cudaMemcpyDeviceToHost, g_stream), "gamma");
    note_cuda(cudaStreamSynchronize(g_stream), "gamma");
    return value;
}

static void cu_self_attention_forward(float *out, float *q, float *k, float *v, float *attn, const float *in,
                                      const attention_weights *w, int N, int C, int CQ, int P) {
    float gamma = read_scalar(w->gamma);
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C * P;
        float *qn = q + (size_t)n * CQ * P, *kn = k + (size_t)n * CQ * P;
        float *vn = v + (size_t)n * C * P, *an = attn + (size_t)n * P * P, *y = out + (size_t)n * C * P;
        pointwise_forward(qn, w->wq, w->bq, x, CQ, C, P);
        pointwise_forward(kn, w->wk, w->bk, x, CQ, C, P);
        pointwise_forward(vn, w->wv, w->bv, x, C, C, P);
        cu_gemm(true, false, P, P, CQ, 1.0f, qn, P, kn, P, 0.0f, an, P); /* q^T k */
        LAUNCH(k_softmax_rows, (unsigned)P, THREADS, an, P);
        LAUNCHED("softmax");
        note_cuda(cudaMemcpyAsync(y, x, (size_t)C * P * sizeof(float), cudaMemcpyDeviceToDevice, g_stream), "copy");
        cu_gemm(false, true, C, P, P, gamma, vn, P, an, P, 1.0f, y, P); /* y = gamma v attn^T + x */
    }
}

static vv_status cu_self_attention_backward(float *din, const attention_grads *g, const float *dout, const float *in,
                                            const float *q, const float *k, const float *v, const float *attn,
                                            const attention_weights *w, int N, int C, int CQ, int P) {
    static scratch attn_scratch;
    size_t cp = (size_t)C * P, qp = (size_t)CQ * P, pp = (size_t)P * P;
    float *work = (float *)scratch_get(&attn_scratch, (2 * cp + 2 * qp + pp) * sizeof(float));
    if (!work) return take_error();
    float *o = work, *dv = o + cp, *dq = dv + cp, *dk = dq + qp, *dattn = dk + qp;
    float gamma = read_scalar(w->gamma);
    for (int n = 0; n < N; n++) {
        const float *x = in + n * cp, *gy = dout + n * cp;
        const float *qn = q + n * qp, *kn = k + n * qp, *vn = v + n * cp, *an = attn + n * pp;
        float *dx = din ? din + n * cp : NULL;
        if (g->gamma) { /* dgamma = sum(dout * v attn^T) */
            cu_gemm(false, true, C, P, P, 1.0f, vn, P, an, P, 0.0f, o, P);
            double dgamma = loss_sum(LOSS_DOT, gy, o, cp);
            LAUNCH(k_add_scalar, 1, 1, g->gamma, dgamma);
            LAUNCHED("attention gamma gradient");
        }
        if (dx) {
            LAUNCH(k_accumulate, blocks_for(cp), THREADS, dx, gy, cp);
            LAUNCHED("attention residual");
        }
        cu_gemm(false, false, C, P, P, gamma, gy, P, an, P, 0.0f, dv, P);    /* dv = gamma dout attn */
        cu_gemm(true, false, P, P, C, gamma, gy, P, vn, P, 0.0f, dattn, P); /* dattn = gamma dout^T v */
        LAUNCH(k_softmax_back_rows, (unsigned)P, THREADS, dattn, an, P);
        LAUNCHED("softmax backward");
        cu_gemm(false, true, CQ, P, P, 1.0f, kn, P, dattn, P, 0.0f, dq, P);
        cu_gemm(false, false, CQ, P, P, 1.0f, qn, P, dattn, P, 0.0f, dk, P);
        pointwise_backward(dx, g->wq, g->bq, dq, w->wq, x, CQ, C, P);
        pointwise_backward(dx, g->wk, g->bk, dk, w->wk, x, CQ, C, P);
        pointwise_backward(dx, g->wv, g->bv, dv, w->wv, x, C, C, P);
    }
    return take_error();
}

/* ---- Adam (nn/optim.c's adam_update, the bias corrections computed on the host alike) ---- */

__global__ void k_adam(float *param, const float *grad, float *m, float *v, size_t n, float b1, float b2, float lr,
                       float wd, bool decoupled, float eps, float step_size, float sqrt_correction2) {
    GRID_LOOP(i, n) {
        float g = grad[i], p = param[i];
        if (wd != 0.0f) {
            if (decoupled) p *= 1.0f - lr * wd;
            else g += wd * p;
        }
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / sqrt_correction2 + eps;
        param[i] = p - step_size * mi / denom;
    }
}

static void cu_adam_update(float *param, const float *grad, float *m, float *v, size_t n, const adam_config *config,
                           long t) {
    if (!n) return;
    double correction1 = 1.0 - pow(config->beta1, (double)t), correction2 = 1.0 - pow(config->beta2, (double)t);
    float step_size = (float)(config->lr / correction1);
    float sqrt_correction2 = (float)sqrt(correction2);
    LAUNCH(k_adam, blocks_for(n), THREADS, param, grad, m, v, n, config->beta1, config->beta2, config->lr,
                                                    config->weight_decay, config->decoupled, config->eps, step_size,
                                                    sqrt_correction2);
    LAUNCHED("adam");
}

/* ---- The device table ---- */

static const nn_backend cuda_backend = {
    /* .name = */ "cuda",
    /* .gemm = */ cu_gemm,
    /* .conv2d_forward = */ cu_conv2d_forward,
    /* .conv2d_backward = */ cu_conv2d_backward,
    /* .device_memory = */ true,
    cu_alloc, cu_free, cu_upload, cu_download, cu_copy, cu_zero, cu_sync,
    cu_relu_forward, cu_relu_backward, cu_leaky_relu_forward, cu_leaky_relu_backward,
    cu_tanh_forward, cu_tanh_backward, cu_sigmoid_forward, cu_sigmoid_backward,
    cu_add_forward, cu_add_backward,
    cu_instance_norm_forward, cu_instance_norm_backward,
    cu_adain_forward, cu_adain_backward, cu_adain_relu_forward, cu_adain_relu_backward,
    cu_avg_pool2d_forward, cu_avg_pool2d_backward,
    cu_upsample_nearest_forward, cu_upsample_nearest_backward,
    cu_global_sum_pool_forward, cu_global_sum_pool_backward,
    cu_upsample_bilinear_forward, cu_upsample_bilinear_backward,
    cu_concat_channels_forward, cu_concat_channels_backward,
    cu_linear_forward, cu_linear_backward,
    cu_spectral_norm_forward, cu_spectral_norm_backward,
    cu_self_attention_forward, cu_self_attention_backward,
    cu_l1_loss_forward, cu_l1_loss_backward, cu_mse_loss_forward, cu_mse_loss_backward,
    cu_hinge_d_loss_forward, cu_hinge_d_loss_backward, cu_hinge_g_loss_forward, cu_hinge_g_loss_backward,
    cu_adam_update,
};

extern "C" const nn_backend *nn_backend_cuda(void) { return &cuda_backend; }

/* ---- The staged table: host pointers, operands copied over and back ---- */

static pthread_mutex_t g_staged_lock = PTHREAD_MUTEX_INITIALIZER;
static scratch g_stage[4];
static long g_count_gemm, g_count_conv, g_count_fallback;

/* GEMMs below this many multiply-adds stay on the CPU: the copies cost more. */
static const double STAGED_GEMM_MIN = 1 << 20;

/* Elements a row-major matrix of `rows` rows, `cols` columns and leading dimension ld spans. */
static size_t span(int rows, int cols, int ld) { return rows <= 0 || cols <= 0 ? 0 : (size_t)(rows - 1) * ld + cols; }

static float *stage(int slot, const float *host, size_t count) {
    bind_device();
    float *d = (float *)scratch_get(&g_stage[slot], (count ? count : 1) * sizeof(float));
    if (d && host && count)
        note_cuda(cudaMemcpyAsync(d, host, count * sizeof(float), cudaMemcpyHostToDevice, g_stream), "upload");
    return d;
}

static bool unstage(float *host, const float *d, size_t count) {
    bind_device();
    if (count) note_cuda(cudaMemcpyAsync(host, d, count * sizeof(float), cudaMemcpyDeviceToHost, g_stream), "download");
    note_cuda(cudaStreamSynchronize(g_stream), "download");
    return !g_error[0];
}

static void staged_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                        int ldb, float beta, float *c, int ldc) {
    const nn_backend *cpu = nn_backend_cpu();
    if (M <= 0 || N <= 0 || (double)M * N * K < STAGED_GEMM_MIN) {
        cpu->gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    pthread_mutex_lock(&g_staged_lock);
    size_t na = ta ? span(K, M, lda) : span(M, K, lda), nb = tb ? span(N, K, ldb) : span(K, N, ldb);
    size_t nc = span(M, N, ldc);
    float *da = stage(0, a, na), *db = stage(1, b, nb), *dc = stage(2, c, nc); /* c: keeps the gaps of ldc */
    bool ok = da && db && dc;
    if (ok) {
        cu_gemm(ta, tb, M, N, K, alpha, da, lda, db, ldb, beta, dc, ldc);
        ok = unstage(c, dc, nc);
    }
    if (ok) g_count_gemm++;
    else {
        g_error[0] = 0; /* c may hold a partial download: recomputed from the operands */
        g_count_fallback++;
    }
    pthread_mutex_unlock(&g_staged_lock);
    if (!ok) cpu->gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

static vv_status staged_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                                       const conv2d_shape *s) {
    size_t n_in = (size_t)s->N * s->C * s->H * s->W, n_w = (size_t)s->OC * (s->C / s->groups) * s->KH * s->KW;
    size_t n_out = (size_t)s->N * s->OC * s->OH * s->OW;
    pthread_mutex_lock(&g_staged_lock);
    float *d_in = stage(0, in, n_in), *d_w = stage(1, weight, n_w), *d_out = stage(2, NULL, n_out);
    float *d_b = bias ? stage(3, bias, (size_t)s->OC) : NULL;
    vv_status status = VV_OK;
    if (!d_in || !d_w || !d_out || (bias && !d_b)) status = take_error();
    if (status == VV_OK) status = cu_conv2d_forward(d_out, d_in, d_w, d_b, s);
    if (status == VV_OK) status = unstage(out, d_out, n_out) ? VV_OK : take_error();
    if (status == VV_OK) g_count_conv++;
    pthread_mutex_unlock(&g_staged_lock);
    return status;
}

static vv_status staged_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                                        const float *weight, const conv2d_shape *s) {
    size_t n_in = (size_t)s->N * s->C * s->H * s->W, n_w = (size_t)s->OC * (s->C / s->groups) * s->KH * s->KW;
    size_t n_out = (size_t)s->N * s->OC * s->OH * s->OW;
    pthread_mutex_lock(&g_staged_lock);
    vv_status status = VV_OK;
    /* slots: 0 dout; 1 in, then din; 2 weight, then dweight; 3 dbias.  One operand at a time
     * where a slot is shared: the input gradient first (needs weight), then the weight's. */
    float *d_dout = stage(0, dout, n_out);
    if (!d_dout) status = take_error();
    if (status == VV_OK && din) {
        float *d_w = stage(2, weight, n_w), *d_din = stage(1, din, n_in);
        if (!d_w || !d_din) status = take_error();
        if (status == VV_OK) status = cu_conv2d_backward(d_din, NULL, NULL, d_dout, NULL, d_w, s);
        if (status == VV_OK && !unstage(din, d_din, n_in)) status = take_error();
    }
    if (status == VV_OK && (dweight || dbias)) {
        float *d_in = dweight ? stage(1, in, n_in) : NULL, *d_dw = dweight ? stage(2, dweight, n_w) : NULL;
        float *d_db = dbias ? stage(3, dbias, (size_t)s->OC) : NULL;
        if ((dweight && (!d_in || !d_dw)) || (dbias && !d_db)) status = take_error();
        if (status == VV_OK) status = cu_conv2d_backward(NULL, d_dw, d_db, d_dout, d_in, NULL, s);
        if (status == VV_OK && dweight && !unstage(dweight, d_dw, n_w)) status = take_error();
        if (status == VV_OK && dbias && !unstage(dbias, d_db, (size_t)s->OC)) status = take_error();
    }
    if (status == VV_OK) g_count_conv++;
    pthread_mutex_unlock(&g_staged_lock);
    return status;
}

static nn_backend g_staged_backend;
static pthread_once_t g_staged_once = PTHREAD_ONCE_INIT;

static void staged_make(void) {
    g_staged_backend = *nn_backend_cpu(); /* host memory and every other op: the CPU's */
    g_staged_backend.name = "cuda-staged";
    g_staged_backend.gemm = staged_gemm;
    g_staged_backend.conv2d_forward = staged_conv2d_forward;
    g_staged_backend.conv2d_backward = staged_conv2d_backward;
}

extern "C" const nn_backend *nn_backend_cuda_staged(void) {
    pthread_once(&g_staged_once, staged_make);
    return &g_staged_backend;
}

extern "C" void nn_cuda_counts(long *gemms, long *convs, long *fallbacks) {
    pthread_mutex_lock(&g_staged_lock);
    if (gemms) *gemms = g_count_gemm;
    if (convs) *convs = g_count_conv;
    if (fallbacks) *fallbacks = g_count_fallback;
    pthread_mutex_unlock(&g_staged_lock);
}
