/* warp/raster: the z-buffered triangle rasteriser (exact identity, fill rule, bilinear
 * sampling, depth, culling, hostile coordinates, thread determinism) and push-pull hole
 * filling, each against values computed here independently (double-precision
 * barycentric inside tests and depths, float bilinear sampling). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "img/image.h"
#include "test.h"
#include "warp/raster.h"

static float rng_unit(void) { return (float)(test_rng() & 0xffff) / 65536.0f; }

static void fill_noise(vv_image *im) {
    size_t n = (size_t)im->width * im->height * 3;
    for (size_t i = 0; i < n; i++) im->data[i] = (uint8_t)(test_rng() & 255);
}

/* A render target with its own buffers. */
typedef struct canvas {
    vv_image color;
    float *depth;
    uint8_t *coverage, *layer;
    raster_target target;
} canvas;

static void canvas_init(canvas *c, int w, int h) {
    image_create(&c->color, w, h, 3);
    c->depth = malloc((size_t)w * h * sizeof(float));
    c->coverage = malloc((size_t)w * h);
    c->layer = malloc((size_t)w * h);
    c->target = (raster_target){.color = &c->color, .depth = c->depth, .coverage = c->coverage, .layer = c->layer};
}

static void canvas_clear(canvas *c) {
    size_t n = (size_t)c->color.width * c->color.height;
    memset(c->color.data, 0, n * 3);
    for (size_t i = 0; i < n; i++) c->depth[i] = -INFINITY;
    memset(c->coverage, 0, n);
    memset(c->layer, 0, n);
}

static void canvas_free(canvas *c) {
    image_free(&c->color);
    free(c->depth);
    free(c->coverage);
    free(c->layer);
}

/* A grid mesh over the lines xs x ys (texcoords), diagonals alternating per cell, every
 * triangle with a positive signed area (front facing).  Positions are filled by caller. */
typedef struct grid_mesh {
    float (*position)[3];
    float (*texcoord)[2];
    int (*triangles)[3];
    int vertex_count, triangle_count, nx, ny;
} grid_mesh;

static void grid_init(grid_mesh *g, const float *xs, int nx, const float *ys, int ny) {
    g->nx = nx;
    g->ny = ny;
    g->vertex_count = nx * ny;
    g->triangle_count = 2 * (nx - 1) * (ny - 1);
    g->position = malloc((size_t)g->vertex_count * sizeof *g->position);
    g->texcoord = malloc((size_t)g->vertex_count * sizeof *g->texcoord);
    g->triangles = malloc((size_t)g->triangle_count * sizeof *g->triangles);
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            g->texcoord[j * nx + i][0] = xs[i];
            g->texcoord[j * nx + i][1] = ys[j];
            g->position[j * nx + i][0] = xs[i];
            g->position[j * nx + i][1] = ys[j];
            g->position[j * nx + i][2] = 0;
        }
    int t = 0;
    for (int j = 0; j + 1 < ny; j++)
        for (int i = 0; i + 1 < nx; i++) {
            int a = j * nx + i, b = a + 1, c = a + nx + 1, d = a + nx;
            if ((i + j) & 1) {
                g->triangles[t][0] = a; g->triangles[t][1] = b; g->triangles[t][2] = c; t++;
                g->triangles[t][0] = a; g->triangles[t][1] = c; g->triangles[t][2] = d; t++;
            } else {
                g->triangles[t][0] = a; g->triangles[t][1] = b; g->triangles[t][2] = d; t++;
                g->triangles[t][0] = b; g->triangles[t][1] = c; g->triangles[t][2] = d; t++;
            }
        }
}

static void grid_free(grid_mesh *g) {
    free(g->position);
    free(g->texcoord);
    free(g->triangles);
}

static raster_mesh grid_as_mesh(const grid_mesh *g, const uint8_t *layers) {
    return (raster_mesh){(const float(*)[3])g->position, (const float(*)[2])g->texcoord,
                         (const int(*)[3])g->triangles, g->vertex_count, g->triangle_count, layers, NULL, NULL};
}

/* Signed distance-like edge value of p against a->b (positive: inside a positive
 * triangle), double precision. */
static double edge_value(const float *a, const float *b, double px, double py) {
    return ((double)b[0] - a[0]) * (py - a[1]) - ((double)b[1] - a[1]) * (px - a[0]);
}

/* Inside test of the triangle (any winding) with a margin (pixels); with the barycentric
 * weights of p. */
static bool inside_triangle(const float *a, const float *b, const float *c, double px, double py, double margin,
                            double w[3]) {
    double area = edge_value(a, b, c[0], c[1]);
    if (area == 0) return false;
    double e0 = edge_value(b, c, px, py) / area, e1 = edge_value(c, a, px, py) / area, e2 = edge_value(a, b, px, py) / area;
    /* as distances: barycentric times the opposite edge's height */
    double l0 = hypot((double)c[0] - b[0], (double)c[1] - b[1]), l1 = hypot((double)a[0] - c[0], (double)a[1] - c[1]),
           l2 = hypot((double)b[0] - a[0], (double)b[1] - a[1]);
    double d0 = e0 * fabs(area) / l0, d1 = e1 * fabs(area) / l1, d2 = e2 * fabs(area) / l2;
    if (w) { w[0] = e0; w[1] = e1; w[2] = e2; }
    return d0 > margin && d1 > margin && d2 > margin;
}

/* Reference bilinear sample (float, clamp to edge), rounded. */
static int reference_bilinear(const vv_image *im, double x, double y, int k) {
    x = x < 0 ? 0 : x > im->width - 1 ? im->width - 1 : x;
    y = y < 0 ? 0 : y > im->height - 1 ? im->height - 1 : y;
    int x0 = (int)floor(x), y0 = (int)floor(y);
    int x1 = x0 + 1 < im->width ? x0 + 1 : x0, y1 = y0 + 1 < im->height ? y0 + 1 : y0;
    double fx = x - x0, fy = y - y0;
#define PX(xx, yy) ((double)im->data[((size_t)(yy) * im->width + (xx)) * 3 + k])
    double v = (1 - fy) * ((1 - fx) * PX(x0, y0) + fx * PX(x1, y0)) + fy * ((1 - fx) * PX(x0, y1) + fx * PX(x1, y1));
#undef PX
    return (int)floor(v + 0.5);
}

/* ---- 1. Identity: byte-exact, every pixel drawn exactly once. ---- */
static void check_identity(const float *xs, int nx, const float *ys, int ny, float jitter) {
    int w = 61, h = 47;
    vv_image texture;
    image_create(&texture, w, h, 3);
    fill_noise(&texture);
    grid_mesh g;
    grid_init(&g, xs, nx, ys, ny);
    for (int j = 1; j + 1 < ny; j++) /* interior vertices moved: positions stay = texcoords */
        for (int i = 1; i + 1 < nx; i++) {
            float *t = g.texcoord[j * nx + i], *p = g.position[j * nx + i];
            t[0] += jitter * (rng_unit() - 0.5f);
            t[1] += jitter * (rng_unit() - 0.5f);
            p[0] = t[0];
            p[1] = t[1];
        }
    raster_mesh mesh = grid_as_mesh(&g, NULL);
    canvas c;
    canvas_init(&c, w, h);
    canvas_clear(&c);
    raster_params params = {true, 1};
    CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
    CHECK(memcmp(c.color.data, texture.data, (size_t)w * h * 3) == 0);
    int uncovered = 0;
    for (int i = 0; i < w * h; i++) uncovered += c.coverage[i] != 255;
    CHECK_MSG(uncovered == 0, "%d pixels not covered", uncovered);

    /* Draws counted one triangle at a time: the fill rule gives each centre to exactly
     * one triangle, including centres exactly on shared edges and vertices. */
    int *count = calloc((size_t)w * h, sizeof *count);
    for (int t = 0; t < g.triangle_count; t++) {
        canvas_clear(&c);
        raster_mesh one = mesh;
        one.triangles = (const int(*)[3])g.triangles + t;
        one.triangle_count = 1;
        CHECK_OK(raster_draw(&c.target, &texture, &one, &params));
        for (int i = 0; i < w * h; i++) count[i] += c.coverage[i] == 255;
    }
    int wrong = 0, first = -1;
    for (int i = 0; i < w * h; i++)
        if (count[i] != 1) {
            wrong++;
            if (first < 0) first = i;
        }
    CHECK_MSG(wrong == 0, "%d pixels drawn other than once (first at %d,%d: %d times)", wrong, first % w, first / w,
              first >= 0 ? count[first] : 0);
    free(count);
    canvas_free(&c);
    grid_free(&g);
    image_free(&texture);
}

static void test_identity(void) {
    /* The mesh spans [-0.5, w - 0.5) x [-0.5, h - 0.5): every pixel centre once.  Integer
     * grid lines and the diagonals through them put many centres exactly on edges. */
    const float xs[] = {-0.5f, 8, 16, 23.3f, 30, 40, 50.75f, 60.5f};
    const float ys[] = {-0.5f, 6, 12.5f, 20, 33, 46.5f};
    check_identity(xs, 8, ys, 6, 0);
    /* The same with interior vertices moved off the grid (general positions). */
    check_identity(xs, 8, ys, 6, 3.0f);
    /* Unit cells: every vertex is a pixel centre. */
    float fx[62], fy[48];
    fx[0] = -0.5f; fy[0] = -0.5f;
    for (int i = 1; i < 61; i++) fx[i] = (float)i;
    for (int j = 1; j < 47; j++) fy[j] = (float)j;
    fx[61] = 60.5f; fy[47] = 46.5f;
    check_identity(fx, 62, fy, 48, 0);
}

/* ---- 1b. The fixed-point bilinear formula, exactly, at every pair of 1/256 weights. ----
 * Target pixel (x, y) of a 256x256 target samples the texture at (257 x / 256, 257 y / 256):
 * texel (x, y) with weights wx = x, wy = y (in 1/256), all 65536 pairs, exact in the
 * planes.  The colour and both kinds of extra (an RGB texture under other texcoords, a
 * gray one) must give the documented integer formula byte for byte:
 *   top = a 256 + (b - a) wx, bottom = c 256 + (d - c) wx,
 *   value = (top 256 + (bottom - top) wy + 32768) >> 16
 * (what the vector paths must reproduce; they are not checked against floats here). */
static int formula_bilinear(const uint8_t *data, int width, int channels, int x, int y, int wx, int wy, int k) {
    const uint8_t *p = data + ((size_t)y * width + x) * channels + k, *q = p + (size_t)width * channels;
    int top = p[0] * 256 + (p[channels] - p[0]) * wx, bottom = q[0] * 256 + (q[channels] - q[0]) * wx;
    return (top * 256 + (bottom - top) * wy + 32768) >> 16;
}

/* The weight tests' images: a noise texture, its twin and a gray extra (tw x th), and the
 * extras' outputs (n x n). */
static void weight_images(int tw, int th, int n, vv_image *texture, vv_image *twin, vv_image *gray, vv_image *twin_out,
                          vv_image *gray_out) {
    image_create(texture, tw, th, 3);
    image_create(twin, tw, th, 3);
    image_create(gray, tw, th, 1);
    fill_noise(texture);
    fill_noise(twin);
    for (int i = 0; i < tw * th; i++) gray->data[i] = (uint8_t)(test_rng() & 255);
    image_create(twin_out, n, n, 3);
    image_create(gray_out, n, n, 1);
}

static void weight_images_free(vv_image *texture, vv_image *twin, vv_image *gray, vv_image *twin_out, vv_image *gray_out) {
    image_free(texture);
    image_free(twin);
    image_free(gray);
    image_free(twin_out);
    image_free(gray_out);
}

/* A quad over the whole n x n canvas, its texcoords and the twin's (twin_texcoord) given,
 * drawn with the twin and gray extras into c (initialised and cleared here; `nearer`: the
 * canvas's depth set before the draw). */
static void weight_draw(canvas *c, int n, const float (*position)[3], const float (*texcoord)[2], const float (*twin_texcoord)[2],
                        const vv_image *texture, vv_image *twin, vv_image *gray, vv_image *twin_out, vv_image *gray_out,
                        bool (*nearer)(int i, int n)) {
    const int triangles[2][3] = {{0, 1, 2}, {0, 2, 3}};
    raster_mesh mesh = {position, texcoord, triangles, 4, 2, NULL, NULL, NULL};
    raster_extra extras[2] = {{twin_texcoord, NULL, twin, twin_out, 0}, {NULL, NULL, gray, gray_out, 0}};
    canvas_init(c, n, n);
    canvas_clear(c);
    for (int i = 0; nearer && i < n * n; i++)
        if (nearer(i, n)) c->depth[i] = 2; /* nearer than the quad: kept */
    c->target.extras = extras;
    c->target.extra_count = 2;
    CHECK_OK(raster_draw(&c->target, texture, &mesh, NULL));
    c->target.extras = NULL; /* this frame's, gone with it */
    c->target.extra_count = 0;
}

