/* nn/layers_conv: NCHW convolution (im2col + sgemm, tiled over output rows; a direct loop
 * for depthwise) and the linear layer. */
#include "nn/backend.h"
#include "nn/layers.h"

#include <cblas.h>
#include <string.h>

bool conv2d_shape_init(conv2d_shape *s, int N, int C, int H, int W, int OC, int KH, int KW,
                       int stride, int pad, int groups) {
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || OC <= 0 || KH <= 0 || KW <= 0 || stride <= 0 ||
        pad < 0 || groups <= 0 || C % groups || OC % groups)
        return false;
    long long oh = ((long long)H + 2LL * pad - KH), ow = ((long long)W + 2LL * pad - KW);
    if (oh < 0 || ow < 0) return false;
    oh = oh / stride + 1;
    ow = ow / stride + 1;
    if (oh > 1 << 20 || ow > 1 << 20) return false;
    *s = (conv2d_shape){N, C, H, W, OC, KH, KW, stride, pad, groups, (int)oh, (int)ow};
    return true;
}

/* col [Cg*KH*KW, rows*OW] for output rows [oh0, oh0 + rows) of one image's group planes
 * `in` [Cg,H,W]; row order (c, kh, kw) matches the weight's [Cg, KH, KW]. */
static void im2col_nchw(float *restrict col, const float *restrict in, int Cg, int H, int W,
                        int KH, int KW, int stride, int pad, int OW, int oh0, int rows) {
    size_t tile = (size_t)rows * OW;
    for (int c = 0; c < Cg; c++) {
        const float *plane = in + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                float *dst = col + ((size_t)(c * KH + kh) * KW + kw) * tile;
                /* ow range whose input column is inside the image */
                int lo = pad - kw > 0 ? (pad - kw + stride - 1) / stride : 0;
                int hi = (W - 1 + pad - kw) >= 0 ? (W - 1 + pad - kw) / stride + 1 : 0;
                if (hi > OW) hi = OW;
                if (lo > hi) lo = hi;
                for (int r = 0; r < rows; r++, dst += OW) {
                    int ih = (oh0 + r) * stride - pad + kh;
                    if (ih < 0 || ih >= H) { memset(dst, 0, (size_t)OW * sizeof(float)); continue; }
                    long base = (long)ih * W - pad + kw; /* input index of ow = 0 */
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    if (stride == 1)
                        memcpy(dst + lo, plane + base + lo, (size_t)(hi - lo) * sizeof(float));
                    else for (int ow = lo; ow < hi; ow++) dst[ow] = plane[base + (long)ow * stride];
                    for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
                }
            }
    }
}

/* The adjoint of im2col_nchw: in [Cg,H,W] += scattered col. */
static void col2im_nchw(float *restrict in, const float *restrict col, int Cg, int H, int W,
                        int KH, int KW, int stride, int pad, int OW, int oh0, int rows) {
    size_t tile = (size_t)rows * OW;
    for (int c = 0; c < Cg; c++) {
        float *plane = in + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                const float *src = col + ((size_t)(c * KH + kh) * KW + kw) * tile;
                int lo = pad - kw > 0 ? (pad - kw + stride - 1) / stride : 0;
                int hi = (W - 1 + pad - kw) >= 0 ? (W - 1 + pad - kw) / stride + 1 : 0;
                if (hi > OW) hi = OW;
                if (lo > hi) lo = hi;
                for (int r = 0; r < rows; r++, src += OW) {
                    int ih = (oh0 + r) * stride - pad + kh;
                    if (ih < 0 || ih >= H) continue;
                    long base = (long)ih * W - pad + kw;
                    if (stride == 1) for (int ow = lo; ow < hi; ow++) plane[base + ow] += src[ow];
                    else for (int ow = lo; ow < hi; ow++) plane[base + (long)ow * stride] += src[ow];
                }
            }
    }
}

/* im2col/col2im run single-threaded would leave a core idle between the (threaded)
 * GEMMs, so both are split over input channels: each channel owns its col rows and its
 * input plane, so no two threads write the same floats and the sums keep their order
 * (results are bit-identical to the serial loops). */
typedef struct conv_columns_job {
    float *col;       /* im2col: written; col2im: read */
    float *plane;     /* im2col: read; col2im: accumulated into */
    int Cg, H, W, KH, KW, stride, pad, OW, oh0, rows, chunks;
} conv_columns_job;

