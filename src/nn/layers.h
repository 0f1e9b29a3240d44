/* nn/layers: training ops in NCHW, each a forward + backward pair.
 *
 * Signature order: outputs first, then inputs (weights, bias), then sizes; shapes in the
 * comment.  Forward ops save what their backward needs in caller-owned buffers named in
 * the signature (mean, rstd, argmax, attention...).  Backward ops ACCUMULATE (+=) into
 * input and parameter gradients, so a step zeroes gradients once; any gradient pointer
 * may be NULL to skip it.  Weights use PyTorch's layouts (conv [OC, C/groups, KH, KW],
 * linear [O, I]) so its checkpoints and reference values map one to one.  Elementwise
 * forwards reuse nn/ops.h (relu_forward, leaky_relu_forward, tanh_forward,
 * sigmoid_forward), which work in any layout.  Callers validate sizes; kernels trust
 * them.  Ops that need scratch memory return vv_status (VV_ERR_NO_MEMORY only). */
#ifndef VV_NN_LAYERS_H
#define VV_NN_LAYERS_H

#include "base/base.h"

/* ---- Convolution ---- */

typedef struct conv2d_shape {
    int N, C, H, W;      /* input */
    int OC, KH, KW;      /* weight [OC, C/groups, KH, KW] */
    int stride, pad;     /* same in both axes; zero padding */
    int groups;          /* C and OC divisible by it; groups == C: depthwise */
    int OH, OW;          /* set by conv2d_shape_init */
} conv2d_shape;

/* Fills *s and its output size; false when a size is invalid or the output empty. */
bool conv2d_shape_init(conv2d_shape *s, int N, int C, int H, int W, int OC, int KH, int KW,
                       int stride, int pad, int groups);

/* out [N,OC,OH,OW] = conv(in [N,C,H,W], weight) + bias [OC] (bias may be NULL).
 * Dispatches through the current backend (nn/backend.h). */
vv_status conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                         const conv2d_shape *s);
/* din [N,C,H,W], dweight [OC,C/g,KH,KW], dbias [OC] += from dout [N,OC,OH,OW]. */
vv_status conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, const conv2d_shape *s);
/* The CPU implementations behind the backend table (im2col + cblas_sgemm, tiled over
 * output rows; a direct loop for depthwise). */
vv_status conv2d_forward_cpu(float *out, const float *in, const float *weight,
                             const float *bias, const conv2d_shape *s);
vv_status conv2d_backward_cpu(float *din, float *dweight, float *dbias, const float *dout,
                              const float *in, const float *weight, const conv2d_shape *s);

/* out [N,out_dim] = in [N,in_dim] weight^T + bias; weight [out_dim,in_dim], bias
 * [out_dim] or NULL. */
void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                    int N, int in_dim, int out_dim);
void linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight, int N, int in_dim, int out_dim);

/* ---- Activations (n elements; forwards in nn/ops.h) ---- */

void relu_backward(float *din, const float *dout, const float *in, size_t n);
void leaky_relu_backward(float *din, const float *dout, const float *in, float slope, size_t n);
/* Backward from the forward's output (cheaper than recomputing). */
void tanh_backward(float *din, const float *dout, const float *out, size_t n);
void sigmoid_backward(float *din, const float *dout, const float *out, size_t n);
/* PReLU with one slope per channel: out, in [N,C,HW], alpha [C]. */
void prelu_nchw_forward(float *out, const float *in, const float *alpha, int N, int C, int HW);
void prelu_nchw_backward(float *din, float *dalpha, const float *dout, const float *in,
                         const float *alpha, int N, int C, int HW);

/* ---- Normalisation ---- */

/* Instance norm over each (n, c) plane: out, in [N,C,HW]; mean, rstd [N*C] saved for the
 * backward; gamma, beta [C] or both NULL (not affine).  Biased variance, as PyTorch. */
void instance_norm_forward(float *out, float *mean, float *rstd, const float *in,
                           const float *gamma, const float *beta, int N, int C, int HW,
                           float eps);
void instance_norm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                            const float *in, const float *mean, const float *rstd,
                            const float *gamma, int N, int C, int HW);
/* AdaIN: instance norm with per-sample scale and bias [N*C] from outside (e.g. the
 * embedder's projection), which receive gradients too. */
void adain_forward(float *out, float *mean, float *rstd, const float *in, const float *scale,
                   const float *bias, int N, int C, int HW, float eps);
void adain_backward(float *din, float *dscale, float *dbias, const float *dout,
                    const float *in, const float *mean, const float *rstd, const float *scale,
                    int N, int C, int HW);
/* AdaIN then ReLU in one pass: out = relu(adain(in)).  The backward takes that output
 * (where it is 0 the gradient stops) and adds what relu_backward + adain_backward would. */
void adain_relu_forward(float *out, float *mean, float *rstd, const float *in, const float *scale,
                        const float *bias, int N, int C, int HW, float eps);
void adain_relu_backward(float *din, float *dscale, float *dbias, const float *dout, const float *out,
                         const float *in, const float *mean, const float *rstd, const float *scale,
                         int N, int C, int HW);

/* Spectral normalisation (Miyato et al.; PyTorch's spectral_norm): weight viewed as
 * [rows, cols]; u [rows] is the state kept between steps, v [cols] is written.  When
 * `iterations` > 0 the power iteration updates u and v first (training); then
 * sigma = u^T W v and weight_sn = weight / sigma.  Returns sigma. */
