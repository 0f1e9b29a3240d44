/* The CUDA backend against the CPU one (built only with -DVV_CUDA=ON; scripts/gpu_check.sh).
 *
 * Every op of the backend table (nn/backend.h), forward and backward, runs on the same
 * random inputs through the CPU backend and through the backend under test, whose memory
 * entries carry the operands over and back; a short training chain (conv, AdaIN + ReLU,
 * conv, tanh, L1, Adam) takes several steps on both and must give the same losses and
 * parameters.  Tolerances (max |difference| over max |CPU value|, per output):
 *   elementwise ops, pooling, upsampling, concat,  1e-5  (expf/tanhf may differ by an ulp)
 *   spectral norm, Adam
 *   instance norm, AdaIN forward                   1e-5; backward 1e-4
 *   GEMM, linear, convolutions, self-attention     1e-4  (FP32, other sum orders)
 *   losses (sums in double on both)                1e-5 of the value
 *   training chain: each step's loss 1e-4, the parameters after it 1e-3 (but conv1's bias,
 *   whose gradient is float noise under AdaIN: 2 lr a step)
 *
 * Runs first with the CPU table in the place of the device (its entries must be the
 * nn/layers.h functions, its memory entries plain copies: exact agreement), then with the
 * CUDA table when a GPU is present; without one it says so and exits 77 (skipped): the
 * CUDA numerics are then unchecked.  Built twice: test_cuda (CUDA builds: the real GPU) and
 * test_cuda_emu (every build: the same kernels compiled as host C++ and run on CPU threads,
 * tests/test_cuda_emulation.h, which says what that can and cannot show). */
#include "test.h"

#include "nn/backend.h"
#include "nn/layers.h"
#include "nn/ops.h"
#include "nn/optim.h"

static const nn_backend *dev; /* the backend under test */
static const nn_backend *cpu;
static const char *dev_name;

/* A copy of host floats in the device backend's memory. */
static float *put(const float *host, size_t n) {
    float *d = dev->alloc((n ? n : 1) * sizeof(float));
    CHECK_MSG(d != NULL, "%s: alloc of %zu floats", dev_name, n);
    if (d) CHECK_OK(dev->upload(d, host, n * sizeof(float)));
    return d;
}

/* The device floats back in a new host array (after a sync). */
static float *get(const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    CHECK_OK(dev->sync());
    CHECK_OK(dev->download(h, d, n * sizeof(float)));
    return h;
}

static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static double worst; /* the largest relative error of the op being checked */

/* got (device, downloaded and freed here) against want (host). */
static void compare(const char *op, const char *what, const float *got_dev, const float *want, size_t n, double tol) {
    float *got = get(got_dev, n);
    double err = test_max_abs_diff(got, want, n), scale = max_abs(want, n);
    double rel = err / (scale > 0 ? scale : 1);
    CHECK_MSG(rel <= tol, "%s %s %s: max error %.3g of scale %.3g (tolerance %.0e)", dev_name, op, what, err, scale, tol);
    if (!(rel <= worst)) worst = rel;
    free(got);
}

static void report(const char *op) {
    printf("%-12s %-28s max error %.1e of the values' scale\n", dev_name, op, worst);
    worst = 0;
}

static void check_loss_value(const char *op, float got, float want) {
    CHECK_MSG(fabs((double)got - want) <= 1e-5 * fmax(fabs(want), 1e-3), "%s %s: %.9g, CPU %.9g", dev_name, op, got, want);
    double rel = fabs((double)got - want) / fmax(fabs(want), 1e-3);
    if (!(rel <= worst)) worst = rel;
}

/* ---- Elementwise, pooling, upsampling ---- */

static void check_unary(const char *op, void (*ref)(float *, const float *, size_t),
                        void (*fwd)(float *, const float *, size_t), size_t n, double tol) {
    float *x = test_random_floats(n, 3.0f), *y = malloc(n * sizeof(float));
    ref(y, x, n);
    float *dx = put(x, n), *dy = put(x, n); /* dy: overwritten */
    fwd(dy, dx, n);
    compare(op, "forward", dy, y, n, tol);
    dev->free(dx), dev->free(dy), free(x), free(y);
}

static void check_unary_backward(const char *op, void (*ref)(float *, const float *, const float *, size_t),
                                 void (*bwd)(float *, const float *, const float *, size_t), size_t n, bool from_output,
                                 double tol) {
    float *x = test_random_floats(n, 3.0f), *g = test_random_floats(n, 1.0f), *din = test_random_floats(n, 0.5f);
    if (from_output) /* tanh / sigmoid take their output, in (-1, 1) / (0, 1) */
        for (size_t i = 0; i < n; i++) x[i] = 0.3f * x[i];
    float *want = test_copy_floats(din, n);
    ref(want, g, x, n);
    float *d_x = put(x, n), *d_g = put(g, n), *d_din = put(din, n);
    bwd(d_din, d_g, d_x, n);
    compare(op, "backward (accumulated)", d_din, want, n, tol);
    dev->free(d_x), dev->free(d_g), dev->free(d_din), free(x), free(g), free(din), free(want);
}

