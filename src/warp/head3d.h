/* warp/head3d: the 3D head warp engine.
 *
 * The portrait's face is MediaPipe's 468-point mesh with its depth (face/facemesh.h),
 * triangulated once for all faces (face_topology_triangles, generated from the canonical
 * mean mesh), and extended beyond the face oval by rings of vertices over forehead, hair,
 * ears and neck whose depth falls off behind the face and whose motion blends from the
 * head's rigid motion to stillness with distance; a pinned frame around them closes the
 * mesh.  Each output frame the mesh is moved (expression: the driver's 68-point change,
 * spread over the mesh; eyelids retargeted by openness; then the head's rigid 3D motion)
 * and rendered with the portrait itself as texture by the z-buffered rasteriser
 * (warp/raster.h), back faces culled, at the portrait's full resolution.  With a person
 * matte, what moves is composited over a background plate (the portrait with the person
 * painted out), so the background never moves and what the head uncovers is background. */
#ifndef VV_WARP_HEAD3D_H
#define VV_WARP_HEAD3D_H

#include "base/base.h"
#include "face/facemesh.h"
#include "face/motion.h"

/* Generated data (warp/face_topology.c, scripts/derive_face_topology.c): the canonical
 * mean face, frontal and upright (x right, y down, z towards the camera; unit = outer
 * eye-corner distance; origin at the face oval's mean), and its triangulation with a layer
 * per triangle: 0 skin, 1 / 2 inside the subject's right / left eye, 3 inside the lips. */
extern const float face_canonical_mesh[FACE_MESH_POINTS][3];
extern const int face_topology_triangle_count;
extern const int face_topology_triangles[][4];

/* SIDE: between a turned face's far outline and the first ring, the side of the head the
 * portrait never showed (painted from around it when a turn uncovers it). */
enum { HEAD3D_LAYER_SKIN, HEAD3D_LAYER_EYE_RIGHT, HEAD3D_LAYER_EYE_LEFT, HEAD3D_LAYER_MOUTH, HEAD3D_LAYER_OUTER, HEAD3D_LAYER_SIDE };

typedef struct head3d_params {
    bool background_still; /* composite over a background plate (needs a matte) */
    float eyes;            /* eye-openness retargeting gain (1: as the driver, 0: the source's own) */
    float lips;            /* lip-motion gain */
    bool mouth_fill;       /* fill the inner mouth when it opens wider than the source's */
    int threads;           /* 0: all cores */
} head3d_params;

head3d_params head3d_default_params(void);

typedef struct head3d head3d;

/* source: the portrait (RGB); landmarks: its 68 points; mesh: its face mesh (478 points,
 * image pixels, MediaPipe's z); matte: person probability per pixel (NULL: none, the
 * background moves with the outer rings).  VV_ERR_NO_FACE when the face is too small (under
 * 40 px between the eyes' outer corners) or turned beyond what the mesh holds. */
vv_status head3d_new(head3d **out, const vv_image *source, const float landmarks[68][2],
                     const float mesh[][3], const uint8_t *matte, const head3d_params *params);
/* The eye-openness and lip gains (head3d_params) from the next frame on (live controls). */
void head3d_set_gains(head3d *h, float eyes, float lips);
void head3d_free(head3d *h);

/* One frame: the head's rigid motion and the expression (68 displacements in source pixels
 * at the source's pose) from motion_retarget_decompose; eye_openness[2]: each eye's
 * openness relative to the driver's reference (1: as the reference, 0: shut; NAN: from the
 * expression alone); driver_frame + driver_points (optional): the driver's mouth interior.
 * out: allocated or resized to the source's size (even sides). */
typedef struct head3d_frame {
    motion_rigid rigid;
    float expression[68][2];
    float eye_openness[2];   /* subject's right, left (dlib eyes 36-41, 42-47) */
    bool has_gaze;           /* gaze: each eye's iris offset change since the driver's
                                reference, along and across the eye in eye widths
                                (animate/gaze.h); the portrait's irises move by it */
    float gaze[2][2];
    bool has_target;         /* target68: where the 68-point retargeting (motion_retarget_frame)
                                puts the landmarks; the brows, nose and lips are corrected
                                towards its displacements (see head3d.c) */
    float target68[68][2];
    const vv_image *driver_frame;
    const float (*driver_points)[2];
} head3d_frame;

vv_status head3d_render(head3d *h, const head3d_frame *frame, vv_image *out);

/* The 68 points of the last rendered frame's mesh (image pixels), for the mouth fill and
 * for tests. */
void head3d_last_landmarks(const head3d *h, float out[68][2]);
void head3d_output_size(const head3d *h, int *width, int *height);
/* The last rendered frame's mesh: vertices (x, y, depth towards the camera), triangles and
 * their layers (HEAD3D_LAYER_*); for tests and drawings. */
void head3d_mesh(const head3d *h, const float (**posed)[3], int *vertex_count, const int (**triangles)[3],
                 const uint8_t **layers, int *triangle_count);

#endif
