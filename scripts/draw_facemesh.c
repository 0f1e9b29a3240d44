/* Draws the dense face mesh (src/face/facemesh.h) on images, for looking at it: per image
 * a 800x800 PNG of the face crop with the 468 points (green), the lid (blue), lip
 * (yellow outer, magenta inner) and face-oval (yellow) contours and the 10 iris points
 * (red; centres larger).  The ROI comes from BlazeFace, then three re-runs from the mesh's
 * own ROI, as the tracker settles on a still face.
 *
 * Build (after a release build of the library in build-fm-rel/) and run from the source root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *      scripts/draw_facemesh.c build-fm-rel/libvivify.a $(pkg-config --libs libavformat \
 *      libavcodec libswscale libavutil libswresample libpng libturbojpeg libcjson openblas \
 *      libmicrohttpd) -lm -lpthread -o /tmp/draw_facemesh
 *   /tmp/draw_facemesh /tmp/mesh_ examples/mona_lisa.png ../shared/data/portraits/lp_s10.jpg
 * writes /tmp/mesh_1.png, /tmp/mesh_2.png, ... */
#include "face/detector.h"
#include "face/facemesh.h"
#include "img/image.h"

#include <stdio.h>

static void draw_path(vv_image *out, const face_mesh_result *r, const int *idx, int n, bool closed,
                      const float m[3], const uint8_t colour[3]) {
    for (int i = 0; i + 1 < n + (closed ? 1 : 0); i++) {
        const float *a = r->points[idx[i]], *b = r->points[idx[(i + 1) % n]];
        image_draw_line(out, (a[0] - m[1]) / m[0], (a[1] - m[2]) / m[0], (b[0] - m[1]) / m[0], (b[1] - m[2]) / m[0],
                        colour, 1);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT_PREFIX IMAGE...\n", argv[0]);
        return 2;
    }
    face_mesh *fm;
    face_detector *detector;
    if (face_mesh_new(&fm, NULL) != VV_OK || face_detector_load(&detector, NULL) != VV_OK) {
        fprintf(stderr, "%s\n", vv_last_error());
        return 1;
    }
    static face_mesh_result r;
    for (int a = 2; a < argc; a++) {
        vv_image image = {0};
        face_box boxes[4];
        int count = 0;
        if (image_load(&image, argv[a]) != VV_OK || face_detect(detector, &image, boxes, 4, &count) != VV_OK ||
            count == 0) {
            fprintf(stderr, "%s: %s\n", argv[a], count ? vv_last_error() : "no face");
            image_free(&image);
            continue;
        }
        face_mesh_roi roi;
        face_mesh_roi_from_detection(&boxes[0], &roi);
        for (int i = 0; i < 4; i++) {
            if (face_mesh_run(fm, &image, &roi, true, &r) != VV_OK) break;
            face_mesh_roi_from_mesh((const float(*)[3])r.points, &roi);
        }
        printf("%s: score %.3f, ROI centre (%.1f, %.1f) side %.1f angle %.3f, iris %d\n", argv[a], r.score, r.roi.cx,
               r.roi.cy, r.roi.size, r.roi.angle, r.iris);
        /* m: scale and origin of the 800x800 view (the ROI shrunk to 80%). */
        float scale = r.roi.size * 0.8f / 800.0f;
        float m[3] = {scale, r.roi.cx - 400 * scale, r.roi.cy - 400 * scale};
        vv_image out = {0};
        image_create(&out, 800, 800, 3);
        float warp[6] = {m[0], 0, m[1], 0, m[0], m[2]};
        image_warp_affine(&out, &image, warp, NULL);
        const uint8_t green[3] = {0, 255, 0}, red[3] = {255, 0, 0}, blue[3] = {0, 160, 255};
        const uint8_t yellow[3] = {255, 255, 0}, magenta[3] = {255, 0, 255};
        for (int eye = 0; eye < 2; eye++) {
            draw_path(&out, &r, face_mesh_lid_upper[eye], FACE_MESH_LID_POINTS, false, m, blue);
            draw_path(&out, &r, face_mesh_lid_lower[eye], FACE_MESH_LID_POINTS, false, m, blue);
        }
        draw_path(&out, &r, face_mesh_lips_outer_upper, FACE_MESH_LIP_POINTS, false, m, yellow);
        draw_path(&out, &r, face_mesh_lips_outer_lower, FACE_MESH_LIP_POINTS, false, m, yellow);
        draw_path(&out, &r, face_mesh_lips_inner_upper, FACE_MESH_LIP_POINTS, false, m, magenta);
        draw_path(&out, &r, face_mesh_lips_inner_lower, FACE_MESH_LIP_POINTS, false, m, magenta);
        draw_path(&out, &r, face_mesh_face_oval, FACE_MESH_OVAL_POINTS, true, m, yellow);
        for (int i = 0; i < FACE_MESH_ALL; i++) {
            bool iris = i >= FACE_MESH_POINTS, centre = i == FACE_MESH_IRIS_RIGHT || i == FACE_MESH_IRIS_LEFT;
            image_draw_circle(&out, (r.points[i][0] - m[1]) / m[0], (r.points[i][1] - m[2]) / m[0],
                              centre ? 4.0f : iris ? 3.0f : 2.0f, iris ? red : green, true);
        }
        char path[4096];
        snprintf(path, sizeof path, "%s%d.png", argv[1], a - 1);
        if (image_save(&out, path) != VV_OK) fprintf(stderr, "%s\n", vv_last_error());
        image_free(&out);
        image_free(&image);
    }
    face_detector_free(detector);
    face_mesh_free(fm);
    return 0;
}
