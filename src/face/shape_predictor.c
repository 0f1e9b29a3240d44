/* face/shape_predictor: dlib's ensemble of regression trees (Kazemi & Sullivan 2014),
 * read from dlib's own serialisation and evaluated the way dlib evaluates it, so the
 * landmarks match dlib's to the pixel.
 *
 * dlib's stream format, as far as this model needs it:
 *   integer: one control byte (low 4 bits: byte count n <= 8, bit 7: negative, bits 4-6
 *            ignored), then n little-endian magnitude bytes;
 *   float:   an integer mantissa then an integer exponent: value = mantissa * 2^exponent;
 *            exponent 32000 / 32001 / 32002+ mean +inf / -inf / NaN;
 *   matrix:  rows, columns (both negated in the current format), then the elements row
 *            by row;
 *   std::vector: element count, then the elements;  dlib::vector<float,2>: x, y.
 * The model: int version (1), matrix<float,0,1> initial_shape (x0 y0 x1 y1 ... in the
 * box-normalised unit square), vector<vector<tree>> forests (one forest per cascade
 * level; a tree is vector<split> then vector<matrix<float,0,1>> leaf values; a split is
 * idx1, idx2 (pixel feature indices) and float threshold; node i has children 2i+1 /
 * 2i+2), vector<vector<unsigned long>> anchor_idx and vector<vector<vector<float,2>>>
 * deltas (per cascade level: each feature pixel is a landmark of the mean shape plus an
 * offset). */
#include "face/shape_predictor.h"
#include "base/float8.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Caps on what a model may declare.  dlib's 68-point model: 68 parts, 15 levels of 500
 * trees of depth 4, 500 feature pixels per level.  Feature pixels and parts are capped
 * so shape_predict can keep its scratch on the stack. */
#define MAX_PARTS 512
#define MAX_CASCADES 256
#define MAX_TREES_PER_CASCADE 100000
#define MAX_SPLITS_PER_TREE 65535
#define MAX_FEATURE_PIXELS 4096
#define MAX_MODEL_BYTES ((size_t)1 << 30)
#define LEAF_BATCH 32

typedef struct split_node {
    uint16_t pixel_a, pixel_b; /* feature pixel indices within the cascade level */
    int16_t threshold;         /* go left when (a - b) > threshold; see split_threshold */
    uint16_t unused;
} split_node;

typedef struct regression_tree {
    uint32_t first_split, split_count;
    uint32_t first_leaf; /* index of leaf 0 in predictor->leaves (units of one leaf) */
} regression_tree;

typedef struct cascade_level {
    uint32_t first_tree, tree_count;
    uint32_t pixel_count;
    uint16_t *anchors;   /* pixel_count landmark indices */
    float (*deltas)[2];  /* pixel_count offsets in the mean shape's frame */
} cascade_level;

struct shape_predictor {
    int part_count;
    float (*mean_shape)[2];
    int cascade_count;
    cascade_level *cascades;
    regression_tree *trees;
    size_t tree_count, tree_capacity;
    split_node *splits;
    size_t split_count, split_capacity;
    float *leaves; /* leaf_count x (2 * part_count) */
    size_t leaf_count, leaf_capacity;
    size_t expected_trees; /* loading: cascades x trees of level 0, to size arrays once */
    void *mapping;         /* the cache file the leaves point into (NULL: leaves malloc'd) */
    size_t mapping_bytes;
};

/* ---- reading dlib's stream ---- */

typedef struct reader {
    const uint8_t *start, *at, *end;
    const char *name;
    vv_status status; /* first failure; later failures keep its message */
} reader;

static bool reader_fail(reader *r, vv_status status, const char *what, const char *why) {
    if (r->status == VV_OK)
        r->status = vv_fail(status, "shape predictor %s: %s %s at byte %zu", r->name, what, why,
                            (size_t)(r->at - r->start));
    return false;
}

static size_t reader_left(const reader *r) { return (size_t)(r->end - r->at); }

/* An integer of at most max_bytes magnitude bytes: *negative and *magnitude. */
static bool read_integer(reader *r, unsigned max_bytes, bool *negative, uint64_t *magnitude,
                         const char *what) {
    if (r->at >= r->end) return reader_fail(r, VV_ERR_CORRUPT, what, "truncated");
    uint8_t control = *r->at;
    unsigned size = control & 0x0F;
    if (size > max_bytes) return reader_fail(r, VV_ERR_CORRUPT, what, "has an oversized integer");
    if ((size_t)(r->end - r->at) < 1 + (size_t)size)
        return reader_fail(r, VV_ERR_CORRUPT, what, "truncated");
    uint64_t value = 0;
    for (unsigned i = size; i > 0; i--) value = (value << 8) | r->at[i];
    r->at += 1 + size;
    *negative = (control & 0x80) != 0;
    *magnitude = value;
    return true;
}

static bool read_unsigned(reader *r, uint64_t *out, const char *what) {
    bool negative;
    if (!read_integer(r, 8, &negative, out, what)) return false;
    /* dlib keeps bit 7 in an unsigned integer's size, so it rejects it as oversized. */
    if (negative) return reader_fail(r, VV_ERR_CORRUPT, what, "is a negative count or index");
    return true;
}

static bool read_signed(reader *r, unsigned max_bytes, int64_t *out, const char *what) {
    bool negative;
    uint64_t magnitude;
    if (!read_integer(r, max_bytes, &negative, &magnitude, what)) return false;
    if (magnitude > (uint64_t)INT64_MAX) return reader_fail(r, VV_ERR_CORRUPT, what, "is out of range");
    *out = negative ? -(int64_t)magnitude : (int64_t)magnitude;
    return true;
}

/* A count of elements each taking at least min_element_bytes, so a hostile count can
 * never ask for more memory than the rest of the file could describe. */
static bool read_count(reader *r, uint64_t max, size_t min_element_bytes, uint64_t *out,
                       const char *what) {
    if (!read_unsigned(r, out, what)) return false;
    if (*out > max) return reader_fail(r, VV_ERR_MODEL, what, "is over this reader's limit");
    if (*out > reader_left(r) / min_element_bytes)
        return reader_fail(r, VV_ERR_CORRUPT, what, "is more than the rest of the file holds");
    return true;
}

