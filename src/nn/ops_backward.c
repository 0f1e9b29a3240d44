/* nn/ops_backward: gradients of the NHWC forward ops in nn/ops.c (what the TFJS runner
 * needs to backpropagate through a frozen graph).  Every function accumulates (+=) into
 * its gradient outputs, so a tensor used twice collects both contributions; a NULL
 * gradient output is skipped.  Kinks follow TensorFlow: ReLU passes where x > 0,
 * Minimum sends the gradient to a where a <= b, Maximum where a >= b, max pooling to the
 * first maximum of each window. */
#include "nn/ops.h"
#include "nn/backend.h"

#include "nn/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- Convolution ---- */

/* The adjoint of im2col_nhwc (ops.h): adds each column entry back onto its input pixel. */
static void col2im_rows(float *restrict d_in, const float *restrict col, int H, int W, int C,
                        int KH, int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                        int OH, int OW, long row0, int rows) {
    size_t K = (size_t)KH * KW * C;
    for (int r = 0; r < rows; r++) {
        long row = row0 + r;
        int n = (int)(row / OH), oh = (int)(row % OH);
        float *image = d_in + (size_t)n * H * W * C;
        for (int ow = 0; ow < OW; ow++) {
            const float *src = col + ((size_t)r * OW + ow) * K;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * stride_h - pad_top + kh;
                for (int kw = 0; kw < KW; kw++, src += C) {
                    int iw = ow * stride_w - pad_left + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    float *restrict dst = image + ((size_t)ih * W + iw) * C;
                    for (int c = 0; c < C; c++) dst[c] += src[c];
                }
            }
        }
    }
}

static void rows_sum_into(float *restrict sum, const float *restrict rows, size_t count, int C) {
    for (size_t r = 0; r < count; r++)
        for (int c = 0; c < C; c++) sum[c] += rows[r * C + c];
}

vv_status conv2d_nhwc_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                               const float *in, const float *weight, int N, int H, int W, int C,
                               int KH, int KW, int OC, int stride_h, int stride_w, int pad_top,
                               int pad_left, int OH, int OW) {
    int K = KH * KW * C;
    size_t P_total = (size_t)N * OH * OW;
    if (P_total == 0 || OC == 0) return VV_OK;
    if (d_bias) rows_sum_into(d_bias, d_out, P_total, OC);
    if (K == 0 || (!d_in && !d_weight)) return VV_OK;
    if (KH == 1 && KW == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0 &&
        OH == H && OW == W) {
        /* 1x1: d_in [P,C] += d_out [P,OC] W^T; d_W [C,OC] += in^T d_out. */
        int P = (int)P_total;
        if (d_in)
            nn_cpu_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, C, OC, 1.0f, d_out, OC, weight,
                        OC, 1.0f, d_in, C);
        if (d_weight)
            nn_cpu_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, OC, P, 1.0f, in, C, d_out, OC,
                        1.0f, d_weight, OC);
        return VV_OK;
    }
    /* Tiles of whole output rows, as in the forward. */
    long total_rows = (long)N * OH, tile_rows = 0;
    float *col = NULL;
    vv_status tile_status = im2col_tile_alloc(total_rows, (size_t)OW * K, "conv2d_backward", &tile_rows, &col);
    if (tile_status != VV_OK) return tile_status;
    for (long row0 = 0; row0 < total_rows; row0 += tile_rows) {
        int rows = (int)(total_rows - row0 < tile_rows ? total_rows - row0 : tile_rows);
        int P = rows * OW;
        const float *g = d_out + (size_t)row0 * OW * OC;
        if (d_weight) {
            im2col_nhwc(col, in, H, W, C, KH, KW, stride_h, stride_w, pad_top, pad_left, OH, OW, row0, rows);
            nn_cpu_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, OC, P, 1.0f, col, K, g, OC, 1.0f,
                        d_weight, OC);
        }
        if (d_in) {
            nn_cpu_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, K, OC, 1.0f, g, OC, weight, OC,
                        0.0f, col, K);
            col2im_rows(d_in, col, H, W, C, KH, KW, stride_h, stride_w, pad_top, pad_left, OH, OW, row0, rows);
        }
    }
    mem_free_aligned(col);
    return VV_OK;
}

