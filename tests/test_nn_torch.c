/* nn/layers, nn/resblock and nn/optim against PyTorch: outputs and gradients of every op,
 * a whole residual block with AdaIN and spectral norm, Adam/AdamW steps and gradient
 * clipping.  The reference values come from scripts/fixtures/make_torch_fixtures.py
 * (torch 2.x on Debian) committed as tests/fixtures/torch_*.safetensors; no Python here.
 * Tolerance: |ours - torch| <= 1e-4 + 1e-4 |torch| per element (float rounding in a
 * different summation order; a wrong formula is off by far more). */
#include "test.h"

#include "nn/backend.h"
#include "nn/layers.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "nn/resblock.h"
#include "nn/safetensors.h"

#define ATOL 1e-4
#define RTOL 1e-4

static safetensors_file fixture;
static const char *prefix; /* case name */

static float *get(const char *name) {
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
    const safetensors_tensor *t = safetensors_find(&fixture, full);
    if (!t) { fprintf(stderr, "fixture lacks %s\n", full); exit(1); }
    float *data = calloc(t->count ? t->count : 1, sizeof(float));
    CHECK_OK(safetensors_read_f32(&fixture, full, data, t->count));
    return data;
}

static size_t count_of(const char *name) {
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
    const safetensors_tensor *t = safetensors_find(&fixture, full);
    return t ? t->count : 0;
}

static int dim_of(const char *name, int d) {
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
    const safetensors_tensor *t = safetensors_find(&fixture, full);
    return t && d < t->ndim ? (int)t->shape[d] : 0;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* Compares ours with the fixture tensor `name` and frees ours. */
static void expect(const char *name, float *ours, double scale_tol) {
    float *ref = get(name);
    size_t n = count_of(name), bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)ours[i] - ref[i]);
        if (err > worst) worst = err;
        if (!(err <= scale_tol * (ATOL + RTOL * fabs(ref[i])))) bad++;
    }
    CHECK_MSG(bad == 0, "%s.%s: %zu of %zu elements off, max error %g", prefix ? prefix : "", name, bad, n, worst);
    printf("%-24s %-10s max abs error %.2e\n", prefix ? prefix : "", name, worst);
    free(ref);
    free(ours);
}

static void test_conv(const char *name, int stride, int pad, int groups) {
    prefix = name;
    int N = dim_of("x", 0), C = dim_of("x", 1), H = dim_of("x", 2), W = dim_of("x", 3);
    int OC = dim_of("w", 0), K = dim_of("w", 2);
    conv2d_shape s;
    CHECK(conv2d_shape_init(&s, N, C, H, W, OC, K, K, stride, pad, groups));
    float *x = get("x"), *w = get("w"), *b = get("b"), *dout = get("dout");
    float *out = zeros(count_of("out")), *dx = zeros(count_of("x")), *dw = zeros(count_of("w")), *db = zeros(OC);
    CHECK(count_of("out") == (size_t)N * OC * s.OH * s.OW);
    CHECK_OK(conv2d_forward(out, x, w, b, &s));
    CHECK_OK(conv2d_backward(dx, dw, db, dout, x, w, &s));
    expect("out", out, 1);
    expect("d_x", dx, 1);
    expect("d_w", dw, 1);
    expect("d_b", db, 1);
    free(x), free(w), free(b), free(dout);
}

static void test_linear(void) {
    prefix = "linear";
    int N = dim_of("x", 0), I = dim_of("x", 1), O = dim_of("w", 0);
    float *x = get("x"), *w = get("w"), *b = get("b"), *dout = get("dout");
    float *out = zeros((size_t)N * O), *dx = zeros((size_t)N * I), *dw = zeros((size_t)O * I), *db = zeros(O);
    linear_forward(out, x, w, b, N, I, O);
    linear_backward(dx, dw, db, dout, x, w, N, I, O);
    expect("out", out, 1);
    expect("d_x", dx, 1);
    expect("d_w", dw, 1);
    expect("d_b", db, 1);
    free(x), free(w), free(b), free(dout);
}

