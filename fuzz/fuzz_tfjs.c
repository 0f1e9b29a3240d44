/* Fuzz target: tfjs_model_load.  Input: model.json bytes, a NUL byte, then the bytes of
 * the one weight shard the seeds name "w.bin" (no NUL: the whole input is the JSON and
 * w.bin is empty).  A model whose input is small is also run once on a ramp, so shapes
 * the loader accepted are used by the graph runner too. */
#include "fuzz_common.h"

#include "nn/tfjs.h"

#define FUZZ_MAX_INPUT_ELEMENTS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *split = memchr(data, 0, size);
    size_t json_size = split ? (size_t)(split - data) : size;
    char json_path[512], shard_path[512];
    fuzz_write_file("w.bin", split ? split + 1 : data, split ? size - json_size - 1 : 0, shard_path,
                    sizeof shard_path);
    fuzz_write_file("model.json", data, json_size, json_path, sizeof json_path);
    tfjs_model *model = NULL;
    if (fuzz_status(tfjs_model_load(&model, json_path)) != VV_OK) return 0;
    int shape[TENSOR_MAX_DIMS], dims[TENSOR_MAX_DIMS];
    int ndim = tfjs_model_input_shape(model, shape);
    size_t elements = ndim > 0 ? 1 : 0;
    for (int i = 0; i < ndim && elements; i++) {
        dims[i] = shape[i] < 0 ? 1 : shape[i];
        if (dims[i] <= 0 || dims[i] > FUZZ_MAX_INPUT_ELEMENTS) elements = 0;
        else elements *= (size_t)dims[i];
        if (elements > FUZZ_MAX_INPUT_ELEMENTS) elements = 0;
    }
    if (elements > 0) {
        tensor input = {0}, output = {0};
        if (tensor_alloc(&input, ndim, dims) == VV_OK) {
            for (size_t i = 0; i < elements; i++) input.data[i] = (float)(i % 17) / 8.0f - 1.0f;
            if (fuzz_status(tfjs_model_run(model, &input, NULL, &output)) == VV_OK) tensor_free(&output);
            tensor_free(&input);
        }
    }
    tfjs_model_free(model);
    return 0;
}
