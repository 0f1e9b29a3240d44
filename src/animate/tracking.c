/* animate/tracking: the driver's tracker thread. */
#include "animate/tracking.h"
#include "animate/animate.h"
#include "animate/gaze.h"
#include "face/faces.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool aborted(const tracking_thread *tt) { return tt->abort_fn && tt->abort_fn(tt->abort_data); }

/* Appends one tracked frame; non-zero when the thread must stop (stop, abort, memory). */
static int publish(tracking_thread *tt, const float points[68][2], bool found, const float gaze[2][2],
                   const float lids[2][2], bool has_gaze, const float turn[3][3], bool has_turn, double time,
                   vv_image *frame) {
    pthread_mutex_lock(&tt->lock);
    while (!tt->stop && tt->first_found >= 0 && tt->count - tt->consumed >= TRACKING_WINDOW) {
        pthread_cond_wait(&tt->changed, &tt->lock);
    }
    if (tt->keep_frames > 0) { /* the frame into its slot (buffers exchanged: no copy) */
        int k = (int)(tt->count % tt->keep_frames);
        while (!tt->stop && tt->first_found >= 0 && tt->frame_in[k] >= tt->frames_taken)
            pthread_cond_wait(&tt->changed, &tt->lock);
        vv_image held = tt->frames[k];
        tt->frames[k] = *frame;
        *frame = held;
        tt->frame_in[k] = tt->count;
    }
    int stop = tt->stop;
    if (!stop && tt->count - tt->base >= tt->capacity) {
        long drop = tt->consumed - tt->base; /* frames already taken: reuse their room */
        if (drop > 0 && drop >= tt->capacity / 2) {
            long kept = tt->count - tt->consumed;
            memmove(tt->points, tt->points + drop, (size_t)kept * sizeof tt->points[0]);
            memmove(tt->found, tt->found + drop, (size_t)kept);
            memmove(tt->times, tt->times + drop, (size_t)kept * sizeof tt->times[0]);
            memmove(tt->gaze, tt->gaze + drop, (size_t)kept * sizeof tt->gaze[0]);
            memmove(tt->lids, tt->lids + drop, (size_t)kept * sizeof tt->lids[0]);
            memmove(tt->has_gaze, tt->has_gaze + drop, (size_t)kept);
            memmove(tt->turn, tt->turn + drop, (size_t)kept * sizeof tt->turn[0]);
            memmove(tt->has_turn, tt->has_turn + drop, (size_t)kept);
            tt->base = tt->consumed;
        } else {
            long grown = tt->capacity > 0 ? tt->capacity * 2 : TRACKING_WINDOW * 2;
            void *p = realloc(tt->points, (size_t)grown * sizeof tt->points[0]);
            if (p) tt->points = p;
            void *f = p ? realloc(tt->found, (size_t)grown) : NULL;
            if (f) tt->found = f;
            void *t = f ? realloc(tt->times, (size_t)grown * sizeof tt->times[0]) : NULL;
            if (t) tt->times = t;
            void *g = t ? realloc(tt->gaze, (size_t)grown * sizeof tt->gaze[0]) : NULL;
            if (g) tt->gaze = g;
            void *hg = g ? realloc(tt->has_gaze, (size_t)grown) : NULL;
            if (hg) tt->has_gaze = hg;
            void *l = hg ? realloc(tt->lids, (size_t)grown * sizeof tt->lids[0]) : NULL;
            if (l) tt->lids = l;
            void *r = l ? realloc(tt->turn, (size_t)grown * sizeof tt->turn[0]) : NULL;
            if (r) tt->turn = r;
            void *hr = r ? realloc(tt->has_turn, (size_t)grown) : NULL;
            if (hr) tt->has_turn = hr;
            if (p && f && t && g && hg && l && r && hr) tt->capacity = grown;
            else stop = 2;
        }
    }
    if (!stop) {
        long i = tt->count - tt->base;
        memcpy(tt->points[i], points, sizeof tt->points[0]);
        tt->found[i] = found;
        tt->times[i] = time;
        tt->has_gaze[i] = has_gaze;
        if (has_gaze) memcpy(tt->gaze[i], gaze, sizeof tt->gaze[0]);
        if (has_gaze) memcpy(tt->lids[i], lids, sizeof tt->lids[0]);
        tt->has_turn[i] = has_turn;
        if (has_turn) memcpy(tt->turn[i], turn, sizeof tt->turn[0]);
        if (tt->first_found < 0 && found) tt->first_found = tt->count;
        tt->count++;
    }
    pthread_cond_broadcast(&tt->changed);
    pthread_mutex_unlock(&tt->lock);
    return stop;
}

