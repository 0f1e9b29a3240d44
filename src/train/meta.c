/* train/meta: the meta-learning step, the .vds episode source, training state files and
 * few-shot fine-tuning (train/train.h). */
#include "train/train.h"

#include "img/image.h"
#include "models/hybrid_warp.h"
#include "models/identity_loss.h"
#include "models/perceptual_loss.h"
#include "nn/optim.h"
#include "nn/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fsth_train_params fsth_train_default_params(void) {
    return (fsth_train_params){.k = 8, .batch = 1, .lr_g = 5e-5f, .lr_d = 2e-4f, .beta1 = 0.0f,
                               .beta2 = 0.999f, .w_pixel = 10.0f, .w_fm = 10.0f, .w_mch = 10.0f,
                               .w_adv = 1.0f, .seed = 1};
}

/* ---- The adversarial part shared by meta-learning and fine-tuning ---- */

typedef struct gan_work {
    int capacity, S, features;
    float *fake, *dfake;   /* [n, 3, S, S] */
    float *xy2, *dxy;      /* [2n, 6, S, S] real then fake; [n, 6, S, S] */
    float *proj2, *dproj2; /* [2n, emb] */
    float *r, *dr;         /* [2n] */
    float *feat_real[FSTH_MAX_BLOCKS], *dfeat[FSTH_MAX_BLOCKS];
    size_t feat_size[FSTH_MAX_BLOCKS];
    float *buffer;
} gan_work;

static vv_status gan_work_init(gan_work *w, const fsth_model *m, int n) {
    memset(w, 0, sizeof *w);
    int S = m->config.size, emb = fsth_embedding_dim(&m->config);
    size_t plane = (size_t)S * S, total = 0;
    w->capacity = n, w->S = S, w->features = fsth_discriminator_feature_count(&m->D);
    size_t sizes[8] = {3 * plane * n, 3 * plane * n, 12 * plane * n, 6 * plane * n,
                       2 * (size_t)emb * n, 2 * (size_t)emb * n, 2 * (size_t)n, 2 * (size_t)n};
    for (int i = 0; i < 8; i++) total += sizes[i];
    for (int i = 0; i < w->features; i++) {
        const fsth_block *b = &m->D.blocks[i];
        w->feat_size[i] = (size_t)n * b->out_channels * b->out_H * b->out_W;
        total += 2 * w->feat_size[i];
    }
    w->buffer = mem_calloc(total, sizeof(float));
    if (!w->buffer) return vv_fail(VV_ERR_NO_MEMORY, "training buffers: no memory for %zu floats", total);
    float *p = w->buffer;
    float **slots[8] = {&w->fake, &w->dfake, &w->xy2, &w->dxy, &w->proj2, &w->dproj2, &w->r, &w->dr};
    for (int i = 0; i < 8; i++) *slots[i] = p, p += sizes[i];
    for (int i = 0; i < w->features; i++) {
        w->feat_real[i] = p, p += w->feat_size[i];
        w->dfeat[i] = p, p += w->feat_size[i];
    }
    return VV_OK;
}

static void gan_work_free(gan_work *w) { free(w->buffer); memset(w, 0, sizeof *w); }

/* [n, 3, S, S] in [-1, 1] (rows `stride` floats apart) -> faceres' NHWC [n, 224, 224, 3]
 * in [0, 255]; tmp holds [3, 224, 224]. */
static void to_faceres(float *out, const float *in, size_t stride, int n, int S, float *tmp) {
    const size_t P = IDENTITY_LOSS_SIZE * IDENTITY_LOSS_SIZE;
    for (int i = 0; i < n; i++) {
        upsample_bilinear_forward(tmp, in + i * stride, 1, 3, S, S, IDENTITY_LOSS_SIZE, IDENTITY_LOSS_SIZE);
        for (size_t q = 0; q < P; q++)
            for (int c = 0; c < 3; c++) out[((size_t)i * P + q) * 3 + c] = (tmp[c * P + q] + 1.0f) * 127.5f;
    }
}

_Static_assert(IDENTITY_LOSS_SIZE == PERCEPTUAL_LOSS_SIZE, "both faceres terms take the same 224x224 resizes");

/* A faceres content term (identity: the embedding; perceptual: five layers): its loss, and
 * its gradient times weight added to w->dfake. */
static vv_status content_term(gan_work *w, const fsth_train_params *p, int n, bool perceptual, float weight, float *loss) {
    const size_t P = IDENTITY_LOSS_SIZE * IDENTITY_LOSS_SIZE, plane = (size_t)w->S * w->S;
    float *buf = mem_alloc(3 * (size_t)n * P * 3 + 3 * P, sizeof(float));
    if (!buf) return vv_fail(VV_ERR_NO_MEMORY, "identity loss: no memory for %d images", n);
    float *fake = buf, *real = fake + (size_t)n * P * 3, *dfake = real + (size_t)n * P * 3, *tmp = dfake + (size_t)n * P * 3;
    to_faceres(fake, w->fake, 3 * plane, n, w->S, tmp);
    to_faceres(real, w->xy2, 6 * plane, n, w->S, tmp);
    vv_status status = perceptual ? perceptual_loss_forward_backward((const tfjs_model *)p->faceres, fake, real, n, loss, dfake)
                                  : identity_loss_forward_backward((const tfjs_model *)p->faceres, fake, real, n,
                                                                   IDENTITY_LOSS_L1, loss, dfake);
    for (int i = 0; i < n && status == VV_OK; i++) {
        for (size_t q = 0; q < P; q++) /* NHWC -> planar, times d(x+1)*127.5/dx */
            for (int c = 0; c < 3; c++) tmp[c * P + q] = dfake[((size_t)i * P + q) * 3 + c] * 127.5f * weight;
        upsample_bilinear_backward(w->dfake + (size_t)i * 3 * plane, tmp, 1, 3, w->S, w->S,
                                   IDENTITY_LOSS_SIZE, IDENTITY_LOSS_SIZE);
    }
    free(buf);
    return status;
}

/* G side for n samples: the caller has filled xy2[0..n) (real frame + landmark image) and
 * proj2[0..n).  Runs G, D on real and fake, the losses, and the backward into G's
 * parameter gradients and dpsi (zeroed here). */
