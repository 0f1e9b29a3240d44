/* nn/ops: neural-network kernels on raw float32 arrays.
 *
 * Signature order: outputs first, then inputs (weights, bias), then sizes.  Shapes are
 * given in the comment of each op.  The forward ops here are NHWC (TensorFlow's layout,
 * used by the TFJS runner); weights use TensorFlow's layouts (conv HWIO, depthwise
 * HWCM).  Callers validate sizes; kernels trust them.  Elementwise ops allow out == in. */
#ifndef VV_NN_OPS_H
#define VV_NN_OPS_H

#include "base/base.h"

/* Output size and leading padding of one spatial dimension, TensorFlow's rules:
 * SAME: out = ceil(in / stride), padding split with the extra pixel at the end;
 * VALID: out = ceil((in - kernel + 1) / stride), no padding.
 * Returns false when the output would be empty. */
bool conv_out_size_same(int in, int kernel, int stride, int *out, int *pad_before);
bool conv_out_size_valid(int in, int kernel, int stride, int *out);
bool conv_out_size_explicit(int in, int kernel, int stride, int pad_before, int pad_after,
                            int *out);

/* Threads used by the kernels' parallel_for (0: all cores, default). */
void ops_set_threads(int threads);

/* Convolution.  out [N,OH,OW,OC], in [N,H,W,C], weight [KH,KW,C,OC], bias [OC] or NULL.
 * Padding beyond pad_top/pad_left up to the output size is zeros.  1x1 stride-1
 * unpadded convolutions are a single GEMM; others go through im2col tiles + GEMM.
 * Fails only when the im2col workspace cannot be allocated. */
vv_status conv2d_nhwc_forward(float *out, const float *in, const float *weight,
                              const float *bias, int N, int H, int W, int C, int KH, int KW,
                              int OC, int stride_h, int stride_w, int pad_top, int pad_left,
                              int OH, int OW);

/* Depthwise convolution with channel multiplier M.  out [N,OH,OW,C*M] (output channel
 * c*M+m), in [N,H,W,C], weight [KH,KW,C,M], bias [C*M] or NULL. */
void depthwise_conv2d_nhwc_forward(float *out, const float *in, const float *weight,
                                   const float *bias, int N, int H, int W, int C, int KH,
                                   int KW, int M, int stride_h, int stride_w, int pad_top,
                                   int pad_left, int OH, int OW);

/* Max pooling; padded positions are ignored.  out [N,OH,OW,C], in [N,H,W,C]. */
void max_pool_nhwc_forward(float *out, const float *in, int N, int H, int W, int C, int KH,
                           int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                           int OH, int OW);

/* Average pooling over the window's pixels inside the image only (TensorFlow's AvgPool:
 * SAME padding does not count padded positions).  out [N,OH,OW,C], in [N,H,W,C]. */
void avg_pool_nhwc_forward(float *out, const float *in, int N, int H, int W, int C, int KH,
                           int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                           int OH, int OW);

/* TensorFlow's ResizeBilinear: out [N,OH,OW,C], in [N,H,W,C].  Output pixel i samples
 * input coordinate i * scale (legacy), (i + 0.5) * scale - 0.5 (half_pixel_centers),
 * scale = in / out, or (in - 1) / (out - 1) with align_corners (out > 1); neighbours
 * floor and ceil of it clamped to the image, weight the fractional part. */
void resize_bilinear_nhwc_forward(float *out, const float *in, int N, int H, int W, int C,
                                  int OH, int OW, bool align_corners, bool half_pixel_centers);

/* Transposed convolution (TensorFlow's Conv2DBackpropInput): the gradient of
 * conv2d_nhwc_forward with respect to its input, so every size is the convolution's.
 * out [N,H,W,C] (the convolution's input), in [N,OH,OW,OC] (its output), weight
 * [KH,KW,C,OC] (its HWIO filter).  Fails only when the workspace cannot be allocated. */
vv_status conv2d_transpose_nhwc_forward(float *out, const float *in, const float *weight, int N,
                                        int H, int W, int C, int KH, int KW, int OC, int stride_h,
                                        int stride_w, int pad_top, int pad_left, int OH, int OW);

/* out [rows,C] = in [rows,C] + bias [C]. */
void bias_add_forward(float *out, const float *in, const float *bias, size_t rows, int C);

/* Activations on n elements. */
void relu_forward(float *out, const float *in, size_t n);
void relu6_forward(float *out, const float *in, size_t n);
void leaky_relu_forward(float *out, const float *in, float alpha, size_t n);
/* out [rows,C] = in >= 0 ? in : alpha[c] * in. */
void prelu_forward(float *out, const float *in, const float *alpha, size_t rows, int C);
void sigmoid_forward(float *out, const float *in, size_t n);
void tanh_forward(float *out, const float *in, size_t n);