static void test_activations(void) {
    const char *names[] = {"relu", "leaky_relu", "tanh", "sigmoid"};
    for (int k = 0; k < 4; k++) {
        prefix = names[k];
        size_t n = count_of("x");
        float *x = get("x"), *dout = get("dout"), *out = zeros(n), *dx = zeros(n);
        if (k == 0) { relu_forward(out, x, n); relu_backward(dx, dout, x, n); }
        if (k == 1) { leaky_relu_forward(out, x, 0.2f, n); leaky_relu_backward(dx, dout, x, 0.2f, n); }
        if (k == 2) { tanh_forward(out, x, n); tanh_backward(dx, dout, out, n); }
        if (k == 3) { sigmoid_forward(out, x, n); sigmoid_backward(dx, dout, out, n); }
        expect("out", out, 1);
        expect("d_x", dx, 1);
        free(x), free(dout);
    }
    prefix = "prelu";
    int N = dim_of("x", 0), C = dim_of("x", 1), HW = dim_of("x", 2) * dim_of("x", 3);
    size_t n = count_of("x");
    float *x = get("x"), *alpha = get("alpha"), *dout = get("dout");
    float *out = zeros(n), *dx = zeros(n), *dalpha = zeros(C);
    prelu_nchw_forward(out, x, alpha, N, C, HW);
    prelu_nchw_backward(dx, dalpha, dout, x, alpha, N, C, HW);
    expect("out", out, 1);
    expect("d_x", dx, 1);
    expect("d_alpha", dalpha, 1);
    free(x), free(alpha), free(dout);
}

static void test_norms(void) {
    const char *names[] = {"instance_norm", "instance_norm_affine", "adain"};
    for (int k = 0; k < 3; k++) {
        prefix = names[k];
        int N = dim_of("x", 0), C = dim_of("x", 1), HW = dim_of("x", 2) * dim_of("x", 3);
        size_t n = count_of("x");
        float *x = get("x"), *dout = get("dout"), *out = zeros(n), *dx = zeros(n);
        float *mean = zeros((size_t)N * C), *rstd = zeros((size_t)N * C);
        if (k < 2) {
            float *g = k ? get("gamma") : NULL, *b = k ? get("beta") : NULL;
            float *dg = zeros(C), *dbeta = zeros(C);
            instance_norm_forward(out, mean, rstd, x, g, b, N, C, HW, 1e-5f);
            instance_norm_backward(dx, k ? dg : NULL, k ? dbeta : NULL, dout, x, mean, rstd, g, N, C, HW);
            if (k) { expect("d_gamma", dg, 1); expect("d_beta", dbeta, 1); }
            else { free(dg); free(dbeta); }
            free(g), free(b);
        } else {
            float *s = get("scale"), *b = get("bias"), *ds = zeros((size_t)N * C), *db = zeros((size_t)N * C);
            adain_forward(out, mean, rstd, x, s, b, N, C, HW, 1e-5f);
            adain_backward(dx, ds, db, dout, x, mean, rstd, s, N, C, HW);
            expect("d_scale", ds, 1);
            expect("d_bias", db, 1);
            free(s), free(b);
        }
        expect("out", out, 1);
        expect("d_x", dx, 1);
        free(x), free(dout), free(mean), free(rstd);
    }
}

static void test_pooling_and_resampling(void) {
    const char *names[] = {"avg_pool", "max_pool", "global_sum", "global_mean", "upsample_nearest",
                           "upsample_bilinear", "upsample_bilinear_size"};
    for (int k = 0; k < 7; k++) {
        prefix = names[k];
        int N = dim_of("x", 0), C = dim_of("x", 1), H = dim_of("x", 2), W = dim_of("x", 3);
        int OH = dim_of("out", 2), OW = dim_of("out", 3);
        float *x = get("x"), *dout = get("dout"), *out = zeros(count_of("out")), *dx = zeros(count_of("x"));
        int32_t *argmax = calloc(count_of("out"), sizeof(int32_t));
        switch (k) {
        case 0: avg_pool2d_forward(out, x, N, C, H, W, 2, 2, OH, OW); avg_pool2d_backward(dx, dout, N, C, H, W, 2, 2, OH, OW); break;
        case 1: max_pool2d_forward(out, argmax, x, N, C, H, W, 3, 2, 1, OH, OW); max_pool2d_backward(dx, dout, argmax, N, C, H, W, OH, OW); break;
        case 2: global_sum_pool_forward(out, x, N, C, H * W); global_sum_pool_backward(dx, dout, N, C, H * W); break;
        case 3: global_mean_pool_forward(out, x, N, C, H * W); global_mean_pool_backward(dx, dout, N, C, H * W); break;
        case 4: upsample_nearest_forward(out, x, N, C, H, W, 2); upsample_nearest_backward(dx, dout, N, C, H, W, 2); break;
        default: upsample_bilinear_forward(out, x, N, C, H, W, OH, OW); upsample_bilinear_backward(dx, dout, N, C, H, W, OH, OW); break;
        }
        expect("out", out, 1);
        expect("d_x", dx, 1);
        free(x), free(dout), free(argmax);
    }
}

