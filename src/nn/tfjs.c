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
#include "nn/tfjs.h"

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

#define TFJS_MAX_JSON_BYTES ((size_t)64 << 20)
#define TFJS_MAX_SHARD_BYTES ((size_t)1 << 30)
#define TFJS_MAX_WEIGHT_BYTES ((size_t)2 << 30)
#define TFJS_MAX_NODES 100000
#define TFJS_MAX_INPUTS 1024
#define TFJS_MAX_ELEMENTS ((size_t)1 << 28) /* per tensor: 1 GiB of floats */
#define TFJS_MAX_STRIDE 1024
#define TFJS_MAX_KERNEL 1024
#define TFJS_MAX_PAD 65536
#define TFJS_MAX_SIDE 65536 /* resize targets, transposed-convolution output sides */

typedef enum node_kind {
    KIND_PLACEHOLDER,
    KIND_CONST,
    KIND_IDENTITY,
    KIND_RESHAPE,
    KIND_SQUEEZE,
    KIND_CONV2D,
    KIND_DEPTHWISE,
    KIND_BIAS_ADD,
    KIND_BINARY,
    KIND_RELU,
    KIND_RELU6,
    KIND_SIGMOID,
    KIND_TANH,
    KIND_SOFTMAX,
    KIND_MAX_POOL,
    KIND_PAD,
    KIND_MEAN,
    KIND_MATMUL,
    KIND_CONCAT,
    KIND_AVG_POOL,
    KIND_RESIZE_BILINEAR,
    KIND_CONV2D_TRANSPOSE,
    KIND_ADD_N,
} node_kind;

typedef enum activation {
    ACT_NONE,
    ACT_RELU,
    ACT_RELU6,
    ACT_SIGMOID,
    ACT_LEAKY_RELU,
    ACT_PRELU,
} activation;

typedef enum padding_mode { PADDING_VALID, PADDING_SAME, PADDING_EXPLICIT } padding_mode;

typedef struct tfjs_node {
    char *name;
    char op[48];
    node_kind kind;
    binary_op binary;
    int *inputs;       /* data inputs (node indices), then control inputs */
    int input_count;   /* data inputs */
    int control_count; /* control ("^name") inputs after them */

    /* Attributes (those that apply to the node's kind). */
    int stride_h, stride_w, kernel_h, kernel_w;
    padding_mode padding;
    int pad_top, pad_bottom, pad_left, pad_right;
    bool has_bias;
    activation act;
    float leaky_alpha;
    bool transpose_a, transpose_b;
    bool keep_dims;
    bool align_corners, half_pixel_centers;
    int squeeze_dims[TENSOR_MAX_DIMS];
    int squeeze_count;

    /* Const value: float or int32 data (one of them), shape. */
    bool is_int;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t size;
    float *fdata;
    int32_t *idata;
    bool has_value;
    /* Placeholder: declared shape (-1 free), rank -1 when unknown. */
} tfjs_node;

/* Activation buffers kept between runs: re-touching fresh pages (page faults, zeroing)
 * cost more than BlazeFace's arithmetic.  A pointer, so const runs can use it. */
#define BUFFER_CACHE_SLOTS 32
#define BUFFER_CACHE_MAX_BYTES ((size_t)256 << 20)

typedef struct buffer_cache {
    pthread_mutex_t lock;
    float *data[BUFFER_CACHE_SLOTS];
    size_t capacity[BUFFER_CACHE_SLOTS]; /* floats */
    int count;
    size_t bytes;
} buffer_cache;

struct tfjs_model {
    buffer_cache *cache;
    tfjs_node *nodes;
    int node_count;
    int *order; /* topological order of all nodes */
    int input_node;
    int input_ndim; /* -1: unknown rank */
    int input_shape[TENSOR_MAX_DIMS];
    int *outputs; /* nodes nobody consumes, file order */
    int output_count;
    /* name -> node index, open addressing */
    int *table;
    size_t table_size;
};

/* ---------------------------------------------------------------- name table ---- */

static uint64_t name_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Index of the node named s[0..len), or -1. */
static int model_find_len(const tfjs_model *m, const char *s, size_t len) {
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
        if (model_find_len(m, name, len) >= 0)
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
static bool split_input_ref(const char *ref, const char **name, size_t *len, bool *control,
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
            if (!split_input_ref(in->valuestring, &name, &len, &is_control, &other_output))
                return vv_fail(VV_ERR_MODEL, "%s: node '%s': empty input name", path, node->name);
            int idx = model_find_len(m, name, len);
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
            const cJSON *value = node_attr(json, "value");
            const cJSON *proto = value ? cJSON_GetObjectItemCaseSensitive(value, "tensor") : NULL;
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

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                mantissa <<= 1;
            } while (!(mantissa & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mantissa & 0x3ff) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

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
    int idx = model_find_len(m, wname, strlen(wname));
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

/* ---------------------------------------------------------------- running ---- */

typedef struct value {
    float *data;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t size;
    size_t capacity; /* floats allocated, when owned */
    bool owned; /* an activation of this run (else a view of weights or the input) */
    int refs;   /* uses still to come */
} value;

typedef struct run_state {
    const tfjs_model *model;
    value *values;
    size_t max_elements; /* per activation: scales with the input (see run_activation_cap) */
    size_t total_elements; /* allocated so far in this run, at most RUN_TOTAL_FACTOR x max_elements */
} run_state;

/* All activations of one run together: a fuzzed graph chained hundreds of 16M-float Muls
 * (28 s under ASan).  faceres and BlazeFace allocate under 1x the per-activation cap in a run. */
#define RUN_TOTAL_FACTOR 4

/* A hostile graph can blow a tiny input up (an 860 MB Pad from a 1.4 KB model, found by
 * fuzz_tfjs).  Real networks stay within a few times their input per activation
 * (faceres ~5x, BlazeFace ~2x), so cap each activation at 64x the input, at least 16M
 * floats, at most TFJS_MAX_ELEMENTS. */
static size_t run_activation_cap(const tensor *input) {
    size_t cap = 0;
    if (!size_mul(input->size, 64, &cap) || cap > TFJS_MAX_ELEMENTS) cap = TFJS_MAX_ELEMENTS;
    if (cap < ((size_t)1 << 24)) cap = (size_t)1 << 24;
    return cap;
}

static const value *input_value(run_state *r, const tfjs_node *node, int k) {
    return &r->values[node->inputs[k]];
}

/* The smallest cached buffer holding n floats, or a new one. */
static float *buffer_take(buffer_cache *cache, size_t n, size_t *capacity) {
    if (n == 0) n = 1;
    pthread_mutex_lock(&cache->lock);
    int best = -1;
    for (int i = 0; i < cache->count; i++)
        if (cache->capacity[i] >= n && (best < 0 || cache->capacity[i] < cache->capacity[best])) best = i;
    float *data = NULL;
    if (best >= 0) {
        data = cache->data[best];
        *capacity = cache->capacity[best];
        cache->bytes -= *capacity * sizeof(float);
        cache->count--;
        cache->data[best] = cache->data[cache->count];
        cache->capacity[best] = cache->capacity[cache->count];
    }
    pthread_mutex_unlock(&cache->lock);
    if (data) return data;
    *capacity = n;
    return mem_alloc_aligned(n * sizeof(float));
}

static void buffer_give(buffer_cache *cache, float *data, size_t capacity) {
    if (!data) return;
    pthread_mutex_lock(&cache->lock);
    size_t bytes = capacity * sizeof(float);
    if (cache->count < BUFFER_CACHE_SLOTS && cache->bytes + bytes <= BUFFER_CACHE_MAX_BYTES) {
        cache->data[cache->count] = data;
        cache->capacity[cache->count++] = capacity;
        cache->bytes += bytes;
        data = NULL;
    }
    pthread_mutex_unlock(&cache->lock);
    mem_free_aligned(data);
}

static void value_release(run_state *r, value *v) {
    if (v->owned) buffer_give(r->model->cache, v->data, v->capacity);
    v->data = NULL;
    v->owned = false;
}

/* Allocates a node's output, capped. */
static vv_status value_alloc(run_state *r, value *v, int ndim, const int *shape, const tfjs_node *node) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !size_mul(n, (size_t)shape[i], &n) || n > r->max_elements)
            return vv_fail(VV_ERR_TOO_LARGE, "node '%s': output too large (over %zu floats for this input)",
                           node->name, r->max_elements);
    }
    if (r->total_elements + n > RUN_TOTAL_FACTOR * r->max_elements)
        return vv_fail(VV_ERR_TOO_LARGE, "node '%s': the model's activations exceed %zu floats in all for this input",
                       node->name, RUN_TOTAL_FACTOR * r->max_elements);
    r->total_elements += n;
    v->data = buffer_take(r->model->cache, n, &v->capacity);
    if (!v->data) return vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory for %zu floats", node->name, n);
    v->ndim = ndim;
    memcpy(v->shape, shape, (size_t)ndim * sizeof(int));
    v->size = n;
    v->owned = true;
    return VV_OK;
}

