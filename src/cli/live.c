/* cli/live: `vivify live SOURCE... [--input INPUT] [--window] [--output OUT.mp4] [--stats FILE.json]`:
 * the portrait mirrors a driver in real time, through the library's streaming API
 * (vv_animator_push / vv_animator_pull with lookahead 0: a causal pipeline, one frame in,
 * one frame out).
 *
 * Two threads.  The capture thread reads the input and hands over each frame at its own
 * time in wall-clock time, as a camera would (a file, pipe or lavfi graph is paced at its frame
 * rate; a camera, read through libavdevice (cli/live_input.c), paces itself); it keeps
 * only the newest frame: one that arrives while the previous one still waits replaces it,
 * and the replaced one is counted as dropped.  The main thread takes the waiting frame,
 * pushes it, pulls its output and hands that to the writer (which encodes on a thread of
 * its own) and/or shows it with the driver in a window (SDL2, cli/live_window.c).  Latency
 * runs from a frame's arrival to its output being handed to the writer and shown.
 * The recording keeps real time: the slot of a dropped frame repeats the output before it,
 * so it holds one frame per input frame at the input's rate and the audio stays in sync.
 * Nothing queues: at most one frame waits, so a slow pipeline drops frames instead of
 * falling behind.
 *
 * Ctrl-C / SIGTERM stops; the recording made so far is finished as a playable file (exit
 * code 130).  A read error mid-run (a stream that breaks off) also keeps the recording and
 * exits with the error's code. */
#include "cli/cli.h"
#include "cli/live_input.h"
#include "cli/live_keys.h"
#include "cli/live_v4l2.h"
#include "cli/live_window.h"
#include "img/image.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIVE_MAX_SOURCES 16
#define LIVE_DEFAULT_INPUT "/dev/video0"
/* A frame due further ahead than this (a gap in a file's timestamps) comes this soon. */
#define LIVE_MAX_WAIT 1.0

/* ---- capture thread ------------------------------------------------------------------ */

typedef struct live_capture {
    video_reader *reader;     /* a file; or */
    live_device *device;      /* a camera, lavfi graph or pipe */
    bool paced;               /* frames handed over at their times (not a camera: it paces itself) */
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* CLOCK_MONOTONIC: a frame waits, the input ended, stop */
    vv_image slot;            /* the newest frame, while `waiting` */
    double slot_time;         /* its presentation time in the input (s) */
    double slot_arrival;      /* when it arrived (time_now) */
    long slot_number;         /* its number among the frames that arrived, from 1 */
    bool waiting, done, stop;
    atomic_bool halt;         /* stop, for reads blocked in FFmpeg (an idle pipe) to poll */
    vv_status status;         /* a read error (done is set too) */
    char error[512];          /* its message: vv_last_error is per thread */
    long frames_in, dropped;
} live_capture;

