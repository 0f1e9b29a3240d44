/* animate/timeline: gap filling and zero-phase smoothing of the driver's landmarks; with
 * no lookahead (live), a predictive (constant-velocity) fit over the past instead. */
#include "animate/timeline.h"
#include "face/motion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Smoothing widths in frames at strength 1.  A still point gets SIGMA_STILL; one moving by
 * MOTION_KNEE eye distances within +-2 frames gets half that, a blink or a lip closure
 * (0.1+ eye distances in two frames) almost nothing.  Raw dlib landmarks jitter by about
 * 0.005-0.01 eye distances from frame to frame (../shared/data/README.md: 0.01 from a
 * mere re-encode). */
#define SIGMA_STILL 1.5f
#define MOTION_KNEE 0.03f
#define SIGMA_MIN 0.35f /* below this the fit is the frame itself */
/* Live (lookahead 0): the past frames the predictive fit looks at, and its width at
 * strength 1 for a still point (wider than the centred fit's: one side only). */
#define CAUSAL_HISTORY 12
#define SIGMA_STILL_CAUSAL 3.0f

static float point_distance(const float a[2], const float b[2]) {
    float dx = a[0] - b[0], dy = a[1] - b[1];
    return sqrtf(dx * dx + dy * dy);
}

/* Each point's weighted least-squares line p(k) = a + b (k - at) over the whole window, read
 * at frame `at` (a): Gaussian weights whose width shrinks as the point moves (its largest
 * step from `at` over frames motion_lo..motion_hi, in eye distances), so a still point is
 * steadied and a moving one followed. */
static void fit_points(const float (*window)[68][2], int count, int at, int motion_lo, int motion_hi, float sigma_still,
                       float strength, float out[68][2]) {
    memcpy(out, window[at], sizeof(float[68][2]));
    if (!(strength > 0) || count < 2) return;
    float scale = point_distance(window[at][36], window[at][45]);
    if (!(scale > 1)) scale = 1;
    for (int i = 0; i < 68; i++) {
        float motion = 0;
        for (int k = motion_lo; k <= motion_hi; k++) {
            float d = point_distance(window[k][i], window[at][i]) / scale;
            if (d > motion) motion = d;
        }
        float r = motion / MOTION_KNEE;
        float sigma = strength * sigma_still / (1 + r * r);
        if (sigma < SIGMA_MIN) continue;
        double s0 = 0, s1 = 0, s2 = 0, sx[2] = {0, 0}, skx[2] = {0, 0};
        for (int k = 0; k < count; k++) {
            double t = k - at, w = exp(-t * t / (2.0 * sigma * sigma));
            if (w < 1e-3) continue;
            s0 += w; s1 += w * t; s2 += w * t * t;
            for (int c = 0; c < 2; c++) {
                sx[c] += w * window[k][i][c];
                skx[c] += w * t * window[k][i][c];
            }
        }
        double det = s0 * s2 - s1 * s1;
        for (int c = 0; c < 2; c++)
            out[i][c] = (float)(det > 1e-9 ? (sx[c] * s2 - skx[c] * s1) / det : sx[c] / s0);
    }
}

/* Centred: the line's value at the window's centre (no lag on a steady motion). */
void landmark_smooth_frame(const float (*window)[68][2], int count, int centre, float strength, float out[68][2]) {
    int lo = centre - 2 < 0 ? 0 : centre - 2, hi = centre + 2 >= count ? count - 1 : centre + 2;
    fit_points(window, count, centre, lo, hi, SIGMA_STILL, strength, out);
}

/* Causal: the line through the past evaluated now, a position and a velocity (a
 * constant-velocity prediction), so a point moving steadily is not late (a plain mean over
 * the past would trail it by about 0.8 sigma frames; blending toward that mean for still
 * points measured no steadier). */
void landmark_predict_frame(const float (*window)[68][2], int count, float strength, float out[68][2]) {
    int now = count - 1;
    fit_points(window, count, now, now - 2 < 0 ? 0 : now - 2, now, SIGMA_STILL_CAUSAL, strength, out);
}

void timeline_init(driver_timeline *tl, int lookahead, float strength, double fps) {
    memset(tl, 0, sizeof *tl);
    tl->lookahead = lookahead < 0 ? 0 : lookahead;
    tl->strength = strength;
    tl->fps = fps > 0 ? fps : 25;
    tl->first_found = -1;
    tl->last_face_index = -1;
}

void timeline_free(driver_timeline *tl) {
    free(tl->entries);
    memset(tl, 0, sizeof *tl);
}

