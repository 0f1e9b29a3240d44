/* cli/finetune_shots: photos and videos -> fine-tuning shots (see finetune_shots.h). */
#include "cli/finetune_shots.h"

#include "cli/cli.h"
#include "eval/metrics.h"
#include "face/faces.h"
#include "face/tracker.h"
#include "img/image.h"
#include "models/models.h"
#include "train/shots.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vv_status shot_set_init(shot_set *set, int capacity, int S, bool embed) {
    memset(set, 0, sizeof *set);
    set->capacity = capacity, set->S = S;
    set->frames = mem_alloc((size_t)capacity * 3 * S * S, sizeof(float));
    set->points = mem_alloc((size_t)capacity, sizeof *set->points);
    set->name = mem_alloc((size_t)capacity, sizeof *set->name);
    if (embed) set->embedding = mem_alloc((size_t)capacity, sizeof *set->embedding);
    if (!set->frames || !set->points || !set->name || (embed && !set->embedding)) {
        shot_set_free(set);
        return vv_fail(VV_ERR_NO_MEMORY, "finetune: no memory for %d shots at %d px", capacity, S);
    }
    return VV_OK;
}

void shot_set_free(shot_set *set) {
    free(set->frames);
    free(set->points);
    free(set->embedding);
    free(set->name);
    memset(set, 0, sizeof *set);
}

bool shot_path_is_image(const char *path) { return image_file_is_image(path); }

static float eyes_apart(const float points[68][2]) {
    return hypotf(points[45][0] - points[36][0], points[45][1] - points[36][1]);
}

/* Crops (and embeds) shot i from a full image and its landmarks (image pixels). */
static vv_status shot_set_put(shot_set *set, int i, const identity_model *identity, const vv_image *image,
                              const float landmarks[68][2]) {
    if (i >= set->capacity) return vv_fail(VV_ERR_INTERNAL, "finetune: more shots than counted");
    size_t plane = (size_t)set->S * set->S;
    vv_status s = fsth_crop_shot(set->frames + (size_t)i * 3 * plane, set->points[i], image, landmarks, set->S);
    if (s == VV_OK && identity && set->embedding) s = identity_embed(identity, image, landmarks, set->embedding[i]);
    return s;
}

vv_status shot_set_add_image(shot_set *set, vv_faces *faces, const identity_model *identity, const char *path) {
    vv_image img = {0};
    vv_face face;
    int count = 0;
    vv_status s = image_load(&img, path);
    if (s == VV_OK) s = vv_faces_detect(faces, &img, &face, 1, &count);
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_NO_FACE, "no face found in %s", path);
    if (s == VV_OK && eyes_apart((const float (*)[2])face.landmarks) < SHOTS_MIN_EYES_APART)
        s = vv_fail(VV_ERR_NO_FACE, "the face in %s is too small (eyes %.0f px apart, at least %.0f needed)", path,
                    eyes_apart((const float (*)[2])face.landmarks), SHOTS_MIN_EYES_APART);
    if (s == VV_OK) {
        snprintf(set->name[set->count], sizeof set->name[0], "%s", path);
        s = shot_set_put(set, set->count, identity, &img, (const float (*)[2])face.landmarks);
        if (s == VV_OK) set->count++;
    }
    image_free(&img);
    return s;
}

/* Pass 1 of a video: every frame tracked (no smoothing: each frame's own points); the
 * usable ones' indices, descriptors and landmarks.  Arrays grow as frames come. */
typedef struct video_track {
    int n, cap;
    long frames;               /* decoded */
    int *index;
    float (*desc)[SHOT_DIMS];
    float (*points)[68][2];
} video_track;

static void video_track_free(video_track *t) {
    free(t->index);
    free(t->desc);
    free(t->points);
    memset(t, 0, sizeof *t);
}

static vv_status video_track_push(video_track *t, int index, const float desc[SHOT_DIMS], const float points[68][2]) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        int *ni = realloc(t->index, (size_t)cap * sizeof *ni);
        if (ni) t->index = ni;
        float (*nd)[SHOT_DIMS] = ni ? realloc(t->desc, (size_t)cap * sizeof *nd) : NULL;
        if (nd) t->desc = nd;
        float (*np)[68][2] = nd ? realloc(t->points, (size_t)cap * sizeof *np) : NULL;
        if (!np) return vv_fail(VV_ERR_NO_MEMORY, "finetune: no memory for %d tracked frames", cap);
        t->points = np, t->cap = cap;
    }
    t->index[t->n] = index;
    memcpy(t->desc[t->n], desc, sizeof t->desc[0]);
    memcpy(t->points[t->n], points, sizeof t->points[0]);
    t->n++;
    return VV_OK;
}

