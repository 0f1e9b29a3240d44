/* eval/motion_metrics: lag, mouth, blink, pose and jitter following of an output's
 * landmark sequence against its driver's (definitions in eval/motion_metrics.h). */
#include "eval/motion_metrics.h"

#include "face/facemesh.h"
#include "face/motion.h"
#include "face/pose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const signal_names[FOLLOW_SIGNAL_COUNT] = {"mouth", "eye_left", "eye_right", "yaw",
                                                              "pitch", "roll",     "brow"};

const char *follow_signal_name(follow_signal signal) {
    return (unsigned)signal < FOLLOW_SIGNAL_COUNT ? signal_names[signal] : "?";
}

static double point_distance(const float p[2], const float q[2]) {
    return hypot((double)p[0] - q[0], (double)p[1] - q[1]);
}

void follow_signals(const float points[68][2], float *mouth_open, float *eye_open_left, float *eye_open_right) {
    double width = point_distance(points[48], points[54]);
    double open = (point_distance(points[61], points[67]) + point_distance(points[62], points[66]) +
                   point_distance(points[63], points[65])) / 3.0;
    if (mouth_open) *mouth_open = width > 1e-6 ? (float)(open / width) : NAN;
    if (eye_open_left) *eye_open_left = motion_eye_aspect(points, 42);
    if (eye_open_right) *eye_open_right = motion_eye_aspect(points, 36);
}

static float brow_height(const float points[68][2]) {
    double ux = (double)points[45][0] - points[36][0], uy = (double)points[45][1] - points[36][1];
    double eye = hypot(ux, uy);
    if (!(eye > 1e-6)) return NAN;
    ux /= eye, uy /= eye;
    double bx = 0, by = 0, ex = 0, ey = 0;
    for (int i = 17; i <= 26; i++) bx += points[i][0] / 10.0, by += points[i][1] / 10.0;
    for (int i = 36; i <= 47; i++) ex += points[i][0] / 12.0, ey += points[i][1] / 12.0;
    /* the eye line's normal pointing down the face: (ux, uy) turned +90 degrees, y down */
    return (float)(((ex - bx) * -uy + (ey - by) * ux) / eye);
}

static bool points_finite(const float points[68][2]) {
    for (int i = 0; i < 68; i++)
        if (!isfinite(points[i][0]) || !isfinite(points[i][1])) return false;
    return true;
}

void follow_signals_all(const float points[68][2], float out[FOLLOW_SIGNAL_COUNT]) {
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) out[j] = NAN;
    if (!points_finite(points)) return;
    follow_signals(points, &out[FOLLOW_MOUTH], &out[FOLLOW_EYE_LEFT], &out[FOLLOW_EYE_RIGHT]);
    head_pose pose = head_pose_estimate(points);
    if (pose.scale > 0) {
        out[FOLLOW_YAW] = pose.yaw;
        out[FOLLOW_PITCH] = pose.pitch;
        out[FOLLOW_ROLL] = pose.roll;
    }
    out[FOLLOW_BROW] = brow_height(points);
}

/* ---- Small statistics over NAN-marked arrays. ---- */

static int compare_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* numpy's default (linear) percentile of sorted values, q in [0, 1]. */
static double sorted_quantile(const double *v, int n, double q) {
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* Writes the finite values of x[0..n) to buf, sorted; returns how many. */
static int finite_sorted(const double *x, int n, double *buf) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) buf[k++] = x[i];
    qsort(buf, (size_t)k, sizeof *buf, compare_double);
    return k;
}

/* Median of the top half of the finite values (the open level of an eye signal). */
static double open_level(const double *x, int n, double *buf) {
    int k = finite_sorted(x, n, buf);
    if (k == 0) return NAN;
    int half = k / 2; /* the top half: sorted[k/2 .. k) */
    return sorted_quantile(buf + half, k - half, 0.5);
}

/* Pearson correlation of x[t] with y[t - shift] over t where both are finite.  NAN with
 * fewer than FOLLOW_MIN_PAIRS pairs or when y is constant; 0 when only x is constant (it
 * does not follow). */
