/* nn/backend_cpu: the default backend: GEMM and convolutions through oneDNN when built with
 * it (backend_dnnl.c), else OpenBLAS GEMM and im2col (layers_conv.c). */
#include "nn/backend.h"

#include <cblas.h>
#include <stdatomic.h>

#ifndef VV_HAVE_DNNL
static void cpu_gemm(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c,
                     int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* BLAS rejects empty inner dimensions: C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) c[(size_t)i * ldc + j] *= beta;
        return;
    }
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
                transpose_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, lda, b, ldb, beta, c,
                ldc);
}
#endif

void nn_blas_threads(int threads) {
    if (threads >= 1) openblas_set_num_threads(threads);
}

static const nn_backend cpu_backend = {
#ifdef VV_HAVE_DNNL
    .name = "cpu+onednn",
    .gemm = gemm_dnnl,
    .conv2d_forward = conv2d_forward_dnnl,
    .conv2d_backward = conv2d_backward_dnnl,
#else
    .name = "cpu",
    .gemm = cpu_gemm,
    .conv2d_forward = conv2d_forward_cpu,
    .conv2d_backward = conv2d_backward_cpu,
#endif
};

static _Atomic(const nn_backend *) current_backend = NULL;

const nn_backend *nn_backend_cpu(void) { return &cpu_backend; }

const nn_backend *nn_backend_current(void) {
    const nn_backend *b = atomic_load(&current_backend);
    return b ? b : &cpu_backend;
}

void nn_backend_set(const nn_backend *backend) { atomic_store(&current_backend, backend); }

void nn_gemm(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    nn_backend_current()->gemm(transpose_a, transpose_b, M, N, K, alpha, a, lda, b, ldb, beta, c,
                               ldc);
}

vv_status conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                         const conv2d_shape *s) {
    return nn_backend_current()->conv2d_forward(out, in, weight, bias, s);
}

vv_status conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, const conv2d_shape *s) {
    return nn_backend_current()->conv2d_backward(din, dweight, dbias, dout, in, weight, s);
}

void nn_cpu_sgemm(int order, int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    (void)order; /* row major: every caller's */
    cpu_backend.gemm(transpose_a == (int)CblasTrans, transpose_b == (int)CblasTrans, M, N, K, alpha, a, lda, b, ldb,
                     beta, c, ldc);
}
