/* The animate library layer (src/animate/, include/vivify.h's vv_animator / vv_animate):
 *  1. the timeline's centred smoothing: no lag on a ramp (a causal One Euro filter lags the
 *     same ramp), jitter reduced, a blink's depth kept, gaps held then eased, readiness;
 *  2. a synthetic driver (grace_hopper.jpg sliding left and right, written with our video
 *     writer) animating mona_lisa.png: the portrait's face moves with the driver in the same
 *     frame (lag 0, measured by detecting the face in the output), vv_animate's PNG frames
 *     equal the streaming push / pull frames byte for byte, and the abort callback stops it
 *     cleanly (no output; with keep_partial a shorter valid one);
 *  3. absolute mode (the driver's own shape, aligned): with engine warp it renders as warp2d
 *     does (the 3D head moves relative to a reference pose only), and differs from relative
 *     mode for a driver whose face differs from the portrait's in size, place and shape;
 *  4. engine hybrid (the shipped models/hybrid128.safetensors), on a driver that opens the
 *     mouth: each frame is the warp2d engine's frame for the same driver with the network's
 *     painting blended in by the network's own weight (recomposed here by a separately
 *     loaded and prepared copy of the model), the warp untouched outside the network's crop
 *     and wherever the weight is 0, changed where the weight is high;
 *  5. engine fsth (the shipped models/fsth128.safetensors): the network's crop follows each
 *     frame's face (a driver face half as large and lower gives a crop half as large, lower);
 *  6. --reference best with a driver (tracked whole first): a driver whose first frames are
 *     another person and whose last are the portrait itself: the reference is found among
 *     the portrait's own frames (first: frame 0), and the output there is the portrait
 *     nearly unmoved.
 * `./dev test` also runs this under ThreadSanitizer: the tracker thread shares the
 * animator's face context (detector, predictor) and face mesh with the render loop. */
#include "animate/animate.h"
#include "animate/timeline.h"
#include "face/faces.h"
#include "face/motion.h"
#include "face/tracker.h"
#include "img/image.h"
#include "models/models.h"
#include "test.h"
#include "warp/mesh.h"
#include "video/video.h"
#include "vivify.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint32_t rng_state = 12345;

static void test_smoothing(void) {
    enum { N = 60 };
    static float raw[N][68][2], out[68][2];
    /* Ramp: every point moves 2 px a frame (a head turning): the centred fit has no lag. */
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        for (int k = 0; k < 68; k++) raw[t][k][0] += 2.0f * t;
    }
    double worst = 0;
    for (int t = 3; t < N - 3; t++) {
        landmark_smooth_frame((const float(*)[68][2])raw + t - 3, 7, 3, 1.0f, out);
        for (int k = 0; k < 68; k++) worst = fmax(worst, fabs(out[k][0] - raw[t][k][0]));
    }
    CHECK_MSG(worst < 0.01, "ramp: centred smoothing moved a point by %.4f px", worst);
    /* The causal One Euro filter the tracker used lags it (the reason for the timeline). */
    one_euro f;
    one_euro_init(&f, 1.0f, 0.007f);
    float last = 0;
    for (int t = 0; t < N; t++) last = one_euro_filter(&f, raw[t][0][0], 0.04f);
    CHECK_MSG(raw[N - 1][0][0] - last > 1.0f, "One Euro lag on the ramp %.2f px", raw[N - 1][0][0] - last);

    /* Jitter: a still face with +-0.6 px noise (0.006 eye distances): frame-to-frame motion
     * must drop by half or more. */
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) raw[t][k][c] += 0.6f * test_uniform_noise(&rng_state);
    }
    static float smooth[N][68][2];
    for (int t = 0; t < N; t++) {
        int lo = t - 3 < 0 ? 0 : t - 3, hi = t + 3 >= N ? N - 1 : t + 3;
        landmark_smooth_frame((const float(*)[68][2])raw + lo, hi - lo + 1, t - lo, 1.0f, smooth[t]);
    }
    double raw_motion = 0, smooth_motion = 0;
    for (int t = 1; t < N; t++)
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) {
                raw_motion += fabs(raw[t][k][c] - raw[t - 1][k][c]);
                smooth_motion += fabs(smooth[t][k][c] - smooth[t - 1][k][c]);
            }
    CHECK_MSG(smooth_motion < 0.5 * raw_motion, "jitter: smoothed %.1f vs raw %.1f", smooth_motion, raw_motion);

    /* A blink: the upper lids (37, 38, 43, 44) drop 15 px (0.15 eye distances) over two
     * frames and come back: the smoothed lid must reach at least 90% of the way. */
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        float d = t == 30 ? 15.0f : (t == 29 || t == 31) ? 8.0f : 0.0f;
        int lids[4] = {37, 38, 43, 44};
        for (int i = 0; i < 4; i++) raw[t][lids[i]][1] += d;
    }
    landmark_smooth_frame((const float(*)[68][2])raw + 27, 7, 3, 1.0f, out);
    float base[68][2];
    test_template_face(base);
    CHECK_MSG(out[37][1] - base[37][1] > 13.5f, "blink depth kept: %.2f of 15 px", out[37][1] - base[37][1]);
    landmark_smooth_frame((const float(*)[68][2])raw + 27, 7, 3, 0.0f, out);
    CHECK(out[37][1] == raw[30][37][1]); /* strength 0 copies */
}

