/* train/dataset: the .vds format (writer, hostile-input-checked reader), the identity rule
 * and the episode sampler.  Byte layout: docs/DATASET.md; all integers little-endian. */
#include "train/dataset.h"
#include "img/image.h"
#include "train/dataset_shards.h"
#include "train/bytes.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

static const uint8_t DATASET_MAGIC[8] = {0x89, 'V', 'D', 'S', '\r', '\n', 0x1a, '\n'};
enum {
    HEADER_SIZE = 128,
    RECORD_HEADER_SIZE = 16 + 68 * 2 * 4,  /* clip, source frame, jpeg size, flags, landmarks */
    IDENTITY_ENTRY_SIZE = DATASET_NAME_SIZE,
    CLIP_ENTRY_SIZE = DATASET_NAME_SIZE + 40,
    FRAME_ENTRY_SIZE = 16,
    CODEC_JPEG = 1,
    MAX_SOURCE_SIDE = 65536,
};
#define MAX_RECORD_BYTES (8u << 20)

/* ---- little-endian fields ---- */

static void put_f32(uint8_t *p, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}
static float get_f32(const uint8_t *p) {
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* ---- names and identities ---- */

static void copy_name(char *out, size_t out_size, const char *in, size_t len) {
    if (out_size == 0) return;
    if (len >= out_size) len = out_size - 1;
    memcpy(out, in, len);
    out[len] = 0;
}

void dataset_clip_name(const char *path, char *out, size_t out_size) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    copy_name(out, out_size, base, len);
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *cut) {
    size_t n = strlen(suffix);
    if (len < n || memcmp(s + len - n, suffix, n) != 0) return false;
    *cut = len - n;
    return true;
}

void dataset_identity_from_name(const char *clip_name, char *out, size_t out_size) {
    char lower[DATASET_NAME_SIZE];
    copy_name(lower, sizeof lower, clip_name, strlen(clip_name));
    for (char *p = lower; *p; p++) *p = (char)tolower((unsigned char)*p);
    const char *s = lower;
    /* Source prefixes of ../shared/data/train: first-order-model demos (fom_NN_) and
     * StyleTalk sources / style clips. */
    if (!strncmp(s, "fom_", 4) && isdigit((unsigned char)s[4])) {
        const char *p = s + 4;
        while (isdigit((unsigned char)*p)) p++;
        if (*p == '_' && p[1]) s = p + 1;
    } else if (!strncmp(s, "sty_src_", 8) && s[8]) {
        s += 8;
    } else if (!strncmp(s, "sty_style_", 10) && s[10]) {
        s += 10;
    }
    size_t len = strlen(s);
    for (bool changed = true; changed;) {
        changed = false;
        size_t cut;
        if (ends_with(s, len, "_short", &cut) && cut > 0) {
            len = cut;
            changed = true;
            continue;
        }
        size_t digits = len;
        while (digits > 0 && isdigit((unsigned char)s[digits - 1])) digits--;
        if (digits < len) {
            if ((ends_with(s, digits, "_clip_", &cut) || ends_with(s, digits, "_clip", &cut)) && cut > 0) {
                len = cut;
                changed = true;
            }
        }
    }
    copy_name(out, out_size, s, len);
}

uint64_t dataset_holdout_hash(const char *identity) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then splitmix64's finaliser to spread it */
    for (const char *p = identity; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

bool dataset_holdout_by_hash(const char *identity, double fraction) {
    if (!(fraction > 0)) return false;
    if (fraction >= 1) return true;
    /* hash / 2^64 < fraction, compared on the top 53 bits (exact in a double). */
    return (double)(dataset_holdout_hash(identity) >> 11) < fraction * 9007199254740992.0;
}

bool dataset_name_is_valid(const char *field) {
    /* A stored name: NUL-terminated inside its field, non-empty, printable, NUL-padded. */
    const void *nul = memchr(field, 0, DATASET_NAME_SIZE);
    if (!nul || nul == field) return false;
    size_t len = (size_t)((const char *)nul - field);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)field[i] < 0x20 || field[i] == 0x7f) return false;
    for (size_t i = len; i < DATASET_NAME_SIZE; i++)
        if (field[i]) return false;
    return true;
}

/* ---- writer ---- */

typedef struct writer_clip {
    char name[DATASET_NAME_SIZE], identity[DATASET_NAME_SIZE];
    int source_width, source_height, crop[3], source_frames, frame_count;
    long first_frame;
} writer_clip;

typedef struct writer_frame {
    uint64_t offset;
    uint32_t size, clip;
} writer_frame;

struct dataset_writer {
    FILE *file;
    char path[4096], temp[4096];
    int size;
    uint64_t offset;
    writer_clip *clips;
    int clip_count, clip_capacity;
    writer_frame *frames;
    long frame_count, frame_capacity;
    bool in_clip;
};

static vv_status writer_put(dataset_writer *w, const void *data, size_t size) {
    if (size && fwrite(data, 1, size, w->file) != size)
        return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", w->path, strerror(errno));
    w->offset += size;
    return VV_OK;
}

