/* img: drawing (thick lines, circles, rectangles) and the paper's landmark image. */
#include "img/image.h"

#include <math.h>
#include <string.h>

static bool image_drawable(const vv_image *image) {
    return image && image->data && image->width > 0 && image->height > 0 &&
           image->width <= VV_IMAGE_MAX_SIDE && image->height <= VV_IMAGE_MAX_SIDE &&
           image->channels >= 1 && image->channels <= 4;
}

/* Clamps a float pixel bound into [0, limit - 1] as an int (defined for any float). */
static int clamp_index(float v, int limit) {
    if (!(v > 0.0f)) return 0;
    if (v >= (float)(limit - 1)) return limit - 1;
    return (int)v;
}

static void put_pixel(vv_image *image, int x, int y, const uint8_t *colour) {
    memcpy(image->data + ((size_t)y * image->width + x) * image->channels, colour,
           (size_t)image->channels);
}

/* A thick line is the capsule of points within thickness / 2 of the segment: pixels
 * whose centres fall inside are set.  Thickness 1 gives an 8-connected one-pixel line. */
void image_draw_line(vv_image *image, float x0, float y0, float x1, float y1,
                     const uint8_t *colour, int thickness) {
    if (!image_drawable(image) || !colour) return;
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    if (thickness < 1) thickness = 1;
    /* Doubles: endpoints far outside the image must not overflow the squared length. */
    double r = 0.5 * thickness, r2 = r * r + 1e-4;
    double left = fmin(x0, x1) - r, right = fmax(x0, x1) + r;
    double top = fmin(y0, y1) - r, bottom = fmax(y0, y1) + r;
    if (right < 0 || bottom < 0 || left > image->width - 1 || top > image->height - 1) return;
    int xa = clamp_index((float)floor(left), image->width), xb = clamp_index((float)ceil(right), image->width);
    int ya = clamp_index((float)floor(top), image->height), yb = clamp_index((float)ceil(bottom), image->height);
    double dx = (double)x1 - x0, dy = (double)y1 - y0, length2 = dx * dx + dy * dy;
    for (int y = ya; y <= yb; y++) {
        for (int x = xa; x <= xb; x++) {
            double px = x - (double)x0, py = y - (double)y0;
            double t = length2 > 0 ? (px * dx + py * dy) / length2 : 0.0;
            if (t < 0) t = 0;
            if (t > 1) t = 1;
            double ex = px - t * dx, ey = py - t * dy;
            if (ex * ex + ey * ey <= r2) put_pixel(image, x, y, colour);
        }
    }
}

/* Filled: centres within radius.  Outline: centres within half a pixel of the circle. */
void image_draw_circle(vv_image *image, float cx, float cy, float radius,
                       const uint8_t *colour, bool filled) {
    if (!image_drawable(image) || !colour) return;
    if (!isfinite(cx) || !isfinite(cy) || !isfinite(radius) || radius < 0) return;
    float reach = radius + 0.5f;
    if (cx + reach < 0 || cy + reach < 0 || cx - reach > image->width - 1 ||
        cy - reach > image->height - 1)
        return;
    int xa = clamp_index(floorf(cx - reach), image->width);
    int xb = clamp_index(ceilf(cx + reach), image->width);
    int ya = clamp_index(floorf(cy - reach), image->height);
    int yb = clamp_index(ceilf(cy + reach), image->height);
    for (int y = ya; y <= yb; y++) {
        for (int x = xa; x <= xb; x++) {
            float d = hypotf((float)x - cx, (float)y - cy);
            if (filled ? d <= radius + 1e-4f : fabsf(d - radius) <= 0.5f)
                put_pixel(image, x, y, colour);
        }
    }
}

void image_draw_rect(vv_image *image, float x0, float y0, float x1, float y1,
                     const uint8_t *colour, int thickness) {
    image_draw_line(image, x0, y0, x1, y0, colour, thickness);
    image_draw_line(image, x1, y0, x1, y1, colour, thickness);
    image_draw_line(image, x1, y1, x0, y1, colour, thickness);
    image_draw_line(image, x0, y1, x0, y0, colour, thickness);
}

/* ---------------------------------------------------------------- landmark image */

typedef struct landmark_part {
    int first, last; /* inclusive point range */
    bool closed;
    uint8_t rgb[3];
} landmark_part;

/* The paper's scheme (docs/PAPER.md); inner lips 60-67 are not drawn. */
static const landmark_part landmark_parts[] = {
    {0, 16, false, {255, 255, 255}}, /* jaw */
    {17, 21, false, {255, 0, 0}},    /* right brow (image left) */
    {22, 26, false, {0, 255, 0}},    /* left brow */
    {27, 30, false, {0, 0, 255}},    /* nose bridge */
    {31, 35, false, {0, 0, 255}},    /* nostrils */
    {36, 41, true, {255, 0, 255}},   /* right eye */
    {42, 47, true, {0, 255, 255}},   /* left eye */
    {48, 59, true, {255, 255, 0}},   /* outer lips */
};

void landmarks_rasterize(vv_image *out, const float points[68][2], int thickness) {
    if (!image_drawable(out)) return;
    memset(out->data, 0, (size_t)out->width * out->height * out->channels);
    if (!points) return;
    for (size_t p = 0; p < sizeof landmark_parts / sizeof landmark_parts[0]; p++) {
        const landmark_part *part = &landmark_parts[p];
        uint8_t colour[4] = {part->rgb[0], part->rgb[1], part->rgb[2], 255};
        if (out->channels < 3) { /* gray (+ alpha) output: dlib's gray of the colour */
            colour[0] = (uint8_t)((part->rgb[0] + part->rgb[1] + part->rgb[2]) / 3);
            colour[1] = 255;
        }
        for (int i = part->first; i < part->last; i++)
            image_draw_line(out, points[i][0], points[i][1], points[i + 1][0], points[i + 1][1],
                            colour, thickness);
        if (part->closed)
            image_draw_line(out, points[part->last][0], points[part->last][1],
                            points[part->first][0], points[part->first][1], colour, thickness);
    }
}