static vv_status gan_generator_side(gan_work *w, fsth_model *m, const fsth_train_params *p,
                                    const float *g_in, const float *regions, const float *psi, float *dpsi,
                                    int n, fsth_losses *losses) {
    size_t plane = (size_t)w->S * w->S, xy_n = 6 * plane;
    float *fake_xy = w->xy2 + (size_t)n * xy_n;
    vv_status status = fsth_generator_forward(&m->G, w->fake, g_in, psi, n);
    if (status != VV_OK) return status;
    for (int i = 0; i < n; i++) {
        memcpy(fake_xy + i * xy_n, w->fake + i * 3 * plane, 3 * plane * sizeof(float));
        memcpy(fake_xy + i * xy_n + 3 * plane, w->xy2 + i * xy_n + 3 * plane, 3 * plane * sizeof(float));
    }
    /* The adversarial and feature-matching terms through D (fine-tuning without them
     * skips D: the real frame's gradient is the content terms' alone). */
    if (p->w_adv > 0.0f || p->w_fm > 0.0f) {
        /* Real features (constants of the feature-matching loss). */
        if ((status = fsth_discriminator_forward(&m->D, w->r, w->xy2, w->proj2, n)) != VV_OK) return status;
        for (int i = 0; i < w->features; i++) {
            size_t count;
            const float *f = fsth_discriminator_feature(&m->D, i, n, &count);
            memcpy(w->feat_real[i], f, count * sizeof(float));
        }
        if ((status = fsth_discriminator_forward(&m->D, w->r + n, fake_xy, w->proj2, n)) != VV_OK) return status;
        const float *fake_feat[FSTH_MAX_BLOCKS];
        for (int i = 0; i < w->features; i++) {
            size_t count;
            fake_feat[i] = fsth_discriminator_feature(&m->D, i, n, &count);
            memset(w->dfeat[i], 0, count * sizeof(float));
        }
        losses->fm = feature_matching_loss_forward((const float *const *)w->feat_real, fake_feat,
                                                   w->feat_size, w->features);
        feature_matching_loss_backward(w->dfeat, (const float *const *)w->feat_real, fake_feat,
                                       w->feat_size, w->features, p->w_fm);
        losses->adv = hinge_g_loss_forward(w->r + n, (size_t)n);
        losses->r_fake = -losses->adv;
        memset(w->dr, 0, (size_t)n * sizeof(float));
        hinge_g_loss_backward(w->dr, (size_t)n, p->w_adv);
        memset(w->dxy, 0, (size_t)n * xy_n * sizeof(float));
        status = fsth_discriminator_backward(&m->D, w->dxy, NULL, w->dr, w->dfeat, fake_xy, w->proj2, n, false);
        if (status != VV_OK) return status;
    } else {
        losses->fm = losses->adv = losses->r_fake = 0.0f;
        memset(w->dxy, 0, (size_t)n * xy_n * sizeof(float));
    }
    /* Pixel L1 against the real frame; a hybrid's gradient weighted up where its warp
     * invented pixels (+ w_invented (1 - validity), validity = G's input channel 6), so
     * training aims at what the warp gets wrong, and on the target's eyes and mouth
     * (+ w_regions).  The logged value stays the plain L1. */
    double sum = 0.0;
    float scale = p->w_pixel / (float)((size_t)n * 3 * plane);
    bool weighted = m->config.hybrid && p->w_invented > 0.0f, by_region = regions && p->w_regions > 0.0f;
    int inc = fsth_generator_in_channels(&m->config);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < 3 * plane; j++) {
            float d = w->fake[i * 3 * plane + j] - w->xy2[i * xy_n + j], g = 1.0f;
            if (weighted) g += p->w_invented * (1.0f - g_in[((size_t)i * inc + 6) * plane + j % plane]);
            if (by_region) g += p->w_regions * regions[(size_t)i * plane + j % plane];
            g *= scale;
            sum += fabsf(d);
            w->dfake[i * 3 * plane + j] = w->dxy[i * xy_n + j] + (d > 0 ? g : d < 0 ? -g : 0.0f);
        }
    losses->pixel = (float)(sum / ((double)n * 3 * plane));
    if (p->faceres && p->w_identity > 0.0f) {
        vv_status s = content_term(w, p, n, false, p->w_identity, &losses->identity);
        if (s != VV_OK) return s;
    }
    if (p->faceres && p->w_perceptual > 0.0f) {
        vv_status s = content_term(w, p, n, true, p->w_perceptual, &losses->perceptual);
        if (s != VV_OK) return s;
    }
    memset(dpsi, 0, (size_t)n * m->G.psi_dim * sizeof(float));
    return fsth_generator_backward(&m->G, dpsi, w->dfake, g_in, psi, n, true);
}

/* D side: hinge on xy2 [real n; fake n] with proj2 [n] repeated; D's parameter gradients
 * and dproj2 [2n, emb] (zeroed here). */
static vv_status gan_discriminator_side(gan_work *w, fsth_model *m, int n, fsth_losses *losses) {
    int emb = fsth_embedding_dim(&m->config);
    memcpy(w->proj2 + (size_t)n * emb, w->proj2, (size_t)n * emb * sizeof(float));
    vv_status status = fsth_discriminator_forward(&m->D, w->r, w->xy2, w->proj2, 2 * n);
    if (status != VV_OK) return status;
    losses->d_total = hinge_d_loss_forward(w->r, (size_t)n, w->r + n, (size_t)n);
    double real = 0.0;
    for (int i = 0; i < n; i++) real += w->r[i];
    losses->r_real = (float)(real / n);
    memset(w->dr, 0, 2 * (size_t)n * sizeof(float));
    hinge_d_loss_backward(w->dr, w->dr + n, w->r, (size_t)n, w->r + n, (size_t)n, 1.0f);
    memset(w->dproj2, 0, 2 * (size_t)n * emb * sizeof(float));
    return fsth_discriminator_backward(&m->D, NULL, w->dproj2, w->dr, NULL, w->xy2, w->proj2, 2 * n, true);
}

static adam_config adam_for(float beta1, float beta2) {
    adam_config c = adam_config_default();
    c.beta1 = beta1, c.beta2 = beta2;
    return c;
}

/* ---- Meta-learning ---- */

struct fsth_trainer {
    fsth_model *m;
    fsth_train_params p;
    fsth_batch batch;
    gan_work gan;
    uint64_t rng;
    long step;
    double comm_seconds; /* the last step's all-reduce time */
    float *rows;         /* data-parallel: [global B, emb] table rows packed for the all-reduce */
    float *e, *de, *e_hat, *de_hat, *psi, *dpsi;
    float *buffer;
};

