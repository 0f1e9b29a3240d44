/* Benchmark of warp/raster: the 3D warp's rasteriser on a full-frame mesh (every pixel
 * inside it, the typical 2000-3000 triangles, a smooth displacement and an ellipsoid's
 * depth), 720x720 and 1920x1080, one and two threads; and the hole filler with a 20%
 * hole; and the 3D head's draw as head3d makes it at 1024x1024 (bands cleared as drawn,
 * coverage, layer tags, a gray extra), in thread CPU time.  The texture is
 * examples/mona_lisa.png resized to the frame.  Prints one JSON line: median and minimum
 * milliseconds over the runs, one and two threads.  `bench_raster app`: only the 3D
 * head's draw. */
#include "img/image.h"
#include "warp/raster.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 31

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and minimum (the machine is shared: the minimum is the unloaded cost). */
typedef struct timing {
    double median, min;
} timing;

static timing summarise(double *times, int n) {
    qsort(times, (size_t)n, sizeof *times, compare_double);
    return (timing){times[n / 2], times[0]};
}

/* A library call failed: the JSON line ends with the error, the program exits 1. */
static void fail(const char *what) {
    printf(",\"error\":\"%s: %s\"}\n", what, vv_last_error());
    fprintf(stderr, "bench_raster: %s failed: %s\n", what, vv_last_error());
    exit(1);
}

typedef struct scene {
    vv_image texture, color;
    float *depth;
    uint8_t *coverage;
    float (*position)[3];
    float (*texcoord)[2];
    int (*triangles)[3];
    raster_mesh mesh;
} scene;

/* A cells x cells grid over the whole frame, displaced smoothly (border fixed). */
static int scene_init(scene *s, const vv_image *portrait, int w, int h, int cells) {
    memset(s, 0, sizeof *s);
    if (image_resize(&s->texture, portrait, w, h) != VV_OK || image_create(&s->color, w, h, 3) != VV_OK) return -1;
    int n = cells + 1;
    s->depth = malloc(sizeof(float) * w * h);
    s->coverage = malloc((size_t)w * h);
    s->position = malloc(sizeof(float[3]) * n * n);
    s->texcoord = malloc(sizeof(float[2]) * n * n);
    s->triangles = malloc(sizeof(int[3]) * 2 * cells * cells);
    if (!s->depth || !s->coverage || !s->position || !s->texcoord || !s->triangles) return -1;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            float u = -0.5f + (float)w * i / cells, v = -0.5f + (float)h * j / cells;
            float sx = sinf((float)M_PI * i / cells), sy = sinf((float)M_PI * j / cells);
            float *p = s->position[j * n + i];
            s->texcoord[j * n + i][0] = u;
            s->texcoord[j * n + i][1] = v;
            p[0] = u + 0.03f * w * sx * sy * cosf(3.0f * j / cells);
            p[1] = v + 0.02f * h * sx * sy;
            p[2] = 300.0f * sx * sy;
        }
    int t = 0;
    for (int j = 0; j < cells; j++)
        for (int i = 0; i < cells; i++) {
            int a = j * n + i, b = a + 1, c = a + n + 1, d = a + n;
            s->triangles[t][0] = a; s->triangles[t][1] = b; s->triangles[t][2] = c; t++;
            s->triangles[t][0] = a; s->triangles[t][1] = c; s->triangles[t][2] = d; t++;
        }
    s->mesh = (raster_mesh){(const float(*)[3])s->position, (const float(*)[2])s->texcoord,
                            (const int(*)[3])s->triangles, n * n, t, NULL, NULL, NULL};
    return 0;
}

static void scene_free(scene *s) {
    image_free(&s->texture);
    image_free(&s->color);
    free(s->depth);
    free(s->coverage);
    free(s->position);
    free(s->texcoord);
    free(s->triangles);
}

/* ms of raster_draw (the depth clear excluded); *covered: pixels drawn. */
static timing time_draw(scene *s, int threads, int *covered) {
    double times[RUNS];
    size_t pixels = (size_t)s->color.width * s->color.height;
    raster_target target = {.color = &s->color, .depth = s->depth, .coverage = s->coverage};
    raster_params params = {true, threads};
    for (int run = 0; run < RUNS; run++) {
        for (size_t i = 0; i < pixels; i++) s->depth[i] = -INFINITY;
        memset(s->coverage, 0, pixels);
        double start = time_now();
        vv_status status = raster_draw(&target, &s->texture, &s->mesh, &params);
        if (status != VV_OK) fail("raster_draw");
        times[run] = (time_now() - start) * 1e3;
    }
    *covered = 0;
    for (size_t i = 0; i < pixels; i++) *covered += s->coverage[i] != 0;
    return summarise(times, RUNS);
}

