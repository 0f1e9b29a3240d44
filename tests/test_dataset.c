/* train/dataset: the identity rule on the real clip names; the .vds format round trip
 * (frames, landmarks, labels) on synthetic frames; hostile files (truncation, bad magic,
 * counts, offsets, record damage, random byte flips) give FORMAT / CORRUPT / TOO_LARGE and
 * never crash; the seeded episode sampler; and an end-to-end `dataset_build` from two tiny
 * clips made of examples/ (needs .cache/models; that part skips without them):
 * landmarks agree with a fresh detection on the stored crops, identity labels, held-out
 * split, and two builds are byte-identical. */
#include "face/faces.h"
#include "img/image.h"
#include "test.h"
#include "train/dataset.h"
#include "video/video.h"

#include <stdint.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#define SIDE 32

/* ---- helpers ---- */

static uint8_t *file_bytes(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(n > 0 ? (size_t)n : 1);
    *size = data ? fread(data, 1, (size_t)n, f) : 0;
    fclose(f);
    return data;
}

static void write_bytes(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, size, f);
    fclose(f);
}

static uint32_t read_u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t read_u64(const uint8_t *p) { return read_u32(p) | (uint64_t)read_u32(p + 4) << 32; }
static void write_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void write_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Frame (clip, index): a smooth pattern that differs per clip and frame. */
static void synthetic_frame(vv_image *image, int clip, int index) {
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            uint8_t *p = image->data + ((size_t)y * SIDE + x) * 3;
            p[0] = (uint8_t)(40 + 5 * x + 20 * clip);
            p[1] = (uint8_t)(30 + 5 * y + 9 * index);
            p[2] = (uint8_t)(100 + 3 * (x + y) - 10 * clip);
        }
}

static void synthetic_points(float points[68][2], int clip, int index) {
    for (int k = 0; k < 68; k++) {
        points[k][0] = (float)(k % 17) * 1.75f + 0.125f * (float)clip;
        points[k][1] = (float)(k / 17) * 6.5f + 0.25f * (float)index;
    }
}

static const char *const CLIP_NAMES[] = {"alice_clip1", "alice_clip2", "bob"};
static const char *const CLIP_IDENTITIES[] = {"alice", "alice", "bob"};
static const int CLIP_FRAMES[] = {5, 3, 4};

static vv_status write_synthetic(const char *path) {
    dataset_writer *w = NULL;
    vv_status s = dataset_writer_open(&w, path, SIDE);
    if (s != VV_OK) return s;
    tjhandle tj = tjInitCompress();
    vv_image frame = {0};
    image_create(&frame, SIDE, SIDE, 3);
    for (int c = 0; c < 3 && s == VV_OK; c++) {
        const int crop[3] = {10 * c, 5, 100 + c};
        s = dataset_writer_begin_clip(w, CLIP_NAMES[c], CLIP_IDENTITIES[c], 640, 480, crop);
        for (int i = 0; i < CLIP_FRAMES[c] && s == VV_OK; i++) {
            synthetic_frame(&frame, c, i);
            unsigned char *jpeg = NULL;
            unsigned long jpeg_size = 0;
            tjCompress2(tj, frame.data, SIDE, 0, SIDE, TJPF_RGB, &jpeg, &jpeg_size, TJSAMP_444, 98, 0);
            float points[68][2];
            synthetic_points(points, c, i);
            s = dataset_writer_add_frame(w, jpeg, jpeg_size, (const float(*)[2])points, 2 * i);
            tjFree(jpeg);
        }
        if (s == VV_OK) s = dataset_writer_end_clip(w, 2 * CLIP_FRAMES[c]);
    }
    tjDestroy(tj);
    image_free(&frame);
    if (s != VV_OK) {
        dataset_writer_abort(w);
        return s;
    }
    return dataset_writer_finish(w, "{\"test\": true}", NULL);
}

/* ---- identity rule ---- */

