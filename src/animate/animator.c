/* animate/animator: the sources, the engine, and one output frame from the driver's
 * landmarks; the streaming push / pull API (include/vivify.h). */
#include "animate/animate.h"
#include "animate/gaze.h"
#include "animate/tracking.h"
#include "face/faces.h"
#include "img/image.h"
#include "warp/mesh.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FACES 32

vv_animate_params vv_animate_default_params(void) {
    vv_animate_params p;
    memset(&p, 0, sizeof p);
    p.engine = "warp";
    p.face_index = 1;
    p.crop_size = 512;
    p.expression_scale = 1;
    p.pose_scale = 1;
    p.smoothing = 1;
    p.lookahead = 3;
    p.eyes = 1;
    p.lips = 1;
    return p;
}

tracker_params animator_tracker_params(void) {
    tracker_params tp = tracker_default_params();
    tp.smoothing = 0; /* raw: the timeline smooths without lag */
    /* checked against the detector every 30 frames, or as soon as the face has moved 0.2 face
     * sizes (as vivify landmarks does): on a fast driver a check every 10 frames left the
     * track off the face for up to 9 frames (lp_d12: error 0.137 eye distances -> 0.049) */
    tp.redetect_every = 30;
    tp.redetect_motion = 0.2f;
    return tp;
}

bool animate_shipped_model_find(const char *name, char *out, size_t out_size) {
    char exe[PATH_MAX], dirs[3][PATH_MAX];
    int count = 0;
    snprintf(dirs[count++], PATH_MAX, "models");
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = len > 0 ? (exe[len] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = 0;
        if ((size_t)snprintf(dirs[count], PATH_MAX, "%s/../models", exe) < PATH_MAX) count++;
        if ((size_t)snprintf(dirs[count], PATH_MAX, "%s/models", exe) < PATH_MAX) count++;
    }
    for (int i = 0; i < count; i++) {
        int n = snprintf(out, out_size, "%s/%s", dirs[i], name);
        if (n > 0 && (size_t)n < out_size && file_exists(out)) return true;
    }
    /* installed: <prefix>/share/vivify/models beside the library or program, then fixed */
    return models_find_installed(name, true, out, out_size) || models_find_installed(name, false, out, out_size);
}

/* The engine's model (params->model, else the shipped one); every failure is VV_ERR_MODEL
 * but running out of memory. */
static vv_status learned_model_load(fsth_model **out, const char *engine, const char *model_path) {
    char found[PATH_MAX];
    bool hybrid = !strcmp(engine, "hybrid");
    if (!model_path) {
        const char *name = hybrid ? "hybrid128.safetensors" : "fsth128.safetensors";
        if (!animate_shipped_model_find(name, found, sizeof found))
            return vv_fail(VV_ERR_MODEL, "no model: pass --model M.safetensors (--engine %s; no shipped models/%s)",
                           engine, name);
        model_path = found;
    }
    if (!file_exists(model_path)) return vv_fail(VV_ERR_MODEL, "model file not found: %s", model_path);
    vv_status s = fsth_model_load(out, model_path);
    if (s != VV_OK && s != VV_ERR_MODEL && s != VV_ERR_NO_MEMORY) {
        char why[512];
        snprintf(why, sizeof why, "%s", vv_last_error());
        s = vv_fail(VV_ERR_MODEL, "not a usable model: %s", why);
    }
    if (s != VV_OK) return s;
    if ((*out)->config.hybrid != hybrid) {
        s = vv_fail(VV_ERR_MODEL, "%s is %s model; use --engine %s", model_path,
                    (*out)->config.hybrid ? "a hybrid" : "an fsth (non-hybrid)", (*out)->config.hybrid ? "hybrid" : "fsth");
        fsth_model_free(*out);
        *out = NULL;
    }
    return s;
}

bool animate_engine_known(const char *name) {
    static const char *const engines[] = {"warp", "warp2d", "fsth", "hybrid"};
    for (size_t i = 0; name && i < sizeof engines / sizeof engines[0]; i++)
        if (!strcmp(name, engines[i])) return true;
    return false;
}

static vv_status params_check(const vv_animate_params *p) {
    const char *e = p->engine ? p->engine : "warp";
    if (!animate_engine_known(e))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "engine must be warp, warp2d, fsth or hybrid, not '%s'", e);
    if (!strncmp(e, "warp", 4) && p->model) return vv_fail(VV_ERR_INVALID_ARGUMENT, "a model is for the fsth or hybrid engine");
    if (!(p->eyes >= 0 && p->eyes <= 3) || !(p->lips >= 0 && p->lips <= 3))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "eyes / lips gain outside 0..3");
    if (p->face_index < 1 || p->face_index > MAX_FACES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face index %d is outside 1..%d", p->face_index, MAX_FACES);
    if (p->crop_size < 64 || p->crop_size > 4096)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "crop size %d is outside 64..4096", p->crop_size);
    if (!(p->expression_scale >= 0 && p->expression_scale <= 10) || !(p->pose_scale >= 0 && p->pose_scale <= 10))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "expression / pose scale outside 0..10");
    if (!(p->smoothing >= 0 && p->smoothing <= 10))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "smoothing %g is outside 0..10", p->smoothing);
    if (p->lookahead < 0 || p->lookahead > ANIMATE_MAX_LOOKAHEAD)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "lookahead %d is outside 0..%d", p->lookahead, ANIMATE_MAX_LOOKAHEAD);
    return VV_OK;
}

