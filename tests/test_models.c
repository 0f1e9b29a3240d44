/* test_models: the fsth networks (models/models.h) on tiny configurations: shapes and
 * ranges, finite-difference checks of every backward the training uses (G with respect
 * to psi and its weights, E and D weights, D's input and projection: whole tensors along
 * their gradient's direction and three random ones, within 6 % (worst measured 3.3 %:
 * float32 round-off and ReLU kinks), and sampled coordinates), checkpoint round trip (F32
 * exact, F16 close), and clear errors for bad model files. */
#include "test.h"

#include "models/models.h"
#include "nn/safetensors.h"

#include <stdint.h>

static uint64_t rng_state = 12345;
static float frand(void) { /* uniform [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = frand() * scale;
}
static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---- G: loss = sum(out * R) ---- */
typedef struct g_case { fsth_model *m; float *in, *psi, *out, *R; int N; } g_case;

static double g_loss(g_case *c) {
    fsth_generator_prepare(&c->m->G, false);
    fsth_generator_forward(&c->m->G, c->out, c->in, c->psi, c->N);
    return dot(c->out, c->R, (size_t)c->N * 3 * c->m->config.size * c->m->config.size);
}

/* Relative agreement of analytic and numeric derivatives over a few coordinates. */
static void check_grad(const char *what, float *x, const float *analytic, size_t n, int samples,
                       double (*loss)(void *), void *ctx, float eps) {
    double max_err = 0.0, max_mag = 1e-3;
    for (int s = 0; s < samples; s++) {
        size_t i = (size_t)((frand() * 0.5f + 0.5f) * (float)(n - 1));
        float saved = x[i];
        x[i] = saved + eps;
        double lp = loss(ctx);
        x[i] = saved - eps;
        double lm = loss(ctx);
        x[i] = saved;
        double numeric = (lp - lm) / (2.0 * eps);
        double err = fabs(numeric - analytic[i]);
        if (err > max_err) max_err = err;
        if (fabs(numeric) > max_mag) max_mag = fabs(numeric);
    }
    loss(ctx);
    CHECK_MSG(max_err <= 0.1 * max_mag, "%s: max |numeric - analytic| %g vs scale %g", what, max_err, max_mag);
}

#ifndef G_SIZE
#define G_SIZE 32
#endif
#ifndef G_EPS
#define G_EPS 1e-3f
#endif
#ifndef BLOCK_EPS
#define BLOCK_EPS 1e-4f
#endif
/* Directional derivatives over the whole tensor (robust where single coordinates sit near
 * ReLU kinks or tiny instance-norm planes), along DIRECTIONS directions: the analytic
 * gradient's own (a gradient wrong in scale, or in the part of the tensor that matters most,
 * fails outright) and random ones (a gradient wrong in any part cannot pass by the luck of
 * one direction).  Each numeric derivative must agree with the analytic one within
 * DIRECTION_TOLERANCE of the larger of its size and the typical size along a random
 * direction, |g| |d| / sqrt(n) (float32 round-off in the loss sets that floor: a random
 * direction nearly orthogonal to g has a tiny derivative that round-off swamps). */
#define DIRECTIONS 4
#ifndef DIRECTION_TOLERANCE
#define DIRECTION_TOLERANCE 0.06
#endif
static double worst_direction_error; /* the largest error / scale seen, printed at the end */
static uint64_t direction_rng = 777;    /* the directions' own stream: check_grad's samples stay as they were */
static void check_direction(const char *what, float *x, const float *analytic, size_t n,
                            double (*loss)(void *), void *ctx, float eps) {
    float *d = malloc(n * sizeof(float)), *saved = malloc(n * sizeof(float));
    memcpy(saved, x, n * sizeof(float));
    double g_norm = sqrt(dot(analytic, analytic, n));
    for (int k = 0; k < DIRECTIONS; k++) {
        if (k == 0) { /* along the gradient, scaled to the random directions' RMS (1/sqrt 3) */
            double scale = g_norm > 0 ? sqrt((double)n / 3.0) / g_norm : 0;
            for (size_t i = 0; i < n; i++) d[i] = (float)(analytic[i] * scale);
        } else {
            uint64_t other = rng_state;
            rng_state = direction_rng;
            fill(d, n, 1.0f);
            direction_rng = rng_state;
            rng_state = other;
        }
        for (size_t i = 0; i < n; i++) x[i] = saved[i] + eps * d[i];
        double lp = loss(ctx);
        for (size_t i = 0; i < n; i++) x[i] = saved[i] - eps * d[i];
        double lm = loss(ctx);
        memcpy(x, saved, n * sizeof(float));
        double numeric = (lp - lm) / (2.0 * eps), exact = dot(analytic, d, n);
        double typical = g_norm * sqrt(dot(d, d, n) / (double)n);
        double scale = fmax(fabs(exact), typical) + 1e-6, error = fabs(numeric - exact) / scale;
        if (error > worst_direction_error) worst_direction_error = error;
        CHECK_MSG(error <= DIRECTION_TOLERANCE, "%s, direction %d: directional numeric %g, analytic %g (scale %g)", what,
                  k, numeric, exact, scale);
    }
    loss(ctx);
    free(d);
    free(saved);
}

static double g_loss_void(void *c) { return g_loss(c); }

static void test_generator_gradients(bool hybrid, bool attention, bool residual, bool flow) {
    fsth_config cfg = fsth_config_default(G_SIZE);
    cfg.width = 4, cfg.bottleneck_blocks = 1, cfg.hybrid = hybrid, cfg.attention = attention;
    cfg.residual = residual, cfg.flow = flow, cfg.flow_pixels = 2.0f;
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &cfg, 7));
    if (!m) return;
    g_case c = {m, NULL, NULL, NULL, NULL, 2};
    int S = G_SIZE, inc = fsth_generator_in_channels(&cfg);
    size_t plane = (size_t)S * S, out_n = (size_t)c.N * 3 * plane;
    c.in = malloc((size_t)c.N * inc * plane * sizeof(float));
    c.psi = malloc((size_t)c.N * m->G.psi_dim * sizeof(float));
    c.out = malloc(out_n * sizeof(float));
    c.R = malloc(out_n * sizeof(float));
    float *dpsi = calloc((size_t)c.N * m->G.psi_dim, sizeof(float));
    fill(c.in, (size_t)c.N * inc * plane, 1.0f);
    if (hybrid) /* validity in [0, 1] */
        for (int n = 0; n < c.N; n++)
            for (size_t i = 0; i < plane; i++) c.in[(size_t)n * inc * plane + 6 * plane + i] = frand() * 0.5f + 0.5f;
    if (flow) /* a smooth warp: bilinear sampling's kinks (at whole pixels) stay below the tolerance */
        for (int n = 0; n < c.N; n++)
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++)
                        c.in[(size_t)n * inc * plane + (3 + ch) * plane + (size_t)y * S + x] =
                            0.9f * sinf(0.21f * x + 0.13f * y * (ch + 1) + (float)n + ch);
    fill(c.psi, (size_t)c.N * m->G.psi_dim, 0.3f);
    fill(c.R, out_n, 1.0f);
    if (attention) param_data(&m->G.ps, m->G.attention.gamma)[0] = 0.5f; /* exercise its weights */
    if (hybrid) { /* a fresh hybrid blends 0.95 towards the warp: check it, then balance both paths */
        CHECK_NEAR(param_data(&m->G.ps, m->G.head.bias)[3], 3.0, 0.0);
        param_data(&m->G.ps, m->G.head.bias)[3] = 0.0f;
    }
    if (residual) { /* a fresh one starts as the warp, within 0.1 */
        g_loss(&c);
        double worst = 0.0;
        for (int n = 0; n < c.N; n++)
            for (size_t i = 0; i < 3 * plane; i++)
                worst = fmax(worst, fabs(c.out[(size_t)n * 3 * plane + i] - c.in[(size_t)n * inc * plane + 3 * plane + i]));
        CHECK_MSG(worst < 0.1, "fresh residual model: |out - warped| up to %g", worst);
        int idx = param_store_find(&m->G.ps, "G.head.weight"); /* then a head that paints */
        fill(param_data(&m->G.ps, idx), m->G.ps.entries[idx].size, 0.5f);
    }
    if (residual && !flow) { /* out = warped + tanh(rgb): the blend path's painting with the blend at 0 */
        float *painting = malloc(out_n * sizeof(float)), bias = param_data(&m->G.ps, m->G.head.bias)[3];
        m->G.config.residual = false;
        param_data(&m->G.ps, m->G.head.bias)[3] = -100.0f;
        g_loss(&c);
        memcpy(painting, c.out, out_n * sizeof(float));
        m->G.config.residual = true;
        param_data(&m->G.ps, m->G.head.bias)[3] = bias;
        g_loss(&c);
        double worst = 0.0;
        for (int n = 0; n < c.N; n++)
            for (size_t i = 0; i < 3 * plane; i++) {
                size_t j = (size_t)n * 3 * plane + i;
                double e = fabs(c.out[j] - c.in[(size_t)n * inc * plane + 3 * plane + i] - painting[j]);
                if (e > worst) worst = e;
            }
        CHECK_MSG(worst < 1e-5, "residual output - warped vs the painting: %g", worst);
        free(painting);
    }
    g_loss(&c);
    param_store_zero_grad(&m->G.ps);
    CHECK_OK(fsth_generator_backward(&m->G, dpsi, c.R, c.in, c.psi, c.N, true));
    float range = residual ? 2.0f : 1.0f; /* warped in [-1, 1] plus a correction in [-1, 1] */
    if (flow) { /* the head filled above moves the warp: by up to the bound, 2 px */
        double most = 0.0;
        for (size_t i = 0; i < (size_t)c.N * 2 * plane; i++) most = fmax(most, fabs(m->G.flow[i]));
        CHECK_MSG(most > 0.5 && most <= 2.0, "flow: largest displacement %g px", most);
    }
    for (size_t i = 0; i < out_n; i++) CHECK(c.out[i] >= -range && c.out[i] <= range);
    if (residual) CHECK(param_grad(&m->G.ps, m->G.head.bias)[3] == 0.0f); /* the blend unused */
    char what[64];
    /* The head's AdaIN values: the last 2 * width entries of each psi row. */
    int head = m->G.head_psi_offset;
    float *dhead = calloc((size_t)c.N * 2 * cfg.width, sizeof(float));
    for (int n = 0; n < c.N; n++)
        for (int j = 0; j < 2 * cfg.width; j++) dhead[n * 2 * cfg.width + j] = dpsi[(size_t)n * m->G.psi_dim + head + j];
    for (int n = 0; n < c.N; n++) {
        snprintf(what, sizeof what, "G head psi%s sample %d", flow ? " flow" : residual ? " residual" : hybrid ? " hybrid" : "", n);
        check_direction(what, c.psi + (size_t)n * m->G.psi_dim + head, dhead + n * 2 * cfg.width,
                        (size_t)2 * cfg.width, g_loss_void, &c, G_EPS);
    }
    free(dhead);
    const char *tensors[] = {"G.head.weight", "G.head.bias", "G.up3.conv2.weight", "G.attention.wq"};
    for (int t = 0; t < 4; t++) {
        int idx = param_store_find(&m->G.ps, tensors[t]);
        if (idx < 0) { CHECK(t == 3 && !attention); continue; }
        snprintf(what, sizeof what, "G %s%s", tensors[t], flow ? " flow" : residual ? " residual" : hybrid ? " hybrid" : "");
        check_direction(what, param_data(&m->G.ps, idx), param_grad(&m->G.ps, idx),
                        m->G.ps.entries[idx].size, g_loss_void, &c, G_EPS);
    }
    free(c.in), free(c.psi), free(c.out), free(c.R), free(dpsi);
    fsth_model_free(m);
}