static vv_status video_track_run(video_track *t, vv_faces *faces, const char *path, bool progress) {
    video_reader *reader = NULL;
    face_tracker *tracker = NULL;
    vv_status s = video_reader_open(&reader, path);
    if (s != VV_OK) return s;
    tracker_params tp = tracker_default_params();
    tp.smoothing = 0.0f;
    s = face_tracker_new(&tracker, faces_detector(faces), faces_predictor(faces), &tp);
    const video_info *info = video_reader_info(reader);
    long total = info->frame_count > SHOTS_MAX_VIDEO_FRAMES ? SHOTS_MAX_VIDEO_FRAMES : info->frame_count;
    progress_bar bar;
    if (progress) progress_start(&bar, "tracking", total, "frames");
    vv_image frame = {0};
    while (s == VV_OK && t->frames < SHOTS_MAX_VIDEO_FRAMES) {
        double time = 0;
        bool got = false, found = false;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        float box[4], score[1], points[68][2], desc[SHOT_DIMS];
        s = face_tracker_update(tracker, &frame, time, &found, box, score, points);
        if (s == VV_OK && found && eyes_apart((const float (*)[2])points) >= SHOTS_MIN_EYES_APART &&
            shot_describe((const float (*)[2])points, desc))
            s = video_track_push(t, (int)t->frames, desc, (const float (*)[2])points);
        t->frames++;
        if (progress) progress_update(&bar, t->frames);
    }
    if (progress) progress_finish(&bar);
    image_free(&frame);
    face_tracker_free(tracker);
    video_reader_close(reader);
    if (s == VV_OK && t->frames == 0) s = vv_fail(VV_ERR_NO_VIDEO, "no frames could be decoded from %s", path);
    return s;
}

static int compare_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

vv_status shot_set_add_video(shot_set *set, vv_faces *faces, const identity_model *identity, const char *path,
                             int k, int *usable, bool progress) {
    *usable = 0;
    video_track t = {0};
    vv_status s = video_track_run(&t, faces, path, progress);
    if (s == VV_OK && t.n == 0)
        s = vv_fail(VV_ERR_NO_FACE, "no usable face in %s (%ld frames: none with a face turned less than 45 degrees "
                    "and eyes at least %.0f px apart)", path, t.frames, SHOTS_MIN_EYES_APART);
    int *picked = s == VV_OK ? mem_alloc((size_t)k, 2 * sizeof(int)) : NULL;
    int count = 0;
    if (s == VV_OK && !picked) s = vv_fail(VV_ERR_NO_MEMORY, "finetune: no memory");
    if (s == VV_OK) s = shots_pick((const float (*)[SHOT_DIMS])t.desc, t.n, k, picked, &count);
    *usable = t.n;
    /* Pass 2: decode again up to each picked frame, in file order; shot 0 (the picked
     * set's first) goes first in the set. */
    int *order = picked + k; /* picked[] sorted by frame */
    for (int j = 0; j < count; j++) order[j] = picked[j];
    if (s == VV_OK) qsort(order, (size_t)count, sizeof *order, compare_int);
    video_reader *reader = NULL;
    if (s == VV_OK) s = video_reader_open(&reader, path);
    int base = set->count, next = 0, after_first = 1;
    vv_image frame = {0};
    for (long f = 0; s == VV_OK && next < count; f++) {
        double time = 0;
        bool got = false;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s == VV_OK && !got) s = vv_fail(VV_ERR_CORRUPT, "%s ended early on the second read (frame %ld)", path, f);
        if (s != VV_OK) break;
        int entry = order[next];
        if (f != t.index[entry]) continue;
        next++;
        int slot = entry == picked[0] ? base : base + after_first++; /* shot 0 first, the rest in file order */
        snprintf(set->name[slot], sizeof set->name[0], "%s frame %ld", path, f);
        s = shot_set_put(set, slot, identity, &frame, (const float (*)[2])t.points[entry]);
    }
    if (s == VV_OK) set->count = base + count;
    image_free(&frame);
    video_reader_close(reader);
    free(picked);
    video_track_free(&t);
    return s;
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

vv_status shot_set_least_typical(const shot_set *set, int *shot, float *median) {
    *shot = 0;
    *median = 1.0f;
    if (!set->embedding || set->count < 2) return VV_OK;
    float *row = mem_alloc((size_t)set->count, sizeof *row);
    if (!row) return vv_fail(VV_ERR_NO_MEMORY, "finetune: no memory");
    for (int i = 0; i < set->count; i++) {
        int n = 0;
        for (int j = 0; j < set->count; j++) {
            double c = 0.0;
            if (j != i && metrics_cosine_similarity(set->embedding[i], set->embedding[j], IDENTITY_DIM, &c) == VV_OK)
                row[n++] = (float)c;
        }
        if (n == 0) continue;
        qsort(row, (size_t)n, sizeof *row, compare_float);
        float m = n % 2 ? row[n / 2] : 0.5f * (row[n / 2 - 1] + row[n / 2]);
        if (m < *median) *median = m, *shot = i;
    }
    free(row);
    return VV_OK;
}
