/* face/motion: retargeting (identity, translation, expression, scales, absolute), the
 * head's size through turns, words and zooms, procedural motions, templates (round trip +
 * hostile input), gaps, best reference. */
#include "animate/timeline.h"
#include "face/motion.h"
#include "face/pose.h"
#include "test.h"

#include <unistd.h>

static void face_points(float yaw, float pitch, float roll, float scale, float tx, float ty, float out[68][2]) {
    head_pose pose;
    memset(&pose, 0, sizeof pose);
    head_pose_rotation(yaw, pitch, roll, pose.rotation);
    pose.scale = scale;
    pose.tx = tx;
    pose.ty = ty;
    head_pose_project(&pose, face_mean_shape_3d(), out);
}

static double max_distance(const float a[68][2], const float b[68][2], int first, int last) {
    double m = 0;
    for (int k = first; k <= last; k++) m = fmax(m, hypot(a[k][0] - b[k][0], a[k][1] - b[k][1]));
    return m;
}

static void test_retarget(void) {
    float source[68][2], reference[68][2], driver[68][2], out[68][2];
    face_points(10, -5, 4, 120, 300, 260, source);
    for (int k = 0; k < 68; k++) source[k][0] += 2.0f * sinf((float)k); /* the source's own shape */
    face_points(-8, 3, -2, 80, 200, 180, reference);
    motion_params params = motion_default_params();
    motion_retarget r;
    motion_retarget_init(&r, (const float(*)[2])source, (const float(*)[2])reference, &params);

    /* Identity motion: the driver at its reference leaves the source unchanged. */
    motion_retarget_frame(&r, (const float(*)[2])reference, out);
    CHECK_MSG(max_distance((const float(*)[2])out, (const float(*)[2])source, 0, 67) < 1e-3, "identity moved %g px",
              max_distance((const float(*)[2])out, (const float(*)[2])source, 0, 67));

    /* Pure translation of the driver: the output face translates by it, scaled by face size. */
    float ratio = r.source_scale / r.reference_scale;
    CHECK_NEAR(ratio, 1.5, 0.02);
    for (int k = 0; k < 68; k++) { driver[k][0] = reference[k][0] + 10; driver[k][1] = reference[k][1] - 6; }
    motion_retarget_frame(&r, (const float(*)[2])driver, out);
    double worst = 0;
    for (int k = 0; k < 68; k++)
        worst = fmax(worst, hypot(out[k][0] - (source[k][0] + 10 * ratio), out[k][1] - (source[k][1] - 6 * ratio)));
    CHECK_MSG(worst < 0.05, "translation off by %g px", worst);

    /* pose_scale 0: the head stays still under the same translation. */
    motion_params still = params;
    still.pose_scale = 0;
    motion_retarget rs;
    motion_retarget_init(&rs, (const float(*)[2])source, (const float(*)[2])reference, &still);
    motion_retarget_frame(&rs, (const float(*)[2])driver, out);
    CHECK(max_distance((const float(*)[2])out, (const float(*)[2])source, 0, 67) < 0.05);

    /* Expression: the driver opens its mouth by 8 px; the source's lower lip drops by
     * about 8 * ratio and its eyes stay put. */
    memcpy(driver, reference, sizeof driver);
    for (int k = 56; k <= 58; k++) driver[k][1] += 8;
    for (int k = 65; k <= 67; k++) driver[k][1] += 8;
    motion_retarget_frame(&r, (const float(*)[2])driver, out);
    double drop = out[66][1] - source[66][1];
    CHECK_MSG(drop > 0.8 * 8 * ratio && drop < 1.2 * 8 * ratio, "lower lip dropped %g px", drop);
    CHECK(max_distance((const float(*)[2])out, (const float(*)[2])source, 36, 47) < 0.6);
    motion_params no_expression = params;
    no_expression.expression_scale = 0;
    motion_retarget re;
    motion_retarget_init(&re, (const float(*)[2])source, (const float(*)[2])reference, &no_expression);
    motion_retarget_frame(&re, (const float(*)[2])driver, out);
    CHECK(fabs(out[66][1] - source[66][1]) < 0.2 * 8 * ratio);

    /* A head turn of the driver turns the source: yaw of the output follows, at 0.9 of the
     * driver's 20 degrees (motion.c's ROTATION_GAIN). */
    face_points(12, 3, -2, 80, 200, 180, driver);
    motion_retarget_frame(&r, (const float(*)[2])driver, out);
    head_pose before = head_pose_estimate((const float(*)[2])source), after = head_pose_estimate((const float(*)[2])out);
    CHECK_MSG(fabs((after.yaw - before.yaw) - 18) < 1.5, "yaw change %g, expected 18", after.yaw - before.yaw);

    /* Absolute: the driver's own shape aligned onto the source. */
    motion_params absolute = params;
    absolute.absolute = true;
    motion_retarget ra;
    motion_retarget_init(&ra, (const float(*)[2])source, (const float(*)[2])reference, &absolute);
    motion_retarget_frame(&ra, (const float(*)[2])reference, out);
    double mean_error = 0;
    for (int k = 0; k < 68; k++) mean_error += hypot(out[k][0] - source[k][0], out[k][1] - source[k][1]) / 68;
    CHECK_MSG(mean_error < 25 && mean_error > 0.5, "absolute: mean %g px from the source", mean_error);
}

static double inner_mouth_gap(const float p[68][2]) { return p[66][1] - p[62][1]; }
static double eye_gap(const float p[68][2]) { return p[41][1] - p[37][1]; }

