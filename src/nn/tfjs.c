/* nn/tfjs: TensorFlow.js graph-model loader and runner.
 *
 * Format (tfjs-converter "graph-model"): model.json holds modelTopology.node[], a
 * GraphDef in protobuf's JSON mapping (int64 as strings, bytes/strings base64, attrs as
 * AttrValue objects {s, i, f, b, type, shape, tensor, list}), and weightsManifest[]:
 * groups of shard paths whose concatenated bytes hold the group's weights back to back,
 * each {name, shape, dtype, quantization?}.  Every Const node takes its value from the
 * manifest entry of the same name.
 *
 * Loading validates everything that does not depend on the input: the JSON, the
 * manifest against the shard sizes, each weight's shape against its byte count, node
 * references, acyclicity, op attributes and the integer constants ops read as
 * parameters (reshape targets, paddings, axes).  Running checks shapes as they flow. */
#include "nn/tfjs_graph.h"
#include "nn/safetensors.h"

#include "nn/layers.h"
#include "nn/ops.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- name table ---- */

static uint64_t name_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Index of the node named s[0..len), or -1. */
int tfjs_model_find_len(const tfjs_model *m, const char *s, size_t len) {
    if (!m->table) return -1;
    size_t mask = m->table_size - 1;
    for (size_t i = name_hash(s, len) & mask;; i = (i + 1) & mask) {
        int idx = m->table[i];
        if (idx < 0) return -1;
        const char *name = m->nodes[idx].name;
        if (strlen(name) == len && memcmp(name, s, len) == 0) return idx;
    }
}

static vv_status model_build_table(tfjs_model *m, const char *path) {
    size_t size = 16;
    while (size < (size_t)m->node_count * 2) size *= 2;
    m->table = mem_alloc(size, sizeof(int));
    if (!m->table) return vv_fail(VV_ERR_NO_MEMORY, "out of memory indexing %s", path);
    m->table_size = size;
    for (size_t i = 0; i < size; i++) m->table[i] = -1;
    for (int n = 0; n < m->node_count; n++) {
        const char *name = m->nodes[n].name;
        size_t len = strlen(name);
        if (tfjs_model_find_len(m, name, len) >= 0)
            return vv_fail(VV_ERR_MODEL, "%s: two nodes are named '%s'", path, name);
        size_t i = name_hash(name, len) & (size - 1);
        while (m->table[i] >= 0) i = (i + 1) & (size - 1);
        m->table[i] = n;
    }
    return VV_OK;
}

/* ---------------------------------------------------------------- JSON helpers ---- */

static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes base64 text into out (NUL-terminated); false when malformed or too long. */
static bool base64_decode(const char *text, char *out, size_t out_size) {
    size_t n = 0;
    unsigned bits = 0;
    int bit_count = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '=') break;
        int v = base64_value(*p);
        if (v < 0) return false;
        bits = (bits << 6) | (unsigned)v;
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            if (n + 1 >= out_size) return false;
            out[n++] = (char)((bits >> bit_count) & 0xff);
        }
    }
    out[n] = 0;
    return strlen(out) == n; /* no embedded NULs */
}

/* A protobuf-JSON int64 (string or number) as an int in [lo, hi]. */
static bool json_int(const cJSON *item, long long lo, long long hi, long long *out) {
    long long v;
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring;
        if (!s || !*s) return false;
        char *end;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end) return false;
    } else if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!(d >= -9e15 && d <= 9e15) || d != floor(d)) return false;
        v = (long long)d;
    } else {
        return false;
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool json_float(const cJSON *item, double *out) {
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return true;
    }
    if (cJSON_IsString(item) && item->valuestring) { /* protobuf JSON: "NaN", "Infinity" */
        char *end;
        double d = strtod(item->valuestring, &end);
        if (*end || end == item->valuestring) return false;
        *out = d;
        return true;
    }
    return false;
}

static const cJSON *node_attr(const cJSON *node, const char *name) {
    const cJSON *attr = cJSON_GetObjectItemCaseSensitive(node, "attr");
    return cJSON_IsObject(attr) ? cJSON_GetObjectItemCaseSensitive(attr, name) : NULL;
}

/* Attribute string value (decoded); false when absent. */
typedef enum attr_result { ATTR_ABSENT, ATTR_OK, ATTR_BAD } attr_result;

static attr_result attr_string(const cJSON *node, const char *name, char *out, size_t out_size) {
    const cJSON *a = node_attr(node, name);
    if (!a) return ATTR_ABSENT;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "s");
    if (!cJSON_IsString(s) || !s->valuestring) return ATTR_BAD;
    return base64_decode(s->valuestring, out, out_size) ? ATTR_OK : ATTR_BAD;
}

static attr_result attr_int_list(const cJSON *node, const char *name, long long lo,
                                 long long hi, long long *out, int max, int *count) {
    const cJSON *a = node_attr(node, name);
    *count = 0;
    if (!a) return ATTR_ABSENT;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(a, "list");
    if (!cJSON_IsObject(list)) return ATTR_BAD;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "i");
    if (!items) return ATTR_OK; /* empty list */
    if (!cJSON_IsArray(items)) return ATTR_BAD;
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        if (*count >= max || !json_int(it, lo, hi, &out[*count])) return ATTR_BAD;
        (*count)++;
    }
    return ATTR_OK;
}

static attr_result attr_string_list(const cJSON *node, const char *name, char out[][32], int max,
                                    int *count) {
    const cJSON *a = node_attr(node, name);
    *count = 0;
    if (!a) return ATTR_ABSENT;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(a, "list");
    if (!cJSON_IsObject(list)) return ATTR_BAD;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "s");
    if (!items) return ATTR_OK;
    if (!cJSON_IsArray(items)) return ATTR_BAD;
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        if (*count >= max || !cJSON_IsString(it) || !it->valuestring ||
            !base64_decode(it->valuestring, out[*count], 32))
            return ATTR_BAD;
        (*count)++;
    }
    return ATTR_OK;
}

