/* train/dataset_build: videos -> .vds.  Two passes per clip so memory stays bounded (only
 * the per-frame landmarks of one clip are held): pass 1 tracks the face on every frame;
 * the clip's crop is then fixed (median tracked box, enlarged); pass 2 decodes again and
 * writes the selected frames cropped, resized and JPEG-encoded. */
#include "train/dataset.h"
#include "face/detector.h"
#include "face/faces.h"
#include "face/shape_predictor.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#define MAX_INPUTS 4000000
#define MAX_TREE_DEPTH 8
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

/* relative: the path below a tree's top folder ("id/video/clip.mp4"), or NULL for a file
 * named on the command line or lying directly in a given folder (the flat rules). */
static vv_status input_list_add(input_list *list, const char *path, const char *relative) {
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
    if (relative) {
        /* Tree: the name is the relative path without extension, the person its first folder. */
        const char *slash = strchr(relative, '/'), *dot = strrchr(relative, '.');
        size_t length = dot && dot > strrchr(relative, '/') ? (size_t)(dot - relative) : strlen(relative);
        size_t person = (size_t)(slash - relative);
        if (length >= DATASET_NAME_SIZE || person == 0)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "clip name %.*s is over %d bytes (a tree's clip is named by its path)",
                           (int)length, relative, DATASET_NAME_SIZE - 1);
        memcpy(c->name, relative, length);
        for (size_t i = 0; i < person; i++) c->identity[i] = (char)tolower((unsigned char)relative[i]);
    } else {
        dataset_clip_name(path, c->name, sizeof c->name);
        dataset_identity_from_name(c->name, c->identity, sizeof c->identity);
    }
    if (!c->name[0] || !c->identity[0]) return vv_fail(VV_ERR_INVALID_ARGUMENT, "cannot name the clip %s", path);
    for (const char *p = c->name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "clip %s has a control character in its name", path);
    c->path = strdup(path);
    if (!c->path) return vv_fail(VV_ERR_NO_MEMORY, "out of memory listing inputs");
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

/* A folder's videos and subfolders in byte order of their names, so the build does not
 * depend on readdir; subfolders are walked (a tree) down to MAX_TREE_DEPTH.  prefix: the
 * path of this folder below the top one ("" at the top). */
static vv_status input_list_add_folder(input_list *list, const char *folder, const char *prefix, int depth) {
    DIR *dir = opendir(folder);
    if (!dir) return vv_fail(VV_ERR_IO, "cannot list %s: %s", folder, strerror(errno));
    char **names = NULL;
    int count = 0, capacity = 0;
    vv_status s = VV_OK;
    struct dirent *entry;
    while (s == VV_OK && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = count < MAX_INPUTS ? realloc(names, (size_t)capacity * sizeof *names) : NULL;
            if (!grown) {
                s = vv_fail(VV_ERR_NO_MEMORY, "out of memory listing %s", folder);
                break;
            }
            names = grown;
        }
        names[count] = strdup(entry->d_name);
        if (!names[count]) {
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory listing %s", folder);
            break;
        }
        count++;
    }
    closedir(dir);
    if (s == VV_OK && count > 1) qsort(names, (size_t)count, sizeof *names, compare_strings);
    bool slash = folder[strlen(folder) - 1] == '/';
    for (int i = 0; i < count; i++) {
        char path[4096], relative[4096];
        int n = snprintf(path, sizeof path, "%s%s%s", folder, slash ? "" : "/", names[i]);
        int m = snprintf(relative, sizeof relative, "%s%s", prefix, names[i]);
        if (s == VV_OK && (n < 0 || (size_t)n >= sizeof path || m < 0 || (size_t)m >= sizeof relative))
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "path too long: %s/%s", folder, names[i]);
        struct stat st;
        if (s == VV_OK && is_video_name(names[i]) && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            s = input_list_add(list, path, depth > 0 ? relative : NULL);
        } else if (s == VV_OK && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (depth >= MAX_TREE_DEPTH) s = vv_fail(VV_ERR_TOO_LARGE, "%s: folders nested over %d deep", path, MAX_TREE_DEPTH);
            size_t length = strlen(relative);
            if (s == VV_OK && length + 1 < sizeof relative) {
                relative[length] = '/';
                relative[length + 1] = 0;
                s = input_list_add_folder(list, path, relative, depth + 1);
            }
        }
        free(names[i]);
    }
    free(names);
    return s;
}

static int compare_clip_names(const void *a, const void *b) {
    const clip_input *x = *(const clip_input *const *)a, *y = *(const clip_input *const *)b;
    return strcmp(x->name, y->name);
}

