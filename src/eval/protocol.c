/* eval/protocol: pairwise frame metrics, self- and cross-reenactment (see protocol.h). */
#include "eval/protocol.h"

#include "eval/metrics.h"
#include "eval/plot.h"
#include "face/motion.h"
#include "face/pose.h"
#include "img/image.h"
#include "models/models.h"
#include "train/train.h"
#include "video/video.h"
#include "warp/warp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID_CELL 160
#define GRID_HEADER 14
#define GRID_GAP 2
#define MAX_FACES 8

static const char *const metric_names[METRIC_COUNT] = {"SSIM", "PSNR", "L1", "CSIM", "NME",
                                                       "AKD",  "Expr", "Pose", "Face"};
static const char *const metric_descriptions[METRIC_COUNT] = {
    "SSIM, full frame (Gaussian 11x11, sigma 1.5; skimage-exact), higher is better",
    "PSNR in dB (data range 255), higher is better",
    "L1: mean absolute difference / 255, lower is better",
    "CSIM: cosine similarity of faceres embeddings of landmark-aligned 224x224 crops, higher is better",
    "NME: mean landmark distance / the reference's outer-eye-corner distance, lower is better",
    "AKD: mean landmark distance in pixels, lower is better",
    "Expr: AED-like landmark expression distance (pose and scale removed, Procrustes), lower is better",
    "Pose: APD-like head pose distance in degrees (geodesic angle between rotations), lower is better",
    "Face: fraction of results in which a face is found",
};

const char *eval_metric_name(eval_metric metric) {
    return metric < METRIC_COUNT ? metric_names[metric] : "?";
}
const char *eval_metric_description(eval_metric metric) {
    return metric < METRIC_COUNT ? metric_descriptions[metric] : "?";
}
bool eval_metric_higher_is_better(eval_metric metric) {
    return metric == METRIC_SSIM || metric == METRIC_PSNR || metric == METRIC_CSIM || metric == METRIC_FACE;
}

vv_status eval_context_open(eval_context *ctx, const char *models_dir, int threads) {
    memset(ctx, 0, sizeof *ctx);
    ctx->threads = threads;
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models_dir;
    fp.threads = threads;
    fp.thorough = 0; /* frames of talking heads: one large face, one detector pass */
    vv_status s = vv_faces_new(&ctx->faces, &fp);
    if (s == VV_OK) s = identity_model_load(&ctx->identity, models_dir);
    if (s != VV_OK) eval_context_close(ctx);
    return s;
}

void eval_context_close(eval_context *ctx) {
    vv_faces_free(ctx->faces);
    identity_model_free(ctx->identity);
    memset(ctx, 0, sizeof *ctx);
}

/* The most confident face's landmarks; *found false when none.  Not the largest (as
 * animate's default): a large false positive (a dress fold in portraits/lp_s3.jpg, score
 * 0.63 against the real face's 0.91) would otherwise be measured instead of the face. */
static vv_status find_face(eval_context *ctx, const vv_image *image, float points[68][2], bool *found) {
    vv_face faces[MAX_FACES];
    int count = 0;
    *found = false;
    vv_status s = vv_faces_detect(ctx->faces, image, faces, MAX_FACES, &count);
    if (s != VV_OK || count == 0) return s;
    int best = 0;
    for (int i = 1; i < count; i++)
        if (faces[i].score > faces[best].score) best = i;
    memcpy(points, faces[best].landmarks, sizeof faces[best].landmarks);
    *found = true;
    return VV_OK;
}

static void values_clear(double values[METRIC_COUNT]) {
    for (int m = 0; m < METRIC_COUNT; m++) values[m] = NAN;
}

/* Face metrics of a result face against a reference face (same pixel frame). */
/* embedding_out (may be NULL): receives the result's embedding when it was computed. */
static vv_status face_values(eval_context *ctx, const vv_image *result, const float result_points[68][2],
                             const float reference[68][2], const float reference_embedding[IDENTITY_DIM],
                             double values[METRIC_COUNT], float *embedding_out) {
    values[METRIC_AKD] = metrics_akd(result_points, reference);
    double v;
    if (metrics_nme(result_points, reference, &v) == VV_OK) values[METRIC_NME] = v;
    if (metrics_expression_distance(result_points, reference, NULL, NULL, &v) == VV_OK) values[METRIC_EXPRESSION] = v;
    pose_distance pd;
    if (metrics_pose_distance_landmarks(result_points, reference, &pd) == VV_OK) values[METRIC_POSE] = pd.angle;
    float embedding[IDENTITY_DIM];
    vv_status s = identity_embed(ctx->identity, result, result_points, embedding);
    if (s == VV_OK && metrics_cosine_similarity(embedding, reference_embedding, IDENTITY_DIM, &v) == VV_OK)
        values[METRIC_CSIM] = v;
    if (s == VV_OK && embedding_out) memcpy(embedding_out, embedding, sizeof embedding);
    return s;
}