static attr_result attr_bool(const cJSON *node, const char *name, bool *out) {
    const cJSON *a = node_attr(node, name);
    if (!a) return ATTR_ABSENT;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "b");
    if (!b) { /* protobuf JSON omits false */
        *out = false;
        return ATTR_OK;
    }
    if (!cJSON_IsBool(b)) return ATTR_BAD;
    *out = cJSON_IsTrue(b);
    return ATTR_OK;
}

static attr_result attr_int(const cJSON *node, const char *name, long long lo, long long hi,
                            long long *out) {
    const cJSON *a = node_attr(node, name);
    if (!a) return ATTR_ABSENT;
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(a, "i");
    if (!i) {
        *out = 0;
        return 0 >= lo && 0 <= hi ? ATTR_OK : ATTR_BAD;
    }
    return json_int(i, lo, hi, out) ? ATTR_OK : ATTR_BAD;
}

static attr_result attr_float(const cJSON *node, const char *name, double *out) {
    const cJSON *a = node_attr(node, name);
    if (!a) return ATTR_ABSENT;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(a, "f");
    if (!f) {
        *out = 0;
        return ATTR_OK;
    }
    return json_float(f, out) ? ATTR_OK : ATTR_BAD;
}

/* A TensorShapeProto ({dim: [{size}], unknownRank}) → rank (or -1 unknown) + dims. */
static bool json_shape(const cJSON *shape, int *ndim, int *dims, long long min_dim) {
    const cJSON *unknown = cJSON_GetObjectItemCaseSensitive(shape, "unknownRank");
    if (cJSON_IsTrue(unknown)) {
        *ndim = -1;
        return true;
    }
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(shape, "dim");
    *ndim = 0;
    if (!dim) return true; /* scalar */
    if (!cJSON_IsArray(dim)) return false;
    const cJSON *d;
    cJSON_ArrayForEach(d, dim) {
        if (*ndim >= TENSOR_MAX_DIMS) return false;
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(d, "size");
        long long v = 0;
        if (size && !json_int(size, min_dim, INT_MAX, &v)) return false;
        dims[(*ndim)++] = (int)v;
    }
    return true;
}

/* ---------------------------------------------------------------- node parsing ---- */

static const struct {
    const char *op;
    node_kind kind;
    binary_op binary;
} op_table[] = {
    {"Placeholder", KIND_PLACEHOLDER, 0},
    {"Const", KIND_CONST, 0},
    {"Identity", KIND_IDENTITY, 0},
    {"StopGradient", KIND_IDENTITY, 0},
    {"Reshape", KIND_RESHAPE, 0},
    {"Squeeze", KIND_SQUEEZE, 0},
    {"Conv2D", KIND_CONV2D, 0},
    {"_FusedConv2D", KIND_CONV2D, 0},
    {"DepthwiseConv2dNative", KIND_DEPTHWISE, 0},
    {"FusedDepthwiseConv2dNative", KIND_DEPTHWISE, 0},
    {"BiasAdd", KIND_BIAS_ADD, 0},
    {"Add", KIND_BINARY, BINARY_ADD},
    {"AddV2", KIND_BINARY, BINARY_ADD},
    {"Sub", KIND_BINARY, BINARY_SUB},
    {"Mul", KIND_BINARY, BINARY_MUL},
    {"RealDiv", KIND_BINARY, BINARY_DIV},
    {"Minimum", KIND_BINARY, BINARY_MINIMUM},
    {"Maximum", KIND_BINARY, BINARY_MAXIMUM},
    {"Prelu", KIND_BINARY, BINARY_PRELU}, /* standalone (facemesh, iris); fused ones are ACT_PRELU */
    {"Relu", KIND_RELU, 0},
    {"Relu6", KIND_RELU6, 0},
    {"Sigmoid", KIND_SIGMOID, 0},
    {"Tanh", KIND_TANH, 0},
    {"Softmax", KIND_SOFTMAX, 0},
    {"MaxPool", KIND_MAX_POOL, 0},
    {"Pad", KIND_PAD, 0},
    {"PadV2", KIND_PAD, 0},
    {"Mean", KIND_MEAN, 0},
    {"MatMul", KIND_MATMUL, 0},
    {"_FusedMatMul", KIND_MATMUL, 0},
    {"ConcatV2", KIND_CONCAT, 0},
    {"AvgPool", KIND_AVG_POOL, 0},
    {"ResizeBilinear", KIND_RESIZE_BILINEAR, 0},
    {"Conv2DBackpropInput", KIND_CONV2D_TRANSPOSE, 0},
    {"AddN", KIND_ADD_N, 0},
};

static vv_status parse_data_format(const cJSON *json, const tfjs_node *node, const char *path) {
    char format[16];
    attr_result r = attr_string(json, "data_format", format, sizeof format);
    if (r == ATTR_BAD) return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad data_format", path, node->name);
    if (r == ATTR_OK && strcmp(format, "NHWC") != 0)
        return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': data_format %s (only NHWC)", path,
                       node->name, format);
    return VV_OK;
}

/* strides / ksize: [1, h, w, 1]. */
static vv_status parse_hw_list(const cJSON *json, tfjs_node *node, const char *attr,
                               long long max, int *h, int *w, const char *path) {
    long long v[4];
    int count;
    attr_result r = attr_int_list(json, attr, 1, max, v, 4, &count);
    if (r == ATTR_ABSENT) return vv_fail(VV_ERR_MODEL, "%s: node '%s': missing %s", path, node->name, attr);
    if (r == ATTR_BAD || count != 4)
        return vv_fail(VV_ERR_MODEL, "%s: node '%s': %s is not 4 integers in [1, %lld]", path,
                       node->name, attr, max);
    if (v[0] != 1 || v[3] != 1)
        return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': %s over batch or channels", path,
                       node->name, attr);
    *h = (int)v[1];
    *w = (int)v[2];
    return VV_OK;
}

