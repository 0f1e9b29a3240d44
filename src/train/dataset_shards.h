/* train/dataset_shards: the sharded side of train/dataset.h (internal to src/train).  A
 * sharded set is a folder of ordinary .vds shard files and a manifest; dataset.c's public
 * functions hand a sharded set's calls to these. */
#ifndef VV_TRAIN_DATASET_SHARDS_H
#define VV_TRAIN_DATASET_SHARDS_H

#include "train/dataset.h"

typedef struct dataset_shards dataset_shards;

/* True when the file at path starts with the manifest's magic. */
bool dataset_is_manifest(const char *path);
/* manifest_path: the manifest file; the shards are beside it. */
vv_status shards_open(dataset_shards **out, const char *manifest_path);
void shards_close(dataset_shards *sh);

int shards_count(const dataset_shards *sh);
int shards_clip_count(const dataset_shards *sh);
int shards_identity_count(const dataset_shards *sh);
long shards_frame_count(const dataset_shards *sh);
int shards_image_size(const dataset_shards *sh);
const char *shards_identity_name(const dataset_shards *sh, int identity);
const char *shards_config(const dataset_shards *sh);

vv_status shards_clip_get(const dataset_shards *sh, int clip, dataset_clip_info *out);
vv_status shards_read_frame(const dataset_shards *sh, int clip, int frame, vv_image *image, float landmarks[68][2]);
/* The same draws as dataset.c's sampler on one file holding the same clips, every mode
 * (k and mode already checked). */
vv_status shards_sample_episode(const dataset_shards *sh, dataset_rng *rng, int k, dataset_episode_mode mode,
                                dataset_episode *out);

/* From dataset.c, shared with the sharded reader. */
vv_status dataset_open_file(dataset **out, const char *path); /* a single .vds file only */
bool dataset_name_is_valid(const char *field);                /* a stored DATASET_NAME_SIZE name */
/* k distinct values in [0, n) in random order: the sampler's frame choice. */
void dataset_sample_distinct(dataset_rng *rng, long n, int k, long *out);

#endif