static vv_status source_open(animate_source *src, vv_faces *faces, const face_mesh *mesh, const vv_image *image,
                             const char *name, int face_index, const warp_params *wp) {
    snprintf(src->name, sizeof src->name, "%s", name);
    if (!image || !image->data || image->channels != 3 || image->width < 2 || image->height < 2)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: need an RGB image of at least 2x2 pixels", name);
    vv_status s = image_copy(&src->image, image);
    if (s != VV_OK) return s;
    vv_face found[MAX_FACES];
    int count = 0;
    /* Face 1: one detector pass when it finds a confident face (start-up time); the
     * thorough search counts every face for face N. */
    s = face_index == 1 ? faces_detect_quick(faces, &src->image, found, MAX_FACES, &count)
                        : vv_faces_detect(faces, &src->image, found, MAX_FACES, &count);
    if (s != VV_OK) return s;
    if (count == 0) return vv_fail(VV_ERR_NO_FACE, "no face found in %s", name);
    /* nearly as confident as the best or human by the mesh, largest first */
    if ((s = faces_keep_confident(found, count, mesh, &src->image, &count)) != VV_OK) return s;
    if (face_index > count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--face %d: %s has only %d face%s", face_index, name, count,
                       count == 1 ? "" : "s");
    src->face = found[face_index - 1];
    s = warp_engine_new(&src->engine, &src->image, (const float(*)[2])src->face.landmarks, wp);
    if (s != VV_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", vv_last_error());
        return vv_fail(s, "%s: %s", name, why);
    }
    return VV_OK;
}