static void test_elementwise(void) {
    size_t n = 100003; /* not a multiple of any block size */
    check_unary("relu", relu_forward, dev->relu_forward, n, 0);
    check_unary_backward("relu", relu_backward, dev->relu_backward, n, false, 0);
    report("relu");
    check_unary("tanh", tanh_forward, dev->tanh_forward, n, 1e-5);
    check_unary_backward("tanh", tanh_backward, dev->tanh_backward, n, true, 1e-5);
    report("tanh");
    check_unary("sigmoid", sigmoid_forward, dev->sigmoid_forward, n, 1e-5);
    check_unary_backward("sigmoid", sigmoid_backward, dev->sigmoid_backward, n, true, 1e-5);
    report("sigmoid");

    float *x = test_random_floats(n, 2.0f), *b = test_random_floats(n, 2.0f), *g = test_random_floats(n, 1.0f);
    float *want = malloc(n * sizeof(float)), *want_b = test_copy_floats(b, n);
    float *d_x = put(x, n), *d_b = put(b, n), *d_g = put(g, n), *d_out = put(x, n);
    leaky_relu_forward(want, x, 0.2f, n);
    dev->leaky_relu_forward(d_out, d_x, 0.2f, n);
    compare("leaky relu", "forward", d_out, want, n, 0);
    memcpy(want, b, n * sizeof(float));
    leaky_relu_backward(want, g, x, 0.2f, n);
    dev->leaky_relu_backward(d_b, d_g, d_x, 0.2f, n);
    compare("leaky relu", "backward", d_b, want, n, 1e-6);
    report("leaky relu 0.2");

    CHECK_OK(dev->upload(d_b, b, n * sizeof(float)));
    add_forward(want, x, b, n);
    dev->add_forward(d_out, d_x, d_b, n);
    compare("add", "forward", d_out, want, n, 0);
    memcpy(want, x, n * sizeof(float));
    add_backward(want, want_b, g, n);
    dev->add_backward(d_x, d_b, d_g, n);
    compare("add", "backward a", d_x, want, n, 0);
    compare("add", "backward b", d_b, want_b, n, 0);
    report("add");
    dev->free(d_x), dev->free(d_b), dev->free(d_g), dev->free(d_out);
    free(x), free(b), free(g), free(want), free(want_b);
}

static void check_avg_pool(int N, int C, int H, int W, int K, int stride) {
    int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    size_t n_in = (size_t)N * C * H * W, n_out = (size_t)N * C * OH * OW;
    float *x = test_random_floats(n_in, 1.0f), *g = test_random_floats(n_out, 1.0f), *din = test_random_floats(n_in, 0.5f);
    float *y = malloc(n_out * sizeof(float)), *want = test_copy_floats(din, n_in);
    avg_pool2d_forward(y, x, N, C, H, W, K, stride, OH, OW);
    avg_pool2d_backward(want, g, N, C, H, W, K, stride, OH, OW);
    float *d_x = put(x, n_in), *d_y = put(y, n_out), *d_g = put(g, n_out), *d_din = put(din, n_in);
    dev->avg_pool2d_forward(d_y, d_x, N, C, H, W, K, stride, OH, OW);
    dev->avg_pool2d_backward(d_din, d_g, N, C, H, W, K, stride, OH, OW);
    compare("avg pool", "forward", d_y, y, n_out, 1e-6);
    compare("avg pool", "backward", d_din, want, n_in, 1e-6);
    char name[64];
    snprintf(name, sizeof name, "avg pool K%d s%d %dx%d", K, stride, H, W);
    report(name);
    dev->free(d_x), dev->free(d_y), dev->free(d_g), dev->free(d_din);
    free(x), free(g), free(din), free(y), free(want);
}

static void check_upsample(int N, int C, int H, int W, int f) {
    size_t n_in = (size_t)N * C * H * W, n_out = n_in * f * f;
    float *x = test_random_floats(n_in, 1.0f), *g = test_random_floats(n_out, 1.0f), *din = test_random_floats(n_in, 0.5f);
    float *y = malloc(n_out * sizeof(float)), *want = test_copy_floats(din, n_in);
    upsample_nearest_forward(y, x, N, C, H, W, f);
    upsample_nearest_backward(want, g, N, C, H, W, f);
    float *d_x = put(x, n_in), *d_y = put(y, n_out), *d_g = put(g, n_out), *d_din = put(din, n_in);
    dev->upsample_nearest_forward(d_y, d_x, N, C, H, W, f);
    dev->upsample_nearest_backward(d_din, d_g, N, C, H, W, f);
    compare("upsample", "forward", d_y, y, n_out, 0);
    compare("upsample", "backward", d_din, want, n_in, 1e-6);
    char name[64];
    snprintf(name, sizeof name, "upsample x%d %dx%d", f, H, W);
    report(name);
    dev->free(d_x), dev->free(d_y), dev->free(d_g), dev->free(d_din);
    free(x), free(g), free(din), free(y), free(want);
}

static void check_global_sum(int N, int C, int HW) {
    size_t n_in = (size_t)N * C * HW, planes = (size_t)N * C;
    float *x = test_random_floats(n_in, 1.0f), *g = test_random_floats(planes, 1.0f), *din = test_random_floats(n_in, 0.5f);
    float *y = malloc(planes * sizeof(float)), *want = test_copy_floats(din, n_in);
    global_sum_pool_forward(y, x, N, C, HW);
    global_sum_pool_backward(want, g, N, C, HW);
    float *d_x = put(x, n_in), *d_y = put(y, planes), *d_g = put(g, planes), *d_din = put(din, n_in);
    dev->global_sum_pool_forward(d_y, d_x, N, C, HW);
    dev->global_sum_pool_backward(d_din, d_g, N, C, HW);
    compare("global sum", "forward", d_y, y, planes, 1e-6);
    compare("global sum", "backward", d_din, want, n_in, 0);
    report("global sum pool");
    dev->free(d_x), dev->free(d_y), dev->free(d_g), dev->free(d_din);
    free(x), free(g), free(din), free(y), free(want);
}

static void check_bilinear(int N, int C, int H, int W, int OH, int OW) {
    size_t n_in = (size_t)N * C * H * W, n_out = (size_t)N * C * OH * OW;
    float *x = test_random_floats(n_in, 1.0f), *g = test_random_floats(n_out, 1.0f), *din = test_random_floats(n_in, 0.5f);
    float *y = malloc(n_out * sizeof(float)), *want = test_copy_floats(din, n_in);
    upsample_bilinear_forward(y, x, N, C, H, W, OH, OW);
    upsample_bilinear_backward(want, g, N, C, H, W, OH, OW);
    float *d_x = put(x, n_in), *d_y = put(y, n_out), *d_g = put(g, n_out), *d_din = put(din, n_in);
    dev->upsample_bilinear_forward(d_y, d_x, N, C, H, W, OH, OW);
    dev->upsample_bilinear_backward(d_din, d_g, N, C, H, W, OH, OW);
    compare("bilinear", "forward", d_y, y, n_out, 1e-6);
    compare("bilinear", "backward", d_din, want, n_in, 1e-5);
    char name[64];
    snprintf(name, sizeof name, "bilinear %dx%d -> %dx%d", H, W, OH, OW);
    report(name);
    dev->free(d_x), dev->free(d_y), dev->free(d_g), dev->free(d_din);
    free(x), free(g), free(din), free(y), free(want);
}