static vv_status parse_padding(const cJSON *json, tfjs_node *node, bool allow_explicit,
                               const char *path) {
    char padding[16];
    attr_result r = attr_string(json, "padding", padding, sizeof padding);
    if (r != ATTR_OK) return vv_fail(VV_ERR_MODEL, "%s: node '%s': missing or bad padding", path, node->name);
    if (strcmp(padding, "SAME") == 0) {
        node->padding = PADDING_SAME;
    } else if (strcmp(padding, "VALID") == 0) {
        node->padding = PADDING_VALID;
    } else if (strcmp(padding, "EXPLICIT") == 0 && allow_explicit) {
        node->padding = PADDING_EXPLICIT;
        long long p[8];
        int count;
        if (attr_int_list(json, "explicit_paddings", 0, TFJS_MAX_PAD, p, 8, &count) != ATTR_OK ||
            count != 8)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': explicit_paddings is not 8 integers in [0, %d]",
                           path, node->name, TFJS_MAX_PAD);
        if (p[0] || p[1] || p[6] || p[7])
            return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': padding over batch or channels", path,
                           node->name);
        node->pad_top = (int)p[2];
        node->pad_bottom = (int)p[3];
        node->pad_left = (int)p[4];
        node->pad_right = (int)p[5];
    } else {
        return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': padding '%s'", path, node->name, padding);
    }
    return VV_OK;
}

/* fused_ops of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul: bias then an
 * optional activation; checks the extra inputs (num_args) match. */
static vv_status parse_fused(const cJSON *json, tfjs_node *node, int base_inputs, const char *path) {
    char ops[4][32];
    int count;
    attr_result r = attr_string_list(json, "fused_ops", ops, 4, &count);
    if (r == ATTR_BAD) return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad fused_ops", path, node->name);
    int extra = 0;
    int i = 0;
    if (i < count && strcmp(ops[i], "BiasAdd") == 0) {
        node->has_bias = true;
        extra++;
        i++;
    }
    if (i < count) {
        if (strcmp(ops[i], "Relu") == 0) node->act = ACT_RELU;
        else if (strcmp(ops[i], "Relu6") == 0) node->act = ACT_RELU6;
        else if (strcmp(ops[i], "Sigmoid") == 0) node->act = ACT_SIGMOID;
        else if (strcmp(ops[i], "LeakyRelu") == 0) node->act = ACT_LEAKY_RELU;
        else if (strcmp(ops[i], "Prelu") == 0) node->act = ACT_PRELU, extra++;
        else
            return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': fused op '%s'", path, node->name, ops[i]);
        i++;
    }
    if (i < count)
        return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': fused op '%s'", path, node->name, ops[i]);
    if (node->act == ACT_LEAKY_RELU) {
        double alpha = 0.2;
        if (attr_float(json, "leakyrelu_alpha", &alpha) == ATTR_BAD || !isfinite(alpha))
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad leakyrelu_alpha", path, node->name);
        node->leaky_alpha = (float)alpha;
    }
    long long num_args = extra;
    if (attr_int(json, "num_args", 0, 16, &num_args) == ATTR_BAD)
        return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad num_args", path, node->name);
    if (num_args != extra || node->input_count != base_inputs + extra)
        return vv_fail(VV_ERR_MODEL, "%s: node '%s': %d inputs but fused ops need %d", path,
                       node->name, node->input_count, base_inputs + extra);
    return VV_OK;
}

static vv_status expect_inputs(const tfjs_node *node, int count, const char *path) {
    if (node->input_count != count)
        return vv_fail(VV_ERR_MODEL, "%s: node '%s' (%s) has %d inputs, expected %d", path,
                       node->name, node->op, node->input_count, count);
    return VV_OK;
}