/* value = mantissa * 2^exponent, converted as dlib does: (float)mantissa, then ldexpf.
 * The common case is a single exact multiplication by a power of two. */
static bool read_float(reader *r, float *out, const char *what) {
    if (r->at < r->end && (*r->at & 0x70) != 0)
        return reader_fail(r, VV_ERR_UNSUPPORTED, what, "uses dlib's old text float format");
    int64_t mantissa, exponent;
    if (!read_signed(r, 8, &mantissa, what) || !read_signed(r, 2, &exponent, what)) return false;
    if (exponent > 32767 || exponent < -32768)
        return reader_fail(r, VV_ERR_CORRUPT, what, "has an out-of-range exponent");
    if (exponent >= 32000) {
        *out = exponent == 32000 ? INFINITY : exponent == 32001 ? -INFINITY : NAN;
        return true;
    }
    float value = (float)mantissa;
    if (exponent >= -126 && exponent <= 127) {
        union { uint32_t bits; float f; } scale = { (uint32_t)(exponent + 127) << 23 };
        *out = value * scale.f;
    } else {
        *out = ldexpf(value, (int)exponent);
    }
    return true;
}

static bool read_finite_float(reader *r, float *out, const char *what) {
    /* Fast path for what dlib writes for a float: a mantissa of at most 3 bytes and a
     * one-byte exponent giving a normal number.  Anything else takes the general path. */
    if (reader_left(r) >= 8) {
        const uint8_t *p = r->at;
        const unsigned mantissa_bytes = p[0], exponent_at = 1 + (p[0] & 0x7F);
        if ((mantissa_bytes & 0x7F) <= 3 && (p[exponent_at] & 0x7F) <= 1) {
            static const uint32_t masks[4] = { 0, 0xFF, 0xFFFF, 0xFFFFFF };
            uint32_t magnitude = ((uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16) &
                                 masks[mantissa_bytes & 0x7F];
            int exponent = (p[exponent_at] & 0x7F) ? p[exponent_at + 1] : 0;
            if (p[exponent_at] & 0x80) exponent = -exponent;
            if (exponent >= -126 && exponent <= 100) {
                int32_t mantissa = (mantissa_bytes & 0x80) ? -(int32_t)magnitude : (int32_t)magnitude;
                union { uint32_t bits; float f; } scale = { (uint32_t)(exponent + 127) << 23 };
                *out = (float)mantissa * scale.f;
                r->at = p + exponent_at + 1 + (p[exponent_at] & 0x7F);
                return true;
            }
        }
    }
    if (!read_float(r, out, what)) return false;
    if (!isfinite(*out)) return reader_fail(r, VV_ERR_MODEL, what, "is not finite");
    return true;
}

/* One value in the common shape (fast path of read_finite_float): false, with nothing
 * read, if it is not; needs 8 bytes left. */
static inline bool decode_common_float(const uint8_t **at, float *out) {
    static const uint32_t masks[4] = { 0, 0xFF, 0xFFFF, 0xFFFFFF };
    const uint8_t *p = *at;
    const unsigned mantissa_control = p[0] & 0x7Fu;
    if (mantissa_control > 3) return false;
    const unsigned exponent_at = 1 + mantissa_control, exponent_control = p[exponent_at];
    if ((exponent_control & 0x7F) > 1) return false;
    uint32_t magnitude = ((uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16) & masks[mantissa_control];
    int exponent = (exponent_control & 0x7F) ? p[exponent_at + 1] : 0;
    if (exponent_control & 0x80) exponent = -exponent;
    if (exponent < -126 || exponent > 100) return false;
    int32_t mantissa = (p[0] & 0x80) ? -(int32_t)magnitude : (int32_t)magnitude;
    union { uint32_t bits; float f; } scale = { (uint32_t)(exponent + 127) << 23 };
    *out = (float)mantissa * scale.f;
    *at = p + exponent_at + 1 + (exponent_control & 0x7F);
    return true;
}

/* n floats in a row: the 16 million leaf values, nearly all of the 100 MB model.  dlib
 * writes almost every one as 6 bytes (a 3-byte mantissa, a 1-byte exponent); decoding 8
 * at that fixed stride keeps them independent of one another (no chain of loads through
 * variable lengths), and is kept only if all 8 really had that shape and a normal range.
 * Otherwise those 8 go one by one: the common-shape path, else read_finite_float. */
#define FLOAT_RUN 8
static bool read_finite_floats(reader *r, float *out, size_t n, const char *what) {
    const uint8_t *p = r->at;
    size_t i = 0;
    while (i < n) {
        size_t run = n - i < FLOAT_RUN ? n - i : FLOAT_RUN;
        size_t left = (size_t)(r->end - p);
        if (left >= 6 * run + 8) {
            unsigned bad = 0;
            for (size_t k = 0; k < run; k++) {
                const uint8_t *v = p + 6 * k;
                int exponent = (v[4] & 0x80) ? -(int)v[5] : (int)v[5];
                bad |= ((v[0] & 0x7Fu) != 3) | ((v[4] & 0x7Fu) != 1) | (exponent < -126) | (exponent > 100);
                int32_t magnitude = (int32_t)((uint32_t)v[1] | (uint32_t)v[2] << 8 | (uint32_t)v[3] << 16);
                union { uint32_t bits; float f; } scale = { (uint32_t)(exponent + 127) << 23 };
                out[i + k] = (float)((v[0] & 0x80) ? -magnitude : magnitude) * scale.f;
            }
            if (!bad) {
                p += 6 * run;
                i += run;
                continue;
            }
        }
        for (size_t end = i + run; i < end; i++) {
            if ((size_t)(r->end - p) >= 8 && decode_common_float(&p, &out[i])) continue;
            r->at = p;
            if (!read_finite_float(r, &out[i], what)) return false;
            p = r->at;
        }
    }
    r->at = p;
    return true;
}

/* matrix<float,0,1> of exactly `rows` rows (rows 0: any even count up to max_rows). */
static bool read_column_header(reader *r, uint64_t *rows, uint64_t max_rows, const char *what) {
    int64_t nr, nc;
    if (!read_signed(r, 8, &nr, what) || !read_signed(r, 8, &nc, what)) return false;
    if (nr < 0 || nc < 0) { /* current format stores both negated */
        nr = -nr;
        nc = -nc;
    }
    if (nr < 0 || nc != 1) return reader_fail(r, VV_ERR_MODEL, what, "is not a column vector");
    if (*rows == 0) {
        if (nr == 0 || (uint64_t)nr > max_rows || nr % 2 != 0)
            return reader_fail(r, VV_ERR_MODEL, what, "has an unusable size");
        if ((uint64_t)nr > reader_left(r) / 2)
            return reader_fail(r, VV_ERR_CORRUPT, what, "is longer than the rest of the file");
        *rows = (uint64_t)nr;
    } else if ((uint64_t)nr != *rows) {
        return reader_fail(r, VV_ERR_MODEL, what, "does not have one value per landmark coordinate");
    }
    return true;
}

/* ---- growable arrays, bounded by the caller's checked counts ---- */

static bool reserve(void **array, size_t *capacity, size_t needed, size_t element_size) {
    if (needed <= *capacity) return true;
    size_t grown = *capacity + *capacity / 2;
    if (grown < needed) grown = needed;
    size_t bytes;
    if (!size_mul(grown, element_size, &bytes)) return false;
    void *p = realloc(*array, bytes);
    if (!p) return false;
    *array = p;
    *capacity = grown;
    return true;
}

/* The leaves (65 MB for dlib's model) are written once, front to back: huge pages, where
 * the system gives them on request, take one page fault per 2 MB instead of per 4 KB. */
static void advise_huge_pages(void *start, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)start + huge - 1) & ~(huge - 1), to = ((uintptr_t)start + bytes) & ~(huge - 1);
    if (to > from) madvise((void *)from, (size_t)(to - from), MADV_HUGEPAGE);
#else
    (void)start;
    (void)bytes;
#endif
}

