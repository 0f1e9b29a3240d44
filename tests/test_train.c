/* test_train: meta-learning on a tiny model and a tiny synthetic episode source (each
 * "video" is a face drawn from jittered landmarks in its own colours), then a tiny .vds
 * written with the dataset writer: the loss falls, resuming from a checkpoint repeats the
 * uninterrupted step exactly, two fresh runs with one seed are byte-identical step for step
 * (another seed is not), FF and FT give frames of the right size from one shot; two
 * data-parallel ranks (forked, summing through shared memory) take one process's step. */
#include "test.h"

#include "img/image.h"
#include "nn/tfjs.h"
#include "train/train.h"
#include "warp/mesh.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define VIDEOS 3

typedef struct synthetic { int S; bool hybrid; } synthetic;

static uint64_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}
static float unit(uint64_t *s) { return (float)(next(s) % 100000) / 100000.0f; }

static void synthetic_points(float points[68][2], int S, uint64_t *rng) {
    const float (*mean)[2] = face_mean_landmarks();
    float scale = S / 4.5f * (0.9f + 0.2f * unit(rng));
    float dx = (unit(rng) - 0.5f) * S / 8.0f, dy = (unit(rng) - 0.5f) * S / 8.0f;
    float open = unit(rng) * 0.3f;
    for (int i = 0; i < 68; i++) {
        float y = mean[i][1] + ((i >= 56 && i <= 59) || i >= 65 ? open : 0.0f);
        points[i][0] = S * 0.5f + dx + mean[i][0] * scale;
        points[i][1] = S * 0.4f + dy + y * scale;
    }
}

/* The frame of video v: its background colour with the landmarks drawn in its colour. */
static void synthetic_frame(vv_image *img, const float points[68][2], int v) {
    static const uint8_t bg[VIDEOS][3] = {{200, 60, 40}, {40, 160, 80}, {60, 70, 190}};
    static const uint8_t fg[VIDEOS][3] = {{250, 230, 80}, {20, 20, 20}, {240, 240, 240}};
    landmarks_rasterize(img, points, 1);
    for (int i = 0; i < img->width * img->height; i++) {
        bool line = img->data[i * 3] | img->data[i * 3 + 1] | img->data[i * 3 + 2];
        for (int c = 0; c < 3; c++) img->data[i * 3 + c] = line ? fg[v][c] : bg[v][c];
    }
}

static vv_status synthetic_episode(void *ctx, uint64_t *rng, fsth_batch *b) {
    synthetic *syn = ctx;
    int S = b->S;
    size_t plane = (size_t)S * S;
    vv_image img;
    vv_status status = image_create(&img, S, S, 3);
    if (status != VV_OK) return status;
    float points[68][2], shot0[68][2];
    for (int e = 0; e < b->B; e++) {
        int v = (int)(next(rng) % VIDEOS);
        b->videos[e] = v;
        for (int k = 0; k <= b->K; k++) {
            float *xy = k < b->K ? b->shots + ((size_t)e * b->K + k) * 6 * plane : b->target + (size_t)e * 6 * plane;
            synthetic_points(points, S, rng);
            if (k == 0) memcpy(shot0, points, sizeof points);
            synthetic_frame(&img, (const float (*)[2])points, v);
            fsth_image_to_tensor(xy, &img);
            fsth_landmark_tensor(xy + 3 * plane, (const float (*)[2])points, S);
        }
        float *g = b->g_in + (size_t)e * b->in_channels * plane;
        memcpy(g, b->target + (size_t)e * 6 * plane + 3 * plane, 3 * plane * sizeof(float));
        if (syn->hybrid)
            fsth_warp_inputs(g + 3 * plane, g + 6 * plane, b->shots + (size_t)e * b->K * 6 * plane,
                             (const float (*)[2])shot0, (const float (*)[2])points, S);
    }
    image_free(&img);
    return VV_OK;
}

static fsth_config tiny_config(bool hybrid) {
    fsth_config c = fsth_config_default(32);
    c.width = 8, c.bottleneck_blocks = 1, c.videos = VIDEOS, c.hybrid = hybrid;
    return c;
}

static fsth_train_params fast_params(void) {
    fsth_train_params p = fsth_train_default_params();
    p.k = 2, p.batch = 2, p.seed = 5;
    p.lr_g = 1e-3f, p.lr_d = 1e-3f; /* the paper's rates are for days of training */
    return p;
}

static void test_loss_falls(bool hybrid, int steps) {
    fsth_config c = tiny_config(hybrid);
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &c, 11));
    fsth_train_params p = fast_params();
    fsth_trainer *t;
    CHECK_OK(fsth_trainer_new(&t, m, &p));
    synthetic syn = {32, hybrid};
    double first = 0.0, last = 0.0;
    fsth_losses l;
    for (int i = 0; i < steps; i++) {
        CHECK_OK(fsth_train_step(t, synthetic_episode, &syn, &l));
        if (i < 5) first += l.pixel / 5.0;
        if (i >= steps - 5) last += l.pixel / 5.0;
    }
    CHECK(fsth_trainer_step(t) == steps);
    CHECK(fsth_train_step_flops(t) > 1e6);
    printf("%s: pixel L1 %.3f (first 5 steps) -> %.3f (last 5 of %d), %.0f%% lower\n",
           hybrid ? "hybrid" : "fsth", first, last, steps, 100.0 * (1.0 - last / first));
    /* The hybrid model starts as the warp (already close), the plain one from noise. */
    double wanted = hybrid ? 0.97 : 0.75;
    CHECK_MSG(last < wanted * first, "pixel loss fell only from %g to %g", first, last);
    if (hybrid) CHECK(first < 0.2);
    fsth_trainer_free(t);
    fsth_model_free(m);
}

