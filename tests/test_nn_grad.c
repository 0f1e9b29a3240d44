/* Finite-difference gradient check of every nn/layers op.
 *
 * For each op: loss = sum(out * R) with a fixed random R, accumulated in double.  The
 * analytic gradient is the op's backward with dout = R (into zeroed buffers); the numeric
 * one is the central difference (loss(x + h) - loss(x - h)) / 2h with h = 1e-2, the
 * forward computed in float.  Accept |analytic - numeric| <= 2e-3 + 1e-2 * |numeric|:
 * float rounding of the loss gives ~1e-4 after dividing by 2h and the O(h^2) truncation
 * ~1e-4 for these smooth ops; a wrong gradient is off by O(1).  Kinks are kept out by
 * construction: ReLU/LeakyReLU/PReLU/L1/hinge inputs are at least 0.1 (> h) away from their
 * kink, max-pool inputs are distinct by at least 0.05 (> 2h).  Inputs larger than 48
 * elements are checked at 48 evenly spread positions.  The backward must also accumulate:
 * running it twice must double the gradient. */
#include "test.h"

#include "nn/layers.h"
#include "nn/ops.h"

#define MAX_INPUTS 8
#define STEP 1e-2
#define ATOL 2e-3
#define RTOL 1e-2
#define MAX_PROBES 48

typedef struct grad_case grad_case;
struct grad_case {
    const char *name;
    int inputs;
    float *in[MAX_INPUTS], *din[MAX_INPUTS];
    size_t in_size[MAX_INPUTS];
    bool no_grad[MAX_INPUTS]; /* inputs treated as constants (e.g. loss targets) */
    float *out;
    size_t out_size;
    float *save[4]; /* forward state for the backward */
    int32_t *index;
    int dims[12];
    void (*forward)(grad_case *c);
    void (*backward)(grad_case *c, const float *dout);
};

static uint64_t rng = 0x1234abcdull;
static double uniform(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static void fill_uniform(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * uniform());
}
/* Values at least 0.1 from zero with random sign (away from ReLU-like kinks). */
static void fill_away_from_zero(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((0.1 + 0.9 * uniform()) * (uniform() < 0.5 ? -1 : 1));
}

