/* The training core's fast paths against its reference ones, at the sizes training runs:
 *  - convolutions through the backend (oneDNN where built, nn/backend_dnnl.c) against the
 *    im2col + OpenBLAS functions (conv2d_*_cpu, themselves checked by finite differences and
 *    against PyTorch), forward and backward, into gradients already holding values (the
 *    backward must add), with oneDNN's Winograd kernels on and off; and that oneDNN took
 *    these shapes rather than quietly falling back;
 *  - the threaded, vectorised norm kernels (nn/layers_basic.c) on 64x64 planes over two
 *    threads against a plain double-precision loop written here, and the fused AdaIN + ReLU
 *    against adain + relu run one after the other;
 *  - shapes whose primitives the main thread built, run again on other threads, one after
 *    the other (oneDNN's own scratchpad belonged to the first thread: a kernel run from
 *    another crashed).
 * Tolerances: a convolution sums C*9 products per output and N*OH*OW per weight gradient;
 * float rounding in a different order gives ~1e-6 of the values' scale (direct) and a few
 * times that with Winograd's transforms.  Accept max |a - b| <= 2e-5 * max |b| + 1e-6
 * (direct) and 1e-4 * max |b| (Winograd); a wrong index or a missing term is off by O(1). */
#include "test.h"

#include "nn/backend.h"
#include "nn/layers.h"
#include "nn/ops.h"

#include <cblas.h>
#include <pthread.h>

static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static double worst_relative; /* the largest relative error since the last report */

static void report(const char *name) {
    printf("%-40s max error %.1e of the values' scale\n", name, worst_relative);
    worst_relative = 0;
}

/* max |a - b| relative to max |b|, and whether it is within tol. */
static bool close_enough(const char *what, const char *name, const float *a, const float *b, size_t n, double tol) {
    double err = test_max_abs_diff(a, b, n), scale = max_abs(b, n);
    bool ok = err <= tol * scale + 1e-6;
    CHECK_MSG(ok, "%s %s: max error %.3g of scale %.3g (tolerance %.1g)", name, what, err, scale, tol);
    double relative = err / (scale > 0 ? scale : 1);
    if (relative > worst_relative) worst_relative = relative;
    return ok;
}

typedef struct conv_case {
    const char *name;
    int N, C, H, W, OC, K, stride, pad, groups;
} conv_case;

static void check_conv(const conv_case *k, double tol) {
    conv2d_shape s;
    CHECK(conv2d_shape_init(&s, k->N, k->C, k->H, k->W, k->OC, k->K, k->K, k->stride, k->pad, k->groups));
    size_t in_n = (size_t)s.N * s.C * s.H * s.W, out_n = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t w_n = (size_t)s.OC * (s.C / s.groups) * s.KH * s.KW;
    float *x = test_random_floats(in_n, 1), *w = test_random_floats(w_n, 0.2f), *b = test_random_floats(s.OC, 0.5f);
    float *dy = test_random_floats(out_n, 1);
    /* gradients start from the same non-zero values: both must add to them */
    float *dx_ref = test_random_floats(in_n, 0.5f), *dw_ref = test_random_floats(w_n, 0.5f), *db_ref = test_random_floats(s.OC, 0.5f);
    float *dx = test_copy_floats(dx_ref, in_n), *dw = test_copy_floats(dw_ref, w_n), *db = test_copy_floats(db_ref, s.OC);
    float *y_ref = malloc(out_n * sizeof(float)), *y = malloc(out_n * sizeof(float));
    CHECK_OK(conv2d_forward_cpu(y_ref, x, w, b, &s));
    CHECK_OK(conv2d_backward_cpu(dx_ref, dw_ref, db_ref, dy, x, w, &s));
    CHECK_OK(conv2d_forward(y, x, w, b, &s));
    CHECK_OK(conv2d_backward(dx, dw, db, dy, x, w, &s));
    close_enough("out", k->name, y, y_ref, out_n, tol);
    close_enough("d_in", k->name, dx, dx_ref, in_n, tol);
    close_enough("d_w", k->name, dw, dw_ref, w_n, tol);
    close_enough("d_b", k->name, db, db_ref, s.OC, 2e-5);
    /* without a bias and with only some gradients asked for */
    float *dw2 = test_copy_floats(w, w_n), *db2 = test_copy_floats(b, s.OC), *dw2_ref = test_copy_floats(w, w_n);
    float *db2_ref = test_copy_floats(b, s.OC);
    CHECK_OK(conv2d_forward_cpu(y_ref, x, w, NULL, &s));
    CHECK_OK(conv2d_forward(y, x, w, NULL, &s));
    close_enough("out/nb", k->name, y, y_ref, out_n, tol);
    CHECK_OK(conv2d_backward_cpu(NULL, dw2_ref, db2_ref, dy, x, w, &s));
    CHECK_OK(conv2d_backward(NULL, dw2, db2, dy, x, w, &s));
    close_enough("d_w/nx", k->name, dw2, dw2_ref, w_n, tol);
    close_enough("d_b/nx", k->name, db2, db2_ref, s.OC, 2e-5);
    memcpy(dx, x, in_n * sizeof(float));
    memcpy(dx_ref, x, in_n * sizeof(float));
    CHECK_OK(conv2d_backward_cpu(dx_ref, NULL, NULL, dy, x, w, &s));
    CHECK_OK(conv2d_backward(dx, NULL, NULL, dy, x, w, &s));
    close_enough("d_in/x", k->name, dx, dx_ref, in_n, tol);
    report(k->name);
    free(x), free(w), free(b), free(dy), free(dx_ref), free(dw_ref), free(db_ref), free(dx), free(dw), free(db);
    free(y_ref), free(y), free(dw2), free(db2), free(dw2_ref), free(db2_ref);
}