static struct timespec monotonic_after(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = floor(seconds);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int live_stop_requested(void *data) {
    live_capture *c = data;
    return cli_interrupted() || atomic_load(&c->halt);
}

static void *capture_main(void *arg) {
    live_capture *c = arg;
    vv_image frame = {0};
    double clock_start = 0, first_time = 0;
    bool started = false;
    for (;;) {
        double time = 0;
        bool got = false;
        vv_status s = c->reader ? video_reader_next(c->reader, &frame, &time, &got)
                                : live_device_next(c->device, &frame, &time, &got);
        pthread_mutex_lock(&c->lock);
        if (s != VV_OK || !got) {
            if (s != VV_OK) {
                c->status = s;
                snprintf(c->error, sizeof c->error, "%s", vv_last_error());
            }
            c->done = true;
            pthread_cond_broadcast(&c->changed);
            pthread_mutex_unlock(&c->lock);
            break;
        }
        /* The frame is due at its time after the first frame's, in wall-clock time.  A frame
         * decoded late shifts the schedule (a camera does not deliver bursts to catch up); one
         * due far ahead (a gap in the timestamps) comes after LIVE_MAX_WAIT. */
        double now = time_now();
        if (!started) {
            clock_start = now;
            first_time = time;
            started = true;
        }
        double due = c->paced ? clock_start + (time - first_time) : now;
        if (due < now) {
            clock_start += now - due;
            due = now;
        } else if (due > now + LIVE_MAX_WAIT) {
            clock_start -= due - (now + LIVE_MAX_WAIT);
            due = now + LIVE_MAX_WAIT;
        }
        while (!c->stop && !cli_interrupted() && (now = time_now()) < due) {
            struct timespec until = monotonic_after(due - now < 0.05 ? due - now : 0.05);
            pthread_cond_timedwait(&c->changed, &c->lock, &until);
        }
        if (c->stop || cli_interrupted()) { /* decoded, but stopped before it arrived */
            pthread_mutex_unlock(&c->lock);
            break;
        }
        c->frames_in++;
        if (c->waiting) c->dropped++; /* the one still waiting is replaced by this newer one */
        vv_image swap = c->slot;
        c->slot = frame;
        frame = swap;
        c->slot_time = time;
        c->slot_arrival = time_now();
        c->slot_number = c->frames_in;
        c->waiting = true;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
    }
    image_free(&frame);
    return NULL;
}

/* ---- latency record ------------------------------------------------------------------ */

typedef struct latency_record {
    float *ms;
    long count, capacity;
} latency_record;

static vv_status latency_add(latency_record *r, double ms) {
    if (r->count == r->capacity) {
        long grown = r->capacity ? r->capacity * 2 : 1024;
        float *p = realloc(r->ms, (size_t)grown * sizeof *p);
        if (!p) return vv_fail(VV_ERR_NO_MEMORY, "live: out of memory for the latency record");
        r->ms = p;
        r->capacity = grown;
    }
    r->ms[r->count++] = (float)ms;
    return VV_OK;
}

static int float_compare(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentiles of values[0..count) (sorted in place); count > 0. */
static double percentile_sorted(const float *sorted, long count, double p) {
    long rank = (long)ceil(p / 100.0 * (double)count);
    if (rank < 1) rank = 1;
    if (rank > count) rank = count;
    return sorted[rank - 1];
}

typedef struct latency_summary {
    double p50, p95, max;
    bool valid;
} latency_summary;

static latency_summary latency_summarise(const float *values, long count) {
    latency_summary s = {0, 0, 0, false};
    if (count <= 0) return s;
    float *sorted = malloc((size_t)count * sizeof *sorted);
    if (!sorted) return s;
    memcpy(sorted, values, (size_t)count * sizeof *sorted);
    qsort(sorted, (size_t)count, sizeof *sorted, float_compare);
    s.p50 = percentile_sorted(sorted, count, 50);
    s.p95 = percentile_sorted(sorted, count, 95);
    s.max = sorted[count - 1];
    s.valid = true;
    free(sorted);
    return s;
}

/* ---- stats and status ------------------------------------------------------------------ */

typedef struct live_totals {
    long frames_in, frames_out, dropped;
    long frames_recorded; /* frames_out plus the repeats standing in for dropped frames */
    long faceless;        /* output frames whose driver frame had no face (held, eased) */
    double seconds; /* first arrival to the last output */
    latency_summary latency;
    /* Where it goes, per output frame: waiting in the slot, tracking (push), rendering
     * (pull), handing to the writer / window (with any repeats for dropped frames). */
    latency_summary stages[4];
} live_totals;

static double totals_fps(const live_totals *t) { return t->seconds > 0 ? (double)t->frames_out / t->seconds : 0; }

static vv_status stats_write(const char *path, const live_totals *t) {
    cJSON *root = cJSON_CreateObject();
    cJSON *latency = cJSON_CreateObject();
    if (!root || !latency) {
        cJSON_Delete(root);
        cJSON_Delete(latency);
        return vv_fail(VV_ERR_NO_MEMORY, "live: out of memory writing %s", path);
    }
    cJSON_AddNumberToObject(root, "frames_in", (double)t->frames_in);
    cJSON_AddNumberToObject(root, "frames_out", (double)t->frames_out);
    cJSON_AddNumberToObject(root, "dropped", (double)t->dropped);
    cJSON_AddNumberToObject(root, "frames_recorded", (double)t->frames_recorded);
    cJSON_AddNumberToObject(root, "frames_without_face", (double)t->faceless);
    const char *names[3] = {"p50", "p95", "max"};
    const double values[3] = {t->latency.p50, t->latency.p95, t->latency.max};
    for (int i = 0; i < 3; i++) {
        if (t->latency.valid) cJSON_AddNumberToObject(latency, names[i], round(values[i] * 100) / 100);
        else cJSON_AddNullToObject(latency, names[i]); /* no frame came out */
    }
    cJSON_AddItemToObject(root, "latency_ms", latency);
    const char *stage_names[4] = {"wait", "track", "render", "output"};
    cJSON *stages = cJSON_AddObjectToObject(root, "stages_ms");
    for (int i = 0; stages && i < 4; i++) {
        cJSON *stage = cJSON_AddObjectToObject(stages, stage_names[i]);
        if (!stage) break;
        if (t->stages[i].valid) {
            cJSON_AddNumberToObject(stage, "p50", round(t->stages[i].p50 * 100) / 100);
            cJSON_AddNumberToObject(stage, "p95", round(t->stages[i].p95 * 100) / 100);
        } else {
            cJSON_AddNullToObject(stage, "p50");
            cJSON_AddNullToObject(stage, "p95");
        }
    }
    cJSON_AddNumberToObject(root, "fps", round(totals_fps(t) * 100) / 100);
    cJSON_AddNumberToObject(root, "seconds", round(t->seconds * 1000) / 1000);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return vv_fail(VV_ERR_NO_MEMORY, "live: out of memory writing %s", path);
    char temp[4096];
    vv_status s = file_temp_path(path, temp, sizeof temp);
    if (s == VV_OK) {
        FILE *f = fopen(temp, "w");
        if (!f) {
            s = vv_fail(VV_ERR_WRITE, "cannot write %s", path);
        } else {
            bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
            ok = (fclose(f) == 0) && ok;
            s = ok ? file_commit(temp, path) : vv_fail(VV_ERR_WRITE, "cannot write %s", path);
            if (s != VV_OK) remove(temp);
        }
    }
    free(text);
    return s;
}

/* The status line: on a terminal redrawn in place twice a second; otherwise (logs) a line
 * after the first output frame, then every 5 s.  Figures over the frames since the last line. */
typedef struct live_status {
    bool tty, window;
    double last_time, last_print;
    long last_out, last_index;
    bool drawn;
} live_status;

/* Returns true with the figures in text (for a window's title) when it printed a line. */
static bool status_update(live_status *st, live_capture *c, long frames_out, const latency_record *record, bool force,
                          char *text, size_t text_size) {
    double now = time_now();
    double interval = st->tty || st->window ? 0.5 : 5.0;
    if (!force && now - st->last_time < interval) return false;
    double span = now - st->last_time;
    long in, dropped;
    pthread_mutex_lock(&c->lock);
    in = c->frames_in;
    dropped = c->dropped;
    pthread_mutex_unlock(&c->lock);
    latency_summary recent = latency_summarise(record->ms + st->last_index, record->count - st->last_index);
    double fps = span > 0 ? (double)(frames_out - st->last_out) / span : 0;
    snprintf(text, text_size, "live: %ld in, %ld out, %ld dropped; %.1f fps, latency %.0f ms (p95 %.0f ms)", in,
             frames_out, dropped, fps, recent.p50, recent.p95);
    if (st->tty || force || now - st->last_print >= 5.0) { /* a window redraws its title more often than a log */
        fprintf(stderr, "%s%s%s", st->tty ? "\r" : "", text, st->tty ? "\033[K" : "\n");
        st->last_print = now;
        st->drawn = true;
    }
    st->last_time = now;
    st->last_out = frames_out;
    st->last_index = record->count;
    return true;
}

/* ---- input checks ------------------------------------------------------------------------ */

/* Cheap checks of the input before any model loads. */
static vv_status input_check(const char *input, live_input_kind kind) {
    if (kind == LIVE_INPUT_CAMERA && !file_exists(input))
        return vv_fail(VV_ERR_NOT_FOUND, "no camera at %s (--input FILE drives from a video file)", input);
    if (kind != LIVE_INPUT_FILE && !live_input_devices_built())
        return vv_fail(VV_ERR_UNSUPPORTED, "--input %s: cameras, lavfi and pipes are not supported in this build "
                                           "(built without libavdevice); --input takes a video file", input);
    if (kind == LIVE_INPUT_FILE && !file_exists(input)) return vv_fail(VV_ERR_NOT_FOUND, "input not found: %s", input);
    return VV_OK;
}

/* ---- the command ---------------------------------------------------------------------------- */

int cli_live(int argc, char **argv) {
    const char *input = LIVE_DEFAULT_INPUT, *output = NULL, *stats = NULL, *v4l2_path = NULL, *engine = "warp", *models = NULL;
    const char *background = "still", *input_format = NULL, *input_options = NULL;
    bool window = false;
    int face_index = 1;
    float expression_scale = 1, pose_scale = 1, eyes = 1, lips = 1, smoothing = 1;
    const cli_option opts[] = {
        {"input", 'i', OPT_STRING, &input, "INPUT", "the driver: a camera (/dev/videoN), a video file or pipe: "
                                                     "(paced at its own frame rate, as a camera would be) or "
                                                     "lavfi:GRAPH", 0, 0},
        {"input-format", 0, OPT_STRING, &input_format, "FMT", "FFmpeg input format of a camera or pipe (e.g. rawvideo; "
                                                              "default: v4l2 for a camera, probed for a pipe)", 0, 0},
        {"input-options", 0, OPT_STRING, &input_options, "K=V,...", "its options, e.g. a camera's video_size=640x480,"
                                                                    "framerate=30,input_format=mjpeg (default: none)", 0, 0},
        {"output", 'o', OPT_STRING, &output, "OUT.mp4", "record the result in real time (H.264, with the input's audio "
                                                        "when it is a file with audio; default: none)", 0, 0},
        {"stats", 0, OPT_STRING, &stats, "FILE.json", "write frames_in, frames_out, dropped, latency_ms {p50, p95, max}, "
                                                      "stages_ms and fps here at the end (default: none)", 0, 0},
        {"v4l2", 0, OPT_STRING, &v4l2_path, "/dev/videoN", "also show the result as a virtual camera for video-call apps "
                                                            "(a v4l2loopback device; default: none)", 0, 0},
        {"window", 'w', OPT_FLAG, &window, NULL, "show the driver beside the result in a window (SDL2; fps and latency in "
                                                 "its title; Esc, q or closing it stops; default: off)", 0, 0},
        {"engine", 'e', OPT_STRING, &engine, "warp|warp2d", "warp (default: the 3D head) or warp2d (the 2D landmark warp)", 0, 0},
        {"expression-scale", 0, OPT_FLOAT, &expression_scale, "S", "scale the expression changes (0 turns them off)", 0, 10},
        {"pose-scale", 0, OPT_FLOAT, &pose_scale, "S", "scale the head motion (0 keeps the head still)", 0, 10},
        {"eyes", 0, OPT_FLOAT, &eyes, "S", "eye-openness gain (warp): 1 blinks as the driver, 0 keeps the portrait's eyes", 0, 3},
        {"lips", 0, OPT_FLOAT, &lips, "S", "lip-motion gain (warp): 1 as the driver, 0 keeps the mouth still", 0, 3},
        {"smoothing", 0, OPT_FLOAT, &smoothing, "S", "landmark smoothing strength (a predictive fit over the past frames: "
                                                     "no lag for a steady motion; 0 turns it off)", 0, 3},
        {"background", 0, OPT_STRING, &background, "still|move", "warp: keep the background still behind the person (default) "
                                                                 "or let it move with the head", 0, 0},
        {"face", 0, OPT_INT, &face_index, "N", "animate the N-th largest face of the portrait", 1, 32},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
    };
    const char *positional[LIVE_MAX_SOURCES];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, LIVE_MAX_SOURCES, &npos,
                      "usage: vivify live SOURCE [SOURCE...] [--input INPUT] [--window] [--output OUT.mp4] [--v4l2 /dev/videoN]\n"
                      "                   [--stats FILE.json]\n\n"
                      "The portrait mirrors the driver in real time: each input frame, as it arrives, is tracked\n"
                      "and rendered at once (no lookahead; the landmarks smoothed by a predictive fit over the past\n"
                      "frames); a frame that arrives while the previous one still waits replaces it and is counted\n"
                      "as dropped, so the output never falls behind.  Latency runs from a frame's arrival to its\n"
                      "output.  A status line shows fps and latency; Ctrl-C stops, keeping the recording (exit code\n"
                      "130).  --window, --output and/or --v4l2 is needed.\n\n"
                      "Keys while it runs (in the window, or on the terminal): n the next face is the neutral;\n"
                      "s the next portrait; e/E expression, p/P head motion, i/I eyes, l/L lips down/up 0.1;\n"
                      "0 the gains as started; h these keys; q or Esc stops.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    vv_status s = VV_OK;
    if (npos < 1) {
        fprintf(stderr, "vivify: live needs a SOURCE image (see vivify live --help)\n");
        return EXIT_USAGE;
    }
    if (window && (s = live_window_available()) != VV_OK) return cli_fail(s);
    if (!output && !window && !v4l2_path) {
        fprintf(stderr, "vivify: live needs somewhere to show the result: --window, --output OUT.mp4 and/or --v4l2 /dev/videoN\n");
        return EXIT_USAGE;
    }
    if (v4l2_path && (s = live_v4l2_check(v4l2_path)) != VV_OK) return cli_fail(s);
    if (strcmp(engine, "warp") && strcmp(engine, "warp2d")) {
        fprintf(stderr, "vivify: live --engine must be warp or warp2d, not '%s'\n", engine);
        return EXIT_USAGE;
    }
    if (strcmp(background, "still") && strcmp(background, "move")) {
        fprintf(stderr, "vivify: --background must be still or move, not '%s'\n", background);
        return EXIT_USAGE;
    }
    /* Cheap checks first: the input, the sources; then the models. */
    live_input_kind kind = live_input_kind_of(input);
    s = input_check(input, kind);
    if (s != VV_OK) return cli_fail(s);
    if ((input_format || input_options) && kind == LIVE_INPUT_FILE) {
        fprintf(stderr, "vivify: --input-format and --input-options are for a camera, a pipe or lavfi, not a file\n");
        return EXIT_USAGE;
    }
    for (int i = 0; i < npos; i++)
        if (!file_exists(positional[i])) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", positional[i]));
    live_capture capture;
    memset(&capture, 0, sizeof capture);
    video_reader *reader = NULL;
    live_device *device = NULL;
    video_info info = {0};
    if (kind == LIVE_INPUT_FILE) {
        s = video_reader_open(&reader, input);
        if (s == VV_OK) info = *video_reader_info(reader);
    } else {
        live_device_params dp = {input_format, input_options, live_stop_requested, &capture};
        s = live_device_open(&device, input, kind, &dp);
        if (s == VV_OK) live_device_size(device, &info.width, &info.height, &info.fps);
    }
    if (s != VV_OK) return cli_fail(s);

    vv_animate_params params = vv_animate_default_params();
    params.engine = engine;
    params.models_dir = models;
    params.face_index = face_index;
    params.expression_scale = expression_scale;
    params.pose_scale = pose_scale;
    params.eyes = eyes;
    params.lips = lips;
    params.background_move = !strcmp(background, "move");
    params.lookahead = 0; /* causal: output frame t as soon as driver frame t is in */
    params.smoothing = smoothing;
    vv_image images[LIVE_MAX_SOURCES];
    memset(images, 0, sizeof images);
    for (int i = 0; i < npos && s == VV_OK; i++) s = image_load(&images[i], positional[i]);
    vv_animator *animator = NULL;
    if (s == VV_OK) s = vv_animator_new(&animator, images, positional, npos, &params);
    for (int i = 0; i < npos; i++) image_free(&images[i]);
    for (int i = 0; s == VV_OK && vv_animator_warning(animator, i); i++) fprintf(stderr, "%s\n", vv_animator_warning(animator, i));

    video_writer *writer = NULL;
    live_window *win = NULL;
    live_v4l2 *camera_out = NULL;
    bool with_audio = false;
    if (s == VV_OK && output) {
        video_writer_params wp = video_writer_default_params();
        vv_animator_output_size(animator, &wp.width, &wp.height);
        wp.fps = info.fps > 0 ? info.fps : 25;
        with_audio = info.has_audio && video_format_for_path(output) == VIDEO_FORMAT_MP4;
        wp.audio_source = with_audio ? input : NULL;
        s = video_writer_open(&writer, output, &wp);
    }
    if (s == VV_OK && window) {
        int width, height;
        vv_animator_output_size(animator, &width, &height);
        s = live_window_open(&win, info.width, info.height, width, height);
    }
    if (s == VV_OK && v4l2_path) {
        int width, height;
        vv_animator_output_size(animator, &width, &height);
        s = live_v4l2_open(&camera_out, v4l2_path, width, height, info.fps > 0 ? info.fps : 30);
    }
    if (s != VV_OK) {
        if (writer) video_writer_abort(writer);
        live_window_close(win);
        vv_animator_free(animator);
        video_reader_close(reader);
        live_device_close(device);
        return cli_fail(s);
    }

    capture.reader = reader;
    capture.device = device;
    capture.paced = kind != LIVE_INPUT_CAMERA;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&capture.lock, NULL);
    pthread_cond_init(&capture.changed, &attr);
    pthread_condattr_destroy(&attr);
    cli_interrupt_catch(true);
    pthread_t thread;
    if (pthread_create(&thread, NULL, capture_main, &capture) != 0) {
        cli_interrupt_catch(false);
        if (writer) video_writer_abort(writer);
        live_window_close(win);
        live_v4l2_close(camera_out);
        vv_animator_free(animator);
        video_reader_close(reader);
        live_device_close(device);
        return cli_fail(vv_fail(VV_ERR_INTERNAL, "live: cannot start the capture thread"));
    }

    /* Keys while it runs: in the window, or on the terminal (cli/live_keys.h). */
    live_controls controls;
    live_controls_init(&controls, expression_scale, pose_scale, eyes, lips, npos);
    live_terminal *terminal = live_terminal_open();
    if (win || terminal) fprintf(stderr, "live: %s\n", live_keys_help);
    bool quit_key = false;

    latency_record record = {0}, stage_records[4] = {{0}};
    live_status status = {isatty(2), win != NULL, time_now(), time_now(), 0, 0, false};
    char status_text[160] = "";
    bool window_closed = false;
    vv_image frame = {0}, result = {0};
    long frames_out = 0, frames_recorded = 0, number = 0, faceless = 0;
    bool have_result = false;
    double first_arrival = -1, last_output = 0;
    for (;;) {
        pthread_mutex_lock(&capture.lock);
        while (!capture.waiting && !capture.done && !cli_interrupted() && !window_closed) {
            struct timespec until = monotonic_after(win ? 0.01 : 0.05); /* a window answers its events meanwhile */
            pthread_cond_timedwait(&capture.changed, &capture.lock, &until);
            if (win) window_closed = live_window_poll(win);
        }
        bool have = capture.waiting && !cli_interrupted() && !window_closed;
        double time = 0, arrival = 0;
        if (have) {
            vv_image swap = capture.slot;
            capture.slot = frame;
            frame = swap;
            time = capture.slot_time;
            arrival = capture.slot_arrival;
            number = capture.slot_number;
            capture.waiting = false;
        }
        pthread_mutex_unlock(&capture.lock);
        if (!have) break; /* the input ended (or failed), Ctrl-C, or the window was closed */
        if (first_arrival < 0) first_arrival = arrival;
        /* Frames dropped since the last output: their slots in the recording repeat that
         * output (handed over first, so they encode while this frame renders), or the first
         * output when the drops came before it. */
        while (writer && have_result && frames_recorded < number - 1 && (s = video_writer_write(writer, &result)) == VV_OK)
            frames_recorded++;
        if (s != VV_OK) break;
        double marks[4];
        marks[0] = time_now();
        s = vv_animator_push(animator, &frame, time);
        marks[1] = time_now();
        int got = 0;
        vv_frame_info frame_info;
        if (s == VV_OK) s = vv_animator_pull(animator, &result, &got, &frame_info);
        marks[2] = time_now();
        while (writer && s == VV_OK && got && frames_recorded < number - 1 &&
               (s = video_writer_write(writer, &result)) == VV_OK)
            frames_recorded++;
        if (writer && s == VV_OK && got) s = video_writer_write(writer, &result);
        if (win && s == VV_OK && got) s = live_window_show(win, &frame, &result, NULL);
        if (camera_out && s == VV_OK && got) s = live_v4l2_write(camera_out, &result);
        if (s != VV_OK) break;
        if (got) {
            have_result = true;
            frames_recorded = writer ? frames_recorded + 1 : 0;
            last_output = time_now();
            frames_out++;
            faceless += !frame_info.face_found;
            s = latency_add(&record, (last_output - arrival) * 1000.0);
            const double starts[4] = {arrival, marks[0], marks[1], marks[2]}, ends[4] = {marks[0], marks[1], marks[2], last_output};
            for (int i = 0; i < 4 && s == VV_OK; i++) s = latency_add(&stage_records[i], (ends[i] - starts[i]) * 1000.0);
            if (s != VV_OK) break;
        }
        /* A line once frames flow, then every few seconds; the window's title twice a second. */
        if (status_update(&status, &capture, frames_out, &record, frames_out == 1, status_text, sizeof status_text) && win)
            live_window_show(win, &frame, &result, status_text);
        if (win && live_window_poll(win)) {
            window_closed = true;
            break;
        }
        for (int key; (key = win ? live_window_key(win) : 0) || (key = live_terminal_key(terminal));) {
            if (key == 'q' || key == 27) { /* q or Esc on the terminal (the window closes itself) */
                quit_key = true;
                break;
            }
            char line[200];
            if (live_key_apply(animator, &controls, key, line, sizeof line))
                fprintf(stderr, "%s%s%s\n", status.tty ? "\r" : "", line, status.tty ? "\033[K" : "");
        }
        if (quit_key) break;
    }
    live_terminal_close(terminal);
    bool interrupted = cli_interrupted();
    pthread_mutex_lock(&capture.lock);
    capture.stop = true;
    atomic_store(&capture.halt, true);
    pthread_cond_broadcast(&capture.changed);
    pthread_mutex_unlock(&capture.lock);
    pthread_join(thread, NULL);
    if (capture.waiting) capture.dropped++; /* arrived, never made: stopped first */
    if (status.drawn && status.tty) fputc('\n', stderr);

    /* The recording: kept on the input's end, Ctrl-C and a read error mid-run; removed on a
     * failure of our own or when no frame was made. */
    vv_status read_status = capture.status;
    if (writer && s == VV_OK && frames_out > 0) {
        s = video_writer_finish(writer);
    } else if (writer) {
        video_writer_abort(writer);
    }
    writer = NULL;
    live_window_close(win);
    win = NULL;
    live_v4l2_close(camera_out);
    camera_out = NULL;

    live_totals totals;
    memset(&totals, 0, sizeof totals);
    totals.frames_in = capture.frames_in;
    totals.frames_out = frames_out;
    totals.dropped = capture.dropped;
    totals.frames_recorded = frames_out > 0 ? frames_recorded : 0;
    totals.faceless = faceless;
    totals.seconds = first_arrival >= 0 && frames_out > 0 ? last_output - first_arrival : 0;
    totals.latency = latency_summarise(record.ms, record.count);
    for (int i = 0; i < 4; i++) totals.stages[i] = latency_summarise(stage_records[i].ms, stage_records[i].count);
    vv_status stats_status = VV_OK;
    if (stats) stats_status = stats_write(stats, &totals);
    if (s == VV_OK && stats_status != VV_OK) s = stats_status;
    char faceless_note[96] = "";
    if (faceless == frames_out && frames_out > 0)
        snprintf(faceless_note, sizeof faceless_note, "; no face in the input: the portrait held still");
    else if (faceless > 0)
        snprintf(faceless_note, sizeof faceless_note, "; %ld frames without a face in the input", faceless);
    if (s == VV_OK || s == VV_ERR_ABORTED || read_status != VV_OK) {
        fprintf(stderr, "live: %ld frames in, %ld out, %ld dropped; %.1f fps; latency p50 %.1f ms, p95 %.1f ms, "
                        "max %.1f ms%s -> %s%s\n",
                totals.frames_in, totals.frames_out, totals.dropped, totals_fps(&totals), totals.latency.p50,
                totals.latency.p95, totals.latency.max, faceless_note,
                frames_out > 0 && output ? output : output ? "nothing written" : "the window",
                frames_out > 0 && with_audio ? " with the input's audio" : "");
    }
    if (s == VV_OK && read_status != VV_OK) s = vv_fail(read_status, "%s", capture.error);
    if (s == VV_OK && frames_out == 0 && !interrupted)
        s = vv_fail(VV_ERR_NO_VIDEO, "live: no frame came out of %s; nothing written", input);
    if (s == VV_OK && interrupted)
        s = frames_out > 0 && output
                ? vv_fail(VV_ERR_ABORTED, "interrupted; the recording of %ld frames is in %s", frames_recorded, output)
            : frames_out > 0 ? vv_fail(VV_ERR_ABORTED, "interrupted after %ld frames", frames_out)
                             : vv_fail(VV_ERR_ABORTED, "interrupted before the first frame; nothing written");

    image_free(&frame);
    image_free(&result);
    image_free(&capture.slot);
    free(record.ms);
    for (int i = 0; i < 4; i++) free(stage_records[i].ms);
    pthread_cond_destroy(&capture.changed);
    pthread_mutex_destroy(&capture.lock);
    vv_animator_free(animator);
    video_reader_close(reader);
    live_device_close(device);
    cli_interrupt_catch(false);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