static float *buffer(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static void case_input(grad_case *c, size_t n) {
    int i = c->inputs++;
    c->in[i] = buffer(n);
    c->din[i] = buffer(n);
    c->in_size[i] = n;
    fill_uniform(c->in[i], n, -1.0f, 1.0f);
}

static void case_free(grad_case *c) {
    for (int i = 0; i < c->inputs; i++) { free(c->in[i]); free(c->din[i]); }
    for (int i = 0; i < 4; i++) free(c->save[i]);
    free(c->out);
    free(c->index);
}

static double loss_of(grad_case *c, const float *r) {
    c->forward(c);
    double sum = 0.0;
    for (size_t i = 0; i < c->out_size; i++) sum += (double)c->out[i] * r[i];
    return sum;
}

static void check_case(grad_case *c) {
    float *r = buffer(c->out_size);
    fill_uniform(r, c->out_size, -1.0f, 1.0f);
    c->forward(c);
    for (int i = 0; i < c->inputs; i++) memset(c->din[i], 0, c->in_size[i] * sizeof(float));
    c->backward(c, r);
    /* accumulation: a second backward doubles every gradient */
    float *first[MAX_INPUTS];
    for (int i = 0; i < c->inputs; i++) {
        first[i] = buffer(c->in_size[i]);
        memcpy(first[i], c->din[i], c->in_size[i] * sizeof(float));
    }
    c->forward(c);
    c->backward(c, r);
    int bad_accumulate = 0, bad = 0, probes = 0;
    for (int i = 0; i < c->inputs; i++)
        for (size_t j = 0; j < c->in_size[i]; j++)
            if (fabsf(c->din[i][j] - 2.0f * first[i][j]) > 1e-5f * (1.0f + fabsf(first[i][j]))) bad_accumulate++;
    for (int i = 0; i < c->inputs; i++) {
        if (c->no_grad[i]) { free(first[i]); continue; }
        size_t n = c->in_size[i], stride = n > MAX_PROBES ? n / MAX_PROBES : 1;
        for (size_t j = 0; j < n; j += stride) {
            float saved = c->in[i][j];
            c->in[i][j] = (float)(saved + STEP);
            double plus = loss_of(c, r);
            c->in[i][j] = (float)(saved - STEP);
            double minus = loss_of(c, r);
            c->in[i][j] = saved;
            /* the step actually taken in float */
            double numeric = (plus - minus) / ((double)(float)(saved + STEP) - (double)(float)(saved - STEP));
            double analytic = first[i][j];
            probes++;
            if (fabs(analytic - numeric) > ATOL + RTOL * fabs(numeric)) {
                if (bad < 5)
                    fprintf(stderr, "%s: input %d [%zu]: analytic %.6f numeric %.6f\n", c->name, i, j,
                            analytic, numeric);
                bad++;
            }
        }
        free(first[i]);
    }
    CHECK_MSG(bad == 0, "%s: %d of %d gradient probes off", c->name, bad, probes);
    CHECK_MSG(bad_accumulate == 0, "%s: backward does not accumulate (%d)", c->name, bad_accumulate);
    printf("%-28s %4d probes ok=%d\n", c->name, probes, bad == 0 && bad_accumulate == 0);
    free(r);
    case_free(c);
}

/* ---- conv2d: dims N C H W OC K stride pad groups, inputs in, weight, bias ---- */

static conv2d_shape conv_shape(const grad_case *c) {
    conv2d_shape s;
    const int *d = c->dims;
    conv2d_shape_init(&s, d[0], d[1], d[2], d[3], d[4], d[5], d[5], d[6], d[7], d[8]);
    return s;
}
static void conv_fwd(grad_case *c) {
    conv2d_shape s = conv_shape(c);
    CHECK_OK(conv2d_forward(c->out, c->in[0], c->in[1], c->in[2], &s));
}
static void conv_bwd(grad_case *c, const float *dout) {
    conv2d_shape s = conv_shape(c);
    CHECK_OK(conv2d_backward(c->din[0], c->din[1], c->din[2], dout, c->in[0], c->in[1], &s));
}
static void test_conv(const char *name, int N, int C, int H, int W, int OC, int K, int stride,
                      int pad, int groups) {
    grad_case c = {.name = name, .forward = conv_fwd, .backward = conv_bwd,
                   .dims = {N, C, H, W, OC, K, stride, pad, groups}};
    conv2d_shape s;
    if (!conv2d_shape_init(&s, N, C, H, W, OC, K, K, stride, pad, groups)) { CHECK(false); return; }
    case_input(&c, (size_t)N * C * H * W);
    case_input(&c, (size_t)OC * (C / groups) * K * K);
    case_input(&c, (size_t)OC);
    c.out_size = (size_t)N * OC * s.OH * s.OW;
    c.out = buffer(c.out_size);
    check_case(&c);
}

/* ---- linear: dims N I O ---- */
static void linear_fwd(grad_case *c) {
    linear_forward(c->out, c->in[0], c->in[1], c->in[2], c->dims[0], c->dims[1], c->dims[2]);
}
static void linear_bwd(grad_case *c, const float *dout) {
    linear_backward(c->din[0], c->din[1], c->din[2], dout, c->in[0], c->in[1], c->dims[0], c->dims[1], c->dims[2]);
}
static void test_linear(void) {
    grad_case c = {.name = "linear", .forward = linear_fwd, .backward = linear_bwd, .dims = {3, 5, 4}};
    case_input(&c, 15);
    case_input(&c, 20);
    case_input(&c, 4);
    c.out_size = 12;
    c.out = buffer(12);
    check_case(&c);
}

/* ---- activations on 40 elements ---- */
static void relu_fwd(grad_case *c) { relu_forward(c->out, c->in[0], c->out_size); }
static void relu_bwd(grad_case *c, const float *g) { relu_backward(c->din[0], g, c->in[0], c->out_size); }
static void leaky_fwd(grad_case *c) { leaky_relu_forward(c->out, c->in[0], 0.2f, c->out_size); }
static void leaky_bwd(grad_case *c, const float *g) { leaky_relu_backward(c->din[0], g, c->in[0], 0.2f, c->out_size); }
static void tanh_fwd(grad_case *c) { tanh_forward(c->out, c->in[0], c->out_size); }
static void tanh_bwd(grad_case *c, const float *g) { tanh_backward(c->din[0], g, c->out, c->out_size); }
static void sigmoid_fwd(grad_case *c) { sigmoid_forward(c->out, c->in[0], c->out_size); }
static void sigmoid_bwd(grad_case *c, const float *g) { sigmoid_backward(c->din[0], g, c->out, c->out_size); }
static void test_activation(const char *name, void (*f)(grad_case *), void (*b)(grad_case *, const float *)) {
    grad_case c = {.name = name, .forward = f, .backward = b};
    case_input(&c, 40);
    fill_away_from_zero(c.in[0], 40);
    c.out_size = 40;
    c.out = buffer(40);
    check_case(&c);
}
/* PReLU: dims N C HW */
static void prelu_fwd(grad_case *c) { prelu_nchw_forward(c->out, c->in[0], c->in[1], c->dims[0], c->dims[1], c->dims[2]); }
static void prelu_bwd(grad_case *c, const float *g) {
    prelu_nchw_backward(c->din[0], c->din[1], g, c->in[0], c->in[1], c->dims[0], c->dims[1], c->dims[2]);
}
static void test_prelu(void) {
    grad_case c = {.name = "prelu", .forward = prelu_fwd, .backward = prelu_bwd, .dims = {2, 3, 5}};
    case_input(&c, 30);
    fill_away_from_zero(c.in[0], 30);
    case_input(&c, 3);
    c.out_size = 30;
    c.out = buffer(30);
    check_case(&c);
}

/* ---- instance norm (affine or not) and AdaIN: dims N C HW ---- */
static void inorm_fwd(grad_case *c) {
    const int *d = c->dims;
    bool affine = c->inputs == 3;
    instance_norm_forward(c->out, c->save[0], c->save[1], c->in[0], affine ? c->in[1] : NULL,
                          affine ? c->in[2] : NULL, d[0], d[1], d[2], 1e-5f);
}
static void inorm_bwd(grad_case *c, const float *g) {
    const int *d = c->dims;
    bool affine = c->inputs == 3;
    instance_norm_backward(c->din[0], affine ? c->din[1] : NULL, affine ? c->din[2] : NULL, g,
                           c->in[0], c->save[0], c->save[1], affine ? c->in[1] : NULL, d[0], d[1], d[2]);
}
static void adain_fwd(grad_case *c) {
    const int *d = c->dims;
    adain_forward(c->out, c->save[0], c->save[1], c->in[0], c->in[1], c->in[2], d[0], d[1], d[2], 1e-5f);
}
static void adain_bwd(grad_case *c, const float *g) {
    const int *d = c->dims;
    adain_backward(c->din[0], c->din[1], c->din[2], g, c->in[0], c->save[0], c->save[1], c->in[1], d[0], d[1], d[2]);
}
static void test_norm(const char *name, int kind) { /* 0 plain, 1 affine, 2 adain */
    grad_case c = {.name = name, .forward = kind == 2 ? adain_fwd : inorm_fwd,
                   .backward = kind == 2 ? adain_bwd : inorm_bwd, .dims = {2, 3, 12}};
    case_input(&c, 72);
    if (kind == 1) { case_input(&c, 3); case_input(&c, 3); }
    if (kind == 2) { case_input(&c, 6); case_input(&c, 6); }
    c.save[0] = buffer(6);
    c.save[1] = buffer(6);
    c.out_size = 72;
    c.out = buffer(72);
    check_case(&c);
}

/* AdaIN + ReLU fused: scale in [0.1, 0.2] and |bias| in [1, 1.5] keep every pre-ReLU value
 * at least 0.3 from the kink (|xhat| < 3.4 for 12 values), so each plane is wholly on or
 * wholly off (off planes must get zero gradients) and no probe crosses the kink. */
static void adain_relu_fwd(grad_case *c) {
    const int *d = c->dims;
    adain_relu_forward(c->out, c->save[0], c->save[1], c->in[0], c->in[1], c->in[2], d[0], d[1], d[2], 1e-5f);
}
static void adain_relu_bwd(grad_case *c, const float *g) {
    const int *d = c->dims;
    adain_relu_backward(c->din[0], c->din[1], c->din[2], g, c->out, c->in[0], c->save[0], c->save[1], c->in[1],
                        d[0], d[1], d[2]);
}
static void test_adain_relu(void) {
    grad_case c = {.name = "adain_relu", .forward = adain_relu_fwd, .backward = adain_relu_bwd, .dims = {2, 3, 12}};
    case_input(&c, 72);
    case_input(&c, 6);
    case_input(&c, 6);
    fill_uniform(c.in[1], 6, 0.1f, 0.2f);
    for (int i = 0; i < 6; i++) c.in[2][i] = (float)((1.0 + 0.5 * uniform()) * (i % 2 ? -1 : 1));
    c.save[0] = buffer(6);
    c.save[1] = buffer(6);
    c.out_size = 72;
    c.out = buffer(72);
    check_case(&c);
}

/* ---- spectral norm: dims rows cols; u fixed (iterations 0 after one warm-up) ---- */
static void sn_fwd(grad_case *c) {
    float sigma = spectral_norm_forward(c->out, c->save[0], c->save[1], c->in[0], c->dims[0], c->dims[1], 0, 1e-12f);
    c->save[2][0] = sigma;
}
static void sn_bwd(grad_case *c, const float *g) {
    spectral_norm_backward(c->din[0], g, c->in[0], c->save[0], c->save[1], c->save[2][0], c->dims[0], c->dims[1]);
}
static void test_spectral_norm(void) {
    grad_case c = {.name = "spectral_norm", .forward = sn_fwd, .backward = sn_bwd, .dims = {4, 6}};
    case_input(&c, 24);
    c.save[0] = buffer(4);
    c.save[1] = buffer(6);
    c.save[2] = buffer(1);
    fill_uniform(c.save[0], 4, -1.0f, 1.0f);
    c.out_size = 24;
    c.out = buffer(24);
    spectral_norm_forward(c.out, c.save[0], c.save[1], c.in[0], 4, 6, 3, 1e-12f);
    check_case(&c);
}

/* ---- pooling and resampling: dims N C H W K stride pad OH OW ---- */
static void avg_fwd(grad_case *c) {
    const int *d = c->dims;
    avg_pool2d_forward(c->out, c->in[0], d[0], d[1], d[2], d[3], d[4], d[5], d[7], d[8]);
}
static void avg_bwd(grad_case *c, const float *g) {
    const int *d = c->dims;
    avg_pool2d_backward(c->din[0], g, d[0], d[1], d[2], d[3], d[4], d[5], d[7], d[8]);
}
static void max_fwd(grad_case *c) {
    const int *d = c->dims;
    max_pool2d_forward(c->out, c->index, c->in[0], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]);
}
static void max_bwd(grad_case *c, const float *g) {
    const int *d = c->dims;
    max_pool2d_backward(c->din[0], g, c->index, d[0], d[1], d[2], d[3], d[7], d[8]);
}
static void test_pool(const char *name, bool max, int K, int stride, int pad) {
    int N = 2, C = 2, H = 5, W = 6;
    int OH = (H + 2 * pad - K) / stride + 1, OW = (W + 2 * pad - K) / stride + 1;
    grad_case c = {.name = name, .forward = max ? max_fwd : avg_fwd, .backward = max ? max_bwd : avg_bwd,
                   .dims = {N, C, H, W, K, stride, pad, OH, OW}};
    size_t n = (size_t)N * C * H * W;
    case_input(&c, n);
    if (max) { /* a shuffled ladder of distinct values 0.05 apart */
        for (size_t i = 0; i < n; i++) c.in[0][i] = 0.05f * (float)i - 3.0f;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(uniform() * (double)(i + 1));
            float t = c.in[0][i]; c.in[0][i] = c.in[0][j]; c.in[0][j] = t;
        }
    }
    c.out_size = (size_t)N * C * OH * OW;
    c.out = buffer(c.out_size);
    c.index = calloc(c.out_size, sizeof(int32_t));
    check_case(&c);
}