static void test_builtins(void) {
    CHECK(motion_builtin_exists("talk") && motion_builtin_exists("surprise") && !motion_builtin_exists("dance"));
    motion_track a, b;
    CHECK(motion_builtin(&a, "dance", 5, 25) == VV_ERR_INVALID_ARGUMENT);
    static const char *names[] = {"talk", "blink", "nod", "smile", "surprise"};
    for (int n = 0; n < 5; n++) {
        CHECK_OK(motion_builtin(&a, names[n], 5, 25));
        CHECK_OK(motion_builtin(&b, names[n], 5, 25));
        CHECK(a.frame_count == 125 && a.fps == 25);
        CHECK_MSG(!memcmp(a.points, b.points, sizeof a.points[0] * a.frame_count), "%s not deterministic", names[n]);
        double mouth_max = 0, eye_min = 1e9, eye_open = eye_gap((const float(*)[2])a.points[0]);
        for (int f = 0; f < a.frame_count; f++) {
            mouth_max = fmax(mouth_max, inner_mouth_gap((const float(*)[2])a.points[f]));
            eye_min = fmin(eye_min, eye_gap((const float(*)[2])a.points[f]));
        }
        if (!strcmp(names[n], "talk") || !strcmp(names[n], "surprise"))
            CHECK_MSG(mouth_max > 20, "%s: mouth opens only %g px", names[n], mouth_max);
        if (!strcmp(names[n], "blink") || !strcmp(names[n], "talk"))
            CHECK_MSG(eye_min < 0.25 * eye_open, "%s: eyes close only to %g of %g", names[n], eye_min, eye_open);
        if (!strcmp(names[n], "nod")) {
            double pitch_min = 1e9, pitch_max = -1e9;
            for (int f = 0; f < a.frame_count; f++) {
                head_pose p = head_pose_estimate((const float(*)[2])a.points[f]);
                pitch_min = fmin(pitch_min, p.pitch);
                pitch_max = fmax(pitch_max, p.pitch);
            }
            CHECK_MSG(pitch_max - pitch_min > 10, "nod: pitch range %g", pitch_max - pitch_min);
        }
        motion_track_free(&a);
        motion_track_free(&b);
    }
    CHECK_OK(motion_builtin(&a, "talk", 2, 30));
    CHECK(a.frame_count == 60);
    motion_track_free(&a);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

static void test_templates(void) {
    const char *dir = test_tmp_dir("test_motion");
    char path[4200];
    snprintf(path, sizeof path, "%s/m.json", dir);
    motion_track a, b;
    CHECK_OK(motion_builtin(&a, "smile", 1, 25));
    a.found[3] = 0;
    a.audio = strdup("/some/where/with \"quotes\".mp4");
    CHECK_OK(motion_save(&a, path));
    CHECK_OK(motion_load(&b, path));
    CHECK(b.frame_count == a.frame_count && b.fps == 25 && b.width == a.width);
    CHECK(b.audio && !strcmp(b.audio, a.audio));
    CHECK(b.found[3] == 0 && b.found[4] == 1);
    CHECK(max_distance((const float(*)[2])a.points[10], (const float(*)[2])b.points[10], 0, 67) < 0.01);
    motion_track_free(&a);
    motion_track_free(&b);

    static const char *bad[] = {
        "", "not json", "[1,2,3]", "{\"format\": \"vivify-motion\"}",
        "{\"format\": \"other\", \"fps\": 25, \"frames\": [null]}",
        "{\"format\": \"vivify-motion\", \"fps\": 0, \"frames\": [null]}",
        "{\"format\": \"vivify-motion\", \"fps\": 1e300, \"frames\": [null]}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"frames\": []}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"frames\": [null, null]}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"frames\": [[[1, 2]]]}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"frames\": [\"x\"]}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"audio\": 5, \"frames\": [null]}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"width\": -3, \"frames\": [null]}",
        "{\"format\": \"vivify-motion\", \"fps\": 25, \"frames\": [[[1, 2], [3]]]}",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i]);
        vv_status s = motion_load(&b, path);
        CHECK_MSG(s == VV_ERR_FORMAT || s == VV_ERR_CORRUPT || s == VV_ERR_NO_FACE || s == VV_ERR_IO,
                  "bad template %u loaded (%s)", i, vv_status_string(s));
        CHECK(b.points == NULL);
    }
    /* 68 points with one a huge value */
    char big[8192] = "{\"format\": \"vivify-motion\", \"fps\": 25, \"frames\": [[";
    for (int k = 0; k < 68; k++) strcat(big, k ? ",[1,2]" : "[1e9,2]");
    strcat(big, "]]}");
    write_file(path, big);
    CHECK(motion_load(&b, path) == VV_ERR_CORRUPT);
    snprintf(path, sizeof path, "%s/missing.json", dir);
    CHECK(motion_load(&b, path) == VV_ERR_NOT_FOUND);
}

static void test_gaps_and_reference(void) {
    motion_track t;
    CHECK_OK(motion_track_alloc(&t, 60));
    float neutral[68][2], moved[68][2];
    face_points(0, 0, 0, 100, 200, 200, neutral);
    face_points(20, 0, 0, 100, 240, 200, moved);
    for (int f = 0; f < 60; f++) {
        t.found[f] = f >= 5 && f < 20;
        memcpy(t.points[f], f < 10 ? neutral : moved, sizeof neutral);
    }
    CHECK(motion_fill_gaps(&t, 5) == VV_OK);
    CHECK(max_distance((const float(*)[2])t.points[0], (const float(*)[2])neutral, 0, 67) < 1e-6); /* before: reference */
    CHECK(max_distance((const float(*)[2])t.points[22], (const float(*)[2])moved, 0, 67) < 1e-6);  /* held */
    double mid = max_distance((const float(*)[2])t.points[35], (const float(*)[2])neutral, 0, 67);
    double end = max_distance((const float(*)[2])t.points[59], (const float(*)[2])neutral, 0, 67);
    double start = max_distance((const float(*)[2])moved, (const float(*)[2])neutral, 0, 67);
    CHECK_MSG(mid < start && mid > end && end < 0.05 * start, "ease: %g %g %g", start, mid, end); /* back to neutral */
    CHECK(motion_reference_best(&t, (const float(*)[2])moved) >= 10);

    motion_track none;
    CHECK_OK(motion_track_alloc(&none, 3));
    CHECK(motion_fill_gaps(&none, 0) == VV_ERR_NO_FACE);
    motion_track_free(&none);
    motion_track_free(&t);
    CHECK(motion_track_alloc(&none, 0) == VV_ERR_TOO_LARGE);
}