vv_status dataset_writer_open(dataset_writer **out, const char *path, int size) {
    *out = NULL;
    if (size < 8 || size > DATASET_MAX_SIDE)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "dataset frame size %d is outside 8..%d", size,
                       DATASET_MAX_SIDE);
    dataset_writer *w = calloc(1, sizeof *w);
    if (!w) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
    w->size = size;
    snprintf(w->path, sizeof w->path, "%s", path);
    vv_status s = file_temp_path(path, w->temp, sizeof w->temp);
    if (s != VV_OK) {
        free(w);
        return s;
    }
    w->file = fopen(w->temp, "wb");
    if (!w->file) {
        s = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
        free(w);
        return s;
    }
    uint8_t header[HEADER_SIZE] = {0}; /* placeholder; the real one is written at finish */
    s = writer_put(w, header, sizeof header);
    if (s != VV_OK) {
        dataset_writer_abort(w);
        return s;
    }
    *out = w;
    return VV_OK;
}

vv_status dataset_writer_begin_clip(dataset_writer *w, const char *name, const char *identity,
                                    int source_width, int source_height, const int crop[3]) {
    if (w->in_clip) return vv_fail(VV_ERR_INTERNAL, "dataset writer: clip %s begun inside another", name);
    if (!name[0] || !identity[0] || strlen(name) >= DATASET_NAME_SIZE ||
        strlen(identity) >= DATASET_NAME_SIZE)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "dataset clip name '%s' / identity '%s' empty or over %d bytes",
                       name, identity, DATASET_NAME_SIZE - 1);
    if (w->clip_count >= DATASET_MAX_CLIPS)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: more than %d clips", w->path, DATASET_MAX_CLIPS);
    if (w->clip_count == w->clip_capacity) {
        int capacity = w->clip_capacity ? w->clip_capacity * 2 : 64;
        writer_clip *clips = realloc(w->clips, (size_t)capacity * sizeof *clips);
        if (!clips) return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing %s", w->path);
        w->clips = clips;
        w->clip_capacity = capacity;
    }
    writer_clip *c = &w->clips[w->clip_count];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->identity, sizeof c->identity, "%s", identity);
    c->source_width = source_width;
    c->source_height = source_height;
    memcpy(c->crop, crop, sizeof c->crop);
    c->first_frame = w->frame_count;
    w->in_clip = true;
    return VV_OK;
}