/* ---- One block of each kind: x, psi and both convolutions, eps 1e-4 ---- */
typedef struct block_case { param_store ps; fsth_block b; float *x, *psi, *R; int N, stride; size_t out_n; } block_case;

static double block_loss(void *p) {
    block_case *c = p;
    fsth_block_prepare(&c->b, &c->ps, false);
    fsth_block_forward(&c->b, &c->ps, c->x, c->psi, c->stride, c->N);
    return dot(c->b.out, c->R, c->out_n);
}

static void test_block_gradients(fsth_norm norm, fsth_resample resample, bool first, int cin, int cout) {
    block_case c = {.N = 2};
    param_store_init(&c.ps);
    CHECK_OK(fsth_block_declare(&c.b, &c.ps, "b", norm, resample, first, cin, cout, 8, 8, 1));
    CHECK_OK(param_store_alloc(&c.ps));
    uint64_t r = 3;
    fsth_block_init(&c.b, &c.ps, &r);
    c.stride = fsth_block_psi_size(&c.b) + 3;
    size_t xn = (size_t)c.N * cin * 64;
    c.x = malloc(xn * sizeof(float));
    c.psi = malloc((size_t)c.N * c.stride * sizeof(float));
    fill(c.x, xn, 1.0f);
    fill(c.psi, (size_t)c.N * c.stride, 0.3f);
    c.out_n = (size_t)c.N * cout * c.b.out_H * c.b.out_W;
    c.R = malloc(c.out_n * sizeof(float));
    fill(c.R, c.out_n, 1.0f);
    block_loss(&c);
    float *dx = calloc(xn, sizeof(float)), *dpsi = calloc((size_t)c.N * c.stride, sizeof(float));
    param_store_zero_grad(&c.ps);
    CHECK_OK(fsth_block_backward(&c.b, &c.ps, dx, dpsi, c.R, c.x, c.stride, c.N, true));
    char what[96];
    const char *names[3] = {"none", "instance", "adain"}, *rs[3] = {"same", "down", "up"};
    snprintf(what, sizeof what, "block %s %s%s %d->%d", names[norm], rs[resample], first ? " first" : "", cin, cout);
    char item[256];
    snprintf(item, sizeof item, "%s dx", what);
    check_direction(item, c.x, dx, xn, block_loss, &c, BLOCK_EPS);
    if (norm == FSTH_NORM_ADAIN) {
        snprintf(item, sizeof item, "%s dpsi", what);
        check_direction(item, c.psi, dpsi, (size_t)c.N * c.stride, block_loss, &c, BLOCK_EPS);
        CHECK(dpsi[0] == 0.0f); /* psi_offset 1: entry 0 belongs to nobody */
    }
    int tensors[3] = {c.b.conv1.weight, c.b.conv2.weight, c.b.has_skip ? c.b.skip.weight : c.b.conv2.bias};
    for (int t = 0; t < 3; t++) {
        snprintf(item, sizeof item, "%s %s", what, c.ps.entries[tensors[t]].name);
        check_direction(item, param_data(&c.ps, tensors[t]), param_grad(&c.ps, tensors[t]),
                        c.ps.entries[tensors[t]].size, block_loss, &c, BLOCK_EPS);
    }
    free(dx), free(dpsi), free(c.x), free(c.psi), free(c.R);
    fsth_block_free(&c.b);
    param_store_free(&c.ps);
}