static vv_status collect_inputs(const char *const *inputs, int input_count, input_list *list) {
    for (int i = 0; i < input_count; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0)
            return vv_fail(errno == ENOENT ? VV_ERR_NOT_FOUND : VV_ERR_IO, "cannot open %s: %s", inputs[i],
                           strerror(errno));
        vv_status s = S_ISDIR(st.st_mode) ? input_list_add_folder(list, inputs[i], "", 0)
                                          : input_list_add(list, inputs[i], NULL);
        if (s != VV_OK) return s;
    }
    if (list->count == 0) return vv_fail(VV_ERR_NOT_FOUND, "no video clips among the inputs");
    /* Unique names: sorted, neighbours compared (a VoxCeleb-sized list has a million). */
    const clip_input **sorted = mem_alloc((size_t)list->count, sizeof *sorted);
    if (!sorted) return vv_fail(VV_ERR_NO_MEMORY, "out of memory listing inputs");
    for (int i = 0; i < list->count; i++) sorted[i] = &list->items[i];
    qsort(sorted, (size_t)list->count, sizeof *sorted, compare_clip_names);
    vv_status s = VV_OK;
    for (int i = 1; i < list->count && s == VV_OK; i++)
        if (!strcmp(sorted[i]->name, sorted[i - 1]->name)) {
            const clip_input *a = sorted[i - 1] < sorted[i] ? sorted[i - 1] : sorted[i];
            const clip_input *b = a == sorted[i] ? sorted[i - 1] : sorted[i];
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "two clips are named %s (%s and %s); clip names must be unique",
                        a->name, a->path, b->path);
        }
    free(sorted);
    return s;
}

/* The person a held-out line names: a tree path's first folder ("id00012/abc/00001" ->
 * "id00012"), else the flat rule (a clip or person name). */
static void holdout_line_identity(const char *line, char out[DATASET_NAME_SIZE]) {
    const char *slash = strchr(line, '/');
    if (!slash) {
        dataset_identity_from_name(line, out, DATASET_NAME_SIZE);
        return;
    }
    size_t length = (size_t)(slash - line);
    for (size_t i = 0; i < length; i++) out[i] = (char)tolower((unsigned char)line[i]);
    out[length] = 0;
}

static int compare_identities(const void *a, const void *b) { return strcmp(a, b); }

/* Held-out file: one clip or person name per line ('#' starts a comment).  A clip is held
 * out when its person is that of a listed line, so a held-out person has no clip in
 * training; and with fraction > 0 when its person hashes below it. */
static vv_status mark_held_out(input_list *list, const char *path, double fraction) {
    for (int i = 0; i < list->count; i++)
        list->items[i].held_out = dataset_holdout_by_hash(list->items[i].identity, fraction);
    if (!path) return VV_OK;
    uint8_t *data = NULL;
    size_t size = 0;
    vv_status s = file_read_all(path, HOLDOUT_MAX_BYTES, &data, &size);
    if (s != VV_OK) return s;
    char *textual = malloc(size + 1);
    char(*held)[DATASET_NAME_SIZE] = mem_alloc(size / 2 + 1, DATASET_NAME_SIZE); /* a line has >= 2 bytes */
    if (!textual || !held) {
        free(data);
        free(textual);
        free(held);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", path);
    }
    memcpy(textual, data, size);
    textual[size] = 0;
    free(data);
    size_t held_count = 0;
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
        holdout_line_identity(line, held[held_count]);
        if (held[held_count][0]) held_count++;
    }
    if (s == VV_OK) {
        qsort(held, held_count, DATASET_NAME_SIZE, compare_identities);
        for (int i = 0; i < list->count; i++)
            if (bsearch(list->items[i].identity, held, held_count, DATASET_NAME_SIZE, compare_identities))
                list->items[i].held_out = true;
    }
    free(held);
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

/* One worker's tools: its own face detector (a tracker sets its threshold) beside the
 * shared shape predictor (read-only), its own JPEG encoder and buffer. */
typedef struct build_state {
    const dataset_build_params *params;
    face_detector *detector;
    shape_predictor *predictor;
    const _Atomic bool *stop; /* set by the writer on failure or abort */
    tjhandle jpeg;
    uint8_t *jpeg_buffer;
    unsigned long jpeg_capacity;
} build_state;

