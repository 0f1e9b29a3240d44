/* cli/landmarks: `vivify landmarks INPUT [-o OUT.json] [--overlay OUT] [--smooth S]`.
 * Faces, 68 landmarks and head pose of an image, or of every frame of a video (tracked).
 * JSON is streamed frame by frame (an hour of video never sits in memory) to a temp file
 * renamed into place at the end. */
#include "cli/cli.h"
#include "face/facemesh.h"
#include "face/faces.h"
#include "face/pose.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FACES 32

static void json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* A still image's face: the face mesh's verdict (human: 1 a human face, 0 none: a dog's, -1
 * unchecked, as for a video's frames or without the mesh's model) and its number as animate's
 * --face counts it (0: one animate leaves out, faces_number_kept). */
typedef struct face_notes {
    int human, number;
} face_notes;

static void json_write_face(FILE *f, const vv_face *face, const face_notes *notes) {
    fprintf(f, "{\"box\": [%.2f, %.2f, %.2f, %.2f], \"score\": %.4f, \"landmarks\": [",
            face->box[0], face->box[1], face->box[2], face->box[3], face->score);
    for (int i = 0; i < VV_LANDMARK_COUNT; i++)
        fprintf(f, "%s[%.2f, %.2f]", i ? ", " : "", face->landmarks[i][0], face->landmarks[i][1]);
    fprintf(f, "], \"pose\": {\"yaw\": %.2f, \"pitch\": %.2f, \"roll\": %.2f}", face->yaw,
            face->pitch, face->roll);
    if (notes && notes->human >= 0) fprintf(f, ", \"human\": %s", notes->human ? "true" : "false");
    if (notes && notes->number > 0) fprintf(f, ", \"face\": %d", notes->number);
    else if (notes) fputs(", \"face\": null", f);
    fputc('}', f);
}

static void json_write_frame(FILE *f, int index, double time, const vv_face *faces, const face_notes *notes, int count) {
    fprintf(f, "%s\n  {\"index\": %d, \"time\": %.4f, \"faces\": [", index ? "," : "", index, time);
    for (int i = 0; i < count; i++) {
        if (i) fputs(", ", f);
        json_write_face(f, &faces[i], notes ? &notes[i] : NULL);
    }
    fputs("]}", f);
}

/* Digits 0-9, 3 wide and 5 high: one row a nibble (bit 2 the left column). */
static const uint8_t digit_rows[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

static void fill_block(vv_image *image, int x0, int y0, int w, int h, const uint8_t colour[3]) {
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < image->height; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < image->width; x++)
            memcpy(image->data + ((size_t)y * image->width + x) * image->channels, colour, 3);
}

/* The face's number (as --face N counts: largest first) on a tag at its box's top-left
 * corner, above the box where there is room. */
static void draw_face_number(vv_image *image, const vv_face *face, int number) {
    static const uint8_t tag[3] = {0, 255, 0}, ink[3] = {0, 0, 0};
    char text[8];
    int digits = snprintf(text, sizeof text, "%d", number);
    float side = face->box[2] - face->box[0];
    int cell = (int)(side / 36);
    cell = cell < 2 ? 2 : cell > 12 ? 12 : cell;
    int w = (digits * 4 + 1) * cell, h = 7 * cell;
    int x0 = (int)face->box[0], y0 = (int)face->box[1] - h;
    if (y0 < 0) y0 = (int)face->box[1];
    if (x0 < 0) x0 = 0;
    fill_block(image, x0, y0, w, h, tag);
    for (int d = 0; d < digits; d++)
        for (int row = 0; row < 5; row++)
            for (int col = 0; col < 3; col++)
                if (digit_rows[text[d] - '0'][row] & (4 >> col))
                    fill_block(image, x0 + (1 + d * 4 + col) * cell, y0 + (1 + row) * cell, cell, cell, ink);
}

/* notes (NULL: every face numbered in order): a face animate leaves out is boxed in grey,
 * unnumbered. */
