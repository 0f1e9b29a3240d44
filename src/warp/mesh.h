/* warp/mesh: the fixed-topology face mesh.  The 68 landmarks plus synthetic points
 * (forehead, a ring beyond the jaw, head outline / hair / neck, shoulders, the crop
 * border) laid out in "face units" (origin between the eye centres, eye-centre distance 1,
 * x right, y down).  One triangulation, computed once on the mean layout, serves every
 * face, so a frame's mesh differs from the next only by where its points are. */
#ifndef VV_WARP_MESH_H
#define VV_WARP_MESH_H

#include "base/base.h"

enum {
    MESH_LANDMARKS = 68,
    MESH_FOREHEAD_FIRST = 68, MESH_FOREHEAD_COUNT = 5,
    MESH_JAW_OUTER_FIRST = 73, MESH_JAW_OUTER_COUNT = 9,   /* beyond jaw points 0,2,..,16 */
    MESH_HEAD_RING_FIRST = 82, MESH_HEAD_RING_COUNT = 14,  /* hair, ears, neck */
    MESH_OUTER_RING_FIRST = 96, MESH_OUTER_RING_COUNT = 16, /* background, shoulders */
    MESH_BORDER_FIRST = 112, MESH_BORDER_COUNT = 16,       /* the crop border, pinned */
    MESH_POINT_COUNT = 128,
};

/* The crop: a square of MESH_CROP_UNITS face units centred on (0, MESH_CROP_CENTER_Y). */
#define MESH_CROP_UNITS 6.4f
#define MESH_CROP_CENTER_Y 0.45f

/* Mean 68-point face in face units (symmetric; from dlib landmarks of many frames). */
const float (*face_mean_landmarks(void))[2];
/* The mean layout of all mesh points in face units. */
const float (*mesh_mean_layout(void))[2];
/* The triangulation: counter-clockwise in the image (y down: positive signed area). */
const int (*mesh_triangles(void))[3];
int mesh_triangle_count(void);

/* Similarity x' = a x - b y + tx, y' = b x + a y + ty as {a, b, tx, ty}; least squares
 * over `count` points (idx NULL: the first `count`). */
void similarity_fit(const float (*from)[2], const float (*to)[2], const int *idx, int count,
                    float sim[4]);
void similarity_apply(const float sim[4], float x, float y, float *ox, float *oy);
/* As a 2x3 matrix {m0 m1 m2; m3 m4 m5} and its inverse. */
void similarity_to_affine(const float sim[4], float m[6]);
void affine_invert(const float m[6], float inv[6]);
/* out[k] = m applied to in[k], for count points (out may be in). */
void affine_apply_points(const float m[6], const float (*in)[2], float (*out)[2], int count);

/* Crop transforms for a face: crop (size x size pixels) <-> image, rotation-aligned. */
void mesh_crop_transform(const float landmarks[68][2], int crop_size, float crop_to_image[6],
                         float image_to_crop[6]);

/* How the synthetic points follow the head (ablation switches; all true by default). */
typedef struct mesh_motion {
    bool head;   /* forehead, hair, ears, head outline follow the head */
    bool torso;  /* neck / shoulders / background ring follows partially */
} mesh_motion;

/* Source mesh in crop pixels: the landmarks (crop pixels) plus the mean layout of the
 * synthetic points; synthetic points are relaxed where the face folds them over. */
void mesh_source_points(const float landmarks[68][2], int crop_size,
                        float out[MESH_POINT_COUNT][2]);
/* Target mesh: target landmarks, synthetic points moved with the head; fold-overs fixed
 * (returns how many triangles were still flipped after the fix, normally 0). */
int mesh_target_points(const float source[MESH_POINT_COUNT][2], const float target_landmarks[68][2],
                       const mesh_motion *motion, float out[MESH_POINT_COUNT][2]);
/* The same, with head motion near the landmarks' noise damped: with m the head ring's RMS
 * motion under the fitted head similarity, in source eye distances, the similarity's
 * change is scaled by m^2 / (m^2 + still^2), for the ring and for the face's rigid
 * placement (its expression is kept).  A still head then keeps its hair still, and a
 * moving one follows (90% of the motion at m = 3 still).  still 0: mesh_target_points. */
int mesh_target_points_damped(const float source[MESH_POINT_COUNT][2], const float target_landmarks[68][2],
                              const mesh_motion *motion, float still, float out[MESH_POINT_COUNT][2]);
#define MESH_STILL_DEFAULT 0.04f
/* Triangles whose orientation is flipped or degenerate (area <= min_area px^2). */
int mesh_count_folds(const float points[MESH_POINT_COUNT][2], float min_area);

#endif