static void gsum_fwd(grad_case *c) { global_sum_pool_forward(c->out, c->in[0], 2, 3, 10); }
static void gsum_bwd(grad_case *c, const float *g) { global_sum_pool_backward(c->din[0], g, 2, 3, 10); }
static void gmean_fwd(grad_case *c) { global_mean_pool_forward(c->out, c->in[0], 2, 3, 10); }
static void gmean_bwd(grad_case *c, const float *g) { global_mean_pool_backward(c->din[0], g, 2, 3, 10); }
static void test_global(const char *name, bool mean) {
    grad_case c = {.name = name, .forward = mean ? gmean_fwd : gsum_fwd, .backward = mean ? gmean_bwd : gsum_bwd};
    case_input(&c, 60);
    c.out_size = 6;
    c.out = buffer(6);
    check_case(&c);
}

static void nearest_fwd(grad_case *c) { upsample_nearest_forward(c->out, c->in[0], 2, 2, 3, 4, 2); }
static void nearest_bwd(grad_case *c, const float *g) { upsample_nearest_backward(c->din[0], g, 2, 2, 3, 4, 2); }
static void bilinear_fwd(grad_case *c) { upsample_bilinear_forward(c->out, c->in[0], 2, 2, 3, 4, c->dims[0], c->dims[1]); }
static void bilinear_bwd(grad_case *c, const float *g) { upsample_bilinear_backward(c->din[0], g, 2, 2, 3, 4, c->dims[0], c->dims[1]); }
static void test_upsample(const char *name, bool bilinear, int OH, int OW) {
    grad_case c = {.name = name, .forward = bilinear ? bilinear_fwd : nearest_fwd,
                   .backward = bilinear ? bilinear_bwd : nearest_bwd, .dims = {OH, OW}};
    case_input(&c, 48);
    c.out_size = (size_t)4 * OH * OW;
    c.out = buffer(c.out_size);
    check_case(&c);
}


