/* warp: the landmark-driven warp engine.  A face crop at a working resolution lays out
 * the mesh (face units); each frame the mesh is moved to target landmarks and the
 * full-resolution portrait is warped piecewise-affinely through it (the crop border is
 * pinned, so everything outside the crop is untouched and there is no seam), and the
 * inner mouth filled where it opens wider than the source's.  With --crop the crop itself
 * is warped and returned.  warp_paste_back remains for callers that animate a crop. */
#ifndef VV_WARP_WARP_H
#define VV_WARP_WARP_H

#include "base/base.h"
#include "warp/mesh.h"

/* out(p) = in(A_t p) for every pixel p of each triangle t of `dst` (A_t maps the dst
 * triangle onto the src triangle), bilinear with clamp-to-edge; pixels no triangle covers
 * are copied from `in`.  in and out: same size and channels, distinct buffers.
 * Identical src and dst give out == in exactly.  moved (optional, width x height bytes):
 * how far each pixel moved, 0 (not at all) .. 255 (half a pixel or more). */
void warp_piecewise_affine(vv_image *out, const vv_image *in, const float (*src)[2],
                           const float (*dst)[2], const int (*triangles)[3], int triangle_count,
                           uint8_t *moved, int threads);

/* Blends `crop` into `image` through crop_to_image with a mask that is 1 inside and falls
 * to 0 over `feather` crop pixels at the crop border, times `mask` (optional, crop-sized
 * bytes, 255 = 1: the warp's moved map, so what did not move keeps the original pixels).
 * Pixels where the mask is 0 are not touched at all. */
void warp_paste_back(vv_image *image, const vv_image *crop, const uint8_t *mask,
                     const float crop_to_image[6], float feather, int threads);

/* Fills the target inner mouth (points 60-67 of `target`, crop pixels) with a synthesised
 * cavity and teeth, colour-matched to the source lips, in proportion to how much wider it
 * opens than the source's mouth.  With `driver` (its crop and landmarks in that crop's
 * pixels), the driver's own mouth interior is used instead, colour-matched.  Pixels drawn
 * are marked 255 in `moved` (optional).  Returns the
 * blend strength used (0: nothing drawn). */
float warp_mouth_fill(vv_image *crop, uint8_t *moved, const vv_image *source_crop, const float source[68][2],
                      const float target[68][2], const vv_image *driver, const float driver_points[68][2]);
/* The same, with the opening given by finer inner-lip contours (each from the subject's right
 * mouth corner to the left, inner_count points, both corners in both; at most
 * MOUTH_CONTOUR_MAX), e.g. the 3D head's mesh lips, whose opening the 68 points' eight
 * corners cut across (what lay between showed as notches under the lower lip).  NULL: the
 * 68 points' own. */
#define MOUTH_CONTOUR_MAX 16
float warp_mouth_fill_contour(vv_image *crop, uint8_t *moved, const vv_image *source_crop, const float source[68][2],
                              const float target[68][2], const float (*inner_upper)[2], const float (*inner_lower)[2],
                              int inner_count, const vv_image *driver, const float driver_points[68][2]);

typedef struct warp_params {
    int crop_size;     /* working resolution of the face crop (--crop output), default 512 */
    bool paste_back;   /* true: the full portrait, warped at its own resolution; false: the
                          crop itself (--crop) */
    bool mouth_fill;   /* fill the inner mouth when it opens (default true) */
    bool eyes;         /* follow the target's eyelids (default true; false keeps the source's) */
    mesh_motion motion;
    float still;       /* head motion under about this many eye distances is damped as
                          noise (mesh_target_points_damped); default MESH_STILL_DEFAULT */
    int threads;       /* 0: all cores */
} warp_params;

warp_params warp_default_params(void);

typedef struct warp_engine warp_engine;

/* Takes a copy of the portrait and its 68 landmarks (image pixels).  Faces under 40
 * pixels across are refused with VV_ERR_NO_FACE. */
vv_status warp_engine_new(warp_engine **out, const vv_image *source, const float landmarks[68][2],
                          const warp_params *params);
void warp_engine_free(warp_engine *engine);
/* Output size: the source's rounded down to even, or crop_size square with --crop. */
void warp_engine_output_size(const warp_engine *engine, int *width, int *height);
/* Renders one frame for target landmarks (source image pixels) into out (allocated /
 * resized as needed).  driver_frame + driver_points (its pixels), optional, supply the
 * mouth interior.  mouth_strength, if not NULL, receives the fill strength. */
vv_status warp_engine_render(warp_engine *engine, const float target[68][2], const vv_image *driver_frame,
                             const float driver_points[68][2], vv_image *out, float *mouth_strength);
/* The source's landmarks mapped to crop pixels, and the image<->crop transforms. */
const float (*warp_engine_crop_landmarks(const warp_engine *engine))[2];
void warp_engine_transforms(const warp_engine *engine, float crop_to_image[6], float image_to_crop[6]);

#endif