vv_status fsth_trainer_new(fsth_trainer **out, fsth_model *m, const fsth_train_params *params) {
    *out = NULL;
    if (params->k < 1 || params->k > DATASET_MAX_SHOTS || params->batch < 1 || params->batch > 64)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "trainer: k %d (1..%d) or batch %d (1..64) out of range",
                       params->k, DATASET_MAX_SHOTS, params->batch);
    const train_parallel *par = &params->parallel;
    int ranks = train_parallel_ranks(par), first = 0, B = params->batch;
    if (ranks > 1 && (par->rank < 0 || par->rank >= ranks || !par->allreduce_sum))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "trainer: rank %d of %d ranks (or no all-reduce)", par->rank, ranks);
    if (ranks > params->batch)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "trainer: %d ranks share a batch of %d episodes; --batch must be at least the ranks",
                       ranks, params->batch);
    train_parallel_slice(params->batch, ranks > 1 ? par->rank : 0, ranks, &first, &B); /* this rank's rows */
    fsth_trainer *t = mem_calloc(1, sizeof *t);
    if (!t) return vv_fail(VV_ERR_NO_MEMORY, "trainer: no memory");
    t->m = m, t->p = *params;
    t->rng = params->seed * 0x9e3779b97f4a7c15ull + 0x1234567ull;
    int K = params->k, S = m->config.size, emb = fsth_embedding_dim(&m->config);
    int inc = fsth_generator_in_channels(&m->config);
    size_t plane = (size_t)S * S;
    size_t sizes[10] = {(size_t)B * K * 6 * plane, (size_t)B * 6 * plane, (size_t)B * inc * plane,
                        (size_t)B * K * emb, (size_t)B * K * emb, (size_t)B * emb, (size_t)B * emb,
                        (size_t)B * m->G.psi_dim, (size_t)B * m->G.psi_dim,
                        params->w_regions > 0.0f ? (size_t)B * plane : 0};
    size_t total = 0;
    for (int i = 0; i < 10; i++) total += sizes[i];
    t->buffer = mem_calloc(total, sizeof(float));
    t->batch.videos = mem_calloc((size_t)B, sizeof(int));
    vv_status status = t->buffer && t->batch.videos ? gan_work_init(&t->gan, m, B)
                                                    : vv_fail(VV_ERR_NO_MEMORY, "trainer: no memory for %zu floats", total);
    if (status != VV_OK) {
        fsth_trainer_free(t);
        return status;
    }
    float *p = t->buffer;
    float **slots[10] = {&t->batch.shots, &t->batch.target, &t->batch.g_in, &t->e, &t->de,
                         &t->e_hat, &t->de_hat, &t->psi, &t->dpsi, &t->batch.regions};
    for (int i = 0; i < 10; i++) *slots[i] = sizes[i] ? p : NULL, p += sizes[i];
    t->batch.B = B, t->batch.K = K, t->batch.S = S, t->batch.in_channels = inc;
    t->batch.first = first, t->batch.global = params->batch;
    if (ranks > 1 && !(t->rows = mem_alloc((size_t)params->batch * (emb + 1), sizeof(float)))) {
        fsth_trainer_free(t);
        return vv_fail(VV_ERR_NO_MEMORY, "trainer: no memory");
    }
    *out = t;
    return VV_OK;
}

void fsth_trainer_free(fsth_trainer *t) {
    if (!t) return;
    gan_work_free(&t->gan);
    free(t->rows);
    free(t->batch.videos);
    free(t->buffer);
    free(t);
}

long fsth_trainer_step(const fsth_trainer *t) { return t->step; }

double fsth_trainer_comm_seconds(const fsth_trainer *t) { return t->comm_seconds; }

vv_status fsth_trainer_ranks_agree(const fsth_trainer *t, bool *same) {
    const param_store *stores[3] = {&t->m->E.ps, &t->m->G.ps, &t->m->D.ps};
    *same = true;
    for (int i = 0; i < 3 && *same; i++) {
        /* parameters, then Adam's moments (the regions after the gradients) */
        vv_status s = train_parallel_agree(&t->p.parallel, stores[i]->data, stores[i]->total, same);
        if (s == VV_OK && *same) s = train_parallel_agree(&t->p.parallel, stores[i]->adam_m, 2 * stores[i]->total, same);
        if (s != VV_OK) return s;
    }
    return VV_OK;
}

/* Data-parallel: a store's gradients summed over the ranks, each rank's weighted by its
 * share n_r / B of the global batch (every loss is a mean over the samples it sees). */
static vv_status sum_gradients(fsth_trainer *t, param_store *ps) {
    return train_parallel_sum(&t->p.parallel, ps->grad, ps->total, (float)t->batch.B / (float)t->p.batch, &t->comm_seconds);
}

/* D's the same way, but of its table W [videos, emb] only the rows of this step's videos
 * (the only ones with a gradient): at VoxCeleb2's 145,000 videos and width 64 the table is
 * 74 M floats, more than the rest of the model.  The ranks first learn the global batch's
 * videos (each puts its own in its slots of a zeroed list: the sum is the list). */
static vv_status sum_discriminator_gradients(fsth_trainer *t) {
    const train_parallel *par = &t->p.parallel;
    if (train_parallel_ranks(par) == 1) return VV_OK;
    param_store *ps = &t->m->D.ps;
    const param_entry *table = &ps->entries[t->m->D.table];
    int G = t->p.batch, emb = fsth_embedding_dim(&t->m->config);
    float share = (float)t->batch.B / (float)G, *ids = t->rows + (size_t)G * emb;
    memset(ids, 0, (size_t)G * sizeof(float));
    for (int b = 0; b < t->batch.B; b++) ids[t->batch.first + b] = (float)t->batch.videos[b]; /* < 2^24: exact */
    vv_status s = train_parallel_sum(par, ids, (size_t)G, 1.0f, &t->comm_seconds);
    int videos[64], count = 0; /* distinct, in batch order */
    for (int b = 0; b < G && s == VV_OK; b++) {
        int v = (int)ids[b], seen = 0;
        for (int i = 0; i < count; i++) seen |= videos[i] == v;
        if (v < 0 || v >= t->m->config.videos) s = vv_fail(VV_ERR_INTERNAL, "data-parallel: video %d from another rank", v);
        else if (!seen) videos[count++] = v;
    }
    float *grad = ps->grad + table->offset;
    for (int i = 0; i < count; i++) memcpy(t->rows + (size_t)i * emb, grad + (size_t)videos[i] * emb, (size_t)emb * sizeof(float));
    if (s == VV_OK) s = train_parallel_sum(par, ps->grad, table->offset, share, &t->comm_seconds);
    size_t after = table->offset + table->size;
    if (s == VV_OK) s = train_parallel_sum(par, ps->grad + after, ps->total - after, share, &t->comm_seconds);
    if (s == VV_OK) s = train_parallel_sum(par, t->rows, (size_t)count * emb, share, &t->comm_seconds);
    for (int i = 0; i < count && s == VV_OK; i++) memcpy(grad + (size_t)videos[i] * emb, t->rows + (size_t)i * emb, (size_t)emb * sizeof(float));
    return s;
}

void fsth_trainer_last_sample(const fsth_trainer *t, const float **target, const float **landmarks,
                              const float **fake) {
    size_t plane = (size_t)t->batch.S * t->batch.S;
    *target = t->batch.target;
    *landmarks = t->batch.target + 3 * plane;
    *fake = t->gan.fake;
}

