/* nn/backend: the seam between model code and the device that runs the training core.
 *
 * Model code calls conv2d_forward / conv2d_backward / nn_gemm; those dispatch through the
 * current backend's table.  The CPU backend (backend_cpu.c) is the default and the
 * reference.  The table also holds device memory (alloc, upload, download, copy, zero,
 * sync) and the other ops of the training core (activations, instance norm, AdaIN,
 * pooling, upsampling, concatenation, linear, spectral norm, self-attention, losses,
 * Adam; not max pooling or PReLU, which no network here uses), each with the contract of its nn/layers.h, nn/ops.h
 * or nn/optim.h twin.  The CPU backend's memory entries are malloc / memcpy and its op
 * entries are those twins, so code written against the table runs on either.
 *
 * A backend with device_memory set (the CUDA one, backend_cuda.cu) takes device pointers
 * from its own alloc in every entry.  nn_backend_cuda_staged() is the same GPU code behind
 * host pointers (each call copies its operands over and back): what `--device cuda` sets
 * for model code that still keeps its buffers in host memory (docs/TRAINING.md says which
 * ops that covers). */
#ifndef VV_NN_BACKEND_H
#define VV_NN_BACKEND_H

#include "nn/layers.h"
#include "nn/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_backend {
    const char *name;
    /* Row-major C [M,N] = alpha op(A) op(B) + beta C, as cblas_sgemm with lda/ldb/ldc. */
    void (*gemm)(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc);
    vv_status (*conv2d_forward)(float *out, const float *in, const float *weight,
                                const float *bias, const conv2d_shape *s);
    vv_status (*conv2d_backward)(float *din, float *dweight, float *dbias, const float *dout,
                                 const float *in, const float *weight, const conv2d_shape *s);

    /* ---- Memory (bytes; NULL pointers and 0 sizes are no-ops) ---- */
    bool device_memory;      /* true: every pointer below is the backend's own memory */
    void *(*alloc)(size_t bytes); /* NULL when out of memory */
    void (*free)(void *p);
    vv_status (*upload)(void *dst, const void *host_src, size_t bytes);
    vv_status (*download)(void *host_dst, const void *src, size_t bytes);
    vv_status (*copy)(void *dst, const void *src, size_t bytes);
    vv_status (*zero)(void *p, size_t bytes);
    /* Waits for the work queued so far; returns the first failure since the last sync
     * (ops themselves return nothing, as CUDA kernel launches do).  VV_OK on the CPU. */
    vv_status (*sync)(void);

    /* ---- Training-core ops: the contracts of nn/ops.h, nn/layers.h, nn/optim.h ---- */
    void (*relu_forward)(float *out, const float *in, size_t n);
    void (*relu_backward)(float *din, const float *dout, const float *in, size_t n);
    void (*leaky_relu_forward)(float *out, const float *in, float alpha, size_t n);
    void (*leaky_relu_backward)(float *din, const float *dout, const float *in, float slope, size_t n);
    void (*tanh_forward)(float *out, const float *in, size_t n);
    void (*tanh_backward)(float *din, const float *dout, const float *out, size_t n);
    void (*sigmoid_forward)(float *out, const float *in, size_t n);
    void (*sigmoid_backward)(float *din, const float *dout, const float *out, size_t n);
    void (*add_forward)(float *out, const float *a, const float *b, size_t n);
    void (*add_backward)(float *da, float *db, const float *dout, size_t n);
    void (*instance_norm_forward)(float *out, float *mean, float *rstd, const float *in,
                                  const float *gamma, const float *beta, int N, int C, int HW,
                                  float eps);
    void (*instance_norm_backward)(float *din, float *dgamma, float *dbeta, const float *dout,
                                   const float *in, const float *mean, const float *rstd,
                                   const float *gamma, int N, int C, int HW);
    void (*adain_forward)(float *out, float *mean, float *rstd, const float *in, const float *scale,
                          const float *bias, int N, int C, int HW, float eps);
    void (*adain_backward)(float *din, float *dscale, float *dbias, const float *dout,
                           const float *in, const float *mean, const float *rstd,
                           const float *scale, int N, int C, int HW);
    void (*adain_relu_forward)(float *out, float *mean, float *rstd, const float *in,
                               const float *scale, const float *bias, int N, int C, int HW,
                               float eps);
    void (*adain_relu_backward)(float *din, float *dscale, float *dbias, const float *dout,
                                const float *out, const float *in, const float *mean,
                                const float *rstd, const float *scale, int N, int C, int HW);
    void (*avg_pool2d_forward)(float *out, const float *in, int N, int C, int H, int W, int K,
                               int stride, int OH, int OW);
    void (*avg_pool2d_backward)(float *din, const float *dout, int N, int C, int H, int W, int K,
                                int stride, int OH, int OW);
    void (*upsample_nearest_forward)(float *out, const float *in, int N, int C, int H, int W, int f);
    void (*upsample_nearest_backward)(float *din, const float *dout, int N, int C, int H, int W,
                                      int f);
    void (*global_sum_pool_forward)(float *out, const float *in, int N, int C, int HW);
    void (*global_sum_pool_backward)(float *din, const float *dout, int N, int C, int HW);
    void (*upsample_bilinear_forward)(float *out, const float *in, int N, int C, int H, int W, int OH, int OW);
    void (*upsample_bilinear_backward)(float *din, const float *dout, int N, int C, int H, int W, int OH,
                                       int OW);
    void (*concat_channels_forward)(float *out, const float *a, const float *b, int N, int Ca, int Cb, int HW);
    void (*concat_channels_backward)(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW);
    void (*linear_forward)(float *out, const float *in, const float *weight, const float *bias, int N,
                           int in_dim, int out_dim);
    void (*linear_backward)(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                            const float *weight, int N, int in_dim, int out_dim);
    /* sigma returned in host memory (a device backend syncs for it) */
    float (*spectral_norm_forward)(float *weight_sn, float *u, float *v, const float *weight, int rows,
                                   int cols, int iterations, float eps);
    void (*spectral_norm_backward)(float *dweight, const float *dweight_sn, const float *weight,
                                   const float *u, const float *v, float sigma, int rows, int cols);
    /* SAGAN self-attention; the weights' and gradients' pointers (gamma too) in the backend's memory */
    void (*self_attention_forward)(float *out, float *q, float *k, float *v, float *attn, const float *in,
                                   const attention_weights *w, int N, int C, int CQ, int P);
    vv_status (*self_attention_backward)(float *din, const attention_grads *g, const float *dout,
                                         const float *in, const float *q, const float *k, const float *v,
                                         const float *attn, const attention_weights *w, int N, int C, int CQ,
                                         int P);
    /* Losses return the value in host memory (a device backend syncs for it). */
    float (*l1_loss_forward)(const float *a, const float *b, size_t n);
    void (*l1_loss_backward)(float *da, float *db, const float *a, const float *b, size_t n,
                             float dloss);
    float (*mse_loss_forward)(const float *a, const float *b, size_t n);
    void (*mse_loss_backward)(float *da, float *db, const float *a, const float *b, size_t n,
                              float dloss);
    float (*hinge_d_loss_forward)(const float *real, size_t n_real, const float *fake,
                                  size_t n_fake);
    void (*hinge_d_loss_backward)(float *dreal, float *dfake, const float *real, size_t n_real,
                                  const float *fake, size_t n_fake, float dloss);
    float (*hinge_g_loss_forward)(const float *fake, size_t n);
    void (*hinge_g_loss_backward)(float *dfake, size_t n, float dloss);
    void (*adam_update)(float *param, const float *grad, float *m, float *v, size_t n,
                        const adam_config *config, long t);
} nn_backend;

