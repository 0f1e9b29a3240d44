/* cli/eval: `vivify eval --engine warp[,fsth,hybrid] [--shots 1,8,32] CLIPS... [--portraits DIR]
 * -o REPORT_DIR`: runs the self- and cross-reenactment protocols through the animate
 * pipeline (eval/protocol.h) and writes report.md, report.json, sample grids and plots
 * (eval/report.h). */
#include "animate/animate.h"
#include "cli/cli.h"
#include "eval/protocol.h"
#include "eval/report.h"
#include "nn/backend.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CLIPS 512
#define MAX_PORTRAITS 512

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Image files (png, jpg, jpeg) in dir, sorted; paths allocated. */
static vv_status list_portraits(const char *dir, char **paths, int capacity, int *count) {
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return vv_fail(errno == ENOENT ? VV_ERR_NOT_FOUND : VV_ERR_IO, "--portraits %s: cannot open the folder: %s", dir,
                           strerror(errno));
    struct dirent *e;
    vv_status s = VV_OK;
    while ((e = readdir(d)) && s == VV_OK) {
        char ext[16];
        path_extension(e->d_name, ext, sizeof ext);
        if (strcmp(ext, "png") && strcmp(ext, "jpg") && strcmp(ext, "jpeg")) continue;
        if (*count == capacity) {
            s = vv_fail(VV_ERR_TOO_LARGE, "--portraits %s: more than %d images", dir, capacity);
            break;
        }
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        paths[*count] = malloc(n);
        if (!paths[*count]) { s = vv_fail(VV_ERR_NO_MEMORY, "out of memory"); break; }
        snprintf(paths[*count], n, "%s/%s", dir, e->d_name);
        (*count)++;
    }
    closedir(d);
    if (s == VV_OK && *count == 0) s = vv_fail(VV_ERR_NOT_FOUND, "--portraits %s: no .png or .jpg images in the folder", dir);
    qsort(paths, (size_t)*count, sizeof *paths, compare_strings);
    return s;
}

/* "1,8,32" -> values (1..EVAL_MAX_SHOT_VALUE, distinct). */
static bool parse_shots(const char *text, int *shots, int *count) {
    *count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > EVAL_MAX_SHOT_VALUE || *count == EVAL_MAX_SHOTS) return false;
        for (int i = 0; i < *count; i++)
            if (shots[i] == v) return false;
        shots[(*count)++] = (int)v;
        if (*end == ',') end++;
        else if (*end) return false;
        p = end;
    }
    return *count > 0;
}

typedef struct progress_state {
    progress_bar bar;
    bool started;
} progress_state;

static int on_progress(void *user, long done, long total) {
    progress_state *p = user;
    if (!p->started) return 0;
    p->bar.total = total;
    progress_update(&p->bar, done);
    return 0;
}

static vv_status make_folder(const char *path) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return vv_fail(VV_ERR_WRITE, "cannot create the folder %s: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return vv_fail(VV_ERR_WRITE, "%s exists and is not a folder", path);
    return VV_OK;
}

/* Removes a report folder this run created and then failed to finish: the plain files in
 * it and in its samples/ and plots/, then the folders (rmdir leaves anything else alone). */
static void report_folder_remove(const char *output) {
    static const char *const subfolders[] = {"samples", "plots", ""};
    for (int i = 0; i < 3; i++) {
        char folder[1100], file[2200];
        snprintf(folder, sizeof folder, "%s/%s", output, subfolders[i]);
        DIR *d = opendir(folder);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            struct stat st;
            snprintf(file, sizeof file, "%s/%s", folder, e->d_name);
            if (lstat(file, &st) == 0 && S_ISREG(st.st_mode)) remove(file);
        }
        if (d) closedir(d);
        rmdir(folder);
    }
}

