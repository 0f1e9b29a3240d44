/* cli/animate: `vivify animate SOURCE... (--driving VIDEO | --motion NAME|FILE) -o OUT` and
 * `vivify motion extract VIDEO -o M.json`.
 *
 * The driver is tracked first into a landmark track (68 points a frame, so even an hour is
 * a few tens of MB), gaps filled; then every frame is retargeted onto the source, warped,
 * pasted back and encoded.  With --compare the driver is decoded a second time in step. */
#include "cli/cli.h"
#include "face/faces.h"
#include "face/motion.h"
#include "face/pose.h"
#include "face/tracker.h"
#include "img/image.h"
#include "models/models.h"
#include "video/video.h"
#include "warp/warp.h"

#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SOURCES 16
#define MAX_FACES 32
#define FACE_SCORE_MARGIN 0.15f /* faces this much less confident than the best are ignored */

/* Ctrl-C / SIGTERM during animate: the handler only sets this; the tracker (progress
 * callbacks) and the frame loop check it and stop, then the output is removed or, with
 * --keep-partial, finished as a shorter video.  A second signal kills as usual.  A
 * lock-free atomic, not volatile sig_atomic_t: the tracker thread reads it too. */
static atomic_int animate_interrupted;

static void on_interrupt(int sig) {
    (void)sig;
    animate_interrupted = 1;
}

static void interrupt_handlers_set(bool install) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = install ? on_interrupt : SIG_DFL;
    action.sa_flags = install ? SA_RESTART | SA_RESETHAND : 0;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

static int progress_callback(void *data, long done, long total) {
    (void)total;
    progress_update(data, done);
    return animate_interrupted != 0; /* non-zero stops the tracker with VV_ERR_ABORTED */
}

/* Tracks a driver video into `track` (at most max_frames, 0 = all) with a progress bar. */
static vv_status track_video(vv_faces *faces, const char *path, long max_frames, motion_track *track,
                             const char *label) {
    video_reader *probe = NULL;
    long total = 0;
    if (video_reader_open(&probe, path) == VV_OK) total = video_reader_info(probe)->frame_count;
    video_reader_close(probe);
    if (max_frames > 0 && (total <= 0 || max_frames < total)) total = max_frames;
    progress_bar bar;
    progress_start(&bar, label, total, "frames");
    vv_status s = motion_track_video(faces, path, max_frames, progress_callback, &bar, track);
    progress_finish(&bar);
    return s;
}

/* Streaming: the driver is tracked on a thread of its own while the main thread renders
 * and encodes the frames already tracked (with one source and --reference first, where
 * nothing needs the whole track first).  The tracker thread publishes each frame's points
 * under a lock; the main thread fills gaps causally (motion_gap_points), which gives the
 * same frames as motion_fill_gaps on the whole track.  Memory stays bounded however long
 * the driver: only the frames not yet rendered are kept, and once the first face is found
 * the tracker waits while it is STREAM_WINDOW frames ahead (a 30-minute driver peaks at
 * the RSS of a 2-minute one; bench/long_driver.sh). */
#define STREAM_WINDOW 256

typedef struct tracking_stream {
    vv_faces *faces;
    const char *path;
    long max_frames;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    /* Guarded by lock: frames [base, count) are in points / found (index f - base); the
     * main thread has taken every frame before `consumed`. */
    float (*points)[68][2];
    uint8_t *found;
    long base, count, consumed, capacity;
    int first_found;        /* -1 until a face is seen */
    bool finished, abort;
    vv_status status;
    char error[512];
} tracking_stream;

/* Appends one tracked frame; non-zero when the tracker must stop (abort, Ctrl-C, memory). */
static int stream_publish(tracking_stream *ts, const float points[68][2], bool found) {
    pthread_mutex_lock(&ts->lock);
    while (!ts->abort && !animate_interrupted && ts->first_found >= 0 && ts->count - ts->consumed >= STREAM_WINDOW)
        pthread_cond_wait(&ts->changed, &ts->lock);
    int stop = ts->abort || animate_interrupted;
    if (!stop && ts->count - ts->base >= ts->capacity) {
        long drop = ts->consumed - ts->base; /* frames already rendered: reuse their room */
        if (drop > 0 && drop >= ts->capacity / 2) {
            long kept = ts->count - ts->consumed;
            memmove(ts->points, ts->points + drop, (size_t)kept * sizeof ts->points[0]);
            memmove(ts->found, ts->found + drop, (size_t)kept);
            ts->base = ts->consumed;
        } else {
            long grown = ts->capacity > 0 ? ts->capacity * 2 : STREAM_WINDOW * 2;
            void *p = realloc(ts->points, (size_t)grown * sizeof ts->points[0]);
            if (p) ts->points = p;
            void *f = p ? realloc(ts->found, (size_t)grown) : NULL;
            if (f) ts->found = f;
            if (p && f) ts->capacity = grown;
            else stop = 1;
        }
    }
    if (!stop) {
        long i = ts->count - ts->base;
        memcpy(ts->points[i], points, sizeof ts->points[0]);
        ts->found[i] = found;
        if (ts->first_found < 0 && found) ts->first_found = (int)ts->count;
        ts->count++;
    }
    pthread_cond_broadcast(&ts->changed);
    pthread_mutex_unlock(&ts->lock);
    return stop;
}