static void test_structure(void) {
    prefix = "add";
    size_t n = count_of("a");
    float *a = get("a"), *b = get("b"), *dout = get("dout"), *out = zeros(n), *da = zeros(n), *db = zeros(n);
    add_forward(out, a, b, n);
    add_backward(da, db, dout, n);
    expect("out", out, 1), expect("d_a", da, 1), expect("d_b", db, 1);
    free(a), free(b), free(dout);
    prefix = "concat";
    int N = dim_of("a", 0), Ca = dim_of("a", 1), Cb = dim_of("b", 1), HW = dim_of("a", 2) * dim_of("a", 3);
    a = get("a"), b = get("b"), dout = get("dout");
    out = zeros(count_of("out")), da = zeros(count_of("a")), db = zeros(count_of("b"));
    concat_channels_forward(out, a, b, N, Ca, Cb, HW);
    concat_channels_backward(da, db, dout, N, Ca, Cb, HW);
    expect("out", out, 1), expect("d_a", da, 1), expect("d_b", db, 1);
    free(a), free(b), free(dout);
}

static void test_attention(void) {
    prefix = "attention";
    int N = dim_of("x", 0), C = dim_of("x", 1), P = dim_of("x", 2) * dim_of("x", 3), CQ = dim_of("wq", 0);
    const char *names[8] = {"x", "wq", "bq", "wk", "bk", "wv", "bv", "gamma"};
    float *in[8], *grad[8];
    for (int i = 0; i < 8; i++) { in[i] = get(names[i]); grad[i] = zeros(count_of(names[i])); }
    float *dout = get("dout"), *out = zeros(count_of("out"));
    float *q = zeros((size_t)N * CQ * P), *k = zeros((size_t)N * CQ * P), *v = zeros((size_t)N * C * P), *attn = zeros((size_t)N * P * P);
    attention_weights w = {in[1], in[2], in[3], in[4], in[5], in[6], in[7]};
    attention_grads g = {grad[1], grad[2], grad[3], grad[4], grad[5], grad[6], grad[7]};
    self_attention_forward(out, q, k, v, attn, in[0], &w, N, C, CQ, P);
    CHECK_OK(self_attention_backward(grad[0], &g, dout, in[0], q, k, v, attn, &w, N, C, CQ, P));
    expect("out", out, 1);
    char dname[16];
    for (int i = 0; i < 8; i++) {
        snprintf(dname, sizeof dname, "d_%s", names[i]);
        expect(dname, grad[i], 1);
        free(in[i]);
    }
    free(dout), free(q), free(k), free(v), free(attn);
}

static float *scalar(float v) { float *p = zeros(1); p[0] = v; return p; }

static void test_losses(void) {
    for (int k = 0; k < 2; k++) {
        prefix = k ? "mse" : "l1";
        size_t n = count_of("a");
        float *a = get("a"), *b = get("b"), *dout = get("dout"), *da = zeros(n), *db = zeros(n);
        float loss = k ? mse_loss_forward(a, b, n) : l1_loss_forward(a, b, n);
        if (k) mse_loss_backward(da, db, a, b, n, dout[0]);
        else l1_loss_backward(da, db, a, b, n, dout[0]);
        expect("out", scalar(loss), 1), expect("d_a", da, 1), expect("d_b", db, 1);
        free(a), free(b), free(dout);
    }
    prefix = "hinge_d";
    size_t nr = count_of("real"), nf = count_of("fake");
    float *real = get("real"), *fake = get("fake"), *dout = get("dout"), *dr = zeros(nr), *df = zeros(nf);
    float loss = hinge_d_loss_forward(real, nr, fake, nf);
    hinge_d_loss_backward(dr, df, real, nr, fake, nf, dout[0]);
    expect("out", scalar(loss), 1), expect("d_real", dr, 1), expect("d_fake", df, 1);
    free(real), free(fake), free(dout);
    prefix = "hinge_g";
    nf = count_of("fake");
    fake = get("fake"), dout = get("dout"), df = zeros(nf);
    loss = hinge_g_loss_forward(fake, nf);
    hinge_g_loss_backward(df, nf, dout[0]);
    expect("out", scalar(loss), 1), expect("d_fake", df, 1);
    free(fake), free(dout);
    prefix = "feature_matching";
    float *f0 = get("f0"), *f1 = get("f1"), *r0 = get("r0"), *r1 = get("r1");
    dout = get("dout");
    size_t sizes[2] = {count_of("f0"), count_of("f1")};
    float *d0 = zeros(sizes[0]), *d1 = zeros(sizes[1]);
    const float *reals[2] = {r0, r1}, *fakes[2] = {f0, f1};
    float *dfakes[2] = {d0, d1};
    loss = feature_matching_loss_forward(reals, fakes, sizes, 2);
    feature_matching_loss_backward(dfakes, reals, fakes, sizes, 2, dout[0]);
    expect("out", scalar(loss), 1), expect("d_f0", d0, 1), expect("d_f1", d1, 1);
    free(f0), free(f1), free(r0), free(r1), free(dout);
}

