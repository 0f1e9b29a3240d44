/* TFJS graph-model loader and runner.
 * 1. BlazeFace and faceres (from .cache/models; skipped with 77 when absent) against
 *    outputs of @tensorflow/tfjs's CPU backend on the same inputs
 *    (scripts/fixtures/tfjs_reference/generate.js wrote tests/fixtures/tfjs_*.bin).
 * 2. A tiny hand-written model with uint8- and float16-quantised weights, checked
 *    against values computed by hand.
 * 3. Malformed model files: each must fail cleanly (run under ASan in ./dev test). */
#include "nn/tfjs.h"
#include "test.h"

#include <stdint.h>

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"

static uint8_t *face_bytes;

/* Byte of the synthetic inputs, as in generate.js. */
static int input_byte(int pattern, int y, int x, int c) {
    if (pattern) return (x * 7 + y * 13 + c * 29) % 256;
    return face_bytes[((size_t)y * 256 + x) * 3 + c];
}

static void make_input(tensor *t, int pattern, int size, int offset, double scale, double shift) {
    int shape[4] = {1, size, size, 3};
    CHECK_OK(tensor_alloc(t, 4, shape));
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            for (int c = 0; c < 3; c++)
                t->data[((size_t)y * size + x) * 3 + c] =
                    (float)(input_byte(pattern, y + offset, x + offset, c) * scale + shift);
}

/* Max |a-b| and ||a-b|| / ||b||. */
static void compare(const float *a, const float *b, size_t n, double *max_abs, double *rel) {
    double diff2 = 0, ref2 = 0;
    *max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > *max_abs || d != d) *max_abs = d;
        diff2 += d * d;
        ref2 += (double)b[i] * b[i];
    }
    *rel = ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2);
}

static void test_blazeface(const char *path) {
    tfjs_model *model = NULL;
    CHECK_OK(tfjs_model_load(&model, path));
    if (!model) return;
    int shape[TENSOR_MAX_DIMS];
    CHECK(tfjs_model_input_shape(model, shape) == 4);
    CHECK(shape[0] == 1 && shape[1] == 256 && shape[2] == 256 && shape[3] == 3);
    CHECK(tfjs_model_output_count(model) == 4);

    const char *names[4] = {"Identity", "Identity_1:0", "Identity_2", "Identity_3"};
    const size_t sizes[4] = {512, 384, 512 * 16, 384 * 16};
    for (int pattern = 0; pattern < 2; pattern++) {
        tensor input, outputs[4];
        make_input(&input, pattern, 256, 0, 1 / 127.5, -1);
        double t0 = time_now();
        CHECK_OK(tfjs_model_run_outputs(model, &input, names, 4, outputs));
        double ms = (time_now() - t0) * 1e3;
        const char *file = pattern ? FIXTURES "tfjs_blazeface_pattern.bin" : FIXTURES "tfjs_blazeface_face.bin";
        float *ref = test_read_floats(file, 896 * 17);
        CHECK_MSG(ref != NULL, "cannot read %s", file);
        size_t offset = 0;
        for (int i = 0; i < 4 && ref; i++) {
            CHECK(outputs[i].size == sizes[i]);
            if (outputs[i].size != sizes[i]) break;
            CHECK(outputs[i].ndim == 3 && outputs[i].shape[0] == 1);
            double max_abs, rel;
            compare(outputs[i].data, ref + offset, sizes[i], &max_abs, &rel);
            /* Scores are logits (|x| < 30), boxes are pixels (|x| < 300): float32 with
             * different summation orders stays well inside 2e-3. */
            CHECK_MSG(max_abs <= 2e-3 && rel <= 1e-4, "blazeface %s %s: max abs %g rel %g",
                      pattern ? "pattern" : "face", names[i], max_abs, rel);
            printf("blazeface %-7s %-12s max abs err %.2e rel %.2e\n", pattern ? "pattern" : "face",
                   names[i], max_abs, rel);
            offset += sizes[i];
        }
        if (!pattern && outputs[1].size == 384) {
            /* The face is found: anchor 168 of the 16x16 head scores sigmoid 0.886. */
            float best = -1e9f;
            int best_i = -1;
            for (int i = 0; i < 384; i++)
                if (outputs[1].data[i] > best) best = outputs[1].data[i], best_i = i;
            CHECK(best_i == 168);
            CHECK_NEAR(1 / (1 + exp(-best)), 0.8865, 1e-3);
        }
        printf("blazeface %s: %.1f ms (debug/sanitizer builds are slower)\n", pattern ? "pattern" : "face", ms);

        /* One output by name gives the same values. */
        tensor single;
        CHECK_OK(tfjs_model_run(model, &input, "Identity_3:0", &single));
        CHECK(single.size == outputs[3].size &&
              memcmp(single.data, outputs[3].data, single.size * sizeof(float)) == 0);
        tensor_free(&single);
        for (int i = 0; i < 4; i++) tensor_free(&outputs[i]);
        free(ref);

        /* A wrong input shape is refused. */
        int bad_shape[4] = {1, 128, 256, 3};
        tensor bad = tensor_view(input.data, 4, bad_shape);
        CHECK(tfjs_model_run(model, &bad, NULL, &single) == VV_ERR_INVALID_ARGUMENT);
        CHECK(tfjs_model_run(model, &input, "no_such_node", &single) == VV_ERR_INVALID_ARGUMENT);
        tensor_free(&input);
    }
    tfjs_model_free(model);
}