vv_status fsth_train_step(fsth_trainer *t, fsth_episode_fn source, void *ctx, fsth_losses *losses) {
    fsth_model *m = t->m;
    int B = t->batch.B, K = t->batch.K, emb = fsth_embedding_dim(&m->config);
    size_t plane = (size_t)t->batch.S * t->batch.S;
    memset(losses, 0, sizeof *losses);
    t->comm_seconds = 0.0;
    vv_status status = source(ctx, &t->rng, &t->batch);
    for (int i = 0; i < B && status == VV_OK; i++)
        if (t->batch.videos[i] < 0 || t->batch.videos[i] >= m->config.videos)
            status = vv_fail(VV_ERR_INVALID_ARGUMENT, "episode video %d outside the model's %d", t->batch.videos[i], m->config.videos);
    if (status == VV_OK) status = fsth_embedder_prepare(&m->E, true);
    if (status == VV_OK) status = fsth_generator_prepare(&m->G, true);
    bool adversarial = t->p.w_adv > 0.0f || t->p.w_fm > 0.0f; /* else D is not run */
    if (status == VV_OK && adversarial) status = fsth_discriminator_prepare(&m->D, true);
    if (status != VV_OK) return status;
    param_store_zero_grad(&m->E.ps);
    param_store_zero_grad(&m->G.ps);
    param_store_zero_grad(&m->D.ps);
    /* e_hat = mean over each episode's K shots; psi = P e_hat. */
    if ((status = fsth_embedder_forward(&m->E, t->e, t->batch.shots, B * K)) != VV_OK) return status;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < emb; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) s += t->e[((size_t)b * K + k) * emb + j];
            t->e_hat[(size_t)b * emb + j] = (float)(s / K);
        }
    fsth_generator_project(&m->G, t->psi, t->e_hat, B);
    memcpy(t->gan.xy2, t->batch.target, (size_t)B * 6 * plane * sizeof(float));
    fsth_discriminator_projection(&m->D, t->gan.proj2, t->batch.videos, B);
    status = gan_generator_side(&t->gan, m, &t->p, t->batch.g_in, t->batch.regions, t->psi, t->dpsi, B, losses);
    if (status != VV_OK) return status;
    memset(t->de_hat, 0, (size_t)B * emb * sizeof(float));
    fsth_generator_project_backward(&m->G, t->de_hat, t->dpsi, t->e_hat, B);
    /* L_MCH = mean |e_hat - W_i|: pulls e_hat (E side) and W_i (D side) together. */
    param_store_zero_grad(&m->D.ps);
    const float *table = param_data(&m->D.ps, m->D.table);
    float *dtable = param_grad(&m->D.ps, m->D.table), g = t->p.w_mch / (float)(B * emb);
    double mch = 0.0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < emb; j++) {
            size_t wi = (size_t)t->batch.videos[b] * emb + j;
            float d = t->e_hat[(size_t)b * emb + j] - table[wi];
            mch += fabsf(d);
            float s = d > 0 ? g : d < 0 ? -g : 0.0f;
            t->de_hat[(size_t)b * emb + j] += s;
            dtable[wi] -= s;
        }
    losses->mch = (float)(mch / (B * emb));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < emb; j++)
                t->de[((size_t)b * K + k) * emb + j] = t->de_hat[(size_t)b * emb + j] / K;
    if ((status = fsth_embedder_backward(&m->E, t->de, t->batch.shots, B * K)) != VV_OK) return status;
    if ((status = sum_gradients(t, &m->E.ps)) != VV_OK || (status = sum_gradients(t, &m->G.ps)) != VV_OK) return status;
    adam_config cfg = adam_for(t->p.beta1, t->p.beta2);
    param_store_adam_step(&m->E.ps, &cfg, t->p.lr_g);
    param_store_adam_step(&m->G.ps, &cfg, t->p.lr_g);
    /* D step on the real target and the detached fake; without the adversarial and
     * feature-matching terms D is not run (its step then moves only W_i, by L_MCH). */
    if (adversarial && (status = gan_discriminator_side(&t->gan, m, B, losses)) != VV_OK) return status;
    float *dw0 = param_grad(&m->D.ps, m->D.w0);
    for (int n = 0; n < (adversarial ? 2 * B : 0); n++) {
        int video = t->batch.videos[n % B];
        for (int j = 0; j < emb; j++) {
            float d = t->gan.dproj2[(size_t)n * emb + j];
            dtable[(size_t)video * emb + j] += d;
            dw0[j] += d;
        }
    }
    if ((status = sum_discriminator_gradients(t)) != VV_OK) return status;
    param_store_adam_step(&m->D.ps, &cfg, t->p.lr_d);
    if (train_parallel_ranks(&t->p.parallel) > 1) { /* the global batch's means, as one process logs them */
        float *fields[9] = {&losses->pixel, &losses->identity, &losses->perceptual, &losses->adv, &losses->fm,
                            &losses->mch, &losses->d_total, &losses->r_real, &losses->r_fake};
        float sum[9];
        for (int i = 0; i < 9; i++) sum[i] = *fields[i];
        if ((status = train_parallel_sum(&t->p.parallel, sum, 9, (float)B / (float)t->p.batch, &t->comm_seconds)) != VV_OK)
            return status;
        for (int i = 0; i < 9; i++) *fields[i] = sum[i];
    }
    losses->g_total = t->p.w_pixel * losses->pixel + t->p.w_identity * losses->identity +
                      t->p.w_perceptual * losses->perceptual + t->p.w_adv * losses->adv +
                      t->p.w_fm * losses->fm + t->p.w_mch * losses->mch;
    t->step++;
    if (!isfinite(losses->g_total) || !isfinite(losses->d_total))
        return vv_fail(VV_ERR_INTERNAL, "training diverged at step %ld (loss G %g, D %g)", t->step,
                       (double)losses->g_total, (double)losses->d_total);
    return VV_OK;
}

/* ---- FLOPs ---- */

static double conv_flops(const sn_conv *c, int H, int W) {
    return 2.0 * c->out_channels * c->in_channels * c->kernel * c->kernel * H * W;
}

static double blocks_flops(const fsth_block *blocks, int count) {
    double f = 0.0;
    for (int i = 0; i < count; i++) {
        const fsth_block *b = &blocks[i];
        f += conv_flops(&b->conv1, b->conv_H, b->conv_W) + conv_flops(&b->conv2, b->conv_H, b->conv_W);
        if (b->has_skip) f += conv_flops(&b->skip, b->out_H, b->out_W);
    }
    return f;
}

static double attention_flops(const fsth_attention *a) {
    double P = (double)a->H * a->W;
    return 2.0 * P * (2.0 * a->CQ * a->C + (double)a->C * a->C) + 2.0 * P * P * (a->CQ + a->C);
}

double fsth_generator_flops(const fsth_generator *g) {
    double f = blocks_flops(g->blocks, g->block_count) + conv_flops(&g->head, g->config.size, g->config.size);
    if (g->attention_after >= 0) f += attention_flops(&g->attention);
    return f;
}

double fsth_train_step_flops(const fsth_trainer *t) {
    const fsth_model *m = t->m;
    double e = blocks_flops(m->E.blocks, m->E.block_count);
    double d = blocks_flops(m->D.blocks, m->D.block_count);
    if (m->D.attention_after >= 0) d += attention_flops(&m->D.attention);
    double g = fsth_generator_flops(&m->G);
    int B = t->p.batch, K = t->batch.K; /* the global batch: all ranks together */
    /* forward + backward (~2x forward); D: 2 forwards and an input-only backward on the G
     * side, a 2B-sample forward + backward on the D side. */
    return 3.0 * B * K * e + 3.0 * B * g + 9.0 * B * d;
}

/* ---- Training state ---- */

/* The episode modes a state records, by the names `vivify train --episodes` takes. */
static const char *episode_mode_name(int mode) {
    return mode == DATASET_EPISODE_PERSON ? "person" : mode == DATASET_EPISODE_IDENTITY ? "identity" : "clip";
}