/* ---- Depthwise convolution ---- */

typedef struct depthwise_grad_job {
    float *d_in;
    const float *d_out, *weight;
    int N, H, W, C, KH, KW, M, stride_h, stride_w, pad_top, pad_left, OH, OW;
    long rows_per_chunk;
} depthwise_grad_job;

/* Output columns ow whose input column ow*stride - pad + k lies in [0, W). */
static void valid_columns(int W, int OW, int stride, int pad, int k, int *begin, int *end) {
    int off = pad - k;
    int b = off <= 0 ? 0 : (off + stride - 1) / stride;
    int e = (W - 1 + off) < 0 ? 0 : (W - 1 + off) / stride + 1;
    if (e > OW) e = OW;
    *begin = b;
    *end = e < b ? b : e;
}

/* Input gradient of one input row (n, ih): gathers from the output rows that read it, so
 * threads own disjoint input rows and never race. */
static void depthwise_grad_row(const depthwise_grad_job *j, long row) {
    int n = (int)(row / j->H), ih = (int)(row % j->H);
    int C = j->C, M = j->M, OC = C * M;
    float *restrict dst_row = j->d_in + (size_t)row * j->W * C;
    for (int kh = 0; kh < j->KH; kh++) {
        int t = ih + j->pad_top - kh;
        if (t < 0 || t % j->stride_h) continue;
        int oh = t / j->stride_h;
        if (oh >= j->OH) continue;
        const float *g_row = j->d_out + ((size_t)n * j->OH + oh) * j->OW * OC;
        for (int kw = 0; kw < j->KW; kw++) {
            const float *restrict wk = j->weight + ((size_t)kh * j->KW + kw) * OC;
            int begin, end;
            valid_columns(j->W, j->OW, j->stride_w, j->pad_left, kw, &begin, &end);
            for (int ow = begin; ow < end; ow++) {
                float *restrict dst = dst_row + (size_t)(ow * j->stride_w - j->pad_left + kw) * C;
                const float *restrict g = g_row + (size_t)ow * OC;
                if (M == 1) {
                    for (int c = 0; c < C; c++) dst[c] += g[c] * wk[c];
                } else {
                    for (int c = 0; c < C; c++)
                        for (int m = 0; m < M; m++) dst[c] += g[c * M + m] * wk[c * M + m];
                }
            }
        }
    }
}

static void depthwise_grad_chunk(void *ctx, int index) {
    const depthwise_grad_job *j = ctx;
    long total = (long)j->N * j->H;
    long begin = (long)index * j->rows_per_chunk;
    long end = begin + j->rows_per_chunk < total ? begin + j->rows_per_chunk : total;
    for (long row = begin; row < end; row++) depthwise_grad_row(j, row);
}

void depthwise_conv2d_nhwc_backward(float *d_in, float *d_weight, float *d_bias,
                                    const float *d_out, const float *in, const float *weight,
                                    int N, int H, int W, int C, int KH, int KW, int M,
                                    int stride_h, int stride_w, int pad_top, int pad_left,
                                    int OH, int OW) {
    int OC = C * M;
    size_t P = (size_t)N * OH * OW;
    if (P == 0 || OC == 0) return;
    if (d_bias) rows_sum_into(d_bias, d_out, P, OC);
    if (d_in) {
        depthwise_grad_job j = {d_in, d_out, weight, N, H, W, C, KH, KW, M, stride_h, stride_w,
                                pad_top, pad_left, OH, OW, 0};
        long total = (long)N * H;
        size_t work = (size_t)total * W * OC * KH * KW;
        int chunks = work < 65536 || total < 2 ? 1 : cpu_count() * 4;
        if (chunks > total) chunks = (int)total;
        j.rows_per_chunk = (total + chunks - 1) / chunks;
        chunks = (int)((total + j.rows_per_chunk - 1) / j.rows_per_chunk);
        parallel_for(chunks, 0, depthwise_grad_chunk, &j);
    }
    if (d_weight) { /* frozen networks skip this: serial is enough */
        for (int n = 0; n < N; n++)
            for (int oh = 0; oh < OH; oh++)
                for (int kh = 0; kh < KH; kh++) {
                    int ih = oh * stride_h - pad_top + kh;
                    if (ih < 0 || ih >= H) continue;
                    const float *in_row = in + ((size_t)n * H + ih) * W * C;
                    const float *g_row = d_out + ((size_t)n * OH + oh) * OW * OC;
                    for (int kw = 0; kw < KW; kw++) {
                        float *restrict dw = d_weight + ((size_t)kh * KW + kw) * OC;
                        int begin, end;
                        valid_columns(W, OW, stride_w, pad_left, kw, &begin, &end);
                        for (int ow = begin; ow < end; ow++) {
                            const float *restrict x = in_row + (size_t)(ow * stride_w - pad_left + kw) * C;
                            const float *restrict g = g_row + (size_t)ow * OC;
                            for (int c = 0; c < C; c++)
                                for (int m = 0; m < M; m++) dw[c * M + m] += x[c] * g[c * M + m];
                        }
                    }
                }
    }
}