static void animator_warn(vv_animator *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void animator_warn(vv_animator *a, const char *fmt, ...) {
    if (a->warning_count >= (int)(sizeof a->warnings / sizeof a->warnings[0])) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(a->warnings[a->warning_count++], sizeof a->warnings[0], fmt, args);
    va_end(args);
}

/* A source's face mesh: from its 68 points' ROI, then once more from its own, as a tracker
 * would settle (irises: the 3D head's; the score is the mesh's either way).  A detection the
 * mesh finds no human face in (a dog's: 0.07, every human face of ../shared/data 0.955 or more)
 * is VV_ERR_NO_FACE, for every engine.  *out: malloc'ed, NULL on failure. */
static vv_status source_mesh(vv_animator *a, const animate_source *src, bool iris, face_mesh_result **out) {
    *out = NULL;
    face_mesh_result *mesh = malloc(sizeof *mesh);
    if (!mesh) return vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory");
    double t0 = time_now();
    vv_status s = face_mesh_fit(a->mesh_model, &src->image, (const float(*)[2])src->face.landmarks, iris, mesh);
    a->seconds_mesh += time_now() - t0;
    if (s == VV_OK && mesh->score < FACE_MESH_NOT_A_FACE) s = face_mesh_fail_not_a_face(src->name, src->face.box, mesh->score);
    if (s != VV_OK) free(mesh);
    else *out = mesh;
    return s;
}

/* The other engines' check of a source's face (the 3D head's is source_head3d's). */
static vv_status source_check_face(vv_animator *a, const animate_source *src) {
    face_mesh_result *mesh = NULL;
    vv_status s = source_mesh(a, src, false, &mesh);
    free(mesh);
    return s;
}

/* The 3D head for a source, first part: its face mesh, kept in src->head_mesh for
 * source_head3d_build.  A face the mesh cannot hold (not found, too small, turned too far)
 * falls back to the 2D warp with a warning; one it finds no human face in at all (a dog's) is
 * VV_ERR_NO_FACE; other failures fail. */
static vv_status source_head3d(vv_animator *a, animate_source *src) {
    face_mesh_result *mesh = NULL;
    vv_status s = source_mesh(a, src, true, &mesh);
    if (s == VV_OK && mesh->score < FACE_MESH_MIN_PRESENCE) {
        animator_warn(a, "animate: %s: the face mesh does not hold this face (score %.2f); using the 2D warp", src->name,
                      mesh->score);
        free(mesh);
        return VV_OK;
    }
    if (s == VV_OK) src->head_mesh = mesh;
    return s;
}

/* The second part, from src->head_mesh: its person matte, the head (and its background
 * plate).  A face the head cannot hold falls back to the 2D warp with a warning. */
static vv_status source_head3d_build(vv_animator *a, animate_source *src) {
    face_mesh_result *mesh = src->head_mesh;
    src->head_mesh = NULL;
    if (!mesh) return VV_OK;
    uint8_t *matte = NULL;
    double t0 = time_now();
    vv_status s = VV_OK;
    if (!a->params.background_move) {
        matte = malloc((size_t)src->image.width * src->image.height);
        s = matte ? person_matte_run(a->matte_model, &src->image, matte) : vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory");
    }
    head3d_params hp = head3d_default_params();
    hp.background_still = !a->params.background_move;
    hp.eyes = a->params.eyes;
    hp.lips = a->params.lips;
    hp.threads = a->params.threads;
    if (s == VV_OK) s = head3d_new(&src->head, &src->image, (const float(*)[2])src->face.landmarks,
                                   (const float(*)[3])mesh->points, matte, &hp);
    a->seconds_matte += time_now() - t0;
    if (s == VV_ERR_NO_FACE) {
        animator_warn(a, "animate: %s: %s; using the 2D warp", src->name, vv_last_error());
        s = VV_OK;
    }
    free(matte);
    free(mesh);
    return s;
}

vv_status animator_prepare(vv_animator *a) {
    if (a->prepare_status != VV_OK) return vv_fail(a->prepare_status, "%s", a->prepare_error);
    vv_status s = VV_OK;
    for (int i = 0; i < a->source_count && s == VV_OK; i++) s = source_head3d_build(a, &a->sources[i]);
    if (s != VV_OK) { /* the animator is not usable: the same failure for later calls */
        a->prepare_status = s;
        snprintf(a->prepare_error, sizeof a->prepare_error, "%s", vv_last_error());
        for (int i = 0; i < a->source_count; i++) {
            free(a->sources[i].head_mesh);
            a->sources[i].head_mesh = NULL;
        }
    }
    return s;
}

/* Places source i on the first source's canvas: its eyes and nose where the first
 * source's are, at the same face size (so switching sources does not jump or stretch). */
static void source_place(vv_animator *a, int i) {
    animate_source *src = &a->sources[i];
    int w = 0, h = 0;
    warp_engine_output_size(src->engine, &w, &h);
    if (i == 0 || (w == a->out_width && h == a->out_height)) return;
    static const int anchors[] = {36, 39, 42, 45, 27, 30, 33, 48, 54};
    float sim[4];
    similarity_fit((const float(*)[2])a->sources[0].face.landmarks, (const float(*)[2])src->face.landmarks, anchors,
                   (int)(sizeof anchors / sizeof anchors[0]), sim);
    similarity_to_affine(sim, src->output_to_source);
    src->placed = true;
}

vv_status vv_animator_new(vv_animator **out, const vv_image *sources, const char *const *names, int source_count,
                          const vv_animate_params *params) {
    return animator_create(out, sources, names, source_count, params, NULL);
}

vv_status animator_create(vv_animator **out, const vv_image *sources, const char *const *names, int source_count,
                          const vv_animate_params *params, fsth_model *model) {
    vv_animate_params p = params ? *params : vv_animate_default_params();
    if (!p.engine) p.engine = "warp";
    vv_status s = VV_OK;
    if (!out) s = vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_new: NULL output");
    else *out = NULL;
    if (s == VV_OK && (!sources || source_count < 1 || source_count > ANIMATE_MAX_SOURCES))
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: 1 to %d sources, not %d", ANIMATE_MAX_SOURCES, source_count);
    if (s == VV_OK) s = params_check(&p);
    vv_animator *a = s == VV_OK ? calloc(1, sizeof *a) : NULL;
    if (s == VV_OK && !a) s = vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory");
    if (s != VV_OK) {
        fsth_model_free(model);
        return s;
    }
    a->params = p;
    a->learned = strncmp(p.engine, "warp", 4) != 0;
    /* The 3D head moves relative to the reference pose, and renders the whole portrait:
     * absolute mode (the driver's own shape) and the face crop are the 2D warp's. */
    a->hybrid = !strcmp(p.engine, "hybrid");
    a->model = model;
    if (model && model->config.hybrid != a->hybrid)
        s = vv_fail(VV_ERR_MODEL, "animate: the model given is %s model, not for engine %s",
                    model->config.hybrid ? "a hybrid" : "an fsth", p.engine);
    /* The model first: a missing or bad one fails before any other work. */
    if (s == VV_OK && a->learned && !a->model) s = learned_model_load(&a->model, p.engine, p.model);
    /* A hybrid model trained on the 3D head's warp paints over the 3D head. */
    a->hybrid3d = a->hybrid && a->model && a->model->config.warp3d;
    a->head3d = (!strcmp(p.engine, "warp") || a->hybrid3d) && !p.absolute && !p.crop_output;
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = p.models_dir;
    fp.threads = p.threads;
    if (s == VV_OK) s = vv_faces_new(&a->faces, &fp);
    /* The 3D head's face mesh; the other engines' too, for refusing what is no human face (a
     * dog's): without its model they go on unchecked (their own models are all they need). */
    if (s == VV_OK) {
        vv_status m = face_mesh_new(&a->mesh_model, p.models_dir);
        if (a->head3d) s = m;
        else if (m != VV_OK) a->mesh_model = NULL;
    }
    if (s == VV_OK && a->head3d && !p.background_move) s = person_matte_new(&a->matte_model, p.models_dir);
    warp_params wp = warp_default_params();
    wp.crop_size = p.crop_size;
    wp.paste_back = !p.crop_output;
    wp.threads = p.threads;
    for (int i = 0; i < source_count && s == VV_OK; i++) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "source %d", i + 1);
        double t0 = time_now();
        s = source_open(&a->sources[i], a->faces, a->mesh_model, &sources[i], names && names[i] ? names[i] : fallback,
                        p.face_index, &wp);
        a->seconds_faces += time_now() - t0;
        a->source_count = i + 1;
        if (s == VV_OK && a->head3d && (!a->learned || i == 0)) s = source_head3d(a, &a->sources[i]);
        else if (s == VV_OK && a->mesh_model) s = source_check_face(a, &a->sources[i]);
    }
    /* The heads' matte and plate (most of the start-up) wait for animator_prepare, which
     * vv_animate calls with the driver's tracking under way; a hybrid's are built now. */
    if (s == VV_OK && a->hybrid3d) s = animator_prepare(a);
    if (s == VV_OK && a->hybrid3d && a->sources[0].head) { /* G's validity input */
        size_t plane = (size_t)a->model->config.size * a->model->config.size;
        a->validity_map = malloc(plane * sizeof *a->validity_map);
        s = a->validity_map ? hybrid_validity_init(&a->validity, a->sources[0].head)
                            : vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory");
    }
    if (s == VV_OK) {
        warp_engine_output_size(a->sources[0].engine, &a->out_width, &a->out_height);
        for (int i = 1; i < a->source_count; i++) source_place(a, i);
    }
    /* Learned engines: every source is a shot of the person (feed-forward), unless the
     * model is a fine-tuned person file; the first source is the portrait the crop goes into. */
    if (s == VV_OK && a->learned) {
        if (!a->model->has_person) {
            vv_image shots[ANIMATE_MAX_SOURCES];
            float (*shot_points)[68][2] = malloc(sizeof(float[ANIMATE_MAX_SOURCES][68][2]));
            if (!shot_points) s = vv_fail(VV_ERR_NO_MEMORY, "animate: no memory for the shots");
            for (int i = 0; i < a->source_count && s == VV_OK; i++) {
                shots[i] = a->sources[i].image;
                memcpy(shot_points[i], a->sources[i].face.landmarks, sizeof shot_points[i]);
            }
            if (s == VV_OK) s = fsth_prepare(a->model, shots, (const float(*)[68][2])shot_points, a->source_count);
            free(shot_points);
        }
        fsth_crop_transform((const float(*)[2])a->sources[0].face.landmarks, a->model->config.size, a->crop_to_image);
        affine_invert(a->crop_to_image, a->image_to_crop);
    }
    if (s != VV_OK) {
        vv_animator_free(a);
        return s;
    }
    *out = a;
    return VV_OK;
}