static void test_all_weights(void) {
    int n = 256, tw = 260;
    vv_image texture, twin, gray, twin_out, gray_out;
    weight_images(tw, tw, n, &texture, &twin, &gray, &twin_out, &gray_out);
    /* the twin's texcoords: mirrored in x and moved down by 2, the same weights */
    float position[4][3] = {{-0.5f, -0.5f, 1}, {n - 0.5f, -0.5f, 1}, {n - 0.5f, n - 0.5f, 1}, {-0.5f, n - 0.5f, 1}};
    float texcoord[4][2], mirrored[4][2];
    for (int v = 0; v < 4; v++) {
        texcoord[v][0] = position[v][0] * 257 / 256;
        texcoord[v][1] = position[v][1] * 257 / 256;
        mirrored[v][0] = 257 - texcoord[v][0]; /* texel 256 - x + 1 - 1 ... see below */
        mirrored[v][1] = texcoord[v][1] + 2;
    }
    canvas c;
    weight_draw(&c, n, (const float(*)[3])position, (const float(*)[2])texcoord, (const float(*)[2])mirrored, &texture, &twin, &gray,
                &twin_out, &gray_out, NULL);
    int wrong = 0, wrong_twin = 0, wrong_gray = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            for (int k = 0; k < 3; k++) {
                wrong += c.color.data[(y * n + x) * 3 + k] != formula_bilinear(texture.data, tw, 3, x, y, x, y, k);
                /* u = 257 - 257 x / 256: texel 256 - x - 1 with weight 256 - x (x > 0), texel
                 * 257 with weight 0 at x = 0; v = 257 y / 256 + 2: texel y + 2, weight y */
                int tx = x ? 256 - x : 257, twx = x ? 256 - x : 0;
                wrong_twin += twin_out.data[(y * n + x) * 3 + k] != formula_bilinear(twin.data, tw, 3, tx, y + 2, twx, y, k);
            }
            wrong_gray += gray_out.data[y * n + x] != formula_bilinear(gray.data, tw, 1, x, y, x, y, 0);
        }
    CHECK_MSG(wrong == 0, "all weights: %d colour samples off the integer formula", wrong);
    CHECK_MSG(wrong_twin == 0, "all weights: %d RGB extra samples off the integer formula", wrong_twin);
    CHECK_MSG(wrong_gray == 0, "all weights: %d gray extra samples off the integer formula", wrong_gray);
    canvas_free(&c);
    weight_images_free(&texture, &twin, &gray, &twin_out, &gray_out);
}

/* The same integers where the texture is minified 4x across (u = (4 + 1/256) x: texel
 * 4 x, weight x; v as above): the vector span loops gather the texels there rather than
 * picking them from row loads.  A fifth of the pixels lose the depth test to what is
 * already drawn (scattered, so that blocks of 16 are partly won): their colour and extras
 * stay as they were. */
static bool scattered_nearer(int i, int n) { return (i * 7 + i / n * 3) % 5 == 0; }

static void test_all_weights_minified(void) {
    int n = 256, tw = 4 * 256 + 8, th = 264;
    vv_image texture, twin, gray, twin_out, gray_out;
    weight_images(tw, th, n, &texture, &twin, &gray, &twin_out, &gray_out);
    float position[4][3] = {{-0.5f, -0.5f, 1}, {n - 0.5f, -0.5f, 1}, {n - 0.5f, n - 0.5f, 1}, {-0.5f, n - 0.5f, 1}};
    float texcoord[4][2], shifted[4][2];
    for (int v = 0; v < 4; v++) {
        texcoord[v][0] = position[v][0] * 1025 / 256;
        texcoord[v][1] = position[v][1] * 257 / 256;
        shifted[v][0] = texcoord[v][0] + 2; /* the twin: texel 4 x + 2, y + 2, the same weights */
        shifted[v][1] = texcoord[v][1] + 2;
    }
    canvas c;
    weight_draw(&c, n, (const float(*)[3])position, (const float(*)[2])texcoord, (const float(*)[2])shifted, &texture, &twin, &gray,
                &twin_out, &gray_out, scattered_nearer);
    int wrong = 0, wrong_twin = 0, wrong_gray = 0, kept = 0, lost = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            int i = y * n + x;
            if (scattered_nearer(i, n)) {
                kept++;
                bool untouched = c.depth[i] == 2 && !c.coverage[i] && !gray_out.data[i];
                for (int k = 0; k < 3; k++) untouched = untouched && !c.color.data[i * 3 + k] && !twin_out.data[i * 3 + k];
                lost += !untouched;
                continue;
            }
            for (int k = 0; k < 3; k++) {
                wrong += c.color.data[i * 3 + k] != formula_bilinear(texture.data, tw, 3, 4 * x, y, x, y, k);
                wrong_twin += twin_out.data[i * 3 + k] != formula_bilinear(twin.data, tw, 3, 4 * x + 2, y + 2, x, y, k);
            }
            wrong_gray += gray_out.data[i] != formula_bilinear(gray.data, tw, 1, 4 * x, y, x, y, 0);
        }
    CHECK_MSG(wrong == 0, "minified: %d colour samples off the integer formula", wrong);
    CHECK_MSG(wrong_twin == 0, "minified: %d RGB extra samples off the integer formula", wrong_twin);
    CHECK_MSG(wrong_gray == 0, "minified: %d gray extra samples off the integer formula", wrong_gray);
    CHECK_MSG(kept > 10000 && lost == 0, "minified: %d of %d pixels nearer before the draw were drawn over", lost, kept);
    canvas_free(&c);
    weight_images_free(&texture, &twin, &gray, &twin_out, &gray_out);
}

/* A gray extra under the mesh's own texcoords with a texture of the colour's size (head3d's
 * matte) is sampled by the colour's loop where it can; on spans sheared across several
 * texture rows per 16 pixels it goes pixel by pixel.  Either way it must equal the same
 * gray drawn as the colour (three equal channels). */
static void test_fused_gray_sheared(void) {
    const int n = 96, tw = 220;
    vv_image texture, gray, gray_rgb, gray_out;
    image_create(&texture, tw, tw, 3);
    image_create(&gray, tw, tw, 1);
    image_create(&gray_rgb, tw, tw, 3);
    image_create(&gray_out, n, n, 1);
    fill_noise(&texture);
    for (int i = 0; i < tw * tw; i++) {
        gray.data[i] = (uint8_t)(test_rng() & 255);
        memset(gray_rgb.data + i * 3, gray.data[i], 3);
    }
    int wrong = 0, checked = 0;
    for (int shear = 0; shear < 2; shear++) { /* v rising 0.05 (two rows a block) or 0.7 a pixel */
        float sv = shear ? 0.7f : 0.05f;
        float position[4][3] = {{-0.5f, -0.5f, 1}, {n - 0.5f, -0.5f, 1}, {n - 0.5f, n - 0.5f, 1}, {-0.5f, n - 0.5f, 1}};
        float texcoord[4][2];
        for (int v = 0; v < 4; v++) {
            texcoord[v][0] = position[v][0] * 1.3f + 7.25f;
            texcoord[v][1] = position[v][0] * sv + position[v][1] + 9.5f;
        }
        const int triangles[2][3] = {{0, 1, 2}, {0, 2, 3}};
        raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, triangles, 4, 2, NULL, NULL, NULL};
        raster_extra extra = {NULL, NULL, &gray, &gray_out, 0};
        canvas c, ref;
        canvas_init(&c, n, n);
        canvas_init(&ref, n, n);
        canvas_clear(&c);
        canvas_clear(&ref);
        memset(gray_out.data, 0, (size_t)n * n);
        c.target.extras = &extra;
        c.target.extra_count = 1;
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, NULL));
        CHECK_OK(raster_draw(&ref.target, &gray_rgb, &mesh, NULL));
        for (int i = 0; i < n * n; i++) {
            if (!ref.coverage[i]) continue;
            checked++;
            wrong += gray_out.data[i] != ref.color.data[i * 3];
        }
        canvas_free(&c);
        canvas_free(&ref);
    }
    CHECK_MSG(checked == 2 * n * n && wrong == 0, "sheared gray extra: %d of %d samples differ from the same gray as colour",
              wrong, checked);
    image_free(&texture);
    image_free(&gray);
    image_free(&gray_rgb);
    image_free(&gray_out);
}

/* A frame line round the picture (raster_target.frame; st_art_13's two white bottom rows):
 * a texture with a black top row and two white bottom rows as its frame, drawn 6 pixels
 * lower on a taller target, so that rows above and below it sample beyond the texture's
 * edges (head3d's strip between the rings that move with a rising head and those beyond
 * the picture); and again with texcoords racing down far past the bottom.  Unframed, the
 * rows below repeated the white
 * (a jagged white band along the bottom of a moved portrait); framed, every pixel is the
 * texel clamped to the rows inside the frame, in the colour and in a gray extra of the
 * texture's size.  raster_restore_frame puts the frame back; a frame leaving no picture
 * is refused. */
static void test_frame(void) {
    const int tw = 16, th = 12, w = 24, h = 24, shift = 6, frame[4] = {1, 2, 0, 0};
    const int top = frame[0], bottom = th - 1 - frame[1]; /* the picture's rows */
    vv_image texture, gray, gray_out;
    image_create(&texture, tw, th, 3);
    image_create(&gray, tw, th, 1);
    image_create(&gray_out, w, h, 1);
    for (int y = 0; y < th; y++) /* no test_rng: the tests after this one keep their scenes */
        for (int x = 0; x < tw; x++) {
            int line = y < top ? 0 : y > bottom ? 255 : -1;
            for (int k = 0; k < 3; k++) texture.data[(y * tw + x) * 3 + k] = (uint8_t)(line >= 0 ? line : 20 + (x * 37 + y * 53 + k * 71) % 200);
            gray.data[y * tw + x] = (uint8_t)(line >= 0 ? line : 30 + (x * 29 + y * 17) % 190);
        }
    for (int steep = 0; steep < 2; steep++) {
        /* pixel (x, y) samples texel (x, y - shift); steep: v from about 2e4 on row 0 to 1e6 */
        float position[4][3] = {{-0.5f, -0.5f, 1}, {tw - 0.5f, -0.5f, 1}, {tw - 0.5f, h - 0.5f, 1}, {-0.5f, h - 0.5f, 1}};
        float texcoord[4][2];
        for (int v = 0; v < 4; v++) {
            texcoord[v][0] = position[v][0];
            texcoord[v][1] = steep && v >= 2 ? 1e6f : position[v][1] - shift;
        }
        const int triangles[2][3] = {{0, 1, 2}, {0, 2, 3}};
        raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, triangles, 4, 2, NULL, NULL, NULL};
        raster_extra matte = {NULL, NULL, &gray, &gray_out, 0};
        raster_params params = {false, 2};
        canvas c;
        canvas_init(&c, w, h);
        canvas_clear(&c);
        c.target.extras = &matte;
        c.target.extra_count = 1;
        memcpy(c.target.frame, frame, sizeof frame);
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        int drawn = 0, wrong = 0, wrong_gray = 0, white = 0, beyond = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < tw; x++) {
                if (!c.coverage[y * w + x]) continue;
                drawn++;
                int v = steep ? th : y - shift, row = v < top ? top : v > bottom ? bottom : v;
                const uint8_t *p = c.color.data + (size_t)(y * w + x) * 3;
                beyond += v < 0 || v > th - 1;
                white += p[0] == 255 && p[1] == 255 && p[2] == 255;
                wrong += memcmp(p, texture.data + (size_t)(row * tw + x) * 3, 3) != 0;
                wrong_gray += gray_out.data[y * w + x] != gray.data[row * tw + x];
            }
        CHECK_MSG(drawn == tw * h && wrong == 0 && wrong_gray == 0 && white == 0,
                  "frame (%s): %d drawn, %d colours and %d gray samples off the picture's rows inside the frame, %d white",
                  steep ? "steep" : "shifted", drawn, wrong, wrong_gray, white);
        CHECK_MSG(beyond == (steep ? tw * h : 12 * tw), "%d pixels beyond the texture's edges", beyond);
        canvas_free(&c);
    }
    /* the frame back in place, nothing else touched */
    vv_image out;
    image_create(&out, tw, th, 3);
    memset(out.data, 7, (size_t)tw * th * 3);
    raster_restore_frame(&out, &texture, frame);
    int wrong = 0;
    for (int y = 0; y < th; y++)
        for (int i = 0; i < tw * 3; i++)
            wrong += out.data[y * tw * 3 + i] != (y < top || y > bottom ? texture.data[y * tw * 3 + i] : 7);
    CHECK_MSG(wrong == 0, "raster_restore_frame: %d bytes wrong", wrong);
    /* refused: no picture left, a negative side */
    canvas c;
    canvas_init(&c, w, h);
    canvas_clear(&c);
    float position[3][3] = {{0, 0, 1}, {8, 0, 1}, {0, 8, 1}}, texcoord[3][2] = {{0, 0}, {8, 0}, {0, 8}};
    const int triangle[1][3] = {{0, 1, 2}};
    raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, triangle, 3, 1, NULL, NULL, NULL};
    const int no_picture[4] = {6, 6, 0, 0}, negative[4] = {0, 0, -1, 0};
    memcpy(c.target.frame, no_picture, sizeof no_picture);
    CHECK(raster_draw(&c.target, &texture, &mesh, NULL) == VV_ERR_INVALID_ARGUMENT);
    memcpy(c.target.frame, negative, sizeof negative);
    CHECK(raster_draw(&c.target, &texture, &mesh, NULL) == VV_ERR_INVALID_ARGUMENT);
    canvas_free(&c);
    image_free(&out);
    image_free(&gray);
    image_free(&gray_out);
    image_free(&texture);
}

/* A gray extra with outside_keep (head3d's matte): beyond the texture's edge by more than
 * half a texel, a sample keeps the clamped edge value only where that is at least
 * outside_keep, else 0; inside, the plain clamped sample.  Both sampling paths: fixed
 * point, and floating point for texcoords past its range. */