/* (a - b) > t for integer pixel differences a - b in [-255, 255] is (a - b) > floor(t);
 * clamping keeps that true for thresholds outside the range, and NaN never goes left. */
static int16_t split_threshold(float t) {
    if (isnan(t) || t >= 1000.0f) return 1000;
    if (t <= -1000.0f) return -1000;
    return (int16_t)floorf(t);
}

static bool read_tree(reader *r, shape_predictor *sp) {
    uint64_t split_count, leaf_count;
    if (!read_count(r, MAX_SPLITS_PER_TREE, 4, &split_count, "tree split count")) return false;
    if (sp->split_count + split_count > UINT32_MAX ||
        !reserve((void **)&sp->splits, &sp->split_capacity, sp->split_count + split_count,
                 sizeof(split_node)))
        return reader_fail(r, VV_ERR_NO_MEMORY, "tree splits", "do not fit in memory");
    if (sp->split_capacity == 0 && split_count > 0 && sp->expected_trees > 1) {
        /* Models have equal trees: size the arrays for all of them up front, within
         * what the rest of the file could hold. */
        uint64_t hint = (uint64_t)sp->expected_trees * split_count;
        if (hint > reader_left(r) / 4) hint = reader_left(r) / 4;
        if (!reserve((void **)&sp->splits, &sp->split_capacity, (size_t)hint, sizeof(split_node)))
            return reader_fail(r, VV_ERR_NO_MEMORY, "tree splits", "do not fit in memory");
    }
    for (uint64_t i = 0; i < split_count; i++) {
        uint64_t a, b;
        float threshold;
        if (!read_unsigned(r, &a, "split feature index") ||
            !read_unsigned(r, &b, "split feature index") ||
            !read_float(r, &threshold, "split threshold"))
            return false;
        if (a >= MAX_FEATURE_PIXELS || b >= MAX_FEATURE_PIXELS)
            return reader_fail(r, VV_ERR_MODEL, "split feature index", "is out of range");
        sp->splits[sp->split_count + i] =
            (split_node){ (uint16_t)a, (uint16_t)b, split_threshold(threshold), 0 };
    }
    size_t leaf_floats = 2 * (size_t)sp->part_count;
    if (!read_count(r, MAX_SPLITS_PER_TREE + 1, 2 + 2 * leaf_floats, &leaf_count, "tree leaf count"))
        return false;
    /* Walking node i to 2i+1 / 2i+2 until i >= splits ends at i <= 2 * splits. */
    if (leaf_count != split_count + 1)
        return reader_fail(r, VV_ERR_MODEL, "tree", "does not have one more leaf than splits");
    if (sp->leaf_capacity == 0 && sp->expected_trees > 1) {
        uint64_t hint = (uint64_t)sp->expected_trees * leaf_count;
        if (hint > reader_left(r) / (2 + 2 * leaf_floats)) hint = reader_left(r) / (2 + 2 * leaf_floats);
        if (!reserve((void **)&sp->leaves, &sp->leaf_capacity, (size_t)hint, leaf_floats * sizeof(float)))
            return reader_fail(r, VV_ERR_NO_MEMORY, "tree leaves", "do not fit in memory");
        advise_huge_pages(sp->leaves, sp->leaf_capacity * leaf_floats * sizeof(float));
    }
    size_t total_floats;
    if (sp->leaf_count + leaf_count > UINT32_MAX ||
        !size_mul(sp->leaf_count + leaf_count, leaf_floats, &total_floats) ||
        !reserve((void **)&sp->leaves, &sp->leaf_capacity, sp->leaf_count + leaf_count,
                 leaf_floats * sizeof(float)))
        return reader_fail(r, VV_ERR_NO_MEMORY, "tree leaves", "do not fit in memory");
    for (uint64_t i = 0; i < leaf_count; i++) {
        uint64_t rows = leaf_floats;
        if (!read_column_header(r, &rows, leaf_floats, "leaf value")) return false;
        float *leaf = sp->leaves + (sp->leaf_count + i) * leaf_floats;
        if (!read_finite_floats(r, leaf, leaf_floats, "leaf value")) return false;
    }
    if (!reserve((void **)&sp->trees, &sp->tree_capacity, sp->tree_count + 1, sizeof(regression_tree)))
        return reader_fail(r, VV_ERR_NO_MEMORY, "trees", "do not fit in memory");
    sp->trees[sp->tree_count++] = (regression_tree){ (uint32_t)sp->split_count,
                                                     (uint32_t)split_count,
                                                     (uint32_t)sp->leaf_count };
    sp->split_count += split_count;
    sp->leaf_count += leaf_count;
    return true;
}

