/* nn/safetensors: the safetensors checkpoint format (Hugging Face), read and write.
 *
 * Layout: u64 little-endian header length L, L bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "string value"}}
 * then the data region; offsets are relative to it.  We read F32, F16 and BF16 (others
 * are refused as unsupported) and convert to float on access.  The reader treats the
 * file as hostile: the header length is capped, the JSON must be an object of objects
 * with exactly these fields, every shape's byte count must equal its offsets' span, spans
 * lie inside the data region and do not overlap, and the region has no unindexed bytes. */
#ifndef VV_NN_SAFETENSORS_H
#define VV_NN_SAFETENSORS_H

#include "base/base.h"

#define SAFETENSORS_MAX_DIMS 8
#define SAFETENSORS_MAX_HEADER (64u << 20)
#define SAFETENSORS_MAX_TENSORS 100000

typedef enum safetensors_dtype {
    SAFETENSORS_F32,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
} safetensors_dtype;

typedef struct safetensors_tensor {
    char *name;
    safetensors_dtype dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    size_t count;  /* elements */
    size_t offset; /* bytes from the start of the data region */
    size_t bytes;
} safetensors_tensor;

typedef struct safetensors_file {
    uint8_t *bytes; /* the whole file */
    size_t size;
    const uint8_t *data; /* the data region inside bytes */
    size_t data_size;
    safetensors_tensor *tensors;
    int count;
    char **meta_keys, **meta_values;
    int meta_count;
} safetensors_file;

/* Reads and validates a file (at most max_bytes; 0 means 4 GiB). */
vv_status safetensors_open(safetensors_file *f, const char *path, size_t max_bytes);
/* Validates a file image in memory; takes a copy. */
vv_status safetensors_parse(safetensors_file *f, const uint8_t *bytes, size_t size);
void safetensors_close(safetensors_file *f);

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);
/* The string value of a __metadata__ key, or NULL. */
const char *safetensors_metadata(const safetensors_file *f, const char *key);
/* Converts a tensor to float; `count` must equal its element count. */
vv_status safetensors_read_f32(const safetensors_file *f, const char *name, float *out,
                               size_t count);

typedef struct safetensors_entry {
    const char *name;
    safetensors_dtype dtype; /* storage type; data is converted from float */
    int ndim;
    const int64_t *shape;
    const float *data;
} safetensors_entry;

/* Writes tensors (in the given order, names unique) and optional metadata atomically. */
vv_status safetensors_write(const char *path, const safetensors_entry *entries, int count,
                            const char *const *meta_keys, const char *const *meta_values,
                            int meta_count);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);

#endif