/* ---- flow resampling: dims N C H W; inputs image, flow ---- */
static void flow_fwd(grad_case *c) { flow_sample_nchw_forward(c->out, c->in[0], c->in[1], c->dims[0], c->dims[1], c->dims[2], c->dims[3]); }
static void flow_bwd(grad_case *c, const float *g) {
    flow_sample_nchw_backward(c->din[0], c->din[1], g, c->in[0], c->in[1], c->dims[0], c->dims[1], c->dims[2], c->dims[3]);
}
/* Sample positions at whole cells plus 0.15..0.85 (the bilinear kinks are at whole cells,
 * more than 2h away), two cells beyond each border (clamped: gradient 0 there, and at least
 * 0.15 > h outside, so the central difference sees no kink either). */
static void test_flow_sample(const char *name, int N, int C, int H, int W) {
    grad_case c = {.name = name, .forward = flow_fwd, .backward = flow_bwd, .dims = {N, C, H, W}};
    case_input(&c, (size_t)N * C * H * W);
    case_input(&c, (size_t)N * 2 * H * W);
    int outside = 0;
    for (int n = 0; n < N; n++)
        for (int a = 0; a < 2; a++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int size = a ? H : W, p = a ? y : x;
                    int cell = -2 + (int)(uniform() * (size + 3)); /* -2 .. size */
                    float target = (float)cell + 0.15f + 0.7f * (float)uniform();
                    outside += target < 0.0f || target > (float)(size - 1);
                    c.in[1][(((size_t)n * 2 + a) * H + y) * W + x] = target - (float)p;
                }
    CHECK_MSG(outside > 0, "%s: no sample beyond the border", name);
    c.out_size = (size_t)N * C * H * W;
    c.out = buffer(c.out_size);
    check_case(&c);
}