static bool read_model(reader *r, shape_predictor *sp) {
    int64_t version;
    if (!read_signed(r, 4, &version, "version")) return false;
    if (version != 1) return reader_fail(r, VV_ERR_MODEL, "version", "is not 1 (not a dlib shape_predictor?)");

    uint64_t rows = 0;
    if (!read_column_header(r, &rows, 2 * MAX_PARTS, "initial shape")) return false;
    sp->part_count = (int)(rows / 2);
    sp->mean_shape = mem_alloc((size_t)sp->part_count, sizeof *sp->mean_shape);
    if (!sp->mean_shape) return reader_fail(r, VV_ERR_NO_MEMORY, "initial shape", "does not fit in memory");
    for (int i = 0; i < sp->part_count; i++)
        if (!read_finite_float(r, &sp->mean_shape[i][0], "initial shape") ||
            !read_finite_float(r, &sp->mean_shape[i][1], "initial shape"))
            return false;

    uint64_t cascades;
    if (!read_count(r, MAX_CASCADES, 1, &cascades, "cascade count")) return false;
    if (cascades == 0) return reader_fail(r, VV_ERR_MODEL, "cascade count", "is zero");
    sp->cascades = mem_calloc((size_t)cascades, sizeof *sp->cascades);
    if (!sp->cascades) return reader_fail(r, VV_ERR_NO_MEMORY, "cascades", "do not fit in memory");
    sp->cascade_count = (int)cascades;
    for (int c = 0; c < sp->cascade_count; c++) {
        uint64_t trees;
        if (!read_count(r, MAX_TREES_PER_CASCADE, 2, &trees, "tree count")) return false;
        sp->cascades[c].first_tree = (uint32_t)sp->tree_count;
        sp->cascades[c].tree_count = (uint32_t)trees;
        if (c == 0) sp->expected_trees = (size_t)(cascades * trees);
        for (uint64_t t = 0; t < trees; t++)
            if (!read_tree(r, sp)) return false;
    }

    uint64_t count;
    if (!read_count(r, MAX_CASCADES, 1, &count, "anchor list count")) return false;
    if (count != cascades) return reader_fail(r, VV_ERR_MODEL, "anchor lists", "do not match the cascade count");
    for (int c = 0; c < sp->cascade_count; c++) {
        cascade_level *level = &sp->cascades[c];
        uint64_t pixels;
        if (!read_count(r, MAX_FEATURE_PIXELS, 1, &pixels, "feature pixel count")) return false;
        level->pixel_count = (uint32_t)pixels;
        if (pixels == 0) continue;
        level->anchors = mem_alloc((size_t)pixels, sizeof *level->anchors);
        if (!level->anchors) return reader_fail(r, VV_ERR_NO_MEMORY, "anchors", "do not fit in memory");
        for (uint64_t i = 0; i < pixels; i++) {
            uint64_t anchor;
            if (!read_unsigned(r, &anchor, "anchor index")) return false;
            if (anchor >= (uint64_t)sp->part_count)
                return reader_fail(r, VV_ERR_MODEL, "anchor index", "is not a landmark");
            level->anchors[i] = (uint16_t)anchor;
        }
    }

    if (!read_count(r, MAX_CASCADES, 1, &count, "delta list count")) return false;
    if (count != cascades) return reader_fail(r, VV_ERR_MODEL, "delta lists", "do not match the cascade count");
    for (int c = 0; c < sp->cascade_count; c++) {
        cascade_level *level = &sp->cascades[c];
        uint64_t pixels;
        if (!read_count(r, MAX_FEATURE_PIXELS, 4, &pixels, "delta count")) return false;
        if (pixels != level->pixel_count)
            return reader_fail(r, VV_ERR_MODEL, "deltas", "do not match the anchor count");
        if (pixels == 0) continue;
        level->deltas = mem_alloc((size_t)pixels, sizeof *level->deltas);
        if (!level->deltas) return reader_fail(r, VV_ERR_NO_MEMORY, "deltas", "do not fit in memory");
        for (uint64_t i = 0; i < pixels; i++)
            if (!read_finite_float(r, &level->deltas[i][0], "delta") ||
                !read_finite_float(r, &level->deltas[i][1], "delta"))
                return false;
    }

    /* Splits could only be checked against their level's pixel count now. */
    for (int c = 0; c < sp->cascade_count; c++) {
        const cascade_level *level = &sp->cascades[c];
        for (uint32_t t = 0; t < level->tree_count; t++) {
            const regression_tree *tree = &sp->trees[level->first_tree + t];
            for (uint32_t s = 0; s < tree->split_count; s++) {
                const split_node *split = &sp->splits[tree->first_split + s];
                if (split->pixel_a >= level->pixel_count || split->pixel_b >= level->pixel_count)
                    return reader_fail(r, VV_ERR_MODEL, "split feature index",
                                       "is past its cascade level's feature pixels");
            }
        }
    }
    return true;
}

vv_status shape_predictor_load_memory(shape_predictor **out, const uint8_t *data, size_t size,
                                      const char *name) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "shape_predictor_load_memory: out is NULL");
    *out = NULL;
    if (!name) name = "(memory)";
    if (!data && size) return vv_fail(VV_ERR_INVALID_ARGUMENT, "shape predictor %s: no data", name);
    shape_predictor *sp = calloc(1, sizeof *sp);
    if (!sp) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading shape predictor %s", name);
    reader r = { data, data, data + size, name, VV_OK };
    if (!read_model(&r, sp)) {
        shape_predictor_free(sp);
        return r.status;
    }
    *out = sp;
    return VV_OK;
}