static void draw_overlay(vv_image *image, const vv_face *faces, const face_notes *notes, int count) {
    static const uint8_t box_colour[3] = {0, 255, 0}, left_out[3] = {150, 150, 150}, point_colour[3] = {255, 40, 40};
    int thickness = image->width > 1200 ? 3 : image->width > 500 ? 2 : 1;
    float radius = (float)thickness + 0.5f;
    if (image->channels != 3) return;
    for (int i = 0; i < count; i++) {
        const vv_face *face = &faces[i];
        int number = notes ? notes[i].number : i + 1;
        image_draw_rect(image, face->box[0], face->box[1], face->box[2], face->box[3], number > 0 ? box_colour : left_out,
                        thickness);
        if (number > 0) draw_face_number(image, face, number);
        for (int k = 0; k < VV_LANDMARK_COUNT; k++)
            image_draw_circle(image, face->landmarks[k][0], face->landmarks[k][1], radius,
                              point_colour, true);
    }
}

/* Output target: a temp file that becomes `path` on success, or stdout. */
typedef struct json_output {
    FILE *file;
    const char *path;  /* NULL: stdout or a device, written in place */
    bool special;      /* a device or pipe opened by path: closed, never renamed */
    char temp[4096];
} json_output;

static vv_status json_open(json_output *out, const char *path) {
    out->path = path;
    if (!path || !strcmp(path, "-")) {
        out->file = stdout;
        out->path = NULL;
        return VV_OK;
    }
    /* Not a regular file (/dev/null, a pipe): written in place; a temp file renamed over it
     * would replace the device itself. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        out->file = fopen(path, "wb");
        out->path = NULL;
        out->temp[0] = 0;
        if (!out->file) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
        out->special = true;
        return VV_OK;
    }
    vv_status s = file_temp_path(path, out->temp, sizeof out->temp);
    if (s != VV_OK) return s;
    out->file = fopen(out->temp, "wb");
    if (!out->file) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
    return VV_OK;
}

static vv_status json_close(json_output *out, bool commit) {
    if (!out->file) return VV_OK;
    if (out->special) {
        bool failed = fclose(out->file) != 0;
        out->file = NULL;
        return failed && commit ? vv_fail(VV_ERR_WRITE, "error writing the JSON") : VV_OK;
    }
    if (!out->path) {
        fflush(stdout);
        out->file = NULL;
        return VV_OK;
    }
    bool write_error = ferror(out->file) != 0;
    write_error |= fclose(out->file) != 0;
    out->file = NULL;
    if (!commit || write_error) {
        remove(out->temp);
        return write_error && commit ? vv_fail(VV_ERR_WRITE, "error writing %s", out->path) : VV_OK;
    }
    return file_commit(out->temp, out->path);
}

/* BlazeFace takes some animals' faces for human ones (a dog's in dlib's dogs.jpg at 0.85):
 * each face is checked by the face mesh as animate checks a portrait's (face_mesh_fit,
 * FACE_MESH_NOT_A_FACE).  Faces are marked, not dropped, so that the overlay's numbers stay
 * animate --face N's; none human is "no face found", as animate says it.  notes[i].human: 1,
 * 0, or -1 for all when the mesh's model is absent (faces unchecked).  *rejected: the
 * non-human faces' count, *first_rejected the first of them (its score in *rejected_score). */
static vv_status landmarks_check_human(const face_mesh *mesh, const vv_image *image, const vv_face *found, int count,
                                       face_notes *notes, int *rejected, int *first_rejected, float *rejected_score) {
    *rejected = 0, *first_rejected = -1, *rejected_score = 0;
    for (int i = 0; i < count; i++) notes[i].human = -1;
    if (!mesh) return VV_OK; /* as animate: unchecked without the model */
    face_mesh_result *result = malloc(sizeof *result);
    vv_status s = result ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; s == VV_OK && i < count; i++) {
        s = face_mesh_fit(mesh, image, (const float(*)[2])found[i].landmarks, false, result);
        if (s == VV_ERR_INVALID_ARGUMENT) { /* a face too small or off the image for the mesh: unchecked */
            s = VV_OK;
            continue;
        }
        if (s != VV_OK) break;
        notes[i].human = result->score >= FACE_MESH_NOT_A_FACE;
        if (!notes[i].human && (*rejected)++ == 0) *first_rejected = i, *rejected_score = result->score;
    }
    free(result);
    return s;
}

