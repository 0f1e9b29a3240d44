/* test_eval: identity embeddings (CSIM) against @tensorflow/tfjs, the plot and report
 * writers, the protocols on a tiny clip made from examples/mona_lisa.png, and the animate
 * pipeline under eval on a synthetic talking clip (grace_hopper.jpg animated with the
 * built-in "talk" motion): eval renders exactly the frames vivify animate writes, the
 * following metrics find lag 0 for the engine and the delay of a deliberately late one.
 * Needs faceres in .cache/models (skipped, 77, without it); the protocols and the pipeline
 * also need the animate engine's models (blazeface, facemesh, iris, selfie): without one
 * of them those parts are skipped, the rest runs, and the test exits 77.
 *
 * What the identity fixtures prove: the crops (tests/fixtures/eval_identity_*.png) and
 * their landmarks were made by this project's own pipeline (scripts/fixtures/
 * make_identity_crops.c: vv_faces' landmarks, identity_align's crop), so they are not an
 * independent reference for alignment.  Independent: the embeddings, @tensorflow/tfjs's
 * faceres run on those very crops (check 1), and the alignment's geometry checked against
 * the rule identity.h documents (check 2a: the template's eye corners 86.154 px apart
 * around (112, 84); the similarity is the least-squares fit of points 17-47: no small
 * change of it lowers the residual).  Check 2b (the aligner reproduces the committed crop)
 * is a regression pin of our own resampling, not an independent reference. */
#include "eval/identity.h"
#include "eval/metrics.h"
#include "eval/plot.h"
#include "eval/protocol.h"
#include "eval/report.h"
#include "img/image.h"
#include "test.h"
#include "video/video.h"
#include "vivify.h"

#include <cjson/cJSON.h>

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"
/* The engine under test: vivify animate's default. */
#define ENGINE "warp"

static const char *const identity_names[2] = {"mona_lisa", "grace_hopper"};
static const char *const identity_images[2] = {VV_SOURCE_DIR "/examples/mona_lisa.png",
                                               VV_SOURCE_DIR "/examples/grace_hopper.jpg"};

static bool read_identity_landmarks(float points[2][68][2]) {
    FILE *f = fopen(FIXTURES "eval_identity_landmarks.txt", "r");
    if (!f) return false;
    char line[256];
    int face = -1, k = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') { face++; k = 0; continue; }
        if (face < 0 || face > 1 || k >= 68 || sscanf(line, "%f %f", &points[face][k][0], &points[face][k][1]) != 2) break;
        k++;
    }
    fclose(f);
    return face == 1 && k == 68;
}

/* Sum of squared distances between the template's points 17-47 mapped by m and the face's. */
static double alignment_residual(const float m[6], const float tmpl[68][2], const float points[68][2]) {
    double r = 0;
    for (int k = 17; k <= 47; k++) {
        double x = m[0] * tmpl[k][0] + m[1] * tmpl[k][1] + m[2] - points[k][0];
        double y = m[3] * tmpl[k][0] + m[4] * tmpl[k][1] + m[5] - points[k][1];
        r += x * x + y * y;
    }
    return r;
}

/* 2a: the alignment against the rule identity.h documents, not against our own output. */
static void check_alignment_rule(const float points[68][2], const char *name) {
    float tmpl[68][2], m[6];
    identity_template(tmpl);
    double eyes = hypot(tmpl[45][0] - tmpl[36][0], tmpl[45][1] - tmpl[36][1]);
    CHECK_MSG(fabs(eyes - 86.154) < 0.01 && fabs((tmpl[36][0] + tmpl[45][0]) / 2 - 112) < 0.5 &&
                  fabs((tmpl[36][1] + tmpl[45][1]) / 2 - 84) < 1.5,
              "template eye corners %.3f px apart around (%.1f, %.1f)", eyes, (tmpl[36][0] + tmpl[45][0]) / 2,
              (tmpl[36][1] + tmpl[45][1]) / 2);
    CHECK_OK(identity_alignment(points, m));
    CHECK_MSG(fabsf(m[0] - m[4]) < 1e-6f && fabsf(m[1] + m[3]) < 1e-6f, "%s: not a similarity", name);
    /* Least squares: scale-rotation (a, b) and translation moved by small steps each way. */
    double best = alignment_residual(m, tmpl, points);
    int lower = 0;
    for (int p = 0; p < 4; p++)
        for (int sign = -1; sign <= 1; sign += 2) {
            float q[6];
            memcpy(q, m, sizeof q);
            float step = p < 2 ? 1e-3f * hypotf(m[0], m[3]) : 0.05f;
            if (p == 0) q[0] += sign * step, q[4] += sign * step;
            if (p == 1) q[3] += sign * step, q[1] -= sign * step;
            if (p == 2) q[2] += sign * step;
            if (p == 3) q[5] += sign * step;
            lower += alignment_residual(q, tmpl, points) < best * (1 - 1e-6);
        }
    CHECK_MSG(lower == 0, "%s: %d small changes of the similarity fit points 17-47 better", name, lower);
}