vv_status eval_compare_frames(eval_context *ctx, const vv_image *a, const vv_image *b, double values[METRIC_COUNT]) {
    values_clear(values);
    vv_image resized = {0};
    const vv_image *bb = b;
    vv_status s = VV_OK;
    if (b->width != a->width || b->height != a->height) {
        s = image_resize(&resized, b, a->width, a->height);
        bb = &resized;
    }
    image_metrics im;
    if (s == VV_OK) {
        if (a->width >= METRICS_SSIM_WINDOW && a->height >= METRICS_SSIM_WINDOW) {
            s = metrics_images(a, bb, NULL, ctx->threads, &im);
            if (s == VV_OK) values[METRIC_SSIM] = im.ssim;
        } else {
            s = metrics_psnr_l1(a, bb, NULL, &im.psnr, &im.l1, &im.mse);
        }
        if (s == VV_OK) {
            values[METRIC_PSNR] = im.psnr;
            values[METRIC_L1] = im.l1;
        }
    }
    float pa[68][2], pb[68][2];
    bool fa = false, fb = false;
    if (s == VV_OK && ctx->faces) s = find_face(ctx, a, pa, &fa);
    if (s == VV_OK && ctx->faces) s = find_face(ctx, bb, pb, &fb);
    if (s == VV_OK && ctx->faces) values[METRIC_FACE] = fb;
    if (s == VV_OK && fa && fb && ctx->identity) {
        float ea[IDENTITY_DIM];
        s = identity_embed(ctx->identity, a, (const float(*)[2])pa, ea);
        if (s == VV_OK) s = face_values(ctx, bb, (const float(*)[2])pb, (const float(*)[2])pa, ea, values, NULL);
    }
    image_free(&resized);
    return s;
}

/* ---- Engines and sampling ------------------------------------------------------------ */

static const char *const known_engines[] = {"warp", "freeze", "fsth", "fsth-ft", "hybrid", "hybrid-ft"};

bool eval_engine_known(const char *name) {
    for (size_t i = 0; i < sizeof known_engines / sizeof known_engines[0]; i++)
        if (!strcmp(name, known_engines[i])) return true;
    return false;
}

bool eval_engine_available(const char *name) { return !strcmp(name, "warp") || !strcmp(name, "freeze"); }

