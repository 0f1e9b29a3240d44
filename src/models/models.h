/* models: the few-shot talking-head networks (Zakharov et al. 2019, docs/MODEL.md) on the
 * nn core: embedder E(x, y) -> e, generator G(y; psi) with AdaIN parameters psi = P e,
 * projection discriminator D(x, y) -> r = v . (W_i + w_0) + b.
 *
 * Every network is a list of pre-activation residual blocks (fsth_block) over one
 * param_store; all convolutions are spectrally normalised (the normalised weights are
 * computed once per step by *_prepare, one power iteration when training).  Activations
 * are cached inside the networks for the backward pass; caches grow to the largest batch
 * seen, so a model (and fsth_render) serves one thread at a time.  Images are NCHW floats
 * in [-1, 1]. */
#ifndef VV_MODELS_MODELS_H
#define VV_MODELS_MODELS_H

#include "nn/layers.h"
#include "nn/params.h"

#define FSTH_FORMAT "vivify-fsth-1"
#define FSTH_MAX_BLOCKS 16

typedef struct fsth_config {
    int size;              /* image side: 32 (tests), 64, 128 or 256 */
    int width;             /* base channels; the widest layers have 8 * width */
    int bottleneck_blocks; /* AdaIN residual blocks at the generator's bottleneck (4) */
    bool attention;        /* self-attention in G's decoder and in D */
    bool hybrid;           /* G also sees the warped source + validity mask, outputs a blend */
    bool warp3d;           /* hybrid: that warp is the 3D head's (models/hybrid_warp.h), not
                              the 2D mesh warp of the crop (fsth_warp_inputs) */
    bool residual;         /* hybrid: out = warped + tanh(rgb), G paints a correction on top of
                              the warp (the blend channel unused); else the blend */
    bool flow;             /* residual hybrid: G also moves the warp's pixels,
                              out = sample(warped, identity + flow) + tanh(rgb), the
                              displacement flow = flow_pixels * tanh(two more head channels) */
    float flow_pixels;     /* flow: the displacement's bound, in pixels of the size x size crop */
    int videos;            /* rows of D's projection table W (training videos) */
} fsth_config;

/* Paper-like defaults for a side (width 16, 4 bottleneck blocks, no attention). */
fsth_config fsth_config_default(int size);
vv_status fsth_config_check(const fsth_config *c);
int fsth_embedding_dim(const fsth_config *c); /* 8 * width */
/* Channels G's input has: 3 (landmark image), 7 in hybrid (+ warped RGB + validity). */
int fsth_generator_in_channels(const fsth_config *c);
/* Channels of G's head: 3 (RGB), 4 in hybrid (+ blend), 6 with flow (RGB, the unused
 * blend, displacement x and y). */
int fsth_generator_out_channels(const fsth_config *c);
/* The config as one line of JSON (for safetensors metadata) and back. */
vv_status fsth_config_to_json(const fsth_config *c, char *out, size_t out_size);
vv_status fsth_config_from_json(fsth_config *c, const char *json);

/* ---- Building blocks (src/models/fsth_block.c) ---- */

/* A spectrally normalised convolution (PyTorch's spectral_norm: weight, bias, weight_u,
 * weight_v; u and v live in the store but receive no gradient). */
typedef struct sn_conv {
    int in_channels, out_channels, kernel;
    int weight, bias, u, v; /* param indices */
    float *weight_sn, *dweight_sn; /* [out, in, k, k] each, owned */
    float sigma;
} sn_conv;

vv_status sn_conv_declare(sn_conv *conv, param_store *ps, const char *name, int in_channels,
                          int out_channels, int kernel);
void sn_conv_init(sn_conv *conv, param_store *ps, uint64_t *rng);
vv_status sn_conv_prepare(sn_conv *conv, param_store *ps, bool training);
void sn_conv_free(sn_conv *conv);
/* Stride 1, "same" padding. */
vv_status sn_conv_forward(const sn_conv *conv, const param_store *ps, float *out,
                          const float *in, int N, int H, int W);
