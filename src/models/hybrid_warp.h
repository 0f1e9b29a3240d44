/* models/hybrid_warp: what the hybrid engine's generator sees when its warp is the 3D head
 * (fsth_config.warp3d): the 3D head warp (warp/head3d.h) of the source to the target, and
 * a validity map of where that warp moved real pixels (1) rather than invented them (0).
 *
 * Invented means stretched: a triangle of the posed mesh whose area on screen is larger
 * than the same triangle's area in the source spreads fewer source pixels over more output
 * pixels (a mouth opened from a closed one, a cheek turned into view from its hidden side,
 * lid skin pulled over an eye, the far side textured from its mirror twin), so each pixel
 * gets the validity of the triangle that wins it: 1 up to 1.1x stretch (source area / posed
 * area >= 1/1.1), falling linearly to 0 at 2x; back-facing source triangles give 0.  Stretch
 * is taken relative to the face's median area change, so a head that comes nearer (a
 * magnification, which invents nothing) stays valid.  The generator learns to paint where validity is low, and training
 * weights its pixel loss there (fsth_train_params.w_invented). */
#ifndef VV_MODELS_HYBRID_WARP_H
#define VV_MODELS_HYBRID_WARP_H

#include "base/base.h"
#include "face/facemesh.h"
#include "warp/head3d.h"

/* The source mesh's triangle areas, from a head3d before any frame moved it. */
typedef struct hybrid_validity {
    int triangle_count;
    float *rest_area; /* signed screen area of each triangle at the source's own pose */
    vv_image scratch; /* the rest render, then the validity raster's colour target */
    float *depth;
    uint8_t *tags;
    float *changes;
    /* per-frame scratch, kept: the posed vertices in the crop, dummy texcoords, the layer map */
    int vertex_count;
    float (*crop)[3];
    float (*texcoord)[2];
    uint8_t *layer;
} hybrid_validity;

/* Renders h once at rest (no motion) to read the source's triangle areas.  Call right
 * after head3d_new, before the frames. */
vv_status hybrid_validity_init(hybrid_validity *v, head3d *h);
void hybrid_validity_free(hybrid_validity *v);

/* The validity of h's last rendered frame, in a size x size crop: image_to_crop maps the
 * frame's pixels to the crop's.  out: size * size floats in [0, 1]; pixels no triangle
 * covers are 1 (nothing there was moved from elsewhere). */
vv_status hybrid_validity_draw(hybrid_validity *v, const head3d *h, const float image_to_crop[6], int size,
                               float *out);

/* Self-reenactment for training: the 3D head of `source` (an RGB crop with a face, its 68
 * points; the face mesh is found from them) moved to the 68 points `target` of another frame
 * of the same clip (reference pose = the source's), rendered, resized to size x size into
 * warped [3, size, size] in [-1, 1], with validity [size, size].  target_frame (optional,
 * the target's image, its points `target`): the opened mouth's interior comes from it,
 * colour-matched, as animate takes it from a driving video; NULL: synthesised, as for a
 * built-in motion.  VV_ERR_NO_FACE when the mesh does not hold the face or it is too small
 * for the 3D head. */
vv_status hybrid_warp3d_inputs(const face_mesh *fm, const vv_image *source, const float source_points[68][2],
                               const float target[68][2], const vv_image *target_frame, int size, float *warped,
                               float *validity);

/* The same from two model crops (tensors [3, size, size] in [-1, 1] and their points in
 * crop pixels, as fsth_crop_shot makes them), upsampled to at least 256 first; the mouth
 * interior from the target (fine-tuning on a person's frames). */
vv_status hybrid_warp3d_crops(const face_mesh *fm, const float *source, const float source_points[68][2],
                              const float *target, const float target_points[68][2], int size, float *warped,
                              float *validity);

#endif