static void test_timeline(void) {
    driver_timeline tl;
    timeline_init(&tl, 3, 1.0f, 25);
    float face[68][2], p[68][2];
    test_template_face(face);
    bool has_face, found;
    long index;
    /* Two frames without a face first: ready at once (the portrait as it is). */
    CHECK_OK(timeline_push(&tl, NULL, 0));
    CHECK(timeline_ready(&tl));
    timeline_take(&tl, p, &has_face, &found, &index);
    CHECK(!has_face && !found && index == 0);
    CHECK_OK(timeline_push(&tl, NULL, 0.04));
    /* Faces from frame 2: frame 2 is ready only once frame 5 is in. */
    for (int t = 2; t < 5; t++) CHECK_OK(timeline_push(&tl, (const float(*)[2])face, t * 0.04));
    timeline_take(&tl, p, &has_face, &found, &index); /* frame 1: before the first face */
    CHECK(!has_face && index == 1);
    CHECK(!timeline_ready(&tl));
    CHECK_OK(timeline_push(&tl, (const float(*)[2])face, 0.2));
    CHECK(timeline_ready(&tl));
    timeline_take(&tl, p, &has_face, &found, &index);
    CHECK(has_face && found && index == 2 && fabsf(p[0][0] - face[0][0]) < 1e-4f);
    /* A gap after the face: the same points as motion_gap_points (held, then eased). */
    float moved[68][2];
    memcpy(moved, face, sizeof moved);
    for (int k = 0; k < 68; k++) moved[k][1] += 20;
    CHECK_OK(timeline_push(&tl, (const float(*)[2])moved, 0.24));
    for (int t = 7; t < 40; t++) CHECK_OK(timeline_push(&tl, NULL, t * 0.04));
    timeline_end(&tl);
    float expect[68][2];
    motion_gap_points((const float(*)[2])moved, 39 - 6, 25, (const float(*)[2])face, expect);
    long last = -1;
    while (timeline_ready(&tl)) {
        timeline_take(&tl, p, &has_face, &found, &index);
        last = index;
    }
    CHECK(last == 39 && timeline_done(&tl));
    CHECK_MSG(fabsf(p[10][1] - expect[10][1]) < 0.5f, "eased gap: %.2f vs %.2f", p[10][1], expect[10][1]);
    timeline_free(&tl);
}

/* ---- The whole pipeline on a synthetic driver ---------------------------------------- */

/* The models engine warp loads; a part that needs them is skipped (test_skip: the test
 * then exits 77) only when one is absent, and fails when one is present but invalid. */
static bool warp_models_present(const char *part) {
    const char *names[] = {"blazeface.json", "dlib", "facemesh.json", "iris.json", "selfie.json"};
    for (int i = 0; i < 5; i++)
        if (!test_model_present(names[i])) {
            test_skip("%s: model %s not present (./dev setup)", part, names[i]);
            return false;
        }
    return true;
}

#define DRIVER_FRAMES 36
static float driver_shift(int t) { return 14.0f * sinf(6.2831853f * t / 18.0f); }

/* Grace Hopper (512 px) cropped to 384x384 around her face, slid left and right. */
static vv_status write_driver(const char *path) {
    vv_image hopper = {0}, frame = {0};
    vv_status s = image_load(&hopper, VV_SOURCE_DIR "/examples/grace_hopper.jpg");
    if (s == VV_OK) s = image_create(&frame, 384, 384, 3);
    video_writer *w = NULL;
    video_writer_params vp = video_writer_default_params();
    vp.width = 384;
    vp.height = 384;
    vp.fps = 25;
    vp.crf = 12;
    if (s == VV_OK) s = video_writer_open(&w, path, &vp);
    for (int t = 0; t < DRIVER_FRAMES && s == VV_OK; t++) {
        float m[6] = {1, 0, 64 - driver_shift(t), 0, 1, 40};
        image_warp_affine(&frame, &hopper, m, NULL);
        s = video_writer_write(w, &frame);
    }
    if (s == VV_OK) s = video_writer_finish(w);
    else video_writer_abort(w);
    image_free(&hopper);
    image_free(&frame);
    return s;
}

/* frames is written by the progress callback (the calling thread) and read by the abort
 * callback, which the library also polls from its tracker thread: atomic. */
typedef struct abort_state {
    atomic_long frames;
    long stop_after;
} abort_state;

static int count_progress(void *data, vv_animate_stage stage, long done, long total) {
    abort_state *a = data;
    if (stage == VV_STAGE_RENDERING) a->frames = done;
    return 0;
}

static int abort_after(void *data) {
    abort_state *a = data;
    return a->stop_after > 0 && a->frames >= a->stop_after;
}

static int png_count(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".png") != NULL;
    closedir(d);
    return n;
}