static void test_extra_outside(void) {
    const int n = 32, tw = 16, offset = 8;
    vv_image texture, gray, ref_out, out;
    image_create(&texture, tw, tw, 3);
    image_create(&gray, tw, tw, 1);
    fill_noise(&texture);
    for (int y = 0; y < tw; y++)
        for (int x = 0; x < tw; x++) /* rows over columns at the corners */
            gray.data[y * tw + x] = y == 0 ? 100 : y == tw - 1 ? 255 : x == 0 ? 40 : x == tw - 1 ? 250 : 180;
    image_create(&ref_out, n, n, 1);
    image_create(&out, n, n, 1);
    for (int far = 0; far < 2; far++) {
        /* pixel (x, y) samples texel (x - offset, y - offset); far: u = -1e6 + 60000 (x + 0.5),
         * a gradient that takes a span's end past the fixed-point range (floating point) */
        float position[4][3] = {{-0.5f, -0.5f, 1}, {n - 0.5f, -0.5f, 1}, {n - 0.5f, n - 0.5f, 1}, {-0.5f, n - 0.5f, 1}};
        float texcoord[4][2];
        for (int v = 0; v < 4; v++)
            for (int k = 0; k < 2; k++) texcoord[v][k] = position[v][k] - offset;
        for (int v = 0; far && v < 4; v++) texcoord[v][0] = -1e6f + 60000 * (position[v][0] + 0.5f);
        const int triangles[2][3] = {{0, 1, 2}, {0, 2, 3}};
        raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, triangles, 4, 2, NULL, NULL, NULL};
        raster_extra plain = {NULL, NULL, &gray, &ref_out, 0}, keep = {NULL, NULL, &gray, &out, 250};
        canvas c;
        canvas_init(&c, n, n);
        canvas_clear(&c);
        memset(ref_out.data, 77, (size_t)n * n);
        memset(out.data, 77, (size_t)n * n);
        c.target.extras = &plain;
        c.target.extra_count = 1;
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, NULL));
        canvas_clear(&c);
        c.target.extras = &keep;
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, NULL));
        int wrong = 0, zeroed = 0, kept = 0, drawn = 0;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                if (!c.coverage[y * n + x]) continue;
                drawn++;
                double u = far ? -1e6 + 60000 * (x + 0.5) : x - offset, v = y - offset;
                bool beyond = u < -0.5 || v < -0.5 || u > tw - 0.5 || v > tw - 0.5;
                int clamped = ref_out.data[y * n + x], want = beyond && clamped < 250 ? 0 : clamped;
                wrong += out.data[y * n + x] != want;
                zeroed += beyond && want == 0;
                kept += beyond && want != 0;
            }
        CHECK_MSG(wrong == 0, "outside_keep (%s): %d samples off", far ? "floating point" : "fixed point", wrong);
        if (!far) {
            /* beyond the top edge (100) and the left (40): 0; the bottom (255), the right (250): kept */
            CHECK_MSG(ref_out.data[3 * n + 12] == 100 && out.data[3 * n + 12] == 0, "above the top edge: %d, clamped %d",
                      out.data[3 * n + 12], ref_out.data[3 * n + 12]);
            CHECK_MSG(out.data[12 * n + 2] == 0, "left of the left edge: %d", out.data[12 * n + 2]);
            CHECK_MSG(out.data[28 * n + 12] == 255 && out.data[12 * n + 28] == 250, "below / right: %d / %d",
                      out.data[28 * n + 12], out.data[12 * n + 28]);
            CHECK_MSG(out.data[(offset + 1) * n + offset + 1] == 180, "inside: %d", out.data[(offset + 1) * n + offset + 1]);
            CHECK_MSG(zeroed > 100 && kept > 100, "cases: %d zeroed, %d kept", zeroed, kept);
        } else {
            CHECK_MSG(drawn == n * n && zeroed > n * n / 4 && kept > n * n / 4, "steep: %d drawn, %d zeroed, %d kept", drawn,
                      zeroed, kept);
        }
        canvas_free(&c);
    }
    image_free(&texture);
    image_free(&gray);
    image_free(&ref_out);
    image_free(&out);
}

/* ---- 2. Fractional translation = bilinear interpolation. ---- */
static void check_translation(float ox, float oy, int tolerance) {
    int w = 50, h = 40;
    vv_image texture;
    image_create(&texture, w, h, 3);
    fill_noise(&texture);
    const float xs[] = {-0.5f, 10, 17.5f, 31, 42, 49.5f}, ys[] = {-0.5f, 9, 20.25f, 30, 39.5f};
    grid_mesh g;
    grid_init(&g, xs, 6, ys, 5);
    for (int v = 0; v < g.vertex_count; v++) {
        g.position[v][0] = g.texcoord[v][0] + ox;
        g.position[v][1] = g.texcoord[v][1] + oy;
    }
    raster_mesh mesh = grid_as_mesh(&g, NULL);
    canvas c;
    canvas_init(&c, w, h);
    canvas_clear(&c);
    raster_params params = {true, 2};
    CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
    int worst = 0, coverage_wrong = 0, samples = 0;
    double total = 0, total_abs = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            /* covered: the centre inside [-0.5 + o, w - 0.5 + o) (top-left: left / top edges
             * included, right / bottom not) */
            double tx = x - ox, ty = y - oy;
            bool expect = tx >= -0.5 && tx < w - 0.5 && ty >= -0.5 && ty < h - 0.5;
            bool covered = c.coverage[y * w + x] == 255;
            coverage_wrong += expect != covered;
            if (!covered) continue;
            for (int k = 0; k < 3; k++) {
                int d = c.color.data[(y * w + x) * 3 + k] - reference_bilinear(&texture, tx, ty, k);
                if (abs(d) > worst) worst = abs(d);
                total += d;
                total_abs += abs(d);
                samples++;
            }
        }
    CHECK_MSG(coverage_wrong == 0, "offset (%g, %g): %d pixels with the wrong coverage", ox, oy, coverage_wrong);
    CHECK_MSG(worst <= tolerance, "offset (%g, %g): worst difference %d", ox, oy, worst);
    /* no bias (e.g. from truncated weights) */
    CHECK_MSG(fabs(total / samples) < 0.05, "offset (%g, %g): mean difference %.3f", ox, oy, total / samples);
    canvas_free(&c);
    grid_free(&g);
    image_free(&texture);
}

/* Magnifies the texture's corner region [u0, u1] x [v0, v1] onto a 30x30 target (a
 * 2x2 grid): bilinear within 1 level of the reference, texels past the edge clamped, no
 * read outside the texture (AddressSanitizer watches the last texel). */
static void check_magnified(const vv_image *texture, float u0, float u1, float v0, float v1) {
    int n = 30;
    const float xs[] = {-0.5f, 14.5f, n - 0.5f};
    grid_mesh g;
    grid_init(&g, xs, 3, xs, 3);
    for (int v = 0; v < g.vertex_count; v++) {
        float sx = (g.position[v][0] + 0.5f) / n, sy = (g.position[v][1] + 0.5f) / n;
        g.texcoord[v][0] = u0 + sx * (u1 - u0);
        g.texcoord[v][1] = v0 + sy * (v1 - v0);
    }
    raster_mesh mesh = grid_as_mesh(&g, NULL);
    canvas c;
    canvas_init(&c, n, n);
    canvas_clear(&c);
    raster_params params = {true, 1};
    CHECK_OK(raster_draw(&c.target, texture, &mesh, &params));
    int worst = 0, uncovered = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            uncovered += c.coverage[y * n + x] != 255;
            double u = u0 + (x + 0.5) / n * (u1 - u0), v = v0 + (y + 0.5) / n * (v1 - v0);
            for (int k = 0; k < 3; k++) {
                int d = abs(c.color.data[(y * n + x) * 3 + k] - reference_bilinear(texture, u, v, k));
                if (d > worst) worst = d;
            }
        }
    CHECK(uncovered == 0);
    CHECK_MSG(worst <= 1, "corner [%g, %g] x [%g, %g]: worst difference %d", u0, u1, v0, v1, worst);
    canvas_free(&c);
    grid_free(&g);
}

static void test_texture_edges(void) {
    vv_image texture;
    image_create(&texture, 23, 17, 3);
    fill_noise(&texture);
    int w = texture.width, h = texture.height;
    check_magnified(&texture, w - 3.0f, w - 2.01f, h - 3.0f, h - 2.0f); /* inside, up to the last row */
    check_magnified(&texture, w - 3.0f, w - 2.0f, h - 3.0f, h - 2.01f); /* inside, up to the last column */
    check_magnified(&texture, w - 3.0f, w - 2.0f, h - 3.0f, h - 2.0f);   /* the last cell's texels */
    check_magnified(&texture, w - 2.5f, w + 0.5f, h - 2.5f, h + 0.5f); /* past the corner: clamped */
    check_magnified(&texture, -1.5f, 1.5f, -2.0f, 1.0f);                 /* the first texel */
    check_magnified(&texture, -40, w + 40.0f, 3, 4);                    /* stretched past both sides */
    image_free(&texture);
    /* 1x1 and 2x2 textures */
    for (int size = 1; size <= 2; size++) {
        image_create(&texture, size, size, 3);
        fill_noise(&texture);
        check_magnified(&texture, -1, size + 1.0f, -1, size + 1.0f);
        image_free(&texture);
    }
}

static void test_translation(void) {
    check_translation(0.5f, 0.25f, 1);
    check_translation(-0.75f, 0.5f, 1);
    /* Not on the 1/256 grid: weights rounded to 1/256 */
    check_translation(0.3f, -0.7f, 1);
    check_translation(0.4f, -0.4321f, 1);
}

/* ---- 3. Depth test and layer map. ---- */
static void test_depth(void) {
    int w = 40, h = 30;
    vv_image texture;
    image_create(&texture, 20, 10, 3);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++) {
            uint8_t *p = texture.data + (y * 20 + x) * 3;
            p[0] = x < 10 ? 255 : 0;
            p[2] = x < 10 ? 0 : 255;
        }
    /* A (red, z 1, tag 1) and B (blue, z 2, tag 2), overlapping; B's z slopes across. */
    const float position[6][3] = {{2, 2, 1}, {30, 4, 1}, {6, 27, 1}, {12, 3, 1.5f}, {38, 20, 2.5f}, {10, 28, 2}};
    const float texcoord[6][2] = {{2, 2}, {7, 2}, {2, 7}, {12, 2}, {17, 2}, {12, 7}};
    const int triangles[2][3] = {{0, 1, 2}, {3, 4, 5}};
    const int reversed[2][3] = {{3, 4, 5}, {0, 1, 2}};
    const uint8_t tags[2] = {1, 2}, tags_reversed[2] = {2, 1};
    canvas c;
    canvas_init(&c, w, h);
    for (int order = 0; order < 2; order++) {
        canvas_clear(&c);
        raster_mesh mesh = {position, texcoord, order ? reversed : triangles, 6, 2, order ? tags_reversed : tags, NULL, NULL};
        raster_params params = {true, 1};
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        int wrong = 0, overlap = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double wa[3], wb[3];
                bool in_a = inside_triangle(position[0], position[1], position[2], x, y, 1e-3, wa);
                bool in_b = inside_triangle(position[3], position[4], position[5], x, y, 1e-3, wb);
                bool near_a = inside_triangle(position[0], position[1], position[2], x, y, -1e-3, NULL);
                bool near_b = inside_triangle(position[3], position[4], position[5], x, y, -1e-3, NULL);
                if ((in_a && !near_a) || (in_b && !near_b) || (!in_a && near_a) || (!in_b && near_b)) continue;
                int i = y * w + x;
                const uint8_t *p = c.color.data + i * 3;
                if (in_b) { /* B is nearer wherever both cover */
                    double zb = wb[0] * position[3][2] + wb[1] * position[4][2] + wb[2] * position[5][2];
                    overlap += in_a;
                    wrong += c.layer[i] != 2 || p[2] != 255 || p[0] != 0 || fabs(c.depth[i] - zb) > 1e-4;
                } else if (in_a) {
                    wrong += c.layer[i] != 1 || p[0] != 255 || p[2] != 0 || c.depth[i] != 1.0f;
                } else {
                    wrong += c.coverage[i] != 0 || c.layer[i] != 0 || !isinf(c.depth[i]);
                }
            }
        CHECK(overlap > 50);
        CHECK_MSG(wrong == 0, "draw order %d: %d pixels wrong", order, wrong);
    }
    /* Equal depths: the first triangle drawn keeps the pixel. */
    const float flat[6][3] = {{2, 2, 1}, {30, 4, 1}, {6, 27, 1}, {12, 3, 1}, {38, 20, 1}, {10, 28, 1}};
    for (int order = 0; order < 2; order++) {
        canvas_clear(&c);
        raster_mesh mesh = {flat, texcoord, order ? reversed : triangles, 6, 2, order ? tags_reversed : tags, NULL, NULL};
        raster_params params = {true, 1};
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        int wrong = 0, overlap = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                bool in_a = inside_triangle(flat[0], flat[1], flat[2], x, y, 1e-3, NULL);
                bool in_b = inside_triangle(flat[3], flat[4], flat[5], x, y, 1e-3, NULL);
                if (!in_a || !in_b) continue;
                overlap++;
                wrong += c.layer[y * w + x] != (order ? 2 : 1);
            }
        CHECK(overlap > 50);
        CHECK_MSG(wrong == 0, "equal depths, order %d: %d pixels not the first triangle's", order, wrong);
    }
    canvas_free(&c);
    image_free(&texture);
}