/* ---- structure ---- */
static void add_fwd(grad_case *c) { add_forward(c->out, c->in[0], c->in[1], c->out_size); }
static void add_bwd(grad_case *c, const float *g) { add_backward(c->din[0], c->din[1], g, c->out_size); }
static void concat_fwd(grad_case *c) { concat_channels_forward(c->out, c->in[0], c->in[1], 2, 2, 3, 5); }
static void concat_bwd(grad_case *c, const float *g) { concat_channels_backward(c->din[0], c->din[1], g, 2, 2, 3, 5); }
static void test_structure(void) {
    grad_case a = {.name = "add", .forward = add_fwd, .backward = add_bwd};
    case_input(&a, 20);
    case_input(&a, 20);
    a.out_size = 20;
    a.out = buffer(20);
    check_case(&a);
    grad_case c = {.name = "concat_channels", .forward = concat_fwd, .backward = concat_bwd};
    case_input(&c, 20);
    case_input(&c, 30);
    c.out_size = 50;
    c.out = buffer(50);
    check_case(&c);
}

/* ---- self-attention: dims N C CQ P; inputs x wq bq wk bk wv bv gamma ---- */
static attention_weights attn_weights(grad_case *c) {
    return (attention_weights){c->in[1], c->in[2], c->in[3], c->in[4], c->in[5], c->in[6], c->in[7]};
}
static void attn_fwd(grad_case *c) {
    attention_weights w = attn_weights(c);
    self_attention_forward(c->out, c->save[0], c->save[1], c->save[2], c->save[3], c->in[0], &w,
                           c->dims[0], c->dims[1], c->dims[2], c->dims[3]);
}
static void attn_bwd(grad_case *c, const float *g) {
    attention_weights w = attn_weights(c);
    attention_grads d = {c->din[1], c->din[2], c->din[3], c->din[4], c->din[5], c->din[6], c->din[7]};
    CHECK_OK(self_attention_backward(c->din[0], &d, g, c->in[0], c->save[0], c->save[1], c->save[2],
                                     c->save[3], &w, c->dims[0], c->dims[1], c->dims[2], c->dims[3]));
}
static void test_attention(void) {
    int N = 2, C = 4, CQ = 2, P = 6;
    grad_case c = {.name = "self_attention", .forward = attn_fwd, .backward = attn_bwd, .dims = {N, C, CQ, P}};
    case_input(&c, (size_t)N * C * P);
    size_t sizes[7] = {(size_t)CQ * C, CQ, (size_t)CQ * C, CQ, (size_t)C * C, C, 1};
    for (int i = 0; i < 7; i++) case_input(&c, sizes[i]);
    c.in[7][0] = 0.7f; /* gamma: PyTorch starts it at 0, which would hide the attention path */
    c.save[0] = buffer((size_t)N * CQ * P);
    c.save[1] = buffer((size_t)N * CQ * P);
    c.save[2] = buffer((size_t)N * C * P);
    c.save[3] = buffer((size_t)N * P * P);
    c.out_size = (size_t)N * C * P;
    c.out = buffer(c.out_size);
    check_case(&c);
}