/* Output buffer for an elementwise op: takes over input k's buffer when this node is
 * its last user and the sizes match, else allocates. */
static vv_status value_alloc_inplace(run_state *r, const tfjs_node *node, int k, value *out, int ndim,
                                     const int *shape) {
    value *in = &r->values[node->inputs[k]];
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (in->owned && in->refs == 1 && in->size == n && in->data) {
        out->data = in->data;
        out->ndim = ndim;
        memcpy(out->shape, shape, (size_t)ndim * sizeof(int));
        out->size = n;
        out->capacity = in->capacity;
        out->owned = true;
        in->data = NULL; /* moved */
        in->owned = false;
        return VV_OK;
    }
    return value_alloc(r, out, ndim, shape, node);
}

/* Same data, new shape: moves or (when others still need the buffer) copies. */
static vv_status value_alias(run_state *r, const tfjs_node *node, value *out, int ndim, const int *shape) {
    value *in = &r->values[node->inputs[0]];
    if (!in->owned) { /* weights or the caller's input: live for the whole run */
        out->data = in->data;
        out->ndim = ndim;
        memcpy(out->shape, shape, (size_t)ndim * sizeof(int));
        out->size = in->size;
        out->owned = false;
        return VV_OK;
    }
    vv_status s = value_alloc_inplace(r, node, 0, out, ndim, shape);
    if (s == VV_OK && out->data != in->data && in->data) memcpy(out->data, in->data, in->size * sizeof(float));
    return s;
}

static void apply_activation(float *data, size_t n, int channels, activation act, float alpha,
                             const float *prelu) {
    switch (act) {
    case ACT_RELU: relu_forward(data, data, n); break;
    case ACT_RELU6: relu6_forward(data, data, n); break;
    case ACT_SIGMOID: sigmoid_forward(data, data, n); break;
    case ACT_LEAKY_RELU: leaky_relu_forward(data, data, alpha, n); break;
    case ACT_PRELU: prelu_forward(data, data, prelu, n / (size_t)channels, channels); break;
    case ACT_NONE: break;
    }
}

/* Bias and PReLU alpha of a fused op: [C] vectors. */
static vv_status fused_args(run_state *r, const tfjs_node *node, int first, int channels,
                            const float **bias, const float **alpha) {
    *bias = NULL;
    *alpha = NULL;
    int k = first;
    if (node->has_bias) {
        const value *b = input_value(r, node, k++);
        if (b->size != (size_t)channels)
            return vv_fail(VV_ERR_MODEL, "node '%s': bias has %zu values for %d channels", node->name, b->size, channels);
        *bias = b->data;
    }
    if (node->act == ACT_PRELU) {
        const value *a = input_value(r, node, k);
        if (a->size != (size_t)channels)
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': prelu alpha has %zu values for %d channels",
                           node->name, a->size, channels);
        *alpha = a->data;
    }
    return VV_OK;
}

static vv_status spatial_out(const tfjs_node *node, int H, int W, int KH, int KW, int *OH, int *OW,
                             int *pad_top, int *pad_left) {
    bool ok;
    if (node->padding == PADDING_SAME) {
        ok = conv_out_size_same(H, KH, node->stride_h, OH, pad_top) &&
             conv_out_size_same(W, KW, node->stride_w, OW, pad_left);
    } else if (node->padding == PADDING_VALID) {
        *pad_top = *pad_left = 0;
        ok = conv_out_size_valid(H, KH, node->stride_h, OH) && conv_out_size_valid(W, KW, node->stride_w, OW);
    } else {
        *pad_top = node->pad_top;
        *pad_left = node->pad_left;
        ok = conv_out_size_explicit(H, KH, node->stride_h, node->pad_top, node->pad_bottom, OH) &&
             conv_out_size_explicit(W, KW, node->stride_w, node->pad_left, node->pad_right, OW);
    }
    if (!ok || *OH <= 0 || *OW <= 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "node '%s': %dx%d input too small for a %dx%d window",
                       node->name, H, W, KH, KW);
    return VV_OK;
}

static vv_status run_conv(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0), *f = input_value(r, node, 1);
    bool depthwise = node->kind == KIND_DEPTHWISE;
    if (x->ndim != 4 || f->ndim != 4 || f->shape[2] != x->shape[3])
        return vv_fail(VV_ERR_MODEL, "node '%s': input and filter shapes do not fit", node->name);
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int KH = f->shape[0], KW = f->shape[1];
    long long oc = depthwise ? (long long)C * f->shape[3] : f->shape[3];
    if (KH > TFJS_MAX_KERNEL || KW > TFJS_MAX_KERNEL || oc > INT_MAX || KH * KW == 0)
        return vv_fail(VV_ERR_MODEL, "node '%s': bad filter size", node->name);
    int OH, OW, pad_top, pad_left;
    vv_status s = spatial_out(node, H, W, KH, KW, &OH, &OW, &pad_top, &pad_left);
    if (s) return s;
    const float *bias, *alpha;
    if ((s = fused_args(r, node, 2, (int)oc, &bias, &alpha))) return s;
    int shape[4] = {N, OH, OW, (int)oc};
    if ((s = value_alloc(r, out, 4, shape, node))) return s;
    if (depthwise) {
        depthwise_conv2d_nhwc_forward(out->data, x->data, f->data, bias, N, H, W, C, KH, KW, f->shape[3],
                                      node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
    } else {
        size_t k;
        if (!size_mul3((size_t)KH, (size_t)KW, (size_t)C, &k) || k > INT_MAX)
            return vv_fail(VV_ERR_MODEL, "node '%s': filter too large", node->name);
        if ((s = conv2d_nhwc_forward(out->data, x->data, f->data, bias, N, H, W, C, KH, KW, (int)oc,
                                     node->stride_h, node->stride_w, pad_top, pad_left, OH, OW)))
            return s;
    }
    apply_activation(out->data, out->size, (int)oc, node->act, node->leaky_alpha, alpha);
    return VV_OK;
}

