/* eval/image_metrics: SSIM (skimage-exact), PSNR, L1 on full frames or boxes.
 *
 * SSIM follows skimage.metrics.structural_similarity with gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=255:
 *  - the five local statistics (means, second moments, cross moment) come from a
 *    separable Gaussian, radius int(3.5 * 1.5 + 0.5) = 5 (11 taps, weights normalised);
 *  - the mean SSIM skips a 5-pixel border on every side, so every output pixel's window
 *    lies inside the image: skimage's 'reflect' border never contributes and nothing
 *    here handles borders;
 *  - RGB: each channel separately, then the mean of the three.
 * Doubles throughout (uxx - ux^2 cancels badly in float at 8-bit magnitudes).  Work is
 * split into (channel, band of output rows) jobs; each band streams its input rows
 * through an 11-row ring of horizontally filtered rows, so memory stays in cache.  Band
 * sums are added in job order afterwards: the result does not depend on threading. */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SSIM_RADIUS 5
#define SSIM_TAPS (2 * SSIM_RADIUS + 1)
#define SSIM_BAND_ROWS 32
#define SSIM_MAPS 5 /* x, y, xx, yy, xy */

static vv_status check_pair(const vv_image *a, const vv_image *b, const metrics_box *box,
                            const char *what, metrics_box *region) {
    if (!a || !b || !a->data || !b->data)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: missing image", what);
    if (a->width <= 0 || a->height <= 0 || (a->channels != 1 && a->channels != 3))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: image is %dx%dx%d, need 1 or 3 channels",
                       what, a->width, a->height, a->channels);
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: images differ in size (%dx%dx%d vs %dx%dx%d)",
                       what, a->width, a->height, a->channels, b->width, b->height, b->channels);
    size_t bytes;
    if (!size_mul3((size_t)a->width, (size_t)a->height, (size_t)a->channels, &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "%s: image size overflows", what);
    metrics_box r = {0, 0, a->width, a->height};
    if (box) {
        if (box->x0 < 0 || box->y0 < 0 || box->x1 > a->width || box->y1 > a->height ||
            box->x0 >= box->x1 || box->y0 >= box->y1)
            return vv_fail(VV_ERR_INVALID_ARGUMENT,
                           "%s: box [%d,%d)x[%d,%d) is empty or outside the %dx%d image", what,
                           box->x0, box->x1, box->y0, box->y1, a->width, a->height);
        r = *box;
    }
    *region = r;
    return VV_OK;
}

/* Normalised Gaussian, as scipy.ndimage._gaussian_kernel1d(sigma=1.5, order=0, radius=5). */
static void ssim_kernel(double g[SSIM_TAPS]) {
    double sum = 0;
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) {
        g[k + SSIM_RADIUS] = exp(-0.5 * (double)(k * k) / (1.5 * 1.5));
        sum += g[k + SSIM_RADIUS];
    }
    for (int k = 0; k < SSIM_TAPS; k++) g[k] /= sum;
}

typedef struct ssim_job {
    const vv_image *a, *b;
    metrics_box region;
    int out_width, out_height; /* region minus the 5-pixel border */
    int bands;
    double g[SSIM_TAPS];
    double *band_sums; /* channels * bands */
    int failed;        /* set (racy but only ever 0 -> 1) when a job cannot allocate */
} ssim_job;

/* One input row of the region, channel c: the five maps, filtered horizontally, written
 * as out[m * out_width + j] for output column j. */
static void ssim_filter_row(const ssim_job *job, int row, int c, double *restrict line,
                            double *restrict out) {
    const int w = job->region.x1 - job->region.x0, ow = job->out_width;
    const int ch = job->a->channels;
    const size_t offset = ((size_t)(job->region.y0 + row) * (size_t)job->a->width +
                           (size_t)job->region.x0) * (size_t)ch + (size_t)c;
    const uint8_t *pa = job->a->data + offset, *pb = job->b->data + offset;
    double *x = line, *y = line + w, *xx = line + 2 * w, *yy = line + 3 * w, *xy = line + 4 * w;
    for (int i = 0; i < w; i++) {
        double va = pa[(size_t)i * ch], vb = pb[(size_t)i * ch];
        x[i] = va;
        y[i] = vb;
        xx[i] = va * va;
        yy[i] = vb * vb;
        xy[i] = va * vb;
    }
    for (int m = 0; m < SSIM_MAPS; m++) {
        const double *restrict in = line + (size_t)m * w;
        double *restrict o = out + (size_t)m * ow;
        for (int j = 0; j < ow; j++) o[j] = job->g[0] * in[j];
        for (int k = 1; k < SSIM_TAPS; k++) {
            const double gk = job->g[k];
            for (int j = 0; j < ow; j++) o[j] += gk * in[j + k];
        }
    }
}