/* ---- losses: out is the scalar loss ---- */
static void l1_fwd(grad_case *c) { c->out[0] = l1_loss_forward(c->in[0], c->in[1], c->in_size[0]); }
static void l1_bwd(grad_case *c, const float *g) { l1_loss_backward(c->din[0], c->din[1], c->in[0], c->in[1], c->in_size[0], g[0]); }
static void mse_fwd(grad_case *c) { c->out[0] = mse_loss_forward(c->in[0], c->in[1], c->in_size[0]); }
static void mse_bwd(grad_case *c, const float *g) { mse_loss_backward(c->din[0], c->din[1], c->in[0], c->in[1], c->in_size[0], g[0]); }
static void hd_fwd(grad_case *c) { c->out[0] = hinge_d_loss_forward(c->in[0], c->in_size[0], c->in[1], c->in_size[1]); }
static void hd_bwd(grad_case *c, const float *g) {
    hinge_d_loss_backward(c->din[0], c->din[1], c->in[0], c->in_size[0], c->in[1], c->in_size[1], g[0]);
}
static void hg_fwd(grad_case *c) { c->out[0] = hinge_g_loss_forward(c->in[0], c->in_size[0]); }
static void hg_bwd(grad_case *c, const float *g) { hinge_g_loss_backward(c->din[0], c->in_size[0], g[0]); }
static void fm_fwd(grad_case *c) {
    const float *real[2] = {c->in[2], c->in[3]}, *fake[2] = {c->in[0], c->in[1]};
    size_t sizes[2] = {c->in_size[0], c->in_size[1]};
    c->out[0] = feature_matching_loss_forward(real, fake, sizes, 2);
}
static void fm_bwd(grad_case *c, const float *g) {
    const float *real[2] = {c->in[2], c->in[3]}, *fake[2] = {c->in[0], c->in[1]};
    float *dfake[2] = {c->din[0], c->din[1]};
    size_t sizes[2] = {c->in_size[0], c->in_size[1]};
    feature_matching_loss_backward(dfake, real, fake, sizes, 2, g[0]);
}
/* b = a + offset with |offset| >= 0.1: no element sits at the L1 kink. */
static void offset_copy(float *b, const float *a, size_t n) {
    float *offset = buffer(n);
    fill_away_from_zero(offset, n);
    for (size_t i = 0; i < n; i++) b[i] = a[i] + offset[i];
    free(offset);
}
static void test_losses(void) {
    grad_case l1 = {.name = "l1_loss", .forward = l1_fwd, .backward = l1_bwd};
    case_input(&l1, 30);
    case_input(&l1, 30);
    offset_copy(l1.in[1], l1.in[0], 30);
    l1.out_size = 1;
    l1.out = buffer(1);
    check_case(&l1);
    grad_case mse = {.name = "mse_loss", .forward = mse_fwd, .backward = mse_bwd};
    case_input(&mse, 30);
    case_input(&mse, 30);
    mse.out_size = 1;
    mse.out = buffer(1);
    check_case(&mse);
    grad_case hd = {.name = "hinge_d_loss", .forward = hd_fwd, .backward = hd_bwd};
    case_input(&hd, 20);
    case_input(&hd, 16);
    for (int i = 0; i < 20; i++) hd.in[0][i] = 1.0f + 1.5f * (hd.in[0][i] < 0 ? hd.in[0][i] - 0.1f : hd.in[0][i] + 0.1f);
    for (int i = 0; i < 16; i++) hd.in[1][i] = -1.0f + 1.5f * (hd.in[1][i] < 0 ? hd.in[1][i] - 0.1f : hd.in[1][i] + 0.1f);
    hd.out_size = 1;
    hd.out = buffer(1);
    check_case(&hd);
    grad_case hg = {.name = "hinge_g_loss", .forward = hg_fwd, .backward = hg_bwd};
    case_input(&hg, 20);
    hg.out_size = 1;
    hg.out = buffer(1);
    check_case(&hg);
    grad_case fm = {.name = "feature_matching_loss", .forward = fm_fwd, .backward = fm_bwd};
    case_input(&fm, 12);
    case_input(&fm, 18);
    case_input(&fm, 12);
    case_input(&fm, 18);
    offset_copy(fm.in[2], fm.in[0], 12);
    offset_copy(fm.in[3], fm.in[1], 18);
    fm.no_grad[2] = fm.no_grad[3] = true; /* real features are constants */
    fm.out_size = 1;
    fm.out = buffer(1);
    check_case(&fm);
}

