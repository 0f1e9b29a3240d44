/* warp/raster: the 3D warp engine's renderer core.  A z-buffered triangle rasteriser that
 * renders a posed mesh with the portrait itself as texture, and the hole filler that
 * paints what the mesh no longer covers (background uncovered when the head turns).
 *
 * Coordinates: pixel (i, j) has its centre at (i, j), in the output and in the texture
 * alike (as everywhere in img/).  A pixel is drawn by a triangle when its centre lies
 * inside it; a centre exactly on an edge belongs to the triangle on its right or below
 * (top-left rule), so a closed mesh draws every covered pixel exactly once. */
#ifndef VV_WARP_RASTER_H
#define VV_WARP_RASTER_H

#include "base/base.h"

typedef struct raster_mesh {
    const float (*position)[3];  /* per vertex: x, y output pixels; z depth (larger = nearer) */
    const float (*texcoord)[2];  /* per vertex: x, y texture pixels (where it was in the portrait) */
    const int (*triangles)[3];   /* vertex indices */
    int vertex_count, triangle_count;
    const uint8_t *triangle_layer; /* optional, per triangle: a tag copied to target->layer */
    const bool *depth_only;        /* optional, per triangle: true writes depth, coverage and
                                    * layer but neither colour nor extras (a part the caller
                                    * paints otherwise, e.g. background behind a matte) */
    const bool *cull;              /* optional, per triangle: whether it is skipped when it
                                    * faces away (raster_params.cull_back_faces for all when
                                    * NULL), so that culled and unculled parts go in one pass */
} raster_mesh;

/* A further texture drawn in the same pass as the colour, by the same winners: another
 * texture under the same texcoords (a matte), or the same texture under other texcoords
 * (a mirror twin).  Sampled as the colour is, clamped; written only where a triangle with
 * its draw flag wins, so a pixel holds the value of its last such winner: read it only
 * where target->layer says such a triangle won in the end. */
typedef struct raster_extra {
    const float (*texcoord)[2]; /* per vertex; NULL: the mesh's own */
    const bool *draw;           /* per triangle of the mesh; NULL: every triangle */
    const vv_image *texture;    /* RGB, or gray (one channel: a matte) */
    vv_image *out;              /* the target's size, the texture's channels */
    uint8_t outside_keep;       /* gray only: a sample more than half a texel beyond the
                                 * texture's edge keeps the clamped edge value if at least
                                 * this, else 0 (a matte: nothing is known out there); 0:
                                 * clamped as the colour is */
} raster_extra;

#define RASTER_MAX_EXTRAS 5

typedef struct raster_target {
    vv_image *color;    /* RGB, written where a triangle wins the depth test */
    float *depth;       /* width x height, caller-initialised (e.g. -INFINITY); read and written */
    uint8_t *coverage;  /* width x height, optional: set to 255 where drawn, left alone elsewhere */
    uint8_t *layer;     /* width x height, optional: triangle_layer of the winner (0 without tags) */
    const raster_extra *extras; /* optional, extra_count of them (at most RASTER_MAX_EXTRAS) */
    int extra_count;
    const vv_image *backdrop;   /* optional, RGB of the target's size: where a depth-only
                                 * triangle wins, colour takes backdrop's pixel at the same
                                 * place (what shows behind a part the caller paints so),
                                 * so that no pass after the draw has to put it there */
    bool clear;                 /* first, depth -INFINITY and coverage 0 inside clear_box
                                 * (x0, y0, x1, y1, inclusive; clipped to the target), band
                                 * by band just before it is drawn, while in cache (the
                                 * caller need not clear them beforehand) */
    int clear_box[4];
    /* Optional: called once for every band of rows [y0, y1) of the target, drawn or not,
     * after its last triangle, on the thread that drew it (bands in any order, several at
     * once): the caller can finish those rows while they are in cache. */
    void (*rows_done)(void *ctx, int y0, int y1);
    void *rows_ctx;
    /* Optional: a frame drawn round the picture (a painting's white border line), rows or
     * columns at the texture's top, bottom, left, right that are no part of the picture.
     * Samples are clamped to the picture's edge inside it, so the frame is never sampled
     * and never moves with the mesh (where a mesh stretched the picture past its edge, the
     * strip between showed it as a jagged band); the caller puts it back in place
     * (raster_restore_frame).  Textures of the colour's size (extras) share it. */
    int frame[4];
} raster_target;

