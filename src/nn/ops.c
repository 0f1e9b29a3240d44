/* nn/ops: forward kernels (NHWC).  GEMM-shaped work goes to OpenBLAS; the rest are
 * plain loops written so the compiler vectorises the innermost (channel) loop, split
 * across threads with parallel_for where a layer is big enough to pay for it. */
#include "nn/ops.h"
#include "nn/backend.h"
#include "base/float8.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int ops_threads = 0;

void ops_set_threads(int threads) { atomic_store(&ops_threads, threads < 0 ? 0 : threads); }

/* Splits `total` work items into a few chunks per thread (parallel_for takes a lock per
 * index, so one index per row would cost more than small rows do). */
static int ops_chunk_count(size_t total, size_t work_per_item) {
    int threads = atomic_load(&ops_threads);
    if (threads <= 0) threads = cpu_count();
    size_t work = total * work_per_item;
    if (threads <= 1 || work < 32768 || total < 2) return 1;
    size_t chunks = (size_t)threads * 4;
    if (chunks > total) chunks = total;
    return (int)chunks;
}

static int ops_thread_count(void) {
    int threads = atomic_load(&ops_threads);
    return threads <= 0 ? 0 : threads;
}

/* ---- Output sizes ---- */

bool conv_out_size_same(int in, int kernel, int stride, int *out, int *pad_before) {
    if (in <= 0 || kernel <= 0 || stride <= 0) return false;
    int o = (int)(((long long)in + stride - 1) / stride);
    long long need = (long long)(o - 1) * stride + kernel - in;
    if (need < 0) need = 0;
    *out = o;
    *pad_before = (int)(need / 2);
    return true;
}

bool conv_out_size_valid(int in, int kernel, int stride, int *out) {
    if (in <= 0 || kernel <= 0 || stride <= 0 || in < kernel) return false;
    *out = (in - kernel) / stride + 1;
    return true;
}

bool conv_out_size_explicit(int in, int kernel, int stride, int pad_before, int pad_after,
                            int *out) {
    if (in <= 0 || kernel <= 0 || stride <= 0 || pad_before < 0 || pad_after < 0) return false;
    long long padded = (long long)in + pad_before + pad_after;
    if (padded < kernel || padded > 0x7fffffff) return false;
    *out = (int)((padded - kernel) / stride + 1);
    return true;
}

/* ---- Convolution ---- */

/* Tiles of whole output rows, about 1 MiB of im2col each, so the tile stays in cache
 * between im2col and GEMM and the workspace stays small for big images.  Shared by the
 * NHWC conv forward and backward. */
vv_status im2col_tile_alloc(long total_rows, size_t row_floats, const char *what, long *tile_rows,
                            float **col) {
    long rows = (long)((256u * 1024u) / (row_floats ? row_floats : 1));
    if (rows < 1) rows = 1;
    if (rows > total_rows) rows = total_rows;
    size_t bytes;
    if (!size_mul3((size_t)rows, row_floats, sizeof(float), &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "%s: im2col tile too large", what);
    *col = mem_alloc_aligned(bytes);
    if (!*col) return vv_fail(VV_ERR_NO_MEMORY, "%s: out of memory for a %zu-byte im2col tile", what, bytes);
    *tile_rows = rows;
    return VV_OK;
}

/* im2col for output rows [row0, row0 + rows) of the flattened (n, oh) row index:
 * col [rows*OW, KH*KW*C], column order (kh, kw, c) to match HWIO weights. */
void im2col_nhwc(float *restrict col, const float *restrict in, int H, int W, int C,
                        int KH, int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                        int OH, int OW, long row0, int rows) {
    size_t K = (size_t)KH * KW * C;
    for (int r = 0; r < rows; r++) {
        long row = row0 + r;
        int n = (int)(row / OH), oh = (int)(row % OH);
        const float *image = in + (size_t)n * H * W * C;
        for (int ow = 0; ow < OW; ow++) {
            float *dst = col + ((size_t)r * OW + ow) * K;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * stride_h - pad_top + kh;
                for (int kw = 0; kw < KW; kw++, dst += C) {
                    int iw = ow * stride_w - pad_left + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) memset(dst, 0, (size_t)C * sizeof(float));
                    else memcpy(dst, image + ((size_t)ih * W + iw) * C, (size_t)C * sizeof(float));
                }
            }
        }
    }
}

