/* face/motion: landmark tracks, built-in procedural motions, JSON templates, gap filling
 * and retargeting (relative: pose + expression deltas; absolute: aligned driver shape). */
#include "face/motion.h"
#include "face/pose.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pi = 3.14159265358979323846;

vv_status motion_track_alloc(motion_track *track, int frame_count) {
    memset(track, 0, sizeof *track);
    if (frame_count <= 0 || frame_count > MOTION_MAX_FRAMES)
        return vv_fail(VV_ERR_TOO_LARGE, "motion: %d frames is outside 1..%d", frame_count, MOTION_MAX_FRAMES);
    track->points = mem_calloc((size_t)frame_count, sizeof track->points[0]);
    track->found = mem_calloc((size_t)frame_count, 1);
    if (!track->points || !track->found) {
        motion_track_free(track);
        return vv_fail(VV_ERR_NO_MEMORY, "motion: out of memory for %d frames", frame_count);
    }
    track->frame_count = frame_count;
    track->fps = 25;
    return VV_OK;
}

void motion_track_free(motion_track *track) {
    if (!track) return;
    free(track->points);
    free(track->found);
    free(track->audio);
    free(track->gaze);
    free(track->has_gaze);
    free(track->lids);
    free(track->turn);
    free(track->has_turn);
    memset(track, 0, sizeof *track);
}

/* ---- Built-in motions. ---- */
static const char *const builtin_names[] = {"talk", "blink", "nod", "smile", "surprise"};

bool motion_builtin_exists(const char *name) {
    for (size_t i = 0; i < sizeof builtin_names / sizeof builtin_names[0]; i++)
        if (name && !strcmp(name, builtin_names[i])) return true;
    return false;
}

const char *motion_builtin_names(void) { return "talk|blink|nod|smile|surprise"; }

static uint32_t rng_next(uint32_t *state) { /* xorshift32: deterministic everywhere */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}
static double rng_uniform(uint32_t *state, double lo, double hi) {
    return lo + (hi - lo) * (double)(rng_next(state) >> 8) / 16777216.0;
}

static double smoothstep(double e0, double e1, double x) {
    double t = (x - e0) / (e1 - e0);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return t * t * (3 - 2 * t);
}

/* Expression controls of one frame, each 0..1 but width (-1 rounded .. +1 spread); tuck:
 * the lower lip under the upper teeth (f, v). */
typedef struct expression {
    double mouth, blink, smile, brows, width, tuck;
} expression;

/* Offsets the mean 3D face (outer-eye units) by an expression. */
static void expression_apply(const expression *e, float shape[68][3]) {
    const float (*mean)[3] = face_mean_shape_3d();
    memcpy(shape, mean, 68 * sizeof shape[0]);
    /* Jaw and lower lip drop with the mouth; the corners narrow a little. */
    static const float jaw_weight[17] = {0, 0, 0, 0.05f, 0.2f, 0.45f, 0.7f, 0.9f, 1, 0.9f, 0.7f, 0.45f, 0.2f, 0.05f, 0, 0, 0};
    float open = (float)e->mouth;
    for (int k = 0; k < 17; k++) shape[k][1] += 0.16f * open * jaw_weight[k];
    for (int k = 55; k <= 59; k++) shape[k][1] += 0.24f * open;
    for (int k = 65; k <= 67; k++) shape[k][1] += 0.26f * open;
    for (int k = 61; k <= 63; k++) shape[k][1] -= 0.02f * open;
    for (int k = 49; k <= 53; k++) shape[k][1] -= 0.01f * open;
    static const int corners[4] = {48, 54, 60, 64};
    for (int k = 0; k < 4; k++) shape[corners[k]][0] *= 1 - 0.06f * open;
    /* Mouth width (the phoneme lip-sync's visemes): spread, the corners out and the lips a
     * little thinner; rounded, the mouth narrow and pushed forward, the lips apart a little
     * vertically (a pout).  Rest (0) leaves the shape alone. */
    float width = (float)e->width;
    if (width > 0) {
        for (int k = 0; k < 4; k++) {
            shape[corners[k]][0] *= 1 + 0.12f * width;
            shape[corners[k]][1] -= 0.01f * width;
        }
        for (int k = 49; k <= 53; k++) shape[k][1] += 0.008f * width;
        for (int k = 55; k <= 59; k++) shape[k][1] -= 0.008f * width;
    } else if (width < 0) {
        float round = -width;
        for (int k = 48; k <= 67; k++) {
            bool corner = k == 48 || k == 54 || k == 60 || k == 64;
            bool side = k == 49 || k == 53 || k == 55 || k == 59 || k == 61 || k == 63 || k == 65 || k == 67;
            shape[k][0] *= 1 - (corner ? 0.25f : side ? 0.16f : 0.08f) * round;
            shape[k][2] += 0.05f * round;
        }
        for (int k = 50; k <= 52; k++) shape[k][1] -= 0.015f * round;
        for (int k = 56; k <= 58; k++) shape[k][1] += 0.015f * round;
    }
    /* Lip tuck (f, v): the lower lip pushed up and rolled in under the upper teeth (its outer
     * edge up, the lip thinner), the upper lip lifted a little: between them a narrow gap
     * that the mouth fill shows as the upper teeth's edge (warp_mouth_fill draws teeth under
     * the upper lip); the jaw stays closed. */
    float tuck = (float)e->tuck;
    if (tuck > 0) {
        for (int k = 49; k <= 53; k++) shape[k][1] -= (k == 51 ? 0.035f : 0.026f) * tuck;
        for (int k = 61; k <= 63; k++) shape[k][1] -= (k == 62 ? 0.055f : 0.042f) * tuck;
        for (int k = 65; k <= 67; k++) shape[k][1] += (k == 66 ? 0.014f : 0.010f) * tuck;
        for (int k = 55; k <= 59; k++) shape[k][1] -= (k == 57 ? 0.05f : k == 56 || k == 58 ? 0.042f : 0.024f) * tuck;
        for (int k = 7; k <= 9; k++) shape[k][1] -= 0.01f * tuck;
    }
    /* Smile: corners out and up, lips thinner, lower lids up a little. */
    float smile = (float)e->smile;
    for (int k = 0; k < 4; k++) {
        shape[corners[k]][0] += (shape[corners[k]][0] > 0 ? 1 : -1) * 0.07f * smile;
        shape[corners[k]][1] -= 0.07f * smile;
    }
    shape[49][1] -= 0.03f * smile; shape[53][1] -= 0.03f * smile;
    shape[59][1] -= 0.04f * smile; shape[55][1] -= 0.04f * smile;
    for (int k = 40; k <= 41; k++) shape[k][1] -= 0.015f * smile;
    for (int k = 46; k <= 47; k++) shape[k][1] -= 0.015f * smile;
    /* Brows up (surprise) with the upper lids a little wider. */
    float brows = (float)e->brows;
    for (int k = 17; k <= 26; k++) shape[k][1] -= 0.11f * brows;
    shape[37][1] -= 0.025f * brows; shape[38][1] -= 0.025f * brows;
    shape[43][1] -= 0.025f * brows; shape[44][1] -= 0.025f * brows;
    /* Blink: the upper lids meet the lower ones. */
    float blink = (float)e->blink * 0.95f;
    static const int upper[4] = {37, 38, 43, 44}, lower[4] = {41, 40, 47, 46};
    for (int k = 0; k < 4; k++) {
        float gap = shape[lower[k]][1] - shape[upper[k]][1];
        shape[upper[k]][1] += blink * gap * 0.85f;
        shape[lower[k]][1] -= blink * gap * 0.15f;
    }
}

/* Blink schedule: one every 2.5-4.5 s (first at ~1.2 s), each 0.25 s. */
static double blink_at(double t, uint32_t seed) {
    uint32_t state = seed;
    double start = 1.2;
    while (start < t + 1) {
        double d = t - start;
        if (d >= 0 && d < 0.25) return sin(pi * d / 0.25);
        start += rng_uniform(&state, 2.5, 4.5);
    }
    return 0;
}