static void test_faceres(const char *path) {
    tfjs_model *model = NULL;
    CHECK_OK(tfjs_model_load(&model, path));
    if (!model) return;
    int shape[TENSOR_MAX_DIMS];
    CHECK(tfjs_model_input_shape(model, shape) == 4);
    CHECK(shape[0] == -1 && shape[1] == 224 && shape[2] == 224 && shape[3] == 3);
    const char *names[3] = {"global_pooling/Mean", "gender_pred/Sigmoid", "age_pred/Softmax"};
    const size_t sizes[3] = {1024, 1, 100};
    for (int pattern = 0; pattern < 2; pattern++) {
        tensor input, outputs[3];
        make_input(&input, pattern, 224, 16, 1, 0);
        double t0 = time_now();
        CHECK_OK(tfjs_model_run_outputs(model, &input, names, 3, outputs));
        double ms = (time_now() - t0) * 1e3;
        const char *file = pattern ? FIXTURES "tfjs_faceres_pattern.bin" : FIXTURES "tfjs_faceres_face.bin";
        float *ref = test_read_floats(file, 1125);
        CHECK_MSG(ref != NULL, "cannot read %s", file);
        size_t offset = 0;
        for (int i = 0; i < 3 && ref; i++) {
            CHECK(outputs[i].size == sizes[i]);
            if (outputs[i].size != sizes[i]) break;
            double max_abs, rel;
            compare(outputs[i].data, ref + offset, sizes[i], &max_abs, &rel);
            /* The embedding: max abs and relative error both <= 1e-3. */
            CHECK_MSG(max_abs <= 1e-3 && rel <= 1e-3, "faceres %s %s: max abs %g rel %g",
                      pattern ? "pattern" : "face", names[i], max_abs, rel);
            printf("faceres %-7s %-20s max abs err %.2e rel %.2e\n", pattern ? "pattern" : "face",
                   names[i], max_abs, rel);
            offset += sizes[i];
        }
        CHECK(outputs[0].ndim == 2 && outputs[0].shape[1] == 1024);
        printf("faceres %s: %.1f ms\n", pattern ? "pattern" : "face", ms);
        for (int i = 0; i < 3; i++) tensor_free(&outputs[i]);
        free(ref);
        tensor_free(&input);
    }
    tfjs_model_free(model);
}

/* ---- A tiny model: input [1,2,2,2] → _FusedConv2D 1x1 (uint8 weights, float16 bias,
 * BiasAdd+Relu) → Mul by a float32 [2] vector → Mean over H,W (int32 axes) → Reshape. ---- */

