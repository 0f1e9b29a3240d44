/* train/dataset_build: videos -> .vds.  Two passes per clip so memory stays bounded (only
 * the per-frame landmarks of one clip are held): pass 1 tracks the face on every frame;
 * the clip's crop is then fixed (median tracked box, enlarged); pass 2 decodes again and
 * writes the selected frames cropped, resized and JPEG-encoded. */
#include "train/dataset.h"
#include "face/faces.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#define MAX_INPUTS 100000
#define MAX_CLIP_FRAMES 200000
#define HOLDOUT_MAX_BYTES (1u << 20)
/* The crop is centred this fraction of the box side above the box centre: more hair and
 * forehead, less neck. */
#define CROP_SHIFT_UP 0.1f

dataset_build_params dataset_build_default_params(void) {
    dataset_build_params p = {0};
    p.size = 256;
    p.seed = 1;
    p.every = 1;
    p.crop_scale = 1.8f;
    p.jpeg_quality = 90;
    p.split = DATASET_SPLIT_ALL;
    return p;
}

/* ---- a growing string for the configuration JSON ---- */

typedef struct text {
    char *data;
    size_t length, capacity;
    bool failed;
} text;

static void text_append(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_append(text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->capacity - t->length;
        int n = vsnprintf(t->data ? t->data + t->length : NULL, t->data ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->data && (size_t)n < room) {
            t->length += (size_t)n;
            return;
        }
        size_t capacity = t->capacity ? t->capacity * 2 : 4096;
        while (capacity < t->length + (size_t)n + 1) capacity *= 2;
        char *data = realloc(t->data, capacity);
        if (!data) {
            t->failed = true;
            return;
        }
        t->data = data;
        t->capacity = capacity;
    }
}

static void text_append_string(text *t, const char *s) {
    text_append(t, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') text_append(t, "\\%c", *p);
        else if (*p < 0x20) text_append(t, "\\u%04x", *p);
        else text_append(t, "%c", *p);
    }
    text_append(t, "\"");
}

/* ---- inputs ---- */

typedef struct clip_input {
    char *path;
    char name[DATASET_NAME_SIZE], identity[DATASET_NAME_SIZE];
    bool held_out;
} clip_input;

typedef struct input_list {
    clip_input *items;
    int count, capacity;
} input_list;

static void input_list_free(input_list *list) {
    for (int i = 0; i < list->count; i++) free(list->items[i].path);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static vv_status input_list_add(input_list *list, const char *path) {
    if (list->count >= MAX_INPUTS) return vv_fail(VV_ERR_TOO_LARGE, "more than %d input clips", MAX_INPUTS);
    if (list->count == list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 64;
        clip_input *items = realloc(list->items, (size_t)capacity * sizeof *items);
        if (!items) return vv_fail(VV_ERR_NO_MEMORY, "out of memory listing inputs");
        list->items = items;
        list->capacity = capacity;
    }
    clip_input *c = &list->items[list->count];
    memset(c, 0, sizeof *c);
    c->path = strdup(path);
    if (!c->path) return vv_fail(VV_ERR_NO_MEMORY, "out of memory listing inputs");
    dataset_clip_name(path, c->name, sizeof c->name);
    dataset_identity_from_name(c->name, c->identity, sizeof c->identity);
    if (!c->name[0] || !c->identity[0]) {
        free(c->path);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "cannot name the clip %s", path);
    }
    list->count++;
    return VV_OK;
}

