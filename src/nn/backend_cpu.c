/* nn/backend_cpu: the default backend: GEMM and convolutions through oneDNN when built with
 * it (backend_dnnl.c), else OpenBLAS GEMM and im2col (layers_conv.c); memory is host memory
 * (malloc / memcpy) and the other ops are the nn/layers.h, nn/ops.h, nn/optim.h functions. */
#include "nn/backend.h"
#include "nn/ops.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

static void *cpu_alloc(size_t bytes) { return bytes ? malloc(bytes) : NULL; }
static void cpu_free(void *p) { free(p); }
static vv_status cpu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
    return VV_OK;
}
static vv_status cpu_zero(void *p, size_t bytes) {
    if (bytes) memset(p, 0, bytes);
    return VV_OK;
}
static vv_status cpu_sync(void) { return VV_OK; }

#define CPU_OPS                                                                                   \
    .device_memory = false, .alloc = cpu_alloc, .free = cpu_free, .upload = cpu_copy,             \
    .download = cpu_copy, .copy = cpu_copy, .zero = cpu_zero, .sync = cpu_sync,                   \
    .relu_forward = relu_forward, .relu_backward = relu_backward,                                 \
    .leaky_relu_forward = leaky_relu_forward, .leaky_relu_backward = leaky_relu_backward,         \
    .tanh_forward = tanh_forward, .tanh_backward = tanh_backward,                                 \
    .sigmoid_forward = sigmoid_forward, .sigmoid_backward = sigmoid_backward,                     \
    .add_forward = add_forward, .add_backward = add_backward,                                     \
    .instance_norm_forward = instance_norm_forward, .instance_norm_backward = instance_norm_backward, \
    .adain_forward = adain_forward, .adain_backward = adain_backward,                             \
    .adain_relu_forward = adain_relu_forward, .adain_relu_backward = adain_relu_backward,         \
    .avg_pool2d_forward = avg_pool2d_forward, .avg_pool2d_backward = avg_pool2d_backward,         \
    .upsample_nearest_forward = upsample_nearest_forward,                                         \
    .upsample_nearest_backward = upsample_nearest_backward,                                       \
    .global_sum_pool_forward = global_sum_pool_forward,                                           \
    .global_sum_pool_backward = global_sum_pool_backward,                                         \
    .upsample_bilinear_forward = upsample_bilinear_forward,                                       \
    .upsample_bilinear_backward = upsample_bilinear_backward,                                     \
    .concat_channels_forward = concat_channels_forward,                                           \
    .concat_channels_backward = concat_channels_backward,                                         \
    .linear_forward = linear_forward, .linear_backward = linear_backward,                         \
    .spectral_norm_forward = spectral_norm_forward, .spectral_norm_backward = spectral_norm_backward, \
    .self_attention_forward = self_attention_forward, .self_attention_backward = self_attention_backward, \
    .l1_loss_forward = l1_loss_forward, .l1_loss_backward = l1_loss_backward,                     \
    .mse_loss_forward = mse_loss_forward, .mse_loss_backward = mse_loss_backward,                 \
    .hinge_d_loss_forward = hinge_d_loss_forward, .hinge_d_loss_backward = hinge_d_loss_backward, \
    .hinge_g_loss_forward = hinge_g_loss_forward, .hinge_g_loss_backward = hinge_g_loss_backward, \
    .adam_update = adam_update

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
    CPU_OPS,
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
