/* test_flow_hybrid: the flow hybrid (config.flow: G moves the warp's pixels by a bounded
 * displacement, then adds its correction).  A known displacement moves a known image: the
 * op itself (nn/ops.h flow_sample_nchw_forward), G's output, and the full-resolution frame
 * of fsth_render_frame_warped (the displacement scaled into the frame, faded at the crop's
 * edge); a flow model made from a blending hybrid renders what its residual does; the
 * config and checkpoint round trip; bad configs are refused. */
#include "test.h"

#include "img/image.h"
#include "models/models.h"
#include "nn/ops.h"

#include <math.h>

/* Ramps: channel 0 = x, channel 1 = 10 y; a displacement of (1.5, -1) reads x + 1.5, y - 1,
 * clamped at the borders. */
static void test_op_known_shift(void) {
    enum { H = 4, W = 5 };
    float in[2 * H * W], flow[2 * H * W], out[2 * H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            in[y * W + x] = (float)x, in[H * W + y * W + x] = 10.0f * y;
            flow[y * W + x] = 1.5f, flow[H * W + y * W + x] = -1.0f;
        }
    flow_sample_nchw_forward(out, in, flow, 1, 2, H, W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            CHECK_NEAR(out[y * W + x], fminf((float)x + 1.5f, W - 1.0f), 1e-6);
            CHECK_NEAR(out[H * W + y * W + x], 10.0f * fmaxf((float)y - 1.0f, 0.0f), 1e-6);
        }
    /* the backward's image gradient is the transpose: sum of d_in = sum of d_out per channel */
    float d_out[2 * H * W], d_in[2 * H * W] = {0}, d_flow[2 * H * W] = {0};
    for (int i = 0; i < 2 * H * W; i++) d_out[i] = 1.0f;
    flow_sample_nchw_backward(d_in, d_flow, d_out, in, flow, 1, 2, H, W);
    double total = 0;
    for (int i = 0; i < 2 * H * W; i++) total += d_in[i];
    CHECK_NEAR(total, 2.0 * H * W, 1e-4);
    /* d out / d dx on channel 0 is the ramp's slope 1 inside; 0 where x + 1.5 is clamped
     * (x >= 3); d / d dy is 10 where y - 1 is inside, 0 where it is clamped, on the border
     * (y = 1) included */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            CHECK_NEAR(d_flow[y * W + x], x + 1.5f < W - 1 ? 1.0 : 0.0, 1e-5);
            CHECK_NEAR(d_flow[H * W + y * W + x], y > 1 ? 10.0 : 0.0, 1e-5);
        }
}

/* A tiny flow model whose head ignores its input: correction 0, displacement (dx, dy)
 * crop pixels everywhere (bias = atanh(d / bound)). */
static fsth_model *constant_flow_model(float dx, float dy) {
    fsth_config c = fsth_config_default(32);
    c.width = 4, c.bottleneck_blocks = 1, c.hybrid = c.residual = c.flow = true, c.flow_pixels = 2.0f;
    fsth_model *m = NULL;
    CHECK_OK(fsth_model_new(&m, &c, 5));
    if (!m) return NULL;
    fsth_generator *g = &m->G;
    size_t row = (size_t)g->head.in_channels * 9;
    float *w = param_data(&g->ps, g->head.weight), *b = param_data(&g->ps, g->head.bias);
    for (int o = 0; o < 6; o++)
        if (o != 3) memset(w + o * row, 0, row * sizeof(float)); /* row 3 keeps sigma > 0 */
    b[0] = b[1] = b[2] = 0.0f;
    b[4] = atanhf(dx / c.flow_pixels), b[5] = atanhf(dy / c.flow_pixels);
    CHECK_OK(fsth_generator_prepare(g, false));
    for (int i = 0; i < g->psi_dim; i++) m->person_psi[i] = 0.0f;
    m->has_person = true;
    return m;
}

