/* eval/protocol: pairwise frame metrics, self- and cross-reenactment (see protocol.h). */
#include "eval/protocol.h"

#include "animate/animate.h"
#include "animate/gaze.h"
#include "animate/tracking.h"
#include "eval/metrics.h"
#include "eval/plot.h"
#include "face/faces.h"
#include "face/motion.h"
#include "face/pose.h"
#include "face/tracker.h"
#include "img/image.h"
#include "models/models.h"
#include "nn/tfjs.h"
#include "train/train.h"
#include "video/video.h"
#include "warp/warp.h"

#include <math.h>
#include <stdarg.h>
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

/* The clips' tracks (animate's raw tracker, then its smoothing), by path: a clip is tracked
 * once per context, for all its series, self- and cross-reenactment alike. */
typedef struct clip_track {
    char *path;
    motion_track raw;
    smoothed_track smooth;
    int first; /* the first frame with a face (the reference), -1: none */
    float *lids; /* per frame: the face mesh's lid openness (follow_lid_openness) where the raw
                    track has a face, NAN without one or without a reading; measured when a
                    following stretch first reaches the frame (lids_done) */
    float *lids_find; /* the same frames' lid openness in 3D (follow_lid_openness_3d), for
                         finding the blinks */
    uint8_t *lids_done;
} clip_track;

struct eval_track_cache {
    clip_track *items;
    int count, capacity;
    /* The trackers' face pipeline, apart from ctx->faces: a tracker sets its detector's
     * threshold (0.6) and leaves it, which would change what eval's own detections find. */
    vv_faces *faces;
    face_mesh *mesh; /* the driver's gaze (animate/gaze.h), as animate's tracker measures it */
};

static void track_cache_free(eval_track_cache *cache) {
    if (!cache) return;
    for (int i = 0; i < cache->count; i++) {
        free(cache->items[i].path);
        motion_track_free(&cache->items[i].raw);
        smoothed_track_free(&cache->items[i].smooth);
        free(cache->items[i].lids);
        free(cache->items[i].lids_done);
        free(cache->items[i].lids_find);
    }
    free(cache->items);
    vv_faces_free(cache->faces);
    face_mesh_free(cache->mesh);
    free(cache);
}

vv_status eval_context_open(eval_context *ctx, const char *models_dir, int threads) {
    memset(ctx, 0, sizeof *ctx);
    ctx->threads = threads;
    if (models_dir && !(ctx->models_dir = strdup(models_dir))) return vv_fail(VV_ERR_NO_MEMORY, "out of memory");
    ctx->tracks = calloc(1, sizeof *ctx->tracks);
    if (!ctx->tracks) {
        eval_context_close(ctx);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory");
    }
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
    free(ctx->models_dir);
    track_cache_free(ctx->tracks);
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
    eval_reference reference;
    memset(&reference, 0, sizeof reference);
    reference.image = a;
    return eval_compare_reference(ctx, &reference, b, values);
}

vv_status eval_compare_reference(eval_context *ctx, eval_reference *reference, const vv_image *b,
                                 double values[METRIC_COUNT]) {
    const vv_image *a = reference->image;
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
    float pb[68][2];
    bool fb = false;
    if (s == VV_OK && ctx->faces && !reference->measured) {
        s = find_face(ctx, a, reference->points, &reference->found);
        reference->measured = s == VV_OK;
    }
    if (s == VV_OK && ctx->faces) s = find_face(ctx, bb, pb, &fb);
    if (s == VV_OK && ctx->faces) values[METRIC_FACE] = fb;
    if (s == VV_OK && reference->found && fb && ctx->identity) {
        if (!reference->embedded) {
            s = identity_embed(ctx->identity, a, (const float(*)[2])reference->points, reference->embedding);
            reference->embedded = s == VV_OK;
        }
        if (s == VV_OK)
            s = face_values(ctx, bb, (const float(*)[2])pb, (const float(*)[2])reference->points, reference->embedding, values,
                            NULL);
    }
    image_free(&resized);
    return s;
}

/* ---- Engines and sampling ------------------------------------------------------------ */

/* The learned engines eval knows (animate's fsth and hybrid): they need --model, and take
 * "-ft" (fine-tuned on the shots first).  Every other engine name goes to the animator. */
static const char *const learned_engines[] = {"fsth", "hybrid"};

bool eval_engine_learned(const char *engine) {
    return !strncmp(engine, "fsth", 4) || !strncmp(engine, "hybrid", 6);
}
static bool engine_learned(const char *engine) { return eval_engine_learned(engine); }
static bool engine_hybrid(const char *engine) { return !strncmp(engine, "hybrid", 6); }
static bool engine_finetuned(const char *engine) {
    size_t n = strlen(engine);
    return n > 3 && !strcmp(engine + n - 3, "-ft");
}
static bool engine_freeze(const char *engine) { return !strcmp(engine, "freeze"); }

/* The engine name animate knows: without eval's "-ft". */
static void engine_base(const char *engine, char *out, size_t size) {
    snprintf(out, size, "%s", engine);
    if (engine_finetuned(out)) out[strlen(out) - 3] = 0;
}

bool eval_engine_known(const char *name) {
    if (!name || !*name) return false;
    if (engine_freeze(name)) return true;
    char base[64];
    engine_base(name, base, sizeof base);
    for (size_t i = 0; i < sizeof learned_engines / sizeof learned_engines[0]; i++)
        if (!strcmp(base, learned_engines[i])) return true;
    if (engine_learned(name) || engine_finetuned(name)) return false;
    return animate_engine_known(name);
}

bool eval_engine_available(const char *name) { return !engine_learned(name); }

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
    o.follow_frames = 250;
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
    free(series->follow_output);
    free(series->follow_driver);
    free(series->follow_output_valid);
    free(series->follow_driver_valid);
    free(series->follow_output_turn);
    free(series->follow_driver_turn);
    free(series->follow_output_has_turn);
    free(series->follow_driver_has_turn);
    series->follow_output_turn = series->follow_driver_turn = NULL;
    series->follow_output_has_turn = series->follow_driver_has_turn = NULL;
    series->frames = NULL;
    series->values = NULL;
    series->result_features = series->real_features = NULL;
    series->follow_output = series->follow_driver = NULL;
    series->follow_output_valid = series->follow_driver_valid = NULL;
    series->follow_frames = 0;
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

