/* nn/ops forward kernels against naive reference loops (written here straight from the
 * definitions) and hand-computed values, on small random tensors. */
#include "nn/ops.h"
#include "test.h"

static unsigned rng_state = 12345;
static float rng_float(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}
static float *random_floats(size_t n) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = rng_float();
    return p;
}

/* ---- Reference loops ---- */

static void conv_reference(float *out, const float *in, const float *w, const float *bias, int N, int H,
                           int W, int C, int KH, int KW, int OC, int sh, int sw, int pt, int pl, int OH,
                           int OW, int M /* 0: regular conv; else depthwise multiplier */) {
    int out_c = M ? C * M : OC;
    for (int n = 0; n < N; n++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int oc = 0; oc < out_c; oc++) {
                    double acc = bias ? bias[oc] : 0;
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++) {
                            int ih = oh * sh - pt + kh, iw = ow * sw - pl + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            const float *px = in + (((size_t)n * H + ih) * W + iw) * C;
                            if (M) {
                                acc += (double)px[oc / M] * w[((size_t)kh * KW + kw) * out_c + oc];
                            } else {
                                for (int c = 0; c < C; c++)
                                    acc += (double)px[c] * w[(((size_t)kh * KW + kw) * C + c) * OC + oc];
                            }
                        }
                    out[(((size_t)n * OH + oh) * OW + ow) * out_c + oc] = (float)acc;
                }
}

typedef struct conv_case {
    int N, H, W, C, KH, KW, OC, stride;
    int padding; /* 0 VALID, 1 SAME, 2 explicit (1, 2, 0, 1) */
    bool bias;
} conv_case;

static void conv_geometry(const conv_case *t, int *OH, int *OW, int *pt, int *pl) {
    if (t->padding == 1) {
        CHECK(conv_out_size_same(t->H, t->KH, t->stride, OH, pt));
        CHECK(conv_out_size_same(t->W, t->KW, t->stride, OW, pl));
    } else if (t->padding == 0) {
        *pt = *pl = 0;
        CHECK(conv_out_size_valid(t->H, t->KH, t->stride, OH));
        CHECK(conv_out_size_valid(t->W, t->KW, t->stride, OW));
    } else {
        *pt = 1;
        *pl = 0;
        CHECK(conv_out_size_explicit(t->H, t->KH, t->stride, 1, 2, OH));
        CHECK(conv_out_size_explicit(t->W, t->KW, t->stride, 0, 1, OW));
    }
}

static void test_conv(void) {
    const conv_case cases[] = {
        {1, 7, 6, 3, 3, 3, 5, 1, 1, true},    /* SAME, odd sizes */
        {2, 8, 8, 3, 5, 5, 4, 2, 1, true},    /* BlazeFace's first layer shape, batch 2 */
        {1, 9, 7, 4, 3, 3, 6, 2, 0, false},   /* VALID stride 2 */
        {1, 6, 5, 2, 3, 2, 3, 1, 2, true},    /* explicit padding */
        {2, 5, 4, 8, 1, 1, 7, 1, 1, true},    /* 1x1: single GEMM */
        {1, 5, 5, 8, 1, 1, 7, 2, 1, false},   /* 1x1 stride 2: im2col path */
        {1, 64, 64, 64, 3, 3, 8, 1, 1, true}, /* several im2col tiles */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *t = &cases[i];
        int OH = 0, OW = 0, pt = 0, pl = 0;
        conv_geometry(t, &OH, &OW, &pt, &pl);
        size_t n_in = (size_t)t->N * t->H * t->W * t->C, n_w = (size_t)t->KH * t->KW * t->C * t->OC;
        size_t n_out = (size_t)t->N * OH * OW * t->OC;
        float *in = random_floats(n_in), *w = random_floats(n_w), *b = random_floats((size_t)t->OC);
        float *out = malloc(n_out * sizeof(float)), *ref = malloc(n_out * sizeof(float));
        CHECK_OK(conv2d_nhwc_forward(out, in, w, t->bias ? b : NULL, t->N, t->H, t->W, t->C, t->KH, t->KW,
                                     t->OC, t->stride, t->stride, pt, pl, OH, OW));
        conv_reference(ref, in, w, t->bias ? b : NULL, t->N, t->H, t->W, t->C, t->KH, t->KW, t->OC, t->stride,
                       t->stride, pt, pl, OH, OW, 0);
        double d = test_max_abs_diff(out, ref, n_out);
        CHECK_MSG(d < 1e-4, "conv case %zu: max diff %g", i, d);
        free(in), free(w), free(b), free(out), free(ref);
    }
    /* Hand-computed: 3x3 input 1..9, 2x2 all-ones kernel, VALID: sums of 2x2 windows. */
    float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, out[4], bias = 0.5f;
    CHECK_OK(conv2d_nhwc_forward(out, in, w, &bias, 1, 3, 3, 1, 2, 2, 1, 1, 1, 0, 0, 2, 2));
    CHECK_NEAR(out[0], 12.5, 1e-6);
    CHECK_NEAR(out[1], 16.5, 1e-6);
    CHECK_NEAR(out[2], 24.5, 1e-6);
    CHECK_NEAR(out[3], 28.5, 1e-6);
}