static void test_generator_constant_shift(void) {
    fsth_model *m = constant_flow_model(1.0f, 0.5f);
    if (!m) return;
    int S = 32;
    size_t plane = (size_t)S * S;
    float *in = calloc(7 * plane, sizeof(float)), *out = calloc(3 * plane, sizeof(float));
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            in[3 * plane + y * S + x] = x / 32.0f;        /* warped R: a ramp in x */
            in[4 * plane + y * S + x] = y / 32.0f;        /* warped G: a ramp in y */
            in[6 * plane + y * S + x] = 1.0f;             /* validity */
        }
    float *psi = calloc((size_t)m->G.psi_dim, sizeof(float));
    CHECK_OK(fsth_generator_forward(&m->G, out, in, psi, 1));
    double worst = 0;
    for (int y = 0; y < S - 1; y++)
        for (int x = 0; x < S - 1; x++) {
            worst = fmax(worst, fabs(out[y * S + x] - (x + 1.0) / 32.0));
            worst = fmax(worst, fabs(out[plane + y * S + x] - (y + 0.5) / 32.0));
            worst = fmax(worst, fabs(out[2 * plane + y * S + x]));
        }
    CHECK_MSG(worst < 1e-5, "G with a constant displacement (1, 0.5): off by %g", worst);
    free(in), free(out), free(psi);
    fsth_model_free(m);
}

/* The full-resolution frame: a 96 x 96 frame (R = 2 x, G = 2 y), the 32 px crop covering
 * [16, 80) at 2 frame pixels a crop pixel.  A displacement of (1, 0.5) crop pixels moves
 * the frame's pixels by (2, 1) inside the crop's fade (crop pixels 4 .. 27), less towards
 * its edge, not at all outside it. */
static void test_frame_constant_shift(void) {
    fsth_model *m = constant_flow_model(1.0f, 0.5f);
    if (!m) return;
    vv_image frame = {0}, crop = {0};
    CHECK_OK(image_create(&frame, 96, 96, 3));
    for (int y = 0; y < 96; y++)
        for (int x = 0; x < 96; x++) {
            uint8_t *p = frame.data + ((size_t)y * 96 + x) * 3;
            p[0] = (uint8_t)(2 * x), p[1] = (uint8_t)(2 * y), p[2] = 100;
        }
    /* crop pixel centres (u + 0.5) * 2 + 16 - 0.5 */
    float crop_to_image[6] = {2, 0, 16.5f, 0, 2, 16.5f}, image_to_crop[6] = {0.5f, 0, -8.25f, 0, 0.5f, -8.25f};
    float target[68][2], validity[32 * 32];
    test_template_face(target);
    for (int i = 0; i < 68; i++) target[i][0] = 48 + (target[i][0] - 200) * 0.25f, target[i][1] = 48 + (target[i][1] - 200) * 0.25f;
    for (int i = 0; i < 32 * 32; i++) validity[i] = 1.0f;
    CHECK_OK(fsth_render_frame_warped(m, image_to_crop, crop_to_image, (const float (*)[2])target, validity, &crop,
                                      &frame));
    int bad = 0;
    for (int y = 0; y < 96; y++)
        for (int x = 0; x < 96; x++) {
            const uint8_t *p = frame.data + ((size_t)y * 96 + x) * 3;
            float u = 0.5f * x - 8.25f, v = 0.5f * y - 8.25f;
            float edge = fminf(fminf(u + 0.5f, v + 0.5f), fminf(31.5f - u, 31.5f - v));
            float f = edge <= 0 ? 0 : edge < 4 ? edge / 4 : 1;
            float ex = 2 * (x + 2 * f), ey = 2 * (y + 1 * f);
            if (fabsf(p[0] - ex) > 1.01f || fabsf(p[1] - ey) > 1.01f || p[2] != 100) {
                if (bad++ < 3) fprintf(stderr, "(%d, %d): %d %d %d, expected %.1f %.1f 100\n", x, y, p[0], p[1], p[2], ex, ey);
            }
        }
    CHECK_MSG(bad == 0, "%d frame pixels not moved as the displacement says", bad);
    /* the crop (G's composite) is the warp moved by (1, 0.5) crop pixels too */
    const uint8_t *c = crop.data + ((size_t)16 * 32 + 16) * 3, *c1 = crop.data + ((size_t)16 * 32 + 17) * 3;
    CHECK_MSG(abs((int)c[0] - (int)c1[0]) >= 3, "crop is not a ramp: %d %d", c[0], c1[0]);
    image_free(&crop);
    image_free(&frame);
    fsth_model_free(m);
}

/* From a blending hybrid: E, D, G copied, the residual start applied, the displacement 0:
 * the same output as the residual made from the same hybrid; then a round trip. */
