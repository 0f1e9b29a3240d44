/* train/dataset_shards: sharded datasets.  The manifest (writer and hostile-input-checked
 * reader; byte layout in docs/DATASET.md, integers little-endian) and the reader's cache of
 * open shards: only the manifest (per-shard counts, the global identity names) stays in
 * memory, plus the indexes of the CACHE_SLOTS shards used last.  A shard is an ordinary
 * .vds file, opened and fully checked by dataset_open_file when it enters the cache and
 * then checked against its manifest entry. */
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
    MANIFEST_VERSION = 1,
    MANIFEST_HEADER_SIZE = 64,
    SHARD_NAME_SIZE = 64,
    /* name, clips, identities, frames, bytes, first clip, first frame, eligible[64] */
    SHARD_ENTRY_SIZE = SHARD_NAME_SIZE + 4 + 4 + 8 * 4 + 4 * DATASET_MAX_SHOTS,
    SHARD_MIN_BYTES = 128, /* a .vds header */
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
    size_t total = MANIFEST_HEADER_SIZE + config_size + identities * DATASET_NAME_SIZE +
                   (size_t)shard_count * SHARD_ENTRY_SIZE;
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
    free(sh);
}

static vv_status parse_manifest(dataset_shards *sh, const uint8_t *m, size_t size) {
    const char *path = sh->path;
    if (size < 8 || memcmp(m, MANIFEST_MAGIC, 8) != 0)
        return vv_fail(VV_ERR_FORMAT, "%s is not a vivify dataset manifest", path);
    if (size < MANIFEST_HEADER_SIZE) return CORRUPT("%s is truncated (%zu bytes)", path, size);
    if (get_u32(m + 8) != MANIFEST_VERSION)
        return vv_fail(VV_ERR_FORMAT, "%s: manifest version %u is not supported (this build reads %d)", path,
                       get_u32(m + 8), MANIFEST_VERSION);
    if (get_u32(m + 12) != MANIFEST_HEADER_SIZE) return CORRUPT("%s: header size %u", path, get_u32(m + 12));
    uint32_t shards = get_u32(m + 16), identities = get_u32(m + 20), image = get_u32(m + 40);
    uint32_t config_size = get_u32(m + 44);
    uint64_t clips = get_u64(m + 24), frames = get_u64(m + 32);
    if (shards > DATASET_MAX_SHARDS || identities > MANIFEST_MAX_IDENTITIES || clips > (uint64_t)DATASET_MAX_TOTAL_CLIPS ||
        frames > (uint64_t)DATASET_MAX_TOTAL_FRAMES || config_size > DATASET_MAX_CONFIG_BYTES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: %u shards, %u people, %llu clips, %llu frames or %u config bytes over the caps",
                       path, shards, identities, (unsigned long long)clips, (unsigned long long)frames, config_size);
    if (shards == 0 || identities == 0 || clips < shards || identities > clips || frames < clips)
        return CORRUPT("%s: inconsistent counts (%u shards, %u people, %llu clips, %llu frames)", path, shards,
                       identities, (unsigned long long)clips, (unsigned long long)frames);
    if (image < 8 || image > DATASET_MAX_SIDE)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: frame size %u outside 8..%d", path, image, DATASET_MAX_SIDE);
    /* Sizes cannot overflow: every factor is capped above. */
    uint64_t expected = MANIFEST_HEADER_SIZE + (uint64_t)config_size + (uint64_t)identities * DATASET_NAME_SIZE +
                        (uint64_t)shards * SHARD_ENTRY_SIZE;
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
    return VV_OK;
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
                 (size_t)DATASET_MAX_SHARDS * SHARD_ENTRY_SIZE;
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

/* The same draws as dataset.c's sampler on one file holding the same clips: the pick-th
 * eligible clip in global order, then the frames. */
vv_status shards_sample_episode(const dataset_shards *sh, dataset_rng *rng, int k, dataset_episode *out) {
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
    memset(out, 0, sizeof *out);
    out->k = k;
    int global = (int)sh->entries[i].first_clip + local;
    for (int n = 0; n <= k; n++) {
        dataset_frame_ref ref = {global, (int)chosen[n]};
        if (n < k) out->shots[n] = ref;
        else out->target = ref;
    }
    out->clip = global;
    out->identity = slot->identity_map[info->identity];
    release(sh, slot);
    return VV_OK;
}