/* PyTorch's spectral_norm module on a conv, train mode: power iteration, then conv. */
static void test_spectral_norm(void) {
    prefix = "sn";
    int N = dim_of("x", 0), C = dim_of("x", 1), H = dim_of("x", 2), W = dim_of("x", 3), OC = dim_of("w", 0);
    int cols = (int)(count_of("w") / (size_t)OC);
    conv2d_shape s;
    CHECK(conv2d_shape_init(&s, N, C, H, W, OC, 3, 3, 1, 1, 1));
    float *x = get("x"), *w = get("w"), *b = get("b"), *u = get("u0"), *dout = get("dout");
    float *v = zeros(cols), *w_sn = zeros(count_of("w")), *dw_sn = zeros(count_of("w"));
    float *out = zeros(count_of("out")), *dx = zeros(count_of("x")), *dw = zeros(count_of("w")), *db = zeros(OC);
    float sigma = spectral_norm_forward(w_sn, u, v, w, OC, cols, 1, 1e-12f);
    CHECK_OK(conv2d_forward(out, x, w_sn, b, &s));
    CHECK_OK(conv2d_backward(dx, dw_sn, db, dout, x, w_sn, &s));
    spectral_norm_backward(dw, dw_sn, w, u, v, sigma, OC, cols);
    expect("u1", u, 1);
    expect("out", out, 1);
    expect("d_x", dx, 1);
    expect("d_w", dw, 1);
    expect("d_b", db, 1);
    free(x), free(w), free(b), free(dout), free(v), free(w_sn), free(dw_sn);
}

static void test_resblock(void) {
    prefix = NULL;
    int N = dim_of("x", 0), C = dim_of("x", 1), H = dim_of("x", 2), W = dim_of("x", 3);
    resblock_adain rb;
    CHECK_OK(resblock_adain_init(&rb, N, C, H, W));
    float *v1 = zeros((size_t)C * 9), *v2 = zeros((size_t)C * 9);
    resblock_params p = {get("w1"), get("bias1"), get("u1"), v1, get("w2"), get("bias2"), get("u2"), v2};
    size_t act = count_of("x"), wsize = count_of("w1"), planes = (size_t)N * C;
    resblock_grads g = {zeros(wsize), zeros(C), zeros(wsize), zeros(C)};
    float *x = get("x"), *s1 = get("s1"), *b1 = get("b1"), *s2 = get("s2"), *b2 = get("b2"), *dout = get("dout");
    float *out = zeros(act), *dx = zeros(act), *ds1 = zeros(planes), *db1 = zeros(planes), *ds2 = zeros(planes), *db2 = zeros(planes);
    CHECK_OK(resblock_adain_forward(&rb, out, x, s1, b1, s2, b2, &p, true));
    CHECK_OK(resblock_adain_backward(&rb, dx, ds1, db1, ds2, db2, &g, dout, x, s1, s2, &p));
    /* two convs and two norms deep: allow 3x the per-op tolerance */
    expect("out", out, 3);
    expect("d_x", dx, 3);
    expect("d_s1", ds1, 3), expect("d_b1", db1, 3), expect("d_s2", ds2, 3), expect("d_b2", db2, 3);
    expect("d_w1", g.w1, 3), expect("d_bias1", g.bias1, 3), expect("d_w2", g.w2, 3), expect("d_bias2", g.bias2, 3);
    expect("u1_after", p.u1, 1), expect("u2_after", p.u2, 1);
    free(p.w1), free(p.bias1), free(p.w2), free(p.bias2), free(v1), free(v2);
    free(x), free(s1), free(b1), free(s2), free(b2), free(dout);
    resblock_adain_free(&rb);
}