vv_status timeline_push(driver_timeline *tl, const float (*points)[2], double time) {
    if (tl->ended) return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: a driver frame after the end");
    if (tl->pushed - tl->base >= tl->capacity) {
        /* Frames more than `lookahead` behind the next output are no longer needed. */
        long keep_from = tl->taken - (tl->lookahead > 0 ? tl->lookahead : CAUSAL_HISTORY);
        long drop = keep_from - tl->base;
        if (drop > 0 && drop >= tl->capacity / 2) {
            memmove(tl->entries, tl->entries + drop, (size_t)(tl->pushed - keep_from) * sizeof tl->entries[0]);
            tl->base = keep_from;
        } else {
            long grown = tl->capacity > 0 ? tl->capacity * 2 : 4 * (tl->lookahead + 2);
            timeline_entry *e = realloc(tl->entries, (size_t)grown * sizeof *e);
            if (!e) return vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory for the driver's landmarks");
            tl->entries = e;
            tl->capacity = grown;
        }
    }
    timeline_entry *e = &tl->entries[tl->pushed - tl->base];
    memset(e, 0, sizeof *e);
    e->time = time;
    e->found = points != NULL;
    if (points) {
        memcpy(e->points, points, sizeof e->points);
        memcpy(tl->last_face, points, sizeof tl->last_face);
        tl->last_face_index = tl->pushed;
        if (tl->first_found < 0) {
            tl->first_found = tl->pushed;
            memcpy(tl->neutral, points, sizeof tl->neutral);
        }
    } else if (tl->first_found >= 0) {
        motion_gap_points((const float(*)[2])tl->last_face, (int)(tl->pushed - tl->last_face_index), tl->fps,
                          (const float(*)[2])tl->neutral, e->points);
    }
    tl->pushed++;
    return VV_OK;
}

void timeline_end(driver_timeline *tl) { tl->ended = true; }

void timeline_push_gaze(driver_timeline *tl, const float gaze[2][2]) {
    if (tl->pushed <= tl->base) return;
    timeline_entry *e = &tl->entries[tl->pushed - 1 - tl->base];
    memcpy(e->gaze, gaze, sizeof e->gaze);
    e->has_gaze = true;
}

void timeline_push_turn(driver_timeline *tl, const float turn[3][3]) {
    if (tl->pushed <= tl->base) return;
    timeline_entry *e = &tl->entries[tl->pushed - 1 - tl->base];
    memcpy(e->turn, turn, sizeof e->turn);
    e->has_turn = true;
}

/* The nearest rotation to a mean of rotations (Gram-Schmidt on its rows: for the few degrees
 * a window's turns spread over, as good as the polar decomposition); false if degenerate. */
static bool rotation_orthonormalise(const double m[3][3], float out[3][3]) {
    double r0[3] = {m[0][0], m[0][1], m[0][2]}, r1[3] = {m[1][0], m[1][1], m[1][2]};
    double n0 = sqrt(r0[0] * r0[0] + r0[1] * r0[1] + r0[2] * r0[2]);
    if (!(n0 > 1e-9)) return false;
    for (int j = 0; j < 3; j++) r0[j] /= n0;
    double along = r1[0] * r0[0] + r1[1] * r0[1] + r1[2] * r0[2];
    for (int j = 0; j < 3; j++) r1[j] -= along * r0[j];
    double n1 = sqrt(r1[0] * r1[0] + r1[1] * r1[1] + r1[2] * r1[2]);
    if (!(n1 > 1e-9)) return false;
    for (int j = 0; j < 3; j++) r1[j] /= n1;
    double r2[3] = {r0[1] * r1[2] - r0[2] * r1[1], r0[2] * r1[0] - r0[0] * r1[2], r0[0] * r1[1] - r0[1] * r1[0]};
    for (int j = 0; j < 3; j++) out[0][j] = (float)r0[j], out[1][j] = (float)r1[j], out[2][j] = (float)r2[j];
    return true;
}

#define TURN_SIGMA 1.5 /* frames, at smoothing strength 1 */