/* Softmax over the last axis: out, in [rows,cols]. */
void softmax_forward(float *out, const float *in, size_t rows, int cols);

typedef enum binary_op {
    BINARY_ADD,
    BINARY_SUB,
    BINARY_MUL,
    BINARY_DIV,
    BINARY_MINIMUM,
    BINARY_MAXIMUM,
    BINARY_PRELU, /* a > 0 ? a : b * a (TF Prelu: b the per-channel slope, broadcast) */
} binary_op;

/* NumPy/TensorFlow broadcasting of two shapes (right-aligned; each dimension equal or 1).
 * false when incompatible or the rank exceeds max_ndim. */
bool broadcast_shape(int *out_shape, int *out_ndim, const int *a_shape, int a_ndim,
                     const int *b_shape, int b_ndim, int max_ndim);

/* out = a (op) b with broadcasting.  out [out_shape], a [a_shape], b [b_shape]; the
 * shapes are right-aligned, out_shape as broadcast_shape gives (rank <= 6).  Fast paths:
 * equal shapes, scalar operand, per-channel vector on the last axis. */
void binary_forward(float *out, const float *a, const float *b, binary_op op,
                    const int *out_shape, int out_ndim, const int *a_shape, int a_ndim,
                    const int *b_shape, int b_ndim);

/* Constant padding: out [in_shape + pad_before + pad_after], in [in_shape], rank <= 6. */
void pad_forward(float *out, const float *in, const int *in_shape, int ndim,
                 const int *pad_before, const int *pad_after, float value);

/* Mean over the axes flagged in reduce[]; out holds the kept axes in order.
 * in [in_shape], rank <= 6. */
void mean_forward(float *out, const float *in, const int *in_shape, int ndim,
                  const bool *reduce);

/* out [M,N] = op(a) op(b) + bias, a [M,K] (or [K,M] transposed), b [K,N] (or [N,K]),
 * bias [N] or NULL. */
void matmul_forward(float *out, const float *a, const float *b, const float *bias, int M,
                    int K, int N, bool transpose_a, bool transpose_b);

/* Concatenation along one axis: viewing each input as [outer, inner_i] (inner_i = its
 * size along the axis times everything after it), out [outer, sum(inner_i)]. */
void concat_forward(float *out, const float *const *inputs, const size_t *inner, int count,
                    size_t outer);

/* ---- Backward (nn/ops_backward.c) ----
 * Gradients of the ops above, same layouts.  Outputs first (the gradients of the
 * inputs, each NULL to skip), then the output gradient and the forward's inputs (or its
 * output, where that is what the derivative needs), then sizes.  All accumulate (+=):
 * zero the gradient buffers once before a backward pass.  At kinks they follow
 * TensorFlow: ReLU passes where x > 0 (ReLU6 where 0 < x < 6), Minimum sends the
 * gradient to a where a <= b, Maximum where a >= b, max pooling to the first maximum. */

/* d_in [N,H,W,C], d_weight [KH,KW,C,OC], d_bias [OC] from d_out [N,OH,OW,OC]; `in` is
 * read only for d_weight.  Fails only when the im2col workspace cannot be allocated. */
vv_status conv2d_nhwc_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                               const float *in, const float *weight, int N, int H, int W, int C,
                               int KH, int KW, int OC, int stride_h, int stride_w, int pad_top,
                               int pad_left, int OH, int OW);

/* d_in [N,H,W,C], d_weight [KH,KW,C,M], d_bias [C*M] from d_out [N,OH,OW,C*M]. */
void depthwise_conv2d_nhwc_backward(float *d_in, float *d_weight, float *d_bias,
                                    const float *d_out, const float *in, const float *weight,
                                    int N, int H, int W, int C, int KH, int KW, int M,
                                    int stride_h, int stride_w, int pad_top, int pad_left,
                                    int OH, int OW);

/* d_in [N,H,W,C] from d_out [N,OH,OW,C]; in is the forward's input. */
void max_pool_nhwc_backward(float *d_in, const float *d_out, const float *in, int N, int H,
                            int W, int C, int KH, int KW, int stride_h, int stride_w,
                            int pad_top, int pad_left, int OH, int OW);

/* d_in [N,H,W,C] from d_out [N,OH,OW,C]: each window's gradient shared equally by its
 * pixels inside the image. */