static void rows_fill_bias(float *out, const float *bias, size_t rows, int C) {
    for (size_t r = 0; r < rows; r++) memcpy(out + r * C, bias, (size_t)C * sizeof(float));
}

vv_status conv2d_nhwc_forward(float *out, const float *in, const float *weight,
                              const float *bias, int N, int H, int W, int C, int KH, int KW,
                              int OC, int stride_h, int stride_w, int pad_top, int pad_left,
                              int OH, int OW) {
    int K = KH * KW * C;
    float beta = bias ? 1.0f : 0.0f;
    size_t out_count = (size_t)N * OH * OW;
    if (out_count == 0 || OC == 0) return VV_OK;
    if (K == 0) { /* BLAS rejects empty inner dimensions: the sum is empty */
        if (bias) rows_fill_bias(out, bias, out_count, OC);
        else memset(out, 0, out_count * OC * sizeof(float));
        return VV_OK;
    }
    if (KH == 1 && KW == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0 &&
        OH == H && OW == W) {
        /* 1x1: the input already is the [P, C] matrix. */
        size_t P = (size_t)N * H * W;
        if (bias) rows_fill_bias(out, bias, P, OC);
        nn_cpu_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)P, OC, C, 1.0f, in, C,
                    weight, OC, beta, out, OC);
        return VV_OK;
    }
    long total_rows = (long)N * OH, tile_rows = 0;
    float *col = NULL;
    vv_status s = im2col_tile_alloc(total_rows, (size_t)OW * K, "conv2d", &tile_rows, &col);
    if (s != VV_OK) return s;
    for (long row0 = 0; row0 < total_rows; row0 += tile_rows) {
        int rows = (int)(total_rows - row0 < tile_rows ? total_rows - row0 : tile_rows);
        im2col_nhwc(col, in, H, W, C, KH, KW, stride_h, stride_w, pad_top, pad_left, OH, OW,
                    row0, rows);
        float *dst = out + (size_t)row0 * OW * OC;
        int P = rows * OW;
        if (bias) rows_fill_bias(dst, bias, (size_t)P, OC);
        nn_cpu_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, OC, K, 1.0f, col, K, weight,
                    OC, beta, dst, OC);
    }
    mem_free_aligned(col);
    return VV_OK;
}

/* ---- Depthwise convolution ---- */

typedef struct depthwise_job {
    float *out;
    const float *in, *weight, *bias;
    int N, H, W, C, KH, KW, M, stride_h, stride_w, pad_top, pad_left, OH, OW;
    long rows_per_chunk;
} depthwise_job;

/* First and one-past-last output column whose input column ow*stride - pad + k is inside
 * [0, W). */
static void valid_columns(int W, int OW, int stride, int pad, int k, int *begin, int *end) {
    int off = pad - k; /* iw = ow*stride - off */
    int b = off <= 0 ? 0 : (off + stride - 1) / stride;
    int e = (W - 1 + off) < 0 ? 0 : (W - 1 + off) / stride + 1;
    if (e > OW) e = OW;
    *begin = b;
    *end = e < b ? b : e;
}

/* M == 1 (every depthwise layer of the TFJS face models): each output pixel's channels,
 * eight at a time, summed over the window in registers and stored once. */