static void test_identity(void) {
    identity_model *model = NULL;
    CHECK_OK(identity_model_load(&model, NULL));
    if (!model) return;
    float *ref = mem_alloc(2 * IDENTITY_DIM, sizeof(float));
    FILE *f = fopen(FIXTURES "eval_identity_embeddings.bin", "rb");
    CHECK(f && fread(ref, sizeof(float), 2 * IDENTITY_DIM, f) == 2 * IDENTITY_DIM);
    if (f) fclose(f);
    float points[2][68][2];
    CHECK(read_identity_landmarks(points));
    float ours[2][IDENTITY_DIM];
    for (int i = 0; i < 2; i++) {
        /* 1. Our embedding of the very crop tfjs saw. */
        char path[1024];
        snprintf(path, sizeof path, FIXTURES "eval_identity_%s.png", identity_names[i]);
        vv_image fixture_crop = {0}, crop = {0}, image = {0};
        CHECK_OK(image_load(&fixture_crop, path));
        double t0 = time_now();
        CHECK_OK(identity_embed_crop(model, &fixture_crop, ours[i]));
        double ms = (time_now() - t0) * 1e3;
        const float *r = ref + (size_t)i * IDENTITY_DIM;
        double diff2 = 0, ref2 = 0, max_abs = 0;
        for (int k = 0; k < IDENTITY_DIM; k++) {
            double d = ours[i][k] - r[k];
            diff2 += d * d;
            ref2 += (double)r[k] * r[k];
            if (fabs(d) > max_abs) max_abs = fabs(d);
        }
        double rel = sqrt(diff2 / ref2);
        CHECK_MSG(rel <= 1e-3, "%s: relative error %g", identity_names[i], rel);
        printf("identity %-12s vs tfjs: relative L2 error %.2e, max abs %.2e (%.0f ms)\n", identity_names[i], rel,
               max_abs, ms);
        /* 2a. The alignment follows its documented rule. */
        check_alignment_rule((const float(*)[2])points[i], identity_names[i]);
        /* 2b. Our aligner reproduces the committed crop from the image and landmarks (made by
         * the same aligner: a regression pin, not an independent reference). */
        CHECK_OK(image_load(&image, identity_images[i]));
        CHECK_OK(identity_align(&image, (const float(*)[2])points[i], &crop));
        double l1 = 1;
        if (crop.data && fixture_crop.data) CHECK_OK(metrics_psnr_l1(&crop, &fixture_crop, NULL, NULL, &l1, NULL));
        CHECK_MSG(l1 * 255 <= 0.5, "%s: aligned crop differs from the fixture by %.3f levels on average",
                  identity_names[i], l1 * 255);
        image_free(&fixture_crop);
        image_free(&crop);
        image_free(&image);
    }
    /* 3. CSIM separates the two people and is stable under a small misalignment. */
    double different = 1, same = 0;
    CHECK_OK(metrics_cosine_similarity(ours[0], ours[1], IDENTITY_DIM, &different));
    vv_image image = {0};
    CHECK_OK(image_load(&image, identity_images[0]));
    float moved[68][2], shifted[IDENTITY_DIM];
    for (int k = 0; k < 68; k++) { /* 3% larger, 2 px right */
        moved[k][0] = points[0][30][0] + 1.03f * (points[0][k][0] - points[0][30][0]) + 2;
        moved[k][1] = points[0][30][1] + 1.03f * (points[0][k][1] - points[0][30][1]);
    }
    CHECK_OK(identity_embed(model, &image, (const float(*)[2])moved, shifted));
    CHECK_OK(metrics_cosine_similarity(ours[0], shifted, IDENTITY_DIM, &same));
    printf("CSIM mona_lisa vs grace_hopper %.3f; mona_lisa vs itself misaligned %.3f\n", different, same);
    CHECK(same > 0.9 && different < 0.6 && same - different > 0.3);
    /* 4. Bad input. */
    float bad[68][2];
    memcpy(bad, points[0], sizeof bad);
    bad[40][0] = NAN;
    vv_image crop = {0};
    CHECK(identity_align(&image, (const float(*)[2])bad, &crop) == VV_ERR_INVALID_ARGUMENT);
    for (int k = 0; k < 68; k++) bad[k][0] = bad[k][1] = 5;
    CHECK(identity_align(&image, (const float(*)[2])bad, &crop) == VV_ERR_INVALID_ARGUMENT);
    CHECK(identity_embed_crop(model, &image, shifted) == VV_ERR_INVALID_ARGUMENT);
    identity_model *none = NULL;
    CHECK(identity_model_load(&none, "/nonexistent/models") != VV_OK && !none);
    image_free(&image);
    free(ref);
    identity_model_free(model);
}