static void check_concat_linear(void) {
    int N = 3, Ca = 4, Cb = 5, HW = 37;
    size_t na = (size_t)N * Ca * HW, nb = (size_t)N * Cb * HW, no = na + nb;
    float *a = test_random_floats(na, 1.0f), *b = test_random_floats(nb, 1.0f), *g = test_random_floats(no, 1.0f);
    float *y = malloc(no * sizeof(float)), *da = test_random_floats(na, 0.5f), *db = test_random_floats(nb, 0.5f);
    float *d_a = put(a, na), *d_b = put(b, nb), *d_g = put(g, no), *d_y = put(g, no), *d_da = put(da, na), *d_db = put(db, nb);
    concat_channels_forward(y, a, b, N, Ca, Cb, HW);
    concat_channels_backward(da, db, g, N, Ca, Cb, HW);
    dev->concat_channels_forward(d_y, d_a, d_b, N, Ca, Cb, HW);
    dev->concat_channels_backward(d_da, d_db, d_g, N, Ca, Cb, HW);
    compare("concat", "forward", d_y, y, no, 0);
    compare("concat", "backward a", d_da, da, na, 0);
    compare("concat", "backward b", d_db, db, nb, 0);
    report("concat channels");
    dev->free(d_a), dev->free(d_b), dev->free(d_g), dev->free(d_y), dev->free(d_da), dev->free(d_db);
    free(a), free(b), free(g), free(y), free(da), free(db);

    int in_dim = 70, out_dim = 33;
    size_t nx = (size_t)N * in_dim, nw = (size_t)out_dim * in_dim, ny = (size_t)N * out_dim;
    float *x = test_random_floats(nx, 1.0f), *w = test_random_floats(nw, 0.3f), *bias = test_random_floats(out_dim, 1.0f);
    float *gy = test_random_floats(ny, 1.0f), *out = malloc(ny * sizeof(float));
    float *dx = test_random_floats(nx, 0.1f), *dw = test_random_floats(nw, 0.1f), *dbias = test_random_floats(out_dim, 0.1f);
    float *d_x = put(x, nx), *d_w = put(w, nw), *d_bias = put(bias, out_dim), *d_gy = put(gy, ny), *d_out = put(gy, ny);
    float *d_dx = put(dx, nx), *d_dw = put(dw, nw), *d_dbias = put(dbias, out_dim);
    linear_forward(out, x, w, bias, N, in_dim, out_dim);
    linear_backward(dx, dw, dbias, gy, x, w, N, in_dim, out_dim);
    dev->linear_forward(d_out, d_x, d_w, d_bias, N, in_dim, out_dim);
    dev->linear_backward(d_dx, d_dw, d_dbias, d_gy, d_x, d_w, N, in_dim, out_dim);
    compare("linear", "forward", d_out, out, ny, 1e-4);
    compare("linear", "backward input", d_dx, dx, nx, 1e-4);
    compare("linear", "backward weight", d_dw, dw, nw, 1e-4);
    compare("linear", "backward bias", d_dbias, dbias, out_dim, 1e-5);
    report("linear");
    float *all_d[] = {d_x, d_w, d_bias, d_gy, d_out, d_dx, d_dw, d_dbias};
    for (size_t i = 0; i < sizeof all_d / sizeof all_d[0]; i++) dev->free(all_d[i]);
    float *all_h[] = {x, w, bias, gy, out, dx, dw, dbias};
    for (size_t i = 0; i < sizeof all_h / sizeof all_h[0]; i++) free(all_h[i]);
}

static void check_spectral_norm(int rows, int cols, int iterations) {
    size_t n = (size_t)rows * cols;
    float *w = test_random_floats(n, 0.5f), *u = test_random_floats(rows, 1.0f), *v = test_random_floats(cols, 1.0f);
    float *wsn = malloc(n * sizeof(float)), *g = test_random_floats(n, 1.0f), *dw = test_random_floats(n, 0.1f);
    float *d_w = put(w, n), *d_u = put(u, rows), *d_v = put(v, cols), *d_wsn = put(g, n), *d_g = put(g, n), *d_dw = put(dw, n);
    float sigma = spectral_norm_forward(wsn, u, v, w, rows, cols, iterations, 1e-12f);
    float d_sigma = dev->spectral_norm_forward(d_wsn, d_u, d_v, d_w, rows, cols, iterations, 1e-12f);
    check_loss_value("spectral norm sigma", d_sigma, sigma);
    compare("spectral norm", "weight / sigma", d_wsn, wsn, n, 1e-5);
    compare("spectral norm", "u", d_u, u, rows, 1e-5);
    compare("spectral norm", "v", d_v, v, cols, 1e-5);
    spectral_norm_backward(dw, g, w, u, v, sigma, rows, cols);
    CHECK_OK(dev->upload(d_u, u, rows * sizeof(float)));
    CHECK_OK(dev->upload(d_v, v, cols * sizeof(float)));
    dev->spectral_norm_backward(d_dw, d_g, d_w, d_u, d_v, sigma, rows, cols);
    compare("spectral norm", "backward", d_dw, dw, n, 1e-5);
    char name[64];
    snprintf(name, sizeof name, "spectral norm %dx%d it %d", rows, cols, iterations);
    report(name);
    dev->free(d_w), dev->free(d_u), dev->free(d_v), dev->free(d_wsn), dev->free(d_g), dev->free(d_dw);
    free(w), free(u), free(v), free(wsn), free(g), free(dw);
}