/* Speech-like mouth: syllables of 0.12-0.28 s with random amplitude, phrase pauses. */
static double talk_at(double t, uint32_t seed) {
    uint32_t state = seed;
    double start = 0.3;
    while (start <= t) {
        double phrase = rng_uniform(&state, 1.2, 2.6), end = start + phrase;
        double s = start;
        while (s < end) {
            double len = rng_uniform(&state, 0.12, 0.28), amp = rng_uniform(&state, 0.25, 1.0);
            if (t >= s && t < s + len) return amp * pow(sin(pi * (t - s) / len), 1.5);
            s += len;
        }
        start = end + rng_uniform(&state, 0.25, 0.7);
    }
    return 0;
}

/* Speech's reactions (motion_builtin_speech): per frame, how much the head moves (0.3 in a
 * long pause .. 1 while talking: the mouth's mean over +-0.4 s), and an emphasis bump (0..1)
 * after each strong onset: a small nod with the brows raised, at least 0.6 s apart. */
static void speech_reactions(const float *mouth, const float *onset, int frames, double fps, float *amount, float *emphasis) {
    int half = (int)lround(0.4 * fps);
    double sum = 0;
    int n = 0;
    for (int f = -half; f < frames + half; f++) { /* a running window over [f - half, f + half] */
        int add = f + half, drop = f - half - 1;
        if (add >= 0 && add < frames) { sum += mouth[add]; n++; }
        if (drop >= 0 && drop < frames) { sum -= mouth[drop]; n--; }
        if (f >= 0 && f < frames) amount[f] = (float)(0.3 + 0.7 * smoothstep(0.02, 0.25, n > 0 ? sum / n : 0));
    }
    memset(emphasis, 0, (size_t)frames * sizeof *emphasis);
    if (!onset) return;
    const double length = 0.45, gap = 0.6;
    double last = -1e9;
    for (int f = 0; f < frames; f++) {
        if (onset[f] < 0.45 || f / fps - last < gap) continue;
        last = f / fps;
        double strength = onset[f] > 1 ? 1 : onset[f];
        for (int k = f; k < frames && (k - f) / fps < length; k++) {
            double b = sin(pi * (k - f) / fps / length);
            emphasis[k] = (float)fmax(emphasis[k], strength * b * b);
        }
    }
}

/* Built-in motion `name` for `frames` frames; mouth (optional): the openness per frame in
 * place of the motion's own (talk then reacts to it: stillness in pauses, emphasis on onsets). */
static vv_status builtin_generate(motion_track *out, const char *name, int frames, double fps, const float *mouth,
                                  const float *width, const float *tuck, const float *onset) {
    vv_status s = motion_track_alloc(out, frames);
    if (s != VV_OK) return s;
    out->fps = fps;
    out->width = out->height = 512;
    float *amount = NULL, *emphasis = NULL;
    if (mouth) {
        amount = mem_alloc((size_t)frames, sizeof *amount);
        emphasis = mem_alloc((size_t)frames, sizeof *emphasis);
        if (!amount || !emphasis) {
            free(amount);
            free(emphasis);
            motion_track_free(out);
            return vv_fail(VV_ERR_NO_MEMORY, "motion: out of memory for %d frames", frames);
        }
        speech_reactions(mouth, onset, frames, fps, amount, emphasis);
    }
    double duration = frames / fps;
    bool talk = !strcmp(name, "talk"), nod = !strcmp(name, "nod"), smile = !strcmp(name, "smile"),
         surprise = !strcmp(name, "surprise");
    for (int f = 0; f < frames; f++) {
        double t = f / fps, ramp = smoothstep(0, 0.6, t), end = smoothstep(duration, duration - 0.6, t);
        expression e = {0, blink_at(t, 0x9e3779b9u), 0, 0, 0, 0};
        double yaw = 3.0 * sin(2 * pi * 0.21 * t) + 1.5 * sin(2 * pi * 0.47 * t + 1.0);
        double pitch = 2.0 * sin(2 * pi * 0.29 * t + 0.5) - 2.0 * sin(0.5);
        double roll = 1.5 * sin(2 * pi * 0.16 * t + 2.0) - 1.5 * sin(2.0);
        double motion_amount = 1.0, speech_pitch = 0;
        if (talk && mouth) { /* the voice drives it */
            e.mouth = mouth[f];
            motion_amount = amount[f];
            speech_pitch = 1.5 * e.mouth + 2.5 * emphasis[f]; /* not faded in: speech may start at once */
            e.brows = 0.3 * emphasis[f];
        } else if (talk) {
            e.mouth = talk_at(t, 0x2545f491u);
            pitch += 2.5 * e.mouth;
            e.brows = 0.25 * talk_at(t - 0.05, 0x2545f491u) * talk_at(t, 0x1234567u);
        } else if (nod) {
            pitch += 9.0 * sin(2 * pi * 0.9 * t) * ramp * end;
            motion_amount = 0.4;
        } else if (smile) {
            e.smile = smoothstep(0.4, 1.6, t) * smoothstep(duration, duration - 1.0, t);
        } else if (surprise) {
            double s2 = smoothstep(1.0, 1.35, t) * smoothstep(3.4, 2.8, t);
            e.brows = s2;
            e.mouth = 0.55 * s2;
            e.blink *= 1 - s2;
            pitch -= 4 * s2;
        } else { /* blink */
            motion_amount = 0.5;
        }
        if (mouth) e.mouth = mouth[f];
        if (width) e.width = width[f];
        if (tuck) e.tuck = tuck[f];
        yaw *= motion_amount * ramp;
        roll *= motion_amount * ramp;
        if (!nod) pitch *= motion_amount * ramp;
        pitch += speech_pitch;
        float shape[68][3];
        expression_apply(&e, shape);
        head_pose pose;
        memset(&pose, 0, sizeof pose);
        head_pose_rotation((float)yaw, (float)pitch, (float)roll, pose.rotation);
        pose.scale = 160;
        pose.tx = 256;
        pose.ty = 270;
        head_pose_project(&pose, (const float(*)[3])shape, out->points[f]);
        out->found[f] = 1;
    }
    free(amount);
    free(emphasis);
    return VV_OK;
}

static vv_status builtin_check(const char *name, double fps) {
    if (!motion_builtin_exists(name))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "unknown motion '%s' (built-in: %s, or a .json template)",
                       name ? name : "", motion_builtin_names());
    if (!(fps > 0 && fps <= 240)) return vv_fail(VV_ERR_INVALID_ARGUMENT, "motion: fps %g is outside (0, 240]", fps);
    return VV_OK;
}

vv_status motion_builtin(motion_track *out, const char *name, double duration, double fps) {
    memset(out, 0, sizeof *out);
    vv_status s = builtin_check(name, fps);
    if (s != VV_OK) return s;
    if (!(duration > 0) || duration * fps > MOTION_MAX_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "motion: duration %g s is not positive or too long", duration);
    int frames = (int)lround(duration * fps);
    return builtin_generate(out, name, frames < 1 ? 1 : frames, fps, NULL, NULL, NULL, NULL);
}

vv_status motion_builtin_speech(motion_track *out, const char *name, const float *mouth, const float *width,
                                const float *tuck, const float *onset, int frames, double fps) {
    memset(out, 0, sizeof *out);
    vv_status s = builtin_check(name, fps);
    if (s != VV_OK) return s;
    if (!mouth || frames < 1 || frames > MOTION_MAX_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "motion: %d frames of speech is outside 1..%d", frames, MOTION_MAX_FRAMES);
    return builtin_generate(out, name, frames, fps, mouth, width, tuck, onset);
}

void motion_builtin_neutral(float out[68][2]) {
    expression e = {0, 0, 0, 0, 0, 0};
    float shape[68][3];
    expression_apply(&e, shape);
    head_pose pose;
    memset(&pose, 0, sizeof pose);
    head_pose_rotation(0, 0, 0, pose.rotation);
    pose.scale = 160;
    pose.tx = 256;
    pose.ty = 270;
    head_pose_project(&pose, (const float(*)[3])shape, out);
}

/* Points whose place the mouth sets: the lower jaw and the lips. */
static bool mouth_point(int k) { return (k >= 3 && k <= 13) || k >= 48; }