static void test_out_sizes(void) {
    int o = 0, p = 0;
    CHECK(conv_out_size_same(256, 5, 2, &o, &p) && o == 128 && p == 1);
    CHECK(conv_out_size_same(7, 3, 2, &o, &p) && o == 4 && p == 1);
    CHECK(conv_out_size_same(8, 2, 2, &o, &p) && o == 4 && p == 0);
    CHECK(conv_out_size_same(7, 2, 2, &o, &p) && o == 4 && p == 0); /* extra pixel at the end */
    CHECK(conv_out_size_valid(9, 3, 2, &o) && o == 4);
    CHECK(!conv_out_size_valid(2, 3, 1, &o));
    CHECK(conv_out_size_explicit(5, 3, 1, 1, 1, &o) && o == 5);
    CHECK(!conv_out_size_explicit(5, 3, 0, 1, 1, &o));
}

static void test_depthwise(void) {
    const conv_case cases[] = {
        {1, 7, 6, 5, 3, 3, 0, 1, 1, true},
        {2, 8, 9, 3, 3, 3, 0, 2, 1, false},
        {1, 9, 7, 4, 5, 5, 0, 2, 0, true},
        {1, 6, 5, 2, 3, 2, 0, 1, 2, true},
        {1, 16, 16, 24, 3, 3, 0, 1, 1, true}, /* big enough to run threaded */
        {1, 40, 40, 32, 3, 3, 0, 1, 1, true},
        {1, 9, 11, 13, 3, 3, 0, 1, 1, false}, /* eight channels at a time and a tail of five */
        {2, 17, 15, 42, 5, 5, 0, 2, 1, true},
        {1, 12, 10, 16, 5, 5, 0, 2, 2, true},
    };
    for (int M = 1; M <= 2; M++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const conv_case *t = &cases[i];
            int OH = 0, OW = 0, pt = 0, pl = 0;
            conv_geometry(t, &OH, &OW, &pt, &pl);
            int OC = t->C * M;
            size_t n_in = (size_t)t->N * t->H * t->W * t->C, n_w = (size_t)t->KH * t->KW * OC;
            size_t n_out = (size_t)t->N * OH * OW * OC;
            float *in = random_floats(n_in), *w = random_floats(n_w), *b = random_floats((size_t)OC);
            float *out = malloc(n_out * sizeof(float)), *ref = malloc(n_out * sizeof(float));
            depthwise_conv2d_nhwc_forward(out, in, w, t->bias ? b : NULL, t->N, t->H, t->W, t->C, t->KH, t->KW,
                                          M, t->stride, t->stride, pt, pl, OH, OW);
            conv_reference(ref, in, w, t->bias ? b : NULL, t->N, t->H, t->W, t->C, t->KH, t->KW, 0, t->stride,
                           t->stride, pt, pl, OH, OW, M);
            double d = test_max_abs_diff(out, ref, n_out);
            CHECK_MSG(d < 1e-5, "depthwise case %zu M=%d: max diff %g", i, M, d);
            free(in), free(w), free(b), free(out), free(ref);
        }
    }
}

static void test_max_pool(void) {
    /* Hand: 2x2 single channel, 2x2 window. */
    float in[4] = {1, 5, 3, 2}, out[4];
    max_pool_nhwc_forward(out, in, 1, 2, 2, 1, 2, 2, 2, 2, 0, 0, 1, 1);
    CHECK_NEAR(out[0], 5, 0);
    /* SAME on 7x7 (pad at the end only), stride 2, 3 channels, vs a reference. */
    int H = 7, W = 7, C = 3, OH, OW, pt, pl;
    CHECK(conv_out_size_same(H, 2, 2, &OH, &pt) && conv_out_size_same(W, 2, 2, &OW, &pl));
    float *x = random_floats((size_t)H * W * C);
    float *y = malloc((size_t)OH * OW * C * sizeof(float));
    max_pool_nhwc_forward(y, x, 1, H, W, C, 2, 2, 2, 2, pt, pl, OH, OW);
    int bad = 0;
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
            for (int c = 0; c < C; c++) {
                float m = -INFINITY;
                for (int kh = 0; kh < 2; kh++)
                    for (int kw = 0; kw < 2; kw++) {
                        int ih = oh * 2 - pt + kh, iw = ow * 2 - pl + kw;
                        if (ih >= 0 && iw >= 0 && ih < H && iw < W && x[(ih * W + iw) * C + c] > m) m = x[(ih * W + iw) * C + c];
                    }
                bad += y[(oh * OW + ow) * C + c] != m;
            }
    CHECK(OH == 4 && bad == 0);
    free(x), free(y);
}