static void depthwise_row_single(const depthwise_job *j, long row) {
    int n = (int)(row / j->OH), oh = (int)(row % j->OH);
    int C = j->C, W = j->W, KW = j->KW;
    int kh_begin = j->pad_top - oh * j->stride_h, kh_end = j->H + kh_begin;
    if (kh_begin < 0) kh_begin = 0;
    if (kh_end > j->KH) kh_end = j->KH;
    float *out_row = j->out + (size_t)row * j->OW * C;
    const float *image = j->in + (size_t)n * j->H * W * C;
    int ih0 = oh * j->stride_h - j->pad_top;
    for (int ow = 0; ow < j->OW; ow++) {
        int iw0 = ow * j->stride_w - j->pad_left;
        int kw_begin = iw0 < 0 ? -iw0 : 0, kw_end = W - iw0 < KW ? W - iw0 : KW;
        int rows = kw_end > kw_begin ? kh_end : kh_begin; /* no tap inside: the bias alone */
        float *dst = out_row + (size_t)ow * C;
        int c = 0;
        for (; c + 8 <= C; c += 8) {
            float8 sum = j->bias ? *(const float8 *)(j->bias + c) : (float8){0};
            for (int kh = kh_begin; kh < rows; kh++) {
                const float *src = image + ((size_t)(ih0 + kh) * W + (size_t)(iw0 + kw_begin)) * C + c;
                const float *wk = j->weight + ((size_t)kh * KW + (size_t)kw_begin) * C + c;
                for (int k = 0; k < kw_end - kw_begin; k++)
                    sum += *(const float8 *)(src + (size_t)k * C) * *(const float8 *)(wk + (size_t)k * C);
            }
            *(float8 *)(dst + c) = sum;
        }
        for (; c < C; c++) {
            float sum = j->bias ? j->bias[c] : 0;
            for (int kh = kh_begin; kh < rows; kh++) {
                const float *src = image + ((size_t)(ih0 + kh) * W + (size_t)(iw0 + kw_begin)) * C + c;
                const float *wk = j->weight + ((size_t)kh * KW + (size_t)kw_begin) * C + c;
                for (int k = 0; k < kw_end - kw_begin; k++) sum += src[(size_t)k * C] * wk[(size_t)k * C];
            }
            dst[c] = sum;
        }
    }
}

/* M > 1: the window's taps one after another, accumulated in the output row. */
static void depthwise_row(const depthwise_job *j, long row) {
    int n = (int)(row / j->OH), oh = (int)(row % j->OH);
    int C = j->C, M = j->M, OC = C * M, W = j->W, OW = j->OW;
    float *restrict out_row = j->out + (size_t)row * OW * OC;
    const float *image = j->in + (size_t)n * j->H * W * C;
    for (int ow = 0; ow < OW; ow++) {
        float *dst = out_row + (size_t)ow * OC;
        if (j->bias) memcpy(dst, j->bias, (size_t)OC * sizeof(float));
        else memset(dst, 0, (size_t)OC * sizeof(float));
    }
    for (int kh = 0; kh < j->KH; kh++) {
        int ih = oh * j->stride_h - j->pad_top + kh;
        if (ih < 0 || ih >= j->H) continue;
        const float *in_row = image + (size_t)ih * W * C;
        for (int kw = 0; kw < j->KW; kw++) {
            const float *restrict wk = j->weight + ((size_t)kh * j->KW + kw) * OC;
            int begin, end;
            valid_columns(W, OW, j->stride_w, j->pad_left, kw, &begin, &end);
            for (int ow = begin; ow < end; ow++) {
                const float *restrict src = in_row + (size_t)(ow * j->stride_w - j->pad_left + kw) * C;
                float *restrict dst = out_row + (size_t)ow * OC;
                for (int c = 0; c < C; c++)
                    for (int m = 0; m < M; m++) dst[c * M + m] += src[c] * wk[c * M + m];
            }
        }
    }
}

static void depthwise_chunk(void *ctx, int index) {
    const depthwise_job *j = ctx;
    long total = (long)j->N * j->OH;
    long begin = (long)index * j->rows_per_chunk;
    long end = begin + j->rows_per_chunk < total ? begin + j->rows_per_chunk : total;
    for (long row = begin; row < end; row++) {
        if (j->M == 1) depthwise_row_single(j, row);
        else depthwise_row(j, row);
    }
}