/* The tracker thread: motion_track_video's loop (the same reader, tracker and default
 * parameters, so the same points) without keeping the whole track. */
static void *stream_main(void *data) {
    tracking_stream *ts = data;
    video_reader *reader = NULL;
    face_tracker *tracker = NULL;
    vv_image frame = {0};
    tracker_params tp = tracker_default_params();
    vv_status s = video_reader_open(&reader, ts->path);
    if (s == VV_OK) s = face_tracker_new(&tracker, faces_detector(ts->faces), faces_predictor(ts->faces), &tp);
    long count = 0;
    while (s == VV_OK && (ts->max_frames <= 0 || count < ts->max_frames)) {
        bool got = false, found = false;
        double time = 0;
        float box[4], score[1], points[68][2];
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        s = face_tracker_update(tracker, &frame, time, &found, box, score, points);
        if (s != VV_OK) break;
        count++;
        if (stream_publish(ts, (const float(*)[2])points, found))
            s = ts->abort || animate_interrupted ? vv_fail(VV_ERR_ABORTED, "tracking %s stopped", ts->path)
                                                 : vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", ts->path);
    }
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_NO_VIDEO, "no frames could be decoded from %s", ts->path);
    image_free(&frame);
    face_tracker_free(tracker);
    video_reader_close(reader);
    pthread_mutex_lock(&ts->lock);
    ts->status = s;
    if (s != VV_OK) snprintf(ts->error, sizeof ts->error, "%s", vv_last_error());
    ts->finished = true;
    pthread_cond_broadcast(&ts->changed);
    pthread_mutex_unlock(&ts->lock);
    return NULL;
}

static vv_status stream_start(tracking_stream *ts, vv_faces *faces, const char *path, long max_frames) {
    memset(ts, 0, sizeof *ts);
    ts->faces = faces;
    ts->path = path;
    ts->max_frames = max_frames;
    ts->first_found = -1;
    pthread_mutex_init(&ts->lock, NULL);
    pthread_cond_init(&ts->changed, NULL);
    if (pthread_create(&ts->thread, NULL, stream_main, ts) != 0)
        return vv_fail(VV_ERR_INTERNAL, "cannot start the tracking thread for %s", path);
    ts->started = true;
    return VV_OK;
}

/* The tracker thread's failure as this thread's error. */
static vv_status stream_failure(const tracking_stream *ts) {
    return vv_fail(ts->status, "%s", ts->error);
}

/* Waits for the first face (its index in *first) or the end; fails if the tracker did. */
static vv_status stream_wait_first(tracking_stream *ts, int *first) {
    pthread_mutex_lock(&ts->lock);
    while (ts->first_found < 0 && !ts->finished) pthread_cond_wait(&ts->changed, &ts->lock);
    *first = ts->first_found;
    bool failed = ts->finished && ts->status != VV_OK;
    pthread_mutex_unlock(&ts->lock);
    if (failed) return stream_failure(ts);
    if (*first < 0) return vv_fail(VV_ERR_NO_FACE, "no face found in any frame of %s", ts->path);
    return VV_OK;
}

/* Frame f's points (f: the frame after the last one taken); *got false at the end of the
 * driver.  Fails if the tracker did. */
static vv_status stream_frame(tracking_stream *ts, long f, float points[68][2], bool *found, bool *got) {
    pthread_mutex_lock(&ts->lock);
    while (ts->count <= f && !ts->finished) pthread_cond_wait(&ts->changed, &ts->lock);
    *got = f < ts->count && f >= ts->base;
    if (*got) {
        memcpy(points, ts->points[f - ts->base], sizeof ts->points[0]);
        *found = ts->found[f - ts->base];
        ts->consumed = f + 1;
        pthread_cond_broadcast(&ts->changed); /* the tracker may be waiting for room */
    }
    bool failed = !*got && ts->finished && ts->status != VV_OK;
    pthread_mutex_unlock(&ts->lock);
    return failed ? stream_failure(ts) : VV_OK;
}

static void stream_stop(tracking_stream *ts) {
    if (!ts->started) return;
    pthread_mutex_lock(&ts->lock);
    ts->abort = true; /* the tracker stops at its next frame, or now if waiting for room */
    pthread_cond_broadcast(&ts->changed);
    pthread_mutex_unlock(&ts->lock);
    pthread_join(ts->thread, NULL);
    pthread_mutex_destroy(&ts->lock);
    pthread_cond_destroy(&ts->changed);
    free(ts->points);
    free(ts->found);
    ts->started = false;
}