static void test_identity_rule(void) {
    static const char *const cases[][2] = {
        {"fom_00_obama", "obama"},
        {"sty_src_Obama_clip1", "obama"},
        {"sty_src_Obama_clip3", "obama"},
        {"fom_04_trump", "trump"},
        {"sty_style_trump_clip1", "trump"},
        {"sty_src_andrew_clip_1", "andrew"},
        {"sty_src_feifeili_clip2_short", "feifeili"},
        {"sty_style_furious_talk1_clip2", "furious_talk1"},
        {"sty_style_furious_talk2_clip7", "furious_talk2"},
        {"sty_src_KristiNoem", "kristinoem"},
        {"lp_d1", "lp_d1"},
        {"lp_d10", "lp_d10"},
        {"lp_src_s18", "lp_src_s18"},
        {"Alice_clip12", "alice"},
        {"clip3", "clip3"},
        {"fom_7", "fom_7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char identity[DATASET_NAME_SIZE];
        dataset_identity_from_name(cases[i][0], identity, sizeof identity);
        CHECK_MSG(!strcmp(identity, cases[i][1]), "%s -> %s, expected %s", cases[i][0], identity, cases[i][1]);
    }
    char name[DATASET_NAME_SIZE];
    dataset_clip_name("/a/b.c/sty_src_Obama_clip1.mp4", name, sizeof name);
    CHECK(!strcmp(name, "sty_src_Obama_clip1"));

    /* The split of ../shared/data/train: 35 people; data/holdout.txt's people appear in no
     * other clip. */
    const char *shared = test_shared_data();
    if (!shared) {
        test_skip("the split of ../shared/data/train: ../shared/data absent");
        return;
    }
    char list[8192], holdout[8192];
    snprintf(list, sizeof list, "%s/reference/freeze_floor.tsv", shared);
    snprintf(holdout, sizeof holdout, "%s/data/holdout.txt", VV_SOURCE_DIR);
    FILE *f = fopen(list, "r"), *h = fopen(holdout, "r");
    CHECK(f && h);
    if (!f || !h) return;
    char identities[64][DATASET_NAME_SIZE], clip_identity[64][DATASET_NAME_SIZE];
    int identity_count = 0, clip_count = 0;
    char line[512];
    while (fgets(line, sizeof line, f) && clip_count < 64) {
        char clip[128];
        if (sscanf(line, "%127s", clip) != 1 || !strcmp(clip, "clip")) continue;
        dataset_identity_from_name(clip, clip_identity[clip_count], DATASET_NAME_SIZE);
        bool seen = false;
        for (int i = 0; i < identity_count; i++) seen |= !strcmp(identities[i], clip_identity[clip_count]);
        if (!seen) snprintf(identities[identity_count++], DATASET_NAME_SIZE, "%s", clip_identity[clip_count]);
        clip_count++;
    }
    CHECK(clip_count == 50);
    CHECK_MSG(identity_count == 35, "%d identities", identity_count);
    int held = 0;
    while (fgets(line, sizeof line, h)) {
        char clip[128];
        if (line[0] == '#' || sscanf(line, "%127s", clip) != 1) continue;
        char identity[DATASET_NAME_SIZE];
        dataset_identity_from_name(clip, identity, sizeof identity);
        int clips_of_person = 0;
        for (int i = 0; i < clip_count; i++) clips_of_person += !strcmp(clip_identity[i], identity);
        CHECK_MSG(clips_of_person == 1, "held-out %s: %d clips of that person", clip, clips_of_person);
        held++;
    }
    CHECK(held >= 5);
    printf("identity rule: 50 clips -> %d people; %d held out\n", identity_count, held);
    fclose(f);
    fclose(h);
}

/* ---- format round trip ---- */

static void test_round_trip(const char *dir) {
    char path[4096], again[4096];
    snprintf(path, sizeof path, "%s/synthetic.vds", dir);
    snprintf(again, sizeof again, "%s/synthetic_again.vds", dir);
    CHECK_OK(write_synthetic(path));
    CHECK_OK(write_synthetic(again));
    size_t a_size = 0, b_size = 0;
    uint8_t *a = file_bytes(path, &a_size), *b = file_bytes(again, &b_size);
    CHECK(a && b && a_size == b_size && !memcmp(a, b, a_size));
    free(a);
    free(b);

    dataset *ds = NULL;
    CHECK_OK(dataset_open(&ds, path));
    if (!ds) return;
    CHECK(dataset_clip_count(ds) == 3);
    CHECK(dataset_frame_count(ds) == 12);
    CHECK(dataset_identity_count(ds) == 2);
    CHECK(dataset_image_size(ds) == SIDE);
    CHECK(!strcmp(dataset_config(ds), "{\"test\": true}"));
    CHECK(!strcmp(dataset_identity_name(ds, 0), "alice") && !strcmp(dataset_identity_name(ds, 1), "bob"));
    CHECK(dataset_identity_name(ds, 2) == NULL && dataset_clip(ds, 3) == NULL && dataset_clip(ds, -1) == NULL);
    long first = 0;
    vv_image image = {0}, expected = {0};
    image_create(&expected, SIDE, SIDE, 3);
    double worst = 0;
    for (int c = 0; c < 3; c++) {
        const dataset_clip_info *info = dataset_clip(ds, c);
        CHECK(!strcmp(info->name, CLIP_NAMES[c]));
        CHECK(!strcmp(dataset_identity_name(ds, info->identity), CLIP_IDENTITIES[c]));
        CHECK(info->frame_count == CLIP_FRAMES[c] && info->first_frame == first);
        CHECK(info->crop_x == 10 * c && info->crop_y == 5 && info->crop_side == 100 + c);
        CHECK(info->source_width == 640 && info->source_height == 480 && info->source_frames == 2 * CLIP_FRAMES[c]);
        first += info->frame_count;
        for (int i = 0; i < info->frame_count; i++) {
            float points[68][2], want[68][2];
            CHECK_OK(dataset_read_frame(ds, c, i, &image, points));
            synthetic_points(want, c, i);
            CHECK(!memcmp(points, want, sizeof want)); /* landmarks are stored exactly */
            synthetic_frame(&expected, c, i);
            double diff = 0;
            for (size_t p = 0; p < (size_t)SIDE * SIDE * 3; p++) diff += fabs((double)image.data[p] - expected.data[p]);
            diff /= SIDE * SIDE * 3;
            if (diff > worst) worst = diff;
        }
    }
    printf("round trip: 12 frames, mean abs pixel error at most %.2f (JPEG q98)\n", worst);
    CHECK(worst < 2.0);
    CHECK(dataset_read_frame(ds, 0, 5, &image, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_read_frame(ds, 3, 0, &image, NULL) == VV_ERR_INVALID_ARGUMENT);
    image_free(&image);
    image_free(&expected);
    dataset_close(ds);
    CHECK(dataset_open(&ds, "test_tmp/no_such_file.vds") == VV_ERR_NOT_FOUND && ds == NULL);
}

/* ---- hostile files ---- */

/* Opens the file (or sharded set), reads every frame and draws a few episodes; returns
 * the first failure (or VV_OK). */
static vv_status open_and_read_all(const char *path) {
    dataset *ds = NULL;
    vv_status s = dataset_open(&ds, path);
    if (s != VV_OK) return s;
    vv_image image = {0};
    for (int c = 0; c < dataset_clip_count(ds) && s == VV_OK; c++) {
        dataset_clip_info info;
        s = dataset_clip_get(ds, c, &info);
        if (s == VV_OK && (info.identity < 0 || info.identity >= dataset_identity_count(ds) || info.frame_count < 1))
            s = VV_ERR_INTERNAL; /* a checked file never gives these */
        for (int i = 0; s == VV_OK && i < info.frame_count; i++) {
            float points[68][2];
            s = dataset_read_frame(ds, c, i, &image, points);
        }
    }
    dataset_rng rng;
    dataset_rng_seed(&rng, 7);
    static const dataset_episode_mode modes[] = {DATASET_EPISODE_CLIP, DATASET_EPISODE_IDENTITY, DATASET_EPISODE_PERSON};
    for (int k = 1; k <= 3 && s == VV_OK; k++)
        for (int m = 0; m < 3 && s == VV_OK; m++)
            for (int n = 0; n < 4 && s == VV_OK; n++) {
                dataset_episode e;
                vv_status e_status = dataset_sample_episode(ds, &rng, k, modes[m], &e);
                if (e_status != VV_OK && e_status != VV_ERR_INVALID_ARGUMENT) s = e_status;
                if (e_status != VV_OK) continue;
                if (e.clip < 0 || e.clip >= dataset_clip_count(ds) || e.identity < 0 ||
                    e.identity >= dataset_identity_count(ds))
                    s = VV_ERR_INTERNAL;
                for (int i = 0; i <= k && s == VV_OK; i++) { /* every frame exists */
                    dataset_frame_ref ref = i < k ? e.shots[i] : e.target;
                    dataset_clip_info info;
                    s = ref.clip >= 0 && ref.clip < dataset_clip_count(ds) ? dataset_clip_get(ds, ref.clip, &info)
                                                                            : VV_ERR_INTERNAL;
                    if (s == VV_OK && (ref.frame < 0 || ref.frame >= info.frame_count || info.identity != e.identity))
                        s = VV_ERR_INTERNAL;
                }
            }
    image_free(&image);
    dataset_close(ds);
    return s;
}

static vv_status try_variant(const char *path, const uint8_t *data, size_t size) {
    write_bytes(path, data, size);
    return open_and_read_all(path);
}

static void test_hostile(const char *dir) {
    char good[4096], bad[4096];
    snprintf(good, sizeof good, "%s/synthetic.vds", dir);
    snprintf(bad, sizeof bad, "%s/hostile.vds", dir);
    size_t size = 0;
    uint8_t *orig = file_bytes(good, &size);
    CHECK(orig && size > 1000);
    if (!orig) return;
    uint8_t *data = malloc(size);
    uint64_t config_offset = read_u64(orig + 48), index_offset = read_u64(orig + 64);
    uint64_t clip_table = index_offset + 2 * DATASET_NAME_SIZE; /* after 2 identity names */
    uint64_t frame_table = clip_table + 3 * (DATASET_NAME_SIZE + 40);
    uint64_t first_record = read_u64(orig + frame_table);
    CHECK(first_record == 128 && read_u32(orig + 16) == 3 && read_u64(orig + 24) == 12);

    CHECK(try_variant(bad, orig, size) == VV_OK);
    /* Truncations anywhere. */
    const size_t cuts[] = {0, 5, 8, 100, 127, 128, 700, (size_t)index_offset, size / 2, size - 16, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        vv_status s = try_variant(bad, orig, cuts[i]);
        CHECK_MSG(s == (cuts[i] < 8 ? VV_ERR_FORMAT : VV_ERR_CORRUPT), "truncated to %zu: %s", cuts[i],
                  vv_status_string(s));
    }
    /* A variant: the original with one field changed; the status it must give. */
    typedef struct { const char *what; size_t at; int width; uint64_t value; vv_status want; } variant;
    const variant variants[] = {
        {"bad magic", 1, 4, 0x41414141u, VV_ERR_FORMAT},
        {"version 2", 8, 4, 2, VV_ERR_FORMAT},
        {"header size", 12, 4, 64, VV_ERR_CORRUPT},
        {"clip count huge", 16, 4, 0xffffffffu, VV_ERR_TOO_LARGE},
        {"clip count 0", 16, 4, 0, VV_ERR_CORRUPT},
        {"clip count 4", 16, 4, 4, VV_ERR_CORRUPT},
        {"identities > clips", 20, 4, 5, VV_ERR_CORRUPT},
        {"frame count huge", 24, 8, 1ull << 40, VV_ERR_TOO_LARGE},
        {"frame count 13", 24, 8, 13, VV_ERR_CORRUPT},
        {"frame count < clips", 24, 8, 2, VV_ERR_CORRUPT},
        {"frame size huge", 32, 4, 1u << 20, VV_ERR_TOO_LARGE},
        {"frame size differs", 32, 4, SIDE * 2, VV_ERR_CORRUPT}, /* decoded frames do not match */
        {"channels", 36, 4, 4, VV_ERR_FORMAT},
        {"codec", 40, 4, 7, VV_ERR_FORMAT},
        {"config offset past index", 48, 8, index_offset + 1, VV_ERR_CORRUPT},
        {"config offset in header", 48, 8, 3, VV_ERR_CORRUPT},
        {"config size huge", 56, 8, 1ull << 62, VV_ERR_CORRUPT},
        {"index offset past end", 64, 8, size + 100, VV_ERR_CORRUPT},
        {"index offset wraps", 64, 8, UINT64_MAX - 10, VV_ERR_CORRUPT},
        {"index size", 72, 8, 5, VV_ERR_CORRUPT},
        {"file size field", 80, 8, size + 1, VV_ERR_CORRUPT},
        {"identity name padding", (size_t)index_offset + 56, 8, 0x4141414141414141ull, VV_ERR_CORRUPT},
        {"identity name empty", (size_t)index_offset, 4, 0, VV_ERR_CORRUPT},
        {"clip identity out of range", (size_t)clip_table + DATASET_NAME_SIZE, 4, 2, VV_ERR_CORRUPT},
        {"clip frame count too large", (size_t)clip_table + DATASET_NAME_SIZE + 4, 4, 100, VV_ERR_CORRUPT},
        {"clip frame count 0", (size_t)clip_table + DATASET_NAME_SIZE + 4, 4, 0, VV_ERR_CORRUPT},
        {"clip first frame", (size_t)clip_table + DATASET_NAME_SIZE + 8, 8, 1, VV_ERR_CORRUPT},
        {"clip crop side 0", (size_t)clip_table + DATASET_NAME_SIZE + 32, 4, 0, VV_ERR_CORRUPT},
        {"frame offset past data", (size_t)frame_table, 8, config_offset, VV_ERR_CORRUPT},
        {"frame offset huge", (size_t)frame_table, 8, UINT64_MAX - 4, VV_ERR_CORRUPT},
        {"frame offset in header", (size_t)frame_table, 8, 16, VV_ERR_CORRUPT},
        {"frame size huge", (size_t)frame_table + 8, 4, 0xfffffff0u, VV_ERR_CORRUPT},
        {"frame size tiny", (size_t)frame_table + 8, 4, 10, VV_ERR_CORRUPT},
        {"frame clip tag", (size_t)frame_table + 12, 4, 1, VV_ERR_CORRUPT},
        {"frames overlap", (size_t)frame_table + 16, 8, 200, VV_ERR_CORRUPT},
        {"record clip", 128, 4, 2, VV_ERR_CORRUPT},
        {"record jpeg size", 128 + 8, 4, 3, VV_ERR_CORRUPT},
        {"record landmark NaN", 128 + 16, 4, 0x7fc00000u, VV_ERR_CORRUPT},
        {"record landmark huge", 128 + 20, 4, 0x4f000000u, VV_ERR_CORRUPT}, /* 2^31 */
        {"record jpeg damaged", 128 + 560, 8, 0, VV_ERR_CORRUPT},
        {"config holds NUL", (size_t)config_offset + 2, 1, 0, VV_ERR_CORRUPT},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const variant *v = &variants[i];
        memcpy(data, orig, size);
        if (v->width == 1) data[v->at] = (uint8_t)v->value;
        else if (v->width == 4) write_u32(data + v->at, (uint32_t)v->value);
        else write_u64(data + v->at, v->value);
        vv_status s = try_variant(bad, data, size);
        CHECK_MSG(s == v->want, "%s: %s (%s), expected %s", v->what, vv_status_string(s), vv_last_error(),
                  vv_status_string(v->want));
    }
    /* A name with no NUL in its 64 bytes. */
    memcpy(data, orig, size);
    memset(data + index_offset, 'A', DATASET_NAME_SIZE);
    CHECK(try_variant(bad, data, size) == VV_ERR_CORRUPT);
    /* The first frame's JPEG claims 16383 x 16383: refused before decoding. */
    memcpy(data, orig, size);
    size_t jpeg_start = 128 + 560, sof = 0;
    for (size_t i = jpeg_start; i + 9 < size && !sof; i++)
        if (data[i] == 0xFF && data[i + 1] == 0xC0) sof = i;
    CHECK(sof > 0);
    if (sof) {
        data[sof + 5] = data[sof + 7] = 0x3F;
        data[sof + 6] = data[sof + 8] = 0xFF;
        vv_status s = try_variant(bad, data, size);
        CHECK_MSG(s == VV_ERR_CORRUPT && strstr(vv_last_error(), "16383x16383"), "huge JPEG: %s", vv_last_error());
    }
    /* Random damage: 600 files with 1-8 bytes changed.  Must never crash or hang, and only
     * ever report the file's own statuses. */
    unsigned state = 12345;
    int failures = 0, accepted = 0;
    for (int round = 0; round < 600; round++) {
        memcpy(data, orig, size);
        state = state * 1664525u + 1013904223u;
        int changes = 1 + (int)(state >> 29);
        for (int k = 0; k < changes; k++) {
            state = state * 1664525u + 1013904223u;
            size_t at = (state >> 4) % size;
            /* Half the damage goes to the header and index, where offsets live. */
            if (k % 2 == 0) at = at % 128 < 96 && round % 2 ? at % 128 : (size_t)index_offset + at % (size - index_offset);
            state = state * 1664525u + 1013904223u;
            data[at] = (uint8_t)(state >> 24);
        }
        vv_status s = try_variant(bad, data, size);
        if (s == VV_OK) accepted++;
        else if (s != VV_ERR_CORRUPT && s != VV_ERR_FORMAT && s != VV_ERR_TOO_LARGE) {
            failures++;
            fprintf(stderr, "random damage round %d: %s (%s)\n", round, vv_status_string(s), vv_last_error());
        }
    }
    printf("hostile: %zu truncations, %zu field variants, 600 random damages (%d read back fine)\n",
           sizeof cuts / sizeof cuts[0], sizeof variants / sizeof variants[0], accepted);
    CHECK(failures == 0);
    free(data);
    free(orig);
}

/* ---- episodes ---- */

static void test_episodes(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/synthetic.vds", dir);
    dataset *ds = NULL;
    CHECK_OK(dataset_open(&ds, path));
    if (!ds) return;
    dataset_rng rng, rng2;
    dataset_episode e, e2;
    /* Same seed, same episodes; different seeds differ somewhere. */
    dataset_rng_seed(&rng, 42);
    dataset_rng_seed(&rng2, 42);
    bool same = true;
    for (int i = 0; i < 20; i++) {
        CHECK_OK(dataset_sample_episode(ds, &rng, 2, DATASET_EPISODE_CLIP, &e));
        CHECK_OK(dataset_sample_episode(ds, &rng2, 2, DATASET_EPISODE_CLIP, &e2));
        same &= !memcmp(&e, &e2, sizeof e);
    }
    CHECK(same);
    dataset_rng_seed(&rng2, 43);
    bool differs = false;
    dataset_rng_seed(&rng, 42);
    for (int i = 0; i < 20; i++) {
        dataset_sample_episode(ds, &rng, 2, DATASET_EPISODE_CLIP, &e);
        dataset_sample_episode(ds, &rng2, 2, DATASET_EPISODE_CLIP, &e2);
        differs |= memcmp(&e, &e2, sizeof e) != 0;
    }
    CHECK(differs);

    /* Clip mode, K = 3: only clips with >= 4 frames (0 and 2), all frames distinct and in
     * one clip; every clip and every frame position is drawn. */
    int clip_seen[3] = {0}, frame_seen[5] = {0};
    bool ok = true;
    for (int i = 0; i < 400; i++) {
        CHECK_OK(dataset_sample_episode(ds, &rng, 3, DATASET_EPISODE_CLIP, &e));
        dataset_frame_ref all[4] = {e.shots[0], e.shots[1], e.shots[2], e.target};
        ok &= e.k == 3 && e.clip == e.target.clip && e.identity == dataset_clip(ds, e.clip)->identity;
        for (int a = 0; a < 4; a++) {
            ok &= all[a].clip == e.clip && all[a].frame >= 0 && all[a].frame < dataset_clip(ds, e.clip)->frame_count;
            for (int b = 0; b < a; b++) ok &= all[a].frame != all[b].frame;
        }
        clip_seen[e.clip]++;
        if (e.clip == 0) frame_seen[e.target.frame]++;
    }
    CHECK(ok);
    CHECK(clip_seen[0] > 120 && clip_seen[1] == 0 && clip_seen[2] > 120);
    for (int f = 0; f < 5; f++) CHECK_MSG(frame_seen[f] > 10, "target frame %d drawn %d times", f, frame_seen[f]);

    /* Identity mode, K = 6: only alice has 7+ frames (5 + 3 across her two clips). */
    int from_clip[3] = {0};
    ok = true;
    for (int i = 0; i < 200; i++) {
        CHECK_OK(dataset_sample_episode(ds, &rng, 6, DATASET_EPISODE_IDENTITY, &e));
        dataset_frame_ref all[7];
        memcpy(all, e.shots, 6 * sizeof *all);
        all[6] = e.target;
        ok &= !strcmp(dataset_identity_name(ds, e.identity), "alice");
        for (int a = 0; a < 7; a++) {
            ok &= dataset_clip(ds, all[a].clip)->identity == e.identity;
            from_clip[all[a].clip]++;
            for (int b = 0; b < a; b++) ok &= all[a].clip != all[b].clip || all[a].frame != all[b].frame;
        }
    }
    CHECK(ok);
    CHECK(from_clip[0] > 0 && from_clip[1] > 0 && from_clip[2] == 0);

    /* Person mode: alice (2 clips) and bob (1) are drawn equally often, where clip mode
     * gives alice 2/3; alice's clips are drawn equally, from one clip each episode.  K = 3:
     * alice's 3-frame clip cannot hold an episode, her 5-frame one takes all her draws. */
    int person_mode[3] = {0}, clip_mode[3] = {0};
    ok = true;
    dataset_rng_seed(&rng, 5);
    dataset_rng_seed(&rng2, 5);
    for (int i = 0; i < 3000; i++) {
        CHECK_OK(dataset_sample_episode(ds, &rng, 2, DATASET_EPISODE_PERSON, &e));
        CHECK_OK(dataset_sample_episode(ds, &rng2, 2, DATASET_EPISODE_CLIP, &e2));
        person_mode[e.clip]++;
        clip_mode[e2.clip]++;
        dataset_frame_ref all[3] = {e.shots[0], e.shots[1], e.target};
        ok &= e.k == 2 && e.identity == dataset_clip(ds, e.clip)->identity;
        for (int a = 0; a < 3; a++) {
            ok &= all[a].clip == e.clip && all[a].frame >= 0 && all[a].frame < dataset_clip(ds, e.clip)->frame_count;
            for (int b = 0; b < a; b++) ok &= all[a].frame != all[b].frame;
        }
    }
    CHECK(ok);
    printf("episodes by person (K = 2, 3000): alice_clip1 %d, alice_clip2 %d, bob %d; by clip: %d, %d, %d\n",
           person_mode[0], person_mode[1], person_mode[2], clip_mode[0], clip_mode[1], clip_mode[2]);
    /* Binomial spread at 3000 draws: sd 27 for 1/2, 24 for 1/4 and 1/3. */
    CHECK(person_mode[2] > 1400 && person_mode[2] < 1600 && person_mode[0] > 650 && person_mode[0] < 850 &&
          person_mode[1] > 650 && person_mode[1] < 850);
    CHECK(clip_mode[2] > 900 && clip_mode[2] < 1100);
    int k3[3] = {0};
    for (int i = 0; i < 600; i++) {
        CHECK_OK(dataset_sample_episode(ds, &rng, 3, DATASET_EPISODE_PERSON, &e));
        k3[e.clip]++;
    }
    CHECK_MSG(k3[1] == 0 && k3[0] > 250 && k3[2] > 250, "K = 3 by person: %d %d %d", k3[0], k3[1], k3[2]);
    CHECK(dataset_sample_episode(ds, &rng, 5, DATASET_EPISODE_PERSON, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_sample_episode(ds, &rng, 2, (dataset_episode_mode)7, &e) == VV_ERR_INVALID_ARGUMENT);
    /* K = 8 fits nobody; K out of range. */
    CHECK(dataset_sample_episode(ds, &rng, 8, DATASET_EPISODE_IDENTITY, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_sample_episode(ds, &rng, 5, DATASET_EPISODE_CLIP, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_sample_episode(ds, &rng, 0, DATASET_EPISODE_CLIP, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_sample_episode(ds, &rng, DATASET_MAX_SHOTS + 1, DATASET_EPISODE_CLIP, &e) == VV_ERR_INVALID_ARGUMENT);
    dataset_close(ds);
}

/* ---- end to end ---- */

/* A short clip of a still portrait drifting by a few pixels and slightly zooming. */
static bool make_clip(const char *image_path, const char *out, int frames, bool mirror) {
    vv_image source = {0}, small = {0}, frame = {0};
    if (image_load(&source, image_path) != VV_OK) return false;
    int w = 160, h = (int)lround(160.0 * source.height / source.width) & ~1;
    bool ok = image_resize(&small, &source, w, h) == VV_OK && image_create(&frame, w, h, 3) == VV_OK;
    video_writer *writer = NULL;
    video_writer_params p = video_writer_default_params();
    p.width = w;
    p.height = h;
    p.fps = 10;
    p.crf = 12;
    ok = ok && video_writer_open(&writer, out, &p) == VV_OK;
    for (int i = 0; ok && i < frames; i++) {
        float zoom = 1.0f + 0.01f * (float)i, dx = 1.5f * (float)i, dy = 0.5f * (float)i;
        float m[6] = {(mirror ? -1.0f : 1.0f) / zoom, 0, mirror ? (float)w - 1 - dx : dx, 0, 1 / zoom, dy};
        image_warp_affine(&frame, &small, m, NULL);
        ok = video_writer_write(writer, &frame) == VV_OK;
    }
    if (writer) ok = ok ? video_writer_finish(writer) == VV_OK : (video_writer_abort(writer), false);
    image_free(&source);
    image_free(&small);
    image_free(&frame);
    return ok;
}

static void test_build(const char *dir) {
    if (!test_model_present("blazeface.json") || !test_model_present("dlib")) {
        test_skip("build part: blazeface.json or the dlib model not present");
        return;
    }
    char clips[3][4096], holdout[4096], out[4096], out2[4096], held[4096];
    snprintf(clips[0], sizeof clips[0], "%s/mona_clip1.mp4", dir);
    snprintf(clips[1], sizeof clips[1], "%s/mona_clip2.mp4", dir);
    snprintf(clips[2], sizeof clips[2], "%s/grace.mp4", dir);
    CHECK(make_clip(VV_SOURCE_DIR "/examples/mona_lisa.png", clips[0], 8, false));
    CHECK(make_clip(VV_SOURCE_DIR "/examples/mona_lisa.png", clips[1], 6, true));
    CHECK(make_clip(VV_SOURCE_DIR "/examples/grace_hopper.jpg", clips[2], 6, false));
    snprintf(holdout, sizeof holdout, "%s/holdout.txt", dir);
    FILE *f = fopen(holdout, "w");
    fputs("# test\n  grace   # the only clip of her\n\n", f);
    fclose(f);

    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    CHECK_OK(vv_faces_new(&faces, &fp));
    if (!faces) return;
    dataset_build_params p = dataset_build_default_params();
    p.size = 128;
    p.faces = faces;
    p.holdout_path = holdout;
    p.split = DATASET_SPLIT_TRAIN;
    snprintf(out, sizeof out, "%s/train.vds", dir);
    snprintf(out2, sizeof out2, "%s/train_again.vds", dir);
    snprintf(held, sizeof held, "%s/holdout.vds", dir);
    const char *inputs[] = {clips[0], clips[1], clips[2]};
    dataset_build_report report;
    double start = time_now();
    CHECK_OK(dataset_build(inputs, 3, out, &p, &report));
    double seconds = time_now() - start;
    CHECK(report.clips == 2 && report.identities == 1 && report.frames == 14 && report.clips_skipped == 1);
    /* Same inputs and options: the same bytes (inputs given as a folder this time; the
     * held-out clip is still left out). */
    const char *folder[] = {dir};
    CHECK_OK(dataset_build(folder, 1, out2, &p, NULL));
    size_t a_size = 0, b_size = 0;
    uint8_t *a = file_bytes(out, &a_size), *b = file_bytes(out2, &b_size);
    CHECK_MSG(a && b && a_size == b_size && !memcmp(a, b, a_size), "two builds differ (%zu vs %zu bytes)", a_size, b_size);
    free(a);
    free(b);

    dataset *ds = NULL;
    CHECK_OK(dataset_open(&ds, out));
    if (ds) {
        CHECK(dataset_clip_count(ds) == 2 && dataset_identity_count(ds) == 1 && dataset_image_size(ds) == 128);
        CHECK(!strcmp(dataset_identity_name(ds, 0), "mona"));
        CHECK(!strcmp(dataset_clip(ds, 0)->name, "mona_clip1") && dataset_clip(ds, 0)->frame_count == 8);
        CHECK(!strcmp(dataset_clip(ds, 1)->name, "mona_clip2") && dataset_clip(ds, 1)->frame_count == 6);
        CHECK(dataset_clip(ds, 0)->source_width == 160 && dataset_clip(ds, 0)->crop_side <= 160);
        /* The stored landmarks are where a fresh detection on the stored crop puts them
         * (both the crop-coordinate mapping and the frame order are right): error in
         * units of the outer-eye-corner distance, as in the landmark benchmarks. */
        vv_image image = {0};
        double worst = 0;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < dataset_clip(ds, c)->frame_count; i += 2) {
                float stored[68][2];
                CHECK_OK(dataset_read_frame(ds, c, i, &image, stored));
                vv_face face;
                int count = 0;
                CHECK_OK(vv_faces_detect(faces, &image, &face, 1, &count));
                CHECK_MSG(count == 1, "no face in stored frame %d of clip %d", i, c);
                if (count != 1) continue;
                double eyes = hypot(stored[36][0] - stored[45][0], stored[36][1] - stored[45][1]), sum = 0;
                for (int k = 0; k < 68; k++)
                    sum += hypot(stored[k][0] - face.landmarks[k][0], stored[k][1] - face.landmarks[k][1]);
                double nme = sum / 68 / eyes;
                if (nme > worst) worst = nme;
                CHECK(eyes > 20 && eyes < 80); /* the face fills a sensible share of the crop */
            }
        printf("build: 2 clips, 14 frames at 128 in %.1f s; stored vs fresh landmarks: NME at most %.3f\n", seconds,
               worst);
        CHECK(worst < 0.05);
        image_free(&image);
        dataset_close(ds);
    }
    /* The held-out set holds grace only. */
    p.split = DATASET_SPLIT_HOLDOUT;
    CHECK_OK(dataset_build(inputs, 3, held, &p, &report));
    CHECK(report.clips == 1 && report.frames == 6 && report.clips_skipped == 2);
    CHECK_OK(dataset_open(&ds, held));
    if (ds) {
        CHECK(dataset_clip_count(ds) == 1 && !strcmp(dataset_identity_name(ds, 0), "grace"));
        dataset_close(ds);
    }
    /* Failures: a missing input, duplicate clip names, no output written on failure. */
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/none.vds", dir);
    const char *bad_inputs[] = {clips[0], "test_tmp/no_such_clip.mp4"};
    CHECK(dataset_build(bad_inputs, 2, missing, &p, NULL) == VV_ERR_NOT_FOUND);
    const char *twice[] = {clips[0], clips[0]};
    p.split = DATASET_SPLIT_ALL;
    CHECK(dataset_build(twice, 2, missing, &p, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(!file_exists(missing));
    p.size = 4;
    CHECK(dataset_build(inputs, 1, missing, &p, NULL) == VV_ERR_INVALID_ARGUMENT);
    vv_faces_free(faces);
}

/* ---- a version-1 file kept in the tree ---- */

/* tests/fixtures/dataset_v1.vds: write_synthetic's file (3 clips, 12 frames, 32 px) as the
 * version-1 writer made it when sets became shardable (2026-12-06).  Whatever the format
 * becomes, files already built (the training runs' .cache/datasets/) must still read. */
static void test_v1_fixture(void) {
    dataset *ds = NULL;
    CHECK_OK(dataset_open(&ds, VV_SOURCE_DIR "/tests/fixtures/dataset_v1.vds"));
    if (!ds) return;
    CHECK(dataset_clip_count(ds) == 3 && dataset_frame_count(ds) == 12 && dataset_identity_count(ds) == 2 &&
          dataset_image_size(ds) == SIDE && dataset_shard_count(ds) == 0);
    CHECK(!strcmp(dataset_config(ds), "{\"test\": true}"));
    vv_image image = {0}, expected = {0};
    image_create(&expected, SIDE, SIDE, 3);
    double worst = 0;
    for (int c = 0; c < 3; c++) {
        dataset_clip_info info;
        CHECK_OK(dataset_clip_get(ds, c, &info));
        CHECK(!strcmp(info.name, CLIP_NAMES[c]) && !strcmp(dataset_identity_name(ds, info.identity), CLIP_IDENTITIES[c]));
        CHECK(info.frame_count == CLIP_FRAMES[c] && info.crop_side == 100 + c && info.source_frames == 2 * CLIP_FRAMES[c]);
        for (int i = 0; i < info.frame_count; i++) {
            float points[68][2], want[68][2];
            CHECK_OK(dataset_read_frame(ds, c, i, &image, points));
            synthetic_points(want, c, i);
            CHECK(!memcmp(points, want, sizeof want));
            synthetic_frame(&expected, c, i);
            double diff = 0;
            for (size_t p = 0; p < (size_t)SIDE * SIDE * 3; p++) diff += fabs((double)image.data[p] - expected.data[p]);
            if (diff / (SIDE * SIDE * 3) > worst) worst = diff / (SIDE * SIDE * 3);
        }
    }
    CHECK(worst < 2.0);
    dataset_rng rng;
    dataset_rng_seed(&rng, 42);
    dataset_episode e;
    CHECK_OK(dataset_sample_episode(ds, &rng, 3, DATASET_EPISODE_CLIP, &e));
    CHECK(e.clip == 0 || e.clip == 2);
    image_free(&image);
    image_free(&expected);
    dataset_close(ds);
}

/* ---- sharded sets ---- */

/* Clip c of the generated sets: a tree-style name, person c % 3 (or c / 4 at scale), and
 * 1..7 frames (2..4 at scale). */
static int gen_frames(int c, bool scale) { return scale ? 2 + c % 3 : 1 + (c * 5) % 7; }

static vv_status write_clip_range(const char *path, int first, int count, bool scale) {
    dataset_writer *w = NULL;
    vv_status s = dataset_writer_open(&w, path, SIDE);
    if (s != VV_OK) return s;
    tjhandle tj = tjInitCompress();
    vv_image frame = {0};
    image_create(&frame, SIDE, SIDE, 3);
    for (int c = first; c < first + count && s == VV_OK; c++) {
        char name[DATASET_NAME_SIZE], person[16];
        snprintf(person, sizeof person, "id%05d", (scale ? c / 4 : c % 3) % 100000);
        snprintf(name, sizeof name, "%s/video/%05d", person, c);
        const int crop[3] = {c % 50, 5, 100};
        s = dataset_writer_begin_clip(w, name, person, 640, 480, crop);
        for (int i = 0; i < gen_frames(c, scale) && s == VV_OK; i++) {
            synthetic_frame(&frame, c, i);
            unsigned char *jpeg = NULL;
            unsigned long jpeg_size = 0;
            tjCompress2(tj, frame.data, SIDE, 0, SIDE, TJPF_RGB, &jpeg, &jpeg_size, TJSAMP_420, 75, 0);
            float points[68][2];
            synthetic_points(points, c % 256, i); /* landmarks stay within the reader's 4 S */
            s = dataset_writer_add_frame(w, jpeg, jpeg_size, (const float(*)[2])points, i);
            tjFree(jpeg);
        }
        if (s == VV_OK) s = dataset_writer_end_clip(w, gen_frames(c, scale));
    }
    tjDestroy(tj);
    image_free(&frame);
    if (s != VV_OK) {
        dataset_writer_abort(w);
        return s;
    }
    return dataset_writer_finish(w, "{\"shard\": true}", NULL);
}

/* The 7 clips as one file (all.vds) and as 3 shards (3 + 2 + 2 clips) with a manifest. */
static void write_sharded_pair(const char *dir, char *all, size_t all_size, char *folder, size_t folder_size) {
    snprintf(all, all_size, "%s/all.vds", dir);
    snprintf(folder, folder_size, "%s/shards", dir);
    mkdir(folder, 0777);
    CHECK_OK(write_clip_range(all, 0, 7, false));
    static const int firsts[] = {0, 3, 5}, counts[] = {3, 2, 2};
    const char *names[3] = {"shard-000000.vds", "shard-000001.vds", "shard-000002.vds"};
    for (int k = 0; k < 3; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", folder, names[k]);
        CHECK_OK(write_clip_range(path, firsts[k], counts[k], false));
    }
    uint64_t bytes = 0;
    CHECK_OK(dataset_write_manifest(folder, names, 3, "{\"sharded\": true}", &bytes));
    CHECK(bytes == 64 + 17 + 3 * DATASET_NAME_SIZE + 3 * 360 + 7 * 32); /* 7 person runs: the people alternate */
    /* Names the manifest refuses to record. */
    const char *bad[] = {"../all.vds"}, *hidden[] = {".shard.vds"}, *missing[] = {"none.vds"};
    CHECK(dataset_write_manifest(folder, bad, 1, NULL, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_write_manifest(folder, hidden, 1, NULL, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_write_manifest(folder, missing, 1, NULL, NULL) == VV_ERR_NOT_FOUND);
}

static void test_shards(const char *dir) {
    char all[4096], folder[4096], manifest[4200];
    write_sharded_pair(dir, all, sizeof all, folder, sizeof folder);
    snprintf(manifest, sizeof manifest, "%s/%s", folder, DATASET_MANIFEST_NAME);
    dataset *one = NULL, *sh = NULL, *by_manifest = NULL;
    CHECK_OK(dataset_open(&one, all));
    CHECK_OK(dataset_open(&sh, folder));
    CHECK_OK(dataset_open(&by_manifest, manifest));
    if (!one || !sh || !by_manifest) return;
    CHECK(dataset_shard_count(one) == 0 && dataset_shard_count(sh) == 3 && dataset_shard_count(by_manifest) == 3);
    CHECK(dataset_clip_count(sh) == 7 && dataset_frame_count(sh) == dataset_frame_count(one) &&
          dataset_frame_count(sh) == 28 && dataset_identity_count(sh) == 3 && dataset_image_size(sh) == SIDE);
    CHECK(!strcmp(dataset_config(sh), "{\"sharded\": true}"));
    for (int i = 0; i < 3; i++) CHECK(!strcmp(dataset_identity_name(sh, i), dataset_identity_name(one, i)));
    CHECK(dataset_identity_name(sh, 3) == NULL && dataset_clip(sh, 0) == NULL);
    /* Every clip entry and frame as the single file has them (identity and first frame
     * global), read in an order that makes the cache load shards back and forth. */
    vv_image a = {0}, b = {0};
    bool same = true;
    for (int n = 0; n < 7; n++) {
        int c = (n * 3) % 7;
        dataset_clip_info x, y;
        CHECK_OK(dataset_clip_get(one, c, &x));
        CHECK_OK(dataset_clip_get(sh, c, &y));
        same &= !memcmp(&x, &y, sizeof x) && x.frame_count == gen_frames(c, false);
        for (int i = 0; i < x.frame_count; i++) {
            float pa[68][2], pb[68][2], want[68][2];
            CHECK_OK(dataset_read_frame(one, c, i, &a, pa));
            CHECK_OK(dataset_read_frame(sh, c, i, &b, pb));
            synthetic_points(want, c % 256, i);
            same &= a.width == b.width && !memcmp(a.data, b.data, (size_t)SIDE * SIDE * 3) &&
                    !memcmp(pa, pb, sizeof pa) && !memcmp(pb, want, sizeof want);
        }
    }
    CHECK_MSG(same, "the sharded set reads differently from the single file");
    /* The same episodes from the same rng state, for every K and mode (the people's clips
     * alternate here, so a person's clips lie in every shard). */
    static const dataset_episode_mode modes[] = {DATASET_EPISODE_CLIP, DATASET_EPISODE_IDENTITY, DATASET_EPISODE_PERSON};
    bool same_episodes = true;
    int drawn[3][7] = {{0}};
    for (int m = 0; m < 3; m++)
        for (int k = 1; k <= 6; k++) {
            dataset_rng r1, r2;
            dataset_rng_seed(&r1, 100 + (uint64_t)k);
            dataset_rng_seed(&r2, 100 + (uint64_t)k);
            for (int i = 0; i < 200; i++) {
                dataset_episode e1, e2;
                CHECK_OK(dataset_sample_episode(one, &r1, k, modes[m], &e1));
                CHECK_OK(dataset_sample_episode(sh, &r2, k, modes[m], &e2));
                same_episodes &= !memcmp(&e1, &e2, sizeof e1) && r1.state == r2.state;
                if (k == 1) drawn[m][e1.clip]++;
            }
        }
    CHECK(same_episodes);
    /* K = 1 by person: clip 0 (1 frame) never; person 0's two other clips (3, 6) share a
     * third of the draws, persons 1 and 2's two clips each the other thirds. */
    CHECK_MSG(drawn[2][0] == 0 && drawn[2][3] + drawn[2][6] > 45 && drawn[2][3] + drawn[2][6] < 90 &&
              drawn[2][1] + drawn[2][4] > 45 && drawn[2][2] + drawn[2][5] > 45,
              "by person: %d %d %d %d %d %d %d", drawn[2][0], drawn[2][1], drawn[2][2], drawn[2][3], drawn[2][4],
              drawn[2][5], drawn[2][6]);
    dataset_rng rng;
    dataset_rng_seed(&rng, 1);
    dataset_episode e;
    /* K = 7: no clip has 8 frames; by identity, person 1 has 13 in two clips, none 14. */
    CHECK(dataset_sample_episode(sh, &rng, 7, DATASET_EPISODE_CLIP, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_sample_episode(sh, &rng, 7, DATASET_EPISODE_PERSON, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK_OK(dataset_sample_episode(sh, &rng, 12, DATASET_EPISODE_IDENTITY, &e));
    CHECK(e.identity == 1 && e.shots[0].clip % 3 == 1);
    CHECK(dataset_sample_episode(sh, &rng, 13, DATASET_EPISODE_IDENTITY, &e) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_read_frame(sh, 7, 0, &b, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_read_frame(sh, -1, 0, &b, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(dataset_read_frame(sh, 1, 6, &b, NULL) == VV_ERR_INVALID_ARGUMENT); /* clip 1 has 6 frames */
    dataset_clip_info info;
    CHECK(dataset_clip_get(sh, 7, &info) == VV_ERR_INVALID_ARGUMENT);
    printf("shards: 7 clips in 3 shards read and sample exactly as one file\n");
    image_free(&a);
    image_free(&b);
    dataset_close(one);
    dataset_close(sh);
    dataset_close(by_manifest);
}

/* Damaged manifests and shards: truncations, every field, random bytes.  Only the file's
 * own statuses (NOT_FOUND when a damaged name points at no file), never a crash. */
static void test_shards_hostile(const char *dir) {
    char folder[4096], path[4200], shard0[4200], shard1[4200];
    snprintf(folder, sizeof folder, "%s/shards", dir);
    snprintf(path, sizeof path, "%s/%s", folder, DATASET_MANIFEST_NAME);
    snprintf(shard0, sizeof shard0, "%s/shard-000000.vds", folder);
    snprintf(shard1, sizeof shard1, "%s/shard-000001.vds", folder);
    size_t size = 0, shard_size = 0;
    uint8_t *orig = file_bytes(path, &size), *orig_shard = file_bytes(shard0, &shard_size);
    CHECK(orig && orig_shard && size == 64 + 17 + 3 * 64 + 3 * 360 + 7 * 32);
    if (!orig || !orig_shard || size != 64 + 17 + 3 * 64 + 3 * 360 + 7 * 32) {
        free(orig);
        free(orig_shard);
        return;
    }
    uint8_t *data = malloc(size);
    const size_t names = 64 + 17, entries = names + 3 * 64, entry1 = entries + 360;
    /* The person runs: person 0's clips 0, 3, 6 (1, 2, 3 frames), person 1's 1, 4 (6, 7),
     * person 2's 2, 5 (4, 5), one run each, 32 bytes. */
    const size_t runs = entries + 3 * 360, run1 = runs + 32;
    CHECK(read_u32(orig + 56) == 7 && read_u32(orig + runs + 32 * 3) == 1 && read_u64(orig + runs + 32 * 3 + 8) == 1 &&
          read_u64(orig + runs + 32 * 4 + 16) == 7 && read_u32(orig + runs + 32 * 6 + 24) == 5);
    CHECK(try_variant(path, orig, size) == VV_OK);
    const size_t cuts[] = {0, 5, 8, 40, 63, 64, 70, names + 10, entries, entries + 100, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        vv_status s = try_variant(path, orig, cuts[i]);
        CHECK_MSG(s == (cuts[i] < 8 ? VV_ERR_FORMAT : VV_ERR_CORRUPT), "manifest truncated to %zu: %s", cuts[i],
                  vv_status_string(s));
    }
    typedef struct { const char *what; size_t at; int width; uint64_t value; vv_status want; } variant;
    const variant variants[] = {
        {"bad magic", 3, 1, 'X', VV_ERR_FORMAT},
        {"version 3", 8, 4, 3, VV_ERR_FORMAT},
        {"version 1 with a person table", 8, 4, 1, VV_ERR_CORRUPT},
        {"runs 6", 56, 4, 6, VV_ERR_CORRUPT},
        {"runs fewer than people", 56, 4, 2, VV_ERR_CORRUPT},
        {"runs reserved", 60, 4, 1, VV_ERR_CORRUPT},
        {"run person out of range", runs, 4, 3, VV_ERR_CORRUPT},
        {"runs out of person order", run1, 4, 1, VV_ERR_CORRUPT},
        {"run clips 0", runs + 4, 4, 0, VV_ERR_CORRUPT},
        {"run clips overlapping", run1 + 4, 4, 2, VV_ERR_CORRUPT},
        {"run first clip past the end", runs + 8, 8, 7, VV_ERR_CORRUPT},
        {"run first clip taken twice", run1 + 8, 8, 0, VV_ERR_CORRUPT},
        {"run first clip leaving a gap", runs + 32 * 6 + 8, 8, 6, VV_ERR_CORRUPT},
        {"run frames over its longest clip", runs + 16, 8, 2, VV_ERR_CORRUPT},
        {"run longest 0", runs + 24, 4, 0, VV_ERR_CORRUPT},
        {"run longest over its frames", run1 + 24, 4, 3, VV_ERR_CORRUPT},
        {"run reserved", runs + 28, 4, 1, VV_ERR_CORRUPT},
        {"header size", 12, 4, 128, VV_ERR_CORRUPT},
        {"shard count 0", 16, 4, 0, VV_ERR_CORRUPT},
        {"shard count 4", 16, 4, 4, VV_ERR_CORRUPT},
        {"shard count huge", 16, 4, 0xffffffffu, VV_ERR_TOO_LARGE},
        {"people 0", 20, 4, 0, VV_ERR_CORRUPT},
        {"people 2", 20, 4, 2, VV_ERR_CORRUPT},
        {"people huge", 20, 4, 0x7fffffffu, VV_ERR_TOO_LARGE},
        {"clips 6", 24, 8, 6, VV_ERR_CORRUPT},
        {"clips huge", 24, 8, 1ull << 40, VV_ERR_TOO_LARGE},
        {"frames < clips", 32, 8, 5, VV_ERR_CORRUPT},
        {"frames 29", 32, 8, 29, VV_ERR_CORRUPT},
        {"frames huge", 32, 8, UINT64_MAX, VV_ERR_TOO_LARGE},
        {"frame size 4", 40, 4, 4, VV_ERR_TOO_LARGE},
        {"frame size differs from the shards", 40, 4, 64, VV_ERR_CORRUPT},
        {"config size", 44, 4, 18, VV_ERR_CORRUPT},
        {"config size huge", 44, 4, 0xfffffff0u, VV_ERR_TOO_LARGE},
        {"file size field", 48, 8, size + 1, VV_ERR_CORRUPT},
        {"config holds NUL", 64 + 3, 1, 0, VV_ERR_CORRUPT},
        {"person names unsorted", names, 1, 'z', VV_ERR_CORRUPT},
        {"person name control byte", names + 1, 1, 7, VV_ERR_CORRUPT},
        {"person name empty", names + 64, 1, 0, VV_ERR_CORRUPT},
        {"shard name leaves the folder", entries, 4, 0x2f2e2e2fu /* "/../" */, VV_ERR_CORRUPT},
        {"shard name not .vds", entries + 14, 1, 'x', VV_ERR_CORRUPT},
        {"shard name hidden", entries, 1, '.', VV_ERR_CORRUPT},
        {"shard name unpadded", entries + 40, 1, 'a', VV_ERR_CORRUPT},
        {"shard name of another file", entries + 15, 1, '1', VV_ERR_CORRUPT}, /* shard-000001.vds: counts differ */
        {"shard name of no file", entries + 11, 1, '9', VV_ERR_NOT_FOUND},
        {"shard clips 0", entries + 64, 4, 0, VV_ERR_CORRUPT},
        {"shard clips 4", entries + 64, 4, 4, VV_ERR_CORRUPT},
        {"shard people 0", entries + 68, 4, 0, VV_ERR_CORRUPT},
        {"shard people > clips", entries + 68, 4, 4, VV_ERR_CORRUPT},
        {"shard people 2 of 3", entries + 68, 4, 2, VV_ERR_CORRUPT}, /* consistent, but not the file's */
        {"shard frames", entries + 72, 8, 12, VV_ERR_CORRUPT},
        {"shard bytes", entries + 80, 8, 1000, VV_ERR_CORRUPT},
        {"shard bytes tiny", entries + 80, 8, 10, VV_ERR_CORRUPT},
        {"shard first clip", entry1 + 88, 8, 2, VV_ERR_CORRUPT},
        {"shard first frame", entry1 + 96, 8, 0, VV_ERR_CORRUPT},
        {"eligible over clips", entries + 104, 4, 4, VV_ERR_CORRUPT},
        {"eligible increasing", entries + 104 + 4 * 10, 4, 1, VV_ERR_CORRUPT},
        {"eligible wrong", entries + 104 + 4 * 3, 4, 0, VV_ERR_CORRUPT}, /* K = 4: clip 1 (6 frames) */
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const variant *v = &variants[i];
        memcpy(data, orig, size);
        if (v->width == 1) data[v->at] = (uint8_t)v->value;
        else if (v->width == 4) write_u32(data + v->at, (uint32_t)v->value);
        else write_u64(data + v->at, v->value);
        vv_status s = try_variant(path, data, size);
        CHECK_MSG(s == v->want, "manifest %s: %s (%s), expected %s", v->what, vv_status_string(s), vv_last_error(),
                  vv_status_string(v->want));
    }
    /* Person tables that parse (sorted, tiling, sums right) but lie about the shards:
     * clip 1 given to person 0 (and 3 to person 1); clip 0's frames swapped with clip 3's. */
    memcpy(data, orig, size);
    write_u64(data + run1 + 8, 1), write_u64(data + run1 + 16, 6), write_u32(data + run1 + 24, 6);
    write_u64(data + runs + 96 + 8, 3), write_u64(data + runs + 96 + 16, 2), write_u32(data + runs + 96 + 24, 2);
    vv_status lie = try_variant(path, data, size);
    CHECK_MSG(lie == VV_ERR_CORRUPT && strstr(vv_last_error(), "person table"), "runs of the wrong person: %s (%s)",
              vv_status_string(lie), vv_last_error());
    memcpy(data, orig, size);
    write_u64(data + runs + 16, 2), write_u32(data + runs + 24, 2);
    write_u64(data + run1 + 16, 1), write_u32(data + run1 + 24, 1);
    lie = try_variant(path, data, size);
    CHECK_MSG(lie == VV_ERR_CORRUPT && strstr(vv_last_error(), "person table"), "runs' frames swapped: %s (%s)",
              vv_status_string(lie), vv_last_error());
    /* A version-1 manifest (no person table) still reads: episodes by clip as before, by
     * person UNSUPPORTED with a line saying to rebuild. */
    memcpy(data, orig, size);
    write_u32(data + 8, 1), write_u32(data + 56, 0), write_u64(data + 48, size - 7 * 32);
    write_bytes(path, data, size - 7 * 32);
    dataset *v1 = NULL;
    CHECK_OK(dataset_open(&v1, path));
    if (v1) {
        dataset_rng rng;
        dataset_rng_seed(&rng, 3);
        dataset_episode e;
        CHECK_OK(dataset_sample_episode(v1, &rng, 2, DATASET_EPISODE_CLIP, &e));
        CHECK(dataset_sample_episode(v1, &rng, 2, DATASET_EPISODE_PERSON, &e) == VV_ERR_UNSUPPORTED &&
              strstr(vv_last_error(), "rebuilt"));
        CHECK(dataset_sample_episode(v1, &rng, 2, DATASET_EPISODE_IDENTITY, &e) == VV_ERR_UNSUPPORTED);
        dataset_close(v1);
    }
    /* Damaged shards under a good manifest: another shard's bytes, truncated, a manifest
     * in a shard's place. */
    write_bytes(path, orig, size);
    size_t other_size = 0;
    uint8_t *other = file_bytes(shard1, &other_size);
    write_bytes(shard0, other, other_size);
    vv_status s = open_and_read_all(path);
    CHECK_MSG(s == VV_ERR_CORRUPT && strstr(vv_last_error(), "does not match"), "shard replaced: %s (%s)",
              vv_status_string(s), vv_last_error());
    write_bytes(shard0, orig_shard, shard_size - 1);
    s = open_and_read_all(path);
    CHECK_MSG(s == VV_ERR_CORRUPT, "shard truncated: %s", vv_status_string(s));
    write_bytes(shard0, orig, size);
    s = open_and_read_all(path);
    CHECK_MSG(s == VV_ERR_FORMAT, "manifest as a shard: %s", vv_status_string(s));
    free(other);
    write_bytes(shard0, orig_shard, shard_size);
    /* Random damage to the manifest. */
    unsigned state = 777;
    int failures = 0, accepted = 0;
    for (int round = 0; round < 600; round++) {
        memcpy(data, orig, size);
        state = state * 1664525u + 1013904223u;
        int changes = 1 + (int)(state >> 30);
        for (int k = 0; k < changes; k++) {
            state = state * 1664525u + 1013904223u;
            size_t at = (state >> 4) % size;
            if (round % 2) at %= 64; /* half the rounds hit the header */
            state = state * 1664525u + 1013904223u;
            data[at] = (uint8_t)(state >> 24);
        }
        s = try_variant(path, data, size);
        if (s == VV_OK) accepted++;
        else if (s != VV_ERR_CORRUPT && s != VV_ERR_FORMAT && s != VV_ERR_TOO_LARGE && s != VV_ERR_NOT_FOUND) {
            failures++;
            fprintf(stderr, "manifest damage round %d: %s (%s)\n", round, vv_status_string(s), vv_last_error());
        }
    }
    printf("shards hostile: %zu truncations, %zu field variants, 3 damaged shards, 600 random damages (%d read back "
           "fine)\n", sizeof cuts / sizeof cuts[0], sizeof variants / sizeof variants[0], accepted);
    CHECK(failures == 0);
    write_bytes(path, orig, size);
    CHECK(open_and_read_all(path) == VV_OK);
    free(data);
    free(orig);
    free(orig_shard);
}

/* Many shards (more than the reader's cache), read from several threads at once: every
 * frame checked against its generator.  VV_DATASET_SCALE_DIR / _CLIPS / _SHARD make a large
 * set for measuring the reader's memory (docs/DATASET.md). */
typedef struct scale_job {
    const dataset *ds;
    int failures;
    vv_status status;
} scale_job;

static void scale_read(void *ctx, int index) {
    scale_job *job = ctx;
    dataset_rng rng;
    dataset_rng_seed(&rng, 1000 + (uint64_t)index);
    vv_image image = {0};
    for (int n = 0; n < 50; n++) {
        int c = (int)dataset_rng_below(&rng, (uint64_t)dataset_clip_count(job->ds));
        dataset_clip_info info;
        vv_status s = dataset_clip_get(job->ds, c, &info);
        int frame = s == VV_OK ? (int)dataset_rng_below(&rng, (uint64_t)info.frame_count) : 0;
        float points[68][2], want[68][2];
        if (s == VV_OK) s = dataset_read_frame(job->ds, c, frame, &image, points);
        synthetic_points(want, c % 256, frame);
        char name[DATASET_NAME_SIZE], person[16];
        snprintf(person, sizeof person, "id%05d", (c / 4) % 100000);
        snprintf(name, sizeof name, "%s/video/%05d", person, c);
        if (s != VV_OK || memcmp(points, want, sizeof want) || strcmp(info.name, name) ||
            info.frame_count != gen_frames(c, true) || strcmp(dataset_identity_name(job->ds, info.identity), person))
            __atomic_add_fetch(&job->failures, 1, __ATOMIC_RELAXED);
    }
    image_free(&image);
}

static void test_shards_scale(const char *dir) {
    const char *env_dir = getenv("VV_DATASET_SCALE_DIR");
    int clips = env_dir && getenv("VV_DATASET_SCALE_CLIPS") ? atoi(getenv("VV_DATASET_SCALE_CLIPS")) : 600;
    int per_shard = env_dir && getenv("VV_DATASET_SCALE_SHARD") ? atoi(getenv("VV_DATASET_SCALE_SHARD")) : 25;
    char folder[4096];
    if (env_dir) snprintf(folder, sizeof folder, "%s", env_dir);
    else snprintf(folder, sizeof folder, "%s/scale", dir);
    mkdir(folder, 0777);
    if (clips < 4 || per_shard < 1) return;
    int shards = (clips + per_shard - 1) / per_shard;
    char **names = calloc((size_t)shards, sizeof *names);
    double start = time_now();
    vv_status s = VV_OK;
    for (int k = 0; k < shards && s == VV_OK; k++) {
        names[k] = malloc(32);
        snprintf(names[k], 32, "shard-%06d.vds", k);
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", folder, names[k]);
        int first = k * per_shard, count = first + per_shard < clips ? per_shard : clips - first;
        s = write_clip_range(path, first, count, true);
    }
    CHECK_OK(s);
    CHECK_OK(dataset_write_manifest(folder, (const char *const *)names, shards, "{}", NULL));
    double written = time_now() - start;
    dataset *ds = NULL;
    start = time_now();
    CHECK_OK(dataset_open(&ds, folder));
    double opened = time_now() - start;
    if (ds) {
        long frames = 0;
        for (int c = 0; c < clips; c++) frames += gen_frames(c, true);
        CHECK(dataset_clip_count(ds) == clips && dataset_frame_count(ds) == frames &&
              dataset_identity_count(ds) == (clips + 3) / 4 && dataset_shard_count(ds) == shards);
        scale_job job = {ds, 0, VV_OK};
        start = time_now();
        parallel_for(64, 4, scale_read, &job);
        double read = time_now() - start;
        CHECK_MSG(job.failures == 0, "%d of 3200 frames read wrong from %d shards", job.failures, shards);
        printf("shards scale: %d clips in %d shards written in %.2f s, opened in %.1f ms, 3200 random frames read "
               "by 4 threads in %.2f s\n", clips, shards, written, opened * 1e3, read);
        /* Every mode draws as one file of the same clips does (people of 4 consecutive
         * clips: some runs span two shards). */
        char all[4200];
        snprintf(all, sizeof all, "%s/../scale_all.vds", folder);
        dataset *one = NULL;
        if (!env_dir && write_clip_range(all, 0, clips, true) == VV_OK && dataset_open(&one, all) == VV_OK) {
            static const dataset_episode_mode modes[] = {DATASET_EPISODE_CLIP, DATASET_EPISODE_IDENTITY,
                                                         DATASET_EPISODE_PERSON};
            bool same = true;
            int draws = 0;
            for (int m = 0; m < 3; m++)
                for (int k = 1; k <= 3; k++) {
                    dataset_rng r1, r2;
                    dataset_rng_seed(&r1, 9 + (uint64_t)k), dataset_rng_seed(&r2, 9 + (uint64_t)k);
                    for (int i = 0; i < 300; i++, draws++) {
                        dataset_episode e1, e2;
                        vv_status s1 = dataset_sample_episode(one, &r1, k, modes[m], &e1);
                        vv_status s2 = dataset_sample_episode(ds, &r2, k, modes[m], &e2);
                        same &= s1 == VV_OK && s2 == VV_OK && !memcmp(&e1, &e2, sizeof e1) && r1.state == r2.state;
                    }
                }
            CHECK_MSG(same, "%d clips in %d shards draw differently from one file", clips, shards);
            printf("shards scale: %d episodes (3 modes, K 1..3) as from one file\n", draws);
        } else if (!env_dir) {
            CHECK_MSG(false, "cannot write or open %s", all);
        }
        dataset_close(one);
        dataset_close(ds);
    }
    for (int k = 0; k < shards; k++) free(names[k]);
    free(names);
}

/* The hash hold-out rule: pinned values (also computed outside C) and its fraction. */
static void test_holdout_hash(void) {
    CHECK(dataset_holdout_hash("id00012") == 0xbb39bc02dcbe039full);
    CHECK(dataset_holdout_hash("obama") == 0xd576249f0cff6866ull);
    CHECK(dataset_holdout_hash("") == 0x552d3fb62b3c344full);
    int held10 = 0, held25 = 0;
    for (int i = 0; i < 10000; i++) {
        char name[32];
        snprintf(name, sizeof name, "id%05d", i);
        held10 += dataset_holdout_by_hash(name, 0.1);
        held25 += dataset_holdout_by_hash(name, 0.25);
        CHECK(!dataset_holdout_by_hash(name, 0) && dataset_holdout_by_hash(name, 1));
        if (dataset_holdout_by_hash(name, 0.1)) CHECK(dataset_holdout_by_hash(name, 0.25)); /* nested */
    }
    CHECK_MSG(held10 == 934 && held25 == 2384, "%d and %d of 10000 held out", held10, held25);
}

int main(void) {
    const char *dir = test_tmp_dir("test_dataset");
    test_identity_rule();
    test_round_trip(dir);
    test_hostile(dir);
    test_episodes(dir);
    test_holdout_hash();
    test_v1_fixture();
    test_shards(dir);
    test_shards_hostile(dir);
    test_shards_scale(dir);
    test_build(dir);
    return test_finish("test_dataset");
}
