/* lid_closure: how shut a shut painted eye reads, by two rulers: dlib's eye aspect ratio
 * (what `vivify eval` measures blinks with) and the dense face mesh's lid gap (the mean
 * distance between its upper and lower lid contours over the eye's width).
 *
 *   lid_closure PORTRAIT [OUT_PREFIX]     render the 3D head (src/warp/head3d.c) with
 *       eye openness 1, 0.5 and 0 (head still) and print each render's readings and
 *       their ratio to the open render's; OUT_PREFIX: also save OUT_PREFIX_open1.00.png...
 *   lid_closure --measure IMAGE...        print both readings of each image (real frames
 *       of a driver's blink against its open frame; an eval --save-frames output)
 *
 * A real shut eye reads 0.1-0.15 EAR by dlib and 0.3-0.55 of its open lid gap by the mesh
 * (the held-out clips' blinks); see the readings of a render against those.
 *
 * Build (after a release build of the library in DIR) and run from the source root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *      scripts/lid_closure.c DIR/libvivify.a $(pkg-config --libs libavformat libavcodec \
 *      libswscale libavutil libswresample libpng libturbojpeg libcjson openblas \
 *      libmicrohttpd pocketsphinx) -lm -lpthread -ldl -o /tmp/lid_closure
 *   /tmp/lid_closure examples/mona_lisa.png /tmp/mona
 * Exit codes: 0 done, 1 error (message on stderr), 2 usage. */
#include "face/facemesh.h"
#include "face/faces.h"
#include "face/matte.h"
#include "face/motion.h"
#include "face/pose.h"
#include "img/image.h"
#include "vivify.h"
#include "warp/head3d.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reading {
    float ear[2], gap[2]; /* subject's right, left eye */
} reading;

/* dlib's landmarks and the mesh (BlazeFace's ROI refined once from the mesh) of one face. */
static bool face_of(vv_faces *faces, face_mesh *fm, const vv_image *image, vv_face *face, face_mesh_result *mesh) {
    int count = 0;
    if (faces_detect_quick(faces, image, face, 1, &count) != VV_OK || count == 0) return false;
    face_mesh_roi roi;
    face_mesh_roi_from_landmarks68((const float(*)[2])face->landmarks, &roi);
    if (face_mesh_run(fm, image, &roi, true, mesh) != VV_OK) return false;
    face_mesh_roi_from_mesh((const float(*)[3])mesh->points, &roi);
    return face_mesh_run(fm, image, &roi, true, mesh) == VV_OK;
}

static bool measure(vv_faces *faces, face_mesh *fm, const vv_image *image, reading *out) {
    vv_face face;
    face_mesh_result mesh;
    if (!face_of(faces, fm, image, &face, &mesh)) return false;
    for (int e = 0; e < 2; e++) {
        out->ear[e] = motion_eye_aspect((const float(*)[2])face.landmarks, e ? 42 : 36);
        const float *a = mesh.points[face_mesh_lid_upper[e][0]], *b = mesh.points[face_mesh_lid_upper[e][FACE_MESH_LID_POINTS - 1]];
        float width = hypotf(b[0] - a[0], b[1] - a[1]), gap = 0;
        for (int i = 1; i < FACE_MESH_LID_POINTS - 1; i++) {
            const float *u = mesh.points[face_mesh_lid_upper[e][i]], *l = mesh.points[face_mesh_lid_lower[e][i]];
            gap += hypotf(u[0] - l[0], u[1] - l[1]) / (FACE_MESH_LID_POINTS - 2);
        }
        out->gap[e] = width > 0 ? gap / width : NAN;
    }
    return true;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: lid_closure PORTRAIT [OUT_PREFIX] | lid_closure --measure IMAGE...\n");
        return 2;
    }
    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    face_mesh *fm = NULL;
    if (vv_faces_new(&faces, &fp) != VV_OK || face_mesh_new(&fm, NULL) != VV_OK) {
        fprintf(stderr, "lid_closure: %s\n", vv_last_error());
        return 1;
    }
    if (!strcmp(argv[1], "--measure")) {
        for (int i = 2; i < argc; i++) {
            vv_image image = {0};
            reading r;
            if (image_load(&image, argv[i]) != VV_OK || !measure(faces, fm, &image, &r)) {
                printf("%s: no face\n", argv[i]);
            } else {
                printf("%s: dlib EAR %.3f %.3f, mesh lid gap %.3f %.3f\n", argv[i], r.ear[0], r.ear[1], r.gap[0], r.gap[1]);
            }
            image_free(&image);
        }
        return 0;
    }
    vv_image image = {0};
    person_matte *pm = NULL;
    vv_face face;
    face_mesh_result mesh;
    if (image_load(&image, argv[1]) != VV_OK || person_matte_new(&pm, NULL) != VV_OK) {
        fprintf(stderr, "lid_closure: %s\n", vv_last_error());
        return 1;
    }
    if (!face_of(faces, fm, &image, &face, &mesh)) {
        fprintf(stderr, "lid_closure: no face in %s\n", argv[1]);
        return 1;
    }
    uint8_t *matte = malloc((size_t)image.width * image.height);
    head3d *h = NULL;
    head3d_params hp = head3d_default_params();
    if (!matte || person_matte_run(pm, &image, matte) != VV_OK ||
        head3d_new(&h, &image, (const float(*)[2])face.landmarks, (const float(*)[3])mesh.points, matte, &hp) != VV_OK) {
        fprintf(stderr, "lid_closure: %s\n", vv_last_error());
        return 1;
    }
    head_pose pose = head_pose_estimate((const float(*)[2])face.landmarks);
    const float openness[3] = {1, 0.5f, 0};
    reading open = {{NAN, NAN}, {NAN, NAN}};
    for (int i = 0; i < 3; i++) {
        head3d_frame f;
        memset(&f, 0, sizeof f);
        f.rigid.scale = 1;
        f.rigid.origin[0] = pose.tx;
        f.rigid.origin[1] = pose.ty;
        head_pose_rotation(0.02f, 0, 0, f.rigid.rotation); /* the full render path */
        f.eye_openness[0] = f.eye_openness[1] = openness[i];
        vv_image out = {0};
        reading r;
        if (head3d_render(h, &f, &out) != VV_OK) {
            fprintf(stderr, "lid_closure: %s\n", vv_last_error());
            return 1;
        }
        if (!measure(faces, fm, &out, &r)) {
            printf("openness %.2f: no face in the render\n", openness[i]);
        } else {
            if (i == 0) open = r;
            printf("openness %.2f: dlib EAR %.3f %.3f (%.2f %.2f of open), mesh lid gap %.3f %.3f (%.2f %.2f of open)\n",
                   openness[i], r.ear[0], r.ear[1], r.ear[0] / open.ear[0], r.ear[1] / open.ear[1], r.gap[0], r.gap[1],
                   r.gap[0] / open.gap[0], r.gap[1] / open.gap[1]);
        }
        if (argc > 2) {
            char path[1024];
            snprintf(path, sizeof path, "%s_open%.2f.png", argv[2], openness[i]);
            if (image_save(&out, path) != VV_OK) fprintf(stderr, "lid_closure: %s\n", vv_last_error());
        }
        image_free(&out);
    }
    head3d_free(h);
    free(matte);
    person_matte_free(pm);
    face_mesh_free(fm);
    vv_faces_free(faces);
    image_free(&image);
    return 0;
}