/* ---- the parsed-model cache ----------------------------------------------------------
 *
 * Parsing dlib's 100 MB stream takes ~60 ms of CPU, and filling 65 MB of fresh memory with
 * its leaves ~25 ms more (page zeroing and faults): about a seventh of `vivify landmarks` on
 * a 10-second clip, paid by every process.  The first load of a .dat writes the parsed
 * arrays to a cache file (VIVIFY_CACHE, else $XDG_CACHE_HOME/vivify, else ~/.cache/vivify;
 * VIVIFY_CACHE=off: none), named by the .dat's path and inode; later loads map that file
 * when its header names the same .dat (device, inode, size, modification and change
 * times), so the leaves stay in the page cache shared by every process and nothing is
 * parsed.  The cache is input like the .dat: every count, index and value is checked as
 * the parser checks them (the splits, anchors and deltas are copied out of the mapping and
 * checked there; the leaves are read in place, checked finite).  A cache that fails any
 * check is ignored, the .dat parsed and the cache replaced.  Files are written whole under
 * a temporary name and renamed into place, never modified, so a mapped cache never changes
 * under a reader (a hand-edit of the mapped file could change leaf values only, never an
 * index).
 *
 * Layout (native byte order, checked by the header): cache_header, then the sections
 * below, each at a 64-byte boundary, the leaves at a 4096-byte one; every offset follows
 * from the header's counts. */
#define CACHE_MAGIC "vvspc\x01\r\n"
#define CACHE_BYTE_ORDER 0x01020304u

typedef struct cache_source {
    uint64_t size, device, inode;
    int64_t modified_ns, changed_ns;
} cache_source;

typedef struct cache_header {
    char magic[8];
    uint32_t byte_order, header_bytes;
    cache_source source;
    uint32_t part_count, cascade_count;
    uint64_t tree_count, split_count, leaf_count, pixel_total, file_bytes;
} cache_header;

typedef struct cache_level {
    uint32_t first_tree, tree_count, pixel_count, unused;
} cache_level;

typedef struct cache_layout {
    size_t mean_shape, levels, anchors, deltas, trees, splits, leaves, end;
} cache_layout;

static bool layout_section(size_t *at, size_t alignment, size_t count, size_t element, size_t *start) {
    size_t bytes, aligned;
    if (!size_add(*at, alignment - 1, &aligned) || !size_mul(count, element, &bytes)) return false;
    *start = aligned / alignment * alignment;
    return size_add(*start, bytes, at);
}

static bool cache_layout_of(const cache_header *h, cache_layout *l) {
    size_t at = sizeof *h, floats = 2 * (size_t)h->part_count, leaf_bytes;
    if (!size_mul(floats, sizeof(float), &leaf_bytes)) return false;
    return layout_section(&at, 64, floats, sizeof(float), &l->mean_shape) &&
           layout_section(&at, 64, h->cascade_count, sizeof(cache_level), &l->levels) &&
           layout_section(&at, 64, h->pixel_total, sizeof(uint16_t), &l->anchors) &&
           layout_section(&at, 64, h->pixel_total, 2 * sizeof(float), &l->deltas) &&
           layout_section(&at, 64, h->tree_count, sizeof(regression_tree), &l->trees) &&
           layout_section(&at, 64, h->split_count, sizeof(split_node), &l->splits) &&
           layout_section(&at, 4096, h->leaf_count, leaf_bytes, &l->leaves) && (l->end = at, true);
}

static bool finite_floats(const float *values, size_t n) {
    uint32_t largest = 0; /* the largest magnitude's bits: finite below the infinity pattern */
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        bits &= 0x7FFFFFFFu;
        largest = bits > largest ? bits : largest;
    }
    return largest < 0x7F800000u;
}

/* A predictor from cache bytes: NULL with *why on any failed check.  borrow: the leaves
 * point into data (which must outlive the predictor), else they are copied. */