int cli_eval(int argc, char **argv) {
    const char *engines_text = "warp", *shots_text = "1,8,32", *portraits = NULL, *output = NULL, *models = NULL;
    const char *model = NULL, *protocol = NULL, *frames_dir = NULL;
    int finetune_steps = 0;
    int max_frames = 16, seed = 1, size = 512, threads = 0, follow_frames = 250, delay = 0;
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "REPORT_DIR", "folder for report.md, report.json, samples/ and plots/", 0, 0},
        {"engine", 'e', OPT_STRING, &engines_text, "LIST", "engines, comma-separated: any of vivify animate's (warp, warp2d, fsth, hybrid, ...), "
                                                           "freeze (the nearest source held still), fsth-ft, hybrid-ft (fine-tuned on the K shots first); "
                                                           "the learned ones use --model, else the shipped models (as vivify animate)", 0, 0},
        {"shots", 'k', OPT_STRING, &shots_text, "LIST", "source frames K for self-reenactment", 0, 0},
        {"portraits", 'p', OPT_STRING, &portraits, "DIR", "cross-reenactment: drive every image in DIR with every clip", 0, 0},
        {"protocol", 0, OPT_STRING, &protocol, "self|cross|both", "default: self, and cross too when --portraits is given", 0, 0},
        {"max-frames", 'n', OPT_INT, &max_frames, "N", "driving frames sampled per clip", 1, 100000},
        {"follow-frames", 0, OPT_INT, &follow_frames, "N", "consecutive output frames rendered and tracked per series for the "
                                                           "following metrics (lag, mouth, blinks, head pose, jitter); 0: off", 0, 100000},
        {"save-frames", 0, OPT_STRING, &frames_dir, "DIR", "save every frame rendered as DIR/self_CLIP_ENGINE_KK_FRAME.png "
                                                          "(cross_PORTRAIT_from_CLIP_ENGINE_FRAME.png), e.g. to compare with vivify animate", 0, 0},
        {"delay", 0, OPT_INT, &delay, "N", "testing: render output frame t from driver frame t - N (a deliberately late engine; "
                                           "the Following table should say lag N)", 0, EVAL_MAX_DELAY},
        {"seed", 0, OPT_INT, &seed, "S", "frame sampling seed", 0, 2147483647},
        {"model", 'm', OPT_STRING, &model, "M", "model for the learned engines; an fsth and a hybrid model separated by a comma for both kinds "
                                                 "(default: the shipped models/fsth128, hybrid128, found as vivify animate finds them)", 0, 0},
        {"finetune-steps", 0, OPT_INT, &finetune_steps, "N", "steps of the -ft engines (0: as vivify finetune, 40 epochs over the shots)", 0, 100000},
        {"size", 0, OPT_INT, &size, "N", "warp working resolution", 64, 4096},
        {"threads", 0, OPT_INT, &threads, "N", "threads (0: all cores)", 0, 256},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json and faceres.json (default: search)", 0, 0},
    };
    const char *clips[MAX_CLIPS];
    int clip_count = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), clips, MAX_CLIPS, &clip_count,
                      "usage: vivify eval [--engine warp[,fsth,hybrid]] [--shots 1,8,32] CLIPS... [--portraits DIR] -o REPORT_DIR\n\n"
                      "Evaluates engines by self-reenactment (each clip: the first K frames are the sources,\n"
                      "the clip drives them, results are compared with the real frames) and, with --portraits,\n"
                      "cross-reenactment (each portrait driven by each clip), through the pipeline of vivify\n"
                      "animate (tracked, smoothed, relative to the reference frame).  Image metrics on sampled\n"
                      "frames; how the output follows the driver in time (lag, blinks, head pose, jitter) on\n"
                      "--follow-frames consecutive frames.  Writes report.md, report.json, sample grids and plots.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (clip_count < 1) {
        fprintf(stderr, "vivify: eval needs at least one clip (see vivify eval --help)\n");
        return EXIT_USAGE;
    }
    if (!output) {
        fprintf(stderr, "vivify: eval needs -o REPORT_DIR\n");
        return EXIT_USAGE;
    }
    eval_options options = eval_default_options();
    options.max_frames = max_frames;
    options.seed = (uint64_t)seed;
    options.crop_size = size;
    options.model = model;
    options.finetune_steps = finetune_steps;
    options.follow_frames = follow_frames;
    options.delay_frames = delay;
    options.frames_dir = frames_dir;
    if (!parse_shots(shots_text, options.shots, &options.shot_count)) {
        fprintf(stderr, "vivify: --shots expects distinct numbers from 1 to %d separated by commas (at most %d), got '%s'\n",
                EVAL_MAX_SHOT_VALUE, EVAL_MAX_SHOTS, shots_text);
        return EXIT_USAGE;
    }
    /* Engines. */
    static char engine_names[256]; /* options.engines point into it */
    snprintf(engine_names, sizeof engine_names, "%s", engines_text);
    options.engine_count = 0;
    for (char *save = NULL, *tok = strtok_r(engine_names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!eval_engine_known(tok)) {
            fprintf(stderr, "vivify: unknown engine '%s' (vivify animate's engines, freeze, fsth-ft, hybrid-ft)\n", tok);
            return EXIT_USAGE;
        }
        for (int e = 0; e < options.engine_count; e++)
            if (!strcmp(options.engines[e], tok)) {
                fprintf(stderr, "vivify: engine '%s' given twice\n", tok);
                return EXIT_USAGE;
            }
        if (options.engine_count == EVAL_MAX_ENGINES) {
            fprintf(stderr, "vivify: at most %d engines\n", EVAL_MAX_ENGINES);
            return EXIT_USAGE;
        }
        options.engines[options.engine_count++] = tok;
    }
    if (options.engine_count == 0) {
        fprintf(stderr, "vivify: --engine needs at least one engine\n");
        return EXIT_USAGE;
    }
    /* Inference only (no fine-tuning): one OpenBLAS thread, as animate (cli/main.c), unless
     * the user says; OpenBLAS's threads spinning beside the animator's took about 1.5x the
     * CPU (two held-out clips, warp: 13.8 s against 9.4 s user). */
    bool finetunes = false;
    for (int e = 0; e < options.engine_count; e++) {
        size_t n = strlen(options.engines[e]);
        finetunes |= n > 3 && !strcmp(options.engines[e] + n - 3, "-ft");
    }
    if (!finetunes && !getenv("OPENBLAS_NUM_THREADS")) nn_blas_threads(1);
    /* The learned engines without --model: the shipped models, found as vivify animate finds
     * them (animate_shipped_model_find), so both commands run the same model. */
    static char shipped[2 * PATH_MAX + 2];
    if (!model) {
        bool want[2] = {false, false}; /* fsth, hybrid */
        for (int e = 0; e < options.engine_count; e++)
            if (eval_engine_learned(options.engines[e])) want[strncmp(options.engines[e], "hybrid", 6) == 0] = true;
        static const char *const names[2] = {"fsth128.safetensors", "hybrid128.safetensors"};
        for (int k = 0; k < 2; k++) {
            char found[PATH_MAX];
            if (!want[k] || !animate_shipped_model_find(names[k], found, sizeof found)) continue;
            size_t used = strlen(shipped);
            snprintf(shipped + used, sizeof shipped - used, "%s%s", used ? "," : "", found);
            fprintf(stderr, "eval: --engine %s without --model: the shipped %s\n", k ? "hybrid" : "fsth", found);
        }
        if (shipped[0]) options.model = shipped;
    }
    bool run_self = true, run_cross = portraits != NULL;
    if (protocol) {
        run_self = strcmp(protocol, "cross") != 0;
        run_cross = strcmp(protocol, "self") != 0;
        if (strcmp(protocol, "self") && strcmp(protocol, "cross") && strcmp(protocol, "both")) {
            fprintf(stderr, "vivify: --protocol must be self, cross or both, not '%s'\n", protocol);
            return EXIT_USAGE;
        }
        if (run_cross && !portraits) {
            fprintf(stderr, "vivify: --protocol %s needs --portraits DIR\n", protocol);
            return EXIT_USAGE;
        }
    }
    for (int i = 0; i < clip_count; i++)
        if (!file_exists(clips[i])) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", clips[i]));
    char *portrait_paths[MAX_PORTRAITS];
    int portrait_count = 0;
    vv_status s = VV_OK;
    if (run_cross) s = list_portraits(portraits, portrait_paths, MAX_PORTRAITS, &portrait_count);
    char samples[1100];
    snprintf(samples, sizeof samples, "%s/samples", output);
    bool output_is_new = !file_exists(output); /* removed again if the run fails */
    if (s == VV_OK) s = make_folder(output);
    if (s == VV_OK) s = make_folder(samples);
    if (s == VV_OK && frames_dir) s = make_folder(frames_dir);
    options.output_dir = output;
    eval_context ctx;
    memset(&ctx, 0, sizeof ctx);
    if (s == VV_OK) s = eval_context_open(&ctx, models, threads);
    progress_state progress = {0};
    options.progress = on_progress;
    options.progress_user = &progress;
    eval_series *self = NULL, *cross = NULL;
    int self_count = 0, cross_count = 0;
    double start = time_now();
    char label[400];
    for (int i = 0; run_self && s == VV_OK && i < clip_count; i++) {
        snprintf(label, sizeof label, "self %d/%d %s", i + 1, clip_count, clips[i]);
        progress_start(&progress.bar, label, 0, "frames");
        progress.started = true;
        s = eval_self_reenactment(&ctx, &options, clips[i], &self, &self_count);
        progress_finish(&progress.bar);
        progress.started = false;
        if (s != VV_OK) {
            char why[600];
            snprintf(why, sizeof why, "%s", vv_last_error());
            s = vv_fail(s, "self-reenactment on %s: %s", clips[i], why);
        }
    }
    for (int p = 0; run_cross && s == VV_OK && p < portrait_count; p++)
        for (int i = 0; s == VV_OK && i < clip_count; i++) {
            snprintf(label, sizeof label, "cross %d/%d %s", p * clip_count + i + 1, portrait_count * clip_count,
                     portrait_paths[p]);
            progress_start(&progress.bar, label, 0, "frames");
            progress.started = true;
            s = eval_cross_reenactment(&ctx, &options, portrait_paths[p], clips[i], &cross, &cross_count);
            progress_finish(&progress.bar);
            progress.started = false;
            if (s != VV_OK) {
                char why[600];
                snprintf(why, sizeof why, "%s", vv_last_error());
                s = vv_fail(s, "cross-reenactment of %s by %s: %s", portrait_paths[p], clips[i], why);
            }
        }
    if (s == VV_OK) {
        eval_report report = {&options, self, self_count, cross, cross_count, run_self, run_cross, time_now() - start};
        s = report_write(&report, output);
    }
    if (s == VV_OK)
        fprintf(stderr, "eval: %d self-reenactment and %d cross-reenactment series in %.1f s -> %s/report.md\n", self_count,
                cross_count, time_now() - start, output);
    for (int i = 0; i < self_count; i++) eval_series_free(&self[i]);
    for (int i = 0; i < cross_count; i++) eval_series_free(&cross[i]);
    free(self);
    free(cross);
    for (int p = 0; p < portrait_count; p++) free(portrait_paths[p]);
    eval_context_close(&ctx);
    if (s != VV_OK && output_is_new) {
        int code = cli_fail(s);
        report_folder_remove(output);
        return code;
    }
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