typedef struct raster_params {
    /* Front faces have a positive signed area (b - a) x (c - a) in pixel coordinates (x
     * right, y down), the winding of mesh_triangles(); with x right, y down and z towards
     * the viewer that is an outward normal facing the camera.  true: the others are
     * skipped. */
    bool cull_back_faces;
    int threads; /* 0: all cores */
} raster_params;

/* Renders mesh into target: per pixel, texcoords and depth are interpolated linearly in
 * screen space; a pixel is written only where the triangle's depth is strictly greater
 * than target->depth (so with equal depths the first triangle drawn wins), with the
 * texture sampled bilinearly, clamped to its edges (or a frame's: target->frame;
 * texcoords whose fraction is a multiple of 1/256 are exact: an identity mesh copies the
 * texture byte for byte, a frame aside).
 * Triangles with a non-finite coordinate, an index out of range, no area, nothing on the
 * target, or a bounding box over 4x the target's larger side are skipped, as are
 * texcoords beyond +-2^20.  Output is the same for any thread count.  params NULL: no
 * culling, all cores.
 * One pass with extras gives what a pass per texture would give where the extra's
 * triangles win, at the cost of sampling only where they do.
 * VV_ERR_INVALID_ARGUMENT: no colour or depth, texture not RGB, null mesh arrays, an
 * extra without an RGB or gray texture or an output of the target's size and the
 * texture's channels, over
 * RASTER_MAX_EXTRAS extras, a backdrop not RGB of the target's size, a frame negative or
 * leaving no picture;
 * VV_ERR_TOO_LARGE: a target side over VV_IMAGE_MAX_SIDE; VV_ERR_NO_MEMORY. */
vv_status raster_draw(raster_target *target, const vv_image *texture, const raster_mesh *mesh,
                      const raster_params *params);

/* Copies the frame's pixels (frame: top, bottom, left, right rows / columns, as
 * raster_target.frame; none negative) from source into out at the same place, where both
 * have them (RGB images): the frame stays where it is drawn. */
void raster_restore_frame(vv_image *out, const vv_image *source, const int frame[4]);

/* Fills the pixels of an RGB image where known[i] == 0 (width x height bytes) from the
 * known pixels around them, smoothly: a push-pull pyramid (each level halves the one
 * below, keeping the mean of its known pixels and the fraction known, down to 1x1; back
 * up, each cell's unknown fraction comes from the level above, interpolated), so a hole
 * inside one colour becomes that colour and a hole between two colours a smooth ramp.  Known pixels
 * are not changed.  With no known pixel at all the image is left as it is.  The fill is
 * smooth, not textured.  For background uncovered by a moved head, a clean plate (the
 * head's old outline filled from the background alone, then the head drawn over it)
 * keeps hair and skin out of the background; filling after drawing blends them in.
 * threads: 0 for all cores.  VV_ERR_INVALID_ARGUMENT, VV_ERR_NO_MEMORY. */
vv_status image_fill_holes(vv_image *image, const uint8_t *known, int threads);

/* image_fill_holes, plus the known pixels' fine detail (each minus the mean of the known
 * pixels within `grain` pixels) carried into the hole: a hole pixel takes the detail of
 * the known pixel mirrored across its nearest known one (none where that is unknown or off
 * the image), at full strength up to 8 * grain pixels into the hole and fading out over as
 * far again; so a textured background's grain runs on into the hole without a seam while
 * the colours stay the smooth fill's.  grain >= 1.  VV_ERR_INVALID_ARGUMENT,
 * VV_ERR_NO_MEMORY. */
vv_status image_fill_holes_textured(vv_image *image, const uint8_t *known, int grain, int threads);

/* For every pixel of a w x h mask, the coordinates of the nearest pixel set in it ((-1, -1)
 * where none is), within a pixel or so of the Euclidean nearest. */