/* ---- 4. Back-face culling. ---- */
static void test_culling(void) {
    int w = 32, h = 32;
    vv_image texture;
    image_create(&texture, 8, 8, 3);
    memset(texture.data, 200, 8 * 8 * 3);
    const float position[3][3] = {{3, 4, 0}, {28, 9, 0}, {8, 29, 0}}; /* positive signed area */
    const float texcoord[3][2] = {{0, 0}, {7, 0}, {0, 7}};
    const int front[1][3] = {{0, 1, 2}}, back[1][3] = {{0, 2, 1}};
    CHECK(edge_value(position[0], position[1], position[2][0], position[2][1]) > 0);
    canvas c, ref;
    canvas_init(&c, w, h);
    canvas_init(&ref, w, h);
    int drawn[4];
    for (int run = 0; run < 4; run++) {
        bool cull = run & 1, mirrored = run & 2;
        canvas_clear(&c);
        raster_mesh mesh = {position, texcoord, mirrored ? back : front, 3, 1, NULL, NULL, NULL};
        raster_params params = {cull, 1};
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        drawn[run] = 0;
        for (int i = 0; i < w * h; i++) drawn[run] += c.coverage[i] == 255;
        if (run == 0) {
            canvas_clear(&ref);
            CHECK_OK(raster_draw(&ref.target, &texture, &mesh, &params));
        } else if (drawn[run]) { /* the same pixels whichever the winding */
            CHECK(memcmp(c.coverage, ref.coverage, (size_t)w * h) == 0);
        }
    }
    CHECK(drawn[0] > 200);
    CHECK(drawn[1] == drawn[0]);  /* front, culling on */
    CHECK(drawn[2] == drawn[0]);  /* mirrored, culling off */
    CHECK(drawn[3] == 0);         /* mirrored, culling on */
    canvas_free(&c);
    canvas_free(&ref);
    image_free(&texture);
}

/* ---- 5. A hemisphere turned about the vertical axis. ---- */
typedef struct sphere_scene {
    float (*position)[3];
    float (*texcoord)[2];
    int (*triangles)[3];
    uint8_t *tags; /* 1: faces the camera (3D normal), 2: faces away */
    int vertex_count, triangle_count;
} sphere_scene;

/* Longitudes -90..90 and latitudes -90..90 in 15 degree steps, radius r at (cx, cy),
 * turned by `yaw` degrees about the vertical axis through its centre. */
static void sphere_build(sphere_scene *s, float cx, float cy, float r, float yaw) {
    enum { N = 13 };
    s->vertex_count = N * N;
    s->triangle_count = 2 * (N - 1) * (N - 1);
    s->position = malloc(sizeof(float[3]) * s->vertex_count);
    s->texcoord = malloc(sizeof(float[2]) * s->vertex_count);
    s->triangles = malloc(sizeof(int[3]) * s->triangle_count);
    s->tags = malloc((size_t)s->triangle_count);
    double a = yaw * M_PI / 180;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            double lon = (-90.0 + 15.0 * i) * M_PI / 180, lat = (-90.0 + 15.0 * j) * M_PI / 180;
            double x = r * cos(lat) * sin(lon), y = r * sin(lat), z = r * cos(lat) * cos(lon);
            double xr = x * cos(a) + z * sin(a), zr = -x * sin(a) + z * cos(a);
            float *p = s->position[j * N + i];
            p[0] = (float)(cx + xr);
            p[1] = (float)(cy + y);
            p[2] = (float)zr;
            s->texcoord[j * N + i][0] = 2.0f + 5.0f * i;
            s->texcoord[j * N + i][1] = 2.0f + 5.0f * j;
        }
    int t = 0;
    for (int j = 0; j + 1 < N; j++)
        for (int i = 0; i + 1 < N; i++) {
            int q[4] = {j * N + i, j * N + i + 1, (j + 1) * N + i + 1, (j + 1) * N + i};
            const int split[2][3] = {{0, 1, 2}, {0, 2, 3}};
            for (int k = 0; k < 2; k++, t++)
                for (int e = 0; e < 3; e++) s->triangles[t][e] = q[split[k][e]];
        }
    for (t = 0; t < s->triangle_count; t++) {
        const float *p0 = s->position[s->triangles[t][0]], *p1 = s->position[s->triangles[t][1]],
                    *p2 = s->position[s->triangles[t][2]];
        /* 3D normal's z (x right, y down, z to the viewer: a right-handed frame) */
        double nz = ((double)p1[0] - p0[0]) * ((double)p2[1] - p0[1]) - ((double)p1[1] - p0[1]) * ((double)p2[0] - p0[0]);
        s->tags[t] = nz > 0 ? 1 : 2;
    }
}

static void sphere_free(sphere_scene *s) {
    free(s->position);
    free(s->texcoord);
    free(s->triangles);
    free(s->tags);
}

static void test_hemisphere(void) {
    int w = 120, h = 110;
    vv_image texture;
    image_create(&texture, 66, 66, 3);
    fill_noise(&texture);
    sphere_scene s;
    sphere_build(&s, 58.3f, 54.6f, 45, 30);
    int back_faces = 0;
    for (int t = 0; t < s.triangle_count; t++) back_faces += s.tags[t] == 2;
    CHECK(back_faces > 20);
    raster_mesh mesh = {(const float(*)[3])s.position, (const float(*)[2])s.texcoord, (const int(*)[3])s.triangles,
                        s.vertex_count, s.triangle_count, s.tags, NULL, NULL};
    canvas c;
    canvas_init(&c, w, h);
    for (int cull = 1; cull >= 0; cull--) {
        canvas_clear(&c);
        raster_params params = {cull, 3};
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        /* Independent reference: per pixel centre, the nearest (largest z) of the
         * triangles containing it, front faces only when culling.  Centres within 1e-3
         * pixel of an edge, or where two surfaces are within 1e-3 in depth, are left out. */
        int wrong = 0, holes = 0, checked = 0, back_drawn = 0, ambiguous = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int i = y * w + x, best = -1;
                double best_z = -INFINITY, second_z = -INFINITY;
                bool near_edge = false;
                for (int t = 0; t < s.triangle_count; t++) {
                    if (cull && s.tags[t] == 2) continue;
                    const float *a = s.position[s.triangles[t][0]], *b = s.position[s.triangles[t][1]],
                                *cc = s.position[s.triangles[t][2]];
                    double bw[3];
                    bool inside = inside_triangle(a, b, cc, x, y, 1e-3, bw);
                    if (inside_triangle(a, b, cc, x, y, -1e-3, NULL) != inside) near_edge = true;
                    if (!inside) continue;
                    double z = bw[0] * a[2] + bw[1] * b[2] + bw[2] * cc[2];
                    if (z > best_z) {
                        second_z = best_z;
                        best_z = z;
                        best = t;
                    } else if (z > second_z) {
                        second_z = z;
                    }
                }
                back_drawn += c.layer[i] == 2;
                if (near_edge || (best >= 0 && best_z - second_z < 1e-3)) {
                    ambiguous++;
                    continue;
                }
                checked++;
                if (best < 0) {
                    wrong += c.coverage[i] != 0;
                } else {
                    holes += c.coverage[i] != 255;
                    wrong += c.layer[i] != s.tags[best] || fabs(c.depth[i] - best_z) > 1e-3;
                }
            }
        CHECK(checked > w * h * 9 / 10);
        CHECK_MSG(holes == 0, "cull %d: %d holes in the visible surface", cull, holes);
        CHECK_MSG(wrong == 0, "cull %d: %d pixels differ from the reference z-buffer", cull, wrong);
        if (cull) CHECK_MSG(back_drawn == 0, "%d back-facing pixels drawn with culling on", back_drawn);
        /* without culling the far side is drawn but hidden: at most the rim's own pixels,
         * where front and back meet at the same depth */
        else CHECK_MSG(back_drawn <= ambiguous, "%d back-facing pixels visible", back_drawn);
    }
    canvas_free(&c);
    sphere_free(&s);
    image_free(&texture);
}

/* ---- 6. Hostile coordinates. ---- */
static void test_hostile(void) {
    int w = 64, h = 64;
    vv_image texture;
    image_create(&texture, 16, 16, 3);
    fill_noise(&texture);
    const float nan = NAN, inf = INFINITY;
    const float position[][3] = {
        {nan, 10, 0}, {20, 10, 0}, {10, 30, 0},            /* NaN x */
        {10, inf, 0}, {40, 10, 0}, {10, 30, 0},            /* inf y */
        {1e30f, 10, 0}, {20, 10, 0}, {10, 30, 0},          /* huge */
        {-1e30f, -1e30f, 0}, {1e30f, -1e30f, 0}, {0, 1e30f, 0},
        {10, 10, 0}, {10, 10, 0}, {10, 10, 0},             /* a point */
        {5, 5, 0}, {20, 20, 0}, {40, 40, 0},               /* collinear */
        {-500, 10, 0}, {-400, 10, 0}, {-450, 60, 0},       /* off screen */
        {10, 100, 0}, {60, 100, 0}, {30, 200, 0},          /* below */
        {-1000, -1000, 0}, {2000, -1000, 0}, {-1000, 2000, 0}, /* over 4x the target */
        {10, 10, nan}, {50, 10, 0}, {10, 50, 0},           /* NaN depth */
        {10, 10, 0}, {50, 10, 0}, {10, 50, 0},             /* NaN / huge texcoords (below) */
        {10, 10, 0}, {50, 10, 0}, {10, 50, 0},
    };
    float texcoord[36][2];
    for (int v = 0; v < 36; v++) texcoord[v][0] = texcoord[v][1] = 3;
    texcoord[30][0] = nan;
    texcoord[34][1] = 1e30f;
    int triangles[14][3];
    for (int t = 0; t < 12; t++)
        for (int e = 0; e < 3; e++) triangles[t][e] = 3 * t + e;
    /* indices out of range */
    triangles[12][0] = -1; triangles[12][1] = 1; triangles[12][2] = 2;
    triangles[13][0] = 0; triangles[13][1] = 1; triangles[13][2] = 36;
    raster_mesh mesh = {position, (const float(*)[2])texcoord, (const int(*)[3])triangles, 36, 14, NULL, NULL, NULL};
    canvas c;
    canvas_init(&c, w, h);
    for (int cull = 0; cull < 2; cull++) {
        canvas_clear(&c);
        raster_params params = {cull, 2};
        double start = time_now();
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        CHECK(time_now() - start < 1.0);
        int touched = 0;
        for (int i = 0; i < w * h; i++)
            touched += c.coverage[i] != 0 || c.layer[i] != 0 || !isinf(c.depth[i]) || c.color.data[3 * i] != 0;
        CHECK_MSG(touched == 0, "%d pixels touched by hostile triangles", touched);
    }
    /* Controls: a triangle just under 4x the target is drawn (all of it on screen), and a
     * sliver with extreme texcoord gradients draws without trouble. */
    const float big[3][3] = {{-64, -64, 0}, {192, -64, 0}, {-64, 192, 0}};
    const float big_tex[3][2] = {{0, 0}, {15, 0}, {0, 15}};
    const int one[1][3] = {{0, 1, 2}};
    raster_mesh big_mesh = {big, big_tex, one, 3, 1, NULL, NULL, NULL};
    raster_params params = {true, 2};
    canvas_clear(&c);
    CHECK_OK(raster_draw(&c.target, &texture, &big_mesh, &params));
    int drawn = 0;
    for (int i = 0; i < w * h; i++) drawn += c.coverage[i] == 255;
    CHECK(drawn == w * h);
    const float sliver[3][3] = {{2, 2, 0}, {60, 60.001f, 1e6f}, {2.0005f, 2, -1e6f}};
    const float sliver_tex[3][2] = {{0, 0}, {1e5f, -1e5f}, {-1e5f, 1e5f}};
    raster_mesh sliver_mesh = {sliver, sliver_tex, one, 3, 1, NULL, NULL, NULL};
    params.cull_back_faces = false;
    canvas_clear(&c);
    CHECK_OK(raster_draw(&c.target, &texture, &sliver_mesh, &params));
    /* One pixel a row with a depth gradient beyond float range: still drawn. */
    const float needle[3][3] = {{9.6f, -0.5f, -3e38f}, {10.4f, -0.5f, 3e38f}, {10, 63.5f, 0}};
    raster_mesh needle_mesh = {needle, big_tex, one, 3, 1, NULL, NULL, NULL};
    canvas_clear(&c);
    CHECK_OK(raster_draw(&c.target, &texture, &needle_mesh, &params));
    drawn = 0;
    int outside = 0;
    for (int i = 0; i < w * h; i++) {
        drawn += c.coverage[i] == 255 && i % w == 10;
        outside += c.coverage[i] != 0 && i % w != 10;
    }
    CHECK_MSG(drawn >= 50 && outside == 0, "needle: %d drawn on its column, %d off it", drawn, outside);
    /* bad arguments */
    raster_target no_depth = {.color = &c.color};
    CHECK(raster_draw(&no_depth, &texture, &mesh, &params) == VV_ERR_INVALID_ARGUMENT);
    vv_image gray = {16, 16, 1, texture.data};
    CHECK(raster_draw(&c.target, &gray, &mesh, &params) == VV_ERR_INVALID_ARGUMENT);
    raster_mesh empty = {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL};
    CHECK_OK(raster_draw(&c.target, &texture, &empty, &params));
    canvas_free(&c);
    image_free(&texture);
}