int main(void) {
    test_conv("conv3x3_s1_p1", 2, 3, 5, 6, 4, 3, 1, 1, 1);
    test_conv("conv3x3_s2_p1_groups2", 1, 4, 7, 6, 6, 3, 2, 1, 2);
    test_conv("conv4x4_s2_p0", 1, 2, 8, 9, 3, 4, 2, 0, 1);
    test_conv("conv1x1", 2, 5, 3, 4, 3, 1, 1, 0, 1);
    test_conv("conv_depthwise3x3_m2", 2, 3, 5, 5, 6, 3, 1, 1, 3);
    test_conv("conv_depthwise3x3_s2", 1, 4, 6, 7, 4, 3, 2, 1, 4);
    /* large enough (16 channels x 9 taps x 32x32 = 147K column floats) that im2col and
     * col2im take the threaded path */
    test_conv("conv3x3_threaded_im2col", 1, 16, 32, 32, 4, 3, 1, 1, 1);
    test_linear();
    test_activation("relu", relu_fwd, relu_bwd);
    test_activation("leaky_relu", leaky_fwd, leaky_bwd);
    test_activation("tanh", tanh_fwd, tanh_bwd);
    test_activation("sigmoid", sigmoid_fwd, sigmoid_bwd);
    test_prelu();
    test_norm("instance_norm", 0);
    test_norm("instance_norm_affine", 1);
    test_norm("adain", 2);
    test_adain_relu();
    test_spectral_norm();
    test_pool("avg_pool2x2", false, 2, 2, 0);
    test_pool("avg_pool3x3_s1", false, 3, 1, 0);
    test_pool("max_pool3x3_s2_p1", true, 3, 2, 1);
    test_pool("max_pool2x2", true, 2, 2, 0);
    test_global("global_sum_pool", false);
    test_global("global_mean_pool", true);
    test_upsample("upsample_nearest2", false, 6, 8);
    test_upsample("upsample_bilinear2", true, 6, 8);
    test_upsample("upsample_bilinear_5x7", true, 5, 7);
    test_flow_sample("flow_sample", 2, 3, 5, 6);
    test_flow_sample("flow_sample_1x4", 1, 2, 4, 1); /* one column: x never moves */
    test_structure();
    test_attention();
    test_losses();
    return test_finish("test_nn_grad");
}
