/* The hybrid engine's 3D warp input (src/models/hybrid_warp.c) on the bundled Mona Lisa,
 * cropped as the training set crops faces:
 *  1. Target = the source's own points: the warp gives the crop back (within JPEG-free
 *     rounding) and validity is 1 everywhere: nothing was invented.
 *  2. The mouth opened (lower lip and jaw moved down): validity falls inside the opened
 *     mouth, where the closed source has no pixels to move, and stays high between the
 *     eyes and brows; the warped mouth differs from the source's.
 *  3. The same validity drawn into a smaller crop (an image_to_crop scale): the same
 *     picture, resampled.
 *  4. A face too small for the 3D head: VV_ERR_NO_FACE, which training counts and falls
 *     back on.
 *  5. From a 128 px model crop (fine-tuning's frames), upsampled inside: at rest, the crop
 *     back and all valid. */
#include "face/faces.h"
#include "img/image.h"
#include "models/hybrid_warp.h"
#include "models/models.h"
#include "test.h"
#include "vivify.h"
#include "warp/mesh.h"

#define S 256

/* Mean of a float map over the pixels inside the polygon of points[first..first+n). */
static double polygon_mean(const float *map, int size, const float (*points)[2], int first, int n) {
    double sum = 0;
    long count = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            bool inside = false;
            for (int i = 0, j = n - 1; i < n; j = i++) {
                const float *a = points[first + i], *b = points[first + j];
                if ((a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0]) inside = !inside;
            }
            if (inside) sum += map[y * size + x], count++;
        }
    return count ? sum / count : NAN;
}

/* Mean over a box. */
static double box_mean(const float *map, int size, int x0, int y0, int x1, int y1) {
    double sum = 0;
    long count = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (x >= 0 && y >= 0 && x < size && y < size) sum += map[y * size + x], count++;
    return count ? sum / count : NAN;
}