static void *tracking_main(void *data) {
    tracking_thread *tt = data;
    video_reader *reader = NULL;
    face_tracker *tracker = NULL;
    vv_image frame = {0};
    tracker_params tp = animator_tracker_params();
    vv_status s = video_reader_open(&reader, tt->path);
    if (s == VV_OK) s = face_tracker_new(&tracker, faces_detector(tt->faces), faces_predictor(tt->faces), &tp);
    long count = 0, last_face = -1;
    while (s == VV_OK && (tt->max_frames <= 0 || count < tt->max_frames)) {
        bool got = false, found = false;
        double time = 0;
        float box[4], score[1], points[68][2];
        if (aborted(tt)) {
            s = vv_fail(VV_ERR_ABORTED, "tracking %s stopped", tt->path);
            break;
        }
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        s = face_tracker_update(tracker, &frame, time, &found, box, score, points);
        if (s != VV_OK) break;
        float gaze[2][2], contour[2][FACE_MESH_EYE_LID_CONTOUR][2], lids[2][2], turn[3][3];
        /* No iris where there is no face, or where the crop misses the frame: no gaze. */
        bool measured = found && tt->mesh && tracking_gaze_frame(count, last_face);
        bool has_gaze = measured && gaze_measure_lids(tt->mesh, &frame, (const float(*)[2])points, gaze, contour) == VV_OK;
        bool has_turn = measured && gaze_measure_turn(tt->mesh, &frame, (const float(*)[2])points, turn) == VV_OK;
        if (has_gaze)
            for (int e = 0; e < 2; e++) motion_lid_gaps((const float(*)[2])contour[e], lids[e]);
        if (found) last_face = count;
        count++;
        int stop = publish(tt, (const float(*)[2])points, found, (const float(*)[2])gaze, (const float(*)[2])lids, has_gaze,
                           (const float(*)[3])turn, has_turn, time, &frame);
        if (stop == 1) s = vv_fail(VV_ERR_ABORTED, "tracking %s stopped", tt->path);
        else if (stop) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", tt->path);
    }
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_NO_VIDEO, "no frames could be decoded from %s", tt->path);
    image_free(&frame);
    face_tracker_free(tracker);
    video_reader_close(reader);
    pthread_mutex_lock(&tt->lock);
    tt->status = s;
    if (s != VV_OK) snprintf(tt->error, sizeof tt->error, "%s", vv_last_error());
    tt->finished = true;
    pthread_cond_broadcast(&tt->changed);
    pthread_mutex_unlock(&tt->lock);
    return NULL;
}

vv_status tracking_start(tracking_thread *tt, vv_faces *faces, const face_mesh *mesh, const char *path, long max_frames,
                         int keep_frames, vv_abort_fn abort_fn, void *abort_data) {
    memset(tt, 0, sizeof *tt);
    if (keep_frames > 0) {
        tt->frames = mem_calloc((size_t)keep_frames, sizeof *tt->frames);
        tt->frame_in = mem_alloc((size_t)keep_frames, sizeof *tt->frame_in);
        if (!tt->frames || !tt->frame_in) {
            free(tt->frames);
            free(tt->frame_in);
            return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the tracker's frames");
        }
        for (int k = 0; k < keep_frames; k++) tt->frame_in[k] = -1;
        tt->keep_frames = keep_frames;
    }
    tt->faces = faces;
    tt->mesh = mesh;
    tt->path = path;
    tt->max_frames = max_frames;
    tt->abort_fn = abort_fn;
    tt->abort_data = abort_data;
    tt->first_found = -1;
    pthread_mutex_init(&tt->lock, NULL);
    pthread_cond_init(&tt->changed, NULL);
    if (pthread_create(&tt->thread, NULL, tracking_main, tt) != 0) {
        pthread_mutex_destroy(&tt->lock);
        pthread_cond_destroy(&tt->changed);
        free(tt->frames);
        free(tt->frame_in);
        return vv_fail(VV_ERR_INTERNAL, "cannot start the tracking thread for %s", path);
    }
    tt->started = true;
    return VV_OK;
}