static void remove_dir(const char *dir) {
    char command[700];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void test_pipeline(void) {
    if (!warp_models_present("pipeline")) return;
    char dir[] = "/tmp/vv_test_animate_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char driver[600], frames_dir[600], partial[600], aborted[600];
    snprintf(driver, sizeof driver, "%s/driver.mp4", dir);
    snprintf(frames_dir, sizeof frames_dir, "%s/frames", dir);
    snprintf(partial, sizeof partial, "%s/partial.mp4", dir);
    snprintf(aborted, sizeof aborted, "%s/aborted.mp4", dir);
    CHECK_OK(write_driver(driver));

    vv_image portrait = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = vv_animate_default_params();
    vv_animator *animator = NULL;
    CHECK_OK(vv_animator_new(&animator, &portrait, &name, 1, &params));
    if (!animator) {
        image_free(&portrait);
        remove_dir(dir);
        return;
    }
    int w = 0, h = 0;
    vv_animator_output_size(animator, &w, &h);
    CHECK(w == 500 && h == 756);

    /* One call, PNG frames. */
    vv_animate_job job = {0};
    job.driving = driver;
    job.output = frames_dir;
    abort_state progress;
    atomic_init(&progress.frames, 0);
    progress.stop_after = 0;
    vv_animate_callbacks cb = {count_progress, abort_after, NULL, 0, &progress};
    vv_animate_report report;
    CHECK_OK(vv_animate(animator, &job, &cb, &report));
    CHECK(report.frames == DRIVER_FRAMES && png_count(frames_dir) == DRIVER_FRAMES);
    CHECK(report.reference_frame == 0 && report.faceless_frames == 0);

    /* Streaming push / pull on a fresh animator: the same frames, byte for byte. */
    vv_animator *streaming = NULL;
    CHECK_OK(vv_animator_new(&streaming, &portrait, &name, 1, &params));
    video_reader *reader = NULL;
    CHECK_OK(video_reader_open(&reader, driver));
    vv_image frame = {0}, out = {0}, png = {0};
    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    CHECK_OK(vv_faces_new(&faces, &fp));
    long pulled = 0, equal = 0;
    float face_x[DRIVER_FRAMES], source_x = 0;
    vv_face source_face;
    CHECK_OK(vv_animator_source_face(streaming, 0, &source_face));
    for (int k = 36; k < 48; k++) source_x += source_face.landmarks[k][0] / 12;
    for (int t = 0; reader && pulled < DRIVER_FRAMES; t++) {
        bool got = false;
        double time = 0;
        if (t < DRIVER_FRAMES) {
            CHECK_OK(video_reader_next(reader, &frame, &time, &got));
            if (got) CHECK_OK(vv_animator_push(streaming, &frame, time));
        }
        if (!got) CHECK_OK(vv_animator_push_end(streaming));
        for (int have = 1; have;) {
            vv_frame_info info;
            CHECK_OK(vv_animator_pull(streaming, &out, &have, &info));
            if (!have) break;
            CHECK(info.index == pulled && info.face_found);
            char path[700];
            snprintf(path, sizeof path, "%s/frame_%05ld.png", frames_dir, pulled);
            if (image_load(&png, path) == VV_OK && png.width == out.width && png.height == out.height &&
                !memcmp(png.data, out.data, (size_t)out.width * out.height * 3))
                equal++;
            image_free(&png);
            /* Where the face is in the output: mean x of the eyes. */
            vv_face found[2];
            int count = 0;
            face_x[pulled] = NAN;
            if (faces_detect_quick(faces, &out, found, 2, &count) == VV_OK && count > 0) {
                float x = 0;
                for (int k = 36; k < 48; k++) x += found[0].landmarks[k][0] / 12;
                face_x[pulled] = x - source_x;
            }
            pulled++;
        }
        if (!got && t >= DRIVER_FRAMES) break;
    }
    CHECK_MSG(pulled == DRIVER_FRAMES, "pulled %ld frames", pulled);
    CHECK_MSG(equal == DRIVER_FRAMES, "%ld of %d streamed frames equal vv_animate's", equal, DRIVER_FRAMES);
    /* Lag: the output's face motion against the driver's shift, at shifts -2..2: best at 0,
     * and the motion follows (correlation > 0.9). */
    int best_shift = 99;
    double best_corr = -2;
    for (int shift = -2; shift <= 2; shift++) {
        double sxy = 0, sxx = 0, syy = 0, mx = 0, my = 0;
        int n = 0;
        for (int t = 4; t < DRIVER_FRAMES - 4; t++) {
            if (isnan(face_x[t])) continue;
            mx += face_x[t];
            my += driver_shift(t - shift);
            n++;
        }
        if (n < 10) continue;
        mx /= n;
        my /= n;
        for (int t = 4; t < DRIVER_FRAMES - 4; t++) {
            if (isnan(face_x[t])) continue;
            double x = face_x[t] - mx, y = driver_shift(t - shift) - my;
            sxy += x * y; sxx += x * x; syy += y * y;
        }
        double corr = sxy / sqrt(sxx * syy + 1e-12);
        if (corr > best_corr) { best_corr = corr; best_shift = shift; }
    }
    CHECK_MSG(best_shift == 0 && best_corr > 0.9, "output follows the driver at shift %d (correlation %.3f)", best_shift,
              best_corr);

    /* Abort after 5 frames: no output; with keep_partial a shorter valid video. */
    progress.frames = 0;
    progress.stop_after = 5;
    job.output = aborted;
    CHECK(vv_animate(animator, &job, &cb, &report) == VV_ERR_ABORTED);
    CHECK(access(aborted, F_OK) != 0);
    progress.frames = 0;
    job.output = partial;
    job.keep_partial = 1;
    CHECK(vv_animate(animator, &job, &cb, &report) == VV_ERR_ABORTED);
    CHECK_MSG(report.frames >= 5 && report.frames < DRIVER_FRAMES, "kept %ld frames", report.frames);
    video_reader *check = NULL;
    if (access(partial, F_OK) == 0 && video_reader_open(&check, partial) == VV_OK) {
        long n = 0;
        for (bool got = true; got;) {
            double time;
            if (video_reader_next(check, &frame, &time, &got) != VV_OK) break;
            n += got;
        }
        CHECK_MSG(n == report.frames, "partial output has %ld frames, report %ld", n, report.frames);
        video_reader_close(check);
    } else {
        CHECK_MSG(0, "no partial output");
    }
    /* Bad jobs fail with a clear status and write nothing. */
    vv_animate_job bad = {0};
    bad.output = aborted;
    CHECK(vv_animate(animator, &bad, NULL, NULL) == VV_ERR_INVALID_ARGUMENT);
    bad.driving = "/nonexistent/driver.mp4";
    CHECK(vv_animate(animator, &bad, NULL, NULL) == VV_ERR_NOT_FOUND);
    bad.driving = NULL;
    bad.motion = "talk";
    bad.output = "/tmp/x.png";
    CHECK(vv_animate(animator, &bad, NULL, NULL) == VV_ERR_UNSUPPORTED);

    video_reader_close(reader);
    vv_faces_free(faces);
    vv_animator_free(streaming);
    vv_animator_free(animator);
    image_free(&frame);
    image_free(&out);
    image_free(&portrait);
    remove_dir(dir);
}

/* ---- Absolute mode ------------------------------------------------------------------ */

#define ABSOLUTE_FRAMES 5

/* The frames an animator makes from landmarks alone (no driver images), pushed then pulled;
 * info (or NULL): each frame's vv_frame_info. */
static int render_landmarks_info(vv_animator *a, const float (*frames)[68][2], int n, vv_image *out, vv_frame_info *info) {
    int pulled = 0;
    for (int t = 0; t <= n; t++) {
        if (t < n) CHECK_OK(vv_animator_push_landmarks(a, (const float(*)[2])frames[t], NULL, t / 25.0));
        else CHECK_OK(vv_animator_push_end(a));
        for (int got = 1; got && pulled < n;) {
            CHECK_OK(vv_animator_pull(a, &out[pulled], &got, info ? &info[pulled] : NULL));
            pulled += got;
        }
    }
    return pulled;
}

static int render_landmarks(vv_animator *a, const float (*frames)[68][2], int n, vv_image *out) {
    return render_landmarks_info(a, frames, n, out, NULL);
}

static bool images_equal(const vv_image *a, const vv_image *b) {
    return a->data && b->data && a->width == b->width && a->height == b->height && a->channels == b->channels &&
           !memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels);
}