static vv_status run_pool(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    if (x->ndim != 4) return vv_fail(VV_ERR_MODEL, "node '%s': %s input is not 4-D", node->name, node->op);
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int OH, OW, pad_top, pad_left;
    vv_status s = spatial_out(node, H, W, node->kernel_h, node->kernel_w, &OH, &OW, &pad_top, &pad_left);
    if (s) return s;
    int shape[4] = {N, OH, OW, C};
    if ((s = value_alloc(r, out, 4, shape, node))) return s;
    if (node->kind == KIND_AVG_POOL)
        avg_pool_nhwc_forward(out->data, x->data, N, H, W, C, node->kernel_h, node->kernel_w, node->stride_h,
                              node->stride_w, pad_top, pad_left, OH, OW);
    else
        max_pool_nhwc_forward(out->data, x->data, N, H, W, C, node->kernel_h, node->kernel_w, node->stride_h,
                              node->stride_w, pad_top, pad_left, OH, OW);
    return VV_OK;
}

static vv_status run_resize_bilinear(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const int32_t *size = r->model->nodes[node->inputs[1]].idata; /* checked at load: 2 sides >= 1 */
    if (x->ndim != 4 || x->shape[1] <= 0 || x->shape[2] <= 0)
        return vv_fail(VV_ERR_MODEL, "node '%s': ResizeBilinear input is not a 4-D image", node->name);
    int shape[4] = {x->shape[0], size[0], size[1], x->shape[3]};
    vv_status s = value_alloc(r, out, 4, shape, node);
    if (s) return s;
    resize_bilinear_nhwc_forward(out->data, x->data, shape[0], x->shape[1], x->shape[2], shape[3], shape[1],
                                 shape[2], node->align_corners, node->half_pixel_centers);
    return VV_OK;
}

/* Conv2DBackpropInput(input_sizes, filter, x): the convolution whose input has
 * input_sizes and whose output is x, run backwards.  Sizes: the convolution's. */
typedef struct transpose_geometry {
    int N, H, W, C, KH, KW, OC, OH, OW, pad_top, pad_left;
} transpose_geometry;

static vv_status transpose_geometry_of(const tfjs_model *m, const value *values, const tfjs_node *node,
                                       transpose_geometry *t) {
    const int32_t *sizes = m->nodes[node->inputs[0]].idata; /* checked at load: 4 entries >= 1 */
    const value *f = &values[node->inputs[1]], *x = &values[node->inputs[2]];
    if (x->ndim != 4 || f->ndim != 4)
        return vv_fail(VV_ERR_MODEL, "node '%s': Conv2DBackpropInput needs a 4-D input and filter", node->name);
    t->N = sizes[0], t->H = sizes[1], t->W = sizes[2], t->C = sizes[3];
    t->KH = f->shape[0], t->KW = f->shape[1], t->OC = f->shape[3];
    if (t->KH < 1 || t->KW < 1 || t->KH > TFJS_MAX_KERNEL || t->KW > TFJS_MAX_KERNEL)
        return vv_fail(VV_ERR_MODEL, "node '%s': bad filter size", node->name);
    if (f->shape[2] != t->C || x->shape[3] != t->OC || x->shape[0] != t->N)
        return vv_fail(VV_ERR_MODEL, "node '%s': input_sizes, filter [%d,%d,%d,%d] and input [%d,%d,%d,%d] do not fit",
                       node->name, f->shape[0], f->shape[1], f->shape[2], f->shape[3], x->shape[0], x->shape[1],
                       x->shape[2], x->shape[3]);
    size_t k;
    if (!size_mul3((size_t)t->KH, (size_t)t->KW, (size_t)t->C, &k) || k > INT_MAX)
        return vv_fail(VV_ERR_MODEL, "node '%s': filter too large", node->name);
    vv_status s = spatial_out(node, t->H, t->W, t->KH, t->KW, &t->OH, &t->OW, &t->pad_top, &t->pad_left);
    if (s) return s;
    if (t->OH != x->shape[1] || t->OW != x->shape[2])
        return vv_fail(VV_ERR_MODEL, "node '%s': a %dx%d convolution output does not come from %dx%d input_sizes",
                       node->name, x->shape[1], x->shape[2], t->H, t->W);
    return VV_OK;
}

static vv_status run_conv_transpose(run_state *r, const tfjs_node *node, value *out) {
    transpose_geometry t;
    vv_status s = transpose_geometry_of(r->model, r->values, node, &t);
    if (s) return s;
    int shape[4] = {t.N, t.H, t.W, t.C};
    if ((s = value_alloc(r, out, 4, shape, node))) return s;
    return conv2d_transpose_nhwc_forward(out->data, input_value(r, node, 2)->data, input_value(r, node, 1)->data,
                                         t.N, t.H, t.W, t.C, t.KH, t.KW, t.OC, node->stride_h, node->stride_w,
                                         t.pad_top, t.pad_left, t.OH, t.OW);
}

/* AddN: the elementwise sum of equally shaped inputs. */
static vv_status run_add_n(run_state *r, const tfjs_node *node, value *out) {
    const value *first = input_value(r, node, 0);
    for (int k = 1; k < node->input_count; k++) {
        const value *v = input_value(r, node, k);
        bool same = v->ndim == first->ndim;
        for (int i = 0; same && i < v->ndim; i++) same = v->shape[i] == first->shape[i];
        if (!same) return vv_fail(VV_ERR_MODEL, "node '%s': AddN inputs differ in shape", node->name);
    }
    int ndim = first->ndim, shape[TENSOR_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    const float *src = first->data;
    vv_status s = value_alloc_inplace(r, node, 0, out, ndim, shape);
    if (s) return s;
    if (!src) src = out->data; /* moved */
    size_t n = out->size;
    if (src != out->data) memcpy(out->data, src, n * sizeof(float));
    for (int k = 1; k < node->input_count; k++) {
        const float *v = input_value(r, node, k)->data;
        for (size_t i = 0; i < n; i++) out->data[i] += v[i];
    }
    return VV_OK;
}

static vv_status run_binary(run_state *r, const tfjs_node *node, value *out) {
    const value *a = input_value(r, node, 0), *b = input_value(r, node, 1);
    int shape[TENSOR_MAX_DIMS], ndim;
    if (!broadcast_shape(shape, &ndim, a->shape, a->ndim, b->shape, b->ndim, TENSOR_MAX_DIMS))
        return vv_fail(VV_ERR_MODEL, "node '%s': operand shapes do not broadcast", node->name);
    /* Reuse whichever operand has the output's size (and is dying here). */
    const value *reuse = a->size >= b->size ? a : b;
    int k = reuse == a ? 0 : 1;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    vv_status s = reuse->size == n ? value_alloc_inplace(r, node, k, out, ndim, shape)
                                   : value_alloc(r, out, ndim, shape, node);
    if (s) return s;
    /* After a move the operand's value slot lost its pointer: use the output buffer. */
    const float *ad = a->data ? a->data : out->data, *bd = b->data ? b->data : out->data;
    binary_forward(out->data, ad, bd, node->binary, shape, ndim, a->shape, a->ndim, b->shape, b->ndim);
    return VV_OK;
}

static vv_status run_unary(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    size_t n = x->size;
    const float *src = x->data;
    vv_status s = value_alloc_inplace(r, node, 0, out, x->ndim, x->shape);
    if (s) return s;
    if (!src) src = out->data; /* moved */
    switch (node->kind) {
    case KIND_RELU: relu_forward(out->data, src, n); break;
    case KIND_RELU6: relu6_forward(out->data, src, n); break;
    case KIND_SIGMOID: sigmoid_forward(out->data, src, n); break;
    case KIND_TANH: tanh_forward(out->data, src, n); break;
    case KIND_SOFTMAX: {
        int cols = out->ndim ? out->shape[out->ndim - 1] : 1;
        if (cols > 0) softmax_forward(out->data, src, n / (size_t)cols, cols);
        break;
    }
    default: break;
    }
    return VV_OK;
}

static vv_status run_bias_add(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0), *b = input_value(r, node, 1);
    int C = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || b->ndim != 1 || b->shape[0] != C)
        return vv_fail(VV_ERR_MODEL, "node '%s': bias does not match the channels", node->name);
    const float *src = x->data, *bias = b->data;
    size_t n = x->size;
    vv_status s = value_alloc_inplace(r, node, 0, out, x->ndim, x->shape);
    if (s) return s;
    if (!src) src = out->data;
    if (C > 0) bias_add_forward(out->data, src, bias, n / (size_t)C, C);
    return VV_OK;
}