static shape_predictor *cache_read(const uint8_t *data, size_t size, const cache_source *source,
                                   bool borrow, const char **why) {
    cache_header h;
    cache_layout l;
    *why = "is shorter than its header";
    if (size < sizeof h) return NULL;
    memcpy(&h, data, sizeof h);
    *why = "is not a vivify shape predictor cache of this format";
    if (memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) || h.byte_order != CACHE_BYTE_ORDER ||
        h.header_bytes != sizeof h)
        return NULL;
    *why = "was made from another model file";
    if (source && memcmp(&h.source, source, sizeof *source)) return NULL;
    *why = "declares counts over this reader's limits";
    if (h.part_count == 0 || h.part_count > MAX_PARTS || h.cascade_count == 0 ||
        h.cascade_count > MAX_CASCADES || h.pixel_total > (uint64_t)h.cascade_count * MAX_FEATURE_PIXELS ||
        h.tree_count > (uint64_t)h.cascade_count * MAX_TREES_PER_CASCADE || h.split_count > UINT32_MAX ||
        h.leaf_count > UINT32_MAX)
        return NULL;
    *why = "does not have the size its counts give";
    if (!cache_layout_of(&h, &l) || l.end != size || h.file_bytes != size) return NULL;

    *why = "is out of memory";
    shape_predictor *sp = calloc(1, sizeof *sp);
    if (!sp) return NULL;
    const size_t floats = 2 * (size_t)h.part_count;
    sp->part_count = (int)h.part_count;
    sp->cascade_count = (int)h.cascade_count;
    sp->tree_count = sp->tree_capacity = (size_t)h.tree_count;
    sp->split_count = sp->split_capacity = (size_t)h.split_count;
    sp->leaf_count = sp->leaf_capacity = (size_t)h.leaf_count;
    sp->mean_shape = mem_alloc((size_t)h.part_count, sizeof *sp->mean_shape);
    sp->cascades = mem_calloc((size_t)h.cascade_count, sizeof *sp->cascades);
    sp->trees = h.tree_count ? mem_alloc((size_t)h.tree_count, sizeof *sp->trees) : NULL;
    sp->splits = h.split_count ? mem_alloc((size_t)h.split_count, sizeof *sp->splits) : NULL;
    if (!borrow && h.leaf_count) sp->leaves = mem_alloc((size_t)h.leaf_count * floats, sizeof(float));
    if (!sp->mean_shape || !sp->cascades || (h.tree_count && !sp->trees) || (h.split_count && !sp->splits) ||
        (!borrow && h.leaf_count && !sp->leaves))
        goto fail;
    memcpy(sp->mean_shape, data + l.mean_shape, floats * sizeof(float));
    if (h.tree_count) memcpy(sp->trees, data + l.trees, (size_t)h.tree_count * sizeof *sp->trees);
    if (h.split_count) memcpy(sp->splits, data + l.splits, (size_t)h.split_count * sizeof *sp->splits);
    *why = "has a non-finite initial shape";
    if (!finite_floats(&sp->mean_shape[0][0], floats)) goto fail;

    /* Levels own consecutive trees, trees consecutive splits and leaves, as the parser
     * builds them; a split reads its own level's feature pixels only. */
    uint64_t next_tree = 0, next_pixel = 0, next_split = 0, next_leaf = 0;
    for (uint32_t c = 0; c < h.cascade_count; c++) {
        cache_level level;
        memcpy(&level, data + l.levels + c * sizeof level, sizeof level);
        cascade_level *cl = &sp->cascades[c];
        *why = "has a cascade level out of place";
        if (level.first_tree != next_tree || level.tree_count > MAX_TREES_PER_CASCADE ||
            level.tree_count > h.tree_count - next_tree || level.pixel_count > MAX_FEATURE_PIXELS ||
            level.pixel_count > h.pixel_total - next_pixel)
            goto fail;
        cl->first_tree = level.first_tree;
        cl->tree_count = level.tree_count;
        cl->pixel_count = level.pixel_count;
        if (level.pixel_count) {
            cl->anchors = mem_alloc(level.pixel_count, sizeof *cl->anchors);
            cl->deltas = mem_alloc(level.pixel_count, sizeof *cl->deltas);
            *why = "is out of memory";
            if (!cl->anchors || !cl->deltas) goto fail;
            memcpy(cl->anchors, data + l.anchors + next_pixel * sizeof *cl->anchors,
                   level.pixel_count * sizeof *cl->anchors);
            memcpy(cl->deltas, data + l.deltas + next_pixel * sizeof *cl->deltas,
                   level.pixel_count * sizeof *cl->deltas);
            *why = "has an anchor that is not a landmark, or a non-finite delta";
            for (uint32_t i = 0; i < level.pixel_count; i++)
                if (cl->anchors[i] >= h.part_count) goto fail;
            if (!finite_floats(&cl->deltas[0][0], 2 * (size_t)level.pixel_count)) goto fail;
        }
        next_pixel += level.pixel_count;
        for (uint32_t t = 0; t < level.tree_count; t++) {
            const regression_tree *tree = &sp->trees[next_tree + t];
            *why = "has a tree out of place";
            if (tree->first_split != next_split || tree->split_count > MAX_SPLITS_PER_TREE ||
                tree->split_count > h.split_count - next_split || tree->first_leaf != next_leaf ||
                (uint64_t)tree->split_count + 1 > h.leaf_count - next_leaf)
                goto fail;
            *why = "has a split past its level's feature pixels";
            for (uint32_t i = 0; i < tree->split_count; i++) {
                const split_node *split = &sp->splits[next_split + i];
                if (split->pixel_a >= level.pixel_count || split->pixel_b >= level.pixel_count ||
                    split->threshold < -1000 || split->threshold > 1000)
                    goto fail;
            }
            next_split += tree->split_count;
            next_leaf += (uint64_t)tree->split_count + 1;
        }
        next_tree += level.tree_count;
    }
    *why = "has trees, splits, leaves or feature pixels no level uses";
    if (next_tree != h.tree_count || next_split != h.split_count || next_leaf != h.leaf_count ||
        next_pixel != h.pixel_total)
        goto fail;
    const float *leaves = (const float *)(const void *)(data + l.leaves);
    *why = "has a non-finite leaf value";
    if (!finite_floats(leaves, (size_t)h.leaf_count * floats)) goto fail;
    if (borrow) sp->leaves = (float *)(uintptr_t)leaves; /* read only, like the mapping */
    else if (h.leaf_count) memcpy(sp->leaves, leaves, (size_t)h.leaf_count * floats * sizeof(float));
    return sp;
fail:
    shape_predictor_free(sp);
    return NULL;
}

vv_status shape_predictor_load_cache_memory(shape_predictor **out, const uint8_t *data, size_t size) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "shape_predictor_load_cache_memory: out is NULL");
    *out = NULL;
    if (!data && size) return vv_fail(VV_ERR_INVALID_ARGUMENT, "shape predictor cache: no data");
    const char *why = "is empty";
    shape_predictor *sp = data ? cache_read(data, size, NULL, false, &why) : NULL;
    if (!sp) return vv_fail(VV_ERR_CORRUPT, "shape predictor cache %s", why);
    *out = sp;
    return VV_OK;
}

static bool write_all(FILE *f, const void *data, size_t bytes) {
    return bytes == 0 || fwrite(data, 1, bytes, f) == bytes;
}

static bool write_padding(FILE *f, size_t *at, size_t to) {
    static const uint8_t zeros[4096];
    if (to < *at || to - *at > sizeof zeros) return false;
    bool ok = write_all(f, zeros, to - *at);
    *at = to;
    return ok;
}

static bool write_section(FILE *f, size_t *at, size_t start, const void *data, size_t bytes) {
    if (!write_padding(f, at, start) || !write_all(f, data, bytes)) return false;
    *at += bytes;
    return true;
}

static bool cache_write(const shape_predictor *sp, FILE *f, const cache_source *source) {
    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, sizeof h.magic);
    h.byte_order = CACHE_BYTE_ORDER;
    h.header_bytes = sizeof h;
    h.source = *source;
    h.part_count = (uint32_t)sp->part_count;
    h.cascade_count = (uint32_t)sp->cascade_count;
    h.tree_count = sp->tree_count;
    h.split_count = sp->split_count;
    h.leaf_count = sp->leaf_count;
    for (int c = 0; c < sp->cascade_count; c++) h.pixel_total += sp->cascades[c].pixel_count;
    cache_layout l;
    if (!cache_layout_of(&h, &l)) return false;
    h.file_bytes = l.end;
    size_t at = 0, floats = 2 * (size_t)sp->part_count;
    bool ok = write_section(f, &at, 0, &h, sizeof h) &&
              write_section(f, &at, l.mean_shape, sp->mean_shape, floats * sizeof(float));
    for (int c = 0; ok && c < sp->cascade_count; c++) {
        const cascade_level *cl = &sp->cascades[c];
        cache_level level = { cl->first_tree, cl->tree_count, cl->pixel_count, 0 };
        ok = write_section(f, &at, c ? at : l.levels, &level, sizeof level);
    }
    for (int c = 0; ok && c < sp->cascade_count; c++)
        ok = write_section(f, &at, c ? at : l.anchors, sp->cascades[c].anchors,
                           sp->cascades[c].pixel_count * sizeof *sp->cascades[c].anchors);
    for (int c = 0; ok && c < sp->cascade_count; c++)
        ok = write_section(f, &at, c ? at : l.deltas, sp->cascades[c].deltas,
                           sp->cascades[c].pixel_count * sizeof *sp->cascades[c].deltas);
    ok = ok && write_section(f, &at, l.trees, sp->trees, sp->tree_count * sizeof *sp->trees) &&
         write_section(f, &at, l.splits, sp->splits, sp->split_count * sizeof *sp->splits) &&
         write_section(f, &at, l.leaves, sp->leaves, sp->leaf_count * floats * sizeof(float));
    return ok && at == l.end;
}