static int episode_mode_from_name(const char *name) {
    return !strcmp(name, "clip") ? DATASET_EPISODE_CLIP
           : !strcmp(name, "person") ? DATASET_EPISODE_PERSON
           : !strcmp(name, "identity") ? DATASET_EPISODE_IDENTITY : -1;
}

/* The options besides the mode a state records, one text for writing and reading (FLOAT:
 * each float's conversion; written %.9g, so that a float read back is the same float). */
#define STATE_PARAMS_FORMAT(FLOAT)                                                                              \
    "k %d batch %d seed %llu lr_g " FLOAT " lr_d " FLOAT " identity " FLOAT " perceptual " FLOAT " adversarial " \
    FLOAT " feature_matching " FLOAT " invented " FLOAT " regions " FLOAT

vv_status fsth_trainer_save_state(const fsth_trainer *t, const char *path) {
    const param_store *stores[3] = {&t->m->E.ps, &t->m->G.ps, &t->m->D.ps};
    const char *names[3] = {"E", "G", "D"};
    safetensors_entry entries[6];
    int64_t shapes[6];
    char entry_names[6][16];
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < 2; j++) {
            int k = s * 2 + j;
            snprintf(entry_names[k], sizeof entry_names[k], "%s.adam_%s", names[s], j ? "v" : "m");
            shapes[k] = (int64_t)stores[s]->total;
            entries[k] = (safetensors_entry){entry_names[k], SAFETENSORS_F32, 1, &shapes[k],
                                             j ? stores[s]->adam_v : stores[s]->adam_m};
        }
    char rng[32], step[32], steps[96], config[512], params[512];
    const fsth_train_params *p = &t->p;
    snprintf(params, sizeof params, STATE_PARAMS_FORMAT("%.9g"), p->k, p->batch, (unsigned long long)p->seed, p->lr_g,
             p->lr_d, p->w_identity, p->w_perceptual, p->w_adv, p->w_fm, p->w_invented, p->w_regions);
    const char *episodes = episode_mode_name(t->p.episodes < 0 ? DATASET_EPISODE_CLIP : t->p.episodes);
    snprintf(rng, sizeof rng, "%llu", (unsigned long long)t->rng);
    snprintf(step, sizeof step, "%ld", t->step);
    snprintf(steps, sizeof steps, "%ld %ld %ld", stores[0]->step, stores[1]->step, stores[2]->step);
    vv_status status = fsth_config_to_json(&t->m->config, config, sizeof config);
    const char *keys[7] = {"format", "rng", "step", "adam_steps", "config", "episodes", "params"};
    const char *values[7] = {FSTH_FORMAT "-train-state", rng, step, steps, config, episodes, params};
    if (status == VV_OK) status = safetensors_write(path, entries, 6, keys, values, 7);
    return status;
}

int fsth_trainer_episodes(const fsth_trainer *t) { return t->p.episodes < 0 ? DATASET_EPISODE_CLIP : t->p.episodes; }

vv_status fsth_trainer_load_state(fsth_trainer *t, const char *path) {
    safetensors_file f;
    vv_status status = safetensors_open(&f, path, 0);
    if (status != VV_OK) return status;
    const char *format = safetensors_metadata(&f, "format"), *rng = safetensors_metadata(&f, "rng");
    const char *step = safetensors_metadata(&f, "step"), *steps = safetensors_metadata(&f, "adam_steps");
    const char *config = safetensors_metadata(&f, "config"), *episodes = safetensors_metadata(&f, "episodes");
    int mode = episodes ? episode_mode_from_name(episodes) : DATASET_EPISODE_CLIP; /* older states: clip */
    char own[512];
    fsth_config_to_json(&t->m->config, own, sizeof own);
    unsigned long long rng_value = 0;
    long step_value = 0, s0 = 0, s1 = 0, s2 = 0;
    if (!format || strcmp(format, FSTH_FORMAT "-train-state") || !rng || !step || !steps || !config)
        status = vv_fail(VV_ERR_MODEL, "%s: not a training state file (metadata missing)", path);
    else if (strcmp(config, own))
        status = vv_fail(VV_ERR_MODEL, "%s: state of another model configuration (%s)", path, config);
    else if (sscanf(rng, "%llu", &rng_value) != 1 || sscanf(step, "%ld", &step_value) != 1 ||
             sscanf(steps, "%ld %ld %ld", &s0, &s1, &s2) != 3 || step_value < 0)
        status = vv_fail(VV_ERR_MODEL, "%s: bad rng / step metadata", path);
    else if (mode < 0)
        status = vv_fail(VV_ERR_MODEL, "%s: unknown episode mode '%s'", path, episodes);
    else if (t->p.episodes >= 0 && t->p.episodes != mode)
        status = vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: the run drew its episodes by %s, not by %s (resume it the same way)",
                         path, episode_mode_name(mode), episode_mode_name(t->p.episodes));
    param_store *stores[3] = {&t->m->E.ps, &t->m->G.ps, &t->m->D.ps};
    const char *names[3] = {"E", "G", "D"};
    if (status == VV_OK && f.count != 6)
        status = vv_fail(VV_ERR_MODEL, "%s: %d tensors, a state file has 6", path, f.count);
    for (int s = 0; s < 3 && status == VV_OK; s++)
        for (int j = 0; j < 2 && status == VV_OK; j++) {
            char name[16];
            snprintf(name, sizeof name, "%s.adam_%s", names[s], j ? "v" : "m");
            const safetensors_tensor *entry = safetensors_find(&f, name);
            if (!entry || entry->ndim != 1 || entry->shape[0] != (int64_t)stores[s]->total)
                status = vv_fail(VV_ERR_MODEL, "%s: tensor '%s' missing or of another shape", path, name);
            else
                status = safetensors_read_f32(&f, name, j ? stores[s]->adam_v : stores[s]->adam_m, stores[s]->total);
        }
    safetensors_close(&f);
    if (status != VV_OK) return status;
    t->rng = rng_value, t->step = step_value, t->p.episodes = mode;
    stores[0]->step = s0, stores[1]->step = s1, stores[2]->step = s2;
    return VV_OK;
}

/* What `vivify train` accepts for the recorded options (a state file is input like any other). */
static bool state_params_sane(const fsth_train_params *p) {
    const float rates[2] = {p->lr_g, p->lr_d};
    const float weights[6] = {p->w_identity, p->w_perceptual, p->w_adv, p->w_fm, p->w_invented, p->w_regions};
    bool sane = p->k >= 1 && p->k <= DATASET_MAX_SHOTS && p->batch >= 1 && p->batch <= 64;
    for (int i = 0; i < 2; i++) sane = sane && rates[i] >= 1e-8f && rates[i] <= 1.0f;
    for (int i = 0; i < 6; i++) sane = sane && weights[i] >= 0.0f && weights[i] <= 1000.0f;
    return sane;
}