static vv_status run_reshape(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const tfjs_node *target = &r->model->nodes[node->inputs[1]];
    int shape[TENSOR_MAX_DIMS], ndim = (int)target->size, free_axis = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        int d = target->idata[i];
        if (d == -1 && free_axis < 0) {
            free_axis = i;
            d = 1;
        } else if (d < 0) {
            return vv_fail(VV_ERR_MODEL, "node '%s': bad reshape target", node->name);
        }
        shape[i] = d;
        if (!size_mul(known, (size_t)d, &known))
            return vv_fail(VV_ERR_MODEL, "node '%s': bad reshape target", node->name);
    }
    if (free_axis >= 0) {
        if (known == 0 || x->size % known != 0 || x->size / known > INT_MAX)
            return vv_fail(VV_ERR_MODEL, "node '%s': cannot reshape %zu values", node->name, x->size);
        shape[free_axis] = (int)(x->size / known);
        known = x->size;
    }
    if (known != x->size)
        return vv_fail(VV_ERR_MODEL, "node '%s': reshape of %zu values to %zu", node->name, x->size, known);
    return value_alias(r, node, out, ndim, shape);
}

static vv_status run_squeeze(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    bool drop[TENSOR_MAX_DIMS] = {false};
    for (int i = 0; i < node->squeeze_count; i++) {
        int axis = node->squeeze_dims[i] < 0 ? node->squeeze_dims[i] + x->ndim : node->squeeze_dims[i];
        if (axis < 0 || axis >= x->ndim || x->shape[axis] != 1)
            return vv_fail(VV_ERR_MODEL, "node '%s': cannot squeeze axis %d", node->name, node->squeeze_dims[i]);
        drop[axis] = true;
    }
    int shape[TENSOR_MAX_DIMS], ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        bool d = node->squeeze_count ? drop[i] : x->shape[i] == 1;
        if (!d) shape[ndim++] = x->shape[i];
    }
    return value_alias(r, node, out, ndim, shape);
}

static vv_status run_pad(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const tfjs_node *pads = &r->model->nodes[node->inputs[1]];
    if (pads->shape[0] != x->ndim)
        return vv_fail(VV_ERR_MODEL, "node '%s': paddings for rank %d on a rank-%d tensor", node->name,
                       pads->shape[0], x->ndim);
    int before[TENSOR_MAX_DIMS], after[TENSOR_MAX_DIMS], shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        before[i] = pads->idata[2 * i];
        after[i] = pads->idata[2 * i + 1];
        long long d = (long long)x->shape[i] + before[i] + after[i];
        if (d > INT_MAX) return vv_fail(VV_ERR_TOO_LARGE, "node '%s': padded size too large", node->name);
        shape[i] = (int)d;
    }
    float fill = 0;
    if (node->input_count == 3) {
        const tfjs_node *v = &r->model->nodes[node->inputs[2]];
        fill = v->is_int ? (float)v->idata[0] : v->fdata[0];
    }
    vv_status s = value_alloc(r, out, x->ndim, shape, node);
    if (s) return s;
    pad_forward(out->data, x->data, x->shape, x->ndim, before, after, fill);
    return VV_OK;
}

static vv_status run_mean(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const tfjs_node *axes = &r->model->nodes[node->inputs[1]];
    bool reduce[TENSOR_MAX_DIMS] = {false};
    for (size_t i = 0; i < axes->size; i++) {
        int axis = axes->idata[i];
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis >= x->ndim)
            return vv_fail(VV_ERR_MODEL, "node '%s': axis %d out of range", node->name, axes->idata[i]);
        reduce[axis] = true;
    }
    int shape[TENSOR_MAX_DIMS], ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!reduce[i]) shape[ndim++] = x->shape[i];
        else if (node->keep_dims) shape[ndim++] = 1;
    }
    vv_status s = value_alloc(r, out, ndim, shape, node);
    if (s) return s;
    mean_forward(out->data, x->data, x->shape, x->ndim, reduce);
    return VV_OK;
}

static vv_status run_matmul(run_state *r, const tfjs_node *node, value *out) {
    const value *a = input_value(r, node, 0), *b = input_value(r, node, 1);
    if (a->ndim != 2 || b->ndim != 2) return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': MatMul of non-matrices", node->name);
    int M = node->transpose_a ? a->shape[1] : a->shape[0];
    int K = node->transpose_a ? a->shape[0] : a->shape[1];
    int K2 = node->transpose_b ? b->shape[1] : b->shape[0];
    int N = node->transpose_b ? b->shape[0] : b->shape[1];
    if (K != K2) return vv_fail(VV_ERR_MODEL, "node '%s': MatMul inner sizes %d and %d differ", node->name, K, K2);
    const float *bias, *alpha;
    vv_status s = fused_args(r, node, 2, N, &bias, &alpha);
    if (s) return s;
    int shape[2] = {M, N};
    if ((s = value_alloc(r, out, 2, shape, node))) return s;
    matmul_forward(out->data, a->data, b->data, bias, M, K, N, node->transpose_a, node->transpose_b);
    if (N > 0) apply_activation(out->data, out->size, N, node->act, node->leaky_alpha, alpha);
    return VV_OK;
}