/* ---- Max pooling ---- */

void max_pool_nhwc_backward(float *d_in, const float *d_out, const float *in, int N, int H,
                            int W, int C, int KH, int KW, int stride_h, int stride_w,
                            int pad_top, int pad_left, int OH, int OW) {
    for (int n = 0; n < N; n++) {
        const float *image = in + (size_t)n * H * W * C;
        float *d_image = d_in + (size_t)n * H * W * C;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const float *g = d_out + (((size_t)n * OH + oh) * OW + ow) * C;
                for (int c = 0; c < C; c++) {
                    long best = -1;
                    float best_value = 0;
                    for (int kh = 0; kh < KH; kh++) {
                        int ih = oh * stride_h - pad_top + kh;
                        if (ih < 0 || ih >= H) continue;
                        for (int kw = 0; kw < KW; kw++) {
                            int iw = ow * stride_w - pad_left + kw;
                            if (iw < 0 || iw >= W) continue;
                            long at = ((long)ih * W + iw) * C + c;
                            if (best < 0 || image[at] > best_value) best = at, best_value = image[at];
                        }
                    }
                    if (best >= 0) d_image[best] += g[c];
                }
            }
    }
}

/* ---- Average pooling ---- */

void avg_pool_nhwc_backward(float *d_in, const float *d_out, int N, int H, int W, int C, int KH,
                            int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                            int OH, int OW) {
    for (int n = 0; n < N; n++) {
        float *d_image = d_in + (size_t)n * H * W * C;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = oh * stride_h - pad_top, h1 = h0 + KH;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > H ? H : h1;
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ow * stride_w - pad_left, w1 = w0 + KW;
                w0 = w0 < 0 ? 0 : w0;
                w1 = w1 > W ? W : w1;
                if (h1 <= h0 || w1 <= w0) continue;
                float scale = 1.0f / (float)((long)(h1 - h0) * (w1 - w0));
                const float *restrict g = d_out + (((size_t)n * OH + oh) * OW + ow) * C;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float *restrict dst = d_image + ((size_t)ih * W + iw) * C;
                        for (int c = 0; c < C; c++) dst[c] += g[c] * scale;
                    }
            }
        }
    }
}

/* ---- Bilinear resize ---- */

void resize_bilinear_nhwc_backward(float *d_in, const float *d_out, int N, int H, int W, int C,
                                   int OH, int OW, bool align_corners, bool half_pixel_centers) {
    for (int n = 0; n < N; n++) {
        float *d_image = d_in + (size_t)n * H * W * C;
        for (int oh = 0; oh < OH; oh++) {
            int y0, y1;
            float fy;
            resize_bilinear_source(oh, H, OH, align_corners, half_pixel_centers, &y0, &y1, &fy);
            float *row0 = d_image + (size_t)y0 * W * C, *row1 = d_image + (size_t)y1 * W * C;
            for (int ow = 0; ow < OW; ow++) {
                int x0, x1;
                float fx;
                resize_bilinear_source(ow, W, OW, align_corners, half_pixel_centers, &x0, &x1, &fx);
                float w_tl = (1 - fy) * (1 - fx), w_tr = (1 - fy) * fx, w_bl = fy * (1 - fx), w_br = fy * fx;
                const float *g = d_out + (((size_t)n * OH + oh) * OW + ow) * C;
                /* The four neighbours may coincide (edges): plain += handles that. */
                float *tl = row0 + (size_t)x0 * C, *tr = row0 + (size_t)x1 * C;
                float *bl = row1 + (size_t)x0 * C, *br = row1 + (size_t)x1 * C;
                for (int c = 0; c < C; c++) {
                    tl[c] += g[c] * w_tl;
                    tr[c] += g[c] * w_tr;
                    bl[c] += g[c] * w_bl;
                    br[c] += g[c] * w_br;
                }
            }
        }
    }
}