typedef struct source {
    const char *path;
    vv_image image;
    vv_face face;
    warp_engine *engine;
    motion_retarget retarget;
    int reference;
} source;

static vv_status source_open(source *src, vv_faces *faces, const char *path, int face_index,
                             const warp_params *wp) {
    vv_status s = image_load(&src->image, path);
    if (s != VV_OK) return s;
    vv_face found[MAX_FACES];
    int count = 0;
    /* --face 1: one detector pass when it finds a confident face (start-up time); the
     * thorough search counts every face for --face N. */
    s = face_index == 1 ? faces_detect_quick(faces, &src->image, found, MAX_FACES, &count)
                        : vv_faces_detect(faces, &src->image, found, MAX_FACES, &count);
    if (s != VV_OK) return s;
    if (count == 0) return vv_fail(VV_ERR_NO_FACE, "no face found in %s", path);
    /* Paintings of whole figures give the detector large, barely-confident "faces" in
     * folds and hands (0.61 beside the real face's 0.94 on two of ../shared/data/portraits):
     * keep the faces nearly as confident as the best one, still largest first. */
    float best_score = 0;
    for (int i = 0; i < count; i++) best_score = found[i].score > best_score ? found[i].score : best_score;
    int kept = 0;
    for (int i = 0; i < count; i++)
        if (found[i].score >= best_score - FACE_SCORE_MARGIN) found[kept++] = found[i];
    count = kept;
    if (face_index > count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--face %d: %s has only %d face%s", face_index, path, count,
                       count == 1 ? "" : "s");
    src->face = found[face_index - 1];
    s = warp_engine_new(&src->engine, &src->image, (const float(*)[2])src->face.landmarks, wp);
    if (s != VV_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", vv_last_error());
        return vv_fail(s, "%s: %s", path, why);
    }
    return VV_OK;
}


/* Copies `in` scaled to height h (width keeping aspect, even) into out at column x0. */
static void panel_blit(vv_image *out, const vv_image *in, int x0, int w, int h) {
    vv_image scaled = {0};
    if (in->width == w && in->height == h) scaled = *in;
    else if (image_resize(&scaled, in, w, h) != VV_OK) return;
    for (int y = 0; y < h && y < out->height; y++)
        memcpy(out->data + ((size_t)y * out->width + x0) * 3, scaled.data + (size_t)y * w * 3, (size_t)w * 3);
    if (scaled.data != in->data) image_free(&scaled);
}

static int panel_width(int width, int height, int h) {
    int w = (int)lround((double)width * h / height);
    return w < 2 ? 2 : w & ~1;
}

/* ---- The learned engines (fsth, hybrid): docs/MODEL.md ---- */

/* The model shipped for an engine when --model is not given: models/NAME in the working
 * folder, or models/ beside or above the binary's folder (a build folder in the source
 * tree), or /usr/share/vivify/models.  false when none exists. */
static bool shipped_model_find(const char *name, char *out, size_t out_size) {
    char exe[PATH_MAX], dirs[4][PATH_MAX];
    int count = 0;
    snprintf(dirs[count++], PATH_MAX, "models");
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = len > 0 ? (exe[len] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = 0;
        if ((size_t)snprintf(dirs[count], PATH_MAX, "%s/../models", exe) < PATH_MAX) count++;
        if ((size_t)snprintf(dirs[count], PATH_MAX, "%s/models", exe) < PATH_MAX) count++;
    }
    snprintf(dirs[count++], PATH_MAX, "/usr/share/vivify/models");
    for (int i = 0; i < count; i++) {
        int n = snprintf(out, out_size, "%s/%s", dirs[i], name);
        if (n > 0 && (size_t)n < out_size && file_exists(out)) return true;
    }
    return false;
}

/* Loads the engine's model (--model, else the shipped one); every failure is VV_ERR_MODEL
 * (exit code 11) but running out of memory. */