/* model: --model (the learned engines are available with one). */
static vv_status series_init(eval_series *s, const char *clip, const char *engine, int shots, int capacity,
                             const char *model) {
    memset(s, 0, sizeof *s);
    snprintf(s->clip, sizeof s->clip, "%s", clip);
    snprintf(s->engine, sizeof s->engine, "%s", engine);
    s->shots = shots;
    s->available = eval_engine_available(engine) || model;
    if (!s->available) snprintf(s->note, sizeof s->note, "engine '%s' needs --model (no shipped model found)", engine);
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

/* ---- Tracks ------------------------------------------------------------------------ */

/* Progress over one clip's work: tracking it (unless it was tracked before) and the frames
 * rendered. */
typedef struct progress_state {
    const eval_options *options;
    long done, total;
} progress_state;

static vv_status progress_step(progress_state *p) {
    p->done++;
    if (p->options->progress && p->options->progress(p->options->progress_user, p->done, p->total))
        return vv_fail(VV_ERR_ABORTED, "evaluation aborted");
    return VV_OK;
}

/* The trackers' own face pipeline (made on first use). */
static vv_status track_faces(eval_context *ctx) {
    eval_track_cache *cache = ctx->tracks;
    if (cache->faces) return VV_OK;
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = ctx->models_dir;
    fp.threads = ctx->threads;
    return vv_faces_new(&cache->faces, &fp);
}

/* A new raw tracker as animate tracks with (animator_tracker_params), on the trackers' own
 * face pipeline. */
static vv_status tracker_open(eval_context *ctx, face_tracker **out) {
    *out = NULL;
    vv_status s = track_faces(ctx);
    if (s != VV_OK) return s;
    tracker_params tp = animator_tracker_params();
    return face_tracker_new(out, faces_detector(ctx->tracks->faces), faces_predictor(ctx->tracks->faces), &tp);
}

static clip_track *track_cached(eval_context *ctx, const char *path) {
    for (int i = 0; i < ctx->tracks->count; i++)
        if (!strcmp(ctx->tracks->items[i].path, path)) return &ctx->tracks->items[i];
    return NULL;
}

static int track_progress(void *data, long done, long total) {
    (void)done;
    (void)total;
    return progress_step(data) != VV_OK;
}

/* The clip as vv_animate's whole-track mode sees a driver: animate's tracker (raw
 * landmarks) over every frame, then animate_smooth_track with animate's default smoothing.
 * Cached in ctx (the pointer stays valid until the next call). */
static vv_status track_clip(eval_context *ctx, const char *path, progress_state *progress, clip_track **out) {
    *out = track_cached(ctx, path);
    if (*out) return VV_OK;
    eval_track_cache *cache = ctx->tracks;
    if (cache->count == cache->capacity) {
        int grown = cache->capacity ? cache->capacity * 2 : 8;
        clip_track *items = realloc(cache->items, (size_t)grown * sizeof *items);
        if (!items) return vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", path);
        cache->items = items;
        cache->capacity = grown;
    }
    clip_track track;
    memset(&track, 0, sizeof track);
    track.first = -1;
    vv_status s = track_faces(ctx);
    if (s == VV_OK && !cache->mesh) s = face_mesh_new(&cache->mesh, ctx->models_dir);
    /* animate's tracking, with the irises wherever there is a face (the engines that read
     * the gaze take it) */
    if (s == VV_OK) s = tracking_collect(cache->faces, cache->mesh, path, 0, track_progress, progress, NULL, NULL, &track.raw);
    if (s == VV_OK) {
        track.first = motion_first_found(&track.raw);
        vv_animate_params p = vv_animate_default_params();
        s = animate_smooth_track(&track.raw, &p, &track.smooth);
    }
    if (s == VV_OK && !(track.path = strdup(path))) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", path);
    if (s == VV_OK) {
        int n = track.raw.frame_count > 0 ? track.raw.frame_count : 1;
        track.lids = mem_alloc((size_t)n, sizeof *track.lids);
        track.lids_done = mem_calloc((size_t)n, 1);
        track.lids_find = mem_alloc((size_t)n, sizeof *track.lids_find);
        if (!track.lids || !track.lids_done || !track.lids_find) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", path);
    }
    if (s != VV_OK) {
        free(track.path);
        free(track.lids);
        free(track.lids_done);
        free(track.lids_find);
        motion_track_free(&track.raw);
        smoothed_track_free(&track.smooth);
        return s;
    }
    cache->items[cache->count] = track;
    *out = &cache->items[cache->count++];
    return VV_OK;
}

/* ---- Series rendered through the animator ------------------------------------------- */

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

/* FT: fine-tuned on the shots as `vivify finetune` fine-tunes (fsth_finetune's defaults
 * and the faceres identity term at vivify finetune's default weight). */
static vv_status learned_finetune(fsth_model *model, const vv_image *images, const float (*points)[68][2], int count,
                                  const eval_options *options, const char *models_dir) {
    fsth_finetune_params p = fsth_finetune_default_params(count);
    if (options->finetune_steps > 0) p.steps = options->finetune_steps;
    p.seed = options->seed;
    float loss = 0.0f;
    face_mesh *mesh = NULL; /* a warp3d hybrid fine-tunes on the 3D head's warp */
    vv_status s = model->config.warp3d ? face_mesh_new(&mesh, models_dir) : VV_OK;
    p.mesh = mesh;
    tfjs_model *faceres = NULL;
    char path[4096];
    if (s == VV_OK && models_dir && snprintf(path, sizeof path, "%s/faceres.json", models_dir) >= (int)sizeof path)
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "models folder path too long");
    else if (s == VV_OK && !models_dir)
        s = models_find("faceres.json", path, sizeof path);
    if (s == VV_OK) s = tfjs_model_load(&faceres, path);
    p.faceres = faceres, p.w_identity = FINETUNE_IDENTITY_WEIGHT;
    if (s == VV_OK) s = fsth_finetune_images(model, images, points, count, &p, &loss);
    tfjs_model_free(faceres);
    face_mesh_free(mesh);
    return s;
}

/* One series being rendered: an animator (or freeze: the nearest source as it is) and the
 * tracker of its output over the following stretch. */
typedef struct series_run {
    bool open;
    char engine[64];          /* animate's name for it (the animator's params point here) */
    vv_animator *animator;    /* NULL: freeze */
    bool gaze;                /* the animator takes the driver's gaze (animate measures it for
                                 an animator with a face mesh: the 3D head) */
    int source_count;         /* given to the animator (at most ANIMATE_MAX_SOURCES) */
    int shots_used;           /* candidates used: a learned engine's person is made from all */
    int source_of[EVAL_MAX_SHOT_VALUE];          /* the candidate each source came from */
    const vv_image *images[EVAL_MAX_SHOT_VALUE]; /* the sources (the animator's copies, or freeze's) */
    vv_image frozen[EVAL_MAX_SHOT_VALUE];        /* freeze: views of the caller's images (not owned) */
    float (*points)[68][2];   /* their landmarks, for the choice of source */
    int current;              /* freeze: the source in use */
    face_tracker *tracker;    /* over the output's following stretch */
    float *lids;              /* the output's lid openness per stretch frame (NAN: no reading) */
    uint8_t *lids_want;       /* per stretch frame: LIDS_DRIVER, LIDS_OUTPUT: measure the lids there */
    vv_image grid, result;
} series_run;