/* motion_shape_distance: zero for one shape under any similarity, growing with change. */
static void test_shape_distance(void) {
    float a[68][2], b[68][2], c[68][2];
    face_points(0, 0, 0, 100, 200, 200, a);
    face_points(0, 0, 25, 60, 40, 300, b);   /* same shape: rolled, smaller, elsewhere */
    face_points(30, 0, 0, 100, 200, 200, c); /* turned head: another 2D shape */
    CHECK_NEAR(motion_shape_distance(a, a), 0, 1e-9);
    CHECK_NEAR(motion_shape_distance(a, b), 0, 1e-4);
    CHECK(motion_shape_distance(a, c) > 0.05);
    float mouth_open[68][2];
    memcpy(mouth_open, a, sizeof mouth_open);
    for (int k = 56; k <= 59; k++) mouth_open[k][1] += 10;
    for (int k = 65; k <= 67; k++) mouth_open[k][1] += 10;
    double d_open = motion_shape_distance(a, mouth_open);
    CHECK(d_open > 0.01 && d_open < motion_shape_distance(a, c));
    float degenerate[68][2] = {{0}};
    CHECK(isinf(motion_shape_distance(degenerate, a)));
}

/* Eye openness under head turns: the mean face turned 35 degrees with its lids closed to
 * 0.4 of their gap (dlib's lids stop short of shut) reads shut for both eyes; the eye
 * aspect ratio alone read the far eye, its width foreshortened, as half open.  Open eyes
 * read open whether the head turns or nods. */
/* Lids scaled about each eye's corner line by `gap` of their gap in `in`. */
static void eyes_gap(const float in[68][2], float gap, float out[68][2]) {
    memcpy(out, in, sizeof(float[68][2]));
    for (int e = 0; e < 2; e++) {
        int f = e ? 42 : 36;
        float mid = (in[f][1] + in[f + 3][1]) / 2;
        for (int k = 1; k < 6; k++)
            if (k != 3) out[f + k][1] = mid + gap * (in[f + k][1] - mid);
    }
}

/* A reference frame wider-eyed than the driver usually is (lp_d3's first frame: 1.4x its
 * median eye aspect): an ordinary look down (lids at 0.72 of their usual gap, 0.51 of the
 * reference's) read as shut against the reference alone; against the driver's typical eye
 * it stays part open, while a blink still shuts and ordinary eyes stay open. */
static void test_eye_openness_typical(void) {
    float usual[68][2], reference[68][2], driver[68][2], out[2], plain[2];
    face_points(0, 0, 0, 100, 200, 200, usual);
    eyes_gap(usual, 1.4f, reference);
    float typical[2] = {motion_eye_aspect(usual, 36), motion_eye_aspect(usual, 42)};
    eyes_gap(usual, 0.72f, driver);
    motion_eye_openness(driver, reference, plain);
    motion_eye_openness_typical(driver, reference, typical, NULL, out);
    CHECK_MSG(plain[0] < 0.05f && plain[1] < 0.05f, "a look down against a wide reference alone: %.2f %.2f (shut, the old reading)",
              plain[0], plain[1]);
    for (int e = 0; e < 2; e++)
        CHECK_MSG(out[e] > 0.2f && out[e] < 0.5f, "a look down against the typical eye: eye %d openness %.2f (part open)", e, out[e]);
    eyes_gap(usual, 0.35f, driver);
    motion_eye_openness_typical(driver, reference, typical, NULL, out);
    CHECK_MSG(out[0] < 0.05f && out[1] < 0.05f, "a blink: openness %.2f %.2f (shut)", out[0], out[1]);
    motion_eye_openness_typical(usual, reference, typical, NULL, out);
    for (int e = 0; e < 2; e++)
        CHECK_MSG(fabsf(out[e] - 1 / 1.4f) < 0.03f, "the usual eye: eye %d openness %.2f (%.2f of the reference)", e, out[e], 1 / 1.4f);
    /* a typical eye as wide as the reference or wider, or none: as before */
    float wide[2] = {1.2f * motion_eye_aspect(reference, 36), 1.2f * motion_eye_aspect(reference, 42)};
    const float *typicals[2] = {wide, NULL};
    for (float gap = 0.3f; gap < 1.2f; gap += 0.1f) {
        eyes_gap(reference, gap, driver);
        motion_eye_openness(driver, reference, plain);
        for (int t = 0; t < 2; t++) {
            motion_eye_openness_typical(driver, reference, typicals[t], NULL, out);
            CHECK_MSG(out[0] == plain[0] && out[1] == plain[1], "gap %.1f, typical %s: %.3f %.3f vs %.3f %.3f", gap,
                      t ? "none" : "wider", out[0], out[1], plain[0], plain[1]);
        }
    }
    /* A squinting reference (its lids at 0.6 of the usual gap), the usual eye measuring open
     * in a share (animator.c eyes_from_typical): none: the usual eye reads wide (1/0.6 of the
     * reference's, the portrait stared), all: as open as the portrait at rest, half: between;
     * a blink still shuts. */
    float squint[68][2];
    eyes_gap(usual, 0.6f, squint);
    static const float shares[3] = {0, 0.5f, 1};
    for (int i = 0; i < 3; i++) {
        float share[2] = {shares[i], shares[i]}, scale = 1 + shares[i] * (typical[0] / motion_eye_aspect(squint, 36) - 1);
        motion_eye_openness_typical(usual, squint, typical, share, out);
        float want = typical[0] / motion_eye_aspect(squint, 36) / scale;
        for (int e = 0; e < 2; e++)
            CHECK_MSG(fabsf(out[e] - want) < 0.03f, "a squinting reference, the usual eye measuring open in share %.1f: eye %d openness "
                      "%.2f, expected %.2f", shares[i], e, out[e], want);
        eyes_gap(usual, 0.2f, driver);
        motion_eye_openness_typical(driver, squint, typical, share, out);
        CHECK_MSG(out[0] < 0.05f && out[1] < 0.05f, "a squinting reference, share %.1f: a blink reads %.2f %.2f (shut)", shares[i],
                  out[0], out[1]);
    }
    float full[2] = {1, 1};
    motion_eye_openness_typical(usual, squint, typical, full, out);
    CHECK_MSG(fabsf(out[0] - 1) < 0.03f && fabsf(out[1] - 1) < 0.03f, "a squinting reference, all from the usual eye: %.2f %.2f",
              out[0], out[1]);
}