/* Kind-specific attributes and input counts. */
static vv_status parse_node_attrs(tfjs_node *node, const cJSON *json, const char *path) {
    vv_status s = VV_OK;
    switch (node->kind) {
    case KIND_PLACEHOLDER:
    case KIND_CONST:
        return expect_inputs(node, 0, path);
    case KIND_IDENTITY:
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX:
        return expect_inputs(node, 1, path);
    case KIND_SQUEEZE: {
        if ((s = expect_inputs(node, 1, path))) return s;
        long long dims[TENSOR_MAX_DIMS];
        int count;
        attr_result r = attr_int_list(json, "squeeze_dims", -TENSOR_MAX_DIMS, TENSOR_MAX_DIMS - 1,
                                      dims, TENSOR_MAX_DIMS, &count);
        if (r == ATTR_ABSENT)
            r = attr_int_list(json, "axis", -TENSOR_MAX_DIMS, TENSOR_MAX_DIMS - 1, dims,
                              TENSOR_MAX_DIMS, &count);
        if (r == ATTR_BAD) return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad squeeze_dims", path, node->name);
        node->squeeze_count = count;
        for (int i = 0; i < count; i++) node->squeeze_dims[i] = (int)dims[i];
        return VV_OK;
    }
    case KIND_RESHAPE:
    case KIND_BINARY:
    case KIND_MEAN:
        if (node->kind == KIND_MEAN) {
            bool keep = false;
            attr_result r = attr_bool(json, "keep_dims", &keep);
            if (r == ATTR_ABSENT) r = attr_bool(json, "keepDims", &keep);
            if (r == ATTR_BAD) return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad keep_dims", path, node->name);
            node->keep_dims = keep;
        }
        return expect_inputs(node, 2, path);
    case KIND_BIAS_ADD:
        if ((s = parse_data_format(json, node, path))) return s;
        return expect_inputs(node, 2, path);
    case KIND_PAD:
        return expect_inputs(node, strcmp(node->op, "PadV2") == 0 ? 3 : 2, path);
    case KIND_CONCAT:
        if (node->input_count < 2)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': ConcatV2 needs values and an axis", path, node->name);
        return VV_OK;
    case KIND_ADD_N:
        if (node->input_count < 1)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': AddN without inputs", path, node->name);
        return VV_OK;
    case KIND_RESIZE_BILINEAR: {
        bool flag = false;
        if (attr_bool(json, "align_corners", &flag) == ATTR_BAD)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad align_corners", path, node->name);
        node->align_corners = flag;
        flag = false;
        if (attr_bool(json, "half_pixel_centers", &flag) == ATTR_BAD)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad half_pixel_centers", path, node->name);
        node->half_pixel_centers = flag;
        if (node->align_corners && node->half_pixel_centers) /* TensorFlow refuses this too */
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': align_corners with half_pixel_centers", path, node->name);
        return expect_inputs(node, 2, path);
    }
    case KIND_CONV2D:
    case KIND_DEPTHWISE:
    case KIND_CONV2D_TRANSPOSE: {
        if ((s = parse_data_format(json, node, path))) return s;
        if ((s = parse_hw_list(json, node, "strides", TFJS_MAX_STRIDE, &node->stride_h, &node->stride_w, path)))
            return s;
        long long dil[4];
        int count;
        attr_result r = attr_int_list(json, "dilations", 1, 1 << 20, dil, 4, &count);
        if (r == ATTR_BAD || (r == ATTR_OK && count != 4 && count != 0))
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad dilations", path, node->name);
        for (int i = 0; i < count; i++)
            if (dil[i] != 1)
                return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': dilated convolution", path, node->name);
        if ((s = parse_padding(json, node, true, path))) return s;
        if (node->kind == KIND_CONV2D_TRANSPOSE) return expect_inputs(node, 3, path); /* sizes, filter, x */
        if (node->op[0] == '_' || strncmp(node->op, "Fused", 5) == 0) return parse_fused(json, node, 2, path);
        return expect_inputs(node, 2, path);
    }
    case KIND_MAX_POOL:
    case KIND_AVG_POOL:
        if ((s = expect_inputs(node, 1, path))) return s;
        if ((s = parse_data_format(json, node, path))) return s;
        if ((s = parse_hw_list(json, node, "ksize", TFJS_MAX_KERNEL, &node->kernel_h, &node->kernel_w, path)))
            return s;
        if ((s = parse_hw_list(json, node, "strides", TFJS_MAX_STRIDE, &node->stride_h, &node->stride_w, path)))
            return s;
        return parse_padding(json, node, false, path);
    case KIND_MATMUL: {
        bool t = false;
        if (attr_bool(json, "transpose_a", &t) == ATTR_BAD)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad transpose_a", path, node->name);
        node->transpose_a = t;
        t = false;
        if (attr_bool(json, "transpose_b", &t) == ATTR_BAD)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s': bad transpose_b", path, node->name);
        node->transpose_b = t;
        if (node->op[0] == '_') return parse_fused(json, node, 2, path);
        return expect_inputs(node, 2, path);
    }
    }
    return VV_OK;
}

/* Splits "name", "name:0", "^name" into the node name; false for "name:k" with k > 0
 * (every supported op has one output). */
bool tfjs_split_input_ref(const char *ref, const char **name, size_t *len, bool *control,
                            bool *other_output) {
    *control = ref[0] == '^';
    *name = ref + (*control ? 1 : 0);
    *len = strlen(*name);
    *other_output = false;
    const char *colon = strrchr(*name, ':');
    if (colon && colon[1]) {
        const char *p = colon + 1;
        while (*p >= '0' && *p <= '9') p++;
        if (!*p) { /* all digits: an output index */
            *len = (size_t)(colon - *name);
            for (p = colon + 1; *p == '0'; p++) {}
            *other_output = *p != 0;
        }
    }
    return *len > 0;
}

