/* train/shots: fine-tuning shots spread over pose and expression (see shots.h). */
#include "train/shots.h"

#include "face/motion.h"
#include "face/pose.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

bool shot_describe(const float points[68][2], float out[SHOT_DIMS]) {
    for (int i = 0; i < 68; i++)
        if (!isfinite(points[i][0]) || !isfinite(points[i][1])) return false;
    float eye_dx = points[45][0] - points[36][0], eye_dy = points[45][1] - points[36][1];
    float eyes_apart = sqrtf(eye_dx * eye_dx + eye_dy * eye_dy);
    if (!(eyes_apart > 1.0f)) return false;
    head_pose pose = head_pose_estimate(points);
    if (!(pose.scale > 0.0f) || fabsf(pose.yaw) > 45.0f || fabsf(pose.pitch) > 45.0f) return false;
    float right = motion_eye_aspect(points, 36), left = motion_eye_aspect(points, 42);
    if (!isfinite(right) || !isfinite(left)) return false;
    float lip_dx = points[66][0] - points[62][0], lip_dy = points[66][1] - points[62][1];
    out[SHOT_YAW] = pose.yaw;
    out[SHOT_PITCH] = pose.pitch;
    out[SHOT_MOUTH] = sqrtf(lip_dx * lip_dx + lip_dy * lip_dy) / eyes_apart;
    out[SHOT_EYES] = 0.5f * (right + left);
    return true;
}

static const float shot_scale[SHOT_DIMS] = {SHOT_SCALE_YAW, SHOT_SCALE_PITCH, SHOT_SCALE_MOUTH, SHOT_SCALE_EYES};

static float shot_distance2(const float a[SHOT_DIMS], const float b[SHOT_DIMS]) {
    float sum = 0.0f;
    for (int d = 0; d < SHOT_DIMS; d++) {
        float t = (a[d] - b[d]) / shot_scale[d];
        sum += t * t;
    }
    return sum;
}

vv_status shots_pick(const float (*desc)[SHOT_DIMS], int n, int k, int *picked, int *count) {
    *count = 0;
    if (n <= 0 || k <= 0) return VV_OK;
    if (k > n) k = n;
    float *nearest = malloc((size_t)n * sizeof *nearest); /* squared distance to the picked set */
    if (!nearest) return vv_fail(VV_ERR_NO_MEMORY, "shots: no memory for %d frames", n);
    /* Shot 0: frontal, mouth closed, eyes open (an eye aspect of 0.3 counts as open). */
    int first = 0;
    float best = FLT_MAX;
    for (int i = 0; i < n; i++) {
        float shut = 0.3f - desc[i][SHOT_EYES];
        float cost = fabsf(desc[i][SHOT_YAW]) / SHOT_SCALE_YAW + fabsf(desc[i][SHOT_PITCH]) / SHOT_SCALE_PITCH +
                     desc[i][SHOT_MOUTH] / SHOT_SCALE_MOUTH + (shut > 0.0f ? shut / SHOT_SCALE_EYES : 0.0f);
        if (cost < best) best = cost, first = i;
    }
    picked[0] = first;
    for (int i = 0; i < n; i++) nearest[i] = shot_distance2(desc[i], desc[first]);
    nearest[first] = -1.0f;
    for (int j = 1; j < k; j++) {
        int far = -1;
        for (int i = 0; i < n; i++)
            if (nearest[i] >= 0.0f && (far < 0 || nearest[i] > nearest[far])) far = i;
        picked[j] = far;
        nearest[far] = -1.0f;
        for (int i = 0; i < n; i++)
            if (nearest[i] >= 0.0f) {
                float d = shot_distance2(desc[i], desc[far]);
                if (d < nearest[i]) nearest[i] = d;
            }
    }
    free(nearest);
    *count = k;
    return VV_OK;
}