bool timeline_take_turn(const driver_timeline *tl, float turn[3][3]) {
    long t = tl->taken - 1;
    if (tl->lookahead == 0) { /* live: no frame after t */
        for (long k = t; k >= t - 2 && k >= tl->base; k--)
            if (k < tl->pushed && tl->entries[k - tl->base].has_turn) {
                memcpy(turn, tl->entries[k - tl->base].turn, sizeof tl->entries[0].turn);
                return true;
            }
        return false;
    }
    /* at least half a frame: with smoothing off, a frame between two measured ones takes their mean */
    double sigma = fmax(TURN_SIGMA * tl->strength, 0.5), sum[3][3] = {{0}}, weight = 0;
    for (long k = t - tl->lookahead; k <= t + tl->lookahead; k++) {
        if (k < tl->base || k >= tl->pushed) continue;
        const timeline_entry *e = &tl->entries[k - tl->base];
        if (!e->has_turn) continue;
        double d = (double)(k - t), w = exp(-0.5 * d * d / (sigma * sigma));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) sum[i][j] += w * e->turn[i][j];
        weight += w;
    }
    if (!(weight > 0)) return false;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) sum[i][j] /= weight;
    return rotation_orthonormalise((const double(*)[3])sum, turn);
}

/* dlib's lid pairs [eye][at 1/3, 2/3 from the outer corner] = {upper, lower}. */
static const int lid_pairs[2][2][2] = {{{37, 41}, {38, 40}}, {{44, 46}, {43, 47}}};
/* The Iris model's scale to dlib's, clamped (a first frame mid-blink). */
#define LID_SCALE_MIN 0.7f
#define LID_SCALE_MAX 1.5f
/* The Iris model's gap is trusted only as it closes: at LID_TRUST_OPEN of its gap on the
 * first frame and above, dlib's lids stay (the two disagree by 20-30 % on open eyes as a
 * head moves: lp_d12's dlib gaps grow by 25 % where the Iris model's stay, and a plain
 * minimum of the two lowered its open eyes to 0.7-0.8 of the reference); at LID_TRUST_SHUT
 * and below its gap replaces dlib's; in between a blend. */
#define LID_TRUST_OPEN 0.75f
#define LID_TRUST_SHUT 0.5f

void timeline_push_lids(driver_timeline *tl, const float lids[2][2]) {
    if (tl->pushed <= tl->base) return;
    timeline_entry *e = &tl->entries[tl->pushed - 1 - tl->base];
    if (!e->found) return;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (!isfinite(lids[i][j]) || lids[i][j] < 0) return;
    memcpy(e->lids, lids, sizeof e->lids);
    e->has_lids = true;
    if (tl->lid_scaled) return;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            float g = point_distance(e->points[lid_pairs[i][j][0]], e->points[lid_pairs[i][j][1]]);
            float c = lids[i][j] > 1e-3f ? g / lids[i][j] : LID_SCALE_MAX;
            tl->lid_scale[i][j] = c < LID_SCALE_MIN ? LID_SCALE_MIN : c > LID_SCALE_MAX ? LID_SCALE_MAX : c;
            tl->lid_reference[i][j] = lids[i][j];
        }
    tl->lid_scaled = true;
}

/* A frame the Iris model skipped whose dlib gap is this many times its neighbours' opened
 * between them (lp_d14 frames 126-130 flutter shut, open, shut: dlib 4.3, 11.8, 4.3 px). */
#define LID_OPENED 1.5f

/* Frame k's lid gaps: its own, or the wider of its neighbours' that have them (so that a
 * frame the Iris model skipped never closes more than the frames either side: a mean put
 * half a blink on the open frame before it, lp_d14 frames 15, 53, 65, 93), none (INFINITY)
 * for a pair dlib sees opened between them. */
static bool lids_at(const driver_timeline *tl, long k, float lids[2][2]) {
    const timeline_entry *e = &tl->entries[k - tl->base];
    if (e->has_lids) {
        memcpy(lids, e->lids, sizeof e->lids);
        return true;
    }
    bool any = false;
    float dlib[2][2] = {{0, 0}, {0, 0}};
    for (long u = k - 1; u <= k + 1; u += 2) {
        if (u < tl->base || u >= tl->pushed || !tl->entries[u - tl->base].has_lids) continue;
        const timeline_entry *n = &tl->entries[u - tl->base];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                float g = n->lids[i][j], d = point_distance(n->points[lid_pairs[i][j][0]], n->points[lid_pairs[i][j][1]]);
                if (!any || g > lids[i][j]) lids[i][j] = g;
                if (d > dlib[i][j]) dlib[i][j] = d;
            }
        any = true;
    }
    for (int i = 0; i < 2 && any; i++)
        for (int j = 0; j < 2; j++)
            if (point_distance(e->points[lid_pairs[i][j][0]], e->points[lid_pairs[i][j][1]]) > LID_OPENED * dlib[i][j])
                lids[i][j] = INFINITY;
    return any;
}

