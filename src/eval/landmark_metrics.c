/* eval/landmark_metrics: AKD, NME, expression distance (Procrustes-based) and pose
 * distance between head poses.  Definitions are in eval/metrics.h. */
#include "eval/metrics.h"

#include <math.h>

#define POINTS 68
#define EYE_OUTER_RIGHT 36 /* dlib 0-based: the subject's right eye, outer corner */
#define EYE_OUTER_LEFT 45

double metrics_akd(const float points[68][2], const float reference[68][2]) {
    double sum = 0;
    for (int i = 0; i < POINTS; i++)
        sum += hypot((double)points[i][0] - reference[i][0], (double)points[i][1] - reference[i][1]);
    return sum / POINTS;
}

vv_status metrics_nme(const float points[68][2], const float reference[68][2], double *out) {
    if (!points || !reference || !out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "nme: missing argument");
    double eye = hypot((double)reference[EYE_OUTER_RIGHT][0] - reference[EYE_OUTER_LEFT][0],
                       (double)reference[EYE_OUTER_RIGHT][1] - reference[EYE_OUTER_LEFT][1]);
    if (!(eye >= 1e-6))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "nme: reference eye corners 36 and 45 coincide");
    *out = metrics_akd(points, reference) / eye;
    return VV_OK;
}

/* Centroid at 0, RMS distance to the centroid 1. */
static vv_status shape_normalise(const float in[68][2], double out[68][2], const char *name) {
    double cx = 0, cy = 0;
    for (int i = 0; i < POINTS; i++) {
        if (!isfinite(in[i][0]) || !isfinite(in[i][1]))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "expression distance: %s point %d is not finite", name, i);
        cx += in[i][0], cy += in[i][1];
    }
    cx /= POINTS, cy /= POINTS;
    double ss = 0;
    for (int i = 0; i < POINTS; i++) {
        out[i][0] = in[i][0] - cx, out[i][1] = in[i][1] - cy;
        ss += out[i][0] * out[i][0] + out[i][1] * out[i][1];
    }
    double rms = sqrt(ss / POINTS);
    if (!(rms > 1e-9))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "expression distance: %s points all coincide", name);
    for (int i = 0; i < POINTS; i++) out[i][0] /= rms, out[i][1] /= rms;
    return VV_OK;
}

/* The rotation (cos, sin) minimising sum |R src_i - dst_i|^2 for centred sets: the 2D
 * orthogonal Procrustes solution, angle = atan2(sum cross, sum dot). */
static void rotation_onto(const double src[68][2], const double dst[68][2], double *c, double *s) {
    double dot = 0, cross = 0;
    for (int i = 0; i < POINTS; i++) {
        dot += src[i][0] * dst[i][0] + src[i][1] * dst[i][1];
        cross += src[i][0] * dst[i][1] - src[i][1] * dst[i][0];
    }
    double norm = hypot(dot, cross);
    if (norm > 0) *c = dot / norm, *s = cross / norm;
    else *c = 1, *s = 0;
}

static void rotate(double p[68][2], double c, double s) {
    for (int i = 0; i < POINTS; i++) {
        double x = p[i][0], y = p[i][1];
        p[i][0] = c * x - s * y, p[i][1] = s * x + c * y;
    }
}

static double eye_distance(const double p[68][2]) {
    return hypot(p[EYE_OUTER_RIGHT][0] - p[EYE_OUTER_LEFT][0], p[EYE_OUTER_RIGHT][1] - p[EYE_OUTER_LEFT][1]);
}

vv_status metrics_expression_distance(const float a[68][2], const float b[68][2],
                                      const float a_neutral[68][2],
                                      const float b_neutral[68][2], double *out) {
    if (!a || !b || !out || (!a_neutral) != (!b_neutral))
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "expression distance: need both sets, and both neutral sets or neither");
    double na[68][2], nb[68][2], c, s;
    vv_status st = shape_normalise(a, na, "first");
    if (!st) st = shape_normalise(b, nb, "second");
    if (st) return st;
    double sum = 0, eye;
    if (!a_neutral) {
        rotation_onto(na, nb, &c, &s);
        rotate(na, c, s);
        for (int i = 0; i < POINTS; i++) sum += hypot(na[i][0] - nb[i][0], na[i][1] - nb[i][1]);
        eye = 0.5 * (eye_distance(na) + eye_distance(nb));
    } else {
        double nan_[68][2], nbn[68][2];
        st = shape_normalise(a_neutral, nan_, "first neutral");
        if (!st) st = shape_normalise(b_neutral, nbn, "second neutral");
        if (st) return st;
        rotation_onto(na, nan_, &c, &s);
        rotate(na, c, s);
        rotation_onto(nb, nbn, &c, &s);
        rotate(nb, c, s);
        double da[68][2];
        for (int i = 0; i < POINTS; i++) {
            da[i][0] = na[i][0] - nan_[i][0], da[i][1] = na[i][1] - nan_[i][1];
            nb[i][0] -= nbn[i][0], nb[i][1] -= nbn[i][1]; /* nb becomes d_b */
        }
        rotation_onto(nan_, nbn, &c, &s); /* a-neutral's frame -> b-neutral's */
        rotate(da, c, s);
        for (int i = 0; i < POINTS; i++) sum += hypot(da[i][0] - nb[i][0], da[i][1] - nb[i][1]);
        eye = 0.5 * (eye_distance(nan_) + eye_distance(nbn));
    }
    if (!(eye > 1e-9))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "expression distance: eye corners 36 and 45 coincide");
    *out = sum / POINTS / eye;
    return VV_OK;
}

static double angle_difference(double a, double b) {
    double d = fmod(fabs(a - b), 360.0);
    return d > 180.0 ? 360.0 - d : d;
}

pose_distance metrics_pose_distance(const head_pose *a, const head_pose *b) {
    pose_distance d;
    /* trace(R_a R_b^T) = sum of elementwise products */
    double trace = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) trace += (double)a->rotation[i][j] * b->rotation[i][j];
    double cos_angle = fmax(-1.0, fmin(1.0, 0.5 * (trace - 1.0)));
    d.angle = acos(cos_angle) * (180.0 / M_PI);
    d.yaw = angle_difference(a->yaw, b->yaw);
    d.pitch = angle_difference(a->pitch, b->pitch);
    d.roll = angle_difference(a->roll, b->roll);
    d.mean_euler = (d.yaw + d.pitch + d.roll) / 3.0;
    return d;
}

vv_status metrics_pose_distance_landmarks(const float a[68][2], const float b[68][2],
                                          pose_distance *out) {
    if (!a || !b || !out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "pose distance: missing argument");
    head_pose pa = head_pose_estimate(a), pb = head_pose_estimate(b);
    if (!(pa.scale > 0) || !(pb.scale > 0))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "pose distance: no pose for the %s landmarks (degenerate or not finite)",
                       !(pa.scale > 0) ? "first" : "second");
    *out = metrics_pose_distance(&pa, &pb);
    return VV_OK;
}