static void test_absolute(void) {
    if (!warp_models_present("absolute")) return;
    vv_image portrait = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = vv_animate_default_params();
    params.threads = 1;
    vv_animator *relative = NULL, *absolute = NULL, *absolute2d = NULL;
    CHECK_OK(vv_animator_new(&relative, &portrait, &name, 1, &params));
    if (!relative) {
        image_free(&portrait);
        return;
    }
    params.absolute = 1;
    CHECK_OK(vv_animator_new(&absolute, &portrait, &name, 1, &params));
    params.engine = "warp2d";
    CHECK_OK(vv_animator_new(&absolute2d, &portrait, &name, 1, &params));
    /* A driver: the portrait's face at 0.6 of its size, elsewhere, with a wider jaw and a
     * mouth that opens. */
    vv_face face;
    CHECK_OK(vv_animator_source_face(relative, 0, &face));
    float frames[ABSOLUTE_FRAMES][68][2];
    for (int t = 0; t < ABSOLUTE_FRAMES; t++)
        for (int k = 0; k < 68; k++) {
            float x = face.landmarks[k][0], y = face.landmarks[k][1];
            if (k <= 16) x = face.landmarks[30][0] + 1.25f * (x - face.landmarks[30][0]);
            if (k >= 56 && k <= 58) y += 4.0f * t;
            if (k >= 65 && k <= 67) y += 3.5f * t;
            frames[t][k][0] = 0.6f * x + 40 + 2.0f * t;
            frames[t][k][1] = 0.6f * y + 25;
        }
    vv_image rel[ABSOLUTE_FRAMES], abs3d[ABSOLUTE_FRAMES], abs2d[ABSOLUTE_FRAMES];
    memset(rel, 0, sizeof rel);
    memset(abs3d, 0, sizeof abs3d);
    memset(abs2d, 0, sizeof abs2d);
    int n_rel = render_landmarks(relative, (const float(*)[68][2])frames, ABSOLUTE_FRAMES, rel);
    int n_abs = render_landmarks(absolute, (const float(*)[68][2])frames, ABSOLUTE_FRAMES, abs3d);
    int n_2d = render_landmarks(absolute2d, (const float(*)[68][2])frames, ABSOLUTE_FRAMES, abs2d);
    CHECK(n_rel == ABSOLUTE_FRAMES && n_abs == ABSOLUTE_FRAMES && n_2d == ABSOLUTE_FRAMES);
    int same_as_2d = 0, same_as_relative = 0;
    for (int t = 0; t < ABSOLUTE_FRAMES; t++) {
        same_as_2d += images_equal(&abs3d[t], &abs2d[t]);
        same_as_relative += images_equal(&abs3d[t], &rel[t]);
    }
    CHECK_MSG(same_as_2d == ABSOLUTE_FRAMES, "absolute, engine warp: %d of %d frames as warp2d renders them", same_as_2d,
              ABSOLUTE_FRAMES);
    CHECK_MSG(same_as_relative == 0, "absolute, engine warp: %d of %d frames equal relative mode's", same_as_relative,
              ABSOLUTE_FRAMES);
    for (int t = 0; t < ABSOLUTE_FRAMES; t++) {
        image_free(&rel[t]);
        image_free(&abs3d[t]);
        image_free(&abs2d[t]);
    }
    vv_animator_free(relative);
    vv_animator_free(absolute);
    vv_animator_free(absolute2d);
    image_free(&portrait);
}

/* ---- Engine hybrid: the warp's frame with the network's painting blended in ----------- */

#define HYBRID_MODEL VV_SOURCE_DIR "/models/hybrid128.safetensors"
#define HYBRID_FRAMES 6

/* A learned engine's test can run: the detector, dlib's model and `model` are there (else
 * it is skipped, saying why). */
static bool learned_ready(const char *what, const char *model) {
    if (!test_model_present("blazeface.json") || !test_model_present("dlib")) {
        test_skip("%s: blazeface.json or the dlib model not present (./dev setup)", what);
        return false;
    }
    if (!file_exists(model)) {
        test_skip("%s: %s not present", what, model);
        return false;
    }
    return true;
}

/* One thread, the engine and its model. */
static vv_animate_params learned_params(const char *engine, const char *model) {
    vv_animate_params params = vv_animate_default_params();
    params.threads = 1;
    params.engine = engine;
    params.model = model;
    return params;
}

