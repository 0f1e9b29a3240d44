/* A contact sheet of the 3D head engine (src/warp/head3d.c) on one portrait: the head
 * turned through yaw -25..+25 and pitch -15..+15 degrees, and both eyes shut, each with no
 * other change; so what a head turn or a blink does to a face can be seen at a glance.
 *
 * Build (after a release build in build/) and run from the source root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *      scripts/head3d_sheet.c build/libvivify.a $(pkg-config --libs libavformat libavcodec \
 *      libswscale libavutil libswresample libpng libturbojpeg libcjson openblas libmicrohttpd) \
 *      -lm -lpthread -o /tmp/head3d_sheet
 *   /tmp/head3d_sheet PORTRAIT OUT.png [--wire] [--move]
 * --wire draws the posed mesh's triangles; --move keeps no matte (the background moves). */
#include "face/facemesh.h"
#include "face/faces.h"
#include "face/matte.h"
#include "face/pose.h"
#include "img/image.h"
#include "warp/head3d.h"
#include "vivify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CELL 320

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: head3d_sheet PORTRAIT OUT.png [--wire] [--move]\n");
        return 2;
    }
    bool move = false, wire = false;
    for (int i = 3; i < argc; i++) {
        move |= !strcmp(argv[i], "--move");
        wire |= !strcmp(argv[i], "--wire");
    }
    vv_image image = {0};
    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    face_mesh *fm = NULL;
    person_matte *pm = NULL;
    if (image_load(&image, argv[1]) != VV_OK || vv_faces_new(&faces, &fp) != VV_OK || face_mesh_new(&fm, NULL) != VV_OK ||
        person_matte_new(&pm, NULL) != VV_OK) {
        fprintf(stderr, "%s\n", vv_last_error());
        return 1;
    }
    vv_face face[4];
    int count = 0;
    if (faces_detect_quick(faces, &image, face, 4, &count) != VV_OK || count == 0) {
        fprintf(stderr, "no face\n");
        return 1;
    }
    face_mesh_roi roi;
    face_mesh_roi_from_landmarks68((const float(*)[2])face[0].landmarks, &roi);
    face_mesh_result mesh;
    face_mesh_run(fm, &image, &roi, true, &mesh);
    face_mesh_roi_from_mesh((const float(*)[3])mesh.points, &roi);
    face_mesh_run(fm, &image, &roi, true, &mesh);
    uint8_t *matte = malloc((size_t)image.width * image.height);
    person_matte_run(pm, &image, matte);
    head3d *h = NULL;
    head3d_params hp = head3d_default_params();
    hp.background_still = !move;
    if (head3d_new(&h, &image, (const float(*)[2])face[0].landmarks, (const float(*)[3])mesh.points, move ? NULL : matte, &hp) != VV_OK) {
        fprintf(stderr, "head3d: %s\n", vv_last_error());
        return 1;
    }
    head_pose pose = head_pose_estimate((const float(*)[2])face[0].landmarks);
    /* The face's crop for each cell: a square around the 68 points. */
    float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
    for (int k = 0; k < 68; k++) {
        x0 = fminf(x0, face[0].landmarks[k][0]); x1 = fmaxf(x1, face[0].landmarks[k][0]);
        y0 = fminf(y0, face[0].landmarks[k][1]); y1 = fmaxf(y1, face[0].landmarks[k][1]);
    }
    float side = fmaxf(x1 - x0, y1 - y0) * 2.0f, cx = (x0 + x1) / 2, cy = (y0 + y1) / 2 - 0.1f * side;
    struct { float yaw, pitch, eyes, gaze; const char *label; } cells[] = {
        {0, 0, 1, 0, "rest"}, {-25, 0, 1, 0, "yaw -25"}, {-12, 0, 1, 0, "yaw -12"}, {12, 0, 1, 0, "yaw +12"}, {25, 0, 1, 0, "yaw +25"},
        {0, -15, 1, 0, "pitch -15"}, {0, 15, 1, 0, "pitch +15"}, {0, 0, 0.5f, 0, "eyes half"}, {0, 0, 0, 0, "eyes shut"},
        {20, 10, 0, 0, "turned, shut"}, {0, 0.01f, 1, -0.15f, "look left"}, {0, 0.01f, 1, 0.15f, "look right"},
    };
    int n = (int)(sizeof cells / sizeof cells[0]), cols = 5, rows = (n + cols - 1) / cols;
    vv_image sheet = {0}, frame = {0}, cell = {0};
    image_create(&sheet, cols * CELL, rows * CELL, 3);
    image_create(&cell, CELL, CELL, 3);
    for (int i = 0; i < n; i++) {
        head3d_frame f;
        memset(&f, 0, sizeof f);
        f.rigid.scale = 1;
        f.rigid.origin[0] = pose.tx;
        f.rigid.origin[1] = pose.ty;
        head_pose_rotation(cells[i].yaw, cells[i].pitch, 0, f.rigid.rotation);
        /* A head turns about its neck, not its face: the pivot C about 1.3 eye distances
         * behind the face and a quarter below; t = (I - R)(C - O). */
        float e = hypotf(face[0].landmarks[45][0] - face[0].landmarks[36][0], face[0].landmarks[45][1] - face[0].landmarks[36][1]);
        float pc[3] = {0, 0.25f * e, -1.3f * e};
        for (int k = 0; k < 2; k++)
            f.rigid.translation[k] = pc[k] - (f.rigid.rotation[k][0] * pc[0] + f.rigid.rotation[k][1] * pc[1] + f.rigid.rotation[k][2] * pc[2]);
        f.eye_openness[0] = f.eye_openness[1] = cells[i].eyes;
        f.has_gaze = cells[i].gaze != 0;
        f.gaze[0][0] = f.gaze[1][0] = cells[i].gaze;
        if (head3d_render(h, &f, &frame) != VV_OK) {
            fprintf(stderr, "render: %s\n", vv_last_error());
            return 1;
        }
        if (wire) {
            const float (*pv)[3];
            const int (*tri)[3];
            const uint8_t *layer;
            int nv, nt;
            head3d_mesh(h, &pv, &nv, &tri, &layer, &nt);
            /* by layer: skin, eyes, mouth, outer rings, the side of the head */
            static const uint8_t colours[6][3] = {{255, 255, 255}, {255, 80, 80}, {80, 255, 80}, {80, 80, 255}, {255, 255, 0}, {0, 255, 255}};
            for (int t = 0; t < nt; t++)
                for (int k = 0; k < 3; k++) {
                    const float *a = pv[tri[t][k]], *b = pv[tri[t][(k + 1) % 3]];
                    image_draw_line(&frame, a[0], a[1], b[0], b[1], colours[layer[t] < 6 ? layer[t] : 0], 1);
                }
        }
        const char *dump = getenv("HEAD3D_DUMP"); /* "cell,path": the whole frame of one cell */
        char dump_path[512];
        int dump_cell;
        if (dump && sscanf(dump, "%d,%511s", &dump_cell, dump_path) == 2 && dump_cell == i) image_save(&frame, dump_path);
        const char *probe = getenv("HEAD3D_PROBE"); /* "cell,x,y": the triangles over a cell pixel */
        int probe_cell, px, py;
        if (probe && sscanf(probe, "%d,%d,%d", &probe_cell, &px, &py) == 3 && probe_cell == i) {
            const float (*pv)[3];
            const int (*tri)[3];
            const uint8_t *layer;
            int nv, nt;
            head3d_mesh(h, &pv, &nv, &tri, &layer, &nt);
            float X = cx - side / 2 + px * side / CELL, Y = cy - side / 2 + py * side / CELL;
            fprintf(stderr, "probe image (%.1f, %.1f)\n", X, Y);
            for (int t = 0; t < nt; t++) {
                const float *a = pv[tri[t][0]], *b = pv[tri[t][1]], *c = pv[tri[t][2]];
                float d1 = (b[0] - a[0]) * (Y - a[1]) - (b[1] - a[1]) * (X - a[0]);
                float d2 = (c[0] - b[0]) * (Y - b[1]) - (c[1] - b[1]) * (X - b[0]);
                float d3 = (a[0] - c[0]) * (Y - c[1]) - (a[1] - c[1]) * (X - c[0]);
                float mx = (a[0] + b[0] + c[0]) / 3 - X, my = (a[1] + b[1] + c[1]) / 3 - Y;
                if (getenv("HEAD3D_NEAR") && mx * mx + my * my < 100)
                    fprintf(stderr, "  near %d (%d %d %d) layer %d: (%.1f %.1f) (%.1f %.1f) (%.1f %.1f)\n", t, tri[t][0], tri[t][1], tri[t][2],
                            layer[t], a[0], a[1], b[0], b[1], c[0], c[1]);
                if ((d1 >= 0 && d2 >= 0 && d3 >= 0) || (d1 <= 0 && d2 <= 0 && d3 <= 0))
                    fprintf(stderr, "  triangle %d (%d %d %d) layer %d, area %.1f\n", t, tri[t][0], tri[t][1], tri[t][2], layer[t],
                            (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]));
            }
        }
        float s = side / CELL, m[6] = {s, 0, cx - side / 2, 0, s, cy - side / 2};
        image_warp_affine(&cell, &frame, m, NULL);
        int r = i / cols, c = i % cols;
        for (int y = 0; y < CELL; y++)
            memcpy(sheet.data + ((size_t)(r * CELL + y) * sheet.width + c * CELL) * 3, cell.data + (size_t)y * CELL * 3, CELL * 3);
        fprintf(stderr, "%s done\n", cells[i].label);
    }
    vv_status st = image_save(&sheet, argv[2]);
    head3d_free(h);
    return st == VV_OK ? 0 : 1;
}
