/* img: gray conversion, resizing, bilinear sampling and affine warps. */
#include "img/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows per parallel_for task: big enough that task overhead does not matter. */
#define ROWS_PER_TASK 16

static bool image_usable(const vv_image *image) {
    return image && image->data && image->width > 0 && image->height > 0 &&
           image->width <= VV_IMAGE_MAX_SIDE && image->height <= VV_IMAGE_MAX_SIDE &&
           image->channels >= 1 && image->channels <= 4;
}

static uint8_t round_to_byte(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 254.5f) return 255;
    return (uint8_t)(v + 0.5f);
}

vv_status image_to_gray(vv_image *out, const vv_image *in) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_to_gray: NULL output");
    if (!image_usable(in) || in->channels == 2) {
        memset(out, 0, sizeof *out);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_to_gray: input must be a gray, RGB or RGBA image");
    }
    if (in->channels == 1) return image_copy(out, in);
    vv_image gray;
    vv_status status = image_create(&gray, in->width, in->height, 1);
    if (status != VV_OK) {
        memset(out, 0, sizeof *out);
        return status;
    }
    /* dlib's assign_pixel(unsigned char&, rgb_pixel) is the truncated mean of the three
     * channels (not BT.601 luma); the 68-point predictor was trained on exactly that. */
    size_t count = (size_t)in->width * (size_t)in->height;
    int c = in->channels;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = in->data + i * c;
        gray.data[i] = (uint8_t)(((unsigned)p[0] + p[1] + p[2]) / 3);
    }
    *out = gray;
    return VV_OK;
}

/* ---------------------------------------------------------------- resize */

/* For one axis, which source samples (index, weight) make each output sample. */
typedef struct resize_axis {
    int taps;       /* slots per output sample */
    int *count;     /* [out_size] used slots */
    int *index;     /* [out_size * taps] */
    float *weight;  /* [out_size * taps] */
} resize_axis;

static void resize_axis_free(resize_axis *axis) {
    free(axis->count);
    free(axis->index);
    free(axis->weight);
}

/* Upscale (or same size): bilinear between pixel centres, clamped at the edges.
 * Downscale: each output pixel averages the source pixels its footprint covers,
 * weighted by the covered fraction (area averaging). */
static bool resize_axis_build(resize_axis *axis, int in_size, int out_size) {
    double scale = (double)in_size / out_size;
    bool down = out_size < in_size;
    axis->taps = down ? (int)ceil(scale) + 2 : 2;
    axis->count = mem_calloc((size_t)out_size, sizeof(int));
    axis->index = mem_calloc((size_t)out_size * axis->taps, sizeof(int));
    axis->weight = mem_calloc((size_t)out_size * axis->taps, sizeof(float));
    if (!axis->count || !axis->index || !axis->weight) return false;
    for (int i = 0; i < out_size; i++) {
        int *index = axis->index + (size_t)i * axis->taps;
        float *weight = axis->weight + (size_t)i * axis->taps;
        int n = 0;
        if (!down) {
            double s = (i + 0.5) * scale - 0.5;
            if (s < 0) s = 0;
            int i0 = (int)s;
            if (i0 > in_size - 1) i0 = in_size - 1;
            double f = s - i0;
            index[n] = i0;
            weight[n++] = (float)(1.0 - f);
            if (f > 0 && i0 + 1 < in_size) {
                index[n] = i0 + 1;
                weight[n++] = (float)f;
            } else {
                weight[0] = 1.0f;
            }
        } else {
            double a = i * scale, b = (i + 1) * scale;
            for (int j = (int)a; j < in_size && j < b && n < axis->taps; j++) {
                double overlap = fmin(b, j + 1.0) - fmax(a, (double)j);
                if (overlap <= 1e-12) continue;
                index[n] = j;
                weight[n++] = (float)(overlap / scale);
            }
        }
        axis->count[i] = n;
    }
    return true;
}

typedef struct resize_job {
    const vv_image *in;
    vv_image *out;
    float *rows; /* in->height x out->width x channels, horizontally resized */
    const resize_axis *x_axis, *y_axis;
} resize_job;