static void test_flow_from_and_files(void) {
    fsth_config c = fsth_config_default(32);
    c.width = 4, c.bottleneck_blocks = 1, c.hybrid = true, c.videos = 3;
    fsth_model *blend = NULL, *flow = NULL, *loaded = NULL;
    CHECK_OK(fsth_model_new(&blend, &c, 9));
    if (!blend) return;
    CHECK_OK(fsth_model_flow_from(&flow, blend, 3.0f));
    if (!flow) return;
    CHECK(flow->config.flow && flow->config.residual && flow->config.flow_pixels == 3.0f && flow->config.videos == 3);
    CHECK(memcmp(flow->E.ps.data, blend->E.ps.data, blend->E.ps.total * sizeof(float)) == 0);
    CHECK(memcmp(flow->D.ps.data, blend->D.ps.data, blend->D.ps.total * sizeof(float)) == 0);
    CHECK(fsth_model_flow_from(&loaded, flow, 3.0f) == VV_ERR_INVALID_ARGUMENT); /* already flow */
    blend->config.residual = blend->G.config.residual = true;
    fsth_generator_residual_start(&blend->G);
    CHECK_OK(fsth_generator_prepare(&blend->G, false));
    int S = 32;
    size_t plane = (size_t)S * S;
    float *in = malloc(7 * plane * sizeof(float)), *a = malloc(3 * plane * sizeof(float)), *b = malloc(3 * plane * sizeof(float));
    float *psi = calloc((size_t)flow->G.psi_dim, sizeof(float));
    for (size_t i = 0; i < 7 * plane; i++) in[i] = (float)sin(0.37 * (double)i);
    for (int i = 0; i < flow->G.psi_dim; i++) psi[i] = 0.1f * (float)cos(i);
    CHECK_OK(fsth_generator_forward(&blend->G, a, in, psi, 1));
    CHECK_OK(fsth_generator_forward(&flow->G, b, in, psi, 1));
    CHECK_MSG(test_max_abs_diff(a, b, 3 * plane) < 1e-5, "flow start vs residual: %g", test_max_abs_diff(a, b, 3 * plane));
    /* round trip: the config and every tensor */
    const char *dir = test_tmp_dir("test_flow_hybrid");
    char path[4200];
    snprintf(path, sizeof path, "%s/flow.safetensors", dir);
    CHECK_OK(fsth_model_save(flow, path, false));
    CHECK_OK(fsth_model_load(&loaded, path));
    if (loaded) {
        CHECK(loaded->config.flow && loaded->config.residual && loaded->config.flow_pixels == 3.0f);
        CHECK(loaded->G.ps.total == flow->G.ps.total);
        CHECK(memcmp(loaded->G.ps.data, flow->G.ps.data, flow->G.ps.total * sizeof(float)) == 0);
    }
    fsth_model_free(loaded);
    free(in), free(a), free(b), free(psi);
    fsth_model_free(blend);
    fsth_model_free(flow);
}

static void test_config(void) {
    fsth_config c = fsth_config_default(128), back;
    char json[256];
    c.hybrid = c.residual = c.flow = true, c.flow_pixels = 4.5f;
    CHECK_OK(fsth_config_to_json(&c, json, sizeof json));
    CHECK_MSG(strstr(json, "\"flow\":true,\"flow_pixels\":4.5") != NULL, "json: %s", json);
    CHECK_OK(fsth_config_from_json(&back, json));
    CHECK(back.flow && back.flow_pixels == 4.5f);
    c.flow = false;
    CHECK_OK(fsth_config_to_json(&c, json, sizeof json));
    CHECK(strstr(json, "flow") == NULL);
    CHECK_OK(fsth_config_from_json(&back, json));
    CHECK(!back.flow);
    const char *head = "{\"size\":128,\"width\":16,\"bottleneck_blocks\":4,\"attention\":false,\"hybrid\":true,\"videos\":3";
    char bad[400];
    snprintf(bad, sizeof bad, "%s,\"flow\":true,\"flow_pixels\":4}", head); /* flow without residual */
    CHECK(fsth_config_from_json(&back, bad) == VV_ERR_MODEL);
    CHECK_MSG(strstr(vv_last_error(), "flow") != NULL, "message: %s", vv_last_error());
    snprintf(bad, sizeof bad, "%s,\"residual\":true,\"flow\":true}", head);
    CHECK(fsth_config_from_json(&back, bad) == VV_ERR_MODEL);
    CHECK_MSG(strstr(vv_last_error(), "flow_pixels") != NULL, "message: %s", vv_last_error());
    snprintf(bad, sizeof bad, "%s,\"residual\":true,\"flow\":true,\"flow_pixels\":0}", head);
    CHECK(fsth_config_from_json(&back, bad) == VV_ERR_MODEL);
    snprintf(bad, sizeof bad, "%s,\"residual\":true,\"flow\":true,\"flow_pixels\":1e300}", head);
    CHECK(fsth_config_from_json(&back, bad) == VV_ERR_MODEL);
}