static void conv_columns_range(const conv_columns_job *j, int index, int *c0, int *c1) {
    *c0 = (int)((long long)j->Cg * index / j->chunks);
    *c1 = (int)((long long)j->Cg * (index + 1) / j->chunks);
}

static void im2col_chunk(void *ctx, int index) {
    const conv_columns_job *j = ctx;
    int c0, c1;
    conv_columns_range(j, index, &c0, &c1);
    size_t tile = (size_t)j->rows * j->OW;
    im2col_nchw(j->col + (size_t)c0 * j->KH * j->KW * tile, j->plane + (size_t)c0 * j->H * j->W,
                c1 - c0, j->H, j->W, j->KH, j->KW, j->stride, j->pad, j->OW, j->oh0, j->rows);
}

static void col2im_chunk(void *ctx, int index) {
    const conv_columns_job *j = ctx;
    int c0, c1;
    conv_columns_range(j, index, &c0, &c1);
    size_t tile = (size_t)j->rows * j->OW;
    col2im_nchw(j->plane + (size_t)c0 * j->H * j->W, j->col + (size_t)c0 * j->KH * j->KW * tile,
                c1 - c0, j->H, j->W, j->KH, j->KW, j->stride, j->pad, j->OW, j->oh0, j->rows);
}

/* Chunks for a column job: one per channel group of at least ~64K column floats (below
 * that, waking the pool costs more than it saves), at most two per core so an uneven
 * share on a busy machine is picked up by the other thread. */
static int conv_columns_chunks(int Cg, int KH, int KW, int rows, int OW) {
    size_t per_channel = (size_t)KH * KW * rows * OW;
    size_t total = per_channel * (size_t)Cg;
    int chunks = (int)(total / (64u * 1024u));
    int cap = 2 * cpu_count();
    if (chunks > cap) chunks = cap;
    if (chunks > Cg) chunks = Cg;
    return chunks < 1 ? 1 : chunks;
}

static void im2col_parallel(float *col, const float *in, int Cg, int H, int W, int KH, int KW,
                            int stride, int pad, int OW, int oh0, int rows) {
    conv_columns_job j = {col, (float *)in, Cg, H, W, KH, KW, stride, pad, OW, oh0, rows,
                          conv_columns_chunks(Cg, KH, KW, rows, OW)};
    parallel_for(j.chunks, 0, im2col_chunk, &j);
}

static void col2im_parallel(float *in, const float *col, int Cg, int H, int W, int KH, int KW,
                            int stride, int pad, int OW, int oh0, int rows) {
    conv_columns_job j = {(float *)col, in, Cg, H, W, KH, KW, stride, pad, OW, oh0, rows,
                          conv_columns_chunks(Cg, KH, KW, rows, OW)};
    parallel_for(j.chunks, 0, col2im_chunk, &j);
}

/* Output rows per im2col tile: about 1 MiB of columns (this machine's L2), at least one
 * row.  Measured on bench_nn: larger tiles lose to cache misses, smaller to GEMM setup. */
static int conv_tile_rows(const conv2d_shape *s, size_t K) {
    size_t row_bytes = K * (size_t)s->OW * sizeof(float);
    size_t rows = (1u << 20) / (row_bytes ? row_bytes : 1);
    if (rows < 1) rows = 1;
    if (rows > (size_t)s->OH) rows = (size_t)s->OH;
    return (int)rows;
}

static bool conv_is_pointwise(const conv2d_shape *s) {
    return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0;
}

/* ---- Depthwise (one input channel per group): direct loops ---- */

static void depthwise_forward(float *out, const float *in, const float *weight,
                              const float *bias, const conv2d_shape *s) {
    int M = s->OC / s->groups; /* channel multiplier */
    for (int n = 0; n < s->N; n++)
        for (int oc = 0; oc < s->OC; oc++) {
            const float *plane = in + ((size_t)n * s->C + oc / M) * s->H * s->W;
            const float *w = weight + (size_t)oc * s->KH * s->KW;
            float *dst = out + ((size_t)n * s->OC + oc) * s->OH * s->OW;
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    float sum = bias ? bias[oc] : 0.0f;
                    for (int kh = 0; kh < s->KH; kh++) {
                        int ih = oh * s->stride - s->pad + kh;
                        if (ih < 0 || ih >= s->H) continue;
                        for (int kw = 0; kw < s->KW; kw++) {
                            int iw = ow * s->stride - s->pad + kw;
                            if (iw < 0 || iw >= s->W) continue;
                            sum += w[kh * s->KW + kw] * plane[(size_t)ih * s->W + iw];
                        }
                    }
                    dst[(size_t)oh * s->OW + ow] = sum;
                }
        }
}