static vv_status parse_nodes(tfjs_model *m, const cJSON *node_array, const char *path) {
    int count = cJSON_GetArraySize(node_array);
    if (count <= 0) return vv_fail(VV_ERR_MODEL, "%s: the graph has no nodes", path);
    if (count > TFJS_MAX_NODES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: %d nodes, over the %d limit", path, count, TFJS_MAX_NODES);
    m->nodes = mem_calloc((size_t)count, sizeof(tfjs_node));
    if (!m->nodes) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", path);
    m->node_count = count;

    /* Names first, so inputs can be resolved in any order. */
    int n = 0;
    const cJSON *json;
    cJSON_ArrayForEach(json, node_array) {
        tfjs_node *node = &m->nodes[n];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(json, "name");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(json, "op");
        if (!cJSON_IsString(name) || !name->valuestring || !name->valuestring[0])
            return vv_fail(VV_ERR_MODEL, "%s: node %d has no name", path, n);
        if (!cJSON_IsString(op) || !op->valuestring)
            return vv_fail(VV_ERR_MODEL, "%s: node '%s' has no op", path, name->valuestring);
        node->name = strdup(name->valuestring);
        if (!node->name) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", path);
        if (strlen(op->valuestring) >= sizeof node->op)
            return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': unsupported op", path, node->name);
        strcpy(node->op, op->valuestring);
        size_t k;
        for (k = 0; k < sizeof op_table / sizeof op_table[0]; k++)
            if (strcmp(op_table[k].op, node->op) == 0) break;
        if (k == sizeof op_table / sizeof op_table[0])
            return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': unsupported op '%s'", path, node->name,
                           node->op);
        node->kind = op_table[k].kind;
        node->binary = op_table[k].binary;
        n++;
    }
    vv_status s = model_build_table(m, path);
    if (s) return s;

    n = 0;
    cJSON_ArrayForEach(json, node_array) {
        tfjs_node *node = &m->nodes[n++];
        const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(json, "input");
        int input_total = 0;
        if (inputs) {
            if (!cJSON_IsArray(inputs))
                return vv_fail(VV_ERR_MODEL, "%s: node '%s': input is not a list", path, node->name);
            input_total = cJSON_GetArraySize(inputs);
            if (input_total > TFJS_MAX_INPUTS)
                return vv_fail(VV_ERR_TOO_LARGE, "%s: node '%s' has %d inputs", path, node->name, input_total);
        }
        if (input_total > 0) {
            node->inputs = mem_alloc((size_t)input_total, sizeof(int));
            if (!node->inputs) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", path);
        }
        /* Data inputs keep their order; control inputs (which TF lists last) go after them. */
        int data = 0, control = 0;
        const cJSON *in;
        cJSON_ArrayForEach(in, inputs) {
            if (!cJSON_IsString(in) || !in->valuestring)
                return vv_fail(VV_ERR_MODEL, "%s: node '%s': input is not a string", path, node->name);
            const char *name;
            size_t len;
            bool is_control, other_output;
            if (!tfjs_split_input_ref(in->valuestring, &name, &len, &is_control, &other_output))
                return vv_fail(VV_ERR_MODEL, "%s: node '%s': empty input name", path, node->name);
            int idx = tfjs_model_find_len(m, name, len);
            if (idx < 0)
                return vv_fail(VV_ERR_MODEL, "%s: node '%s': input '%s' names no node", path,
                               node->name, in->valuestring);
            if (other_output)
                return vv_fail(VV_ERR_MODEL, "%s: node '%s': input '%s' asks for a second output of a "
                               "single-output op", path, node->name, in->valuestring);
            if (is_control) {
                node->inputs[input_total - 1 - control++] = idx;
            } else {
                if (control > 0)
                    return vv_fail(VV_ERR_MODEL, "%s: node '%s': data input after a control input",
                                   path, node->name);
                node->inputs[data++] = idx;
            }
        }
        node->input_count = data;
        node->control_count = control;
        if ((s = parse_node_attrs(node, json, path))) return s;
        if (node->kind == KIND_PLACEHOLDER) {
            if (m->input_node >= 0)
                return vv_fail(VV_ERR_UNSUPPORTED, "%s: more than one input (placeholder '%s')", path,
                               node->name);
            m->input_node = n - 1;
            m->input_ndim = -1;
            const cJSON *shape = node_attr(json, "shape");
            const cJSON *proto = shape ? cJSON_GetObjectItemCaseSensitive(shape, "shape") : NULL;
            if (proto && !json_shape(proto, &m->input_ndim, m->input_shape, -1))
                return vv_fail(VV_ERR_MODEL, "%s: placeholder '%s': bad shape", path, node->name);
        }
        if (node->kind == KIND_CONST) {
            /* Declared shape, cross-checked against the manifest's later. */
            const cJSON *attr = node_attr(json, "value");
            const cJSON *proto = attr ? cJSON_GetObjectItemCaseSensitive(attr, "tensor") : NULL;
            const cJSON *shape = proto ? cJSON_GetObjectItemCaseSensitive(proto, "tensorShape") : NULL;
            node->ndim = -1;
            if (shape && (!json_shape(shape, &node->ndim, node->shape, 0) || node->ndim < 0))
                return vv_fail(VV_ERR_MODEL, "%s: const '%s': bad tensorShape", path, node->name);
        }
    }
    if (m->input_node < 0) return vv_fail(VV_ERR_MODEL, "%s: the graph has no input placeholder", path);
    return VV_OK;
}

/* Kahn's algorithm over data and control edges; a leftover node means a cycle. */
static vv_status model_sort(tfjs_model *m, const char *path) {
    int count = m->node_count;
    int *pending = mem_calloc((size_t)count, sizeof(int));  /* unfinished inputs per node */
    int *consumer_start = mem_calloc((size_t)count + 1, sizeof(int));
    size_t edges = 0;
    for (int i = 0; i < count; i++) edges += (size_t)(m->nodes[i].input_count + m->nodes[i].control_count);
    int *consumers = mem_alloc(edges ? edges : 1, sizeof(int));
    m->order = mem_alloc((size_t)count, sizeof(int));
    vv_status s = VV_OK;
    if (!pending || !consumer_start || !consumers || !m->order) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory sorting %s", path);
        goto end;
    }
    for (int i = 0; i < count; i++) {
        const tfjs_node *node = &m->nodes[i];
        int total = node->input_count + node->control_count;
        pending[i] = total;
        for (int k = 0; k < total; k++) consumer_start[node->inputs[k] + 1]++;
    }
    for (int i = 0; i < count; i++) consumer_start[i + 1] += consumer_start[i];
    int *fill = mem_alloc((size_t)count, sizeof(int));
    if (!fill) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory sorting %s", path);
        goto end;
    }
    memcpy(fill, consumer_start, (size_t)count * sizeof(int));
    for (int i = 0; i < count; i++) {
        const tfjs_node *node = &m->nodes[i];
        int total = node->input_count + node->control_count;
        for (int k = 0; k < total; k++) consumers[fill[node->inputs[k]]++] = i;
    }
    free(fill);
    /* Queue = the order array itself. */
    int head = 0, tail = 0;
    for (int i = 0; i < count; i++)
        if (pending[i] == 0) m->order[tail++] = i;
    while (head < tail) {
        int i = m->order[head++];
        for (int k = consumer_start[i]; k < consumer_start[i + 1]; k++)
            if (--pending[consumers[k]] == 0) m->order[tail++] = consumers[k];
    }
    if (tail != count) {
        int stuck = 0;
        while (stuck < count && pending[stuck] == 0) stuck++;
        s = vv_fail(VV_ERR_MODEL, "%s: the graph has a cycle (through node '%s')", path,
                    m->nodes[stuck < count ? stuck : 0].name);
        goto end;
    }
    /* Outputs: nodes nothing consumes, in file order. */
    m->outputs = mem_alloc((size_t)count, sizeof(int));
    if (!m->outputs) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory sorting %s", path);
        goto end;
    }
    for (int i = 0; i < count; i++) {
        node_kind kind = m->nodes[i].kind;
        if (consumer_start[i + 1] == consumer_start[i] && kind != KIND_CONST && kind != KIND_PLACEHOLDER)
            m->outputs[m->output_count++] = i;
    }
    if (m->output_count == 0) s = vv_fail(VV_ERR_MODEL, "%s: the graph has no output", path);