/* ---- E and D ---- */
typedef struct ed_case { fsth_model *m; float *xy, *proj, *out, *R; int N; bool use_d; } ed_case;

static double ed_loss(void *p) {
    ed_case *c = p;
    int emb = fsth_embedding_dim(&c->m->config);
    if (c->use_d) {
        fsth_discriminator_prepare(&c->m->D, false);
        fsth_discriminator_forward(&c->m->D, c->out, c->xy, c->proj, c->N);
        double l = dot(c->out, c->R, (size_t)c->N);
        size_t count; /* plus a feature term (the feature-matching path) */
        const float *f = fsth_discriminator_feature(&c->m->D, 1, c->N, &count);
        return l + 0.1 * dot(f, c->R + 64, count < 200 ? count : 200);
    }
    fsth_embedder_prepare(&c->m->E, false);
    fsth_embedder_forward(&c->m->E, c->out, c->xy, c->N);
    return dot(c->out, c->R, (size_t)c->N * emb);
}

static void test_embedder_discriminator_gradients(void) {
    fsth_config cfg = fsth_config_default(32);
    cfg.width = 4, cfg.videos = 3, cfg.attention = true;
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &cfg, 9));
    if (!m) return;
    int emb = fsth_embedding_dim(&cfg), N = 2;
    CHECK(emb == 32);
    size_t plane = 32 * 32, xy_n = (size_t)N * 6 * plane;
    ed_case c = {m, malloc(xy_n * sizeof(float)), malloc((size_t)N * emb * sizeof(float)),
                 malloc((size_t)N * emb * sizeof(float)), malloc(4096 * sizeof(float)), N, false};
    fill(c.xy, xy_n, 1.0f);
    fill(c.R, 4096, 1.0f);
    int videos[2] = {2, 0};
    fsth_discriminator_projection(&m->D, c.proj, videos, N);
    CHECK_NEAR(c.proj[0], param_data(&m->D.ps, m->D.table)[2 * emb] + param_data(&m->D.ps, m->D.w0)[0], 1e-6);
    /* E */
    ed_loss(&c);
    param_store_zero_grad(&m->E.ps);
    CHECK_OK(fsth_embedder_backward(&m->E, c.R, c.xy, N));
    const char *e_tensors[] = {"E.block0.conv1.weight", "E.block1.skip.weight", "E.block2.conv2.weight"};
    for (int t = 0; t < 3; t++) {
        int idx = param_store_find(&m->E.ps, e_tensors[t]);
        CHECK(idx >= 0);
        if (idx >= 0)
            check_grad(e_tensors[t], param_data(&m->E.ps, idx), param_grad(&m->E.ps, idx),
                       m->E.ps.entries[idx].size, 6, ed_loss, &c, 1e-2f);
    }
    /* D: parameters, input, projection, and a feature gradient */
    c.use_d = true;
    param_data(&m->D.ps, m->D.attention.gamma)[0] = 0.5f;
    ed_loss(&c);
    param_store_zero_grad(&m->D.ps);
    float *dxy = calloc(xy_n, sizeof(float)), *dproj = calloc((size_t)N * emb, sizeof(float));
    size_t count;
    fsth_discriminator_feature(&m->D, 1, N, &count);
    float *dfeat1 = calloc(count, sizeof(float));
    for (size_t i = 0; i < count && i < 200; i++) dfeat1[i] = 0.1f * c.R[64 + i];
    float *dfeat[FSTH_MAX_BLOCKS] = {NULL, dfeat1};
    CHECK_OK(fsth_discriminator_backward(&m->D, dxy, dproj, c.R, dfeat, c.xy, c.proj, N, true));
    check_grad("D input", c.xy, dxy, xy_n, 10, ed_loss, &c, 1e-2f);
    check_grad("D projection", c.proj, dproj, (size_t)N * emb, 8, ed_loss, &c, 1e-2f);
    const char *d_tensors[] = {"D.block0.conv1.weight", "D.block3.conv2.weight", "D.attention.wv", "D.b"};
    for (int t = 0; t < 4; t++) {
        int idx = param_store_find(&m->D.ps, d_tensors[t]);
        CHECK(idx >= 0);
        if (idx >= 0)
            check_grad(d_tensors[t], param_data(&m->D.ps, idx), param_grad(&m->D.ps, idx),
                       m->D.ps.entries[idx].size, 6, ed_loss, &c, 1e-2f);
    }
    free(dxy), free(dproj), free(dfeat1);
    free(c.xy), free(c.proj), free(c.out), free(c.R);
    fsth_model_free(m);
}