/* The cache folder (made if missing), or false: switched off, or no home. */
static bool cache_folder(char *out, size_t size) {
    const char *env = getenv("VIVIFY_CACHE"), *base = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (env) {
        if (!env[0] || !strcmp(env, "off") || !strcmp(env, "0")) return false;
        n = snprintf(out, size, "%s", env);
    } else if (base && base[0] == '/') {
        n = snprintf(out, size, "%s/vivify", base);
    } else if (home && home[0] == '/') {
        n = snprintf(out, size, "%s/.cache/vivify", home);
    } else {
        return false;
    }
    if (n <= 0 || (size_t)n >= size) return false;
    for (char *p = out + 1;; p++) { /* mkdir -p, private as the XDG spec asks */
        bool end = *p == 0;
        if (*p == '/' || end) {
            *p = 0;
            bool made = mkdir(out, 0700) == 0 || errno == EEXIST;
            if (!end) *p = '/';
            if (!made) return false;
            if (end) break;
        }
    }
    struct stat st;
    return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool cache_path(const char *model_path, const cache_source *source, char *out, size_t size) {
    char folder[4000];
    if (!cache_folder(folder, sizeof folder)) return false;
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a over the path, device and inode */
    for (const char *p = model_path; *p; p++) hash = (hash ^ (uint8_t)*p) * 0x100000001b3ull;
    const uint64_t ids[2] = { source->device, source->inode };
    for (size_t i = 0; i < sizeof ids; i++) hash = (hash ^ ((const uint8_t *)ids)[i]) * 0x100000001b3ull;
    int n = snprintf(out, size, "%s/shape_predictor-%016" PRIx64 ".cache", folder, hash);
    return n > 0 && (size_t)n < size;
}

static shape_predictor *cache_map(const char *path, const cache_source *source) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *data = MAP_FAILED;
    size_t size = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(cache_header) &&
        (uint64_t)st.st_size <= MAX_MODEL_BYTES) {
        size = (size_t)st.st_size;
        data = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    }
    close(fd);
    if (data == MAP_FAILED) return NULL;
    const char *why;
    shape_predictor *sp = cache_read(data, size, source, true, &why);
    if (!sp) {
        munmap(data, size);
        return NULL;
    }
    sp->mapping = data;
    sp->mapping_bytes = size;
    return sp;
}

/* Best effort: a cache that cannot be written leaves the next load to parse again. */
static void cache_save(const shape_predictor *sp, const char *path, const cache_source *source) {
    char temp[4096];
    int n = snprintf(temp, sizeof temp, "%s.XXXXXX", path);
    if (n <= 0 || (size_t)n >= sizeof temp) return;
    int fd = mkstemp(temp);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        remove(temp);
        return;
    }
    bool ok = cache_write(sp, f, source);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(temp, path) != 0) remove(temp);
}

vv_status shape_predictor_load(shape_predictor **out, const char *path) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "shape_predictor_load: out is NULL");
    *out = NULL;
    if (!path) path = SHAPE_PREDICTOR_DEFAULT_PATH;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return vv_fail(VV_ERR_MODEL, "shape predictor model not found: %s (Debian: apt install libdlib-data)", path);
        return vv_fail(VV_ERR_IO, "cannot open shape predictor %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vv_fail(VV_ERR_IO, "shape predictor %s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > MAX_MODEL_BYTES) {
        close(fd);
        return vv_fail(VV_ERR_TOO_LARGE, "shape predictor %s is %lld bytes, over the %zu-byte limit",
                       path, (long long)st.st_size, MAX_MODEL_BYTES);
    }
    if (st.st_size == 0) {
        close(fd);
        return vv_fail(VV_ERR_CORRUPT, "shape predictor %s is empty", path);
    }
    cache_source source = { (uint64_t)st.st_size, (uint64_t)st.st_dev, (uint64_t)st.st_ino,
                            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                            (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec };
    char cache[4096];
    bool cached = cache_path(path, &source, cache, sizeof cache);
    if (cached && (*out = cache_map(cache, &source)) != NULL) {
        close(fd);
        return VV_OK;
    }
    /* Mapped, not copied: the page cache is parsed in place in one sequential pass. */
    size_t size = (size_t)st.st_size;
    void *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (data == MAP_FAILED) return vv_fail(VV_ERR_IO, "cannot map shape predictor %s: %s", path, strerror(errno));
    madvise(data, size, MADV_SEQUENTIAL);
    vv_status status = shape_predictor_load_memory(out, data, size, path);
    munmap(data, size);
    if (status == VV_OK && cached) cache_save(*out, cache, &source);
    return status;
}

void shape_predictor_free(shape_predictor *predictor) {
    if (!predictor) return;
    if (predictor->cascades)
        for (int c = 0; c < predictor->cascade_count; c++) {
            free(predictor->cascades[c].anchors);
            free(predictor->cascades[c].deltas);
        }
    free(predictor->cascades);
    free(predictor->mean_shape);
    free(predictor->trees);
    free(predictor->splits);
    if (predictor->mapping) munmap(predictor->mapping, predictor->mapping_bytes);
    else free(predictor->leaves);
    free(predictor);
}

bool shape_predictor_mapped(const shape_predictor *predictor) {
    return predictor && predictor->mapping;
}