void vv_animator_free(vv_animator *a) {
    if (!a) return;
    for (int i = 0; i < a->source_count; i++) {
        warp_engine_free(a->sources[i].engine);
        head3d_free(a->sources[i].head);
        free(a->sources[i].head_mesh);
        image_free(&a->sources[i].image);
    }
    face_mesh_free(a->mesh_model);
    person_matte_free(a->matte_model);
    hybrid_validity_free(&a->validity);
    free(a->validity_map);
    fsth_model_free(a->model);
    image_free(&a->net_crop);
    image_free(&a->portrait);
    image_free(&a->placed);
    timeline_free(&a->timeline);
    face_tracker_free(a->tracker);
    for (long i = 0; a->frames && i < a->frames_capacity; i++) image_free(&a->frames[i]);
    free(a->frames);
    image_free(&a->spare_frame);
    vv_faces_free(a->faces);
    free(a);
}

void vv_animator_output_size(const vv_animator *a, int *width, int *height) {
    if (width) *width = a ? a->out_width : 0;
    if (height) *height = a ? a->out_height : 0;
}

const char *vv_animator_warning(const vv_animator *a, int index) {
    if (a) animator_prepare((vv_animator *)a); /* its fall-backs to 2D warn; a failure: none more */
    return a && index >= 0 && index < a->warning_count ? a->warnings[index] : NULL;
}