static void ssim_band(void *ctx, int index) {
    ssim_job *job = ctx;
    const int c = index / job->bands, band = index % job->bands;
    const int ow = job->out_width, w = job->region.x1 - job->region.x0;
    const int o0 = band * SSIM_BAND_ROWS;
    const int o1 = o0 + SSIM_BAND_ROWS < job->out_height ? o0 + SSIM_BAND_ROWS : job->out_height;
    /* line: 5 raw maps of the region width; ring: 11 filtered rows x 5 maps; acc: 5 maps */
    size_t doubles = (size_t)SSIM_MAPS * (size_t)w + (size_t)(SSIM_TAPS + 1) * SSIM_MAPS * (size_t)ow;
    double *scratch = mem_alloc(doubles, sizeof(double));
    if (!scratch) {
        job->failed = 1;
        return;
    }
    double *line = scratch, *ring = line + (size_t)SSIM_MAPS * w;
    double *acc = ring + (size_t)SSIM_TAPS * SSIM_MAPS * ow;
    const size_t ring_row = (size_t)SSIM_MAPS * ow;
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    double sum = 0;
    /* output row o (region row o + 5) needs input rows o .. o + 10 */
    for (int in = o0; in < o1 + SSIM_TAPS - 1; in++) {
        ssim_filter_row(job, in, c, line, ring + (size_t)(in % SSIM_TAPS) * ring_row);
        int o = in - (SSIM_TAPS - 1);
        if (o < o0) continue;
        for (int m = 0; m < SSIM_MAPS; m++) {
            double *restrict dst = acc + (size_t)m * ow;
            const double *restrict src = ring + (size_t)(o % SSIM_TAPS) * ring_row + (size_t)m * ow;
            for (int j = 0; j < ow; j++) dst[j] = job->g[0] * src[j];
            for (int k = 1; k < SSIM_TAPS; k++) {
                const double gk = job->g[k];
                src = ring + (size_t)((o + k) % SSIM_TAPS) * ring_row + (size_t)m * ow;
                for (int j = 0; j < ow; j++) dst[j] += gk * src[j];
            }
        }
        const double *ux = acc, *uy = acc + ow, *uxx = acc + 2 * ow, *uyy = acc + 3 * ow,
                     *uxy = acc + 4 * ow;
        double row_sum = 0;
        for (int j = 0; j < ow; j++) {
            double vx = uxx[j] - ux[j] * ux[j], vy = uyy[j] - uy[j] * uy[j];
            double vxy = uxy[j] - ux[j] * uy[j];
            double a1 = 2 * ux[j] * uy[j] + c1, a2 = 2 * vxy + c2;
            double b1 = ux[j] * ux[j] + uy[j] * uy[j] + c1, b2 = vx + vy + c2;
            row_sum += (a1 * a2) / (b1 * b2);
        }
        sum += row_sum;
    }
    job->band_sums[index] = sum;
    free(scratch);
}

vv_status metrics_ssim(const vv_image *a, const vv_image *b, const metrics_box *box,
                       int threads, double *out) {
    metrics_box region;
    vv_status s = check_pair(a, b, box, "ssim", &region);
    if (s) return s;
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "ssim: no output");
    int w = region.x1 - region.x0, h = region.y1 - region.y0;
    if (w < METRICS_SSIM_WINDOW || h < METRICS_SSIM_WINDOW)
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "ssim: %dx%d region is smaller than the %dx%d window", w, h,
                       METRICS_SSIM_WINDOW, METRICS_SSIM_WINDOW);
    ssim_job job = {.a = a, .b = b, .region = region};
    job.out_width = w - 2 * SSIM_RADIUS;
    job.out_height = h - 2 * SSIM_RADIUS;
    job.bands = (job.out_height + SSIM_BAND_ROWS - 1) / SSIM_BAND_ROWS;
    ssim_kernel(job.g);
    int jobs = a->channels * job.bands;
    job.band_sums = mem_calloc((size_t)jobs, sizeof(double));
    if (!job.band_sums) return vv_fail(VV_ERR_NO_MEMORY, "ssim: no memory for %d bands", jobs);
    parallel_for(jobs, threads, ssim_band, &job);
    if (job.failed) {
        free(job.band_sums);
        return vv_fail(VV_ERR_NO_MEMORY, "ssim: no memory for the row buffers of a %d-wide image", w);
    }
    double pixels = (double)job.out_width * (double)job.out_height, mean = 0;
    for (int c = 0; c < a->channels; c++) {
        double channel_sum = 0;
        for (int band = 0; band < job.bands; band++) channel_sum += job.band_sums[c * job.bands + band];
        mean += channel_sum / pixels;
    }
    free(job.band_sums);
    *out = mean / a->channels;
    return VV_OK;
}