static double correlation_shifted(const double *x, int nx, const double *y, int ny, int shift) {
    double sx = 0, sy = 0;
    int n = 0;
    int t0 = shift > 0 ? shift : 0, t1 = ny + shift < nx ? ny + shift : nx;
    for (int t = t0; t < t1; t++)
        if (isfinite(x[t]) && isfinite(y[t - shift])) sx += x[t], sy += y[t - shift], n++;
    if (n < FOLLOW_MIN_PAIRS) return NAN;
    double mx = sx / n, my = sy / n, sxx = 0, syy = 0, sxy = 0;
    for (int t = t0; t < t1; t++) {
        if (!isfinite(x[t]) || !isfinite(y[t - shift])) continue;
        double dx = x[t] - mx, dy = y[t - shift] - my;
        sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
    }
    if (!(syy > 1e-12 * n * (1 + my * my))) return NAN;
    if (!(sxx > 1e-12 * n * (1 + mx * mx))) return 0;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* The fraction of x's variance that is not frame-to-frame noise (header: lag weights). */
static double motion_weight(const double *x, int n, double *buf) {
    double sum = 0, sum2 = 0;
    int k = 0;
    for (int t = 0; t < n; t++)
        if (isfinite(x[t])) sum += x[t], k++;
    if (k < FOLLOW_MIN_PAIRS) return 0;
    double mean = sum / k;
    for (int t = 0; t < n; t++)
        if (isfinite(x[t])) sum2 += (x[t] - mean) * (x[t] - mean);
    double variance = sum2 / k;
    int m = 0;
    for (int t = 1; t + 1 < n; t++)
        if (isfinite(x[t - 1]) && isfinite(x[t]) && isfinite(x[t + 1])) buf[m++] = x[t + 1] - 2 * x[t] + x[t - 1];
    if (m < FOLLOW_MIN_PAIRS || !(variance > 1e-12 * (1 + mean * mean))) return 0;
    qsort(buf, (size_t)m, sizeof *buf, compare_double);
    double median = sorted_quantile(buf, m, 0.5);
    for (int i = 0; i < m; i++) buf[i] = fabs(buf[i] - median);
    qsort(buf, (size_t)m, sizeof *buf, compare_double);
    double sigma = 1.4826 * sorted_quantile(buf, m, 0.5);
    double w = 1.0 - sigma * sigma / 6.0 / variance;
    return w >= 0.5 ? w : 0;
}

/* ---- The measures. ---- */

typedef struct sequence_view {
    const float (*points)[68][2];
    int count;
    uint8_t *valid;                     /* flag set and points finite */
    double *signal[FOLLOW_SIGNAL_COUNT]; /* NAN where not valid */
    double *eye;                        /* mean EAR of both eyes */
    double eye_distance;                /* median |p36 - p45| over valid frames */
} sequence_view;

static void view_free(sequence_view *v) {
    free(v->valid);
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) free(v->signal[j]);
    free(v->eye);
}

void follow_turn_angles(const follow_turns *turns, const uint8_t *valid, int count, double *angles[3]) {
    int first = -1;
    for (int t = 0; t < count && first < 0; t++)
        if ((!valid || valid[t]) && turns->has[t]) first = t;
    for (int t = 0; t < count; t++) {
        for (int j = 0; j < 3; j++) angles[j][t] = NAN;
        if (first < 0 || (valid && !valid[t]) || !turns->has[t]) continue;
        double change[3][3];
        const float (*now)[3] = turns->rotation[t], (*from)[3] = turns->rotation[first];
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                change[i][k] = (double)now[i][0] * from[k][0] + (double)now[i][1] * from[k][1] + (double)now[i][2] * from[k][2];
        float yaw, pitch, roll;
        head_pose_angles((const double(*)[3])change, &yaw, &pitch, &roll);
        angles[0][t] = yaw, angles[1][t] = pitch, angles[2][t] = roll;
    }
    for (int t = 1; t + 1 < count; t++)
        for (int j = 0; j < 3; j++)
            if (isnan(angles[j][t]) && (!valid || valid[t]) && turns->has[t - 1] && turns->has[t + 1] &&
                isfinite(angles[j][t - 1]) && isfinite(angles[j][t + 1]))
                angles[j][t] = 0.5 * (angles[j][t - 1] + angles[j][t + 1]);
}

static vv_status view_build(sequence_view *v, const float (*points)[68][2], const uint8_t *valid, int count,
                            const follow_turns *turns, double *buf) {
    memset(v, 0, sizeof *v);
    v->points = points;
    v->count = count;
    size_t n = count > 0 ? (size_t)count : 1;
    v->valid = calloc(n, 1);
    v->eye = malloc(n * sizeof *v->eye);
    bool ok = v->valid && v->eye;
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) ok = (v->signal[j] = malloc(n * sizeof(double))) && ok;
    if (!ok) {
        view_free(v);
        return vv_fail(VV_ERR_NO_MEMORY, "follow metrics: out of memory for %d frames", count);
    }
    double first_pose[3] = {NAN, NAN, NAN};
    int distances = 0;
    for (int t = 0; t < count; t++) {
        float s[FOLLOW_SIGNAL_COUNT];
        v->valid[t] = (!valid || valid[t]) && points_finite(points[t]);
        if (v->valid[t]) follow_signals_all(points[t], s);
        for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) v->signal[j][t] = v->valid[t] ? s[j] : NAN;
        v->eye[t] = 0.5 * (v->signal[FOLLOW_EYE_LEFT][t] + v->signal[FOLLOW_EYE_RIGHT][t]);
        for (int j = 0; j < 3; j++) {
            double *angle = &v->signal[FOLLOW_YAW + j][t];
            if (isnan(first_pose[j]) && isfinite(*angle)) first_pose[j] = *angle;
            /* relative to the first valid frame, wrapped into (-180, 180] */
            if (isfinite(*angle)) *angle = 180.0 - fmod(540.0 - (*angle - first_pose[j]), 360.0);
        }
        if (v->valid[t]) buf[distances++] = point_distance(points[t][36], points[t][45]);
    }
    qsort(buf, (size_t)distances, sizeof *buf, compare_double);
    v->eye_distance = distances ? sorted_quantile(buf, distances, 0.5) : NAN;
    if (turns && turns->rotation && turns->has) {
        double *angles[3] = {v->signal[FOLLOW_YAW], v->signal[FOLLOW_PITCH], v->signal[FOLLOW_ROLL]};
        follow_turn_angles(turns, v->valid, count, angles);
    }
    return VV_OK;
}