static void depthwise_backward(float *din, float *dweight, float *dbias, const float *dout,
                               const float *in, const float *weight, const conv2d_shape *s) {
    int M = s->OC / s->groups;
    for (int n = 0; n < s->N; n++)
        for (int oc = 0; oc < s->OC; oc++) {
            size_t plane_offset = ((size_t)n * s->C + oc / M) * s->H * s->W;
            const float *plane = in + plane_offset;
            const float *w = weight + (size_t)oc * s->KH * s->KW;
            float *dw = dweight ? dweight + (size_t)oc * s->KH * s->KW : NULL;
            const float *g = dout + ((size_t)n * s->OC + oc) * s->OH * s->OW;
            double bias_sum = 0.0;
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    float go = g[(size_t)oh * s->OW + ow];
                    bias_sum += go;
                    for (int kh = 0; kh < s->KH; kh++) {
                        int ih = oh * s->stride - s->pad + kh;
                        if (ih < 0 || ih >= s->H) continue;
                        for (int kw = 0; kw < s->KW; kw++) {
                            int iw = ow * s->stride - s->pad + kw;
                            if (iw < 0 || iw >= s->W) continue;
                            size_t at = (size_t)ih * s->W + iw;
                            if (dw) dw[kh * s->KW + kw] += go * plane[at];
                            if (din) din[plane_offset + at] += go * w[kh * s->KW + kw];
                        }
                    }
                }
            if (dbias) dbias[oc] += (float)bias_sum;
        }
}

/* ---- General grouped convolution ---- */

vv_status conv2d_forward_cpu(float *out, const float *in, const float *weight,
                             const float *bias, const conv2d_shape *s) {
    int Cg = s->C / s->groups, OCg = s->OC / s->groups;
    if (Cg == 1 && s->groups > 1) {
        depthwise_forward(out, in, weight, bias, s);
        return VV_OK;
    }
    int K = Cg * s->KH * s->KW, P = s->OH * s->OW;
    size_t HW = (size_t)s->H * s->W;
    for (int n = 0; n < s->N; n++)
        for (int oc = 0; oc < s->OC; oc++) {
            float *dst = out + ((size_t)n * s->OC + oc) * P, b = bias ? bias[oc] : 0.0f;
            for (int p = 0; p < P; p++) dst[p] = b;
        }
    if (conv_is_pointwise(s)) {
        for (int n = 0; n < s->N; n++)
            for (int g = 0; g < s->groups; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OCg, P, Cg, 1.0f,
                            weight + (size_t)g * OCg * K, K,
                            in + ((size_t)n * s->C + (size_t)g * Cg) * HW, P, 1.0f,
                            out + ((size_t)n * s->OC + (size_t)g * OCg) * P, P);
        return VV_OK;
    }
    int tile_rows = conv_tile_rows(s, (size_t)K);
    float *col = mem_alloc_aligned((size_t)K * tile_rows * s->OW * sizeof(float));
    if (!col) return vv_fail(VV_ERR_NO_MEMORY, "conv2d_forward: no memory for the im2col tile");
    for (int n = 0; n < s->N; n++)
        for (int g = 0; g < s->groups; g++) {
            const float *src = in + ((size_t)n * s->C + (size_t)g * Cg) * HW;
            float *dst = out + ((size_t)n * s->OC + (size_t)g * OCg) * P;
            const float *w = weight + (size_t)g * OCg * K;
            for (int oh0 = 0; oh0 < s->OH; oh0 += tile_rows) {
                int rows = s->OH - oh0 < tile_rows ? s->OH - oh0 : tile_rows;
                int tile = rows * s->OW;
                im2col_parallel(col, src, Cg, s->H, s->W, s->KH, s->KW, s->stride, s->pad,
                                s->OW, oh0, rows);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OCg, tile, K, 1.0f, w, K,
                            col, tile, 1.0f, dst + (size_t)oh0 * s->OW, P);
            }
        }
    mem_free_aligned(col);
    return VV_OK;
}