void motion_track_set_mouth(motion_track *track, int reference, const float *mouth, const float *width, const float *tuck) {
    if (reference < 0 || reference >= track->frame_count || !track->found[reference]) reference = motion_first_found(track);
    if (reference < 0) return;
    float mean_shape[68][3], rigid[68][2];
    expression neutral = {0, 0, 0, 0, 0, 0};
    expression_apply(&neutral, mean_shape);
    /* The reference frame's own mouth (its expression residual), kept under the opening. */
    head_pose pr = head_pose_estimate((const float(*)[2])track->points[reference]);
    head_pose_project(&pr, (const float(*)[3])mean_shape, rigid);
    float rc = cosf(pr.roll * (float)(pi / 180)), rs = sinf(pr.roll * (float)(pi / 180));
    float inv = pr.scale > 0 ? 1 / pr.scale : 0, residual[68][2];
    for (int k = 0; k < 68; k++) {
        float dx = track->points[reference][k][0] - rigid[k][0], dy = track->points[reference][k][1] - rigid[k][1];
        residual[k][0] = (rc * dx + rs * dy) * inv;
        residual[k][1] = (-rs * dx + rc * dy) * inv;
    }
    for (int f = 0; f < track->frame_count; f++) {
        if (!track->found[f]) continue;
        head_pose pf = head_pose_estimate((const float(*)[2])track->points[f]);
        if (!(pf.scale > 0)) continue;
        expression e = {mouth[f] < 0 ? 0 : mouth[f] > 1 ? 1 : mouth[f], 0, 0, 0, 0, 0};
        if (width) e.width = width[f] < -1 ? -1 : width[f] > 1 ? 1 : width[f];
        if (tuck) e.tuck = tuck[f] < 0 ? 0 : tuck[f] > 1 ? 1 : tuck[f];
        float shape[68][3], open[68][2];
        expression_apply(&e, shape);
        head_pose_project(&pf, (const float(*)[3])shape, open);
        float c = cosf(pf.roll * (float)(pi / 180)), s = sinf(pf.roll * (float)(pi / 180));
        for (int k = 0; k < 68; k++) {
            if (!mouth_point(k)) continue;
            float dx = residual[k][0] * pf.scale, dy = residual[k][1] * pf.scale;
            track->points[f][k][0] = open[k][0] + c * dx - s * dy;
            track->points[f][k][1] = open[k][1] + s * dx + c * dy;
        }
    }
}

float motion_mouth_gap(const float p[68][2]) {
    float width = hypotf(p[54][0] - p[48][0], p[54][1] - p[48][1]);
    float gap = (hypotf(p[66][0] - p[62][0], p[66][1] - p[62][1]) + hypotf(p[67][0] - p[61][0], p[67][1] - p[61][1]) +
                 hypotf(p[65][0] - p[63][0], p[65][1] - p[63][1])) / 3;
    return width > 1e-3f ? gap / width : 0;
}

bool motion_speech_reference(const float reference[68][2], const float source[68][2], float out[68][2]) {
    memcpy(out, reference, 68 * sizeof out[0]);
    float gap = motion_mouth_gap(source);
    if (!(gap > MOTION_REST_GAP_OPEN)) return false;
    head_pose ps = head_pose_estimate(source), pr = head_pose_estimate(reference);
    if (!(ps.scale > 0) || !(pr.scale > 0)) return false;
    /* How far the portrait's lips are apart beyond closed, in the reference's pixels (the
     * retargeting carries changes in units of the face's size). */
    float width = hypotf(source[54][0] - source[48][0], source[54][1] - source[48][1]);
    float d = (gap - MOTION_CLOSED_GAP) * width * pr.scale / ps.scale;
    /* Down the reference's face: perpendicular to its eye line. */
    float ex = reference[45][0] - reference[36][0], ey = reference[45][1] - reference[36][1], en = hypotf(ex, ey);
    if (!(en > 0)) return false;
    float dx = -ey / en, dy = ex / en;
    /* As the built-in face opens (expression_apply): the lower lip and the jaw drop, the upper
     * inner lip lifts a little; per unit of the inner gap. */
    static const float jaw_weight[17] = {0, 0, 0, 0.05f, 0.2f, 0.45f, 0.7f, 0.9f, 1, 0.9f, 0.7f, 0.45f, 0.2f, 0.05f, 0, 0, 0};
    for (int k = 0; k < 68; k++) {
        float w = k < 17 ? 0.16f / 0.28f * jaw_weight[k] : k >= 55 && k <= 59 ? 0.24f / 0.28f
                  : k >= 65 && k <= 67                   ? 0.26f / 0.28f
                  : k >= 61 && k <= 63                   ? -0.02f / 0.28f
                                                         : 0;
        out[k][0] += w * d * dx;
        out[k][1] += w * d * dy;
    }
    return true;
}

/* ---- JSON templates. ---- */

/* The folder of `path` ("." when it has none) into dir. */
static void path_folder(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, size, ".");
    else if (slash == path) snprintf(dir, size, "/");
    else snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* `target` as a path relative to the folder `from` (both absolute and canonical, as
 * realpath gives them), e.g. "../clips/a.mp4"; false when it does not fit. */
static bool path_relative(const char *from, const char *target, char *out, size_t size) {
    if (!strcmp(from, "/")) from = ""; /* the root: no folder to climb out of */
    size_t common = 0; /* the longest shared prefix that ends a folder name in both */
    for (size_t i = 0;; i++) {
        bool from_end = from[i] == 0 || from[i] == '/', target_end = target[i] == 0 || target[i] == '/';
        if (from_end && target_end) common = i;
        if (!from[i] || !target[i] || from[i] != target[i]) break;
    }
    size_t used = 0;
    for (const char *p = from + common; *p; p++)
        if (*p == '/') {
            if (used + 4 > size) return false;
            memcpy(out + used, "../", 4);
            used += 3;
        }
    if (target[common] != '/') return false;
    int n = snprintf(out + used, size - used, "%s", target + common + 1);
    return n >= 0 && (size_t)n < size - used;
}

vv_status motion_save(const motion_track *track, const char *path) {
    char temp[4096];
    vv_status s = file_temp_path(path, temp, sizeof temp);
    if (s != VV_OK) return s;
    FILE *f = fopen(temp, "wb");
    if (!f) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "{\"format\": \"vivify-motion\", \"version\": 1, \"fps\": %.6g, \"width\": %d, \"height\": %d,\n",
            track->fps, track->width, track->height);
    /* The audio relative to the template's folder (found again when both are moved together);
     * absolute only where no relative path exists. */
    char folder[PATH_MAX], audio[PATH_MAX];
    const char *audio_path = track->audio;
    char *folder_real = NULL, *audio_real = track->audio ? realpath(track->audio, NULL) : NULL;
    path_folder(path, folder, sizeof folder);
    if (audio_real) folder_real = realpath(folder, NULL);
    if (audio_real && folder_real && path_relative(folder_real, audio_real, audio, sizeof audio)) audio_path = audio;
    free(folder_real);
    free(audio_real);
    fputs(" \"audio\": ", f);
    if (audio_path) {
        cJSON *str = cJSON_CreateString(audio_path);
        char *text = str ? cJSON_PrintUnformatted(str) : NULL;
        fputs(text ? text : "null", f);
        free(text);
        cJSON_Delete(str);
    } else {
        fputs("null", f);
    }
    fputs(",\n \"frames\": [", f);
    for (int i = 0; i < track->frame_count; i++) {
        fputs(i ? ",\n  " : "\n  ", f);
        if (!track->found[i]) {
            fputs("null", f);
            continue;
        }
        fputc('[', f);
        for (int k = 0; k < 68; k++)
            fprintf(f, "%s[%.2f, %.2f]", k ? ", " : "", track->points[i][k][0], track->points[i][k][1]);
        fputc(']', f);
    }
    fputs("\n]}\n", f);
    bool bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(temp);
        return vv_fail(VV_ERR_WRITE, "error writing %s", path);
    }
    return file_commit(temp, path);
}