static void lag_search(const double *xa, int na, const double *xb, int nb, int max_shift, double weight_sum,
                       follow_metrics *out) {
    double c[2 * FOLLOW_MAX_SHIFT + 1];
    int best = -1;
    for (int i = 0; i <= 2 * max_shift; i++) {
        int shift = i - max_shift;
        double sum = 0, weights = 0;
        for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) {
            if (!(out->signal_weight[j] > 0)) continue;
            double r = correlation_shifted(xa + (size_t)j * na, na, xb + (size_t)j * nb, nb, shift);
            if (isfinite(r)) sum += out->signal_weight[j] * r, weights += out->signal_weight[j];
        }
        /* a shift that loses most of the signals' weight (too few pairs) is not compared */
        c[i] = weights >= 0.5 * weight_sum ? sum / weights : NAN;
        if (isfinite(c[i]) &&
            (best < 0 || c[i] > c[best] || (c[i] == c[best] && abs(shift) < abs(best - max_shift))))
            best = i;
    }
    if (best < 0) { /* no shift had enough frame pairs */
        out->signals_used = 0;
        return;
    }
    out->lag_frames = best - max_shift;
    out->lag_confidence = (float)c[best];
    out->lag_subframe = (float)out->lag_frames;
    if (best > 0 && best < 2 * max_shift && isfinite(c[best - 1]) && isfinite(c[best + 1])) {
        double curvature = c[best - 1] - 2 * c[best] + c[best + 1];
        if (curvature < 0) {
            double offset = 0.5 * (c[best - 1] - c[best + 1]) / curvature;
            out->lag_subframe += (float)fmax(-0.5, fmin(0.5, offset));
        }
    }
    /* The peak's lobe: the shifts over which C falls steadily away from it. */
    int lo = best, hi = best;
    while (lo > 0 && isfinite(c[lo - 1]) && c[lo - 1] <= c[lo]) lo--;
    while (hi < 2 * max_shift && isfinite(c[hi + 1]) && c[hi + 1] <= c[hi]) hi++;
    double other = -INFINITY;
    for (int i = 0; i <= 2 * max_shift; i++)
        if ((i < lo || i > hi) && isfinite(c[i]) && c[i] > other) other = c[i];
    if (other == -INFINITY) other = fmax(c[lo], c[hi]); /* one lobe over the range: its ends */
    out->lag_margin = (float)(c[best] - other);
}

/* out = x minus the least-squares line through its finite values over the centred window
 * of FOLLOW_LAG_DETREND frames, evaluated at t (NAN stays NAN).  A line rather than a mean
 * so that a steady drift leaves nothing, even where the window is cut by the clip's ends. */
static void detrend(const double *x, int n, double *out) {
    const int half = FOLLOW_LAG_DETREND / 2;
    for (int t = 0; t < n; t++) {
        out[t] = NAN;
        if (!isfinite(x[t])) continue;
        double s0 = 0, s1 = 0, s2 = 0, sx = 0, sux = 0;
        for (int u = t - half < 0 ? 0 : t - half; u <= t + half && u < n; u++) {
            if (!isfinite(x[u])) continue;
            double d = u - t;
            s0 += 1, s1 += d, s2 += d * d, sx += x[u], sux += d * x[u];
        }
        double det = s0 * s2 - s1 * s1;
        /* the line's value at d = 0 is its intercept; one point (or all at t): the mean */
        double at = det > 1e-9 ? (s2 * sx - s1 * sux) / det : sx / s0;
        out[t] = x[t] - at;
    }
}

/* The lag search on the signals with their slow drift removed (a head that drifts
 * through a whole clip would otherwise tilt C(s) towards one end of the range). */
static vv_status measure_lag(const sequence_view *a, const sequence_view *b, int max_shift, double *buf,
                             follow_metrics *out) {
    int longest = a->count > b->count ? a->count : b->count;
    double *xa = malloc(((size_t)FOLLOW_SIGNAL_COUNT * a->count + 1) * sizeof *xa);
    double *xb = malloc(((size_t)FOLLOW_SIGNAL_COUNT * b->count + 1) * sizeof *xb);
    if (!xa || !xb) {
        free(xa), free(xb);
        return vv_fail(VV_ERR_NO_MEMORY, "follow metrics: out of memory for %d frames", longest);
    }
    double weight_sum = 0;
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) {
        detrend(a->signal[j], a->count, xa + (size_t)j * a->count);
        detrend(b->signal[j], b->count, xb + (size_t)j * b->count);
        out->signal_weight[j] = (float)motion_weight(xb + (size_t)j * b->count, b->count, buf);
        if (out->signal_weight[j] > 0) out->signals_used++, weight_sum += out->signal_weight[j];
    }
    if (out->signals_used) lag_search(xa, a->count, xb, b->count, max_shift, weight_sum, out);
    free(xa), free(xb);
    return VV_OK;
}

