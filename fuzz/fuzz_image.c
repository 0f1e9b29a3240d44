/* Fuzz target: image_load_memory (PNG / JPEG sniffing, decode, EXIF orientation). */
#include "fuzz_common.h"

#include "img/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vv_image image = {0};
    if (fuzz_status(image_load_memory(&image, data, size, "fuzz")) == VV_OK) {
        /* Touch both ends of every row so a short buffer shows up under ASan (not every
         * pixel: at 80 megapixels an instrumented loop over all of them times out). */
        unsigned sum = 0;
        size_t row = (size_t)image.width * (size_t)image.channels;
        for (size_t y = 0; y < (size_t)image.height; y++) sum += image.data[y * row] + image.data[y * row + row - 1];
        if (image.channels != 3 || image.width <= 0 || image.height <= 0) abort();
        (void)sum;
        image_free(&image);
    }
    return 0;
}