/* Closes frame k's lid pairs (points, a copy) to the Iris model's gaps where smaller. */
static void lids_refine(const driver_timeline *tl, long k, float p[68][2]) {
    float lids[2][2];
    if (!tl->lid_scaled || !tl->entries[k - tl->base].found || !lids_at(tl, k, lids)) return;
    for (int i = 0; i < 2; i++) {
        const float *o = p[i ? 45 : 36], *in = p[i ? 42 : 39];
        for (int j = 0; j < 2; j++) {
            float *up = p[lid_pairs[i][j][0]], *lo = p[lid_pairs[i][j][1]];
            float g = point_distance(up, lo), want = tl->lid_scale[i][j] * lids[i][j];
            float r = tl->lid_reference[i][j] > 1e-3f ? lids[i][j] / tl->lid_reference[i][j] : 1;
            float w = (LID_TRUST_OPEN - r) / (LID_TRUST_OPEN - LID_TRUST_SHUT);
            if (!(w > 0)) continue;
            want = w >= 1 ? want : w * want + (1 - w) * g;
            if (!(want < g)) continue;
            float dx, dy; /* from the upper lid to the lower */
            if (g > 1e-3f) {
                dx = (lo[0] - up[0]) / g, dy = (lo[1] - up[1]) / g;
            } else { /* across the corner line, down the image */
                float ux = in[0] - o[0], uy = in[1] - o[1], u = hypotf(ux, uy);
                if (!(u > 1e-3f)) continue;
                dx = -uy / u, dy = ux / u;
                if (dy < 0) dx = -dx, dy = -dy;
            }
            float mx = 0.5f * (up[0] + lo[0]), my = 0.5f * (up[1] + lo[1]);
            up[0] = mx - 0.5f * want * dx, up[1] = my - 0.5f * want * dy;
            lo[0] = mx + 0.5f * want * dx, lo[1] = my + 0.5f * want * dy;
        }
    }
}

/* Gaze is noisy (an iris a few pixels across) and its jumps are brief: a plain Gaussian
 * (sigma one frame, centred) over the frames that have one. */
bool timeline_take_gaze(const driver_timeline *tl, float gaze[2][2]) {
    long t = tl->taken - 1;
    double sum[2][2] = {{0, 0}, {0, 0}}, weight = 0;
    for (long k = t - tl->lookahead; k <= t + tl->lookahead; k++) {
        if (k < tl->base || k >= tl->pushed) continue;
        const timeline_entry *e = &tl->entries[k - tl->base];
        if (!e->has_gaze) continue;
        double w = exp(-0.5 * (double)((k - t) * (k - t)));
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) sum[i][j] += w * e->gaze[i][j];
        weight += w;
    }
    if (!(weight > 0)) return false;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) gaze[i][j] = (float)(sum[i][j] / weight);
    return true;
}

bool timeline_ready(const driver_timeline *tl) {
    if (tl->taken >= tl->pushed) return false;
    if (tl->first_found < 0 || tl->taken < tl->first_found) return true;
    return tl->ended || tl->taken + tl->lookahead < tl->pushed;
}

bool timeline_done(const driver_timeline *tl) { return tl->ended && tl->taken >= tl->pushed; }

void timeline_take(driver_timeline *tl, float points[68][2], bool *has_face, bool *found, long *index) {
    long t = tl->taken++;
    *index = t;
    const timeline_entry *e = &tl->entries[t - tl->base];
    *found = e->found;
    *has_face = tl->first_found >= 0 && t >= tl->first_found;
    if (!*has_face) {
        memset(points, 0, sizeof(float[68][2]));
        return;
    }
    /* The window: frames with points (from the first face on), `lookahead` each side; live,
     * the CAUSAL_HISTORY frames up to this one. */
    long lo = t - (tl->lookahead > 0 ? tl->lookahead : CAUSAL_HISTORY - 1), hi = t + tl->lookahead;
    if (lo < tl->first_found) lo = tl->first_found;
    if (lo < tl->base) lo = tl->base;
    if (hi > tl->pushed - 1) hi = tl->pushed - 1;
    float window[2 * 64 + 1][68][2];
    int count = 0, centre = 0;
    for (long k = lo; k <= hi && count < (int)(sizeof window / sizeof window[0]); k++) {
        if (k == t) centre = count;
        memcpy(window[count], tl->entries[k - tl->base].points, sizeof window[0]);
        lids_refine(tl, k, window[count++]);
    }
    if (tl->lookahead > 0) landmark_smooth_frame((const float(*)[68][2])window, count, centre, tl->strength, points);
    else landmark_predict_frame((const float(*)[68][2])window, count, tl->strength, points);
}
