/* face/mesh_pose: the head's rotation from the face mesh (face/facemesh.h), for driving.
 * dlib's 68 points under a mean 3D face (face/pose.h) read an open mouth or raised brows as
 * part of the head's pitch and shorten its turns: on lp_d3 frame 263, a head bowed and
 * turned, 7.4 degrees of pitch since frame 0 where the mesh reads 15.3, and on its "oh"
 * frames 300-330 a look up of 8-12 degrees that the mesh does not see; a frame-to-frame
 * jitter (second difference) of 1.6 degrees of pitch against 0.6 here.  The mesh's points
 * carry a depth, and those of the face that an expression moves least give the rotation by
 * a rigid 3D fit. */
#ifndef VV_FACE_MESH_POSE_H
#define VV_FACE_MESH_POSE_H

#include "base/base.h"

/* The mesh points the fit uses: those whose RMS distance from their place after a rigid
 * fit to their clip's first frame, over 200 frames of 8 training clips (speech, laughs,
 * surprise, anger), lies in the lowest quarter of the 468 (under 0.0167 of the outer eye
 * corners' distance), the lids' contours left out: around and below the eyes, the nose's
 * bridge and sides.  The forehead follows the brows, the lower face the mouth. */
#define MESH_POSE_POINTS 96
extern const int mesh_pose_points[MESH_POSE_POINTS];

/* The rotation (camera frame: x right, y down, z towards the camera; face/pose.h's) that
 * turns a canonical face (the mean of those clips' first frames, facing about the camera)
 * to this mesh: face_mesh_result.points (image x, y and the mesh's z, smaller nearer).
 * Only changes of it are meaningful (rotation * reference^T: the head's turn since a
 * reference frame): the canonical face is not exactly frontal.  false (identity) when the
 * points are degenerate or not finite. */
bool mesh_pose_rotation(const float (*points)[3], float rotation[3][3]);

#endif
