/* Fuzz target: dataset_open (header, index, names, config; or a sharded set's manifest,
 * whose shards are then usually absent, and its person table) and dataset_read_frame on
 * the first and last frame of every clip, plus episode draws in every mode. */
#include "fuzz_common.h"

#include "img/image.h"
#include "train/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_write_file("set.vvds", data, size, path, sizeof path);
    dataset *ds = NULL;
    if (fuzz_status(dataset_open(&ds, path)) != VV_OK) return 0;
    (void)dataset_config(ds);
    for (int i = 0; i < dataset_identity_count(ds); i++)
        if (!dataset_identity_name(ds, i)) abort();
    int clips = dataset_clip_count(ds);
    for (int c = 0; c < clips && c < 64; c++) {
        dataset_clip_info info;
        if (dataset_clip_get(ds, c, &info) != VV_OK) continue; /* a shard missing or damaged */
        const dataset_clip_info *clip = &info;
        if (clip->identity < 0 || clip->identity >= dataset_identity_count(ds)) abort();
        int frames[2] = { 0, clip->frame_count - 1 };
        for (int k = 0; k < 2; k++) {
            vv_image image = {0};
            float landmarks[68][2];
            if (dataset_read_frame(ds, c, frames[k], &image, landmarks) == VV_OK) {
                if (image.width != dataset_image_size(ds) || image.height != image.width) abort();
                image_free(&image);
            }
        }
        vv_image none = {0};
        if (dataset_read_frame(ds, c, clip->frame_count, &none, NULL) == VV_OK) abort();
    }
    dataset_rng rng;
    dataset_rng_seed(&rng, 7);
    dataset_episode episode;
    static const dataset_episode_mode modes[] = {DATASET_EPISODE_IDENTITY, DATASET_EPISODE_CLIP, DATASET_EPISODE_PERSON};
    for (int m = 0; m < 3; m++)
        if (dataset_sample_episode(ds, &rng, 1 + (m == 0), modes[m], &episode) == VV_OK &&
            (episode.clip < 0 || episode.clip >= clips || episode.identity < 0 ||
             episode.identity >= dataset_identity_count(ds) || episode.target.clip < 0 || episode.target.clip >= clips))
            abort();
    dataset_close(ds);
    return 0;
}