/* The two eyes as a pair: a squint both eyes share, read a little apart (lids at 0.70 and
 * 0.64 of their gap), closes both alike (the steep ramp under EYE_KNEE made it a wink,
 * openness 0.48 / 0.29); a real wink (0.4 and 1.0) stays one. */
static void test_eye_openness_pair(void) {
    float reference[68][2], left_gap[68][2], right_gap[68][2], driver[68][2], out[2];
    face_points(0, 0, 0, 100, 200, 200, reference);
    const float pairs[2][2] = {{0.70f, 0.64f}, {0.4f, 1.0f}};
    for (int p = 0; p < 2; p++) {
        eyes_gap(reference, pairs[p][0], left_gap);
        eyes_gap(reference, pairs[p][1], right_gap);
        memcpy(driver, left_gap, sizeof driver);
        memcpy(driver[42], right_gap[42], sizeof(float[6][2]));
        motion_eye_openness(driver, reference, out);
        if (p == 0)
            CHECK_MSG(fabsf(out[0] - out[1]) < 0.05f && out[0] > 0.2f && out[0] < 0.6f,
                      "a shared squint read apart (0.70 / 0.64 of the gap): openness %.2f %.2f (alike, part open)", out[0], out[1]);
        else
            CHECK_MSG(out[0] < 0.1f && out[1] > 0.9f, "a wink (0.4 / 1.0 of the gap): openness %.2f %.2f", out[0], out[1]);
    }
}

static void test_eye_openness(void) {
    float reference[68][2], turned[68][2], out[2];
    face_points(0, 0, 0, 100, 200, 200, reference);
    for (int yaw = -35; yaw <= 35; yaw += 70) {
        face_points((float)yaw, 0, 0, 100, 200, 200, turned);
        motion_eye_openness(turned, reference, out);
        CHECK_MSG(out[0] > 0.9f && out[1] > 0.9f, "yaw %d, eyes open: openness %.2f %.2f", yaw, out[0], out[1]);
        for (int e = 0; e < 2; e++) {
            int f = e ? 42 : 36;
            float mid = (turned[f][1] + turned[f + 3][1]) / 2;
            for (int k = 1; k < 6; k++)
                if (k != 3) turned[f + k][1] = mid + 0.4f * (turned[f + k][1] - mid);
        }
        motion_eye_openness(turned, reference, out);
        CHECK_MSG(out[0] < 0.05f && out[1] < 0.05f, "yaw %d, lids at 0.4 of their gap: openness %.2f %.2f (shut expected)", yaw,
                  out[0], out[1]);
    }
    /* dlib's lids in a real blink stop at about 0.55-0.6 of their open gap (the minima of
     * short dips over the training clips: quartiles 0.39 / 0.53 / 0.69 of the clip's open
     * level, squints and noise included): such a blink reads nearly shut (0.30 with the
     * earlier knee at 0.45), a light squint stays open. */
    const float gaps[2] = {0.57f, 0.85f};
    for (int g = 0; g < 2; g++) {
        face_points(0, 0, 0, 100, 200, 200, turned);
        for (int e = 0; e < 2; e++) {
            int f = e ? 42 : 36;
            float mid = (turned[f][1] + turned[f + 3][1]) / 2;
            for (int k = 1; k < 6; k++)
                if (k != 3) turned[f + k][1] = mid + gaps[g] * (turned[f + k][1] - mid);
        }
        motion_eye_openness(turned, reference, out);
        if (g == 0) CHECK_MSG(out[0] < 0.1f && out[1] < 0.1f, "lids at 0.57 of their gap: openness %.2f %.2f", out[0], out[1]);
        else CHECK_MSG(out[0] > 0.8f && out[1] > 0.8f, "lids at 0.85 of their gap: openness %.2f %.2f", out[0], out[1]);
    }
    for (int pitch = -15; pitch <= 15; pitch += 30) {
        face_points(0, (float)pitch, 0, 100, 200, 200, turned);
        motion_eye_openness(turned, reference, out);
        CHECK_MSG(out[0] > 0.85f && out[1] > 0.85f, "pitch %d, eyes open: openness %.2f %.2f", pitch, out[0], out[1]);
    }
}

/* A face as dlib's 68 points show it: the mean face at a pose, its jaw contour on the side
 * turned towards the camera on the face's outline, which keeps the contour's frontal width
 * (x0 where the fixed points give x0 cos(yaw): dlib's points on sty_style_nice_clip1 turned 46
 * degrees lie 0.2-0.3 eye distances out of the fixed points on that side, as the outline puts
 * them).  `open` drops the jaw and lower lip by that many units of the face (outer eye
 * corners 1 apart) and raises the brows by half as much, in the face's own frame. */
static void posed_face(float yaw, float pitch, float scale, float open, float out[68][2]) {
    float shape[68][3];
    memcpy(shape, face_mean_shape_3d(), sizeof shape);
    for (int k = 0; k < 68; k++) {
        if ((k >= 4 && k <= 12) || (k >= 55 && k <= 59) || (k >= 65 && k <= 67)) shape[k][1] += open;
        if (k >= 17 && k <= 26) shape[k][1] -= open / 2;
    }
    head_pose pose;
    memset(&pose, 0, sizeof pose);
    head_pose_rotation(yaw, pitch, 0, pose.rotation);
    pose.scale = scale;
    pose.tx = 320;
    pose.ty = 240;
    head_pose_project(&pose, (const float(*)[3])shape, out);
    for (int k = 0; k <= 16; k++)
        if (shape[k][0] * yaw < 0) out[k][0] += scale * shape[k][0] * (1 - cosf(yaw * (float)M_PI / 180));
}

/* The rigid scale (face size since the reference) of the driver `driver` against `reference`. */
static float rigid_scale(const float reference[68][2], const float driver[68][2]) {
    motion_params params = motion_default_params();
    motion_retarget r;
    motion_retarget_init(&r, reference, reference, &params);
    motion_rigid rigid;
    float displacement[68][2];
    motion_retarget_decompose(&r, driver, NULL, &rigid, displacement, NULL);
    return rigid.scale;
}

/* The head's size (motion_rigid.scale, which the 3D head and its body are scaled by) stays
 * put through a head turn and a word at the same distance, and follows a driver coming
 * nearer. */