static bool json_number_in(const cJSON *item, double lo, double hi, double *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

vv_status motion_load(motion_track *track, const char *path) {
    memset(track, 0, sizeof *track);
    uint8_t *data = NULL;
    size_t size = 0;
    vv_status s = file_read_all(path, MOTION_MAX_JSON_BYTES, &data, &size);
    if (s != VV_OK) return s;
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, size, &parse_end, false);
    if (!root) {
        /* Text that names itself a template but does not parse was cut short or damaged
         * (file_read_all NUL-terminates, so strstr stops at the end of the data). */
        bool named = strstr((const char *)data, "\"vivify-motion\"") != NULL;
        long at = parse_end ? (long)(parse_end - (const char *)data) : (long)size;
        free(data);
        return named ? vv_fail(VV_ERR_CORRUPT, "%s is a truncated or damaged motion template (JSON breaks at byte %ld)", path, at)
                     : vv_fail(VV_ERR_FORMAT, "%s is not a JSON motion template", path);
    }
    free(data);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
    double fps = 0, width = 0, height = 0;
    if (!cJSON_IsString(format) || strcmp(format->valuestring, "vivify-motion") || !cJSON_IsArray(frames)) {
        s = vv_fail(VV_ERR_FORMAT, "%s is not a vivify motion template (no \"format\": \"vivify-motion\" and \"frames\")", path);
    } else if (!json_number_in(cJSON_GetObjectItemCaseSensitive(root, "fps"), 0.001, 240, &fps)) {
        s = vv_fail(VV_ERR_CORRUPT, "%s: \"fps\" missing or outside (0, 240]", path);
    } else {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "width"), *h = cJSON_GetObjectItemCaseSensitive(root, "height");
        if ((w && !json_number_in(w, 0, 65536, &width)) || (h && !json_number_in(h, 0, 65536, &height)))
            s = vv_fail(VV_ERR_CORRUPT, "%s: \"width\"/\"height\" out of range", path);
    }
    int count = s == VV_OK ? cJSON_GetArraySize(frames) : 0;
    if (s == VV_OK && (count < 1 || count > MOTION_MAX_FRAMES))
        s = vv_fail(VV_ERR_CORRUPT, "%s: %d frames (need 1..%d)", path, count, MOTION_MAX_FRAMES);
    if (s == VV_OK) s = motion_track_alloc(track, count);
    if (s == VV_OK) {
        track->fps = fps;
        track->width = (int)width;
        track->height = (int)height;
        int i = 0;
        const cJSON *frame;
        cJSON_ArrayForEach(frame, frames) {
            if (i >= count) break;
            if (cJSON_IsNull(frame)) {
                i++;
                continue;
            }
            if (!cJSON_IsArray(frame) || cJSON_GetArraySize(frame) != 68) {
                s = vv_fail(VV_ERR_CORRUPT, "%s: frame %d is neither null nor 68 [x, y] points", path, i);
                break;
            }
            int k = 0;
            const cJSON *point;
            cJSON_ArrayForEach(point, frame) {
                double x, y;
                if (k >= 68 || !cJSON_IsArray(point) || cJSON_GetArraySize(point) != 2 ||
                    !json_number_in(cJSON_GetArrayItem(point, 0), -1e6, 1e6, &x) ||
                    !json_number_in(cJSON_GetArrayItem(point, 1), -1e6, 1e6, &y)) {
                    s = vv_fail(VV_ERR_CORRUPT, "%s: frame %d point %d is not a finite [x, y]", path, i, k);
                    break;
                }
                track->points[i][k][0] = (float)x;
                track->points[i][k][1] = (float)y;
                k++;
            }
            if (s != VV_OK) break;
            track->found[i] = 1;
            i++;
        }
        const cJSON *audio = cJSON_GetObjectItemCaseSensitive(root, "audio");
        if (s == VV_OK && cJSON_IsString(audio) && audio->valuestring[0]) {
            /* Relative to the template's folder (absolute in templates made before). */
            char folder[PATH_MAX];
            path_folder(path, folder, sizeof folder);
            bool relative = audio->valuestring[0] != '/';
            size_t len = strlen(audio->valuestring) + (relative ? strlen(folder) + 1 : 0);
            if (strlen(audio->valuestring) >= 4096) s = vv_fail(VV_ERR_CORRUPT, "%s: \"audio\" path too long", path);
            else if (!(track->audio = malloc(len + 1))) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory");
            else if (relative && strcmp(folder, ".")) snprintf(track->audio, len + 1, "%s/%s", folder, audio->valuestring);
            else snprintf(track->audio, len + 1, "%s", audio->valuestring);
        } else if (s == VV_OK && audio && !cJSON_IsNull(audio) && !cJSON_IsString(audio)) {
            s = vv_fail(VV_ERR_CORRUPT, "%s: \"audio\" must be a path or null", path);
        }
    }
    cJSON_Delete(root);
    if (s == VV_OK && motion_first_found(track) < 0) s = vv_fail(VV_ERR_NO_FACE, "%s: no frame has landmarks", path);
    if (s != VV_OK) motion_track_free(track);
    return s;
}

/* ---- Gaps and reference. ---- */
int motion_first_found(const motion_track *track) {
    for (int i = 0; i < track->frame_count; i++)
        if (track->found[i]) return i;
    return -1;
}

vv_status motion_fill_gaps(motion_track *track, int reference) {
    int first = motion_first_found(track);
    if (first < 0) return vv_fail(VV_ERR_NO_FACE, "no face found in any frame of the driver");
    if (reference < 0 || reference >= track->frame_count || !track->found[reference]) reference = first;
    const float (*neutral)[2] = (const float(*)[2])track->points[reference];
    double fps = track->fps > 0 ? track->fps : 25;
    int last = -1;
    for (int i = 0; i < track->frame_count; i++) {
        if (track->found[i]) {
            last = i;
            continue;
        }
        if (last < 0) {
            memcpy(track->points[i], neutral, sizeof track->points[i]);
            continue;
        }
        motion_gap_points((const float(*)[2])track->points[last], i - last, fps, neutral, track->points[i]);
    }
    return VV_OK;
}

void motion_gap_points(const float last[68][2], int frames_since, double fps, const float neutral[68][2],
                       float out[68][2]) {
    const double hold = 0.2, ease = 0.4; /* seconds */
    double gap = frames_since / (fps > 0 ? fps : 25);
    float w = gap <= hold ? 1.0f : (float)exp(-(gap - hold) / ease);
    for (int k = 0; k < 68; k++)
        for (int c = 0; c < 2; c++) out[k][c] = neutral[k][c] + w * (last[k][c] - neutral[k][c]);
}

/* Least-squares similarity a -> b as {a, b, tx, ty} (x' = a x - b y + tx, y' = b x + a y + ty). */
static void similarity_estimate(const float (*from)[2], const float (*to)[2], float sim[4]) {
    double mfx = 0, mfy = 0, mtx = 0, mty = 0;
    for (int i = 0; i < 68; i++) { mfx += from[i][0]; mfy += from[i][1]; mtx += to[i][0]; mty += to[i][1]; }
    mfx /= 68; mfy /= 68; mtx /= 68; mty /= 68;
    double sxx = 0, sab = 0, sba = 0;
    for (int i = 0; i < 68; i++) {
        double fx = from[i][0] - mfx, fy = from[i][1] - mfy, tx = to[i][0] - mtx, ty = to[i][1] - mty;
        sxx += fx * fx + fy * fy;
        sab += fx * tx + fy * ty;
        sba += fx * ty - fy * tx;
    }
    double a = sxx > 0 ? sab / sxx : 1, b = sxx > 0 ? sba / sxx : 0;
    sim[0] = (float)a; sim[1] = (float)b;
    sim[2] = (float)(mtx - (a * mfx - b * mfy));
    sim[3] = (float)(mty - (b * mfx + a * mfy));
}

