/* The ops the selfie segmentation graph added (AvgPool, ResizeBilinear, Conv2DBackpropInput,
 * AddN): nn/ops forward and backward, and the TFJS runner's handling of them.
 * 1. Hand-computed cases: a 2x2 image resized to 4x4 in each coordinate convention; a
 *    3x3 SAME average pool (corners average 4 pixels, not 9); a 2x2 stride-2 transposed
 *    convolution stamping the filter once per input pixel.
 * 2. Against @tensorflow/tfjs's CPU backend (tf.image.resizeBilinear, tf.avgPool,
 *    tf.conv2dTranspose; tests/fixtures/selfie_ops.bin from
 *    scripts/fixtures/tfjs_reference/generate.js selfie), max abs error < 1e-5.
 * 3. Backward against central differences (loss sum(w * out) in double, eps 1e-2; the ops
 *    are linear, so differences are exact up to float rounding): relative error < 2e-3.
 * 4. The runner: a graph x -> AvgPool -> AddN(x, pool) -> ResizeBilinear ->
 *    Conv2DBackpropInput written here and loaded by tfjs_model_load, forward against the
 *    ops called directly, tfjs_model_backward against central differences over every
 *    input value; malformed variants fail at load or run with the right status. */
#include "nn/ops.h"
#include "nn/tfjs.h"
#include "test.h"

#include <stdint.h>

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"

static uint64_t rng_state = 987654321;
static float rand_uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) / 16777216.0);
}

static size_t count4(const int *s) { return (size_t)s[0] * s[1] * s[2] * s[3]; }

/* ---------------------------------------------------------------- by hand ---- */

static void test_hand(void) {
    /* in [[0, 1], [2, 3]] -> 4x4; per axis the source coordinates are
     * legacy i/2: 0, .5, 1, 1.5 (upper clamped);  align_corners i/3: 0, 1/3, 2/3, 1;
     * half-pixel (i + .5)/2 - .5: -.25 (clamped to 0), .25, .75, 1.25 (clamped to 1).
     * The image is x + 2 y, so each output is sx + 2 sy with sx, sy clamped to [0, 1]. */
    const float in[4] = {0, 1, 2, 3};
    const double src[3][4] = {{0, 0.5, 1, 1}, {0, 1.0 / 3, 2.0 / 3, 1}, {0, 0.25, 0.75, 1}};
    for (int mode = 0; mode < 3; mode++) {
        float out[16];
        resize_bilinear_nhwc_forward(out, in, 1, 2, 2, 1, 4, 4, mode == 1, mode == 2);
        double worst = 0;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) worst = fmax(worst, fabs(out[y * 4 + x] - (src[mode][x] + 2 * src[mode][y])));
        CHECK_MSG(worst < 1e-6, "resize 2x2 -> 4x4 mode %d: max error %g", mode, worst);
    }
    /* Downscale 4 -> 2 by half-pixel centres: source 0.5 and 2.5, the mean of each pair. */
    const float row[4] = {0, 10, 20, 30};
    float half[2];
    resize_bilinear_nhwc_forward(half, row, 1, 1, 4, 1, 1, 2, false, true);
    CHECK_NEAR(half[0], 5, 1e-6);
    CHECK_NEAR(half[1], 25, 1e-6);

    /* 3x3 SAME average pool of 1..9: only in-image pixels count. */
    const float nine[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float pooled[9];
    avg_pool_nhwc_forward(pooled, nine, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1, 3, 3);
    const float expect_pool[9] = {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7};
    CHECK_MSG(test_max_abs_diff(pooled, expect_pool, 9) < 1e-6, "avg pool 3x3 SAME: got %g %g %g ...", pooled[0],
              pooled[1], pooled[2]);
    /* VALID 2x2 stride 2 on a 2x4 image: two window means. */
    const float eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float two[2];
    avg_pool_nhwc_forward(two, eight, 1, 2, 4, 1, 2, 2, 2, 2, 0, 0, 1, 2);
    CHECK_NEAR(two[0], 3.5, 1e-6);
    CHECK_NEAR(two[1], 5.5, 1e-6);

    /* Transposed 2x2 stride-2 VALID convolution of [[1, 2], [3, 4]] with the filter
     * [[1, 10], [100, 1000]]: each input pixel stamps value * filter into its 2x2 block. */
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 10, 100, 1000};
    float up[16];
    CHECK_OK(conv2d_transpose_nhwc_forward(up, x, w, 1, 4, 4, 1, 2, 2, 1, 2, 2, 0, 0, 2, 2));
    double worst = 0;
    for (int y = 0; y < 4; y++)
        for (int xx = 0; xx < 4; xx++)
            worst = fmax(worst, fabs(up[y * 4 + xx] - x[(y / 2) * 2 + xx / 2] * w[(y % 2) * 2 + xx % 2]));
    CHECK_MSG(worst < 1e-6, "transposed conv stamp: max error %g", worst);
    /* Two output channels from one input channel: filter [1,1,2,1] = {2, -1} (HWIO of the
     * convolution: C = 2 its input, OC = 1 its output). */
    const float w2[2] = {2, -1}, x2[1] = {3};
    float out2[2];
    CHECK_OK(conv2d_transpose_nhwc_forward(out2, x2, w2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1));
    CHECK_NEAR(out2[0], 6, 1e-6);
    CHECK_NEAR(out2[1], -3, 1e-6);
}

