/* warp: mesh topology, piecewise-affine exactness, fold-over repair under large yaw,
 * paste-back locality, mouth fill, and the engine's identity frame. */
#include <math.h>
#include <string.h>

#include "img/image.h"
#include "test.h"
#include "warp/mesh.h"
#include "warp/warp.h"

static void fill_noise(vv_image *im) {
    size_t n = (size_t)im->width * im->height * im->channels;
    for (size_t i = 0; i < n; i++) im->data[i] = (uint8_t)(test_rng() & 255);
}

/* Mean face (face units) placed in a crop of `size`, like a detected source. */
static void mean_face_in_crop(int size, float out[68][2]) {
    const float (*mean)[2] = face_mean_landmarks();
    float scale = (float)size / MESH_CROP_UNITS;
    for (int k = 0; k < 68; k++) {
        out[k][0] = mean[k][0] * scale + (float)size / 2;
        out[k][1] = (mean[k][1] - MESH_CROP_CENTER_Y) * scale + (float)size / 2;
    }
}

static bool has_edge(int a, int b) {
    const int (*t)[3] = mesh_triangles();
    for (int i = 0; i < mesh_triangle_count(); i++)
        for (int e = 0; e < 3; e++) {
            int u = t[i][e], v = t[i][(e + 1) % 3];
            if ((u == a && v == b) || (u == b && v == a)) return true;
        }
    return false;
}

static void test_topology(void) {
    int n = mesh_triangle_count();
    CHECK_MSG(n > 150 && n < 320, "%d triangles", n);
    const float (*layout)[2] = mesh_mean_layout();
    const int (*t)[3] = mesh_triangles();
    double total = 0;
    int negative = 0;
    bool used[MESH_POINT_COUNT] = {false};
    for (int i = 0; i < n; i++) {
        const float *a = layout[t[i][0]], *b = layout[t[i][1]], *c = layout[t[i][2]];
        double area = 0.5 * ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]));
        if (area <= 0 && !(t[i][0] >= 60 && t[i][1] >= 60 && t[i][2] >= 60)) negative++;
        total += fabs(area);
        for (int e = 0; e < 3; e++) used[t[i][e]] = true;
    }
    CHECK(negative == 0);
    /* The triangles tile the whole crop square exactly once. */
    CHECK_NEAR(total, MESH_CROP_UNITS * MESH_CROP_UNITS, 1e-2);
    int unused = 0;
    for (int i = 0; i < MESH_POINT_COUNT; i++) unused += !used[i];
    CHECK(unused == 0);
    /* Eyes and inner lips are polygons of their own, so closing them collapses triangles. */
    for (int k = 0; k < 6; k++) {
        CHECK_MSG(has_edge(36 + k, 36 + (k + 1) % 6), "eye edge %d", 36 + k);
        CHECK_MSG(has_edge(42 + k, 42 + (k + 1) % 6), "eye edge %d", 42 + k);
    }
    for (int k = 0; k < 8; k++) CHECK_MSG(has_edge(60 + k, 60 + (k + 1) % 8), "lip edge %d", 60 + k);
}

