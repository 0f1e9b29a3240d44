/* train/dataset: the talking-head training set (.vds).  One seekable file per set: a fixed
 * header (magic, version, counts, config JSON), the frame records streamed in clip order
 * (a JPEG face crop + 68 landmarks in crop pixels each), and an index at the end (identity
 * names, clip table, frame table of offsets).  docs/DATASET.md is the byte-level spec.
 *
 * dataset_build turns videos into one: decode, track the face (face/tracker.h), one stable
 * square crop per clip (median tracked box, enlarged), resize, JPEG-encode.  Same inputs and
 * options give a byte-identical file.  The reader keeps only the index in memory and reads
 * one frame at a time with pread, so it is safe to call from several threads at once.
 *
 * At scale (docs/DATASET.md "Datasets at scale"): a sharded set is a folder of ordinary
 * .vds files (shard-NNNNNN.vds, each a complete dataset of up to --shard-size clips) and a
 * manifest (manifest.vdsm: per-shard counts and the global identity names).  dataset_open
 * takes the folder (or its manifest) as it takes a file: it reads the manifest only and
 * keeps the indexes of a few recently used shards (an LRU), so its memory does not grow
 * with the number of frames.  The build runs files in parallel, writes shards in input
 * order (the same bytes for any thread count) and, rerun after a crash, keeps the shards
 * that were finished. */
#ifndef VV_TRAIN_DATASET_H
#define VV_TRAIN_DATASET_H

#include "base/base.h"

#define DATASET_VERSION 1
#define DATASET_NAME_SIZE 64          /* clip and identity names, NUL included */
#define DATASET_MAX_CLIPS 100000
#define DATASET_MAX_FRAMES 20000000L
#define DATASET_MAX_SIDE 1024         /* crop side in pixels */
#define DATASET_MAX_CONFIG_BYTES (1u << 20)
#define DATASET_MAX_SHOTS 64          /* K of an episode */
#define DATASET_MANIFEST_NAME "manifest.vdsm"
#define DATASET_MAX_SHARDS 1000000
#define DATASET_MAX_TOTAL_CLIPS 100000000L    /* all shards together */
#define DATASET_MAX_TOTAL_FRAMES 4000000000LL
#define DATASET_MAX_IDENTITIES 10000000

/* ---- Building ---- */

typedef enum dataset_split {
    DATASET_SPLIT_ALL,      /* every input clip */
    DATASET_SPLIT_TRAIN,    /* clips whose identity is not held out */
    DATASET_SPLIT_HOLDOUT,  /* only clips whose identity is held out */
} dataset_split;

typedef struct dataset_build_params {
    int size;               /* crop side after resizing (default 256) */
    uint64_t seed;          /* picks the frames when a clip has more than max_frames (default 1) */
    int every;              /* keep every Nth source frame (default 1) */
    int max_frames;         /* per clip after `every`; 0 = all */
    float crop_scale;       /* crop side / median tracked box side (default 1.8) */
    int jpeg_quality;       /* 1..100 (default 90) */
    const char *holdout_path; /* file of held-out clip names, or NULL (none held out) */
    double holdout_fraction; /* also hold out the people whose name hashes below this (0..1) */
    dataset_split split;
    vv_faces *faces;        /* borrowed face pipeline, or NULL to load the default one */
    int threads;            /* clips processed at once (one face pipeline, shared); 0 = all cores */
    int shard_size;         /* clips per shard; 0 = one .vds file at out_path */
    vv_progress_fn progress; /* done/total in clips (each clip once it is written or skipped) */
    void *progress_data;
} dataset_build_params;

typedef struct dataset_build_report {
    int clips;              /* clips written */
    int identities;
    long frames;            /* frames written */
    int clips_skipped;      /* inputs left out: split, no face, or unreadable */
    int clips_unreadable;   /* videos that could not be decoded (FORMAT, CORRUPT, NO_VIDEO, ...) */
    char first_unreadable[1024]; /* the first one's error */
    long frames_dropped;    /* frames with no face or landmarks outside the crop */
    uint64_t bytes;         /* file size (all shards and the manifest when sharded) */
    int shards;             /* shard files in the manifest (0 when not sharded; empty ones left out) */
    int shards_reused;      /* finished shards of an earlier, interrupted run kept as they were */
    int shards_empty;       /* planned shards none of whose clips gave a face (no file, a record) */
    int shards_empty_kept;  /* of them, recorded by an earlier run and kept (not tracked again) */
} dataset_build_report;