static void test_resume(void) {
    const char *dir = test_tmp_dir("test_train");
    char model_path[4200], state_path[4200];
    snprintf(model_path, sizeof model_path, "%s/resume.safetensors", dir);
    snprintf(state_path, sizeof state_path, "%s/resume.state", dir);
    fsth_config c = tiny_config(false);
    fsth_train_params p = fast_params();
    synthetic syn = {32, false};
    fsth_model *a, *b = NULL;
    fsth_trainer *ta, *tb = NULL;
    fsth_losses la, lb;
    CHECK_OK(fsth_model_new(&a, &c, 3));
    CHECK_OK(fsth_trainer_new(&ta, a, &p));
    for (int i = 0; i < 3; i++) CHECK_OK(fsth_train_step(ta, synthetic_episode, &syn, &la));
    CHECK_OK(fsth_model_save(a, model_path, false));
    CHECK_OK(fsth_trainer_save_state(ta, state_path));
    CHECK_OK(fsth_train_step(ta, synthetic_episode, &syn, &la));
    CHECK_OK(fsth_model_load(&b, model_path));
    if (b) {
        CHECK_OK(fsth_trainer_new(&tb, b, &p));
        CHECK_OK(fsth_trainer_load_state(tb, state_path));
        CHECK(fsth_trainer_step(tb) == 3);
        CHECK_OK(fsth_train_step(tb, synthetic_episode, &syn, &lb));
        CHECK(memcmp(&la, &lb, sizeof la) == 0);
        CHECK(memcmp(a->E.ps.data, b->E.ps.data, a->E.ps.total * sizeof(float)) == 0);
        CHECK(memcmp(a->G.ps.data, b->G.ps.data, a->G.ps.total * sizeof(float)) == 0);
        CHECK(memcmp(a->D.ps.data, b->D.ps.data, a->D.ps.total * sizeof(float)) == 0);
        CHECK(memcmp(a->D.ps.adam_v, b->D.ps.adam_v, a->D.ps.total * sizeof(float)) == 0);
        /* A state file of another configuration is refused. */
        fsth_config other = c;
        other.width = 4;
        fsth_model *o;
        fsth_trainer *to;
        CHECK_OK(fsth_model_new(&o, &other, 1));
        CHECK_OK(fsth_trainer_new(&to, o, &p));
        CHECK(fsth_trainer_load_state(to, state_path) == VV_ERR_MODEL);
        CHECK(fsth_trainer_load_state(to, model_path) == VV_ERR_MODEL);
        fsth_trainer_free(to);
        fsth_model_free(o);
        /* The episode mode travels with the state: a run that drew by person resumes so when
         * none is given, and is refused when resumed by clip; the first run (by clip) too. */
        CHECK(fsth_trainer_episodes(ta) == DATASET_EPISODE_CLIP);
        fsth_train_params by_person = p, unknown = p;
        by_person.episodes = DATASET_EPISODE_PERSON;
        unknown.episodes = -1;
        fsth_trainer *tp = NULL, *tu = NULL, *tc = NULL;
        CHECK_OK(fsth_trainer_new(&tp, b, &by_person));
        CHECK(fsth_trainer_load_state(tp, state_path) == VV_ERR_INVALID_ARGUMENT); /* saved by clip */
        CHECK_OK(fsth_trainer_save_state(tp, state_path));
        CHECK_OK(fsth_trainer_new(&tu, b, &unknown));
        CHECK_OK(fsth_trainer_load_state(tu, state_path));
        CHECK(fsth_trainer_episodes(tu) == DATASET_EPISODE_PERSON);
        CHECK_OK(fsth_trainer_new(&tc, b, &p));
        CHECK(fsth_trainer_load_state(tc, state_path) == VV_ERR_INVALID_ARGUMENT);
        fsth_trainer_free(tp);
        fsth_trainer_free(tu);
        fsth_trainer_free(tc);
        /* The options besides the mode travel with the state too (vivify train --resume
         * takes them unless given again); a file without them reads as not recorded. */
        fsth_train_params tuned = p;
        tuned.k = 3, tuned.seed = 7, tuned.lr_g = 3e-5f, tuned.lr_d = 1.5e-4f, tuned.w_perceptual = 1.25f,
        tuned.w_regions = 2.0f, tuned.w_fm = 0.0f;
        fsth_trainer *tt = NULL;
        CHECK_OK(fsth_trainer_new(&tt, b, &tuned));
        CHECK_OK(fsth_trainer_save_state(tt, state_path));
        fsth_train_params back = fsth_train_default_params();
        bool recorded = false;
        CHECK_OK(fsth_train_state_params(state_path, &back, &recorded));
        CHECK(recorded && back.k == 3 && back.batch == tuned.batch && back.seed == 7);
        CHECK(back.lr_g == tuned.lr_g && back.lr_d == tuned.lr_d && back.w_identity == tuned.w_identity);
        CHECK(back.w_perceptual == 1.25f && back.w_regions == 2.0f && back.w_fm == 0.0f && back.w_adv == tuned.w_adv);
        CHECK(back.w_invented == tuned.w_invented && back.w_pixel == fsth_train_default_params().w_pixel);
        fsth_train_params untouched = fsth_train_default_params();
        CHECK_OK(fsth_train_state_params(model_path, &untouched, &recorded));
        CHECK(!recorded && untouched.k == fsth_train_default_params().k);
        CHECK(fsth_train_state_params(dir, &untouched, &recorded) != VV_OK); /* a folder */
        fsth_trainer_free(tt);
    }
    fsth_trainer_free(ta);
    fsth_trainer_free(tb);
    fsth_model_free(a);
    fsth_model_free(b);
}

/* One fresh training run as `vivify train --seed` does it: the model initialised from the
 * seed, the episodes drawn from it; per-step losses kept, the checkpoint (model + state)
 * written to PREFIX.safetensors / PREFIX.state. */
#define SEED_STEPS 4
static void seeded_run(uint64_t seed, const char *prefix, fsth_losses losses[SEED_STEPS]) {
    char model_path[4200], state_path[4200];
    snprintf(model_path, sizeof model_path, "%s.safetensors", prefix);
    snprintf(state_path, sizeof state_path, "%s.state", prefix);
    fsth_config c = tiny_config(false);
    fsth_train_params p = fast_params();
    p.seed = seed;
    synthetic syn = {32, false};
    fsth_model *m = NULL;
    fsth_trainer *t = NULL;
    memset(losses, 0, SEED_STEPS * sizeof losses[0]);
    CHECK_OK(fsth_model_new(&m, &c, seed));
    if (m) CHECK_OK(fsth_trainer_new(&t, m, &p));
    for (int i = 0; t && i < SEED_STEPS; i++) CHECK_OK(fsth_train_step(t, synthetic_episode, &syn, &losses[i]));
    if (t) {
        CHECK_OK(fsth_trainer_save_state(t, state_path));
        CHECK_OK(fsth_model_save(m, model_path, false));
    }
    fsth_trainer_free(t);
    fsth_model_free(m);
}

/* 1 when the two files hold the same bytes, 0 when not, -1 when one cannot be read. */
static int files_identical(const char *a, const char *b) {
    uint8_t *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    int same = -1;
    if (file_read_all(a, 64u << 20, &da, &na) == VV_OK && file_read_all(b, 64u << 20, &db, &nb) == VV_OK)
        same = na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return same;
}

/* Determinism: two fresh runs with one seed give byte-identical losses at every step and
 * byte-identical checkpoints; another seed gives other losses and another model. */
static void test_seed_reproducible(void) {
    const char *dir = test_tmp_dir("test_train");
    char prefix[3][4200], path[3][2][4300];
    const uint64_t seeds[3] = {7, 7, 8};
    fsth_losses losses[3][SEED_STEPS];
    for (int r = 0; r < 3; r++) {
        snprintf(prefix[r], sizeof prefix[r], "%s/seed_run%d", dir, r);
        snprintf(path[r][0], sizeof path[r][0], "%s.safetensors", prefix[r]);
        snprintf(path[r][1], sizeof path[r][1], "%s.state", prefix[r]);
        seeded_run(seeds[r], prefix[r], losses[r]);
    }
    for (int i = 0; i < SEED_STEPS; i++) {
        CHECK_MSG(memcmp(&losses[0][i], &losses[1][i], sizeof losses[0][i]) == 0,
                  "seed 7 step %d: G %.9g D %.9g, then G %.9g D %.9g", i + 1, losses[0][i].g_total,
                  losses[0][i].d_total, losses[1][i].g_total, losses[1][i].d_total);
        CHECK(losses[0][i].g_total > 0 && isfinite(losses[0][i].g_total));
    }
    CHECK_MSG(files_identical(path[0][0], path[1][0]) == 1, "%s and %s differ", path[0][0], path[1][0]);
    CHECK_MSG(files_identical(path[0][1], path[1][1]) == 1, "%s and %s differ", path[0][1], path[1][1]);
    int differing = 0;
    for (int i = 0; i < SEED_STEPS; i++) differing += memcmp(&losses[0][i], &losses[2][i], sizeof losses[0][i]) != 0;
    CHECK_MSG(differing == SEED_STEPS, "seeds 7 and 8 give the same losses at %d of %d steps", SEED_STEPS - differing,
              SEED_STEPS);
    CHECK(files_identical(path[0][0], path[2][0]) == 0);
    CHECK(files_identical(path[0][1], path[2][1]) == 0);
    printf("seed 7 twice: %d steps' losses and the checkpoint byte-identical (G %.6f -> %.6f); seed 8: G %.6f -> %.6f\n",
           SEED_STEPS, losses[0][0].g_total, losses[0][SEED_STEPS - 1].g_total, losses[2][0].g_total,
           losses[2][SEED_STEPS - 1].g_total);
    for (int r = 0; r < 3; r++) {
        remove(path[r][0]);
        remove(path[r][1]);
    }
}