int motion_reference_best(const motion_track *track, const float source[68][2]) {
    int best = motion_first_found(track);
    double best_error = INFINITY;
    for (int i = 0; i < track->frame_count; i++) {
        if (!track->found[i]) continue;
        float sim[4];
        const float (*p)[2] = (const float(*)[2])track->points[i];
        similarity_estimate(p, source, sim);
        double error = 0;
        for (int k = 0; k < 68; k++) {
            double x = sim[0] * p[k][0] - sim[1] * p[k][1] + sim[2] - source[k][0];
            double y = sim[1] * p[k][0] + sim[0] * p[k][1] + sim[3] - source[k][1];
            error += x * x + y * y;
        }
        if (error < best_error) { best_error = error; best = i; }
    }
    return best;
}

/* ---- Retargeting. ---- */
motion_params motion_default_params(void) {
    motion_params p = {false, 1.0f, 1.0f, false};
    return p;
}

/* Expression: what the pose does not explain, rotated back by roll and divided by scale. */
static void expression_residual(const head_pose *pose, const float points[68][2], float out[68][2]) {
    float rigid[68][2];
    head_pose_project(pose, face_mean_shape_3d(), rigid);
    float roll = pose->roll * (float)(pi / 180), c = cosf(roll), s = sinf(roll);
    float inv = pose->scale > 0 ? 1.0f / pose->scale : 0;
    for (int k = 0; k < 68; k++) {
        float dx = points[k][0] - rigid[k][0], dy = points[k][1] - rigid[k][1];
        out[k][0] = (c * dx + s * dy) * inv;
        out[k][1] = (-s * dx + c * dy) * inv;
    }
}

static void mat3_mul(const float a[3][3], const float b[3][3], float out[3][3]) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
}

/* q^alpha for a rotation q (axis-angle scaled); exact identity when q is. */
static void rotation_power(const float q[3][3], float alpha, float out[3][3]) {
    double trace = (double)q[0][0] + q[1][1] + q[2][2], c = (trace - 1) / 2;
    c = c > 1 ? 1 : c < -1 ? -1 : c;
    double angle = acos(c);
    memset(out, 0, 9 * sizeof(float));
    out[0][0] = out[1][1] = out[2][2] = 1;
    if (angle < 1e-9 || alpha == 0) return;
    if (alpha == 1) {
        memcpy(out, q, 9 * sizeof(float));
        return;
    }
    double ax = q[2][1] - q[1][2], ay = q[0][2] - q[2][0], az = q[1][0] - q[0][1];
    double n = sqrt(ax * ax + ay * ay + az * az);
    if (n < 1e-12) return; /* 180 degrees: no sensible fraction, keep still */
    ax /= n; ay /= n; az /= n;
    double t = angle * alpha, ct = cos(t), st = sin(t), v = 1 - ct;
    double r[3][3] = {{ct + ax * ax * v, ax * ay * v - az * st, ax * az * v + ay * st},
                      {ay * ax * v + az * st, ct + ay * ay * v, ay * az * v - ax * st},
                      {az * ax * v - ay * st, az * ay * v + ax * st, ct + az * az * v}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out[i][j] = (float)r[i][j];
}

/* The inner lips' gap in pixels (the mean of 61-67, 62-66, 63-65 down the face, across its
 * eye line: a turned mouth's lips lie at different depths, and their offset sideways is no
 * opening), of p + disp (disp NULL: of p). */
static float inner_gap(const float p[68][2], const float (*disp)[2]) {
    static const int pairs[3][2] = {{61, 67}, {62, 66}, {63, 65}};
    float ex = p[45][0] - p[36][0], ey = p[45][1] - p[36][1], en = hypotf(ex, ey);
    if (!(en > 0)) return 0;
    float sum = 0;
    for (int i = 0; i < 3; i++) {
        int a = pairs[i][0], b = pairs[i][1];
        float dx = p[b][0] - p[a][0] + (disp ? disp[b][0] - disp[a][0] : 0);
        float dy = p[b][1] - p[a][1] + (disp ? disp[b][1] - disp[a][1] : 0);
        sum += (-ey * dx + ex * dy) / en;
    }
    return sum / 3;
}

void motion_retarget_init(motion_retarget *r, const float source[68][2], const float reference[68][2],
                          const motion_params *params) {
    memset(r, 0, sizeof *r);
    r->params = params ? *params : motion_default_params();
    memcpy(r->source, source, sizeof r->source);
    memcpy(r->reference, reference, sizeof r->reference);
    /* sizes across the face (head_pose_estimate_rigid): a turn, a dropped jaw or raised brows
     * do not read as the head coming nearer */
    head_pose ps = head_pose_estimate_rigid(source), pr = head_pose_estimate_rigid(reference);
    memcpy(r->source_pose_rotation, ps.rotation, sizeof ps.rotation);
    r->source_scale = ps.scale; r->source_tx = ps.tx; r->source_ty = ps.ty; r->source_roll = ps.roll;
    memcpy(r->reference_pose_rotation, pr.rotation, sizeof pr.rotation);
    r->reference_scale = pr.scale; r->reference_tx = pr.tx; r->reference_ty = pr.ty; r->reference_roll = pr.roll;
    expression_residual(&pr, reference, r->reference_expression);
    similarity_estimate(reference, source, r->align);
    /* in pixels at the source's size (the gap over the mouth's width would read a turned
     * mouth, narrower, as more open) */
    float width = hypotf(source[54][0] - source[48][0], source[54][1] - source[48][1]);
    float at_source = pr.scale > 0 ? ps.scale / pr.scale : 1;
    float ahead = inner_gap(source, NULL) - fmaxf(inner_gap(reference, NULL) * at_source, MOTION_CLOSED_GAP * width);
    ahead -= MOTION_REST_GAP_OPEN * width; /* less a margin: a talking clip's frame, found in the still and tracked,
                                             differs by a pixel or two (the turn test's clips from a talking frame) */
    r->mouth_ahead = ahead > 0 ? ahead : 0;
    r->mouth_closed = MOTION_CLOSED_GAP * width;
    r->reference_gap = inner_gap(reference, NULL) * at_source;
    float behind = r->reference_gap - fmaxf(inner_gap(source, NULL), r->mouth_closed) - MOTION_REST_GAP_OPEN * width;
    /* with the expression's scale, as the rest of the opening (0: the portrait's mouth as it is) */
    r->mouth_behind = r->params.mouth_from_closed && behind > 0 ? behind * r->params.expression_scale : 0;
}

/* The driver's head motion since the reference, as the source's retargeting applies it:
 * rotation (to the pose_scale power), face-size ratio, and translation in source pixels. */
typedef struct pose_change {
    float rotation[3][3];
    float scale;
    float translation[2];
} pose_change;

/* Past 30 degrees of yaw the 68 points stop holding the face's size: dlib's model saw few
 * such faces, and a head turned further than that reads as turned 40-47 degrees with its
 * points squeezed (sty_style_nice_clip1 frames 33-62, turned about 60 degrees: the face's
 * width read 0.86-1.12 of its first frame's, at the same distance).  How far a driver frame's
 * size change is believed: fully up to 30 degrees, fading to not at all at 45, and fully
 * again as the frame's yaw nears the reference's (their errors are then the same). */
#define SIZE_TRUSTED_YAW 30.0f
#define SIZE_UNTRUSTED_YAW 45.0f
#define SIZE_SAME_YAW 15.0f
static float size_trust(float yaw, float reference_yaw) {
    float t = (fabsf(yaw) - SIZE_TRUSTED_YAW) / (SIZE_UNTRUSTED_YAW - SIZE_TRUSTED_YAW);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    float apart = fabsf(yaw - reference_yaw) / SIZE_SAME_YAW;
    apart = apart > 1 ? 1 : apart;
    return 1 - t * t * (3 - 2 * t) * apart;
}

/* The driver's rotation since the reference is applied at ROTATION_GAIN of its angle: read
 * from real faces' dlib points by head_pose_estimate_rigid (the mean face's shape fitted to
 * them), a turn came out on the rendered head about a tenth larger than the driver's, both
 * measured alike (dlib and face/pose.h on the output and the driver): over the six held-out
 * clips' self-reenactment yaw / pitch range ratios 1.10 / 1.08 at 1, 1.00 / 0.99 at 0.9 (the
 * correlations unchanged, NME and pose error lower); on five clips driving their own turned
 * frame (bench/turn_test.sh: the real frames known) the pose error 4.0 -> 3.0 degrees, NME
 * 0.030 -> 0.027.  Synthetic points made from that mean shape read back exactly
 * (test_motion), so the rendered turn there is ROTATION_GAIN of the driver's. */
#define ROTATION_GAIN 0.9f

/* A rotation's yaw in degrees (the camera frame's, as head_pose reads it). */
static float rotation_yaw(const float rotation[3][3]) {
    return asinf(fmaxf(-1, fminf(1, -rotation[2][0]))) * (float)(180 / pi);
}

/* The one head_pose_estimate_rigid of a driver frame (*pd) and its change since the reference;
 * false when a pose is degenerate (no motion then). */
static bool retarget_pose_change(const motion_retarget *r, const float driver[68][2], head_pose *pd, pose_change *out) {
    const motion_params *p = &r->params;
    if (!(r->source_scale > 0) || !(r->reference_scale > 0)) return false;
    *pd = head_pose_estimate_rigid(driver);
    if (!(pd->scale > 0)) return false;
    float ref_t[3][3], q[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) ref_t[i][j] = r->reference_pose_rotation[j][i];
    mat3_mul(pd->rotation, (const float(*)[3])ref_t, q);
    rotation_power((const float(*)[3])q, p->pose_scale * ROTATION_GAIN, out->rotation);
    float size_ratio = r->source_scale / r->reference_scale;
    float reference_yaw = rotation_yaw((const float(*)[3])r->reference_pose_rotation);
    out->scale = powf(pd->scale / r->reference_scale, p->pose_scale * size_trust(pd->yaw, reference_yaw));
    out->translation[0] = p->pose_scale * (pd->tx - r->reference_tx) * size_ratio;
    out->translation[1] = p->pose_scale * (pd->ty - r->reference_ty) * size_ratio;
    return true;
}

/* A portrait whose lips are apart at rest (a smile that shows its teeth) under a driver
 * that opens its mouth: the driver's opening was added to the portrait's, so a grin drawn
 * over a smile with teeth parted the lips twice as far, a cavity of stretched teeth in the
 * lower face (docs/animate_v2_mouth_hold.jpg).  As for speech (motion_speech_reference),
 * the driver's opening parts the lips further only past the portrait's own opening
 * (r->mouth_ahead: beyond the reference's, in pixels at the source's size, less a margin
 * of MOTION_REST_GAP_OPEN of the mouth's width): the lower lip keeps that
 * share of its motion down the face relative to the upper inner lip.  The jaw is left to
 * the driver (its residual carries more than the mouth: the outline's slide on a turn).
 * The other way round, a driver whose reference smiles with its mouth open (its first
 * frame: sty_style_happyenglish_clip2) closes by as much as it had open, which pushed a
 * closed portrait's lower lip up through the upper one (a dark notch for a mouth on the
 * Mona Lisa and five more portraits): a closing closes the lips at most to closed
 * (MOTION_CLOSED_GAP of the mouth's width).  Otherwise a closing, a still mouth, and an
 * opening of a mouth closed at rest are as the driver's.  disp: the expression's
 * displacement of the 68 points (source pixels, the source's frame). */
static void mouth_from_closed(const motion_retarget *r, float rest, float opening, float disp[68][2]);
static void mouth_hold(const motion_retarget *r, float disp[68][2]) {
    float rest = inner_gap(r->source, NULL), opening = inner_gap(r->source, (const float(*)[2])disp) - rest, keep = 1;
    if (r->mouth_behind > 0) {
        mouth_from_closed(r, rest, opening, disp);
        return;
    }
    if (opening > 0 && r->mouth_ahead > 0) keep = fmaxf(0, opening - r->mouth_ahead) / opening;
    else if (opening < 0 && -opening > rest - r->mouth_closed) keep = fmaxf(0, rest - r->mouth_closed) / -opening;
    if (!(keep < 1)) return;
    /* down the source's face: perpendicular to its eye line */
    float ex = r->source[45][0] - r->source[36][0], ey = r->source[45][1] - r->source[36][1], en = hypotf(ex, ey);
    if (!(en > 0)) return;
    float down[2] = {-ey / en, ex / en}, upper[2] = {0, 0};
    for (int k = 61; k <= 63; k++) upper[0] += disp[k][0] / 3, upper[1] += disp[k][1] / 3;
    static const int lower[] = {55, 56, 57, 58, 59, 65, 66, 67};
    for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++) {
        float *d = disp[lower[i]];
        float along = (d[0] - upper[0]) * down[0] + (d[1] - upper[1]) * down[1];
        d[0] -= (1 - keep) * along * down[0];
        d[1] -= (1 - keep) * along * down[1];
    }
}