vv_status dataset_writer_add_frame(dataset_writer *w, const uint8_t *jpeg, size_t jpeg_size,
                                   const float landmarks[68][2], int source_frame) {
    if (!w->in_clip) return vv_fail(VV_ERR_INTERNAL, "dataset writer: frame outside a clip");
    if (jpeg_size == 0 || jpeg_size > MAX_RECORD_BYTES - RECORD_HEADER_SIZE)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: a %zu-byte frame", w->path, jpeg_size);
    if (w->frame_count >= DATASET_MAX_FRAMES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: more than %ld frames", w->path, DATASET_MAX_FRAMES);
    if (w->frame_count == w->frame_capacity) {
        long capacity = w->frame_capacity ? w->frame_capacity * 2 : 1024;
        writer_frame *frames = realloc(w->frames, (size_t)capacity * sizeof *frames);
        if (!frames) return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing %s", w->path);
        w->frames = frames;
        w->frame_capacity = capacity;
    }
    uint8_t header[RECORD_HEADER_SIZE];
    put_u32(header, (uint32_t)w->clip_count);
    put_u32(header + 4, (uint32_t)source_frame);
    put_u32(header + 8, (uint32_t)jpeg_size);
    put_u32(header + 12, 0);
    for (int i = 0; i < 68; i++) {
        put_f32(header + 16 + i * 8, landmarks[i][0]);
        put_f32(header + 16 + i * 8 + 4, landmarks[i][1]);
    }
    writer_frame *f = &w->frames[w->frame_count];
    f->offset = w->offset;
    f->size = (uint32_t)(RECORD_HEADER_SIZE + jpeg_size);
    f->clip = (uint32_t)w->clip_count;
    vv_status s = writer_put(w, header, sizeof header);
    if (s == VV_OK) s = writer_put(w, jpeg, jpeg_size);
    if (s != VV_OK) return s;
    w->frame_count++;
    w->clips[w->clip_count].frame_count++;
    return VV_OK;
}

vv_status dataset_writer_end_clip(dataset_writer *w, int source_frames) {
    if (!w->in_clip) return vv_fail(VV_ERR_INTERNAL, "dataset writer: end of a clip never begun");
    writer_clip *c = &w->clips[w->clip_count];
    w->in_clip = false;
    if (c->frame_count == 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "dataset clip %s has no frames", c->name);
    c->source_frames = source_frames;
    w->clip_count++;
    return VV_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void dataset_writer_abort(dataset_writer *w) {
    if (!w) return;
    if (w->file) {
        fclose(w->file);
        remove(w->temp);
    }
    free(w->clips);
    free(w->frames);
    free(w);
}

vv_status dataset_writer_finish(dataset_writer *w, const char *config_json, uint64_t *bytes) {
    vv_status s = VV_OK;
    const char **identities = NULL;
    if (w->in_clip) s = vv_fail(VV_ERR_INTERNAL, "dataset writer: finished inside a clip");
    else if (w->clip_count == 0) s = vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no clips to write", w->path);
    if (s != VV_OK) goto fail;
    /* Identities numbered by name order, so labels do not depend on input order. */
    identities = malloc((size_t)w->clip_count * sizeof *identities);
    if (!identities) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory writing %s", w->path);
        goto fail;
    }
    for (int i = 0; i < w->clip_count; i++) identities[i] = w->clips[i].identity;
    qsort(identities, (size_t)w->clip_count, sizeof *identities, compare_names);
    int identity_count = 0;
    for (int i = 0; i < w->clip_count; i++)
        if (identity_count == 0 || strcmp(identities[identity_count - 1], identities[i]))
            identities[identity_count++] = identities[i];

    if (!config_json) config_json = "{}";
    size_t config_size = strlen(config_json);
    if (config_size > DATASET_MAX_CONFIG_BYTES) {
        s = vv_fail(VV_ERR_TOO_LARGE, "%s: configuration JSON over %u bytes", w->path, DATASET_MAX_CONFIG_BYTES);
        goto fail;
    }
    uint64_t config_offset = w->offset;
    s = writer_put(w, config_json, config_size);
    uint64_t index_offset = w->offset;
    for (int i = 0; s == VV_OK && i < identity_count; i++) {
        uint8_t entry[IDENTITY_ENTRY_SIZE] = {0};
        memcpy(entry, identities[i], strlen(identities[i]));
        s = writer_put(w, entry, sizeof entry);
    }
    for (int i = 0; s == VV_OK && i < w->clip_count; i++) {
        const writer_clip *c = &w->clips[i];
        const char *key = c->identity;
        const char **found = bsearch(&key, identities, (size_t)identity_count, sizeof *identities, compare_names);
        uint8_t entry[CLIP_ENTRY_SIZE] = {0};
        memcpy(entry, c->name, strlen(c->name));
        uint8_t *p = entry + DATASET_NAME_SIZE;
        put_u32(p, (uint32_t)(found - identities));
        put_u32(p + 4, (uint32_t)c->frame_count);
        put_u64(p + 8, (uint64_t)c->first_frame);
        put_u32(p + 16, (uint32_t)c->source_width);
        put_u32(p + 20, (uint32_t)c->source_height);
        put_u32(p + 24, (uint32_t)c->crop[0]);
        put_u32(p + 28, (uint32_t)c->crop[1]);
        put_u32(p + 32, (uint32_t)c->crop[2]);
        put_u32(p + 36, (uint32_t)c->source_frames);
        s = writer_put(w, entry, sizeof entry);
    }
    for (long i = 0; s == VV_OK && i < w->frame_count; i++) {
        uint8_t entry[FRAME_ENTRY_SIZE];
        put_u64(entry, w->frames[i].offset);
        put_u32(entry + 8, w->frames[i].size);
        put_u32(entry + 12, w->frames[i].clip);
        s = writer_put(w, entry, sizeof entry);
    }
    if (s != VV_OK) goto fail;
    uint64_t file_size = w->offset;
    uint8_t header[HEADER_SIZE] = {0};
    memcpy(header, DATASET_MAGIC, 8);
    put_u32(header + 8, DATASET_VERSION);
    put_u32(header + 12, HEADER_SIZE);
    put_u32(header + 16, (uint32_t)w->clip_count);
    put_u32(header + 20, (uint32_t)identity_count);
    put_u64(header + 24, (uint64_t)w->frame_count);
    put_u32(header + 32, (uint32_t)w->size);
    put_u32(header + 36, 3);
    put_u32(header + 40, CODEC_JPEG);
    put_u64(header + 48, config_offset);
    put_u64(header + 56, config_size);
    put_u64(header + 64, index_offset);
    put_u64(header + 72, file_size - index_offset);
    put_u64(header + 80, file_size);
    if (fseek(w->file, 0, SEEK_SET) != 0 || fwrite(header, 1, sizeof header, w->file) != sizeof header) {
        s = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", w->path, strerror(errno));
        goto fail;
    }
    bool failed = fflush(w->file) != 0 || ferror(w->file);
    failed |= fclose(w->file) != 0;
    w->file = NULL;
    if (failed) {
        remove(w->temp);
        s = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", w->path, strerror(errno));
        goto fail;
    }
    s = file_commit(w->temp, w->path);
    if (s == VV_OK && bytes) *bytes = file_size;
fail:
    free(identities);
    dataset_writer_abort(w);
    return s;
}

/* ---- reader ---- */

typedef struct frame_entry {
    uint64_t offset;
    uint32_t size;
} frame_entry;

struct dataset {
    int fd;
    char path[1024];
    uint64_t file_size;
    int size, clip_count, identity_count;
    long frame_count;
    char (*identity_names)[DATASET_NAME_SIZE];
    dataset_clip_info *clips;
    frame_entry *frames;
    char *config;
    /* The sampler's view: clips grouped by identity (CSR) and frames per identity. */
    int *identity_clip_start, *identity_clips;
    long *identity_frames;
    int *identity_max_frames;  /* the identity's longest clip */
    dataset_shards *shards; /* a sharded set: the fields above are unused */
};

static vv_status read_at(const dataset *ds, uint64_t offset, void *data, size_t size) {
    uint8_t *p = data;
    while (size > 0) {
        ssize_t n = pread(ds->fd, p, size, (off_t)offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return vv_fail(VV_ERR_IO, "cannot read %s: %s", ds->path, strerror(errno));
        if (n == 0) return vv_fail(VV_ERR_CORRUPT, "%s is truncated at byte %llu", ds->path,
                                   (unsigned long long)offset);
        p += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return VV_OK;
}

void dataset_close(dataset *ds) {
    if (!ds) return;
    shards_close(ds->shards);
    if (ds->fd >= 0) close(ds->fd);
    free(ds->identity_names);
    free(ds->clips);
    free(ds->frames);
    free(ds->config);
    free(ds->identity_clip_start);
    free(ds->identity_clips);
    free(ds->identity_frames);
    free(ds->identity_max_frames);
    free(ds);
}

#define CORRUPT(...) vv_fail(VV_ERR_CORRUPT, __VA_ARGS__)

static vv_status read_header(dataset *ds, uint64_t *config_offset, uint64_t *config_size,
                             uint64_t *index_offset, uint64_t *index_size) {
    if (ds->file_size < HEADER_SIZE)
        return ds->file_size >= 8 ? CORRUPT("%s is truncated (%llu bytes, header needs %d)", ds->path,
                                            (unsigned long long)ds->file_size, HEADER_SIZE)
                                  : vv_fail(VV_ERR_FORMAT, "%s is not a vivify dataset (%llu bytes)",
                                            ds->path, (unsigned long long)ds->file_size);
    uint8_t h[HEADER_SIZE];
    vv_status s = read_at(ds, 0, h, sizeof h);
    if (s != VV_OK) return s;
    if (memcmp(h, DATASET_MAGIC, 8) != 0)
        return vv_fail(VV_ERR_FORMAT, "%s is not a vivify dataset (bad magic)", ds->path);
    uint32_t version = get_u32(h + 8);
    if (version != DATASET_VERSION)
        return vv_fail(VV_ERR_FORMAT, "%s: dataset version %u is not supported (this build reads %d)",
                       ds->path, version, DATASET_VERSION);
    if (get_u32(h + 12) != HEADER_SIZE) return CORRUPT("%s: header size %u, expected %d", ds->path, get_u32(h + 12), HEADER_SIZE);
    uint32_t clips = get_u32(h + 16), identities = get_u32(h + 20);
    uint64_t frames = get_u64(h + 24);
    uint32_t size = get_u32(h + 32);
    if (clips > DATASET_MAX_CLIPS || frames > (uint64_t)DATASET_MAX_FRAMES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: %u clips / %llu frames over the caps (%d / %ld)", ds->path,
                       clips, (unsigned long long)frames, DATASET_MAX_CLIPS, DATASET_MAX_FRAMES);
    if (clips == 0 || identities == 0 || identities > clips || frames < clips)
        return CORRUPT("%s: inconsistent counts (%u clips, %u identities, %llu frames)", ds->path, clips,
                       identities, (unsigned long long)frames);
    if (size < 8 || size > DATASET_MAX_SIDE)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: frame size %u outside 8..%d", ds->path, size, DATASET_MAX_SIDE);
    if (get_u32(h + 36) != 3 || get_u32(h + 40) != CODEC_JPEG)
        return vv_fail(VV_ERR_FORMAT, "%s: %u channels / codec %u not supported", ds->path, get_u32(h + 36),
                       get_u32(h + 40));
    if (get_u64(h + 80) != ds->file_size)
        return CORRUPT("%s is truncated or padded: header says %llu bytes, file has %llu", ds->path,
                       (unsigned long long)get_u64(h + 80), (unsigned long long)ds->file_size);
    *config_offset = get_u64(h + 48);
    *config_size = get_u64(h + 56);
    *index_offset = get_u64(h + 64);
    *index_size = get_u64(h + 72);
    /* The index fills the file's tail exactly, and its size follows from the counts. */
    size_t expected = 0, part;
    bool ok = size_mul(identities, IDENTITY_ENTRY_SIZE, &expected) &&
              size_mul(clips, CLIP_ENTRY_SIZE, &part) && size_add(expected, part, &expected) &&
              size_mul((size_t)frames, FRAME_ENTRY_SIZE, &part) && size_add(expected, part, &expected);
    if (!ok || *index_size != expected || *index_offset < HEADER_SIZE || *index_offset > ds->file_size ||
        ds->file_size - *index_offset != *index_size)
        return CORRUPT("%s: index at %llu (%llu bytes) does not fit the file (%llu bytes) or the counts",
                       ds->path, (unsigned long long)*index_offset, (unsigned long long)*index_size,
                       (unsigned long long)ds->file_size);
    if (*config_size > DATASET_MAX_CONFIG_BYTES || *config_offset < HEADER_SIZE ||
        *config_offset > *index_offset || *index_offset - *config_offset < *config_size)
        return CORRUPT("%s: configuration at %llu (%llu bytes) outside the data area", ds->path,
                       (unsigned long long)*config_offset, (unsigned long long)*config_size);
    /* Every frame record is at least RECORD_HEADER_SIZE + 1 bytes. */
    if (frames > (*config_offset - HEADER_SIZE) / (RECORD_HEADER_SIZE + 1))
        return CORRUPT("%s: %llu frames cannot fit in %llu bytes of records", ds->path,
                       (unsigned long long)frames, (unsigned long long)(*config_offset - HEADER_SIZE));
    ds->clip_count = (int)clips;
    ds->identity_count = (int)identities;
    ds->frame_count = (long)frames;
    ds->size = (int)size;
    return VV_OK;
}

static vv_status read_index(dataset *ds, uint64_t offset, uint64_t data_end) {
    ds->identity_names = mem_calloc((size_t)ds->identity_count, DATASET_NAME_SIZE);
    ds->clips = mem_calloc((size_t)ds->clip_count, sizeof *ds->clips);
    ds->frames = mem_alloc((size_t)ds->frame_count, sizeof *ds->frames);
    uint8_t *chunk = malloc(CLIP_ENTRY_SIZE * 1024);
    if (!ds->identity_names || !ds->clips || !ds->frames || !chunk) {
        free(chunk);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading the index of %s", ds->path);
    }
    vv_status s = VV_OK;
    for (int i = 0; s == VV_OK && i < ds->identity_count; i++, offset += IDENTITY_ENTRY_SIZE) {
        s = read_at(ds, offset, ds->identity_names[i], DATASET_NAME_SIZE);
        if (s == VV_OK && !dataset_name_is_valid(ds->identity_names[i]))
            s = CORRUPT("%s: identity %d has a malformed name", ds->path, i);
    }
    long next_first = 0;
    for (int i = 0; s == VV_OK && i < ds->clip_count; i++, offset += CLIP_ENTRY_SIZE) {
        uint8_t *e = chunk;
        s = read_at(ds, offset, e, CLIP_ENTRY_SIZE);
        if (s != VV_OK) break;
        dataset_clip_info *c = &ds->clips[i];
        if (!dataset_name_is_valid((const char *)e)) {
            s = CORRUPT("%s: clip %d has a malformed name", ds->path, i);
            break;
        }
        memcpy(c->name, e, DATASET_NAME_SIZE);
        const uint8_t *p = e + DATASET_NAME_SIZE;
        uint32_t identity = get_u32(p), count = get_u32(p + 4);
        uint64_t first = get_u64(p + 8);
        uint32_t fields[6];
        for (int k = 0; k < 6; k++) fields[k] = get_u32(p + 16 + 4 * k);
        bool ok = identity < (uint32_t)ds->identity_count && count >= 1 &&
                  first == (uint64_t)next_first && count <= (uint64_t)(ds->frame_count - next_first);
        for (int k = 0; k < 5; k++) ok = ok && fields[k] <= MAX_SOURCE_SIDE;
        ok = ok && fields[4] >= 1 && fields[5] <= (uint32_t)INT32_MAX;
        if (!ok) {
            s = CORRUPT("%s: clip %d (%.*s) has an inconsistent entry (identity %u, %u frames from %llu)", ds->path,
                        i, DATASET_NAME_SIZE, c->name, identity, count, (unsigned long long)first);
            break;
        }
        c->identity = (int)identity;
        c->frame_count = (int)count;
        c->first_frame = next_first;
        c->source_width = (int)fields[0];
        c->source_height = (int)fields[1];
        c->crop_x = (int)fields[2];
        c->crop_y = (int)fields[3];
        c->crop_side = (int)fields[4];
        c->source_frames = (int)fields[5];
        next_first += count;
    }
    if (s == VV_OK && next_first != ds->frame_count)
        s = CORRUPT("%s: clips hold %ld frames, header says %ld", ds->path, next_first, ds->frame_count);
    /* Frame table, read in chunks: records in order, inside the data area, not overlapping,
     * and each tagged with the clip its position says. */
    uint64_t previous_end = HEADER_SIZE;
    int clip = 0;
    const long per_chunk = CLIP_ENTRY_SIZE * 1024 / FRAME_ENTRY_SIZE;
    for (long i = 0; s == VV_OK && i < ds->frame_count; i += per_chunk) {
        long n = ds->frame_count - i < per_chunk ? ds->frame_count - i : per_chunk;
        s = read_at(ds, offset, chunk, (size_t)n * FRAME_ENTRY_SIZE);
        offset += (uint64_t)n * FRAME_ENTRY_SIZE;
        for (long j = 0; s == VV_OK && j < n; j++) {
            const uint8_t *e = chunk + j * FRAME_ENTRY_SIZE;
            long index = i + j;
            while (clip < ds->clip_count && index >= ds->clips[clip].first_frame + ds->clips[clip].frame_count) clip++;
            uint64_t at = get_u64(e);
            uint32_t size = get_u32(e + 8), tag = get_u32(e + 12);
            if (tag != (uint32_t)clip || size <= RECORD_HEADER_SIZE || size > MAX_RECORD_BYTES ||
                at < previous_end || at > data_end || data_end - at < size)
                s = CORRUPT("%s: frame %ld (offset %llu, %u bytes, clip %u) is out of range or out of place",
                            ds->path, index, (unsigned long long)at, size, tag);
            ds->frames[index].offset = at;
            ds->frames[index].size = size;
            previous_end = at + size;
        }
    }
    free(chunk);
    return s;
}

static vv_status build_identity_groups(dataset *ds) {
    ds->identity_clip_start = mem_calloc((size_t)ds->identity_count + 1, sizeof(int));
    ds->identity_clips = mem_alloc((size_t)ds->clip_count, sizeof(int));
    ds->identity_frames = mem_calloc((size_t)ds->identity_count, sizeof(long));
    ds->identity_max_frames = mem_calloc((size_t)ds->identity_count, sizeof(int));
    if (!ds->identity_clip_start || !ds->identity_clips || !ds->identity_frames || !ds->identity_max_frames)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", ds->path);
    for (int c = 0; c < ds->clip_count; c++) {
        int id = ds->clips[c].identity;
        ds->identity_clip_start[id + 1]++;
        ds->identity_frames[id] += ds->clips[c].frame_count;
        if (ds->clips[c].frame_count > ds->identity_max_frames[id]) ds->identity_max_frames[id] = ds->clips[c].frame_count;
    }
    for (int i = 0; i < ds->identity_count; i++) {
        if (ds->identity_clip_start[i + 1] == 0)
            return CORRUPT("%s: identity %d (%s) has no clips", ds->path, i, ds->identity_names[i]);
        ds->identity_clip_start[i + 1] += ds->identity_clip_start[i];
    }
    int *fill = mem_alloc((size_t)ds->identity_count, sizeof(int));
    if (!fill) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", ds->path);
    memcpy(fill, ds->identity_clip_start, (size_t)ds->identity_count * sizeof(int));
    for (int c = 0; c < ds->clip_count; c++) ds->identity_clips[fill[ds->clips[c].identity]++] = c;
    free(fill);
    return VV_OK;
}

vv_status dataset_open(dataset **out, const char *path) {
    *out = NULL;
    char manifest[4200];
    struct stat st;
    bool folder = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (folder) snprintf(manifest, sizeof manifest, "%s/%s", path, DATASET_MANIFEST_NAME);
    if (!folder && !dataset_is_manifest(path)) return dataset_open_file(out, path);
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
    ds->fd = -1;
    snprintf(ds->path, sizeof ds->path, "%s", path);
    vv_status s = shards_open(&ds->shards, folder ? manifest : path);
    if (s != VV_OK) {
        dataset_close(ds);
        return s;
    }
    ds->clip_count = shards_clip_count(ds->shards);
    ds->identity_count = shards_identity_count(ds->shards);
    ds->frame_count = shards_frame_count(ds->shards);
    ds->size = shards_image_size(ds->shards);
    *out = ds;
    return VV_OK;
}

vv_status dataset_open_file(dataset **out, const char *path) {
    *out = NULL;
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
    snprintf(ds->path, sizeof ds->path, "%s", path);
    ds->fd = open(path, O_RDONLY | O_CLOEXEC);
    vv_status s = VV_OK;
    struct stat st;
    if (ds->fd < 0) {
        s = vv_fail(errno == ENOENT ? VV_ERR_NOT_FOUND : VV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    } else if (fstat(ds->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = vv_fail(VV_ERR_IO, "%s is not a regular file", path);
    }
    uint64_t config_offset = 0, config_size = 0, index_offset = 0, index_size = 0;
    if (s == VV_OK) {
        ds->file_size = (uint64_t)st.st_size;
        s = read_header(ds, &config_offset, &config_size, &index_offset, &index_size);
    }
    if (s == VV_OK) s = read_index(ds, index_offset, config_offset);
    if (s == VV_OK) {
        ds->config = malloc((size_t)config_size + 1);
        if (!ds->config) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", path);
        else s = read_at(ds, config_offset, ds->config, (size_t)config_size);
        if (s == VV_OK) {
            ds->config[config_size] = 0;
            if (strlen(ds->config) != config_size) s = CORRUPT("%s: configuration JSON holds a NUL byte", path);
        }
    }
    if (s == VV_OK) s = build_identity_groups(ds);
    if (s != VV_OK) {
        dataset_close(ds);
        return s;
    }
    *out = ds;
    return VV_OK;
}

int dataset_clip_count(const dataset *ds) { return ds->clip_count; }
int dataset_identity_count(const dataset *ds) { return ds->identity_count; }
long dataset_frame_count(const dataset *ds) { return ds->frame_count; }
int dataset_image_size(const dataset *ds) { return ds->size; }
const char *dataset_config(const dataset *ds) { return ds->shards ? shards_config(ds->shards) : ds->config; }
int dataset_shard_count(const dataset *ds) { return ds->shards ? shards_count(ds->shards) : 0; }

const dataset_clip_info *dataset_clip(const dataset *ds, int clip) {
    return !ds->shards && clip >= 0 && clip < ds->clip_count ? &ds->clips[clip] : NULL;
}

vv_status dataset_clip_get(const dataset *ds, int clip, dataset_clip_info *out) {
    if (ds->shards) return shards_clip_get(ds->shards, clip, out);
    if (clip < 0 || clip >= ds->clip_count) return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no clip %d", ds->path, clip);
    *out = ds->clips[clip];
    return VV_OK;
}

const char *dataset_identity_name(const dataset *ds, int identity) {
    if (ds->shards) return shards_identity_name(ds->shards, identity);
    return identity >= 0 && identity < ds->identity_count ? ds->identity_names[identity] : NULL;
}

vv_status dataset_read_frame(const dataset *ds, int clip, int frame, vv_image *image,
                             float landmarks[68][2]) {
    if (ds->shards) return shards_read_frame(ds->shards, clip, frame, image, landmarks);
    if (clip < 0 || clip >= ds->clip_count || frame < 0 || frame >= ds->clips[clip].frame_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no frame %d in clip %d", ds->path, frame, clip);
    const frame_entry *e = &ds->frames[ds->clips[clip].first_frame + frame];
    uint8_t header[RECORD_HEADER_SIZE];
    vv_status s = read_at(ds, e->offset, header, sizeof header);
    if (s != VV_OK) return s;
    uint32_t jpeg_size = get_u32(header + 8);
    if (get_u32(header) != (uint32_t)clip || jpeg_size != e->size - RECORD_HEADER_SIZE)
        return CORRUPT("%s: record of frame %d of clip %d disagrees with the index", ds->path, frame, clip);
    float points[68][2];
    float limit = 4.0f * (float)ds->size;
    for (int i = 0; i < 68; i++)
        for (int k = 0; k < 2; k++) {
            points[i][k] = get_f32(header + 16 + i * 8 + k * 4);
            if (!isfinite(points[i][k]) || fabsf(points[i][k]) > limit)
                return CORRUPT("%s: landmark %d of frame %d of clip %d is out of range", ds->path, i, frame, clip);
        }
    uint8_t *jpeg = malloc(jpeg_size);
    if (!jpeg) return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", ds->path);
    s = read_at(ds, e->offset + RECORD_HEADER_SIZE, jpeg, jpeg_size);
    /* Decoded here rather than by image_load_memory so the JPEG's own size is checked
     * against the header before any pixel memory is allocated. */
    vv_image decoded = {0};
    tjhandle tj = s == VV_OK ? tjInitDecompress() : NULL;
    if (s == VV_OK && !tj) s = vv_fail(VV_ERR_NO_MEMORY, "cannot start the JPEG decoder");
    int width = 0, height = 0, subsampling = 0, colourspace = 0;
    if (s == VV_OK && tjDecompressHeader3(tj, jpeg, jpeg_size, &width, &height, &subsampling, &colourspace) != 0)
        s = CORRUPT("%s: frame %d of clip %d is not a readable JPEG", ds->path, frame, clip);
    if (s == VV_OK && (width != ds->size || height != ds->size))
        s = CORRUPT("%s: frame %d of clip %d is %dx%d, expected %dx%d", ds->path, frame, clip, width, height,
                    ds->size, ds->size);
    if (s == VV_OK) s = image_create(&decoded, ds->size, ds->size, 3);
    if (s == VV_OK && tjDecompress2(tj, jpeg, jpeg_size, decoded.data, ds->size, 0, ds->size, TJPF_RGB,
                                    TJFLAG_ACCURATEDCT) != 0)
        s = CORRUPT("%s: frame %d of clip %d: damaged JPEG (%s)", ds->path, frame, clip, tjGetErrorStr2(tj));
    if (tj) tjDestroy(tj);
    free(jpeg);
    if (s != VV_OK) {
        image_free(&decoded);
        return s;
    }
    image_free(image);
    *image = decoded;
    if (landmarks) memcpy(landmarks, points, sizeof points);
    return VV_OK;
}

/* ---- episodes ---- */

void dataset_rng_seed(dataset_rng *rng, uint64_t seed) { rng->state = seed; }

uint64_t dataset_rng_next(dataset_rng *rng) {
    /* splitmix64: tiny, fast, and good enough for sampling. */
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t dataset_rng_below(dataset_rng *rng, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t threshold = (0 - n) % n; /* rejection removes the modulo bias */
    for (;;) {
        uint64_t r = dataset_rng_next(rng);
        if (r >= threshold) return r % n;
    }
}

/* k distinct values in [0, n) in random order (Floyd's algorithm, then a shuffle). */
void dataset_sample_distinct(dataset_rng *rng, long n, int k, long *out) {
    int count = 0;
    for (long j = n - k; j < n; j++) {
        long t = (long)dataset_rng_below(rng, (uint64_t)j + 1);
        bool taken = false;
        for (int i = 0; i < count && !taken; i++) taken = out[i] == t;
        out[count++] = taken ? j : t;
    }
    for (int i = k - 1; i > 0; i--) {
        int j = (int)dataset_rng_below(rng, (uint64_t)i + 1);
        long t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* Fills out with K + 1 frames of one clip (positions from dataset_sample_distinct). */
static void episode_from_clip(dataset_episode *out, int k, int clip, int identity, const long *chosen) {
    memset(out, 0, sizeof *out);
    out->k = k;
    for (int i = 0; i <= k; i++) {
        dataset_frame_ref ref = {clip, (int)chosen[i]};
        if (i < k) out->shots[i] = ref;
        else out->target = ref;
    }
    out->clip = clip;
    out->identity = identity;
}

/* PERSON: the person uniformly among those with a clip of more than k frames (in index
 * order), then uniformly among the person's clips in clip order, drawn again until the
 * clip has more than k frames (so uniform among the eligible ones), then the frames.
 * dataset_shards.c draws the same numbers in the same order. */
static vv_status sample_by_person(const dataset *ds, dataset_rng *rng, int k, dataset_episode *out) {
    int eligible = 0;
    for (int p = 0; p < ds->identity_count; p++) eligible += ds->identity_max_frames[p] > k;
    if (eligible == 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no clip has the %d frames an episode with K = %d needs", ds->path,
                       k + 1, k);
    int pick = (int)dataset_rng_below(rng, (uint64_t)eligible), person = -1;
    for (int p = 0; p < ds->identity_count && person < 0; p++)
        if (ds->identity_max_frames[p] > k && pick-- == 0) person = p;
    int first = ds->identity_clip_start[person], count = ds->identity_clip_start[person + 1] - first, clip;
    do clip = ds->identity_clips[first + (int)dataset_rng_below(rng, (uint64_t)count)];
    while (ds->clips[clip].frame_count <= k); /* terminates: the person has such a clip */
    long chosen[DATASET_MAX_SHOTS + 1];
    dataset_sample_distinct(rng, ds->clips[clip].frame_count, k + 1, chosen);
    episode_from_clip(out, k, clip, person, chosen);
    return VV_OK;
}

vv_status dataset_sample_episode(const dataset *ds, dataset_rng *rng, int k,
                                 dataset_episode_mode mode, dataset_episode *out) {
    if (k < 1 || k > DATASET_MAX_SHOTS)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "episode K = %d is outside 1..%d", k, DATASET_MAX_SHOTS);
    if (mode != DATASET_EPISODE_CLIP && mode != DATASET_EPISODE_IDENTITY && mode != DATASET_EPISODE_PERSON)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "episode mode %d is not clip, identity or person", (int)mode);
    if (ds->shards) return shards_sample_episode(ds->shards, rng, k, mode, out);
    if (mode == DATASET_EPISODE_PERSON) return sample_by_person(ds, rng, k, out);
    bool by_identity = mode == DATASET_EPISODE_IDENTITY;
    int groups = by_identity ? ds->identity_count : ds->clip_count;
    int eligible = 0;
    for (int g = 0; g < groups; g++) {
        long frames = by_identity ? ds->identity_frames[g] : ds->clips[g].frame_count;
        eligible += frames > k;
    }
    if (eligible == 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no %s has the %d frames an episode with K = %d needs",
                       ds->path, by_identity ? "identity" : "clip", k + 1, k);
    int pick = (int)dataset_rng_below(rng, (uint64_t)eligible), group = -1;
    for (int g = 0; g < groups && group < 0; g++) {
        long frames = by_identity ? ds->identity_frames[g] : ds->clips[g].frame_count;
        if (frames > k && pick-- == 0) group = g;
    }
    long chosen[DATASET_MAX_SHOTS + 1];
    long total = by_identity ? ds->identity_frames[group] : ds->clips[group].frame_count;
    dataset_sample_distinct(rng, total, k + 1, chosen);
    if (!by_identity) {
        episode_from_clip(out, k, group, ds->clips[group].identity, chosen);
        return VV_OK;
    }
    memset(out, 0, sizeof *out);
    out->k = k;
    for (int i = 0; i <= k; i++) {
        /* Position among the identity's frames, its clips in clip order -> (clip, frame). */
        long rest = chosen[i];
        int c = 0;
        for (int j = ds->identity_clip_start[group]; j < ds->identity_clip_start[group + 1]; j++) {
            c = ds->identity_clips[j];
            if (rest < ds->clips[c].frame_count) break;
            rest -= ds->clips[c].frame_count;
        }
        dataset_frame_ref ref = {c, (int)rest};
        if (i < k) out->shots[i] = ref;
        else out->target = ref;
    }
    out->clip = out->target.clip;
    out->identity = ds->clips[out->clip].identity;
    return VV_OK;
}
