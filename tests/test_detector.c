/* face/detector: anchors, decoding and weighted NMS on synthetic model outputs; with the
 * real BlazeFace model: the example photo, a blank image, and (with ../shared) every
 * portrait and the first frame of every training clip against dlib's boxes, read from the
 * reference JSON lines with cJSON: every image must have its reference box (a missing or
 * unreadable one fails), and the mean IoU with them must reach 0.8.  Without the model or
 * ../shared those parts are skipped and the test exits 77. */
#include "face/detector.h"
#include "img/image.h"
#include "video/video.h"

#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>

#define ANCHORS FACE_DETECTOR_ANCHOR_COUNT
#define REG FACE_DETECTOR_REGRESSORS

static void test_anchors(void) {
    static float anchors[ANCHORS][2];
    face_detector_anchors(anchors);
    /* 16x16 grid, 2 anchors per cell, then 8x8 grid, 6 per cell. */
    CHECK_NEAR(anchors[0][0], 0.5 / 16, 1e-6);
    CHECK_NEAR(anchors[0][1], 0.5 / 16, 1e-6);
    CHECK_NEAR(anchors[1][0], 0.5 / 16, 1e-6);
    CHECK_NEAR(anchors[2][0], 1.5 / 16, 1e-6);
    CHECK_NEAR(anchors[32][0], 0.5 / 16, 1e-6); /* row 1 starts after 16 cells x 2 */
    CHECK_NEAR(anchors[32][1], 1.5 / 16, 1e-6);
    CHECK_NEAR(anchors[511][0], 15.5 / 16, 1e-6);
    CHECK_NEAR(anchors[511][1], 15.5 / 16, 1e-6);
    for (int a = 512; a < 518; a++) {
        CHECK_NEAR(anchors[a][0], 0.5 / 8, 1e-6);
        CHECK_NEAR(anchors[a][1], 0.5 / 8, 1e-6);
    }
    CHECK_NEAR(anchors[518][0], 1.5 / 8, 1e-6);
    CHECK_NEAR(anchors[512 + 6 * 8][1], 1.5 / 8, 1e-6);
    CHECK_NEAR(anchors[895][0], 7.5 / 8, 1e-6);
    CHECK_NEAR(anchors[895][1], 7.5 / 8, 1e-6);
    /* Every cell centre of each grid appears exactly per-cell times. */
    int hits16 = 0, hits8 = 0;
    for (int i = 0; i < ANCHORS; i++) {
        if (fabsf(anchors[i][0] - 7.5f / 16) < 1e-6f && fabsf(anchors[i][1] - 3.5f / 16) < 1e-6f) hits16++;
        if (fabsf(anchors[i][0] - 2.5f / 8) < 1e-6f && fabsf(anchors[i][1] - 6.5f / 8) < 1e-6f) hits8++;
    }
    CHECK(hits16 == 2);
    CHECK(hits8 == 6);
}

