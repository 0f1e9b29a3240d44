/* serve/worker: one job through the library API, progress as JSON lines (see worker.h). */
#define _GNU_SOURCE
#include "serve/worker.h"
#include "face/facemesh.h"
#include "face/faces.h"
#include "img/image.h"
#include "video/video.h"
#include "video/audio_envelope.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_MAX_BYTES 65536
#define MAX_FACES 32 /* as animate's --face N takes */
#define LINE_INTERVAL_S 0.1 /* progress lines at most this often (the last one always) */

typedef struct worker {
    int fd;
    pthread_t main_thread;
    pthread_mutex_t lock; /* the fields below: progress comes from two threads */
    long total;           /* driver frames (an estimate; 0 unknown) */
    long searched;        /* driver frames the tracker thread took before any was rendered */
    bool rendering;       /* the first frame was rendered */
    int stage;            /* the stage of the last line, -1 none */
    double stage_start, last_line;
} worker;

/* One line, written whole (lines are short: one write of at most PIPE_BUF bytes is atomic). */
static void emit_json(worker *w, cJSON *json) {
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) return;
    size_t length = strlen(text);
    char *line = realloc(text, length + 2);
    if (!line) {
        free(text);
        return;
    }
    line[length] = '\n';
    line[length + 1] = 0;
    for (size_t sent = 0; sent < length + 1;) {
        ssize_t n = write(w->fd, line + sent, length + 1 - sent);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* the server is gone: nobody to tell */
        sent += (size_t)n;
    }
    free(line);
}

static void emit_text(worker *w, const char *key, const char *text) {
    cJSON *json = cJSON_CreateObject();
    if (json) cJSON_AddStringToObject(json, key, text);
    emit_json(w, json);
}

/* A progress line for `stage` (0 searching, 1 tracking, 2 rendering), at most every
 * LINE_INTERVAL_S unless it is the stage's last.  Called with w->lock held. */
static void emit_progress(worker *w, int stage, long done, long total) {
    static const char *const names[] = {"searching", "tracking", "rendering"};
    double now = time_now();
    if (stage != w->stage) {
        w->stage = stage;
        w->stage_start = now;
        w->last_line = 0;
    }
    bool last = total > 0 && done >= total;
    if (!last && now - w->last_line < LINE_INTERVAL_S) return;
    w->last_line = now;
    double elapsed = now - w->stage_start;
    cJSON *json = cJSON_CreateObject();
    if (!json) return;
    cJSON_AddStringToObject(json, "stage", names[stage]);
    cJSON_AddNumberToObject(json, "done", (double)done);
    cJSON_AddNumberToObject(json, "total", (double)(total > 0 ? total : 0));
    cJSON_AddNumberToObject(json, "fps", elapsed > 0.05 ? round((double)done / elapsed * 10) / 10 : 0);
    emit_json(w, json);
}

