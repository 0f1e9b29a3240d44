/* nn/optim: Adam / AdamW over flat arrays, gradient-norm clipping, learning-rate
 * schedules.  The update follows torch.optim.Adam / AdamW exactly (same bias correction
 * and eps placement) so runs can be compared step by step. */
#ifndef VV_NN_OPTIM_H
#define VV_NN_OPTIM_H

#include "nn/params.h"

typedef struct adam_config {
    float lr, beta1, beta2, eps;
    float weight_decay;
    bool decoupled; /* true: AdamW (param *= 1 - lr * wd); false: Adam (grad += wd * param) */
} adam_config;

/* PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay. */
adam_config adam_config_default(void);

/* One update of n parameters at step t (1 for the first). */
void adam_update(float *param, const float *grad, float *m, float *v, size_t n,
                 const adam_config *config, long t);
/* Advances ps->step and updates the whole store with `lr` overriding config->lr. */
void param_store_adam_step(param_store *ps, const adam_config *config, float lr);

/* Scales the gradients so their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_: coefficient max_norm / (norm + 1e-6)); returns the norm before. */
float grad_clip_norm(float *grad, size_t n, float max_norm);

typedef enum lr_schedule_kind {
    LR_CONSTANT,
    LR_STEP,   /* lr * gamma^(floor(step / step_size)) */
    LR_COSINE, /* from lr down to min_lr over total_steps */
} lr_schedule_kind;

typedef struct lr_schedule {
    lr_schedule_kind kind;
    float lr, min_lr, gamma;
    long warmup_steps; /* linear ramp from 0 over the first warmup_steps (any kind) */
    long step_size, total_steps;
} lr_schedule;

/* The learning rate for step t (0-based). */
float lr_schedule_at(const lr_schedule *s, long t);

#endif