static void test_decode(void) {
    static float scores[ANCHORS], regressors[ANCHORS * REG];
    for (int i = 0; i < ANCHORS; i++) scores[i] = -10.0f; /* sigmoid ~ 4.5e-5 */
    memset(regressors, 0, sizeof regressors);
    /* Anchor of cell (x 3, y 5) in the 16x16 grid, second anchor: centre (56, 88) px. */
    int i = 2 * (5 * 16 + 3) + 1;
    scores[i] = 2.0f;
    float *r = regressors + (size_t)i * REG;
    r[0] = 4, r[1] = -2, r[2] = 40, r[3] = 50;
    for (int k = 0; k < 6; k++) r[4 + 2 * k] = (float)(k - 3), r[5 + 2 * k] = (float)(2 * k);
    /* A stride-32 anchor, cell (x 6, y 1), anchor 4: centre (208, 48), score logit 1000
     * (clipped to 100, so exactly 1 and not NaN). */
    int j = 512 + 6 * (1 * 8 + 6) + 4;
    scores[j] = 1000.0f;
    r = regressors + (size_t)j * REG;
    r[0] = -8, r[1] = 0, r[2] = 100, r[3] = 120;

    face_box boxes[8];
    int n = face_detector_decode(scores, regressors, 0.5f, boxes, 8);
    CHECK(n == 2);
    if (n != 2) return;
    face_box *a = boxes[0].score < boxes[1].score ? &boxes[0] : &boxes[1];
    face_box *b = a == &boxes[0] ? &boxes[1] : &boxes[0];
    CHECK_NEAR(a->score, 1.0 / (1.0 + exp(-2.0)), 1e-6);
    CHECK_NEAR(a->raw[0], 60 - 20, 1e-4);
    CHECK_NEAR(a->raw[1], 86 - 25, 1e-4);
    CHECK_NEAR(a->raw[2], 60 + 20, 1e-4);
    CHECK_NEAR(a->raw[3], 86 + 25, 1e-4);
    CHECK_NEAR(a->keypoints[0][0], 56 - 3, 1e-4);
    CHECK_NEAR(a->keypoints[0][1], 88 + 0, 1e-4);
    CHECK_NEAR(a->keypoints[5][0], 56 + 2, 1e-4);
    CHECK_NEAR(a->keypoints[5][1], 88 + 10, 1e-4);
    CHECK_NEAR(b->score, 1.0, 1e-6);
    CHECK_NEAR(b->raw[0], 200 - 50, 1e-4);
    CHECK_NEAR(b->raw[1], 48 - 60, 1e-4);
    CHECK_NEAR(b->raw[2], 200 + 50, 1e-4);
    CHECK_NEAR(b->raw[3], 48 + 60, 1e-4);
    /* Threshold above the first: only the clipped one survives. */
    CHECK(face_detector_decode(scores, regressors, 0.9f, boxes, 8) == 1);
    /* Capacity 1 keeps the best. */
    CHECK(face_detector_decode(scores, regressors, 0.5f, boxes, 1) == 1);
    CHECK_NEAR(boxes[0].score, 1.0, 1e-6);
    /* A NaN logit or a non-positive size is never a detection. */
    scores[7] = NAN;
    regressors[(size_t)9 * REG + 2] = -5;
    scores[9] = 5.0f;
    CHECK(face_detector_decode(scores, regressors, 0.5f, boxes, 8) == 2);
}

static face_box make_box(float x0, float y0, float x1, float y1, float score) {
    face_box b;
    memset(&b, 0, sizeof b);
    b.raw[0] = x0, b.raw[1] = y0, b.raw[2] = x1, b.raw[3] = y1;
    b.score = score;
    for (int k = 0; k < 6; k++) b.keypoints[k][0] = x0 + (float)k, b.keypoints[k][1] = y0;
    return b;
}

static void test_nms(void) {
    float a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 15, 10}, c[4] = {20, 20, 30, 30};
    CHECK_NEAR(face_box_iou(a, b), 50.0 / 150.0, 1e-6);
    CHECK_NEAR(face_box_iou(a, c), 0.0, 0);
    CHECK_NEAR(face_box_iou(a, a), 1.0, 1e-6);

    face_box boxes[4];
    boxes[0] = make_box(102, 100, 202, 200, 0.6f);  /* overlaps the best: merged into it */
    boxes[1] = make_box(300, 300, 350, 350, 0.7f);  /* separate face: kept */
    boxes[2] = make_box(100, 100, 200, 200, 0.9f);  /* best */
    boxes[3] = make_box(190, 100, 290, 200, 0.8f);  /* IoU 0.05 with the best: kept */
    int n = face_boxes_weighted_nms(boxes, 4, 0.3f);
    CHECK(n == 3);
    if (n != 3) return;
    CHECK_NEAR(boxes[0].score, 0.9, 1e-6);
    CHECK_NEAR(boxes[0].raw[0], (0.9 * 100 + 0.6 * 102) / 1.5, 1e-4);
    CHECK_NEAR(boxes[0].raw[2], (0.9 * 200 + 0.6 * 202) / 1.5, 1e-4);
    CHECK_NEAR(boxes[0].keypoints[3][0], (0.9 * 103 + 0.6 * 105) / 1.5, 1e-4);
    CHECK_NEAR(boxes[1].score, 0.8, 1e-6);
    CHECK_NEAR(boxes[1].raw[0], 190, 1e-4);
    CHECK_NEAR(boxes[2].score, 0.7, 1e-6);
    CHECK_NEAR(boxes[2].raw[0], 300, 1e-4);
    CHECK(face_boxes_weighted_nms(boxes, 0, 0.3f) == 0);

    /* Calibration keeps the box square around a point near the raw centre. */
    face_box box = make_box(100, 100, 200, 220, 0.9f);
    face_box_calibrate(&box);
    CHECK_NEAR(box.x1 - box.x0, box.y1 - box.y0, 1e-3);
    CHECK(box.x0 < 150 && box.x1 > 150 && box.y0 < 160 && box.y1 > 160);
}