/* ---------------------------------------------------------------- TFJS ---- */

typedef enum { OP_RESIZE, OP_POOL, OP_TRANSPOSE } op_kind;

/* Mirrors OP_CASES in generate.js. */
typedef struct tfjs_case {
    const char *name;
    op_kind kind;
    int in[4];  /* x shape (resize, pool) or x [N,OH,OW,OC] (transpose) */
    int out[4]; /* output shape */
    int k[4];   /* resize: align, half; pool: KH, KW, SH, SW; transpose: filter KH, KW */
    int same;   /* pool / transpose padding */
    int stride; /* transpose */
} tfjs_case;

static const tfjs_case tfjs_cases[] = {
    {"resize up legacy", OP_RESIZE, {1, 3, 5, 2}, {1, 7, 4, 2}, {0, 0}, 0, 0},
    {"resize up align_corners", OP_RESIZE, {1, 3, 5, 2}, {1, 7, 4, 2}, {1, 0}, 0, 0},
    {"resize up half_pixel", OP_RESIZE, {1, 3, 5, 2}, {1, 7, 4, 2}, {0, 1}, 0, 0},
    {"resize down half_pixel", OP_RESIZE, {2, 5, 7, 3}, {2, 2, 3, 3}, {0, 1}, 0, 0},
    {"resize down legacy", OP_RESIZE, {2, 5, 7, 3}, {2, 2, 3, 3}, {0, 0}, 0, 0},
    {"avg pool 3x3 s2 SAME", OP_POOL, {2, 5, 6, 3}, {2, 3, 3, 3}, {3, 3, 2, 2}, 1, 0},
    {"avg pool 2x3 s(1,2) SAME", OP_POOL, {1, 4, 7, 2}, {1, 4, 4, 2}, {2, 3, 1, 2}, 1, 0},
    {"avg pool 2x2 s2 VALID", OP_POOL, {1, 5, 6, 3}, {1, 2, 3, 3}, {2, 2, 2, 2}, 0, 0},
    {"conv transpose 3x3 s2 SAME", OP_TRANSPOSE, {1, 3, 3, 4}, {1, 5, 6, 2}, {3, 3}, 1, 2},
    {"conv transpose 2x2 s2 SAME", OP_TRANSPOSE, {2, 3, 4, 5}, {2, 6, 8, 3}, {2, 2}, 1, 2},
    {"conv transpose 3x2 s1 VALID", OP_TRANSPOSE, {1, 3, 4, 2}, {1, 5, 5, 3}, {3, 2}, 0, 1},
};

static float *seq_sin(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)sin(0.37 * (double)i + 0.1);
    return x;
}
static float *seq_cos(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)cos(0.23 * (double)i + 0.4);
    return x;
}

/* Geometry of one spatial axis: SAME or VALID. */
static void axis_geometry(int in, int k, int stride, int same, int *out, int *pad) {
    *pad = 0;
    if (same) CHECK(conv_out_size_same(in, k, stride, out, pad));
    else CHECK(conv_out_size_valid(in, k, stride, out));
}