static void check_attention(int N, int C, int CQ, int P) {
    size_t cp = (size_t)N * C * P, qp = (size_t)N * CQ * P, pp = (size_t)N * P * P;
    /* weights: wq, wk [CQ,C], wv [C,C], biases, gamma in one array */
    size_t nq = (size_t)CQ * C, nv = (size_t)C * C, nw = 2 * nq + nv + 2 * (size_t)CQ + C + 1;
    float *wts = test_random_floats(nw, 0.4f), *x = test_random_floats(cp, 1.0f), *g = test_random_floats(cp, 1.0f);
    wts[nw - 1] = 0.7f; /* gamma */
    float *grads = test_random_floats(nw, 0.1f), *din = test_random_floats(cp, 0.1f);
    float *out = malloc(cp * sizeof(float)), *q = malloc(qp * sizeof(float)), *k = malloc(qp * sizeof(float));
    float *v = malloc(cp * sizeof(float)), *attn = malloc(pp * sizeof(float));
    float *want_grads = test_copy_floats(grads, nw), *want_din = test_copy_floats(din, cp);
    float *d_w = put(wts, nw), *d_x = put(x, cp), *d_g = put(g, cp), *d_grads = put(grads, nw), *d_din = put(din, cp);
    float *zeros = calloc(cp > pp ? cp : pp, sizeof(float)); /* outputs: overwritten */
    float *d_out = put(zeros, cp), *d_q = put(zeros, qp), *d_k = put(zeros, qp), *d_v = put(zeros, cp);
    float *d_attn = put(zeros, pp);
    free(zeros);
    /* the same layout in host and device memory */
    attention_weights hw, dw;
    attention_grads hg, dg;
    const float *bases[2] = {wts, d_w};
    float *gbases[2] = {want_grads, d_grads};
    for (int i = 0; i < 2; i++) {
        attention_weights *w = i ? &dw : &hw;
        attention_grads *gg = i ? &dg : &hg;
        const float *b = bases[i];
        float *gb = gbases[i];
        *w = (attention_weights){b, b + 2 * nq + nv, b + nq, b + 2 * nq + nv + CQ, b + 2 * nq, b + 2 * nq + nv + 2 * CQ,
                                 b + nw - 1};
        *gg = (attention_grads){gb, gb + 2 * nq + nv, gb + nq, gb + 2 * nq + nv + CQ, gb + 2 * nq,
                                gb + 2 * nq + nv + 2 * CQ, gb + nw - 1};
    }
    self_attention_forward(out, q, k, v, attn, x, &hw, N, C, CQ, P);
    CHECK_OK(self_attention_backward(want_din, &hg, g, x, q, k, v, attn, &hw, N, C, CQ, P));
    dev->self_attention_forward(d_out, d_q, d_k, d_v, d_attn, d_x, &dw, N, C, CQ, P);
    compare("attention", "forward", d_out, out, cp, 1e-4);
    compare("attention", "attention map", d_attn, attn, pp, 1e-4);
    CHECK_OK(dev->self_attention_backward(d_din, &dg, d_g, d_x, d_q, d_k, d_v, d_attn, &dw, N, C, CQ, P));
    compare("attention", "backward input", d_din, want_din, cp, 1e-4);
    compare("attention", "backward weights", d_grads, want_grads, nw, 1e-4);
    char name[64];
    snprintf(name, sizeof name, "self-attention C%d CQ%d P%d", C, CQ, P);
    report(name);
    float *all_d[] = {d_w, d_x, d_g, d_grads, d_din, d_out, d_q, d_k, d_v, d_attn};
    for (size_t i = 0; i < sizeof all_d / sizeof all_d[0]; i++) dev->free(all_d[i]);
    float *all_h[] = {wts, x, g, grads, din, out, q, k, v, attn, want_grads, want_din};
    for (size_t i = 0; i < sizeof all_h / sizeof all_h[0]; i++) free(all_h[i]);
}

/* ---- Norms ---- */