float spectral_norm_forward(float *weight_sn, float *u, float *v, const float *weight,
                            int rows, int cols, int iterations, float eps);
/* dweight += d(weight / sigma) with u, v held constant, as PyTorch differentiates it:
 * dW = dWsn / sigma - (sum(dWsn * W) / sigma^2) u v^T. */
void spectral_norm_backward(float *dweight, const float *dweight_sn, const float *weight,
                            const float *u, const float *v, float sigma, int rows, int cols);

/* ---- Pooling and resampling ---- */

/* Average pool, no padding: out [N,C,OH,OW], OH = (H - K) / stride + 1. */
void avg_pool2d_forward(float *out, const float *in, int N, int C, int H, int W, int K,
                        int stride, int OH, int OW);
void avg_pool2d_backward(float *din, const float *dout, int N, int C, int H, int W, int K,
                         int stride, int OH, int OW);
/* Max pool with padding (padded cells never win); argmax [N,C,OH,OW] saved. */
void max_pool2d_forward(float *out, int32_t *argmax, const float *in, int N, int C, int H,
                        int W, int K, int stride, int pad, int OH, int OW);
void max_pool2d_backward(float *din, const float *dout, const int32_t *argmax, int N, int C,
                         int H, int W, int OH, int OW);
/* Global pooling over HW: out [N*C]. */
void global_sum_pool_forward(float *out, const float *in, int N, int C, int HW);
void global_sum_pool_backward(float *din, const float *dout, int N, int C, int HW);
void global_mean_pool_forward(float *out, const float *in, int N, int C, int HW);
void global_mean_pool_backward(float *din, const float *dout, int N, int C, int HW);

/* Nearest upsampling by an integer factor: out [N,C,H*f,W*f]. */
void upsample_nearest_forward(float *out, const float *in, int N, int C, int H, int W, int f);
void upsample_nearest_backward(float *din, const float *dout, int N, int C, int H, int W, int f);
/* Bilinear resize to [OH,OW], PyTorch's align_corners=False (half-pixel centres). */
void upsample_bilinear_forward(float *out, const float *in, int N, int C, int H, int W,
                               int OH, int OW);
void upsample_bilinear_backward(float *din, const float *dout, int N, int C, int H, int W,
                                int OH, int OW);

/* ---- Structure ---- */

/* out = a + b (n elements); backward adds dout to both. Reshape is free in NCHW
 * (a view), so it has no op. */
void add_forward(float *out, const float *a, const float *b, size_t n);
void add_backward(float *da, float *db, const float *dout, size_t n);
/* Channel concat: out [N, Ca+Cb, HW] from a [N,Ca,HW], b [N,Cb,HW]. */
void concat_channels_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb,
                             int HW);
void concat_channels_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb,
                              int HW);

/* ---- SAGAN self-attention (Zhang et al. 2019) ----
 * q = Wq x + bq [N,CQ,P], k = Wk x + bk [N,CQ,P], v = Wv x + bv [N,C,P] (1x1 convs,
 * weights [CQ,C], [CQ,C], [C,C]); attn[i,j] = softmax_j(q_i . k_j) [N,P,P];
 * out[c,i] = gamma * sum_j v[c,j] attn[i,j] + x[c,i].  P = H*W.  q, k, v, attn are
 * saved for the backward. */
typedef struct attention_weights {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *gamma;
} attention_weights;
typedef struct attention_grads {
    float *wq, *bq, *wk, *bk, *wv, *bv, *gamma; /* each may be NULL */
} attention_grads;
void self_attention_forward(float *out, float *q, float *k, float *v, float *attn,
                            const float *in, const attention_weights *w, int N, int C, int CQ,
                            int P);
vv_status self_attention_backward(float *din, const attention_grads *g, const float *dout,
                                  const float *in, const float *q, const float *k,
                                  const float *v, const float *attn,
                                  const attention_weights *w, int N, int C, int CQ, int P);

/* ---- Losses (mean reduction, as PyTorch's defaults) ----
 * Each returns the loss; the backward adds dloss * d(loss)/d(input). */
float l1_loss_forward(const float *a, const float *b, size_t n);
void l1_loss_backward(float *da, float *db, const float *a, const float *b, size_t n,
                      float dloss);
float mse_loss_forward(const float *a, const float *b, size_t n);
void mse_loss_backward(float *da, float *db, const float *a, const float *b, size_t n,
                       float dloss);
/* Hinge loss for the discriminator: mean(relu(1 - real)) + mean(relu(1 + fake)). */
float hinge_d_loss_forward(const float *real, size_t n_real, const float *fake, size_t n_fake);
void hinge_d_loss_backward(float *dreal, float *dfake, const float *real, size_t n_real,
                           const float *fake, size_t n_fake, float dloss);
/* Hinge loss for the generator: -mean(fake). */
float hinge_g_loss_forward(const float *fake, size_t n);
void hinge_g_loss_backward(float *dfake, size_t n, float dloss);
/* Feature matching: sum over layers of L1(fake_l, real_l); real features are constants. */
float feature_matching_loss_forward(const float *const *real, const float *const *fake,
                                    const size_t *sizes, int layers);
void feature_matching_loss_backward(float *const *dfake, const float *const *real,
                                    const float *const *fake, const size_t *sizes, int layers,
                                    float dloss);

#endif