/* ---- 7. Thread count does not change a byte. ---- */
static void test_threads(void) {
    int w = 300, h = 211, count = 600;
    vv_image texture;
    image_create(&texture, 97, 83, 3);
    fill_noise(&texture);
    float (*position)[3] = malloc(sizeof(float[3]) * 3 * count);
    float (*texcoord)[2] = malloc(sizeof(float[2]) * 3 * count);
    int (*triangles)[3] = malloc(sizeof(int[3]) * count);
    uint8_t *tags = malloc((size_t)count);
    for (int t = 0; t < count; t++) { /* random overlapping triangles, some partly off screen */
        float cx = rng_unit() * 340 - 20, cy = rng_unit() * 250 - 20, size = 10 + rng_unit() * 90;
        for (int e = 0; e < 3; e++) {
            int v = 3 * t + e;
            position[v][0] = cx + size * (rng_unit() - 0.5f);
            position[v][1] = cy + size * (rng_unit() - 0.5f);
            position[v][2] = (float)(test_rng() % 8); /* ties: the first drawn must win */
            texcoord[v][0] = rng_unit() * 110 - 6;
            texcoord[v][1] = rng_unit() * 95 - 6;
            triangles[t][e] = v;
        }
        tags[t] = (uint8_t)(t & 255);
    }
    raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, (const int(*)[3])triangles,
                        3 * count, count, tags, NULL, NULL};
    canvas a, b;
    canvas_init(&a, w, h);
    canvas_init(&b, w, h);
    for (int cull = 0; cull < 2; cull++) {
        canvas_clear(&a);
        canvas_clear(&b);
        raster_params one = {cull, 1}, four = {cull, 4};
        CHECK_OK(raster_draw(&a.target, &texture, &mesh, &one));
        CHECK_OK(raster_draw(&b.target, &texture, &mesh, &four));
        size_t n = (size_t)w * h;
        CHECK(memcmp(a.color.data, b.color.data, n * 3) == 0);
        CHECK(memcmp(a.depth, b.depth, n * sizeof(float)) == 0);
        CHECK(memcmp(a.coverage, b.coverage, n) == 0);
        CHECK(memcmp(a.layer, b.layer, n) == 0);
        int covered = 0;
        for (size_t i = 0; i < n; i++) covered += a.coverage[i] != 0;
        CHECK(covered > (int)n / 2);
    }
    canvas_free(&a);
    canvas_free(&b);
    free(position);
    free(texcoord);
    free(triangles);
    free(tags);
    image_free(&texture);
}

/* ---- 8. Hole filling. ---- */
/* Extras and depth-only triangles: one pass with two extras (another texture under the
 * same texcoords on some triangles; the same texture under other texcoords on all) gives,
 * wherever a triangle that draws the extra wins, what a pass of its own gives; depth-only
 * triangles win as before but do not draw (the colour keeps an earlier winner's).  Wide spans (over 256 pixels) and
 * texcoords beyond the texture's edges included. */
static void test_extras(void) {
    const int w = 720, h = 160, count = 200;
    vv_image texture, other;
    image_create(&texture, 97, 83, 3);
    image_create(&other, 61, 77, 3);
    fill_noise(&texture);
    fill_noise(&other);
    float (*position)[3] = malloc(sizeof(float[3]) * 3 * count);
    float (*texcoord)[2] = malloc(sizeof(float[2]) * 3 * count);
    float (*texcoord2)[2] = malloc(sizeof(float[2]) * 3 * count);
    int (*triangles)[3] = malloc(sizeof(int[3]) * count);
    uint8_t *tags = malloc((size_t)count);
    bool *some = malloc((size_t)count), *depth_only = malloc((size_t)count), *none = calloc((size_t)count, 1);
    for (int t = 0; t < count; t++) {
        float cx = rng_unit() * 760 - 20, cy = rng_unit() * 200 - 20, size = 10 + rng_unit() * (t % 5 == 0 ? 700 : 90);
        for (int e = 0; e < 3; e++) {
            int v = 3 * t + e;
            position[v][0] = cx + size * (rng_unit() - 0.5f);
            position[v][1] = cy + size * 0.3f * (rng_unit() - 0.5f);
            position[v][2] = (float)(test_rng() % 8);
            texcoord[v][0] = rng_unit() * 110 - 6;
            texcoord[v][1] = rng_unit() * 95 - 6;
            texcoord2[v][0] = rng_unit() * 80 - 6;
            texcoord2[v][1] = rng_unit() * 90 - 6;
            triangles[t][e] = v;
        }
        tags[t] = (uint8_t)t; /* the winner's index */
        some[t] = test_rng() % 3 != 0;
        depth_only[t] = test_rng() % 4 == 0;
    }
    raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, (const int(*)[3])triangles,
                        3 * count, count, tags, depth_only, NULL};
    raster_mesh plain = mesh, moved = mesh;
    plain.depth_only = NULL;
    moved.depth_only = NULL;
    moved.texcoord = (const float(*)[2])texcoord2;
    vv_image out_a, out_b;
    image_create(&out_a, w, h, 3);
    image_create(&out_b, w, h, 3);
    raster_extra extras[2] = {{NULL, some, &other, &out_a, 0}, {(const float(*)[2])texcoord2, NULL, &texture, &out_b, 0}};
    canvas c, ref, ref_a, ref_b;
    canvas_init(&c, w, h);
    canvas_init(&ref, w, h);
    canvas_init(&ref_a, w, h);
    canvas_init(&ref_b, w, h);
    for (int cull = 0; cull < 2; cull++) {
        canvas_clear(&c);
        canvas_clear(&ref);
        canvas_clear(&ref_a);
        canvas_clear(&ref_b);
        memset(out_a.data, 0, (size_t)w * h * 3);
        memset(out_b.data, 0, (size_t)w * h * 3);
        raster_params params = {cull, 2};
        c.target.extras = extras;
        c.target.extra_count = 2;
        CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
        CHECK_OK(raster_draw(&ref.target, &texture, &plain, &params));
        CHECK_OK(raster_draw(&ref_a.target, &other, &plain, &params));
        CHECK_OK(raster_draw(&ref_b.target, &texture, &moved, &params));
        size_t n = (size_t)w * h;
        /* The same winners everywhere; depth-only ones leave the colour as it was. */
        CHECK(memcmp(c.depth, ref.depth, n * sizeof(float)) == 0);
        CHECK(memcmp(c.coverage, ref.coverage, n) == 0);
        CHECK(memcmp(c.layer, ref.layer, n) == 0);
        int colour_bad = 0, a_bad = 0, b_bad = 0, a_checked = 0, b_checked = 0, blank = 0, blank_differs = 0;
        for (size_t i = 0; i < n; i++) {
            if (!c.coverage[i]) continue;
            int t = c.layer[i];
            const uint8_t *col = c.color.data + i * 3, *want = ref.color.data + i * 3;
            if (depth_only[t]) { /* the colour of an earlier winner, or still 0 */
                blank++;
                blank_differs += memcmp(col, want, 3) != 0;
                continue;
            }
            colour_bad += memcmp(col, want, 3) != 0;
            if (some[t]) {
                a_checked++;
                a_bad += memcmp(out_a.data + i * 3, ref_a.color.data + i * 3, 3) != 0;
            }
            b_checked++;
            b_bad += memcmp(out_b.data + i * 3, ref_b.color.data + i * 3, 3) != 0;
        }
        CHECK(colour_bad == 0);
        CHECK(a_bad == 0);
        CHECK(b_bad == 0);
        CHECK(a_checked > (int)n / 4 && b_checked > (int)n / 3 && blank > (int)n / 20);
        CHECK(blank_differs > blank / 2); /* a draw would have written there */
        /* Where no extra-drawing triangle won, the extra is left alone (still 0). */
        int untouched_bad = 0;
        for (size_t i = 0; i < n; i++)
            if (!c.coverage[i]) untouched_bad += out_a.data[i * 3] || out_b.data[i * 3];
        CHECK(untouched_bad == 0);
    }
    /* A backdrop: depth-only winners take its pixel at their place; the others draw as
     * without it. */
    raster_params params = {false, 1};
    vv_image back;
    image_create(&back, w, h, 3);
    fill_noise(&back);
    canvas_clear(&c);
    canvas_clear(&ref);
    c.target.extras = NULL;
    c.target.extra_count = 0;
    c.target.backdrop = &back;
    ref.target.extras = NULL;
    ref.target.extra_count = 0;
    CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
    CHECK_OK(raster_draw(&ref.target, &texture, &mesh, &params));
    int back_bad = 0, back_seen = 0, drawn_bad = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        if (!c.coverage[i]) {
            drawn_bad += c.color.data[i * 3] != 0; /* untouched */
            continue;
        }
        if (depth_only[c.layer[i]]) {
            back_seen++;
            back_bad += memcmp(c.color.data + i * 3, back.data + i * 3, 3) != 0;
        } else {
            drawn_bad += memcmp(c.color.data + i * 3, ref.color.data + i * 3, 3) != 0;
        }
    }
    CHECK(back_bad == 0 && drawn_bad == 0);
    CHECK(back_seen > w * h / 20);
    /* A gray extra (a matte) gives what the same values as RGB give, in its one channel;
     * texcoords beyond the edges included (the clamped paths). */
    {
        vv_image gray, gray3, out_gray, out_gray3;
        image_create(&gray, 61, 77, 1);
        image_create(&gray3, 61, 77, 3);
        for (int i = 0; i < 61 * 77; i++) gray.data[i] = (uint8_t)(test_rng() & 255);
        for (int i = 0; i < 61 * 77; i++) gray3.data[i * 3] = gray3.data[i * 3 + 1] = gray3.data[i * 3 + 2] = gray.data[i];
        image_create(&out_gray, w, h, 1);
        image_create(&out_gray3, w, h, 3);
        raster_extra pair[2] = {{NULL, some, &gray, &out_gray, 0}, {NULL, some, &gray3, &out_gray3, 0}};
        canvas_clear(&c);
        c.target.backdrop = NULL;
        c.target.extras = pair;
        c.target.extra_count = 2;
        CHECK_OK(raster_draw(&c.target, &texture, &plain, &params));
        int gray_bad = 0, gray_checked = 0;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            if (!c.coverage[i] || !some[c.layer[i]]) continue;
            gray_checked++;
            gray_bad += out_gray.data[i] != out_gray3.data[i * 3];
        }
        CHECK(gray_bad == 0 && gray_checked > w * h / 4);
        raster_extra mixed = {NULL, NULL, &gray, &out_gray3, 0}; /* channels differ */
        c.target.extras = &mixed;
        c.target.extra_count = 1;
        CHECK(raster_draw(&c.target, &texture, &plain, &params) == VV_ERR_INVALID_ARGUMENT);
        c.target.extras = NULL;
        c.target.extra_count = 0;
        image_free(&gray);
        image_free(&gray3);
        image_free(&out_gray);
        image_free(&out_gray3);
    }
    /* Bad extras and backdrops are refused. */
    vv_image small;
    image_create(&small, w - 1, h, 3);
    c.target.backdrop = &small;
    CHECK(raster_draw(&c.target, &texture, &mesh, &params) == VV_ERR_INVALID_ARGUMENT);
    c.target.backdrop = NULL;
    raster_extra wrong_size = {NULL, NULL, &texture, &small, 0};
    c.target.extras = &wrong_size;
    c.target.extra_count = 1;
    CHECK(raster_draw(&c.target, &texture, &mesh, &params) == VV_ERR_INVALID_ARGUMENT);
    c.target.extras = extras;
    c.target.extra_count = RASTER_MAX_EXTRAS + 1;
    CHECK(raster_draw(&c.target, &texture, &mesh, &params) == VV_ERR_INVALID_ARGUMENT);
    c.target.extra_count = 0;
    mesh.depth_only = none; /* all drawn: the plain pass */
    canvas_clear(&c);
    canvas_clear(&ref);
    CHECK_OK(raster_draw(&c.target, &texture, &mesh, &params));
    CHECK_OK(raster_draw(&ref.target, &texture, &plain, &params));
    CHECK(memcmp(c.color.data, ref.color.data, (size_t)w * h * 3) == 0);
    image_free(&small);
    image_free(&back);
    canvas_free(&c);
    canvas_free(&ref);
    canvas_free(&ref_a);
    canvas_free(&ref_b);
    image_free(&out_a);
    image_free(&out_b);
    image_free(&texture);
    image_free(&other);
    free(position);
    free(texcoord);
    free(texcoord2);
    free(triangles);
    free(tags);
    free(some);
    free(depth_only);
    free(none);
}

/* One pass for what took two and a clearing loop before: per-triangle culling (the first
 * half culled when facing away, the rest not) gives what two passes give; a clear box is
 * cleared (depth -INFINITY, coverage 0) as if by the caller first, the rest of the buffers
 * left alone; rows_done sees every row exactly once, already final. */
typedef struct rows_seen {
    const vv_image *color;
    vv_image copy;
    int *calls;
} rows_seen;

static void rows_seen_done(void *ctx, int y0, int y1) {
    rows_seen *r = ctx;
    size_t row = (size_t)r->color->width * 3;
    for (int y = y0; y < y1; y++) {
        r->calls[y]++; /* rows of different bands: no two calls share one */
        memcpy(r->copy.data + y * row, r->color->data + y * row, row);
    }
}

