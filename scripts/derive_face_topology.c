/* Derives src/warp/face_topology.c: the canonical (mean, frontal) 468-point face mesh and
 * one triangulation of it, which the 3D head engine (src/warp/head3d.c) uses for every
 * portrait (the mesh has one fixed vertex order, so one triangulation serves all faces).
 *
 * Data: every 12th frame of the ../shared/data/train clips NOT in data/holdout.txt, tracked
 * with the mesh tracker (iris refinement on), kept when the head is near frontal (|yaw|,
 * |pitch| under 12 degrees by face/pose.h on the mesh's 68 points).  Each mesh in camera
 * coordinates (x right, y down, z towards the camera: the mesh's z negated) is aligned to
 * the running mean by a 3D similarity (face/rigid3d.h), five rounds of generalised
 * Procrustes; the mean is then put upright and frontal: x along the outer eye corners
 * (33 -> 263), y from the eyes' middle down to the chin (152) made orthogonal, z = the
 * nose's side; origin at the mean of the face oval, unit = outer eye corner distance.
 * Triangulation: Delaunay of the frontal (x, y) (src/warp/delaunay.c), triangles whose
 * centre is outside the face oval dropped (but for those filling a pocket of the oval); each triangle tagged: 0 skin, 1 / 2 inside the
 * subject's right / left eye's lid contour, 3 inside the inner lips.
 *
 * Build (after a release build in build/) and run from the source root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *      scripts/derive_face_topology.c build/libvivify.a $(pkg-config --libs libavformat \
 *      libavcodec libswscale libavutil libswresample libpng libturbojpeg libcjson openblas \
 *      libmicrohttpd) -lm -lpthread -o /tmp/derive_face_topology
 *   /tmp/derive_face_topology ../shared/data data/holdout.txt > src/warp/face_topology.c
 */
#include "face/detector.h"
#include "face/facemesh.h"
#include "face/mesh_tracker.h"
#include "face/pose.h"
#include "face/rigid3d.h"
#include "img/image.h"
#include "video/video.h"
#include "warp/delaunay.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N FACE_MESH_POINTS
#define MAX_MESHES 4000

static bool held_out(const char *holdout, const char *clip) {
    FILE *f = fopen(holdout, "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char name[256];
        if (line[0] == '#' || sscanf(line, "%255s", name) != 1) continue;
        found = !strcmp(name, clip);
    }
    fclose(f);
    return found;
}

static bool inside(const float (*poly)[2], int n, float x, float y) {
    bool in = false;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((poly[i][1] > y) != (poly[j][1] > y) &&
            x < (poly[j][0] - poly[i][0]) * (y - poly[i][1]) / (poly[j][1] - poly[i][1]) + poly[i][0])
            in = !in;
    return in;
}

