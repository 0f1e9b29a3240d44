/* fuzz/make_seeds: writes the seed corpora (fuzz/corpus/<target>/) with the project's own
 * writers, each seed small and valid, so fuzzing starts from files the loaders accept.
 *   fuzz_make_seeds fuzz/corpus
 * The dlib model and the TFJS graphs are serialised here by hand (the project only reads
 * those formats). */
#include "face/motion.h"
#include "img/image.h"
#include "nn/safetensors.h"
#include "train/dataset.h"
#include "video/video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;

static void check(vv_status s, const char *what) {
    if (s != VV_OK) {
        fprintf(stderr, "make_seeds: %s: %s\n", what, vv_last_error());
        exit(1);
    }
}

static void seed_path(char *out, size_t size, const char *target, const char *name) {
    snprintf(out, size, "%s/%s", root, target);
    mkdir(out, 0755);
    snprintf(out, size, "%s/%s/%s", root, target, name);
}

static void write_bytes(const char *target, const char *name, const void *data, size_t size) {
    char path[1024];
    seed_path(path, sizeof path, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
}

static void pattern_image(vv_image *image, int width, int height, int channels) {
    check(image_create(image, width, height, channels), "image_create");
    for (int i = 0; i < width * height * channels; i++) image->data[i] = (uint8_t)(i * 29 + i / 7);
}

/* ---- image ---- */
static void seeds_image(void) {
    char path[1024];
    static const int channels[3] = { 3, 1, 4 };
    for (int k = 0; k < 3; k++) {
        vv_image image;
        pattern_image(&image, 13, 7, channels[k]);
        char name[32];
        snprintf(name, sizeof name, "c%d.png", channels[k]);
        seed_path(path, sizeof path, "image", name);
        check(image_save(&image, path), "image_save png");
        if (channels[k] != 4) {
            snprintf(name, sizeof name, "c%d.jpg", channels[k]);
            seed_path(path, sizeof path, "image", name);
            check(image_save_jpeg(&image, path, 70), "image_save_jpeg");
        }
        image_free(&image);
    }
}

/* ---- video ---- */
static void seeds_video(void) {
    static const char *names[2] = { "clip.mp4", "clip.gif" };
    for (int k = 0; k < 2; k++) {
        char path[1024];
        seed_path(path, sizeof path, "video", names[k]);
        video_writer_params params = video_writer_default_params();
        params.width = 16;
        params.height = 16;
        params.fps = 10;
        video_writer *writer;
        check(video_writer_open(&writer, path, &params), "video_writer_open");
        for (int f = 0; f < 3; f++) {
            vv_image frame;
            pattern_image(&frame, 16, 16, 3);
            frame.data[f] = 255;
            check(video_writer_write(writer, &frame), "video_writer_write");
            image_free(&frame);
        }
        check(video_writer_finish(writer), "video_writer_finish");
    }
}

/* ---- dlib shape predictor: dlib's integer / float / matrix encoding ---- */
typedef struct byte_buffer { uint8_t data[8192]; size_t size; } byte_buffer;

static void put_integer(byte_buffer *b, long long value) {
    unsigned long long magnitude = value < 0 ? -(unsigned long long)value : (unsigned long long)value;
    uint8_t bytes[8];
    int n = 0;
    while (magnitude) {
        bytes[n++] = (uint8_t)magnitude;
        magnitude >>= 8;
    }
    b->data[b->size++] = (uint8_t)(n | (value < 0 ? 0x80 : 0));
    for (int i = 0; i < n; i++) b->data[b->size++] = bytes[i];
}

/* value = mantissa * 2^exponent with a 16-bit mantissa (exact for these seeds). */
static void put_float(byte_buffer *b, float value) {
    int exponent = -12;
    put_integer(b, (long long)(value * 4096.0f));
    put_integer(b, exponent);
}

static void put_column(byte_buffer *b, const float *values, int rows) {
    put_integer(b, -rows); /* current format: both dimensions negated */
    put_integer(b, -1);
    for (int i = 0; i < rows; i++) put_float(b, values[i]);
}

static void seeds_shape_predictor(void) {
    enum { PARTS = 4, CASCADES = 2, TREES = 2, PIXELS = 3 };
    byte_buffer b = { .size = 0 };
    put_integer(&b, 1); /* version */
    const float mean[2 * PARTS] = { 0.2f, 0.3f, 0.8f, 0.3f, 0.5f, 0.6f, 0.5f, 0.85f };
    put_column(&b, mean, 2 * PARTS);
    put_integer(&b, CASCADES);
    for (int c = 0; c < CASCADES; c++) {
        put_integer(&b, TREES);
        for (int t = 0; t < TREES; t++) {
            int splits = 1 + t * 2; /* depth 1 and depth 2 trees */
            put_integer(&b, splits);
            for (int s = 0; s < splits; s++) {
                put_integer(&b, s % PIXELS);
                put_integer(&b, (s + 1) % PIXELS);
                put_float(&b, (float)(s * 5 - 3));
            }
            put_integer(&b, splits + 1);
            for (int l = 0; l <= splits; l++) {
                float leaf[2 * PARTS];
                for (int i = 0; i < 2 * PARTS; i++) leaf[i] = 0.01f * (float)((l + i + c) % 5 - 2);
                put_column(&b, leaf, 2 * PARTS);
            }
        }
    }
    put_integer(&b, CASCADES);
    for (int c = 0; c < CASCADES; c++) {
        put_integer(&b, PIXELS);
        for (int i = 0; i < PIXELS; i++) put_integer(&b, (i + c) % PARTS);
    }
    put_integer(&b, CASCADES);
    for (int c = 0; c < CASCADES; c++) {
        put_integer(&b, PIXELS);
        for (int i = 0; i < PIXELS; i++) {
            put_float(&b, 0.05f * (float)(i - 1));
            put_float(&b, -0.03f * (float)(i + c));
        }
    }
    write_bytes("shape_predictor", "tiny4.dat", b.data, b.size);
}

/* ---- TFJS: model.json, NUL, the w.bin shard (fuzz_tfjs.c's input format) ---- */
static void write_tfjs(const char *name, const char *json, const void *shard, size_t shard_size) {
    size_t json_size = strlen(json);
    uint8_t *bytes = malloc(json_size + 1 + shard_size);
    memcpy(bytes, json, json_size);
    bytes[json_size] = 0;
    memcpy(bytes + json_size + 1, shard, shard_size);
    write_bytes("tfjs", name, bytes, json_size + 1 + shard_size);
    free(bytes);
}

#define DIM(n) "{\"size\":\"" #n "\"}"
#define CONST_NODE(name, dims) \
    "{\"name\":\"" name "\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_FLOAT\"},\"value\":{\"tensor\":{\"dtype\":\"DT_FLOAT\",\"tensorShape\":{\"dim\":[" dims "]}}}}}"

static void seeds_tfjs(void) {
    /* input [1,4,4,3] -> 1x1 conv to 2 channels (float32) -> bias (float16) -> Relu ->
     * MaxPool 2x2 -> Mean over H, W -> MatMul [2,3] (uint8-quantised) -> Softmax. */
    const char *json =
        "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":["
        "{\"name\":\"input\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[" DIM(-1) "," DIM(4) "," DIM(4) "," DIM(3) "]}},\"dtype\":{\"type\":\"DT_FLOAT\"}}},"
        CONST_NODE("k", DIM(1) "," DIM(1) "," DIM(3) "," DIM(2)) ","
        CONST_NODE("b", DIM(2)) ","
        CONST_NODE("m", DIM(2) "," DIM(3)) ","
        "{\"name\":\"axes\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_INT32\"},\"value\":{\"tensor\":{\"dtype\":\"DT_INT32\",\"tensorShape\":{\"dim\":[" DIM(2) "]}}}}},"
        "{\"name\":\"conv\",\"op\":\"Conv2D\",\"input\":[\"input\",\"k\"],\"attr\":{\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"padding\":{\"s\":\"U0FNRQ==\"},\"data_format\":{\"s\":\"TkhXQw==\"},\"dilations\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}}}},"
        "{\"name\":\"bias\",\"op\":\"BiasAdd\",\"input\":[\"conv\",\"b\"],\"attr\":{}},"
        "{\"name\":\"relu\",\"op\":\"Relu\",\"input\":[\"bias\"],\"attr\":{}},"
        "{\"name\":\"pool\",\"op\":\"MaxPool\",\"input\":[\"relu\"],\"attr\":{\"ksize\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"padding\":{\"s\":\"VkFMSUQ=\"}}},"
        "{\"name\":\"mean\",\"op\":\"Mean\",\"input\":[\"pool\",\"axes\"],\"attr\":{\"keep_dims\":{\"b\":false}}},"
        "{\"name\":\"mm\",\"op\":\"MatMul\",\"input\":[\"mean\",\"m\"],\"attr\":{\"transpose_a\":{\"b\":false},\"transpose_b\":{\"b\":false}}},"
        "{\"name\":\"out\",\"op\":\"Softmax\",\"input\":[\"mm\"],\"attr\":{}}"
        "]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":["
        "{\"name\":\"k\",\"shape\":[1,1,3,2],\"dtype\":\"float32\"},"
        "{\"name\":\"b\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\",\"original_dtype\":\"float32\"}},"
        "{\"name\":\"m\",\"shape\":[2,3],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":-1.0,\"scale\":0.01,\"original_dtype\":\"float32\"}},"
        "{\"name\":\"axes\",\"shape\":[2],\"dtype\":\"int32\"}"
        "]}]}";
    uint8_t shard[6 * 4 + 2 * 2 + 6 + 2 * 4];
    size_t at = 0;
    const float k[6] = { 0.5f, -0.25f, 1.0f, 0.75f, -0.5f, 0.125f };
    memcpy(shard + at, k, sizeof k);
    at += sizeof k;
    const uint16_t b[2] = { float_to_half(0.1f), float_to_half(-0.2f) };
    memcpy(shard + at, b, sizeof b);
    at += sizeof b;
    const uint8_t m[6] = { 0, 50, 100, 150, 200, 250 };
    memcpy(shard + at, m, sizeof m);
    at += sizeof m;
    const int32_t axes[2] = { 1, 2 };
    memcpy(shard + at, axes, sizeof axes);
    at += sizeof axes;
    write_tfjs("conv_pool_mean.bin", json, shard, at);

    /* Elementwise and shape ops: Pad, Add / Mul with broadcast, Reshape, ConcatV2. */
    const char *json2 =
        "{\"modelTopology\":{\"node\":["
        "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[" DIM(1) "," DIM(2) "," DIM(2) "," DIM(1) "]}}}},"
        CONST_NODE("c", DIM(1)) ","
        "{\"name\":\"pads\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_INT32\"},\"value\":{\"tensor\":{\"dtype\":\"DT_INT32\",\"tensorShape\":{\"dim\":[" DIM(4) "," DIM(2) "]}}}}},"
        "{\"name\":\"shape\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_INT32\"},\"value\":{\"tensor\":{\"dtype\":\"DT_INT32\",\"tensorShape\":{\"dim\":[" DIM(2) "]}}}}},"
        "{\"name\":\"axis\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_INT32\"},\"value\":{\"tensor\":{\"dtype\":\"DT_INT32\",\"tensorShape\":{}}}}},"
        "{\"name\":\"padded\",\"op\":\"Pad\",\"input\":[\"x\",\"pads\"],\"attr\":{}},"
        "{\"name\":\"sum\",\"op\":\"AddV2\",\"input\":[\"padded\",\"c\"],\"attr\":{}},"
        "{\"name\":\"prod\",\"op\":\"Mul\",\"input\":[\"sum\",\"sum\"],\"attr\":{}},"
        "{\"name\":\"flat\",\"op\":\"Reshape\",\"input\":[\"prod\",\"shape\"],\"attr\":{}},"
        "{\"name\":\"both\",\"op\":\"ConcatV2\",\"input\":[\"flat\",\"flat\",\"axis\"],\"attr\":{\"N\":{\"i\":\"2\"}}},"
        "{\"name\":\"y\",\"op\":\"Sigmoid\",\"input\":[\"both\"],\"attr\":{}}"
        "]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":["
        "{\"name\":\"c\",\"shape\":[1],\"dtype\":\"float32\"},"
        "{\"name\":\"pads\",\"shape\":[4,2],\"dtype\":\"int32\"},"
        "{\"name\":\"shape\",\"shape\":[2],\"dtype\":\"int32\"},"
        "{\"name\":\"axis\",\"shape\":[],\"dtype\":\"int32\"}"
        "]}]}";
    uint8_t shard2[4 + 8 * 4 + 2 * 4 + 4];
    at = 0;
    const float c = 0.5f;
    memcpy(shard2 + at, &c, 4);
    at += 4;
    const int32_t pads[8] = { 0, 0, 1, 1, 1, 1, 0, 0 };
    memcpy(shard2 + at, pads, sizeof pads);
    at += sizeof pads;
    const int32_t shape[2] = { 1, -1 };
    memcpy(shard2 + at, shape, sizeof shape);
    at += sizeof shape;
    const int32_t axis = 1;
    memcpy(shard2 + at, &axis, 4);
    at += 4;
    write_tfjs("pad_add_reshape_concat.bin", json2, shard2, at);

    /* The selfie matte's and the face mesh's ops: AvgPool 2x2 -> Prelu (per-channel slopes)
     * -> ResizeBilinear back to 4x4 (half-pixel centres) -> Conv2DBackpropInput 2x2 stride 2
     * to [1,8,8,1] -> AddN of it with itself. */
    const char *json3 =
        "{\"modelTopology\":{\"node\":["
        "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[" DIM(1) "," DIM(4) "," DIM(4) "," DIM(2) "]}}}},"
        CONST_NODE("alpha", DIM(2)) ","
        CONST_NODE("filter", DIM(2) "," DIM(2) "," DIM(1) "," DIM(2)) ","
        "{\"name\":\"size\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_INT32\"},\"value\":{\"tensor\":{\"dtype\":\"DT_INT32\",\"tensorShape\":{\"dim\":[" DIM(2) "]}}}}},"
        "{\"name\":\"out_shape\",\"op\":\"Const\",\"attr\":{\"dtype\":{\"type\":\"DT_INT32\"},\"value\":{\"tensor\":{\"dtype\":\"DT_INT32\",\"tensorShape\":{\"dim\":[" DIM(4) "]}}}}},"
        "{\"name\":\"pool\",\"op\":\"AvgPool\",\"input\":[\"x\"],\"attr\":{\"ksize\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"padding\":{\"s\":\"VkFMSUQ=\"}}},"
        "{\"name\":\"act\",\"op\":\"Prelu\",\"input\":[\"pool\",\"alpha\"],\"attr\":{}},"
        "{\"name\":\"up\",\"op\":\"ResizeBilinear\",\"input\":[\"act\",\"size\"],\"attr\":{\"align_corners\":{\"b\":false},\"half_pixel_centers\":{\"b\":true}}},"
        "{\"name\":\"tconv\",\"op\":\"Conv2DBackpropInput\",\"input\":[\"out_shape\",\"filter\",\"up\"],\"attr\":{\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},\"padding\":{\"s\":\"U0FNRQ==\"}}},"
        "{\"name\":\"y\",\"op\":\"AddN\",\"input\":[\"tconv\",\"tconv\"],\"attr\":{\"N\":{\"i\":\"2\"}}}"
        "]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":["
        "{\"name\":\"alpha\",\"shape\":[2],\"dtype\":\"float32\"},"
        "{\"name\":\"filter\",\"shape\":[2,2,1,2],\"dtype\":\"float32\"},"
        "{\"name\":\"size\",\"shape\":[2],\"dtype\":\"int32\"},"
        "{\"name\":\"out_shape\",\"shape\":[4],\"dtype\":\"int32\"}"
        "]}]}";
    uint8_t shard3[2 * 4 + 8 * 4 + 2 * 4 + 4 * 4];
    at = 0;
    const float alpha[2] = { 0.25f, -0.5f };
    memcpy(shard3 + at, alpha, sizeof alpha);
    at += sizeof alpha;
    const float filter[8] = { 0.5f, -0.25f, 1.0f, 0.75f, -0.5f, 0.125f, 0.3f, -0.7f };
    memcpy(shard3 + at, filter, sizeof filter);
    at += sizeof filter;
    const int32_t size[2] = { 4, 4 };
    memcpy(shard3 + at, size, sizeof size);
    at += sizeof size;
    const int32_t out_shape[4] = { 1, 8, 8, 1 };
    memcpy(shard3 + at, out_shape, sizeof out_shape);
    at += sizeof out_shape;
    write_tfjs("pool_prelu_resize_tconv_addn.bin", json3, shard3, at);
}

/* ---- safetensors ---- */
static void seeds_safetensors(void) {
    char path[1024];
    seed_path(path, sizeof path, "safetensors", "three_dtypes.safetensors");
    const float a[6] = { 1, -2, 3.5f, 0, 1e-3f, 65504 };
    const int64_t shape_a[2] = { 2, 3 }, shape_b[1] = { 4 }, shape_c[3] = { 1, 1, 2 };
    const safetensors_entry entries[3] = {
        { "a.weight", SAFETENSORS_F32, 2, shape_a, a },
        { "b", SAFETENSORS_F16, 1, shape_b, a },
        { "c/bf16", SAFETENSORS_BF16, 3, shape_c, a + 2 },
    };
    const char *keys[1] = { "format" }, *values[1] = { "pt" };
    check(safetensors_write(path, entries, 3, keys, values, 1), "safetensors_write");
    seed_path(path, sizeof path, "safetensors", "scalar.safetensors");
    const safetensors_entry scalar = { "s", SAFETENSORS_F32, 0, shape_a, a };
    check(safetensors_write(path, &scalar, 1, NULL, NULL, 0), "safetensors_write scalar");
}

/* ---- motion JSON ---- */
static void seeds_motion(void) {
    char path[1024];
    motion_track track;
    check(motion_builtin(&track, "talk", 0.3, 10), "motion_builtin");
    seed_path(path, sizeof path, "motion", "talk3.json");
    check(motion_save(&track, path), "motion_save");
    track.found[0] = 0; /* a gap: written as null, filled on load */
    seed_path(path, sizeof path, "motion", "gap.json");
    check(motion_save(&track, path), "motion_save gap");
    motion_track_free(&track);
}

/* ---- landmark JSON (`vivify landmarks` output and the dlib reference lines) ---- */
static void landmark_list(char *out, size_t size, float shift) {
    size_t n = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < 68 && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s[%.2f,%.2f]", i ? "," : "", 10 + 0.5f * (float)i + shift,
                              20 + 0.25f * (float)(i % 17));
    if (n < size) snprintf(out + n, size - n, "]");
}

static void seeds_landmark_json(void) {
    char a[2048], b[2048], text[8192];
    landmark_list(a, sizeof a, 0);
    landmark_list(b, sizeof b, 3.5f);
    /* two frames: two faces (the larger taken), then none */
    int n = snprintf(text, sizeof text,
                     "{\"width\": 64, \"height\": 48, \"fps\": 25, \"frames\": [\n"
                     " {\"faces\": [{\"box\": [1, 2, 30, 40], \"landmarks\": %s}, {\"landmarks\": %s}]},\n"
                     " {\"faces\": []}]}\n", a, b);
    write_bytes("landmark_json", "two_frames.json", text, (size_t)n);
    /* JSON lines: a frame, a blank line, a frame without faces, a frame */
    n = snprintf(text, sizeof text,
                 "{\"file\": \"f0.png\", \"width\": 64, \"height\": 48, \"faces\": [{\"score\": 0.9, \"landmarks\": %s}]}\n"
                 "\n{\"file\": \"f1.png\", \"faces\": []}\n{\"faces\": [{\"landmarks\": %s}]}\n", a, b);
    write_bytes("landmark_json", "three_lines.jsonl", text, (size_t)n);
}

/* ---- dataset ---- */
static void seeds_dataset(void) {
    char path[1024], jpeg_path[1024];
    seed_path(path, sizeof path, "dataset", "two_clips.vvds");
    seed_path(jpeg_path, sizeof jpeg_path, "dataset", "frame.jpg.tmp");
    dataset_writer *writer;
    check(dataset_writer_open(&writer, path, 8), "dataset_writer_open");
    static const char *clips[2] = { "fom_00_ann_clip1", "bob" };
    for (int c = 0; c < 2; c++) {
        const int crop[3] = { 4, 2, 30 };
        char identity[DATASET_NAME_SIZE];
        dataset_identity_from_name(clips[c], identity, sizeof identity);
        check(dataset_writer_begin_clip(writer, clips[c], identity, 40, 32, crop), "begin_clip");
        for (int f = 0; f < 3 - c; f++) {
            vv_image image;
            pattern_image(&image, 8, 8, 3);
            image.data[f] ^= 0xFF;
            check(image_save_jpeg(&image, jpeg_path, 50), "image_save_jpeg");
            image_free(&image);
            uint8_t *jpeg;
            size_t jpeg_size;
            check(file_read_all(jpeg_path, 1 << 20, &jpeg, &jpeg_size), "file_read_all");
            float landmarks[68][2];
            for (int i = 0; i < 68; i++) landmarks[i][0] = (float)(i % 8), landmarks[i][1] = (float)(i / 9);
            check(dataset_writer_add_frame(writer, jpeg, jpeg_size, landmarks, f * 2), "add_frame");
            free(jpeg);
        }
        check(dataset_writer_end_clip(writer, 6), "end_clip");
    }
    remove(jpeg_path);
    uint64_t bytes;
    check(dataset_writer_finish(writer, "{\"size\":8,\"seed\":1}", &bytes), "dataset_writer_finish");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_FOLDER\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    seeds_image();
    seeds_video();
    seeds_shape_predictor();
    seeds_tfjs();
    seeds_safetensors();
    seeds_motion();
    seeds_landmark_json();
    seeds_dataset();
    printf("make_seeds: wrote the seed corpora under %s\n", root);
    return 0;
}
