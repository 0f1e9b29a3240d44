/* serve/live_worker: one live session in a process of its own (`vivify serve --live-worker
 * DIR`, see live.h): the portrait loaded once, then one frame in, one frame out through the
 * streaming API.  The frames are the client's bytes: checked (JPEG, its declared size
 * against the cap, read from its header before any pixel is decoded) and decoded here, out
 * of the server's process. */
#include "serve/live.h"
#include "serve/worker.h"
#include "img/image.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

#define SPEC_MAX_BYTES 16384
#define OUTPUT_QUALITY 80

static bool write_all(int fd, const void *data, size_t size) {
    const uint8_t *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

static bool read_all(int fd, void *data, size_t size) {
    uint8_t *p = data;
    while (size) {
        ssize_t n = read(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

static bool send_message(int fd, char kind, bool face, vv_status status, const void *payload, size_t size) {
    uint8_t header[8] = {(uint8_t)kind, face, (uint8_t)status, (uint8_t)((unsigned)status >> 8),
                         (uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16), (uint8_t)(size >> 24)};
    return write_all(fd, header, sizeof header) && (!size || write_all(fd, payload, size));
}

static bool send_error(int fd, vv_status status, const char *message) {
    return send_message(fd, 'E', false, status, message, strlen(message));
}

static vv_status read_spec(const char *dir, cJSON **out) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/live.json", dir) >= (int)sizeof path)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "live worker: folder path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return vv_fail(VV_ERR_NOT_FOUND, "live worker: cannot open %s: %s", path, strerror(errno));
    char text[SPEC_MAX_BYTES + 1];
    size_t size = 0;
    for (;;) {
        ssize_t n = read(fd, text + size, SPEC_MAX_BYTES - size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || (size += (size_t)n) >= SPEC_MAX_BYTES) break;
    }
    close(fd);
    text[size] = 0;
    *out = cJSON_Parse(text);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return vv_fail(VV_ERR_CORRUPT, "live worker: %s is not a session", path);
    }
    return VV_OK;
}

static double spec_number(const cJSON *spec, const char *key, double fallback) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, key);
    return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

static const char *spec_string(const cJSON *spec, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* One client frame to an image: a JPEG no larger than max_side a side (from its header,
 * before any decoding). */
static vv_status frame_decode(tjhandle tj, const uint8_t *data, size_t size, int max_side, vv_image *out) {
    int width = 0, height = 0, subsampling = 0, colourspace = 0;
    if (size < 3 || data[0] != 0xff || data[1] != 0xd8 || data[2] != 0xff)
        return vv_fail(VV_ERR_FORMAT, "a live frame must be a JPEG image");
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsampling, &colourspace) != 0)
        return vv_fail(VV_ERR_CORRUPT, "the frame is not a readable JPEG image");
    if (width > max_side || height > max_side)
        return vv_fail(VV_ERR_TOO_LARGE, "the frame is %dx%d pixels; live frames are at most %d pixels a side", width, height,
                       max_side);
    image_free(out); /* the last frame's pixels (image_load_memory makes a new image) */
    vv_status s = image_load_memory(out, data, size, "the frame");
    if (s == VV_ERR_CORRUPT || s == VV_ERR_FORMAT) return vv_fail(s, "the frame is not a readable JPEG image");
    return s;
}

static vv_status frame_encode(tjhandle tj, const vv_image *image, unsigned char **jpeg, unsigned long *size) {
    *jpeg = NULL;
    *size = 0;
    if (tjCompress2(tj, image->data, image->width, 0, image->height, TJPF_RGB, jpeg, size, TJSAMP_420, OUTPUT_QUALITY,
                    TJFLAG_FASTDCT) != 0)
        return vv_fail(VV_ERR_INTERNAL, "live worker: JPEG encoding failed: %s", tjGetErrorStr2(tj));
    return VV_OK;
}