/* The next blink of an eye signal from frame *t on: from a frame under threshold, a run of
 * frames under FOLLOW_BLINK_EXIT / FOLLOW_BLINK_THRESHOLD of it (the eye must open that far
 * to end a blink: a small shut eye our tracker read at 0.61-0.73 of open through its middle
 * counted as two blinks) for at most FOLLOW_BLINK_REOPEN frames over the threshold (then a
 * squint between two blinks), gaps of up to FOLLOW_BLINK_WINDOW frames (noise, a lost face)
 * bridged; returns the run's minimum frame (*t moves past the run), or -1 when there is none. */
static int next_blink(const double *eye, int n, double threshold, int *t) {
    double exit = threshold * (FOLLOW_BLINK_EXIT / FOLLOW_BLINK_THRESHOLD);
    while (*t < n && !(eye[*t] < threshold)) (*t)++;
    if (*t >= n) return -1;
    int at = *t, last = *t, low = *t; /* the last frames under exit, under threshold */
    for (; *t < n && *t - last <= FOLLOW_BLINK_WINDOW + 1 && *t - low <= FOLLOW_BLINK_REOPEN + 1; (*t)++) {
        if (!(eye[*t] < exit)) continue;
        last = *t;
        if (eye[*t] < threshold) low = *t;
        if (eye[*t] < eye[at]) at = *t;
    }
    *t = last + 1;
    return at;
}

/* The minimum of x's finite values over frames centre +- FOLLOW_BLINK_WINDOW (INFINITY: none). */
static double window_min(const double *x, int n, int centre) {
    double m = INFINITY;
    for (int u = centre - FOLLOW_BLINK_WINDOW; u <= centre + FOLLOW_BLINK_WINDOW; u++)
        if (u >= 0 && u < n && isfinite(x[u]) && x[u] < m) m = x[u];
    return m;
}

static void measure_blinks(const sequence_view *a, const sequence_view *b, double *buf, follow_metrics *out) {
    double open_b = open_level(b->eye, b->count, buf), open_a = open_level(a->eye, a->count, buf);
    if (!(open_b > 0) || !(open_a > 0)) return;
    double threshold = FOLLOW_BLINK_THRESHOLD * open_b;
    double closure_b = 0, closure_a = 0, gap = 0;
    for (int t = 0, at; (at = next_blink(b->eye, b->count, threshold, &t)) >= 0;) {
        double min_a = window_min(a->eye, a->count, at + out->lag_frames);
        if (!isfinite(min_a)) continue;
        out->blinks++;
        closure_b += b->eye[at] / open_b;
        closure_a += min_a / open_a;
        gap += min_a - b->eye[at];
    }
    if (out->blinks) {
        out->blink_closure_driver = (float)(closure_b / out->blinks);
        out->blink_closure_output = (float)(closure_a / out->blinks);
        out->blink_gap = (float)(gap / out->blinks);
    }
}

/* 5-95 percentile range of x over the frames where both x and y are finite. */
static double pose_range(const double *x, const double *y, int n, double *buf) {
    int k = 0;
    for (int t = 0; t < n; t++)
        if (isfinite(x[t]) && isfinite(y[t])) buf[k++] = x[t];
    if (k < FOLLOW_MIN_PAIRS) return NAN;
    qsort(buf, (size_t)k, sizeof *buf, compare_double);
    return sorted_quantile(buf, k, 0.95) - sorted_quantile(buf, k, 0.05);
}

static void measure_pose(const sequence_view *a, const sequence_view *b, double *buf, follow_metrics *out) {
    int n = a->count < b->count ? a->count : b->count;
    float *correlation[3] = {&out->yaw_correlation, &out->pitch_correlation, &out->roll_correlation};
    float *ratio[3] = {&out->yaw_range_ratio, &out->pitch_range_ratio, &out->roll_range_ratio};
    for (int j = 0; j < 3; j++) {
        const double *x = a->signal[FOLLOW_YAW + j], *y = b->signal[FOLLOW_YAW + j];
        double range_b = pose_range(y, x, n, buf);
        if (!(range_b >= FOLLOW_MIN_POSE_RANGE) || !(motion_weight(y, b->count, buf) > 0)) continue;
        *ratio[j] = (float)(pose_range(x, y, n, buf) / range_b);
        *correlation[j] = (float)correlation_shifted(x, n, y, n, 0);
    }
}

/* Mean over the 68 points of |p(t) - p(u)| / eye. */
static double mean_displacement(const float p[68][2], const float q[68][2], double eye) {
    double sum = 0;
    for (int i = 0; i < 68; i++) sum += point_distance(p[i], q[i]);
    return sum / 68.0 / eye;
}