static void test_identity_and_translation(void) {
    vv_image in = {0}, out = {0};
    CHECK_OK(image_create(&in, 200, 160, 3));
    CHECK_OK(image_create(&out, 200, 160, 3));
    fill_noise(&in);
    float src[MESH_POINT_COUNT][2], dst[MESH_POINT_COUNT][2];
    const float (*layout)[2] = mesh_mean_layout();
    for (int i = 0; i < MESH_POINT_COUNT; i++) { /* layout scaled onto the image, non-square */
        src[i][0] = (layout[i][0] / MESH_CROP_UNITS + 0.5f) * 199;
        src[i][1] = ((layout[i][1] - MESH_CROP_CENTER_Y) / MESH_CROP_UNITS + 0.5f) * 159;
    }
    warp_piecewise_affine(&out, &in, (const float(*)[2])src, (const float(*)[2])src, mesh_triangles(),
                          mesh_triangle_count(), NULL, 0);
    CHECK(memcmp(out.data, in.data, (size_t)200 * 160 * 3) == 0);

    /* Every point shifted by (3, 2): out(x, y) = in(x - 3, y - 2) exactly, through the
     * sampling path (no triangle is the identity). */
    for (int i = 0; i < MESH_POINT_COUNT; i++) { dst[i][0] = src[i][0] + 3; dst[i][1] = src[i][1] + 2; }
    uint8_t *moved = malloc(200 * 160);
    warp_piecewise_affine(&out, &in, (const float(*)[2])src, (const float(*)[2])dst, mesh_triangles(),
                          mesh_triangle_count(), moved, 0);
    long mismatches = 0, checked = 0;
    for (int y = 4; y < 160; y++)
        for (int x = 5; x < 200; x++) {
            checked++;
            if (memcmp(out.data + ((size_t)y * 200 + x) * 3, in.data + ((size_t)(y - 2) * 200 + (x - 3)) * 3, 3))
                mismatches++;
        }
    CHECK_MSG(mismatches == 0, "%ld of %ld pixels differ", mismatches, checked);
    CHECK(moved[100 * 200 + 100] == 255);
    free(moved);
    image_free(&in);
    image_free(&out);
}

/* A crude 3D face: depth from a head-like ellipsoid plus the nose ridge. */
static void yaw_face(const float mean[68][2], float degrees, float out[68][2]) {
    float a = degrees * 3.14159265f / 180, c = cosf(a), s = sinf(a);
    for (int k = 0; k < 68; k++) {
        float x = mean[k][0], y = mean[k][1];
        float z = sqrtf(fmaxf(0.0f, 1.6f * 1.6f - x * x)) - 1.0f;
        static const float nose[9] = {0.1f, 0.2f, 0.3f, 0.45f, 0.2f, 0.27f, 0.3f, 0.27f, 0.2f};
        if (k >= 27 && k <= 35) z += nose[k - 27];
        out[k][0] = x * c + z * s;
        out[k][1] = y;
    }
}

static void test_no_folds_under_yaw(void) {
    const int size = 512;
    float face[68][2], source[MESH_POINT_COUNT][2], target_mesh[MESH_POINT_COUNT][2];
    mean_face_in_crop(size, face);
    mesh_source_points((const float(*)[2])face, size, source);
    CHECK(mesh_count_folds((const float(*)[2])source, 0.0f) == 0);
    const float (*mean)[2] = face_mean_landmarks();
    float scale = (float)size / MESH_CROP_UNITS;
    static const float yaws[] = {-60, -45, -30, 30, 45, 60};
    for (unsigned i = 0; i < sizeof yaws / sizeof yaws[0]; i++) {
        float turned[68][2], target[68][2];
        yaw_face(mean, yaws[i], turned);
        for (int k = 0; k < 68; k++) { /* also shifted sideways and up, as a turning head does */
            target[k][0] = turned[k][0] * scale + size / 2 + yaws[i] * 0.8f;
            target[k][1] = (turned[k][1] - MESH_CROP_CENTER_Y) * scale + size / 2 - 10;
        }
        int left = mesh_target_points((const float(*)[2])source, (const float(*)[2])target, NULL, target_mesh);
        CHECK_MSG(left == 0, "yaw %g: %d folds left", yaws[i], left);
        CHECK_MSG(mesh_count_folds((const float(*)[2])target_mesh, 0.0f) == 0, "yaw %g", yaws[i]);
        /* Border pinned, landmarks of the face interior kept where asked. */
        CHECK(target_mesh[MESH_BORDER_FIRST][0] == source[MESH_BORDER_FIRST][0]);
        /* the face still turns: the nose tip keeps most of its motion */
        float wanted = target[30][0] - source[30][0], got = target_mesh[30][0] - source[30][0];
        CHECK_MSG(got / wanted > 0.6f, "yaw %g: nose tip moved %g of %g px", yaws[i], got, wanted);
        CHECK(target_mesh[36][0] == target[36][0]); /* eyes untouched */
    }
}