/* ---- Transposed convolution ---- */

vv_status conv2d_transpose_nhwc_backward(float *d_in, float *d_weight, const float *d_out,
                                         const float *in, const float *weight, int N, int H,
                                         int W, int C, int KH, int KW, int OC, int stride_h,
                                         int stride_w, int pad_top, int pad_left, int OH, int OW) {
    /* The forward is the convolution's input gradient, so its own gradients are the
     * convolution itself (for d_in) and the convolution's filter gradient with the roles
     * of input and output gradient swapped (for d_weight). */
    if (d_weight) {
        vv_status s = conv2d_nhwc_backward(NULL, d_weight, NULL, in, d_out, weight, N, H, W, C, KH, KW,
                                           OC, stride_h, stride_w, pad_top, pad_left, OH, OW);
        if (s) return s;
    }
    if (!d_in) return VV_OK;
    size_t count = (size_t)N * OH * OW * OC;
    if (count == 0) return VV_OK;
    float *conv = mem_alloc_aligned(count * sizeof(float));
    if (!conv) return vv_fail(VV_ERR_NO_MEMORY, "conv2d_transpose_backward: out of memory");
    vv_status s = conv2d_nhwc_forward(conv, d_out, weight, NULL, N, H, W, C, KH, KW, OC, stride_h, stride_w,
                                      pad_top, pad_left, OH, OW);
    if (s == VV_OK)
        for (size_t i = 0; i < count; i++) d_in[i] += conv[i];
    mem_free_aligned(conv);
    return s;
}

/* ---- Elementwise ----
 * relu, leaky_relu, sigmoid and tanh backward are layout-free and live in nn/layers. */

void bias_add_backward(float *d_in, float *d_bias, const float *d_out, size_t rows, int C) {
    size_t n = rows * (size_t)C;
    if (d_in)
        for (size_t i = 0; i < n; i++) d_in[i] += d_out[i];
    if (d_bias) rows_sum_into(d_bias, d_out, rows, C);
}


void relu6_backward(float *d_in, const float *d_out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) d_in[i] += in[i] > 0.0f && in[i] < 6.0f ? d_out[i] : 0.0f;
}


void prelu_backward(float *d_in, float *d_alpha, const float *d_out, const float *in,
                    const float *alpha, size_t rows, int C) {
    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * C, *g = d_out + r * C;
        for (int c = 0; c < C; c++) {
            if (x[c] > 0.0f) {
                if (d_in) d_in[r * C + c] += g[c];
            } else {
                if (d_in) d_in[r * C + c] += alpha[c] * g[c];
                if (d_alpha) d_alpha[c] += x[c] * g[c];
            }
        }
    }
}



void softmax_backward(float *d_in, const float *d_out, const float *out, size_t rows, int cols) {
    for (size_t r = 0; r < rows; r++) {
        const float *y = out + r * cols, *g = d_out + r * cols;
        double dot = 0;
        for (int c = 0; c < cols; c++) dot += (double)g[c] * y[c];
        for (int c = 0; c < cols; c++) d_in[r * cols + c] += y[c] * (g[c] - (float)dot);
    }
}

/* ---- Broadcasting binary ops ---- */