static vv_status landmarks_image(vv_faces *faces, const char *models_dir, const char *input, const char *json_path,
                                 const char *overlay_path) {
    vv_image image = {0};
    vv_status s = image_load(&image, input);
    if (s != VV_OK) return s;
    vv_face found[MAX_FACES];
    face_notes notes[MAX_FACES];
    int count = 0, rejected = 0, first_rejected = -1, numbers[MAX_FACES], numbered = 0;
    float rejected_score = 0;
    s = vv_faces_detect(faces, &image, found, MAX_FACES, &count);
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_NO_FACE, "no face found in %s", input);
    face_mesh *mesh = NULL;
    if (s == VV_OK && face_mesh_new(&mesh, models_dir) != VV_OK) mesh = NULL;
    /* animate's --face N: the barely confident left out unless human by the mesh */
    if (s == VV_OK) s = faces_number_kept(found, count, mesh, &image, numbers, &numbered);
    if (s == VV_OK) {
        for (int i = 0; i < count; i++) notes[i].number = numbers[i];
        s = landmarks_check_human(mesh, &image, found, count, notes, &rejected, &first_rejected, &rejected_score);
    }
    face_mesh_free(mesh);
    if (s == VV_OK && rejected == count) s = face_mesh_fail_not_a_face(input, found[first_rejected].box, rejected_score);
    json_output out = {0};
    if (s == VV_OK) s = json_open(&out, json_path);
    if (s == VV_OK) {
        fputs("{\"source\": ", out.file);
        json_write_string(out.file, input);
        fprintf(out.file, ", \"width\": %d, \"height\": %d, \"fps\": 0, \"frames\": [", image.width,
                image.height);
        json_write_frame(out.file, 0, 0.0, found, notes, count);
        fputs("\n]}\n", out.file);
    }
    if (s == VV_OK && overlay_path) {
        draw_overlay(&image, found, notes, count);
        s = image_save(&image, overlay_path);
    }
    vv_status close_status = json_close(&out, s == VV_OK);
    if (s == VV_OK) s = close_status;
    if (s == VV_OK) {
        char left_out[160] = "";
        if (numbered < count)
            snprintf(left_out, sizeof left_out, "; %d barely confident beside the best and no face to the mesh, which animate leaves out (\"face\": null%s)",
                     count - numbered, overlay_path ? ", boxed in grey" : "");
        fprintf(stderr, "landmarks: %d face%s in %s (%dx%d)%s%s\n", count, count == 1 ? "" : "s", input, image.width, image.height,
                overlay_path && numbered > 1 ? "; the overlay numbers them as vivify animate --face N counts them" : "", left_out);
    }
    if (s == VV_OK && rejected) {
        char which[64];
        if (notes[first_rejected].number > 0) snprintf(which, sizeof which, "face %d", notes[first_rejected].number);
        else snprintf(which, sizeof which, "a face left out");
        fprintf(stderr, "landmarks: %s%s no human face by the face mesh (score %.2f; \"human\": false in the JSON)\n", which,
                rejected > 1 ? " and others are" : " is", rejected_score);
    }
    image_free(&image);
    return s;
}

/* ---- A video: decoded on a thread of its own ---------------------------------------
 *
 * Decoding (and the conversion to RGB) runs on its own thread, ahead by up to
 * DECODE_MAX_SLOTS frames or DECODE_BUDGET bytes of them (at least DECODE_MIN_SLOTS), while
 * this one tracks, writes the JSON and draws the overlay: the two overlap on two cores.
 * The decoder starts before the face models load and fills the queue meanwhile, so loading
 * them hides decoding time too.  Each slot is the producer's until it is filled, then the
 * consumer's until it is released. */
#define DECODE_MIN_SLOTS 4
#define DECODE_MAX_SLOTS 64
#define DECODE_BUDGET ((size_t)64 << 20)

typedef struct decode_queue {
    video_reader *reader;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int slots;
    vv_image frames[DECODE_MAX_SLOTS];
    double times[DECODE_MAX_SLOTS];
    long produced, consumed; /* frame counts; frame n lives in slot n % slots */
    bool done, stop;
    vv_status status;        /* the decoder's failure, with its message (vv_last_error is per thread) */
    char error[1024];
} decode_queue;

static void *decode_run(void *arg) {
    decode_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (!q->stop && q->produced - q->consumed >= q->slots) pthread_cond_wait(&q->changed, &q->lock);
        bool stop = q->stop;
        int slot = (int)(q->produced % q->slots);
        pthread_mutex_unlock(&q->lock);
        if (stop) break;
        bool got = false;
        double time = 0;
        vv_status s = video_reader_next(q->reader, &q->frames[slot], &time, &got);
        pthread_mutex_lock(&q->lock);
        if (s != VV_OK) {
            q->status = s;
            snprintf(q->error, sizeof q->error, "%s", vv_last_error());
        }
        if (s != VV_OK || !got) {
            q->done = true;
        } else {
            q->times[slot] = time;
            q->produced++;
        }
        bool done = q->done;
        pthread_cond_broadcast(&q->changed);
        pthread_mutex_unlock(&q->lock);
        if (done) break;
    }
    return NULL;
}