/* din (may be NULL) += ; weight/bias gradients when param_grads. */
vv_status sn_conv_backward(sn_conv *conv, param_store *ps, float *din, const float *dout,
                           const float *in, int N, int H, int W, bool param_grads);

typedef enum fsth_norm { FSTH_NORM_NONE, FSTH_NORM_INSTANCE, FSTH_NORM_ADAIN } fsth_norm;
typedef enum fsth_resample { FSTH_SAME, FSTH_DOWN, FSTH_UP } fsth_resample;

/* Pre-activation residual block:
 *   main: [norm -> relu] -> (up) -> conv3x3 -> norm -> relu -> conv3x3 -> (avgpool)
 *   skip: (up | avgpool) -> conv1x1, or identity when channels and size are unchanged.
 * first == true leaves out the leading norm + relu (a network's first block sees pixels).
 * AdaIN scales are 1 + psi (so psi = 0 is plain instance norm) and biases psi; the block
 * reads its 2 * (in + out) values at psi_offset of each sample's psi row. */
typedef struct fsth_block {
    fsth_norm norm;
    fsth_resample resample;
    bool first, has_skip;
    int in_channels, out_channels, H, W, conv_H, conv_W, out_H, out_W;
    int psi_offset;
    sn_conv conv1, conv2, skip;
    int capacity; /* batch the cache holds */
    float *cache;
    float *r1, *u1, *c1, *r2, *c2, *s_in, *out; /* saved activations */
    float *mean1, *rstd1, *mean2, *rstd2;
    float *s1, *b1, *s2, *b2; /* AdaIN affine gathered from psi [N*C] */
    float *t_in, *t_conv_a, *t_conv_b, *t_out; /* backward scratch */
} fsth_block;

vv_status fsth_block_declare(fsth_block *b, param_store *ps, const char *name, fsth_norm norm,
                             fsth_resample resample, bool first, int in_channels,
                             int out_channels, int H, int W, int psi_offset);
/* Output channels of block i of an n-block downsampling stack: doubling from the width
 * (fewer blocks start higher) up to 8 * width, which the last block always reaches. */
int fsth_down_channels(int n, int i, int width);
/* Per-sample floats of the largest input or output among blocks[0..count). */
size_t fsth_blocks_max_activation(const fsth_block *blocks, int count);
/* log2 of a power of two side, or -1. */
int fsth_log2(int size);

void fsth_block_init(fsth_block *b, param_store *ps, uint64_t *rng);
vv_status fsth_block_prepare(fsth_block *b, param_store *ps, bool training);
vv_status fsth_block_reserve(fsth_block *b, int N);
void fsth_block_free(fsth_block *b);
/* AdaIN values the block uses per sample: 2 * (in + out) (0 unless AdaIN). */
int fsth_block_psi_size(const fsth_block *b);
/* b->out [N, out, out_H, out_W] = block(x); psi [N, psi_stride] for AdaIN blocks. */
vv_status fsth_block_forward(fsth_block *b, const param_store *ps, const float *x,
                             const float *psi, int psi_stride, int N);
/* dx (may be NULL) += , dpsi (may be NULL) += , parameter gradients when param_grads.
 * dout is [N, out, out_H, out_W]; x and psi as given to the forward. */
vv_status fsth_block_backward(fsth_block *b, param_store *ps, float *dx, float *dpsi,
                              const float *dout, const float *x, int psi_stride, int N,
                              bool param_grads);

/* SAGAN self-attention over a [C, H, W] map (1x1 projections, not spectrally normalised;
 * gamma starts at 0 so the block starts as the identity). */
typedef struct fsth_attention {
    int C, CQ, H, W;
    int wq, bq, wk, bk, wv, bv, gamma;
    int capacity;
    float *cache, *q, *k, *v, *attn, *out;
} fsth_attention;

vv_status fsth_attention_declare(fsth_attention *a, param_store *ps, const char *name, int C,
                                 int H, int W);