vv_status tracking_take(tracking_thread *tt, long f, float points[68][2], bool *found, float gaze[2][2], float lids[2][2],
                        bool *has_gaze, float turn[3][3], bool *has_turn, double *time, bool *got) {
    pthread_mutex_lock(&tt->lock);
    while (tt->count <= f && !tt->finished) pthread_cond_wait(&tt->changed, &tt->lock);
    *got = f < tt->count && f >= tt->base;
    if (*got) {
        memcpy(points, tt->points[f - tt->base], sizeof tt->points[0]);
        *found = tt->found[f - tt->base];
        *time = tt->times[f - tt->base];
        *has_gaze = tt->has_gaze[f - tt->base];
        if (*has_gaze) memcpy(gaze, tt->gaze[f - tt->base], sizeof tt->gaze[0]);
        if (*has_gaze && lids) memcpy(lids, tt->lids[f - tt->base], sizeof tt->lids[0]);
        *has_turn = tt->has_turn[f - tt->base];
        if (*has_turn && turn) memcpy(turn, tt->turn[f - tt->base], sizeof tt->turn[0]);
        tt->consumed = f + 1;
        pthread_cond_broadcast(&tt->changed); /* the thread may be waiting for room */
    }
    bool failed = !*got && tt->finished && tt->status != VV_OK;
    vv_status status = tt->status;
    char error[512];
    if (failed) snprintf(error, sizeof error, "%s", tt->error);
    pthread_mutex_unlock(&tt->lock);
    return failed ? vv_fail(status, "%s", error) : VV_OK;
}

void tracking_frame(tracking_thread *tt, long f, vv_image *frame, bool *got) {
    *got = false;
    if (tt->keep_frames <= 0) return;
    pthread_mutex_lock(&tt->lock);
    int k = (int)(f % tt->keep_frames);
    if (tt->frame_in[k] == f) {
        vv_image held = tt->frames[k];
        tt->frames[k] = *frame;
        *frame = held;
        *got = true;
    }
    if (tt->frames_taken < f + 1) tt->frames_taken = f + 1;
    pthread_cond_broadcast(&tt->changed); /* the thread may be waiting for the slot */
    pthread_mutex_unlock(&tt->lock);
}

void tracking_stop(tracking_thread *tt) {
    if (!tt->started) return;
    pthread_mutex_lock(&tt->lock);
    tt->stop = true; /* the thread stops at its next frame, or now if waiting for room */
    pthread_cond_broadcast(&tt->changed);
    pthread_mutex_unlock(&tt->lock);
    pthread_join(tt->thread, NULL);
    pthread_mutex_destroy(&tt->lock);
    pthread_cond_destroy(&tt->changed);
    free(tt->points);
    free(tt->found);
    free(tt->times);
    free(tt->gaze);
    free(tt->has_gaze);
    free(tt->lids);
    free(tt->turn);
    free(tt->has_turn);
    for (int k = 0; k < tt->keep_frames; k++) image_free(&tt->frames[k]);
    free(tt->frames);
    free(tt->frame_in);
    tt->frames = NULL;
    tt->frame_in = NULL;
    tt->keep_frames = 0;
    tt->gaze = NULL;
    tt->has_gaze = NULL;
    tt->lids = NULL;
    tt->turn = NULL;
    tt->has_turn = NULL;
    tt->points = NULL;
    tt->found = NULL;
    tt->times = NULL;
    tt->started = false;
}

