/* img: the image type (vv_image from vivify.h), PNG/JPEG load and save, resizing,
 * sampling and warps, drawing, and landmark rasterisation. */
#ifndef VV_IMG_IMAGE_H
#define VV_IMG_IMAGE_H

#include "base/base.h"

/* Caps: either side over VV_IMAGE_MAX_SIDE or more than VV_IMAGE_MAX_PIXELS pixels is
 * refused with VV_ERR_TOO_LARGE before any pixel memory is allocated. */
#define VV_IMAGE_MAX_SIDE 16384
#define VV_IMAGE_MAX_PIXELS (1ull << 28)

/* Allocates width x height x channels (zeroed). */
vv_status image_create(vv_image *out, int width, int height, int channels);
void image_free(vv_image *image);
vv_status image_copy(vv_image *out, const vv_image *in);

/* Load from a file or memory, content-sniffed (PNG / JPEG); always returns RGB (3
 * channels): gray expanded, palette expanded, alpha (and tRNS) dropped, 16-bit scaled to
 * 8; JPEG EXIF orientation (1-8) applied.  `name` is used in error messages.
 * Statuses: NOT_FOUND (no file), FORMAT (empty or not PNG/JPEG), CORRUPT (truncated or
 * damaged), TOO_LARGE (header over the caps; nothing allocated), UNSUPPORTED (CMYK). */
vv_status image_load(vv_image *out, const char *path);
/* Whether the file starts as a PNG or JPEG does (the sniffing image_load uses; a still
 * given where a video is expected).  false for a missing or unreadable file. */
bool image_file_is_image(const char *path);
vv_status image_load_memory(vv_image *out, const uint8_t *data, size_t size, const char *name);
/* Save by extension (.png, .jpg, .jpeg; JPEG quality 95); atomic (temp file + rename;
 * no file is left on failure).  PNG takes 1-4 channels, JPEG 1 or 3 (4:2:0 for RGB).
 * VV_ERR_WRITE for unwritable paths or missing folders, INVALID_ARGUMENT for other
 * extensions.  image_save_jpeg: quality 1-100, any extension. */
vv_status image_save(const vv_image *image, const char *path);
vv_status image_save_jpeg(const vv_image *image, const char *path, int quality);

/* RGB(A) -> gray exactly as dlib's assign_pixel(unsigned char&, rgb_pixel):
 * (r + g + b) / 3 in integers, truncated (not BT.601 luma).  Gray input is copied. */
vv_status image_to_gray(vv_image *out, const vv_image *in);
/* Bilinear (upscale) / area-averaging (downscale) resize to exactly width x height. */
vv_status image_resize(vv_image *out, const vv_image *in, int width, int height);

/* Pixel (i, j) has its centre at coordinates (i, j) everywhere below.
 * Resize maps pixel centres ((x + 0.5) * in / out - 0.5); out may be the same struct as in. */

/* Bilinear sample of channel c at (x, y) with clamp-to-edge. */
float image_sample(const vv_image *image, float x, float y, int c);
/* The same for channels 0..2 at once; a gray image gives three equal values. */
void image_sample_rgb(const vv_image *image, float x, float y, float rgb[3]);
/* out(x, y) = in(m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]), bilinear; pixels
 * mapping outside `in` (source point not in [-0.5, w - 0.5) x [-0.5, h - 0.5)) get
 * `fill` (per channel, may be NULL for black). out must be allocated with the same
 * channel count as in and must not share its pixels.  Multithreaded over rows. */
void image_warp_affine(vv_image *out, const vv_image *in, const float m[6], const uint8_t *fill);

/* Drawing, clipped to the image, anti-aliasing not required. colour has `channels` bytes. */
void image_draw_line(vv_image *image, float x0, float y0, float x1, float y1,
                     const uint8_t *colour, int thickness);
void image_draw_circle(vv_image *image, float cx, float cy, float radius,
                       const uint8_t *colour, bool filled);
void image_draw_rect(vv_image *image, float x0, float y0, float x1, float y1,
                     const uint8_t *colour, int thickness);

/* The paper's landmark image: 68 points as polylines, thickness 2, per-part colours
 * (jaw white open; brows red / green; nose blue; eyes magenta / cyan closed; outer lips
 * yellow closed; inner lips not drawn) on black.  out must be an allocated RGB image;
 * it is cleared first.  points: 68 (x, y) pairs in out's pixel coordinates. */
void landmarks_rasterize(vv_image *out, const float points[68][2], int thickness);

#endif
