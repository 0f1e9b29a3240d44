/* train/shots: choosing the K fine-tuning shots among a video's frames so that they
 * spread over head pose and expression (`vivify finetune BASE VIDEO`).
 *
 * Each tracked frame is described by four numbers (shot_describe): yaw and pitch
 * (degrees, face/pose.h), mouth opening (inner lips 62-66 over the outer eye corners'
 * distance) and eye opening (mean eye aspect of both eyes).  Distances divide each by a
 * fixed scale (SHOT_SCALE_*), so a video with little motion in one direction does not
 * blow its noise up.  shots_pick starts from the most frontal, mouth-closed, eyes-open
 * frame (shot 0: the hybrid's warp source and the crop a person file keeps) and adds
 * the frame farthest from every frame picked so far (farthest-point sampling). */
#ifndef VV_TRAIN_SHOTS_H
#define VV_TRAIN_SHOTS_H

#include "base/base.h"

enum { SHOT_YAW, SHOT_PITCH, SHOT_MOUTH, SHOT_EYES, SHOT_DIMS };

#define SHOT_SCALE_YAW 15.0f   /* degrees */
#define SHOT_SCALE_PITCH 10.0f /* degrees */
#define SHOT_SCALE_MOUTH 0.15f /* inner-lip gap over the eye-corner distance */
#define SHOT_SCALE_EYES 0.08f  /* eye aspect ratio */

/* A frame's descriptor; false (out unchanged) when the points are not a usable face:
 * not finite, degenerate, or turned beyond 45 degrees (the shape predictor's points are
 * unreliable there). */
bool shot_describe(const float points[68][2], float out[SHOT_DIMS]);

/* Picks *count = min(k, n) distinct frames of n (descriptors desc[i]) into picked[],
 * shot 0 first (see above), ties to the earlier frame.  Deterministic. */
vv_status shots_pick(const float (*desc)[SHOT_DIMS], int n, int k, int *picked, int *count);

#endif