static const char *tiny_json =
    "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":["
    "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[{\"size\":\"1\"},{\"size\":\"2\"},{\"size\":\"2\"},{\"size\":\"2\"}]}}}},"
    "{\"name\":\"w\",\"op\":\"Const\"},"
    "{\"name\":\"b\",\"op\":\"Const\"},"
    "{\"name\":\"s\",\"op\":\"Const\"},"
    "{\"name\":\"axes\",\"op\":\"Const\"},"
    "{\"name\":\"shape\",\"op\":\"Const\"},"
    "{\"name\":\"conv\",\"op\":\"_FusedConv2D\",\"input\":[\"x\",\"w\",\"b\"],\"attr\":{"
    "\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"padding\":{\"s\":\"VkFMSUQ=\"},"
    "\"data_format\":{\"s\":\"TkhXQw==\"},\"num_args\":{\"i\":\"1\"},"
    "\"fused_ops\":{\"list\":{\"s\":[\"Qmlhc0FkZA==\",\"UmVsdQ==\"]}}}},"
    "{\"name\":\"mul\",\"op\":\"Mul\",\"input\":[\"conv\",\"s\"]},"
    "{\"name\":\"mean\",\"op\":\"Mean\",\"input\":[\"mul:0\",\"axes\",\"^conv\"],\"attr\":{\"keep_dims\":{\"b\":false}}},"
    "{\"name\":\"out\",\"op\":\"Reshape\",\"input\":[\"mean\",\"shape\"]}"
    "]},\"weightsManifest\":[{\"paths\":[\"tiny.bin\"],\"weights\":["
    "{\"name\":\"w\",\"shape\":[1,1,2,2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":-1,\"scale\":0.5}},"
    "{\"name\":\"b\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}},"
    "{\"name\":\"s\",\"shape\":[2],\"dtype\":\"float32\"},"
    "{\"name\":\"axes\",\"shape\":[2],\"dtype\":\"int32\"},"
    "{\"name\":\"shape\",\"shape\":[2],\"dtype\":\"int32\"}"
    "]}]}";

/* w = q*0.5 - 1 with q = {4, 2, 0, 3} → [[1, 0], [-1, 0.5]] (rows: input channel);
 * b = half {0.5, -2.0} = 0x3800, 0xC000; s = {2, 3}; axes = {1, 2}; shape = {-1, 2}. */
static size_t tiny_bin(uint8_t *buf) {
    size_t n = 0;
    const uint8_t q[4] = {4, 2, 0, 3};
    memcpy(buf + n, q, 4), n += 4;
    const uint8_t half[4] = {0x00, 0x38, 0x00, 0xC0};
    memcpy(buf + n, half, 4), n += 4;
    const float s[2] = {2, 3};
    memcpy(buf + n, s, 8), n += 8;
    const int32_t axes[2] = {1, 2}, shape[2] = {-1, 2};
    memcpy(buf + n, axes, 8), n += 8;
    memcpy(buf + n, shape, 8), n += 8;
    return n;
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);
}