/* ---- Files ---- */

static void render_person(fsth_model *m, float *out) {
    int S = m->config.size;
    float target[68][2];
    for (int i = 0; i < 68; i++) target[i][0] = 8.0f + (i % 17), target[i][1] = 8.0f + (i / 17) * 4.0f;
    vv_image img = {0};
    CHECK_OK(fsth_render(m, (const float (*)[2])target, &img));
    CHECK(img.width == S && img.height == S && img.channels == 3);
    for (int i = 0; i < S * S * 3 && img.data; i++) out[i] = img.data[i];
    vv_image_free(&img);
}

static void test_files(void) {
    const char *dir = test_tmp_dir("test_models");
    char path[4200], path16[4200], bad[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(path16, sizeof path16, "%s/model16.safetensors", dir);
    fsth_config cfg = fsth_config_default(32);
    cfg.width = 4, cfg.bottleneck_blocks = 2, cfg.attention = true, cfg.videos = 5;
    fsth_model *m, *loaded = NULL, *half = NULL;
    CHECK_OK(fsth_model_new(&m, &cfg, 3));
    if (!m) return;
    fill(m->person_psi, (size_t)m->G.psi_dim, 0.2f);
    m->has_person = true;
    CHECK_OK(fsth_model_save(m, path, false));
    CHECK_OK(fsth_model_load(&loaded, path));
    CHECK_OK(fsth_model_save(m, path16, true));
    CHECK_OK(fsth_model_load(&half, path16));
    if (loaded && half) {
        CHECK(loaded->config.attention && loaded->config.bottleneck_blocks == 2 && loaded->config.videos == 5);
        CHECK(loaded->has_person);
        CHECK(memcmp(loaded->G.ps.data, m->G.ps.data, m->G.ps.total * sizeof(float)) == 0);
        CHECK(memcmp(loaded->D.ps.data, m->D.ps.data, m->D.ps.total * sizeof(float)) == 0);
        static float a[32 * 32 * 3], b[32 * 32 * 3], h[32 * 32 * 3];
        render_person(m, a);
        render_person(loaded, b);
        render_person(half, h);
        CHECK(memcmp(a, b, sizeof a) == 0);
        double diff = 0.0;
        for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) diff += fabs(a[i] - h[i]);
        CHECK_MSG(diff / (sizeof h / sizeof h[0]) < 2.0, "fp16 model renders %g levels off on average", diff / 3072);
    }
    fsth_model_free(loaded);
    fsth_model_free(half);
    /* Truncated file. */
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK_OK(file_read_all(path, 64u << 20, &bytes, &size));
    snprintf(bad, sizeof bad, "%s/truncated.safetensors", dir);
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, size - 100, f);
    fclose(f);
    loaded = NULL;
    vv_status s = fsth_model_load(&loaded, bad);
    CHECK(s == VV_ERR_CORRUPT || s == VV_ERR_FORMAT);
    CHECK(loaded == NULL);
    free(bytes);
    /* Missing metadata: a plain parameter file. */
    snprintf(bad, sizeof bad, "%s/nometa.safetensors", dir);
    CHECK_OK(param_store_save(&m->G.ps, bad, NULL, NULL, 0));
    s = fsth_model_load(&loaded, bad);
    CHECK(s == VV_ERR_MODEL);
    CHECK_MSG(strstr(vv_last_error(), "format") != NULL, "message: %s", vv_last_error());
    /* Wrong tensors: the metadata of a wider model over these tensors. */
    {
        fsth_config wide = cfg;
        wide.width = 8;
        fsth_model *w8;
        CHECK_OK(fsth_model_new(&w8, &wide, 1));
        snprintf(bad, sizeof bad, "%s/wrong.safetensors", dir);
        const char *keys[2] = {"format", "config"};
        char json[256];
        fsth_config_to_json(&cfg, json, sizeof json);
        const char *values[2] = {FSTH_FORMAT, json};
        CHECK_OK(param_store_save(&w8->E.ps, bad, keys, values, 2));
        s = fsth_model_load(&loaded, bad);
        CHECK(s == VV_ERR_MODEL);
        CHECK_MSG(strstr(vv_last_error(), "'G.head.weight' / 'D.W' missing") != NULL, "message: %s", vv_last_error());
        /* The right head and table but the wrong rest. */
        {
            param_store mix;
            param_store_init(&mix);
            int hi = 0, wi = 0, ei = 0, hs[4] = {3, 4, 3, 3}, ws[2] = {5, 32}, es[4] = {9, 6, 3, 3};
            param_store_add(&mix, "G.head.weight", 4, hs, &hi);
            param_store_add(&mix, "D.W", 2, ws, &wi);
            param_store_add(&mix, "E.block0.conv1.weight", 4, es, &ei);
            CHECK_OK(param_store_alloc(&mix));
            CHECK_OK(param_store_save(&mix, bad, keys, values, 2));
            param_store_free(&mix);
            s = fsth_model_load(&loaded, bad);
            CHECK(s == VV_ERR_MODEL);
            CHECK_MSG(strstr(vv_last_error(), "tensor 'E.block0.conv1.weight' missing or of another shape") != NULL,
                      "message: %s", vv_last_error());
        }
        fsth_model_free(w8);
        /* Bad config values. */
        const char *bad_json[2] = {FSTH_FORMAT, "{\"size\":48,\"width\":4,\"bottleneck_blocks\":2,\"attention\":true,\"hybrid\":false,\"videos\":5}"};
        CHECK_OK(param_store_save(&m->E.ps, bad, keys, bad_json, 2));
        s = fsth_model_load(&loaded, bad);
        CHECK(s == VV_ERR_MODEL && strstr(vv_last_error(), "size 48"));
        const char *no_width[2] = {FSTH_FORMAT, "{\"size\":32}"};
        CHECK_OK(param_store_save(&m->E.ps, bad, keys, no_width, 2));
        s = fsth_model_load(&loaded, bad);
        CHECK(s == VV_ERR_MODEL && strstr(vv_last_error(), "'width' missing"));
    }
    s = fsth_model_load(&loaded, "/nonexistent/model.safetensors");
    CHECK(s == VV_ERR_NOT_FOUND);
    fsth_model_free(m);
}