dataset_build_params dataset_build_default_params(void);

/* inputs: video files or folders (a folder's videos are taken in name order).  Clip names
 * are the file names without extension and must be unique.  Written atomically (temp
 * file + rename).  VV_ERR_NO_FACE when no clip yields a frame.  A video that cannot be
 * decoded is left out and listed in the configuration ("unreadable"); when every selected
 * clip is, its error is returned.
 *
 * A folder with subfolders is a tree (VoxCeleb2's id/video/clip.mp4): it is walked in
 * name order, a clip below a subfolder is named by its path relative to the folder,
 * without extension ("id00012/21Uxsk56VDQ/00001"), and its person is the first folder of
 * that path, lowercased ("id00012").  Videos directly in the folder keep the flat rules.
 *
 * Held out: the people of the clips (or person names) listed in holdout_path, and with
 * holdout_fraction > 0 every person whose dataset_holdout_hash is below fraction * 2^64.
 *
 * shard_size > 0: out_path is a folder (created if needed) of shards and a manifest.  A
 * rerun with the same inputs and options keeps every shard already finished there (its
 * recorded plan matches) and rebuilds the rest: the result is byte-identical to an
 * uninterrupted build.  A shard none of whose clips gives a face has no .vds; its plan is
 * recorded in shard-NNNNNN.empty, so a rerun keeps it too instead of tracking it again. */
vv_status dataset_build(const char *const *inputs, int input_count, const char *out_path,
                        const dataset_build_params *params, dataset_build_report *report);

/* The person a clip shows, from its file name (docs/DATASET.md): the stem lowercased, a
 * source prefix (fom_NN_, sty_src_, sty_style_) and clip suffixes (_clipN, _clip_N,
 * _short) removed: sty_src_Obama_clip2 and fom_00_obama are both "obama". */
void dataset_identity_from_name(const char *clip_name, char *out, size_t out_size);
/* The clip name of a path: file name without folder and extension. */
void dataset_clip_name(const char *path, char *out, size_t out_size);
/* The hash of the hash-fraction hold-out rule: splitmix64 of FNV-1a-64 of the person name. */
uint64_t dataset_holdout_hash(const char *identity);
/* True when holdout_fraction holds out this person (fraction in [0, 1]). */
bool dataset_holdout_by_hash(const char *identity, double fraction);

/* ---- Writing (the format layer dataset_build uses; tests use it to make files) ---- */

typedef struct dataset_writer dataset_writer;

/* Starts path's temp file; nothing appears at path until dataset_writer_finish. */
vv_status dataset_writer_open(dataset_writer **out, const char *path, int size);
/* Frames added until the next begin belong to this clip.  Identities are numbered by
 * name order at finish. */
vv_status dataset_writer_begin_clip(dataset_writer *w, const char *name, const char *identity,
                                    int source_width, int source_height, const int crop[3]);
/* jpeg: a size x size RGB JPEG; landmarks in its pixels; source_frame: index in the video. */
vv_status dataset_writer_add_frame(dataset_writer *w, const uint8_t *jpeg, size_t jpeg_size,
                                   const float landmarks[68][2], int source_frame);
/* source_frames: how many frames the clip's video had. */
vv_status dataset_writer_end_clip(dataset_writer *w, int source_frames);
/* Writes config JSON (may be NULL) and the index, rewrites the header, renames into place,
 * frees w.  On failure nothing is left at the path. */
vv_status dataset_writer_finish(dataset_writer *w, const char *config_json, uint64_t *bytes);
void dataset_writer_abort(dataset_writer *w);

/* Writes folder/manifest.vdsm (atomically) for the shard files shard_names[] (names inside
 * folder, in order): opens and checks each one, and records its counts.  bytes: the
 * manifest's size (may be NULL). */
vv_status dataset_write_manifest(const char *folder, const char *const *shard_names, int shard_count,
                                 const char *config_json, uint64_t *bytes);

/* ---- Reading ---- */