static void test_rigid_scale(void) {
    float reference[68][2], driver[68][2];
    posed_face(0, 0, 100, 0, reference);
    float worst_turn = 0, worst_open = 0;
    for (int yaw = -40; yaw <= 40; yaw += 10) {
        posed_face((float)yaw, 0, 100, 0, driver);
        float s = rigid_scale(reference, driver);
        worst_turn = fmaxf(worst_turn, fabsf(s - 1));
        CHECK_MSG(fabsf(s - 1) < 0.02f, "yaw %d: scale %.3f", yaw, s);
        /* an open mouth and raised brows at the same distance: the face is taller, not
         * nearer (the whole fit read 1.07-1.09 larger) */
        posed_face((float)yaw, 0, 100, 0.15f, driver);
        s = rigid_scale(reference, driver);
        worst_open = fmaxf(worst_open, fabsf(s - 1));
        CHECK_MSG(fabsf(s - 1) < 0.02f, "yaw %d, mouth open, brows up: scale %.3f", yaw, s);
    }
    printf("rigid scale at the same distance, yaw -40..40: off by at most %.3f; mouth open and brows up: %.3f\n",
           worst_turn, worst_open);
    /* The driver 1.2x nearer: 1.2 frontal, turned, nodding and talking. */
    const float poses[4][3] = {{0, 0, 0}, {25, 0, 0}, {-20, 10, 0}, {15, -10, 0.15f}};
    for (int i = 0; i < 4; i++) {
        posed_face(poses[i][0], poses[i][1], 120, poses[i][2], driver);
        float s = rigid_scale(reference, driver);
        CHECK_MSG(fabsf(s - 1.2f) < 0.03f, "nearer, yaw %g pitch %g open %g: scale %.3f (1.2 expected)", poses[i][0],
                  poses[i][1], poses[i][2], s);
    }
    /* ... and from a reference turned 40 degrees, turned the same way */
    float turned[68][2];
    posed_face(40, 0, 100, 0, turned);
    posed_face(42, 0, 120, 0, driver);
    float s = rigid_scale(turned, driver);
    CHECK_MSG(fabsf(s - 1.2f) < 0.03f, "nearer at yaw 40: scale %.3f (1.2 expected)", s);
    /* A head turned past what the 68 points hold: they come out squeezed (15% here, as
     * sty_style_nice_clip1's frames 42-60 did); its size is not believed, nor half-believed
     * at 38 degrees. */
    for (int yaw = 38; yaw <= 50; yaw += 12) {
        posed_face((float)yaw, 0, 85, 0, driver);
        s = rigid_scale(reference, driver);
        CHECK_MSG(s > (yaw >= 45 ? 0.99f : 0.92f), "yaw %d, points squeezed to 0.85: scale %.3f", yaw, s);
    }
}

/* A lid contour as the Iris model gives it (lower lid outer -> inner corner, 0..8; upper lid
 * between them, 9..15) for an eye from (ox, oy) to (ix, iy): lids on parabolas `gap` pixels
 * apart at the middle. */
static void lid_contour(float ox, float oy, float ix, float iy, float gap, float c[16][2]) {
    float ux = ix - ox, uy = iy - oy, len = hypotf(ux, uy), nx = -uy / len, ny = ux / len;
    if (ny < 0) nx = -nx, ny = -ny; /* down the image */
    for (int k = 0; k < 9; k++) {
        float t = k / 8.0f, h = 0.5f * gap * 4 * t * (1 - t);
        c[k][0] = ox + t * ux + h * nx, c[k][1] = oy + t * uy + h * ny;
        if (k >= 1 && k <= 7) c[8 + k][0] = ox + t * ux - h * nx, c[8 + k][1] = oy + t * uy - h * ny;
    }
}

/* motion_lid_gaps: the lids' gap at 1/3 and 2/3 of the eye, for either eye's direction
 * (the left eye's contour runs right to left), tilted; crossed lids read 0. */
static void test_lid_gaps(void) {
    float c[16][2], g[2];
    const float dirs[3][4] = {{100, 200, 140, 200}, {260, 200, 220, 200}, {100, 200, 138, 212}};
    for (int d = 0; d < 3; d++) {
        lid_contour(dirs[d][0], dirs[d][1], dirs[d][2], dirs[d][3], 12, c);
        motion_lid_gaps((const float(*)[2])c, g);
        float want = 12 * 4 * (1 / 3.0f) * (2 / 3.0f); /* the parabola at t = 1/3 (and 2/3) */
        for (int j = 0; j < 2; j++)
            CHECK_MSG(fabsf(g[j] - want) < 0.35f, "eye %d: lid gap %d %.2f px (want %.2f)", d, j, g[j], want);
    }
    lid_contour(100, 200, 140, 200, -3, c);
    motion_lid_gaps((const float(*)[2])c, g);
    CHECK_MSG(g[0] == 0 && g[1] == 0, "crossed lids: gaps %.2f %.2f (0)", g[0], g[1]);
}

/* The mean face's lid gaps (motion_lid_gaps' pairs) times `scale`, as a measurement. */
static void dlib_gaps(const float p[68][2], float scale, float lids[2][2]) {
    static const int pairs[2][2][2] = {{{37, 41}, {38, 40}}, {{44, 46}, {43, 47}}};
    for (int e = 0; e < 2; e++)
        for (int j = 0; j < 2; j++)
            lids[e][j] = scale * hypotf(p[pairs[e][j][0]][0] - p[pairs[e][j][1]][0], p[pairs[e][j][0]][1] - p[pairs[e][j][1]][1]);
}

/* Runs `n` frames (dlib's points `points[t]`, the Iris model's gaps `iris[t]` on the even
 * frames only, as tracking_gaze_frame picks; iris NULL: none) through the centred timeline
 * and returns each frame's openness (motion_eye_openness against frame 0's, mean of the eyes). */