static vv_status run_concat(run_state *r, const tfjs_node *node, value *out) {
    int count = node->input_count - 1;
    const value *first = input_value(r, node, 0);
    int axis = r->model->nodes[node->inputs[count]].idata[0];
    if (axis < 0) axis += first->ndim;
    if (axis < 0 || axis >= first->ndim) return vv_fail(VV_ERR_MODEL, "node '%s': concat axis out of range", node->name);
    const float **inputs = mem_alloc((size_t)count, sizeof(float *));
    size_t *inner = mem_alloc((size_t)count, sizeof(size_t));
    vv_status s = VV_OK;
    if (!inputs || !inner) {
        s = vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        goto end;
    }
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    long long axis_total = 0;
    size_t outer = 1, after = 1;
    for (int i = 0; i < axis; i++) outer *= (size_t)first->shape[i];
    for (int i = axis + 1; i < first->ndim; i++) after *= (size_t)first->shape[i];
    for (int k = 0; k < count; k++) {
        const value *v = input_value(r, node, k);
        bool ok = v->ndim == first->ndim;
        for (int i = 0; ok && i < v->ndim; i++) ok = i == axis || v->shape[i] == first->shape[i];
        if (!ok) {
            s = vv_fail(VV_ERR_MODEL, "node '%s': concat inputs differ off the axis", node->name);
            goto end;
        }
        axis_total += v->shape[axis];
        inputs[k] = v->data;
        inner[k] = (size_t)v->shape[axis] * after;
    }
    if (axis_total > INT_MAX) {
        s = vv_fail(VV_ERR_TOO_LARGE, "node '%s': concat too large", node->name);
        goto end;
    }
    shape[axis] = (int)axis_total;
    if ((s = value_alloc(r, out, first->ndim, shape, node))) goto end;
    concat_forward(out->data, inputs, inner, count, outer);
end:
    free(inputs);
    free(inner);
    return s;
}

static vv_status run_node(run_state *r, int index, const tensor *input) {
    const tfjs_model *m = r->model;
    const tfjs_node *node = &m->nodes[index];
    value *out = &r->values[index];
    int refs = out->refs;
    vv_status s = VV_OK;
    switch (node->kind) {
    case KIND_PLACEHOLDER:
        out->data = input->data;
        out->ndim = input->ndim;
        memcpy(out->shape, input->shape, sizeof out->shape);
        out->size = input->size;
        break;
    case KIND_CONST:
        out->data = node->fdata; /* NULL for int32 constants, which ops read from the node */
        out->ndim = node->ndim;
        memcpy(out->shape, node->shape, sizeof out->shape);
        out->size = node->size;
        break;
    case KIND_IDENTITY: {
        const value *x = input_value(r, node, 0);
        s = value_alias(r, node, out, x->ndim, x->shape);
        break;
    }
    case KIND_RESHAPE: s = run_reshape(r, node, out); break;
    case KIND_SQUEEZE: s = run_squeeze(r, node, out); break;
    case KIND_CONV2D:
    case KIND_DEPTHWISE: s = run_conv(r, node, out); break;
    case KIND_BIAS_ADD: s = run_bias_add(r, node, out); break;
    case KIND_BINARY: s = run_binary(r, node, out); break;
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX: s = run_unary(r, node, out); break;
    case KIND_MAX_POOL:
    case KIND_AVG_POOL: s = run_pool(r, node, out); break;
    case KIND_RESIZE_BILINEAR: s = run_resize_bilinear(r, node, out); break;
    case KIND_CONV2D_TRANSPOSE: s = run_conv_transpose(r, node, out); break;
    case KIND_ADD_N: s = run_add_n(r, node, out); break;
    case KIND_PAD: s = run_pad(r, node, out); break;
    case KIND_MEAN: s = run_mean(r, node, out); break;
    case KIND_MATMUL: s = run_matmul(r, node, out); break;
    case KIND_CONCAT: s = run_concat(r, node, out); break;
    }
    out->refs = refs;
    if (s) return s;
    /* Release inputs this was the last user of. */
    for (int k = 0; k < node->input_count; k++) {
        value *in = &r->values[node->inputs[k]];
        if (--in->refs == 0) value_release(r, in);
    }
    return VV_OK;
}

static int find_output(const tfjs_model *m, const char *name) {
    if (!name) return m->outputs[0];
    const char *ref;
    size_t len;
    bool control, other;
    if (!split_input_ref(name, &ref, &len, &control, &other) || control || other) return -1;
    return model_find_len(m, ref, len);
}

/* The input must fit the placeholder's declared shape and the size cap. */
static vv_status check_input(const tfjs_model *model, const tensor *input) {
    int want_ndim = model->input_ndim;
    bool fits = input->ndim >= 0 && input->ndim <= TENSOR_MAX_DIMS && (want_ndim < 0 || input->ndim == want_ndim);
    size_t n = 1;
    for (int i = 0; fits && i < input->ndim; i++) {
        fits = input->shape[i] > 0 && (want_ndim < 0 || model->input_shape[i] < 0 ||
                                       model->input_shape[i] == input->shape[i]);
        if (fits) fits = size_mul(n, (size_t)input->shape[i], &n);
    }
    if (fits && n > TFJS_MAX_ELEMENTS)
        return vv_fail(VV_ERR_TOO_LARGE, "tfjs_model_run: input of %zu values is over the limit", n);
    if (!fits || n != input->size) {
        char want[96] = "";
        for (int i = 0; i < want_ndim && strlen(want) < 80; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? "x" : "", model->input_shape[i]);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run: input shape does not fit the model's %s", want);
    }
    return VV_OK;
}

vv_status tfjs_model_run_outputs(const tfjs_model *model, const tensor *input,
                                 const char *const *output_names, int count, tensor *outputs) {
    for (int i = 0; i < count; i++) memset(&outputs[i], 0, sizeof outputs[i]);
    if (!model || !input || !input->data || count <= 0 || !outputs)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run: missing model, input or outputs");
    vv_status cs = check_input(model, input);
    if (cs) return cs;
    int *targets = mem_alloc((size_t)count, sizeof(int));
    value *values = mem_calloc((size_t)model->node_count, sizeof(value));
    bool *needed = mem_calloc((size_t)model->node_count, sizeof(bool));
    vv_status s = VV_OK;
    if (!targets || !values || !needed) {
        s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run: out of memory");
        goto end;
    }
    for (int i = 0; i < count; i++) {
        targets[i] = find_output(model, output_names ? output_names[i] : NULL);
        if (targets[i] < 0) {
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run: the model has no node '%s'", output_names[i]);
            goto end;
        }
        needed[targets[i]] = true;
        values[targets[i]].refs++; /* held for the caller */
    }
    /* Needed nodes: walk the topological order backwards from the targets. */
    for (int o = model->node_count - 1; o >= 0; o--) {
        int i = model->order[o];
        if (!needed[i]) continue;
        const tfjs_node *node = &model->nodes[i];
        for (int k = 0; k < node->input_count; k++) {
            needed[node->inputs[k]] = true;
            values[node->inputs[k]].refs++;
        }
    }
    run_state r = {model, values, run_activation_cap(input), 0};
    for (int o = 0; o < model->node_count && s == VV_OK; o++) {
        int i = model->order[o];
        if (needed[i]) s = run_node(&r, i, input);
    }
    for (int i = 0; i < count && s == VV_OK; i++) {
        const value *v = &values[targets[i]];
        if (!v->data) { /* an int32 constant */
            s = vv_fail(VV_ERR_UNSUPPORTED, "tfjs_model_run: output '%s' is not a float tensor",
                        model->nodes[targets[i]].name);
            break;
        }
        if ((s = tensor_alloc(&outputs[i], v->ndim, v->shape))) break;
        memcpy(outputs[i].data, v->data, v->size * sizeof(float));
    }
end:
    if (values) {
        run_state rs = {model, values, TFJS_MAX_ELEMENTS, 0};
        for (int i = 0; i < model->node_count; i++) value_release(&rs, &values[i]);
    }
    if (s)
        for (int i = 0; i < count; i++) tensor_free(&outputs[i]);
    free(targets);
    free(values);
    free(needed);
    return s;
}