vv_status metrics_psnr_l1(const vv_image *a, const vv_image *b, const metrics_box *box,
                          double *psnr, double *l1, double *mse) {
    metrics_box region;
    vv_status s = check_pair(a, b, box, "psnr/l1", &region);
    if (s) return s;
    const int ch = a->channels, w = region.x1 - region.x0;
    uint64_t sum_abs = 0, sum_sq = 0; /* exact integers: any image's sum fits 64 bits */
    for (int y = region.y0; y < region.y1; y++) {
        size_t offset = ((size_t)y * (size_t)a->width + (size_t)region.x0) * (size_t)ch;
        const uint8_t *pa = a->data + offset, *pb = b->data + offset;
        uint64_t row_abs = 0, row_sq = 0;
        for (int i = 0; i < w * ch; i++) {
            int d = (int)pa[i] - (int)pb[i];
            row_abs += (uint64_t)(d < 0 ? -d : d);
            row_sq += (uint64_t)(d * d);
        }
        sum_abs += row_abs;
        sum_sq += row_sq;
    }
    double n = (double)w * (double)(region.y1 - region.y0) * ch;
    double mean_sq = (double)sum_sq / n;
    if (mse) *mse = mean_sq;
    if (l1) *l1 = (double)sum_abs / n / 255.0;
    if (psnr) *psnr = sum_sq == 0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / mean_sq);
    return VV_OK;
}

vv_status metrics_images(const vv_image *a, const vv_image *b, const metrics_box *box,
                         int threads, image_metrics *out) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "metrics_images: no output");
    image_metrics m;
    vv_status s = metrics_psnr_l1(a, b, box, &m.psnr, &m.l1, &m.mse);
    if (s) return s;
    s = metrics_ssim(a, b, box, threads, &m.ssim);
    if (s) return s;
    *out = m;
    return VV_OK;
}

vv_status metrics_box_from_landmarks(const float points[68][2], float margin, int width,
                                     int height, metrics_box *out) {
    if (!points || !out || width <= 0 || height <= 0 || !(margin >= 0 && margin <= 10))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face box: bad arguments (margin %g, image %dx%d)",
                       (double)margin, width, height);
    float min_x = INFINITY, min_y = INFINITY, max_x = -INFINITY, max_y = -INFINITY;
    for (int i = 0; i < 68; i++) {
        float x = points[i][0], y = points[i][1];
        if (!isfinite(x) || !isfinite(y))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "face box: landmark %d is not finite", i);
        min_x = fminf(min_x, x), max_x = fmaxf(max_x, x);
        min_y = fminf(min_y, y), max_y = fmaxf(max_y, y);
    }
    float grow = margin * fmaxf(max_x - min_x, max_y - min_y);
    double x0 = floor((double)(min_x - grow)), y0 = floor((double)(min_y - grow));
    double x1 = ceil((double)(max_x + grow)), y1 = ceil((double)(max_y + grow));
    metrics_box box = {(int)fmax(0, fmin(x0, width)), (int)fmax(0, fmin(y0, height)),
                       (int)fmax(0, fmin(x1, width)), (int)fmax(0, fmin(y1, height))};
    if (box.x1 - box.x0 < METRICS_SSIM_WINDOW || box.y1 - box.y0 < METRICS_SSIM_WINDOW)
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "face box [%d,%d)x[%d,%d) is under %d pixels on a side inside the %dx%d image",
                       box.x0, box.x1, box.y0, box.y1, METRICS_SSIM_WINDOW, width, height);
    *out = box;
    return VV_OK;
}