/* Hybrid: the warp input has the opened inner mouth synthesised and marked invalid;
 * fsth_render's crop = warp * (1 - weight) + painting * weight; fsth_render_frame blends
 * only the painting into a full frame, by its weight. */
static void test_hybrid_layers(fsth_model *m, const float target[68][2]) {
    enum { S = 32, FRAME = 64, AT = 16 };
    const size_t plane = (size_t)S * S;
    float open[68][2];
    memcpy(open, target, sizeof open);
    for (int i = 65; i <= 67; i++) open[i][1] += 4.0f; /* lower inner lip down: the mouth opens */
    for (int i = 56; i <= 58; i++) open[i][1] += 4.0f;
    vv_image comp = {0}, painted = {0};
    uint8_t weight[S * S];
    CHECK_OK(fsth_render(m, (const float (*)[2])open, &comp));
    CHECK_OK(fsth_render_layers(m, (const float (*)[2])open, &painted, weight));
    if (!comp.data || !painted.data) return;
    CHECK(painted.width == S && painted.height == S && painted.channels == 3);
    const float *warped = m->scratch + 3 * plane, *valid = m->scratch + 6 * plane;
    double worst = 0.0, paint_sum = 0.0;
    int holes = 0, holes_inside = 0;
    for (size_t i = 0; i < plane; i++) {
        float w = weight[i] / 255.0f;
        for (int c = 0; c < 3; c++) {
            float warp = (warped[c * plane + i] + 1.0f) * 127.5f;
            float expect = warp * (1.0f - w) + painted.data[i * 3 + c] * w;
            worst = fmax(worst, fabs(expect - comp.data[i * 3 + c]));
        }
        paint_sum += w;
        if (valid[i] == 0.0f) {
            holes++;
            /* within the inner lips' box */
            float x = (float)(i % S), y = (float)(i / S);
            holes_inside += x >= open[60][0] - 1 && x <= open[64][0] + 1 && y >= open[62][1] - 1 && y <= open[66][1] + 1;
        } else {
            CHECK(valid[i] == 1.0f);
        }
    }
    CHECK_MSG(worst <= 2.0, "composite vs layers: %.2f levels apart", worst);
    CHECK_MSG(holes > 0 && holes_inside == holes, "synthesised mouth: %d pixels, %d of them inside the lips", holes, holes_inside);
    /* A fresh hybrid blend starts at sigmoid(3) = 0.95 towards the warp, mouth included. */
    CHECK_MSG(paint_sum / plane < 0.15, "mean paint weight %.3f", paint_sum / plane);
    /* Into a flat 64x64 frame with the crop at (16, 16), unscaled. */
    vv_image frame;
    CHECK_OK(image_create(&frame, FRAME, FRAME, 3));
    memset(frame.data, 77, (size_t)FRAME * FRAME * 3);
    float to_image[6] = {1, 0, AT, 0, 1, AT}, to_crop[6] = {1, 0, -AT, 0, 1, -AT}, in_frame[68][2];
    for (int i = 0; i < 68; i++) in_frame[i][0] = open[i][0] + AT, in_frame[i][1] = open[i][1] + AT;
    vv_image scratch = {0};
    CHECK_OK(fsth_render_frame(m, to_crop, to_image, (const float (*)[2])in_frame, &scratch, &frame));
    int outside_changed = 0;
    double excess = 0.0;
    for (int y = 0; y < FRAME; y++)
        for (int x = 0; x < FRAME; x++) {
            const uint8_t *p = frame.data + ((size_t)y * FRAME + x) * 3;
            bool inside = x >= AT && x < AT + S && y >= AT && y < AT + S;
            for (int c = 0; c < 3; c++) {
                if (!inside) {
                    outside_changed += p[c] != 77;
                    continue;
                }
                size_t i = (size_t)(y - AT) * S + (x - AT);
                /* at most `weight` of the way from the frame to the painting */
                double bound = weight[i] / 255.0 * fabs(painted.data[i * 3 + c] - 77.0) + 1.0;
                excess = fmax(excess, fabs(p[c] - 77.0) - bound);
            }
        }
    CHECK_MSG(outside_changed == 0, "%d values outside the crop changed", outside_changed);
    CHECK_MSG(excess <= 0.0, "a pixel moved %.2f levels further than its paint weight allows", excess);
    image_free(&frame);
    image_free(&scratch);
    image_free(&comp);
    image_free(&painted);
}

/* A residual hybrid (out = warp + G's correction): a fresh one is the warp; its frame is
 * the warp engine's frame plus the correction, inside the crop only, in full where the
 * crop's feathered border does not reach; without the adversarial and feature-matching
 * terms a meta-learning step leaves D's networks alone, and the pixel loss falls. */