static void measure_jitter(const sequence_view *a, const sequence_view *b, follow_metrics *out) {
    if (!(a->eye_distance > 1e-6) || !(b->eye_distance > 1e-6)) return;
    int n = a->count < b->count ? a->count : b->count;
    double sum_a = 0, sum_b = 0;
    for (int t = 2; t + 2 < n; t++) {
        if (!b->valid[t - 2] || !b->valid[t + 2] || !b->valid[t - 1] || !b->valid[t] || !a->valid[t - 1] ||
            !a->valid[t])
            continue;
        if (mean_displacement(b->points[t + 2], b->points[t - 2], b->eye_distance) >= FOLLOW_STILL_MOTION) continue;
        sum_b += mean_displacement(b->points[t], b->points[t - 1], b->eye_distance);
        sum_a += mean_displacement(a->points[t], a->points[t - 1], a->eye_distance);
        out->still_frames++;
    }
    if (out->still_frames < FOLLOW_MIN_PAIRS) return;
    out->jitter_driver = (float)(sum_b / out->still_frames);
    out->jitter_output = (float)(sum_a / out->still_frames);
    /* a driver frozen exactly (synthetic input) and an output frozen with it: a copy */
    out->jitter_ratio = sum_b > 0 ? (float)(sum_a / sum_b) : sum_a > 0 ? INFINITY : 1.0f;
}

vv_status follow_measure(const float (*a)[68][2], const uint8_t *a_valid, int a_count,
                         const float (*b)[68][2], const uint8_t *b_valid, int b_count,
                         int max_shift, const follow_turns *a_turns, const follow_turns *b_turns, follow_metrics *out) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "follow metrics: no output");
    memset(out, 0, sizeof *out);
    out->lag_subframe = out->lag_confidence = out->lag_margin = NAN;
    out->mouth_correlation = NAN;
    out->blink_closure_driver = out->blink_closure_output = out->blink_gap = NAN;
    out->lid_closure_driver = out->lid_closure_output = NAN;
    out->yaw_correlation = out->pitch_correlation = out->roll_correlation = NAN;
    out->yaw_range_ratio = out->pitch_range_ratio = out->roll_range_ratio = NAN;
    out->jitter_ratio = out->jitter_driver = out->jitter_output = NAN;
    if (a_count < 0 || b_count < 0 || a_count > FOLLOW_MAX_FRAMES || b_count > FOLLOW_MAX_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "follow metrics: frame counts %d and %d outside 0..%d", a_count,
                       b_count, FOLLOW_MAX_FRAMES);
    if ((a_count && !a) || (b_count && !b))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "follow metrics: missing landmarks");
    if (max_shift < 0) return vv_fail(VV_ERR_INVALID_ARGUMENT, "follow metrics: negative max_shift %d", max_shift);
    if (max_shift > FOLLOW_MAX_SHIFT) max_shift = FOLLOW_MAX_SHIFT;

    int longest = a_count > b_count ? a_count : b_count;
    double *buf = malloc((size_t)(longest > 0 ? longest : 1) * sizeof *buf);
    if (!buf) return vv_fail(VV_ERR_NO_MEMORY, "follow metrics: out of memory for %d frames", longest);
    sequence_view va, vb;
    vv_status s = view_build(&va, a, a_valid, a_count, a_turns, buf);
    if (s == VV_OK) {
        s = view_build(&vb, b, b_valid, b_count, b_turns, buf);
        if (s != VV_OK) view_free(&va);
    }
    if (s != VV_OK) {
        free(buf);
        return s;
    }
    int n = a_count < b_count ? a_count : b_count;
    for (int t = 0; t < n; t++) out->frames += va.valid[t] && vb.valid[t];

    s = measure_lag(&va, &vb, max_shift, buf, out);
    if (s == VV_OK) {
        const double *mouth_a = va.signal[FOLLOW_MOUTH], *mouth_b = vb.signal[FOLLOW_MOUTH];
        if (motion_weight(mouth_b, vb.count, buf) > 0)
            out->mouth_correlation = (float)correlation_shifted(mouth_a, n, mouth_b, n, 0);
        measure_blinks(&va, &vb, buf, out); /* after the lag: its window follows it */
        measure_pose(&va, &vb, buf, out);
        measure_jitter(&va, &vb, out);
    }

    view_free(&va);
    view_free(&vb);
    free(buf);
    return s;
}

/* ---- The same blinks by the face mesh's lids ---- */

float follow_lid_gap(const float mesh[][3], int eye) {
    if (!mesh || (eye != FACE_MESH_EYE_RIGHT && eye != FACE_MESH_EYE_LEFT)) return NAN;
    const int *upper = face_mesh_lid_upper[eye], *lower = face_mesh_lid_lower[eye];
    const float *o = mesh[upper[0]], *i = mesh[upper[FACE_MESH_LID_POINTS - 1]];
    double width = hypot((double)i[0] - o[0], (double)i[1] - o[1]), gap = 0;
    for (int k = 1; k < FACE_MESH_LID_POINTS - 1; k++) {
        const float *u = mesh[upper[k]], *l = mesh[lower[k]];
        gap += hypot((double)u[0] - l[0], (double)u[1] - l[1]);
    }
    gap /= FACE_MESH_LID_POINTS - 2;
    return width > 1e-6 && isfinite(gap) ? (float)(gap / width) : NAN;
}

float follow_lid_openness(const float mesh[][3]) {
    return 0.5f * (follow_lid_gap(mesh, FACE_MESH_EYE_RIGHT) + follow_lid_gap(mesh, FACE_MESH_EYE_LEFT));
}