static void test_plot(void) {
    CHECK_NEAR(plot_tick_step(0, 1, 5), 0.2, 1e-12);
    CHECK_NEAR(plot_tick_step(0, 17, 8), 2, 1e-12);
    CHECK_NEAR(plot_tick_step(0.7, 0.95, 5), 0.05, 1e-12);
    CHECK_NEAR(plot_tick_step(0, 440, 8), 50, 1e-12);
    CHECK(plot_text_width("SSIM", 1) == 23 && plot_text_width("", 1) == 0 && plot_text_width("AB", 2) == 22);
    /* Text: "1" at scale 1 sets exactly its glyph's 8 pixels (rows 0x04,0x0C,0x04 x4,0x0E). */
    vv_image img = {0};
    CHECK_OK(image_create(&img, 20, 10, 3));
    const uint8_t red[3] = {255, 0, 0};
    plot_text(&img, 1, 1, "1", red, 1);
    int lit = 0;
    for (int i = 0; i < 20 * 10; i++) lit += img.data[i * 3] == 255;
    CHECK(lit == 10);
    CHECK(img.data[(1 * 20 + 3) * 3] == 255 && img.data[(1 * 20 + 2) * 3] == 0); /* top of the "1" */
    plot_text(&img, -3, 8, "W~", red, 3); /* clipped and unknown glyphs must not crash */
    image_free(&img);
    /* A panel: the series colour (palette 0) appears, the background stays white. */
    double x[3] = {0, 1, 2}, y[3] = {0.5, NAN, 0.9};
    plot_series series = {"WARP K=1", x, y, 3};
    plot_panel panel = {"TITLE", "FRAME", "SSIM", &series, 1, 0, 1};
    vv_image plot = {0};
    CHECK_OK(plot_render(&plot, &panel, 1, 320, 200));
    int blue = 0, white = 0;
    for (size_t i = 0; plot.data && i < (size_t)plot.width * plot.height; i++) {
        const uint8_t *p = plot.data + i * 3;
        blue += p[0] == 31 && p[1] == 119 && p[2] == 180;
        white += p[0] == 255 && p[1] == 255 && p[2] == 255;
    }
    CHECK(plot.width == 320 && plot.height == 200 && blue > 40 && white > 320 * 200 / 2);
    image_free(&plot);
    CHECK(plot_render(&plot, &panel, 1, 10, 10) == VV_ERR_INVALID_ARGUMENT);
}

static void test_sampling(void) {
    int a[8], b[8], c[8];
    CHECK(eval_sample_frames(1, "clip", 8, 100, 8, a) == 8);
    CHECK(eval_sample_frames(1, "clip", 8, 100, 8, b) == 8);
    CHECK(eval_sample_frames(2, "clip", 8, 100, 8, c) == 8);
    bool same = true, differs = false, sorted = true;
    for (int i = 0; i < 8; i++) {
        same &= a[i] == b[i];
        differs |= a[i] != c[i];
        CHECK(a[i] >= 8 && a[i] < 100);
        if (i) sorted &= a[i] > a[i - 1]; /* ascending and distinct */
    }
    CHECK(same && differs && sorted);
    CHECK(eval_sample_frames(1, "clip", 3, 6, 8, a) == 3 && a[0] == 3 && a[1] == 4 && a[2] == 5);
    CHECK(eval_sample_frames(1, "clip", 6, 6, 8, a) == 0);
}

/* A 12-frame clip of the Mona Lisa drifting and zooming slightly (our own writer).  256 wide:
 * video_reader_next overran 250-wide frames by a few bytes (swscale SIMD; reported). */
static bool make_clip(const char *path) {
    vv_image image = {0}, small = {0}, frame = {0};
    if (image_load(&image, identity_images[0]) != VV_OK || image_resize(&small, &image, 256, 384) != VV_OK ||
        image_create(&frame, 256, 384, 3) != VV_OK)
        return false;
    video_writer_params vp = video_writer_default_params();
    vp.width = 256;
    vp.height = 384;
    vp.fps = 25;
    video_writer *writer = NULL;
    bool ok = video_writer_open(&writer, path, &vp) == VV_OK;
    for (int i = 0; ok && i < 12; i++) {
        float zoom = 1.0f - 0.006f * i, m[6] = {zoom, 0, 128 - zoom * 128 + 0.8f * i, 0, zoom, 150 - zoom * 150};
        image_warp_affine(&frame, &small, m, NULL);
        ok = video_writer_write(writer, &frame) == VV_OK;
    }
    if (writer) ok = ok ? video_writer_finish(writer) == VV_OK : (video_writer_abort(writer), false);
    image_free(&image);
    image_free(&small);
    image_free(&frame);
    return ok;
}

static const cJSON *find_row(const cJSON *rows, const char *engine, int shots) {
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        const cJSON *e = cJSON_GetObjectItem(row, "engine"), *k = cJSON_GetObjectItem(row, "shots");
        if (cJSON_IsString(e) && !strcmp(e->valuestring, engine) && cJSON_IsNumber(k) && k->valueint == shots) return row;
    }
    return NULL;
}