vv_status fsth_train_state_params(const char *path, fsth_train_params *p, bool *recorded) {
    *recorded = false;
    safetensors_file f;
    vv_status status = safetensors_open(&f, path, 0);
    if (status != VV_OK) return status;
    const char *text = safetensors_metadata(&f, "params");
    fsth_train_params read = *p;
    unsigned long long seed = 0;
    if (text && sscanf(text, STATE_PARAMS_FORMAT("%g"), &read.k, &read.batch, &seed, &read.lr_g, &read.lr_d,
                       &read.w_identity, &read.w_perceptual, &read.w_adv, &read.w_fm, &read.w_invented,
                       &read.w_regions) != 11)
        status = vv_fail(VV_ERR_MODEL, "%s: unreadable 'params' metadata", path);
    else if (text && !state_params_sane(&read))
        status = vv_fail(VV_ERR_MODEL, "%s: 'params' metadata out of range (%s)", path, text);
    else if (text) {
        read.seed = seed;
        *p = read, *recorded = true;
    }
    safetensors_close(&f);
    return status;
}

/* ---- The .vds episode source ---- */

static vv_status read_resized(const dataset *ds, dataset_frame_ref ref, int S, float *frame,
                              float points[68][2]) {
    vv_image img = {0};
    vv_status status = dataset_read_frame(ds, ref.clip, ref.frame, &img, points);
    if (status != VV_OK) return status;
    if (img.width != S || img.height != S) {
        float scale = (float)S / (float)img.width;
        status = image_resize(&img, &img, S, S);
        for (int i = 0; i < 68; i++)
            for (int c = 0; c < 2; c++) points[i][c] = (points[i][c] + 0.5f) * scale - 0.5f;
    }
    if (status == VV_OK) fsth_image_to_tensor(frame, &img);
    image_free(&img);
    return status;
}

void fsth_region_mask(float *out, const float points[68][2], int S) {
    static const int groups[3][2] = {{36, 41}, {42, 47}, {48, 59}};
    memset(out, 0, (size_t)S * S * sizeof(float));
    for (int g = 0; g < 3; g++) {
        float lo[2] = {1e30f, 1e30f}, hi[2] = {-1e30f, -1e30f};
        for (int i = groups[g][0]; i <= groups[g][1]; i++)
            for (int c = 0; c < 2; c++) lo[c] = fminf(lo[c], points[i][c]), hi[c] = fmaxf(hi[c], points[i][c]);
        float cx = 0.5f * (lo[0] + hi[0]), cy = 0.5f * (lo[1] + hi[1]);
        float rx = 0.65f * (hi[0] - lo[0]) + 1.0f, ry = fmaxf(0.75f * (hi[1] - lo[1]), 0.3f * (hi[0] - lo[0])) + 1.0f;
        int x0 = (int)fmaxf(floorf(cx - rx), 0.0f), x1 = (int)fminf(ceilf(cx + rx), (float)S - 1.0f);
        int y0 = (int)fmaxf(floorf(cy - ry), 0.0f), y1 = (int)fminf(ceilf(cy + ry), (float)S - 1.0f);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                float dx = ((float)x - cx) / rx, dy = ((float)y - cy) / ry;
                if (dx * dx + dy * dy <= 1.0f) out[(size_t)y * S + x] = 1.0f;
            }
    }
}

vv_status fsth_dataset_episode(void *ctx, uint64_t *rng, fsth_batch *batch) {
    fsth_dataset_source *src = ctx;
    size_t plane = (size_t)batch->S * batch->S;
    dataset_rng r = {*rng};
    float shot0_points[68][2], points[68][2];
    vv_status status = VV_OK;
    int global = batch->global > 0 ? batch->global : batch->B;
    for (int e = 0; e < global && status == VV_OK; e++) {
        dataset_episode ep;
        status = dataset_sample_episode(src->ds, &r, batch->K, src->episodes, &ep);
        int b = e - batch->first; /* this rank's row; the others' episodes only advance the state */
        if (status != VV_OK || b < 0 || b >= batch->B) continue;
        batch->videos[b] = ep.clip;
        for (int k = 0; k < batch->K && status == VV_OK; k++) {
            float *xy = batch->shots + ((size_t)b * batch->K + k) * 6 * plane;
            status = read_resized(src->ds, ep.shots[k], batch->S, xy, points);
            if (status == VV_OK) status = fsth_landmark_tensor(xy + 3 * plane, (const float (*)[2])points, batch->S);
            if (k == 0) memcpy(shot0_points, points, sizeof points);
        }
        float *xy = batch->target + (size_t)b * 6 * plane;
        if (status == VV_OK) status = read_resized(src->ds, ep.target, batch->S, xy, points);
        if (status == VV_OK) status = fsth_landmark_tensor(xy + 3 * plane, (const float (*)[2])points, batch->S);
        if (status == VV_OK && batch->regions) fsth_region_mask(batch->regions + (size_t)b * plane, (const float (*)[2])points, batch->S);
        float *g_in = batch->g_in + (size_t)b * batch->in_channels * plane;
        if (status == VV_OK) memcpy(g_in, xy + 3 * plane, 3 * plane * sizeof(float));
        bool warped = false;
        if (status == VV_OK && src->hybrid && src->mesh) { /* the 3D head, at the dataset's resolution */
            vv_image shot = {0}, target = {0};
            float shot_points[68][2], target_points[68][2];
            status = dataset_read_frame(src->ds, ep.shots[0].clip, ep.shots[0].frame, &shot, shot_points);
            if (status == VV_OK) status = dataset_read_frame(src->ds, ep.target.clip, ep.target.frame, &target, target_points);
            /* Half the targets (even frames) take the mouth interior from the target frame,
             * as a driving video gives it; the others get the synthesised one of the
             * built-in motions, so G learns to keep the first and paint over the second. */
            bool driver_mouth = ep.target.frame % 2 == 0;
            vv_status w = status == VV_OK ? hybrid_warp3d_inputs(src->mesh, &shot, (const float (*)[2])shot_points,
                                                                 (const float (*)[2])target_points,
                                                                 driver_mouth ? &target : NULL, batch->S,
                                                                 g_in + 3 * plane, g_in + 6 * plane)
                                          : status;
            if (w == VV_OK) warped = true;
            else if (w == VV_ERR_NO_FACE) src->warp3d_fallbacks++;
            else status = w;
            image_free(&shot);
            image_free(&target);
        }
        if (status == VV_OK && src->hybrid && !warped)
            status = fsth_warp_inputs(g_in + 3 * plane, g_in + 6 * plane,
                                      batch->shots + (size_t)b * batch->K * 6 * plane,
                                      (const float (*)[2])shot0_points, (const float (*)[2])points, batch->S);
    }
    *rng = r.state;
    return status;
}

/* ---- Fine-tuning ---- */

/* lr 5e-4 for G (ten times meta-learning's) and no adversarial or feature-matching term:
 * on held-out clips this keeps the person best within a few minutes of CPU (docs/MODEL.md,
 * "Fine-tuning": 5e-5 with D gave CSIM 0.39 on lp_d3, 5e-4 0.67, 5e-4 without D 0.72).
 * Moved shots (augment: zoom 0.8-1.2x, +-10 degrees, +-12 px at 128) are off by default:
 * with every sample moved and 160 steps, lp_src_s20 (a driver that zooms out) rose from
 * CSIM 0.56 to 0.69 but sty_src_KristiNoem lost SSIM 0.07 and looks worse by eye (the
 * landmark drawing's colours show through); docs/MODEL.md, "Moved shots". */