static void run_close(series_run *r) {
    vv_animator_free(r->animator);
    face_tracker_free(r->tracker);
    free(r->lids);
    free(r->lids_want);
    free(r->points);
    image_free(&r->grid);
    image_free(&r->result);
    memset(r, 0, sizeof *r);
}

/* Opens a series' renderer on candidate sources (images with the landmarks eval found;
 * names in messages, unique and none a prefix of another).  Learned engines: the model
 * loaded, for -ft fine-tuned on the candidates, then handed to the animator.  A candidate
 * the animator finds no usable face in (its message names it) is left out and the rest
 * tried again.  why: "" when open, else why the series cannot run (no candidate left, an
 * engine the animator does not know); errors otherwise. */
static vv_status run_open(series_run *r, eval_context *ctx, const eval_options *o, const char *engine,
                          const vv_image *images, const float (*points)[68][2], const char *const *names, int count,
                          char *why, size_t why_size) {
    why[0] = 0;
    int keep[EVAL_MAX_SHOT_VALUE], kept = count < EVAL_MAX_SHOT_VALUE ? count : EVAL_MAX_SHOT_VALUE;
    for (int i = 0; i < kept; i++) keep[i] = i;
    engine_base(engine, r->engine, sizeof r->engine);
    r->points = mem_alloc(EVAL_MAX_SHOT_VALUE, sizeof r->points[0]);
    if (!r->points) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the sources");
    vv_status s = VV_OK;
    if (!engine_freeze(engine) && !engine_learned(engine) && kept > ANIMATE_MAX_SOURCES) {
        snprintf(why, why_size, "vivify animate takes at most %d sources, not %d", ANIMATE_MAX_SOURCES, kept);
        return VV_OK;
    }
    int given = kept; /* to the animator */
    while (!engine_freeze(engine)) {
        if (kept == 0) {
            snprintf(why, why_size, "no source with a usable face");
            return VV_OK;
        }
        vv_image kept_images[EVAL_MAX_SHOT_VALUE];
        const char *kept_names[EVAL_MAX_SHOT_VALUE];
        for (int i = 0; i < kept; i++) {
            kept_images[i] = images[keep[i]];
            kept_names[i] = names[keep[i]];
            memcpy(r->points[i], points[keep[i]], sizeof r->points[i]);
        }
        fsth_model *model = NULL;
        /* Learned engines render from the person (source 0 is the crop they paste into):
         * more shots than the animator takes sources make the person here, from all. */
        given = kept < ANIMATE_MAX_SOURCES ? kept : ANIMATE_MAX_SOURCES;
        if (engine_learned(engine)) {
            s = learned_load(&model, o->model, engine);
            if (s == VV_OK && engine_finetuned(engine))
                s = learned_finetune(model, kept_images, (const float(*)[68][2])r->points, kept, o, ctx->models_dir);
            else if (s == VV_OK && kept > given)
                s = fsth_prepare(model, kept_images, (const float(*)[68][2])r->points, kept);
            if (s != VV_OK) {
                fsth_model_free(model);
                return s;
            }
        }
        vv_animate_params p = vv_animate_default_params();
        p.engine = r->engine;
        p.crop_size = o->crop_size;
        p.threads = ctx->threads;
        p.models_dir = ctx->models_dir;
        s = animator_create(&r->animator, kept_images, kept_names, given, &p, model);
        if (s == VV_OK) break;
        if (s == VV_ERR_INVALID_ARGUMENT) { /* an engine the animator does not know */
            snprintf(why, why_size, "%s", vv_last_error());
            return VV_OK;
        }
        if (s != VV_ERR_NO_FACE) return s;
        const char *message = vv_last_error();
        int bad = -1;
        for (int i = 0; i < given && bad < 0; i++)
            if (strstr(message, kept_names[i])) bad = i;
        if (bad < 0) {
            snprintf(why, why_size, "%s", message);
            return VV_OK;
        }
        memmove(keep + bad, keep + bad + 1, (size_t)(kept - bad - 1) * sizeof keep[0]);
        kept--;
    }
    if (engine_freeze(engine)) given = kept;
    r->source_count = given;
    r->shots_used = kept;
    for (int i = 0; i < given; i++) {
        r->source_of[i] = keep[i];
        if (r->animator) {
            r->images[i] = &r->animator->sources[i].image;
            memcpy(r->points[i], r->animator->sources[i].face.landmarks, sizeof r->points[i]);
        } else {
            r->frozen[i] = images[keep[i]];
            r->images[i] = &r->frozen[i];
            memcpy(r->points[i], points[keep[i]], sizeof r->points[i]);
        }
    }
    r->open = true;
    return VV_OK;
}

/* The driver's gaze at the reference frame, for an animator that takes gaze. */
static void run_reference_gaze(series_run *r, const smoothed_track *st, int reference) {
    r->gaze = r->animator && animator_reads_gaze(r->animator) && st->gaze;
    if (r->gaze)
        animator_set_reference_gaze(r->animator, st->has_gaze[reference] ? (const float(*)[2])st->gaze[reference] : NULL);
    if (r->gaze && st->turn)
        animator_set_reference_turn(r->animator, st->has_turn[reference] ? (const float(*)[3])st->turn[reference] : NULL);
}

/* The face mesh's lid closure (follow_measure_blinks) costs a mesh run per frame read.  The
 * driver's blinks are found by the mesh as well as by dlib, so the driver's lids are read on
 * every frame of the stretch, before rendering (driver_lids_read: one more pass over the
 * clip's frames); the output's only where they count: within FOLLOW_BLINK_WINDOW +
 * LIDS_LAG_REACH frames of the driver's blinks (a lag within LIDS_LAG_REACH keeps their
 * windows read; beyond it a blink goes unread by the mesh and is skipped for it) and every
 * LIDS_STEP-th frame (the open levels). */
#define LIDS_STEP 10
#define LIDS_LAG_REACH 3
#define LIDS_MAX_BLINKS 1024
enum { LIDS_DRIVER = 1, LIDS_OUTPUT = 2 };

