/* train/dataset_shards: sharded datasets.  The manifest (writer and hostile-input-checked
 * reader; byte layout in docs/DATASET.md, integers little-endian) and the reader's cache of
 * open shards: only the manifest (per-shard counts, the global identity names, and from
 * version 2 the person table: each person's runs of consecutive clips) stays in memory,
 * plus the indexes of the CACHE_SLOTS shards used last.  A shard is an ordinary .vds file,
 * opened and fully checked by dataset_open_file when it enters the cache and then checked
 * against its manifest entry and the person runs it holds.  The sampler draws exactly as
 * dataset.c's does on one file holding the same clips. */
#include "train/dataset_shards.h"
#include "train/bytes.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t MANIFEST_MAGIC[8] = {0x89, 'V', 'D', 'M', '\r', '\n', 0x1a, '\n'};
enum {
    MANIFEST_VERSION = 2, /* version 1: no person table (episodes by clip only) */
    MANIFEST_HEADER_SIZE = 64,
    SHARD_NAME_SIZE = 64,
    /* name, clips, identities, frames, bytes, first clip, first frame, eligible[64] */
    SHARD_ENTRY_SIZE = SHARD_NAME_SIZE + 4 + 4 + 8 * 4 + 4 * DATASET_MAX_SHOTS,
    SHARD_MIN_BYTES = 128, /* a .vds header */
    RUN_ENTRY_SIZE = 32,   /* person, clips, first clip, frames, longest clip, reserved */
    CACHE_SLOTS = 8,
};
#define MANIFEST_MAX_IDENTITIES 1000000u

#define CORRUPT(...) vv_fail(VV_ERR_CORRUPT, __VA_ARGS__)


typedef struct shard_entry {
    char name[SHARD_NAME_SIZE];
    uint32_t clips, identities;
    uint64_t frames, bytes, first_clip, first_frame;
    uint32_t eligible[DATASET_MAX_SHOTS]; /* [k - 1]: clips with more than k frames */
} shard_entry;

/* Consecutive clips (global order) of one person: the person table's entries. */
typedef struct person_run {
    uint32_t person, clips;
    uint64_t first_clip, frames;
    uint32_t max_frames; /* the run's longest clip */
} person_run;

typedef struct cache_slot {
    int shard;           /* -1: empty */
    dataset *ds;
    int *identity_map;   /* shard identity -> global identity */
    int refs;            /* readers using it now; only a slot at 0 is evicted */
    uint64_t used;
} cache_slot;

struct dataset_shards {
    char folder[4096], path[4096];
    int size, shard_count, identity_count, clip_count;
    long frame_count;
    char *config;
    char (*identity_names)[DATASET_NAME_SIZE];
    shard_entry *entries;
    /* Version 2: runs sorted by person, then first clip; per person its first run (CSR),
     * clips, frames and longest clip; the runs in clip order (for the shard checks). */
    int run_count;
    person_run *runs;
    int *person_run_start, *runs_by_clip;
    uint32_t *person_clips, *person_max;
    uint64_t *person_frames;
    pthread_mutex_t lock;
    cache_slot **slots;
    int slot_count;
    uint64_t clock;
};

/* A shard's file name: [A-Za-z0-9._-], not hidden, ending in .vds, NUL-padded in its
 * field: nothing outside the manifest's folder can be named. */