static void test_one_pass(void) {
    const int w = 300, h = 170, count = 160;
    vv_image texture;
    image_create(&texture, 90, 70, 3);
    fill_noise(&texture);
    float (*position)[3] = malloc(sizeof(float[3]) * 3 * count);
    float (*texcoord)[2] = malloc(sizeof(float[2]) * 3 * count);
    int (*triangles)[3] = malloc(sizeof(int[3]) * count);
    uint8_t *tags = malloc((size_t)count);
    bool *cull = calloc((size_t)count, 1);
    for (int t = 0; t < count; t++) {
        float cx = rng_unit() * 320 - 10, cy = rng_unit() * 190 - 10, size = 10 + rng_unit() * 80;
        for (int e = 0; e < 3; e++) {
            int v = 3 * t + e;
            position[v][0] = cx + size * (rng_unit() - 0.5f);
            position[v][1] = cy + size * (rng_unit() - 0.5f);
            position[v][2] = (float)(test_rng() % 8);
            texcoord[v][0] = rng_unit() * 88;
            texcoord[v][1] = rng_unit() * 68;
            triangles[t][e] = v;
        }
        tags[t] = (uint8_t)t;
        cull[t] = t < count / 2;
    }
    int half = count / 2, back_faces = 0;
    for (int t = 0; t < count; t++) {
        const float *a = position[3 * t], *b = position[3 * t + 1], *c = position[3 * t + 2];
        back_faces += t < half && (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) < 0;
    }
    CHECK(back_faces > 10); /* culling has something to skip */
    raster_mesh first = {(const float(*)[3])position, (const float(*)[2])texcoord, (const int(*)[3])triangles, 3 * count, half, tags, NULL, NULL};
    raster_mesh second = first;
    second.triangles = (const int(*)[3])(triangles + half);
    second.triangle_count = count - half;
    second.triangle_layer = tags + half;
    raster_mesh all = first;
    all.triangle_count = count;
    all.cull = cull;
    canvas two, one;
    canvas_init(&two, w, h);
    canvas_init(&one, w, h);
    const int box[4] = {-20, 31, 250, 400}; /* clipped to the target */
    for (int threads = 1; threads <= 2; threads++) {
        canvas_clear(&two);
        canvas_clear(&one);
        size_t n = (size_t)w * h;
        for (size_t i = 0; i < n; i++) { /* stale values from an earlier frame */
            two.depth[i] = one.depth[i] = (float)(i % 13) + 100;
            two.coverage[i] = one.coverage[i] = (uint8_t)(i % 7 ? 255 : 0);
        }
        for (int y = 31; y < h; y++)
            for (int x = 0; x <= 250; x++) {
                two.depth[(size_t)y * w + x] = -INFINITY;
                two.coverage[(size_t)y * w + x] = 0;
            }
        raster_params culled = {true, threads}, unculled = {false, threads};
        CHECK_OK(raster_draw(&two.target, &texture, &first, &culled));
        CHECK_OK(raster_draw(&two.target, &texture, &second, &unculled));
        rows_seen seen = {&one.color, {0}, calloc((size_t)h, sizeof(int))};
        image_create(&seen.copy, w, h, 3);
        one.target.clear = true;
        memcpy(one.target.clear_box, box, sizeof box);
        one.target.rows_done = rows_seen_done;
        one.target.rows_ctx = &seen;
        CHECK_OK(raster_draw(&one.target, &texture, &all, &unculled)); /* cull: the array decides */
        CHECK(memcmp(one.depth, two.depth, n * sizeof(float)) == 0);
        CHECK(memcmp(one.coverage, two.coverage, n) == 0);
        CHECK(memcmp(one.color.data, two.color.data, n * 3) == 0);
        int once = 0;
        for (int y = 0; y < h; y++) once += seen.calls[y] == 1;
        CHECK_MSG(once == h, "%d of %d rows seen exactly once", once, h);
        CHECK(memcmp(seen.copy.data, one.color.data, n * 3) == 0); /* final when seen */
        /* nothing to draw: still cleared, still every row */
        raster_mesh none = all;
        none.triangle_count = 0;
        for (size_t i = 0; i < n; i++) one.depth[i] = 5;
        memset(seen.calls, 0, (size_t)h * sizeof(int));
        CHECK_OK(raster_draw(&one.target, &texture, &none, &unculled));
        int cleared = 0, kept = 0;
        once = 0;
        for (int y = 0; y < h; y++) {
            once += seen.calls[y] == 1;
            for (int x = 0; x < w; x++) {
                bool inside = y >= 31 && x <= 250;
                cleared += inside && one.depth[(size_t)y * w + x] == -INFINITY && !one.coverage[(size_t)y * w + x];
                kept += !inside && one.depth[(size_t)y * w + x] == 5;
            }
        }
        CHECK(once == h && cleared == (h - 31) * 251 && kept == w * h - (h - 31) * 251);
        one.target.clear = false;
        one.target.rows_done = NULL;
        image_free(&seen.copy);
        free(seen.calls);
    }
    canvas_free(&two);
    canvas_free(&one);
    image_free(&texture);
    free(position);
    free(texcoord);
    free(triangles);
    free(tags);
    free(cull);
}

static void test_fill_constant(void) {
    int w = 80, h = 60;
    vv_image im;
    image_create(&im, w, h, 3);
    uint8_t *known = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        bool hole = (x >= 17 && x < 58 && y >= 9 && y < 40) || (x >= 60 && x < 64 && y >= 50 && y < 52);
        known[i] = !hole;
        uint8_t *p = im.data + i * 3;
        if (hole) { p[0] = (uint8_t)test_rng(); p[1] = (uint8_t)test_rng(); p[2] = (uint8_t)test_rng(); }
        else { p[0] = 10; p[1] = 200; p[2] = 31; }
    }
    CHECK_OK(image_fill_holes(&im, known, 2));
    int wrong = 0;
    for (int i = 0; i < w * h; i++) wrong += im.data[i * 3] != 10 || im.data[i * 3 + 1] != 200 || im.data[i * 3 + 2] != 31;
    CHECK_MSG(wrong == 0, "%d pixels not the surround's colour", wrong);
    free(known);
    image_free(&im);
}

/* A large hole in a white wall with a dark stripe some way off (a person against a wall
 * beside a door frame): the fill is the wall's white, the hole's own border, not tinted by
 * the stripe.  The plain push-pull took the hole's middle from the mean of the coarse cell
 * above it, stripe included (a grey ghost of the person on the plate). */
static void test_fill_far_stripe(void) {
    int w = 256, h = 256;
    vv_image im;
    image_create(&im, w, h, 3);
    uint8_t *known = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        known[i] = !(x >= 70 && x < 230 && y >= 40);
        memset(im.data + i * 3, x < 30 ? 110 : 250, 3);
        if (!known[i]) memset(im.data + i * 3, 0, 3);
    }
    CHECK_OK(image_fill_holes(&im, known, 2));
    double sum = 0;
    int n = 0, darkest = 255;
    for (int y = 100; y < h; y++)
        for (int x = 110; x < 190; x++) {
            int v = im.data[(y * w + x) * 3];
            sum += v;
            n++;
            darkest = v < darkest ? v : darkest;
        }
    printf("fill beside a far stripe: the hole's middle mean %.1f, darkest %d (the wall 250, the stripe 110)\n", sum / n, darkest);
    CHECK_MSG(sum / n > 244 && darkest > 238, "a hole in a white wall filled grey: mean %.1f, darkest %d", sum / n, darkest);
    free(known);
    image_free(&im);
}

static void test_fill_ramp(void) {
    int w = 96, h = 64, hx0 = 24, hx1 = 72, hy0 = 16, hy1 = 48;
    const uint8_t left[3] = {40, 100, 220}, right[3] = {200, 20, 60};
    vv_image im;
    image_create(&im, w, h, 3);
    uint8_t *known = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        known[i] = !(x >= hx0 && x < hx1 && y >= hy0 && y < hy1);
        memcpy(im.data + i * 3, x < w / 2 ? left : right, 3);
        if (!known[i]) im.data[i * 3] = (uint8_t)test_rng();
    }
    CHECK_OK(image_fill_holes(&im, known, 1));
    int not_monotonic = 0, worst_step = 0, worst_border = 0;
    for (int y = hy0; y < hy1; y++)
        for (int k = 0; k < 3; k++) {
            int sign = right[k] > left[k] ? 1 : -1;
            for (int x = hx0; x <= hx1; x++) {
                int a = im.data[(y * w + x - 1) * 3 + k], b = im.data[(y * w + x) * 3 + k];
                if (sign * (b - a) < 0) not_monotonic++;
                /* away from the hole's top and bottom, where the known split is sharp */
                if (x > hx0 && x < hx1 && y >= hy0 + 8 && y < hy1 - 8 && abs(b - a) > worst_step) worst_step = abs(b - a);
            }
            /* no seam: the first and last hole pixels of a row are near their neighbours */
            int first = im.data[(y * w + hx0) * 3 + k], last = im.data[(y * w + hx1 - 1) * 3 + k];
            int d = abs(first - left[k]) > abs(last - right[k]) ? abs(first - left[k]) : abs(last - right[k]);
            if (d > worst_border) worst_border = d;
        }
    CHECK_MSG(not_monotonic == 0, "%d steps against the ramp", not_monotonic);
    /* 160 levels over 48 pixels: a smooth ramp steps a few levels a pixel */
    CHECK_MSG(worst_step <= 8, "largest step inside the hole %d", worst_step);
    CHECK_MSG(worst_border <= 48, "largest jump at the hole border %d", worst_border);
    /* the middle is a blend of both */
    const uint8_t *mid = im.data + ((h / 2) * w + w / 2) * 3;
    for (int k = 0; k < 3; k++) {
        double t = (mid[k] - left[k]) / (double)(right[k] - left[k]);
        CHECK_MSG(t > 0.3 && t < 0.7, "channel %d: %d in the middle (%.2f of the way)", k, mid[k], t);
    }
    free(known);
    image_free(&im);
}

/* Mean |second difference| along rows of channel 0 over the pixels where pick[i] (the
 * grain: 0 for a smooth fill). */
static double row_grain(const vv_image *im, const uint8_t *pick) {
    double sum = 0;
    int n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 1; x + 1 < im->width; x++) {
            size_t i = (size_t)y * im->width + x;
            if (!pick[i] || !pick[i - 1] || !pick[i + 1]) continue;
            sum += fabs(2.0 * im->data[i * 3] - im->data[(i - 1) * 3] - im->data[(i + 1) * 3]);
            n++;
        }
    return n ? sum / n : 0;
}

/* The textured fill: a flat image stays flat; on a textured one (a ramp plus noise grain)
 * the hole keeps the grain's strength, which the smooth fill loses, keeps the smooth
 * fill's colours (its local means), and shows no seam at the hole's border. */
static void test_fill_textured(void) {
    int w = 120, h = 90;
    vv_image flat, grainy, smooth;
    image_create(&flat, w, h, 3);
    image_create(&grainy, w, h, 3);
    uint8_t *known = malloc((size_t)w * h), *hole = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        double ex = (x - 60) / 30.0, ey = (y - 50) / 28.0;
        known[i] = ex * ex + ey * ey >= 1;
        hole[i] = !known[i];
        memset(flat.data + i * 3, 137, 3);
        for (int k = 0; k < 3; k++) grainy.data[i * 3 + k] = (uint8_t)(60 + x + (int)(test_rng() % 41) - 20);
    }
    CHECK(image_fill_holes_textured(&flat, known, 2, 1) == VV_OK);
    int off = 0;
    for (int i = 0; i < w * h * 3; i++) off += flat.data[i] != 137;
    CHECK_MSG(off == 0, "a flat image with a hole: %d values off after the textured fill", off);
    image_copy(&smooth, &grainy);
    CHECK(image_fill_holes(&smooth, known, 1) == VV_OK);
    CHECK(image_fill_holes_textured(&grainy, known, 2, 1) == VV_OK);
    double known_grain = row_grain(&grainy, known), textured = row_grain(&grainy, hole), plain = row_grain(&smooth, hole);
    /* local means: the textured fill box-averaged over 7x7 is near the smooth fill's */
    double mean_gap = 0;
    int n = 0;
    for (int y = 30; y < 70; y += 4)
        for (int x = 40; x < 80; x += 4) {
            if (known[y * w + x]) continue;
            double a = 0, b = 0;
            for (int dy = -3; dy <= 3; dy++)
                for (int dx = -3; dx <= 3; dx++) {
                    a += grainy.data[((y + dy) * w + x + dx) * 3];
                    b += smooth.data[((y + dy) * w + x + dx) * 3];
                }
            mean_gap += fabs(a - b) / 49;
            n++;
        }
    mean_gap /= n;
    /* no seam: the step across the border (a known pixel and the hole pixel beside it, rows)
     * no larger than steps between known neighbours */
    double across = 0, within = 0;
    int na = 0, nw = 0;
    for (int y = 0; y < h; y++)
        for (int x = 1; x < w; x++) {
            size_t i = (size_t)y * w + x;
            double d = fabs((double)grainy.data[i * 3] - grainy.data[(i - 1) * 3]);
            if (known[i] != known[i - 1]) { across += d; na++; }
            else if (known[i] && known[i - 1]) { within += d; nw++; }
        }
    across /= na;
    within /= nw;
    printf("textured fill: grain (mean |second difference|) known %.1f, hole %.1f (smooth fill %.1f); "
           "local means %.1f levels from the smooth fill's; step across the border %.1f, between known %.1f\n",
           known_grain, textured, plain, mean_gap, across, within);
    CHECK_MSG(textured > 0.6 * known_grain && plain < 0.2 * known_grain, "the hole's grain %.1f (smooth %.1f) against %.1f",
              textured, plain, known_grain);
    CHECK_MSG(mean_gap < 4, "the textured fill's local means are %.1f levels from the smooth fill's", mean_gap);
    CHECK_MSG(across < 1.3 * within, "a seam at the hole's border: %.1f across it against %.1f within", across, within);
    CHECK(image_fill_holes_textured(&grainy, known, 0, 1) == VV_ERR_INVALID_ARGUMENT);
    free(known);
    free(hole);
    image_free(&flat);
    image_free(&grainy);
    image_free(&smooth);
}