vv_status tfjs_model_run(const tfjs_model *model, const tensor *input, const char *output_name,
                         tensor *output) {
    const char *names[1] = {output_name};
    return tfjs_model_run_outputs(model, input, names, 1, output);
}

vv_status tfjs_model_run_multi(const tfjs_model *model, const tensor *input,
                               const char *const *output_names, int output_count,
                               tensor *outputs) {
    return tfjs_model_run_outputs(model, input, output_names, output_count, outputs);
}

/* ---------------------------------------------------------------- training mode ---- */

/* A training-mode run keeps the activations the backward pass reads: an extra reference
 * on each keeps it from being released or taken over in place by a later node. */
struct tfjs_tape {
    const tfjs_model *model;
    value *values;
    bool *needed;
    bool *requires_grad; /* depends on the input */
    int targets[TFJS_TRAIN_MAX_OUTPUTS], target_count;
    tensor input; /* a copy: the placeholder's value points into it */
};

/* Whether node's backward reads the value of its data input k. */
static bool backward_reads_input(const tfjs_node *node, int k) {
    switch (node->kind) {
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_MAX_POOL: return k == 0;
    case KIND_BINARY: return node->binary != BINARY_ADD && node->binary != BINARY_SUB;
    case KIND_MATMUL: return k <= 1;
    case KIND_CONV2D:
    case KIND_DEPTHWISE: return k == 1 || (node->act == ACT_PRELU && k == node->input_count - 1);
    case KIND_CONV2D_TRANSPOSE: return k == 1;
    default: return false;
    }
}

/* Whether node's backward reads its own output. */
static bool backward_reads_output(const tfjs_node *node) {
    switch (node->kind) {
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX: return true;
    case KIND_CONV2D:
    case KIND_DEPTHWISE:
    case KIND_MATMUL: return node->act != ACT_NONE;
    default: return false;
    }
}

void tfjs_tape_free(tfjs_tape *tape) {
    if (!tape) return;
    if (tape->values) {
        run_state rs = {tape->model, tape->values, TFJS_MAX_ELEMENTS, 0};
        for (int i = 0; i < tape->model->node_count; i++) value_release(&rs, &tape->values[i]);
    }
    free(tape->values);
    free(tape->needed);
    free(tape->requires_grad);
    tensor_free(&tape->input);
    free(tape);
}

vv_status tfjs_model_run_train_outputs(const tfjs_model *model, const tensor *input, const char *const *output_names,
                                       int output_count, tensor *outputs, tfjs_tape **tape_out) {
    for (int k = 0; outputs && k < output_count && k <= TFJS_TRAIN_MAX_OUTPUTS; k++) memset(&outputs[k], 0, sizeof outputs[k]);
    if (tape_out) *tape_out = NULL;
    if (!model || !input || !input->data || !outputs || !tape_out || output_count < 1 || output_count > TFJS_TRAIN_MAX_OUTPUTS)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run_train: missing model, input, outputs or tape, or %d outputs "
                       "(1 to %d)", output_count, TFJS_TRAIN_MAX_OUTPUTS);
    vv_status s = check_input(model, input);
    if (s) return s;
    int targets[TFJS_TRAIN_MAX_OUTPUTS];
    for (int k = 0; k < output_count; k++) {
        const char *name = output_names ? output_names[k] : NULL;
        targets[k] = find_output(model, name);
        if (targets[k] < 0)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run_train: the model has no node '%s'",
                           name ? name : "(first output)");
        for (int j = 0; j < k; j++)
            if (targets[j] == targets[k])
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run_train: node '%s' asked for twice", model->nodes[targets[k]].name);
    }
    int count = model->node_count;
    tfjs_tape *t = calloc(1, sizeof *t);
    if (!t) return vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run_train: out of memory");
    t->model = model;
    memcpy(t->targets, targets, sizeof targets);
    t->target_count = output_count;
    t->values = mem_calloc((size_t)count, sizeof(value));
    t->needed = mem_calloc((size_t)count, sizeof(bool));
    t->requires_grad = mem_calloc((size_t)count, sizeof(bool));
    if (!t->values || !t->needed || !t->requires_grad) {
        s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run_train: out of memory");
        goto end;
    }
    if ((s = tensor_alloc(&t->input, input->ndim, input->shape))) goto end;
    memcpy(t->input.data, input->data, input->size * sizeof(float));

    value *values = t->values;
    bool *held = mem_calloc((size_t)count, sizeof(bool)); /* the targets: kept for the backward pass */
    if (!held) {
        s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run_train: out of memory");
        goto end;
    }
    for (int k = 0; k < output_count; k++) {
        t->needed[targets[k]] = true;
        held[targets[k]] = true;
        values[targets[k]].refs++;
    }
    for (int o = count - 1; o >= 0; o--) {
        int i = model->order[o];
        if (!t->needed[i]) continue;
        const tfjs_node *node = &model->nodes[i];
        if (backward_reads_output(node) && !held[i]) values[i].refs++;
        for (int k = 0; k < node->input_count; k++) {
            int in = node->inputs[k];
            t->needed[in] = true;
            values[in].refs++;
            if (backward_reads_input(node, k)) values[in].refs++;
        }
    }
    free(held);
    for (int o = 0; o < count; o++) {
        int i = model->order[o];
        const tfjs_node *node = &model->nodes[i];
        bool rg = i == model->input_node;
        for (int k = 0; k < node->input_count && !rg; k++) rg = t->requires_grad[node->inputs[k]];
        t->requires_grad[i] = rg;
    }
    run_state r = {model, values, run_activation_cap(&t->input), 0};
    for (int o = 0; o < count && s == VV_OK; o++) {
        int i = model->order[o];
        if (t->needed[i]) s = run_node(&r, i, &t->input);
    }
    for (int k = 0; k < output_count && s == VV_OK; k++) {
        const value *v = &values[targets[k]];
        if (!v->data) {
            s = vv_fail(VV_ERR_UNSUPPORTED, "tfjs_model_run_train: output '%s' is not a float tensor",
                        model->nodes[targets[k]].name);
            break;
        }
        if ((s = tensor_alloc(&outputs[k], v->ndim, v->shape))) break;
        memcpy(outputs[k].data, v->data, v->size * sizeof(float));
    }
end:
    if (s) {
        for (int k = 0; k < output_count; k++) tensor_free(&outputs[k]);
        tfjs_tape_free(t);
        return s;
    }
    *tape_out = t;
    return VV_OK;
}

vv_status tfjs_model_run_train(const tfjs_model *model, const tensor *input, const char *output_name,
                               tensor *output, tfjs_tape **tape_out) {
    const char *names[1] = {output_name};
    return tfjs_model_run_train_outputs(model, input, names, 1, output, tape_out);
}

/* g_pre = g * act'(pre) from the fused op's output (out > 0 iff pre > 0 when the leaky
 * slopes are positive, which is checked). */
