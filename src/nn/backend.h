/* nn/backend: the seam between model code and the device that runs GEMM and convolution.
 *
 * Model code calls conv2d_forward / conv2d_backward / nn_gemm; those dispatch through the
 * current backend's table.  The CPU backend (backend_cpu.c) is the default and the
 * reference.  A CUDA backend supplies the same table; the pointers it receives are then
 * device pointers (a later step adds allocation and copies to this table), so model code
 * that only calls these entry points needs no change. */
#ifndef VV_NN_BACKEND_H
#define VV_NN_BACKEND_H

#include "nn/layers.h"

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

#endif