/* The structured fill (patches): a hole across the line between two coloured bands (a red
 * wall over a blue one, each with grain) takes each band's colour on its side of the line,
 * where the smooth fill blends them (purple), and keeps the grain; known pixels stay as
 * they were; the same input gives the same output, on one thread or two. */
static double band_distance(const vv_image *im, const uint8_t *hole, int y0, int y1, const int colour[3]) {
    double sum = 0;
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < im->width; x++) {
            size_t i = (size_t)y * im->width + x;
            if (!hole[i]) continue;
            double d = 0;
            for (int k = 0; k < 3; k++) d += fabs((double)im->data[i * 3 + k] - colour[k]);
            sum += d / 3;
            n++;
        }
    return n ? sum / n : 1e9;
}

static void test_fill_structured(void) {
    int w = 160, h = 120;
    const int red[3] = {200, 60, 50}, blue[3] = {40, 60, 190};
    vv_image image, smooth, again;
    image_create(&image, w, h, 3);
    uint8_t *known = malloc((size_t)w * h), *hole = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        double ex = (x - 80) / 28.0, ey = (y - 60) / 40.0;
        known[i] = ex * ex + ey * ey >= 1;
        hole[i] = !known[i];
        const int *c = y < 60 ? red : blue;
        for (int k = 0; k < 3; k++) image.data[i * 3 + k] = (uint8_t)(c[k] + (int)(test_rng() % 21) - 10);
    }
    vv_image original;
    image_copy(&original, &image);
    image_copy(&smooth, &image);
    CHECK(image_fill_holes_textured(&smooth, known, 1, 1) == VV_OK);
    CHECK(image_fill_holes_structured(&image, known, 1, 1) == VV_OK);
    image_copy(&again, &original);
    CHECK(image_fill_holes_structured(&again, known, 1, 2) == VV_OK); /* two threads: the same result */
    /* away from the line between the bands (the hole's rows 25-50 and 70-95) */
    double red_smooth = band_distance(&smooth, hole, 25, 50, red), red_patch = band_distance(&image, hole, 25, 50, red);
    double blue_smooth = band_distance(&smooth, hole, 70, 95, blue), blue_patch = band_distance(&image, hole, 70, 95, blue);
    int changed = 0, differ = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        changed += known[i / 3] && image.data[i] != original.data[i];
        differ += image.data[i] != again.data[i];
    }
    printf("structured fill: a hole across two bands, mean |colour - band's| on its red side %.1f (smooth fill %.1f), "
           "blue side %.1f (%.1f); known values changed %d; one thread and two differ in %d values\n",
           red_patch, red_smooth, blue_patch, blue_smooth, changed, differ);
    CHECK_MSG(red_patch < 15 && blue_patch < 15, "the hole's sides are %.1f / %.1f levels from their bands", red_patch, blue_patch);
    CHECK_MSG(red_smooth > 2 * red_patch && blue_smooth > 2 * blue_patch,
              "the smooth fill (%.1f / %.1f) is not further from the bands than the patches (%.1f / %.1f)", red_smooth,
              blue_smooth, red_patch, blue_patch);
    CHECK_MSG(changed == 0, "%d known values changed", changed);
    CHECK_MSG(differ == 0, "one thread and two differ in %d values", differ);
    /* no wholly known patch anywhere (a few known pixels): the smooth fill stays */
    uint8_t *sparse = calloc((size_t)w * h, 1);
    for (int i = 0; i < w * h; i += 97) sparse[i] = 1;
    image_free(&again);
    image_copy(&again, &original);
    vv_image plain;
    image_copy(&plain, &original);
    CHECK(image_fill_holes(&plain, sparse, 1) == VV_OK);
    CHECK(image_fill_holes_patches(&again, sparse, 1) == VV_OK);
    int moved = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) moved += sparse[i / 3] && again.data[i] != original.data[i];
    CHECK_MSG(moved == 0, "sparse known pixels: %d known values changed", moved);
    CHECK(image_fill_holes_patches(NULL, known, 1) == VV_ERR_INVALID_ARGUMENT);
    CHECK(image_fill_holes_structured(&image, known, 0, 1) == VV_ERR_INVALID_ARGUMENT);
    free(sparse);
    free(known);
    free(hole);
    image_free(&image);
    image_free(&original);
    image_free(&smooth);
    image_free(&again);
    image_free(&plain);
}

/* A person before a brick wall under wooden cupboards: the hole (a head and a body down to
 * the picture's bottom) reaches from the wood into the bricks.  Started from the smooth
 * fill, an orange fog down to the bottom, the patches matched wood all the way down (lp_d12's
 * plate: wood where bricks were); started from each row's known pixels left and right, or
 * along the background's structure (patch_fill.c level_oriented: the wood's edge runs
 * across), the brick band goes on under the body.  Measured: mean |colour - brick| over the
 * hole's bottom rows (no known pixel beside the body there) 13.9 now, 12.8 by rows (11.5
 * when written), 18.9 from the smooth fill (part orange); about 5 is the bricks' own noise. */
static void test_fill_across_rows(void) {
    int w = 160, h = 120;
    const int wood[3] = {210, 150, 70}, brick[3] = {110, 70, 60};
    vv_image image;
    image_create(&image, w, h, 3);
    uint8_t *known = malloc((size_t)w * h), *hole = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        double ex = (x - 80) / 25.0, ey = (y - 45) / 30.0;
        hole[i] = ex * ex + ey * ey < 1 || (y >= 70 && x >= 45 && x <= 115) || (y >= 88 && x >= 20 && x < 140) || y >= 105;
        known[i] = !hole[i];
        const int *c = y < 80 ? wood : brick;
        for (int k = 0; k < 3; k++) image.data[i * 3 + k] = (uint8_t)(c[k] + (int)(test_rng() % 21) - 10);
    }
    CHECK(image_fill_holes_structured(&image, known, 1, 1) == VV_OK);
    double bricks = band_distance(&image, hole, 100, 120, brick), woods = band_distance(&image, hole, 20, 60, wood);
    printf("fill across rows: a person before bricks under wood, mean |colour - brick| over the hole's bottom rows %.1f, "
           "|colour - wood| over its wood rows %.1f\n", bricks, woods);
    CHECK_MSG(bricks < 15, "the hole's bottom rows are %.1f levels from the bricks (wood carried down?)", bricks);
    CHECK_MSG(woods < 25, "the hole's wood rows are %.1f levels from the wood", woods);
    free(known);
    free(hole);
    image_free(&image);
}

/* Diagonal stripes beside a plain wall and a round hole across both (the tpsmm portrait: a
 * flag's red and white stripes running steeply down beside a grey wall, the head between).
 * The hole's pixels against the pattern continued (noise-free): the mean |difference| over
 * its stripes' side and its wall's side, and the pixels of a colour (the nearest of red,
 * white, grey) over 4 pixels from where the pattern continued has that colour (a red
 * rectangle into the wall, a red dot in a white stripe).  Started from each row's known
 * pixels left and right, the rows went to the wall half way across: 85.5 / 5.0 levels,
 * 13992 of 25433 pixels astray; along the stripes' direction (level_oriented): 24.9 / 7.2,
 * 2758 (a notch of wall where the hole's middle meets the wall's edge). */
static const int stripe_red[3] = {200, 45, 40}, stripe_white[3] = {235, 235, 232}, stripe_wall[3] = {150, 150, 140};
static int stripe_class(int x, int y) { /* 0 red, 1 white, 2 wall */
    if (x >= 200) return 2;
    int u = (int)floor((x + 0.5 * y) / 48.0); /* stripes 48 pixels across, 63 degrees from the horizontal */
    return u & 1;
}

static void test_fill_diagonal_stripes(void) {
    test_rng_seed(12345); /* last in main: the scene pinned all the same */
    int w = 384, h = 320;
    const int *colours[3] = {stripe_red, stripe_white, stripe_wall};
    vv_image image;
    image_create(&image, w, h, 3);
    uint8_t *known = malloc((size_t)w * h), *cls = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        double dx = x - 170, dy = y - 150;
        known[i] = dx * dx + dy * dy >= 90.0 * 90.0;
        cls[i] = (uint8_t)stripe_class(x, y);
        for (int k = 0; k < 3; k++) image.data[i * 3 + k] = (uint8_t)(colours[cls[i]][k] + (int)(test_rng() % 21) - 10);
    }
    CHECK(image_fill_holes_structured(&image, known, 1, 1) == VV_OK);
    double error[2] = {0, 0};
    int count[2] = {0, 0}, astray = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (known[i]) continue;
            const uint8_t *p = image.data + i * 3;
            int side = cls[i] == 2, nearest = 0;
            double d = 0, best = 1e9;
            for (int k = 0; k < 3; k++) d += fabs((double)p[k] - colours[cls[i]][k]) / 3;
            error[side] += d;
            count[side]++;
            for (int c = 0; c < 3; c++) {
                double e = 0;
                for (int k = 0; k < 3; k++) e += fabs((double)p[k] - colours[c][k]);
                if (e < best) best = e, nearest = c;
            }
            bool near = false; /* the pattern has that colour within 4 pixels */
            for (int v = y - 4; v <= y + 4 && !near; v++)
                for (int u = x - 4; u <= x + 4 && !near; u++)
                    near = u >= 0 && v >= 0 && u < w && v < h && cls[(size_t)v * w + u] == nearest;
            astray += !near;
        }
    double stripes = error[0] / count[0], wall = error[1] / count[1];
    printf("diagonal stripes beside a wall: mean |fill - pattern continued| on the stripes' side %.1f, the wall's %.1f; "
           "pixels of a colour over 4 pixels from where the pattern has it %d of %d\n",
           stripes, wall, astray, count[0] + count[1]);
    CHECK_MSG(stripes < 40 && wall < 12, "the fill is %.1f / %.1f levels from the stripes / the wall continued", stripes, wall);
    CHECK_MSG(astray * 5 < count[0] + count[1], "%d hole pixels of a colour far from where the pattern has it", astray);
    free(known);
    free(cls);
    image_free(&image);
}

/* Fine stripes (6 pixels from one dark stripe to the next, finer than the 192-pixel level
 * the patches are matched at: there they are a flat grey) behind an oval hole in a 480x360
 * picture: the fill goes on with them at full resolution, in step with those beside it and
 * without a seam.  Measured deep inside the hole (over 30 pixels from its border, where the
 * mirrored grain does not reach) by the stripes' contrast, the mean |I(x) - I(x + 3)| (half
 * a period: dark against light), as a share of the known pixels'; and their period, the
 * mean |I(x) - I(x + 6)| (one period: near 0 where the stripes run true); and the step at
 * the border between a hole pixel and the known pixel a period beside it.  Upsampling the
 * 160-pixel level's colours (bilinear) left the stripes at 0.44 of their contrast with a
 * step of 42 levels at the border; copying the known pixels at full resolution: 0.94 and
 * 3.4 (period error 13.8 against a contrast of 122). */
static double stripe_difference(const vv_image *im, const uint8_t *mask, int shift) {
    double sum = 0;
    int n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x + shift < im->width; x++) {
            size_t i = (size_t)y * im->width + x;
            if (!mask[i] || !mask[i + shift]) continue;
            sum += fabs((double)im->data[i * 3 + 1] - im->data[(i + shift) * 3 + 1]);
            n++;
        }
    return n ? sum / n : 0;
}

static void test_fill_fine_stripes(void) {
    int w = 480, h = 360;
    vv_image image;
    image_create(&image, w, h, 3);
    uint8_t *known = malloc((size_t)w * h), *deep = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        double ex = (x - 240) / 110.0, ey = (y - 200) / 140.0, r = sqrt(ex * ex + ey * ey);
        known[i] = r >= 1;
        deep[i] = r < 1 - 30.0 / 110; /* over 30 pixels inside the border */
        int level = x % 6 < 3 ? 60 : 190;
        for (int k = 0; k < 3; k++) image.data[i * 3 + k] = (uint8_t)(level + (k == 2 ? 20 : 0) + (int)(test_rng() % 11) - 5);
    }
    double known_contrast = stripe_difference(&image, known, 3), known_period = stripe_difference(&image, known, 6);
    CHECK(image_fill_holes_structured(&image, known, 2, 2) == VV_OK);
    double contrast = stripe_difference(&image, deep, 3), period = stripe_difference(&image, deep, 6);
    /* the seam: the step from each hole pixel on the border's row to the known pixel six to
     * its side (in step with the stripes) against the known pixels' own */
    double seam = 0;
    int seams = 0;
    for (int y = 0; y < h; y++)
        for (int x = 6; x + 6 < w; x++) {
            size_t i = (size_t)y * w + x;
            if (known[i] || (known[i - 1] == known[i] && known[i + 1] == known[i])) continue;
            size_t j = known[i - 1] ? i - 6 : i + 6;
            if (!known[j]) continue;
            seam += fabs((double)image.data[i * 3 + 1] - image.data[j * 3 + 1]);
            seams++;
        }
    seam = seams ? seam / seams : 0;
    printf("fine stripes: deep in the hole contrast %.1f (known %.1f: %.2f), period error %.1f (known %.1f); "
           "border step in step with the stripes %.1f\n",
           contrast, known_contrast, contrast / known_contrast, period, known_period, seam);
    CHECK_MSG(contrast > 0.7 * known_contrast, "the stripes' contrast deep in the hole is %.1f, the known pixels' %.1f", contrast,
              known_contrast);
    CHECK_MSG(period < 0.25 * contrast, "the stripes deep in the hole are out of step: %.1f a period apart, %.1f half a period",
              period, contrast);
    CHECK_MSG(seam < 0.05 * known_contrast, "the stripes step by %.1f at the hole's border", seam);
    free(known);
    free(deep);
    image_free(&image);
}