static vv_status activation_backward(float *g_pre, const float *g, const float *out, size_t n, int C,
                                     const tfjs_node *node, const float *prelu) {
    memset(g_pre, 0, n * sizeof(float));
    switch (node->act) {
    case ACT_NONE: memcpy(g_pre, g, n * sizeof(float)); break;
    case ACT_RELU: relu_backward(g_pre, g, out, n); break;
    case ACT_RELU6: relu6_backward(g_pre, g, out, n); break;
    case ACT_SIGMOID: sigmoid_backward(g_pre, g, out, n); break;
    case ACT_LEAKY_RELU:
        if (!(node->leaky_alpha > 0))
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward through a leaky ReLU with slope <= 0", node->name);
        leaky_relu_backward(g_pre, g, out, node->leaky_alpha, n);
        break;
    case ACT_PRELU:
        for (int c = 0; c < C; c++)
            if (!(prelu[c] > 0))
                return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward through a PReLU with slope <= 0", node->name);
        prelu_backward(g_pre, NULL, g, out, prelu, n / (size_t)C, C);
        break;
    }
    return VV_OK;
}

typedef struct backward_state {
    const tfjs_tape *tape;
    float **grads; /* per node, zeroed on first use; NULL: no gradient reached it */
} backward_state;

/* Gradient buffer of node's input k, or NULL when that input does not depend on the
 * model's input (constants: the network is frozen). */
static vv_status grad_of_input(backward_state *b, const tfjs_node *node, int k, float **out) {
    int in = node->inputs[k];
    *out = NULL;
    if (!b->tape->requires_grad[in]) return VV_OK;
    if (!b->grads[in]) {
        size_t n = b->tape->values[in].size;
        b->grads[in] = mem_alloc_aligned((n ? n : 1) * sizeof(float));
        if (!b->grads[in]) return vv_fail(VV_ERR_NO_MEMORY, "tfjs backward: out of memory at node '%s'", node->name);
        memset(b->grads[in], 0, n * sizeof(float));
    }
    *out = b->grads[in];
    return VV_OK;
}

static vv_status backward_conv(backward_state *b, const tfjs_node *node, const value *y, const float *g) {
    const value *x = &b->tape->values[node->inputs[0]], *f = &b->tape->values[node->inputs[1]];
    for (int k = 1; k < node->input_count; k++)
        if (b->tape->requires_grad[node->inputs[k]])
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward to computed filters or biases", node->name);
    float *dx;
    vv_status s = grad_of_input(b, node, 0, &dx);
    if (s || !dx) return s;
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int KH = f->shape[0], KW = f->shape[1], OC = y->shape[3];
    int OH, OW, pad_top, pad_left;
    if ((s = spatial_out(node, H, W, KH, KW, &OH, &OW, &pad_top, &pad_left))) return s;
    const float *bias, *alpha;
    run_state rs = {b->tape->model, b->tape->values, TFJS_MAX_ELEMENTS, 0};
    if ((s = fused_args(&rs, node, 2, OC, &bias, &alpha))) return s;
    float *g_pre = NULL;
    if (node->act != ACT_NONE) {
        g_pre = mem_alloc_aligned(y->size * sizeof(float));
        if (!g_pre) return vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        if ((s = activation_backward(g_pre, g, y->data, y->size, OC, node, alpha))) goto end;
        g = g_pre;
    }
    if (node->kind == KIND_DEPTHWISE)
        depthwise_conv2d_nhwc_backward(dx, NULL, NULL, g, NULL, f->data, N, H, W, C, KH, KW, f->shape[3],
                                       node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
    else
        s = conv2d_nhwc_backward(dx, NULL, NULL, g, NULL, f->data, N, H, W, C, KH, KW, OC, node->stride_h,
                                 node->stride_w, pad_top, pad_left, OH, OW);
end:
    mem_free_aligned(g_pre);
    return s;
}

static vv_status backward_matmul(backward_state *b, const tfjs_node *node, const value *y, const float *g) {
    const value *a = &b->tape->values[node->inputs[0]], *bv = &b->tape->values[node->inputs[1]];
    if (node->act == ACT_PRELU && b->tape->requires_grad[node->inputs[node->input_count - 1]])
        return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward to a computed PReLU slope", node->name);
    float *da, *db, *dbias = NULL;
    vv_status s;
    if ((s = grad_of_input(b, node, 0, &da)) || (s = grad_of_input(b, node, 1, &db))) return s;
    if (node->has_bias && (s = grad_of_input(b, node, 2, &dbias))) return s;
    if (!da && !db && !dbias) return VV_OK;
    int M = node->transpose_a ? a->shape[1] : a->shape[0];
    int K = node->transpose_a ? a->shape[0] : a->shape[1];
    int N = y->shape[1];
    const float *bias, *alpha;
    run_state rs = {b->tape->model, b->tape->values, TFJS_MAX_ELEMENTS, 0};
    if ((s = fused_args(&rs, node, 2, N, &bias, &alpha))) return s;
    float *g_pre = NULL;
    if (node->act != ACT_NONE) {
        g_pre = mem_alloc_aligned(y->size * sizeof(float));
        if (!g_pre) return vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        if ((s = activation_backward(g_pre, g, y->data, y->size, N, node, alpha))) goto end;
        g = g_pre;
    }
    matmul_backward(da, db, dbias, g, a->data, bv->data, M, K, N, node->transpose_a, node->transpose_b);
end:
    mem_free_aligned(g_pre);
    return s;
}

/* Sends node i's output gradient g to its inputs. */
static vv_status backward_node(backward_state *b, int i, const float *g) {
    const tfjs_tape *t = b->tape;
    const tfjs_model *m = t->model;
    const tfjs_node *node = &m->nodes[i];
    const value *y = &t->values[i];
    float *dx = NULL;
    vv_status s = VV_OK;
    switch (node->kind) {
    case KIND_PLACEHOLDER:
    case KIND_CONST: return VV_OK;
    case KIND_IDENTITY:
    case KIND_RESHAPE:
    case KIND_SQUEEZE:
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        for (size_t k = 0; k < y->size; k++) dx[k] += g[k];
        return VV_OK;
    case KIND_CONV2D:
    case KIND_DEPTHWISE: return backward_conv(b, node, y, g);
    case KIND_MATMUL: return backward_matmul(b, node, y, g);
    case KIND_BIAS_ADD: {
        float *dbias;
        if ((s = grad_of_input(b, node, 0, &dx)) || (s = grad_of_input(b, node, 1, &dbias))) return s;
        int C = y->shape[y->ndim - 1];
        if (C > 0) bias_add_backward(dx, dbias, g, y->size / (size_t)C, C);
        return VV_OK;
    }
    case KIND_BINARY: {
        const value *a = &t->values[node->inputs[0]], *bv = &t->values[node->inputs[1]];
        float *da, *db;
        if ((s = grad_of_input(b, node, 0, &da)) || (s = grad_of_input(b, node, 1, &db))) return s;
        binary_backward(da, db, g, a->data, bv->data, node->binary, y->shape, y->ndim, a->shape, a->ndim,
                        bv->shape, bv->ndim);
        return VV_OK;
    }
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const float *x = t->values[node->inputs[0]].data;
        size_t n = y->size;
        if (node->kind == KIND_RELU) relu_backward(dx, g, x, n);
        else if (node->kind == KIND_RELU6) relu6_backward(dx, g, x, n);
        else if (node->kind == KIND_SIGMOID) sigmoid_backward(dx, g, y->data, n);
        else if (node->kind == KIND_TANH) tanh_backward(dx, g, y->data, n);
        else {
            int cols = y->ndim ? y->shape[y->ndim - 1] : 1;
            if (cols > 0) softmax_backward(dx, g, y->data, n / (size_t)cols, cols);
        }
        return VV_OK;
    }
    case KIND_AVG_POOL: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        int H = x->shape[1], W = x->shape[2], OH, OW, pad_top, pad_left;
        if ((s = spatial_out(node, H, W, node->kernel_h, node->kernel_w, &OH, &OW, &pad_top, &pad_left))) return s;
        avg_pool_nhwc_backward(dx, g, x->shape[0], H, W, x->shape[3], node->kernel_h, node->kernel_w,
                               node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
        return VV_OK;
    }
    case KIND_RESIZE_BILINEAR: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        resize_bilinear_nhwc_backward(dx, g, x->shape[0], x->shape[1], x->shape[2], x->shape[3], y->shape[1],
                                      y->shape[2], node->align_corners, node->half_pixel_centers);
        return VV_OK;
    }
    case KIND_CONV2D_TRANSPOSE: {
        if (t->requires_grad[node->inputs[1]])
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward to a computed filter", node->name);
        if ((s = grad_of_input(b, node, 2, &dx)) || !dx) return s;
        transpose_geometry tg;
        if ((s = transpose_geometry_of(m, t->values, node, &tg))) return s;
        return conv2d_transpose_nhwc_backward(dx, NULL, g, NULL, t->values[node->inputs[1]].data, tg.N, tg.H, tg.W,
                                              tg.C, tg.KH, tg.KW, tg.OC, node->stride_h, node->stride_w, tg.pad_top,
                                              tg.pad_left, tg.OH, tg.OW);
    }
    case KIND_ADD_N:
        for (int k = 0; k < node->input_count; k++) {
            if ((s = grad_of_input(b, node, k, &dx))) return s;
            if (dx)
                for (size_t e = 0; e < y->size; e++) dx[e] += g[e];
        }
        return VV_OK;
    case KIND_MAX_POOL: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        int H = x->shape[1], W = x->shape[2], OH, OW, pad_top, pad_left;
        if ((s = spatial_out(node, H, W, node->kernel_h, node->kernel_w, &OH, &OW, &pad_top, &pad_left))) return s;
        max_pool_nhwc_backward(dx, g, x->data, x->shape[0], H, W, x->shape[3], node->kernel_h, node->kernel_w,
                               node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
        return VV_OK;
    }
    case KIND_PAD: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        const tfjs_node *pads = &m->nodes[node->inputs[1]];
        int before[TENSOR_MAX_DIMS], after[TENSOR_MAX_DIMS];
        for (int k = 0; k < x->ndim; k++) before[k] = pads->idata[2 * k], after[k] = pads->idata[2 * k + 1];
        pad_backward(dx, g, x->shape, x->ndim, before, after);
        return VV_OK;
    }
    case KIND_MEAN: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        const tfjs_node *axes = &m->nodes[node->inputs[1]];
        bool reduce[TENSOR_MAX_DIMS] = {false};
        for (size_t k = 0; k < axes->size; k++) reduce[axes->idata[k] < 0 ? axes->idata[k] + x->ndim : axes->idata[k]] = true;
        mean_backward(dx, g, x->shape, x->ndim, reduce);
        return VV_OK;
    }
    case KIND_CONCAT: {
        int count = node->input_count - 1;
        const value *first = &t->values[node->inputs[0]];
        int axis = m->nodes[node->inputs[count]].idata[0];
        if (axis < 0) axis += first->ndim;
        float **d = mem_calloc((size_t)count, sizeof(float *));
        size_t *inner = mem_alloc((size_t)count, sizeof(size_t));
        if (!d || !inner) {
            s = vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        } else {
            size_t outer = 1, after = 1;
            for (int k = 0; k < axis; k++) outer *= (size_t)first->shape[k];
            for (int k = axis + 1; k < first->ndim; k++) after *= (size_t)first->shape[k];
            for (int k = 0; k < count && !s; k++) {
                inner[k] = (size_t)t->values[node->inputs[k]].shape[axis] * after;
                s = grad_of_input(b, node, k, &d[k]);
            }
            if (!s) concat_backward(d, g, inner, count, outer);
        }
        free(d);
        free(inner);
        return s;
    }
    }
    return VV_OK;
}