/* The config's warp3d flag: written only when set, read back; older files (no key) are 2D
 * hybrids; warp3d without hybrid and a non-boolean value are refused. */
static void test_config_warp3d(void) {
    fsth_config c = fsth_config_default(128), back;
    char json[256];
    c.hybrid = true;
    CHECK_OK(fsth_config_to_json(&c, json, sizeof json));
    CHECK(strstr(json, "warp3d") == NULL);
    CHECK_OK(fsth_config_from_json(&back, json));
    CHECK(back.hybrid && !back.warp3d);
    c.warp3d = true;
    CHECK_OK(fsth_config_to_json(&c, json, sizeof json));
    CHECK_OK(fsth_config_from_json(&back, json));
    CHECK(back.hybrid && back.warp3d);
    CHECK(fsth_config_from_json(&back, "{\"size\":128,\"width\":16,\"bottleneck_blocks\":4,\"attention\":false,"
                                       "\"hybrid\":false,\"videos\":3,\"warp3d\":true}") == VV_ERR_MODEL);
    CHECK_MSG(strstr(vv_last_error(), "warp3d") != NULL, "message: %s", vv_last_error());
    CHECK(fsth_config_from_json(&back, "{\"size\":128,\"width\":16,\"bottleneck_blocks\":4,\"attention\":false,"
                                       "\"hybrid\":true,\"videos\":3,\"warp3d\":1}") == VV_ERR_MODEL);
    /* residual likewise: absent = a blending hybrid; only for a hybrid */
    CHECK(!back.residual);
    c.residual = true;
    CHECK_OK(fsth_config_to_json(&c, json, sizeof json));
    CHECK_OK(fsth_config_from_json(&back, json));
    CHECK(back.hybrid && back.warp3d && back.residual);
    CHECK(fsth_config_from_json(&back, "{\"size\":128,\"width\":16,\"bottleneck_blocks\":4,\"attention\":false,"
                                       "\"hybrid\":false,\"videos\":3,\"residual\":true}") == VV_ERR_MODEL);
    CHECK_MSG(strstr(vv_last_error(), "residual") != NULL, "message: %s", vv_last_error());
}

int main(void) {
    test_block_gradients(FSTH_NORM_NONE, FSTH_DOWN, true, 6, 8);
    test_block_gradients(FSTH_NORM_NONE, FSTH_SAME, false, 8, 8);
    test_block_gradients(FSTH_NORM_INSTANCE, FSTH_DOWN, true, 3, 4);
    test_block_gradients(FSTH_NORM_INSTANCE, FSTH_DOWN, false, 4, 8);
    test_block_gradients(FSTH_NORM_ADAIN, FSTH_SAME, false, 8, 8);
    test_block_gradients(FSTH_NORM_ADAIN, FSTH_UP, false, 8, 4);
    test_block_gradients(FSTH_NORM_ADAIN, FSTH_SAME, false, 4, 8);
    test_generator_gradients(false, false, false, false);
    test_generator_gradients(true, true, false, false);
    test_generator_gradients(true, false, true, false);
    test_generator_gradients(true, false, true, true);
    test_embedder_discriminator_gradients();
    test_files();
    test_config_warp3d();
    printf("directional derivatives: worst relative error %.2e (tolerance %g)\n", worst_direction_error,
           DIRECTION_TOLERANCE);
    return test_finish("test_models");
}