static void check_norms(int N, int C, int HW) {
    size_t n = (size_t)N * C * HW, planes = (size_t)N * C;
    float *x = test_random_floats(n, 2.0f), *g = test_random_floats(n, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] += 3.0f; /* an offset: the variance about a far mean */
    float *gamma = test_random_floats(C, 1.0f), *beta = test_random_floats(C, 1.0f);
    float *scale = test_random_floats(planes, 1.5f), *bias = test_random_floats(planes, 1.0f);
    float *y = malloc(n * sizeof(float)), *mean = malloc(planes * sizeof(float)), *rstd = malloc(planes * sizeof(float));
    float *din0 = test_random_floats(n, 0.1f), *dg0 = test_random_floats(planes, 0.1f), *db0 = test_random_floats(planes, 0.1f);
    float *d_x = put(x, n), *d_g = put(g, n), *d_y = put(x, n), *d_mean = put(x, planes), *d_rstd = put(x, planes);
    float *d_gamma = put(gamma, C), *d_beta = put(beta, C), *d_scale = put(scale, planes), *d_bias = put(bias, planes);
    float *d_din = put(din0, n), *d_dg = put(dg0, planes), *d_db = put(db0, planes);
    float *din = test_copy_floats(din0, n), *dg = test_copy_floats(dg0, planes), *db = test_copy_floats(db0, planes);
    char name[64];

    /* instance norm, affine */
    instance_norm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, 1e-5f);
    dev->instance_norm_forward(d_y, d_mean, d_rstd, d_x, d_gamma, d_beta, N, C, HW, 1e-5f);
    compare("instance norm", "forward", d_y, y, n, 1e-5);
    compare("instance norm", "mean", d_mean, mean, planes, 1e-6);
    compare("instance norm", "rstd", d_rstd, rstd, planes, 1e-5);
    instance_norm_backward(din, dg, db, g, x, mean, rstd, gamma, N, C, HW);
    CHECK_OK(dev->upload(d_mean, mean, planes * sizeof(float))); /* the CPU's statistics: backward alone */
    CHECK_OK(dev->upload(d_rstd, rstd, planes * sizeof(float)));
    dev->instance_norm_backward(d_din, d_dg, d_db, d_g, d_x, d_mean, d_rstd, d_gamma, N, C, HW);
    compare("instance norm", "backward input", d_din, din, n, 1e-4);
    compare("instance norm", "backward gamma", d_dg, dg, C, 1e-4);
    compare("instance norm", "backward beta", d_db, db, C, 1e-4);
    snprintf(name, sizeof name, "instance norm %dx%dx%d", N, C, HW);
    report(name);

    /* AdaIN, plain and with the fused ReLU */
    for (int relu = 0; relu < 2; relu++) {
        memcpy(din, din0, n * sizeof(float)), memcpy(dg, dg0, planes * sizeof(float)), memcpy(db, db0, planes * sizeof(float));
        CHECK_OK(dev->upload(d_din, din0, n * sizeof(float)));
        CHECK_OK(dev->upload(d_dg, dg0, planes * sizeof(float)));
        CHECK_OK(dev->upload(d_db, db0, planes * sizeof(float)));
        (relu ? adain_relu_forward : adain_forward)(y, mean, rstd, x, scale, bias, N, C, HW, 1e-5f);
        (relu ? dev->adain_relu_forward : dev->adain_forward)(d_y, d_mean, d_rstd, d_x, d_scale, d_bias, N, C, HW, 1e-5f);
        compare(relu ? "adain relu" : "adain", "forward", d_y, y, n, 1e-5);
        CHECK_OK(dev->upload(d_mean, mean, planes * sizeof(float)));
        CHECK_OK(dev->upload(d_rstd, rstd, planes * sizeof(float)));
        CHECK_OK(dev->upload(d_y, y, n * sizeof(float)));
        if (relu) {
            adain_relu_backward(din, dg, db, g, y, x, mean, rstd, scale, N, C, HW);
            dev->adain_relu_backward(d_din, d_dg, d_db, d_g, d_y, d_x, d_mean, d_rstd, d_scale, N, C, HW);
        } else {
            adain_backward(din, dg, db, g, x, mean, rstd, scale, N, C, HW);
            dev->adain_backward(d_din, d_dg, d_db, d_g, d_x, d_mean, d_rstd, d_scale, N, C, HW);
        }
        compare(relu ? "adain relu" : "adain", "backward input", d_din, din, n, 1e-4);
        compare(relu ? "adain relu" : "adain", "backward scale", d_dg, dg, planes, 1e-4);
        compare(relu ? "adain relu" : "adain", "backward bias", d_db, db, planes, 1e-4);
        snprintf(name, sizeof name, "%s %dx%dx%d", relu ? "adain+relu" : "adain", N, C, HW);
        report(name);
    }
    float *all_d[] = {d_x, d_g, d_y, d_mean, d_rstd, d_gamma, d_beta, d_scale, d_bias, d_din, d_dg, d_db};
    for (size_t i = 0; i < sizeof all_d / sizeof all_d[0]; i++) dev->free(all_d[i]);
    float *all_h[] = {x, g, gamma, beta, scale, bias, y, mean, rstd, din0, dg0, db0, din, dg, db};
    for (size_t i = 0; i < sizeof all_h / sizeof all_h[0]; i++) free(all_h[i]);
}

/* ---- GEMM and convolution ---- */

static void check_gemm(const nn_backend *b, bool device_pointers, bool ta, bool tb, int M, int N, int K, float beta) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *a = test_random_floats(na, 1.0f), *bm = test_random_floats(nb, 1.0f), *c = test_random_floats(nc, 1.0f);
    float *want = test_copy_floats(c, nc);
    cpu->gemm(ta, tb, M, N, K, 0.75f, a, lda, bm, ldb, beta, want, ldc);
    char what[96];
    snprintf(what, sizeof what, "%c%c M%d N%d K%d beta %g", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, beta);
    if (device_pointers) {
        float *d_a = put(a, na), *d_b = put(bm, nb), *d_c = put(c, nc);
        b->gemm(ta, tb, M, N, K, 0.75f, d_a, lda, d_b, ldb, beta, d_c, ldc);
        compare("gemm", what, d_c, want, nc, 1e-4); /* the gaps of ldc must be untouched too */
        dev->free(d_a), dev->free(d_b), dev->free(d_c);
    } else {
        b->gemm(ta, tb, M, N, K, 0.75f, a, lda, bm, ldb, beta, c, ldc);
        double err = test_max_abs_diff(c, want, nc), scale = max_abs(want, nc);
        CHECK_MSG(err <= 1e-4 * scale, "%s gemm %s: max error %.3g of scale %.3g", b->name, what, err, scale);
        if (!(err / scale <= worst)) worst = err / scale;
    }
    free(a), free(bm), free(c), free(want);
}

typedef struct conv_case {
    int N, C, H, W, OC, K, stride, pad, groups;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 3, 11, 9, 4, 3, 1, 1, 1},   /* 3x3 same */
    {2, 5, 12, 10, 6, 3, 2, 1, 1},  /* strided */
    {2, 6, 7, 8, 5, 1, 1, 0, 1},    /* 1x1: the pointwise path */
    {1, 4, 9, 9, 6, 3, 1, 1, 2},    /* groups */
    {2, 4, 8, 8, 4, 3, 1, 1, 4},    /* depthwise */
    {1, 3, 16, 16, 8, 7, 1, 3, 1},  /* 7x7 */
    {2, 8, 12, 12, 8, 4, 2, 1, 1},  /* even kernel, stride 2 */
    {1, 16, 32, 32, 16, 3, 1, 1, 1} /* one a little larger */
};