static float box_iou4(const face_box *f, const float dlib[4]) {
    /* Our calibrated box uses dlib's numbers as they are (right = left + width - 1). */
    float ours[4] = {f->x0, f->y0, f->x1, f->y1};
    return face_box_iou(ours, dlib);
}

/* The first face's box of the JSON line (the `vivify landmarks` / reference format:
 * {"file", "faces": [{"box": [x0, y0, x1, y1], ...}]}) whose "file" is `name` or ends with
 * "/name", parsed with cJSON; false (with a line saying why) when there is none, or its box
 * is not four numbers. */
static bool reference_box(const char *jsonl, const char *name, float box[4]) {
    FILE *f = fopen(jsonl, "r");
    if (!f) {
        printf("  %s: cannot open\n", jsonl);
        return false;
    }
    static char line[1 << 20];
    bool found = false, named = false;
    size_t nlen = strlen(name);
    while (!named && fgets(line, sizeof line, f)) {
        cJSON *root = cJSON_Parse(line);
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(root, "file");
        if (cJSON_IsString(file)) {
            const char *s = file->valuestring;
            size_t len = strlen(s);
            named = len >= nlen && strcmp(s + len - nlen, name) == 0 && (len == nlen || s[len - nlen - 1] == '/');
        }
        if (named) {
            const cJSON *faces = cJSON_GetObjectItemCaseSensitive(root, "faces");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(faces, 0), "box");
            found = cJSON_IsArray(b) && cJSON_GetArraySize(b) == 4;
            for (int k = 0; found && k < 4; k++) {
                const cJSON *v = cJSON_GetArrayItem(b, k);
                found = cJSON_IsNumber(v);
                if (found) box[k] = (float)v->valuedouble;
            }
        }
        cJSON_Delete(root);
    }
    fclose(f);
    if (!found) printf("  %s: %s\n", jsonl, named ? "no readable first face box" : "no line for this file");
    return found;
}

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

/* Sorted names of the files in dir with one of the extensions. */
static int list_files(const char *dir, const char *const *exts, int ext_count, char names[][256],
                      int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot) continue;
        for (int i = 0; i < ext_count; i++)
            if (strcmp(dot + 1, exts[i]) == 0) {
                snprintf(names[n++], 256, "%s", e->d_name);
                break;
            }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    return n;
}