void depthwise_conv2d_nhwc_forward(float *out, const float *in, const float *weight,
                                   const float *bias, int N, int H, int W, int C, int KH,
                                   int KW, int M, int stride_h, int stride_w, int pad_top,
                                   int pad_left, int OH, int OW) {
    depthwise_job j = {out, in, weight, bias, N, H, W, C, KH, KW, M, stride_h, stride_w,
                       pad_top, pad_left, OH, OW, 0};
    long total = (long)N * OH;
    int chunks = ops_chunk_count((size_t)total, (size_t)OW * C * M * KH * KW);
    j.rows_per_chunk = (total + chunks - 1) / chunks;
    chunks = (int)((total + j.rows_per_chunk - 1) / j.rows_per_chunk);
    parallel_for(chunks, ops_thread_count(), depthwise_chunk, &j);
}

/* ---- Max pooling ---- */

void max_pool_nhwc_forward(float *out, const float *in, int N, int H, int W, int C, int KH,
                           int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                           int OH, int OW) {
    for (int n = 0; n < N; n++) {
        const float *image = in + (size_t)n * H * W * C;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                float *restrict dst = out + (((size_t)n * OH + oh) * OW + ow) * C;
                bool first = true;
                for (int kh = 0; kh < KH; kh++) {
                    int ih = oh * stride_h - pad_top + kh;
                    if (ih < 0 || ih >= H) continue;
                    for (int kw = 0; kw < KW; kw++) {
                        int iw = ow * stride_w - pad_left + kw;
                        if (iw < 0 || iw >= W) continue;
                        const float *restrict src = image + ((size_t)ih * W + iw) * C;
                        if (first) {
                            memcpy(dst, src, (size_t)C * sizeof(float));
                            first = false;
                        } else {
                            for (int c = 0; c < C; c++) dst[c] = src[c] > dst[c] ? src[c] : dst[c];
                        }
                    }
                }
                /* A window entirely in the padding (only with odd explicit padding). */
                if (first)
                    for (int c = 0; c < C; c++) dst[c] = -INFINITY;
            }
        }
    }
}

/* ---- Average pooling ---- */

void avg_pool_nhwc_forward(float *out, const float *in, int N, int H, int W, int C, int KH,
                           int KW, int stride_h, int stride_w, int pad_top, int pad_left,
                           int OH, int OW) {
    /* Sums in double per block of channels: a global pool adds up to 16k values, and
     * TFJS (our reference) sums in double too. */
    enum { BLOCK = 64 };
    double sum[BLOCK];
    for (int n = 0; n < N; n++) {
        const float *image = in + (size_t)n * H * W * C;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = oh * stride_h - pad_top, h1 = h0 + KH;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > H ? H : h1;
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ow * stride_w - pad_left, w1 = w0 + KW;
                w0 = w0 < 0 ? 0 : w0;
                w1 = w1 > W ? W : w1;
                float *dst = out + (((size_t)n * OH + oh) * OW + ow) * C;
                long count = h1 > h0 && w1 > w0 ? (long)(h1 - h0) * (w1 - w0) : 0;
                for (int c0 = 0; c0 < C; c0 += BLOCK) {
                    int cn = C - c0 < BLOCK ? C - c0 : BLOCK;
                    for (int c = 0; c < cn; c++) sum[c] = 0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) {
                            const float *restrict src = image + ((size_t)ih * W + iw) * C + c0;
                            for (int c = 0; c < cn; c++) sum[c] += src[c];
                        }
                    /* A window entirely in the padding cannot occur with SAME or VALID. */
                    for (int c = 0; c < cn; c++) dst[c0 + c] = count ? (float)(sum[c] / (double)count) : 0.0f;
                }
            }
        }
    }
}

/* ---- Bilinear resize ---- */