static void test_residual(void) {
    enum { S = 32, FRAME = 64, AT = 16 };
    const size_t plane = (size_t)S * S;
    fsth_config c = tiny_config(true);
    c.residual = true;
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &c, 4));
    if (!m) return;
    vv_image shot;
    CHECK_OK(image_create(&shot, 80, 60, 3));
    uint64_t rng = 9;
    float points[68][2], target[68][2], in_frame[68][2];
    synthetic_points(points, 60, &rng);
    synthetic_frame(&shot, (const float (*)[2])points, 1);
    CHECK_OK(fsth_prepare(m, &shot, (const float (*)[68][2])points, 1));
    for (int i = 0; i < 30; i++) CHECK_OK(fsth_generator_prepare(&m->G, true)); /* spectral norm's u, v as trained */
    synthetic_points(target, S, &rng);
    vv_image comp = {0}, painted = {0}, scratch = {0}, frame;
    uint8_t weight[S * S];
    CHECK_OK(fsth_render(m, (const float (*)[2])target, &comp));
    double worst = 0.0;
    for (size_t i = 0; i < plane && comp.data; i++)
        for (int ch = 0; ch < 3; ch++)
            worst = fmax(worst, fabs((m->scratch[(3 + ch) * plane + i] + 1.0f) * 127.5f - comp.data[i * 3 + ch]));
    CHECK_MSG(worst <= 6.0, "a fresh residual hybrid is %.1f levels from its warp", worst);
    /* A head that paints: every RGB weight the same, so the correction is large. */
    float *hw = param_data(&m->G.ps, m->G.head.weight);
    size_t row = (size_t)m->G.head.in_channels * 9;
    for (size_t i = 0; i < 3 * row; i++) hw[i] = i < row ? 0.5f : i < 2 * row ? -0.5f : 0.2f;
    CHECK_OK(fsth_generator_prepare(&m->G, true));
    CHECK_OK(fsth_render_layers(m, (const float (*)[2])target, &painted, weight));
    for (size_t i = 0; i < plane; i++) CHECK(weight[i] == 255);
    CHECK_OK(image_create(&frame, FRAME, FRAME, 3));
    memset(frame.data, 77, (size_t)FRAME * FRAME * 3);
    float to_image[6] = {1, 0, AT, 0, 1, AT}, to_crop[6] = {1, 0, -AT, 0, 1, -AT};
    for (int i = 0; i < 68; i++) in_frame[i][0] = target[i][0] + AT, in_frame[i][1] = target[i][1] + AT;
    CHECK_OK(fsth_render_frame(m, to_crop, to_image, (const float (*)[2])in_frame, &scratch, &frame));
    const float *corr = m->G.rgb;
    int outside_changed = 0, changed = 0;
    double centre_err = 0.0, excess = 0.0;
    for (int y = 0; y < FRAME; y++)
        for (int x = 0; x < FRAME; x++)
            for (int ch = 0; ch < 3; ch++) {
                int v = frame.data[((size_t)y * FRAME + x) * 3 + ch];
                if (x < AT || x >= AT + S || y < AT || y >= AT + S) {
                    outside_changed += v != 77;
                    continue;
                }
                size_t i = (size_t)(y - AT) * S + (x - AT);
                double full = 77.0 + corr[ch * plane + i] * 127.5, clamped = fmin(fmax(full, 0.0), 255.0);
                changed += v != 77;
                bool inner = x >= AT + S / 8 && x < AT + S - S / 8 && y >= AT + S / 8 && y < AT + S - S / 8;
                if (inner) centre_err = fmax(centre_err, fabs(v - clamped));
                excess = fmax(excess, fabs(v - 77.0) - fabs(clamped - 77.0) - 1.0);
            }
    CHECK_MSG(outside_changed == 0, "%d values outside the crop changed", outside_changed);
    CHECK_MSG(changed > (int)plane, "only %d values changed", changed);
    CHECK_MSG(centre_err <= 1.0, "inside the feather: %.2f levels from frame + correction", centre_err);
    CHECK_MSG(excess <= 0.0, "a pixel moved %.2f levels more than its correction", excess);
    image_free(&frame), image_free(&scratch), image_free(&comp), image_free(&painted), image_free(&shot);
    fsth_model_free(m);
    /* Meta-learning without D's terms: D's networks untouched (W_i moves by L_MCH). */
    CHECK_OK(fsth_model_new(&m, &c, 11));
    if (!m) return;
    fsth_train_params p = fast_params();
    p.w_adv = 0.0f, p.w_fm = 0.0f;
    fsth_trainer *t;
    CHECK_OK(fsth_trainer_new(&t, m, &p));
    float *d_before = malloc(m->D.ps.total * sizeof(float));
    memcpy(d_before, m->D.ps.data, m->D.ps.total * sizeof(float));
    synthetic syn = {32, true};
    fsth_losses l;
    double first = 0.0, last = 0.0;
    const int steps = 30;
    for (int i = 0; i < steps; i++) {
        CHECK_OK(fsth_train_step(t, synthetic_episode, &syn, &l));
        if (i < 5) first += l.pixel / 5.0;
        if (i >= steps - 5) last += l.pixel / 5.0;
        CHECK(l.adv == 0.0f && l.fm == 0.0f && l.d_total == 0.0f);
    }
    int table = m->D.table, moved = 0, table_moved = 0;
    for (int e = 0; e < m->D.ps.count; e++) {
        const param_entry *pe = &m->D.ps.entries[e];
        bool differs = memcmp(d_before + pe->offset, m->D.ps.data + pe->offset, pe->size * sizeof(float)) != 0;
        if (e == table) table_moved = differs;
        else moved += differs;
    }
    CHECK_MSG(moved == 0, "%d of D's tensors moved without D's terms", moved);
    CHECK(table >= 0 && table_moved);
    printf("residual hybrid without D: pixel L1 %.3f -> %.3f over %d steps\n", first, last, steps);
    CHECK_MSG(last < 0.97 * first, "pixel loss fell only from %g to %g", first, last);
    free(d_before);
    fsth_trainer_free(t);
    fsth_model_free(m);
}

static void test_few_shot(bool hybrid) {
    fsth_config c = tiny_config(hybrid);
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &c, 4));
    /* One shot: a 80x60 photo with the synthetic face. */
    vv_image shot;
    CHECK_OK(image_create(&shot, 80, 60, 3));
    uint64_t rng = 9;
    float points[68][2];
    synthetic_points(points, 60, &rng);
    synthetic_frame(&shot, (const float (*)[2])points, 1);
    CHECK(fsth_render(m, (const float (*)[2])points, &(vv_image){0}) == VV_ERR_INVALID_ARGUMENT);
    CHECK_OK(fsth_prepare(m, &shot, (const float (*)[68][2])points, 1));
    vv_image ff = {0}, ft = {0};
    float target[68][2], same[68][2], moved[68][2], driver[68][2];
    /* Relative motion: a still driver gives the source's own landmarks; a driver twice the
     * size moving 10 px moves the target 5 crop-units' worth. */
    for (int i = 0; i < 68; i++) driver[i][0] = 2.0f * points[i][0] + 7.0f, driver[i][1] = 2.0f * points[i][1];
    fsth_relative_target(m->source_landmarks, (const float (*)[2])driver, (const float (*)[2])driver, 32, same);
    CHECK(memcmp(same, m->source_landmarks, sizeof same) == 0);
    float shifted[68][2];
    memcpy(shifted, driver, sizeof shifted);
    shifted[62][1] += 10.0f;
    fsth_relative_target(m->source_landmarks, (const float (*)[2])driver, (const float (*)[2])shifted, 32, moved);
    float to_image[6];
    fsth_crop_transform((const float (*)[2])points, 32, to_image);
    CHECK_NEAR(moved[62][1] - m->source_landmarks[62][1], 5.0f / to_image[4], 1e-3);
    CHECK(moved[61][1] == m->source_landmarks[61][1]);
    CHECK_NEAR(m->source_crop_to_image[0], to_image[0], 1e-6);
    synthetic_points(target, 32, &rng);
    CHECK_OK(fsth_render(m, (const float (*)[2])target, &ff));
    CHECK(ff.width == 32 && ff.height == 32 && ff.channels == 3);
    if (hybrid) {
        test_hybrid_layers(m, (const float (*)[2])target);
    } else {
        uint8_t weight[32 * 32];
        CHECK(fsth_render_layers(m, (const float (*)[2])target, &(vv_image){0}, weight) == VV_ERR_INVALID_ARGUMENT);
    }
    /* FT from the same shot. */
    float frame[3 * 32 * 32], crop_points[1][68][2];
    CHECK_OK(fsth_crop_shot(frame, crop_points[0], &shot, (const float (*)[2])points, 32));
    fsth_finetune_params fp = fsth_finetune_default_params(1);
    CHECK(fp.steps == 40 && fp.batch == 1);
    fp.steps = 4;
    float loss = -1.0f;
    float psi_ff = m->person_psi[0];
    /* The default has no adversarial term: D is neither run nor trained. */
    CHECK(fp.w_adv == 0.0f && fp.w_fm == 0.0f);
    float *d_before = malloc(m->D.ps.total * sizeof(float));
    if (d_before) memcpy(d_before, m->D.ps.data, m->D.ps.total * sizeof(float));
    CHECK_OK(fsth_finetune(m, frame, (const float (*)[68][2])crop_points, 1, &fp, &loss));
    CHECK(loss >= 0.0f && isfinite(loss));
    CHECK(m->person_psi[0] != psi_ff || m->G.psi_dim == 0);
    CHECK(d_before && memcmp(d_before, m->D.ps.data, m->D.ps.total * sizeof(float)) == 0);
    fsth_finetune_params adv = fp; /* with them, D trains too */
    adv.steps = 1, adv.w_adv = 1.0f, adv.w_fm = 10.0f;
    fsth_model *copy = NULL;
    CHECK_OK(fsth_model_new(&copy, &m->config, 8));
    if (copy) {
        memcpy(copy->E.ps.data, m->E.ps.data, m->E.ps.total * sizeof(float));
        memcpy(copy->G.ps.data, m->G.ps.data, m->G.ps.total * sizeof(float));
        memcpy(copy->D.ps.data, m->D.ps.data, m->D.ps.total * sizeof(float));
        CHECK_OK(fsth_finetune(copy, frame, (const float (*)[68][2])crop_points, 1, &adv, NULL));
        CHECK(memcmp(d_before, copy->D.ps.data, copy->D.ps.total * sizeof(float)) != 0);
        fsth_model_free(copy);
    }
    free(d_before);
    CHECK_OK(fsth_render(m, (const float (*)[2])target, &ft));
    CHECK(ft.width == 32 && ft.height == 32);
    CHECK(memcmp(ff.data, ft.data, 32 * 32 * 3) != 0);
    image_free(&ff);
    image_free(&ft);
    image_free(&shot);
    fsth_model_free(m);
}