vv_status tracking_probe(const char *path, long max_frames, motion_track *track, long *frames) {
    video_reader *probe = NULL;
    *frames = 0;
    vv_status s = video_reader_open(&probe, path);
    if (s != VV_OK) return s;
    const video_info *info = video_reader_info(probe);
    track->fps = info->fps > 0 ? info->fps : 25;
    track->width = info->width;
    track->height = info->height;
    if (info->has_audio) {
        char *resolved = realpath(path, NULL);
        track->audio = resolved ? resolved : strdup(path);
    }
    *frames = info->frame_count > 0 ? info->frame_count : 0;
    if (max_frames > 0 && (*frames <= 0 || *frames > max_frames)) *frames = max_frames;
    video_reader_close(probe);
    return VV_OK;
}

/* Room for frame n of a collected track (grown by doubling). */
static vv_status track_reserve(motion_track *track, long n, long *capacity, bool gaze) {
    if (n < *capacity) return VV_OK;
    long grown = *capacity ? *capacity * 2 : 1024;
    void *p = realloc(track->points, (size_t)grown * sizeof track->points[0]);
    if (p) track->points = p;
    void *f = p ? realloc(track->found, (size_t)grown) : NULL;
    if (f) track->found = f;
    void *g = f && gaze ? realloc(track->gaze, (size_t)grown * sizeof track->gaze[0]) : NULL;
    if (g) track->gaze = g;
    void *hg = g ? realloc(track->has_gaze, (size_t)grown) : NULL;
    if (hg) track->has_gaze = hg;
    void *l = hg ? realloc(track->lids, (size_t)grown * sizeof track->lids[0]) : NULL;
    if (l) track->lids = l;
    void *r = l ? realloc(track->turn, (size_t)grown * sizeof track->turn[0]) : NULL;
    if (r) track->turn = r;
    void *hr = r ? realloc(track->has_turn, (size_t)grown) : NULL;
    if (hr) track->has_turn = hr;
    if (!p || !f || (gaze && (!g || !hg || !l || !r || !hr))) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for %ld tracked frames", grown);
    *capacity = grown;
    return VV_OK;
}

vv_status tracking_collect(vv_faces *faces, const face_mesh *mesh, const char *path, long max_frames,
                           vv_progress_fn progress, void *progress_data, vv_abort_fn abort_fn, void *abort_data,
                           motion_track *track) {
    memset(track, 0, sizeof *track);
    long total = 0;
    vv_status s = tracking_probe(path, max_frames, track, &total);
    tracking_thread tt;
    memset(&tt, 0, sizeof tt);
    if (s == VV_OK) s = tracking_start(&tt, faces, mesh, path, max_frames, 0, abort_fn, abort_data);
    long capacity = 0, n = 0;
    while (s == VV_OK) {
        float points[68][2], gaze[2][2], lids[2][2], turn[3][3];
        bool found = false, got = false, has_gaze = false, has_turn = false;
        double time = 0;
        s = tracking_take(&tt, n, points, &found, gaze, lids, &has_gaze, turn, &has_turn, &time, &got);
        if (s != VV_OK || !got) break;
        if (n >= MOTION_MAX_FRAMES) {
            s = vv_fail(VV_ERR_TOO_LARGE, "%s has more than %d frames", path, MOTION_MAX_FRAMES);
            break;
        }
        s = track_reserve(track, n, &capacity, mesh != NULL);
        if (s != VV_OK) break;
        if (found) memcpy(track->points[n], points, sizeof points);
        else memset(track->points[n], 0, sizeof points);
        track->found[n] = found;
        if (mesh) {
            track->has_gaze[n] = has_gaze;
            if (has_gaze) memcpy(track->gaze[n], gaze, sizeof gaze);
            else memset(track->gaze[n], 0, sizeof gaze);
            for (int e = 0; e < 2; e++)
                for (int j = 0; j < 2; j++) track->lids[n][e][j] = has_gaze ? lids[e][j] : NAN;
            track->has_turn[n] = has_turn;
            if (has_turn) memcpy(track->turn[n], turn, sizeof turn);
            else memset(track->turn[n], 0, sizeof turn);
        }
        n++;
        if (progress && progress(progress_data, n, total)) s = vv_fail(VV_ERR_ABORTED, "tracking %s stopped", path);
    }
    tracking_stop(&tt);
    track->frame_count = (int)n;
    if (s != VV_OK) motion_track_free(track);
    return s;
}