static void run_tfjs_case(const tfjs_case *c, const float *x, const float *w, float *out) {
    const int *i = c->in, *o = c->out;
    int oh, ow, pt, pl;
    switch (c->kind) {
    case OP_RESIZE: resize_bilinear_nhwc_forward(out, x, i[0], i[1], i[2], i[3], o[1], o[2], c->k[0], c->k[1]); break;
    case OP_POOL:
        axis_geometry(i[1], c->k[0], c->k[2], c->same, &oh, &pt);
        axis_geometry(i[2], c->k[1], c->k[3], c->same, &ow, &pl);
        CHECK(oh == o[1] && ow == o[2]);
        avg_pool_nhwc_forward(out, x, i[0], i[1], i[2], i[3], c->k[0], c->k[1], c->k[2], c->k[3], pt, pl, oh, ow);
        break;
    case OP_TRANSPOSE:
        /* The convolution maps out (o) to x (i). */
        axis_geometry(o[1], c->k[0], c->stride, c->same, &oh, &pt);
        axis_geometry(o[2], c->k[1], c->stride, c->same, &ow, &pl);
        CHECK(oh == i[1] && ow == i[2]);
        CHECK_OK(conv2d_transpose_nhwc_forward(out, x, w, o[0], o[1], o[2], o[3], c->k[0], c->k[1], i[3], c->stride,
                                               c->stride, pt, pl, oh, ow));
        break;
    }
}

static void test_tfjs_fixture(void) {
    size_t total = 0;
    int count = (int)(sizeof tfjs_cases / sizeof tfjs_cases[0]);
    for (int k = 0; k < count; k++) total += count4(tfjs_cases[k].out);
    FILE *f = fopen(FIXTURES "selfie_ops.bin", "rb");
    CHECK_MSG(f != NULL, "cannot open " FIXTURES "selfie_ops.bin");
    if (!f) return;
    float *ref = malloc(total * sizeof(float));
    size_t got = fread(ref, sizeof(float), total, f);
    int extra = fgetc(f);
    fclose(f);
    CHECK_MSG(got == total && extra == EOF, "selfie_ops.bin holds %zu floats, expected %zu", got, total);
    if (got != total) {
        free(ref);
        return;
    }
    size_t offset = 0;
    for (int k = 0; k < count; k++) {
        const tfjs_case *c = &tfjs_cases[k];
        size_t n = count4(c->out);
        float *x = seq_sin(count4(c->in));
        float *w = c->kind == OP_TRANSPOSE ? seq_cos((size_t)c->k[0] * c->k[1] * c->out[3] * c->in[3]) : NULL;
        float *out = malloc(n * sizeof(float));
        run_tfjs_case(c, x, w, out);
        double err = test_max_abs_diff(out, ref + offset, n);
        printf("  tfjs %-30s max abs error %.2e\n", c->name, err);
        CHECK_MSG(err < 1e-5, "%s: max abs error %g against TFJS", c->name, err);
        offset += n;
        free(x);
        free(w);
        free(out);
    }
    free(ref);
}

/* ---------------------------------------------------------------- gradients ---- */

/* One op as a function of its checked inputs: in[0] the data, in[1] the filter. */
typedef struct grad_case {
    const char *name;
    op_kind kind;
    int in[4], out[4];
    int k[4];
    int same, stride;
    float *x, *w;
    size_t x_size, w_size, out_size;
} grad_case;

static void grad_forward(const grad_case *c, float *out) {
    tfjs_case t = {c->name, c->kind, {0}, {0}, {0}, c->same, c->stride};
    memcpy(t.in, c->in, sizeof t.in);
    memcpy(t.out, c->out, sizeof t.out);
    memcpy(t.k, c->k, sizeof t.k);
    run_tfjs_case(&t, c->x, c->w, out);
}