/* The CPU backend: GEMM and convolutions through oneDNN when the build has it (VV_HAVE_DNNL,
 * backend_dnnl.c: its sgemm, its blocked direct and Winograd convolution kernels), each
 * convolution shape oneDNN refuses and builds without it on OpenBLAS and im2col + OpenBLAS
 * (layers_conv.c).  Its name says which ("cpu+onednn" or "cpu"). */
const nn_backend *nn_backend_cpu(void);
#ifdef VV_HAVE_DNNL
/* backend_dnnl.c: the layers.h contract (NCHW, backward accumulates); fall back to the
 * im2col functions for what oneDNN does not take. */
vv_status conv2d_forward_dnnl(float *out, const float *in, const float *weight, const float *bias,
                              const conv2d_shape *s);
vv_status conv2d_backward_dnnl(float *din, float *dweight, float *dbias, const float *dout,
                               const float *in, const float *weight, const conv2d_shape *s);
/* Row-major sgemm through oneDNN (the gemm entry's contract). */
void gemm_dnnl(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);
#endif
/* Whether oneDNN may use its Winograd kernels (3x3 stride 1; default on): 1.7x faster than
 * its direct ones there, with float errors a few times larger (still within the PyTorch
 * reference tests' 1e-4; tests/test_nn_backend.c measures them).  Process-wide; a no-op
 * without oneDNN. */