static void test_paste_back_locality(void) {
    vv_image image = {0}, original = {0}, crop = {0};
    CHECK_OK(image_create(&image, 300, 240, 3));
    CHECK_OK(image_create(&crop, 128, 128, 3));
    fill_noise(&image);
    fill_noise(&crop);
    CHECK_OK(image_copy(&original, &image));
    /* crop pixel -> image: rotated by 20 degrees, scaled by 1.3, placed at (60, 20). */
    float a = 1.3f * cosf(0.349f), b = 1.3f * sinf(0.349f);
    float m[6] = {a, -b, 80, b, a, 20}, inv[6];
    affine_invert(m, inv);
    warp_paste_back(&image, &crop, NULL, m, 8, 0);
    long outside_changed = 0, outside = 0, inside = 0, inside_exact = 0;
    for (int y = 0; y < 240; y++)
        for (int x = 0; x < 300; x++) {
            float u = inv[0] * x + inv[1] * y + inv[2], v = inv[3] * x + inv[4] * y + inv[5];
            size_t o = ((size_t)y * 300 + x) * 3;
            bool same = !memcmp(image.data + o, original.data + o, 3);
            if (u <= 0 || v <= 0 || u >= 127 || v >= 127) {
                outside++;
                outside_changed += !same;
            } else if (u > 10 && v > 10 && u < 117 && v < 117) {
                inside++;
                /* fully inside: the crop's value (bilinear); near an integer crop point, exact */
                float s = image_sample(&crop, u, v, 0);
                inside_exact += fabsf(s - image.data[o]) <= 1.0f;
            }
        }
    CHECK(outside > 10000);
    CHECK_MSG(outside_changed == 0, "%ld of %ld pixels outside the mask changed", outside_changed, outside);
    CHECK_MSG(inside_exact == inside, "%ld of %ld inside pixels are the crop's", inside_exact, inside);
    image_free(&image);
    image_free(&original);
    image_free(&crop);
}

static void test_engine_identity_and_mouth(void) {
    /* A 400x300 portrait of noise with a mean face placed in it. */
    vv_image portrait = {0}, out = {0};
    CHECK_OK(image_create(&portrait, 401, 301, 3));
    fill_noise(&portrait);
    const float (*mean)[2] = face_mean_landmarks();
    float face[68][2], target[68][2];
    for (int k = 0; k < 68; k++) {
        face[k][0] = mean[k][0] * 40 + 210;
        face[k][1] = mean[k][1] * 40 + 120;
    }
    warp_params params = warp_default_params();
    params.crop_size = 256;
    warp_engine *engine = NULL;
    CHECK_OK(warp_engine_new(&engine, &portrait, (const float(*)[2])face, &params));
    if (!engine) return;
    int w, h;
    warp_engine_output_size(engine, &w, &h);
    CHECK(w == 400 && h == 300);
    float strength = -1;
    CHECK_OK(warp_engine_render(engine, (const float(*)[2])face, NULL, NULL, &out, &strength));
    long differ = 0;
    for (int y = 0; y < 300; y++) differ += memcmp(out.data + (size_t)y * 400 * 3, portrait.data + (size_t)y * 401 * 3, 400 * 3) != 0;
    CHECK_MSG(differ == 0, "identity frame: %ld rows differ from the source", differ);
    CHECK(strength == 0);

    /* Open the mouth: the inner lips part by 0.35 eye distances; the cavity gets filled. */
    memcpy(target, face, sizeof target);
    for (int k = 5; k <= 11; k++) target[k][1] += 10;
    for (int k = 55; k <= 59; k++) target[k][1] += 14;
    for (int k = 65; k <= 67; k++) target[k][1] += 14;
    CHECK_OK(warp_engine_render(engine, (const float(*)[2])target, NULL, NULL, &out, &strength));
    CHECK_MSG(strength > 0.5f, "mouth strength %g", strength);
    /* the chin moved: pixels below the mouth changed, the far corner did not */
    CHECK(memcmp(out.data + ((size_t)190 * 400 + 210) * 3, portrait.data + ((size_t)190 * 401 + 210) * 3, 3) != 0);
    CHECK(memcmp(out.data, portrait.data, 3) == 0);

    /* Too small a face is refused. */
    warp_engine *tiny = NULL;
    float small[68][2];
    for (int k = 0; k < 68; k++) { small[k][0] = mean[k][0] * 12 + 100; small[k][1] = mean[k][1] * 12 + 100; }
    CHECK(warp_engine_new(&tiny, &portrait, (const float(*)[2])small, &params) == VV_ERR_NO_FACE);
    warp_engine_free(engine);
    image_free(&portrait);
    image_free(&out);
}