/* --flow-l1: the backward adds the gradient of flow_l1 * mean |displacement|: with no
 * output gradient, the displacement bias's gradient is that term's derivative (central
 * difference over the bias). */
/* mean over the displacement of weight * |f|, weight 1, or with near (a [32 x 32] mask)
 * 1 + near_weight on it */
static double mean_abs_flow(fsth_model *m, const float *in, const float *psi, float *out, const bool *near,
                            float near_weight) {
    size_t n = 2 * 32 * 32;
    fsth_generator_forward(&m->G, out, in, psi, 1);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs(m->G.flow[i]) * (near ? (near[i % 1024] ? near_weight : 0.0f) : 1.0f);
    return s / (double)n;
}

/* The gradient G's backward gave the two displacement channels' head biases against central
 * differences of scale * mean_abs_flow (the penalty's loss), each at least min_numeric. */
static void check_displacement_bias(fsth_model *m, const float *in, const float *psi, float *out, const bool *near,
                                    float near_weight, double scale, double min_numeric, const char *what) {
    float *bias = param_data(&m->G.ps, m->G.head.bias);
    for (int c = 4; c < 6; c++) {
        float saved = bias[c], h = 1e-3f;
        bias[c] = saved + h;
        double plus = mean_abs_flow(m, in, psi, out, near, near_weight);
        bias[c] = saved - h;
        double minus = mean_abs_flow(m, in, psi, out, near, near_weight);
        bias[c] = saved;
        double numeric = scale * (plus - minus) / (2.0 * h), analytic = param_grad(&m->G.ps, m->G.head.bias)[c];
        CHECK_MSG(fabs(numeric - analytic) < 1e-3 * fabs(numeric) + 1e-6, "%s, bias %d: analytic %g numeric %g", what, c,
                  analytic, numeric);
        CHECK(fabs(numeric) > min_numeric);
    }
}

static void test_flow_l1_gradient(void) {
    fsth_model *m = constant_flow_model(0.7f, -0.3f);
    if (!m) return;
    size_t plane = 32 * 32;
    float *in = calloc(7 * plane, sizeof(float)), *out = calloc(3 * plane, sizeof(float));
    float *dout = calloc(3 * plane, sizeof(float)), *psi = calloc((size_t)m->G.psi_dim, sizeof(float));
    for (size_t i = 0; i < 3 * plane; i++) in[3 * plane + i] = (float)sin(0.05 * (double)i);
    m->G.flow_l1 = 0.5f;
    mean_abs_flow(m, in, psi, out, NULL, 0);
    param_store_zero_grad(&m->G.ps);
    CHECK_OK(fsth_generator_backward(&m->G, NULL, dout, in, psi, 1, true));
    check_displacement_bias(m, in, psi, out, NULL, 0, 0.5, 0.1, "flow_l1"); /* 0.5 * 2 * (1 - tanh^2) / 2 */
    /* --flow-l1-features alone: the weight only within 2 pixels of the landmark drawing, here
     * a drawn 5 x 5 square at (10..14, 10..14) (background -1): 9 x 9 pixels */
    bool near[32 * 32];
    for (int i = 0; i < 3 * 32 * 32; i++) in[i] = -1.0f;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            if (x >= 10 && x <= 14 && y >= 10 && y <= 14) in[32 * 32 + y * 32 + x] = 0.5f; /* channel 1 */
            near[y * 32 + x] = x >= 8 && x <= 16 && y >= 8 && y <= 16;
        }
    m->G.flow_l1 = 0.0f, m->G.flow_l1_features = 0.8f;
    mean_abs_flow(m, in, psi, out, near, 0.8f);
    param_store_zero_grad(&m->G.ps);
    CHECK_OK(fsth_generator_backward(&m->G, NULL, dout, in, psi, 1, true));
    check_displacement_bias(m, in, psi, out, near, 0.8f, 1.0, 0.01, "flow_l1_features");
    free(in), free(out), free(dout), free(psi);
    fsth_model_free(m);
}

int main(void) {
    test_op_known_shift();
    test_generator_constant_shift();
    test_frame_constant_shift();
    test_flow_from_and_files();
    test_config();
    test_flow_l1_gradient();
    return test_finish("test_flow_hybrid");
}