static int on_progress(void *data, vv_animate_stage stage, long done, long total) {
    worker *w = data;
    pthread_mutex_lock(&w->lock);
    if (stage == VV_STAGE_RENDERING) w->rendering = true;
    emit_progress(w, stage == VV_STAGE_RENDERING ? 2 : 1, done, total);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* vv_animate polls abort once a frame on the driver's tracker thread (vivify.h: "polled
 * from any thread (the tracker's too)").  Until the first frame is rendered, nothing else
 * reports: while the driver has no face yet (a long black intro), these polls are the
 * only sign of progress, so they are counted and reported as the search for the face.
 * The job is never aborted from here: the server cancels by killing this process. */
static int on_abort(void *data) {
    worker *w = data;
    if (pthread_equal(pthread_self(), w->main_thread)) return 0;
    pthread_mutex_lock(&w->lock);
    if (!w->rendering) emit_progress(w, 0, ++w->searched, w->total);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

vv_status serve_worker_limit_memory(uint64_t bytes) {
    /* VmData: the private writable memory the limit counts (RLIMIT_DATA, Linux 4.7 on) */
    FILE *f = fopen("/proc/self/status", "re");
    unsigned long long kilobytes = 0;
    bool got = false;
    char line[256];
    while (f && !got && fgets(line, sizeof line, f)) got = sscanf(line, "VmData: %llu kB", &kilobytes) == 1;
    if (f) fclose(f);
    if (!got) return vv_fail(VV_ERR_IO, "serve: cannot read VmData from /proc/self/status");
    uint64_t now = (uint64_t)kilobytes << 10;
    struct rlimit limit;
    if (getrlimit(RLIMIT_DATA, &limit) != 0) return vv_fail(VV_ERR_IO, "serve: getrlimit: %s", strerror(errno));
    rlim_t want = now + bytes < now ? RLIM_INFINITY : (rlim_t)(now + bytes);
    if (limit.rlim_max != RLIM_INFINITY && want > limit.rlim_max) want = limit.rlim_max;
    limit.rlim_cur = want;
    if (setrlimit(RLIMIT_DATA, &limit) != 0) return vv_fail(VV_ERR_IO, "serve: setrlimit: %s", strerror(errno));
    return VV_OK;
}

/* job.json, read whole (it is small and ours, but read as any input: size-capped). */
static vv_status read_spec(const char *job_dir, cJSON **out) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/job.json", job_dir) >= (int)sizeof path)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve worker: job folder path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return vv_fail(VV_ERR_NOT_FOUND, "serve worker: cannot open %s: %s", path, strerror(errno));
    char *text = malloc(SPEC_MAX_BYTES + 1);
    size_t size = 0;
    while (text && size < SPEC_MAX_BYTES) {
        ssize_t n = read(fd, text + size, SPEC_MAX_BYTES - size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size += (size_t)n;
    }
    close(fd);
    if (!text) return vv_fail(VV_ERR_NO_MEMORY, "serve worker: out of memory");
    text[size] = 0;
    *out = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return vv_fail(VV_ERR_CORRUPT, "serve worker: %s is not a job", path);
    }
    return VV_OK;
}

static const char *spec_string(const cJSON *spec, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static double spec_number(const cJSON *spec, const char *key, double fallback) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, key);
    return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

static bool spec_flag(const cJSON *spec, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, key));
}

/* The driver's length against the server's cap, before any decoding work; its frame count
 * (an estimate) for the progress of the search for its face. */
static vv_status check_driver(const char *path, double max_seconds, long max_frames, long *frames) {
    video_reader *reader = NULL;
    vv_status s = video_reader_open(&reader, path);
    if (s != VV_OK) return s;
    const video_info *info = video_reader_info(reader);
    double seconds = info->duration > 0 ? info->duration : info->fps > 0 ? info->frame_count / info->fps : 0;
    *frames = info->frame_count > 0 ? info->frame_count : 0;
    if (max_frames > 0 && (*frames == 0 || *frames > max_frames)) *frames = max_frames;
    video_reader_close(reader);
    if (max_seconds > 0 && seconds > max_seconds + 0.5)
        return vv_fail(VV_ERR_TOO_LARGE, "the driving video is %.1f s long; this server animates drivers of up to %g s",
                       seconds, max_seconds);
    return VV_OK;
}

/* A speech recording against the server's cap (the drivers' length), decoded once (a second
 * of audio decodes in about a millisecond): it has sound, lasts a frame or more, not longer. */
static vv_status check_recording(const char *path, double max_seconds) {
    audio_envelope env;
    vv_status s = audio_envelope_read(&env, path, 25, max_seconds > 0 ? max_seconds : 0);
    if (s == VV_ERR_TOO_LARGE && max_seconds > 0)
        s = vv_fail(s, "the recording lasts over %g s; this server animates recordings of up to %g s", max_seconds, max_seconds);
    audio_envelope_free(&env);
    return s;
}