/* One output element's contribution; x, y the operands, g the output gradient. */
static inline void binary_grad(binary_op op, float g, float x, float y, float *ga, float *gb) {
    switch (op) {
    case BINARY_ADD: *ga = g, *gb = g; break;
    case BINARY_SUB: *ga = g, *gb = -g; break;
    case BINARY_MUL: *ga = g * y, *gb = g * x; break;
    case BINARY_DIV: *ga = g / y, *gb = -g * x / (y * y); break;
    case BINARY_MINIMUM: *ga = x <= y ? g : 0.0f, *gb = x <= y ? 0.0f : g; break;
    case BINARY_MAXIMUM: *ga = x >= y ? g : 0.0f, *gb = x >= y ? 0.0f : g; break;
    case BINARY_PRELU: *ga = x > 0 ? g : g * y, *gb = x > 0 ? 0.0f : g * x; break;
    default: *ga = *gb = 0.0f;
    }
}

void binary_backward(float *d_a, float *d_b, const float *d_out, const float *a, const float *b,
                     binary_op op, const int *out_shape, int out_ndim, const int *a_shape,
                     int a_ndim, const int *b_shape, int b_ndim) {
    size_t n = 1;
    for (int i = 0; i < out_ndim; i++) n *= (size_t)out_shape[i];
    if (n == 0 || (!d_a && !d_b)) return;
    if (out_ndim == 0) {
        float ga, gb;
        binary_grad(op, d_out[0], a ? a[0] : 0.0f, b ? b[0] : 0.0f, &ga, &gb);
        if (d_a) d_a[0] += ga;
        if (d_b) d_b[0] += gb;
        return;
    }
    /* Strides of a and b in output coordinates, 0 along broadcast axes. */
    size_t a_stride[6] = {0}, b_stride[6] = {0};
    size_t sa = 1, sb = 1;
    for (int i = out_ndim - 1; i >= 0; i--) {
        int ai = i - (out_ndim - a_ndim), bi = i - (out_ndim - b_ndim);
        int ad = ai >= 0 ? a_shape[ai] : 1, bd = bi >= 0 ? b_shape[bi] : 1;
        a_stride[i] = ad == 1 ? 0 : sa;
        b_stride[i] = bd == 1 ? 0 : sb;
        sa *= (size_t)ad;
        sb *= (size_t)bd;
    }
    int last = out_ndim - 1;
    size_t inner = (size_t)out_shape[last], rows = n / inner;
    size_t as = a_stride[last], bs = b_stride[last];
    int index[6] = {0};
    size_t a_off = 0, b_off = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *g = d_out + r * inner;
        if (op == BINARY_ADD && d_a && as == 1 && !d_b) { /* the common bias-add shape */
            for (size_t i = 0; i < inner; i++) d_a[a_off + i] += g[i];
        } else if (op == BINARY_MUL && d_a && as == 1 && !d_b) { /* scale by a constant */
            for (size_t i = 0; i < inner; i++) d_a[a_off + i] += g[i] * b[b_off + i * bs];
        } else {
            for (size_t i = 0; i < inner; i++) {
                float ga, gb;
                /* Add and Sub never read their operands (which may be absent). */
                float x = a ? a[a_off + i * as] : 0.0f, y = b ? b[b_off + i * bs] : 0.0f;
                binary_grad(op, g[i], x, y, &ga, &gb);
                if (d_a) d_a[a_off + i * as] += ga;
                if (d_b) d_b[b_off + i * bs] += gb;
            }
        }
        for (int i = last - 1; i >= 0; i--) {
            index[i]++;
            a_off += a_stride[i];
            b_off += b_stride[i];
            if (index[i] < out_shape[i]) break;
            a_off -= a_stride[i] * (size_t)out_shape[i];
            b_off -= b_stride[i] * (size_t)out_shape[i];
            index[i] = 0;
        }
    }
}

/* ---- Shape ops ---- */