void fsth_attention_init(fsth_attention *a, param_store *ps, uint64_t *rng);
vv_status fsth_attention_reserve(fsth_attention *a, int N);
void fsth_attention_free(fsth_attention *a);
void fsth_attention_forward(fsth_attention *a, const param_store *ps, const float *x, int N);
vv_status fsth_attention_backward(fsth_attention *a, param_store *ps, float *dx,
                                  const float *dout, const float *x, int N, bool param_grads);

/* ---- Embedder (src/models/embedder.c) ---- */

typedef struct fsth_embedder {
    fsth_config config;
    param_store ps;
    int block_count;
    fsth_block blocks[FSTH_MAX_BLOCKS];
    int capacity;
    float *relu_out; /* [N, emb, 4, 4] */
    float *grad_a, *grad_b; /* backward scratch, the largest activation */
} fsth_embedder;

/* Declares and allocates; parameters initialised from seed. */
vv_status fsth_embedder_new(fsth_embedder *e, const fsth_config *c, uint64_t seed);
void fsth_embedder_free(fsth_embedder *e);
vv_status fsth_embedder_prepare(fsth_embedder *e, bool training);
/* out [N, emb] = sum pool(relu(blocks(xy))); xy [N, 6, S, S] (frame, landmark image). */
vv_status fsth_embedder_forward(fsth_embedder *e, float *out, const float *xy, int N);
/* Parameter gradients from dout [N, emb]. */
vv_status fsth_embedder_backward(fsth_embedder *e, const float *dout, const float *xy, int N);

/* ---- Generator (src/models/generator.c) ---- */

typedef struct fsth_generator {
    fsth_config config;
    param_store ps;     /* convolutions, attention, and P */
    int projection;     /* P [psi_dim, emb] */
    int psi_dim;
    int encoder_count, bottleneck_count, decoder_count, block_count;
    fsth_block blocks[FSTH_MAX_BLOCKS]; /* encoder, bottleneck, decoder in order */
    int attention_after; /* block index whose output goes through attention, or -1 */
    fsth_attention attention;
    sn_conv head;
    int head_psi_offset; /* AdaIN before the head: scale delta [w], bias [w] */
    int capacity;
    float *head_mean, *head_rstd, *head_s, *head_b, *head_r, *head_raw, *rgb, *blend;
    float *flow; /* flow hybrid: the last forward's displacement [N, 2, S, S], crop pixels */
    float flow_l1; /* training (not saved): the backward adds the gradient of flow_l1 * mean |displacement| */
    float flow_l1_features; /* training (not saved): + this weight where the target's landmark
                               drawing (G's input channels 0-2) lies within 2 pixels */
    float *grad_a, *grad_b, *grad_c;
} fsth_generator;

vv_status fsth_generator_new(fsth_generator *g, const fsth_config *c, uint64_t seed);
void fsth_generator_free(fsth_generator *g);
/* Residual hybrid: makes G's correction start near 0 (a fresh one, or a blending hybrid's
 * weights taken over with --init), so the model starts as the warp. */
void fsth_generator_residual_start(fsth_generator *g);
/* Flow hybrid: the displacement rows of the head and their biases 0 (the spare blend row
 * keeps spectral norm's sigma away from 0), so G starts without moving the warp. */
void fsth_generator_flow_start(fsth_generator *g);
vv_status fsth_generator_prepare(fsth_generator *g, bool training);
/* psi [N, psi_dim] = P e; e [N, emb]. */
void fsth_generator_project(const fsth_generator *g, float *psi, const float *e, int N);
/* de [N, emb] (may be NULL) += and dP += from dpsi [N, psi_dim]. */
void fsth_generator_project_backward(fsth_generator *g, float *de, const float *dpsi,
                                     const float *e, int N);
/* out [N, 3, S, S] in [-1, 1] from in [N, in_channels, S, S] (landmark image; hybrid: +
 * warped source RGB + validity in [0, 1]) and psi [N, psi_dim]. */
vv_status fsth_generator_forward(fsth_generator *g, float *out, const float *in,
                                 const float *psi, int N);