static bool is_video_name(const char *name) {
    static const char *const extensions[] = {"mp4", "mov", "mkv", "avi", "webm", "m4v", "gif"};
    char ext[16];
    path_extension(name, ext, sizeof ext);
    for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
        if (!strcmp(ext, extensions[i])) return true;
    return false;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder's videos in byte order of their names, so the build does not depend on readdir. */
static vv_status input_list_add_folder(input_list *list, const char *folder) {
    DIR *dir = opendir(folder);
    if (!dir) return vv_fail(VV_ERR_IO, "cannot list %s: %s", folder, strerror(errno));
    char **names = NULL;
    int count = 0, capacity = 0;
    vv_status s = VV_OK;
    struct dirent *entry;
    while (s == VV_OK && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.' || !is_video_name(entry->d_name)) continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = count < MAX_INPUTS ? realloc(names, (size_t)capacity * sizeof *names) : NULL;
            if (!grown) {
                s = vv_fail(VV_ERR_NO_MEMORY, "out of memory listing %s", folder);
                break;
            }
            names = grown;
        }
        size_t length = strlen(folder) + strlen(entry->d_name) + 2;
        names[count] = malloc(length);
        if (!names[count]) {
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory listing %s", folder);
            break;
        }
        snprintf(names[count], length, "%s%s%s", folder, folder[strlen(folder) - 1] == '/' ? "" : "/",
                 entry->d_name);
        count++;
    }
    closedir(dir);
    if (s == VV_OK && count > 1) qsort(names, (size_t)count, sizeof *names, compare_strings);
    for (int i = 0; i < count; i++) {
        if (s == VV_OK) s = input_list_add(list, names[i]);
        free(names[i]);
    }
    free(names);
    return s;
}

static vv_status collect_inputs(const char *const *inputs, int input_count, input_list *list) {
    for (int i = 0; i < input_count; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0)
            return vv_fail(errno == ENOENT ? VV_ERR_NOT_FOUND : VV_ERR_IO, "cannot open %s: %s", inputs[i],
                           strerror(errno));
        vv_status s = S_ISDIR(st.st_mode) ? input_list_add_folder(list, inputs[i]) : input_list_add(list, inputs[i]);
        if (s != VV_OK) return s;
    }
    if (list->count == 0) return vv_fail(VV_ERR_NOT_FOUND, "no video clips among the inputs");
    for (int i = 0; i < list->count; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(list->items[i].name, list->items[j].name))
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "two clips are named %s (%s and %s); clip names must be unique",
                               list->items[i].name, list->items[j].path, list->items[i].path);
    return VV_OK;
}

/* Held-out file: one clip name per line ('#' starts a comment).  A clip is held out when
 * its identity is that of a listed clip, so a held-out person has no clip in training. */
static vv_status mark_held_out(input_list *list, const char *path) {
    uint8_t *data = NULL;
    size_t size = 0;
    vv_status s = file_read_all(path, HOLDOUT_MAX_BYTES, &data, &size);
    if (s != VV_OK) return s;
    char *textual = malloc(size + 1);
    if (!textual) {
        free(data);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", path);
    }
    memcpy(textual, data, size);
    textual[size] = 0;
    free(data);
    int line_number = 0;
    for (char *line = textual, *next; line && s == VV_OK; line = next) {
        line_number++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        while (*line == ' ' || *line == '\t') line++;
        size_t length = strlen(line);
        while (length && (line[length - 1] == ' ' || line[length - 1] == '\t' || line[length - 1] == '\r'))
            line[--length] = 0;
        if (!length) continue;
        if (length >= DATASET_NAME_SIZE) {
            s = vv_fail(VV_ERR_FORMAT, "%s:%d: clip name over %d bytes", path, line_number, DATASET_NAME_SIZE - 1);
            break;
        }
        char identity[DATASET_NAME_SIZE];
        dataset_identity_from_name(line, identity, sizeof identity);
        for (int i = 0; i < list->count; i++)
            if (!strcmp(list->items[i].identity, identity)) list->items[i].held_out = true;
    }
    free(textual);
    return s;
}

/* ---- one clip ---- */

typedef struct clip_track {
    int frames, capacity;
    uint8_t *found;
    float (*box)[4];
    float (*points)[68][2];
    int width, height;
} clip_track;

static void clip_track_free(clip_track *t) {
    free(t->found);
    free(t->box);
    free(t->points);
    memset(t, 0, sizeof *t);
}