vv_status conv2d_backward_cpu(float *din, float *dweight, float *dbias, const float *dout,
                              const float *in, const float *weight, const conv2d_shape *s) {
    int Cg = s->C / s->groups, OCg = s->OC / s->groups;
    if (Cg == 1 && s->groups > 1) {
        depthwise_backward(din, dweight, dbias, dout, in, weight, s);
        return VV_OK;
    }
    int K = Cg * s->KH * s->KW, P = s->OH * s->OW;
    size_t HW = (size_t)s->H * s->W;
    if (dbias)
        for (int n = 0; n < s->N; n++)
            for (int oc = 0; oc < s->OC; oc++) {
                const float *g = dout + ((size_t)n * s->OC + oc) * P;
                double sum = 0.0;
                for (int p = 0; p < P; p++) sum += g[p];
                dbias[oc] += (float)sum;
            }
    if (!din && !dweight) return VV_OK;
    if (conv_is_pointwise(s)) {
        for (int n = 0; n < s->N; n++)
            for (int g = 0; g < s->groups; g++) {
                const float *x = in + ((size_t)n * s->C + (size_t)g * Cg) * HW;
                const float *gy = dout + ((size_t)n * s->OC + (size_t)g * OCg) * P;
                const float *w = weight + (size_t)g * OCg * K;
                if (dweight)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OCg, Cg, P, 1.0f, gy, P,
                                x, P, 1.0f, dweight + (size_t)g * OCg * K, K);
                if (din)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cg, P, OCg, 1.0f, w, K,
                                gy, P, 1.0f, din + ((size_t)n * s->C + (size_t)g * Cg) * HW, P);
            }
        return VV_OK;
    }
    int tile_rows = conv_tile_rows(s, (size_t)K);
    size_t tile_floats = (size_t)K * tile_rows * s->OW;
    float *col = mem_alloc_aligned(2 * tile_floats * sizeof(float));
    if (!col) return vv_fail(VV_ERR_NO_MEMORY, "conv2d_backward: no memory for the im2col tiles");
    float *dcol = col + tile_floats;
    for (int n = 0; n < s->N; n++)
        for (int g = 0; g < s->groups; g++) {
            const float *x = in + ((size_t)n * s->C + (size_t)g * Cg) * HW;
            float *dx = din ? din + ((size_t)n * s->C + (size_t)g * Cg) * HW : NULL;
            const float *gy = dout + ((size_t)n * s->OC + (size_t)g * OCg) * P;
            const float *w = weight + (size_t)g * OCg * K;
            float *dw = dweight ? dweight + (size_t)g * OCg * K : NULL;
            for (int oh0 = 0; oh0 < s->OH; oh0 += tile_rows) {
                int rows = s->OH - oh0 < tile_rows ? s->OH - oh0 : tile_rows;
                int tile = rows * s->OW;
                const float *gy_tile = gy + (size_t)oh0 * s->OW;
                if (dw) {
                    im2col_parallel(col, x, Cg, s->H, s->W, s->KH, s->KW, s->stride,
                                    s->pad, s->OW, oh0, rows);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OCg, K, tile, 1.0f,
                                gy_tile, P, col, tile, 1.0f, dw, K);
                }
                if (dx) {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, tile, OCg, 1.0f, w, K,
                                gy_tile, P, 0.0f, dcol, tile);
                    col2im_parallel(dx, dcol, Cg, s->H, s->W, s->KH, s->KW, s->stride,
                                    s->pad, s->OW, oh0, rows);
                }
            }
        }
    mem_free_aligned(col);
    return VV_OK;
}

/* ---- Linear ---- */

void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                    int N, int in_dim, int out_dim) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out_dim; o++) out[(size_t)n * out_dim + o] = bias ? bias[o] : 0.0f;
    nn_gemm(false, true, N, out_dim, in_dim, 1.0f, in, in_dim, weight, in_dim, 1.0f, out, out_dim);
}

void linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight, int N, int in_dim, int out_dim) {
    if (din) nn_gemm(false, false, N, in_dim, out_dim, 1.0f, dout, out_dim, weight, in_dim, 1.0f, din, in_dim);
    if (dweight) nn_gemm(true, false, out_dim, in_dim, N, 1.0f, dout, out_dim, in, in_dim, 1.0f, dweight, in_dim);
    if (dbias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < out_dim; o++) dbias[o] += dout[(size_t)n * out_dim + o];
}