eval_options eval_default_options(void) {
    eval_options o;
    memset(&o, 0, sizeof o);
    o.engines[0] = "warp";
    o.engine_count = 1;
    o.shots[0] = 1;
    o.shots[1] = 8;
    o.shots[2] = 32;
    o.shot_count = 3;
    o.max_frames = 16;
    o.seed = 1;
    o.crop_size = 512;
    o.grid_rows = 4;
    return o;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int eval_sample_frames(uint64_t seed, const char *name, int lo, int hi, int want, int *out) {
    if (hi <= lo || want <= 0) return 0;
    int n = hi - lo;
    if (want >= n) {
        for (int i = 0; i < n; i++) out[i] = lo + i;
        return n;
    }
    uint64_t state = seed;
    for (const char *p = name; *p; p++) state = (state ^ (uint8_t)*p) * 0x100000001B3ull; /* FNV-1a mix */
    /* Floyd's algorithm: want distinct values from [0, n) in want draws. */
    int count = 0;
    for (int j = n - want; j < n; j++) {
        int t = (int)(splitmix64(&state) % (uint64_t)(j + 1));
        bool seen = false;
        for (int i = 0; i < count; i++)
            if (out[i] == lo + t) { seen = true; break; }
        out[count++] = lo + (seen ? j : t);
    }
    qsort(out, (size_t)count, sizeof *out, compare_ints);
    return count;
}

void eval_series_free(eval_series *series) {
    free(series->frames);
    free(series->values);
    free(series->result_features);
    free(series->real_features);
    series->frames = NULL;
    series->values = NULL;
    series->result_features = series->real_features = NULL;
    series->frame_count = series->result_feature_count = series->real_feature_count = 0;
}

static vv_status series_append(eval_series **series, int *count, const eval_series *item) {
    eval_series *grown = realloc(*series, ((size_t)*count + 1) * sizeof **series);
    if (!grown) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for evaluation results");
    *series = grown;
    grown[*count] = *item;
    (*count)++;
    return VV_OK;
}

/* fsth and hybrid prepare the person feed-forward (FF) from the shots; the -ft variants
 * fine-tune on them first (FT), as `vivify finetune` does. */
bool eval_engine_learned(const char *engine) {
    return !strncmp(engine, "fsth", 4) || !strncmp(engine, "hybrid", 6);
}
static bool engine_learned(const char *engine) { return eval_engine_learned(engine); }
static bool engine_hybrid(const char *engine) { return !strncmp(engine, "hybrid", 6); }
static bool engine_finetuned(const char *engine) {
    size_t n = strlen(engine);
    return n > 3 && !strcmp(engine + n - 3, "-ft");
}

/* model: --model (the learned engines are available with one). */
static vv_status series_init(eval_series *s, const char *clip, const char *engine, int shots, int capacity,
                             const char *model) {
    memset(s, 0, sizeof *s);
    snprintf(s->clip, sizeof s->clip, "%s", clip);
    snprintf(s->engine, sizeof s->engine, "%s", engine);
    s->shots = shots;
    s->available = eval_engine_available(engine) || (model && engine_learned(engine));
    if (!s->available)
        snprintf(s->note, sizeof s->note, engine_learned(engine) ? "engine '%s' needs --model" : "engine '%s' is not implemented yet",
                 engine);
    if (capacity < 1) capacity = 1;
    s->frames = mem_alloc((size_t)capacity, sizeof *s->frames);
    s->values = mem_alloc((size_t)capacity, sizeof *s->values);
    s->result_features = mem_alloc((size_t)capacity, IDENTITY_DIM * sizeof(float));
    s->real_features = mem_alloc((size_t)capacity, IDENTITY_DIM * sizeof(float));
    if (!s->frames || !s->values || !s->result_features || !s->real_features) {
        eval_series_free(s);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory for evaluation results");
    }
    return VV_OK;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Name without folder and extension. */
static void stem(const char *path, char *out, size_t size) {
    snprintf(out, size, "%s", base_name(path));
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

/* Similarity-normalised distance between two landmark sets, as animate's choice of the
 * nearest of several sources (cli/animate.c keeps its copy static). */

/* ---- Sample grids ------------------------------------------------------------------- */

static vv_status grid_create(vv_image *grid, int rows, const char *const labels[4]) {
    vv_status s = image_create(grid, 4 * GRID_CELL + 3 * GRID_GAP, GRID_HEADER + rows * (GRID_CELL + GRID_GAP), 3);
    if (s != VV_OK) return s;
    memset(grid->data, 40, (size_t)grid->width * grid->height * 3);
    const uint8_t white[3] = {255, 255, 255};
    for (int c = 0; c < 4; c++) {
        int x = c * (GRID_CELL + GRID_GAP) + (GRID_CELL - plot_text_width(labels[c], 1)) / 2;
        plot_text(grid, x, 3, labels[c], white, 1);
    }
    return VV_OK;
}

/* Fits image into cell (column, row), keeping its aspect ratio. */
static void grid_put(vv_image *grid, const vv_image *image, int column, int row) {
    if (!grid->data || !image || !image->data) return;
    double f = fmin((double)GRID_CELL / image->width, (double)GRID_CELL / image->height);
    int w = (int)fmax(1, lround(image->width * f)), h = (int)fmax(1, lround(image->height * f));
    vv_image scaled = {0};
    if (image_resize(&scaled, image, w, h) != VV_OK) return;
    int x0 = column * (GRID_CELL + GRID_GAP) + (GRID_CELL - w) / 2;
    int y0 = GRID_HEADER + row * (GRID_CELL + GRID_GAP) + (GRID_CELL - h) / 2;
    for (int y = 0; y < h; y++)
        memcpy(grid->data + ((size_t)(y0 + y) * grid->width + x0) * 3, scaled.data + (size_t)y * w * 3, (size_t)w * 3);
    image_free(&scaled);
}

static vv_status grid_save(eval_series *series, vv_image *grid, const eval_options *options, const char *name) {
    if (!grid->data || !options->output_dir) return VV_OK;
    char path[1024];
    snprintf(series->grid, sizeof series->grid, "samples/%s.png", name);
    snprintf(path, sizeof path, "%s/%s", options->output_dir, series->grid);
    vv_status s = image_save(grid, path);
    if (s != VV_OK) series->grid[0] = 0;
    return s;
}

/* The row of the grid a sampled position goes to, or -1. */
static int grid_row(int position, int sampled, int rows) {
    for (int r = 0; r < rows; r++)
        if (position == (int)((long)r * sampled / rows)) return r;
    return -1;
}

/* Top-left w x h of image (a view copy). */
static vv_status crop_top_left(const vv_image *image, int w, int h, vv_image *out) {
    if (w > image->width || h > image->height)
        return vv_fail(VV_ERR_INTERNAL, "result %dx%d larger than the frame %dx%d", w, h, image->width, image->height);
    vv_status s = image_create(out, w, h, 3);
    for (int y = 0; s == VV_OK && y < h; y++)
        memcpy(out->data + (size_t)y * w * 3, image->data + (size_t)y * image->width * 3, (size_t)w * 3);
    return s;
}

/* Counts frames by decoding (when the container does not say). */
static vv_status count_frames(const char *path, int *count) {
    video_reader *reader = NULL;
    vv_image frame = {0};
    vv_status s = video_reader_open(&reader, path);
    *count = 0;
    while (s == VV_OK) {
        bool got = false;
        double t;
        s = video_reader_next(reader, &frame, &t, &got);
        if (!got) break;
        if (++*count >= MOTION_MAX_FRAMES) break;
    }
    image_free(&frame);
    video_reader_close(reader);
    return s;
}

static vv_status clip_frame_count(const char *path, int *count) {
    video_reader *reader = NULL;
    vv_status s = video_reader_open(&reader, path);
    if (s != VV_OK) return s;
    long n = video_reader_info(reader)->frame_count;
    video_reader_close(reader);
    if (n > 0 && n < MOTION_MAX_FRAMES) {
        *count = (int)n;
        return VV_OK;
    }
    return count_frames(path, count);
}

/* ---- Self-reenactment --------------------------------------------------------------- */

typedef struct shot_source {
    vv_image image;
    float points[68][2];
    bool face;
    warp_engine *engine;
    motion_retarget retarget;
} shot_source;

/* A learned engine (fsth, hybrid) for one series: the model with the person prepared
 * feed-forward from the series' shots (or the fine-tuned person it holds), and the crop
 * of the base shot (the first with a face) it renders into. */
typedef struct learned_state {
    fsth_model *model;
    int base;
    float crop_to_image[6], image_to_crop[6];
    vv_image crop;
} learned_state;

static void learned_free(learned_state *l) {
    fsth_model_free(l->model);
    image_free(&l->crop);
    memset(l, 0, sizeof *l);
}

/* models: --model, one path or several separated by commas; the first whose kind (hybrid or
 * not) suits the engine is used. */
static vv_status learned_load(fsth_model **model, const char *models, const char *engine) {
    char list[4096];
    snprintf(list, sizeof list, "%s", models);
    bool want_hybrid = engine_hybrid(engine);
    for (char *save = NULL, *path = strtok_r(list, ",", &save); path; path = strtok_r(NULL, ",", &save)) {
        vv_status s = fsth_model_load(model, path);
        if (s != VV_OK) return s;
        if ((*model)->config.hybrid == want_hybrid) return VV_OK;
        fsth_model_free(*model);
        *model = NULL;
    }
    return vv_fail(VV_ERR_MODEL, "no %s model among --model %s for engine '%s'", want_hybrid ? "hybrid" : "fsth (non-hybrid)",
                   models, engine);
}

/* FT: fine-tuned on the shots with fsth_finetune's defaults (pixel L1, adversarial and
 * feature matching; not the faceres identity term `vivify finetune` adds by default). */
static vv_status learned_finetune(learned_state *l, const vv_image *images, const float (*points)[68][2], int count,
                                  const eval_options *options) {
    fsth_finetune_params p = fsth_finetune_default_params(count);
    if (options->finetune_steps > 0) p.steps = options->finetune_steps;
    p.seed = options->seed;
    float loss = 0.0f;
    return fsth_finetune_images(l->model, images, points, count, &p, &loss);
}

static vv_status learned_setup(learned_state *l, const eval_options *options,
                               const char *engine, const shot_source *sources, int shots) {
    vv_status s = learned_load(&l->model, options->model, engine);
    if (s != VV_OK) return s;
    l->base = -1;
    vv_image images[EVAL_MAX_SHOT_VALUE];
    float (*points)[68][2] = mem_alloc((size_t)EVAL_MAX_SHOT_VALUE, sizeof *points);
    if (!points) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the shots");
    int count = 0;
    for (int j = 0; j < shots && j < EVAL_MAX_SHOT_VALUE; j++) {
        if (!sources[j].face) continue;
        if (l->base < 0) l->base = j; /* first: the hybrid engine warps it */
        images[count] = sources[j].image;
        memcpy(points[count++], sources[j].points, sizeof points[0]);
    }
    if (count == 0) s = vv_fail(VV_ERR_NO_FACE, "no shot with a face for engine '%s'", engine);
    if (s == VV_OK && engine_finetuned(engine))
        s = learned_finetune(l, images, (const float(*)[68][2])points, count, options);
    else if (s == VV_OK && !l->model->has_person)
        s = fsth_prepare(l->model, images, (const float(*)[68][2])points, count);
    free(points);
    if (s != VV_OK) return s;
    fsth_crop_transform((const float(*)[2])sources[l->base].points, l->model->config.size, l->crop_to_image);
    affine_invert(l->crop_to_image, l->image_to_crop);
    return VV_OK;
}

/* The learned engine's frame (fsth_render_frame): onto the base shot for fsth, onto the
 * warp engine's frame for hybrid; the frame animate writes. */
static vv_status learned_render(learned_state *l, const char *engine, shot_source *sources, const float driver[68][2],
                                vv_image *result) {
    shot_source *src = &sources[l->base];
    float target[68][2];
    motion_retarget_frame(&src->retarget, driver, target);
    vv_status s;
    if (engine_hybrid(engine)) {
        s = warp_engine_render(src->engine, (const float(*)[2])target, NULL, NULL, result, NULL);
    } else {
        image_free(result);
        s = image_copy(result, &src->image);
    }
    if (s == VV_OK)
        s = fsth_render_frame(l->model, l->image_to_crop, l->crop_to_image, (const float(*)[2])target, &l->crop, result);
    return s;
}

/* Renders one result for a series.  result is allocated or resized. */
static vv_status render(const char *engine, shot_source *src, const float driver[68][2], vv_image *result) {
    if (!strcmp(engine, "freeze")) {
        image_free(result);
        return image_copy(result, &src->image);
    }
    float target[68][2];
    motion_retarget_frame(&src->retarget, driver, target);
    return warp_engine_render(src->engine, (const float(*)[2])target, NULL, NULL, result, NULL);
}

vv_status eval_self_reenactment(eval_context *ctx, const eval_options *options, const char *clip_path,
                                eval_series **series, int *count) {
    int n = 0;
    vv_status s = clip_frame_count(clip_path, &n);
    if (s != VV_OK) return s;
    char name[256];
    stem(clip_path, name, sizeof name);
    /* The largest K that leaves at least half the clip to drive. */
    int kfit = 0;
    for (int i = 0; i < options->shot_count; i++)
        if (options->shots[i] <= n / 2 && options->shots[i] > kfit) kfit = options->shots[i];
    int *sampled = mem_alloc((size_t)(options->max_frames > 0 ? options->max_frames : 1), sizeof(int));
    if (!sampled) return vv_fail(VV_ERR_NO_MEMORY, "out of memory sampling %s", clip_path);
    int sample_count = kfit ? eval_sample_frames(options->seed, name, kfit, n, options->max_frames, sampled) : 0;
    int first = *count;
    static const char *const labels[4] = {"SOURCE", "DRIVER", "RESULT", "REAL"};
    int series_total = options->engine_count * options->shot_count;
    vv_image *grids = mem_calloc((size_t)series_total, sizeof *grids);
    if (!grids) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory for sample grids");
    for (int e = 0; s == VV_OK && e < options->engine_count; e++)
        for (int k = 0; s == VV_OK && k < options->shot_count; k++) {
            eval_series item;
            s = series_init(&item, name, options->engines[e], options->shots[k], sample_count, options->model);
            if (s != VV_OK) break;
            if (item.available && options->shots[k] > kfit) {
                item.available = false;
                snprintf(item.note, sizeof item.note, "clip too short: %d frames for K = %d (at least 2K needed)", n,
                         options->shots[k]);
            }
            if (item.available && options->output_dir) s = grid_create(&grids[*count - first], options->grid_rows, labels);
            if (s == VV_OK) s = series_append(series, count, &item);
            else eval_series_free(&item);
        }
    bool need_warp = false;
    for (int i = first; i < *count; i++)
        need_warp |= (*series)[i].available && (!strcmp((*series)[i].engine, "warp") || engine_hybrid((*series)[i].engine));
    learned_state *learned = s == VV_OK ? mem_calloc((size_t)(series_total > 0 ? series_total : 1), sizeof *learned) : NULL;
    if (s == VV_OK && !learned) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory for the learned engines");

    shot_source sources[EVAL_MAX_SHOT_VALUE];
    memset(sources, 0, sizeof sources);
    video_reader *reader = NULL;
    vv_image frame = {0}, result = {0}, real = {0}, landmark_image = {0};
    warp_params wp = warp_default_params();
    wp.crop_size = options->crop_size;
    wp.threads = ctx->threads;
    motion_params mp = motion_default_params();
    int faceless_drivers = 0, next = 0;
    if (s == VV_OK && sample_count > 0) s = video_reader_open(&reader, clip_path);
    for (int index = 0; s == VV_OK && next < sample_count; index++) {
        bool got = false;
        double t;
        s = video_reader_next(reader, &frame, &t, &got);
        if (s != VV_OK || !got) break;
        if (index < kfit) { /* a source frame */
            shot_source *src = &sources[index];
            s = image_copy(&src->image, &frame);
            if (s == VV_OK) s = find_face(ctx, &frame, src->points, &src->face);
            if (s == VV_OK && src->face && need_warp) {
                vv_status ws = warp_engine_new(&src->engine, &src->image, (const float(*)[2])src->points, &wp);
                if (ws == VV_ERR_NO_FACE) src->face = false; /* too small to warp */
                else s = ws;
            }
            /* Same clip: the source frame itself is the driver's reference pose. */
            if (s == VV_OK && src->face)
                motion_retarget_init(&src->retarget, (const float(*)[2])src->points, (const float(*)[2])src->points, &mp);
            continue;
        }
        if (index != sampled[next]) continue;
        int position = next++;
        float driver[68][2];
        bool driver_face = false;
        s = find_face(ctx, &frame, driver, &driver_face);
        if (s != VV_OK) break;
        if (!driver_face) {
            faceless_drivers++;
            continue;
        }
        float real_embedding[IDENTITY_DIM];
        s = identity_embed(ctx->identity, &frame, (const float(*)[2])driver, real_embedding);
        int row = grid_row(position, sample_count, options->grid_rows);
        if (s == VV_OK && row >= 0 && options->output_dir) {
            image_free(&landmark_image);
            s = image_create(&landmark_image, frame.width, frame.height, 3);
            if (s == VV_OK) landmarks_rasterize(&landmark_image, (const float(*)[2])driver, 2);
        }
        for (int i = first; s == VV_OK && i < *count; i++) {
            eval_series *item = &(*series)[i];
            if (!item->available) continue;
            int best = -1;
            double best_d = INFINITY;
            for (int j = 0; j < item->shots; j++) {
                if (!sources[j].face) continue;
                double d = motion_shape_distance((const float(*)[2])driver, (const float(*)[2])sources[j].points);
                if (best < 0 || d < best_d) { best = j; best_d = d; }
            }
            if (best < 0) continue; /* no source with a face: noted below */
            learned_state *l = &learned[i - first];
            if (engine_learned(item->engine)) {
                if (!l->model) s = learned_setup(l, options, item->engine, sources, item->shots);
                if (s == VV_OK) s = learned_render(l, item->engine, sources, (const float(*)[2])driver, &result);
                if (s == VV_OK) best = l->base;
            } else {
                s = render(item->engine, &sources[best], (const float(*)[2])driver, &result);
            }
            if (s == VV_OK) s = crop_top_left(&frame, result.width, result.height, &real);
            double *values = item->values[item->frame_count];
            values_clear(values);
            image_metrics im;
            if (s == VV_OK) s = metrics_images(&real, &result, NULL, ctx->threads, &im);
            if (s == VV_OK) {
                values[METRIC_SSIM] = im.ssim;
                values[METRIC_PSNR] = im.psnr;
                values[METRIC_L1] = im.l1;
            }
            float result_points[68][2];
            bool result_face = false;
            if (s == VV_OK) s = find_face(ctx, &result, result_points, &result_face);
            values[METRIC_FACE] = result_face;
            if (s == VV_OK && result_face) {
                s = face_values(ctx, &result, (const float(*)[2])result_points, (const float(*)[2])driver, real_embedding,
                                values, item->result_features + (size_t)item->result_feature_count * IDENTITY_DIM);
                if (s == VV_OK) item->result_feature_count++;
            }
            if (s == VV_OK) {
                memcpy(item->real_features + (size_t)item->real_feature_count++ * IDENTITY_DIM, real_embedding,
                       sizeof real_embedding);
                item->frames[item->frame_count++] = sampled[position];
            }
            if (s == VV_OK && row >= 0 && grids[i - first].data) {
                grid_put(&grids[i - first], &sources[best].image, 0, row);
                grid_put(&grids[i - first], &landmark_image, 1, row);
                grid_put(&grids[i - first], &result, 2, row);
                grid_put(&grids[i - first], &real, 3, row);
            }
            image_free(&real);
        }
        if (options->progress && options->progress(options->progress_user, next, sample_count))
            s = vv_fail(VV_ERR_ABORTED, "evaluation aborted");
    }
    for (int i = first; i < *count; i++) {
        eval_series *item = &(*series)[i];
        if (s == VV_OK && item->available) {
            char grid_name[400];
            snprintf(grid_name, sizeof grid_name, "self_%s_%s_K%d", name, item->engine, item->shots);
            s = grid_save(item, &grids[i - first], options, grid_name);
            int with_face = 0;
            for (int j = 0; j < item->shots && j < kfit; j++) with_face += sources[j].face;
            if (with_face == 0) {
                item->available = false;
                snprintf(item->note, sizeof item->note, "no usable face in the first %d frames", item->shots);
            } else if (faceless_drivers || with_face < item->shots) {
                snprintf(item->note, sizeof item->note, "%d of %d sampled driving frames without a face; %d of %d sources with a face",
                         faceless_drivers, sample_count, with_face, item->shots);
            }
        }
        image_free(&grids[i - first]);
    }
    if (s == VV_OK && kfit == 0) s = VV_OK; /* every series says why (clip too short) */
    for (int i = 0; learned && i < series_total; i++) learned_free(&learned[i]);
    free(learned);
    free(grids);
    free(sampled);
    for (int j = 0; j < EVAL_MAX_SHOT_VALUE; j++) {
        warp_engine_free(sources[j].engine);
        image_free(&sources[j].image);
    }
    image_free(&frame);
    image_free(&result);
    image_free(&real);
    image_free(&landmark_image);
    video_reader_close(reader);
    return s;
}

/* ---- Cross-reenactment -------------------------------------------------------------- */

/* Geodesic angle (degrees) between the head-pose changes a_from -> a_to and b_from -> b_to. */
static double pose_change_distance(const float a_to[68][2], const float a_from[68][2], const float b_to[68][2],
                                   const float b_from[68][2]) {
    head_pose p[4] = {head_pose_estimate(a_to), head_pose_estimate(a_from), head_pose_estimate(b_to),
                      head_pose_estimate(b_from)};
    for (int i = 0; i < 4; i++)
        if (p[i].scale <= 0) return NAN;
    double ra[3][3], rb[3][3]; /* R_to R_from^T */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            ra[i][j] = rb[i][j] = 0;
            for (int k = 0; k < 3; k++) {
                ra[i][j] += (double)p[0].rotation[i][k] * p[1].rotation[j][k];
                rb[i][j] += (double)p[2].rotation[i][k] * p[3].rotation[j][k];
            }
        }
    double trace = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) trace += ra[i][j] * rb[i][j];
    return acos(fmax(-1.0, fmin(1.0, 0.5 * (trace - 1.0)))) * (180.0 / M_PI);
}

vv_status eval_cross_reenactment(eval_context *ctx, const eval_options *options, const char *portrait_path,
                                 const char *driver_path, eval_series **series, int *count) {
    char portrait_name[120], driver_name[120], name[256];
    stem(portrait_path, portrait_name, sizeof portrait_name);
    stem(driver_path, driver_name, sizeof driver_name);
    snprintf(name, sizeof name, "%s <- %s", portrait_name, driver_name);
    int n = 0;
    vv_status s = clip_frame_count(driver_path, &n);
    if (s != VV_OK) return s;
    int *sampled = mem_alloc((size_t)(options->max_frames > 0 ? options->max_frames : 1), sizeof(int));
    if (!sampled) return vv_fail(VV_ERR_NO_MEMORY, "out of memory sampling %s", driver_path);
    int sample_count = eval_sample_frames(options->seed, driver_name, 1, n, options->max_frames, sampled);
    int first = *count;
    static const char *const labels[4] = {"SOURCE", "DRIVER", "RESULT", "REAL (NONE)"};
    vv_image grids[EVAL_MAX_ENGINES];
    memset(grids, 0, sizeof grids);
    learned_state learned[EVAL_MAX_ENGINES];
    memset(learned, 0, sizeof learned);
    for (int e = 0; s == VV_OK && e < options->engine_count; e++) {
        eval_series item;
        s = series_init(&item, name, options->engines[e], 1, sample_count, options->model);
        if (s != VV_OK) break;
        if (item.available && options->output_dir) s = grid_create(&grids[e], options->grid_rows, labels);
        if (s == VV_OK) s = series_append(series, count, &item);
        else eval_series_free(&item);
    }
    shot_source src;
    memset(&src, 0, sizeof src);
    video_reader *reader = NULL;
    vv_image frame = {0}, result = {0};
    float source_embedding[IDENTITY_DIM], reference[68][2];
    bool have_reference = false;
    int faceless_drivers = 0, next = 0;
    const char *problem = NULL;
    if (s == VV_OK) s = image_load(&src.image, portrait_path);
    if (s == VV_OK) s = find_face(ctx, &src.image, src.points, &src.face);
    if (s == VV_OK && !src.face) problem = "no face found in the portrait";
    if (s == VV_OK && !problem) s = identity_embed(ctx->identity, &src.image, (const float(*)[2])src.points, source_embedding);
    if (s == VV_OK && !problem) {
        warp_params wp = warp_default_params();
        wp.crop_size = options->crop_size;
        wp.threads = ctx->threads;
        vv_status ws = warp_engine_new(&src.engine, &src.image, (const float(*)[2])src.points, &wp);
        if (ws == VV_ERR_NO_FACE) problem = "the portrait's face is too small to warp";
        else s = ws;
    }
    if (s == VV_OK && !problem && sample_count > 0) s = video_reader_open(&reader, driver_path);
    for (int index = 0; s == VV_OK && !problem && reader && next < sample_count; index++) {
        bool got = false;
        double t;
        s = video_reader_next(reader, &frame, &t, &got);
        if (s != VV_OK || !got) break;
        bool sampled_here = index == sampled[next];
        if (!sampled_here && have_reference) continue;
        float driver[68][2];
        bool driver_face = false;
        s = find_face(ctx, &frame, driver, &driver_face);
        if (s != VV_OK) break;
        if (!have_reference && driver_face) { /* the first driver frame with a face, as animate */
            memcpy(reference, driver, sizeof reference);
            motion_params mp = motion_default_params();
            motion_retarget_init(&src.retarget, (const float(*)[2])src.points, (const float(*)[2])reference, &mp);
            have_reference = true;
        }
        if (!sampled_here) continue;
        int position = next++;
        if (!driver_face || !have_reference) {
            faceless_drivers++;
            continue;
        }
        int row = grid_row(position, sample_count, options->grid_rows);
        for (int e = 0; s == VV_OK && e < options->engine_count; e++) {
            eval_series *item = &(*series)[first + e];
            if (!item->available) continue;
            if (engine_learned(item->engine)) {
                if (!learned[e].model) s = learned_setup(&learned[e], options, item->engine, &src, 1);
                if (s == VV_OK) s = learned_render(&learned[e], item->engine, &src, (const float(*)[2])driver, &result);
            } else {
                s = render(item->engine, &src, (const float(*)[2])driver, &result);
            }
            double *values = item->values[item->frame_count];
            values_clear(values);
            float result_points[68][2];
            bool result_face = false;
            if (s == VV_OK) s = find_face(ctx, &result, result_points, &result_face);
            values[METRIC_FACE] = result_face;
            if (s == VV_OK && result_face) {
                float embedding[IDENTITY_DIM];
                double v;
                s = identity_embed(ctx->identity, &result, (const float(*)[2])result_points, embedding);
                if (s == VV_OK && metrics_cosine_similarity(embedding, source_embedding, IDENTITY_DIM, &v) == VV_OK)
                    values[METRIC_CSIM] = v;
                if (metrics_expression_distance((const float(*)[2])result_points, (const float(*)[2])driver,
                                                (const float(*)[2])src.points, (const float(*)[2])reference, &v) == VV_OK)
                    values[METRIC_EXPRESSION] = v;
                values[METRIC_POSE] = pose_change_distance((const float(*)[2])result_points, (const float(*)[2])src.points,
                                                           (const float(*)[2])driver, (const float(*)[2])reference);
            }
            if (s == VV_OK) item->frames[item->frame_count++] = index;
            if (s == VV_OK && row >= 0 && grids[e].data) {
                grid_put(&grids[e], &src.image, 0, row);
                grid_put(&grids[e], &frame, 1, row);
                grid_put(&grids[e], &result, 2, row);
            }
        }
        if (options->progress && options->progress(options->progress_user, next, sample_count))
            s = vv_fail(VV_ERR_ABORTED, "evaluation aborted");
    }
    for (int e = 0; e < options->engine_count && first + e < *count; e++) {
        eval_series *item = &(*series)[first + e];
        if (s == VV_OK && item->available) {
            if (problem) {
                item->available = false;
                snprintf(item->note, sizeof item->note, "%s", problem);
            } else {
                char grid_name[400];
                snprintf(grid_name, sizeof grid_name, "cross_%s_from_%s_%s", portrait_name, driver_name, item->engine);
                s = grid_save(item, &grids[e], options, grid_name);
                if (faceless_drivers)
                    snprintf(item->note, sizeof item->note, "%d of %d sampled driving frames without a face",
                             faceless_drivers, sample_count);
            }
        }
        image_free(&grids[e]);
    }
    free(sampled);
    for (int e = 0; e < EVAL_MAX_ENGINES; e++) learned_free(&learned[e]);
    warp_engine_free(src.engine);
    image_free(&src.image);
    image_free(&frame);
    image_free(&result);
    video_reader_close(reader);
    return s;
}