/* The faceres identity content term (skipped when the model files are absent; a present
 * but invalid faceres fails). */
static void test_identity_term(void) {
    char path[4096];
    tfjs_model *faceres = NULL;
    if (models_find("faceres.json", path, sizeof path) != VV_OK) {
        test_skip("identity term: faceres.json not present");
        return;
    }
    CHECK_OK(tfjs_model_load(&faceres, path));
    if (!faceres) return;
    fsth_config c = tiny_config(false);
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &c, 8));
    fsth_train_params p = fast_params();
    p.batch = 1, p.faceres = faceres, p.w_identity = 10.0f;
    fsth_trainer *t;
    CHECK_OK(fsth_trainer_new(&t, m, &p));
    synthetic syn = {32, false};
    fsth_losses l;
    CHECK_OK(fsth_train_step(t, synthetic_episode, &syn, &l));
    CHECK_MSG(l.identity > 0.0f && isfinite(l.identity), "identity loss %g", l.identity);
    CHECK_NEAR(l.g_total, 10.0 * l.pixel + 10.0 * l.identity + l.adv + 10.0 * l.fm + 10.0 * l.mch, 1e-3 * fabs(l.g_total));
    fsth_trainer_free(t);
    fsth_model_free(m);
    tfjs_model_free(faceres);
}

/* The perceptual term (five faceres layers): in the loss with its weight, and its gradient
 * reaches G (one step with it moves G's parameters differently from one without). */
static void test_perceptual_term(void) {
    char path[4096];
    tfjs_model *faceres = NULL;
    if (!test_model_present("faceres.json")) {
        test_skip("perceptual term: faceres.json not present");
        return;
    }
    CHECK_OK(models_find("faceres.json", path, sizeof path));
    CHECK_OK(tfjs_model_load(&faceres, path));
    if (!faceres) return;
    fsth_config c = tiny_config(false);
    float *after[2] = {NULL, NULL};
    size_t count = 0;
    for (int with = 0; with < 2; with++) {
        fsth_model *m;
        CHECK_OK(fsth_model_new(&m, &c, 8));
        if (!m) break;
        fsth_train_params p = fast_params();
        p.batch = 1, p.faceres = faceres, p.w_perceptual = with ? 5.0f : 0.0f;
        fsth_trainer *t;
        CHECK_OK(fsth_trainer_new(&t, m, &p));
        synthetic syn = {32, false};
        fsth_losses l;
        CHECK_OK(fsth_train_step(t, synthetic_episode, &syn, &l));
        if (with) {
            CHECK_MSG(l.perceptual > 0.0f && isfinite(l.perceptual), "perceptual loss %g", l.perceptual);
            CHECK(l.identity == 0.0f);
            CHECK_NEAR(l.g_total, 10.0 * l.pixel + 5.0 * l.perceptual + l.adv + 10.0 * l.fm + 10.0 * l.mch,
                       1e-3 * fabs(l.g_total));
        } else {
            CHECK(l.perceptual == 0.0f);
        }
        count = m->G.ps.total;
        after[with] = malloc(count * sizeof(float));
        if (after[with]) memcpy(after[with], m->G.ps.data, count * sizeof(float));
        fsth_trainer_free(t);
        fsth_model_free(m);
    }
    if (after[0] && after[1]) {
        size_t moved = 0;
        for (size_t i = 0; i < count; i++) moved += after[0][i] != after[1][i];
        CHECK_MSG(moved > count / 10, "the perceptual term changed %zu of %zu G parameters", moved, count);
    }
    free(after[0]);
    free(after[1]);
    tfjs_model_free(faceres);
}

/* A tiny .vds (2 clips of 4 frames) through the dataset episode source. */
static void test_dataset_source(void) {
    const char *dir = test_tmp_dir("test_train");
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny.vds", dir);
    dataset_writer *w;
    CHECK_OK(dataset_writer_open(&w, path, 48));
    if (!w) return;
    vv_image img;
    CHECK_OK(image_create(&img, 48, 48, 3));
    uint64_t rng = 1;
    char jpeg_path[4200];
    snprintf(jpeg_path, sizeof jpeg_path, "%s/frame.jpg", dir);
    for (int clip = 0; clip < 2; clip++) {
        char name[16];
        snprintf(name, sizeof name, "clip%d", clip);
        int crop[3] = {0, 0, 48};
        CHECK_OK(dataset_writer_begin_clip(w, name, name, 48, 48, crop));
        for (int f = 0; f < 4; f++) {
            float points[68][2];
            synthetic_points(points, 48, &rng);
            synthetic_frame(&img, (const float (*)[2])points, clip);
            CHECK_OK(image_save_jpeg(&img, jpeg_path, 90));
            uint8_t *bytes = NULL;
            size_t size = 0;
            CHECK_OK(file_read_all(jpeg_path, 1 << 20, &bytes, &size));
            CHECK_OK(dataset_writer_add_frame(w, bytes, size, (const float (*)[2])points, f));
            free(bytes);
        }
        CHECK_OK(dataset_writer_end_clip(w, 4));
    }
    image_free(&img);
    CHECK_OK(dataset_writer_finish(w, NULL, NULL));
    dataset *ds = NULL;
    CHECK_OK(dataset_open(&ds, path));
    if (!ds) return;
    fsth_config c = tiny_config(true);
    c.videos = dataset_clip_count(ds);
    fsth_model *m;
    CHECK_OK(fsth_model_new(&m, &c, 2));
    fsth_train_params p = fast_params();
    p.k = 3;
    fsth_trainer *t;
    CHECK_OK(fsth_trainer_new(&t, m, &p));
    fsth_dataset_source src = {ds, true, NULL, 0, DATASET_EPISODE_CLIP};
    fsth_losses l;
    for (int i = 0; i < 2; i++) CHECK_OK(fsth_train_step(t, fsth_dataset_episode, &src, &l));
    CHECK(isfinite(l.g_total) && l.pixel > 0.0f);
    const float *target, *landmarks, *fake;
    fsth_trainer_last_sample(t, &target, &landmarks, &fake);
    CHECK(target[0] >= -1.0f && target[0] <= 1.0f);
    p.k = 4; /* clips have 4 frames: K + 1 = 5 cannot be sampled */
    fsth_trainer *t5;
    CHECK_OK(fsth_trainer_new(&t5, m, &p));
    CHECK(fsth_train_step(t5, fsth_dataset_episode, &src, &l) == VV_ERR_INVALID_ARGUMENT);
    fsth_trainer_free(t5);
    fsth_trainer_free(t);
    fsth_model_free(m);
    dataset_close(ds);
}