vv_status serve_live_worker_run(const char *dir, int fd) {
    cJSON *spec = NULL;
    vv_image portrait = {0}, frame = {0}, result = {0}, scaled = {0};
    vv_animator *animator = NULL;
    tjhandle decoder = tjInitDecompress(), encoder = tjInitCompress();
    uint8_t *buffer = NULL;
    vv_status s = decoder && encoder ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "live worker: cannot start libjpeg-turbo");
    if (s == VV_OK) s = read_spec(dir, &spec);
    const char *source = s == VV_OK ? spec_string(spec, "source") : NULL;
    if (s == VV_OK && !source) s = vv_fail(VV_ERR_INVALID_ARGUMENT, "live worker: the session names no portrait");
    double memory_mb = s == VV_OK ? spec_number(spec, "memory_mb", 0) : 0;
    if (s == VV_OK && memory_mb > 0) s = serve_worker_limit_memory((uint64_t)memory_mb << 20);
    size_t max_bytes = s == VV_OK ? (size_t)spec_number(spec, "max_frame_bytes", 1 << 20) : 0;
    int max_side = s == VV_OK ? (int)spec_number(spec, "max_frame_side", 1280) : 0;
    int max_output = s == VV_OK ? (int)spec_number(spec, "max_output_side", 1024) : 0;
    vv_animate_params params = vv_animate_default_params();
    if (s == VV_OK) {
        params.engine = spec_string(spec, "engine") ? spec_string(spec, "engine") : params.engine;
        params.models_dir = spec_string(spec, "models_dir");
        params.background_move = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "background_move"));
        params.expression_scale = (float)spec_number(spec, "expression_scale", 1);
        params.pose_scale = (float)spec_number(spec, "pose_scale", 1);
        params.eyes = (float)spec_number(spec, "eyes", 1);
        params.lips = (float)spec_number(spec, "lips", 1);
        params.face_index = (int)spec_number(spec, "face", 1);
        params.lookahead = 0; /* causal: each frame out as soon as it is in */
        s = image_load(&portrait, source);
    }
    if (s == VV_OK) s = vv_animator_new(&animator, &portrait, &source, 1, &params);
    /* The sources' 3D heads (matte, plate: most of the start-up) are built by the first
     * call that needs them; asking for the warnings builds them now, so that the session's
     * start carries that, not its first frame (4.7 s under the sanitizers, past the idle
     * limit the server then counted from the frame's arrival).  A failure shows at the
     * first frame. */
    if (s == VV_OK) (void)vv_animator_warning(animator, 0);
    image_free(&portrait);
    int width = 0, height = 0;
    if (s == VV_OK) {
        vv_animator_output_size(animator, &width, &height);
        if (max_output > 0 && (width > max_output || height > max_output)) { /* the answer's size: scaled down */
            double scale = (double)max_output / (width > height ? width : height);
            width = (int)(width * scale + 0.5) & ~1;
            height = (int)(height * scale + 0.5) & ~1;
        }
        buffer = malloc(max_bytes ? max_bytes : 1);
        if (!buffer) s = vv_fail(VV_ERR_NO_MEMORY, "live worker: out of memory");
    }
    if (s != VV_OK) {
        char message[400];
        snprintf(message, sizeof message, "%s", vv_last_error());
        send_error(fd, s, message);
        vv_fail(s, "%s", message);
    } else {
        char ready[96];
        snprintf(ready, sizeof ready, "{\"width\":%d,\"height\":%d}", width, height);
        if (!send_message(fd, 'R', false, VV_OK, ready, strlen(ready))) s = vv_fail(VV_ERR_IO, "live worker: the server is gone");
    }
    double start = time_now();
    while (s == VV_OK) {
        uint8_t header[4];
        if (!read_all(fd, header, 4)) break; /* the server closed the session */
        size_t size = (size_t)header[0] | (size_t)header[1] << 8 | (size_t)header[2] << 16 | (size_t)header[3] << 24;
        if (size == 0) break;
        if (size == LIVE_RECALIBRATE) { /* the next face is the neutral */
            vv_status rs = vv_animator_recalibrate(animator);
            if (!(rs == VV_OK ? send_message(fd, 'K', false, VV_OK, NULL, 0) : send_error(fd, rs, vv_last_error()))) break;
            continue;
        }
        if (size > max_bytes) {
            s = vv_fail(VV_ERR_TOO_LARGE, "live worker: a frame over the cap");
            break;
        }
        if (!read_all(fd, buffer, size)) break;
        vv_status fs = frame_decode(decoder, buffer, size, max_side, &frame);
        int got = 0;
        vv_frame_info info;
        memset(&info, 0, sizeof info);
        if (fs == VV_OK) fs = vv_animator_push(animator, &frame, time_now() - start);
        if (fs == VV_OK) fs = vv_animator_pull(animator, &result, &got, &info);
        if (fs == VV_OK && !got) fs = vv_fail(VV_ERR_INTERNAL, "live worker: no output frame for the frame");
        const vv_image *answer = &result;
        if (fs == VV_OK && (result.width != width || result.height != height)) {
            fs = image_resize(&scaled, &result, width, height);
            answer = &scaled;
        }
        unsigned char *jpeg = NULL;
        unsigned long jpeg_size = 0;
        if (fs == VV_OK) fs = frame_encode(encoder, answer, &jpeg, &jpeg_size);
        bool sent = fs == VV_OK ? send_message(fd, 'F', info.face_found != 0, VV_OK, jpeg, jpeg_size)
                                : send_error(fd, fs, vv_last_error());
        tjFree(jpeg);
        if (!sent) break;
        /* a frame refused for what it is leaves the session running; a failure of ours ends it */
        if (fs != VV_OK && fs != VV_ERR_FORMAT && fs != VV_ERR_CORRUPT && fs != VV_ERR_TOO_LARGE) s = fs;
    }
    free(buffer);
    image_free(&frame);
    image_free(&result);
    image_free(&scaled);
    vv_animator_free(animator);
    cJSON_Delete(spec);
    if (decoder) tjDestroy(decoder);
    if (encoder) tjDestroy(encoder);
    return s;
}