static vv_status clip_track_push(clip_track *t, const char *path, bool found, const float box[4],
                                 const float points[68][2]) {
    if (t->frames >= MAX_CLIP_FRAMES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: more than %d frames in one clip", path, MAX_CLIP_FRAMES);
    if (t->frames == t->capacity) {
        int capacity = t->capacity ? t->capacity * 2 : 512;
        uint8_t *f = realloc(t->found, (size_t)capacity);
        if (f) t->found = f;
        float(*b)[4] = f ? realloc(t->box, (size_t)capacity * sizeof *b) : NULL;
        if (b) t->box = b;
        float(*p)[68][2] = b ? realloc(t->points, (size_t)capacity * sizeof *p) : NULL;
        if (!p) return vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", path);
        t->points = p;
        t->capacity = capacity;
    }
    t->found[t->frames] = found;
    if (found) {
        memcpy(t->box[t->frames], box, sizeof t->box[0]);
        memcpy(t->points[t->frames], points, sizeof t->points[0]);
    }
    t->frames++;
    return VV_OK;
}

typedef struct build_state {
    const dataset_build_params *params;
    vv_faces *faces;
    long done, total;
    tjhandle jpeg;
    uint8_t *jpeg_buffer;
    unsigned long jpeg_capacity;
} build_state;

static vv_status build_progress(build_state *b) {
    b->done++;
    if (b->done > b->total) b->total = b->done;
    if (b->params->progress && b->params->progress(b->params->progress_data, b->done, b->total))
        return vv_fail(VV_ERR_ABORTED, "dataset build stopped");
    return VV_OK;
}

static vv_status track_clip(build_state *b, const char *path, clip_track *track) {
    video_reader *reader = NULL;
    face_tracker *tracker = NULL;
    vv_image frame = {0};
    vv_status s = video_reader_open(&reader, path);
    if (s != VV_OK) return s;
    track->width = video_reader_info(reader)->width;
    track->height = video_reader_info(reader)->height;
    tracker_params tp = tracker_default_params();
    s = face_tracker_new(&tracker, faces_detector(b->faces), faces_predictor(b->faces), &tp);
    while (s == VV_OK) {
        bool got = false, found = false;
        double time = 0;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        float box[4], score[1], points[68][2];
        s = face_tracker_update(tracker, &frame, time, &found, box, score, points);
        if (s == VV_OK) s = clip_track_push(track, path, found, box, (const float(*)[2])points);
        if (s == VV_OK) s = build_progress(b);
    }
    image_free(&frame);
    face_tracker_free(tracker);
    video_reader_close(reader);
    return s;
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare_floats);
    return count % 2 ? values[count / 2] : 0.5f * (values[count / 2 - 1] + values[count / 2]);
}

/* The clip's crop (x, y, side) in source pixels: the median tracked box centre and side
 * (robust to a few bad frames), enlarged by crop_scale, shifted up, shrunk to fit the
 * frame if needed and moved inside it.  false when no frame has a face. */