/* Writes text to path whole (a temp file renamed), so a reader never sees half of it. */
static vv_status write_whole(const char *path, const char *text) {
    char temp[PATH_MAX];
    if (snprintf(temp, sizeof temp, "%s.part", path) >= (int)sizeof temp)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve worker: output path too long");
    FILE *f = fopen(temp, "wex");
    if (!f) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", temp, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(temp, path) != 0) {
        remove(temp);
        return vv_fail(VV_ERR_WRITE, "cannot write %s", path);
    }
    return VV_OK;
}

/* A faces job (POST /api/faces): the portrait's faces as the animator numbers them for
 * face N (the thorough search, largest first, the barely-confident ones left out), as
 * {"width", "height", "faces": [{"box": [x0, y0, x1, y1], "score"}]} in `output`; no face is
 * an empty list, not an error.  *count: how many. */
static vv_status list_faces(const char *source, const char *output, const char *models_dir, int *count) {
    *count = 0;
    vv_image image = {0};
    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models_dir;
    vv_status s = image_load(&image, source);
    if (s == VV_OK) s = vv_faces_new(&faces, &fp);
    vv_face *found = s == VV_OK ? calloc(MAX_FACES, sizeof *found) : NULL;
    if (s == VV_OK && !found) s = vv_fail(VV_ERR_NO_MEMORY, "serve worker: out of memory");
    int n = 0;
    if (s == VV_OK) s = vv_faces_detect(faces, &image, found, MAX_FACES, &n);
    /* the faces the animator keeps, so face N here is its face N; without the mesh's model,
     * as the animator without it, the barely confident are left out */
    face_mesh *mesh = NULL;
    if (s == VV_OK && n > 0 && face_mesh_new(&mesh, models_dir) != VV_OK) mesh = NULL;
    if (s == VV_OK) s = faces_keep_confident(found, n, mesh, &image, &n);
    face_mesh_free(mesh);
    cJSON *json = s == VV_OK ? cJSON_CreateObject() : NULL;
    if (s == VV_OK && !json) s = vv_fail(VV_ERR_NO_MEMORY, "serve worker: out of memory");
    if (s == VV_OK) {
        cJSON_AddNumberToObject(json, "width", image.width);
        cJSON_AddNumberToObject(json, "height", image.height);
        cJSON *list = cJSON_AddArrayToObject(json, "faces");
        for (int i = 0; list && i < n; i++) {
            cJSON *face = cJSON_CreateObject();
            if (!face) break;
            cJSON_AddItemToArray(list, face);
            cJSON *box = cJSON_AddArrayToObject(face, "box");
            for (int k = 0; box && k < 4; k++) cJSON_AddItemToArray(box, cJSON_CreateNumber(round(found[i].box[k] * 10) / 10));
            cJSON_AddNumberToObject(face, "score", round(found[i].score * 1000) / 1000);
            (*count)++;
        }
        char *text = cJSON_PrintUnformatted(json);
        s = text ? write_whole(output, text) : vv_fail(VV_ERR_NO_MEMORY, "serve worker: out of memory");
        free(text);
    }
    cJSON_Delete(json);
    free(found);
    vv_faces_free(faces);
    image_free(&image);
    return s;
}

/* The end of a faces job: its done line, or its error line. */
static vv_status run_faces_job(worker *w, const cJSON *spec, const char *source, const char *output) {
    int count = 0;
    vv_status s = list_faces(source, output, spec_string(spec, "models_dir"), &count);
    if (s == VV_OK) {
        cJSON *json = cJSON_CreateObject();
        if (json) {
            cJSON_AddTrueToObject(json, "done");
            cJSON_AddNumberToObject(json, "faces", count);
        }
        emit_json(w, json);
    } else {
        char message[512];
        snprintf(message, sizeof message, "%s", vv_last_error());
        emit_text(w, "error", message);
        vv_fail(s, "%s", message);
    }
    return s;
}