static void resize_horizontal(void *context, int task) {
    resize_job *job = context;
    int c = job->in->channels, out_width = job->out->width;
    int y_end = (task + 1) * ROWS_PER_TASK;
    if (y_end > job->in->height) y_end = job->in->height;
    for (int y = task * ROWS_PER_TASK; y < y_end; y++) {
        const uint8_t *src = job->in->data + (size_t)y * job->in->width * c;
        float *dst = job->rows + (size_t)y * out_width * c;
        for (int x = 0; x < out_width; x++) {
            const int *index = job->x_axis->index + (size_t)x * job->x_axis->taps;
            const float *weight = job->x_axis->weight + (size_t)x * job->x_axis->taps;
            for (int k = 0; k < c; k++) {
                float sum = 0;
                for (int t = 0; t < job->x_axis->count[x]; t++)
                    sum += weight[t] * src[(size_t)index[t] * c + k];
                dst[(size_t)x * c + k] = sum;
            }
        }
    }
}

static void resize_vertical(void *context, int task) {
    resize_job *job = context;
    size_t row_values = (size_t)job->out->width * job->out->channels;
    int y_end = (task + 1) * ROWS_PER_TASK;
    if (y_end > job->out->height) y_end = job->out->height;
    float *sum = mem_alloc(row_values, sizeof(float));
    if (!sum) return; /* leaves black rows; only under memory exhaustion */
    for (int y = task * ROWS_PER_TASK; y < y_end; y++) {
        const int *index = job->y_axis->index + (size_t)y * job->y_axis->taps;
        const float *weight = job->y_axis->weight + (size_t)y * job->y_axis->taps;
        memset(sum, 0, row_values * sizeof(float));
        /* Whole rows per tap: a contiguous, vectorisable inner loop. */
        for (int t = 0; t < job->y_axis->count[y]; t++) {
            const float *src = job->rows + (size_t)index[t] * row_values;
            float w = weight[t];
            for (size_t i = 0; i < row_values; i++) sum[i] += w * src[i];
        }
        uint8_t *dst = job->out->data + (size_t)y * row_values;
        for (size_t i = 0; i < row_values; i++) dst[i] = round_to_byte(sum[i]);
    }
    free(sum);
}

vv_status image_resize(vv_image *out, const vv_image *in, int width, int height) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_resize: NULL output");
    if (!image_usable(in)) {
        memset(out, 0, sizeof *out);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_resize: invalid input image");
    }
    vv_image result;
    vv_status status = image_create(&result, width, height, in->channels);
    if (status != VV_OK) {
        memset(out, 0, sizeof *out);
        return status;
    }
    resize_axis x_axis = {0}, y_axis = {0};
    resize_job job = {.in = in, .out = &result, .x_axis = &x_axis, .y_axis = &y_axis};
    size_t values;
    bool ok = size_mul3((size_t)in->height, (size_t)width, (size_t)in->channels, &values) &&
              resize_axis_build(&x_axis, in->width, width) &&
              resize_axis_build(&y_axis, in->height, height) &&
              (job.rows = mem_alloc(values, sizeof(float))) != NULL;
    if (ok) {
        parallel_for((in->height + ROWS_PER_TASK - 1) / ROWS_PER_TASK, 0, resize_horizontal, &job);
        parallel_for((height + ROWS_PER_TASK - 1) / ROWS_PER_TASK, 0, resize_vertical, &job);
    }
    free(job.rows);
    resize_axis_free(&x_axis);
    resize_axis_free(&y_axis);
    if (!ok) {
        image_free(&result);
        memset(out, 0, sizeof *out);
        return vv_fail(VV_ERR_NO_MEMORY, "image_resize: out of memory for %dx%d -> %dx%d",
                       in->width, in->height, width, height);
    }
    if (out == in) image_free(out);
    *out = result;
    return VV_OK;
}

/* ---------------------------------------------------------------- sampling and warps */

/* The clamped corners and weights of a bilinear sample at (x, y). */
typedef struct bilinear_taps {
    const uint8_t *p00, *p10, *p01, *p11; /* (x0, y0), (x1, y0), (x0, y1), (x1, y1) */
    float fx, fy;
} bilinear_taps;