static void test_hybrid(void) {
    if (!learned_ready("hybrid", HYBRID_MODEL)) return;
    vv_image portrait = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = learned_params("hybrid", HYBRID_MODEL);
    vv_animator *hybrid = NULL, *warp2d = NULL;
    CHECK_OK(vv_animator_new(&hybrid, &portrait, &name, 1, &params));
    params.engine = "warp2d";
    params.model = NULL;
    CHECK_OK(vv_animator_new(&warp2d, &portrait, &name, 1, &params));
    vv_face face;
    if (!hybrid || !warp2d || vv_animator_source_face(hybrid, 0, &face) != VV_OK) {
        CHECK(0);
        vv_animator_free(hybrid);
        vv_animator_free(warp2d);
        image_free(&portrait);
        return;
    }
    /* The driver: the portrait's own face (frame 0, the reference), then the mouth opening
     * and the head moving right, so the warp moves the portrait's pixels. */
    float frames[HYBRID_FRAMES][68][2];
    for (int t = 0; t < HYBRID_FRAMES; t++)
        for (int k = 0; k < 68; k++) {
            frames[t][k][0] = face.landmarks[k][0] + 1.5f * t;
            frames[t][k][1] = face.landmarks[k][1];
            if (k >= 56 && k <= 58) frames[t][k][1] += 3.0f * t;
            if (k >= 65 && k <= 67) frames[t][k][1] += 2.5f * t;
            if (k >= 5 && k <= 11) frames[t][k][1] += 1.5f * t;
        }
    vv_image hyb[HYBRID_FRAMES], warp[HYBRID_FRAMES];
    vv_frame_info info[HYBRID_FRAMES];
    memset(hyb, 0, sizeof hyb);
    memset(warp, 0, sizeof warp);
    int n_hybrid = render_landmarks_info(hybrid, (const float(*)[68][2])frames, HYBRID_FRAMES, hyb, info);
    int n_warp = render_landmarks(warp2d, (const float(*)[68][2])frames, HYBRID_FRAMES, warp);
    CHECK(n_hybrid == HYBRID_FRAMES && n_warp == HYBRID_FRAMES);

    /* The same model, loaded and prepared here as the animator prepares it (the portrait as
     * its one shot); each frame's target is the driver's smoothed landmarks retargeted onto
     * the portrait (the animator's retargeting state), its crop around the target. */
    fsth_model *m = NULL;
    CHECK_OK(fsth_model_load(&m, HYBRID_MODEL));
    if (m) CHECK_OK(fsth_prepare(m, &portrait, (const float(*)[68][2])face.landmarks, 1));
    int S = m ? m->config.size : 0;
    float crop_to_image[6], image_to_crop[6];
    vv_image painted = {0}, crop = {0}, expected = {0};
    uint8_t *weight = S ? malloc((size_t)S * S) : NULL;
    long in_crop_changed = 0, outside_changed = 0, weightless = 0, weightless_changed = 0, weighted = 0,
         weighted_changed = 0, warp_moved = 0;
    double worst = 0;
    for (int t = 0; m && weight && t < n_hybrid && t < n_warp; t++) {
        const vv_image *h = &hyb[t], *w = &warp[t];
        if (!h->data || !w->data || h->width != w->width || h->height != w->height || !hybrid->sources[0].retarget_ready) {
            CHECK_MSG(0, "hybrid frame %d: %dx%d, warp2d %dx%d", t, h->width, h->height, w->width, w->height);
            continue;
        }
        float target[68][2], crop_target[68][2];
        motion_retarget_frame(&hybrid->sources[0].retarget, (const float(*)[2])info[t].landmarks, target);
        fsth_crop_transform((const float(*)[2])target, S, crop_to_image); /* the crop follows the face */
        affine_invert(crop_to_image, image_to_crop);
        affine_apply_points(image_to_crop, (const float(*)[2])target, crop_target, 68);
        CHECK_OK(fsth_render_layers(m, (const float(*)[2])crop_target, &painted, weight));
        image_free(&expected);
        CHECK_OK(image_copy(&expected, w));
        CHECK_OK(fsth_render_frame(m, image_to_crop, crop_to_image, (const float(*)[2])target, &crop, &expected));
        for (int y = 0; y < h->height; y++)
            for (int x = 0; x < h->width; x++) {
                size_t o = ((size_t)y * h->width + x) * 3;
                int diff = 0, off = 0;
                for (int k = 0; k < 3; k++) {
                    int dw = abs(h->data[o + k] - w->data[o + k]), de = abs(h->data[o + k] - expected.data[o + k]);
                    diff = dw > diff ? dw : diff;
                    off = de > off ? de : off;
                    warp_moved += x < portrait.width && y < portrait.height &&
                                  w->data[o + k] != portrait.data[((size_t)y * portrait.width + x) * 3 + k];
                }
                worst = off > worst ? off : worst;
                float u = image_to_crop[0] * x + image_to_crop[1] * y + image_to_crop[2];
                float v = image_to_crop[3] * x + image_to_crop[4] * y + image_to_crop[5];
                if (u < -1 || v < -1 || u > S || v > S) {
                    outside_changed += diff > 0;
                    continue;
                }
                in_crop_changed += diff > 0;
                /* the weight at the four crop pixels the paste-back samples */
                int iu = (int)floorf(u), iv = (int)floorf(v), wmax = 0;
                for (int dv = 0; dv <= 1; dv++)
                    for (int du = 0; du <= 1; du++) {
                        int cu = iu + du < 0 ? 0 : iu + du >= S ? S - 1 : iu + du;
                        int cv = iv + dv < 0 ? 0 : iv + dv >= S ? S - 1 : iv + dv;
                        wmax = weight[cv * S + cu] > wmax ? weight[cv * S + cu] : wmax;
                    }
                if (wmax == 0) {
                    weightless++;
                    weightless_changed += diff > 0;
                }
                if (wmax >= 128) {
                    weighted++;
                    weighted_changed += diff > 0;
                }
            }
    }
    printf("hybrid vs warp2d over %d frames: the warp moved %ld portrait values; %ld pixels changed inside the network's "
           "crop, %ld outside, %ld of %ld where its weight is 0; %.1f%% of the %ld weighted >= 0.5 changed; vs the "
           "recomposed frames at most %.0f levels\n",
           HYBRID_FRAMES, warp_moved, in_crop_changed, outside_changed, weightless_changed, weightless,
           weighted ? 100.0 * weighted_changed / weighted : 0.0, weighted, worst);
    CHECK_MSG(warp_moved > 1000, "the driver did not move the warp (%ld values)", warp_moved);
    CHECK_MSG(worst <= 1, "hybrid frames differ from warp2d's frame + the painting blended by its weight by %.0f levels",
              worst);
    CHECK_MSG(outside_changed == 0 && weightless > 0 && weightless_changed == 0,
              "hybrid changed the warp outside the crop (%ld) or where the weight is 0 (%ld of %ld)", outside_changed,
              weightless_changed, weightless);
    CHECK_MSG(weighted > 0 && weighted_changed > weighted / 2, "the painting changed %ld of %ld weighted pixels",
              weighted_changed, weighted);
    free(weight);
    image_free(&painted);
    image_free(&crop);
    image_free(&expected);
    fsth_model_free(m);
    for (int t = 0; t < HYBRID_FRAMES; t++) {
        image_free(&hyb[t]);
        image_free(&warp[t]);
    }
    vv_animator_free(hybrid);
    vv_animator_free(warp2d);
    image_free(&portrait);
}