vv_status serve_worker_run(const char *job_dir, int out_fd) {
    worker w;
    memset(&w, 0, sizeof w);
    w.fd = out_fd;
    w.main_thread = pthread_self();
    w.stage = -1;
    pthread_mutex_init(&w.lock, NULL);
    cJSON *spec = NULL;
    vv_image image = {0};
    vv_animator *animator = NULL;
    vv_status s = read_spec(job_dir, &spec);
    const char *source = s == VV_OK ? spec_string(spec, "source") : NULL;
    const char *output = s == VV_OK ? spec_string(spec, "output") : NULL;
    const char *driving = s == VV_OK ? spec_string(spec, "driving") : NULL;
    const char *motion = s == VV_OK ? spec_string(spec, "motion") : NULL;
    const char *audio = s == VV_OK ? spec_string(spec, "audio") : NULL; /* with a motion or none (talk) */
    bool faces_job = s == VV_OK && spec_flag(spec, "faces");
    if (s == VV_OK && (!source || !output || (!faces_job && (audio ? driving != NULL : !driving == !motion))))
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "serve worker: the job names no portrait, output or driver");
    double memory_mb = s == VV_OK ? spec_number(spec, "memory_mb", 0) : 0;
    if (s == VV_OK && memory_mb > 0) s = serve_worker_limit_memory((uint64_t)memory_mb << 20);
    if (s == VV_OK && faces_job) {
        s = run_faces_job(&w, spec, source, output);
        cJSON_Delete(spec);
        pthread_mutex_destroy(&w.lock);
        return s;
    }
    long max_frames = s == VV_OK ? (long)spec_number(spec, "max_frames", 0) : 0;
    if (s == VV_OK && driving) s = check_driver(driving, spec_number(spec, "max_seconds", 0), max_frames, &w.total);
    if (s == VV_OK && audio && !faces_job) s = check_recording(audio, spec_number(spec, "max_seconds", 0));

    vv_animate_params params = vv_animate_default_params();
    if (s == VV_OK) {
        params.engine = spec_string(spec, "engine") ? spec_string(spec, "engine") : params.engine;
        params.models_dir = spec_string(spec, "models_dir");
        params.absolute = spec_flag(spec, "absolute");
        params.background_move = spec_flag(spec, "background_move");
        params.expression_scale = (float)spec_number(spec, "expression_scale", 1);
        params.pose_scale = (float)spec_number(spec, "pose_scale", 1);
        params.eyes = (float)spec_number(spec, "eyes", 1);
        params.lips = (float)spec_number(spec, "lips", 1);
        params.face_index = (int)spec_number(spec, "face", 1);
        s = image_load(&image, source);
    }
    if (s == VV_OK) s = vv_animator_new(&animator, &image, &source, 1, &params);
    image_free(&image);
    for (int i = 0; s == VV_OK && vv_animator_warning(animator, i); i++) emit_text(&w, "warning", vv_animator_warning(animator, i));

    vv_animate_report report;
    memset(&report, 0, sizeof report);
    if (s == VV_OK) {
        vv_animate_job job = {0};
        job.driving = driving;
        job.motion = motion;
        job.audio = audio;
        job.duration = motion && !audio ? spec_number(spec, "duration", 0) : 0;
        job.max_frames = max_frames;
        job.output = output;
        job.compare = spec_flag(spec, "compare");
        vv_animate_callbacks callbacks = {on_progress, on_abort, NULL, 0, &w};
        s = vv_animate(animator, &job, &callbacks, &report);
    }
    vv_animator_free(animator);
    cJSON_Delete(spec);
    if (s == VV_OK) {
        cJSON *json = cJSON_CreateObject();
        if (json) {
            cJSON_AddTrueToObject(json, "done");
            cJSON_AddNumberToObject(json, "frames", (double)report.frames);
            cJSON_AddBoolToObject(json, "audio", report.audio[0] != 0);
        }
        emit_json(&w, json);
    } else {
        char message[512];
        snprintf(message, sizeof message, "%s", vv_last_error());
        emit_text(&w, "error", message);
        vv_fail(s, "%s", message);
    }
    pthread_mutex_destroy(&w.lock);
    return s;
}
