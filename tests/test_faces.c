/* The public face pipeline (vv_faces: detector + calibration + 68 points + pose) on
 * photos with several faces: dlib's example images in ../shared/data/landmarks_golden,
 * whose XML gives dlib's boxes and 68 points for 43 faces in 9 images.  Every dlib face
 * must be found (IoU >= 0.5), faces come largest first, and the landmarks from our own
 * boxes stay close to dlib's (normalised by the outer-eye-corner distance). */
#include "test.h"
#include "vivify.h"

#include <stdlib.h>

typedef struct { float box[4]; float points[68][2]; } golden_face;

static float iou(const float a[4], const float b[4]) {
    float ix = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float iy = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / (area_a + area_b - inter);
}

/* Minimal reader for dlib's imglab XML: <image file='..'> <box top left width height>
 * <part name='NN' x y/> ... </box> </image>. */
static int parse_image_faces(const char *xml, const char *file, golden_face *out, int max) {
    char needle[256];
    snprintf(needle, sizeof needle, "<image file='%s'", file);
    const char *p = strstr(xml, needle);
    if (!p) return -1;
    const char *end = strstr(p, "</image>");
    int n = 0;
    while ((p = strstr(p, "<box ")) && p < end && n < max) {
        int top, left, width, height;
        if (sscanf(strstr(p, "top="), "top='%d' left='%d' width='%d' height='%d'", &top, &left,
                   &width, &height) != 4)
            return -1;
        golden_face *g = &out[n];
        g->box[0] = (float)left;
        g->box[1] = (float)top;
        g->box[2] = (float)(left + width - 1);
        g->box[3] = (float)(top + height - 1);
        const char *box_end = strstr(p, "</box>");
        for (int k = 0; k < 68; k++) {
            char part[32];
            snprintf(part, sizeof part, "<part name='%02d'", k);
            const char *q = strstr(p, part);
            int x, y;
            if (!q || q > box_end || sscanf(q + strlen(part), " x='%d' y='%d'", &x, &y) != 2) return -1;
            g->points[k][0] = (float)x;
            g->points[k][1] = (float)y;
        }
        n++;
        p = box_end;
    }
    return n;
}

int main(void) {
    const char *shared = test_require_shared("test_faces");
    /* Skipped only when a model is absent: a present but invalid one fails below. */
    test_require_models("test_faces", "blazeface.json", "dlib", NULL);
    vv_faces *faces = NULL;
    CHECK_OK(vv_faces_new(&faces, NULL));
    if (!faces) return test_finish("test_faces");

    const char *xml_names[2] = {"training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"};
    const char *images[2][5] = {
        {"2007_007763.jpg", "2008_002079.jpg", "2008_001009.jpg", "2008_001322.jpg", NULL},
        {"2008_002470.jpg", "2008_002506.jpg", "2008_004176.jpg", "2008_007676.jpg", "2009_004587.jpg"}};
    int total = 0, found_total = 0, multi_face_images = 0;
    double nme_sum = 0;
    for (int x = 0; x < 2; x++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/landmarks_golden/%s", shared, xml_names[x]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (!f) continue;
        static char xml[1 << 20];
        size_t len = fread(xml, 1, sizeof xml - 1, f);
        xml[len] = 0;
        fclose(f);
        for (int i = 0; i < 5 && images[x][i]; i++) {
            golden_face golden[16];
            int n = parse_image_faces(xml, images[x][i], golden, 16);
            CHECK_MSG(n > 0, "%s: no faces parsed", images[x][i]);
            if (n <= 0) continue;
            vv_image image = {0};
            snprintf(path, sizeof path, "%s/landmarks_golden/%s", shared, images[x][i]);
            CHECK_OK(vv_image_load(&image, path));
            vv_face found[32];
            int count = 0;
            CHECK_OK(vv_faces_detect(faces, &image, found, 32, &count));
            multi_face_images += n > 1;
            for (int k = 1; k < count; k++) { /* largest first */
                float a0 = (found[k - 1].box[2] - found[k - 1].box[0]) * (found[k - 1].box[3] - found[k - 1].box[1]);
                float a1 = (found[k].box[2] - found[k].box[0]) * (found[k].box[3] - found[k].box[1]);
                CHECK(a0 >= a1);
            }
            for (int g = 0; g < n; g++) {
                int best = -1;
                float best_iou = 0;
                for (int k = 0; k < count; k++) {
                    float v = iou(golden[g].box, found[k].box);
                    if (v > best_iou) { best_iou = v; best = k; }
                }
                total++;
                if (best_iou < 0.5f)
                    printf("missed: %s box %.0f,%.0f,%.0f,%.0f (best IoU %.2f)\n", images[x][i],
                           golden[g].box[0], golden[g].box[1], golden[g].box[2], golden[g].box[3], best_iou);
                if (best >= 0 && best_iou >= 0.5f) {
                    found_total++;
                    float eye = hypotf(golden[g].points[45][0] - golden[g].points[36][0],
                                       golden[g].points[45][1] - golden[g].points[36][1]);
                    double err = 0;
                    for (int p = 0; p < 68; p++)
                        err += hypotf(found[best].landmarks[p][0] - golden[g].points[p][0],
                                      found[best].landmarks[p][1] - golden[g].points[p][1]);
                    nme_sum += err / 68 / eye;
                }
            }
            vv_image_free(&image);
        }
    }
    double mean_nme = found_total ? nme_sum / found_total : 1;
    printf("test_faces: %d/%d dlib faces found in %d multi-face images; landmark NME from our boxes %.4f\n",
           found_total, total, multi_face_images, mean_nme);
    CHECK(total == 43);
    CHECK(multi_face_images >= 3);
    /* every face, including the ~37 px ones beside larger faces (thorough tile passes) */
    CHECK(found_total == 43);
    CHECK(mean_nme < 0.06);
    vv_faces_free(faces);
    return test_finish("test_faces");
}