int main(void) {
    test_require_models("test_hybrid_warp", "blazeface.json", "dlib", "facemesh.json", "iris.json", NULL);
    vv_image image = {0}, crop = {0};
    CHECK_OK(image_load(&image, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    face_mesh *fm = NULL;
    vv_status s = vv_faces_new(&faces, &fp);
    if (s == VV_OK) s = face_mesh_new(&fm, NULL);
    CHECK_OK(s);
    vv_face face;
    int count = 0;
    if (s == VV_OK) s = faces_detect_quick(faces, &image, &face, 1, &count);
    CHECK(s == VV_OK && count == 1);
    float *warped = malloc(3 * S * S * sizeof *warped), *validity = malloc(S * S * sizeof *validity);
    float *source = malloc(3 * S * S * sizeof *source);
    if (s != VV_OK || count != 1 || !warped || !validity || !source) goto done;

    /* The training set's crop of the face. */
    float to_image[6], to_crop[6], points[68][2];
    fsth_crop_transform((const float(*)[2])face.landmarks, S, to_image);
    affine_invert(to_image, to_crop);
    CHECK_OK(image_create(&crop, S, S, 3));
    image_warp_affine(&crop, &image, to_image, NULL);
    affine_apply_points(to_crop, (const float(*)[2])face.landmarks, points, 68);
    fsth_image_to_tensor(source, &crop);

    /* 1. At rest */
    CHECK_OK(hybrid_warp3d_inputs(fm, &crop, (const float(*)[2])points, (const float(*)[2])points, NULL, S, warped, validity));
    double diff = 0;
    float vmin = 1;
    for (int i = 0; i < 3 * S * S; i++) diff += fabsf(warped[i] - source[i]);
    for (int i = 0; i < S * S; i++) vmin = fminf(vmin, validity[i]);
    diff /= 3.0 * S * S;
    printf("at rest: mean |warp - source| %.4f (of 2), validity min %.3f\n", diff, vmin);
    CHECK(diff < 0.01);
    CHECK(vmin == 1.0f);

    /* 2. Mouth opened by a third of the nose's length: lower lip (55-59, 64-67) and chin
     * (5-11) down, the rest still. */
    float open[68][2];
    memcpy(open, points, sizeof open);
    float drop = 0.35f * (points[33][1] - points[27][1]);
    for (int i = 0; i < 68; i++) {
        bool lower_lip = (i >= 55 && i <= 59) || (i >= 64 && i <= 67);
        bool chin = i >= 5 && i <= 11;
        if (lower_lip) open[i][1] += drop;
        if (chin) open[i][1] += 0.8f * drop;
    }
    CHECK_OK(hybrid_warp3d_inputs(fm, &crop, (const float(*)[2])points, (const float(*)[2])open, NULL, S, warped, validity));
    /* the opened inner mouth: 60-67 of the target */
    double mouth = polygon_mean(validity, S, (const float(*)[2])open, 60, 8);
    /* brows and eyes, between the eyes' outer corners: the jaw's drop tips the pose
     * estimate a little, which stretches a few triangles there up to 1.3x, no more */
    int y_eyes = (int)fmaxf(open[41][1], open[46][1]) + 2, y_top = (int)fminf(open[19][1], open[24][1]) - 10;
    double upper = box_mean(validity, S, (int)open[36][0], y_top, (int)open[45][0], y_eyes);
    double mouth_change = 0;
    long mouth_pixels = 0;
    for (int y = (int)open[62][1]; y <= (int)open[66][1]; y++)
        for (int x = (int)open[60][0]; x <= (int)open[64][0]; x++, mouth_pixels++)
            for (int c = 0; c < 3; c++) mouth_change += fabsf(warped[c * S * S + y * S + x] - source[c * S * S + y * S + x]);
    mouth_change /= 3.0 * (mouth_pixels ? mouth_pixels : 1);
    printf("mouth open by %.1f px: validity inside the mouth %.3f, over brows and eyes %.3f; "
           "mouth pixels changed by %.3f (of 2)\n", drop, mouth, upper, mouth_change);
    CHECK(mouth < 0.5);
    CHECK(upper > 0.9);
    CHECK(mouth_change > 0.1);

    /* 3. The same frame's validity drawn into a crop half the size. */
    {
        float *half = malloc((S / 2) * (S / 2) * sizeof *half), *hw = malloc(3 * (S / 2) * (S / 2) * sizeof *hw);
        CHECK(half && hw);
        if (half && hw) {
            CHECK_OK(hybrid_warp3d_inputs(fm, &crop, (const float(*)[2])points, (const float(*)[2])open, NULL, S / 2, hw, half));
            double d = 0;
            for (int y = 0; y < S / 2; y++)
                for (int x = 0; x < S / 2; x++) {
                    /* the mean of the 2x2 block it covers: edges of triangles differ */
                    float m = 0.25f * (validity[(2 * y) * S + 2 * x] + validity[(2 * y) * S + 2 * x + 1] +
                                       validity[(2 * y + 1) * S + 2 * x] + validity[(2 * y + 1) * S + 2 * x + 1]);
                    d += fabsf(half[y * (S / 2) + x] - m);
                }
            d /= (S / 2) * (S / 2);
            printf("validity at %d vs %d: mean |difference| %.4f\n", S / 2, S, d);
            CHECK(d < 0.02);
        }
        free(half);
        free(hw);
    }

    /* 4. A face too small: the crop shrunk to 64 px has eyes ~12 px apart. */
    {
        vv_image small = {0};
        float small_points[68][2];
        CHECK_OK(image_resize(&small, &crop, 64, 64));
        for (int i = 0; i < 68; i++)
            for (int c = 0; c < 2; c++) small_points[i][c] = (points[i][c] + 0.5f) * 0.25f - 0.5f;
        vv_status st = hybrid_warp3d_inputs(fm, &small, (const float(*)[2])small_points, (const float(*)[2])small_points,
                                            NULL, 64, warped, validity);
        CHECK_MSG(st == VV_ERR_NO_FACE, "a 64 px face: status %d (%s)", st, vv_last_error());
        image_free(&small);
    }

    /* 5. From 128 px model crops (fine-tuning's input), upsampled inside: at rest the crop
     * comes back (through a 2x up- and downsampling) and all of it is valid. */
    {
        int n = 128;
        vv_image small = {0};
        float small_points[68][2], *tensor = malloc(3 * n * n * sizeof *tensor);
        CHECK_OK(image_resize(&small, &crop, n, n));
        for (int i = 0; i < 68; i++)
            for (int c = 0; c < 2; c++) small_points[i][c] = (points[i][c] + 0.5f) * 0.5f - 0.5f;
        if (tensor && small.data) {
            fsth_image_to_tensor(tensor, &small);
            CHECK_OK(hybrid_warp3d_crops(fm, tensor, (const float(*)[2])small_points, tensor, (const float(*)[2])small_points,
                                         n, warped, validity));
            double d = 0;
            float vm = 1;
            for (int i = 0; i < 3 * n * n; i++) d += fabsf(warped[i] - tensor[i]);
            for (int i = 0; i < n * n; i++) vm = fminf(vm, validity[i]);
            d /= 3.0 * n * n;
            printf("from a %d px crop at rest: mean |warp - crop| %.4f, validity min %.3f\n", n, d, vm);
            CHECK(d < 0.03);
            CHECK(vm == 1.0f);
        }
        free(tensor);
        image_free(&small);
    }

done:
    free(warped);
    free(validity);
    free(source);
    image_free(&crop);
    image_free(&image);
    face_mesh_free(fm);
    vv_faces_free(faces);
    return test_finish("test_hybrid_warp");
}