float follow_lid_gap_3d(const float mesh[][3], int eye) {
    if (!mesh || (eye != FACE_MESH_EYE_RIGHT && eye != FACE_MESH_EYE_LEFT)) return NAN;
    const int *upper = face_mesh_lid_upper[eye], *lower = face_mesh_lid_lower[eye];
    const float *o = mesh[upper[0]], *i = mesh[upper[FACE_MESH_LID_POINTS - 1]];
    double width = sqrt(((double)i[0] - o[0]) * ((double)i[0] - o[0]) + ((double)i[1] - o[1]) * ((double)i[1] - o[1]) +
                        ((double)i[2] - o[2]) * ((double)i[2] - o[2])),
           gap = 0;
    for (int k = 1; k < FACE_MESH_LID_POINTS - 1; k++) {
        const float *u = mesh[upper[k]], *l = mesh[lower[k]];
        gap += sqrt(((double)u[0] - l[0]) * ((double)u[0] - l[0]) + ((double)u[1] - l[1]) * ((double)u[1] - l[1]) +
                    ((double)u[2] - l[2]) * ((double)u[2] - l[2]));
    }
    gap /= FACE_MESH_LID_POINTS - 2;
    return width > 1e-6 && isfinite(gap) ? (float)(gap / width) : NAN;
}

float follow_lid_openness_3d(const float mesh[][3]) {
    return 0.5f * (follow_lid_gap_3d(mesh, FACE_MESH_EYE_RIGHT) + follow_lid_gap_3d(mesh, FACE_MESH_EYE_LEFT));
}

/* b's eye openness per frame (the mean EAR of both eyes; NAN: not valid or degenerate). */
static void eye_signal(const float (*b)[68][2], const uint8_t *b_valid, int count, double *ear) {
    for (int t = 0; t < count; t++) {
        float left = NAN, right = NAN;
        ear[t] = NAN;
        if ((!b_valid || b_valid[t]) && points_finite(b[t])) {
            follow_signals(b[t], NULL, &left, &right);
            ear[t] = 0.5 * ((double)left + right);
        }
    }
}

int follow_blink_frames(const float (*b)[68][2], const uint8_t *b_valid, int count, int *frames, int capacity) {
    if (!b || count <= 0 || count > FOLLOW_MAX_FRAMES) return 0;
    double *ear = malloc((size_t)count * sizeof *ear), *buf = malloc((size_t)count * sizeof *buf);
    int n = 0;
    if (ear && buf) {
        eye_signal(b, b_valid, count, ear);
        double open = open_level(ear, count, buf);
        if (open > 0)
            for (int t = 0, at; (at = next_blink(ear, count, FOLLOW_BLINK_THRESHOLD * open, &t)) >= 0; n++)
                if (frames && n < capacity) frames[n] = at;
    }
    free(ear), free(buf);
    return n;
}

vv_status follow_measure_lids(const float (*b)[68][2], const uint8_t *b_valid, int b_count, const float *b_lids,
                              const float *a_lids, int a_count, int open_step, follow_metrics *m) {
    if (!m) return vv_fail(VV_ERR_INVALID_ARGUMENT, "lid closure: no metrics");
    if (open_step < 1) return vv_fail(VV_ERR_INVALID_ARGUMENT, "lid closure: open_step %d under 1", open_step);
    m->lid_blinks = 0;
    m->lid_closure_driver = m->lid_closure_output = NAN;
    if (b_count < 0 || a_count < 0 || b_count > FOLLOW_MAX_FRAMES || a_count > FOLLOW_MAX_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "lid closure: frame counts %d and %d outside 0..%d", a_count, b_count,
                       FOLLOW_MAX_FRAMES);
    if ((b_count && (!b || !b_lids)) || (a_count && !a_lids))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "lid closure: missing input");
    if (!b_count || !a_count) return VV_OK;
    size_t n = (size_t)(b_count > a_count ? b_count : a_count);
    double *ear = malloc((size_t)b_count * sizeof *ear), *lb = malloc((size_t)b_count * sizeof *lb);
    double *la = malloc((size_t)a_count * sizeof *la), *buf = malloc(n * sizeof *buf);
    if (!ear || !lb || !la || !buf) {
        free(ear), free(lb), free(la), free(buf);
        return vv_fail(VV_ERR_NO_MEMORY, "lid closure: out of memory for %zu frames", n);
    }
    eye_signal(b, b_valid, b_count, ear);
    /* the open levels from every open_step-th frame */
    for (int t = 0; t < b_count; t++) lb[t] = t % open_step ? NAN : b_lids[t];
    for (int t = 0; t < a_count; t++) la[t] = t % open_step ? NAN : a_lids[t];
    double open_ear = open_level(ear, b_count, buf), open_b = open_level(lb, b_count, buf),
           open_a = open_level(la, a_count, buf);
    for (int t = 0; t < b_count; t++) lb[t] = b_lids[t];
    for (int t = 0; t < a_count; t++) la[t] = a_lids[t];
    if (open_ear > 0 && open_b > 0 && open_a > 0) {
        double closure_b = 0, closure_a = 0;
        for (int t = 0, at; (at = next_blink(ear, b_count, FOLLOW_BLINK_THRESHOLD * open_ear, &t)) >= 0;) {
            double min_b = window_min(lb, b_count, at), min_a = window_min(la, a_count, at + m->lag_frames);
            if (!isfinite(min_b) || !isfinite(min_a)) continue;
            m->lid_blinks++;
            closure_b += min_b / open_b;
            closure_a += min_a / open_a;
        }
        if (m->lid_blinks) {
            m->lid_closure_driver = (float)(closure_b / m->lid_blinks);
            m->lid_closure_output = (float)(closure_a / m->lid_blinks);
        }
    }
    free(ear), free(lb), free(la), free(buf);
    return VV_OK;
}