/* dpsi (may be NULL) += ; parameter gradients when param_grads. */
vv_status fsth_generator_backward(fsth_generator *g, float *dpsi, const float *dout,
                                  const float *in, const float *psi, int N, bool param_grads);

/* ---- Discriminator (src/models/discriminator.c) ---- */

typedef struct fsth_discriminator {
    fsth_config config;
    param_store ps;
    int table, w0, bias; /* W [videos, emb], w_0 [emb], b [1] */
    int block_count;
    fsth_block blocks[FSTH_MAX_BLOCKS];
    int attention_after;
    fsth_attention attention;
    int capacity;
    float *relu_out, *v; /* [N, emb, 4, 4], [N, emb] */
    float *grad_a, *grad_b, *grad_c;
} fsth_discriminator;

vv_status fsth_discriminator_new(fsth_discriminator *d, const fsth_config *c, uint64_t seed);
void fsth_discriminator_free(fsth_discriminator *d);
vv_status fsth_discriminator_prepare(fsth_discriminator *d, bool training);
/* proj [N, emb] = W[video_n] + w_0 (the meta-learning projection). */
void fsth_discriminator_projection(const fsth_discriminator *d, float *proj, const int *videos,
                                   int N);
/* r [N] = v(xy) . proj_n + b; xy [N, 6, S, S].  Block outputs stay readable as features. */
vv_status fsth_discriminator_forward(fsth_discriminator *d, float *r, const float *xy,
                                     const float *proj, int N);
int fsth_discriminator_feature_count(const fsth_discriminator *d);
/* Feature i of the last forward: pointer and element count (whole batch). */
const float *fsth_discriminator_feature(const fsth_discriminator *d, int i, int N, size_t *count);
/* From dr [N] and optional per-feature gradients dfeat[i] (NULL entries skipped):
 * dxy (may be NULL) += , dproj (may be NULL) += , parameter gradients when param_grads. */
vv_status fsth_discriminator_backward(fsth_discriminator *d, float *dxy, float *dproj,
                                      const float *dr, float *const *dfeat, const float *xy,
                                      const float *proj, int N, bool param_grads);

/* ---- The whole model (src/models/fsth_model.c) ---- */

typedef struct fsth_model {
    fsth_config config;
    fsth_embedder E;
    fsth_generator G;
    fsth_discriminator D;
    /* The person: psi [psi_dim] and D's projection w' [emb]; set by fsth_prepare or a
     * fine-tuned file. */
    bool has_person;
    float *person_psi, *person_w;
    /* Hybrid: the shot used as the warp source, its landmarks (S pixels). */
    float *source_image; /* [3, S, S] in [-1, 1] */
    float source_landmarks[68][2];
    float source_crop_to_image[6]; /* shot 0's crop -> its image (set by fsth_prepare; for paste-back) */
    float *scratch; /* inference input [in_channels, S, S] */
} fsth_model;

vv_status fsth_model_new(fsth_model **out, const fsth_config *c, uint64_t seed);
void fsth_model_free(fsth_model *m);
/* Writes E, G, D (and the person, when set) as F32 safetensors with the config in
 * metadata; atomic.  fp16 stores F16 (a shipped model). */
vv_status fsth_model_save(const fsth_model *m, const char *path, bool fp16);
/* Loads a file written by fsth_model_save.  VV_ERR_MODEL names the missing metadata or
 * the tensor missing / of another shape; extra tensors are refused. */
vv_status fsth_model_load(fsth_model **out, const char *path);
/* A flow hybrid (config.flow, bound `pixels`) made from a hybrid without flow: E, D and G
 * take its weights (G's head its RGB and blend rows; residual_start when it blended),
 * the displacement starts at 0, so the new model renders what `from` renders as a
 * residual hybrid.  The person is not copied. */
vv_status fsth_model_flow_from(fsth_model **out, const fsth_model *from, float pixels);

/* Few-shot, feed-forward: e = mean E over the shots, psi = P e, w' = w_0 + e.  images:
 * `count` RGB frames of any size, landmarks in their pixels; each is cropped around its
 * face to the model's square the way the dataset does (the landmarks' box enlarged). */