static void test_fill_known_and_border(void) {
    /* Random image, random mask: known pixels unchanged; fill within the known range. */
    int w = 73, h = 51;
    vv_image im, original;
    image_create(&im, w, h, 3);
    fill_noise(&im);
    image_copy(&original, &im);
    uint8_t *known = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) known[i] = (test_rng() & 3) != 0 ? (uint8_t)(1 + test_rng() % 255) : 0;
    CHECK_OK(image_fill_holes(&im, known, 0));
    int changed = 0;
    for (int i = 0; i < w * h; i++)
        if (known[i]) changed += memcmp(im.data + 3 * i, original.data + 3 * i, 3) != 0;
    CHECK(changed == 0);

    /* Holes touching the border: a corner and a whole bottom strip in a constant
     * surround stay exact; a top strip across a left / right split ramps across it. */
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        known[i] = !((x < 25 && y < 20) || y >= h - 6);
        for (int k = 0; k < 3; k++) im.data[3 * i + k] = known[i] ? (uint8_t)(77 + k) : (uint8_t)test_rng();
    }
    CHECK_OK(image_fill_holes(&im, known, 2));
    int bad = 0;
    for (int i = 0; i < w * h; i++) bad += im.data[3 * i] != 77 || im.data[3 * i + 1] != 78 || im.data[3 * i + 2] != 79;
    CHECK_MSG(bad == 0, "%d border-hole pixels not the surround's colour", bad);
    for (int i = 0; i < w * h; i++) {
        int x = i % w, y = i / w;
        known[i] = !(y < 12 && x >= 10 && x < 60);
        memset(im.data + 3 * i, known[i] ? (x < 36 ? 20 : 180) : 0, 3);
    }
    CHECK_OK(image_fill_holes(&im, known, 2));
    bad = 0;
    for (int y = 0; y < 12; y++)
        for (int x = 10; x <= 60; x++) bad += im.data[(y * w + x) * 3] < im.data[(y * w + x - 1) * 3];
    CHECK_MSG(bad == 0, "%d steps against the ramp in the top strip", bad);
    CHECK(im.data[(0 * w + 10) * 3] < 100 && im.data[(0 * w + 59) * 3] > 100);

    /* Nothing known: untouched.  Everything known: untouched. */
    memcpy(im.data, original.data, (size_t)w * h * 3);
    memset(known, 0, (size_t)w * h);
    CHECK_OK(image_fill_holes(&im, known, 1));
    CHECK(memcmp(im.data, original.data, (size_t)w * h * 3) == 0);
    memset(known, 1, (size_t)w * h);
    CHECK_OK(image_fill_holes(&im, known, 1));
    CHECK(memcmp(im.data, original.data, (size_t)w * h * 3) == 0);
    /* 1x1 and single rows */
    vv_image tiny;
    image_create(&tiny, 1, 1, 3);
    uint8_t zero = 0;
    CHECK_OK(image_fill_holes(&tiny, &zero, 1));
    image_free(&tiny);
    image_create(&tiny, 9, 1, 3);
    uint8_t row_known[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1};
    tiny.data[0] = 10;
    tiny.data[8 * 3] = 90;
    CHECK_OK(image_fill_holes(&tiny, row_known, 1));
    for (int x = 1; x < 9; x++) CHECK(tiny.data[x * 3] >= tiny.data[(x - 1) * 3]);
    image_free(&tiny);
    CHECK(image_fill_holes(&im, NULL, 1) == VV_ERR_INVALID_ARGUMENT);
    free(known);
    image_free(&im);
    image_free(&original);
}

/* ---- A portrait turned 20 degrees: the head (a grid lifted onto an ellipsoid) rendered
 * over the background, the revealed background filled.  PNGs for a look. ---- */
static void test_portrait(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/mona_lisa.png", VV_SOURCE_DIR);
    vv_image portrait;
    if (image_load(&portrait, path) != VV_OK) {
        CHECK_MSG(false, "cannot load %s: %s", path, vv_last_error());
        return;
    }
    int w = portrait.width, h = portrait.height;
    /* Head ellipse (hair included) and a pivot behind the face. */
    const double cx = 245, cy = 195, rx = 100, ry = 140, rz = 90, pivot = -60, yaw = 20 * M_PI / 180;
    enum { N = 48 };
    float (*position)[3] = malloc(sizeof(float[3]) * N * N);
    float (*texcoord)[2] = malloc(sizeof(float[2]) * N * N);
    int (*triangles)[3] = malloc(sizeof(int[3]) * 2 * (N - 1) * (N - 1));
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            /* grid over the ellipse's box, points outside pulled onto the rim */
            double ex = -1 + 2.0 * i / (N - 1), ey = -1 + 2.0 * j / (N - 1), r = hypot(ex, ey);
            double sx = ex, sy = ey;
            if (r > 1) { sx /= r; sy /= r; }
            double x = sx * rx, y = sy * ry, z = rz * sqrt(fmax(0, 1 - sx * sx - sy * sy));
            texcoord[j * N + i][0] = (float)(cx + x);
            texcoord[j * N + i][1] = (float)(cy + y);
            double zc = z - pivot;
            position[j * N + i][0] = (float)(cx + x * cos(yaw) + zc * sin(yaw));
            position[j * N + i][1] = (float)(cy + y);
            position[j * N + i][2] = (float)(-x * sin(yaw) + zc * cos(yaw) + pivot);
        }
    int count = 0;
    for (int j = 0; j + 1 < N; j++)
        for (int i = 0; i + 1 < N; i++) {
            int a = j * N + i, b = a + 1, c = a + N + 1, d = a + N;
            triangles[count][0] = a; triangles[count][1] = b; triangles[count][2] = c; count++;
            triangles[count][0] = a; triangles[count][1] = c; triangles[count][2] = d; count++;
        }
    raster_mesh mesh = {(const float(*)[3])position, (const float(*)[2])texcoord, (const int(*)[3])triangles, N * N,
                        count, NULL, NULL, NULL};
    /* The head drawn over the portrait; what it no longer covers of its old outline is
     * a hole, filled from everything around it (head included). */
    vv_image frame;
    image_copy(&frame, &portrait);
    float *depth = malloc(sizeof(float) * w * h);
    uint8_t *coverage = calloc((size_t)w * h, 1), *known = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) depth[i] = -INFINITY;
    raster_target target = {.color = &frame, .depth = depth, .coverage = coverage};
    raster_params params = {true, 0};
    double start = time_now();
    CHECK_OK(raster_draw(&target, &portrait, &mesh, &params));
    double draw_ms = (time_now() - start) * 1e3;
    int holes = 0;
    for (int i = 0; i < w * h; i++) {
        double ex = (i % w - cx) / rx, ey = (i / w - cy) / ry;
        bool in_head = ex * ex + ey * ey < 1;
        known[i] = coverage[i] || !in_head;
        holes += !known[i];
    }
    vv_image unfilled;
    image_copy(&unfilled, &frame);
    for (int i = 0; i < w * h; i++)
        if (!known[i]) { unfilled.data[3 * i] = 255; unfilled.data[3 * i + 1] = 0; unfilled.data[3 * i + 2] = 255; }
    start = time_now();
    CHECK_OK(image_fill_holes(&frame, known, 0));
    double fill_ms = (time_now() - start) * 1e3;
    printf("portrait %dx%d, %d triangles: draw %.2f ms, %d hole pixels filled in %.2f ms\n", w, h, count, draw_ms, holes,
           fill_ms);
    /* The turn reveals a crescent of background on one side (not nothing, not the head). */
    CHECK(holes > 1000 && holes < w * h / 20);
    uint8_t *crescent = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) crescent[i] = !known[i];
    /* The other order: a clean plate first (the whole old head filled from the
     * background alone), then the head drawn over it. */
    vv_image plate;
    image_copy(&plate, &portrait);
    for (int i = 0; i < w * h; i++) {
        double ex = (i % w - cx) / rx, ey = (i / w - cy) / ry;
        known[i] = ex * ex + ey * ey >= 1;
        depth[i] = -INFINITY;
    }
    CHECK_OK(image_fill_holes(&plate, known, 0));
    target.color = &plate;
    memset(coverage, 0, (size_t)w * h);
    CHECK_OK(raster_draw(&target, &portrait, &mesh, &params));
    /* What the clean plate is for: the crescent the turn reveals shows background, not
     * the head smeared outwards.  Each crescent pixel placed on the line from the
     * background's mean colour (a ring just outside the old head, 0) to the old head's
     * (1): the plate's crescent must lie nearer the background than the fill-after-draw
     * frame's (measured: the old head 1.44, filled after the draw 0.32, the plate 0.15).
     * Without the plate (the old head left there, or filled from the drawn head) it
     * would not. */
    double head_mean[3] = {0}, ring_mean[3] = {0};
    int head_n = 0, ring_n = 0;
    for (int i = 0; i < w * h; i++) {
        double ex = (i % w - cx) / rx, ey = (i / w - cy) / ry, r2 = ex * ex + ey * ey;
        bool head = r2 < 1, ring = r2 >= 1 && r2 < 1.44;
        for (int k = 0; k < 3; k++) {
            if (head) head_mean[k] += portrait.data[3 * i + k];
            if (ring) ring_mean[k] += portrait.data[3 * i + k];
        }
        head_n += head, ring_n += ring;
    }
    double axis[3], axis2 = 0;
    for (int k = 0; k < 3; k++) {
        head_mean[k] /= head_n, ring_mean[k] /= ring_n;
        axis[k] = head_mean[k] - ring_mean[k];
        axis2 += axis[k] * axis[k];
    }
    double t_plate = 0, t_frame = 0, t_old = 0;
    int n_crescent = 0, covered_again = 0;
    for (int i = 0; i < w * h; i++) {
        if (!crescent[i]) continue;
        covered_again += coverage[i] != 0;
        n_crescent++;
        for (int k = 0; k < 3; k++) {
            t_plate += (plate.data[3 * i + k] - ring_mean[k]) * axis[k] / axis2;
            t_frame += (frame.data[3 * i + k] - ring_mean[k]) * axis[k] / axis2;
            t_old += (portrait.data[3 * i + k] - ring_mean[k]) * axis[k] / axis2;
        }
    }
    t_plate /= n_crescent, t_frame /= n_crescent, t_old /= n_crescent;
    printf("revealed crescent, 0 background .. 1 head (|head - ring| %.0f): old head %.2f, filled after the draw %.2f, "
           "clean plate %.2f\n", sqrt(axis2), t_old, t_frame, t_plate);
    CHECK(covered_again == 0); /* the head drawn onto the plate leaves the same crescent open */
    CHECK_MSG(t_old > 0.9, "the crescent was not head in the portrait (%.2f)", t_old);
    CHECK_MSG(t_plate < 0.25 && t_plate < t_frame - 0.1, "clean plate %.2f, filled after the draw %.2f", t_plate,
              t_frame);
    free(crescent);
    const char *dir = test_tmp_dir("test_raster");
    char out[4200];
    snprintf(out, sizeof out, "%s/portrait_yaw20_holes.png", dir);
    CHECK_OK(image_save(&unfilled, out));
    snprintf(out, sizeof out, "%s/portrait_yaw20_filled.png", dir);
    CHECK_OK(image_save(&frame, out));
    snprintf(out, sizeof out, "%s/portrait_yaw20_clean_plate.png", dir);
    CHECK_OK(image_save(&plate, out));
    image_free(&plate);
    image_free(&unfilled);
    image_free(&frame);
    image_free(&portrait);
    free(depth);
    free(coverage);
    free(known);
    free(position);
    free(texcoord);
    free(triangles);
}

int main(void) {
    test_rng_seed(2024);
    test_identity();
    test_all_weights();
    test_translation();
    test_texture_edges();
    test_depth();
    test_culling();
    test_hemisphere();
    test_hostile();
    test_threads();
    test_extras();
    test_extra_outside();
    test_frame();
    test_one_pass();
    test_fill_constant();
    test_fill_ramp();
    test_fill_far_stripe();
    test_fill_textured();
    test_fill_structured();
    test_fill_across_rows();
    test_fill_fine_stripes();
    test_fill_known_and_border();
    test_portrait();
    test_all_weights_minified(); /* last: their random draws would change the scenes above */
    test_fused_gray_sheared();
    test_fill_diagonal_stripes();
    return test_finish("test_raster");
}