static void timeline_openness(const float (*points)[68][2], const float (*iris)[2][2], int n, float *open) {
    driver_timeline tl;
    timeline_init(&tl, 3, 1, 25);
    float out[64][68][2], ref[68][2];
    int taken = 0;
    for (int t = 0; t <= n; t++) {
        if (t < n) {
            CHECK_OK(timeline_push(&tl, points[t], t / 25.0));
            if (iris && t % 2 == 0) timeline_push_lids(&tl, iris[t]);
        } else {
            timeline_end(&tl);
        }
        while (timeline_ready(&tl) && taken < 64) {
            bool has_face, found;
            long index;
            timeline_take(&tl, out[taken++], &has_face, &found, &index);
        }
    }
    memcpy(ref, out[0], sizeof ref);
    for (int t = 0; t < n && t < taken; t++) {
        float o[2];
        motion_eye_openness((const float(*)[2])out[t], (const float(*)[2])ref, o);
        open[t] = 0.5f * (o[0] + o[1]);
    }
    timeline_free(&tl);
}

/* The Iris model's lids on the timeline (timeline_push_lids).  A head turned with the eyes
 * shut where dlib's lids read 0.9 of their open gap (sty_style_nice_clip1 frames 36-60:
 * 0.7, the Iris model 0.3): shut, where dlib's alone left the eyes open.  A still driver
 * whose Iris-model lids wobble by 10 % and sit at 0.85 of dlib's scale (they disagree by
 * 20-30 % on open eyes): exactly dlib's points, no blink.  A 3-frame blink the Iris model
 * sees on its even frames only: the open frame before it (no reading of its own, a shut
 * neighbour) stays open (a mean of the neighbours closed it half way: lp_d14 frame 15). */
static void test_timeline_lids(void) {
    enum { N = 40 };
    float open_face[68][2], points[N][68][2], iris[N][2][2], with[N], without[N];
    face_points(0, 0, 0, 100, 200, 200, open_face);
    /* frames 10-29: dlib reads 0.9 of the open gap; the Iris model 0.3 */
    for (int t = 0; t < N; t++) {
        bool shut = t >= 10 && t < 30;
        eyes_gap(open_face, shut ? 0.9f : 1, points[t]);
        dlib_gaps(open_face, shut ? 0.3f : 1.1f, iris[t]);
    }
    timeline_openness((const float(*)[68][2])points, (const float(*)[2][2])iris, N, with);
    timeline_openness((const float(*)[68][2])points, NULL, N, without);
    for (int t = 12; t < 28; t++) {
        CHECK_MSG(with[t] < 0.05f, "turned and shut, frame %d: openness %.2f with the Iris model's lids (shut)", t, with[t]);
        CHECK_MSG(without[t] > 0.8f, "turned and shut, frame %d: dlib's lids alone %.2f (open: what it fixes)", t, without[t]);
    }
    for (int t = 0; t < 8; t++) CHECK_MSG(with[t] > 0.97f, "open frame %d: openness %.2f", t, with[t]);
    CHECK_MSG(with[N - 1] > 0.97f, "reopened: openness %.2f", with[N - 1]);

    /* still, dlib steady, the Iris model narrower (0.85 of dlib's gap) and wobbling */
    float still[N];
    for (int t = 0; t < N; t++) {
        memcpy(points[t], open_face, sizeof open_face);
        dlib_gaps(open_face, (t == 0 ? 1.0f : 0.85f) * (1 + 0.1f * (float)((t * 7) % 5 - 2) / 2), iris[t]);
    }
    timeline_openness((const float(*)[68][2])points, (const float(*)[2][2])iris, N, still);
    float least = 1;
    for (int t = 0; t < N; t++) least = fminf(least, still[t]);
    CHECK_MSG(least > 0.99f, "a still driver, Iris-model lids at 0.85 +- 10 %%: least openness %.3f (no blink)", least);

    /* a blink on frames 12-14 (dlib: 0.6, the Iris model: 0.2); frame 11 open, unmeasured */
    for (int t = 0; t < N; t++) {
        bool blink = t >= 12 && t <= 14;
        eyes_gap(open_face, blink ? 0.6f : 1, points[t]);
        dlib_gaps(open_face, blink ? 0.2f : 1, iris[t]);
    }
    timeline_openness((const float(*)[68][2])points, (const float(*)[2][2])iris, N, with);
    CHECK_MSG(with[11] > 0.75f, "the open frame before a blink, unmeasured: openness %.2f (open)", with[11]);
    CHECK_MSG(with[12] < 0.05f && with[14] < 0.05f, "the blink: openness %.2f .. %.2f (shut)", with[12], with[14]);
    CHECK_MSG(with[15] > 0.75f, "the open frame after it, unmeasured: openness %.2f (open)", with[15]);

    /* lids fluttering (lp_d14 frames 126-130): shut on the even frames (dlib 0.25, the Iris
     * model 0.3), open on the odd ones, which the Iris model skips: they stay open */
    for (int t = 0; t < N; t++) {
        bool shut = t >= 10 && t < 30 && t % 2 == 0;
        eyes_gap(open_face, shut ? 0.25f : 1, points[t]);
        dlib_gaps(open_face, shut ? 0.3f : 1, iris[t]);
    }
    timeline_openness((const float(*)[68][2])points, (const float(*)[2][2])iris, N, without);
    float least_odd = 1;
    for (int t = 11; t < 29; t += 2) least_odd = fminf(least_odd, without[t]);
    printf("fluttering lids: the open frames between shut ones at least %.2f open\n", least_odd);
    for (int t = 11; t < 29; t += 2)
        CHECK_MSG(without[t] > 0.5f, "fluttering lids, open frame %d (unmeasured): openness %.2f (not shut)", t, without[t]);
}

/* A near-profile portrait (the 2D warp's, which cannot show its hidden side) turns at most
 * 12 degrees (motion.c REVEAL_MOST) towards showing it; away from it, and from a portrait
 * turned less, as far as the driver (at ROTATION_GAIN). */
