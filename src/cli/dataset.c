/* cli/dataset: `vivify dataset build CLIPS_OR_DIRS... -o OUT.vds` (train/dataset.h; with
 * --shard-size a folder of shards) and `vivify dataset info FILE.vds|FOLDER`. */
#include "cli/cli.h"
#include "img/image.h"
#include "train/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 4096

static const char BUILD_USAGE[] =
    "usage: vivify dataset build CLIPS_OR_DIRS... -o OUT.vds [options]\n"
    "\n"
    "Tracks the face in every clip, crops one stable face-centred square per clip (the\n"
    "median tracked box enlarged --crop-scale times), resizes it to --size and stores\n"
    "JPEG frames, 68 landmarks and a per-person identity label (from the file name;\n"
    "docs/DATASET.md) in one indexed file.  Same inputs and options: the same bytes.\n"
    "With --holdout FILE the people of the listed clips are left out (--split train,\n"
    "the default then) or are the only ones kept (--split holdout); --holdout-fraction F\n"
    "also holds out every person whose name hashes below F (stable as the set grows).\n"
    "\n"
    "At scale: a folder of subfolders is a tree (VoxCeleb2's id/video/clip.mp4; the\n"
    "person is the first folder); --threads N processes N clips at once; --shard-size N\n"
    "writes OUT as a folder of N-clip shards and a manifest, and rerunning the same\n"
    "command after a crash keeps the finished shards (the same bytes as one run).";

static const char INFO_USAGE[] = "usage: vivify dataset info FILE.vds|FOLDER [--clips] [--sheet OUT.png]\n"
                                 "                            [--episodes N [--shots K] [--by clip|person|identity]]\n"
                                 "\n"
                                 "Counts, configuration and (with --clips) the clip table of a dataset (a file,\n"
                                 "or a sharded set's folder); --sheet draws each clip's middle frame with its\n"
                                 "landmarks; --episodes N reads N seeded episodes (K = --shots) as training does\n"
                                 "and reports frames/s and how many distinct clips and people they drew.  --by:\n"
                                 "a clip uniformly (default, as vivify train draws by default), a person then one of\n"
                                 "their clips (train --episodes person), or a person then frames from all their\n"
                                 "clips (docs/DATASET.md).";

typedef struct progress_state {
    progress_bar bar;
} progress_state;

static int on_progress(void *user, long done, long total) {
    progress_state *p = user;
    p->bar.total = total;
    progress_update(&p->bar, done);
    return 0;
}