void nn_conv_winograd(bool on);
/* Convolution shapes oneDNN has built and refused (forward or backward) so far, this
 * process; 0 and 0 without oneDNN. */
void nn_dnnl_shapes(int *taken, int *refused);
/* The oneDNN library this process loaded (its soname), or NULL: not built in, or not
 * loadable here (the convolutions then run on im2col + OpenBLAS).  Loads it if needed. */
const char *nn_dnnl_library(void);
/* The backend in use (the CPU one unless set); setting NULL restores the CPU one.
 * Process-wide: set it before building or running a network. */
const nn_backend *nn_backend_current(void);
void nn_backend_set(const nn_backend *backend);

/* The CPU backend's BLAS threads (OpenBLAS's own pool, process-wide).  Inference runs
 * small GEMMs on a tracker thread beside vivify's own render pool: there one BLAS thread
 * avoids a second pool spinning for work on the same cores (the CLI sets it for its
 * inference commands unless OPENBLAS_NUM_THREADS is set).  Training keeps OpenBLAS's
 * default (all cores). */
void nn_blas_threads(int threads);

/* GEMM through the CPU backend whatever backend is current (host memory): the NHWC ops
 * behind the TFJS runner (ops.c, ops_backward.c) call it, so in training their GEMMs run on
 * oneDNN's threads as the convolutions do rather than waking OpenBLAS's pool, whose threads
 * spin after each call and held the second core (a 2-thread training step 7x slower than a
 * 1-thread one).  cblas_sgemm's arguments (order CblasRowMajor only; the CBLAS enums as int,
 * so that this header needs no cblas.h, whose complex.h defines I). */
void nn_cpu_sgemm(int order, int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* GEMM through the current backend. */
void nn_gemm(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

#ifdef VV_HAVE_CUDA
/* ---- The CUDA backend (backend_cuda.cu; built with -DVV_CUDA=ON) ----
 * Kernels and cuBLAS calls run on one stream of the device chosen by nn_cuda_init; op
 * entries queue work and return (errors surface at sync, losses sync for their value).
 * GEMM: cublasSgemm (the row-major contract mapped onto column-major); convolutions:
 * im2col / col2im kernels + cublasSgemm per sample and group; the other ops: own kernels,
 * reductions in double as the CPU twins. */
/* Opens GPU `device` (0-based; a multi-GPU rank passes its local rank modulo the count):
 * VV_ERR_UNSUPPORTED with the driver's reason when there is no such GPU.  Idempotent for
 * the same device.  The others below need it first. */
vv_status nn_cuda_init(int device);
/* GPUs the driver sees (0 with none, or no driver); *why gets the reason when 0. */
int nn_cuda_device_count(const char **why);
/* The opened GPU's name ("NVIDIA H100 80GB HBM3"), or NULL before nn_cuda_init. */
const char *nn_cuda_device_name(void);
/* Device pointers in every entry. */
const nn_backend *nn_backend_cuda(void);
/* Host pointers: gemm and the convolutions copy their operands to the GPU and the results
 * back (serialised by a mutex); every other entry is the CPU backend's.  A GEMM the GPU
 * fails runs on the CPU (counted by nn_cuda_fallbacks); a convolution returns the error. */
const nn_backend *nn_backend_cuda_staged(void);
/* GEMMs and convolutions the staged backend has run on the GPU, and fallbacks. */
void nn_cuda_counts(long *gemms, long *convs, long *fallbacks);
#endif

#ifdef __cplusplus
}
#endif

#endif