static void grad_backward(const grad_case *c, float *dx, float *dw, const float *g) {
    const int *i = c->in, *o = c->out;
    int oh, ow, pt, pl;
    switch (c->kind) {
    case OP_RESIZE: resize_bilinear_nhwc_backward(dx, g, i[0], i[1], i[2], i[3], o[1], o[2], c->k[0], c->k[1]); break;
    case OP_POOL:
        axis_geometry(i[1], c->k[0], c->k[2], c->same, &oh, &pt);
        axis_geometry(i[2], c->k[1], c->k[3], c->same, &ow, &pl);
        avg_pool_nhwc_backward(dx, g, i[0], i[1], i[2], i[3], c->k[0], c->k[1], c->k[2], c->k[3], pt, pl, oh, ow);
        break;
    case OP_TRANSPOSE:
        axis_geometry(o[1], c->k[0], c->stride, c->same, &oh, &pt);
        axis_geometry(o[2], c->k[1], c->stride, c->same, &ow, &pl);
        CHECK_OK(conv2d_transpose_nhwc_backward(dx, dw, g, c->x, c->w, o[0], o[1], o[2], o[3], c->k[0], c->k[1],
                                                i[3], c->stride, c->stride, pt, pl, oh, ow));
        break;
    }
}

static double loss_of(const float *out, const float *w, size_t n) {
    double l = 0;
    for (size_t i = 0; i < n; i++) l += (double)w[i] * out[i];
    return l;
}

/* max |analytic - numeric| / max |numeric| over x (and w). */
static double grad_error(grad_case *c) {
    const float eps = 1e-2f;
    float *out = malloc(c->out_size * sizeof(float)), *g = malloc(c->out_size * sizeof(float));
    for (size_t i = 0; i < c->out_size; i++) g[i] = rand_uniform(-1, 1);
    float *dx = calloc(c->x_size, sizeof(float)), *dw = c->w ? calloc(c->w_size, sizeof(float)) : NULL;
    /* Accumulation: run the backward twice on a zeroed buffer, expect twice the gradient. */
    grad_backward(c, dx, dw, g);
    grad_backward(c, dx, dw, g);
    double max_err = 0, max_ref = 0;
    for (int which = 0; which < (c->w ? 2 : 1); which++) {
        float *v = which ? c->w : c->x, *d = which ? dw : dx;
        size_t n = which ? c->w_size : c->x_size;
        for (size_t j = 0; j < n; j++) {
            float keep = v[j];
            v[j] = keep + eps;
            grad_forward(c, out);
            double plus = loss_of(out, g, c->out_size);
            v[j] = keep - eps;
            grad_forward(c, out);
            double minus = loss_of(out, g, c->out_size);
            v[j] = keep;
            double numeric = (plus - minus) / (2.0 * eps);
            max_err = fmax(max_err, fabs(numeric - d[j] / 2));
            max_ref = fmax(max_ref, fabs(numeric));
        }
    }
    free(out);
    free(g);
    free(dx);
    free(dw);
    return max_err / (max_ref > 1e-12 ? max_ref : 1e-12);
}