vv_status tfjs_model_backward_outputs(const tfjs_model *model, const tfjs_tape *tape, const tensor *d_outputs,
                                      int output_count, tensor *d_input) {
    if (d_input) memset(d_input, 0, sizeof *d_input);
    if (!model || !tape || tape->model != model || !d_outputs || !d_input || output_count != tape->target_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_backward: missing model, tape or gradients, or %d gradients "
                       "for %d outputs", output_count, tape ? tape->target_count : 0);
    for (int k = 0; k < output_count; k++) {
        const value *y = &tape->values[tape->targets[k]];
        if (!d_outputs[k].data || d_outputs[k].size != y->size)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_backward: gradient %d has %zu values, its output %zu", k,
                           d_outputs[k].data ? d_outputs[k].size : 0, y->size);
    }
    vv_status s = tensor_zeros(d_input, tape->input.ndim, tape->input.shape);
    if (s) return s;
    bool any = false; /* does an output depend on the input at all */
    for (int k = 0; k < output_count; k++) any = any || tape->requires_grad[tape->targets[k]];
    if (!any) return VV_OK;
    backward_state b = {tape, mem_calloc((size_t)model->node_count, sizeof(float *))};
    if (!b.grads) {
        tensor_free(d_input);
        return vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_backward: out of memory");
    }
    /* Each output's gradient seeds its node; nodes downstream of it add theirs on the way. */
    for (int k = 0; k < output_count && s == VV_OK; k++) {
        int target = tape->targets[k];
        if (!tape->requires_grad[target]) continue;
        size_t n = tape->values[target].size;
        b.grads[target] = mem_alloc_aligned((n ? n : 1) * sizeof(float));
        if (!b.grads[target]) s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_backward: out of memory");
        else memcpy(b.grads[target], d_outputs[k].data, n * sizeof(float));
    }
    /* Reverse topological order: a node's gradient is complete before it is sent on. */
    for (int o = model->node_count - 1; o >= 0 && s == VV_OK; o--) {
        int i = model->order[o];
        if (!tape->needed[i] || !b.grads[i] || i == model->input_node) continue;
        s = backward_node(&b, i, b.grads[i]);
        mem_free_aligned(b.grads[i]);
        b.grads[i] = NULL;
    }
    if (s == VV_OK && b.grads[model->input_node])
        memcpy(d_input->data, b.grads[model->input_node], d_input->size * sizeof(float));
    for (int i = 0; i < model->node_count; i++) mem_free_aligned(b.grads[i]);
    free(b.grads);
    if (s) tensor_free(d_input);
    return s;
}

vv_status tfjs_model_backward(const tfjs_model *model, const tfjs_tape *tape, const tensor *d_output,
                              tensor *d_input) {
    if (d_input) memset(d_input, 0, sizeof *d_input);
    if (!d_output) return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_backward: missing gradients");
    return tfjs_model_backward_outputs(model, tape, d_output, 1, d_input);
}
