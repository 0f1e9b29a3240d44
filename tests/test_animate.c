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
 *     mode for a driver whose face differs from the portrait's in size, place and shape.
 * `./dev test` also runs this under ThreadSanitizer (the tracker thread). */
#include "animate/animate.h"
#include "animate/timeline.h"
#include "face/faces.h"
#include "face/motion.h"
#include "face/tracker.h"
#include "img/image.h"
#include "test.h"
#include "video/video.h"
#include "vivify.h"

#include <dirent.h>
#include <stdatomic.h>
#include <unistd.h>

/* A face-like set of 68 points: a fixed template with eye distance ~100 px. */
static void template_face(float p[68][2]) {
    for (int k = 0; k < 68; k++) {
        float a = (float)k / 68.0f * 6.2831853f;
        p[k][0] = 200 + 90 * cosf(a);
        p[k][1] = 200 + 110 * sinf(a);
    }
    p[36][0] = 150; p[36][1] = 170; /* outer eye corners 100 px apart */
    p[45][0] = 250; p[45][1] = 170;
}

static uint32_t rng_state = 12345;
static float noise(void) { /* uniform in [-1, 1] */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static void test_smoothing(void) {
    enum { N = 60 };
    static float raw[N][68][2], out[68][2];
    /* Ramp: every point moves 2 px a frame (a head turning): the centred fit has no lag. */
    for (int t = 0; t < N; t++) {
        template_face(raw[t]);
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
        template_face(raw[t]);
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) raw[t][k][c] += 0.6f * noise();
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
        template_face(raw[t]);
        float d = t == 30 ? 15.0f : (t == 29 || t == 31) ? 8.0f : 0.0f;
        int lids[4] = {37, 38, 43, 44};
        for (int i = 0; i < 4; i++) raw[t][lids[i]][1] += d;
    }
    landmark_smooth_frame((const float(*)[68][2])raw + 27, 7, 3, 1.0f, out);
    float base[68][2];
    template_face(base);
    CHECK_MSG(out[37][1] - base[37][1] > 13.5f, "blink depth kept: %.2f of 15 px", out[37][1] - base[37][1]);
    landmark_smooth_frame((const float(*)[68][2])raw + 27, 7, 3, 0.0f, out);
    CHECK(out[37][1] == raw[30][37][1]); /* strength 0 copies */
}

static void test_timeline(void) {
    driver_timeline tl;
    timeline_init(&tl, 3, 1.0f, 25);
    float face[68][2], p[68][2];
    template_face(face);
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

static void test_pipeline(void) {
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
    vv_status s = vv_animator_new(&animator, &portrait, &name, 1, &params);
    if (s == VV_ERR_MODEL) {
        printf("SKIPPED pipeline: models missing (./dev setup): %s\n", vv_last_error());
        image_free(&portrait);
        return;
    }
    CHECK_OK(s);
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
    char command[700];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- Absolute mode ------------------------------------------------------------------ */

#define ABSOLUTE_FRAMES 5

/* The frames an animator makes from landmarks alone (no driver images), pushed then pulled. */
static int render_landmarks(vv_animator *a, const float (*frames)[68][2], int n, vv_image *out) {
    int pulled = 0;
    for (int t = 0; t <= n; t++) {
        if (t < n) CHECK_OK(vv_animator_push_landmarks(a, (const float(*)[2])frames[t], NULL, t / 25.0));
        else CHECK_OK(vv_animator_push_end(a));
        for (int got = 1; got && pulled < n;) {
            CHECK_OK(vv_animator_pull(a, &out[pulled], &got, NULL));
            pulled += got;
        }
    }
    return pulled;
}

static bool images_equal(const vv_image *a, const vv_image *b) {
    return a->data && b->data && a->width == b->width && a->height == b->height && a->channels == b->channels &&
           !memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels);
}

static void test_absolute(void) {
    vv_image portrait = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = vv_animate_default_params();
    params.threads = 1;
    vv_animator *relative = NULL, *absolute = NULL, *absolute2d = NULL;
    vv_status s = vv_animator_new(&relative, &portrait, &name, 1, &params);
    if (s == VV_ERR_MODEL) {
        printf("SKIPPED absolute: models missing (./dev setup): %s\n", vv_last_error());
        image_free(&portrait);
        return;
    }
    CHECK_OK(s);
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

int main(void) {
    test_smoothing();
    test_timeline();
    test_pipeline();
    test_absolute();
    return test_finish("test_animate");
}