void avg_pool_nhwc_backward(float *d_in, const float *d_out, int N, int H, int W, int C, int KH,
                            int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                            int OH, int OW);

/* d_in [N,H,W,C] from d_out [N,OH,OW,C]: each output's gradient split between its four
 * neighbours by the forward's weights. */
void resize_bilinear_nhwc_backward(float *d_in, const float *d_out, int N, int H, int W, int C,
                                   int OH, int OW, bool align_corners, bool half_pixel_centers);

/* Transposed convolution, sizes as its forward: d_in [N,OH,OW,OC] (a convolution of
 * d_out with weight), d_weight [KH,KW,C,OC] (reads in).  Fails only when a workspace
 * cannot be allocated. */
vv_status conv2d_transpose_nhwc_backward(float *d_in, float *d_weight, const float *d_out,
                                         const float *in, const float *weight, int N, int H,
                                         int W, int C, int KH, int KW, int OC, int stride_h,
                                         int stride_w, int pad_top, int pad_left, int OH, int OW);

/* d_in [rows,C], d_bias [C]. */
void bias_add_backward(float *d_in, float *d_bias, const float *d_out, size_t rows, int C);

/* Activations: `in` is the forward's input; softmax takes its output.  relu_backward,
 * leaky_relu_backward, sigmoid_backward and tanh_backward (any layout) are in nn/layers.h. */
void relu6_backward(float *d_in, const float *d_out, const float *in, size_t n);
void prelu_backward(float *d_in, float *d_alpha, const float *d_out, const float *in,
                    const float *alpha, size_t rows, int C);
void softmax_backward(float *d_in, const float *d_out, const float *out, size_t rows, int cols);

/* d_a [a_shape], d_b [b_shape] from d_out [out_shape] (broadcast axes summed).  Add and
 * Sub never read a and b (they may be NULL). */
void binary_backward(float *d_a, float *d_b, const float *d_out, const float *a, const float *b,
                     binary_op op, const int *out_shape, int out_ndim, const int *a_shape,
                     int a_ndim, const int *b_shape, int b_ndim);

void pad_backward(float *d_in, const float *d_out, const int *in_shape, int ndim,
                  const int *pad_before, const int *pad_after);
void mean_backward(float *d_in, const float *d_out, const int *in_shape, int ndim,
                   const bool *reduce);

/* d_a, d_b shaped as a and b (transposes as in the forward), d_bias [N]. */
void matmul_backward(float *d_a, float *d_b, float *d_bias, const float *d_out, const float *a,
                     const float *b, int M, int K, int N, bool transpose_a, bool transpose_b);

/* d_inputs[i] [outer, inner_i] (NULL entries skipped) from d_out [outer, sum(inner_i)]. */
void concat_backward(float *const *d_inputs, const float *d_out, const size_t *inner, int count,
                     size_t outer);

/* im2col for output rows [row0, row0 + rows) of the flattened (n, oh) row index of an
 * NHWC conv: col [rows*OW, KH*KW*C], column order (kh, kw, c) to match HWIO weights.
 * Shared by the forward conv and its backward (ops_backward.c). */
void im2col_nhwc(float *restrict col, const float *restrict in, int H, int W, int C,
                 int KH, int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                 int OH, int OW, long row0, int rows);

/* Bilinear resize geometry along one axis (see resize_bilinear_nhwc_forward): output
 * index i reads input indices lower and upper with weight lerp on upper.  Shared by the
 * resize forward and backward. */
void resize_bilinear_source(int i, int in_size, int out_size, bool align_corners,
                            bool half_pixel_centers, int *lower, int *upper, float *lerp);

/* Allocates an im2col tile of whole output rows (~1 MiB); *tile_rows rows of row_floats. */
vv_status im2col_tile_alloc(long total_rows, size_t row_floats, const char *what, long *tile_rows,
                            float **col);

/* ---- Flow resampling (nn/ops_flow.c), NCHW ----
 * out [N,C,H,W]: pixel (x, y) of each channel is in [N,C,H,W] sampled bilinearly at
 * (x + flow[n,0,y,x], y + flow[n,1,y,x]) (displacements in pixels), the position clamped
 * to the image (border pixels repeat).  The backward accumulates d_in [N,C,H,W] and
 * d_flow [N,2,H,W] (either may be NULL) from d_out; a clamped coordinate gets no
 * displacement gradient. */
void flow_sample_nchw_forward(float *out, const float *in, const float *flow, int N, int C, int H, int W);
void flow_sample_nchw_backward(float *d_in, float *d_flow, const float *d_out, const float *in,
                               const float *flow, int N, int C, int H, int W);

#endif