/* ---- Engine fsth: the network's crop follows the frame's face ------------------------- */

#define FSTH_MODEL VV_SOURCE_DIR "/models/fsth128.safetensors"
#define FSTH_FRAMES 12

static void test_fsth_crop(void) {
    if (!learned_ready("fsth crop", FSTH_MODEL)) return;
    vv_image portrait = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = learned_params("fsth", FSTH_MODEL);
    vv_animator *a = NULL;
    CHECK_OK(vv_animator_new(&a, &portrait, &name, 1, &params));
    vv_face face;
    if (!a || vv_animator_source_face(a, 0, &face) != VV_OK) {
        CHECK(0);
        vv_animator_free(a);
        image_free(&portrait);
        return;
    }
    float at_rest[6], centre[2] = {0, 0};
    fsth_crop_transform((const float(*)[2])face.landmarks, a->model->config.size, at_rest);
    for (int k = 0; k < 68; k++) centre[0] += face.landmarks[k][0] / 68, centre[1] += face.landmarks[k][1] / 68;
    /* The driver: the portrait's own face (the reference), then the face half as large and
     * 20 px lower, held (as lp_src_s20's camera zooming out and her stepping back). */
    float frames[FSTH_FRAMES][68][2];
    for (int t = 0; t < FSTH_FRAMES; t++)
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) {
                float scale = t < 3 ? 1.0f : 0.5f, down = t < 3 || c == 0 ? 0.0f : 20.0f;
                frames[t][k][c] = centre[c] + scale * (face.landmarks[k][c] - centre[c]) + down;
            }
    vv_image out[FSTH_FRAMES];
    memset(out, 0, sizeof out);
    int n = render_landmarks(a, (const float(*)[68][2])frames, FSTH_FRAMES, out);
    CHECK(n == FSTH_FRAMES);
    /* The last frame's crop is half the source's and lower: the face fills it as a shot's
     * face fills its crop (a crop fixed at the source's face would keep at_rest). */
    float expected[6];
    fsth_crop_transform((const float(*)[2])frames[FSTH_FRAMES - 1], a->model->config.size, expected);
    float ratio = a->crop_to_image[0] / at_rest[0], off_x = a->crop_to_image[2] - expected[2],
          off_y = a->crop_to_image[5] - expected[5];
    printf("fsth crop: the last frame's crop %.3f of the source's, %.1f, %.1f px from the driver face's crop\n", ratio,
           off_x, off_y);
    CHECK_MSG(fabsf(ratio - 0.5f) < 0.05f, "the crop for a face half as large is %.3f of the source's, not 0.5", ratio);
    CHECK_MSG(fabsf(off_x) < 3.0f && fabsf(off_y) < 3.0f, "the crop is %.1f, %.1f px from the driver face's", off_x, off_y);
    CHECK(out[FSTH_FRAMES - 1].width == portrait.width && out[FSTH_FRAMES - 1].height == portrait.height);
    for (int t = 0; t < FSTH_FRAMES; t++) image_free(&out[t]);
    vv_animator_free(a);
    image_free(&portrait);
}

/* A shot whose crop leaves the frame (a face near its edge, or one filling it) is padded
 * with the frame's edge pixels: the dataset's crops never held the black warp fill, and
 * fine-tuned on it G drew dark blots into the face (docs/MODEL.md, "Face-aligned crop"). */