void image_nearest_known(const uint8_t *known, int w, int h, int32_t (*nearest)[2]);

/* Replaces a filled hole's colours by a synthesis from patches of the known pixels
 * (warp/patch_fill.c: PatchMatch matching and voting on a pyramid up to 192 pixels across,
 * then the known pixels copied by those matches at full resolution; a fixed seed): the
 * structure around the hole (a flag's stripes, a wall's colour beside a shelf's) runs on
 * into it with its texture instead of a fog of all its border's colours.  Unknown
 * pixels without any wholly known 7x7 patch in the image keep what they had.  threads: 0
 * for all cores (the result does not depend on it).  VV_ERR_INVALID_ARGUMENT,
 * VV_ERR_NO_MEMORY. */
vv_status image_fill_holes_patches(vv_image *image, const uint8_t *known, int threads);

/* image_fill_holes_textured with image_fill_holes_patches's colours in place of the smooth
 * fill's (the grain only where they left it): for a background plate behind a person (what
 * a moving head uncovers, and what the matte's edge is de-mixed against).  grain >= 1.
 * VV_ERR_INVALID_ARGUMENT, VV_ERR_NO_MEMORY. */
vv_status image_fill_holes_structured(vv_image *image, const uint8_t *known, int grain, int threads);

/* Sixteen RGB pixels (48 bytes) a step, for loops outside the rasteriser over its output
 * (the 3D head's composite): with AVX-512 (F, BW, VBMI) and BMI2 where the build has
 * them; callers keep a scalar loop computing the same integers for builds without. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VBMI__) && defined(__BMI2__)
#define RASTER_RGB16 1
#include <immintrin.h>

#define RASTER_RGB16_BYTES 0xffffffffffffull /* the 48 bytes of 16 RGB pixels */

/* The bytes of the pixels in m (pixel i: bytes 3i..3i+2). */
static inline __mmask64 raster_rgb16_mask(__mmask16 m) {
    uint64_t b = _pdep_u64(m, 0x249249249249ull);
    return b | b << 1 | b << 2;
}

/* (p a + q (255 - a) + 127) / 255 for each byte of 16 RGB pixels, a per pixel (its 16
 * bytes in `alpha`): p over q by a, rounded down, as head3d's blend255 (n <= 65152 fits
 * 16 bits, and (n + 1 + (n >> 8)) >> 8 is n / 255 there). */
static inline __m512i raster_rgb16_blend255(__m512i p, __m512i q, __m128i alpha) {
    const __m512i spread = _mm512_set_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 14, 14, 14, 13, 13,
                                           13, 12, 12, 12, 11, 11, 11, 10, 10, 10, 9, 9, 9, 8, 8, 8, 7, 7, 7, 6, 6, 6, 5,
                                           5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0);
    __m512i a = _mm512_permutexvar_epi8(spread, _mm512_castsi128_si512(alpha));
    const __m512i full = _mm512_set1_epi16(255), round = _mm512_set1_epi16(127), one = _mm512_set1_epi16(1);
    __m256i half[2];
    for (int k = 0; k < 2; k++) {
        __m512i pk = _mm512_cvtepu8_epi16(k ? _mm512_extracti64x4_epi64(p, 1) : _mm512_castsi512_si256(p));
        __m512i qk = _mm512_cvtepu8_epi16(k ? _mm512_extracti64x4_epi64(q, 1) : _mm512_castsi512_si256(q));
        __m512i ak = _mm512_cvtepu8_epi16(k ? _mm512_extracti64x4_epi64(a, 1) : _mm512_castsi512_si256(a));
        __m512i n = _mm512_add_epi16(_mm512_add_epi16(_mm512_mullo_epi16(pk, ak), _mm512_mullo_epi16(qk, _mm512_sub_epi16(full, ak))),
                                     round);
        half[k] = _mm512_cvtepi16_epi8(_mm512_srli_epi16(_mm512_add_epi16(_mm512_add_epi16(n, one), _mm512_srli_epi16(n, 8)), 8));
    }
    return _mm512_inserti64x4(_mm512_castsi256_si512(half[0]), half[1], 1);
}
#endif

#endif