static char *replace(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    if (!at) {
        fprintf(stderr, "replace: '%s' not in the model text\n", from);
        exit(1);
    }
    size_t len = strlen(text) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_tiny(const char *dir) {
    char json_path[4200], bin_path[4200];
    snprintf(json_path, sizeof json_path, "%s/tiny.json", dir);
    snprintf(bin_path, sizeof bin_path, "%s/tiny.bin", dir);
    uint8_t bin[64];
    size_t bin_size = tiny_bin(bin);
    write_file(bin_path, bin, bin_size);
    write_file(json_path, tiny_json, strlen(tiny_json));

    tfjs_model *model = NULL;
    CHECK_OK(tfjs_model_load(&model, json_path));
    if (!model) return;
    CHECK(tfjs_model_output_count(model) == 1 && strcmp(tfjs_model_output_name(model, 0), "out") == 0);
    /* x[h][w] = (a, b) per pixel */
    float x[8] = {1, 2, 3, -1, 0, 4, -2, -3};
    int shape[4] = {1, 2, 2, 2};
    tensor input = tensor_view(x, 4, shape);
    tensor out;
    CHECK_OK(tfjs_model_run(model, &input, NULL, &out));
    /* conv: o0 = a*1 + b*(-1) + 0.5, o1 = a*0 + b*0.5 - 2, relu, then *2 and *3. */
    double expect[2] = {0, 0};
    for (int p = 0; p < 4; p++) {
        double a = x[2 * p], b = x[2 * p + 1];
        double o0 = a - b + 0.5, o1 = 0.5 * b - 2;
        expect[0] += (o0 > 0 ? o0 : 0) * 2 / 4;
        expect[1] += (o1 > 0 ? o1 : 0) * 3 / 4;
    }
    CHECK(out.ndim == 2 && out.shape[0] == 1 && out.shape[1] == 2);
    if (out.size == 2) {
        CHECK_NEAR(out.data[0], expect[0], 1e-6);
        CHECK_NEAR(out.data[1], expect[1], 1e-6);
    }
    tensor_free(&out);
    tfjs_model_free(model);

    /* Malformed variants: each must fail with the right kind of error. */
    struct {
        const char *what, *from, *to;
        vv_status want;
    } cases[] = {
        {"unknown input", "[\"conv\",\"s\"]", "[\"conv\",\"nope\"]", VV_ERR_MODEL},
        {"second output of a single-output op", "[\"conv\",\"s\"]", "[\"conv:1\",\"s\"]", VV_ERR_MODEL},
        {"cycle", "\"input\":[\"x\",\"w\",\"b\"]", "\"input\":[\"out\",\"w\",\"b\"]", VV_ERR_MODEL},
        {"control cycle", "[\"mean\",\"shape\"]", "[\"mean\",\"shape\",\"^out\"]", VV_ERR_MODEL},
        {"duplicate node name", "{\"name\":\"s\",\"op\":\"Const\"}", "{\"name\":\"w\",\"op\":\"Const\"}", VV_ERR_MODEL},
        {"weight entry missing", "{\"name\":\"s\",\"shape\":[2],\"dtype\":\"float32\"},", "", VV_ERR_CORRUPT},
        {"const without weights", "{\"name\":\"s\",\"op\":\"Const\"},", "{\"name\":\"s\",\"op\":\"Const\"},{\"name\":\"s2\",\"op\":\"Const\"},", VV_ERR_MODEL},
        {"shape larger than the shard", "\"shape\":[2],\"dtype\":\"float32\"}", "\"shape\":[200],\"dtype\":\"float32\"}", VV_ERR_CORRUPT},
        {"shape smaller than the shard", "\"shape\":[2],\"dtype\":\"float32\"}", "\"shape\":[1],\"dtype\":\"float32\"}", VV_ERR_CORRUPT},
        {"overflowing shape", "\"shape\":[2],\"dtype\":\"float32\"}", "\"shape\":[2147483647,2147483647,2147483647],\"dtype\":\"float32\"}", VV_ERR_TOO_LARGE},
        {"negative dimension", "\"shape\":[2],\"dtype\":\"float32\"}", "\"shape\":[-2],\"dtype\":\"float32\"}", VV_ERR_MODEL},
        {"shape as text", "\"shape\":[2],\"dtype\":\"float32\"}", "\"shape\":\"2\",\"dtype\":\"float32\"}", VV_ERR_MODEL},
        {"weight for no node", "{\"name\":\"s\",\"shape\"", "{\"name\":\"zz\",\"shape\"", VV_ERR_MODEL},
        {"missing shard", "\"tiny.bin\"", "\"other.bin\"", VV_ERR_MODEL},
        {"shard outside the folder", "\"tiny.bin\"", "\"../tiny.bin\"", VV_ERR_MODEL},
        {"absolute shard path", "\"tiny.bin\"", "\"/etc/passwd\"", VV_ERR_MODEL},
        {"strides of 3", "\"i\":[\"1\",\"1\",\"1\",\"1\"]", "\"i\":[\"1\",\"1\",\"1\"]", VV_ERR_MODEL},
        {"zero stride", "\"i\":[\"1\",\"1\",\"1\",\"1\"]", "\"i\":[\"1\",\"0\",\"1\",\"1\"]", VV_ERR_MODEL},
        {"huge stride", "\"i\":[\"1\",\"1\",\"1\",\"1\"]", "\"i\":[\"1\",\"99999999999999999999\",\"1\",\"1\"]", VV_ERR_MODEL},
        {"bad padding", "\"padding\":{\"s\":\"VkFMSUQ=\"}", "\"padding\":{\"s\":\"!!\"}", VV_ERR_MODEL},
        {"num_args mismatch", "\"num_args\":{\"i\":\"1\"}", "\"num_args\":{\"i\":\"2\"}", VV_ERR_MODEL},
        {"fused op without its input", "\"input\":[\"x\",\"w\",\"b\"]", "\"input\":[\"x\",\"w\"]", VV_ERR_MODEL},
        {"unsupported op", "\"op\":\"Mul\"", "\"op\":\"Frobnicate\"", VV_ERR_UNSUPPORTED},
        {"float used as reshape shape", "[\"mean\",\"shape\"]", "[\"mean\",\"s\"]", VV_ERR_UNSUPPORTED},
        {"int used as float", "[\"conv\",\"s\"]", "[\"conv\",\"axes\"]", VV_ERR_UNSUPPORTED},
        {"bad quantization", "\"min\":-1,\"scale\":0.5", "\"min\":-1", VV_ERR_MODEL},
        {"no input", "\"op\":\"Placeholder\"", "\"op\":\"Const\"", VV_ERR_MODEL},
        {"no nodes", "\"node\":[", "\"node\":[],\"x\":[", VV_ERR_MODEL},
        {"layers model", "\"modelTopology\":{\"node\"", "\"modelTopology\":{\"layers\"", VV_ERR_MODEL},
    };
    char path[4200];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = replace(tiny_json, cases[i].from, cases[i].to);
        write_file(path, text, strlen(text));
        free(text);
        model = NULL;
        vv_status s = tfjs_model_load(&model, path);
        CHECK_MSG(s == cases[i].want && model == NULL, "%s: got %s (%s)", cases[i].what,
                  vv_status_string(s), vv_last_error());
        if (s != VV_OK && vv_last_error()[0] == 0) CHECK_MSG(0, "%s: no error message", cases[i].what);
        tfjs_model_free(model);
    }
    /* Truncated JSON at many points, and a truncated shard. */
    size_t len = strlen(tiny_json);
    for (size_t cut = 0; cut < len; cut += 37) {
        write_file(path, tiny_json, cut);
        model = NULL;
        vv_status s = tfjs_model_load(&model, path);
        CHECK_MSG(s == VV_ERR_MODEL && !model, "JSON cut at %zu: %s", cut, vv_status_string(s));
        tfjs_model_free(model);
    }
    write_file(bin_path, bin, bin_size - 3);
    model = NULL;
    CHECK(tfjs_model_load(&model, json_path) == VV_ERR_CORRUPT && !model);
    write_file(bin_path, bin, bin_size);
    CHECK(tfjs_model_load(&model, VV_SOURCE_DIR "/tests/fixtures/no_such_model.json") == VV_ERR_MODEL);

    /* Shapes that only fail when running: a 1x1 input into a VALID 3x3 max pool. */
    char *pool = replace(tiny_json, "{\"name\":\"mul\",\"op\":\"Mul\",\"input\":[\"conv\",\"s\"]}",
                         "{\"name\":\"mul\",\"op\":\"MaxPool\",\"input\":[\"conv\"],\"attr\":{"
                         "\"ksize\":{\"list\":{\"i\":[\"1\",\"3\",\"3\",\"1\"]}},"
                         "\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"padding\":{\"s\":\"VkFMSUQ=\"}}}");
    write_file(path, pool, strlen(pool));
    free(pool);
    model = NULL;
    CHECK_OK(tfjs_model_load(&model, path));
    if (model) {
        CHECK(tfjs_model_run(model, &input, NULL, &out) == VV_ERR_INVALID_ARGUMENT);
        CHECK(out.data == NULL);
        tfjs_model_free(model);
    }
}