static void test_fsth_crop_edges(void) {
    enum { W = 64, H = 48, S = 32 };
    vv_image frame = {0};
    CHECK_OK(image_create(&frame, W, H, 3));
    for (int y = 0; y < H; y++) /* each row its own colour: the left edge column is not flat */
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) frame.data[((size_t)y * W + x) * 3 + c] = (uint8_t)(60 + 3 * y + 40 * c + x / 8);
    float face[68][2], to_image[6], tensor[3 * S * S], points[68][2];
    /* A rough face 20 px wide (jaw, brows, nose, eyes, mouth in dlib's order), then moved
     * so that its crop starts 8 px left of the frame. */
    for (int i = 0; i < 68; i++) {
        float u, v;
        if (i < 17) u = (float)i / 16.0f, v = 0.35f + 0.75f * sinf(3.14159f * u) * 0.95f;
        else if (i < 27) u = 0.1f + 0.8f * (float)(i - 17) / 9.0f, v = 0.2f;
        else if (i < 31) u = 0.5f, v = 0.3f + 0.1f * (float)(i - 27);
        else if (i < 36) u = 0.4f + 0.05f * (float)(i - 31), v = 0.68f;
        else if (i < 48) {
            float t = 6.2831853f * (float)((i - 36) % 6) / 6.0f;
            u = (i < 42 ? 0.3f : 0.7f) + 0.09f * cosf(t), v = 0.38f + 0.03f * sinf(t);
        } else {
            float t = 6.2831853f * (float)(i - 48) / (i < 60 ? 12.0f : 8.0f);
            u = 0.5f + (i < 60 ? 0.16f : 0.1f) * cosf(t), v = 0.85f + (i < 60 ? 0.06f : 0.02f) * sinf(t);
        }
        face[i][0] = 20.0f * u, face[i][1] = 20.0f * v;
    }
    fsth_crop_transform((const float(*)[2])face, S, to_image);
    float side = to_image[0] * S, left = to_image[2] + 0.5f - 0.5f * to_image[0];
    float top = to_image[5] + 0.5f - 0.5f * to_image[4];
    for (int i = 0; i < 68; i++) face[i][0] += -8.0f - left, face[i][1] += 0.5f * (H - side) - top;
    fsth_crop_transform((const float(*)[2])face, S, to_image);
    CHECK_MSG(side > 16.0f && side < H, "the test crop's side is %.1f px", side);
    CHECK_OK(fsth_crop_shot(tensor, points, &frame, (const float(*)[2])face, S));
    int outside = 0, off = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float sx = to_image[0] * x + to_image[2], sy = to_image[4] * y + to_image[5];
            if (sx >= -0.5f || sy < 0.0f || sy > H - 1.0f) continue; /* left of the frame only */
            outside++;
            for (int c = 0; c < 3; c++) { /* the edge column's colour at that row, to the rounding */
                float want = image_sample(&frame, 0.0f, sy, c) / 127.5f - 1.0f;
                off += fabsf(tensor[(size_t)c * S * S + (size_t)y * S + x] - want) > 1.5f / 127.5f;
            }
        }
    CHECK_MSG(outside > 50, "only %d crop pixels left of the frame", outside);
    CHECK_MSG(off == 0, "%d of %d values left of the frame are not the edge column's (black: the old fill)", off,
              3 * outside);
    image_free(&frame);
}

/* ---- --reference best with a driver ---------------------------------------------------- */

#define BEST_FRAMES 14
#define BEST_SWITCH 6 /* frames 0..5: Grace Hopper; 6..13: the portrait itself */

static double mean_abs_diff(const vv_image *a, const vv_image *b) {
    if (!a->data || !b->data || a->width != b->width || a->height != b->height || a->channels != b->channels) return 1e9;
    size_t n = (size_t)a->width * a->height * a->channels;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += abs(a->data[i] - b->data[i]);
    return sum / (double)n;
}

static void test_reference_best(void) {
    if (!warp_models_present("reference best")) return;
    char dir[] = "/tmp/vv_test_best_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char driver[600], first_dir[600], best_dir[600];
    snprintf(driver, sizeof driver, "%s/driver.mp4", dir);
    snprintf(first_dir, sizeof first_dir, "%s/first", dir);
    snprintf(best_dir, sizeof best_dir, "%s/best", dir);
    vv_image hopper = {0}, portrait = {0}, frame = {0};
    CHECK_OK(image_load(&hopper, VV_SOURCE_DIR "/examples/grace_hopper.jpg"));
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    CHECK_OK(image_create(&frame, 384, 384, 3));
    video_writer *w = NULL;
    video_writer_params vp = video_writer_default_params();
    vp.width = 384;
    vp.height = 384;
    vp.fps = 25;
    vp.crf = 12;
    CHECK_OK(video_writer_open(&w, driver, &vp));
    for (int t = 0; w && t < BEST_FRAMES; t++) {
        /* Her face, then the portrait's face at the same place (the portrait's pixels). */
        float hop[6] = {1, 0, 64 - 2.0f * t, 0, 1, 40}, mona[6] = {1, 0, 39, 0, 1, 11};
        image_warp_affine(&frame, t < BEST_SWITCH ? &hopper : &portrait, t < BEST_SWITCH ? hop : mona, NULL);
        CHECK_OK(video_writer_write(w, &frame));
    }
    if (w) CHECK_OK(video_writer_finish(w));

    const char *name = "mona_lisa.png";
    vv_animate_params params = vv_animate_default_params();
    vv_animator *first = NULL, *best = NULL;
    CHECK_OK(vv_animator_new(&first, &portrait, &name, 1, &params));
    params.reference_best = 1;
    CHECK_OK(vv_animator_new(&best, &portrait, &name, 1, &params));
    vv_animate_job job = {0};
    job.driving = driver;
    vv_animate_report report_first, report_best;
    memset(&report_first, 0, sizeof report_first);
    memset(&report_best, 0, sizeof report_best);
    report_best.reference_frame = -1;
    job.output = first_dir;
    if (first) CHECK_OK(vv_animate(first, &job, NULL, &report_first));
    job.output = best_dir;
    if (best) CHECK_OK(vv_animate(best, &job, NULL, &report_best));
    CHECK(report_first.frames == BEST_FRAMES && report_best.frames == BEST_FRAMES);
    CHECK_MSG(report_first.reference_frame == 0, "--reference first: reference frame %d", report_first.reference_frame);
    CHECK_MSG(report_best.reference_frame >= BEST_SWITCH, "--reference best: reference frame %d, not one of the portrait's own (%d..%d)",
              report_best.reference_frame, BEST_SWITCH, BEST_FRAMES - 1);
    /* At the reference the motion is zero: the portrait nearly as it is; relative to the
     * first frame (another face) the same driver frame moves it. */
    int ref = report_best.reference_frame >= 0 && report_best.reference_frame < BEST_FRAMES ? report_best.reference_frame
                                                                                           : BEST_FRAMES - 1;
    char path[700];
    vv_image best_frame = {0}, first_frame = {0};
    snprintf(path, sizeof path, "%s/frame_%05d.png", best_dir, ref);
    CHECK_OK(image_load(&best_frame, path));
    snprintf(path, sizeof path, "%s/frame_%05d.png", first_dir, ref);
    CHECK_OK(image_load(&first_frame, path));
    double d_best = mean_abs_diff(&best_frame, &portrait), d_first = mean_abs_diff(&first_frame, &portrait);
    printf("reference best: frame %d; there the output differs from the portrait by %.2f levels (reference first: %.2f)\n",
           ref, d_best, d_first);
    CHECK_MSG(d_best < 1.0 && d_best < 0.5 * d_first, "at its reference the output moved the portrait by %.2f levels "
              "(first: %.2f)", d_best, d_first);
    image_free(&best_frame);
    image_free(&first_frame);
    vv_animator_free(first);
    vv_animator_free(best);
    image_free(&hopper);
    image_free(&portrait);
    image_free(&frame);
    remove_dir(dir);
}