vv_status vv_animator_source_face(const vv_animator *a, int index, vv_face *out) {
    if (!a || !out || index < 0 || index >= a->source_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_source_face: no source %d", index);
    *out = a->sources[index].face;
    return VV_OK;
}

static motion_params animator_motion_params(const vv_animator *a) {
    motion_params mp = motion_default_params();
    mp.absolute = a->params.absolute != 0;
    mp.expression_scale = a->params.expression_scale;
    mp.pose_scale = a->params.pose_scale;
    mp.mouth_from_closed = !a->reference_neutral;
    return mp;
}

/* The driver's typical eye aspect per eye: the median of its frames since the reference,
 * this one counted; 0 (none) until there are a dozen. */
static void animator_typical_eyes(vv_animator *a, const float points[68][2], float typical[2]) {
    if (a->eye_aspect_count < UINT32_MAX) a->eye_aspect_count++;
    for (int e = 0; e < 2; e++) {
        float aspect = motion_eye_aspect(points, e ? 42 : 36);
        int bin = isfinite(aspect) ? (int)(aspect / EYE_ASPECT_TOP * EYE_ASPECT_BINS) : 0;
        bin = bin < 0 ? 0 : bin >= EYE_ASPECT_BINS ? EYE_ASPECT_BINS - 1 : bin;
        a->eye_aspects[e][bin]++;
        typical[e] = 0;
        if (a->eye_aspect_count < 12) continue;
        uint64_t sum = 0;
        for (int b = 0; b < EYE_ASPECT_BINS; b++)
            if ((sum += a->eye_aspects[e][b]) * 2 >= a->eye_aspect_count) {
                typical[e] = (b + 0.5f) * EYE_ASPECT_TOP / EYE_ASPECT_BINS;
                break;
            }
    }
}

/* A reference that squints (a driver's first frame laughing or grimacing: 8 of the 51
 * training clips' first eyes under 0.85 of their median, sty_style_furious_talk2_clip5's
 * 0.48) counts every ordinary eye as wide open, and the portrait stared while the driver
 * squinted.  The usual eye measures open instead, in the share the portrait's own eye is
 * wider than the reference's (by more than a margin): none when it squints as much (a clip
 * driving its own first frame), all when it is as open as the driver's usual eye.  Eased in
 * over the frames after the typical eye is first known (a jump otherwise).  A tracked
 * reference's only. */
#define EYES_FROM_TYPICAL_MARGIN 0.02f
static void eyes_from_typical(const vv_animator *a, const animate_source *src, const float typical[2], float share[2]) {
    float ease = (float)((double)a->eye_aspect_count - 12) / 24;
    ease = a->reference_neutral ? 0 : ease < 0 ? 0 : ease > 1 ? 1 : ease; /* a built-in's own eye is its open one */
    for (int e = 0; e < 2; e++) {
        int first = e ? 42 : 36;
        float ref = motion_eye_aspect(src->retarget.reference, first), own = motion_eye_aspect(src->face.landmarks, first);
        float s = typical[e] > ref ? (own - ref - EYES_FROM_TYPICAL_MARGIN) / (typical[e] - ref) : 0;
        share[e] = isfinite(s) ? ease * (s < 0 ? 0 : s > 1 ? 1 : s) : 0;
    }
}

void animator_set_source_reference(vv_animator *a, int source, const float reference[68][2]) {
    motion_params mp = animator_motion_params(a);
    animate_source *src = &a->sources[source];
    motion_retarget_init(&src->retarget, (const float(*)[2])src->face.landmarks, reference, &mp);
    src->retarget_ready = true;
}

bool animator_may_read_gaze(const vv_animator *a) {
    for (int i = 0; i < a->source_count; i++)
        if (a->sources[i].head || a->sources[i].head_mesh) return true;
    return false;
}

bool animator_reads_gaze(const vv_animator *a) {
    animator_prepare((vv_animator *)a); /* whether each head holds (a failure: none is built) */
    return animator_may_read_gaze(a);
}

void animator_set_gaze(vv_animator *a, const float (*gaze)[2]) {
    a->have_gaze = gaze != NULL;
    if (gaze) memcpy(a->gaze, gaze, sizeof a->gaze);
}

void animator_set_reference_gaze(vv_animator *a, const float (*gaze)[2]) {
    a->have_reference_gaze = gaze != NULL;
    if (gaze) memcpy(a->reference_gaze, gaze, sizeof a->reference_gaze);
}

void animator_set_turn(vv_animator *a, const float (*turn)[3]) {
    a->have_turn = turn != NULL;
    if (turn) memcpy(a->turn, turn, sizeof a->turn);
}

void animator_set_reference_turn(vv_animator *a, const float (*turn)[3]) {
    a->have_reference_turn = turn != NULL;
    if (turn) memcpy(a->reference_turn, turn, sizeof a->reference_turn);
}

void animator_set_reference(vv_animator *a, const float reference[68][2]) {
    memcpy(a->reference, reference, sizeof a->reference);
    a->have_reference = true;
    memset(a->eye_aspects, 0, sizeof a->eye_aspects);
    a->eye_aspect_count = 0;
    for (int i = 0; i < a->source_count; i++)
        if (!a->sources[i].retarget_ready) animator_set_source_reference(a, i, reference);
}

/* Mean colour of an image's border, to fill what a placed source does not cover. */
static void border_colour(const vv_image *im, uint8_t fill[3]) {
    double sum[3] = {0, 0, 0};
    long n = 0;
    for (int x = 0; x < im->width; x++)
        for (int c = 0; c < 3; c++) {
            sum[c] += im->data[(size_t)x * 3 + c] + im->data[((size_t)(im->height - 1) * im->width + x) * 3 + c];
            n += c == 0 ? 2 : 0;
        }
    for (int c = 0; c < 3; c++) fill[c] = (uint8_t)lround(n ? sum[c] / n : 0);
}

/* One frame of a learned engine into *out (the warp engine's frame: fsth_render_frame);
 * with crop_output the network's crop itself, resized. */
static vv_status learned_render(vv_animator *a, const float target[68][2], vv_image *out) {
    /* The crop follows this frame's face (fsth_crop_transform of the target), the hybrid's
     * warp input and validity with it: the face sits where fine-tuning put it (each shot
     * cropped around its own face) and where meta-training mostly did (each clip cropped
     * around its median face).  Fixed at the source's face, a face the driver drew smaller or
     * lower sat where G had seldom drawn one (a blotch: docs/MODEL.md, "Face-aligned crop"). */
    fsth_crop_transform(target, a->model->config.size, a->crop_to_image);
    affine_invert(a->crop_to_image, a->image_to_crop);
    if (a->hybrid3d && a->validity_map) { /* over the 3D head's frame, which is in *out */
        vv_status s = hybrid_validity_draw(&a->validity, a->sources[0].head, a->image_to_crop, a->model->config.size,
                                           a->validity_map);
        return s != VV_OK ? s : fsth_render_frame_warped(a->model, a->image_to_crop, a->crop_to_image, target,
                                                         a->validity_map, &a->net_crop, out);
    }
    if (!a->params.crop_output) return fsth_render_frame(a->model, a->image_to_crop, a->crop_to_image, target, &a->net_crop, out);
    float crop_target[68][2];
    affine_apply_points(a->image_to_crop, target, crop_target, 68);
    vv_status s = fsth_render(a->model, (const float(*)[2])crop_target, &a->net_crop);
    if (s != VV_OK) return s;
    image_free(out);
    return image_resize(out, &a->net_crop, a->out_width, a->out_height);
}

int animate_nearest_source(const float points[68][2], const float (*sources)[68][2], int count, int current) {
    int best = current;
    double best_d = motion_shape_distance(points, sources[current]) * ANIMATE_SOURCE_HYSTERESIS;
    for (int i = 0; i < count; i++) {
        double d = motion_shape_distance(points, sources[i]);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

vv_status animator_render(vv_animator *a, const float points[68][2], bool has_face, const vv_image *driver_frame,
                          bool found, vv_image *out, int *source_used) {
    vv_status prepared = animator_prepare(a); /* the heads vv_animate did not build yet (streaming, eval) */
    if (prepared != VV_OK) return prepared;
    if (a->source_pinned && a->source_pin < a->source_count && !a->learned) { /* vv_animator_set_source */
        if (a->source_pin != a->current) a->switches++;
        a->current = a->source_pin;
    } else if (has_face && a->source_count > 1 && !a->learned) { /* the nearest source, with a little hysteresis */
        float sources[ANIMATE_MAX_SOURCES][68][2];
        for (int i = 0; i < a->source_count; i++) memcpy(sources[i], a->sources[i].face.landmarks, sizeof sources[i]);
        int best = animate_nearest_source(points, (const float(*)[68][2])sources, a->source_count, a->current);
        if (best != a->current) a->switches++;
        a->current = best;
    }
    int current = a->learned ? 0 : a->current;
    animate_source *src = &a->sources[current];
    if (source_used) *source_used = current;
    if (has_face && !src->retarget_ready && a->have_reference) animator_set_source_reference(a, current, a->reference);
    bool moving = has_face && src->retarget_ready;
    bool driver_mouth = driver_frame && driver_frame->data && found && has_face;
    vv_image *result = src->placed ? &a->placed : out;
    vv_status s = VV_OK;
    float target[68][2];
    memcpy(target, src->face.landmarks, sizeof target); /* no face yet: the portrait as it is */
    if (src->head) {
        head3d_frame hf;
        memset(&hf, 0, sizeof hf);
        for (int i = 0; i < 3; i++) hf.rigid.rotation[i][i] = 1;
        hf.rigid.scale = 1;
        hf.eye_openness[0] = hf.eye_openness[1] = 1;
        if (moving) { /* the 3D split and the 68-point target from one pose estimate */
            /* the head's turn since the reference by the face mesh where both were measured */
            float change[3][3];
            bool turned = a->have_turn && a->have_reference_turn;
            for (int i = 0; turned && i < 3; i++)
                for (int j = 0; j < 3; j++)
                    change[i][j] = a->turn[i][0] * a->reference_turn[j][0] + a->turn[i][1] * a->reference_turn[j][1] +
                                   a->turn[i][2] * a->reference_turn[j][2];
            motion_retarget_decompose(&src->retarget, points, turned ? (const float(*)[3])change : NULL, &hf.rigid,
                                      hf.expression, target);
            memcpy(hf.target68, target, sizeof hf.target68);
            hf.has_target = true;
            float typical[2], from_typical[2];
            animator_typical_eyes(a, points, typical);
            eyes_from_typical(a, src, typical, from_typical);
            motion_eye_openness_typical(points, (const float(*)[2])src->retarget.reference, typical, from_typical,
                                        hf.eye_openness);
        }
        if (has_face && a->have_gaze && a->have_reference_gaze) { /* the change since the reference */
            hf.has_gaze = true;
            for (int e = 0; e < 2; e++)
                for (int k = 0; k < 2; k++) hf.gaze[e][k] = a->params.eyes * (a->gaze[e][k] - a->reference_gaze[e][k]);
        }
        hf.driver_frame = driver_mouth ? driver_frame : NULL;
        hf.driver_points = driver_mouth ? points : NULL;
        s = head3d_render(src->head, &hf, result);
    } else {
        if (moving) motion_retarget_frame(&src->retarget, points, target);
        /* fsth pastes into the 2D warp's frame too: its crop follows the face (learned_render),
         * so the portrait around the crop has to move with the face, or its head shows twice. */
        if (!a->learned || !a->params.crop_output)
            s = warp_engine_render(src->engine, (const float(*)[2])target, driver_mouth ? driver_frame : NULL,
                                   driver_mouth ? points : NULL, result, NULL);
    }
    if (s == VV_OK && a->learned) s = learned_render(a, (const float(*)[2])target, result);
    if (s != VV_OK || !src->placed) return s;
    if (out->width != a->out_width || out->height != a->out_height || out->channels != 3) {
        image_free(out);
        s = image_create(out, a->out_width, a->out_height, 3);
        if (s != VV_OK) return s;
    }
    uint8_t fill[3];
    border_colour(result, fill);
    image_warp_affine(out, result, src->output_to_source, fill);
    return VV_OK;
}

void animator_reset(vv_animator *a) {
    timeline_free(&a->timeline);
    a->timeline_started = false;
    face_tracker_free(a->tracker);
    a->tracker = NULL;
    for (long i = 0; a->frames && i < a->frames_capacity; i++) image_free(&a->frames[i]);
    a->frames_base = 0;
    a->have_frames = false;
    a->have_reference = false;
    a->have_gaze = a->have_reference_gaze = false;
    a->have_turn = a->have_reference_turn = false;
    for (int i = 0; i < a->source_count; i++) a->sources[i].retarget_ready = false;
    a->current = 0;
    a->switches = 0;
}

/* ---- Streaming ---------------------------------------------------------------------- */

vv_status animator_stream_begin(vv_animator *a, double fps) {
    if (a->timeline_started) return VV_OK;
    timeline_init(&a->timeline, a->params.lookahead, a->params.smoothing, fps);
    a->timeline_started = true;
    return VV_OK;
}

void animator_take(vv_animator *a, float points[68][2], bool *has_face, bool *found, long *index) {
    timeline_take(&a->timeline, points, has_face, found, index);
    float gaze[2][2];
    bool has_gaze = timeline_take_gaze(&a->timeline, gaze);
    animator_set_gaze(a, has_gaze ? (const float(*)[2])gaze : NULL);
    float turn[3][3];
    bool has_turn = timeline_take_turn(&a->timeline, turn);
    animator_set_turn(a, has_turn ? (const float(*)[3])turn : NULL);
    if (*has_face && !a->have_reference) { /* the first face is the reference: a tracked one */
        a->reference_neutral = false;
        animator_set_reference(a, (const float(*)[2])points);
        animator_set_reference_gaze(a, has_gaze ? (const float(*)[2])gaze : NULL);
        animator_set_reference_turn(a, has_turn ? (const float(*)[3])turn : NULL);
    }
}

/* Keeps a copy of frame `index` until it is pulled. */
static vv_status frame_keep(vv_animator *a, long index, const vv_image *frame) {
    if (index - a->frames_base >= a->frames_capacity) {
        long pulled = a->timeline.taken - a->frames_base;
        if (pulled > 0 && pulled >= a->frames_capacity / 2) {
            for (long i = 0; i < pulled; i++) image_free(&a->frames[i]);
            memmove(a->frames, a->frames + pulled, (size_t)(a->frames_capacity - pulled) * sizeof *a->frames);
            memset(a->frames + a->frames_capacity - pulled, 0, (size_t)pulled * sizeof *a->frames);
            a->frames_base += pulled;
        } else {
            long grown = a->frames_capacity ? a->frames_capacity * 2 : 2 * (a->params.lookahead + 2);
            vv_image *f = realloc(a->frames, (size_t)grown * sizeof *f);
            if (!f) return vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory for driver frames");
            memset(f + a->frames_capacity, 0, (size_t)(grown - a->frames_capacity) * sizeof *f);
            a->frames = f;
            a->frames_capacity = grown;
        }
    }
    vv_image *slot = &a->frames[index - a->frames_base];
    image_free(slot);
    if (!frame) return VV_OK;
    a->have_frames = true;
    vv_image *spare = &a->spare_frame;
    if (!spare->data || spare->width != frame->width || spare->height != frame->height || spare->channels != frame->channels)
        return image_copy(slot, frame);
    *slot = *spare; /* the last pulled frame's buffer: no allocation per frame */
    memset(spare, 0, sizeof *spare);
    memcpy(slot->data, frame->data, (size_t)frame->width * frame->height * frame->channels);
    return VV_OK;
}

vv_status vv_animator_push_landmarks(vv_animator *a, const float (*landmarks)[2], const vv_image *frame, double time) {
    if (!a) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_push_landmarks: NULL animator");
    vv_status s = animator_stream_begin(a, 25);
    if (s == VV_OK && landmarks)
        for (int k = 0; k < 68; k++)
            if (!isfinite(landmarks[k][0]) || !isfinite(landmarks[k][1]))
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_push_landmarks: landmark %d is not finite", k);
    long index = a->timeline.pushed;
    if (s == VV_OK) s = frame_keep(a, index, frame);
    if (s == VV_OK) s = timeline_push(&a->timeline, landmarks, time);
    return s;
}

vv_status vv_animator_push(vv_animator *a, const vv_image *frame, double time) {
    if (!a || !frame || !frame->data || frame->channels != 3)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_push: need an animator and an RGB frame");
    vv_status s = VV_OK;
    if (!a->tracker) {
        tracker_params tp = animator_tracker_params();
        s = face_tracker_new(&a->tracker, faces_detector(a->faces), faces_predictor(a->faces), &tp);
        if (s != VV_OK) return s;
    }
    bool found = false;
    float box[4], score[1], points[68][2], gaze[2][2];
    s = face_tracker_update(a->tracker, frame, time, &found, box, score, points);
    if (s != VV_OK) return s;
    /* the frames the tracker thread measures the gaze of (vv_animate's, so both agree) */
    long index = a->timeline_started ? a->timeline.pushed : 0;
    long last_face = a->timeline_started ? a->timeline.last_face_index : -1;
    s = vv_animator_push_landmarks(a, found ? (const float(*)[2])points : NULL, frame, time);
    float contour[2][FACE_MESH_EYE_LID_CONTOUR][2], lids[2][2], turn[3][3];
    bool measured = s == VV_OK && found && animator_reads_gaze(a) && tracking_gaze_frame(index, last_face);
    if (measured && gaze_measure_lids(a->mesh_model, frame, (const float(*)[2])points, gaze, contour) == VV_OK) {
        timeline_push_gaze(&a->timeline, (const float(*)[2])gaze);
        for (int e = 0; e < 2; e++) motion_lid_gaps((const float(*)[2])contour[e], lids[e]);
        timeline_push_lids(&a->timeline, (const float(*)[2])lids); /* as the tracker thread does */
    }
    if (measured && gaze_measure_turn(a->mesh_model, frame, (const float(*)[2])points, turn) == VV_OK)
        timeline_push_turn(&a->timeline, (const float(*)[3])turn);
    return s;
}

vv_status vv_animator_push_end(vv_animator *a) {
    if (!a) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_push_end: NULL animator");
    vv_status s = animator_stream_begin(a, 25);
    if (s == VV_OK) timeline_end(&a->timeline);
    return s;
}

vv_status vv_animator_pull(vv_animator *a, vv_image *out, int *got, vv_frame_info *info) {
    if (got) *got = 0;
    if (!a || !out || !got) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_pull: NULL argument");
    if (!a->timeline_started || !timeline_ready(&a->timeline)) return VV_OK;
    float points[68][2];
    bool has_face = false, found = false;
    long index = 0;
    animator_take(a, points, &has_face, &found, &index);
    const vv_image *frame = index - a->frames_base < a->frames_capacity ? &a->frames[index - a->frames_base] : NULL;
    int source = 0;
    vv_status s = animator_render(a, (const float(*)[2])points, has_face, frame, found, out, &source);
    if (frame && frame->data) { /* done with: its buffer is the next push's */
        image_free(&a->spare_frame);
        a->spare_frame = *frame;
        memset((vv_image *)frame, 0, sizeof *frame);
    }
    if (s != VV_OK) return s;
    *got = 1;
    if (info) {
        info->index = index;
        info->face_found = found;
        info->source = source;
        memcpy(info->landmarks, points, sizeof info->landmarks);
    }
    return VV_OK;
}
