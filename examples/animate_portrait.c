/* animate_portrait: a portrait brought to life through vivify's public API only
 * (include/vivify.h), as a program that embeds the library does it.
 *
 *   animate_portrait PORTRAIT OUTPUT [-m MOTION] [-d SECONDS] [-e ENGINE] [-t THREADS] [-s]
 *
 * The one-call form (default): vv_animate() renders a built-in motion ("talk", "blink",
 * "nod", "smile", "surprise") or a motion template (.json) to OUTPUT: an .mp4, a .gif or a
 * folder of PNG frames.
 * The streaming form (-s): the program makes its own driver, landmarks it computes (here the
 * portrait's own 68 points with the jaw dropping and the head nodding), pushes them one frame
 * at a time and pulls each rendered frame as it is ready, saved as OUTPUT/frame_NNNN.png.
 * A live tracker or another landmark source would push in the same way.
 *
 * Build against an installed vivify (cmake --install / ./dev install):
 *   cc animate_portrait.c -o animate_portrait $(pkg-config --cflags --libs vivify)
 * or statically:
 *   cc animate_portrait.c -o animate_portrait $(pkg-config --cflags vivify) \
 *      $(pkg-config --static --libs vivify | sed 's/-lvivify/-l:libvivify.a/')
 * Exit status: 0 done, 1 a library failure (its message printed), 2 usage. */
#define _POSIX_C_SOURCE 200809L
#include <vivify.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static int fail(vv_status status, const char *what) {
    fprintf(stderr, "animate_portrait: %s: %s (%s)\n", what, vv_last_error(), vv_status_string(status));
    return 1;
}

/* Callbacks of the one-call form: progress on stderr, Ctrl-C stops (from any thread). */
static int on_progress(void *user_data, vv_animate_stage stage, long done, long total) {
    (void)user_data;
    fprintf(stderr, "\r%s %ld/%ld frames", stage == VV_STAGE_TRACKING ? "tracking" : "animating", done, total);
    return 0;
}

static int on_abort(void *user_data) {
    (void)user_data;
    return interrupted;
}

static void on_log(void *user_data, const char *line) {
    (void)user_data;
    fprintf(stderr, "animate_portrait: %s\n", line);
}

static int animate_one_call(vv_animator *animator, const char *motion, double seconds, const char *output) {
    vv_animate_job job;
    memset(&job, 0, sizeof job);
    job.motion = motion;
    job.duration = seconds;
    job.output = output;
    vv_animate_callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.progress = on_progress;
    callbacks.abort = on_abort;
    callbacks.log = on_log;
    vv_animate_report report;
    vv_status s = vv_animate(animator, &job, &callbacks, &report);
    fprintf(stderr, "\n");
    if (s != VV_OK) return fail(s, "vv_animate");
    printf("wrote %ld frames %dx%d at %g fps to %s in %.1f s\n", report.frames, report.width, report.height,
           report.fps, output, report.seconds);
    return 0;
}

/* The streaming form's driver: frame t of the portrait's own landmarks with the jaw and the
 * lower lip dropped (a slow "ah") and the whole face nodding a little. */
static void driver_landmarks(const vv_face *face, int t, float out[VV_LANDMARK_COUNT][2]) {
    float eyes = hypotf(face->landmarks[45][0] - face->landmarks[36][0],
                        face->landmarks[45][1] - face->landmarks[36][1]);
    const double pi = 3.14159265358979;
    float open = (float)(0.5 - 0.5 * cos(2 * pi * t / 25.0)) * 0.25f * eyes; /* 0 at frame 0 */
    float nod = (float)sin(2 * pi * t / 50.0) * 0.05f * eyes;
    for (int k = 0; k < VV_LANDMARK_COUNT; k++) {
        float drop = 0;
        if (k >= 5 && k <= 11) drop = open * (1 - fabsf((float)(k - 8)) / 4); /* jaw, most at the chin */
        if ((k >= 55 && k <= 59) || (k >= 65 && k <= 67)) drop = open;     /* lower lip */
        out[k][0] = face->landmarks[k][0];
        out[k][1] = face->landmarks[k][1] + drop + nod;
    }
}

