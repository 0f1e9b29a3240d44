/* Fuzz target: shape_predictor_load_memory (dlib's serialisation), or, for input that
 * starts as vivify's cache file does, shape_predictor_load_cache_memory; then predictions
 * so every index the loader accepted is also used. */
#include "fuzz_common.h"

#include "face/shape_predictor.h"
#include "img/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    shape_predictor *predictor = NULL;
    bool cache = size >= 5 && !memcmp(data, "vvspc", 5);
    if (fuzz_status(cache ? shape_predictor_load_cache_memory(&predictor, data, size)
                          : shape_predictor_load_memory(&predictor, data, size, "fuzz")) != VV_OK)
        return 0;
    int parts = shape_predictor_landmark_count(predictor);
    if (parts <= 0 || parts > 512) abort();
    static float points[512][2];
    vv_image gray = {0};
    if (image_create(&gray, 24, 20, 1) == VV_OK) {
        for (int i = 0; i < 24 * 20; i++) gray.data[i] = (uint8_t)(i * 37);
        const float box[4] = { 2, 3, 20, 17 };
        shape_predict(predictor, &gray, box, points);
        /* A box far outside the image: feature pixels clamp to its edges. */
        const float outside[4] = { -500, 900, -100, 1300 };
        shape_predict(predictor, &gray, outside, points);
        image_free(&gray);
    }
    shape_predictor_free(predictor);
    return 0;
}