static double mean_of(const cJSON *row, const char *metric) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(row, "mean"), metric);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_protocols(void) {
    const char *dir = test_tmp_dir("test_eval");
    char clip[4200], path[4400];
    snprintf(clip, sizeof clip, "%s/mona_clip.mp4", dir);
    CHECK(make_clip(clip));
    eval_context ctx;
    CHECK_OK(eval_context_open(&ctx, NULL, 1)); /* one thread: quicker in the sanitizer build on a busy machine */
    if (!ctx.faces) return;
    /* Pairwise: an image against itself. */
    vv_image mona = {0};
    CHECK_OK(image_load(&mona, identity_images[0]));
    double values[METRIC_COUNT];
    CHECK_OK(eval_compare_frames(&ctx, &mona, &mona, values));
    CHECK_NEAR(values[METRIC_SSIM], 1, 1e-12);
    CHECK(isinf(values[METRIC_PSNR]) && values[METRIC_L1] == 0);
    CHECK_NEAR(values[METRIC_CSIM], 1, 1e-5);
    CHECK(values[METRIC_NME] == 0 && values[METRIC_FACE] == 1);
    image_free(&mona);

    eval_options o = eval_default_options();
    o.engines[0] = ENGINE;
    o.engines[1] = "freeze";
    o.engines[2] = "fsth";
    o.engine_count = 3;
    o.shots[0] = 1;
    o.shots[1] = 4;
    o.shots[2] = 8; /* 12 frames: K = 8 does not fit (needs 16) */
    o.shot_count = 3;
    o.max_frames = 3;
    o.follow_frames = 0; /* the following metrics: test_pipeline_following */
    o.crop_size = 256;   /* the clip's width: quicker in the sanitizer build */
    o.grid_rows = 2;
    o.output_dir = dir;
    snprintf(path, sizeof path, "%s/samples", dir);
    mkdir(path, 0777);
    eval_series *self = NULL, *cross = NULL;
    int self_count = 0, cross_count = 0;
    CHECK_OK(eval_self_reenactment(&ctx, &o, clip, &self, &self_count));
    CHECK(self_count == 9);
    CHECK_OK(eval_cross_reenactment(&ctx, &o, identity_images[0], clip, &cross, &cross_count));
    CHECK(cross_count == 3);
    eval_report report = {&o, self, self_count, cross, cross_count, true, true, 1.0};
    CHECK_OK(report_write(&report, dir));
    /* report.json: structure and sane values. */
    uint8_t *text = NULL;
    size_t size = 0;
    snprintf(path, sizeof path, "%s/report.json", dir);
    CHECK_OK(file_read_all(path, 1 << 24, &text, &size));
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, size) : NULL;
    CHECK(root != NULL);
    const cJSON *protocols = cJSON_GetObjectItem(root, "protocols");
    const cJSON *self_summary = cJSON_GetObjectItem(cJSON_GetObjectItem(protocols, "self_reenactment"), "summary");
    const cJSON *cross_summary = cJSON_GetObjectItem(cJSON_GetObjectItem(protocols, "cross_reenactment"), "summary");
    CHECK(cJSON_GetArraySize(self_summary) == 9 && cJSON_GetArraySize(cross_summary) == 3);
    const cJSON *warp1 = find_row(self_summary, ENGINE, 1), *warp4 = find_row(self_summary, ENGINE, 4);
    const cJSON *fsth = find_row(self_summary, "fsth", 1), *warp8 = find_row(self_summary, ENGINE, 8);
    CHECK(warp1 && cJSON_IsTrue(cJSON_GetObjectItem(warp1, "available")));
    CHECK(fsth && cJSON_IsFalse(cJSON_GetObjectItem(fsth, "available")) && cJSON_GetObjectItem(fsth, "note"));
    CHECK(warp8 && cJSON_IsFalse(cJSON_GetObjectItem(warp8, "available")));
    double ssim = mean_of(warp1, "SSIM"), csim = mean_of(warp1, "CSIM"), psnr = mean_of(warp1, "PSNR");
    double nme = mean_of(warp1, "NME"), face = mean_of(warp1, "Face");
    printf("tiny clip, warp K=1: SSIM %.3f PSNR %.2f CSIM %.3f NME %.4f; K=4: SSIM %.3f\n", ssim, psnr, csim, nme,
           mean_of(warp4, "SSIM"));
    CHECK(ssim > 0.6 && ssim < 1 && psnr > 18 && psnr < 60 && csim > 0.8 && csim <= 1.0001 && nme < 0.1 && face == 1);
    const cJSON *frames = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(protocols,
                                                "self_reenactment"), "clips"), 0), "frames");
    CHECK(cJSON_GetArraySize(frames) == 3); /* max_frames from frames 4..11 (after K = 4) */
    /* FD-faceres: one feature per frame on each side (every result has a face), a finite
     * distance >= 0 in each available self row; not measured in cross-reenactment. */
    CHECK(self[0].result_feature_count == 3 && self[0].real_feature_count == 3);
    const cJSON *freeze1 = find_row(self_summary, "freeze", 1);
    const cJSON *fd_warp = cJSON_GetObjectItem(warp1, "FD-faceres"), *fd_freeze = cJSON_GetObjectItem(freeze1, "FD-faceres");
    CHECK(cJSON_IsNumber(fd_warp) && isfinite(fd_warp->valuedouble) && fd_warp->valuedouble >= 0);
    CHECK(cJSON_IsNumber(fd_freeze) && isfinite(fd_freeze->valuedouble) && fd_freeze->valuedouble >= 0);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(warp4, "FD-faceres")));
    CHECK(!cJSON_GetObjectItem(warp8, "FD-faceres")); /* unavailable row */
    printf("tiny clip, FD-faceres (3 frames, indicative only): warp K=1 %.2f, freeze K=1 %.2f\n",
           cJSON_IsNumber(fd_warp) ? fd_warp->valuedouble : NAN, cJSON_IsNumber(fd_freeze) ? fd_freeze->valuedouble : NAN);
    const cJSON *cross_warp = find_row(cross_summary, ENGINE, 1);
    double cross_csim = mean_of(cross_warp, "CSIM");
    printf("tiny clip, cross (Mona Lisa driven by herself): CSIM %.3f Expr %.4f Pose %.2f\n", cross_csim,
           mean_of(cross_warp, "Expr"), mean_of(cross_warp, "Pose"));
    CHECK(cross_csim > 0.8 && mean_of(cross_warp, "Pose") < 5);
    CHECK(!cJSON_GetObjectItem(cJSON_GetObjectItem(cross_warp, "mean"), "SSIM")); /* no ground truth in cross */
    CHECK(!cJSON_GetObjectItem(cross_warp, "FD-faceres"));
    cJSON_Delete(root);
    free(text);
    /* report.md and the pictures. */
    snprintf(path, sizeof path, "%s/report.md", dir);
    CHECK_OK(file_read_all(path, 1 << 24, &text, &size));
    CHECK(text && strstr((char *)text, "## Self-reenactment") && strstr((char *)text, "## Cross-reenactment") &&
          strstr((char *)text, "| " ENGINE " | 1 |") && strstr((char *)text, "unavailable: engine 'fsth' needs --model"));
    CHECK(text && strstr((char *)text, "| FD-faceres ↓ |") && strstr((char *)text, "indicative only"));
    free(text);
    const char *files[4] = {"plots/self_mona_clip.png", "samples/self_mona_clip_" ENGINE "_K1.png",
                            "samples/cross_mona_lisa_from_mona_clip_" ENGINE ".png", "plots/cross_mona_lisa_from_mona_clip.png"};
    for (int i = 0; i < 4; i++) {
        vv_image png = {0};
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECK_MSG(image_load(&png, path) == VV_OK && png.width > 300, "%s", path);
        image_free(&png);
    }
    /* Bad input: a missing clip, a clip without a face. */
    CHECK(eval_self_reenactment(&ctx, &o, "/nonexistent/clip.mp4", &self, &self_count) == VV_ERR_NOT_FOUND);
    for (int i = 0; i < self_count; i++) eval_series_free(&self[i]);
    for (int i = 0; i < cross_count; i++) eval_series_free(&cross[i]);
    free(self);
    free(cross);
    eval_context_close(&ctx);
}