static int save_frame(const vv_image *frame, const char *folder, long index) {
    char path[4096];
    snprintf(path, sizeof path, "%s/frame_%04ld.png", folder, index);
    vv_status s = vv_image_save(frame, path);
    return s == VV_OK ? 0 : fail(s, "vv_image_save");
}

static int animate_streaming(vv_animator *animator, double seconds, const char *folder) {
    if (mkdir(folder, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "animate_portrait: cannot create %s: %s\n", folder, strerror(errno));
        return 1;
    }
    vv_face face;
    vv_status s = vv_animator_source_face(animator, 0, &face);
    if (s != VV_OK) return fail(s, "vv_animator_source_face");
    int frames = (int)lround(seconds * 25);
    vv_image out = {0};
    vv_frame_info info;
    long pulled = 0;
    int rc = 0, got = 0;
    for (int t = 0; t <= frames && rc == 0 && !interrupted; t++) {
        if (t < frames) {
            float points[VV_LANDMARK_COUNT][2];
            driver_landmarks(&face, t, points);
            s = vv_animator_push_landmarks(animator, (const float(*)[2])points, NULL, t / 25.0);
        } else {
            s = vv_animator_push_end(animator); /* the last frames need no more lookahead */
        }
        if (s != VV_OK) rc = fail(s, "vv_animator_push");
        /* Frame t comes out once `lookahead` later frames are in (or the end was pushed). */
        while (rc == 0 && (s = vv_animator_pull(animator, &out, &got, &info)) == VV_OK && got) {
            rc = save_frame(&out, folder, info.index);
            pulled++;
        }
        if (rc == 0 && s != VV_OK) rc = fail(s, "vv_animator_pull");
    }
    vv_image_free(&out);
    if (rc == 0 && !interrupted) printf("wrote %ld frames to %s/frame_NNNN.png\n", pulled, folder);
    return interrupted ? 130 : rc;
}

static int usage(void) {
    fprintf(stderr, "usage: animate_portrait PORTRAIT OUTPUT [-m MOTION] [-d SECONDS] [-e ENGINE] [-t THREADS] [-s]\n"
                    "  -m  built-in motion (talk, blink, nod, smile, surprise) or template .json (default talk)\n"
                    "  -d  seconds of motion, at 25 frames/s (default 2)\n"
                    "  -e  engine: warp (default), warp2d, fsth, hybrid\n"
                    "  -t  threads (default 0: all cores)\n"
                    "  -s  streaming: push landmarks, pull frames into the folder OUTPUT\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *motion = "talk", *engine = "warp", *paths[2] = {NULL, NULL};
    double seconds = 2;
    int threads = 0, streaming = 0, npaths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-s")) streaming = 1;
        else if (!strcmp(a, "-m") && i + 1 < argc) motion = argv[++i];
        else if (!strcmp(a, "-e") && i + 1 < argc) engine = argv[++i];
        else if (!strcmp(a, "-d") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(a, "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (a[0] != '-' && npaths < 2) paths[npaths++] = a;
        else return usage();
    }
    if (npaths != 2 || !(seconds > 0 && seconds <= 600)) return usage();
    signal(SIGINT, on_signal);

    printf("vivify %s\n", vv_version());
    vv_image portrait = {0};
    vv_status s = vv_image_load(&portrait, paths[0]);
    if (s != VV_OK) return fail(s, "vv_image_load");

    vv_animate_params params = vv_animate_default_params();
    params.engine = engine;
    params.threads = threads;
    vv_animator *animator = NULL;
    s = vv_animator_new(&animator, &portrait, &paths[0], 1, &params);
    vv_image_free(&portrait); /* the animator keeps what it needs */
    if (s != VV_OK) return fail(s, "vv_animator_new");
    for (int i = 0; vv_animator_warning(animator, i); i++)
        fprintf(stderr, "animate_portrait: warning: %s\n", vv_animator_warning(animator, i));
    int width = 0, height = 0;
    vv_animator_output_size(animator, &width, &height);
    printf("%s: %dx%d, engine %s\n", paths[0], width, height, engine);

    int rc = streaming ? animate_streaming(animator, seconds, paths[1])
                       : animate_one_call(animator, motion, seconds, paths[1]);
    vv_animator_free(animator);
    return rc;
}
