/* animate/gaze: the driver's iris offsets (see gaze.h). */
#include "animate/gaze.h"

#include "face/mesh_pose.h"

#include <math.h>
#include <stdlib.h>

vv_status gaze_measure(const face_mesh *fm, const vv_image *frame, const float points[68][2], float gaze[2][2]) {
    return gaze_measure_lids(fm, frame, points, gaze, NULL);
}

vv_status gaze_measure_lids(const face_mesh *fm, const vv_image *frame, const float points[68][2], float gaze[2][2],
                            float lids[2][FACE_MESH_EYE_LID_CONTOUR][2]) {
    /* MediaPipe's corner order: the subject's right eye outer then inner (dlib 36, 39), the
     * left eye inner then outer (42, 45). */
    float corners[2][2][2] = {{{points[36][0], points[36][1]}, {points[39][0], points[39][1]}},
                              {{points[42][0], points[42][1]}, {points[45][0], points[45][1]}}};
    float iris[2][5][2];
    vv_status s = face_mesh_eyes(fm, frame, (const float(*)[2][2])corners, iris, lids);
    if (s != VV_OK) return s;
    for (int e = 0; e < 2; e++) {
        const float *a = points[e ? 42 : 36], *b = points[e ? 45 : 39]; /* image left to right */
        float ux = b[0] - a[0], uy = b[1] - a[1], width = hypotf(ux, uy);
        if (!(width > 1)) return vv_fail(VV_ERR_INVALID_ARGUMENT, "gaze: an eye %.1f px wide", width);
        ux /= width;
        uy /= width;
        float dx = iris[e][0][0] - 0.5f * (a[0] + b[0]), dy = iris[e][0][1] - 0.5f * (a[1] + b[1]);
        gaze[e][0] = (dx * ux + dy * uy) / width;
        gaze[e][1] = (-dx * uy + dy * ux) / width;
    }
    return VV_OK;
}

vv_status gaze_measure_turn(const face_mesh *fm, const vv_image *frame, const float points[68][2], float turn[3][3]) {
    face_mesh_roi roi;
    face_mesh_roi_from_landmarks68(points, &roi);
    face_mesh_result *mesh = malloc(sizeof *mesh); /* 5.7 KB: not on a tracker thread's stack */
    if (!mesh) return vv_fail(VV_ERR_NO_MEMORY, "gaze: out of memory");
    vv_status s = face_mesh_run(fm, frame, &roi, false, mesh);
    if (s == VV_OK && !(mesh->score >= FACE_MESH_MIN_PRESENCE))
        s = vv_fail(VV_ERR_NO_FACE, "gaze: the face mesh does not hold this face (score %.2f)", mesh->score);
    if (s == VV_OK && !mesh_pose_rotation((const float(*)[3])mesh->points, turn))
        s = vv_fail(VV_ERR_NO_FACE, "gaze: the face mesh's points are degenerate");
    free(mesh);
    return s;
}