static vv_status learned_model_load(fsth_model **out, const char *engine, const char *model_path) {
    char found[PATH_MAX];
    bool hybrid = !strcmp(engine, "hybrid");
    if (!model_path) {
        const char *name = hybrid ? "hybrid128.safetensors" : "fsth128.safetensors";
        if (!shipped_model_find(name, found, sizeof found))
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

/* The top-left w x h of an RGB image (the portrait trimmed to even sides, as the warp
 * engine's frames are). */
static vv_status image_top_left(vv_image *out, const vv_image *in, int w, int h) {
    if (in->channels != 3 || w > in->width || h > in->height)
        return vv_fail(VV_ERR_INTERNAL, "animate: %dx%d is not inside the %dx%d portrait", w, h, in->width, in->height);
    vv_status s = image_create(out, w, h, 3);
    for (int y = 0; y < h && s == VV_OK; y++)
        memcpy(out->data + (size_t)y * w * 3, in->data + (size_t)y * in->width * 3, (size_t)w * 3);
    return s;
}

/* One frame of a learned engine into *result (the portrait, or the warp engine's frame
 * for hybrid: fsth_render_frame).  crop_only: the network's crop itself, resized to out_w x
 * out_h. */
static vv_status learned_render(fsth_model *model, const float image_to_crop[6], const float crop_to_image[6],
                                const float target[68][2], bool crop_only, int out_w, int out_h, vv_image *net_crop,
                                vv_image *result) {
    if (!crop_only) return fsth_render_frame(model, image_to_crop, crop_to_image, target, net_crop, result);
    float crop_target[68][2];
    affine_apply_points(image_to_crop, target, crop_target, 68);
    vv_status s = fsth_render(model, (const float(*)[2])crop_target, net_crop);
    if (s != VV_OK) return s;
    image_free(result);
    return image_resize(result, net_crop, out_w, out_h);
}

static bool is_json_path(const char *path) {
    char ext[16];
    path_extension(path, ext, sizeof ext);
    return !strcmp(ext, "json");
}

int cli_animate(int argc, char **argv) {
    const char *output = NULL, *driving = NULL, *motion = NULL, *reference = "first", *models = NULL;
    const char *engine = "warp", *model_path = NULL;
    bool compare = false, crop = false, absolute = false, no_audio = false, verbose = false, keep_partial = false;
    int frames_limit = 0, size = 512, face_index = 1;
    float expression_scale = 1, pose_scale = 1, duration = -1; /* -1: not given (5 s) */
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "OUT", "output: .mp4 (H.264 + the driver's audio), .gif, or a folder of PNGs", 0, 0},
        {"driving", 'd', OPT_STRING, &driving, "VIDEO", "driving video", 0, 0},
        {"motion", 'm', OPT_STRING, &motion, "NAME|FILE", "built-in motion (talk, blink, nod, smile, surprise) or a .json template", 0, 0},
        {"compare", 0, OPT_FLAG, &compare, NULL, "write source | driver | result side by side", 0, 0},
        {"frames", 0, OPT_INT, &frames_limit, "N", "animate at most N frames (default: all)", 1, MOTION_MAX_FRAMES},
        {"size", 0, OPT_INT, &size, "N", "working resolution of the face crop (default 512)", 64, 4096},
        {"crop", 0, OPT_FLAG, &crop, NULL, "output only the face crop instead of pasting it back", 0, 0},
        {"absolute", 0, OPT_FLAG, &absolute, NULL, "use the driver's landmarks directly (aligned), not relative changes", 0, 0},
        {"reference", 0, OPT_STRING, &reference, "first|best", "driver frame the motion is relative to (default first)", 0, 0},
        {"expression-scale", 0, OPT_FLOAT, &expression_scale, "S", "scale the expression changes (0 turns them off)", 0, 10},
        {"pose-scale", 0, OPT_FLOAT, &pose_scale, "S", "scale the head motion (0 keeps the head still)", 0, 10},
        {"no-audio", 0, OPT_FLAG, &no_audio, NULL, "do not copy the driver's audio", 0, 0},
        {"face", 0, OPT_INT, &face_index, "N", "animate the N-th largest face (default 1)", 1, MAX_FACES},
        {"duration", 0, OPT_FLOAT, &duration, "S", "length of a built-in motion in seconds (default 5, at 25 fps)", 0.04, 3600},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
        {"engine", 'e', OPT_STRING, &engine, "warp|fsth|hybrid", "warp (default), fsth (the few-shot network) or hybrid (warp + network)", 0, 0},
        {"model", 0, OPT_STRING, &model_path, "M.safetensors", "model for fsth / hybrid (default: the shipped models/fsth128 or hybrid128); "
                                                               "a fine-tuned person file renders its person", 0, 0},
        {"keep-partial", 0, OPT_FLAG, &keep_partial, NULL, "on Ctrl-C / SIGTERM keep the frames made so far as a shorter "
                                                           "valid output (default: remove it); exit code 130 either way", 0, 0},
        {"verbose", 'v', OPT_FLAG, &verbose, NULL, "say which source each frame uses, and more", 0, 0},
    };
    const char *positional[MAX_SOURCES];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, MAX_SOURCES, &npos,
                      "usage: vivify animate SOURCE [SOURCE...] (--driving VIDEO | --motion NAME|FILE) -o OUT\n\n"
                      "Animates a portrait with a driving video or a motion; the output keeps the portrait's\n"
                      "resolution, the driver's frame rate and audio.  Several SOURCE images of one person:\n"
                      "each frame uses the one closest to the target (warp), or they are the K shots of the\n"
                      "person (fsth, hybrid).");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (npos < 1) {
        fprintf(stderr, "vivify: animate needs a SOURCE image (see vivify animate --help)\n");
        return EXIT_USAGE;
    }
    if (!driving == !motion) {
        fprintf(stderr, "vivify: animate needs one of --driving VIDEO or --motion NAME|FILE\n");
        return EXIT_USAGE;
    }
    if (!output) {
        fprintf(stderr, "vivify: animate needs -o OUT (.mp4, .gif or a folder)\n");
        return EXIT_USAGE;
    }
    if (duration > 0 && (driving || !motion_builtin_exists(motion))) {
        fprintf(stderr, "vivify: --duration is for the built-in motions (a driver or template has its own length)\n");
        return EXIT_USAGE;
    }
    if (duration < 0) duration = 5;
    if (strcmp(reference, "first") && strcmp(reference, "best")) {
        fprintf(stderr, "vivify: --reference must be first or best, not '%s'\n", reference);
        return EXIT_USAGE;
    }
    bool learned = strcmp(engine, "warp") != 0;
    if (learned && strcmp(engine, "fsth") && strcmp(engine, "hybrid")) {
        fprintf(stderr, "vivify: --engine must be warp, fsth or hybrid, not '%s'\n", engine);
        return EXIT_USAGE;
    }
    if (!learned && model_path) {
        fprintf(stderr, "vivify: --model is for --engine fsth or hybrid\n");
        return EXIT_USAGE;
    }
    char ext[16];
    path_extension(output, ext, sizeof ext);
    if (!strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "webm") || !strcmp(ext, "avi"))
        return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "-o %s: write .mp4, .gif or a folder for PNG frames", output));
    for (int i = 0; i < npos; i++)
        if (!file_exists(positional[i])) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", positional[i]));
    if (driving && !file_exists(driving)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", driving));
    bool motion_file = motion && !motion_builtin_exists(motion);
    if (motion_file && !is_json_path(motion) && !file_exists(motion))
        return cli_fail(vv_fail(VV_ERR_INVALID_ARGUMENT, "unknown motion '%s' (built-in: %s, or a .json template)", motion,
                                motion_builtin_names()));
    if (motion_file && !file_exists(motion)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", motion));

    /* The model first: a missing or bad one fails before any work, leaving no output. */
    fsth_model *model = NULL;
    if (learned) {
        vv_status ms = learned_model_load(&model, engine, model_path);
        if (ms != VV_OK) return cli_fail(ms);
    }
    double start = time_now();
    animate_interrupted = 0;
    interrupt_handlers_set(true);
    /* Wall time per stage, for --verbose. */
    double stage_tracking = 0, stage_decode = 0, stage_render = 0, stage_encode = 0;
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models;
    vv_faces *faces = NULL;
    vv_status s = vv_faces_new(&faces, &fp);
    if (s != VV_OK) {
        interrupt_handlers_set(false);
        fsth_model_free(model);
        return cli_fail(s);
    }

    source sources[MAX_SOURCES];
    memset(sources, 0, sizeof sources);
    motion_track track = {0};
    video_writer *writer = NULL;
    video_reader *driver_reader = NULL;
    vv_image result = {0}, frame = {0}, driver_frame = {0}, panel = {0};
    warp_params wp = warp_default_params();
    wp.crop_size = size;
    wp.paste_back = !crop;
    /* The motion: a driver with one source and the first frame as reference streams (tracked
     * on a thread while this one renders); anything else is tracked / loaded whole first.
     * The stream starts before the source is loaded, so that on two cores the driver's
     * decoding and tracking overlap the source's loading and detection. */
    bool streaming = driving && npos == 1 && !strcmp(reference, "first");
    tracking_stream stream;
    memset(&stream, 0, sizeof stream);
    if (streaming) s = stream_start(&stream, faces, driving, frames_limit);
    for (int i = 0; i < npos && s == VV_OK; i++) {
        sources[i].path = positional[i];
        s = source_open(&sources[i], faces, positional[i], face_index, &wp);
    }
    /* Learned engines: every SOURCE is a shot of the person (feed-forward), unless the model
     * is a fine-tuned person file; the first source is the portrait the crop goes into. */
    float crop_to_image[6], image_to_crop[6];
    vv_image net_crop = {0}, portrait = {0};
    if (s == VV_OK && learned) {
        if (!model->has_person) {
            vv_image shots[MAX_SOURCES];
            float (*shot_points)[68][2] = malloc(sizeof(float[MAX_SOURCES][68][2]));
            if (!shot_points) s = vv_fail(VV_ERR_NO_MEMORY, "animate: no memory for the shots");
            for (int i = 0; i < npos && s == VV_OK; i++) {
                shots[i] = sources[i].image;
                memcpy(shot_points[i], sources[i].face.landmarks, sizeof shot_points[i]);
            }
            if (s == VV_OK) s = fsth_prepare(model, shots, (const float(*)[68][2])shot_points, npos);
            free(shot_points);
        } else if (verbose) {
            fprintf(stderr, "animate: the model holds a fine-tuned person; the SOURCE images only place it\n");
        }
        fsth_crop_transform((const float(*)[2])sources[0].face.landmarks, model->config.size, crop_to_image);
        affine_invert(crop_to_image, image_to_crop);
    }
    int first = -1;
    long expected_frames = 0; /* for the progress bar */
    if (s == VV_OK) {
        stage_tracking = time_now();
        if (streaming) s = VV_OK; /* the stream started before the sources */
        else if (driving) s = track_video(faces, driving, frames_limit, &track, "tracking");
        else if (motion_file) s = motion_load(&track, motion);
        else s = motion_builtin(&track, motion, duration, 25);
        stage_tracking = time_now() - stage_tracking;
    }
    if (s == VV_OK && streaming) { /* the track so far: the reference frame and the video's facts */
        s = stream_wait_first(&stream, &first);
        if (s == VV_OK) s = motion_track_alloc(&track, first + 1);
        bool got = false, found = false;
        for (int f = 0; s == VV_OK && f <= first; f++) {
            s = stream_frame(&stream, f, track.points[f], &found, &got);
            track.found[f] = found;
        }
        video_reader *probe = NULL;
        if (s == VV_OK) s = video_reader_open(&probe, driving);
        if (s == VV_OK) {
            const video_info *info = video_reader_info(probe);
            track.fps = info->fps > 0 ? info->fps : 25;
            track.width = info->width;
            track.height = info->height;
            if (info->has_audio) {
                char *resolved = realpath(driving, NULL);
                track.audio = resolved ? resolved : strdup(driving);
            }
            long estimate = info->frame_count > 0 ? info->frame_count : 0;
            if (frames_limit > 0 && (estimate <= 0 || estimate > frames_limit)) estimate = frames_limit;
            expected_frames = estimate > first + 1 ? estimate : first + 1;
        }
        video_reader_close(probe);
    }
    if (s == VV_OK && frames_limit > 0 && track.frame_count > frames_limit) track.frame_count = frames_limit;
    if (s == VV_OK && !streaming) {
        expected_frames = track.frame_count;
        first = motion_first_found(&track);
        s = motion_fill_gaps(&track, first);
    }
    motion_params mp = motion_default_params();
    mp.absolute = absolute;
    mp.expression_scale = expression_scale;
    mp.pose_scale = pose_scale;
    for (int i = 0; i < npos && s == VV_OK; i++) {
        const float (*src_points)[2] = (const float(*)[2])sources[i].face.landmarks;
        sources[i].reference = !strcmp(reference, "best") || npos > 1 ? motion_reference_best(&track, src_points) : first;
        motion_retarget_init(&sources[i].retarget, src_points, (const float(*)[2])track.points[sources[i].reference], &mp);
        if (verbose)
            fprintf(stderr, "animate: %s: face %.0fx%.0f px, yaw %.0f pitch %.0f roll %.0f; reference driver frame %d\n",
                    sources[i].path, sources[i].face.box[2] - sources[i].face.box[0],
                    sources[i].face.box[3] - sources[i].face.box[1], sources[i].face.yaw, sources[i].face.pitch,
                    sources[i].face.roll, sources[i].reference);
    }
    /* Audio: the driver's (or the template's), mp4 only. */
    const char *audio = NULL;
    video_format format = video_format_for_path(output);
    if (s == VV_OK && !no_audio && track.audio && format == VIDEO_FORMAT_MP4) {
        if (file_exists(track.audio)) audio = track.audio;
        else if (verbose) fprintf(stderr, "animate: the template's audio %s is missing; no audio\n", track.audio);
    }
    /* Output geometry. */
    int out_w = 0, out_h = 0, driver_w = 0;
    if (s == VV_OK) {
        warp_engine_output_size(sources[0].engine, &out_w, &out_h);
        if (compare) {
            int dw = track.width > 0 ? track.width : 512, dh = track.height > 0 ? track.height : 512;
            driver_w = panel_width(dw, dh, out_h);
            if ((long)out_w * 2 + driver_w > VV_IMAGE_MAX_SIDE)
                s = vv_fail(VV_ERR_TOO_LARGE, "--compare: %d px wide is too wide", out_w * 2 + driver_w);
        }
    }
    /* The driver is decoded again in step: its mouth interior fills the source's, and
     * --compare shows it. */
    if (s == VV_OK && driving) s = video_reader_open(&driver_reader, driving);
    if (s == VV_OK) s = image_create(&frame, out_w * (compare ? 2 : 1) + driver_w, out_h, 3);
    if (s == VV_OK) {
        video_writer_params vp = video_writer_default_params();
        vp.width = frame.width;
        vp.height = frame.height;
        vp.fps = track.fps;
        vp.audio_source = audio;
        vp.audio_duration = streaming ? 0 : track.frame_count / track.fps; /* 0: until the video ends */
        s = video_writer_open(&writer, output, &vp);
    }
    progress_bar bar;
    long switches = 0;
    double mouth_total = 0;
    int current = 0, faceless = 0;
    if (s == VV_OK) progress_start(&bar, "animate", expected_frames, "frames");
    float points[68][2], last_points[68][2];
    int last_found = -1, frame_count = 0;
    for (int f = 0; s == VV_OK; f++) {
        if (animate_interrupted) break;
        bool found = false;
        if (streaming) {
            bool got = true;
            if (f <= first) { /* taken from the stream already, for the reference */
                memcpy(points, track.points[f], sizeof points);
                found = track.found[f];
            } else {
                double wait = time_now();
                s = stream_frame(&stream, f, points, &found, &got);
                stage_tracking += time_now() - wait;
            }
            if (s != VV_OK || !got) break;
            if (found) {
                memcpy(last_points, points, sizeof points);
                last_found = f;
            } else if (last_found < 0) {
                memcpy(points, track.points[first], sizeof points);
            } else {
                motion_gap_points((const float(*)[2])last_points, f - last_found, track.fps,
                                  (const float(*)[2])track.points[first], points);
            }
        } else {
            if (f >= track.frame_count) break;
            memcpy(points, track.points[f], sizeof points);
            found = track.found[f];
        }
        frame_count = f + 1;
        const float (*driver)[2] = (const float(*)[2])points;
        faceless += !found;
        if (npos > 1 && !learned) { /* nearest source to this driver frame, with a little hysteresis */
            int best = current;
            double best_d = motion_shape_distance(driver, (const float(*)[2])sources[current].face.landmarks) * 0.9;
            for (int i = 0; i < npos; i++) {
                double d = motion_shape_distance(driver, (const float(*)[2])sources[i].face.landmarks);
                if (d < best_d) { best_d = d; best = i; }
            }
            if (best != current) switches++;
            current = best;
            if (verbose) fprintf(stderr, "animate: frame %d: source %d (%s)\n", f, current + 1, sources[current].path);
        }
        source *src = &sources[current];
        float target[68][2];
        motion_retarget_frame(&src->retarget, driver, target);
        bool have_driver_frame = false;
        double t0 = time_now();
        if (driver_reader) {
            double t = 0;
            s = video_reader_next(driver_reader, &driver_frame, &t, &have_driver_frame);
            if (s != VV_OK) break;
        }
        double t1 = time_now();
        bool driver_mouth = have_driver_frame && found;
        float mouth = 0;
        if (!learned || (!strcmp(engine, "hybrid") && !crop)) {
            s = warp_engine_render(src->engine, (const float(*)[2])target, driver_mouth ? &driver_frame : NULL,
                                   driver_mouth ? driver : NULL, &result, &mouth);
            mouth_total += mouth;
        } else if (!crop) { /* fsth pastes into the still portrait */
            if (!portrait.data) s = image_top_left(&portrait, &src->image, out_w, out_h);
            if (s == VV_OK && (result.width != out_w || result.height != out_h)) {
                image_free(&result);
                s = image_create(&result, out_w, out_h, 3);
            }
            if (s == VV_OK) memcpy(result.data, portrait.data, (size_t)out_w * out_h * 3);
        }
        if (s == VV_OK && learned)
            s = learned_render(model, image_to_crop, crop_to_image, (const float(*)[2])target, crop, out_w, out_h,
                               &net_crop, &result);
        if (s != VV_OK) break;
        double t2 = time_now();
        stage_decode += t1 - t0;
        stage_render += t2 - t1;
        if (current != 0 && (result.width != out_w || result.height != out_h)) {
            vv_image scaled = {0};
            s = image_resize(&scaled, &result, out_w, out_h);
            if (s != VV_OK) break;
            image_free(&result);
            result = scaled;
        }
        if (!compare) {
            s = video_writer_write(writer, &result);
        } else {
            memset(frame.data, 0, (size_t)frame.width * frame.height * 3);
            vv_image source_panel = {0};
            if (crop) panel_blit(&frame, &src->image, 0, panel_width(src->image.width, src->image.height, out_h), out_h);
            else {
                source_panel = sources[0].image;
                for (int y = 0; y < out_h; y++)
                    memcpy(frame.data + (size_t)y * frame.width * 3, source_panel.data + (size_t)y * source_panel.width * 3,
                           (size_t)out_w * 3);
            }
            if (driver_reader) {
                if (have_driver_frame) panel_blit(&frame, &driver_frame, out_w, driver_w, out_h);
            } else { /* a motion without video: draw its landmarks */
                if (!panel.data) s = image_create(&panel, track.width > 0 ? track.width : 512, track.height > 0 ? track.height : 512, 3);
                if (s != VV_OK) break;
                landmarks_rasterize(&panel, driver, 2);
                panel_blit(&frame, &panel, out_w, driver_w, out_h);
            }
            for (int y = 0; y < out_h; y++)
                memcpy(frame.data + ((size_t)y * frame.width + out_w + driver_w) * 3, result.data + (size_t)y * result.width * 3,
                       (size_t)out_w * 3);
            s = video_writer_write(writer, &frame);
        }
        stage_encode += time_now() - t2;
        progress_update(&bar, f + 1);
    }
    /* Interrupted: the tracker stopped with VV_ERR_ABORTED or the loop broke off. */
    bool interrupted = animate_interrupted && (s == VV_OK || s == VV_ERR_ABORTED);
    if (interrupted) s = VV_OK;
    bool keep = interrupted && keep_partial && writer && frame_count > 0;
    if (writer) {
        progress_finish(&bar);
        if (s == VV_OK && (!interrupted || keep)) s = video_writer_finish(writer);
        else video_writer_abort(writer);
    }
    if (s == VV_OK && interrupted) {
        if (keep) fprintf(stderr, "animate: interrupted; kept %d frames in %s\n", frame_count, output);
        s = vv_fail(VV_ERR_ABORTED, "interrupted; %s", keep           ? "the output holds the frames made so far"
                                            : keep_partial ? "no frame was made yet; no output written"
                                                           : "no output written (--keep-partial keeps the frames made so far)");
    }
    if (s == VV_OK) {
        double elapsed = time_now() - start;
        fprintf(stderr, "animate: %d frames %dx%d at %.4g fps -> %s%s%s in %.1f s (%.1f frames/s)", frame_count,
                frame.width, frame.height, track.fps, output, audio ? " with audio from " : "",
                audio ? audio : "", elapsed, elapsed > 0 ? frame_count / elapsed : 0.0);
        if (faceless) fprintf(stderr, "; %d driver frames without a face held/eased", faceless);
        if (npos > 1) fprintf(stderr, "; %ld source switches", switches);
        if (verbose)
            fprintf(stderr, "; mean mouth fill %.2f; wall s: %s %.2f, decode %.2f, render %.2f, encode %.2f",
                    mouth_total / (frame_count > 0 ? frame_count : 1),
                    streaming ? "waiting for the tracker thread" : "tracking", stage_tracking, stage_decode, stage_render,
                    stage_encode);
        fputc('\n', stderr);
    }
    stream_stop(&stream); /* before faces go: the tracker thread uses them */
    for (int i = 0; i < npos; i++) {
        warp_engine_free(sources[i].engine);
        image_free(&sources[i].image);
    }
    image_free(&result);
    image_free(&net_crop);
    image_free(&portrait);
    fsth_model_free(model);
    image_free(&frame);
    image_free(&driver_frame);
    image_free(&panel);
    video_reader_close(driver_reader);
    motion_track_free(&track);
    vv_faces_free(faces);
    interrupt_handlers_set(false);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}

int cli_motion(int argc, char **argv) {
    const char *output = NULL, *models = NULL;
    int frames_limit = 0;
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "M.json", "write the motion template here", 0, 0},
        {"frames", 0, OPT_INT, &frames_limit, "N", "at most N frames", 1, MOTION_MAX_FRAMES},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
    };
    const char *positional[2];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 2, &npos,
                      "usage: vivify motion extract VIDEO -o M.json\n\n"
                      "Saves a driving video's motion (landmark track, fps, audio path) as a template for\n"
                      "vivify animate --motion M.json.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (npos != 2 || strcmp(positional[0], "extract")) {
        fprintf(stderr, "vivify: usage: vivify motion extract VIDEO -o M.json\n");
        return EXIT_USAGE;
    }
    if (!output) {
        fprintf(stderr, "vivify: motion extract needs -o M.json\n");
        return EXIT_USAGE;
    }
    const char *input = positional[1];
    if (!file_exists(input)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", input));
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models;
    vv_faces *faces = NULL;
    vv_status s = vv_faces_new(&faces, &fp);
    if (s != VV_OK) return cli_fail(s);
    double start = time_now();
    motion_track track = {0};
    s = track_video(faces, input, frames_limit, &track, "motion");
    if (s == VV_OK) s = motion_save(&track, output);
    if (s == VV_OK) {
        int found = 0;
        for (int i = 0; i < track.frame_count; i++) found += track.found[i];
        fprintf(stderr, "motion: %d frames at %.4g fps, face in %d, %s -> %s in %.1f s\n", track.frame_count, track.fps,
                found, track.audio ? "with audio" : "no audio", output, time_now() - start);
    }
    motion_track_free(&track);
    vv_faces_free(faces);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