/* A closed contour from an upper and a lower chain sharing their end points. */
static int contour(const int *upper, const int *lower, int count, const float (*p)[3], float out[][2]) {
    int n = 0;
    for (int i = 0; i < count; i++) { out[n][0] = p[upper[i]][0]; out[n][1] = p[upper[i]][1]; n++; }
    for (int i = count - 2; i > 0; i--) { out[n][0] = p[lower[i]][0]; out[n][1] = p[lower[i]][1]; n++; }
    return n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: derive_face_topology SHARED_DATA HOLDOUT_TXT > face_topology.c\n");
        return 2;
    }
    static float meshes[MAX_MESHES][N][3];
    int count = 0;
    face_mesh *fm = NULL;
    face_detector *detector = NULL;
    if (face_mesh_new(&fm, NULL) != VV_OK || face_detector_load(&detector, NULL) != VV_OK) {
        fprintf(stderr, "models: %s\n", vv_last_error());
        return 1;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/train", argv[1]);
    DIR *d = opendir(dir);
    if (!d) return 1;
    char *names[256];
    int clip_count = 0;
    for (struct dirent *e; (e = readdir(d)) && clip_count < 256;)
        if (strstr(e->d_name, ".mp4")) names[clip_count++] = strdup(e->d_name);
    closedir(d);
    for (int c = 0; c < clip_count && count < MAX_MESHES; c++) {
        char clip[256], path[1400];
        snprintf(clip, sizeof clip, "%s", names[c]);
        *strstr(clip, ".mp4") = 0;
        if (held_out(argv[2], clip)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[c]);
        video_reader *reader = NULL;
        mesh_tracker *tracker = NULL;
        mesh_tracker_params tp = mesh_tracker_default_params();
        if (video_reader_open(&reader, path) != VV_OK || mesh_tracker_new(&tracker, fm, detector, &tp) != VV_OK) continue;
        vv_image frame = {0};
        int kept = 0;
        for (int index = 0; count < MAX_MESHES; index++) {
            bool got = false, found = false;
            double time;
            if (video_reader_next(reader, &frame, &time, &got) != VV_OK || !got) break;
            face_mesh_result r;
            if (mesh_tracker_update(tracker, &frame, &found, &r) != VV_OK || !found || index % 12) continue;
            float p68[68][2];
            face_mesh_to_landmarks68((const float(*)[3])r.points, p68);
            head_pose pose = head_pose_estimate((const float(*)[2])p68);
            if (!(pose.scale > 0) || fabsf(pose.yaw) > 12 || fabsf(pose.pitch) > 12) continue;
            for (int i = 0; i < N; i++) {
                meshes[count][i][0] = r.points[i][0];
                meshes[count][i][1] = r.points[i][1];
                meshes[count][i][2] = -r.points[i][2];
            }
            count++;
            kept++;
        }
        fprintf(stderr, "%s: %d meshes\n", clip, kept);
        image_free(&frame);
        mesh_tracker_free(tracker);
        video_reader_close(reader);
    }
    if (count < 10) {
        fprintf(stderr, "only %d meshes\n", count);
        return 1;
    }
    /* Generalised Procrustes. */
    static float mean[N][3], aligned[N][3];
    memcpy(mean, meshes[0], sizeof mean);
    int aligned_count = count; /* the meshes the last round could align */
    for (int round = 0; round < 5; round++) {
        static double sum[N][3];
        memset(sum, 0, sizeof sum);
        int used = 0;
        for (int m = 0; m < count; m++) {
            rigid3d t;
            /* a degenerate mesh has no alignment: left out (not added unaligned) */
            if (!rigid3d_fit((const float(*)[3])meshes[m], (const float(*)[3])mean, NULL, N, &t)) continue;
            for (int i = 0; i < N; i++) {
                rigid3d_apply(&t, meshes[m][i], aligned[i]);
                for (int k = 0; k < 3; k++) sum[i][k] += aligned[i][k];
            }
            used++;
        }
        if (used < 10) {
            fprintf(stderr, "only %d meshes could be aligned\n", used);
            return 1;
        }
        if (used < count) fprintf(stderr, "Procrustes round %d: %d degenerate meshes left out\n", round, count - used);
        aligned_count = used;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < 3; k++) mean[i][k] = (float)(sum[i][k] / used);
    }
    /* Upright, frontal, unit eye distance, origin at the oval's mean. */
    double ex[3], ey[3], ez[3], centre[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) ex[k] = mean[263][k] - mean[33][k];
    double eye_distance = sqrt(ex[0] * ex[0] + ex[1] * ex[1] + ex[2] * ex[2]);
    for (int k = 0; k < 3; k++) ex[k] /= eye_distance;
    for (int k = 0; k < 3; k++) ey[k] = mean[152][k] - (mean[33][k] + mean[263][k]) / 2;
    double along = ey[0] * ex[0] + ey[1] * ex[1] + ey[2] * ex[2], len = 0;
    for (int k = 0; k < 3; k++) { ey[k] -= along * ex[k]; len += ey[k] * ey[k]; }
    for (int k = 0; k < 3; k++) ey[k] /= sqrt(len);
    ez[0] = ex[1] * ey[2] - ex[2] * ey[1];
    ez[1] = ex[2] * ey[0] - ex[0] * ey[2];
    ez[2] = ex[0] * ey[1] - ex[1] * ey[0];
    for (int i = 0; i < FACE_MESH_OVAL_POINTS; i++)
        for (int k = 0; k < 3; k++) centre[k] += mean[face_mesh_face_oval[i]][k] / FACE_MESH_OVAL_POINTS;
    static float canon[N][3];
    for (int i = 0; i < N; i++) {
        double v[3] = {mean[i][0] - centre[0], mean[i][1] - centre[1], mean[i][2] - centre[2]};
        canon[i][0] = (float)((v[0] * ex[0] + v[1] * ex[1] + v[2] * ex[2]) / eye_distance);
        canon[i][1] = (float)((v[0] * ey[0] + v[1] * ey[1] + v[2] * ey[2]) / eye_distance);
        canon[i][2] = (float)((v[0] * ez[0] + v[1] * ez[1] + v[2] * ez[2]) / eye_distance);
    }
    /* z towards the camera: the nose tip (1) must be nearer than the oval. */
    if (canon[1][2] < 0)
        for (int i = 0; i < N; i++) canon[i][2] = -canon[i][2];
    /* Triangulation. */
    static float flat[N][2];
    for (int i = 0; i < N; i++) { flat[i][0] = canon[i][0]; flat[i][1] = canon[i][1]; }
    int (*tris)[3] = NULL, tri_count = 0;
    if (delaunay_triangulate((const float(*)[2])flat, N, &tris, &tri_count) != VV_OK) return 1;
    float oval[FACE_MESH_OVAL_POINTS][2], eyes[2][2 * FACE_MESH_LID_POINTS][2], lips[2 * FACE_MESH_LIP_POINTS][2];
    for (int i = 0; i < FACE_MESH_OVAL_POINTS; i++) {
        oval[i][0] = canon[face_mesh_face_oval[i]][0];
        oval[i][1] = canon[face_mesh_face_oval[i]][1];
    }
    int eye_n[2];
    for (int e = 0; e < 2; e++)
        eye_n[e] = contour(face_mesh_lid_upper[e], face_mesh_lid_lower[e], FACE_MESH_LID_POINTS, (const float(*)[3])canon, eyes[e]);
    int lip_n = contour(face_mesh_lips_inner_upper, face_mesh_lips_inner_lower, FACE_MESH_LIP_POINTS, (const float(*)[3])canon, lips);
    printf("/* warp/face_topology: generated by scripts/derive_face_topology.c from %d near-frontal meshes of the\n"
           " * training clips (held-out people excluded); do not edit.  See warp/head3d.h. */\n"
           "#include \"warp/head3d.h\"\n\n", aligned_count);
    printf("const float face_canonical_mesh[FACE_MESH_POINTS][3] = {\n");
    for (int i = 0; i < N; i++) printf("    {%.5ff, %.5ff, %.5ff},\n", canon[i][0], canon[i][1], canon[i][2]);
    printf("};\n\n");
    int kept = 0;
    static int out_tris[2 * N][3];
    static int layers[2 * N];
    for (int t = 0; t < tri_count; t++) {
        float cx = 0, cy = 0;
        for (int k = 0; k < 3; k++) { cx += flat[tris[t][k]][0] / 3; cy += flat[tris[t][k]][1] / 3; }
        /* Outside the oval: dropped, but for a pocket where the oval is concave (all three
         * corners on the oval): the face surface spans it (a hole there shows at the
         * temples once the head turns). */
        int on_oval = 0;
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < FACE_MESH_OVAL_POINTS; i++) on_oval += face_mesh_face_oval[i] == tris[t][k];
        if (!inside((const float(*)[2])oval, FACE_MESH_OVAL_POINTS, cx, cy) && on_oval < 3) continue;
        int layer = 0;
        if (inside((const float(*)[2])eyes[0], eye_n[0], cx, cy)) layer = 1;
        else if (inside((const float(*)[2])eyes[1], eye_n[1], cx, cy)) layer = 2;
        else if (inside((const float(*)[2])lips, lip_n, cx, cy)) layer = 3;
        memcpy(out_tris[kept], tris[t], sizeof out_tris[0]);
        layers[kept++] = layer;
    }
    printf("const int face_topology_triangle_count = %d;\n", kept);
    printf("const int face_topology_triangles[][4] = { /* a, b, c (positive area in image axes), layer */\n");
    for (int t = 0; t < kept; t++)
        printf("    {%d, %d, %d, %d},\n", out_tris[t][0], out_tris[t][1], out_tris[t][2], layers[t]);
    printf("};\n");
    fprintf(stderr, "%d meshes, %d triangles (%d before the oval cut)\n", aligned_count, kept, tri_count);
    free(tris);
    face_detector_free(detector);
    face_mesh_free(fm);
    return 0;
}
