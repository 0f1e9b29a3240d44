/* models/identity_loss: an identity loss for training the generator — the distance between
 * faceres embeddings (global_pooling/Mean, 1024-d) of generated and real faces — with its
 * gradient with respect to the generated images, through the frozen faceres network
 * (nn/tfjs.h training mode).
 *
 * What the functions expect (the trainer maps its own tensors to this):
 *   images NHWC float32 [N, 224, 224, 3], RGB, values in [0, 255] (faceres' input as the
 *   TFJS model takes it; a generator output x in NCHW [-1, 1] maps to (x + 1) * 127.5,
 *   transposed to NHWC and resized to 224x224 — that mapping and its backward are the
 *   caller's), the face framed as the real frame is (both crops aligned the same way). */
#ifndef VV_MODELS_IDENTITY_LOSS_H
#define VV_MODELS_IDENTITY_LOSS_H

#include "nn/tfjs.h"

typedef enum identity_loss_kind {
    IDENTITY_LOSS_COSINE, /* mean over the batch of 1 - cos(f_fake, f_real) */
    IDENTITY_LOSS_L1,     /* mean over the batch and features of |f_fake - f_real| */
} identity_loss_kind;

#define IDENTITY_LOSS_SIZE 224
#define IDENTITY_LOSS_FEATURES 1024

/* The loss on embeddings: f_fake, f_real [N, dim]; d_f_fake [N, dim] (overwritten; NULL to
 * skip) = d loss / d f_fake.  Zero vectors count as cosine 0. */
void identity_loss_features(float *loss, float *d_f_fake, const float *f_fake, const float *f_real,
                            int N, int dim, identity_loss_kind kind);

/* faceres: the loaded .cache/models/faceres.json.  fake, real: [N, 224, 224, 3] as above.
 * loss: the scalar loss; d_fake [N, 224, 224, 3] (overwritten; NULL: loss only) =
 * d loss / d fake.  The real images get no gradient.  Thread-safe on a shared model. */
vv_status identity_loss_forward_backward(const tfjs_model *faceres, const float *fake, const float *real,
                                         int N, identity_loss_kind kind, float *loss, float *d_fake);

#endif