/* Real models cut short or with a damaged shard. */
static void test_real_damaged(const char *json_path, const char *dir) {
    uint8_t *text;
    size_t size;
    if (file_read_all(json_path, 1 << 24, &text, &size) != VV_OK) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/half.json", dir);
    write_file(path, text, size / 2);
    tfjs_model *model = NULL;
    CHECK(tfjs_model_load(&model, path) == VV_ERR_MODEL && !model);
    /* Whole JSON, but its shard (blazeface.bin) absent from the scratch folder. */
    write_file(path, text, size);
    CHECK(tfjs_model_load(&model, path) == VV_ERR_MODEL && !model);
    free(text);
}

int main(void) {
    const char *dir = test_tmp_dir("test_tfjs");
    test_tiny(dir);

    size_t face_size;
    CHECK_OK(file_read_all(FIXTURES "tfjs_face_256.rgb", 1 << 20, &face_bytes, &face_size));
    CHECK(face_size == 256 * 256 * 3);
    char blazeface[1024], faceres[1024];
    if (models_find("blazeface.json", blazeface, sizeof blazeface) != VV_OK ||
        models_find("faceres.json", faceres, sizeof faceres) != VV_OK) {
        printf("SKIPPED test_tfjs model checks: blazeface.json / faceres.json not in .cache/models "
               "(run ./dev setup)\n");
        test_finish("test_tfjs");
        free(face_bytes);
        return test_failed ? 1 : 77;
    }
    if (face_bytes && face_size == 256 * 256 * 3) {
        test_blazeface(blazeface);
        test_faceres(faceres);
    }
    test_real_damaged(blazeface, dir);
    free(face_bytes);
    return test_finish("test_tfjs");
}