static int dataset_build_command(int argc, char **argv) {
    dataset_build_params params = dataset_build_default_params();
    const char *output = NULL, *split = NULL;
    int seed = 1;
    float holdout_fraction = 0;
    bool quiet = false;
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "OUT.vds", "the dataset file to write (a folder with --shard-size)", 0, 0},
        {"size", 0, OPT_INT, &params.size, "PX", "crop side in pixels", 8, DATASET_MAX_SIDE},
        {"seed", 0, OPT_INT, &seed, "S", "seed of the frame choice under --max-frames", 0, 2147483647},
        {"every", 0, OPT_INT, &params.every, "N", "keep every Nth frame", 1, 100000},
        {"max-frames", 0, OPT_INT, &params.max_frames, "N", "at most N frames per clip (0: all)", 0, 200000},
        {"holdout", 0, OPT_STRING, &params.holdout_path, "FILE", "held-out people: a clip or person name a line (data/holdout.txt)", 0, 0},
        {"split", 0, OPT_STRING, &split, "train|holdout|all",
         "which clips to keep (default: train with --holdout, else all)", 0, 0},
        {"crop-scale", 0, OPT_FLOAT, &params.crop_scale, "X", "crop side / median face box side", 1, 4},
        {"quality", 0, OPT_INT, &params.jpeg_quality, "Q", "JPEG quality", 1, 100},
        {"holdout-fraction", 0, OPT_FLOAT, &holdout_fraction, "F", "also hold out people whose name hashes below F", 0, 0.999999f},
        {"threads", 0, OPT_INT, &params.threads, "N", "clips processed at once (0: all cores)", 0, 256},
        {"shard-size", 0, OPT_INT, &params.shard_size, "N", "write OUT as a folder of N-clip shards (resumable)", 1, DATASET_MAX_CLIPS},
        {"quiet", 'q', OPT_FLAG, &quiet, NULL, "no progress bar", 0, 0},
    };
    const char *inputs[MAX_INPUTS];
    int input_count = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), inputs, MAX_INPUTS, &input_count,
                      BUILD_USAGE);
    if (r != 0) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (input_count == 0 || !output) {
        fprintf(stderr, "vivify: dataset build needs clips or folders and -o OUT.vds (see --help)\n");
        return EXIT_USAGE;
    }
    params.seed = (uint64_t)seed;
    params.holdout_fraction = holdout_fraction;
    bool held = params.holdout_path || holdout_fraction > 0;
    if (!split) params.split = held ? DATASET_SPLIT_TRAIN : DATASET_SPLIT_ALL;
    else if (!strcmp(split, "train")) params.split = DATASET_SPLIT_TRAIN;
    else if (!strcmp(split, "holdout")) params.split = DATASET_SPLIT_HOLDOUT;
    else if (!strcmp(split, "all")) params.split = DATASET_SPLIT_ALL;
    else {
        fprintf(stderr, "vivify: --split must be train, holdout or all, not '%s'\n", split);
        return EXIT_USAGE;
    }
    progress_state progress = {0};
    progress_start(&progress.bar, "dataset", 0, "clips");
    progress.bar.quiet = quiet;
    params.progress = on_progress;
    params.progress_data = &progress;
    double start = time_now();
    dataset_build_report report;
    vv_status s = dataset_build(inputs, input_count, output, &params, &report);
    progress_finish(&progress.bar);
    if (s != VV_OK) return cli_fail(s);
    if (report.clips_unreadable > 0)
        fprintf(stderr, "dataset: %d clips could not be read and were left out (listed in the configuration); "
                "the first: %s\n", report.clips_unreadable, report.first_unreadable);
    double seconds = time_now() - start;
    char shards[160] = "", empty[96] = "";
    if (report.shards_empty)
        snprintf(empty, sizeof empty, "; %d more of clips without a usable face (%d kept)", report.shards_empty,
                 report.shards_empty_kept);
    if (params.shard_size > 0)
        snprintf(shards, sizeof shards, " in %d shards (%d kept from an earlier run%s)", report.shards,
                 report.shards_reused, empty);
    fprintf(stderr,
            "dataset: %s: %d clips, %d identities, %ld frames at %dx%d, %.1f MB%s, %.1f s "
            "(%d clips left out, %ld frames without a usable face)\n",
            output, report.clips, report.identities, report.frames, params.size, params.size,
            (double)report.bytes / 1e6, shards, seconds, report.clips_skipped, report.frames_dropped);
    return EXIT_OK;
}

/* A grid of 128-px tiles: each clip's middle frame with its landmarks, to check crops. */
static vv_status dataset_sheet(const dataset *ds, const char *path) {
    enum { TILE = 128, COLUMNS = 10 };
    int clips = dataset_clip_count(ds);
    int columns = clips < COLUMNS ? clips : COLUMNS, rows = (clips + COLUMNS - 1) / COLUMNS;
    vv_image sheet = {0}, frame = {0}, tile = {0};
    vv_status s = image_create(&sheet, columns * TILE, rows * TILE, 3);
    static const uint8_t colour[3] = {255, 40, 40};
    for (int c = 0; c < clips && s == VV_OK; c++) {
        float points[68][2];
        dataset_clip_info info;
        s = dataset_clip_get(ds, c, &info);
        if (s == VV_OK) s = dataset_read_frame(ds, c, info.frame_count / 2, &frame, points);
        image_free(&tile); /* image_resize allocates its output */
        if (s == VV_OK) s = image_resize(&tile, &frame, TILE, TILE);
        if (s != VV_OK) break;
        float scale = (float)TILE / (float)frame.width;
        for (int k = 0; k < 68; k++)
            image_draw_circle(&tile, (points[k][0] + 0.5f) * scale - 0.5f, (points[k][1] + 0.5f) * scale - 0.5f, 1.0f,
                              colour, true);
        int x0 = (c % COLUMNS) * TILE, y0 = (c / COLUMNS) * TILE;
        for (int y = 0; y < TILE; y++)
            memcpy(sheet.data + ((size_t)(y0 + y) * sheet.width + x0) * 3, tile.data + (size_t)y * TILE * 3, TILE * 3);
    }
    if (s == VV_OK) s = image_save(&sheet, path);
    image_free(&sheet);
    image_free(&frame);
    image_free(&tile);
    return s;
}

