/* warp/inpaint: textured hole filling for the 3D head's background plate.
 *
 * The plate is the portrait with the person painted out; what the head uncovers when it
 * moves shows it.  A smooth fill (image_fill_holes, warp/raster.h) leaves a soft blur of
 * the surrounding colours there, which reads as fog around the head against a textured
 * wall.  This fills the hole with the image's own texture instead: patch-based, as
 * Wexler, Shechtman and Irani's space-time completion (2007) does on a pyramid, with
 * PatchMatch (Barnes et al. 2009) finding each patch's nearest known patch.  Coarse to
 * fine: at the coarsest level the hole starts from the smooth fill; at each level a few
 * rounds of (nearest known patch for every patch that touches the hole, then each hole
 * pixel the weighted vote of the patches over it); at the finest levels (over
 * INPAINT_SEARCH_MAX pixels a side) the nearest-patch field is only carried up from the
 * level below and voted once, so full-resolution texture is copied at little cost. */
#ifndef VV_WARP_INPAINT_H
#define VV_WARP_INPAINT_H

#include "base/base.h"

#define INPAINT_SEARCH_MAX 320

/* Fills the pixels of an RGB image where known[i] == 0 (width x height bytes) with
 * texture from the known ones.  band > 0: only hole pixels within `band` pixels (city
 * block) of a known one get texture, the rest the smooth fill (a plate's middle, which the
 * person always covers, costs nothing then).  Known pixels are not changed.  Deterministic for a seed
 * (any thread count).  With too few known pixels for a single patch it falls back to the
 * smooth fill.  VV_ERR_INVALID_ARGUMENT (not RGB, NULL), VV_ERR_NO_MEMORY. */
vv_status image_inpaint(vv_image *image, const uint8_t *known, int band, uint64_t seed, int threads);

#endif