void resize_bilinear_source(int i, int in_size, int out_size, bool align_corners,
                            bool half_pixel_centers, int *lower, int *upper, float *lerp) {
    double scale = align_corners && out_size > 1 ? (double)(in_size - 1) / (out_size - 1)
                                                 : (double)in_size / out_size;
    double x = half_pixel_centers ? (i + 0.5) * scale - 0.5 : i * scale;
    double f = floor(x);
    long lo = (long)f, hi = (long)ceil(x);
    *lower = (int)(lo < 0 ? 0 : lo > in_size - 1 ? in_size - 1 : lo);
    *upper = (int)(hi < 0 ? 0 : hi > in_size - 1 ? in_size - 1 : hi);
    *lerp = (float)(x - f);
}

void resize_bilinear_nhwc_forward(float *out, const float *in, int N, int H, int W, int C,
                                  int OH, int OW, bool align_corners, bool half_pixel_centers) {
    for (int n = 0; n < N; n++) {
        const float *image = in + (size_t)n * H * W * C;
        for (int oh = 0; oh < OH; oh++) {
            int y0, y1;
            float fy;
            resize_bilinear_source(oh, H, OH, align_corners, half_pixel_centers, &y0, &y1, &fy);
            const float *row0 = image + (size_t)y0 * W * C, *row1 = image + (size_t)y1 * W * C;
            for (int ow = 0; ow < OW; ow++) {
                int x0, x1;
                float fx;
                resize_bilinear_source(ow, W, OW, align_corners, half_pixel_centers, &x0, &x1, &fx);
                const float *restrict tl = row0 + (size_t)x0 * C, *restrict tr = row0 + (size_t)x1 * C;
                const float *restrict bl = row1 + (size_t)x0 * C, *restrict br = row1 + (size_t)x1 * C;
                float *restrict dst = out + (((size_t)n * OH + oh) * OW + ow) * C;
                for (int c = 0; c < C; c++) {
                    float top = tl[c] + (tr[c] - tl[c]) * fx;
                    float bottom = bl[c] + (br[c] - bl[c]) * fx;
                    dst[c] = top + (bottom - top) * fy;
                }
            }
        }
    }
}

/* ---- Transposed convolution ---- */

vv_status conv2d_transpose_nhwc_forward(float *out, const float *in, const float *weight, int N,
                                        int H, int W, int C, int KH, int KW, int OC, int stride_h,
                                        int stride_w, int pad_top, int pad_left, int OH, int OW) {
    memset(out, 0, (size_t)N * H * W * C * sizeof(float));
    return conv2d_nhwc_backward(out, NULL, NULL, in, NULL, weight, N, H, W, C, KH, KW, OC, stride_h,
                                stride_w, pad_top, pad_left, OH, OW);
}

/* ---- Elementwise ---- */

void bias_add_forward(float *out, const float *in, const float *bias, size_t rows, int C) {
    for (size_t r = 0; r < rows; r++) {
        const float *src = in + r * C;
        float *dst = out + r * C;
        for (int c = 0; c < C; c++) dst[c] = src[c] + bias[c];
    }
}

void relu_forward(float *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* x where x > 0, else +0 (NaN too), as the scalar tail */
        float8 x = *(const float8 *)(in + i);
        *(float8 *)(out + i) = (float8)((int32x8)x & (x > (float8){0}));
    }
    for (; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void relu6_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = in[i] > 0.0f ? in[i] : 0.0f;
        out[i] = x < 6.0f ? x : 6.0f;
    }
}

void leaky_relu_forward(float *out, const float *in, float alpha, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] >= 0.0f ? in[i] : alpha * in[i];
}

void prelu_forward(float *out, const float *in, const float *alpha, size_t rows, int C) {
    for (size_t r = 0; r < rows; r++) {
        const float *src = in + r * C;
        float *dst = out + r * C;
        for (int c = 0; c < C; c++) dst[c] = src[c] >= 0.0f ? src[c] : alpha[c] * src[c];
    }
}

void sigmoid_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-in[i]));
}

void tanh_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}