/* N seeded episodes (K shots + a target, drawn by `mode`), every frame read. */
static vv_status dataset_read_episodes(const dataset *ds, int episodes, int k, dataset_episode_mode mode) {
    dataset_rng rng;
    dataset_rng_seed(&rng, 1);
    vv_image image = {0};
    long frames = 0;
    int clip_count = dataset_clip_count(ds), people_count = dataset_identity_count(ds), clips = 0, people = 0;
    bool *clip_seen = calloc((size_t)clip_count, 1), *person_seen = calloc((size_t)people_count, 1);
    double start = time_now();
    vv_status s = clip_seen && person_seen ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "out of memory counting episodes");
    for (int e = 0; e < episodes && s == VV_OK; e++) {
        dataset_episode ep;
        s = dataset_sample_episode(ds, &rng, k, mode, &ep);
        if (s == VV_OK) {
            clips += !clip_seen[ep.clip], clip_seen[ep.clip] = true;
            people += !person_seen[ep.identity], person_seen[ep.identity] = true;
        }
        for (int i = 0; i <= ep.k && s == VV_OK; i++) {
            dataset_frame_ref ref = i < ep.k ? ep.shots[i] : ep.target;
            float points[68][2];
            s = dataset_read_frame(ds, ref.clip, ref.frame, &image, points);
            frames++;
        }
    }
    image_free(&image);
    free(clip_seen);
    free(person_seen);
    double seconds = time_now() - start;
    if (s == VV_OK)
        printf("episodes: %d read, %ld frames in %.2f s (%.0f frames/s); %d of %d clips, %d of %d people drawn\n",
               episodes, frames, seconds, seconds > 0 ? (double)frames / seconds : 0.0, clips, clip_count, people,
               people_count);
    return s;
}

static int dataset_info_command(int argc, char **argv) {
    bool clips = false;
    const char *sheet = NULL;
    int episodes = 0, shots = 8;
    const char *by = "clip";
    const cli_option opts[] = {
        {"clips", 0, OPT_FLAG, &clips, NULL, "list every clip", 0, 0},
        {"sheet", 0, OPT_STRING, &sheet, "OUT.png", "contact sheet of every clip's middle frame", 0, 0},
        {"episodes", 0, OPT_INT, &episodes, "N", "read N seeded episodes as training does, report frames/s", 0, 100000000},
        {"shots", 0, OPT_INT, &shots, "K", "K of those episodes (default 8)", 1, DATASET_MAX_SHOTS},
        {"by", 0, OPT_STRING, &by, "MODE", "draw episodes by clip (default), person or identity", 0, 0},
    };
    const char *positional[1];
    int count = 0;
    int r = cli_parse(argc, argv, opts, 5, positional, 1, &count, INFO_USAGE);
    if (r != 0) return r > 0 ? EXIT_OK : EXIT_USAGE;
    dataset_episode_mode mode = DATASET_EPISODE_CLIP;
    if (!strcmp(by, "person")) mode = DATASET_EPISODE_PERSON;
    else if (!strcmp(by, "identity")) mode = DATASET_EPISODE_IDENTITY;
    else if (strcmp(by, "clip")) {
        fprintf(stderr, "vivify: --by must be clip, person or identity, not '%s'\n", by);
        return EXIT_USAGE;
    }
    if (count != 1) {
        fprintf(stderr, "vivify: dataset info needs one FILE.vds (see --help)\n");
        return EXIT_USAGE;
    }
    dataset *ds = NULL;
    vv_status s = dataset_open(&ds, positional[0]);
    if (s != VV_OK) return cli_fail(s);
    printf("%s: %d clips, %d identities, %ld frames, %dx%d JPEG", positional[0], dataset_clip_count(ds),
           dataset_identity_count(ds), dataset_frame_count(ds), dataset_image_size(ds), dataset_image_size(ds));
    if (dataset_shard_count(ds) > 0) printf(", %d shards", dataset_shard_count(ds));
    printf("\n");
    const char *config = dataset_config(ds);
    printf("config: %s%s", config, config[0] && config[strlen(config) - 1] == '\n' ? "" : "\n");
    if (clips) {
        printf("%-36s %-24s %6s %7s  %s\n", "clip", "identity", "frames", "source", "crop x,y,side");
        for (int c = 0; c < dataset_clip_count(ds) && s == VV_OK; c++) {
            dataset_clip_info info;
            s = dataset_clip_get(ds, c, &info);
            if (s == VV_OK)
                printf("%-36s %-24s %6d %7d  %d,%d,%d\n", info.name, dataset_identity_name(ds, info.identity),
                       info.frame_count, info.source_frames, info.crop_x, info.crop_y, info.crop_side);
        }
    }
    if (sheet && s == VV_OK) s = dataset_sheet(ds, sheet);
    if (episodes > 0 && s == VV_OK) s = dataset_read_episodes(ds, episodes, shots, mode);
    dataset_close(ds);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}

int cli_dataset(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "build")) return dataset_build_command(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "info")) return dataset_info_command(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("%s\n\n%s\n", BUILD_USAGE, INFO_USAGE);
        return EXIT_OK;
    }
    fprintf(stderr, "vivify: dataset needs a subcommand: build or info (see vivify dataset --help)\n");
    return EXIT_USAGE;
}