/* A driver whose reference (its first frame) has its lips apart, mid-word or smiling open
 * (half the 51 clips of ../shared/data/train open past 0.06 of the mouth's width; 0.45, a
 * clip's widest, on sty_style_happyenglish_clip1), under a portrait whose lips are closer:
 * relative motion counts every opening from the reference's, so the portrait's mouth opened
 * only past it, and closed when the driver's mouth was as open as at its first frame (a
 * slit for a laugh, nearly still lips for speech).  Here the opening counts from closed:
 * at the reference the portrait's lips part by mouth_behind (the reference's gap beyond the
 * portrait's, less a margin), an opening adds to that, and a closing closes in proportion,
 * to closed when the driver's lips meet.  The lower lip moves down the face by the
 * difference, the chin and the jaw beside it with it (the jaw carries the lower lip). */
static void mouth_from_closed(const motion_retarget *r, float rest, float opening, float disp[68][2]) {
    float gap = rest + opening, closed = r->mouth_closed, ref = r->reference_gap, want;
    if (opening >= 0) want = gap + r->mouth_behind;
    else { /* the driver closing from its reference: in proportion down to closed */
        float driver = ref + opening, top = rest + r->mouth_behind, floor = fminf(rest, closed);
        want = closed + (top - closed) * (driver - closed) / fmaxf(ref - closed, 1e-3f);
        want = fmaxf(want, floor);
    }
    float add = want - gap;
    float ex = r->source[45][0] - r->source[36][0], ey = r->source[45][1] - r->source[36][1], en = hypotf(ex, ey);
    if (!(en > 0) || !(add > 0)) return;
    float down[2] = {-ey / en, ex / en};
    /* an opening's shape: the lower lip's middle drops most, its ends less, the corners a
     * little (all of it on the middle alone drew a V on a narrow mouth); the gap, the mean
     * of 65-67's, so opens by 0.87 of `add`, which dlib's points on the output read closer
     * to the driver's own than the whole (bench/mouth_reference.sh: mean error 0.0525 of the
     * mouth's width against 0.055) */
    static const int lower[] = {48, 54, 55, 56, 57, 58, 59, 60, 64, 65, 66, 67};
    static const float share[] = {0.2f, 0.2f, 0.6f, 0.9f, 1, 0.9f, 0.6f, 0.25f, 0.25f, 0.8f, 1, 0.8f};
    for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++) {
        disp[lower[i]][0] += share[i] * add * down[0];
        disp[lower[i]][1] += share[i] * add * down[1];
    }
    static const float jaw[17] = {0, 0, 0, 0, 0.2f, 0.45f, 0.75f, 1, 1, 1, 0.75f, 0.45f, 0.2f, 0, 0, 0, 0};
    for (int k = 0; k < 17; k++) {
        disp[k][0] += jaw[k] * add * down[0];
        disp[k][1] += jaw[k] * add * down[1];
    }
}

/* Relative mode's target from a pose change: the rotation applied on top of the source's
 * own pose, scale and translation in proportion to the face sizes, and the expression
 * change (`change`: the driver's residual) in the source's frame, its x part times
 * `across` (reveal_limit's). */