static bool shard_name_is_valid(const char *field) {
    const char *nul = memchr(field, 0, SHARD_NAME_SIZE);
    if (!nul || nul == field || field[0] == '.') return false;
    size_t len = (size_t)(nul - field);
    for (size_t i = 0; i < len; i++) {
        char c = field[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    for (size_t i = len; i < SHARD_NAME_SIZE; i++)
        if (field[i]) return false;
    return len > 4 && !strcmp(field + len - 4, ".vds");
}

bool dataset_is_manifest(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint8_t magic[8];
    bool yes = fread(magic, 1, 8, f) == 8 && !memcmp(magic, MANIFEST_MAGIC, 8);
    fclose(f);
    return yes;
}

/* ---- writing ---- */

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

/* A run while the manifest is written: the person by name until the names are numbered. */
typedef struct named_run {
    char name[DATASET_NAME_SIZE];
    person_run run;
} named_run;

static int compare_runs(const void *a, const void *b) {
    const person_run *x = &((const named_run *)a)->run, *y = &((const named_run *)b)->run;
    if (x->person != y->person) return x->person < y->person ? -1 : 1;
    return x->first_clip < y->first_clip ? -1 : x->first_clip > y->first_clip;
}

vv_status dataset_write_manifest(const char *folder, const char *const *shard_names, int shard_count,
                                 const char *config_json, uint64_t *bytes) {
    if (shard_count < 1 || shard_count > DATASET_MAX_SHARDS)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: %d shards (1..%d)", folder, shard_count, DATASET_MAX_SHARDS);
    if (!config_json) config_json = "{}";
    size_t config_size = strlen(config_json);
    if (config_size > DATASET_MAX_CONFIG_BYTES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: configuration JSON over %u bytes", folder, DATASET_MAX_CONFIG_BYTES);
    shard_entry *entries = mem_calloc((size_t)shard_count, sizeof *entries);
    char(*names)[DATASET_NAME_SIZE] = NULL;
    size_t name_count = 0, name_capacity = 0;
    named_run *runs = NULL;
    size_t run_count = 0, run_capacity = 0;
    uint8_t *out = NULL;
    vv_status s = entries ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the manifest of %s", folder);
    uint64_t clips = 0, frames = 0;
    int size = 0;
    for (int i = 0; s == VV_OK && i < shard_count; i++) {
        shard_entry *e = &entries[i];
        if (strlen(shard_names[i]) >= SHARD_NAME_SIZE) {
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "shard name %s is over %d bytes", shard_names[i], SHARD_NAME_SIZE - 1);
            break;
        }
        strncpy(e->name, shard_names[i], SHARD_NAME_SIZE);
        if (!shard_name_is_valid(e->name)) {
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "shard name '%s' is not a plain NAME.vds", shard_names[i]);
            break;
        }
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", folder, e->name);
        dataset *ds = NULL;
        s = dataset_open_file(&ds, path);
        if (s != VV_OK) break;
        struct stat st;
        if (stat(path, &st) != 0) s = vv_fail(VV_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
        if (s == VV_OK && i > 0 && dataset_image_size(ds) != size)
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "%s holds %d px frames, the first shard %d px", path,
                        dataset_image_size(ds), size);
        size = dataset_image_size(ds);
        e->clips = (uint32_t)dataset_clip_count(ds);
        e->identities = (uint32_t)dataset_identity_count(ds);
        e->frames = (uint64_t)dataset_frame_count(ds);
        e->bytes = s == VV_OK ? (uint64_t)st.st_size : 0;
        e->first_clip = clips;
        e->first_frame = frames;
        clips += e->clips;
        frames += e->frames;
        for (int c = 0; c < dataset_clip_count(ds); c++)
            for (int k = 1; k <= DATASET_MAX_SHOTS && dataset_clip(ds, c)->frame_count > k; k++) e->eligible[k - 1]++;
        /* The person runs: a clip extends the last run when it is the same person's and
         * follows it (across shards too). */
        for (int c = 0; s == VV_OK && c < dataset_clip_count(ds); c++) {
            const dataset_clip_info *info = dataset_clip(ds, c);
            const char *person = dataset_identity_name(ds, info->identity);
            uint64_t global = e->first_clip + (uint64_t)c;
            named_run *last = run_count ? &runs[run_count - 1] : NULL;
            if (!last || strcmp(last->name, person) || last->run.first_clip + last->run.clips != global) {
                if (run_count == run_capacity) {
                    size_t capacity = run_capacity ? run_capacity * 2 : 256;
                    void *grown = realloc(runs, capacity * sizeof *runs);
                    if (!grown) {
                        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the manifest of %s", folder);
                        break;
                    }
                    runs = grown;
                    run_capacity = capacity;
                }
                last = &runs[run_count++];
                memset(last, 0, sizeof *last);
                snprintf(last->name, sizeof last->name, "%s", person);
                last->run.first_clip = global;
            }
            last->run.clips++;
            last->run.frames += (uint64_t)info->frame_count;
            if ((uint32_t)info->frame_count > last->run.max_frames) last->run.max_frames = (uint32_t)info->frame_count;
        }
        for (int n = 0; s == VV_OK && n < dataset_identity_count(ds); n++) {
            if (name_count == name_capacity) {
                size_t capacity = name_capacity ? name_capacity * 2 : 256;
                void *grown = realloc(names, capacity * DATASET_NAME_SIZE);
                if (!grown) {
                    s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the manifest of %s", folder);
                    break;
                }
                names = grown;
                name_capacity = capacity;
            }
            memset(names[name_count], 0, DATASET_NAME_SIZE);
            strcpy(names[name_count++], dataset_identity_name(ds, n));
        }
        dataset_close(ds);
        if (s == VV_OK && (clips > (uint64_t)DATASET_MAX_TOTAL_CLIPS || frames > (uint64_t)DATASET_MAX_TOTAL_FRAMES))
            s = vv_fail(VV_ERR_TOO_LARGE, "%s: over %ld clips or %lld frames in all", folder, DATASET_MAX_TOTAL_CLIPS,
                        DATASET_MAX_TOTAL_FRAMES);
    }
    size_t identities = 0;
    if (s == VV_OK) {
        qsort(names, name_count, DATASET_NAME_SIZE, compare_names);
        for (size_t i = 0; i < name_count; i++)
            if (identities == 0 || strcmp(names[identities - 1], names[i])) memmove(names[identities++], names[i], DATASET_NAME_SIZE);
        if (identities > MANIFEST_MAX_IDENTITIES)
            s = vv_fail(VV_ERR_TOO_LARGE, "%s: %zu people, over %u", folder, identities, MANIFEST_MAX_IDENTITIES);
    }
    if (s == VV_OK) {
        for (size_t r = 0; r < run_count; r++) {
            const char(*found)[DATASET_NAME_SIZE] = bsearch(runs[r].name, names, identities, DATASET_NAME_SIZE, compare_names);
            runs[r].run.person = (uint32_t)(found - names); /* every run's name was collected */
        }
        qsort(runs, run_count, sizeof *runs, compare_runs);
    }
    size_t total = MANIFEST_HEADER_SIZE + config_size + identities * DATASET_NAME_SIZE +
                   (size_t)shard_count * SHARD_ENTRY_SIZE + run_count * RUN_ENTRY_SIZE;
    if (s == VV_OK && !(out = calloc(1, total)))
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the manifest of %s", folder);
    if (s == VV_OK) {
        memcpy(out, MANIFEST_MAGIC, 8);
        put_u32(out + 8, MANIFEST_VERSION);
        put_u32(out + 12, MANIFEST_HEADER_SIZE);
        put_u32(out + 16, (uint32_t)shard_count);
        put_u32(out + 20, (uint32_t)identities);
        put_u64(out + 24, clips);
        put_u64(out + 32, frames);
        put_u32(out + 40, (uint32_t)size);
        put_u32(out + 44, (uint32_t)config_size);
        put_u64(out + 48, total);
        put_u32(out + 56, (uint32_t)run_count); /* <= clips, capped above */
        uint8_t *p = out + MANIFEST_HEADER_SIZE;
        memcpy(p, config_json, config_size);
        p += config_size;
        memcpy(p, names, identities * DATASET_NAME_SIZE);
        p += identities * DATASET_NAME_SIZE;
        for (int i = 0; i < shard_count; i++, p += SHARD_ENTRY_SIZE) {
            const shard_entry *e = &entries[i];
            memcpy(p, e->name, SHARD_NAME_SIZE);
            put_u32(p + 64, e->clips);
            put_u32(p + 68, e->identities);
            put_u64(p + 72, e->frames);
            put_u64(p + 80, e->bytes);
            put_u64(p + 88, e->first_clip);
            put_u64(p + 96, e->first_frame);
            for (int k = 0; k < DATASET_MAX_SHOTS; k++) put_u32(p + 104 + 4 * k, e->eligible[k]);
        }
        for (size_t r = 0; r < run_count; r++, p += RUN_ENTRY_SIZE) {
            const person_run *run = &runs[r].run;
            put_u32(p, run->person);
            put_u32(p + 4, run->clips);
            put_u64(p + 8, run->first_clip);
            put_u64(p + 16, run->frames);
            put_u32(p + 24, run->max_frames);
            put_u32(p + 28, 0);
        }
        char path[8192], temp[8300];
        snprintf(path, sizeof path, "%s/%s", folder, DATASET_MANIFEST_NAME);
        s = file_temp_path(path, temp, sizeof temp);
        FILE *f = s == VV_OK ? fopen(temp, "wb") : NULL;
        if (s == VV_OK && !f) s = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
        if (f) {
            bool failed = fwrite(out, 1, total, f) != total;
            failed |= fclose(f) != 0;
            if (failed) {
                remove(temp);
                s = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
            } else {
                s = file_commit(temp, path);
            }
        }
        if (s == VV_OK && bytes) *bytes = total;
    }
    free(out);
    free(names);
    free(runs);
    free(entries);
    return s;
}

/* ---- reading the manifest ---- */

void shards_close(dataset_shards *sh) {
    if (!sh) return;
    for (int i = 0; i < sh->slot_count; i++) {
        dataset_close(sh->slots[i]->ds);
        free(sh->slots[i]->identity_map);
        free(sh->slots[i]);
    }
    free(sh->slots);
    pthread_mutex_destroy(&sh->lock);
    free(sh->config);
    free(sh->identity_names);
    free(sh->entries);
    free(sh->runs);
    free(sh->person_run_start);
    free(sh->runs_by_clip);
    free(sh->person_clips);
    free(sh->person_max);
    free(sh->person_frames);
    free(sh);
}

typedef struct run_key { uint64_t first; int index; } run_key;

static int compare_run_keys(const void *a, const void *b) {
    const run_key *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* The person table (after the shard entries): every run in range, sorted by person then
 * first clip, every person with a run, and the runs tiling the clips 0..C exactly. */
static vv_status parse_runs(dataset_shards *sh, const uint8_t *p, uint32_t count) {
    const char *path = sh->path;
    uint32_t people = (uint32_t)sh->identity_count;
    uint64_t clips = (uint64_t)sh->clip_count, frames = (uint64_t)sh->frame_count;
    sh->runs = mem_alloc(count, sizeof *sh->runs);
    sh->runs_by_clip = mem_alloc(count, sizeof *sh->runs_by_clip);
    sh->person_run_start = mem_calloc((size_t)people + 1, sizeof *sh->person_run_start);
    sh->person_clips = mem_calloc(people, sizeof *sh->person_clips);
    sh->person_max = mem_calloc(people, sizeof *sh->person_max);
    sh->person_frames = mem_calloc(people, sizeof *sh->person_frames);
    run_key *keys = mem_alloc(count, sizeof *keys);
    if (!sh->runs || !sh->runs_by_clip || !sh->person_run_start || !sh->person_clips || !sh->person_max ||
        !sh->person_frames || !keys) {
        free(keys);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", path);
    }
    vv_status s = VV_OK;
    uint64_t frame_sum = 0;
    for (uint32_t i = 0; i < count && s == VV_OK; i++, p += RUN_ENTRY_SIZE) {
        person_run *r = &sh->runs[i];
        r->person = get_u32(p);
        r->clips = get_u32(p + 4);
        r->first_clip = get_u64(p + 8);
        r->frames = get_u64(p + 16);
        r->max_frames = get_u32(p + 24);
        const person_run *prev = i > 0 ? &sh->runs[i - 1] : NULL;
        bool ok = r->person < people && r->clips >= 1 && r->first_clip < clips && r->clips <= clips - r->first_clip &&
                  r->frames >= r->clips && r->frames <= frames && r->max_frames >= 1 &&
                  r->max_frames <= DATASET_MAX_FRAMES && r->max_frames <= r->frames - (r->clips - 1) &&
                  r->frames <= (uint64_t)r->max_frames * r->clips && get_u32(p + 28) == 0 &&
                  (prev ? (r->person == prev->person ? r->first_clip >= prev->first_clip + prev->clips
                                                      : r->person == prev->person + 1)
                        : r->person == 0) &&
                  (i + 1 < count || r->person == people - 1);
        if (!ok) {
            s = CORRUPT("%s: person run %u (person %u, %u clips from clip %llu) is out of range or out of order", path,
                        i, r->person, r->clips, (unsigned long long)r->first_clip);
            break;
        }
        if (!prev || prev->person != r->person) sh->person_run_start[r->person] = (int)i;
        sh->person_clips[r->person] += r->clips; /* <= clips: the runs tile them (below) */
        sh->person_frames[r->person] += r->frames;
        if (r->max_frames > sh->person_max[r->person]) sh->person_max[r->person] = r->max_frames;
        frame_sum += r->frames;
        keys[i] = (run_key){r->first_clip, (int)i};
    }
    sh->person_run_start[people] = (int)count;
    if (s == VV_OK) {
        qsort(keys, count, sizeof *keys, compare_run_keys);
        uint64_t next = 0;
        for (uint32_t i = 0; i < count && s == VV_OK; i++) {
            if (keys[i].first != next)
                s = CORRUPT("%s: the person runs do not cover clip %llu exactly once", path, (unsigned long long)next);
            next += sh->runs[keys[i].index].clips;
            sh->runs_by_clip[i] = keys[i].index;
        }
        if (s == VV_OK && (next != clips || frame_sum != frames))
            s = CORRUPT("%s: the person runs hold %llu clips / %llu frames, the header %llu / %llu", path,
                        (unsigned long long)next, (unsigned long long)frame_sum, (unsigned long long)clips,
                        (unsigned long long)frames);
    }
    free(keys);
    if (s == VV_OK) sh->run_count = (int)count;
    return s;
}

static vv_status parse_manifest(dataset_shards *sh, const uint8_t *m, size_t size) {
    const char *path = sh->path;
    if (size < 8 || memcmp(m, MANIFEST_MAGIC, 8) != 0)
        return vv_fail(VV_ERR_FORMAT, "%s is not a vivify dataset manifest", path);
    if (size < MANIFEST_HEADER_SIZE) return CORRUPT("%s is truncated (%zu bytes)", path, size);
    uint32_t version = get_u32(m + 8);
    if (version != 1 && version != MANIFEST_VERSION)
        return vv_fail(VV_ERR_FORMAT, "%s: manifest version %u is not supported (this build reads 1 and %d)", path,
                       version, MANIFEST_VERSION);
    if (get_u32(m + 12) != MANIFEST_HEADER_SIZE) return CORRUPT("%s: header size %u", path, get_u32(m + 12));
    uint32_t shards = get_u32(m + 16), identities = get_u32(m + 20), image = get_u32(m + 40);
    uint32_t config_size = get_u32(m + 44);
    uint64_t clips = get_u64(m + 24), frames = get_u64(m + 32);
    uint32_t runs = version >= 2 ? get_u32(m + 56) : 0;
    if (shards > DATASET_MAX_SHARDS || identities > MANIFEST_MAX_IDENTITIES || clips > (uint64_t)DATASET_MAX_TOTAL_CLIPS ||
        frames > (uint64_t)DATASET_MAX_TOTAL_FRAMES || config_size > DATASET_MAX_CONFIG_BYTES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: %u shards, %u people, %llu clips, %llu frames or %u config bytes over the caps",
                       path, shards, identities, (unsigned long long)clips, (unsigned long long)frames, config_size);
    if (shards == 0 || identities == 0 || clips < shards || identities > clips || frames < clips)
        return CORRUPT("%s: inconsistent counts (%u shards, %u people, %llu clips, %llu frames)", path, shards,
                       identities, (unsigned long long)clips, (unsigned long long)frames);
    if (image < 8 || image > DATASET_MAX_SIDE)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: frame size %u outside 8..%d", path, image, DATASET_MAX_SIDE);
    if (version >= 2 && (runs < identities || runs > clips || get_u32(m + 60) != 0))
        return CORRUPT("%s: %u person runs for %u people and %llu clips", path, runs, identities,
                       (unsigned long long)clips);
    /* Sizes cannot overflow: every factor is capped above. */
    uint64_t expected = MANIFEST_HEADER_SIZE + (uint64_t)config_size + (uint64_t)identities * DATASET_NAME_SIZE +
                        (uint64_t)shards * SHARD_ENTRY_SIZE + (uint64_t)runs * RUN_ENTRY_SIZE;
    if (get_u64(m + 48) != size || expected != size)
        return CORRUPT("%s: %zu bytes, header says %llu and the counts %llu", path, size,
                       (unsigned long long)get_u64(m + 48), (unsigned long long)expected);
    const uint8_t *p = m + MANIFEST_HEADER_SIZE;
    sh->config = malloc((size_t)config_size + 1);
    sh->identity_names = mem_alloc(identities, DATASET_NAME_SIZE);
    sh->entries = mem_calloc(shards, sizeof *sh->entries);
    if (!sh->config || !sh->identity_names || !sh->entries)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", path);
    memcpy(sh->config, p, config_size);
    sh->config[config_size] = 0;
    if (strlen(sh->config) != config_size) return CORRUPT("%s: configuration JSON holds a NUL byte", path);
    p += config_size;
    for (uint32_t i = 0; i < identities; i++, p += DATASET_NAME_SIZE) {
        memcpy(sh->identity_names[i], p, DATASET_NAME_SIZE);
        if (!dataset_name_is_valid(sh->identity_names[i]))
            return CORRUPT("%s: person %u has a malformed name", path, i);
        if (i > 0 && strcmp(sh->identity_names[i - 1], sh->identity_names[i]) >= 0)
            return CORRUPT("%s: person names are not sorted and unique (%u)", path, i);
    }
    uint64_t clip_sum = 0, frame_sum = 0;
    for (uint32_t i = 0; i < shards; i++, p += SHARD_ENTRY_SIZE) {
        shard_entry *e = &sh->entries[i];
        memcpy(e->name, p, SHARD_NAME_SIZE);
        e->clips = get_u32(p + 64);
        e->identities = get_u32(p + 68);
        e->frames = get_u64(p + 72);
        e->bytes = get_u64(p + 80);
        e->first_clip = get_u64(p + 88);
        e->first_frame = get_u64(p + 96);
        bool ok = shard_name_is_valid(e->name) && e->clips >= 1 && e->clips <= DATASET_MAX_CLIPS &&
                  e->identities >= 1 && e->identities <= e->clips && e->identities <= identities &&
                  e->frames >= e->clips && e->frames <= (uint64_t)DATASET_MAX_FRAMES && e->bytes >= SHARD_MIN_BYTES &&
                  e->first_clip == clip_sum && e->first_frame == frame_sum;
        for (int k = 0; k < DATASET_MAX_SHOTS; k++) {
            e->eligible[k] = get_u32(p + 104 + 4 * k);
            ok = ok && e->eligible[k] <= (k == 0 ? e->clips : e->eligible[k - 1]);
        }
        if (!ok)
            return CORRUPT("%s: shard %u (%.*s) has an inconsistent entry (%u clips, %llu frames from clip %llu)", path,
                           i, SHARD_NAME_SIZE, shard_name_is_valid(e->name) ? e->name : "?", e->clips,
                           (unsigned long long)e->frames, (unsigned long long)e->first_clip);
        clip_sum += e->clips;
        frame_sum += e->frames;
    }
    if (clip_sum != clips || frame_sum != frames)
        return CORRUPT("%s: shards hold %llu clips / %llu frames, header says %llu / %llu", path,
                       (unsigned long long)clip_sum, (unsigned long long)frame_sum, (unsigned long long)clips,
                       (unsigned long long)frames);
    sh->shard_count = (int)shards;
    sh->identity_count = (int)identities;
    sh->clip_count = (int)clips;
    sh->frame_count = (long)frames;
    sh->size = (int)image;
    return version >= 2 ? parse_runs(sh, p, runs) : VV_OK;
}

vv_status shards_open(dataset_shards **out, const char *manifest_path) {
    *out = NULL;
    dataset_shards *sh = calloc(1, sizeof *sh);
    if (!sh) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", manifest_path);
    pthread_mutex_init(&sh->lock, NULL);
    snprintf(sh->path, sizeof sh->path, "%s", manifest_path);
    const char *slash = strrchr(manifest_path, '/');
    if (slash) snprintf(sh->folder, sizeof sh->folder, "%.*s", (int)(slash - manifest_path), manifest_path);
    else snprintf(sh->folder, sizeof sh->folder, ".");
    if (!sh->folder[0]) snprintf(sh->folder, sizeof sh->folder, "/");
    size_t cap = MANIFEST_HEADER_SIZE + DATASET_MAX_CONFIG_BYTES + (size_t)MANIFEST_MAX_IDENTITIES * DATASET_NAME_SIZE +
                 (size_t)DATASET_MAX_SHARDS * SHARD_ENTRY_SIZE + (size_t)DATASET_MAX_TOTAL_CLIPS * RUN_ENTRY_SIZE;
    uint8_t *data = NULL;
    size_t size = 0;
    vv_status s = file_read_all(manifest_path, cap, &data, &size);
    if (s == VV_OK) s = parse_manifest(sh, data, size);
    free(data);
    if (s != VV_OK) {
        shards_close(sh);
        return s;
    }
    *out = sh;
    return VV_OK;
}

int shards_count(const dataset_shards *sh) { return sh->shard_count; }
int shards_clip_count(const dataset_shards *sh) { return sh->clip_count; }
int shards_identity_count(const dataset_shards *sh) { return sh->identity_count; }
long shards_frame_count(const dataset_shards *sh) { return sh->frame_count; }
int shards_image_size(const dataset_shards *sh) { return sh->size; }
const char *shards_config(const dataset_shards *sh) { return sh->config; }
const char *shards_identity_name(const dataset_shards *sh, int identity) {
    return identity >= 0 && identity < sh->identity_count ? sh->identity_names[identity] : NULL;
}

/* ---- the shard cache ---- */

/* The run (index into runs) holding global clip `clip`. */
static int run_of_clip(const dataset_shards *sh, uint64_t clip) {
    int lo = 0, hi = sh->run_count - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (sh->runs[sh->runs_by_clip[mid]].first_clip <= clip) lo = mid;
        else hi = mid - 1;
    }
    return sh->runs_by_clip[lo];
}

/* Every clip of the shard is its run's person and no longer than the run's longest; a run
 * lying wholly in the shard has its frames and longest clip as recorded. */
static vv_status check_runs(const dataset_shards *sh, const shard_entry *e, const dataset *ds, const int *map,
                            const char *path) {
    const person_run *run = NULL;
    uint64_t sum = 0;
    uint32_t longest = 0;
    bool whole = false;
    for (int c = 0; c < dataset_clip_count(ds); c++) {
        uint64_t global = e->first_clip + (uint64_t)c;
        if (!run || global >= run->first_clip + run->clips) {
            run = &sh->runs[run_of_clip(sh, global)];
            sum = 0, longest = 0;
            whole = run->first_clip >= e->first_clip;
        }
        const dataset_clip_info *info = dataset_clip(ds, c);
        uint32_t frames = (uint32_t)info->frame_count;
        if (run->person != (uint32_t)map[info->identity] || frames > run->max_frames)
            return CORRUPT("%s: clip %d (%s) is not as the person table of %s says", path, c, info->name, sh->path);
        sum += frames;
        if (frames > longest) longest = frames;
        if (whole && global + 1 == run->first_clip + run->clips && (sum != run->frames || longest != run->max_frames))
            return CORRUPT("%s: the clips of %s from clip %llu do not match the person table of %s", path,
                           sh->identity_names[run->person], (unsigned long long)run->first_clip, sh->path);
    }
    return VV_OK;
}

/* Opens shard i and checks it against its entry. */
static vv_status load_shard(const dataset_shards *sh, int i, cache_slot *slot) {
    const shard_entry *e = &sh->entries[i];
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", sh->folder, e->name);
    dataset *ds = NULL;
    vv_status s = dataset_open_file(&ds, path);
    if (s != VV_OK) return s;
    struct stat st;
    if (stat(path, &st) != 0 || (uint64_t)st.st_size != e->bytes || dataset_clip_count(ds) != (int)e->clips ||
        dataset_identity_count(ds) != (int)e->identities || (uint64_t)dataset_frame_count(ds) != e->frames ||
        dataset_image_size(ds) != sh->size)
        s = CORRUPT("%s does not match its entry in %s (changed since the manifest was written?)", path, sh->path);
    uint32_t eligible[DATASET_MAX_SHOTS] = {0};
    for (int c = 0; s == VV_OK && c < dataset_clip_count(ds); c++)
        for (int k = 1; k <= DATASET_MAX_SHOTS && dataset_clip(ds, c)->frame_count > k; k++) eligible[k - 1]++;
    if (s == VV_OK && memcmp(eligible, e->eligible, sizeof eligible) != 0)
        s = CORRUPT("%s: its clips' frame counts do not match %s", path, sh->path);
    int *map = s == VV_OK ? mem_alloc((size_t)dataset_identity_count(ds), sizeof *map) : NULL;
    if (s == VV_OK && !map) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
    for (int n = 0; s == VV_OK && n < dataset_identity_count(ds); n++) {
        char key[DATASET_NAME_SIZE] = {0};
        snprintf(key, sizeof key, "%s", dataset_identity_name(ds, n));
        const char(*found)[DATASET_NAME_SIZE] =
            bsearch(key, sh->identity_names, (size_t)sh->identity_count, DATASET_NAME_SIZE, compare_names);
        if (!found) s = CORRUPT("%s: person %s is not in %s", path, key, sh->path);
        else map[n] = (int)(found - sh->identity_names);
    }
    if (s == VV_OK && sh->run_count > 0) s = check_runs(sh, e, ds, map, path);
    if (s != VV_OK) {
        free(map);
        dataset_close(ds);
        return s;
    }
    slot->shard = i;
    slot->ds = ds;
    slot->identity_map = map;
    return VV_OK;
}

/* The cache slot holding shard i, loaded if needed, with a reference taken. */
static vv_status acquire(const dataset_shards *csh, int i, cache_slot **out) {
    dataset_shards *sh = (dataset_shards *)csh; /* the cache is internal state */
    *out = NULL;
    pthread_mutex_lock(&sh->lock);
    cache_slot *slot = NULL, *victim = NULL;
    for (int n = 0; n < sh->slot_count && !slot; n++) {
        cache_slot *c = sh->slots[n];
        if (c->shard == i) slot = c;
        else if (c->refs == 0 && (!victim || c->shard < 0 || (victim->shard >= 0 && c->used < victim->used)))
            victim = c;
    }
    vv_status s = VV_OK;
    if (!slot) {
        if (!victim || sh->slot_count < CACHE_SLOTS) {
            cache_slot **grown = realloc(sh->slots, (size_t)(sh->slot_count + 1) * sizeof *grown);
            cache_slot *fresh = calloc(1, sizeof *fresh);
            if (grown) sh->slots = grown;
            if (!grown || !fresh) {
                free(fresh);
                pthread_mutex_unlock(&sh->lock);
                return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", sh->path);
            }
            fresh->shard = -1;
            sh->slots[sh->slot_count++] = fresh;
            victim = fresh;
        }
        dataset_close(victim->ds);
        free(victim->identity_map);
        victim->ds = NULL;
        victim->identity_map = NULL;
        victim->shard = -1;
        s = load_shard(sh, i, victim);
        if (s == VV_OK) slot = victim;
    }
    if (slot) {
        slot->refs++;
        slot->used = ++sh->clock;
    }
    pthread_mutex_unlock(&sh->lock);
    *out = slot;
    return s;
}

static void release(const dataset_shards *csh, cache_slot *slot) {
    dataset_shards *sh = (dataset_shards *)csh;
    pthread_mutex_lock(&sh->lock);
    slot->refs--;
    pthread_mutex_unlock(&sh->lock);
}

/* The shard holding global clip `clip` (0 <= clip < clip_count). */
static int shard_of_clip(const dataset_shards *sh, int clip) {
    int lo = 0, hi = sh->shard_count - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (sh->entries[mid].first_clip <= (uint64_t)clip) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

vv_status shards_clip_get(const dataset_shards *sh, int clip, dataset_clip_info *out) {
    if (clip < 0 || clip >= sh->clip_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no clip %d", sh->path, clip);
    int i = shard_of_clip(sh, clip);
    cache_slot *slot = NULL;
    vv_status s = acquire(sh, i, &slot);
    if (s != VV_OK) return s;
    *out = *dataset_clip(slot->ds, clip - (int)sh->entries[i].first_clip);
    out->identity = slot->identity_map[out->identity];
    out->first_frame += (long)sh->entries[i].first_frame;
    release(sh, slot);
    return VV_OK;
}

vv_status shards_read_frame(const dataset_shards *sh, int clip, int frame, vv_image *image, float landmarks[68][2]) {
    if (clip < 0 || clip >= sh->clip_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no frame %d in clip %d", sh->path, frame, clip);
    int i = shard_of_clip(sh, clip);
    cache_slot *slot = NULL;
    vv_status s = acquire(sh, i, &slot);
    if (s != VV_OK) return s;
    s = dataset_read_frame(slot->ds, clip - (int)sh->entries[i].first_clip, frame, image, landmarks);
    release(sh, slot);
    return s;
}

static void fill_episode(dataset_episode *out, int k, int clip, int identity, const long *chosen) {
    memset(out, 0, sizeof *out);
    out->k = k;
    for (int n = 0; n <= k; n++) {
        dataset_frame_ref ref = {clip, (int)chosen[n]};
        if (n < k) out->shots[n] = ref;
        else out->target = ref;
    }
    out->clip = clip;
    out->identity = identity;
}

/* CLIP: the pick-th eligible clip in global order (found with the manifest's counts, one
 * shard opened), then the frames. */
static vv_status sample_by_clip(const dataset_shards *sh, dataset_rng *rng, int k, dataset_episode *out) {
    uint64_t eligible = 0;
    for (int i = 0; i < sh->shard_count; i++) eligible += sh->entries[i].eligible[k - 1];
    if (eligible == 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no clip has the %d frames an episode with K = %d needs", sh->path,
                       k + 1, k);
    uint64_t pick = dataset_rng_below(rng, eligible);
    int i = 0;
    while (pick >= sh->entries[i].eligible[k - 1]) pick -= sh->entries[i++].eligible[k - 1];
    cache_slot *slot = NULL;
    vv_status s = acquire(sh, i, &slot);
    if (s != VV_OK) return s;
    int local = -1;
    for (int c = 0; c < dataset_clip_count(slot->ds) && local < 0; c++)
        if (dataset_clip(slot->ds, c)->frame_count > k && pick-- == 0) local = c;
    const dataset_clip_info *info = dataset_clip(slot->ds, local); /* exists: counts were checked at load */
    long chosen[DATASET_MAX_SHOTS + 1];
    dataset_sample_distinct(rng, info->frame_count, k + 1, chosen);
    fill_episode(out, k, (int)sh->entries[i].first_clip + local, slot->identity_map[info->identity], chosen);
    release(sh, slot);
    return VV_OK;
}

/* Global clip `clip`'s frame count. */
static vv_status clip_frames(const dataset_shards *sh, uint64_t clip, int *frames) {
    int i = shard_of_clip(sh, (int)clip);
    cache_slot *slot = NULL;
    vv_status s = acquire(sh, i, &slot);
    if (s != VV_OK) return s;
    *frames = dataset_clip(slot->ds, (int)(clip - sh->entries[i].first_clip))->frame_count;
    release(sh, slot);
    return VV_OK;
}

/* The n-th clip of a person, in clip order (n < person_clips). */
static uint64_t person_clip(const dataset_shards *sh, int person, uint64_t n) {
    for (int r = sh->person_run_start[person];; r++) {
        if (n < sh->runs[r].clips) return sh->runs[r].first_clip + n;
        n -= sh->runs[r].clips;
    }
}

/* The person drawn uniformly among those with at least `need` (frames in their longest
 * clip, or in all their clips), in index order. */
static int pick_person(const dataset_shards *sh, dataset_rng *rng, bool by_frames, uint64_t need) {
    uint64_t eligible = 0;
    for (int p = 0; p < sh->identity_count; p++)
        eligible += (by_frames ? sh->person_frames[p] : sh->person_max[p]) >= need;
    if (eligible == 0) return -1;
    uint64_t pick = dataset_rng_below(rng, eligible);
    for (int p = 0; p < sh->identity_count; p++)
        if ((by_frames ? sh->person_frames[p] : sh->person_max[p]) >= need && pick-- == 0) return p;
    return -1;
}

/* PERSON, as dataset.c's sample_by_person: the person, then one of their clips drawn
 * again until it has more than k frames.  Only the shards of the person's clips are
 * opened (one or two for a tree's person, whose clips are consecutive). */
static vv_status sample_by_person(const dataset_shards *sh, dataset_rng *rng, int k, dataset_episode *out) {
    int person = pick_person(sh, rng, false, (uint64_t)k + 1);
    if (person < 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no clip has the %d frames an episode with K = %d needs", sh->path,
                       k + 1, k);
    uint64_t count = sh->person_clips[person], clip = 0, tries = 0;
    int frames = 0;
    vv_status s = VV_OK;
    for (;;) {
        clip = person_clip(sh, person, dataset_rng_below(rng, count));
        if ((s = clip_frames(sh, clip, &frames)) != VV_OK) return s;
        if (frames > k) break;
        if (++tries == 64 * count + 64) {
            /* Practically never with an honest table (odds below e^-64): check that the
             * person really has such a clip (a run spanning shards is not checked whole). */
            bool any = false;
            for (uint64_t n = 0; n < count && !any && s == VV_OK; n++) {
                int f = 0;
                s = clip_frames(sh, person_clip(sh, person, n), &f);
                any = f > k;
            }
            if (s != VV_OK) return s;
            if (!any)
                return CORRUPT("%s: person %s has no clip of %u frames, unlike its person table", sh->path,
                               sh->identity_names[person], sh->person_max[person]);
        }
    }
    long chosen[DATASET_MAX_SHOTS + 1];
    dataset_sample_distinct(rng, frames, k + 1, chosen);
    fill_episode(out, k, (int)clip, person, chosen);
    return VV_OK;
}

/* Position `at` among a person's frames (their clips in clip order) -> (clip, frame). */
static vv_status locate_frame(const dataset_shards *sh, int person, uint64_t at, dataset_frame_ref *ref) {
    for (int r = sh->person_run_start[person]; r < sh->person_run_start[person + 1]; r++) {
        const person_run *run = &sh->runs[r];
        if (at >= run->frames) {
            at -= run->frames;
            continue;
        }
        uint64_t clip = run->first_clip, end = run->first_clip + run->clips;
        while (clip < end) {
            int i = shard_of_clip(sh, (int)clip);
            cache_slot *slot = NULL;
            vv_status s = acquire(sh, i, &slot);
            if (s != VV_OK) return s;
            uint64_t shard_end = sh->entries[i].first_clip + sh->entries[i].clips;
            for (; clip < end && clip < shard_end; clip++) {
                uint64_t frames = (uint64_t)dataset_clip(slot->ds, (int)(clip - sh->entries[i].first_clip))->frame_count;
                if (at < frames) {
                    release(sh, slot);
                    *ref = (dataset_frame_ref){(int)clip, (int)at};
                    return VV_OK;
                }
                at -= frames;
            }
            release(sh, slot);
        }
        break;
    }
    return CORRUPT("%s: the clips of %s hold fewer frames than its person table says", sh->path,
                   sh->identity_names[person]);
}

/* IDENTITY, as dataset.c: the person among those with more than k frames in all, then k + 1
 * of their frames. */
static vv_status sample_by_identity(const dataset_shards *sh, dataset_rng *rng, int k, dataset_episode *out) {
    int person = pick_person(sh, rng, true, (uint64_t)k + 1);
    if (person < 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no identity has the %d frames an episode with K = %d needs",
                       sh->path, k + 1, k);
    long chosen[DATASET_MAX_SHOTS + 1];
    dataset_sample_distinct(rng, (long)sh->person_frames[person], k + 1, chosen);
    memset(out, 0, sizeof *out);
    out->k = k;
    for (int n = 0; n <= k; n++) {
        vv_status s = locate_frame(sh, person, (uint64_t)chosen[n], n < k ? &out->shots[n] : &out->target);
        if (s != VV_OK) return s;
    }
    out->clip = out->target.clip;
    out->identity = person;
    return VV_OK;
}

vv_status shards_sample_episode(const dataset_shards *sh, dataset_rng *rng, int k, dataset_episode_mode mode,
                                dataset_episode *out) {
    if (mode == DATASET_EPISODE_CLIP) return sample_by_clip(sh, rng, k, out);
    if (sh->run_count == 0)
        return vv_fail(VV_ERR_UNSUPPORTED, "%s: a version-1 manifest has no person table, so episodes by person need "
                       "the set rebuilt (vivify dataset build)", sh->path);
    return mode == DATASET_EPISODE_PERSON ? sample_by_person(sh, rng, k, out) : sample_by_identity(sh, rng, k, out);
}