/* Skipped (test_skip) when the model is absent; a present but invalid one fails. */
static void test_model(void) {
    if (!test_model_present("blazeface.json")) {
        test_skip("model part: blazeface.json not present (./dev setup)");
        return;
    }
    face_detector *detector = NULL;
    CHECK_OK(face_detector_load(&detector, NULL));
    if (!detector) return;
    face_box faces[16];
    int count = -1;

    /* The bundled example photo: one face, where dlib's HOG detector puts it
     * (../shared/data/reference/portraits.jsonl, deb_grace_hopper_512.jpg). */
    vv_image image = {0};
    CHECK_OK(image_load(&image, VV_SOURCE_DIR "/examples/grace_hopper.jpg"));
    if (image.data) {
        double t = time_now();
        CHECK_OK(face_detect(detector, &image, faces, 16, &count));
        t = time_now() - t;
        CHECK(count == 1);
        if (count >= 1) {
            const float dlib[4] = {180, 118, 366, 304};
            float iou = box_iou4(&faces[0], dlib);
            printf("grace_hopper: %d face(s), score %.3f, box %.1f %.1f %.1f %.1f, IoU with dlib %.3f, %.1f ms\n",
                   count, faces[0].score, faces[0].x0, faces[0].y0, faces[0].x1, faces[0].y1, iou,
                   t * 1e3);
            CHECK_MSG(iou >= 0.8f, "IoU %.3f", iou); /* 0.884 when calibrated */
            CHECK(faces[0].score > 0.8f);
            /* Keypoints: right eye left of left eye, both above the nose, above the mouth. */
            CHECK(faces[0].keypoints[0][0] < faces[0].keypoints[1][0]);
            CHECK(faces[0].keypoints[0][1] < faces[0].keypoints[2][1]);
            CHECK(faces[0].keypoints[2][1] < faces[0].keypoints[3][1]);
        }
        /* In gray (one channel), the same face. */
        vv_image gray = {0};
        CHECK_OK(image_to_gray(&gray, &image));
        if (gray.data) {
            CHECK_OK(face_detect(detector, &gray, faces, 16, &count));
            CHECK(count == 1);
            if (count >= 1) CHECK(box_iou4(&faces[0], (const float[4]){180, 118, 366, 304}) >= 0.75f);
            image_free(&gray);
        }
        /* The same photo pasted into a large blank canvas: found by the tile passes. */
        vv_image big = {0};
        /* 1700 px wide: over the large-image size, so the tile passes run (7 in all). */
        if (image_create(&big, 1700, 1000, 3) == VV_OK) {
            memset(big.data, 200, (size_t)big.width * big.height * 3);
            for (int y = 0; y < image.height; y++)
                memcpy(big.data + ((size_t)(y + 450) * big.width + 1100) * 3,
                       image.data + (size_t)y * image.width * 3, (size_t)image.width * 3);
            CHECK_OK(face_detect(detector, &big, faces, 16, &count));
            CHECK(count == 1);
            if (count >= 1) {
                const float dlib[4] = {1280, 568, 1466, 754};
                CHECK_MSG(box_iou4(&faces[0], dlib) >= 0.6f, "IoU %.3f in the large canvas",
                          box_iou4(&faces[0], dlib));
            }
            image_free(&big);
        }
        image_free(&image);
    }

    /* A blank image has no face. */
    vv_image blank = {0};
    CHECK_OK(image_create(&blank, 512, 512, 3));
    if (blank.data) {
        memset(blank.data, 128, (size_t)512 * 512 * 3);
        CHECK_OK(face_detect(detector, &blank, faces, 16, &count));
        CHECK(count == 0);
        image_free(&blank);
    }
    CHECK(face_detect(detector, NULL, faces, 16, &count) == VV_ERR_INVALID_ARGUMENT);

    const char *shared = test_shared_data();
    if (!shared) {
        test_skip("shared part: ../shared/data not present");
        face_detector_free(detector);
        return;
    }
    char dir[2048], path[4096], jsonl[4096];
    static char names[256][256];

    /* Every portrait. */
    snprintf(dir, sizeof dir, "%.1900s/portraits", shared);
    snprintf(jsonl, sizeof jsonl, "%.1900s/reference/portraits.jsonl", shared);
    const char *image_exts[] = {"jpg", "jpeg", "png"};
    int n = list_files(dir, image_exts, 3, names, 256), found = 0, matched = 0;
    double iou_sum = 0, time_sum = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%.255s", dir, names[i]);
        vv_image img = {0};
        if (image_load(&img, path) != VV_OK) {
            printf("  %s: cannot load: %s\n", names[i], vv_last_error());
            continue;
        }
        double t = time_now();
        vv_status s = face_detect(detector, &img, faces, 16, &count);
        time_sum += time_now() - t;
        float ref[4], iou = 0;
        if (s == VV_OK && count > 0) {
            found++;
            if (reference_box(jsonl, names[i], ref)) {
                for (int k = 0; k < count; k++)
                    if (box_iou4(&faces[k], ref) > iou) iou = box_iou4(&faces[k], ref);
                iou_sum += iou;
                matched++;
            }
        }
        printf("  %-26s %4dx%-4d faces %d  IoU with dlib %.3f\n", names[i], img.width,
               img.height, s == VV_OK ? count : -1, iou);
        image_free(&img);
    }
    printf("portraits: %d / %d with a face, mean IoU with dlib %.3f, %.0f ms per image\n",
           found, n, matched ? iou_sum / matched : 0.0, n ? time_sum * 1e3 / n : 0.0);
    CHECK(n == 12);
    CHECK_MSG(found == n, "faces found in %d of %d portraits", found, n);
    CHECK_MSG(matched == found, "%d of %d portraits with a face have a reference box", matched, found);
    /* 0.846 with the keypoint calibration, 0.75 uncalibrated. */
    CHECK_MSG(matched > 0 && iou_sum / matched >= 0.8, "mean IoU %.3f", matched ? iou_sum / matched : 0.0);

    /* The first frame of every training clip. */
    snprintf(dir, sizeof dir, "%.1900s/train", shared);
    const char *video_exts[] = {"mp4"};
    n = list_files(dir, video_exts, 1, names, 256);
    found = 0, matched = 0, iou_sum = 0;
    int readable = 0;
    /* Every clip in optimised builds; in unoptimised (sanitizer) builds, where one model
     * pass takes a second or more, every 5th clip unless VV_TEST_FULL is set. */
    int clip_step = 1;