static void test_reveal_limit(void) {
    float source[68][2], reference[68][2], driver[68][2], out[68][2];
    motion_params params = motion_default_params();
    face_points(0, 0, 0, 80, 200, 180, reference);
    static const struct { float source_yaw, driver_yaw, expected; } cases[] = {
        {-45, 40, 12},  /* towards the hidden side: 36 degrees asked, 12 given */
        {45, -40, -12}, /* the same, mirrored */
        {-45, -15, -13.5}, /* away from it: as the driver */
        {-20, 30, 27},  /* a portrait turned less: as the driver */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        face_points(cases[i].source_yaw, 0, 0, 120, 300, 260, source);
        motion_retarget r;
        motion_retarget_init(&r, (const float(*)[2])source, (const float(*)[2])reference, &params);
        face_points(cases[i].driver_yaw, 0, 0, 80, 200, 180, driver);
        motion_retarget_frame(&r, (const float(*)[2])driver, out);
        head_pose before = head_pose_estimate_rigid((const float(*)[2])source), after = head_pose_estimate_rigid((const float(*)[2])out);
        float change = after.yaw - before.yaw;
        /* read back by the same pose fit, which is a degree or two off this far round */
        CHECK_MSG(fabsf(change - cases[i].expected) < 3.0f, "portrait at %g degrees, driver %g: yaw change %g, expected %g",
                  cases[i].source_yaw, cases[i].driver_yaw, change, cases[i].expected);
    }
    /* Held back, the expression keeps its up-down part (the mouth opens as far) and its
     * sideways part shrinks with the turn (a third kept here). */
    face_points(-45, 0, 0, 120, 300, 260, source);
    motion_retarget r;
    motion_retarget_init(&r, (const float(*)[2])source, (const float(*)[2])reference, &params);
    float still[68][2], moved[68][2];
    face_points(40, 0, 0, 80, 200, 180, driver);
    motion_retarget_frame(&r, (const float(*)[2])driver, still);
    for (int k = 56; k <= 58; k++) driver[k][1] += 8; /* the mouth opens 8 px */
    for (int k = 65; k <= 67; k++) driver[k][1] += 8;
    driver[54][0] += 6; /* a mouth corner 6 px sideways */
    motion_retarget_frame(&r, (const float(*)[2])driver, moved);
    float ratio = r.source_scale / r.reference_scale, drop = moved[66][1] - still[66][1], side = fabsf(moved[54][0] - still[54][0]);
    CHECK_MSG(drop > 0.8f * 8 * ratio && drop < 1.2f * 8 * ratio, "held-back turn: the lower lip dropped %g px, expected about %g", drop, 8 * ratio);
    CHECK_MSG(side < 0.5f * 6 * ratio, "held-back turn: the corner moved %g px sideways (the driver's %g)", side, 6 * ratio);
}

/* The inner lips' vertical gap (the mean of 61-67, 62-66, 63-65) of an upright face. */
static float inner_gap_of(const float p[68][2]) {
    return ((p[67][1] - p[61][1]) + (p[66][1] - p[62][1]) + (p[65][1] - p[63][1])) / 3;
}

/* A portrait with its lips apart at rest (a smile that shows its teeth) under a driver
 * whose reference is closed: the driver's opening parts them further only past the
 * portrait's own opening (motion.c mouth_hold), in both the 2D target and the 3D split;
 * closing, and a portrait closed at rest or a reference parted as far, as the driver. */
static void test_mouth_hold(void) {
    static const struct { float apart, opens, expected; bool reference_apart; } cases[] = {
        {0, 6, 6, false},   /* closed at rest: as the driver */
        {9, 6, 0, false},   /* apart further than the driver opens: held (less the margin) */
        {9, 15, 6, false},  /* past it: the rest (and the margin) */
        {9, -3, -3, false}, /* closing: as the driver */
        {9, 6, 6, true},    /* the reference parted as far (speech's): as the driver */
        {0, -9, 0, false},  /* at rest, the driver closing further than that (its reference open): closed, no further */
        {4, -18, -4, false}, /* apart, the same */
    };
    motion_params params = motion_default_params();
    const float ratio = 1.5f; /* the source's face over the reference's */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float source[68][2], reference[68][2], driver[68][2], still[68][2], moved[68][2];
        face_points(0, 0, 0, 80, 200, 180, reference);
        face_points(0, 0, 0, 80 * ratio, 300, 260, source);
        for (int k = 55; k <= 67; k++) {
            bool lower = (k >= 56 && k <= 58) || (k >= 65 && k <= 67);
            if (!lower) continue;
            source[k][1] += cases[i].apart * ratio;
            if (cases[i].reference_apart) reference[k][1] += cases[i].apart;
        }
        motion_retarget r;
        motion_retarget_init(&r, (const float(*)[2])source, (const float(*)[2])reference, &params);
        memcpy(driver, reference, sizeof driver);
        motion_retarget_frame(&r, (const float(*)[2])driver, still);
        for (int k = 56; k <= 58; k++) driver[k][1] += cases[i].opens;
        for (int k = 65; k <= 67; k++) driver[k][1] += cases[i].opens;
        motion_retarget_frame(&r, (const float(*)[2])driver, moved);
        motion_rigid rigid;
        float disp[68][2];
        motion_retarget_decompose(&r, (const float(*)[2])driver, NULL, &rigid, disp, NULL);
        /* held: the driver's opening past the portrait's, less a margin of MOTION_REST_GAP_OPEN of
         * the mouth's width (the table's `expected` is without it, and for a closing without the
         * mean face's own gap) */
        float want = cases[i].expected * ratio;
        if (cases[i].opens < 0) /* closing: at most the gap at rest less the closed one (the mean face's lips are a little apart) */
            want = -fminf(-cases[i].opens * ratio,
                          fmaxf(0, inner_gap_of(source) - MOTION_CLOSED_GAP * hypotf(source[54][0] - source[48][0], source[54][1] - source[48][1])));
        if (cases[i].apart > 0 && cases[i].opens > 0 && !cases[i].reference_apart) {
            float margin = MOTION_REST_GAP_OPEN * hypotf(source[54][0] - source[48][0], source[54][1] - source[48][1]);
            want = fmaxf(0, cases[i].opens * ratio - fmaxf(0, cases[i].apart * ratio - margin));
        }
        float drop = moved[66][1] - still[66][1];
        float slack = 0.2f * fabsf(cases[i].opens) * ratio + 0.3f;
        CHECK_MSG(fabsf(drop - want) < slack, "mouth hold, lips %g apart, driver opening %g%s: the lower lip dropped %g px, expected %g",
                  cases[i].apart, cases[i].opens, cases[i].reference_apart ? " (reference apart)" : "", drop, want);
        CHECK_MSG(fabsf(disp[66][1] - want) < slack, "mouth hold (3D split), lips %g apart, driver opening %g: %g px, expected %g",
                  cases[i].apart, cases[i].opens, disp[66][1], want);
    }
}