static void retarget_target(const motion_retarget *r, const pose_change *pc, const float change[68][2], float across, float out[68][2]) {
    const motion_params *p = &r->params;
    head_pose source_pose, target_pose;
    memset(&source_pose, 0, sizeof source_pose);
    memcpy(source_pose.rotation, r->source_pose_rotation, sizeof source_pose.rotation);
    source_pose.scale = r->source_scale;
    source_pose.tx = r->source_tx;
    source_pose.ty = r->source_ty;
    target_pose = source_pose;
    mat3_mul(pc->rotation, (const float(*)[3])source_pose.rotation, target_pose.rotation);
    target_pose.scale = r->source_scale * pc->scale;
    target_pose.tx = r->source_tx + pc->translation[0];
    target_pose.ty = r->source_ty + pc->translation[1];
    float before[68][2], after[68][2];
    head_pose_project(&source_pose, face_mean_shape_3d(), before);
    head_pose_project(&target_pose, face_mean_shape_3d(), after);
    /* Expression change in the source's frame (its roll, its face size). */
    float roll = r->source_roll * (float)(pi / 180), c = cosf(roll), s = sinf(roll);
    float gain = p->expression_scale * target_pose.scale, disp[68][2];
    for (int k = 0; k < 68; k++) {
        float dx = (change[k][0] - r->reference_expression[k][0]) * gain * across;
        float dy = (change[k][1] - r->reference_expression[k][1]) * gain;
        disp[k][0] = c * dx - s * dy;
        disp[k][1] = s * dx + c * dy;
        /* The source's own shape moves with the head: scale and in-plane rotation of the
         * rigid change, applied to its deviation from the mean face. */
        out[k][0] = r->source[k][0] + (after[k][0] - before[k][0]) + c * dx - s * dy;
        out[k][1] = r->source[k][1] + (after[k][1] - before[k][1]) + s * dx + c * dy;
    }
    float held[68][2]; /* the lips held, as a change to the sums above (which stay as they were) */
    memcpy(held, disp, sizeof held);
    mouth_hold(r, held);
    for (int k = 0; k < 68; k++) {
        out[k][0] += held[k][0] - disp[k][0];
        out[k][1] += held[k][1] - disp[k][1];
    }
}

/* motion_retarget_decompose's split from a pose change (NULL: none, the source at rest). */
static void retarget_split(const motion_retarget *r, const pose_change *pc, const float change[68][2], motion_rigid *rigid,
                           float displacement[68][2]) {
    const motion_params *p = &r->params;
    memset(rigid, 0, sizeof *rigid);
    for (int i = 0; i < 3; i++) rigid->rotation[i][i] = 1;
    rigid->scale = 1;
    rigid->origin[0] = r->source_tx;
    rigid->origin[1] = r->source_ty;
    memset(displacement, 0, 68 * sizeof displacement[0]);
    if (!pc) return;
    memcpy(rigid->rotation, pc->rotation, sizeof rigid->rotation);
    rigid->scale = pc->scale;
    memcpy(rigid->translation, pc->translation, sizeof rigid->translation);
    float roll = r->source_roll * (float)(pi / 180), c = cosf(roll), s = sinf(roll);
    float gain = p->expression_scale * r->source_scale;
    for (int k = 0; k < 68; k++) {
        float dx = (change[k][0] - r->reference_expression[k][0]) * gain;
        float dy = (change[k][1] - r->reference_expression[k][1]) * gain;
        displacement[k][0] = c * dx - s * dy;
        displacement[k][1] = s * dx + c * dy;
    }
    mouth_hold(r, displacement);
}

/* A portrait turned far (a near profile, which the 3D head does not take: it falls back to
 * this 2D retargeting) hides its far side, and a 2D warp cannot show it: a driver turning
 * that side towards the camera spread the few pixels of it over the whole face, a smear of
 * horizontal streaks from the nose to the ear (sty_style_nice_clip1 from its frame 51,
 * turned about 60 degrees, driven back to frontal).  From a portrait turned more than
 * REVEAL_FROM degrees the head turns at most REVEAL_MOST degrees towards showing it (the
 * whole rotation shortened alike), and the expression's sideways part is kept in the same
 * proportion (the rest of the turn reads as expression there: the driver's dlib points
 * on a profile and on a frontal face are not the same shape); turning away and nodding stay
 * as the driver's, and so does the expression's up-down part (the mouth, the lids).  Only
 * for this 2D target: motion_retarget_decompose's 3D split is not held. */
#define REVEAL_FROM 30.0f
#define REVEAL_MOST 12.0f
static float revealed(const motion_retarget *r, const float rotation[3][3], float from) {
    float to[3][3];
    mat3_mul(rotation, (const float(*)[3])r->source_pose_rotation, to);
    return (from > 0 ? 1.0f : -1.0f) * (from - rotation_yaw((const float(*)[3])to));
}
static float reveal_limit(const motion_retarget *r, pose_change *pc) {
    float from = rotation_yaw((const float(*)[3])r->source_pose_rotation);
    if (!(fabsf(from) > REVEAL_FROM) || !(revealed(r, (const float(*)[3])pc->rotation, from) > REVEAL_MOST)) return 1;
    float q[3][3], lo = 0, hi = 1; /* the fraction of the rotation that reveals REVEAL_MOST */
    memcpy(q, pc->rotation, sizeof q);
    for (int i = 0; i < 16; i++) {
        float mid = (lo + hi) / 2, m[3][3];
        rotation_power((const float(*)[3])q, mid, m);
        if (revealed(r, (const float(*)[3])m, from) > REVEAL_MOST) hi = mid;
        else lo = mid;
    }
    rotation_power((const float(*)[3])q, lo, pc->rotation);
    return lo;
}

void motion_retarget_frame(const motion_retarget *r, const float driver[68][2], float out[68][2]) {
    if (r->params.absolute) { /* the paper's way: the driver's own shape, aligned to the source */
        const float *a = r->align;
        for (int k = 0; k < 68; k++) {
            float x = driver[k][0], y = driver[k][1];
            out[k][0] = a[0] * x - a[1] * y + a[2];
            out[k][1] = a[1] * x + a[0] * y + a[3];
        }
        return;
    }
    memcpy(out, r->source, 68 * sizeof out[0]);
    head_pose pd;
    pose_change pc;
    if (!retarget_pose_change(r, driver, &pd, &pc)) return;
    float kept = reveal_limit(r, &pc);
    float change[68][2];
    expression_residual(&pd, driver, change);
    retarget_target(r, &pc, (const float(*)[2])change, kept, out);
}

void motion_retarget_decompose(const motion_retarget *r, const float driver[68][2], const float (*turn)[3],
                               motion_rigid *rigid, float displacement[68][2], float target[68][2]) {
    if (target) memcpy(target, r->source, 68 * sizeof target[0]);
    head_pose pd;
    pose_change pc;
    bool moved = retarget_pose_change(r, driver, &pd, &pc);
    /* the mesh's turn; the expression stays what the 68 points' own pose leaves (with the
     * turn's pose it undid part of the turn: lp_d3 frame 263 bowed 8.7 degrees by the mesh
     * on the output, the driver 15.3; 13.0 so) */
    if (moved && turn) rotation_power(turn, r->params.pose_scale * ROTATION_GAIN, pc.rotation);
    float change[68][2];
    if (moved) {
        expression_residual(&pd, driver, change);
        if (target) retarget_target(r, &pc, (const float(*)[2])change, 1, target);
    }
    retarget_split(r, moved ? &pc : NULL, (const float(*)[2])change, rigid, displacement);
}

double motion_shape_distance(const float a[68][2], const float b[68][2]) {
    double ma[2] = {0, 0}, mb[2] = {0, 0};
    for (int k = 0; k < 68; k++) { ma[0] += a[k][0]; ma[1] += a[k][1]; mb[0] += b[k][0]; mb[1] += b[k][1]; }
    for (int c = 0; c < 2; c++) { ma[c] /= 68; mb[c] /= 68; }
    double saa = 0, sab = 0, sba = 0, sbb = 0;
    for (int k = 0; k < 68; k++) {
        double ax = a[k][0] - ma[0], ay = a[k][1] - ma[1], bx = b[k][0] - mb[0], by = b[k][1] - mb[1];
        saa += ax * ax + ay * ay;
        sbb += bx * bx + by * by;
        sab += bx * ax + by * ay;
        sba += bx * ay - by * ax;
    }
    if (saa <= 0 || sbb <= 0) return INFINITY;
    double residual = saa - (sab * sab + sba * sba) / sbb; /* best similarity b -> a */
    return sqrt(fmax(residual, 0) / saa);
}

