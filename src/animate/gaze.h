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

#endif