/* A built-in motion's first frame is the portrait at rest, its mouth as it was: the built-ins'
 * neutral face has the mean face's lips, 0.13 of the mouth's width apart, and counted from
 * closed (as a tracked driver's first frame mid-word is, motion.c mouth_from_closed) they
 * parted the portrait's lips in every frame, a lower lip some 4 px down on the Mona Lisa (at
 * 5521112: this check fails there, 12.9 levels in the mouth's box). */
static void test_builtin_rest(void) {
    if (!warp_models_present("built-in at rest")) return;
    char dir[] = "/tmp/vv_test_rest_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    vv_image portrait = {0}, first = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = vv_animate_default_params();
    vv_animator *animator = NULL;
    CHECK_OK(vv_animator_new(&animator, &portrait, &name, 1, &params));
    vv_animate_job job = {0};
    job.motion = "blink";
    job.duration = 0.2;
    job.output = dir;
    vv_animate_report report;
    if (animator) CHECK_OK(vv_animate(animator, &job, NULL, &report));
    char path[700];
    snprintf(path, sizeof path, "%s/frame_%05d.png", dir, 0);
    CHECK_OK(image_load(&first, path));
    vv_face face;
    if (animator && first.data && vv_animator_source_face(animator, 0, &face) == VV_OK &&
        first.width == portrait.width && first.height == portrait.height) {
        float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
        for (int k = 48; k < 68; k++) {
            x0 = fminf(x0, face.landmarks[k][0]), x1 = fmaxf(x1, face.landmarks[k][0]);
            y0 = fminf(y0, face.landmarks[k][1]), y1 = fmaxf(y1, face.landmarks[k][1]);
        }
        double sum = 0;
        long n = 0;
        for (int y = (int)y0 - 4; y <= (int)y1 + 8; y++)
            for (int x = (int)x0 - 4; x <= (int)x1 + 4; x++)
                for (int c = 0; c < 3; c++, n++) {
                    size_t i = ((size_t)y * portrait.width + x) * 3 + c;
                    sum += abs(first.data[i] - portrait.data[i]);
                }
        printf("built-in motion at rest: the mouth's box differs from the portrait's by %.2f levels\n", sum / n);
        CHECK_MSG(sum / n < 1.5, "the first frame of --motion blink moved the mouth: %.2f levels in its box", sum / n);
    } else {
        CHECK_MSG(0, "no first frame of the same size");
    }
    image_free(&first);
    image_free(&portrait);
    vv_animator_free(animator);
    remove_dir(dir);
}

/* A photo whose only "face" is a dog's: BlazeFace takes it for one (0.85), dlib fits its 68
 * points to it, and the 3D head's face mesh, which says 0.96 or more for every human face of
 * ../shared/data, says 0.07: no face, one line naming the file, VV_ERR_NO_FACE (before:
 * animated with the 2D warp and a warning), under the 3D head and the 2D warp alike. */
static void test_not_a_face(void) {
    const char *shared = test_shared_data();
    if (!shared) {
        test_skip("not a face: ../shared/data not present");
        return;
    }
    if (!warp_models_present("not a face")) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/landmarks_golden/dogs.jpg", shared);
    vv_image dogs = {0};
    CHECK_OK(image_load(&dogs, path));
    const char *name = "dogs.jpg";
    static const char *const engines[2] = {"warp", "warp2d"}; /* the 3D head's check, the other engines' */
    for (int i = 0; i < 2; i++) {
        vv_animate_params params = vv_animate_default_params();
        params.engine = engines[i];
        vv_animator *animator = NULL;
        vv_status s = vv_animator_new(&animator, &dogs, &name, 1, &params);
        CHECK_MSG(s == VV_ERR_NO_FACE && !animator, "engine %s, a dog's face: status %d (%s)", engines[i], s, vv_last_error());
        CHECK_MSG(strstr(vv_last_error(), "no face found in dogs.jpg") && strstr(vv_last_error(), "face mesh"),
                  "engine %s, message: %s", engines[i], vv_last_error());
        vv_animator_free(animator);
    }
    image_free(&dogs);
}

int main(void) {
    /* Each part with whether its threads share the animator (the tracker thread streaming and
     * tracking whole for --reference best, the hybrid's).  VV_TEST_THREADED_ONLY=1 (./dev
     * test's ThreadSanitizer run) runs those only: the sanitized run checks the others (under
     * TSan they took 55 s of its 3 minutes).  Each part says how long it took. */
    static const struct {
        const char *name;
        void (*run)(void);
        bool threaded;
    } parts[] = {
        {"smoothing", test_smoothing, false},     {"timeline", test_timeline, false},
        {"pipeline", test_pipeline, true},        {"absolute", test_absolute, false},
        {"hybrid", test_hybrid, true},            {"fsth_crop", test_fsth_crop, false},
        {"fsth_crop_edges", test_fsth_crop_edges, false}, {"reference_best", test_reference_best, true},
        {"builtin_rest", test_builtin_rest, false}, {"not_a_face", test_not_a_face, false},
    };
    const char *only = getenv("VV_TEST_THREADED_ONLY");
    bool threaded_only = only && !strcmp(only, "1");
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (threaded_only && !parts[i].threaded) {
            printf("test_animate: VV_TEST_THREADED_ONLY=1: %s left to the sanitized run\n", parts[i].name);
            continue;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        parts[i].run();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("test_animate: %s took %.1f s\n", parts[i].name,
               (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    return test_finish("test_animate");
}