vv_status fsth_prepare(fsth_model *m, const vv_image *images, const float (*landmarks)[68][2],
                       int count);
/* Renders the person for target landmarks (pixels of a size x size crop, the same framing
 * as the shots' crops: use fsth_crop_transform) into out (size x size RGB, allocated). */
vv_status fsth_render(fsth_model *m, const float target[68][2], vv_image *out);
/* Hybrid models: the two layers fsth_render blends, so a caller can composite onto a
 * sharper warp than the crop's: painted (size x size RGB, allocated) is the network's own
 * painting, weight (size x size bytes) how much of it to use, 255 = all, 0 = keep the
 * warp.  fsth_render's output = warped crop * (1 - weight) + painted * weight. */
vv_status fsth_render_layers(fsth_model *m, const float target[68][2], vv_image *painted, uint8_t *weight);
/* One frame of the fsth / hybrid engine into a full image.  target: landmarks in the
 * frame's pixels, mapped into the model's crop by image_to_crop (fsth_crop_transform's
 * inverse); crop: scratch (allocated).  fsth: the rendered crop is pasted over frame with
 * a feathered border.  hybrid: frame must hold the warp engine's frame for the same
 * target, and only the network's painting is blended in, by its weight, so the warp keeps
 * its full resolution wherever the network leaves it. */
vv_status fsth_render_frame(fsth_model *m, const float image_to_crop[6], const float crop_to_image[6],
                            const float target[68][2], vv_image *crop, vv_image *frame);
/* Hybrid with the 3D head's warp (config.warp3d): as fsth_render_frame, but G's warp input
 * is frame itself (the 3D head's frame for the same target) seen through the crop, with
 * validity [size * size] in [0, 1] (models/hybrid_warp.h hybrid_validity_draw). */
vv_status fsth_render_frame_warped(fsth_model *m, const float image_to_crop[6], const float crop_to_image[6],
                                   const float target[68][2], const float *validity, vv_image *crop,
                                   vv_image *frame);
/* The square crop a face is seen through: crop (size x size) -> image affine transform
 * from its 68 landmarks, by the training set's rule (the face box the landmarks imply,
 * centre moved up 0.1 box side, enlarged 1.8x). */
void fsth_crop_transform(const float landmarks[68][2], int size, float crop_to_image[6]);
/* Relative motion (no face-shape leakage from the driver): target landmarks for a size x
 * size crop = the source's crop landmarks moved by the driver's displacement from its
 * first frame, measured in the driver's own crop (so in face-size units).  driver_first,
 * driver: driver image pixels. */
void fsth_relative_target(const float source_crop[68][2], const float driver_first[68][2],
                          const float driver[68][2], int size, float out[68][2]);
/* One shot through that crop: frame [3, S, S] in [-1, 1] and its landmarks in crop pixels;
 * where the crop leaves the image it holds the image's edge pixels (as the dataset's
 * crops, which stay inside their frames, never show black). */
vv_status fsth_crop_shot(float *frame, float points[68][2], const vv_image *image,
                         const float landmarks[68][2], int size);

/* Helpers shared with training: RGB8 image -> [3, S, S] floats in [-1, 1] and back;
 * landmark image of points (crop pixels) -> [3, S, S] in [-1, 1]. */
void fsth_image_to_tensor(float *out, const vv_image *image);
void fsth_tensor_to_image(vv_image *out, const float *in, int size);
vv_status fsth_landmark_tensor(float *out, const float points[68][2], int size);
/* Hybrid inputs: the warp engine's warp of source [3,S,S] from src_points to dst_points
 * (crop pixels; the mesh warp, plus the synthesised inner mouth when it opens wider than
 * the source's: warp_mouth_fill) into warped [3,S,S], and validity [S,S]: 1 where pixels
 * were moved, 0 where the mouth interior was synthesised. */
vv_status fsth_warp_inputs(float *warped, float *validity, const float *source,
                           const float src_points[68][2], const float dst_points[68][2],
                           int size);

#endif