void pad_backward(float *d_in, const float *d_out, const int *in_shape, int ndim,
                  const int *pad_before, const int *pad_after) {
    size_t n_in = 1;
    for (int i = 0; i < ndim; i++) n_in *= (size_t)in_shape[i];
    if (n_in == 0) return;
    if (ndim == 0) {
        d_in[0] += d_out[0];
        return;
    }
    size_t out_stride[6];
    size_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        out_stride[i] = s;
        s *= (size_t)(in_shape[i] + pad_before[i] + pad_after[i]);
    }
    int last = ndim - 1;
    size_t inner = (size_t)in_shape[last], rows = n_in / inner;
    int index[6] = {0};
    for (size_t r = 0; r < rows; r++) {
        size_t off = (size_t)pad_before[last];
        for (int i = 0; i < last; i++) off += (size_t)(index[i] + pad_before[i]) * out_stride[i];
        float *dst = d_in + r * inner;
        for (size_t k = 0; k < inner; k++) dst[k] += d_out[off + k];
        for (int i = last - 1; i >= 0; i--) {
            if (++index[i] < in_shape[i]) break;
            index[i] = 0;
        }
    }
}

void mean_backward(float *d_in, const float *d_out, const int *in_shape, int ndim,
                   const bool *reduce) {
    size_t n_in = 1, count = 1;
    for (int i = 0; i < ndim; i++) {
        n_in *= (size_t)in_shape[i];
        if (reduce[i]) count *= (size_t)in_shape[i];
    }
    if (n_in == 0) return;
    float scale = 1.0f / (float)count;
    size_t out_stride[6];
    size_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        out_stride[i] = reduce[i] ? 0 : s;
        if (!reduce[i]) s *= (size_t)in_shape[i];
    }
    if (ndim == 0) {
        d_in[0] += d_out[0];
        return;
    }
    /* Row-wise over the last axis: its output stride is 0 (reduced) or 1. */
    int last = ndim - 1;
    size_t inner = (size_t)in_shape[last], rows = n_in / inner, step = out_stride[last];
    int index[6] = {0};
    size_t off = 0;
    for (size_t r = 0; r < rows; r++) {
        float *restrict dst = d_in + r * inner;
        const float *restrict g = d_out + off;
        for (size_t k = 0; k < inner; k++) dst[k] += g[k * step] * scale;
        for (int i = last - 1; i >= 0; i--) {
            index[i]++;
            off += out_stride[i];
            if (index[i] < in_shape[i]) break;
            off -= out_stride[i] * (size_t)in_shape[i];
            index[i] = 0;
        }
    }
}

void matmul_backward(float *d_a, float *d_b, float *d_bias, const float *d_out, const float *a,
                     const float *b, int M, int K, int N, bool transpose_a, bool transpose_b) {
    if (M == 0 || N == 0) return;
    if (d_bias) rows_sum_into(d_bias, d_out, (size_t)M, N);
    if (K == 0) return;
    CBLAS_TRANSPOSE no = CblasNoTrans, yes = CblasTrans;
    if (d_a) {
        if (!transpose_a) /* d_A [M,K] += G op(B)^T */
            nn_cpu_sgemm(CblasRowMajor, no, transpose_b ? no : yes, M, K, N, 1.0f, d_out, N, b,
                        transpose_b ? K : N, 1.0f, d_a, K);
        else /* d_A [K,M] += op(B) G^T */
            nn_cpu_sgemm(CblasRowMajor, transpose_b ? yes : no, yes, K, M, N, 1.0f, b,
                        transpose_b ? K : N, d_out, N, 1.0f, d_a, M);
    }
    if (d_b) {
        if (!transpose_b) /* d_B [K,N] += op(A)^T G */
            nn_cpu_sgemm(CblasRowMajor, transpose_a ? no : yes, no, K, N, M, 1.0f, a,
                        transpose_a ? M : K, d_out, N, 1.0f, d_b, N);
        else /* d_B [N,K] += G^T op(A) */
            nn_cpu_sgemm(CblasRowMajor, yes, transpose_a ? yes : no, N, K, M, 1.0f, d_out, N, a,
                        transpose_a ? M : K, 1.0f, d_b, K);
    }
}

void concat_backward(float *const *d_inputs, const float *d_out, const size_t *inner, int count,
                     size_t outer) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += inner[i];
    for (size_t o = 0; o < outer; o++) {
        const float *src = d_out + o * total;
        for (int i = 0; i < count; i++) {
            if (d_inputs[i]) {
                float *dst = d_inputs[i] + o * inner[i];
                for (size_t k = 0; k < inner[i]; k++) dst[k] += src[k];
            }
            src += inner[i];
        }
    }
}