static void check_conv(const nn_backend *b, bool device_pointers, const conv_case *k) {
    conv2d_shape s;
    CHECK(conv2d_shape_init(&s, k->N, k->C, k->H, k->W, k->OC, k->K, k->K, k->stride, k->pad, k->groups));
    size_t n_in = (size_t)s.N * s.C * s.H * s.W, n_w = (size_t)s.OC * (s.C / s.groups) * s.KH * s.KW;
    size_t n_out = (size_t)s.N * s.OC * s.OH * s.OW;
    float *x = test_random_floats(n_in, 1.0f), *w = test_random_floats(n_w, 0.5f), *bias = test_random_floats(s.OC, 0.5f);
    float *g = test_random_floats(n_out, 1.0f), *y = malloc(n_out * sizeof(float));
    float *din = test_random_floats(n_in, 0.1f), *dw = test_random_floats(n_w, 0.1f), *dbias = test_random_floats(s.OC, 0.1f);
    float *want_din = test_copy_floats(din, n_in), *want_dw = test_copy_floats(dw, n_w), *want_db = test_copy_floats(dbias, s.OC);
    CHECK_OK(cpu->conv2d_forward(y, x, w, bias, &s));
    CHECK_OK(cpu->conv2d_backward(want_din, want_dw, want_db, g, x, w, &s));
    char what[96];
    snprintf(what, sizeof what, "%d->%d %dx%d K%d s%d p%d g%d", s.C, s.OC, s.H, s.W, s.KH, s.stride, s.pad, s.groups);
    if (device_pointers) {
        float *d_x = put(x, n_in), *d_w = put(w, n_w), *d_bias = put(bias, s.OC), *d_g = put(g, n_out);
        float *d_y = put(g, n_out), *d_din = put(din, n_in), *d_dw = put(dw, n_w), *d_db = put(dbias, s.OC);
        CHECK_OK(b->conv2d_forward(d_y, d_x, d_w, d_bias, &s));
        CHECK_OK(b->conv2d_backward(d_din, d_dw, d_db, d_g, d_x, d_w, &s));
        compare("conv", what, d_y, y, n_out, 1e-4);
        compare("conv backward input", what, d_din, want_din, n_in, 1e-4);
        compare("conv backward weight", what, d_dw, want_dw, n_w, 1e-4);
        compare("conv backward bias", what, d_db, want_db, s.OC, 1e-4);
        float *all[] = {d_x, d_w, d_bias, d_g, d_y, d_din, d_dw, d_db};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dev->free(all[i]);
    } else { /* host pointers (the staged backend) */
        float *got = malloc(n_out * sizeof(float));
        CHECK_OK(b->conv2d_forward(got, x, w, bias, &s));
        CHECK_OK(b->conv2d_backward(din, dw, dbias, g, x, w, &s));
        const float *pairs[][2] = {{got, y}, {din, want_din}, {dw, want_dw}, {dbias, want_db}};
        size_t sizes[] = {n_out, n_in, n_w, (size_t)s.OC};
        for (int i = 0; i < 4; i++) {
            double err = test_max_abs_diff(pairs[i][0], pairs[i][1], sizes[i]), scale = max_abs(pairs[i][1], sizes[i]);
            CHECK_MSG(err <= 1e-4 * scale, "%s conv %s output %d: max error %.3g of scale %.3g", b->name, what, i, err, scale);
            if (!(err / scale <= worst)) worst = err / scale;
        }
        free(got);
    }
    float *all_h[] = {x, w, bias, g, y, din, dw, dbias, want_din, want_dw, want_db};
    for (size_t i = 0; i < sizeof all_h / sizeof all_h[0]; i++) free(all_h[i]);
}

static void test_gemm_conv(void) {
    for (int t = 0; t < 4; t++) check_gemm(dev, true, t & 1, t & 2, 37, 29, 53, t == 3 ? 0.0f : 0.5f);
    check_gemm(dev, true, false, false, 7, 5, 0, 0.5f); /* K = 0: C = beta C */
    check_gemm(dev, true, false, true, 256, 192, 300, 1.0f);
    report("gemm");
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) check_conv(dev, true, &conv_cases[i]);
    report("conv forward + backward");
}

/* ---- Losses and Adam ---- */


static void test_losses(void) {
    size_t n = 70001, nf = 333;
    float *a = test_random_floats(n, 2.0f), *b = test_random_floats(n, 2.0f), *da0 = test_random_floats(n, 0.1f), *db0 = test_random_floats(n, 0.1f);
    float *d_a = put(a, n), *d_b = put(b, n), *d_da = put(da0, n), *d_db = put(db0, n);
    float *da = test_copy_floats(da0, n), *db = test_copy_floats(db0, n);
    check_loss_value("l1", dev->l1_loss_forward(d_a, d_b, n), l1_loss_forward(a, b, n));
    l1_loss_backward(da, db, a, b, n, 1.5f);
    dev->l1_loss_backward(d_da, d_db, d_a, d_b, n, 1.5f);
    compare("l1", "backward a", d_da, da, n, 1e-5);
    compare("l1", "backward b", d_db, db, n, 1e-5);
    report("l1 loss");
    check_loss_value("mse", dev->mse_loss_forward(d_a, d_b, n), mse_loss_forward(a, b, n));
    mse_loss_backward(da, db, a, b, n, 0.7f);
    dev->mse_loss_backward(d_da, d_db, d_a, d_b, n, 0.7f);
    compare("mse", "backward a", d_da, da, n, 1e-5);
    compare("mse", "backward b", d_db, db, n, 1e-5);
    report("mse loss");
    /* hinge: scores around the hinge (a's first n and b's first nf as real and fake) */
    check_loss_value("hinge d", dev->hinge_d_loss_forward(d_a, n, d_b, nf), hinge_d_loss_forward(a, n, b, nf));
    hinge_d_loss_backward(da, db, a, n, b, nf, 1.0f);
    dev->hinge_d_loss_backward(d_da, d_db, d_a, n, d_b, nf, 1.0f);
    compare("hinge d", "backward real", d_da, da, n, 1e-5);
    compare("hinge d", "backward fake", d_db, db, n, 1e-5);
    check_loss_value("hinge g", dev->hinge_g_loss_forward(d_b, nf), hinge_g_loss_forward(b, nf));
    hinge_g_loss_backward(db, nf, 2.0f);
    dev->hinge_g_loss_backward(d_db, nf, 2.0f);
    compare("hinge g", "backward", d_db, db, n, 1e-5);
    report("hinge losses");
    dev->free(d_a), dev->free(d_b), dev->free(d_da), dev->free(d_db);
    free(a), free(b), free(da0), free(db0), free(da), free(db);
}