static void test_elementwise(void) {
    float x[6] = {-2, -0.5f, 0, 0.5f, 3, 7}, y[6];
    relu_forward(y, x, 6);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 0.5f && y[5] == 7);
    /* Eight at a time, then a tail: the same values, bit for bit (+0 for -0 and NaN). */
    float z[19] = {-1, 2, -0.0f, NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f, 3, -3, NAN, -0.0f, 5, 0, -7, 8, -NAN, 1, -1};
    float rz[19];
    relu_forward(rz, z, 19);
    int relu_bad = 0;
    for (int i = 0; i < 19; i++) {
        float want = z[i] > 0.0f ? z[i] : 0.0f;
        relu_bad += memcmp(&rz[i], &want, sizeof want) != 0;
    }
    CHECK_MSG(relu_bad == 0, "relu: %d of 19 not the scalar definition's bits", relu_bad);
    relu6_forward(y, x, 6);
    CHECK(y[0] == 0 && y[4] == 3 && y[5] == 6);
    leaky_relu_forward(y, x, 0.1f, 6);
    CHECK_NEAR(y[0], -0.2, 1e-7);
    CHECK(y[4] == 3);
    float alpha[2] = {0.5f, 2};
    prelu_forward(y, x, alpha, 3, 2); /* rows (-2,-0.5) (0,0.5) (3,7) */
    CHECK(y[0] == -1 && y[1] == -1 && y[5] == 7);
    sigmoid_forward(y, x, 6);
    CHECK_NEAR(y[2], 0.5, 1e-7);
    CHECK_NEAR(y[4], 1 / (1 + exp(-3.0)), 1e-6);
    tanh_forward(y, x, 6);
    CHECK_NEAR(y[3], tanh(0.5), 1e-6);
    float bias[3] = {1, 10, 100};
    bias_add_forward(y, x, bias, 2, 3);
    CHECK(y[0] == -1 && y[1] == 9.5f && y[2] == 100 && y[3] == 1.5f && y[5] == 107);
    float logits[6] = {1, 2, 3, 1000, 1000, 1000};
    softmax_forward(y, logits, 2, 3);
    CHECK_NEAR(y[0], 0.0900306, 1e-6);
    CHECK_NEAR(y[1], 0.2447285, 1e-6);
    CHECK_NEAR(y[2], 0.6652410, 1e-6);
    CHECK_NEAR(y[4], 1.0 / 3, 1e-6); /* large logits stay finite */
}

/* Binary ops: a reference that indexes each operand from the output coordinate. */
static float binary_reference(binary_op op, float a, float b) {
    switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_MINIMUM: return a < b ? a : b;
    case BINARY_MAXIMUM: return a > b ? a : b;
    case BINARY_PRELU: return a > 0 ? a : b * a;
    }
    return 0;
}

static size_t broadcast_offset(const int *index, int out_ndim, const int *shape, int ndim) {
    size_t off = 0;
    for (int i = 0; i < ndim; i++) {
        int oi = index[i + out_ndim - ndim];
        off = off * (size_t)shape[i] + (size_t)(shape[i] == 1 ? 0 : oi);
    }
    return off;
}

static void test_binary(void) {
    struct {
        int a_ndim, a[4], b_ndim, b[4];
    } cases[] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}}, {3, {2, 3, 4}, 1, {4}},       {3, {2, 3, 4}, 0, {0}},
        {0, {0}, 3, {2, 3, 4}},       {3, {2, 3, 4}, 2, {3, 1}},    {3, {2, 1, 4}, 3, {1, 3, 1}},
        {1, {4}, 4, {2, 1, 3, 4}},    {4, {1, 2, 3, 1}, 2, {3, 5}}, {3, {2, 3, 5}, 3, {2, 3, 5}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int shape[6], ndim;
        CHECK(broadcast_shape(shape, &ndim, cases[i].a, cases[i].a_ndim, cases[i].b, cases[i].b_ndim, 6));
        size_t n = 1, na = 1, nb = 1;
        for (int k = 0; k < ndim; k++) n *= (size_t)shape[k];
        for (int k = 0; k < cases[i].a_ndim; k++) na *= (size_t)cases[i].a[k];
        for (int k = 0; k < cases[i].b_ndim; k++) nb *= (size_t)cases[i].b[k];
        float *a = random_floats(na), *b = random_floats(nb), *out = malloc(n * sizeof(float));
        for (int op = BINARY_ADD; op <= BINARY_PRELU; op++) {
            binary_forward(out, a, b, (binary_op)op, shape, ndim, cases[i].a, cases[i].a_ndim, cases[i].b,
                           cases[i].b_ndim);
            int index[6] = {0}, bad = 0;
            for (size_t e = 0; e < n; e++) {
                float want = binary_reference((binary_op)op,
                                              a[broadcast_offset(index, ndim, cases[i].a, cases[i].a_ndim)],
                                              b[broadcast_offset(index, ndim, cases[i].b, cases[i].b_ndim)]);
                if (fabsf(out[e] - want) > 1e-6f * (1 + fabsf(want))) bad++;
                for (int k = ndim - 1; k >= 0; k--) {
                    if (++index[k] < shape[k]) break;
                    index[k] = 0;
                }
            }
            CHECK_MSG(bad == 0, "binary case %zu op %d: %d wrong", i, op, bad);
        }
        free(a), free(b), free(out);
    }
    int shape[6], ndim;
    int s3[1] = {3}, s4[1] = {4}, s23[2] = {2, 3};
    CHECK(!broadcast_shape(shape, &ndim, s3, 1, s4, 1, 6));
    CHECK(!broadcast_shape(shape, &ndim, s23, 2, s4, 1, 6));
    /* In place (out == a), per-channel: the BlazeFace residual-add shape. */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
    int as[2] = {2, 3}, bs[1] = {3};
    binary_forward(a, a, b, BINARY_ADD, as, 2, as, 2, bs, 1);
    CHECK(a[0] == 11 && a[4] == 25 && a[5] == 36);
}