/* The hybrid's pixel term weighted where the warp invented pixels (w_invented): with the
 * validity input all 1 it changes nothing (bit for bit); with it all 0 the pixel gradient is
 * (1 + w_invented) times the plain one, i.e. the same as a plain pixel weight that much
 * larger; and it does change G's gradient then. */
typedef struct validity_episode { synthetic syn; float validity, region; } validity_episode;

static vv_status episode_with_validity(void *ctx, uint64_t *rng, fsth_batch *b) {
    validity_episode *ve = ctx;
    vv_status s = synthetic_episode(&ve->syn, rng, b);
    size_t plane = (size_t)b->S * b->S;
    for (int e = 0; e < b->B; e++)
        for (size_t i = 0; i < plane; i++) {
            b->g_in[((size_t)e * b->in_channels + 6) * plane + i] = ve->validity;
            if (b->regions) b->regions[(size_t)e * plane + i] = ve->region;
        }
    return s;
}

/* G's parameter gradients after one step from the same start (region: every target's
 * region mask value, with pixel weight + w_regions there). */
static float *gradient_after(float w_pixel, float w_invented, float validity, float w_regions, float region,
                             size_t *count) {
    fsth_config c = tiny_config(true);
    fsth_model *m;
    fsth_trainer *t;
    float *out = NULL;
    if (fsth_model_new(&m, &c, 21) != VV_OK) return NULL;
    fsth_train_params p = fast_params();
    p.w_pixel = w_pixel, p.w_invented = w_invented, p.w_regions = w_regions;
    validity_episode ve = {{32, true}, validity, region};
    fsth_losses l;
    if (fsth_trainer_new(&t, m, &p) == VV_OK && fsth_train_step(t, episode_with_validity, &ve, &l) == VV_OK) {
        *count = m->G.ps.total;
        out = malloc(*count * sizeof *out);
        if (out) memcpy(out, m->G.ps.grad, *count * sizeof *out);
    }
    fsth_trainer_free(t);
    fsth_model_free(m);
    return out;
}

static float *gradient_after_step(float w_pixel, float w_invented, float validity, size_t *count) {
    return gradient_after(w_pixel, w_invented, validity, 0.0f, 0.0f, count);
}

/* The eyes-and-mouth weighting (w_regions): the mask covers the eyes and the mouth, not
 * the nose, brows or chin; with the mask 0 everywhere the gradient is the plain one bit
 * for bit, with it 1 everywhere (1 + w_regions) times it. */
static void test_region_weighting(void) {
    enum { S = 64 };
    float points[68][2], mask[S * S];
    const float (*mean)[2] = face_mean_landmarks();
    for (int i = 0; i < 68; i++) {
        points[i][0] = S * 0.5f + mean[i][0] * S / 4.0f, points[i][1] = S * 0.4f + mean[i][1] * S / 4.0f;
        CHECK(points[i][0] >= 0.0f && points[i][0] <= S - 1.0f && points[i][1] >= 0.0f && points[i][1] <= S - 1.0f);
    }
    fsth_region_mask(mask, (const float (*)[2])points, S);
    #define AT(p) mask[(int)(p[1] + 0.5f) * S + (int)(p[0] + 0.5f)]
    float eye_l[2] = {0.5f * (points[36][0] + points[39][0]), 0.5f * (points[36][1] + points[39][1])};
    float eye_r[2] = {0.5f * (points[42][0] + points[45][0]), 0.5f * (points[42][1] + points[45][1])};
    float mouth[2] = {0.5f * (points[48][0] + points[54][0]), 0.5f * (points[51][1] + points[57][1])};
    CHECK(AT(eye_l) == 1.0f && AT(eye_r) == 1.0f && AT(mouth) == 1.0f);
    CHECK(AT(points[48]) == 1.0f && AT(points[54]) == 1.0f && AT(points[36]) == 1.0f && AT(points[45]) == 1.0f);
    const int away[4] = {30, 8, 19, 24}; /* nose tip, chin, brows */
    for (int i = 0; i < 4; i++) CHECK_MSG(AT(points[away[i]]) == 0.0f, "point %d (%.1f, %.1f) in the mask", away[i], points[away[i]][0], points[away[i]][1]);
    #undef AT
    double area = 0.0;
    for (int i = 0; i < S * S; i++) area += mask[i];
    printf("region mask: %.1f%% of a %d px crop (eye %.1f x %.1f px)\n", 100.0 * area / (S * S), S, points[39][0] - points[36][0], points[41][1] - points[37][1]);
    CHECK(area > 0.02 * S * S && area < 0.2 * S * S);
    size_t n = 0, n2 = 0, n3 = 0;
    float *plain = gradient_after(10, 0, 1, 0, 1, &n), *outside = gradient_after(10, 0, 1, 3, 0, &n2);
    float *inside = gradient_after(10, 0, 1, 3, 1, &n3), *scaled = gradient_after(40, 0, 1, 0, 1, &n);
    CHECK(plain && outside && inside && scaled && n == n2 && n == n3);
    if (plain && outside && inside && scaled) {
        CHECK_MSG(memcmp(plain, outside, n * sizeof *plain) == 0, "region 0 everywhere changed the gradient");
        double diff = 0, norm = 0;
        for (size_t i = 0; i < n; i++) {
            diff = fmax(diff, fabs((double)inside[i] - scaled[i]));
            norm = fmax(norm, fabs((double)scaled[i]));
        }
        CHECK_MSG(norm > 0 && diff <= 1e-4 * norm, "region 1 everywhere: |weighted - 4x pixel| %.3g of %.3g", diff, norm);
    }
    free(plain), free(outside), free(inside), free(scaled);
}

static void test_invented_weighting(void) {
    size_t n = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0;
    float *plain = gradient_after_step(10, 0, 1, &n), *valid = gradient_after_step(10, 4, 1, &n2);
    float *weighted = gradient_after_step(10, 4, 0, &n3), *scaled = gradient_after_step(50, 0, 0, &n4);
    float *unweighted = gradient_after_step(10, 0, 0, &n5);
    CHECK(plain && valid && weighted && scaled && unweighted && n == n2 && n == n3 && n == n4 && n == n5);
    if (plain && valid && weighted && scaled && unweighted) {
        CHECK_MSG(memcmp(plain, valid, n * sizeof *plain) == 0, "validity 1 everywhere changed the gradient");
        double diff = 0, norm = 0, change = 0;
        for (size_t i = 0; i < n; i++) {
            diff = fmax(diff, fabs((double)weighted[i] - scaled[i]));
            norm = fmax(norm, fabs((double)scaled[i]));
            change = fmax(change, fabs((double)weighted[i] - unweighted[i]));
        }
        printf("invented weighting: |weighted - 5x pixel| max %.3g of %.3g; change from unweighted %.3g\n", diff, norm, change);
        CHECK(norm > 0 && diff <= 1e-4 * norm);
        CHECK(change > 0.1 * norm);
    }
    free(plain), free(valid), free(weighted), free(scaled), free(unweighted);
}

/* ---- Data-parallel ranks (train/parallel.h), two threads standing in for MPI ---- */

/* The episodes [first, first + B) of the global batch, as a rank's source gives them: the
 * synthetic source run over the whole batch (so the state advances as in one process),
 * the rank's rows kept. */