float motion_eye_aspect(const float points[68][2], int first) {
    const float (*e)[2] = points + first;
    float v1 = hypotf(e[1][0] - e[5][0], e[1][1] - e[5][1]);
    float v2 = hypotf(e[2][0] - e[4][0], e[2][1] - e[4][1]);
    float w = hypotf(e[3][0] - e[0][0], e[3][1] - e[0][1]);
    return w > 1e-6f ? (v1 + v2) / (2 * w) : NAN;
}

/* An eye's opening over a vertical measure of the face: the lids' mean gap over the
 * distance from the eyes' centre to the nose's base (33) across the line of the eyes.  Both lie along the face's
 * vertical, so a turn of the head leaves their ratio alone, where the eye aspect ratio's
 * width shrinks with the turn and reads a far eye shut in a blink as open (a head turned
 * 35 degrees: 0.88 of the reference for an eye that closed, against 0.51 this way).  A nod
 * does the opposite: looking down shortens the nose's projection more than the lids' gap
 * (blinks of lp_src_s20: 0.64-0.88 this way, 0.5-0.7 by the aspect ratio), so openness
 * takes the smaller of the two ratios. */
static float eye_opening(const float p[68][2], int first) {
    const float (*e)[2] = p + first;
    float cx = 0, cy = 0;
    for (int k = 36; k < 48; k++) { cx += p[k][0] / 12; cy += p[k][1] / 12; }
    float ux = p[45][0] - p[36][0], uy = p[45][1] - p[36][1], u = hypotf(ux, uy);
    if (!(u > 1e-6f)) return NAN;
    float v = fabsf((p[33][1] - cy) * ux - (p[33][0] - cx) * uy) / u;
    float gap = (hypotf(e[1][0] - e[5][0], e[1][1] - e[5][1]) + hypotf(e[2][0] - e[4][0], e[2][1] - e[4][1])) / 2;
    return v > 1e-6f ? gap / v : NAN;
}

/* dlib's lids stop short of shut in a blink (over the training clips the minima of short
 * dips lie at 0.39 / 0.53 / 0.69 of the clip's open level, quartiles, squints and noise
 * among them; sty_src_KristiNoem's shut eyes read 0.54-0.68), so openness under
 * EYE_SHUT_RATIO of the reference's counts as shut, and between that and EYE_KNEE the lids
 * close in proportion; above it (a squint, a look up, wider than the reference in
 * surprise) the ratio passes through.  (0.45 / 0.75 before: such blinks closed to 0.2-0.6.) */
#define EYE_SHUT_RATIO 0.55f
#define EYE_KNEE 0.8f
/* A driver's first frame can be its widest-eyed (lp_d3's: 1.4x its median eye aspect), so
 * that each ordinary look down fell under EYE_SHUT_RATIO of it and shut the portrait's eyes:
 * the thresholds scale with the driver's typical eye aspect over the reference's, down to
 * this (never up: a narrow reference stays as it was). */
#define EYE_TYPICAL_LEAST 0.6f
/* Two eyes narrowing together read a little apart (a head rolled or turned, one eye's
 * points noisier), and the steep ramp from EYE_KNEE down to EYE_SHUT_RATIO spreads that into
 * a wink: lp_d11 frame 128, a squint both eyes at 0.69 / 0.71 of the reference's aspect,
 * shut one eye of the Mona Lisa (openness 0.37 / 0.17).  Ratios closer than EYE_PAIR_FROM
 * are taken as one (their mean), apart by EYE_PAIR_APART or more as two (a real wink),
 * in proportion between. */
#define EYE_PAIR_FROM 0.12f
#define EYE_PAIR_APART 0.3f

void motion_eye_openness_typical(const float driver[68][2], const float reference[68][2], const float typical[2],
                                 const float from_typical[2], float out[2]) {
    float r[2], shut[2], knee[2];
    bool valid[2];
    for (int e = 0; e < 2; e++) {
        int first = e ? 42 : 36;
        float ref = motion_eye_aspect(reference, first), now = motion_eye_aspect(driver, first);
        float ref_v = eye_opening(reference, first), now_v = eye_opening(driver, first);
        /* the reference's eye (nearly) shut: no scale to measure by; the driver's degenerate */
        valid[e] = ref > 0.05f && !isnan(now) && ref_v > 0 && !isnan(now_v);
        if (!valid[e]) continue;
        /* a reference wider-eyed than the driver usually is: shut and knee that much lower */
        float c = typical && typical[e] > 0 ? typical[e] / ref : 1;
        c = c > 1 ? 1 : c < EYE_TYPICAL_LEAST ? EYE_TYPICAL_LEAST : c;
        shut[e] = c * EYE_SHUT_RATIO;
        knee[e] = c * EYE_KNEE;
        /* a reference narrower-eyed than usual: open measured (in that share) by the usual eye */
        float scale = 1;
        if (typical && from_typical && typical[e] > ref && from_typical[e] > 0)
            scale = 1 + fminf(from_typical[e], 1) * (typical[e] / ref - 1);
        r[e] = fminf(now / ref, now_v / ref_v) / scale;
    }
    if (valid[0] && valid[1]) {
        float mean = (r[0] + r[1]) / 2, apart = fabsf(r[0] - r[1]);
        float own = (apart - EYE_PAIR_FROM) / (EYE_PAIR_APART - EYE_PAIR_FROM);
        own = own < 0 ? 0 : own > 1 ? 1 : own;
        for (int e = 0; e < 2; e++) r[e] = mean + own * (r[e] - mean);
    }
    for (int e = 0; e < 2; e++) {
        if (!valid[e]) {
            out[e] = 1;
            continue;
        }
        out[e] = r[e] >= knee[e] ? r[e] : knee[e] * (r[e] - shut[e]) / (knee[e] - shut[e]);
        if (out[e] < 0) out[e] = 0;
    }
}

/* y (down the face) of a lid polyline at fraction t of the way between the corners. */
static float lid_at(const float (*pts)[2], int n, float t) {
    for (int k = 0; k + 1 < n; k++) {
        float t0 = pts[k][0], t1 = pts[k + 1][0];
        if ((t >= t0 && t <= t1) || (t <= t0 && t >= t1)) {
            float w = fabsf(t1 - t0) > 1e-6f ? (t - t0) / (t1 - t0) : 0.5f;
            return pts[k][1] + w * (pts[k + 1][1] - pts[k][1]);
        }
    }
    return NAN;
}

void motion_lid_gaps(const float contour[MOTION_LID_CONTOUR][2], float gaps[2]) {
    gaps[0] = gaps[1] = NAN;
    const float *o = contour[0], *i = contour[8];
    float ux = i[0] - o[0], uy = i[1] - o[1], len = hypotf(ux, uy);
    if (!(len > 1e-3f)) return;
    ux /= len, uy /= len;
    float nx = -uy, ny = ux; /* across the eye, pointing down the image */
    if (ny < 0) nx = -nx, ny = -ny;
    float lower[9][2], upper[9][2];
    for (int k = 0; k < 9; k++) { /* (fraction along, offset down) */
        const float *p = contour[k], *q = k == 0 ? contour[0] : k == 8 ? contour[8] : contour[8 + k];
        lower[k][0] = ((p[0] - o[0]) * ux + (p[1] - o[1]) * uy) / len;
        lower[k][1] = (p[0] - o[0]) * nx + (p[1] - o[1]) * ny;
        upper[k][0] = ((q[0] - o[0]) * ux + (q[1] - o[1]) * uy) / len;
        upper[k][1] = (q[0] - o[0]) * nx + (q[1] - o[1]) * ny;
    }
    for (int j = 0; j < 2; j++) {
        float t = (j + 1) / 3.0f, g = lid_at((const float(*)[2])lower, 9, t) - lid_at((const float(*)[2])upper, 9, t);
        gaps[j] = isnan(g) ? NAN : g > 0 ? g : 0;
    }
}

void motion_eye_openness(const float driver[68][2], const float reference[68][2], float out[2]) {
    motion_eye_openness_typical(driver, reference, NULL, NULL, out);
}
