/* Fuzz target: motion_load (vivify-motion JSON templates: landmark tracks), then the gap
 * filling and reference choice every loaded track goes through in animate. */
#include "fuzz_common.h"

#include "face/motion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_write_file("motion.json", data, size, path, sizeof path);
    motion_track track;
    if (fuzz_status(motion_load(&track, path)) != VV_OK) return 0;
    if (track.frame_count < 1 || track.frame_count > MOTION_MAX_FRAMES) abort();
    int first = motion_first_found(&track);
    if (first < 0 || first >= track.frame_count) abort();
    if (motion_fill_gaps(&track, first) == VV_OK)
        (void)motion_reference_best(&track, (const float (*)[2])track.points[first]);
    motion_track_free(&track);
    return 0;
}