static bool clip_crop(const clip_track *t, float scale, int crop[3]) {
    int count = 0;
    for (int i = 0; i < t->frames; i++) count += t->found[i];
    if (count == 0) return false;
    float *values = malloc((size_t)count * 3 * sizeof *values);
    if (!values) return false;
    float *cx = values, *cy = values + count, *side = values + 2 * count;
    for (int i = 0, n = 0; i < t->frames; i++) {
        if (!t->found[i]) continue;
        const float *box = t->box[i];
        cx[n] = 0.5f * (box[0] + box[2]);
        cy[n] = 0.5f * (box[1] + box[3]);
        side[n] = fmaxf(box[2] - box[0], box[3] - box[1]);
        n++;
    }
    float centre_x = median(cx, count), centre_y = median(cy, count), box_side = median(side, count);
    free(values);
    centre_y -= CROP_SHIFT_UP * box_side;
    int limit = t->width < t->height ? t->width : t->height;
    long s = lroundf(scale * box_side);
    if (s > limit) s = limit;
    if (s < 16) s = 16 < limit ? 16 : limit;
    long x = lroundf(centre_x - 0.5f * (float)s), y = lroundf(centre_y - 0.5f * (float)s);
    if (x > t->width - s) x = t->width - s;
    if (y > t->height - s) y = t->height - s;
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    crop[0] = (int)x;
    crop[1] = (int)y;
    crop[2] = (int)s;
    return true;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Frames to keep: a face, every landmark inside the crop, every Nth; then at most
 * max_frames of them chosen by the seed (and the clip name, so clips differ).  Returns
 * the count; selected[] lists frame indices ascending. */
static int select_frames(const clip_track *t, const int crop[3], const dataset_build_params *p,
                         const char *name, int *selected) {
    int count = 0;
    for (int i = 0; i < t->frames; i++) {
        if (!t->found[i] || i % p->every != 0) continue;
        bool inside = true;
        for (int k = 0; k < 68 && inside; k++) {
            float x = t->points[i][k][0] - (float)crop[0], y = t->points[i][k][1] - (float)crop[1];
            inside = x >= 0 && y >= 0 && x < (float)crop[2] && y < (float)crop[2];
        }
        if (inside) selected[count++] = i;
    }
    if (p->max_frames > 0 && count > p->max_frames) {
        dataset_rng rng;
        dataset_rng_seed(&rng, p->seed ^ hash_name(name));
        for (int i = 0; i < p->max_frames; i++) {
            int j = i + (int)dataset_rng_below(&rng, (uint64_t)(count - i));
            int tmp = selected[i];
            selected[i] = selected[j];
            selected[j] = tmp;
        }
        count = p->max_frames;
        qsort(selected, (size_t)count, sizeof *selected, compare_ints);
    }
    return count;
}

static vv_status encode_frame(build_state *b, const vv_image *frame, const int crop[3], vv_image *square,
                              vv_image *resized, unsigned long *jpeg_size) {
    int side = crop[2];
    if (frame->width < crop[0] + side || frame->height < crop[1] + side)
        return vv_fail(VV_ERR_FORMAT, "a frame changed size between passes (%dx%d)", frame->width, frame->height);
    if (square->width != side) {
        image_free(square);
        vv_status s = image_create(square, side, side, 3);
        if (s != VV_OK) return s;
    }
    for (int y = 0; y < side; y++)
        memcpy(square->data + (size_t)y * side * 3,
               frame->data + ((size_t)(crop[1] + y) * frame->width + crop[0]) * 3, (size_t)side * 3);
    image_free(resized); /* image_resize allocates its output */
    vv_status s = image_resize(resized, square, b->params->size, b->params->size);
    if (s != VV_OK) return s;
    *jpeg_size = b->jpeg_capacity;
    if (tjCompress2(b->jpeg, resized->data, resized->width, 0, resized->height, TJPF_RGB, &b->jpeg_buffer,
                    jpeg_size, TJSAMP_420, b->params->jpeg_quality, TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT) != 0)
        return vv_fail(VV_ERR_INTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(b->jpeg));
    return VV_OK;
}

static vv_status write_clip(build_state *b, dataset_writer *w, const clip_input *in, const clip_track *t,
                            const int crop[3], const int *selected, int count) {
    video_reader *reader = NULL;
    vv_image frame = {0}, square = {0}, resized = {0};
    vv_status s = video_reader_open(&reader, in->path);
    if (s != VV_OK) return s;
    s = dataset_writer_begin_clip(w, in->name, in->identity, t->width, t->height, crop);
    float scale = (float)b->params->size / (float)crop[2];
    int next = 0, index = 0;
    while (s == VV_OK) {
        bool got = false;
        double time = 0;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        if (next < count && selected[next] == index) {
            unsigned long jpeg_size = 0;
            s = encode_frame(b, &frame, crop, &square, &resized, &jpeg_size);
            float points[68][2];
            /* Source pixel centres -> crop pixel centres (the resize's mapping). */
            for (int k = 0; k < 68; k++) {
                points[k][0] = (t->points[index][k][0] - (float)crop[0] + 0.5f) * scale - 0.5f;
                points[k][1] = (t->points[index][k][1] - (float)crop[1] + 0.5f) * scale - 0.5f;
            }
            if (s == VV_OK) s = dataset_writer_add_frame(w, b->jpeg_buffer, jpeg_size, (const float(*)[2])points, index);
            next++;
        }
        index++;
        if (s == VV_OK) s = build_progress(b);
    }
    if (s == VV_OK && next < count)
        s = vv_fail(VV_ERR_CORRUPT, "%s decoded to fewer frames the second time (%d, expected %d)", in->path,
                    index, t->frames);
    if (s == VV_OK) s = dataset_writer_end_clip(w, t->frames);
    image_free(&frame);
    image_free(&square);
    image_free(&resized);
    video_reader_close(reader);
    return s;
}

static const char *split_name(dataset_split split) {
    return split == DATASET_SPLIT_TRAIN ? "train" : split == DATASET_SPLIT_HOLDOUT ? "holdout" : "all";
}

static void config_begin(text *config, const dataset_build_params *p) {
    text_append(config,
                "{\"format\": \"vivify-dataset\", \"version\": %d, \"size\": %d, \"codec\": \"jpeg\", "
                "\"jpeg_quality\": %d, \"seed\": %llu, \"every\": %d, \"max_frames\": %d, "
                "\"crop\": {\"rule\": \"median tracked box, one crop per clip\", \"scale\": %.3f, "
                "\"shift_up\": %.3f}, \"tracker\": {\"smoothing\": %.2f}, \"split\": \"%s\", \"holdout\": ",
                DATASET_VERSION, p->size, p->jpeg_quality, (unsigned long long)p->seed, p->every, p->max_frames,
                p->crop_scale, CROP_SHIFT_UP, tracker_default_params().smoothing, split_name(p->split));
    if (p->holdout_path) {
        char name[DATASET_NAME_SIZE];
        dataset_clip_name(p->holdout_path, name, sizeof name);
        text_append_string(config, name);
    } else {
        text_append(config, "null");
    }
    text_append(config, ", \"clips\": [");
}

static vv_status check_params(const dataset_build_params *p) {
    if (p->size < 8 || p->size > DATASET_MAX_SIDE)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--size %d is outside 8..%d", p->size, DATASET_MAX_SIDE);
    if (p->every < 1 || p->every > 100000) return vv_fail(VV_ERR_INVALID_ARGUMENT, "--every %d must be >= 1", p->every);
    if (p->max_frames < 0 || p->max_frames > MAX_CLIP_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--max-frames %d is outside 0..%d", p->max_frames, MAX_CLIP_FRAMES);
    if (!(p->crop_scale >= 1.0f && p->crop_scale <= 4.0f))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "crop scale %g is outside 1..4", p->crop_scale);
    if (p->jpeg_quality < 1 || p->jpeg_quality > 100)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "JPEG quality %d is outside 1..100", p->jpeg_quality);
    if (p->split != DATASET_SPLIT_ALL && !p->holdout_path)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "a train or holdout split needs a held-out list (--holdout FILE)");
    return VV_OK;
}