fsth_finetune_params fsth_finetune_default_params(int k) {
    int batch = k < 4 ? k : 4;
    if (batch < 1) batch = 1;
    return (fsth_finetune_params){.steps = (40 * k + batch - 1) / batch, .batch = batch,
                                  .lr_g = 5e-4f, .lr_d = 2e-4f, .augment = 0.0f, .augment_min_scale = 0.8f,
                                  .augment_max_scale = 1.2f, .augment_rotate = 10.0f, .augment_shift = 12.0f, .seed = 1};
}

static float finetune_uniform(uint64_t *rng) {
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*rng >> 40) & 0xffffff) / 16777216.0f;
}

void fsth_finetune_augment(float *out, float out_points[68][2], const float *frame, const float points[68][2], int S,
                           float scale, float angle_degrees, float shift_x, float shift_y) {
    float c = 0.5f * (float)S, angle = angle_degrees * 3.14159265f / 180.0f;
    float ca = cosf(angle) * scale, sa = sinf(angle) * scale, inv = 1.0f / (scale * scale);
    /* p' = c + A (p - c) + t (A: rotation times scale); sampling inverts it per pixel centre. */
    for (int i = 0; i < 68; i++) {
        float x = points[i][0] - c, y = points[i][1] - c;
        out_points[i][0] = c + ca * x - sa * y + shift_x;
        out_points[i][1] = c + sa * x + ca * y + shift_y;
    }
    size_t plane = (size_t)S * S;
    for (int v = 0; v < S; v++)
        for (int u = 0; u < S; u++) {
            float dx = (float)u + 0.5f - c - shift_x, dy = (float)v + 0.5f - c - shift_y;
            float x = c + (ca * dx + sa * dy) * inv - 0.5f, y = c + (-sa * dx + ca * dy) * inv - 0.5f;
            x = x < 0.0f ? 0.0f : x > (float)(S - 1) ? (float)(S - 1) : x;
            y = y < 0.0f ? 0.0f : y > (float)(S - 1) ? (float)(S - 1) : y;
            int x0 = (int)x, y0 = (int)y, x1 = x0 + 1 < S ? x0 + 1 : x0, y1 = y0 + 1 < S ? y0 + 1 : y0;
            float fx = x - (float)x0, fy = y - (float)y0;
            for (int ch = 0; ch < 3; ch++) {
                const float *p = frame + ch * plane;
                float top = p[(size_t)y0 * S + x0] * (1.0f - fx) + p[(size_t)y0 * S + x1] * fx;
                float bottom = p[(size_t)y1 * S + x0] * (1.0f - fx) + p[(size_t)y1 * S + x1] * fx;
                out[ch * plane + (size_t)v * S + u] = top * (1.0f - fy) + bottom * fy;
            }
        }
}

/* Batch row i moved at random as params ask: the real frame and landmark drawing of xy
 * [6,S,S] and G's landmark input g [3,S,S] (a non-hybrid G's whole input) rewritten. */
static vv_status finetune_augment_row(float *xy, float *g, const float *frame, const float points[68][2], int S,
                                      const fsth_finetune_params *params, uint64_t *rng) {
    float moved[68][2], size_scale = (float)S / 128.0f;
    float low = logf(params->augment_min_scale), high = logf(params->augment_max_scale);
    float scale = expf(low + (high - low) * finetune_uniform(rng));
    float angle = params->augment_rotate * (2.0f * finetune_uniform(rng) - 1.0f);
    float sx = params->augment_shift * size_scale * (2.0f * finetune_uniform(rng) - 1.0f);
    float sy = params->augment_shift * size_scale * (2.0f * finetune_uniform(rng) - 1.0f);
    size_t plane = (size_t)S * S;
    fsth_finetune_augment(xy, moved, frame, points, S, scale, angle, sx, sy);
    vv_status status = fsth_landmark_tensor(xy + 3 * plane, (const float (*)[2])moved, S);
    if (status == VV_OK) memcpy(g, xy + 3 * plane, 3 * plane * sizeof(float));
    return status;
}