/* A talking, head-rolling clip: grace_hopper.jpg (256 px) animated by the built-in "talk"
 * motion (speech-like mouth, a few degrees of slow head motion), then each frame turned
 * in the image plane by 6 degrees x sin(2 pi t / 20 frames): a roll every engine must
 * copy, quick enough to survive the lag search's detrending (without it the lag's
 * confidence rests on the mouth and the eyes and varied 0.5-0.85 with the engine). */
static vv_status make_talk_clip(const char *dir, const char *path, double seconds) {
    char raw[4200];
    snprintf(raw, sizeof raw, "%s/talk_raw.mp4", dir);
    vv_image hopper = {0}, small = {0}, frame = {0}, turned = {0};
    vv_status s = image_load(&hopper, identity_images[1]);
    if (s == VV_OK) s = image_resize(&small, &hopper, 256, 256);
    vv_animate_params p = vv_animate_default_params();
    p.engine = ENGINE;
    p.crop_size = 256;
    p.threads = 1;
    vv_animator *a = NULL;
    if (s == VV_OK) s = vv_animator_new(&a, &small, NULL, 1, &p);
    vv_animate_job job;
    memset(&job, 0, sizeof job);
    job.motion = "talk";
    job.duration = seconds;
    job.output = raw;
    job.no_audio = 1;
    if (s == VV_OK) s = vv_animate(a, &job, NULL, NULL);
    vv_animator_free(a);
    video_reader *reader = NULL;
    video_writer *writer = NULL;
    video_writer_params vp = video_writer_default_params();
    vp.width = vp.height = 256;
    vp.fps = 25;
    vp.crf = 12;
    if (s == VV_OK) s = video_reader_open(&reader, raw);
    if (s == VV_OK) s = image_create(&turned, 256, 256, 3);
    if (s == VV_OK) s = video_writer_open(&writer, path, &vp);
    for (int t = 0; s == VV_OK; t++) {
        bool got = false;
        double time;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        double angle = 6.0 * M_PI / 180.0 * sin(2 * M_PI * t / 20.0);
        float c = (float)cos(angle), si = (float)sin(angle); /* output px -> input px, about (128, 128) */
        float m[6] = {c, -si, 128 - c * 128 + si * 128, si, c, 128 - si * 128 - c * 128};
        image_warp_affine(&turned, &frame, m, NULL);
        s = video_writer_write(writer, &turned);
    }
    if (writer) {
        if (s == VV_OK) s = video_writer_finish(writer);
        else video_writer_abort(writer);
    }
    video_reader_close(reader);
    image_free(&hopper);
    image_free(&small);
    image_free(&frame);
    image_free(&turned);
    return s;
}