/* CPU ms of this thread (the machine is shared: preemption does not count). */
static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* The 3D head's draw as head3d makes it, on one thread: each band cleared just before it
 * is drawn (raster_target.clear), coverage and layer tags written, and a gray extra (the
 * matte's alpha) drawn by every third triangle.  Thread CPU ms of raster_draw. */
static timing time_draw_app(scene *s, const vv_image *matte, int *covered) {
    double times[RUNS];
    int w = s->color.width, h = s->color.height;
    size_t pixels = (size_t)w * h;
    vv_image alpha;
    uint8_t *layer = malloc(pixels), *tags = malloc((size_t)s->mesh.triangle_count);
    bool *draws = malloc((size_t)s->mesh.triangle_count);
    if (!layer || !tags || !draws || image_create(&alpha, w, h, 1) != VV_OK) fail("memory");
    for (int t = 0; t < s->mesh.triangle_count; t++) {
        tags[t] = (uint8_t)(1 + t % 5);
        draws[t] = t % 3 == 0;
    }
    raster_mesh mesh = s->mesh;
    mesh.triangle_layer = tags;
    raster_extra extra = {NULL, draws, matte, &alpha, 0};
    raster_target target = {.color = &s->color, .depth = s->depth, .coverage = s->coverage, .layer = layer,
                            .extras = &extra, .extra_count = 1, .clear = true, .clear_box = {0, 0, w - 1, h - 1}};
    raster_params params = {true, 1};
    for (int run = 0; run < RUNS; run++) {
        double start = thread_cpu_ms();
        vv_status status = raster_draw(&target, &s->texture, &mesh, &params);
        if (status != VV_OK) fail("raster_draw");
        times[run] = thread_cpu_ms() - start;
    }
    *covered = 0;
    for (size_t i = 0; i < pixels; i++) *covered += s->coverage[i] != 0;
    image_free(&alpha);
    free(layer);
    free(tags);
    free(draws);
    return summarise(times, RUNS);
}

/* ms of image_fill_holes with an elliptical hole of `fraction` of the frame. */
static timing time_fill(const vv_image *portrait, int w, int h, double fraction, int threads) {
    vv_image source, work;
    if (image_resize(&source, portrait, w, h) != VV_OK || image_create(&work, w, h, 3) != VV_OK) return (timing){-1, -1};
    uint8_t *known = malloc((size_t)w * h);
    double a = sqrt(fraction * w * h / M_PI * 0.8), b = a / 0.8; /* area pi a b = fraction of the frame */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double ex = (x - w * 0.5) / a, ey = (y - h * 0.45) / b;
            known[y * w + x] = ex * ex + ey * ey >= 1;
        }
    double times[RUNS];
    for (int run = 0; run < RUNS; run++) {
        memcpy(work.data, source.data, (size_t)w * h * 3);
        double start = time_now();
        vv_status status = image_fill_holes(&work, known, threads);
        if (status != VV_OK) fail("image_fill_holes");
        times[run] = (time_now() - start) * 1e3;
    }
    free(known);
    image_free(&source);
    image_free(&work);
    return summarise(times, RUNS);
}

int main(int argc, char **argv) {
    bool app_only = argc > 1 && strcmp(argv[1], "app") == 0; /* only the 3D head's draw */
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/mona_lisa.png", VV_SOURCE_DIR);
    vv_image portrait;
    if (image_load(&portrait, path) != VV_OK) {
        printf("{\"bench\":\"raster\",\"error\":\"%s\"}\n", vv_last_error());
        return 1;
    }
    struct { int w, h, cells; const char *name; } sizes[] = {
        {720, 720, 32, "draw_720"}, {720, 720, 38, "draw_720"}, {1920, 1080, 38, "draw_1080p"}};
    printf("{\"bench\":\"raster\",\"cores\":%d,\"runs\":%d", cpu_count(), RUNS);
    for (int k = 0; k < 3 && !app_only; k++) {
        scene s;
        if (scene_init(&s, &portrait, sizes[k].w, sizes[k].h, sizes[k].cells) != 0) {
            printf(",\"error\":\"out of memory\"}\n");
            return 1;
        }
        int covered;
        timing one = time_draw(&s, 1, &covered), two = time_draw(&s, 2, &covered);
        printf(",\"%s_%dtri_ms\":{\"t1\":%.3f,\"t1_min\":%.3f,\"t2\":%.3f,\"t2_min\":%.3f,\"covered\":%d}",
               sizes[k].name, s.mesh.triangle_count, one.median, one.min, two.median, two.min, covered);
        scene_free(&s);
    }
    { /* the 3D head's draw at bench_animate's size */
        scene s;
        vv_image gray;
        if (scene_init(&s, &portrait, 1024, 1024, 38) != 0 || image_create(&gray, 1024, 1024, 1) != VV_OK) {
            printf(",\"error\":\"out of memory\"}\n");
            return 1;
        }
        for (size_t i = 0; i < (size_t)1024 * 1024; i++) gray.data[i] = s.texture.data[3 * i + 1];
        int covered;
        timing app = time_draw_app(&s, &gray, &covered);
        printf(",\"app_1024_%dtri_cpu_ms\":{\"t1\":%.3f,\"t1_min\":%.3f,\"covered\":%d}", s.mesh.triangle_count,
               app.median, app.min, covered);
        image_free(&gray);
        scene_free(&s);
    }
    struct { int w, h; const char *name; } fills[] = {{720, 720, "fill_720_hole20"}, {1920, 1080, "fill_1080p_hole20"}};
    for (int k = 0; k < 2 && !app_only; k++) {
        timing one = time_fill(&portrait, fills[k].w, fills[k].h, 0.2, 1);
        timing two = time_fill(&portrait, fills[k].w, fills[k].h, 0.2, 2);
        printf(",\"%s_ms\":{\"t1\":%.3f,\"t1_min\":%.3f,\"t2\":%.3f,\"t2_min\":%.3f}", fills[k].name, one.median,
               one.min, two.median, two.min);
    }
    printf("}\n");
    image_free(&portrait);
    return 0;
}