static void test_adam(void) {
    size_t n = 50021;
    for (int variant = 0; variant < 3; variant++) {
        adam_config c = adam_config_default();
        c.lr = 2e-3f;
        if (variant == 1) c.weight_decay = 0.01f; /* Adam's L2 */
        if (variant == 2) c.weight_decay = 0.05f, c.decoupled = true, c.beta1 = 0.0f; /* AdamW */
        float *p = test_random_floats(n, 1.0f), *m = test_random_floats(n, 0.01f), *v = test_random_floats(n, 0.01f);
        for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
        float *d_p = put(p, n), *d_m = put(m, n), *d_v = put(v, n), *g = NULL, *d_g = NULL;
        for (long t = 1; t <= 4; t++) {
            g = test_random_floats(n, 1.0f);
            d_g = put(g, n);
            adam_update(p, g, m, v, n, &c, t);
            dev->adam_update(d_p, d_g, d_m, d_v, n, &c, t);
            dev->free(d_g), free(g);
        }
        compare("adam", "parameters", d_p, p, n, 1e-5);
        compare("adam", "first moment", d_m, m, n, 1e-5);
        compare("adam", "second moment", d_v, v, n, 1e-5);
        dev->free(d_p), dev->free(d_m), dev->free(d_v), free(p), free(m), free(v);
    }
    report("adam (4 steps, 3 configs)");
}

/* ---- A few training steps through the table alone ----
 * y = tanh(conv2(adain_relu(conv1(x), s, b))), loss = L1(y, target); conv weights, biases
 * and the AdaIN scale and bias are trained by Adam.  Runs with whichever backend `b` is,
 * its memory holding everything; the losses of each step to loss[]. */
#define CHAIN_LR 1e-2f

typedef struct chain_sizes {
    int N, C, F, H, W;
} chain_sizes;

static void training_chain(const nn_backend *b, const chain_sizes *z, int steps, float *loss, float **params_out,
                           size_t *count_out) {
    conv2d_shape s1, s2;
    CHECK(conv2d_shape_init(&s1, z->N, z->C, z->H, z->W, z->F, 3, 3, 1, 1, 1));
    CHECK(conv2d_shape_init(&s2, z->N, z->F, z->H, z->W, z->C, 3, 3, 1, 1, 1));
    size_t hw = (size_t)z->H * z->W, nx = (size_t)z->N * z->C * hw, nh = (size_t)z->N * z->F * hw;
    size_t nw1 = (size_t)z->F * z->C * 9, nw2 = (size_t)z->C * z->F * 9, planes = (size_t)z->N * z->F;
    /* parameters: w1, b1, w2, b2, scale, bias in one array */
    size_t off_b1 = nw1, off_w2 = off_b1 + z->F, off_b2 = off_w2 + nw2, off_s = off_b2 + z->C, off_bias = off_s + planes;
    size_t np = off_bias + planes;
    test_rng_seed(77);
    float *p0 = test_random_floats(np, 0.3f), *x = test_random_floats(nx, 1.0f), *target = test_random_floats(nx, 0.8f);
    for (size_t i = 0; i < planes; i++) p0[off_s + i] += 1.0f;
    float *zeros = calloc(np > nh ? np : nh, sizeof(float));
    /* in b's memory */
    float *P = b->alloc(np * sizeof(float)), *G = b->alloc(np * sizeof(float)), *M = b->alloc(np * sizeof(float));
    float *V = b->alloc(np * sizeof(float)), *X = b->alloc(nx * sizeof(float)), *T = b->alloc(nx * sizeof(float));
    float *H1 = b->alloc(nh * sizeof(float)), *A1 = b->alloc(nh * sizeof(float)), *Y = b->alloc(nx * sizeof(float));
    float *O = b->alloc(nx * sizeof(float)), *dO = b->alloc(nx * sizeof(float)), *dY = b->alloc(nx * sizeof(float));
    float *dA1 = b->alloc(nh * sizeof(float)), *dH1 = b->alloc(nh * sizeof(float));
    float *mean = b->alloc(planes * sizeof(float)), *rstd = b->alloc(planes * sizeof(float));
    CHECK(P && G && M && V && X && T && H1 && A1 && Y && O && dO && dY && dA1 && dH1 && mean && rstd);
    if (!(P && G && M && V && X && T && H1 && A1 && Y && O && dO && dY && dA1 && dH1 && mean && rstd)) return;
    CHECK_OK(b->upload(P, p0, np * sizeof(float)));
    CHECK_OK(b->zero(M, np * sizeof(float)));
    CHECK_OK(b->zero(V, np * sizeof(float)));
    CHECK_OK(b->upload(X, x, nx * sizeof(float)));
    CHECK_OK(b->upload(T, target, nx * sizeof(float)));
    adam_config c = adam_config_default();
    c.lr = CHAIN_LR;
    for (int step = 0; step < steps; step++) {
        CHECK_OK(b->conv2d_forward(H1, X, P, P + off_b1, &s1));
        b->adain_relu_forward(A1, mean, rstd, H1, P + off_s, P + off_bias, z->N, z->F, (int)hw, 1e-5f);
        CHECK_OK(b->conv2d_forward(Y, A1, P + off_w2, P + off_b2, &s2));
        b->tanh_forward(O, Y, nx);
        loss[step] = b->l1_loss_forward(O, T, nx);
        CHECK_OK(b->zero(G, np * sizeof(float)));
        CHECK_OK(b->zero(dO, nx * sizeof(float)));
        CHECK_OK(b->zero(dY, nx * sizeof(float)));
        CHECK_OK(b->zero(dA1, nh * sizeof(float)));
        CHECK_OK(b->zero(dH1, nh * sizeof(float)));
        b->l1_loss_backward(dO, NULL, O, T, nx, 1.0f);
        b->tanh_backward(dY, dO, O, nx);
        CHECK_OK(b->conv2d_backward(dA1, G + off_w2, G + off_b2, dY, A1, P + off_w2, &s2));
        b->adain_relu_backward(dH1, G + off_s, G + off_bias, dA1, A1, H1, mean, rstd, P + off_s, z->N, z->F, (int)hw);
        CHECK_OK(b->conv2d_backward(NULL, G, G + off_b1, dH1, X, P, &s1));
        b->adam_update(P, G, M, V, np, &c, step + 1);
        CHECK_OK(b->sync());
    }
    float *params = malloc(np * sizeof(float));
    CHECK_OK(b->download(params, P, np * sizeof(float)));
    *params_out = params;
    *count_out = np;
    float *all[] = {P, G, M, V, X, T, H1, A1, Y, O, dO, dY, dA1, dH1, mean, rstd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) b->free(all[i]);
    free(p0), free(x), free(target), free(zeros);
}