static vv_status decode_start(decode_queue *q, video_reader *reader, int width, int height) {
    memset(q, 0, sizeof *q);
    q->reader = reader;
    size_t frame_bytes = (size_t)(width > 0 ? width : 1) * (size_t)(height > 0 ? height : 1) * 3;
    size_t fit = DECODE_BUDGET / frame_bytes;
    q->slots = fit < DECODE_MIN_SLOTS ? DECODE_MIN_SLOTS : fit > DECODE_MAX_SLOTS ? DECODE_MAX_SLOTS : (int)fit;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    if (pthread_create(&q->thread, NULL, decode_run, q) != 0) return vv_fail(VV_ERR_INTERNAL, "cannot start the decoding thread");
    q->started = true;
    return VV_OK;
}

/* The next frame (*frame points into the queue until decode_release), or *frame NULL at the
 * end; the decoder's failure as this thread's. */
static vv_status decode_take(decode_queue *q, vv_image **frame, double *time) {
    pthread_mutex_lock(&q->lock);
    while (q->produced == q->consumed && !q->done) pthread_cond_wait(&q->changed, &q->lock);
    bool have = q->produced > q->consumed;
    int slot = (int)(q->consumed % q->slots);
    vv_status s = have ? VV_OK : q->status;
    pthread_mutex_unlock(&q->lock);
    *frame = have ? &q->frames[slot] : NULL;
    *time = have ? q->times[slot] : 0;
    return s == VV_OK ? VV_OK : vv_fail(s, "%s", q->error);
}

static void decode_release(decode_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->consumed++;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

static void decode_stop(decode_queue *q) {
    if (!q->started) return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->changed);
    for (int i = 0; i < q->slots; i++) image_free(&q->frames[i]);
    q->started = false;
}

static vv_status landmarks_video(const vv_faces_params *fp, const char *input, const char *json_path,
                                 const char *overlay_path, float smoothing) {
    video_reader *reader = NULL;
    video_writer *writer = NULL;
    face_tracker *tracker = NULL;
    vv_faces *faces = NULL;
    json_output out = {0};
    decode_queue queue;
    memset(&queue, 0, sizeof queue);
    long frames = 0, with_face = 0;
    vv_status s = video_reader_open(&reader, input);
    if (s != VV_OK) return s;
    const video_info *info = video_reader_info(reader);
    double start = time_now();
    s = decode_start(&queue, reader, info->width, info->height); /* decoding from here on, while the models load */
    if (s == VV_OK) s = vv_faces_new(&faces, fp);
    tracker_params tp = tracker_default_params();
    tp.smoothing = smoothing;
    /* The detector checks the track every 30 frames, or sooner once the face has moved 0.2
     * face sizes since the last check, instead of every 10 (the tracker's default): over the
     * 50 training clips 935 detector runs instead of 1445 (with checks on loss alone, a
     * third less CPU time), and no clip further from dlib's per-frame reference: mean error
     * 0.0186 instead of 0.0196 eye distances, worst clip 0.091 instead of 0.157 (fast motion
     * is where a track drifts; checks on loss alone: 0.0234, worst clip 0.467). */
    tp.redetect_every = 30;
    tp.redetect_motion = 0.2f;
    if (s == VV_OK) s = face_tracker_new(&tracker, faces_detector(faces), faces_predictor(faces), &tp);
    if (s == VV_OK) s = json_open(&out, json_path);
    if (s == VV_OK && overlay_path) {
        video_writer_params wp = video_writer_default_params();
        wp.width = info->width;
        wp.height = info->height;
        wp.fps = info->fps > 0 ? info->fps : 25;
        wp.audio_source = info->has_audio ? input : NULL;
        s = video_writer_open(&writer, overlay_path, &wp);
    }
    if (s == VV_OK) {
        fputs("{\"source\": ", out.file);
        json_write_string(out.file, input);
        fprintf(out.file, ", \"width\": %d, \"height\": %d, \"fps\": %.4f, \"frames\": [",
                info->width, info->height, info->fps);
    }
    progress_bar bar;
    progress_start(&bar, "landmarks", info->frame_count, "frames");
    while (s == VV_OK) {
        vv_image *frame = NULL;
        double time = 0;
        s = decode_take(&queue, &frame, &time);
        if (s != VV_OK || !frame) break;
        bool found = false;
        float box[4], score[1], points[68][2];
        s = face_tracker_update(tracker, frame, time, &found, box, score, points);
        if (s == VV_OK) {
            vv_face face;
            if (found) {
                faces_fill(&face, box, score[0], (const float(*)[2])points);
                with_face++;
            }
            json_write_frame(out.file, (int)frames, time, &face, NULL, found ? 1 : 0);
            if (writer) {
                if (found) draw_overlay(frame, &face, NULL, 1);
                s = video_writer_write(writer, frame);
            }
        }
        decode_release(&queue);
        if (s != VV_OK) break;
        frames++;
        progress_update(&bar, frames);
    }
    decode_stop(&queue);
    progress_finish(&bar);
    if (s == VV_OK && frames == 0) s = vv_fail(VV_ERR_NO_VIDEO, "no frames could be decoded from %s", input);
    if (s == VV_OK && with_face == 0) s = vv_fail(VV_ERR_NO_FACE, "no face found in %s", input);
    if (s == VV_OK) fputs("\n]}\n", out.file);
    if (writer) {
        if (s == VV_OK) s = video_writer_finish(writer);
        else video_writer_abort(writer);
    }
    vv_status close_status = json_close(&out, s == VV_OK);
    if (s == VV_OK) s = close_status;
    if (s == VV_OK) {
        double elapsed = time_now() - start;
        fprintf(stderr, "landmarks: %ld frames, face in %ld, %.1f s with the models' loading (%.1f frames/s)\n", frames,
                with_face, elapsed, elapsed > 0 ? (double)frames / elapsed : 0.0);
    }
    face_tracker_free(tracker);
    vv_faces_free(faces);
    video_reader_close(reader);
    return s;
}