vv_status dataset_build(const char *const *inputs, int input_count, const char *out_path,
                        const dataset_build_params *params, dataset_build_report *report) {
    dataset_build_params defaults = dataset_build_default_params();
    if (!params) params = &defaults;
    dataset_build_report local = {0};
    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    vv_status s = check_params(params);
    if (s != VV_OK) return s;

    input_list list = {0};
    build_state b = {.params = params, .faces = params->faces};
    dataset_writer *writer = NULL;
    clip_track track = {0};
    int *selected = NULL;
    text config = {0};
    bool own_faces = false;

    s = collect_inputs(inputs, input_count, &list);
    if (s == VV_OK && params->holdout_path) s = mark_held_out(&list, params->holdout_path);
    if (s != VV_OK) goto done;
    /* Frame estimates for the progress bar (each frame is counted in both passes). */
    int wanted_count = 0;
    for (int i = 0; i < list.count; i++) {
        clip_input *in = &list.items[i];
        bool wanted = params->split == DATASET_SPLIT_ALL ||
                      (params->split == DATASET_SPLIT_TRAIN) != in->held_out;
        if (!wanted) continue;
        wanted_count++;
        video_reader *reader = NULL;
        s = video_reader_open(&reader, in->path);
        if (s != VV_OK) goto done;
        b.total += 2 * video_reader_info(reader)->frame_count;
        video_reader_close(reader);
    }
    if (wanted_count == 0) {
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "none of the %d input clips is in the %s split (held-out list %s)",
                    list.count, split_name(params->split), params->holdout_path);
        goto done;
    }
    if (!b.faces) {
        vv_faces_params fp = vv_faces_default_params();
        fp.threads = params->threads;
        s = vv_faces_new(&b.faces, &fp);
        if (s != VV_OK) goto done;
        own_faces = true;
    }
    b.jpeg = tjInitCompress();
    b.jpeg_capacity = tjBufSize(params->size, params->size, TJSAMP_420);
    b.jpeg_buffer = b.jpeg ? tjAlloc((int)b.jpeg_capacity) : NULL;
    if (!b.jpeg || !b.jpeg_buffer) {
        s = vv_fail(VV_ERR_NO_MEMORY, "cannot start the JPEG encoder");
        goto done;
    }
    s = dataset_writer_open(&writer, out_path, params->size);
    if (s != VV_OK) goto done;
    config_begin(&config, params);
    bool first_clip = true;
    int faceless = 0;                 /* selected clips left out for want of a face */
    const char *first_faceless = NULL;
    text skipped = {0};
    text_append(&skipped, "[");
    for (int i = 0; i < list.count && s == VV_OK; i++) {
        clip_input *in = &list.items[i];
        bool wanted = params->split == DATASET_SPLIT_ALL ||
                      (params->split == DATASET_SPLIT_TRAIN) != in->held_out;
        if (!wanted) {
            report->clips_skipped++;
            continue;
        }
        clip_track_free(&track);
        s = track_clip(&b, in->path, &track);
        if (s != VV_OK) break;
        int crop[3] = {0, 0, 0}, count = 0;
        free(selected);
        selected = track.frames ? malloc((size_t)track.frames * sizeof *selected) : NULL;
        if (track.frames && !selected) {
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory selecting frames of %s", in->path);
            break;
        }
        if (clip_crop(&track, params->crop_scale, crop)) count = select_frames(&track, crop, params, in->name, selected);
        int with_face = 0;
        for (int f = 0; f < track.frames; f++) with_face += track.found[f];
        report->frames_dropped += with_face - count;
        if (count == 0) {
            /* No usable face: the clip is left out (listed in the configuration). */
            report->clips_skipped++;
            if (!faceless++) first_faceless = in->path;
            text_append(&skipped, "%s", skipped.length > 1 ? ", " : "");
            text_append_string(&skipped, in->name);
            b.done += track.frames; /* its second pass never runs */
            continue;
        }
        s = write_clip(&b, writer, in, &track, crop, selected, count);
        if (s != VV_OK) break;
        text_append(&config, "%s{\"name\": ", first_clip ? "" : ", ");
        text_append_string(&config, in->name);
        text_append(&config, ", \"identity\": ");
        text_append_string(&config, in->identity);
        text_append(&config, ", \"source\": ");
        text_append_string(&config, in->path);
        text_append(&config, ", \"frames\": %d, \"source_frames\": %d, \"crop\": [%d, %d, %d]}", count,
                    track.frames, crop[0], crop[1], crop[2]);
        first_clip = false;
        report->clips++;
        report->frames += count;
    }
    text_append(&skipped, "]");
    text_append(&config, "], \"no_face\": %s, \"held_out_identities\": [", skipped.data ? skipped.data : "[]");
    int held_out_listed = 0;
    for (int i = 0; i < list.count; i++) {
        bool first_of_identity = list.items[i].held_out;
        for (int j = 0; j < i && first_of_identity; j++)
            first_of_identity = strcmp(list.items[j].identity, list.items[i].identity) != 0;
        if (!first_of_identity) continue;
        text_append(&config, "%s", held_out_listed++ ? ", " : "");
        text_append_string(&config, list.items[i].identity);
    }
    text_append(&config, "]}\n");
    bool config_failed = config.failed || skipped.failed;
    free(skipped.data);
    if (s == VV_OK && config_failed) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the configuration");
    if (s == VV_OK && report->clips == 0)
        s = faceless == 1 ? vv_fail(VV_ERR_NO_FACE, "no usable face in %s", first_faceless)
                          : vv_fail(VV_ERR_NO_FACE, "no usable face in any of the %d selected clips (%s, ...)", faceless,
                                    first_faceless ? first_faceless : "none");
    if (s == VV_OK) {
        s = dataset_writer_finish(writer, config.data, &report->bytes);
        writer = NULL;
    }
    if (s == VV_OK) {
        dataset *check = NULL;
        s = dataset_open(&check, out_path); /* counts identities, and proves the file reads back */
        if (s == VV_OK) report->identities = dataset_identity_count(check);
        dataset_close(check);
    }
done:
    dataset_writer_abort(writer);
    if (b.jpeg_buffer) tjFree(b.jpeg_buffer);
    if (b.jpeg) tjDestroy(b.jpeg);
    if (own_faces) vv_faces_free(b.faces);
    clip_track_free(&track);
    free(selected);
    free(config.data);
    input_list_free(&list);
    return s;
}