static bilinear_taps bilinear_at(const vv_image *image, float x, float y) {
    int w = image->width, h = image->height, channels = image->channels;
    /* Clamp first: keeps the float -> int conversions defined for any input. */
    if (!(x > 0.0f)) x = 0.0f;
    if (!(y > 0.0f)) y = 0.0f;
    if (x > (float)(w - 1)) x = (float)(w - 1);
    if (y > (float)(h - 1)) y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    const uint8_t *row0 = image->data + (size_t)y0 * w * channels;
    const uint8_t *row1 = image->data + (size_t)y1 * w * channels;
    bilinear_taps t = {row0 + x0 * channels, row0 + x1 * channels, row1 + x0 * channels, row1 + x1 * channels,
                       x - (float)x0, y - (float)y0};
    return t;
}

static float bilinear_mix(const bilinear_taps *t, int c) {
    float p00 = t->p00[c], p10 = t->p10[c], p01 = t->p01[c], p11 = t->p11[c];
    float top = p00 + t->fx * (p10 - p00), bottom = p01 + t->fx * (p11 - p01);
    return top + t->fy * (bottom - top);
}

float image_sample(const vv_image *image, float x, float y, int c) {
    if (!image_usable(image) || c < 0 || c >= image->channels) return 0.0f;
    bilinear_taps t = bilinear_at(image, x, y);
    return bilinear_mix(&t, c);
}

void image_sample_rgb(const vv_image *image, float x, float y, float rgb[3]) {
    if (!image_usable(image)) {
        rgb[0] = rgb[1] = rgb[2] = 0.0f;
        return;
    }
    bilinear_taps t = bilinear_at(image, x, y);
    for (int c = 0; c < 3; c++) rgb[c] = bilinear_mix(&t, image->channels >= 3 ? c : 0);
}

typedef struct warp_job {
    vv_image *out;
    const vv_image *in;
    double m[6];
    uint8_t fill[4];
} warp_job;

static void warp_rows(void *context, int task) {
    warp_job *job = context;
    const vv_image *in = job->in;
    int c = in->channels, w = in->width, h = in->height;
    int y_end = (task + 1) * ROWS_PER_TASK;
    if (y_end > job->out->height) y_end = job->out->height;
    for (int y = task * ROWS_PER_TASK; y < y_end; y++) {
        uint8_t *dst = job->out->data + (size_t)y * job->out->width * c;
        double row_x = job->m[1] * y + job->m[2], row_y = job->m[4] * y + job->m[5];
        for (int x = 0; x < job->out->width; x++, dst += c) {
            double sx = job->m[0] * x + row_x;
            double sy = job->m[3] * x + row_y;
            /* A destination pixel is inside when its source point falls within the
             * source pixels' area; half a pixel at the border samples clamped. */
            if (!(sx >= -0.5 && sx < w - 0.5 && sy >= -0.5 && sy < h - 0.5)) {
                memcpy(dst, job->fill, (size_t)c);
                continue;
            }
            if (sx < 0) sx = 0;
            if (sy < 0) sy = 0;
            if (sx > w - 1) sx = w - 1;
            if (sy > h - 1) sy = h - 1;
            int x0 = (int)sx, y0 = (int)sy;
            float fx = (float)(sx - x0), fy = (float)(sy - y0);
            int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
            const uint8_t *p00 = in->data + ((size_t)y0 * w + x0) * c;
            const uint8_t *p10 = in->data + ((size_t)y0 * w + x1) * c;
            const uint8_t *p01 = in->data + ((size_t)y1 * w + x0) * c;
            const uint8_t *p11 = in->data + ((size_t)y1 * w + x1) * c;
            for (int k = 0; k < c; k++) {
                float top = p00[k] + fx * (float)(p10[k] - p00[k]);
                float bottom = p01[k] + fx * (float)(p11[k] - p01[k]);
                dst[k] = round_to_byte(top + fy * (bottom - top));
            }
        }
    }
}

void image_warp_affine(vv_image *out, const vv_image *in, const float m[6], const uint8_t *fill) {
    if (!image_usable(out) || !image_usable(in) || !m || out->channels != in->channels ||
        out->data == in->data)
        return;
    warp_job job = {.out = out, .in = in};
    for (int i = 0; i < 6; i++) job.m[i] = m[i];
    if (fill) memcpy(job.fill, fill, (size_t)in->channels);
    parallel_for((out->height + ROWS_PER_TASK - 1) / ROWS_PER_TASK, 0, warp_rows, &job);
}