static void test_adam(void) {
    prefix = NULL;
    float *p0 = get("p0"), *grads = get("grads");
    const char *names[3] = {"adam.params", "adam_wd.params", "adamw.params"};
    for (int k = 0; k < 3; k++) {
        adam_config c = {.lr = 1e-2f, .beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f,
                         .weight_decay = k ? 0.1f : 0.0f, .decoupled = k == 2};
        float p[10], m[10] = {0}, v[10] = {0}, *steps = zeros(50);
        memcpy(p, p0, sizeof p);
        for (int t = 1; t <= 5; t++) {
            adam_update(p, grads + (t - 1) * 10, m, v, 10, &c, t);
            memcpy(steps + (t - 1) * 10, p, sizeof p);
        }
        expect(names[k], steps, 1);
    }
    float *g = get("clip.g");
    float norm = grad_clip_norm(g, 10, 1.0f);
    expect("clip.out", g, 1);
    expect("clip.norm", scalar(norm), 1);
    free(p0), free(grads);
}

/* Learning-rate schedules: closed-form values. */
static void test_schedules(void) {
    lr_schedule constant = {.kind = LR_CONSTANT, .lr = 0.1f};
    CHECK_NEAR(lr_schedule_at(&constant, 1000), 0.1, 1e-7);
    lr_schedule step = {.kind = LR_STEP, .lr = 1.0f, .gamma = 0.5f, .step_size = 10};
    CHECK_NEAR(lr_schedule_at(&step, 9), 1.0, 1e-7);
    CHECK_NEAR(lr_schedule_at(&step, 10), 0.5, 1e-7);
    CHECK_NEAR(lr_schedule_at(&step, 35), 0.125, 1e-7);
    lr_schedule cosine = {.kind = LR_COSINE, .lr = 1.0f, .min_lr = 0.1f, .warmup_steps = 10, .total_steps = 110};
    CHECK_NEAR(lr_schedule_at(&cosine, 0), 0.1, 1e-6);   /* warmup: (t + 1) / 10 */
    CHECK_NEAR(lr_schedule_at(&cosine, 4), 0.5, 1e-6);
    CHECK_NEAR(lr_schedule_at(&cosine, 10), 1.0, 1e-6);
    CHECK_NEAR(lr_schedule_at(&cosine, 60), 0.55, 1e-6); /* half way: (1 + 0.1) / 2 */
    CHECK_NEAR(lr_schedule_at(&cosine, 110), 0.1, 1e-6);
    CHECK_NEAR(lr_schedule_at(&cosine, 500), 0.1, 1e-6);
}

/* The backend seam: a table installed with nn_backend_set receives the model's calls. */
static int seen_gemm, seen_conv_forward, seen_conv_backward;
static void counting_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc) {
    seen_gemm++;
    nn_backend_cpu()->gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
static vv_status counting_conv_forward(float *out, const float *in, const float *w, const float *b,
                                       const conv2d_shape *s) {
    seen_conv_forward++;
    return nn_backend_cpu()->conv2d_forward(out, in, w, b, s);
}
static vv_status counting_conv_backward(float *din, float *dw, float *db, const float *dout,
                                        const float *in, const float *w, const conv2d_shape *s) {
    seen_conv_backward++;
    return nn_backend_cpu()->conv2d_backward(din, dw, db, dout, in, w, s);
}
static void test_backend_seam(void) {
    static const nn_backend counting = {.name = "counting", .gemm = counting_gemm, .conv2d_forward = counting_conv_forward,
                                        .conv2d_backward = counting_conv_backward};
    nn_backend_set(&counting);
    CHECK(strcmp(nn_backend_current()->name, "counting") == 0);
    test_conv("conv", 1, 1, 1); /* same answers through the installed table */
    test_linear();
    CHECK(seen_conv_forward == 1 && seen_conv_backward == 1);
    CHECK(seen_gemm == 3);
    nn_backend_set(NULL);
    CHECK(nn_backend_current() == nn_backend_cpu());
}

static void open_fixture(const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", VV_SOURCE_DIR, file);
    safetensors_close(&fixture);
    vv_status s = safetensors_open(&fixture, path, 0);
    if (s != VV_OK) { fprintf(stderr, "%s: %s\n", path, vv_last_error()); exit(1); }
}

int main(void) {
    open_fixture("torch_ops.safetensors");
    CHECK(safetensors_metadata(&fixture, "torch") != NULL);
    test_conv("conv", 1, 1, 1);
    test_conv("conv_s2_g2", 2, 1, 2);
    test_conv("conv_dw", 1, 1, 4);
    test_conv("conv1x1", 1, 0, 1);
    test_linear();
    test_activations();
    test_norms();
    test_pooling_and_resampling();
    test_structure();
    test_attention();
    test_losses();
    test_spectral_norm();
    test_backend_seam();
    open_fixture("torch_resblock.safetensors");
    test_resblock();
    open_fixture("torch_adam.safetensors");
    test_adam();
    test_schedules();
    safetensors_close(&fixture);
    return test_finish("test_nn_torch");
}