end:
    free(pending);
    free(consumer_start);
    free(consumers);
    return s;
}

/* ---------------------------------------------------------------- weights ---- */


static uint32_t read_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A shard path from the manifest must stay inside the model's folder. */
static bool shard_path_ok(const char *p) {
    if (!p[0] || p[0] == '/' || strchr(p, '\\')) return false;
    for (const char *s = p; *s;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (len == 0 || (len == 2 && s[0] == '.' && s[1] == '.')) return false;
        s += len + (slash ? 1 : 0);
    }
    return true;
}

/* Reads and concatenates one group's shards. */
static vv_status read_group(const cJSON *paths, const char *dir, const char *json_path,
                            uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) == 0)
        return vv_fail(VV_ERR_MODEL, "%s: weightsManifest group without paths", json_path);
    const cJSON *p;
    vv_status s = VV_OK;
    cJSON_ArrayForEach(p, paths) {
        if (!cJSON_IsString(p) || !p->valuestring || !shard_path_ok(p->valuestring)) {
            s = vv_fail(VV_ERR_MODEL, "%s: bad weight shard path", json_path);
            break;
        }
        size_t full_len = strlen(dir) + strlen(p->valuestring) + 2;
        char *full = malloc(full_len);
        if (!full) {
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", json_path);
            break;
        }
        snprintf(full, full_len, "%s%s", dir, p->valuestring);
        uint8_t *shard;
        size_t shard_size;
        s = file_read_all(full, TFJS_MAX_SHARD_BYTES, &shard, &shard_size);
        if (s == VV_ERR_NOT_FOUND) s = vv_fail(VV_ERR_MODEL, "weight shard %s is missing", full);
        free(full);
        if (s) break;
        size_t total;
        if (!size_add(*size, shard_size, &total) || total > TFJS_MAX_WEIGHT_BYTES) {
            free(shard);
            s = vv_fail(VV_ERR_TOO_LARGE, "%s: weight shards over %zu bytes", json_path, TFJS_MAX_WEIGHT_BYTES);
            break;
        }
        uint8_t *grown = realloc(*data, total ? total : 1);
        if (!grown) {
            free(shard);
            s = vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", json_path);
            break;
        }
        if (shard_size) memcpy(grown + *size, shard, shard_size);
        free(shard);
        *data = grown;
        *size = total;
    }
    if (s) {
        free(*data);
        *data = NULL;
        *size = 0;
    }
    return s;
}

typedef enum storage { STORE_F32, STORE_I32, STORE_U8, STORE_U16, STORE_F16, STORE_BOOL } storage;