/* A real driver's open mouth supplies the interior: a driver whose inner mouth is a
 * known colour (and whose lips match the source's, so no colour shift) fills the target's
 * opening with that colour; without a driver the synthesised cavity is darker than it. */
static void test_mouth_from_driver(void) {
    const int size = 256;
    vv_image source = {0}, crop = {0}, driver = {0};
    CHECK_OK(image_create(&source, size, size, 3));
    CHECK_OK(image_create(&driver, 320, 320, 3));
    for (size_t i = 0; i < (size_t)size * size; i++) { source.data[3 * i] = 200; source.data[3 * i + 1] = 150; source.data[3 * i + 2] = 120; }
    for (size_t i = 0; i < (size_t)320 * 320; i++) { driver.data[3 * i] = 200; driver.data[3 * i + 1] = 150; driver.data[3 * i + 2] = 120; }
    float face[68][2], target[68][2], driver_points[68][2];
    mean_face_in_crop(size, face);
    memcpy(target, face, sizeof target);
    for (int k = 65; k <= 67; k++) target[k][1] += 12; /* the lower inner lip drops */
    for (int k = 55; k <= 59; k++) target[k][1] += 12;
    /* The driver: the same face, larger and shifted, mouth open too; its opening painted. */
    for (int k = 0; k < 68; k++) {
        driver_points[k][0] = target[k][0] * 1.2f + 5;
        driver_points[k][1] = target[k][1] * 1.2f + 3;
    }
    for (int y = 0; y < 320; y++)
        for (int x = 0; x < 320; x++) {
            float cx = (driver_points[62][0] + driver_points[66][0]) / 2, cy = (driver_points[62][1] + driver_points[66][1]) / 2;
            if (fabsf((float)x - cx) < 20 && fabsf((float)y - cy) < 8) {
                uint8_t *p = driver.data + ((size_t)y * 320 + x) * 3;
                p[0] = 40; p[1] = 180; p[2] = 60; /* green: not a colour the synthesis makes */
            }
        }
    CHECK_OK(image_copy(&crop, &source));
    float strength = warp_mouth_fill(&crop, NULL, &source, (const float(*)[2])face, (const float(*)[2])target, &driver,
                                     (const float(*)[2])driver_points);
    CHECK_MSG(strength > 0.5f, "strength %g", strength);
    int cx = (int)lroundf((target[62][0] + target[66][0]) / 2), cy = (int)lroundf((target[62][1] + target[66][1]) / 2);
    const uint8_t *p = crop.data + ((size_t)cy * size + cx) * 3;
    CHECK_MSG(p[1] > 150 && p[0] < 90 && p[2] < 100, "centre of the mouth %d,%d,%d: want the driver's green", p[0], p[1], p[2]);
    /* Lips of another pigment (the source's mauve, the driver's red) over the same skin:
     * the driver's white teeth stay white.  Matched by the lips' ratio (before) they came out
     * (175, 255, 255): cyan on this made-up pair, lavender on a painted man's mauve lips. */
    static const int lip_points[] = {48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59};
    vv_image mauve = {0};
    CHECK_OK(image_copy(&mauve, &source));
    for (int i = 0; i < 12; i++) {
        const float *q = face[lip_points[i]], *d = driver_points[lip_points[i]];
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++) {
                uint8_t *m = mauve.data + ((size_t)(lroundf(q[1]) + dy) * size + lroundf(q[0]) + dx) * 3;
                m[0] = 150; m[1] = 90; m[2] = 140;
                uint8_t *r = driver.data + ((size_t)(lroundf(d[1]) + dy) * 320 + lroundf(d[0]) + dx) * 3;
                r[0] = 200; r[1] = 60; r[2] = 60;
            }
    }
    for (int y = 0; y < 320; y++)
        for (int x = 0; x < 320; x++) {
            uint8_t *q = driver.data + ((size_t)y * 320 + x) * 3;
            if (q[0] == 40 && q[1] == 180 && q[2] == 60) q[0] = q[1] = q[2] = 230; /* the opening: white teeth */
        }
    image_free(&crop);
    CHECK_OK(image_copy(&crop, &mauve));
    warp_mouth_fill(&crop, NULL, &mauve, (const float(*)[2])face, (const float(*)[2])target, &driver, (const float(*)[2])driver_points);
    p = crop.data + ((size_t)cy * size + cx) * 3;
    int spread = abs(p[0] - p[1]) > abs(p[1] - p[2]) ? abs(p[0] - p[1]) : abs(p[1] - p[2]);
    spread = abs(p[0] - p[2]) > spread ? abs(p[0] - p[2]) : spread;
    CHECK_MSG(spread < 25 && p[1] > 180, "the driver's white teeth between lips of other colours: %d,%d,%d", p[0], p[1], p[2]);
    image_free(&mauve);
    /* A purple interior (a tongue under cool light: lp_d12's lilac mouth, pasted on every
     * painting) takes the portrait's tongue hue, red over blue; before, it stayed lilac. */
    for (int y = 0; y < 320; y++)
        for (int x = 0; x < 320; x++) {
            uint8_t *q = driver.data + ((size_t)y * 320 + x) * 3;
            if (q[0] == 230 && q[1] == 230 && q[2] == 230) { q[0] = 150; q[1] = 120; q[2] = 155; }
            else if (q[0] == 200 && q[1] == 60 && q[2] == 60) { q[0] = 200; q[1] = 150; q[2] = 120; } /* the source's lips again */
        }
    image_free(&crop);
    CHECK_OK(image_copy(&crop, &source));
    warp_mouth_fill(&crop, NULL, &source, (const float(*)[2])face, (const float(*)[2])target, &driver, (const float(*)[2])driver_points);
    p = crop.data + ((size_t)cy * size + cx) * 3;
    CHECK_MSG(p[0] > p[2] + 30 && p[2] < p[1] + 10, "a lilac interior (150, 120, 155) on a warm portrait: %d,%d,%d (red over blue)", p[0], p[1],
              p[2]);
    /* Without the driver: the synthesised fill, no green. */
    image_free(&crop);
    CHECK_OK(image_copy(&crop, &source));
    p = crop.data + ((size_t)cy * size + cx) * 3;
    warp_mouth_fill(&crop, NULL, &source, (const float(*)[2])face, (const float(*)[2])target, NULL, NULL);
    CHECK_MSG(!(p[1] > 150 && p[0] < 90), "synthesised centre %d,%d,%d", p[0], p[1], p[2]);
    /* A black-and-white driver (the same one in grey): its interior has no colour to match
     * (cast to the portrait's hues it was a flat slate hole); the synthesised fill, exactly. */
    for (size_t i = 0; i < (size_t)320 * 320; i++) {
        uint8_t *q = driver.data + 3 * i;
        q[0] = q[1] = q[2] = (uint8_t)lroundf(0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2]);
    }
    vv_image grey = {0};
    CHECK_OK(image_copy(&grey, &source));
    warp_mouth_fill(&grey, NULL, &source, (const float(*)[2])face, (const float(*)[2])target, &driver, (const float(*)[2])driver_points);
    long grey_differ = 0;
    for (size_t i = 0; i < (size_t)size * size * 3; i++) grey_differ += grey.data[i] != crop.data[i];
    CHECK_MSG(grey_differ == 0, "a grey driver's mouth: %ld values differ from the synthesised fill", grey_differ);
    image_free(&grey);
    image_free(&source);
    image_free(&crop);
    image_free(&driver);
}

int main(void) {
    test_topology();
    test_identity_and_translation();
    test_no_folds_under_yaw();
    test_paste_back_locality();
    test_engine_identity_and_mouth();
    test_mouth_from_driver();
    return test_finish("test_warp");
}