static vv_status sliced_episode(void *ctx, uint64_t *rng, fsth_batch *b) {
    int G = b->global > 0 ? b->global : b->B;
    size_t plane = (size_t)b->S * b->S;
    float *buf = mem_alloc((size_t)G * ((size_t)b->K * 6 + 6 + b->in_channels) * plane, sizeof(float));
    int *videos = mem_alloc((size_t)G, sizeof(int));
    if (!buf || !videos) {
        free(buf), free(videos);
        return vv_fail(VV_ERR_NO_MEMORY, "sliced_episode");
    }
    fsth_batch all = {G, b->K, b->S, b->in_channels, buf, buf + (size_t)G * b->K * 6 * plane, NULL, videos, 0, G, NULL};
    all.g_in = all.target + (size_t)G * 6 * plane;
    vv_status s = synthetic_episode(ctx, rng, &all);
    memcpy(b->shots, all.shots + (size_t)b->first * b->K * 6 * plane, (size_t)b->B * b->K * 6 * plane * sizeof(float));
    memcpy(b->target, all.target + (size_t)b->first * 6 * plane, (size_t)b->B * 6 * plane * sizeof(float));
    memcpy(b->g_in, all.g_in + (size_t)b->first * b->in_channels * plane, (size_t)b->B * b->in_channels * plane * sizeof(float));
    memcpy(b->videos, videos + b->first, (size_t)b->B * sizeof(int));
    free(buf), free(videos);
    return s;
}

/* Two ranks as two forked processes (as mpirun's), summing through shared memory: each
 * puts its floats in its slot, both add slot 0 + slot 1 in that order, so both get the
 * same sum.  Forked before this process first trains (run first in main), so the
 * children start without thread pools (OpenMP, ours) they cannot use. */
typedef struct fork_comm {
    pthread_barrier_t barrier; /* process-shared */
    size_t capacity;           /* floats per slot */
    long calls;                /* rank 0's all-reduces */
    vv_status status[2];
    int agree[2];
    double comm_seconds[2];
    fsth_losses losses[2];
    float *slot[2];            /* in this mapping: the same addresses in both children */
    float *result;             /* rank 0's E, G, D gradients then parameters */
} fork_comm;

typedef struct fork_rank { fork_comm *comm; int rank; } fork_rank;

static vv_status fork_allreduce(void *ctx, float *data, size_t count) {
    fork_rank *r = ctx;
    fork_comm *c = r->comm;
    if (count > c->capacity) return vv_fail(VV_ERR_INTERNAL, "fork_allreduce: %zu floats", count);
    memcpy(c->slot[r->rank], data, count * sizeof(float));
    if (r->rank == 0) c->calls++;
    pthread_barrier_wait(&c->barrier);
    for (size_t i = 0; i < count; i++) data[i] = c->slot[0][i] + c->slot[1][i];
    pthread_barrier_wait(&c->barrier); /* both have read both slots */
    return VV_OK;
}

static void fork_rank_main(fork_comm *c, int rank, const fsth_config *config, fsth_train_params p, int steps) {
    fork_rank r = {c, rank};
    p.parallel = (train_parallel){rank, 2, fork_allreduce, &r};
    synthetic syn = {32, true};
    fsth_model *m = NULL;
    fsth_trainer *t = NULL;
    bool same = false;
    vv_status s = fsth_model_new(&m, config, 7);
    if (s == VV_OK) s = fsth_trainer_new(&t, m, &p);
    for (int i = 0; i < steps && s == VV_OK; i++) s = fsth_train_step(t, sliced_episode, &syn, &c->losses[rank]);
    if (s == VV_OK) s = fsth_trainer_ranks_agree(t, &same);
    if (s == VV_OK) {
        c->comm_seconds[rank] = fsth_trainer_comm_seconds(t);
        c->agree[rank] = same;
        const param_store *ps[3] = {&m->E.ps, &m->G.ps, &m->D.ps};
        float *out = c->result;
        if (rank == 0)
            for (int i = 0; i < 3; i++) {
                memcpy(out, ps[i]->grad, ps[i]->total * sizeof(float)), out += ps[i]->total;
                memcpy(out, ps[i]->data, ps[i]->total * sizeof(float)), out += ps[i]->total;
            }
    }
    c->status[rank] = s;
    /* The parent reports.  Straight to the kernel: the sanitizers' _exit runs a leak check,
     * which fails in a forked child with thread pools running. */
    syscall(SYS_exit_group, 0);
}

/* Largest |a - b| over n floats, and the largest |a|. */
static double max_diff(const float *a, const float *b, size_t n, double *largest) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        *largest = fmax(*largest, fabs((double)a[i]));
    }
    return d;
}

/* A global batch of 3 on two ranks (2 + 1 episodes) takes the step one process takes: the
 * summed gradients and the losses within float tolerance, and so the parameters, but for
 * one thing: a parameter whose gradient is mathematically zero (a convolution's bias
 * before instance norm, D's output bias while every score is inside the hinge) has a
 * float-noise gradient, and Adam's first step moves it by +-lr (lr g / (|g| + eps)) in the
 * noise's direction; such parameters may differ by up to 2 lr.  The uneven split makes each
 * rank's weight n_r / B count (Adam's step is blind to a common scale; the gradients are
 * not).  A hybrid model, so every G input channel is sliced. */
static void test_ranks_match(void) {
    const int steps = 1;
    fsth_config cfg = tiny_config(true);
    fsth_train_params p = fast_params();
    p.batch = 3;
    fsth_model *one = NULL;
    CHECK_OK(fsth_model_new(&one, &cfg, 7));
    if (!one) return;
    const param_store *a[3] = {&one->E.ps, &one->G.ps, &one->D.ps};
    size_t capacity = 64, all = 0;
    for (int i = 0; i < 3; i++) capacity = a[i]->total > capacity ? a[i]->total : capacity, all += 2 * a[i]->total;
    size_t bytes = sizeof(fork_comm) + (2 * capacity + all) * sizeof(float);
    fork_comm *c = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(c != MAP_FAILED);
    if (c == MAP_FAILED) {
        fsth_model_free(one);
        return;
    }
    memset(c, 0, sizeof *c);
    c->capacity = capacity;
    c->slot[0] = (float *)(c + 1), c->slot[1] = c->slot[0] + capacity, c->result = c->slot[1] + capacity;
    c->status[0] = c->status[1] = VV_ERR_INTERNAL;
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&c->barrier, &attr, 2);
    pthread_barrierattr_destroy(&attr);
    fflush(stdout);
    fflush(stderr);
    pid_t pids[2] = {-1, -1};
    for (int r = 0; r < 2; r++)
        if ((pids[r] = fork()) == 0) fork_rank_main(c, r, &cfg, p, steps);
    for (int r = 0; r < 2; r++) {
        int wstatus = 0;
        CHECK(pids[r] > 0 && waitpid(pids[r], &wstatus, 0) == pids[r] && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    }
    CHECK_OK(c->status[0]);
    CHECK_OK(c->status[1]);
    CHECK(c->agree[0] && c->agree[1]);
    /* each step: E, G, D (the videos, before the table, after it, its rows), the losses;
     * then the agreement check's 6 */
    CHECK_MSG(c->calls == 7 * steps + 6, "%ld all-reduce calls", c->calls);
    CHECK(c->comm_seconds[0] > 0.0);
    /* The same in one process. */
    fsth_trainer *t = NULL;
    fsth_losses l1 = {0};
    synthetic syn = {32, true};
    CHECK_OK(fsth_trainer_new(&t, one, &p));
    for (int i = 0; t && i < steps; i++) CHECK_OK(fsth_train_step(t, synthetic_episode, &syn, &l1));
    bool same = false;
    CHECK(t && fsth_trainer_ranks_agree(t, &same) == VV_OK && same); /* one process: trivially */
    CHECK(t && fsth_trainer_comm_seconds(t) == 0.0);
    fsth_trainer_free(t);
    const char *names[3] = {"E", "G", "D"};
    const float *b = c->result;
    for (int s = 0; s < 3 && c->status[0] == VV_OK; s++) {
        double g_big = 0.0, lr = s < 2 ? p.lr_g : p.lr_d;
        double g = max_diff(a[s]->grad, b, a[s]->total, &g_big);
        const float *grad = a[s]->grad, *own = a[s]->data, *theirs = b + a[s]->total;
        size_t noise = 0, bad = 0;
        double worst = 0.0;
        for (size_t i = 0; i < a[s]->total; i++) {
            double d = fabs((double)own[i] - theirs[i]);
            if (d <= 1e-6) continue;
            if (fabs(grad[i]) <= 1e-5 * g_big && d <= 2.0 * lr * 1.001) noise++;
            else bad++, worst = fmax(worst, d);
        }
        b += 2 * a[s]->total;
        printf("2 ranks vs 1 process, %s: gradient max |diff| %.3g of largest %.3g; parameters beyond 1e-6: %zu with a "
               "noise gradient (<= 2 lr), %zu others (max %.3g)\n", names[s], g, g_big, noise, bad, worst);
        CHECK_MSG(g_big > 0.0 && g <= 1e-4 * g_big, "%s: gradients differ by %g (largest %g)", names[s], g, g_big);
        CHECK_MSG(bad == 0, "%s: %zu parameters differ by up to %g", names[s], bad, worst);
    }
    const float *x = &l1.g_total, *y = &c->losses[0].g_total;
    for (size_t i = 0; i < sizeof l1 / sizeof(float); i++)
        CHECK_MSG(fabsf(x[i] - y[i]) <= 1e-6f + 1e-5f * fabsf(x[i]), "loss field %zu: %g vs %g", i, (double)x[i], (double)y[i]);
    CHECK(memcmp(&c->losses[0], &c->losses[1], sizeof l1) == 0); /* every rank logs the same */
    pthread_barrier_destroy(&c->barrier);
    munmap(c, bytes);
    /* More ranks than episodes are refused. */
    p.batch = 1, p.parallel = (train_parallel){1, 2, fork_allreduce, NULL};
    fsth_trainer *bad = NULL;
    CHECK(fsth_trainer_new(&bad, one, &p) == VV_ERR_INVALID_ARGUMENT && !bad);
    fsth_model_free(one);
    /* The slices: 5 over 3 ranks is 2 + 2 + 1. */
    int first = -1, count = -1;
    train_parallel_slice(5, 2, 3, &first, &count);
    CHECK(first == 4 && count == 1);
    train_parallel_slice(5, 1, 3, &first, &count);
    CHECK(first == 2 && count == 2);
}