/* Decodes one manifest entry into its Const node. */
static vv_status load_weight(tfjs_model *m, const cJSON *w, const uint8_t *group, size_t group_size,
                             size_t *offset, const char *path) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
    const cJSON *quant = cJSON_GetObjectItemCaseSensitive(w, "quantization");
    if (!cJSON_IsString(name) || !name->valuestring || !cJSON_IsArray(shape) || !cJSON_IsString(dtype) ||
        !dtype->valuestring)
        return vv_fail(VV_ERR_MODEL, "%s: weight entry without name, shape or dtype", path);
    const char *wname = name->valuestring;
    int idx = tfjs_model_find_len(m, wname, strlen(wname));
    if (idx < 0 || m->nodes[idx].kind != KIND_CONST)
        return vv_fail(VV_ERR_MODEL, "%s: weight '%s' matches no Const node", path, wname);
    tfjs_node *node = &m->nodes[idx];
    if (node->has_value) return vv_fail(VV_ERR_MODEL, "%s: weight '%s' listed twice", path, wname);

    int ndim = 0, dims[TENSOR_MAX_DIMS];
    size_t count = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        long long v;
        if (ndim >= TENSOR_MAX_DIMS || !json_int(d, 0, INT_MAX, &v))
            return vv_fail(VV_ERR_MODEL, "%s: weight '%s': bad shape", path, wname);
        dims[ndim++] = (int)v;
        if (!size_mul(count, (size_t)v, &count) || count > TFJS_MAX_ELEMENTS)
            return vv_fail(VV_ERR_TOO_LARGE, "%s: weight '%s' is too large", path, wname);
    }
    if (node->ndim >= 0) { /* the node declared a shape: must agree */
        bool same = node->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = node->shape[i] == dims[i];
        if (!same) return vv_fail(VV_ERR_MODEL, "%s: weight '%s': manifest shape differs from the node's", path, wname);
    }

    bool is_int;
    if (strcmp(dtype->valuestring, "float32") == 0) is_int = false;
    else if (strcmp(dtype->valuestring, "int32") == 0 || strcmp(dtype->valuestring, "bool") == 0) is_int = true;
    else return vv_fail(VV_ERR_UNSUPPORTED, "%s: weight '%s': dtype %s", path, wname, dtype->valuestring);
    storage store = strcmp(dtype->valuestring, "bool") == 0 ? STORE_BOOL : is_int ? STORE_I32 : STORE_F32;
    double scale = 1, min = 0;
    if (quant) {
        const cJSON *qd = cJSON_GetObjectItemCaseSensitive(quant, "dtype");
        if (!cJSON_IsObject(quant) || !cJSON_IsString(qd) || !qd->valuestring || store == STORE_BOOL)
            return vv_fail(VV_ERR_MODEL, "%s: weight '%s': bad quantization", path, wname);
        if (strcmp(qd->valuestring, "float16") == 0) {
            store = STORE_F16;
        } else if (strcmp(qd->valuestring, "uint8") == 0 || strcmp(qd->valuestring, "uint16") == 0) {
            store = qd->valuestring[4] == '8' ? STORE_U8 : STORE_U16;
            if (!json_float(cJSON_GetObjectItemCaseSensitive(quant, "scale"), &scale) ||
                !json_float(cJSON_GetObjectItemCaseSensitive(quant, "min"), &min) || !isfinite(scale) ||
                !isfinite(min))
                return vv_fail(VV_ERR_MODEL, "%s: weight '%s': quantization without finite scale/min", path, wname);
        } else {
            return vv_fail(VV_ERR_UNSUPPORTED, "%s: weight '%s': quantization dtype %s", path, wname,
                           qd->valuestring);
        }
    }
    size_t elem = store == STORE_U8 || store == STORE_BOOL ? 1 : store == STORE_U16 || store == STORE_F16 ? 2 : 4;
    size_t bytes, end;
    if (!size_mul(count, elem, &bytes) || !size_add(*offset, bytes, &end) || end > group_size)
        return vv_fail(VV_ERR_CORRUPT, "%s: weight '%s' runs past the end of its shards (%zu bytes)",
                       path, wname, group_size);
    const uint8_t *src = group + *offset;
    *offset = end;

    node->is_int = is_int;
    node->ndim = ndim;
    memcpy(node->shape, dims, sizeof dims);
    node->size = count;
    node->has_value = true;
    void *buf = mem_alloc_aligned(count ? count * 4 : 4);
    if (!buf) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for weight '%s'", wname);
    float *f = buf;
    int32_t *iv = buf;
    if (is_int) node->idata = iv;
    else node->fdata = f;
    for (size_t i = 0; i < count; i++) {
        double v;
        switch (store) {
        case STORE_F32: {
            uint32_t bits = read_u32le(src + 4 * i);
            memcpy(&f[i], &bits, 4);
            continue;
        }
        case STORE_I32: iv[i] = (int32_t)read_u32le(src + 4 * i); continue;
        case STORE_BOOL: iv[i] = src[i] != 0; continue;
        case STORE_F16: v = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8)); break;
        case STORE_U8: v = src[i] * scale + min; break;
        case STORE_U16: v = (src[2 * i] | src[2 * i + 1] << 8) * scale + min; break;
        default: v = 0;
        }
        if (is_int) {
            double r = nearbyint(v);
            iv[i] = r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : (int32_t)r;
        } else {
            f[i] = (float)v;
        }
    }
    return VV_OK;
}

static vv_status load_weights(tfjs_model *m, const cJSON *manifest, const char *dir, const char *path) {
    if (!cJSON_IsArray(manifest)) return vv_fail(VV_ERR_MODEL, "%s: no weightsManifest", path);
    const cJSON *group;
    cJSON_ArrayForEach(group, manifest) {
        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(group, "weights");
        if (!cJSON_IsArray(weights))
            return vv_fail(VV_ERR_MODEL, "%s: weightsManifest group without weights", path);
        uint8_t *data;
        size_t size;
        vv_status s = read_group(cJSON_GetObjectItemCaseSensitive(group, "paths"), dir, path, &data, &size);
        if (s) return s;
        size_t offset = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, weights) {
            if ((s = load_weight(m, w, data, size, &offset, path))) break;
        }
        free(data);
        if (s) return s;
        if (offset != size)
            return vv_fail(VV_ERR_CORRUPT, "%s: weight shards hold %zu bytes, the manifest describes %zu",
                           path, size, offset);
    }
    for (int i = 0; i < m->node_count; i++)
        if (m->nodes[i].kind == KIND_CONST && !m->nodes[i].has_value)
            return vv_fail(VV_ERR_MODEL, "%s: const '%s' has no weights in the manifest", path, m->nodes[i].name);
    return VV_OK;
}

/* Integer-constant inputs (shape, paddings, axes) and float inputs that must not be
 * integer constants; checked once here so running never meets them. */