static void lids_plan(const float (*driver)[68][2], const uint8_t *valid, const float *find, int frames, uint8_t *want) {
    int blinks[LIDS_MAX_BLINKS];
    int n = follow_blink_frames_both(driver, valid, find, frames, LIDS_STEP, blinks, LIDS_MAX_BLINKS);
    if (n > LIDS_MAX_BLINKS) n = LIDS_MAX_BLINKS;
    for (int t = 0; t < frames; t++) want[t] = LIDS_DRIVER | (t % LIDS_STEP ? 0 : LIDS_OUTPUT);
    for (int k = 0; k < n; k++) {
        const int reach = FOLLOW_BLINK_WINDOW + LIDS_LAG_REACH;
        for (int t = blinks[k] - reach; t <= blinks[k] + reach; t++)
            if (t >= 0 && t < frames) want[t] |= LIDS_OUTPUT;
    }
}

static vv_status track_lids(eval_context *ctx, clip_track *track, int index, const vv_image *frame);

/* The driver's lids on its frames [start, end) (those not read before), from its own pass
 * over the clip. */
static vv_status driver_lids_read(eval_context *ctx, clip_track *track, int start, int end) {
    int todo = start;
    while (todo < end && track->lids_done[todo]) todo++;
    if (todo >= end) return VV_OK;
    video_reader *reader = NULL;
    vv_image frame = {0};
    vv_status s = video_reader_open(&reader, track->path);
    for (int index = 0; s == VV_OK && index < end; index++) {
        bool got = false;
        double t;
        s = video_reader_next(reader, &frame, &t, &got);
        if (s != VV_OK || !got) break;
        if (index >= start) s = track_lids(ctx, track, index, &frame);
    }
    video_reader_close(reader);
    image_free(&frame);
    return s;
}

/* The output tracker, for a series with a following stretch. */
static vv_status run_follow_begin(series_run *r, eval_context *ctx, eval_series *item, clip_track *track,
                                  int start, int frames) {
    if (frames <= 0) return VV_OK;
    vv_status s = tracker_open(ctx, &r->tracker);
    if (s != VV_OK) return s;
    item->follow_output = mem_calloc((size_t)frames, sizeof item->follow_output[0]);
    item->follow_driver = mem_alloc((size_t)frames, sizeof item->follow_driver[0]);
    item->follow_output_valid = mem_calloc((size_t)frames, 1);
    item->follow_driver_valid = mem_alloc((size_t)frames, 1);
    r->lids = mem_alloc((size_t)frames, sizeof *r->lids);
    r->lids_want = mem_calloc((size_t)frames, 1);
    item->follow_output_turn = mem_calloc((size_t)frames, sizeof item->follow_output_turn[0]);
    item->follow_driver_turn = mem_calloc((size_t)frames, sizeof item->follow_driver_turn[0]);
    item->follow_output_has_turn = mem_calloc((size_t)frames, 1);
    item->follow_driver_has_turn = mem_calloc((size_t)frames, 1);
    if (!item->follow_output || !item->follow_driver || !item->follow_output_valid || !item->follow_driver_valid ||
        !r->lids || !r->lids_want || !item->follow_output_turn || !item->follow_driver_turn ||
        !item->follow_output_has_turn || !item->follow_driver_has_turn)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory for %d following frames", frames);
    memcpy(item->follow_driver, track->raw.points + start, (size_t)frames * sizeof item->follow_driver[0]);
    memcpy(item->follow_driver_valid, track->raw.found + start, (size_t)frames);
    if (track->raw.turn && track->raw.has_turn) {
        memcpy(item->follow_driver_turn, track->raw.turn + start, (size_t)frames * sizeof item->follow_driver_turn[0]);
        memcpy(item->follow_driver_has_turn, track->raw.has_turn + start, (size_t)frames);
    }
    for (int t = 0; t < frames; t++) r->lids[t] = NAN;
    s = driver_lids_read(ctx, track, start, start + frames);
    if (s != VV_OK) return s;
    float *find = mem_alloc((size_t)frames, sizeof *find);
    if (!find) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for %d following frames", frames);
    for (int t = 0; t < frames; t++) find[t] = track->lids_done[start + t] ? track->lids_find[start + t] : NAN;
    lids_plan(item->follow_driver, item->follow_driver_valid, find, frames, r->lids_want);
    free(find);
    item->follow_start = start;
    item->follow_frames = frames;
    return VV_OK;
}

/* The face mesh's lid openness of the face whose dlib points are given (one mesh run with
 * the irises, from the ROI those points make): NAN when the mesh does not hold the face. */
static vv_status lid_openness(const face_mesh *mesh, const vv_image *image, const float points[68][2], float *out,
                              float *out_3d) {
    *out = NAN;
    if (out_3d) *out_3d = NAN;
    face_mesh_roi roi;
    face_mesh_roi_from_landmarks68(points, &roi);
    face_mesh_result result;
    vv_status s = face_mesh_run(mesh, image, &roi, true, &result);
    if (s == VV_ERR_INVALID_ARGUMENT) return VV_OK; /* a ROI off the image or degenerate: no reading */
    if (s == VV_OK && result.score >= FACE_MESH_MIN_PRESENCE) {
        *out = follow_lid_openness((const float(*)[3])result.points);
        if (out_3d) *out_3d = follow_lid_openness_3d((const float(*)[3])result.points);
    }
    return s;
}

/* The driver's lid openness at frame `index` (its raw track's face on the clip's frame),
 * measured once per clip. */
static vv_status track_lids(eval_context *ctx, clip_track *track, int index, const vv_image *frame) {
    if (index < 0 || index >= track->raw.frame_count || track->lids_done[index]) return VV_OK;
    track->lids_done[index] = 1;
    track->lids[index] = track->lids_find[index] = NAN;
    if (!track->raw.found[index]) return VV_OK;
    return lid_openness(ctx->tracks->mesh, frame, (const float(*)[2])track->raw.points[index], &track->lids[index],
                        &track->lids_find[index]);
}