/* A run of x under threshold from frame *t on, as next_blink (until x opens past its exit,
 * gaps of up to FOLLOW_BLINK_WINDOW frames bridged): its minimum frame, first and last
 * frames; -1 when there is none. */
static int next_run(const double *x, int n, double threshold, int *t, int *first, int *last) {
    while (*t < n && !(x[*t] < threshold)) (*t)++;
    *first = *t;
    int at = next_blink(x, n, threshold, t);
    *last = *t - 1;
    return at;
}

/* The blinks' minimum frames in blink_at (n of them, at most one a frame): the EAR's runs,
 * then the mesh's (is_mesh set), as follow_measure_blinks finds them (near_ear: n zeros,
 * scratch). */
static int find_blinks(const double *ear_b, const double *lf, int b_count, double open_ear_b, double open_lf,
                       uint8_t *near_ear, int *blink_at, uint8_t *is_mesh) {
    int found = 0;
    if (open_ear_b > 0)
        for (int t = 0, at, first, last; (at = next_run(ear_b, b_count, FOLLOW_BLINK_THRESHOLD * open_ear_b, &t, &first, &last)) >= 0;) {
            for (int u = first - FOLLOW_BLINK_WINDOW; u <= last + FOLLOW_BLINK_WINDOW; u++)
                if (u >= 0 && u < b_count) near_ear[u] = 1;
            blink_at[found] = at, is_mesh[found++] = 0;
        }
    const double mesh_threshold = FOLLOW_BLINK_THRESHOLD * open_lf;
    if (open_lf > 0 && open_ear_b > 0)
        for (int t = 0, first, last; next_run(lf, b_count, mesh_threshold, &t, &first, &last) >= 0;) {
            /* the run's stretches away from the EAR's blinks (a long closure of which dlib
             * saw only the start is one of each) */
            for (int u = first; u <= last;) {
                if (near_ear[u]) {
                    u++;
                    continue;
                }
                int from = u, at = -1, under = 0;
                for (; u <= last && !near_ear[u]; u++)
                    if (lf[u] < mesh_threshold) {
                        under++;
                        if (at < 0 || lf[u] < lf[at]) at = u;
                    }
                if (under < FOLLOW_MESH_BLINK_FRAMES || !(lf[at] < FOLLOW_MESH_BLINK_DEPTH * open_lf)) continue;
                double min_ear = INFINITY;
                for (int v = from - FOLLOW_BLINK_WINDOW; v < u + FOLLOW_BLINK_WINDOW; v++)
                    if (v >= 0 && v < b_count && isfinite(ear_b[v]) && ear_b[v] < min_ear) min_ear = ear_b[v];
                if (min_ear < FOLLOW_MESH_BLINK_EAR * open_ear_b) blink_at[found] = at, is_mesh[found++] = 1;
            }
        }
    return found;
}