/* Fine-tuning's moved shots (fsth_finetune_augment): the identity leaves frame and points
 * as they are; a zoom out, turn and shift moves a bright dot at landmark 30 to where the
 * moved landmark 30 lands.  augment 1 moves the shots of a plain G (a step from one shot
 * trains G differently than with augment 0) and leaves a hybrid's as they are. */
static void test_finetune_augment(void) {
    enum { S = 32 };
    const size_t plane = (size_t)S * S;
    float frame[3 * S * S], out[3 * S * S], points[68][2], moved[68][2];
    uint64_t rng = 3;
    synthetic_points(points, S, &rng);
    points[30][0] = 13.5f, points[30][1] = 17.5f; /* the dot's centre: pixel (13, 17) */
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float dx = (float)x - 13.0f, dy = (float)y - 17.0f;
                frame[c * plane + (size_t)y * S + x] = expf(-(dx * dx + dy * dy) / 2.0f) - 0.5f * (float)c / 3.0f;
            }
    fsth_finetune_augment(out, moved, frame, (const float (*)[2])points, S, 1.0f, 0.0f, 0.0f, 0.0f);
    double worst = 0.0;
    for (size_t i = 0; i < 3 * plane; i++) worst = fmax(worst, fabs(out[i] - frame[i]));
    CHECK_MSG(worst < 1e-5, "identity moved the frame by %g", worst);
    CHECK(memcmp(moved, points, sizeof moved) == 0);
    /* scale 0.7, 20 degrees, shift (3, -2) about the centre (16, 16). */
    fsth_finetune_augment(out, moved, frame, (const float (*)[2])points, S, 0.7f, 20.0f, 3.0f, -2.0f);
    float a = 0.7f * cosf(20.0f * 3.14159265f / 180.0f), b = 0.7f * sinf(20.0f * 3.14159265f / 180.0f);
    float want_x = 16.0f + a * (13.5f - 16.0f) - b * (17.5f - 16.0f) + 3.0f;
    float want_y = 16.0f + b * (13.5f - 16.0f) + a * (17.5f - 16.0f) - 2.0f;
    CHECK_NEAR(moved[30][0], want_x, 1e-4);
    CHECK_NEAR(moved[30][1], want_y, 1e-4);
    int best = 0;
    for (int i = 1; i < (int)plane; i++)
        if (out[i] > out[best]) best = i;
    float bx = (float)(best % S) + 0.5f, by = (float)(best / S) + 0.5f;
    CHECK_MSG(fabsf(bx - want_x) <= 1.0f && fabsf(by - want_y) <= 1.0f, "the dot at (%g, %g), landmark 30 at (%g, %g)",
              bx, by, want_x, want_y);
    CHECK_MSG(out[best] > 0.5f, "the dot faded to %g", out[best]); /* 1 before, lower where resampled off its centre */
    /* Off by default; asked for, it moves the shots of a plain G only. */
    fsth_finetune_params fp = fsth_finetune_default_params(8);
    CHECK(fp.augment == 0.0f && fp.augment_min_scale < 1.0f && fp.augment_max_scale > 1.0f && fp.augment_shift > 0.0f);
    for (int hybrid = 0; hybrid < 2; hybrid++) {
        fsth_config c = tiny_config(hybrid);
        fsth_model *m[2] = {NULL, NULL};
        float shot[3 * S * S], shot_points[1][68][2];
        vv_image img = {0};
        CHECK_OK(image_create(&img, 80, 60, 3));
        float image_points[68][2];
        synthetic_points(image_points, 60, &rng);
        synthetic_frame(&img, (const float (*)[2])image_points, 1);
        CHECK_OK(fsth_crop_shot(shot, shot_points[0], &img, (const float (*)[2])image_points, S));
        image_free(&img);
        for (int i = 0; i < 2; i++) {
            CHECK_OK(fsth_model_new(&m[i], &c, 7));
            fsth_finetune_params q = fsth_finetune_default_params(1);
            q.steps = 2, q.augment = i ? 1.0f : 0.0f;
            if (m[i]) CHECK_OK(fsth_finetune(m[i], shot, (const float (*)[68][2])shot_points, 1, &q, NULL));
        }
        if (m[0] && m[1]) {
            bool same = memcmp(m[0]->G.ps.data, m[1]->G.ps.data, m[0]->G.ps.total * sizeof(float)) == 0;
            CHECK_MSG(same == (hybrid != 0), "%s: augment 1 %s G as augment 0", hybrid ? "hybrid" : "fsth",
                      same ? "trained the same" : "trained another");
        }
        fsth_model_free(m[0]);
        fsth_model_free(m[1]);
    }
}

int main(void) {
    test_ranks_match(); /* first: it forks, before this process starts thread pools */
    test_loss_falls(false, 40);
    test_loss_falls(true, 20);
    test_resume();
    test_seed_reproducible();
    test_few_shot(false);
    test_few_shot(true);
    test_finetune_augment();
    test_residual();
    test_dataset_source();
    test_identity_term();
    test_perceptual_term();
    test_invented_weighting();
    test_region_weighting();
    return test_finish("test_train");
}