/* Whether two PNGs hold the same pixels. */
static bool same_png(const char *a, const char *b) {
    vv_image x = {0}, y = {0};
    bool same = image_load(&x, a) == VV_OK && image_load(&y, b) == VV_OK && x.width == y.width && x.height == y.height &&
                !memcmp(x.data, y.data, (size_t)x.width * x.height * 3);
    image_free(&x);
    image_free(&y);
    return same;
}

static const eval_series *find_series(const eval_series *series, int count, const char *engine) {
    for (int i = 0; i < count; i++)
        if (!strcmp(series[i].engine, engine)) return &series[i];
    return NULL;
}

static void print_follow(const char *what, const eval_series *s) {
    const follow_metrics *f = &s->follow;
    printf("%-28s %3d frames (%d with a face): lag %d (%.2f, conf %.2f, margin %.2f, %d signals) mouth r %.2f blinks %d "
           "closure %.2f -> %.2f (lids %d: %.2f -> %.2f) yaw r %.2f pitch r %.2f roll r %.2f jitter %.2f\n",
           what, s->follow_frames, s->follow_output_faces, f->lag_frames, f->lag_subframe, f->lag_confidence,
           f->lag_margin, f->signals_used, f->mouth_correlation, f->blinks, f->blink_closure_driver, f->blink_closure_output,
           f->lid_blinks, f->lid_closure_driver, f->lid_closure_output, f->yaw_correlation, f->pitch_correlation, f->roll_correlation, f->jitter_ratio);
    printf("    weights:");
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) printf(" %s %.2f", follow_signal_name((follow_signal)j), f->signal_weight[j]);
    printf("\n");
}

static void series_list_free(eval_series **series, int *count) {
    for (int i = 0; i < *count; i++) eval_series_free(&(*series)[i]);
    free(*series);
    *series = NULL;
    *count = 0;
}