static vv_status check_const_inputs(const tfjs_model *m, const char *path) {
    for (int i = 0; i < m->node_count; i++) {
        const tfjs_node *node = &m->nodes[i];
        int int_input = -1; /* index of the input that must be an int32 const */
        switch (node->kind) {
        case KIND_RESHAPE:
        case KIND_PAD:
        case KIND_MEAN: int_input = 1; break;
        case KIND_CONCAT: int_input = node->input_count - 1; break;
        case KIND_RESIZE_BILINEAR: int_input = 1; break;
        case KIND_CONV2D_TRANSPOSE: int_input = 0; break;
        default: break;
        }
        for (int k = 0; k < node->input_count; k++) {
            const tfjs_node *in = &m->nodes[node->inputs[k]];
            bool is_int_const = in->kind == KIND_CONST && in->is_int;
            if (k == int_input) {
                if (!is_int_const)
                    return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': input %d must be an int32 constant",
                                   path, node->name, k);
                bool ok = true;
                if (node->kind == KIND_RESHAPE) ok = in->ndim == 1 && in->size <= TENSOR_MAX_DIMS;
                if (node->kind == KIND_PAD) ok = in->ndim == 2 && in->shape[1] == 2 && in->shape[0] <= TENSOR_MAX_DIMS;
                if (node->kind == KIND_MEAN) ok = in->ndim <= 1 && in->size <= TENSOR_MAX_DIMS;
                if (node->kind == KIND_CONCAT) ok = in->size == 1;
                if (node->kind == KIND_RESIZE_BILINEAR || node->kind == KIND_CONV2D_TRANSPOSE) {
                    /* [height, width] or [N, H, W, C]: every entry a size, H and W capped */
                    size_t want = node->kind == KIND_RESIZE_BILINEAR ? 2 : 4;
                    ok = in->ndim == 1 && in->size == want;
                    for (size_t e = 0; ok && e < want; e++) {
                        bool side = want == 2 || e == 1 || e == 2;
                        ok = in->idata[e] >= 1 && (!side || in->idata[e] <= TFJS_MAX_SIDE);
                    }
                }
                if (!ok)
                    return vv_fail(VV_ERR_MODEL, "%s: node '%s': integer input '%s' has the wrong shape or values",
                                   path, node->name, in->name);
            } else if (is_int_const) {
                return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': int32 tensor '%s' as float input", path,
                               node->name, in->name);
            }
        }
        if (node->kind == KIND_PAD && node->input_count == 3) {
            const tfjs_node *v = &m->nodes[node->inputs[2]];
            if (v->kind != KIND_CONST || v->size != 1)
                return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': pad value must be a scalar constant", path, node->name);
        }
        if (node->kind == KIND_PAD) {
            const tfjs_node *p = &m->nodes[node->inputs[1]];
            for (size_t k = 0; k < p->size; k++)
                if (p->idata[k] < 0 || p->idata[k] > TFJS_MAX_PAD)
                    return vv_fail(VV_ERR_UNSUPPORTED, "%s: node '%s': padding %d", path, node->name, p->idata[k]);
        }
    }
    return VV_OK;
}

void tfjs_model_free(tfjs_model *model) {
    if (!model) return;
    for (int i = 0; i < model->node_count; i++) {
        free(model->nodes[i].name);
        free(model->nodes[i].inputs);
        mem_free_aligned(model->nodes[i].fdata);
        mem_free_aligned(model->nodes[i].idata);
    }
    if (model->cache) {
        for (int i = 0; i < model->cache->count; i++) mem_free_aligned(model->cache->data[i]);
        pthread_mutex_destroy(&model->cache->lock);
        free(model->cache);
    }
    free(model->nodes);
    free(model->order);
    free(model->outputs);
    free(model->table);
    free(model);
}

vv_status tfjs_model_load(tfjs_model **out, const char *json_path) {
    *out = NULL;
    if (!json_path) return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_load: no path");
    uint8_t *text;
    size_t size;
    vv_status s = file_read_all(json_path, TFJS_MAX_JSON_BYTES, &text, &size);
    if (s == VV_ERR_NOT_FOUND) return vv_fail(VV_ERR_MODEL, "model file not found: %s", json_path);
    if (s) return s;
    cJSON *root = cJSON_ParseWithLength((const char *)text, size);
    free(text);
    if (!root) return vv_fail(VV_ERR_MODEL, "%s: not valid JSON", json_path);

    char *dir = NULL;
    tfjs_model *m = calloc(1, sizeof *m);
    if (!m) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", json_path);
        goto end;
    }
    m->input_node = -1;
    m->cache = calloc(1, sizeof *m->cache);
    if (!m->cache || pthread_mutex_init(&m->cache->lock, NULL) != 0) {
        free(m->cache);
        m->cache = NULL;
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", json_path);
        goto end;
    }
    const cJSON *topology = cJSON_GetObjectItemCaseSensitive(root, "modelTopology");
    const cJSON *nodes = cJSON_IsObject(topology) ? cJSON_GetObjectItemCaseSensitive(topology, "node") : NULL;
    if (!cJSON_IsArray(nodes)) {
        s = vv_fail(VV_ERR_MODEL, "%s: not a TFJS graph model (no modelTopology.node)", json_path);
        goto end;
    }
    const char *slash = strrchr(json_path, '/');
    size_t dir_len = slash ? (size_t)(slash - json_path) + 1 : 0;
    dir = malloc(dir_len + 1);
    if (!dir) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", json_path);
        goto end;
    }
    memcpy(dir, json_path, dir_len);
    dir[dir_len] = 0;

    if ((s = parse_nodes(m, nodes, json_path))) goto end;
    if ((s = model_sort(m, json_path))) goto end;
    if ((s = load_weights(m, cJSON_GetObjectItemCaseSensitive(root, "weightsManifest"), dir, json_path))) goto end;
    if ((s = check_const_inputs(m, json_path))) goto end;
end:
    free(dir);
    cJSON_Delete(root);
    if (s) {
        tfjs_model_free(m);
        return s;
    }
    *out = m;
    return VV_OK;
}

int tfjs_model_input_shape(const tfjs_model *model, int shape[TENSOR_MAX_DIMS]) {
    if (model->input_ndim > 0) memcpy(shape, model->input_shape, (size_t)model->input_ndim * sizeof(int));
    return model->input_ndim;
}

int tfjs_model_output_count(const tfjs_model *model) { return model->output_count; }

const char *tfjs_model_output_name(const tfjs_model *model, int index) {
    if (index < 0 || index >= model->output_count) return NULL;
    return model->nodes[model->outputs[index]].name;
}