vv_status fsth_finetune(fsth_model *m, const float *frames, const float (*points)[68][2], int k,
                        const fsth_finetune_params *params, float *final_loss) {
    if (k < 1 || k > 256 || params->batch < 1 || params->batch > 64 || params->steps < 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_finetune: k %d, batch %d or steps %d out of range",
                       k, params->batch, params->steps);
    int S = m->config.size, emb = fsth_embedding_dim(&m->config), n = params->batch;
    int inc = fsth_generator_in_channels(&m->config), psi_dim = m->G.psi_dim;
    size_t plane = (size_t)S * S;
    /* Per frame: real xy [6], G input [inc]; per batch row: psi, dpsi. */
    float *xy_all = mem_alloc((size_t)k * (6 + inc) * plane + (size_t)n * (2 * psi_dim + 3 * inc * plane), sizeof(float));
    if (!xy_all) return vv_fail(VV_ERR_NO_MEMORY, "fsth_finetune: no memory for %d frames", k);
    float *g_all = xy_all + (size_t)k * 6 * plane;
    float *psi = g_all + (size_t)k * inc * plane, *dpsi = psi + (size_t)n * psi_dim;
    float *g_in = dpsi + (size_t)n * psi_dim;
    vv_status status = VV_OK;
    for (int i = 0; i < k && status == VV_OK; i++) {
        float *xy = xy_all + (size_t)i * 6 * plane, *g = g_all + (size_t)i * inc * plane;
        memcpy(xy, frames + (size_t)i * 3 * plane, 3 * plane * sizeof(float));
        status = fsth_landmark_tensor(xy + 3 * plane, points[i], S);
        if (status == VV_OK) memcpy(g, xy + 3 * plane, 3 * plane * sizeof(float));
        vv_status warped = VV_ERR_NO_FACE; /* the 3D head's warp where the model wants it and it holds the face */
        if (status == VV_OK && m->config.hybrid && m->config.warp3d && params->mesh)
            warped = hybrid_warp3d_crops(params->mesh, frames, points[0], frames + (size_t)i * 3 * plane, points[i], S,
                                         g + 3 * plane, g + 6 * plane);
        if (warped != VV_OK && warped != VV_ERR_NO_FACE) status = warped;
        if (status == VV_OK && m->config.hybrid && warped != VV_OK)
            status = fsth_warp_inputs(g + 3 * plane, g + 6 * plane, frames, points[0], points[i], S);
    }
    /* Feed-forward start: e_new, psi' = P e_new, w' = w_0 + e_new. */
    double e_sum[1024] = {0};
    float e[1024];
    if (emb > 1024) status = vv_fail(VV_ERR_UNSUPPORTED, "fsth_finetune: embedding %d over 1024", emb);
    for (int i = 0; i < k && status == VV_OK; i++) {
        status = fsth_embedder_forward(&m->E, e, xy_all + (size_t)i * 6 * plane, 1);
        for (int j = 0; j < emb && status == VV_OK; j++) e_sum[j] += e[j];
    }
    param_store person_psi, person_w;
    param_store_init(&person_psi);
    param_store_init(&person_w);
    int psi_index = 0, w_index = 0, psi_shape[1] = {psi_dim}, w_shape[1] = {emb};
    if (status == VV_OK) status = param_store_add(&person_psi, "psi", 1, psi_shape, &psi_index);
    if (status == VV_OK) status = param_store_add(&person_w, "w", 1, w_shape, &w_index);
    if (status == VV_OK) status = param_store_alloc(&person_psi);
    if (status == VV_OK) status = param_store_alloc(&person_w);
    gan_work w = {0};
    if (status == VV_OK) status = gan_work_init(&w, m, n);
    if (status == VV_OK) {
        for (int j = 0; j < emb; j++) e[j] = (float)(e_sum[j] / k);
        fsth_generator_project(&m->G, param_data(&person_psi, psi_index), e, 1);
        const float *w0 = param_data(&m->D.ps, m->D.w0);
        for (int j = 0; j < emb; j++) param_data(&person_w, w_index)[j] = w0[j] + e[j];
        memcpy(m->source_image, frames, 3 * plane * sizeof(float));
        memcpy(m->source_landmarks, points[0], sizeof m->source_landmarks);
    }
    adam_config cfg = adam_for(0.0f, 0.999f);
    uint64_t rng = params->seed * 0x9e3779b97f4a7c15ull + 77;
    int *order = mem_alloc((size_t)k, sizeof(int));
    if (!order && status == VV_OK) status = vv_fail(VV_ERR_NO_MEMORY, "fsth_finetune: no memory");
    int cursor = k;
    fsth_losses losses = {0};
    bool adversarial = params->w_adv > 0.0f || params->w_fm > 0.0f; /* else D is left as it is */
    /* Moved copies of the shots (a plain G only: a hybrid's warp input is made for the shots as they are). */
    bool augment = !m->config.hybrid && params->augment > 0.0f && params->augment_min_scale > 0.0f &&
                   params->augment_max_scale >= params->augment_min_scale;
    uint64_t augment_rng = rng ^ 0x5bd1e995ull;
    for (int step = 0; step < params->steps && status == VV_OK; step++) {
        status = fsth_generator_prepare(&m->G, true);
        if (status == VV_OK && adversarial) status = fsth_discriminator_prepare(&m->D, true);
        if (status != VV_OK) break;
        for (int i = 0; i < n; i++) { /* epochs over the K frames in shuffled order */
            if (cursor == k) {
                for (int j = 0; j < k; j++) order[j] = j;
                for (int j = k - 1; j > 0; j--) {
                    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                    int r = (int)((rng >> 33) % (uint64_t)(j + 1)), tmp = order[j];
                    order[j] = order[r], order[r] = tmp;
                }
                cursor = 0;
            }
            int f = order[cursor++];
            memcpy(w.xy2 + (size_t)i * 6 * plane, xy_all + (size_t)f * 6 * plane, 6 * plane * sizeof(float));
            memcpy(g_in + (size_t)i * inc * plane, g_all + (size_t)f * inc * plane, (size_t)inc * plane * sizeof(float));
            if (augment && finetune_uniform(&augment_rng) < params->augment)
                status = finetune_augment_row(w.xy2 + (size_t)i * 6 * plane, g_in + (size_t)i * inc * plane,
                                              xy_all + (size_t)f * 6 * plane, points[f], S, params, &augment_rng);
            memcpy(psi + (size_t)i * psi_dim, param_data(&person_psi, psi_index), (size_t)psi_dim * sizeof(float));
            memcpy(w.proj2 + (size_t)i * emb, param_data(&person_w, w_index), (size_t)emb * sizeof(float));
        }
        param_store_zero_grad(&m->G.ps);
        param_store_zero_grad(&person_psi);
        fsth_train_params p = fsth_train_default_params();
        p.faceres = params->faceres, p.w_identity = params->w_identity, p.w_perceptual = params->w_perceptual;
        p.w_adv = params->w_adv, p.w_fm = params->w_fm;
        if (status == VV_OK) status = gan_generator_side(&w, m, &p, g_in, NULL, psi, dpsi, n, &losses);
        if (status != VV_OK) break;
        float *gpsi = param_grad(&person_psi, psi_index);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < psi_dim; j++) gpsi[j] += dpsi[(size_t)i * psi_dim + j];
        param_store_adam_step(&m->G.ps, &cfg, params->lr_g);
        param_store_adam_step(&person_psi, &cfg, params->lr_g);
        if (adversarial) {
            param_store_zero_grad(&m->D.ps);
            param_store_zero_grad(&person_w);
            if ((status = gan_discriminator_side(&w, m, n, &losses)) != VV_OK) break;
            float *gw = param_grad(&person_w, w_index);
            for (int i = 0; i < 2 * n; i++)
                for (int j = 0; j < emb; j++) gw[j] += w.dproj2[(size_t)i * emb + j];
            param_store_adam_step(&m->D.ps, &cfg, params->lr_d);
            param_store_adam_step(&person_w, &cfg, params->lr_d);
        }
        if (final_loss) *final_loss = losses.pixel;
        if (params->progress && params->progress(params->progress_data, step + 1, params->steps))
            status = vv_fail(VV_ERR_ABORTED, "fine-tuning stopped at step %d", step + 1);
    }
    if (status == VV_OK) {
        memcpy(m->person_psi, param_data(&person_psi, psi_index), (size_t)psi_dim * sizeof(float));
        memcpy(m->person_w, param_data(&person_w, w_index), (size_t)emb * sizeof(float));
        m->has_person = true;
        if (final_loss && params->steps == 0) *final_loss = 0.0f;
        status = fsth_generator_prepare(&m->G, false);
        if (status == VV_OK) status = fsth_discriminator_prepare(&m->D, false);
    }
    free(order);
    gan_work_free(&w);
    param_store_free(&person_psi);
    param_store_free(&person_w);
    free(xy_all);
    return status;
}

vv_status fsth_finetune_images(fsth_model *m, const vv_image *images, const float (*landmarks)[68][2], int k,
                               const fsth_finetune_params *params, float *final_loss) {
    if (k < 1) return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_finetune_images: no shots");
    int S = m->config.size;
    size_t plane = (size_t)S * S;
    float *frames = mem_alloc((size_t)k * 3 * plane, sizeof(float));
    float (*points)[68][2] = mem_alloc((size_t)k, sizeof *points);
    vv_status s = frames && points ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "fine-tuning: no memory for %d shots", k);
    for (int i = 0; i < k && s == VV_OK; i++)
        s = fsth_crop_shot(frames + (size_t)i * 3 * plane, points[i], &images[i], landmarks[i], S);
    if (s == VV_OK) s = fsth_finetune(m, frames, (const float (*)[68][2])points, k, params, final_loss);
    free(frames);
    free(points);
    return s;
}
