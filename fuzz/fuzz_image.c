/* Fuzz target: image_load_memory (PNG / JPEG sniffing, decode, EXIF orientation). */
#include "fuzz_common.h"

#include "img/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vv_image image = {0};
    if (fuzz_status(image_load_memory(&image, data, size, "fuzz")) == VV_OK) {
        /* Touch every pixel so a short buffer shows up under ASan. */
        unsigned sum = 0;
        size_t bytes = (size_t)image.width * (size_t)image.height * (size_t)image.channels;
        for (size_t i = 0; i < bytes; i++) sum += image.data[i];
        if (image.channels != 3 || image.width <= 0 || image.height <= 0) abort();
        (void)sum;
        image_free(&image);
    }
    return 0;
}