#ifndef __OPTIMIZE__
    if (!getenv("VV_TEST_FULL")) clip_step = 5;
#endif
    int tried = 0;
    for (int i = 0; i < n; i += clip_step) {
        tried++;
        snprintf(path, sizeof path, "%s/%.255s", dir, names[i]);
        video_reader *reader = NULL;
        if (video_reader_open(&reader, path) != VV_OK) {
            printf("  %s: cannot open: %s\n", names[i], vv_last_error());
            continue;
        }
        vv_image frame = {0};
        double when = 0;
        bool got = false;
        if (video_reader_next(reader, &frame, &when, &got) == VV_OK && got) {
            readable++;
            if (face_detect(detector, &frame, faces, 16, &count) == VV_OK && count > 0) {
                found++;
                char stem[256];
                snprintf(stem, sizeof stem, "%.200s", names[i]);
                char *dot = strrchr(stem, '.');
                if (dot) *dot = 0;
                snprintf(jsonl, sizeof jsonl, "%.1900s/reference/%s.jsonl", shared, stem);
                float ref[4], iou = 0;
                if (reference_box(jsonl, "000000.png", ref)) {
                    for (int k = 0; k < count; k++)
                        if (box_iou4(&faces[k], ref) > iou) iou = box_iou4(&faces[k], ref);
                    iou_sum += iou;
                    matched++;
                }
            } else {
                printf("  %s: no face in the first frame\n", names[i]);
            }
        }
        image_free(&frame);
        video_reader_close(reader);
    }
    printf("train clips: %d / %d first frames with a face (%d decoded; %d of %d clips tried%s), "
           "mean IoU with dlib %.3f\n", found, tried, readable, tried, n,
           clip_step > 1 ? ": unoptimised build, VV_TEST_FULL=1 tries all" : "",
           matched ? iou_sum / matched : 0.0);
    CHECK(n == 50);
    CHECK_MSG(found == tried, "faces found in %d of %d first frames", found, tried);
    CHECK_MSG(matched == found, "%d of %d first frames with a face have a reference box", matched, found);
    /* 0.835 with the keypoint calibration, 0.78 uncalibrated. */
    CHECK_MSG(matched > 0 && iou_sum / matched >= 0.8, "mean IoU %.3f", matched ? iou_sum / matched : 0.0);
    face_detector_free(detector);
}

int main(void) {
    test_anchors();
    test_decode();
    test_nms();
    test_model();
    return test_finish("test_detector");
}