static void test_gradients(void) {
    const grad_case cases[] = {
        {"resize up legacy", OP_RESIZE, {1, 3, 4, 2}, {1, 7, 5, 2}, {0, 0}, 0, 0, 0, 0, 0, 0, 0},
        {"resize up align_corners", OP_RESIZE, {2, 3, 4, 2}, {2, 5, 9, 2}, {1, 0}, 0, 0, 0, 0, 0, 0, 0},
        {"resize up half_pixel", OP_RESIZE, {1, 3, 4, 3}, {1, 8, 6, 3}, {0, 1}, 0, 0, 0, 0, 0, 0, 0},
        {"resize down half_pixel", OP_RESIZE, {1, 7, 6, 2}, {1, 3, 4, 2}, {0, 1}, 0, 0, 0, 0, 0, 0, 0},
        {"avg pool 3x3 s2 SAME", OP_POOL, {2, 5, 6, 3}, {2, 3, 3, 3}, {3, 3, 2, 2}, 1, 0, 0, 0, 0, 0, 0},
        {"avg pool 2x2 s2 VALID", OP_POOL, {1, 5, 6, 2}, {1, 2, 3, 2}, {2, 2, 2, 2}, 0, 0, 0, 0, 0, 0, 0},
        {"avg pool global 4x5", OP_POOL, {1, 4, 5, 3}, {1, 1, 1, 3}, {4, 5, 4, 5}, 0, 0, 0, 0, 0, 0, 0},
        {"conv transpose 3x3 s2 SAME", OP_TRANSPOSE, {1, 3, 3, 4}, {1, 5, 6, 2}, {3, 3}, 1, 2, 0, 0, 0, 0, 0},
        {"conv transpose 2x2 s2 SAME", OP_TRANSPOSE, {2, 2, 3, 3}, {2, 4, 6, 2}, {2, 2}, 1, 2, 0, 0, 0, 0, 0},
        {"conv transpose 3x2 s1 VALID", OP_TRANSPOSE, {1, 3, 4, 2}, {1, 5, 5, 3}, {3, 2}, 0, 1, 0, 0, 0, 0, 0},
        /* the downscales and the uneven pool of the TFJS fixture cases */
        {"resize down legacy", OP_RESIZE, {2, 5, 7, 3}, {2, 2, 3, 3}, {0, 0}, 0, 0, 0, 0, 0, 0, 0},
        {"resize down align_corners", OP_RESIZE, {1, 7, 6, 2}, {1, 3, 4, 2}, {1, 0}, 0, 0, 0, 0, 0, 0, 0},
        {"avg pool 2x3 s(1,2) SAME", OP_POOL, {1, 4, 7, 2}, {1, 4, 4, 2}, {2, 3, 1, 2}, 1, 0, 0, 0, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        grad_case c = cases[k];
        c.x_size = count4(c.in);
        c.out_size = count4(c.out);
        c.x = malloc(c.x_size * sizeof(float));
        for (size_t i = 0; i < c.x_size; i++) c.x[i] = rand_uniform(-1, 1);
        if (c.kind == OP_TRANSPOSE) {
            c.w_size = (size_t)c.k[0] * c.k[1] * c.out[3] * c.in[3];
            c.w = malloc(c.w_size * sizeof(float));
            for (size_t i = 0; i < c.w_size; i++) c.w[i] = rand_uniform(-1, 1);
        }
        double err = grad_error(&c);
        printf("  grad %-30s rel err %.2e\n", c.name, err);
        CHECK_MSG(err < 2e-3, "%s: gradient relative error %g", c.name, err);
        free(c.x);
        free(c.w);
    }
}

/* ---------------------------------------------------------------- runner ---- */

/* x [1,4,6,2] -> AvgPool 3x3 s1 SAME -> AddN(x, pool, x) -> ResizeBilinear [7, 9]
 * (half-pixel) -> Conv2DBackpropInput(input_sizes [1,14,18,3], filter [2,2,3,2]) s2 SAME. */
static const char *graph_json =
    "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":["
    "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[{\"size\":\"-1\"},{\"size\":\"4\"},{\"size\":\"6\"},{\"size\":\"2\"}]}}}},"
    "{\"name\":\"filter\",\"op\":\"Const\"},"
    "{\"name\":\"size\",\"op\":\"Const\"},"
    "{\"name\":\"input_sizes\",\"op\":\"Const\"},"
    "{\"name\":\"pool\",\"op\":\"AvgPool\",\"input\":[\"x\"],\"attr\":{"
    "\"ksize\":{\"list\":{\"i\":[\"1\",\"3\",\"3\",\"1\"]}},\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},"
    "\"padding\":{\"s\":\"U0FNRQ==\"},\"data_format\":{\"s\":\"TkhXQw==\"}}},"
    "{\"name\":\"sum\",\"op\":\"AddN\",\"input\":[\"x\",\"pool\",\"x\"],\"attr\":{\"N\":{\"i\":\"3\"}}},"
    "{\"name\":\"up\",\"op\":\"ResizeBilinear\",\"input\":[\"sum\",\"size\"],\"attr\":{"
    "\"align_corners\":{\"b\":false},\"half_pixel_centers\":{\"b\":true}}},"
    "{\"name\":\"out\",\"op\":\"Conv2DBackpropInput\",\"input\":[\"input_sizes\",\"filter\",\"up\"],\"attr\":{"
    "\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"padding\":{\"s\":\"U0FNRQ==\"},"
    "\"explicit_paddings\":{\"list\":{}},\"dilations\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},"
    "\"data_format\":{\"s\":\"TkhXQw==\"}}}"
    "]},\"weightsManifest\":[{\"paths\":[\"graph.bin\"],\"weights\":["
    "{\"name\":\"filter\",\"shape\":[2,2,3,2],\"dtype\":\"float32\"},"
    "{\"name\":\"size\",\"shape\":[2],\"dtype\":\"int32\"},"
    "{\"name\":\"input_sizes\",\"shape\":[4],\"dtype\":\"int32\"}"
    "]}]}";

static float graph_filter[24];

static size_t graph_bin(uint8_t *buf) {
    for (int i = 0; i < 24; i++) graph_filter[i] = (float)cos(0.23 * i + 0.4);
    size_t n = 0;
    memcpy(buf + n, graph_filter, sizeof graph_filter), n += sizeof graph_filter;
    const int32_t size[2] = {7, 9}, sizes[4] = {1, 14, 18, 3};
    memcpy(buf + n, size, sizeof size), n += sizeof size;
    memcpy(buf + n, sizes, sizeof sizes), n += sizeof sizes;
    return n;
}

/* The graph computed with the ops directly. */
static void graph_reference(const float *x, float *out) {
    float pool[48], sum[48], up[7 * 9 * 2];
    avg_pool_nhwc_forward(pool, x, 1, 4, 6, 2, 3, 3, 1, 1, 1, 1, 4, 6);
    for (int i = 0; i < 48; i++) sum[i] = x[i] + pool[i] + x[i];
    resize_bilinear_nhwc_forward(up, sum, 1, 4, 6, 2, 7, 9, false, true);
    CHECK_OK(conv2d_transpose_nhwc_forward(out, up, graph_filter, 1, 14, 18, 3, 2, 2, 2, 2, 2, 0, 0, 7, 9));
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);
}

static char *replace(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    if (!at) {
        fprintf(stderr, "replace: '%s' not in the model text\n", from);
        exit(1);
    }
    size_t len = strlen(text) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_runner(void) {
    const char *dir = test_tmp_dir("test_nn_ops_resize");
    char json_path[4200], bin_path[4200];
    snprintf(json_path, sizeof json_path, "%s/graph.json", dir);
    snprintf(bin_path, sizeof bin_path, "%s/graph.bin", dir);
    uint8_t bin[256];
    write_file(bin_path, bin, graph_bin(bin));
    write_file(json_path, graph_json, strlen(graph_json));

    tfjs_model *model = NULL;
    CHECK_OK(tfjs_model_load(&model, json_path));
    if (!model) return;
    enum { OUT = 14 * 18 * 3 };
    float x[48], expect[OUT];
    for (int i = 0; i < 48; i++) x[i] = rand_uniform(-1, 1);
    graph_reference(x, expect);
    int shape[4] = {1, 4, 6, 2};
    tensor input = tensor_view(x, 4, shape), out;
    CHECK_OK(tfjs_model_run(model, &input, NULL, &out));
    CHECK(out.ndim == 4 && out.shape[0] == 1 && out.shape[1] == 14 && out.shape[2] == 18 && out.shape[3] == 3);
    if (out.size == OUT) CHECK_MSG(test_max_abs_diff(out.data, expect, OUT) < 1e-6, "runner forward differs by %g",
                                   test_max_abs_diff(out.data, expect, OUT));
    tensor_free(&out);

    /* Training mode: d/dx of sum(w * out) against central differences (the graph is linear). */
    tfjs_tape *tape = NULL;
    CHECK_OK(tfjs_model_run_train(model, &input, NULL, &out, &tape));
    tensor d_out, d_in = {0};
    int out_shape[4] = {1, 14, 18, 3};
    CHECK_OK(tensor_alloc(&d_out, 4, out_shape));
    for (size_t i = 0; i < d_out.size; i++) d_out.data[i] = rand_uniform(-1, 1);
    if (tape) CHECK_OK(tfjs_model_backward(model, tape, &d_out, &d_in));
    CHECK_MSG(d_in.size == 48, "runner backward: d_in holds %zu values, want 48", d_in.size);
    if (d_in.size == 48) {
        double max_err = 0, max_ref = 0;
        float ref[OUT];
        for (int j = 0; j < 48; j++) {
            float keep = x[j];
            x[j] = keep + 0.01f;
            graph_reference(x, ref);
            double plus = loss_of(ref, d_out.data, OUT);
            x[j] = keep - 0.01f;
            graph_reference(x, ref);
            double minus = loss_of(ref, d_out.data, OUT);
            x[j] = keep;
            double numeric = (plus - minus) / 0.02;
            max_err = fmax(max_err, fabs(numeric - d_in.data[j]));
            max_ref = fmax(max_ref, fabs(numeric));
        }
        printf("  runner backward rel err %.2e\n", max_err / max_ref);
        CHECK_MSG(max_err / max_ref < 2e-3, "runner backward: relative error %g", max_err / max_ref);
    }
    tensor_free(&out);
    tensor_free(&d_out);
    tensor_free(&d_in);
    tfjs_tape_free(tape);

    /* A batch of 2 against input_sizes' batch of 1: TensorFlow refuses it, so do we. */
    float x2[96] = {0};
    int shape2[4] = {2, 4, 6, 2};
    tensor input2 = tensor_view(x2, 4, shape2);
    CHECK(tfjs_model_run(model, &input2, NULL, &out) == VV_ERR_MODEL && out.data == NULL);
    tfjs_model_free(model);

    struct {
        const char *what, *from, *to;
        vv_status want_load, want_run; /* want_run checked when the load succeeds */
    } cases[] = {
        {"align_corners with half_pixel_centers", "\"align_corners\":{\"b\":false}", "\"align_corners\":{\"b\":true}",
         VV_ERR_MODEL, VV_OK},
        {"float resize size", "[\"sum\",\"size\"]", "[\"sum\",\"filter\"]", VV_ERR_UNSUPPORTED, VV_OK},
        {"resize without size", "[\"sum\",\"size\"]", "[\"sum\"]", VV_ERR_MODEL, VV_OK},
        {"computed input_sizes", "[\"input_sizes\",\"filter\",\"up\"]", "[\"up\",\"filter\",\"up\"]",
         VV_ERR_UNSUPPORTED, VV_OK},
        {"explicit AvgPool padding", "\"padding\":{\"s\":\"U0FNRQ==\"},\"data_format\"",
         "\"padding\":{\"s\":\"RVhQTElDSVQ=\"},\"data_format\"", VV_ERR_UNSUPPORTED, VV_OK},
        {"dilated transposed convolution", "\"dilations\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}}",
         "\"dilations\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}}", VV_ERR_UNSUPPORTED, VV_OK},
        {"stride 1 does not give 7x9 from 14x18", "\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"padding\"",
         "\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"padding\"", VV_OK, VV_ERR_MODEL},
        {"AddN of different shapes", "[\"x\",\"pool\",\"x\"]", "[\"x\",\"pool\",\"filter\"]", VV_OK, VV_ERR_MODEL},
    };
    char path[4200];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = replace(graph_json, cases[i].from, cases[i].to);
        write_file(path, text, strlen(text));
        free(text);
        model = NULL;
        vv_status s = tfjs_model_load(&model, path);
        CHECK_MSG(s == cases[i].want_load && (s != VV_OK) == (model == NULL), "%s: load gave %s (%s)", cases[i].what,
                  vv_status_string(s), vv_last_error());
        if (model) {
            s = tfjs_model_run(model, &input, NULL, &out);
            CHECK_MSG(s == cases[i].want_run, "%s: run gave %s (%s)", cases[i].what, vv_status_string(s),
                      vv_last_error());
            tensor_free(&out);
        }
        tfjs_model_free(model);
    }
    /* Integer operands out of range, patched into the shard: a resize side over the cap,
     * a zero in input_sizes. */
    write_file(json_path, graph_json, strlen(graph_json));
    const struct { const char *what; size_t at; int32_t value; } patches[] = {
        {"huge resize side", sizeof graph_filter, 1 << 20},
        {"zero input_sizes width", sizeof graph_filter + 2 * sizeof(int32_t) + 2 * sizeof(int32_t), 0},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        size_t n = graph_bin(bin);
        memcpy(bin + patches[i].at, &patches[i].value, sizeof(int32_t));
        write_file(bin_path, bin, n);
        model = NULL;
        vv_status s = tfjs_model_load(&model, json_path);
        CHECK_MSG(s == VV_ERR_MODEL && !model, "%s: %s", patches[i].what, vv_status_string(s));
        tfjs_model_free(model);
    }
}

int main(void) {
    test_hand();
    test_tfjs_fixture();
    test_gradients();
    test_runner();
    return test_finish("test_nn_ops_resize");
}