/* The output's frame `index` of the stretch, tracked. */
static vv_status run_follow_frame(series_run *r, eval_context *ctx, clip_track *track, eval_series *item, int index,
                                  const vv_image *result, const vv_image *driver_frame, double fps) {
    int t = index - item->follow_start;
    if (!r->tracker || t < 0 || t >= item->follow_frames) return VV_OK;
    if (r->lids_want[t] & LIDS_DRIVER) {
        vv_status s = track_lids(ctx, track, index, driver_frame);
        if (s != VV_OK) return s;
    }
    bool found = false;
    float box[4], score[1], points[68][2];
    vv_status s = face_tracker_update(r->tracker, result, index / fps, &found, box, score, points);
    if (s == VV_OK && found) {
        memcpy(item->follow_output[t], points, sizeof points);
        item->follow_output_valid[t] = 1;
        item->follow_output_faces++;
        if (r->lids_want[t] & LIDS_OUTPUT) s = lid_openness(ctx->tracks->mesh, result, (const float(*)[2])points, &r->lids[t], NULL);
        /* the output's turn where the driver's was measured (the same estimator on both) */
        if (s == VV_OK && item->follow_driver_has_turn[t])
            item->follow_output_has_turn[t] = gaze_measure_turn(ctx->tracks->mesh, result, (const float(*)[2])points,
                                                                item->follow_output_turn[t]) == VV_OK;
    }
    return s;
}

/* The following metrics once the stretch is rendered (a series without one: all NAN). */
static vv_status run_follow_end(series_run *r, eval_series *item, const clip_track *track) {
    int shift = item->follow_frames / 4;
    if (shift > EVAL_FOLLOW_MAX_SHIFT) shift = EVAL_FOLLOW_MAX_SHIFT;
    /* the pose signals from the face mesh's turns when the driver's were measured */
    bool turns = false;
    for (int t = 0; t < item->follow_frames && !turns; t++) turns = item->follow_driver_has_turn[t];
    follow_turns output_turns = {(const float(*)[3][3])item->follow_output_turn, item->follow_output_has_turn};
    follow_turns driver_turns = {(const float(*)[3][3])item->follow_driver_turn, item->follow_driver_has_turn};
    vv_status s = follow_measure((const float(*)[68][2])item->follow_output, item->follow_output_valid, item->follow_frames,
                                 (const float(*)[68][2])item->follow_driver, item->follow_driver_valid,
                                 item->follow_frames, shift, turns ? &output_turns : NULL, turns ? &driver_turns : NULL,
                                 &item->follow);
    if (s != VV_OK || item->follow_frames <= 0 || !r->lids) return s;
    float *driver = mem_alloc((size_t)item->follow_frames, sizeof *driver);
    float *find = mem_alloc((size_t)item->follow_frames, sizeof *find);
    if (!driver || !find) {
        free(driver), free(find);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory for %d following frames", item->follow_frames);
    }
    for (int t = 0; t < item->follow_frames; t++) { /* the frames this series read (another may have read more) */
        int f = item->follow_start + t;
        bool read = (r->lids_want[t] & LIDS_DRIVER) && track->lids_done[f];
        driver[t] = read ? track->lids[f] : NAN;
        find[t] = read ? track->lids_find[f] : NAN;
    }
    s = follow_measure_blinks((const float(*)[68][2])item->follow_output, item->follow_output_valid, r->lids,
                              item->follow_frames, (const float(*)[68][2])item->follow_driver, item->follow_driver_valid,
                              driver, find, item->follow_frames, LIDS_STEP, &item->follow);
    free(driver), free(find);
    return s;
}

/* Smoothed driver frame d (d < 0: before the clip starts: no face yet). */
static void drive_at(const smoothed_track *st, long d, const float (**points)[2], bool *has_face, bool *found) {
    static const float none[68][2];
    bool ok = d >= 0 && d < st->count;
    *points = ok ? (const float(*)[2])st->points[d] : none;
    *has_face = ok && st->has_face[d];
    *found = ok && st->found[d];
}

/* A frame not rendered: only the choice of source moves on, as rendering it would. */
static void run_skip(series_run *r, const smoothed_track *st, long d) {
    const float (*points)[2];
    bool has_face, found;
    drive_at(st, d, &points, &has_face, &found);
    if (!r->open || !has_face || r->source_count < 2) return;
    if (!r->animator) {
        r->current = animate_nearest_source(points, (const float(*)[68][2])r->points, r->source_count, r->current);
    } else if (!r->animator->learned) {
        int next = animate_nearest_source(points, (const float(*)[68][2])r->points, r->source_count, r->animator->current);
        if (next != r->animator->current) r->animator->switches++;
        r->animator->current = next;
    }
}

/* Renders driver frame d; *out: the run's result (or freeze's source), *used: the source. */
static vv_status run_render(series_run *r, const smoothed_track *st, long d, const vv_image *driver_frame,
                            const vv_image **out, int *used) {
    const float (*points)[2];
    bool has_face, found;
    drive_at(st, d, &points, &has_face, &found);
    if (!r->animator) {
        if (has_face && r->source_count > 1)
            r->current = animate_nearest_source(points, (const float(*)[68][2])r->points, r->source_count, r->current);
        *out = r->images[r->current];
        *used = r->current;
        return VV_OK;
    }
    *out = &r->result;
    if (r->gaze) {
        bool has_gaze = d >= 0 && d < st->count && st->has_gaze[d];
        animator_set_gaze(r->animator, has_gaze ? (const float(*)[2])st->gaze[d] : NULL);
        bool has_turn = st->turn && d >= 0 && d < st->count && st->has_turn[d];
        animator_set_turn(r->animator, has_turn ? (const float(*)[3])st->turn[d] : NULL);
    }
    return animator_render(r->animator, points, has_face, driver_frame, found, &r->result, used);
}

/* The decoded driver frames of the last delay + 1 indices (the delayed engine's mouth). */
static vv_status ring_put(vv_image *ring, int delay, long index, const vv_image *frame) {
    if (delay <= 0) return VV_OK;
    vv_image *slot = &ring[index % (delay + 1)];
    if (slot->width == frame->width && slot->height == frame->height && slot->channels == frame->channels) {
        memcpy(slot->data, frame->data, (size_t)frame->width * frame->height * frame->channels);
        return VV_OK;
    }
    image_free(slot);
    return image_copy(slot, frame);
}

/* Frame d = index - delay: the current frame without a delay, else from the ring (NULL
 * before the clip starts). */
static const vv_image *ring_get(vv_image *ring, int delay, long d, const vv_image *frame) {
    if (delay <= 0) return frame;
    return d >= 0 ? &ring[d % (delay + 1)] : NULL;
}