void softmax_forward(float *out, const float *in, size_t rows, int cols) {
    for (size_t r = 0; r < rows; r++) {
        const float *src = in + r * cols;
        float *dst = out + r * cols;
        float max = src[0];
        for (int c = 1; c < cols; c++) max = src[c] > max ? src[c] : max;
        float sum = 0.0f;
        for (int c = 0; c < cols; c++) {
            dst[c] = expf(src[c] - max);
            sum += dst[c];
        }
        float inv = 1.0f / sum;
        for (int c = 0; c < cols; c++) dst[c] *= inv;
    }
}

/* ---- Broadcasting binary ops ---- */

bool broadcast_shape(int *out_shape, int *out_ndim, const int *a_shape, int a_ndim,
                     const int *b_shape, int b_ndim, int max_ndim) {
    int ndim = a_ndim > b_ndim ? a_ndim : b_ndim;
    if (a_ndim < 0 || b_ndim < 0 || ndim > max_ndim) return false;
    for (int i = 0; i < ndim; i++) {
        int ai = i - (ndim - a_ndim), bi = i - (ndim - b_ndim);
        int a = ai >= 0 ? a_shape[ai] : 1, b = bi >= 0 ? b_shape[bi] : 1;
        if (a < 0 || b < 0) return false;
        if (a == b || b == 1) out_shape[i] = a;
        else if (a == 1) out_shape[i] = b;
        else return false;
    }
    *out_ndim = ndim;
    return true;
}

/* The three loop shapes, instantiated per op so each loop body is branch-free; the
 * arithmetic ops' same-shape loop eight at a time (float8). */
#define BINARY_SAME_LOOP(NAME, EXPR)                                                          \
    static void NAME##_same(float *out, const float *a, const float *b, size_t n) {          \
        for (size_t i = 0; i < n; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); }         \
    }
#define BINARY_SAME_LOOP_VECTOR(NAME, EXPR)                                                   \
    static void NAME##_same(float *out, const float *a, const float *b, size_t n) {          \
        size_t i = 0;                                                                         \
        for (; i + 8 <= n; i += 8) {                                                          \
            float8 x = *(const float8 *)(a + i), y = *(const float8 *)(b + i);               \
            *(float8 *)(out + i) = (EXPR);                                                    \
        }                                                                                     \
        for (; i < n; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); }                     \
    }
#define BINARY_LOOPS(NAME, EXPR)                                                              \
    static void NAME##_scalar_b(float *out, const float *a, float y, size_t n) {             \
        for (size_t i = 0; i < n; i++) { float x = a[i]; out[i] = (EXPR); }                   \
    }                                                                                         \
    static void NAME##_scalar_a(float *out, float x, const float *b, size_t n) {             \
        for (size_t i = 0; i < n; i++) { float y = b[i]; out[i] = (EXPR); }                   \
    }                                                                                         \
    static void NAME##_strided(float *out, const float *a, size_t a_step, const float *b,    \
                               size_t b_step, size_t n) {                                     \
        for (size_t i = 0; i < n; i++) { float x = a[i * a_step], y = b[i * b_step]; out[i] = (EXPR); } \
    }

BINARY_SAME_LOOP_VECTOR(add, x + y)
BINARY_LOOPS(add, x + y)
BINARY_SAME_LOOP_VECTOR(sub, x - y)
BINARY_LOOPS(sub, x - y)
BINARY_SAME_LOOP_VECTOR(mul, x * y)
BINARY_LOOPS(mul, x * y)
BINARY_SAME_LOOP_VECTOR(div, x / y)
BINARY_LOOPS(div, x / y)
BINARY_SAME_LOOP(minimum, x < y ? x : y)
BINARY_LOOPS(minimum, x < y ? x : y)
BINARY_SAME_LOOP(maximum, x > y ? x : y)
BINARY_LOOPS(maximum, x > y ? x : y)
BINARY_SAME_LOOP(prelu, x > 0 ? x : y * x)
BINARY_LOOPS(prelu, x > 0 ? x : y * x)

