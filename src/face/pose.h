/* face/pose: head pose (yaw, pitch, roll, scale, translation) from 68 points by fitting
 * a mean 3D face shape under weak perspective. */
#ifndef VV_FACE_POSE_H
#define VV_FACE_POSE_H

#include "base/base.h"

typedef struct head_pose {
    float yaw, pitch, roll;   /* degrees; yaw > 0: the face turns to the image's right,
                                 pitch > 0: looks down, roll > 0: clockwise in the image */
    float scale;              /* pixels per unit of the mean 3D shape (inter-ocular ~ 1) */
    float tx, ty;             /* image position of the 3D shape's origin */
    float rotation[3][3];     /* model -> camera rotation */
} head_pose;

/* The mean 3D face (68 points, x right, y down, z towards the camera; units: outer eye
 * corner distance = 1). */
const float (*face_mean_shape_3d(void))[3];
/* Least-squares fit (eyes, brows, nose weighted 1; jaw contour and lips 0.5).  Returns
 * scale 0 and identity rotation when the points are degenerate or not finite. */
head_pose head_pose_estimate(const float points[68][2]);
/* head_pose_estimate's rotation with the face's size measured across it only: along the
 * face's own horizontal axis (the camera's x turned back by the roll), from the brows, eyes,
 * nose and (half) the jaw contour, the near side's as the outline it is; not the lips.  The
 * translation is fitted again for it.  A face's height changes with its expression (a jaw
 * that drops, brows that rise) and, on a far-turned head, with the landmarks' failure (the
 * jaw contour pulled up); its width does neither, and a head turn does not change it past
 * what the fitted rotation explains.  The size that motion retargeting moves the head and
 * body by. */
head_pose head_pose_estimate_rigid(const float points[68][2]);
/* rotation = Rz(roll) * Ry(yaw) * Rx(pitch) with the sign conventions above (pose.c
 * spells out the matrices); head_pose_estimate's angles invert this. */
void head_pose_rotation(float yaw, float pitch, float roll, float rotation[3][3]);
/* Its inverse: yaw, pitch, roll (degrees) of a rotation (double: head_pose_estimate's
 * precision; a float rotation converts exactly). */
void head_pose_angles(const double rotation[3][3], float *yaw, float *pitch, float *roll);
/* RMS distance between the points and the projected mean shape, in mean-shape units
 * (outer eye corner distance = 1): how face-like and rigid the points are. */
float head_pose_residual(const head_pose *pose, const float points[68][2]);
/* Projects the mean 3D shape (or any 68x3 shape) by a pose. */
void head_pose_project(const head_pose *pose, const float shape[68][3], float out[68][2]);

#endif