int shape_predictor_landmark_count(const shape_predictor *predictor) {
    return predictor ? predictor->part_count : 0;
}

const float (*shape_predictor_mean_shape(const shape_predictor *predictor))[2] {
    return predictor ? (const float (*)[2])predictor->mean_shape : NULL;
}

/* ---- prediction ---- */

/* The least-squares similarity (scale + rotation) taking the mean shape to `shape`,
 * as its 2x2 matrix [[a, -b], [b, a]] (translation unused).  dlib solves this with
 * Umeyama's SVD method in double; in 2-D the SVD solution has this closed form, and
 * both are rounded to float for use. */
static void similarity_to_shape(const shape_predictor *sp, const float *shape, float m[4]) {
    int n = sp->part_count;
    if (n < 2) {
        m[0] = 1, m[1] = 0, m[2] = 0, m[3] = 1;
        return;
    }
    double from_x = 0, from_y = 0, to_x = 0, to_y = 0;
    for (int i = 0; i < n; i++) {
        from_x += sp->mean_shape[i][0];
        from_y += sp->mean_shape[i][1];
        to_x += shape[2 * i];
        to_y += shape[2 * i + 1];
    }
    from_x /= n, from_y /= n, to_x /= n, to_y /= n;
    double spread = 0, dot = 0, cross = 0;
    for (int i = 0; i < n; i++) {
        double fx = sp->mean_shape[i][0] - from_x, fy = sp->mean_shape[i][1] - from_y;
        double tx = shape[2 * i] - to_x, ty = shape[2 * i + 1] - to_y;
        spread += fx * fx + fy * fy;
        dot += tx * fx + ty * fy;   /* cov00 + cov11 */
        cross += ty * fx - tx * fy; /* cov10 - cov01 */
    }
    if (spread == 0) {
        m[0] = 1, m[1] = 0, m[2] = 0, m[3] = 1;
        return;
    }
    double a = dot / spread, b = cross / spread;
    m[0] = (float)a, m[1] = (float)-b, m[2] = (float)b, m[3] = (float)a;
}

/* Kept out of line so the compiler vectorises along the leaf, not across leaves; eight at a
 * time explicitly for the sanitizer build (base/float8.h). */
__attribute__((noinline)) static void add_leaf(float *restrict shape, const float *restrict leaf,
                                               int floats) {
    int k = 0;
    for (; k + 8 <= floats; k += 8) *(float8 *)(shape + k) += *(const float8 *)(leaf + k);
    for (; k < floats; k++) shape[k] += leaf[k];
}

void shape_predict(const shape_predictor *sp, const vv_image *gray, const float box[4],
                   float (*points)[2]) {
    const int n = sp->part_count, floats = 2 * n;
    float shape[2 * MAX_PARTS];
    uint8_t pixels[MAX_FEATURE_PIXELS];
    memcpy(shape, sp->mean_shape, (size_t)floats * sizeof(float));

    /* dlib maps the unit square onto the box corners: (0,0) -> (left, top),
     * (1,1) -> (right, bottom), both corners inclusive. */
    const double left = box[0], top = box[1];
    const double width = (double)box[2] - box[0], height = (double)box[3] - box[1];
    const int image_width = gray->width, image_height = gray->height;
    const int stride = gray->width * gray->channels;

    for (int c = 0; c < sp->cascade_count; c++) {
        const cascade_level *level = &sp->cascades[c];
        float m[4];
        similarity_to_shape(sp, shape, m);
        for (uint32_t i = 0; i < level->pixel_count; i++) {
            /* Float arithmetic in dlib's order, then double for the box mapping; the
             * pixel is the nearest one, floor(x + 0.5), and 0 outside the image. */
            const float dx = level->deltas[i][0], dy = level->deltas[i][1];
            const float mx0 = m[0] * dx, mx1 = m[1] * dy, my0 = m[2] * dx, my1 = m[3] * dy;
            const float nx = (mx0 + mx1) + shape[2 * level->anchors[i]];
            const float ny = (my0 + my1) + shape[2 * level->anchors[i] + 1];
            const double px = floor(width * nx + left + 0.5);
            const double py = floor(height * ny + top + 0.5);
            if (px >= 0 && px < image_width && py >= 0 && py < image_height) {
                const uint8_t *p = gray->data + (size_t)py * (size_t)stride + (size_t)px * (size_t)gray->channels;
                /* RGB: dlib's intensity, the truncated channel mean. */
                pixels[i] = gray->channels == 3 ? (uint8_t)(((unsigned)p[0] + p[1] + p[2]) / 3) : p[0];
            } else {
                pixels[i] = 0;
            }
        }
        /* The features are fixed within a level, so walk every tree first, then add the
         * leaves in tree order (dlib's summation order), prefetching a few leaves ahead:
         * the leaves (65 MB for the 68-point model) are what a prediction waits on. */
        const regression_tree *trees = &sp->trees[level->first_tree];
        for (uint32_t t0 = 0; t0 < level->tree_count; t0 += LEAF_BATCH) {
            const float *leaves[LEAF_BATCH];
            uint32_t batch = level->tree_count - t0 < LEAF_BATCH ? level->tree_count - t0 : LEAF_BATCH;
            for (uint32_t b = 0; b < batch; b++) {
                const regression_tree *tree = &trees[t0 + b];
                const split_node *splits = sp->splits + tree->first_split;
                uint32_t node = 0;
                while (node < tree->split_count) {
                    const split_node *s = &splits[node];
                    int difference = (int)pixels[s->pixel_a] - (int)pixels[s->pixel_b];
                    node = 2 * node + (difference > s->threshold ? 1 : 2);
                }
                leaves[b] = sp->leaves + (size_t)(tree->first_leaf + node - tree->split_count) * (size_t)floats;
                for (int k = 0; k < floats; k += 16) __builtin_prefetch(leaves[b] + k);
            }
            for (uint32_t b = 0; b < batch; b++) add_leaf(shape, leaves[b], floats);
        }
    }
    for (int i = 0; i < n; i++) {
        points[i][0] = (float)(width * shape[2 * i] + left);
        points[i][1] = (float)(height * shape[2 * i + 1] + top);
    }
}