static void test_training_steps(void) {
    enum { STEPS = 5 };
    chain_sizes z = {2, 3, 16, 24, 20};
    float loss_cpu[STEPS], loss_dev[STEPS];
    float *p_cpu = NULL, *p_dev = NULL;
    size_t n_cpu = 0, n_dev = 0;
    training_chain(cpu, &z, STEPS, loss_cpu, &p_cpu, &n_cpu);
    training_chain(dev, &z, STEPS, loss_dev, &p_dev, &n_dev);
    CHECK(n_cpu == n_dev && n_cpu > 0);
    CHECK_MSG(loss_cpu[STEPS - 1] < loss_cpu[0], "the chain does not learn: %g -> %g", loss_cpu[0], loss_cpu[STEPS - 1]);
    for (int i = 0; i < STEPS; i++) {
        printf("%-12s training step %d: loss %.7f, CPU %.7f\n", dev_name, i + 1, loss_dev[i], loss_cpu[i]);
        CHECK_MSG(fabs((double)loss_dev[i] - loss_cpu[i]) <= 1e-4 * fabs(loss_cpu[i]), "step %d loss %.7g vs CPU %.7g",
                  i + 1, loss_dev[i], loss_cpu[i]);
    }
    if (p_cpu && p_dev && n_cpu == n_dev) {
        /* conv1's bias feeds AdaIN, which removes each plane's mean: its gradient is zero but
         * for float noise, and Adam moves it by up to lr a step in the noise's direction
         * (docs/TRAINING.md): up to 2 lr a step apart.  The rest within 1e-3. */
        size_t b1 = (size_t)z.F * z.C * 9, F = (size_t)z.F;
        double scale = max_abs(p_cpu, n_cpu);
        double err = fmax(test_max_abs_diff(p_dev, p_cpu, b1), test_max_abs_diff(p_dev + b1 + F, p_cpu + b1 + F, n_cpu - b1 - F));
        double err_b1 = test_max_abs_diff(p_dev + b1, p_cpu + b1, F);
        CHECK_MSG(err <= 1e-3 * scale, "parameters after %d steps: max error %.3g of scale %.3g", STEPS, err, scale);
        CHECK_MSG(err_b1 <= 2 * STEPS * CHAIN_LR, "conv1 bias after %d steps: %.3g apart", STEPS, err_b1);
        printf("%-12s parameters after %d steps: max error %.1e of their scale (conv1's bias %.1e apart)\n", dev_name,
               STEPS, err / scale, err_b1);
    }
    free(p_cpu), free(p_dev);
}

static void run_all(void) {
    test_elementwise();
    check_avg_pool(2, 3, 16, 12, 2, 2);
    check_avg_pool(1, 4, 11, 9, 3, 2); /* overlapping windows */
    check_upsample(2, 3, 5, 7, 2);
    check_upsample(1, 2, 4, 3, 3);
    check_global_sum(2, 5, 1000);
    check_bilinear(2, 3, 5, 7, 10, 14);  /* x2 up */
    check_bilinear(1, 2, 7, 9, 16, 20);  /* odd factors */
    check_bilinear(1, 2, 12, 10, 5, 4);  /* down */
    check_concat_linear();
    check_spectral_norm(16, 72, 1);
    check_spectral_norm(24, 9, 0);
    check_attention(2, 8, 2, 36);
    check_norms(2, 5, 81);
    check_norms(1, 3, 128 * 128); /* planes larger than a block */
    test_gemm_conv();
    test_losses();
    test_adam();
    test_training_steps();
}

int main(void) {
    cpu = nn_backend_cpu();
    /* 1. The CPU table as the device: its entries against the nn/layers.h functions. */
    dev = cpu;
    dev_name = "cpu table";
    run_all();
#ifdef VV_HAVE_CUDA
    /* 2. The GPU, when there is one. */
    const char *why = "";
    int count = nn_cuda_device_count(&why);
    if (count <= 0) {
        test_skip("test_cuda: no CUDA GPU here (%s): the CUDA backend's numerics were not checked "
                  "(scripts/gpu_check.sh on a GPU machine)", why);
        return test_finish("test_cuda");
    }
    vv_status s = nn_cuda_init(0);
    CHECK_MSG(s == VV_OK, "nn_cuda_init: %s", vv_last_error());
    if (s != VV_OK) return test_finish("test_cuda");
    printf("GPU: %s\n", nn_cuda_device_name());
    dev = nn_backend_cuda();
    dev_name = "cuda";
    run_all();
    /* 3. The staged table (host pointers, what --device cuda sets). */
    const nn_backend *staged = nn_backend_cuda_staged();
    dev = cpu; /* host memory */
    dev_name = "cuda-staged";
    check_gemm(staged, false, false, true, 256, 192, 300, 1.0f); /* above the staging threshold */
    check_gemm(staged, false, true, false, 8, 8, 8, 0.5f);      /* below it: the CPU */
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) check_conv(staged, false, &conv_cases[i]);
    report("staged gemm + conv");
    long gemms = 0, convs = 0, fallbacks = 0;
    nn_cuda_counts(&gemms, &convs, &fallbacks);
    CHECK_MSG(gemms == 1 && fallbacks == 0, "staged: %ld GEMMs on the GPU (1 expected), %ld fallbacks", gemms, fallbacks);
    CHECK(convs == 2 * (long)(sizeof conv_cases / sizeof conv_cases[0]));
#else
    test_skip("test_cuda: built without VV_HAVE_CUDA");
#endif
    return test_finish("test_cuda");
}