static const conv_case conv_cases[] = {
    /* the residual block's and the generator's shapes */
    {"3x3 64ch 64x64 batch 2", 2, 64, 64, 64, 64, 3, 1, 1, 1},
    {"3x3 32->64ch 32x32", 1, 32, 32, 32, 64, 3, 1, 1, 1},
    {"3x3 3->16ch 64x64 (image in)", 2, 3, 64, 64, 16, 3, 1, 1, 1},
    {"3x3 16->3ch 64x64 (image out)", 1, 16, 64, 64, 3, 3, 1, 1, 1},
    {"4x4 s2 p1 16->32ch 32x32 (down)", 2, 16, 32, 32, 32, 4, 2, 1, 1},
    {"3x3 s2 p1 odd 24->40ch 15x17", 1, 24, 15, 17, 40, 3, 2, 1, 1},
    {"1x1 64->32ch 16x16", 2, 64, 16, 16, 32, 1, 1, 0, 1},
    {"7x7 s2 p3 3->16ch 40x40", 1, 3, 40, 40, 16, 7, 2, 3, 1},
    {"3x3 grouped g4 32ch 16x16", 1, 32, 16, 16, 32, 3, 1, 1, 4},
    {"3x3 depthwise 32ch 16x16", 2, 32, 16, 16, 32, 3, 1, 1, 32},
    {"3x3 s2 p0 remainder 8ch 10x10", 1, 8, 10, 10, 8, 3, 2, 0, 1},
};

static void test_convolutions(void) {
    int n = (int)(sizeof conv_cases / sizeof conv_cases[0]);
    printf("backend %s\n", nn_backend_current()->name);
    nn_conv_winograd(false);
    printf("direct kernels:\n");
    for (int i = 0; i < n; i++) check_conv(&conv_cases[i], 2e-5);
    int taken, refused;
    nn_dnnl_shapes(&taken, &refused);
#ifdef VV_HAVE_DNNL
    /* every shape above built (forward and backward) by oneDNN, none left to im2col */
    CHECK_MSG(taken == n && refused == 0, "oneDNN took %d of %d shapes, refused %d", taken, n, refused);
    nn_conv_winograd(true);
    printf("Winograd where oneDNN has it (3x3 stride 1):\n");
    for (int i = 0; i < n; i++) check_conv(&conv_cases[i], 1e-4);
#else
    CHECK(taken == 0 && refused == 0);
#endif
}

/* ---- norms over large planes, threaded ---- */

/* instance norm / AdaIN forward in double: y = (x - mean) / sqrt(var + eps) * a + b */
static void norm_reference(double *y, const float *x, const float *a, const float *b, int planes, int HW,
                           float eps) {
    for (int p = 0; p < planes; p++) {
        const float *xp = x + (size_t)p * HW;
        double m = 0, v = 0;
        for (int i = 0; i < HW; i++) m += xp[i];
        m /= HW;
        for (int i = 0; i < HW; i++) v += (xp[i] - m) * (xp[i] - m);
        v /= HW;
        for (int i = 0; i < HW; i++) y[(size_t)p * HW + i] = (xp[i] - m) / sqrt(v + eps) * a[p] + b[p];
    }
}

