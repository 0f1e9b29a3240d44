/* Fuzz target: safetensors_parse, then every tensor converted to float. */
#include "fuzz_common.h"

#include "nn/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    safetensors_file file;
    memset(&file, 0, sizeof file);
    if (fuzz_status(safetensors_parse(&file, data, size)) != VV_OK) return 0;
    for (int i = 0; i < file.count; i++) {
        const safetensors_tensor *t = &file.tensors[i];
        if (safetensors_find(&file, t->name) == NULL) abort();
        if (t->count > (1u << 20)) continue;
        float *values = malloc((t->count ? t->count : 1) * sizeof *values);
        if (!values) continue;
        if (safetensors_read_f32(&file, t->name, values, t->count) != VV_OK) abort();
        /* A wrong count must be refused, never read. */
        if (safetensors_read_f32(&file, t->name, values, t->count + 1) == VV_OK) abort();
        free(values);
    }
    (void)safetensors_metadata(&file, "format");
    safetensors_close(&file);
    return 0;
}