static void test_pipeline_following(void) {
    const char *dir = test_tmp_dir("test_eval_follow");
    char clip[4200], frames_dir[4200], animate_dir[4200], a[4400], b[4400];
    snprintf(clip, sizeof clip, "%s/talk.mp4", dir);
    snprintf(frames_dir, sizeof frames_dir, "%s/frames", dir);
    snprintf(animate_dir, sizeof animate_dir, "%s/animate", dir);
    mkdir(frames_dir, 0777);
    double t0 = time_now();
    CHECK_OK(make_talk_clip(dir, clip, 1.6)); /* 40 frames at 25 fps */
    double t1 = time_now();
    eval_context ctx;
    CHECK_OK(eval_context_open(&ctx, NULL, 1)); /* one thread: quicker in the sanitizer build on a busy machine */
    if (!ctx.faces) return;
    eval_options o = eval_default_options();
    o.engines[0] = ENGINE;
    o.engines[1] = "freeze";
    o.engine_count = 2;
    o.shots[0] = 1;
    o.shot_count = 1;
    o.max_frames = 3;
    o.crop_size = 256; /* the clip's size: faster in the sanitizer build */
    o.frames_dir = frames_dir;
    eval_series *self = NULL;
    int count = 0;
    CHECK_OK(eval_self_reenactment(&ctx, &o, clip, &self, &count));
    double t2 = time_now();
    const eval_series *warp = find_series(self, count, ENGINE), *freeze = find_series(self, count, "freeze");
    CHECK(count == 2 && warp && freeze && warp->available && freeze->available);
    if (!warp || !freeze || !warp->available || !freeze->available) {
        series_list_free(&self, &count);
        eval_context_close(&ctx);
        return;
    }
    print_follow("self, warp K=1:", warp);
    print_follow("self, freeze K=1:", freeze);
    /* The stretch: from the first driving frame (1) to the clip's end. */
    CHECK(warp->follow_start == 1 && warp->follow_frames == 39);
    CHECK(warp->follow_output_faces == 39 && freeze->follow_output_faces == 39);
    /* The pipeline does not lag: lag 0, a distinct peak (confidence 0.59-0.91, margin 0.57-1.21
     * with the 3D head as it changed during this work: how well its re-rendered eyes follow
     * moves the confidence, against freeze's 0).  The confidence must reach the report's
     * 0.5 (a trusted lag: the report checks below need it too), no more; the mouth and the
     * roll follow (r 0.98-0.99, 0.99-1.00). */
    CHECK_MSG(warp->follow.signals_used > 0 && warp->follow.lag_frames == 0 && warp->follow.lag_confidence >= 0.5 &&
                  warp->follow.lag_margin > 0.2,
              "lag %d confidence %.2f margin %.2f", warp->follow.lag_frames, warp->follow.lag_confidence,
              warp->follow.lag_margin);
    CHECK(fabs(warp->follow.lag_subframe) <= 0.5);
    CHECK_MSG(warp->follow.mouth_correlation > 0.8 && warp->follow.roll_correlation > 0.9, "mouth r %.2f roll r %.2f",
              warp->follow.mouth_correlation, warp->follow.roll_correlation);
    /* The do-nothing baseline follows nothing: no trusted lag, a still mouth. */
    CHECK_MSG(!(freeze->follow.lag_confidence >= 0.2), "freeze confidence %.2f", freeze->follow.lag_confidence);
    CHECK(!(fabs(freeze->follow.mouth_correlation) > 0.2));

    /* Reference: vivify animate with the clip's first frame as the source, driven by the
     * clip, writes the very frames eval rendered (the same pipeline, bit for bit). */
    video_reader *reader = NULL;
    vv_image first = {0};
    bool got = false;
    double t;
    CHECK_OK(video_reader_open(&reader, clip));
    if (reader) CHECK_OK(video_reader_next(reader, &first, &t, &got));
    video_reader_close(reader);
    vv_animate_params p = vv_animate_default_params();
    p.engine = ENGINE;
    p.crop_size = o.crop_size;
    p.threads = ctx.threads;
    vv_animator *animator = NULL;
    if (got) CHECK_OK(vv_animator_new(&animator, &first, NULL, 1, &p));
    vv_animate_job job;
    memset(&job, 0, sizeof job);
    job.driving = clip;
    job.output = animate_dir;
    job.no_audio = 1;
    if (animator) CHECK_OK(vv_animate(animator, &job, NULL, NULL));
    vv_animator_free(animator);
    image_free(&first);
    int compared = 0, identical = 0;
    for (int f = 1; f < 40; f += 6) {
        snprintf(a, sizeof a, "%s/self_talk_" ENGINE "_K1_%05d.png", frames_dir, f);
        snprintf(b, sizeof b, "%s/frame_%05d.png", animate_dir, f);
        compared++;
        identical += same_png(a, b);
    }
    printf("eval's frames vs vivify animate's: %d of %d identical\n", identical, compared);
    CHECK(compared == 7 && identical == compared);
    double t3 = time_now();

    /* A deliberately late engine (every frame from the driver 3 frames back) is found 3
     * frames late (sub-frame 2.93-3.07, confidence 0.44-0.92); the clip is not tracked again (the
     * context keeps its track). */
    eval_series *late = NULL;
    int late_count = 0;
    o.engine_count = 1;
    o.delay_frames = 3;
    o.frames_dir = NULL;
    o.max_frames = 0; /* the following stretch only */
    CHECK_OK(eval_self_reenactment(&ctx, &o, clip, &late, &late_count));
    if (late_count == 1 && late[0].available) {
        print_follow("self, warp K=1, delay 3:", &late[0]);
        CHECK_MSG(late[0].follow.lag_frames == 3 && late[0].follow.lag_confidence > 0.3 && late[0].follow.lag_margin > 0.2,
                  "lag %d confidence %.2f margin %.2f", late[0].follow.lag_frames, late[0].follow.lag_confidence,
                  late[0].follow.lag_margin);
        CHECK(fabs(late[0].follow.lag_subframe - 3) <= 0.5);
        /* three frames late, the mouth no longer moves with the driver's at shift 0 */
        CHECK_MSG(late[0].follow.mouth_correlation < warp->follow.mouth_correlation - 0.5, "mouth r %.2f",
                  late[0].follow.mouth_correlation);
    } else {
        CHECK(!"the delayed series ran");
    }
    o.delay_frames = EVAL_MAX_DELAY + 1;
    CHECK(eval_self_reenactment(&ctx, &o, clip, &late, &late_count) == VV_ERR_INVALID_ARGUMENT);
    o.delay_frames = 0;
    double t4 = time_now();

    /* Cross-reenactment: the Mona Lisa driven by the clip follows it, not late, its mouth
     * (r 0.83-0.97) and the head's roll (r 0.99-1.00) too.  On these 40 frames the lag is a
     * weak estimate (confidence 0.36-0.95, margin 0.11-1.04 over this project's history): a
     * small change to the render near the face's outline moved it between sub-frame +0.03
     * (lag 0) and -0.62 (lag -1, the output a little ahead, which the pipeline cannot be), so
     * what is asserted is that the output is not late: lag 0 or -1, sub-frame within
     * (-1, +0.5).  The late engine above is found 3 frames late by the same measure. */
    eval_series *cross = NULL;
    int cross_count = 0;
    CHECK_OK(eval_cross_reenactment(&ctx, &o, identity_images[0], clip, &cross, &cross_count));
    if (cross_count == 1 && cross[0].available) {
        print_follow("cross, mona <- talk, warp:", &cross[0]);
        CHECK(cross[0].follow_start == 0 && cross[0].follow_frames == 40);
        CHECK_MSG((cross[0].follow.lag_frames == 0 || cross[0].follow.lag_frames == -1) && cross[0].follow.lag_subframe > -1 &&
                      cross[0].follow.lag_subframe < 0.5,
                  "lag %d (sub-frame %.2f) confidence %.2f margin %.2f: late", cross[0].follow.lag_frames, cross[0].follow.lag_subframe,
                  cross[0].follow.lag_confidence, cross[0].follow.lag_margin);
        CHECK(cross[0].follow.mouth_correlation > 0.7 && cross[0].follow.roll_correlation > 0.9);
    } else {
        CHECK(!"the cross series ran");
    }
    /* The report: the Following tables and fields. */
    eval_report report = {&o, self, count, cross, cross_count, true, true, 1.0};
    o.output_dir = dir;
    snprintf(a, sizeof a, "%s/samples", dir);
    mkdir(a, 0777);
    CHECK_OK(report_write(&report, dir));
    uint8_t *text = NULL;
    size_t size = 0;
    snprintf(a, sizeof a, "%s/report.md", dir);
    CHECK_OK(file_read_all(a, 1 << 24, &text, &size));
    CHECK(text && strstr((char *)text, "| engine | K | clips | frames | Lag (frames) | Lag (sub-frame) | Conf") &&
          strstr((char *)text, "| talk | " ENGINE " | 1 | 39 | 0 |") && strstr((char *)text, "| talk | freeze | 1 | 39 |") &&
          strstr((char *)text, "- Jitter: ") && strstr((char *)text, "[following](plots/follow_self_talk.png)"));
    free(text);
    snprintf(a, sizeof a, "%s/report.json", dir);
    CHECK_OK(file_read_all(a, 1 << 24, &text, &size));
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, size) : NULL;
    const cJSON *protocols = cJSON_GetObjectItem(root, "protocols");
    const cJSON *clip0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(protocols, "self_reenactment"), "clips"), 0);
    const cJSON *follow = cJSON_GetObjectItem(clip0, "follow");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(follow, "lag_frames")) && cJSON_GetObjectItem(follow, "lag_frames")->valueint == 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(follow, "lag_trusted")) && cJSON_IsNumber(cJSON_GetObjectItem(follow, "mouth_correlation")));
    CHECK(cJSON_GetObjectItem(clip0, "mean") && cJSON_GetObjectItem(clip0, "per_frame")); /* the old fields stay */
    const cJSON *row = find_row(cJSON_GetObjectItem(cJSON_GetObjectItem(protocols, "self_reenactment"), "summary"), ENGINE, 1);
    const cJSON *follow_mean = cJSON_GetObjectItem(row, "follow_mean");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(follow_mean, "lag_frames")) &&
          cJSON_GetObjectItem(follow_mean, "lag_frames")->valuedouble == 0);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "settings"), "follow_frames")));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "follow_metrics"), "jitter_ratio")));
    cJSON_Delete(root);
    free(text);
    vv_image png = {0};
    snprintf(a, sizeof a, "%s/plots/follow_self_talk.png", dir);
    CHECK(image_load(&png, a) == VV_OK && png.width == 900);
    image_free(&png);
    printf("following test: clip %.1f s, eval %.1f s, animate reference %.1f s, delayed %.1f s, cross %.1f s\n", t1 - t0,
           t2 - t1, t3 - t2, t4 - t3, time_now() - t4);
    series_list_free(&self, &count);
    series_list_free(&late, &late_count);
    series_list_free(&cross, &cross_count);
    eval_context_close(&ctx);
}