typedef struct binary_kernels {
    void (*same)(float *, const float *, const float *, size_t);
    void (*scalar_b)(float *, const float *, float, size_t);
    void (*scalar_a)(float *, float, const float *, size_t);
    void (*strided)(float *, const float *, size_t, const float *, size_t, size_t);
} binary_kernels;

static binary_kernels binary_kernels_for(binary_op op) {
    switch (op) {
    case BINARY_SUB: return (binary_kernels){sub_same, sub_scalar_b, sub_scalar_a, sub_strided};
    case BINARY_MUL: return (binary_kernels){mul_same, mul_scalar_b, mul_scalar_a, mul_strided};
    case BINARY_DIV: return (binary_kernels){div_same, div_scalar_b, div_scalar_a, div_strided};
    case BINARY_MINIMUM:
        return (binary_kernels){minimum_same, minimum_scalar_b, minimum_scalar_a, minimum_strided};
    case BINARY_MAXIMUM:
        return (binary_kernels){maximum_same, maximum_scalar_b, maximum_scalar_a, maximum_strided};
    case BINARY_PRELU: return (binary_kernels){prelu_same, prelu_scalar_b, prelu_scalar_a, prelu_strided};
    case BINARY_ADD:
    default: return (binary_kernels){add_same, add_scalar_b, add_scalar_a, add_strided};
    }
}

static size_t shape_count(const int *shape, int ndim) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