/* A driver whose reference has its lips apart (its first frame mid-word or laughing) under a
 * portrait whose lips are closed: the opening counts from closed (motion.c
 * mouth_from_closed), in both the 2D target and the 3D split: at the reference the lips part
 * by the reference's gap (less the margin), an opening adds to that, a closing closes in
 * proportion, to closed when the driver's lips meet; the chin drops with the lower lip.
 * Before, every opening counted from the reference's: the portrait's lips stayed shut at it,
 * and a driver closing pressed them no further (cases 1, 2 and 4 fail then). */
static void test_mouth_from_closed(void) {
    const float ratio = 1.5f, apart = 10; /* the source's face over the reference's; the reference's gap */
    static const float opens[] = {0, 6, -5, -10};
    motion_params params = motion_default_params(), neutral = params;
    params.mouth_from_closed = true; /* a tracked reference */
    for (size_t i = 0; i < sizeof opens / sizeof opens[0]; i++) {
        float source[68][2], reference[68][2], driver[68][2], moved[68][2];
        face_points(0, 0, 0, 80, 200, 180, reference);
        face_points(0, 0, 0, 80 * ratio, 300, 260, source);
        for (int k = 55; k <= 67; k++)
            if ((k >= 56 && k <= 58) || (k >= 65 && k <= 67)) reference[k][1] += apart;
        motion_retarget r;
        motion_retarget_init(&r, (const float(*)[2])source, (const float(*)[2])reference, &params);
        memcpy(driver, reference, sizeof driver);
        for (int k = 56; k <= 58; k++) driver[k][1] += opens[i];
        for (int k = 65; k <= 67; k++) driver[k][1] += opens[i];
        motion_retarget_frame(&r, (const float(*)[2])driver, moved);
        motion_rigid rigid;
        float disp[68][2];
        motion_retarget_decompose(&r, (const float(*)[2])driver, NULL, &rigid, disp, NULL);
        float width = hypotf(source[54][0] - source[48][0], source[54][1] - source[48][1]);
        float rest = inner_gap_of(source), closed = MOTION_CLOSED_GAP * width, margin = MOTION_REST_GAP_OPEN * width;
        float ref = inner_gap_of(reference) * ratio, behind = ref - fmaxf(rest, closed) - margin;
        float driver_gap = ref + opens[i] * ratio, relative = rest + opens[i] * ratio, want_gap;
        if (opens[i] >= 0) want_gap = relative + behind;
        else want_gap = fmaxf(fminf(rest, closed), closed + (rest + behind - closed) * (driver_gap - closed) / (ref - closed));
        want_gap = relative + (0.8f + 1 + 0.8f) / 3 * (want_gap - relative); /* the lower lip's middle three: 0.8, 1, 0.8 */
        float gap_2d = inner_gap_of(moved), gap_3d = rest + (disp[65][1] + disp[66][1] + disp[67][1] - disp[61][1] - disp[62][1] - disp[63][1]) / 3;
        CHECK_MSG(behind > 5, "the reference's lips %g px further apart than the portrait's at its size", behind);
        CHECK_MSG(fabsf(gap_2d - want_gap) < 0.1f * fabsf(want_gap) + 0.5f,
                  "mouth from closed, driver opening %g from an open reference: the portrait's gap %.2f px, expected %.2f",
                  opens[i], gap_2d, want_gap);
        CHECK_MSG(fabsf(gap_3d - want_gap) < 0.1f * fabsf(want_gap) + 0.5f,
                  "mouth from closed (3D split), driver opening %g: gap %.2f px, expected %.2f", opens[i], gap_3d, want_gap);
        /* the chin with it: as far as the lower lip's middle less the driver's own lip motion
         * (these drivers move their lips alone) */
        float chin = moved[8][1] - source[8][1], lip = moved[66][1] - source[66][1] - opens[i] * ratio;
        CHECK_MSG(fabsf(chin - lip) < 0.15f * lip + 0.5f && lip > 0,
                  "driver opening %g: the chin dropped %.2f px, the lower lip %.2f beyond the driver's", opens[i], chin, lip);
        /* a built-in's neutral face as the reference (its lips the mean face's, apart): as before */
        motion_retarget plain;
        float relative_points[68][2];
        motion_retarget_init(&plain, (const float(*)[2])source, (const float(*)[2])reference, &neutral);
        motion_retarget_frame(&plain, (const float(*)[2])driver, relative_points);
        float plain_gap = fmaxf(relative, fminf(rest, closed)); /* relative, closing no further than closed */
        CHECK_MSG(fabsf(inner_gap_of(relative_points) - plain_gap) < 0.1f * fabsf(plain_gap) + 0.5f,
                  "a neutral (untracked) reference, driver opening %g: the gap %.2f px, expected %.2f", opens[i],
                  inner_gap_of(relative_points), plain_gap);
        /* the expression scaled to 0: the portrait's lips as they are, whatever the reference */
        motion_params still = params;
        still.expression_scale = 0;
        motion_retarget_init(&plain, (const float(*)[2])source, (const float(*)[2])reference, &still);
        motion_retarget_frame(&plain, (const float(*)[2])driver, relative_points);
        CHECK_MSG(fabsf(inner_gap_of(relative_points) - rest) < 0.3f, "expression scale 0, driver opening %g: the gap %.2f px, at rest %.2f",
                  opens[i], inner_gap_of(relative_points), rest);
        printf("mouth from closed: reference %.1f px apart, the portrait's lips %.1f; driver opening %+g px: the portrait's gap "
               "%.2f (2D), %.2f (3D), expected %.2f\n", ref, rest, opens[i] * ratio, gap_2d, gap_3d, want_gap);
    }
}

int main(void) {
    test_reveal_limit();
    test_mouth_hold();
    test_mouth_from_closed();
    test_lid_gaps();
    test_timeline_lids();
    test_rigid_scale();
    test_eye_openness();
    test_eye_openness_pair();
    test_shape_distance();
    test_retarget();
    test_builtins();
    test_templates();
    test_gaps_and_reference();
    test_eye_openness_typical();
    return test_finish("test_motion");
}
