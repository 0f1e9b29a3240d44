/* face/rigid3d: the similarity (rotation, scale, translation) that best maps one 3D point
 * set onto another in the least-squares sense (Horn's closed form with unit quaternions),
 * for putting face meshes into a common frame and measuring their head pose. */
#ifndef VV_FACE_RIGID3D_H
#define VV_FACE_RIGID3D_H

#include "base/base.h"

typedef struct rigid3d {
    float rotation[3][3]; /* proper rotation (det +1) */
    float scale;
    float translation[3];
} rigid3d;

/* to ~ scale * rotation * from + translation over n points with optional weights (NULL:
 * all 1).  false (identity) when the points are degenerate or not finite. */
bool rigid3d_fit(const float (*from)[3], const float (*to)[3], const float *weights, int n, rigid3d *out);
/* out = scale * rotation * in + translation (out may be in). */
void rigid3d_apply(const rigid3d *t, const float in[3], float out[3]);
/* The inverse transform. */
void rigid3d_invert(const rigid3d *t, rigid3d *out);
/* A rotation's yaw, pitch and roll: head_pose_angles (face/pose.h). */

#endif