typedef struct dataset dataset;

typedef struct dataset_clip_info {
    char name[DATASET_NAME_SIZE];
    int identity;           /* index into the identity names */
    int frame_count;        /* >= 1 */
    long first_frame;       /* global index of its first frame */
    int source_width, source_height;
    int crop_x, crop_y, crop_side; /* the crop in source pixels */
    int source_frames;      /* frames decoded from the source */
} dataset_clip_info;

/* path: a .vds file, a sharded set's folder or its manifest.  Errors: NOT_FOUND, IO,
 * FORMAT (not a dataset / unknown version), CORRUPT (any size, offset or count that does
 * not fit the file), TOO_LARGE (over the caps above).  A shard is checked when it is first
 * used (the same errors, from dataset_read_frame / dataset_clip_get / the sampler),
 * including that it still matches the manifest. */
vv_status dataset_open(dataset **out, const char *path);
void dataset_close(dataset *ds);

int dataset_clip_count(const dataset *ds);
int dataset_identity_count(const dataset *ds);
long dataset_frame_count(const dataset *ds);
int dataset_image_size(const dataset *ds);
/* Single files only (NULL for a sharded set, whose clip table is not held in memory);
 * dataset_clip_get works for both. */
const dataset_clip_info *dataset_clip(const dataset *ds, int clip);
/* A copy of clip `clip`'s entry (identity and first_frame global).  Thread-safe. */
vv_status dataset_clip_get(const dataset *ds, int clip, dataset_clip_info *out);
int dataset_shard_count(const dataset *ds); /* 0 for a single file */
const char *dataset_identity_name(const dataset *ds, int identity);
const char *dataset_config(const dataset *ds); /* the build's JSON configuration */

/* Frame `frame` of clip `clip`: RGB size x size into image (allocated; free with
 * image_free) and the 68 landmarks in its pixel coordinates (landmarks may be NULL).
 * Thread-safe. */
vv_status dataset_read_frame(const dataset *ds, int clip, int frame, vv_image *image,
                             float landmarks[68][2]);

/* ---- Episodes ---- */

typedef struct dataset_rng { uint64_t state; } dataset_rng;
void dataset_rng_seed(dataset_rng *rng, uint64_t seed);
uint64_t dataset_rng_next(dataset_rng *rng);
/* Uniform in [0, n), n >= 1. */
uint64_t dataset_rng_below(dataset_rng *rng, uint64_t n);

typedef enum dataset_episode_mode {
    DATASET_EPISODE_CLIP,      /* all K + 1 frames from one clip (the paper's one video) */
    DATASET_EPISODE_IDENTITY,  /* from any clips of one identity */
    DATASET_EPISODE_PERSON,    /* from one clip, the person drawn first: people weigh the same */
} dataset_episode_mode;

typedef struct dataset_frame_ref { int clip, frame; } dataset_frame_ref;

typedef struct dataset_episode {
    int identity;
    int clip;                  /* the target's clip */
    int k;
    dataset_frame_ref shots[DATASET_MAX_SHOTS];
    dataset_frame_ref target;  /* distinct from every shot */
} dataset_episode;

/* K shots + 1 target, all distinct frames, drawn uniformly without replacement from:
 *  - CLIP: a clip drawn uniformly among those with at least K + 1 frames;
 *  - IDENTITY: a person drawn uniformly among those with K + 1 frames in all their clips,
 *    the frames from all of them;
 *  - PERSON: a person drawn uniformly among those with a clip of K + 1 frames, then one of
 *    those clips of theirs uniformly (a person with 100 clips is drawn as often as one
 *    with 1; the clips of a person as often as each other).
 * The same rng state gives the same episode, and a sharded set gives the same episodes as
 * one file holding the same clips in the same order (every mode).  INVALID_ARGUMENT when
 * k is out of 1..DATASET_MAX_SHOTS or nothing has K + 1 frames; UNSUPPORTED for IDENTITY
 * and PERSON on a sharded set whose manifest is version 1 (no person table: rebuild it).
 * Thread-safe. */
vv_status dataset_sample_episode(const dataset *ds, dataset_rng *rng, int k,
                                 dataset_episode_mode mode, dataset_episode *out);

#endif