static void test_pad_mean_concat(void) {
    /* Pad [2,3] by (1,0),(2,1) with 7. */
    float in[6] = {1, 2, 3, 4, 5, 6}, out[3 * 6];
    int shape[2] = {2, 3}, before[2] = {1, 2}, after[2] = {0, 1};
    pad_forward(out, in, shape, 2, before, after, 7);
    const float want[18] = {7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 3, 7, 7, 7, 4, 5, 6, 7};
    CHECK(memcmp(out, want, sizeof want) == 0);

    /* Mean over several axis sets of a [2,3,4] tensor vs a direct sum. */
    int s[3] = {2, 3, 4};
    float *x = random_floats(24);
    bool sets[4][3] = {{false, true, false}, {true, false, true}, {false, true, true}, {true, true, true}};
    for (int k = 0; k < 4; k++) {
        float m[24];
        mean_forward(m, x, s, 3, sets[k]);
        int o = 0, bad = 0;
        for (int i0 = 0; i0 < (sets[k][0] ? 1 : 2); i0++)
            for (int i1 = 0; i1 < (sets[k][1] ? 1 : 3); i1++)
                for (int i2 = 0; i2 < (sets[k][2] ? 1 : 4); i2++) {
                    double sum = 0;
                    int count = 0;
                    for (int j0 = 0; j0 < 2; j0++)
                        for (int j1 = 0; j1 < 3; j1++)
                            for (int j2 = 0; j2 < 4; j2++) {
                                if ((!sets[k][0] && j0 != i0) || (!sets[k][1] && j1 != i1) ||
                                    (!sets[k][2] && j2 != i2))
                                    continue;
                                sum += x[(j0 * 3 + j1) * 4 + j2];
                                count++;
                            }
                    bad += fabs(m[o++] - sum / count) > 1e-6;
                }
        CHECK_MSG(bad == 0, "mean axis set %d: %d wrong", k, bad);
    }
    free(x);

    /* Concat [2,2] and [2,3] on axis 1. */
    float c1[4] = {1, 2, 3, 4}, c2[6] = {5, 6, 7, 8, 9, 10}, cat[10];
    const float *parts[2] = {c1, c2};
    size_t inner[2] = {2, 3};
    concat_forward(cat, parts, inner, 2, 2);
    const float want_cat[10] = {1, 2, 5, 6, 7, 3, 4, 8, 9, 10};
    CHECK(memcmp(cat, want_cat, sizeof want_cat) == 0);
}

static void test_matmul(void) {
    int M = 3, K = 5, N = 4;
    float *a = random_floats((size_t)M * K), *b = random_floats((size_t)K * N), *bias = random_floats((size_t)N);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float out[12];
            matmul_forward(out, a, b, ta ? NULL : bias, M, K, N, ta, tb);
            int bad = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = ta ? 0 : bias[j];
                    for (int k = 0; k < K; k++)
                        acc += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
                    bad += fabs(out[i * N + j] - acc) > 1e-5;
                }
            CHECK_MSG(bad == 0, "matmul ta=%d tb=%d: %d wrong", ta, tb, bad);
        }
    free(a), free(b), free(bias);
}

int main(void) {
    test_out_sizes();
    test_conv();
    test_depthwise();
    test_max_pool();
    test_elementwise();
    test_binary();
    test_pad_mean_concat();
    test_matmul();
    return test_finish("test_nn_ops");
}
