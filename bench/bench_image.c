/* Benchmark of the img layer: decode, encode, gray, resize, warp and rasterise on a
 * 512x512 portrait (../shared/data when present, else a synthetic picture).
 * Prints one line per operation: median milliseconds over the runs. */
#include "img/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 15

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *times, int n) {
    qsort(times, (size_t)n, sizeof *times, compare_double);
    return times[n / 2];
}

int main(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/../shared/data/portraits/deb_grace_hopper_512.jpg", VV_SOURCE_DIR);
    vv_image source;
    if (image_load(&source, path) != VV_OK) {
        printf("note: %s unavailable, using a synthetic 512x512 picture\n", path);
        if (image_create(&source, 512, 512, 3) != VV_OK) return 1;
        for (size_t i = 0; i < 512 * 512 * 3; i++) source.data[i] = (uint8_t)(i * 31 % 251);
    }
    const char *tmp_jpg = "bench_image_tmp.jpg", *tmp_png = "bench_image_tmp.png";
    if (image_save(&source, tmp_jpg) != VV_OK || image_save(&source, tmp_png) != VV_OK) {
        fprintf(stderr, "bench_image: cannot write temp files: %s\n", vv_last_error());
        return 1;
    }
    uint8_t *jpg_bytes, *png_bytes;
    size_t jpg_size, png_size;
    if (file_read_all(tmp_jpg, 1 << 26, &jpg_bytes, &jpg_size) != VV_OK ||
        file_read_all(tmp_png, 1 << 26, &png_bytes, &png_size) != VV_OK)
        return 1;

    vv_image out, warped, big;
    image_create(&warped, 512, 512, 3);
    const float rotate[6] = {0.96f, -0.26f, 60, 0.26f, 0.96f, -40};
    float points[68][2];
    for (int i = 0; i < 68; i++) {
        points[i][0] = 256 + 150 * cosf(i * 0.3f);
        points[i][1] = 256 + 150 * sinf(i * 0.3f);
    }
    image_resize(&big, &source, 1920, 1080);

    const char *names[] = {"decode jpeg 512", "decode png 512", "encode jpeg q95 512",
                           "to_gray 512", "resize 512->256", "resize 512->1024",
                           "resize 1920x1080->512x288", "warp_affine 512", "landmarks_rasterize 512"};
    enum { OPS = sizeof names / sizeof names[0] };
    double times[OPS][RUNS];
    for (int run = 0; run < RUNS; run++) {
        for (int op = 0; op < OPS; op++) {
            double start = time_now();
            switch (op) {
            case 0: image_load_memory(&out, jpg_bytes, jpg_size, "jpg"); image_free(&out); break;
            case 1: image_load_memory(&out, png_bytes, png_size, "png"); image_free(&out); break;
            case 2: image_save_jpeg(&source, tmp_jpg, 95); break;
            case 3: image_to_gray(&out, &source); image_free(&out); break;
            case 4: image_resize(&out, &source, 256, 256); image_free(&out); break;
            case 5: image_resize(&out, &source, 1024, 1024); image_free(&out); break;
            case 6: image_resize(&out, &big, 512, 288); image_free(&out); break;
            case 7: image_warp_affine(&warped, &source, rotate, NULL); break;
            default: landmarks_rasterize(&warped, (const float(*)[2])points, 2); break;
            }
            times[op][run] = (time_now() - start) * 1e3;
        }
    }
    printf("bench_image (%d runs, median; threads: %d cores)\n", RUNS, cpu_count());
    for (int op = 0; op < OPS; op++) printf("  %-28s %8.3f ms\n", names[op], median(times[op], RUNS));
    remove(tmp_jpg);
    remove(tmp_png);
    free(jpg_bytes);
    free(png_bytes);
    image_free(&big);
    image_free(&warped);
    image_free(&source);
    return 0;
}