int cli_landmarks(int argc, char **argv) {
    const char *output = NULL, *overlay = NULL, *models = NULL;
    float smoothing = 1.0f;
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "OUT.json", "write the JSON here (default: stdout)", 0, 0},
        {"overlay", 0, OPT_STRING, &overlay, "OUT", "draw boxes and points: .png/.jpg for an image, .mp4/.gif for a video", 0, 0},
        {"smooth", 0, OPT_FLOAT, &smoothing, "S", "temporal smoothing strength for videos, 0 = off", 0, 100},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
    };
    const char *positional[1];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 1, &npos,
                      "usage: vivify landmarks INPUT [-o OUT.json] [--overlay OUT.png|OUT.mp4] [--smooth S]\n\n"
                      "Faces, 68 landmarks and head pose of an image (PNG/JPEG) or a video (every frame, tracked).");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "vivify: landmarks needs one INPUT (see vivify landmarks --help)\n");
        return EXIT_USAGE;
    }
    const char *input = positional[0];
    if (!file_exists(input)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", input));
    /* Images by content; a file named like an image that isn't one is reported by the
     * image loader ("not an image"), not by FFmpeg's guesswork. */
    char input_ext[16];
    path_extension(input, input_ext, sizeof input_ext);
    bool is_image = image_file_is_image(input) || !strcmp(input_ext, "png") ||
                    !strcmp(input_ext, "jpg") || !strcmp(input_ext, "jpeg");
    if (overlay) {
        char ext[16];
        path_extension(overlay, ext, sizeof ext);
        bool image_ext = !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
        if (is_image != image_ext)
            return cli_fail(vv_fail(VV_ERR_INVALID_ARGUMENT,
                                    "--overlay %s: use %s for %s input", overlay,
                                    is_image ? ".png or .jpg" : ".mp4 or .gif",
                                    is_image ? "an image" : "a video"));
    }
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models;
    /* A frame-sized buffer freed each frame stays in the heap for the next one, instead of
     * going back to the kernel and coming back as fresh zeroed pages (a tenth of the time
     * on a 720p video). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    vv_status s = VV_OK;
    if (is_image) {
        vv_faces *faces = NULL;
        s = vv_faces_new(&faces, &fp);
        if (s == VV_OK) s = landmarks_image(faces, models, input, output, overlay);
        vv_faces_free(faces);
    } else {
        s = landmarks_video(&fp, input, output, overlay, smoothing);
    }
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
