/* nn/optim: Adam / AdamW, gradient clipping, learning-rate schedules. */
#include "nn/optim.h"

#include <math.h>

adam_config adam_config_default(void) {
    return (adam_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                         .weight_decay = 0.0f, .decoupled = false};
}

void adam_update(float *param, const float *grad, float *m, float *v, size_t n,
                 const adam_config *config, long t) {
    float b1 = config->beta1, b2 = config->beta2, lr = config->lr, wd = config->weight_decay;
    double correction1 = 1.0 - pow(b1, (double)t), correction2 = 1.0 - pow(b2, (double)t);
    float step_size = (float)(lr / correction1);
    float sqrt_correction2 = (float)sqrt(correction2);
    for (size_t i = 0; i < n; i++) {
        float g = grad[i], p = param[i];
        if (wd != 0.0f) {
            if (config->decoupled) p *= 1.0f - lr * wd;
            else g += wd * p;
        }
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / sqrt_correction2 + config->eps;
        param[i] = p - step_size * m[i] / denom;
    }
}

void param_store_adam_step(param_store *ps, const adam_config *config, float lr) {
    adam_config c = *config;
    c.lr = lr;
    ps->step++;
    adam_update(ps->data, ps->grad, ps->adam_m, ps->adam_v, ps->total, &c, ps->step);
}

float grad_clip_norm(float *grad, size_t n, float max_norm) {
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) sq += (double)grad[i] * grad[i];
    float norm = (float)sqrt(sq);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++) grad[i] *= coef;
    return norm;
}

float lr_schedule_at(const lr_schedule *s, long t) {
    if (t < 0) t = 0;
    double lr = s->lr;
    switch (s->kind) {
    case LR_CONSTANT: break;
    case LR_STEP:
        if (s->step_size > 0) lr *= pow(s->gamma, (double)(t / s->step_size));
        break;
    case LR_COSINE: {
        long span = s->total_steps - s->warmup_steps, at = t - s->warmup_steps;
        if (span > 0 && at > 0) {
            double progress = at >= span ? 1.0 : (double)at / (double)span;
            lr = s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(M_PI * progress));
        }
        break;
    }
    }
    if (s->warmup_steps > 0 && t < s->warmup_steps) lr *= (double)(t + 1) / (double)s->warmup_steps;
    return (float)lr;
}
