/* Fuzz target: video_reader_open + video_reader_next over any container/codec FFmpeg
 * probes (the input goes through a scratch file: the reader takes a path). */
#include "fuzz_common.h"

#include "img/image.h"
#include "video/video.h"

/* Enough frames to reach the decoder's steady state and the rotation path. */
#define FUZZ_MAX_FRAMES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_write_file("input", data, size, path, sizeof path);
    video_reader *reader = NULL;
    if (fuzz_status(video_reader_open(&reader, path)) != VV_OK) return 0;
    const video_info *info = video_reader_info(reader);
    if (info->width <= 0 || info->height <= 0) abort();
    vv_image frame = {0};
    for (int i = 0; i < FUZZ_MAX_FRAMES; i++) {
        double time;
        bool got = false;
        if (video_reader_next(reader, &frame, &time, &got) != VV_OK || !got) break;
        if (frame.channels != 3) abort();
        size_t last = (size_t)frame.width * (size_t)frame.height * 3 - 1;
        volatile uint8_t touch = frame.data[0] ^ frame.data[last];
        (void)touch;
    }
    image_free(&frame);
    video_reader_close(reader);
    return 0;
}