static vv_status check_stop(const build_state *b) {
    return atomic_load(b->stop) ? vv_fail(VV_ERR_ABORTED, "dataset build stopped") : VV_OK;
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
    s = face_tracker_new(&tracker, b->detector, b->predictor, &tp);
    while (s == VV_OK) {
        bool got = false, found = false;
        double time = 0;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        float box[4], score[1], points[68][2];
        s = face_tracker_update(tracker, &frame, time, &found, box, score, points);
        if (s == VV_OK) s = clip_track_push(track, path, found, box, (const float(*)[2])points);
        if (s == VV_OK) s = check_stop(b);
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

/* A clip's frames, encoded by a worker and waiting for the writer. */
typedef struct clip_result {
    vv_status status;
    char message[1024];
    int input;             /* index in the input list */
    int count;             /* frames kept; 0: no usable face */
    int with_face;         /* frames where the tracker found a face */
    int source_frames, width, height, crop[3];
    uint8_t *jpeg;         /* the frames' JPEGs back to back */
    size_t jpeg_size, jpeg_capacity;
    size_t *jpeg_end;      /* [count]: end of each frame's JPEG in jpeg */
    int *source_index;     /* [count] */
    float (*points)[68][2];
} clip_result;

static void clip_result_free(clip_result *r) {
    free(r->jpeg);
    free(r->jpeg_end);
    free(r->source_index);
    free(r->points);
    memset(r, 0, sizeof *r);
}

static vv_status result_append(clip_result *r, const uint8_t *data, size_t size) {
    if (r->jpeg_size + size > r->jpeg_capacity) {
        size_t capacity = r->jpeg_capacity ? r->jpeg_capacity * 2 : 1u << 16;
        while (capacity < r->jpeg_size + size) capacity *= 2;
        uint8_t *grown = realloc(r->jpeg, capacity);
        if (!grown) return vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding a clip");
        r->jpeg = grown;
        r->jpeg_capacity = capacity;
    }
    memcpy(r->jpeg + r->jpeg_size, data, size);
    r->jpeg_size += size;
    return VV_OK;
}

/* The second pass: the selected frames cropped, resized and encoded into r. */
static vv_status encode_clip(build_state *b, const clip_input *in, const clip_track *t, const int *selected,
                             clip_result *r) {
    int count = r->count;
    r->jpeg_end = mem_alloc((size_t)count, sizeof *r->jpeg_end);
    r->source_index = mem_alloc((size_t)count, sizeof *r->source_index);
    r->points = mem_alloc((size_t)count, sizeof *r->points);
    if (!r->jpeg_end || !r->source_index || !r->points) return vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding %s", in->path);
    video_reader *reader = NULL;
    vv_image frame = {0}, square = {0}, resized = {0};
    vv_status s = video_reader_open(&reader, in->path);
    if (s != VV_OK) return s;
    const int *crop = r->crop;
    float scale = (float)b->params->size / (float)crop[2];
    int next = 0, index = 0;
    while (s == VV_OK && next < count) {
        bool got = false;
        double time = 0;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        if (selected[next] == index) {
            unsigned long jpeg_size = 0;
            s = encode_frame(b, &frame, crop, &square, &resized, &jpeg_size);
            if (s == VV_OK) s = result_append(r, b->jpeg_buffer, jpeg_size);
            /* Source pixel centres -> crop pixel centres (the resize's mapping). */
            for (int k = 0; k < 68; k++) {
                r->points[next][k][0] = (t->points[index][k][0] - (float)crop[0] + 0.5f) * scale - 0.5f;
                r->points[next][k][1] = (t->points[index][k][1] - (float)crop[1] + 0.5f) * scale - 0.5f;
            }
            r->jpeg_end[next] = r->jpeg_size;
            r->source_index[next] = index;
            next++;
        }
        index++;
        if (s == VV_OK) s = check_stop(b);
    }
    if (s == VV_OK && next < count)
        s = vv_fail(VV_ERR_CORRUPT, "%s decoded to fewer frames the second time (%d, expected %d)", in->path,
                    index, t->frames);
    image_free(&frame);
    image_free(&square);
    image_free(&resized);
    video_reader_close(reader);
    return s;
}

/* One clip, start to end: track, crop, select, encode. */
static vv_status process_clip(build_state *b, const clip_input *in, clip_result *r) {
    clip_track track = {0};
    int *selected = NULL;
    vv_status s = track_clip(b, in->path, &track);
    if (s == VV_OK && track.frames) {
        selected = malloc((size_t)track.frames * sizeof *selected);
        if (!selected) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory selecting frames of %s", in->path);
    }
    if (s == VV_OK) {
        r->source_frames = track.frames;
        r->width = track.width;
        r->height = track.height;
        for (int f = 0; f < track.frames; f++) r->with_face += track.found[f];
        if (clip_crop(&track, b->params->crop_scale, r->crop))
            r->count = select_frames(&track, r->crop, b->params, in->name, selected);
        if (r->count > 0) s = encode_clip(b, in, &track, selected, r);
    }
    free(selected);
    clip_track_free(&track);
    return s;
}

static vv_status write_result(dataset_writer *w, const clip_input *in, const clip_result *r) {
    vv_status s = dataset_writer_begin_clip(w, in->name, in->identity, r->width, r->height, r->crop);
    for (int i = 0; s == VV_OK && i < r->count; i++) {
        size_t start = i ? r->jpeg_end[i - 1] : 0;
        s = dataset_writer_add_frame(w, r->jpeg + start, r->jpeg_end[i] - start, (const float(*)[2])r->points[i],
                                     r->source_index[i]);
    }
    if (s == VV_OK) s = dataset_writer_end_clip(w, r->source_frames);
    return s;
}

/* ---- the pipeline: workers process clips in any order, the writer takes them in order ---- */

typedef struct pipeline {
    const dataset_build_params *params;
    vv_faces *faces;
    const input_list *list;
    const int *queue;      /* input indices, in the order the writer takes them */
    int queue_count, window;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int next_claim;        /* next queue position a worker takes */
    int consumed;          /* positions the writer has taken */
    _Atomic bool stop;
    bool detector_taken;   /* the pipeline's own detector went to a worker */
    clip_result *slots;    /* [window]: position j in slot j % window */
    bool *ready;
} pipeline;

static void *pipeline_worker(void *arg) {
    pipeline *p = arg;
    build_state b = {.params = p->params, .predictor = faces_predictor(p->faces), .stop = &p->stop};
    /* The first worker uses the pipeline's detector, the others load their own (BlazeFace:
     * 0.4 MB, the default model lookup). */
    pthread_mutex_lock(&p->lock);
    bool first = !p->detector_taken;
    p->detector_taken = true;
    pthread_mutex_unlock(&p->lock);
    face_detector *own = NULL;
    vv_status loaded = first ? VV_OK : face_detector_load(&own, NULL);
    char load_error[1024] = "";
    if (loaded != VV_OK) snprintf(load_error, sizeof load_error, "%s", vv_last_error());
    b.detector = first ? faces_detector(p->faces) : own;
    b.jpeg = tjInitCompress();
    b.jpeg_capacity = tjBufSize(p->params->size, p->params->size, TJSAMP_420);
    b.jpeg_buffer = b.jpeg ? tjAlloc((int)b.jpeg_capacity) : NULL;
    pthread_mutex_lock(&p->lock);
    while (!p->stop && p->next_claim < p->queue_count) {
        if (p->next_claim >= p->consumed + p->window) {
            pthread_cond_wait(&p->changed, &p->lock);
            continue;
        }
        int j = p->next_claim++;
        pthread_mutex_unlock(&p->lock);
        clip_result r = {0};
        r.input = p->queue[j];
        const clip_input *in = &p->list->items[r.input];
        r.status = loaded != VV_OK ? vv_fail(loaded, "%s", load_error)
                   : b.jpeg_buffer ? process_clip(&b, in, &r)
                                   : vv_fail(VV_ERR_NO_MEMORY, "cannot start the JPEG encoder");
        if (r.status != VV_OK) snprintf(r.message, sizeof r.message, "%s", vv_last_error());
        pthread_mutex_lock(&p->lock);
        p->slots[j % p->window] = r;
        p->ready[j % p->window] = true;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    if (b.jpeg_buffer) tjFree(b.jpeg_buffer);
    if (b.jpeg) tjDestroy(b.jpeg);
    face_detector_free(own);
    return NULL;
}

/* The result at queue position j (the writer's next); the caller frees it. */
static clip_result pipeline_take(pipeline *p, int j) {
    pthread_mutex_lock(&p->lock);
    while (!p->ready[j % p->window]) pthread_cond_wait(&p->changed, &p->lock);
    clip_result r = p->slots[j % p->window];
    p->ready[j % p->window] = false;
    p->consumed = j + 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return r;
}

static const char *split_name(dataset_split split) {
    return split == DATASET_SPLIT_TRAIN ? "train" : split == DATASET_SPLIT_HOLDOUT ? "holdout" : "all";
}

/* The build's options as the start of a configuration JSON object (no closing brace). */
static void config_params(text *config, const dataset_build_params *p) {
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
    if (p->holdout_fraction > 0) text_append(config, ", \"holdout_fraction\": %.6f", p->holdout_fraction);
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
    if (!(p->holdout_fraction >= 0 && p->holdout_fraction < 1))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--holdout-fraction %g is outside [0, 1)", p->holdout_fraction);
    if (p->split != DATASET_SPLIT_ALL && !p->holdout_path && !(p->holdout_fraction > 0))
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "a train or holdout split needs a held-out list (--holdout FILE) or --holdout-fraction");
    if (p->shard_size < 0 || p->shard_size > DATASET_MAX_CLIPS)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--shard-size %d is outside 1..%d", p->shard_size, DATASET_MAX_CLIPS);
    if (p->threads < 0 || p->threads > 256)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--threads %d is outside 0..256", p->threads);
    return VV_OK;
}

/* The held-out people among the inputs, in order of first appearance, as a JSON list. */
typedef struct held_key { const char *identity; int index; } held_key;
static int compare_held_keys(const void *a, const void *b) {
    const held_key *x = a, *y = b;
    int c = strcmp(x->identity, y->identity);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static void append_held_out(text *config, const input_list *list) {
    held_key *keys = malloc((size_t)list->count * sizeof *keys + 1);
    bool *first = calloc((size_t)list->count + 1, 1);
    if (!keys || !first) {
        config->failed = true;
        free(keys);
        free(first);
        return;
    }
    int n = 0;
    for (int i = 0; i < list->count; i++)
        if (list->items[i].held_out) keys[n++] = (held_key){list->items[i].identity, i};
    qsort(keys, (size_t)n, sizeof *keys, compare_held_keys);
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(keys[i - 1].identity, keys[i].identity)) first[keys[i].index] = true;
    text_append(config, "[");
    int listed = 0;
    for (int i = 0; i < list->count; i++) {
        if (!first[i]) continue;
        text_append(config, "%s", listed++ ? ", " : "");
        text_append_string(config, list->items[i].identity);
    }
    text_append(config, "]");
    free(keys);
    free(first);
}

static uint64_t hash_more(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (h ^ '\n') * 1099511628211ull;
}

static void shard_file_name(int k, char *out, size_t size) { snprintf(out, size, "shard-%06d.vds", k); }
/* The record of a planned shard none of whose clips gave a face (so it has no .vds): its
 * configuration JSON, plan key included, so that a rerun keeps it as finished. */
static void empty_marker_name(int k, char *out, size_t size) { snprintf(out, size, "shard-%06d.empty", k); }

/* True when folder holds shard k's empty-shard record with this plan key. */
static bool empty_marker_matches(const char *folder, int k, const char *key) {
    char name[32], path[8192];
    empty_marker_name(k, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", folder, name);
    uint8_t *data = NULL;
    size_t size = 0;
    if (!file_exists(path) || file_read_all(path, DATASET_MAX_CONFIG_BYTES, &data, &size) != VV_OK) return false;
    bool match = memchr(data, 0, size) == NULL && size > 0 && data[size - 1] == '\n';
    if (match) {
        data[size - 1] = 0; /* a NUL-free text: strstr is safe */
        match = strstr((const char *)data, key) != NULL;
    }
    free(data);
    return match;
}

/* Writes shard k's empty-shard record (atomically). */
static vv_status write_empty_marker(const char *folder, int k, const char *config_json) {
    char name[32], path[8192], temp[8400];
    empty_marker_name(k, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", folder, name);
    vv_status s = file_temp_path(path, temp, sizeof temp);
    if (s != VV_OK) return s;
    FILE *f = fopen(temp, "wb");
    if (!f) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
    size_t n = strlen(config_json);
    bool failed = fwrite(config_json, 1, n, f) != n;
    failed |= fclose(f) != 0;
    if (failed) {
        remove(temp);
        return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
    }
    return file_commit(temp, path);
}

/* Leftovers in a shard folder: temp files of an interrupted run, shard files this build
 * does not produce (index >= shard_count, or listed in empty[]) and empty-shard records of
 * shards that are not empty (not listed in empty[], when given) or not planned. */
static void clean_shard_folder(const char *folder, int shard_count, const bool *empty) {
    DIR *dir = opendir(folder);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        int k = -1, used = 0;
        bool temp = (!strncmp(name, ".shard-", 7) || !strncmp(name, "." DATASET_MANIFEST_NAME ".", 15)) &&
                    strstr(name, ".tmp-");
        bool stale = sscanf(name, "shard-%6d.vds%n", &k, &used) == 1 && used == (int)strlen(name) && used == 16 &&
                     (k >= shard_count || (empty && empty[k]));
        k = -1, used = 0;
        bool stale_marker = sscanf(name, "shard-%6d.empty%n", &k, &used) == 1 && used == (int)strlen(name) &&
                            used == 18 && (k >= shard_count || (empty && !empty[k]));
        if (temp || stale || stale_marker) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", folder, name);
            remove(path);
        }
    }
    closedir(dir);
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
    int *wanted = NULL, *queue = NULL, wanted_count = 0, queue_count = 0, shard_count = 0;
    bool *reused = NULL, *empty = NULL;
    char **shard_names = NULL;       /* [shard_count]: file name, NUL, its plan key */
    const char **manifest_names = NULL;
    int named = 0;
    vv_faces *faces = params->faces;
    bool own_faces = false, sharded = params->shard_size > 0;
    text base = {0}, config = {0}, skipped = {0}, unreadable = {0};
    dataset_writer *writer = NULL;
    pipeline p = {0};
    pthread_t threads[256];
    int thread_count = 0;

    s = collect_inputs(inputs, input_count, &list);
    if (s == VV_OK && (params->holdout_path || params->holdout_fraction > 0))
        s = mark_held_out(&list, params->holdout_path, params->holdout_fraction);
    if (s != VV_OK) goto done;
    wanted = mem_alloc((size_t)list.count, sizeof *wanted);
    queue = mem_alloc((size_t)list.count, sizeof *queue);
    if (!wanted || !queue) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory listing inputs");
        goto done;
    }
    for (int i = 0; i < list.count; i++)
        if (params->split == DATASET_SPLIT_ALL || (params->split == DATASET_SPLIT_TRAIN) != list.items[i].held_out)
            wanted[wanted_count++] = i;
    report->clips_skipped = list.count - wanted_count;
    if (wanted_count == 0) {
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "none of the %d input clips is in the %s split (held-out list %s)",
                    list.count, split_name(params->split), params->holdout_path ? params->holdout_path : "by hash");
        goto done;
    }
    int per_shard = sharded ? params->shard_size : wanted_count;
    shard_count = (wanted_count + per_shard - 1) / per_shard;
    if (shard_count > DATASET_MAX_SHARDS) {
        s = vv_fail(VV_ERR_TOO_LARGE, "%d shards, over %d: use a larger --shard-size", shard_count, DATASET_MAX_SHARDS);
        goto done;
    }
    reused = calloc((size_t)shard_count, sizeof *reused);
    empty = calloc((size_t)shard_count, sizeof *empty);
    shard_names = calloc((size_t)shard_count, sizeof *shard_names);
    manifest_names = calloc((size_t)shard_count, sizeof *manifest_names);
    if (!reused || !empty || !shard_names || !manifest_names) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory planning %d shards", shard_count);
        goto done;
    }
    config_params(&base, params);
    if (base.failed) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the configuration");
        goto done;
    }
    if (sharded) {
        struct stat st;
        if (stat(out_path, &st) == 0 && !S_ISDIR(st.st_mode)) {
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "%s is a file; with --shard-size the output is a folder", out_path);
            goto done;
        }
        if (mkdir(out_path, 0777) != 0 && errno != EEXIST) {
            s = vv_fail(VV_ERR_WRITE, "cannot create %s: %s", out_path, strerror(errno));
            goto done;
        }
        clean_shard_folder(out_path, shard_count, NULL);
    }
    /* Resume: a finished shard of an earlier run is kept when its plan (the options and
     * its clips) is this build's. */
    long reused_frames = 0;
    int kept_faceless = 0;            /* clips of kept empty shards */
    const char *kept_first_faceless = NULL;
    for (int k = 0; k < shard_count; k++) {
        int first = k * per_shard, last = first + per_shard < wanted_count ? first + per_shard : wanted_count;
        if (sharded) {
            uint64_t plan = hash_more(1469598103934665603ull, base.data);
            for (int j = first; j < last; j++) {
                const clip_input *in = &list.items[wanted[j]];
                plan = hash_more(hash_more(hash_more(plan, in->path), in->name), in->identity);
            }
            char name[32], path[8192], key[64];
            shard_file_name(k, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", out_path, name);
            snprintf(key, sizeof key, "\"plan\": \"%016llx\"", (unsigned long long)plan);
            dataset *old = NULL;
            if (file_exists(path) && dataset_open(&old, path) == VV_OK && dataset_shard_count(old) == 0 &&
                strstr(dataset_config(old), key)) {
                reused[k] = true;
                report->shards_reused++;
                report->clips += dataset_clip_count(old);
                reused_frames += dataset_frame_count(old);
            }
            dataset_close(old);
            if (!reused[k] && empty_marker_matches(out_path, k, key)) {
                /* Finished with no clip giving a face: nothing to redo. */
                reused[k] = empty[k] = true;
                report->shards_empty++;
                report->shards_empty_kept++;
                report->clips_skipped += last - first;
                if (!kept_faceless) kept_first_faceless = list.items[wanted[first]].path;
                kept_faceless += last - first;
            }
            shard_names[k] = malloc(64 + sizeof key);
            if (!shard_names[k]) {
                s = vv_fail(VV_ERR_NO_MEMORY, "out of memory planning shards");
                goto done;
            }
            snprintf(shard_names[k], 64 + sizeof key, "%s%c%s", name, 0, key); /* name, then its plan key */
        }
        if (!reused[k])
            for (int j = first; j < last; j++) queue[queue_count++] = wanted[j];
    }
    report->frames = reused_frames;
    long done_clips = wanted_count - queue_count;
    if (params->progress && params->progress(params->progress_data, done_clips, wanted_count)) {
        s = vv_fail(VV_ERR_ABORTED, "dataset build stopped");
        goto done;
    }

    if (queue_count > 0) {
        if (!faces) {
            vv_faces_params fp = vv_faces_default_params();
            fp.threads = 1; /* the parallelism is over clips */
            s = vv_faces_new(&faces, &fp);
            if (s != VV_OK) goto done;
            own_faces = true;
        }
        int workers = params->threads ? params->threads : cpu_count();
        if (workers > queue_count) workers = queue_count;
        if (workers < 1) workers = 1;
        p = (pipeline){.params = params, .faces = faces, .list = &list, .queue = queue, .queue_count = queue_count,
                       .window = 2 * workers + 2};
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.changed, NULL);
        p.slots = calloc((size_t)p.window, sizeof *p.slots);
        p.ready = calloc((size_t)p.window, sizeof *p.ready);
        if (!p.slots || !p.ready) {
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory starting the workers");
            goto done;
        }
        for (int t = 0; t < workers; t++)
            if (pthread_create(&threads[thread_count], NULL, pipeline_worker, &p) == 0) thread_count++;
        if (thread_count == 0) {
            s = vv_fail(VV_ERR_INTERNAL, "cannot start a worker thread");
            goto done;
        }
    }

    int taken = 0, faceless = kept_faceless;
    vv_status first_unreadable_status = VV_OK;
    char first_faceless[4096] = "";
    if (kept_first_faceless) snprintf(first_faceless, sizeof first_faceless, "%s", kept_first_faceless);
    for (int k = 0; k < shard_count && s == VV_OK; k++) {
        if (reused[k]) continue;
        int first = k * per_shard, last = first + per_shard < wanted_count ? first + per_shard : wanted_count;
        char path[8192];
        if (sharded) snprintf(path, sizeof path, "%s/%s", out_path, shard_names[k]);
        else snprintf(path, sizeof path, "%s", out_path);
        free(config.data);
        free(skipped.data);
        free(unreadable.data);
        config = (text){0};
        skipped = (text){0};
        unreadable = (text){0};
        text_append(&config, "%s, \"clips\": [", base.data);
        text_append(&skipped, "[");
        int written = 0;
        for (int j = first; j < last && s == VV_OK; j++) {
            clip_result r = pipeline_take(&p, taken++);
            const clip_input *in = &list.items[r.input];
            bool undecodable = r.status == VV_ERR_FORMAT || r.status == VV_ERR_CORRUPT || r.status == VV_ERR_NO_VIDEO ||
                               r.status == VV_ERR_UNSUPPORTED || r.status == VV_ERR_TOO_LARGE;
            if (undecodable && !atomic_load(&p.stop)) {
                /* A damaged or unreadable video (common among a million downloads) is left
                 * out and listed; the build fails only if every clip is. */
                report->clips_skipped++;
                if (!report->clips_unreadable++) {
                    snprintf(report->first_unreadable, sizeof report->first_unreadable, "%s", r.message);
                    first_unreadable_status = r.status;
                }
                text_append(&unreadable, "%s{\"name\": ", unreadable.length ? ", " : "");
                text_append_string(&unreadable, in->name);
                text_append(&unreadable, ", \"error\": ");
                text_append_string(&unreadable, r.message);
                text_append(&unreadable, "}");
            } else if (r.status != VV_OK) {
                s = vv_fail(r.status, "%s", r.message);
            } else if (r.count == 0) {
                /* No usable face: the clip is left out (listed in the configuration). */
                report->clips_skipped++;
                if (!faceless++) snprintf(first_faceless, sizeof first_faceless, "%s", in->path);
                text_append(&skipped, "%s", skipped.length > 1 ? ", " : "");
                text_append_string(&skipped, in->name);
                report->frames_dropped += r.with_face;
            } else {
                report->frames_dropped += r.with_face - r.count;
                if (!writer) s = dataset_writer_open(&writer, path, params->size);
                if (s == VV_OK) s = write_result(writer, in, &r);
                text_append(&config, "%s{\"name\": ", written ? ", " : "");
                text_append_string(&config, in->name);
                text_append(&config, ", \"identity\": ");
                text_append_string(&config, in->identity);
                text_append(&config, ", \"source\": ");
                text_append_string(&config, in->path);
                text_append(&config, ", \"frames\": %d, \"source_frames\": %d, \"crop\": [%d, %d, %d]}", r.count,
                            r.source_frames, r.crop[0], r.crop[1], r.crop[2]);
                written++;
                report->clips++;
                report->frames += r.count;
            }
            clip_result_free(&r);
            done_clips++;
            if (s == VV_OK && params->progress && params->progress(params->progress_data, done_clips, wanted_count))
                s = vv_fail(VV_ERR_ABORTED, "dataset build stopped");
        }
        if (s != VV_OK) break;
        text_append(&skipped, "]");
        text_append(&config, "], \"no_face\": %s", skipped.data ? skipped.data : "[]");
        if (unreadable.length) text_append(&config, ", \"unreadable\": [%s]", unreadable.data);
        if (sharded) {
            text_append(&config, ", \"shard\": %d, %s}\n", k, shard_names[k] + strlen(shard_names[k]) + 1);
        } else {
            text_append(&config, ", \"held_out_identities\": ");
            append_held_out(&config, &list);
            text_append(&config, "}\n");
        }
        if (config.failed || skipped.failed || unreadable.failed) {
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the configuration");
            break;
        }
        if (writer) {
            uint64_t bytes = 0;
            s = dataset_writer_finish(writer, config.data, &bytes);
            writer = NULL;
            report->bytes += bytes;
        } else {
            empty[k] = true;
            if (sharded) {
                report->shards_empty++;
                s = write_empty_marker(out_path, k, config.data); /* a rerun keeps it */
            }
        }
    }
    if (thread_count) {
        pthread_mutex_lock(&p.lock);
        p.stop = s != VV_OK;
        pthread_cond_broadcast(&p.changed);
        pthread_mutex_unlock(&p.lock);
        for (int t = 0; t < thread_count; t++) pthread_join(threads[t], NULL);
        for (int i = 0; i < p.window; i++)
            if (p.ready[i]) clip_result_free(&p.slots[i]);
    }
    if (s == VV_OK && report->clips == 0 && report->clips_unreadable > 0 && faceless == 0)
        s = report->clips_unreadable == 1
                ? vv_fail(first_unreadable_status, "%s", report->first_unreadable)
                : vv_fail(first_unreadable_status, "none of the %d selected clips could be read (%s, ...)",
                          report->clips_unreadable, report->first_unreadable);
    if (s == VV_OK && report->clips == 0)
        s = faceless == 1 ? vv_fail(VV_ERR_NO_FACE, "no usable face in %s", first_faceless)
                          : vv_fail(VV_ERR_NO_FACE, "no usable face in any of the %d selected clips (%s, ...)", faceless,
                                    first_faceless[0] ? first_faceless : "none");
    if (s == VV_OK && sharded) {
        clean_shard_folder(out_path, shard_count, empty);
        for (int k = 0; k < shard_count; k++) {
            if (empty[k]) continue;
            manifest_names[named++] = shard_names[k]; /* the name ends at its NUL, before the key */
            if (reused[k]) {
                char path[8192];
                snprintf(path, sizeof path, "%s/%s", out_path, shard_names[k]);
                struct stat st;
                if (stat(path, &st) == 0) report->bytes += (uint64_t)st.st_size;
            }
        }
        free(config.data);
        config = (text){0};
        text_append(&config, "%s, \"shard_size\": %d, \"shards\": %d, \"held_out_identities\": ", base.data,
                    params->shard_size, named);
        append_held_out(&config, &list);
        text_append(&config, "}\n");
        uint64_t bytes = 0;
        s = config.failed ? vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the configuration")
                          : dataset_write_manifest(out_path, manifest_names, named, config.data, &bytes);
        report->bytes += bytes;
        report->shards = named;
    }
    if (s == VV_OK) {
        dataset *check = NULL;
        s = dataset_open(&check, out_path); /* counts identities, and proves the file reads back */
        if (s == VV_OK) report->identities = dataset_identity_count(check);
        dataset_close(check);
    }
done:
    dataset_writer_abort(writer);
    if (p.window) {
        pthread_mutex_destroy(&p.lock);
        pthread_cond_destroy(&p.changed);
    }
    free(p.slots);
    free(p.ready);
    if (own_faces) vv_faces_free(faces);
    for (int k = 0; shard_names && k < shard_count; k++) free(shard_names[k]);
    free(shard_names);
    free(manifest_names);
    free(reused);
    free(empty);
    free(wanted);
    free(queue);
    free(base.data);
    free(config.data);
    free(skipped.data);
    free(unreadable.data);
    input_list_free(&list);
    return s;
}