static void test_norms(void) {
    int N = 2, C = 32, HW = 64 * 64, planes = N * C;
    size_t n = (size_t)planes * HW;
    /* an offset and a spread per plane, as activations have */
    float *x = test_random_floats(n, 1);
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < HW; i++) x[(size_t)p * HW + i] = x[(size_t)p * HW + i] * (0.5f + p % 5) + (float)(p % 7) - 3;
    float *s = test_random_floats(planes, 1), *b = test_random_floats(planes, 1);
    float *y = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float)), *mean = malloc(planes * sizeof(float));
    float *rstd = malloc(planes * sizeof(float)), *mean2 = malloc(planes * sizeof(float));
    float *rstd2 = malloc(planes * sizeof(float));
    double *ref = malloc(n * sizeof(double));
    float *yref = malloc(n * sizeof(float));
    int saved_threads = openblas_get_num_threads();
    nn_blas_threads(2); /* the planes split over the pool */
    adain_forward(y, mean, rstd, x, s, b, N, C, HW, 1e-5f);
    norm_reference(ref, x, s, b, planes, HW, 1e-5f);
    for (size_t i = 0; i < n; i++) yref[i] = (float)ref[i];
    close_enough("out", "adain 64x64 (threaded)", y, yref, n, 2e-6);
    report("adain 64x64, threaded, vs double");
    /* instance norm, affine per channel */
    float *g = test_random_floats(C, 1), *be = test_random_floats(C, 1), *gp = malloc(planes * sizeof(float));
    float *bp = malloc(planes * sizeof(float));
    for (int p = 0; p < planes; p++) gp[p] = g[p % C], bp[p] = be[p % C];
    instance_norm_forward(y, mean, rstd, x, g, be, N, C, HW, 1e-5f);
    norm_reference(ref, x, gp, bp, planes, HW, 1e-5f);
    for (size_t i = 0; i < n; i++) yref[i] = (float)ref[i];
    close_enough("out", "instance_norm 64x64 (threaded)", y, yref, n, 2e-6);
    report("instance_norm 64x64, threaded, vs double");

    /* fused AdaIN + ReLU against the two ops, forward and backward */
    adain_relu_forward(y, mean, rstd, x, s, b, N, C, HW, 1e-5f);
    adain_forward(y2, mean2, rstd2, x, s, b, N, C, HW, 1e-5f);
    relu_forward(y2, y2, n);
    CHECK(test_max_abs_diff(y, y2, n) == 0.0);
    CHECK(test_max_abs_diff(mean, mean2, planes) == 0.0 && test_max_abs_diff(rstd, rstd2, planes) == 0.0);
    float *dy = test_random_floats(n, 1), *masked = calloc(n, sizeof(float));
    float *dx = test_random_floats(n, 0.5f), *dx2 = test_copy_floats(dx, n);
    float *ds = test_random_floats(planes, 0.5f), *ds2 = test_copy_floats(ds, planes);
    float *db = test_random_floats(planes, 0.5f), *db2 = test_copy_floats(db, planes);
    adain_relu_backward(dx, ds, db, dy, y, x, mean, rstd, s, N, C, HW);
    relu_backward(masked, dy, y2, n);
    adain_backward(dx2, ds2, db2, masked, x, mean2, rstd2, s, N, C, HW);
    close_enough("d_in", "adain_relu 64x64 vs adain+relu", dx, dx2, n, 1e-6);
    close_enough("d_scale", "adain_relu 64x64 vs adain+relu", ds, ds2, planes, 1e-6);
    close_enough("d_bias", "adain_relu 64x64 vs adain+relu", db, db2, planes, 1e-6);
    report("adain_relu backward vs adain + relu");
    /* threaded equals one thread */
    float *dx1 = test_random_floats(n, 0.5f), *dx1b = test_copy_floats(dx1, n);
    float *dg = calloc(C, sizeof(float)), *dg1 = calloc(C, sizeof(float));
    instance_norm_backward(dx1, dg, NULL, dy, x, mean, rstd, g, N, C, HW);
    nn_blas_threads(1);
    instance_norm_backward(dx1b, dg1, NULL, dy, x, mean, rstd, g, N, C, HW);
    CHECK(test_max_abs_diff(dx1, dx1b, n) == 0.0 && test_max_abs_diff(dg, dg1, C) == 0.0);
    nn_blas_threads(saved_threads);
    free(x), free(s), free(b), free(y), free(y2), free(mean), free(rstd), free(mean2), free(rstd2), free(ref);
    free(yref), free(g), free(be), free(gp), free(bp), free(dy), free(masked), free(dx), free(dx2), free(ds);
    free(ds2), free(db), free(db2), free(dx1), free(dx1b), free(dg), free(dg1);
}

static void *convolutions_elsewhere(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) check_conv(&conv_cases[i], 1e-4);
    return NULL;
}

/* The cached primitives (Winograd on, as test_convolutions leaves it) from two more
 * threads in turn, each gone before the next starts. */
static void test_other_threads(void) {
    for (int t = 0; t < 2; t++) {
        pthread_t thread;
        CHECK(pthread_create(&thread, NULL, convolutions_elsewhere, NULL) == 0);
        pthread_join(thread, NULL);
    }
}

int main(void) {
    test_rng_seed(7);
    test_convolutions();
    test_other_threads();
    test_norms();
    return test_finish("test_nn_backend");
}