/* The first of the models eval_context_open and the ENGINE animator load (the detector,
 * the face mesh with its iris model, the person matte) that models_find cannot find, or
 * NULL when all are there. */
static const char *missing_engine_model(void) {
    static const char *const names[] = {"blazeface.json", "facemesh.json", "iris.json", "selfie.json"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (models_find(names[i], path, sizeof path) != VV_OK) return names[i];
    return NULL;
}

int main(void) {
    char path[1024];
    if (models_find("faceres.json", path, sizeof path) != VV_OK) {
        printf("SKIPPED test_eval: faceres.json not in .cache/models (./dev setup)\n");
        return 77;
    }
    double t0 = time_now();
    test_identity();
    test_plot();
    test_sampling();
    double t1 = time_now();
    const char *missing = missing_engine_model();
    if (!missing) test_protocols();
    double t2 = time_now();
    if (!missing) test_pipeline_following();
    printf("test_eval: identity, plot, sampling %.1f s; protocols %.1f s; following %.1f s\n", t1 - t0, t2 - t1,
           time_now() - t2);
    int rc = test_finish("test_eval");
    if (rc == 0 && missing) {
        printf("SKIPPED the protocol and following parts of test_eval: %s not in .cache/models (./dev setup)\n",
               missing);
        return 77;
    }
    return rc;
}