void binary_forward(float *out, const float *a, const float *b, binary_op op,
                    const int *out_shape, int out_ndim, const int *a_shape, int a_ndim,
                    const int *b_shape, int b_ndim) {
    binary_kernels k = binary_kernels_for(op);
    size_t n = shape_count(out_shape, out_ndim);
    size_t na = shape_count(a_shape, a_ndim), nb = shape_count(b_shape, b_ndim);
    if (n == 0) return;
    if (na == n && nb == n) { k.same(out, a, b, n); return; }
    if (nb == 1 && na == n) { k.scalar_b(out, a, b[0], n); return; }
    if (na == 1 && nb == n) { k.scalar_a(out, a[0], b, n); return; }

    /* General case: strides of a and b in output coordinates (0 where broadcast); the
     * last output axis is the inner loop. */
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
    size_t inner = (size_t)out_shape[last];
    size_t rows = n / inner;
    int index[6] = {0};
    size_t a_off = 0, b_off = 0;
    for (size_t r = 0; r < rows; r++) {
        float *dst = out + r * inner;
        if (a_stride[last] == 1 && b_stride[last] == 1) k.same(dst, a + a_off, b + b_off, inner);
        else if (a_stride[last] == 1 && b_stride[last] == 0) k.scalar_b(dst, a + a_off, b[b_off], inner);
        else if (a_stride[last] == 0 && b_stride[last] == 1) k.scalar_a(dst, a[a_off], b + b_off, inner);
        else k.strided(dst, a + a_off, a_stride[last], b + b_off, b_stride[last], inner);
        /* Advance the outer index (odometer over axes 0..last-1). */
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

void pad_forward(float *out, const float *in, const int *in_shape, int ndim,
                 const int *pad_before, const int *pad_after, float value) {
    int out_shape[6];
    for (int i = 0; i < ndim; i++) out_shape[i] = in_shape[i] + pad_before[i] + pad_after[i];
    size_t n_out = shape_count(out_shape, ndim);
    for (size_t i = 0; i < n_out; i++) out[i] = value;
    size_t n_in = shape_count(in_shape, ndim);
    if (n_in == 0) return;
    if (ndim == 0) { out[0] = in[0]; return; }
    size_t out_stride[6];
    size_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        out_stride[i] = s;
        s *= (size_t)out_shape[i];
    }
    int last = ndim - 1;
    size_t inner = (size_t)in_shape[last];
    size_t rows = n_in / inner;
    int index[6] = {0};
    for (size_t r = 0; r < rows; r++) {
        size_t off = (size_t)pad_before[last];
        for (int i = 0; i < last; i++) off += (size_t)(index[i] + pad_before[i]) * out_stride[i];
        memcpy(out + off, in + r * inner, inner * sizeof(float));
        for (int i = last - 1; i >= 0; i--) {
            if (++index[i] < in_shape[i]) break;
            index[i] = 0;
        }
    }
}

void mean_forward(float *out, const float *in, const int *in_shape, int ndim,
                  const bool *reduce) {
    size_t n_in = shape_count(in_shape, ndim);
    size_t count = 1, n_out = 1;
    int first = -1, last_reduced = -1;
    for (int i = 0; i < ndim; i++) {
        if (reduce[i]) {
            count *= (size_t)in_shape[i];
            if (first < 0) first = i;
            last_reduced = i;
        } else {
            n_out *= (size_t)in_shape[i];
        }
    }
    if (n_out == 0) return;
    if (count == 0) { /* mean of nothing: NaN, as TensorFlow gives */
        for (size_t i = 0; i < n_out; i++) out[i] = NAN;
        return;
    }
    bool contiguous = first >= 0;
    for (int i = first; contiguous && i <= last_reduced; i++) contiguous = reduce[i];
    float scale = 1.0f / (float)count;
    if (first < 0) { /* nothing reduced */
        memcpy(out, in, n_in * sizeof(float));
        return;
    }
    if (contiguous) {
        /* [outer, count, inner]: sum rows of `inner` contiguous floats. */
        size_t inner = 1;
        for (int i = last_reduced + 1; i < ndim; i++) inner *= (size_t)in_shape[i];
        size_t outer = n_out / inner;
        for (size_t o = 0; o < outer; o++) {
            float *restrict dst = out + o * inner;
            const float *src = in + o * count * inner;
            memset(dst, 0, inner * sizeof(float));
            for (size_t r = 0; r < count; r++) {
                const float *restrict row = src + r * inner;
                for (size_t i = 0; i < inner; i++) dst[i] += row[i];
            }
            for (size_t i = 0; i < inner; i++) dst[i] *= scale;
        }
        return;
    }
    /* General: walk the input, adding each element to its output slot. */
    size_t out_stride[6];
    size_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        out_stride[i] = reduce[i] ? 0 : s;
        if (!reduce[i]) s *= (size_t)in_shape[i];
    }
    memset(out, 0, n_out * sizeof(float));
    int index[6] = {0};
    size_t off = 0;
    for (size_t e = 0; e < n_in; e++) {
        out[off] += in[e];
        for (int i = ndim - 1; i >= 0; i--) {
            index[i]++;
            off += out_stride[i];
            if (index[i] < in_shape[i]) break;
            off -= out_stride[i] * (size_t)in_shape[i];
            index[i] = 0;
        }
    }
    for (size_t i = 0; i < n_out; i++) out[i] *= scale;
}

void matmul_forward(float *out, const float *a, const float *b, const float *bias, int M,
                    int K, int N, bool transpose_a, bool transpose_b) {
    if (M == 0 || N == 0) return;
    if (K == 0) { /* BLAS rejects empty inner dimensions: the sum is empty */
        if (bias) rows_fill_bias(out, bias, (size_t)M, N);
        else memset(out, 0, (size_t)M * N * sizeof(float));
        return;
    }
    if (bias) rows_fill_bias(out, bias, (size_t)M, N);
    nn_cpu_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
                transpose_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, a, transpose_a ? M : K,
                b, transpose_b ? K : N, bias ? 1.0f : 0.0f, out, N);
}

void concat_forward(float *out, const float *const *inputs, const size_t *inner, int count,
                    size_t outer) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += inner[i];
    for (size_t o = 0; o < outer; o++) {
        float *dst = out + o * total;
        for (int i = 0; i < count; i++) {
            if (inner[i]) memcpy(dst, inputs[i] + o * inner[i], inner[i] * sizeof(float));
            dst += inner[i];
        }
    }
}
