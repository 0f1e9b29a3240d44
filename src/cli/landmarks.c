/* cli/landmarks: `vivify landmarks INPUT [-o OUT.json] [--overlay OUT] [--smooth S]`.
 * Faces, 68 landmarks and head pose of an image, or of every frame of a video (tracked).
 * JSON is streamed frame by frame (an hour of video never sits in memory) to a temp file
 * renamed into place at the end. */
#include "cli/cli.h"
#include "face/faces.h"
#include "face/pose.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FACES 32

static bool file_is_image(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char magic[8] = {0};
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n >= 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8)) return true;
    return n >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF;
}

static void json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_write_face(FILE *f, const vv_face *face) {
    fprintf(f, "{\"box\": [%.2f, %.2f, %.2f, %.2f], \"score\": %.4f, \"landmarks\": [",
            face->box[0], face->box[1], face->box[2], face->box[3], face->score);
    for (int i = 0; i < VV_LANDMARK_COUNT; i++)
        fprintf(f, "%s[%.2f, %.2f]", i ? ", " : "", face->landmarks[i][0], face->landmarks[i][1]);
    fprintf(f, "], \"pose\": {\"yaw\": %.2f, \"pitch\": %.2f, \"roll\": %.2f}}", face->yaw,
            face->pitch, face->roll);
}

static void json_write_frame(FILE *f, int index, double time, const vv_face *faces, int count) {
    fprintf(f, "%s\n  {\"index\": %d, \"time\": %.4f, \"faces\": [", index ? "," : "", index, time);
    for (int i = 0; i < count; i++) {
        if (i) fputs(", ", f);
        json_write_face(f, &faces[i]);
    }
    fputs("]}", f);
}

static void draw_overlay(vv_image *image, const vv_face *faces, int count) {
    static const uint8_t box_colour[3] = {0, 255, 0}, point_colour[3] = {255, 40, 40};
    int thickness = image->width > 1200 ? 3 : image->width > 500 ? 2 : 1;
    float radius = (float)thickness + 0.5f;
    for (int i = 0; i < count; i++) {
        const vv_face *face = &faces[i];
        image_draw_rect(image, face->box[0], face->box[1], face->box[2], face->box[3], box_colour,
                        thickness);
        for (int k = 0; k < VV_LANDMARK_COUNT; k++)
            image_draw_circle(image, face->landmarks[k][0], face->landmarks[k][1], radius,
                              point_colour, true);
    }
}

/* Output target: a temp file that becomes `path` on success, or stdout. */
typedef struct json_output {
    FILE *file;
    const char *path;
    char temp[4096];
} json_output;

static vv_status json_open(json_output *out, const char *path) {
    out->path = path;
    if (!path || !strcmp(path, "-")) {
        out->file = stdout;
        out->path = NULL;
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

static vv_status landmarks_image(vv_faces *faces, const char *input, const char *json_path,
                                 const char *overlay_path) {
    vv_image image = {0};
    vv_status s = image_load(&image, input);
    if (s != VV_OK) return s;
    vv_face found[MAX_FACES];
    int count = 0;
    s = vv_faces_detect(faces, &image, found, MAX_FACES, &count);
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_NO_FACE, "no face found in %s", input);
    json_output out = {0};
    if (s == VV_OK) s = json_open(&out, json_path);
    if (s == VV_OK) {
        fputs("{\"source\": ", out.file);
        json_write_string(out.file, input);
        fprintf(out.file, ", \"width\": %d, \"height\": %d, \"fps\": 0, \"frames\": [", image.width,
                image.height);
        json_write_frame(out.file, 0, 0.0, found, count);
        fputs("\n]}\n", out.file);
    }
    if (s == VV_OK && overlay_path) {
        draw_overlay(&image, found, count);
        s = image_save(&image, overlay_path);
    }
    vv_status close_status = json_close(&out, s == VV_OK);
    if (s == VV_OK) s = close_status;
    if (s == VV_OK)
        fprintf(stderr, "landmarks: %d face%s in %s (%dx%d)\n", count, count == 1 ? "" : "s",
                input, image.width, image.height);
    image_free(&image);
    return s;
}

static vv_status landmarks_video(vv_faces *faces, const char *input, const char *json_path,
                                 const char *overlay_path, float smoothing) {
    video_reader *reader = NULL;
    video_writer *writer = NULL;
    face_tracker *tracker = NULL;
    json_output out = {0};
    vv_image frame = {0};
    long frames = 0, with_face = 0;
    vv_status s = video_reader_open(&reader, input);
    if (s != VV_OK) return s;
    const video_info *info = video_reader_info(reader);
    tracker_params tp = tracker_default_params();
    tp.smoothing = smoothing;
    s = face_tracker_new(&tracker, faces_detector(faces), faces_predictor(faces), &tp);
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
        bool got = false;
        double time = 0;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        bool found = false;
        float box[4], score[1], points[68][2];
        s = face_tracker_update(tracker, &frame, time, &found, box, score, points);
        if (s != VV_OK) break;
        vv_face face;
        if (found) {
            faces_fill(&face, box, score[0], (const float(*)[2])points);
            with_face++;
        }
        json_write_frame(out.file, (int)frames, time, &face, found ? 1 : 0);
        if (writer) {
            if (found) draw_overlay(&frame, &face, 1);
            s = video_writer_write(writer, &frame);
        }
        frames++;
        progress_update(&bar, frames);
    }
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
        double elapsed = time_now() - bar.start;
        fprintf(stderr, "landmarks: %ld frames, face in %ld, %.1f s (%.1f frames/s)\n", frames,
                with_face, elapsed, elapsed > 0 ? (double)frames / elapsed : 0.0);
    }
    image_free(&frame);
    face_tracker_free(tracker);
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
    bool is_image = file_is_image(input) || !strcmp(input_ext, "png") ||
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
    vv_faces *faces = NULL;
    vv_status s = vv_faces_new(&faces, &fp);
    if (s != VV_OK) return cli_fail(s);
    s = is_image ? landmarks_image(faces, input, output, overlay)
                 : landmarks_video(faces, input, output, overlay, smoothing);
    vv_faces_free(faces);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