static void note_append(eval_series *item, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_append(eval_series *item, const char *fmt, ...) {
    size_t used = strlen(item->note);
    if (used && used + 2 < sizeof item->note) {
        memcpy(item->note + used, "; ", 3);
        used += 2;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(item->note + used, sizeof item->note - used, fmt, args);
    va_end(args);
}

/* Frames of the stretch [start, end) and the sampled ones outside it. */
static long frames_to_render(const int *sampled, int sample_count, int start, int end) {
    long total = end > start ? end - start : 0;
    for (int i = 0; i < sample_count; i++) total += sampled[i] < start || sampled[i] >= end;
    return total;
}

/* The animator's warnings (a source the 3D head could not hold, rendered in 2D) in the note. */
static void run_warnings(const series_run *r, eval_series *item) {
    const char *warning;
    for (int i = 0; r->animator && (warning = vv_animator_warning(r->animator, i)); i++) note_append(item, "%s", warning);
}

/* ---- Self-reenactment --------------------------------------------------------------- */

typedef struct shot_source {
    vv_image image;
    float points[68][2];
    bool face;
} shot_source;

vv_status eval_self_reenactment(eval_context *ctx, const eval_options *options, const char *clip_path,
                                eval_series **series, int *count) {
    if (options->delay_frames < 0 || options->delay_frames > EVAL_MAX_DELAY)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "eval: delay %d frames is outside 0..%d", options->delay_frames, EVAL_MAX_DELAY);
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
    series_run *runs = mem_calloc((size_t)(series_total > 0 ? series_total : 1), sizeof *runs);
    if (!runs) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory for the series");
    bool any = false;
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
            any |= item.available;
            if (s == VV_OK) s = series_append(series, count, &item);
            else eval_series_free(&item);
        }
    /* The whole clip tracked once (raw) and smoothed once, as animate does. */
    const int delay = options->delay_frames;
    int start = kfit, end = kfit;
    progress_state progress = {options, 0, 0};
    clip_track *track = NULL;
    if (s == VV_OK && any && kfit > 0 && (sample_count > 0 || options->follow_frames > 0)) {
        progress.total = (track_cached(ctx, clip_path) ? 0 : n) +
                         frames_to_render(sampled, sample_count, kfit, options->follow_frames > 0 ? kfit + options->follow_frames : kfit);
        s = track_clip(ctx, clip_path, &progress, &track);
    }
    if (s == VV_OK && track && track->first < 0) {
        for (int i = first; i < *count; i++)
            if ((*series)[i].available) {
                (*series)[i].available = false;
                snprintf((*series)[i].note, sizeof (*series)[i].note, "no face tracked in any frame of the clip");
            }
        track = NULL;
    }
    if (track && options->follow_frames > 0) {
        end = kfit + options->follow_frames;
        if (end > track->raw.frame_count) end = track->raw.frame_count;
        if (end < start) end = start;
    }
    double fps = track ? track->raw.fps : 25;

    shot_source sources[EVAL_MAX_SHOT_VALUE];
    memset(sources, 0, sizeof sources);
    vv_image ring[EVAL_MAX_DELAY + 1];
    memset(ring, 0, sizeof ring);
    video_reader *reader = NULL;
    vv_image frame = {0}, real = {0}, landmark_image = {0};
    int faceless_drivers = 0, next = 0;
    bool opened = false;
    int last = sample_count > 0 ? sampled[sample_count - 1] : -1;
    if (end - 1 > last) last = end - 1;
    if (s == VV_OK && track) s = video_reader_open(&reader, clip_path);
    for (int index = 0; s == VV_OK && reader && index <= last; index++) {
        bool got = false;
        double t;
        s = video_reader_next(reader, &frame, &t, &got);
        if (s != VV_OK || !got) break;
        s = ring_put(ring, delay, index, &frame);
        if (s != VV_OK) break;
        long d = index - delay; /* the driver frame this output frame is rendered from */
        const vv_image *driver_image = ring_get(ring, delay, d, &frame);
        if (index < kfit) { /* a source frame */
            shot_source *src = &sources[index];
            s = image_copy(&src->image, &frame);
            if (s == VV_OK) s = find_face(ctx, &frame, src->points, &src->face);
            continue;
        }
        if (!opened) { /* the sources are in: each series' animator */
            opened = true;
            for (int i = first; s == VV_OK && i < *count; i++) {
                eval_series *item = &(*series)[i];
                series_run *r = &runs[i - first];
                if (!item->available) continue;
                vv_image images[EVAL_MAX_SHOT_VALUE];
                float (*points)[68][2] = mem_alloc(EVAL_MAX_SHOT_VALUE, sizeof *points);
                char names[EVAL_MAX_SHOT_VALUE][300];
                const char *name_list[EVAL_MAX_SHOT_VALUE];
                int frame_of[EVAL_MAX_SHOT_VALUE], candidates = 0;
                if (!points) {
                    s = vv_fail(VV_ERR_NO_MEMORY, "out of memory for the sources");
                    break;
                }
                for (int j = 0; j < item->shots && j < kfit; j++) {
                    if (!sources[j].face) continue;
                    images[candidates] = sources[j].image;
                    memcpy(points[candidates], sources[j].points, sizeof points[0]);
                    snprintf(names[candidates], sizeof names[0], "%s[%d]", name, j);
                    name_list[candidates] = names[candidates];
                    frame_of[candidates++] = j;
                }
                char why[256] = "";
                if (candidates == 0) snprintf(why, sizeof why, "no usable face in the first %d frames", item->shots);
                else s = run_open(r, ctx, options, item->engine, images, (const float(*)[68][2])points, name_list, candidates,
                                  why, sizeof why);
                free(points);
                if (s == VV_OK && why[0]) {
                    item->available = false;
                    snprintf(item->note, sizeof item->note, "%s", why);
                    run_close(r);
                    continue;
                }
                if (s != VV_OK) break;
                /* Same clip: source j IS driver frame j, so that frame is its reference. */
                if (r->animator) {
                    for (int j = 0; j < r->source_count; j++) {
                        int f = frame_of[r->source_of[j]];
                        animator_set_source_reference(r->animator, j,
                                                      track->smooth.has_face[f] ? (const float(*)[2])track->smooth.points[f]
                                                                                : (const float(*)[2])r->points[j]);
                    }
                    animator_set_reference(r->animator, (const float(*)[2])track->smooth.points[track->first]);
                    run_reference_gaze(r, &track->smooth, track->first);
                }
                run_warnings(r, item);
                for (int f = 0; f < kfit; f++) run_skip(r, &track->smooth, f - delay);
                s = run_follow_begin(r, ctx, item, track, start, end - start);
                if (s == VV_OK && options->output_dir) s = grid_create(&r->grid, options->grid_rows, labels);
            }
            if (s != VV_OK) break;
            bool running = false;
            for (int i = first; i < *count; i++) running |= runs[i - first].open;
            if (!running) break; /* every series said why not */
        }
        bool sampled_here = next < sample_count && sampled[next] == index;
        bool in_stretch = index >= start && index < end;
        if (!sampled_here && !in_stretch) {
            for (int i = first; i < *count; i++) run_skip(&runs[i - first], &track->smooth, d);
            continue;
        }
        int position = sampled_here ? next++ : -1;
        float driver[68][2];
        bool driver_face = false;
        float real_embedding[IDENTITY_DIM];
        int row = -1;
        if (sampled_here) {
            s = find_face(ctx, &frame, driver, &driver_face);
            if (s == VV_OK && !driver_face) faceless_drivers++;
            if (s == VV_OK && driver_face) s = identity_embed(ctx->identity, &frame, (const float(*)[2])driver, real_embedding);
            if (driver_face) row = grid_row(position, sample_count, options->grid_rows);
            if (s == VV_OK && row >= 0 && options->output_dir) { /* what drives: the smoothed points */
                const float (*points)[2];
                bool has_face, found;
                drive_at(&track->smooth, d, &points, &has_face, &found);
                image_free(&landmark_image);
                s = image_create(&landmark_image, frame.width, frame.height, 3);
                if (s == VV_OK && has_face) landmarks_rasterize(&landmark_image, points, 2);
            }
        }
        for (int i = first; s == VV_OK && i < *count; i++) {
            eval_series *item = &(*series)[i];
            series_run *r = &runs[i - first];
            if (!item->available || !r->open) continue;
            const vv_image *result = NULL;
            int used = 0;
            s = run_render(r, &track->smooth, d, driver_image, &result, &used);
            if (s == VV_OK && in_stretch) s = run_follow_frame(r, ctx, track, item, index, result, &frame, fps);
            if (s == VV_OK && options->frames_dir) {
                char path[1400];
                snprintf(path, sizeof path, "%s/self_%s_%s_K%d_%05d.png", options->frames_dir, name, item->engine, item->shots,
                         index);
                s = image_save(result, path);
            }
            if (s != VV_OK || !sampled_here || !driver_face) continue;
            s = crop_top_left(&frame, result->width, result->height, &real);
            double *values = item->values[item->frame_count];
            values_clear(values);
            image_metrics im;
            if (s == VV_OK) s = metrics_images(&real, result, NULL, ctx->threads, &im);
            if (s == VV_OK) {
                values[METRIC_SSIM] = im.ssim;
                values[METRIC_PSNR] = im.psnr;
                values[METRIC_L1] = im.l1;
            }
            float result_points[68][2];
            bool result_face = false;
            if (s == VV_OK) s = find_face(ctx, result, result_points, &result_face);
            values[METRIC_FACE] = result_face;
            if (s == VV_OK && result_face) {
                s = face_values(ctx, result, (const float(*)[2])result_points, (const float(*)[2])driver, real_embedding,
                                values, item->result_features + (size_t)item->result_feature_count * IDENTITY_DIM);
                if (s == VV_OK) item->result_feature_count++;
            }
            if (s == VV_OK) {
                memcpy(item->real_features + (size_t)item->real_feature_count++ * IDENTITY_DIM, real_embedding,
                       sizeof real_embedding);
                item->frames[item->frame_count++] = index;
            }
            if (s == VV_OK && row >= 0 && r->grid.data) {
                grid_put(&r->grid, r->images[used], 0, row);
                grid_put(&r->grid, &landmark_image, 1, row);
                grid_put(&r->grid, result, 2, row);
                grid_put(&r->grid, &real, 3, row);
            }
            image_free(&real);
        }
        if (s == VV_OK) s = progress_step(&progress);
    }
    for (int i = first; i < *count; i++) {
        eval_series *item = &(*series)[i];
        series_run *r = &runs[i - first];
        if (s == VV_OK && item->available && !r->open) {
            item->available = false;
            snprintf(item->note, sizeof item->note, "clip too short: no frame after the %d source frames could be decoded", kfit);
        }
        if (s == VV_OK && item->available) {
            char grid_name[400];
            snprintf(grid_name, sizeof grid_name, "self_%s_%s_K%d", name, item->engine, item->shots);
            s = grid_save(item, &r->grid, options, grid_name);
            if (s == VV_OK) s = run_follow_end(r, item, track);
            if (faceless_drivers || r->shots_used < item->shots)
                note_append(item, "%d of %d sampled driving frames without a face; %d of %d sources with a face",
                            faceless_drivers, sample_count, r->shots_used, item->shots);
            if (item->follow_frames > 0 && item->follow_output_faces < item->follow_frames)
                note_append(item, "a face in %d of %d following output frames", item->follow_output_faces, item->follow_frames);
        }
        run_close(r);
    }
    free(runs);
    free(sampled);
    for (int j = 0; j < EVAL_MAX_SHOT_VALUE; j++) image_free(&sources[j].image);
    for (int j = 0; j <= EVAL_MAX_DELAY; j++) image_free(&ring[j]);
    image_free(&frame);
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
    if (options->delay_frames < 0 || options->delay_frames > EVAL_MAX_DELAY)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "eval: delay %d frames is outside 0..%d", options->delay_frames, EVAL_MAX_DELAY);
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
    series_run runs[EVAL_MAX_ENGINES];
    memset(runs, 0, sizeof runs);
    bool any = false;
    for (int e = 0; s == VV_OK && e < options->engine_count && e < EVAL_MAX_ENGINES; e++) {
        eval_series item;
        s = series_init(&item, name, options->engines[e], 1, sample_count, options->model);
        if (s != VV_OK) break;
        any |= item.available;
        s = series_append(series, count, &item);
        if (s != VV_OK) eval_series_free(&item);
    }
    shot_source src;
    memset(&src, 0, sizeof src);
    float source_embedding[IDENTITY_DIM];
    const char *problem = NULL;
    if (s == VV_OK && any) s = image_load(&src.image, portrait_path);
    if (s == VV_OK && any) s = find_face(ctx, &src.image, src.points, &src.face);
    if (s == VV_OK && any && !src.face) problem = "no face found in the portrait";
    if (s == VV_OK && any && !problem) s = identity_embed(ctx->identity, &src.image, (const float(*)[2])src.points, source_embedding);
    /* The driver tracked once (raw) and smoothed once; the reference is its first face. */
    const int delay = options->delay_frames;
    progress_state progress = {options, 0, 0};
    clip_track *track = NULL;
    if (s == VV_OK && any && !problem) {
        int reach = options->follow_frames > 0 ? options->follow_frames : 0;
        progress.total = (track_cached(ctx, driver_path) ? 0 : n) + frames_to_render(sampled, sample_count, 0, reach);
        s = track_clip(ctx, driver_path, &progress, &track);
        if (s == VV_OK && track->first < 0) problem = "no face tracked in any frame of the driver";
    }
    int start = 0, end = 0;
    if (s == VV_OK && track && !problem) {
        start = track->first;
        end = options->follow_frames > 0 ? start + options->follow_frames : start;
        if (end > track->raw.frame_count) end = track->raw.frame_count;
    }
    double fps = track ? track->raw.fps : 25;
    const char *portrait_names[1] = {portrait_name};
    for (int e = 0; s == VV_OK && track && !problem && first + e < *count; e++) {
        eval_series *item = &(*series)[first + e];
        series_run *r = &runs[e];
        if (!item->available) continue;
        char why[256] = "";
        s = run_open(r, ctx, options, item->engine, &src.image, (const float(*)[68][2])&src.points, portrait_names, 1, why,
                     sizeof why);
        if (s == VV_OK && why[0]) {
            item->available = false;
            snprintf(item->note, sizeof item->note, "%s", why);
            run_close(r);
            continue;
        }
        if (s == VV_OK && r->animator) {
            animator_set_reference(r->animator, (const float(*)[2])track->smooth.points[track->first]);
            run_reference_gaze(r, &track->smooth, track->first);
        }
        run_warnings(r, item);
        if (s == VV_OK) s = run_follow_begin(r, ctx, item, track, start, end - start);
        if (s == VV_OK && options->output_dir) s = grid_create(&r->grid, options->grid_rows, labels);
    }
    vv_image ring[EVAL_MAX_DELAY + 1];
    memset(ring, 0, sizeof ring);
    video_reader *reader = NULL;
    vv_image frame = {0};
    float reference[68][2];
    bool have_reference = false;
    int faceless_drivers = 0, next = 0;
    int last = sample_count > 0 ? sampled[sample_count - 1] : -1;
    if (end - 1 > last) last = end - 1;
    if (s == VV_OK && track && !problem) s = video_reader_open(&reader, driver_path);
    for (int index = 0; s == VV_OK && reader && index <= last; index++) {
        bool got = false;
        double t;
        s = video_reader_next(reader, &frame, &t, &got);
        if (s != VV_OK || !got) break;
        s = ring_put(ring, delay, index, &frame);
        if (s != VV_OK) break;
        long d = index - delay;
        const vv_image *driver_image = ring_get(ring, delay, d, &frame);
        bool sampled_here = next < sample_count && sampled[next] == index;
        bool in_stretch = index >= start && index < end;
        float driver[68][2];
        bool driver_face = false;
        /* Expression and pose are measured against the driver's first detected face from the
         * pipeline's reference frame on (the detector's landmarks, as the sampled frames'). */
        if ((sampled_here || !have_reference) && index >= track->first) {
            s = find_face(ctx, &frame, driver, &driver_face);
            if (s != VV_OK) break;
            if (!have_reference && driver_face) {
                memcpy(reference, driver, sizeof reference);
                have_reference = true;
            }
        }
        if (!sampled_here && !in_stretch) {
            for (int e = 0; first + e < *count; e++) run_skip(&runs[e], &track->smooth, d);
            continue;
        }
        int position = sampled_here ? next++ : -1;
        bool measured = sampled_here && driver_face && have_reference;
        if (sampled_here && !measured) faceless_drivers++;
        int row = measured ? grid_row(position, sample_count, options->grid_rows) : -1;
        for (int e = 0; s == VV_OK && first + e < *count; e++) {
            eval_series *item = &(*series)[first + e];
            series_run *r = &runs[e];
            if (!item->available || !r->open) continue;
            const vv_image *result = NULL;
            int used = 0;
            s = run_render(r, &track->smooth, d, driver_image, &result, &used);
            if (s == VV_OK && in_stretch) s = run_follow_frame(r, ctx, track, item, index, result, &frame, fps);
            if (s == VV_OK && options->frames_dir) {
                char path[1400];
                snprintf(path, sizeof path, "%s/cross_%s_from_%s_%s_%05d.png", options->frames_dir, portrait_name, driver_name,
                         item->engine, index);
                s = image_save(result, path);
            }
            if (s != VV_OK || !measured) continue;
            double *values = item->values[item->frame_count];
            values_clear(values);
            float result_points[68][2];
            bool result_face = false;
            s = find_face(ctx, result, result_points, &result_face);
            values[METRIC_FACE] = result_face;
            if (s == VV_OK && result_face) {
                float embedding[IDENTITY_DIM];
                double v;
                s = identity_embed(ctx->identity, result, (const float(*)[2])result_points, embedding);
                if (s == VV_OK && metrics_cosine_similarity(embedding, source_embedding, IDENTITY_DIM, &v) == VV_OK)
                    values[METRIC_CSIM] = v;
                if (metrics_expression_distance((const float(*)[2])result_points, (const float(*)[2])driver,
                                                (const float(*)[2])src.points, (const float(*)[2])reference, &v) == VV_OK)
                    values[METRIC_EXPRESSION] = v;
                values[METRIC_POSE] = pose_change_distance((const float(*)[2])result_points, (const float(*)[2])src.points,
                                                           (const float(*)[2])driver, (const float(*)[2])reference);
            }
            if (s == VV_OK) item->frames[item->frame_count++] = index;
            if (s == VV_OK && row >= 0 && r->grid.data) {
                grid_put(&r->grid, &src.image, 0, row);
                grid_put(&r->grid, &frame, 1, row);
                grid_put(&r->grid, result, 2, row);
            }
        }
        if (s == VV_OK) s = progress_step(&progress);
    }
    for (int e = 0; first + e < *count; e++) {
        eval_series *item = &(*series)[first + e];
        series_run *r = &runs[e];
        if (s == VV_OK && item->available) {
            if (problem) {
                item->available = false;
                snprintf(item->note, sizeof item->note, "%s", problem);
            } else {
                char grid_name[400];
                snprintf(grid_name, sizeof grid_name, "cross_%s_from_%s_%s", portrait_name, driver_name, item->engine);
                s = grid_save(item, &r->grid, options, grid_name);
                if (s == VV_OK) s = run_follow_end(r, item, track);
                if (faceless_drivers)
                    note_append(item, "%d of %d sampled driving frames without a face", faceless_drivers, sample_count);
                if (item->follow_frames > 0 && item->follow_output_faces < item->follow_frames)
                    note_append(item, "a face in %d of %d following output frames", item->follow_output_faces,
                                item->follow_frames);
            }
        }
        run_close(r);
    }
    free(sampled);
    for (int j = 0; j <= EVAL_MAX_DELAY; j++) image_free(&ring[j]);
    image_free(&src.image);
    image_free(&frame);
    video_reader_close(reader);
    return s;
}