vv_status follow_measure_blinks(const float (*a)[68][2], const uint8_t *a_valid, const float *a_lids, int a_count,
                                const float (*b)[68][2], const uint8_t *b_valid, const float *b_lids,
                                const float *b_find, int b_count, int open_step, follow_metrics *m) {
    if (!m) return vv_fail(VV_ERR_INVALID_ARGUMENT, "blinks: no metrics");
    if (open_step < 1) return vv_fail(VV_ERR_INVALID_ARGUMENT, "blinks: open_step %d under 1", open_step);
    m->blinks = m->blinks_mesh_only = m->lid_blinks = m->blink_listed = 0;
    m->blink_closure_driver = m->blink_closure_output = m->blink_gap = NAN;
    m->lid_closure_driver = m->lid_closure_output = NAN;
    if (b_count < 0 || a_count < 0 || b_count > FOLLOW_MAX_FRAMES || a_count > FOLLOW_MAX_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "blinks: frame counts %d and %d outside 0..%d", a_count, b_count,
                       FOLLOW_MAX_FRAMES);
    if ((b_count && (!b || !b_lids)) || (a_count && (!a || !a_lids)))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "blinks: missing input");
    if (!b_count || !a_count) return VV_OK;
    size_t n = (size_t)(b_count > a_count ? b_count : a_count);
    double *ear_b = malloc((size_t)b_count * sizeof *ear_b), *lb = malloc((size_t)b_count * sizeof *lb);
    double *ear_a = malloc((size_t)a_count * sizeof *ear_a), *la = malloc((size_t)a_count * sizeof *la);
    double *buf = malloc(n * sizeof *buf), *lf = malloc((size_t)b_count * sizeof *lf);
    uint8_t *near_ear = calloc((size_t)b_count, 1); /* within FOLLOW_BLINK_WINDOW of an EAR blink's run */
    uint8_t *is_mesh = malloc((size_t)b_count);
    int *blink_at = malloc((size_t)b_count * sizeof *blink_at); /* at most one blink a frame */
    if (!ear_b || !lb || !ear_a || !la || !buf || !lf || !near_ear || !is_mesh || !blink_at) {
        free(ear_b), free(lb), free(ear_a), free(la), free(buf), free(lf), free(near_ear), free(is_mesh), free(blink_at);
        return vv_fail(VV_ERR_NO_MEMORY, "blinks: out of memory for %zu frames", n);
    }
    eye_signal(b, b_valid, b_count, ear_b);
    eye_signal(a, a_valid, a_count, ear_a);
    for (int t = 0; t < b_count; t++) lb[t] = t % open_step ? NAN : b_lids[t];
    for (int t = 0; t < a_count; t++) la[t] = t % open_step ? NAN : a_lids[t];
    if (!b_find) b_find = b_lids;
    for (int t = 0; t < b_count; t++) lf[t] = t % open_step ? NAN : b_find[t];
    double open_lf = open_level(lf, b_count, buf);
    for (int t = 0; t < b_count; t++) lf[t] = b_find[t];
    double open_ear_b = open_level(ear_b, b_count, buf), open_ear_a = open_level(ear_a, a_count, buf);
    double open_lb = open_level(lb, b_count, buf), open_la = open_level(la, a_count, buf);
    for (int t = 0; t < b_count; t++) lb[t] = b_lids[t];
    for (int t = 0; t < a_count; t++) la[t] = a_lids[t];
    int found = find_blinks(ear_b, lf, b_count, open_ear_b, open_lf, near_ear, blink_at, is_mesh);
    double closure_b = 0, closure_a = 0, gap = 0, lid_b = 0, lid_a = 0;
    for (int k = 0; k < found; k++) {
        int at = blink_at[k], shifted = at + m->lag_frames;
        struct follow_blink one = {at, is_mesh[k] != 0, NAN, NAN, NAN, NAN};
        double min_b = window_min(ear_b, b_count, at), min_a = window_min(ear_a, a_count, shifted);
        if (open_ear_b > 0 && open_ear_a > 0 && isfinite(min_b) && isfinite(min_a)) {
            m->blinks++;
            m->blinks_mesh_only += is_mesh[k];
            closure_b += min_b / open_ear_b;
            closure_a += min_a / open_ear_a;
            gap += min_a - min_b;
            one.closure_driver = (float)(min_b / open_ear_b);
            one.closure_output = (float)(min_a / open_ear_a);
        }
        double lmin_b = window_min(lb, b_count, at), lmin_a = window_min(la, a_count, shifted);
        if (open_lb > 0 && open_la > 0 && isfinite(lmin_b) && isfinite(lmin_a)) {
            m->lid_blinks++;
            lid_b += lmin_b / open_lb;
            lid_a += lmin_a / open_la;
            one.lid_closure_driver = (float)(lmin_b / open_lb);
            one.lid_closure_output = (float)(lmin_a / open_la);
        }
        if (m->blink_listed < FOLLOW_BLINK_LIST && (isfinite(one.closure_driver) || isfinite(one.lid_closure_driver)))
            m->blink_list[m->blink_listed++] = one;
    }
    if (m->blinks) {
        m->blink_closure_driver = (float)(closure_b / m->blinks);
        m->blink_closure_output = (float)(closure_a / m->blinks);
        m->blink_gap = (float)(gap / m->blinks);
    }
    if (m->lid_blinks) {
        m->lid_closure_driver = (float)(lid_b / m->lid_blinks);
        m->lid_closure_output = (float)(lid_a / m->lid_blinks);
    }
    free(ear_b), free(lb), free(ear_a), free(la), free(buf), free(lf), free(near_ear), free(is_mesh), free(blink_at);
    return VV_OK;
}

int follow_blink_frames_both(const float (*b)[68][2], const uint8_t *b_valid, const float *b_find, int count,
                             int open_step, int *frames, int capacity) {
    if (!b || !b_find || count <= 0 || count > FOLLOW_MAX_FRAMES || open_step < 1) return 0;
    double *ear = malloc((size_t)count * sizeof *ear), *lf = malloc((size_t)count * sizeof *lf);
    double *buf = malloc((size_t)count * sizeof *buf);
    uint8_t *near_ear = calloc((size_t)count, 1), *is_mesh = malloc((size_t)count);
    int *at = malloc((size_t)count * sizeof *at), n = 0;
    if (ear && lf && buf && near_ear && is_mesh && at) {
        eye_signal(b, b_valid, count, ear);
        for (int t = 0; t < count; t++) lf[t] = t % open_step ? NAN : b_find[t];
        double open_lf = open_level(lf, count, buf), open_ear = open_level(ear, count, buf);
        for (int t = 0; t < count; t++) lf[t] = b_find[t];
        n = find_blinks(ear, lf, count, open_ear, open_lf, near_ear, at, is_mesh);
        for (int k = 0; frames && k < n && k < capacity; k++) frames[k] = at[k];
    }
    free(ear), free(lf), free(buf), free(near_ear), free(is_mesh), free(at);
    return n;
}
