/* animate/gaze: where the driver looks, from its irises (the Iris model on the eye crops its
 * 68 points give: face_mesh_irises).  Per eye, the iris centre's offset from the middle of
 * the eye's corners, along the corner line and across it (down positive), in eye widths
 * (corner distance): about +-0.15 for a sideways glance.  The portrait's iris moves by the
 * change since the driver's reference frame. */
#ifndef VV_ANIMATE_GAZE_H
#define VV_ANIMATE_GAZE_H

#include "face/facemesh.h"

vv_status gaze_measure(const face_mesh *fm, const vv_image *frame, const float points[68][2], float gaze[2][2]);
/* The same, with the Iris model's lid contours of both eyes (face_mesh_eyes; NULL: none). */
vv_status gaze_measure_lids(const face_mesh *fm, const vv_image *frame, const float points[68][2], float gaze[2][2],
                            float lids[2][FACE_MESH_EYE_LID_CONTOUR][2]);

/* The head's rotation (face/mesh_pose.h: camera frame, from a canonical face; only its
 * change since a reference frame means anything) from the face mesh run once in the ROI
 * the 68 points give (no iris).  VV_ERR_NO_FACE when the mesh's score is under
 * FACE_MESH_MIN_PRESENCE or the fit is degenerate.  About 6.6 ms a frame on one core. */
vv_status gaze_measure_turn(const face_mesh *fm, const vv_image *frame, const float points[68][2], float turn[3][3]);

#endif
