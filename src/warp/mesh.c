/* warp/mesh: layout, triangulation (Bowyer-Watson once on the mean layout), similarity
 * fits, crop transforms, synthetic-point motion and fold-over repair. */
#include "warp/mesh.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* Mean of 2880 dlib-annotated frames (../shared/data/reference, every 5th frame), each
 * normalised to eye centres (0,0)-(1,0) distance, then mirrored to be symmetric. */
static const float mean_landmarks[68][2] = {
    {-1.1322f, 0.0764f}, {-1.1188f, 0.3820f}, {-1.0830f, 0.6847f}, {-1.0234f, 0.9837f},
    {-0.9168f, 1.2648f}, {-0.7504f, 1.5162f}, {-0.5373f, 1.7289f}, {-0.2887f, 1.8949f},
    {0.0000f, 1.9459f},  {0.2887f, 1.8949f},  {0.5373f, 1.7289f},  {0.7504f, 1.5162f},
    {0.9168f, 1.2648f},  {1.0234f, 0.9837f},  {1.0830f, 0.6847f},  {1.1188f, 0.3820f},
    {1.1322f, 0.0764f},  {-0.9140f, -0.1908f}, {-0.7849f, -0.3346f}, {-0.5895f, -0.3934f},
    {-0.3814f, -0.3795f}, {-0.1886f, -0.3041f}, {0.1886f, -0.3041f}, {0.3814f, -0.3795f},
    {0.5895f, -0.3934f}, {0.7849f, -0.3346f},  {0.9140f, -0.1908f},  {0.0000f, -0.0482f},
    {0.0000f, 0.1500f},  {0.0000f, 0.3459f},   {0.0000f, 0.5491f},   {-0.2269f, 0.7082f},
    {-0.1171f, 0.7449f}, {0.0000f, 0.7761f},   {0.1171f, 0.7449f},   {0.2269f, 0.7082f},
    {-0.6901f, 0.0083f}, {-0.5707f, -0.0641f}, {-0.4280f, -0.0658f}, {-0.3018f, 0.0214f},
    {-0.4340f, 0.0487f}, {-0.5753f, 0.0514f},  {0.3018f, 0.0214f},   {0.4280f, -0.0658f},
    {0.5707f, -0.0641f}, {0.6901f, 0.0083f},   {0.5753f, 0.0514f},   {0.4340f, 0.0487f},
    {-0.4184f, 1.1506f}, {-0.2720f, 1.0487f},  {-0.1130f, 0.9976f},  {0.0000f, 1.0263f},
    {0.1130f, 0.9976f},  {0.2720f, 1.0487f},   {0.4184f, 1.1506f},   {0.2785f, 1.3095f},
    {0.1239f, 1.3834f},  {0.0000f, 1.3970f},   {-0.1239f, 1.3834f},  {-0.2785f, 1.3095f},
    {-0.3485f, 1.1521f}, {-0.1140f, 1.1070f},  {0.0000f, 1.1169f},   {0.1140f, 1.1070f},
    {0.3485f, 1.1521f},  {0.1169f, 1.2197f},   {0.0000f, 1.2346f},   {-0.1169f, 1.2197f},
};

#define MAX_TRIANGLES 320
#define MAX_NEIGHBOURS 16

static struct {
    pthread_once_t once;
    float layout[MESH_POINT_COUNT][2];
    int triangles[MAX_TRIANGLES][3];
    int triangle_count;
    int neighbours[MESH_POINT_COUNT][MAX_NEIGHBOURS];
    int neighbour_count[MESH_POINT_COUNT];
} mesh = {PTHREAD_ONCE_INIT};

const float (*face_mean_landmarks(void))[2] { return mean_landmarks; }

static void layout_build(float layout[MESH_POINT_COUNT][2]) {
    memcpy(layout, mean_landmarks, sizeof mean_landmarks);
    static const float forehead[MESH_FOREHEAD_COUNT][2] = {
        {-0.95f, -0.62f}, {-0.55f, -0.85f}, {0.0f, -0.92f}, {0.55f, -0.85f}, {0.95f, -0.62f}};
    memcpy(layout[MESH_FOREHEAD_FIRST], forehead, sizeof forehead);
    for (int k = 0; k < MESH_JAW_OUTER_COUNT; k++) {
        const float *j = mean_landmarks[2 * k];
        float dx = j[0], dy = j[1] - 0.35f, len = sqrtf(dx * dx + dy * dy);
        layout[MESH_JAW_OUTER_FIRST + k][0] = j[0] + 0.32f * dx / len;
        layout[MESH_JAW_OUTER_FIRST + k][1] = j[1] + 0.32f * dy / len;
    }
    const float pi = 3.14159265f;
    for (int k = 0; k < MESH_HEAD_RING_COUNT; k++) {
        float a = -pi / 2 + 2 * pi * (float)k / MESH_HEAD_RING_COUNT;
        layout[MESH_HEAD_RING_FIRST + k][0] = 1.75f * cosf(a);
        layout[MESH_HEAD_RING_FIRST + k][1] = MESH_CROP_CENTER_Y + 2.25f * sinf(a);
    }
    for (int k = 0; k < MESH_OUTER_RING_COUNT; k++) {
        float a = -pi / 2 + 2 * pi * ((float)k + 0.5f) / MESH_OUTER_RING_COUNT;
        layout[MESH_OUTER_RING_FIRST + k][0] = 2.65f * cosf(a);
        layout[MESH_OUTER_RING_FIRST + k][1] = MESH_CROP_CENTER_Y + 2.85f * sinf(a);
    }
    const float h = MESH_CROP_UNITS / 2;
    for (int k = 0; k < MESH_BORDER_COUNT; k++) { /* clockwise from the top-left corner */
        int side = k / 4, step = k % 4;
        float t = -h + (float)step * h / 2, x, y;
        switch (side) {
        case 0: x = t; y = -h; break;
        case 1: x = h; y = t; break;
        case 2: x = -t; y = h; break;
        default: x = -h; y = -t; break;
        }
        layout[MESH_BORDER_FIRST + k][0] = x;
        layout[MESH_BORDER_FIRST + k][1] = MESH_CROP_CENTER_Y + y;
    }
}

/* ---- Bowyer-Watson Delaunay triangulation (double precision, small n). ---- */
static bool in_circumcircle(const double p[][2], const int t[3], double x, double y) {
    double ax = p[t[0]][0] - x, ay = p[t[0]][1] - y;
    double bx = p[t[1]][0] - x, by = p[t[1]][1] - y;
    double cx = p[t[2]][0] - x, cy = p[t[2]][1] - y;
    double det = (ax * ax + ay * ay) * (bx * cy - cx * by) - (bx * bx + by * by) * (ax * cy - cx * ay) +
                 (cx * cx + cy * cy) * (ax * by - bx * ay);
    double orient = (p[t[1]][0] - p[t[0]][0]) * (p[t[2]][1] - p[t[0]][1]) -
                    (p[t[1]][1] - p[t[0]][1]) * (p[t[2]][0] - p[t[0]][0]);
    return orient > 0 ? det > 1e-12 : det < -1e-12;
}

static int delaunay(const float (*points)[2], int n, int (*out)[3], int max_out) {
    enum { CAP = 1024 };
    static double p[MESH_POINT_COUNT + 3][2];
    int tri[CAP][3], count = 0;
    for (int i = 0; i < n; i++) { p[i][0] = points[i][0]; p[i][1] = points[i][1]; }
    p[n][0] = -1000; p[n][1] = -1000;
    p[n + 1][0] = 1000; p[n + 1][1] = -1000;
    p[n + 2][0] = 0; p[n + 2][1] = 1000;
    tri[count][0] = n; tri[count][1] = n + 1; tri[count][2] = n + 2; count++;
    for (int i = 0; i < n; i++) {
        int edges[CAP][2], edge_count = 0;
        for (int t = 0; t < count;) {
            if (in_circumcircle(p, tri[t], p[i][0], p[i][1])) {
                for (int e = 0; e < 3; e++) {
                    int a = tri[t][e], b = tri[t][(e + 1) % 3], shared = -1;
                    for (int k = 0; k < edge_count; k++)
                        if ((edges[k][0] == b && edges[k][1] == a) || (edges[k][0] == a && edges[k][1] == b))
                            shared = k;
                    if (shared >= 0) edges[shared][0] = edges[shared][1] = -1;
                    else if (edge_count < CAP) { edges[edge_count][0] = a; edges[edge_count][1] = b; edge_count++; }
                }
                memcpy(tri[t], tri[--count], sizeof tri[t]);
            } else {
                t++;
            }
        }
        for (int k = 0; k < edge_count && count < CAP; k++) {
            if (edges[k][0] < 0) continue;
            tri[count][0] = edges[k][0]; tri[count][1] = edges[k][1]; tri[count][2] = i; count++;
        }
    }
    int kept = 0;
    for (int t = 0; t < count && kept < max_out; t++) {
        if (tri[t][0] >= n || tri[t][1] >= n || tri[t][2] >= n) continue;
        int a = tri[t][0], b = tri[t][1], c = tri[t][2];
        double area = (p[b][0] - p[a][0]) * (p[c][1] - p[a][1]) - (p[b][1] - p[a][1]) * (p[c][0] - p[a][0]);
        if (fabs(area) < 1e-9) continue; /* collinear border points */
        out[kept][0] = a;
        out[kept][1] = area > 0 ? b : c;
        out[kept][2] = area > 0 ? c : b;
        kept++;
    }
    return kept;
}

static void add_neighbour(int a, int b) {
    for (int k = 0; k < mesh.neighbour_count[a]; k++)
        if (mesh.neighbours[a][k] == b) return;
    if (mesh.neighbour_count[a] < MAX_NEIGHBOURS) mesh.neighbours[a][mesh.neighbour_count[a]++] = b;
}

static void mesh_init(void) {
    layout_build(mesh.layout);
    /* Triangulate with the mouth and eyes held open so that their inner polygons get
     * triangles of their own: closing them later collapses those, as eyelids and lips do. */
    float open[MESH_POINT_COUNT][2];
    memcpy(open, mesh.layout, sizeof open);
    for (int k = 49; k <= 53; k++) open[k][1] -= 0.06f;
    for (int k = 65; k <= 67; k++) open[k][1] += 0.08f;
    for (int k = 55; k <= 59; k++) open[k][1] += 0.06f;
    open[60][0] += 0.04f;
    open[64][0] -= 0.04f;
    static const int upper_lids[] = {37, 38, 43, 44}, lower_lids[] = {40, 41, 46, 47};
    for (int k = 0; k < 4; k++) { open[upper_lids[k]][1] -= 0.03f; open[lower_lids[k]][1] += 0.03f; }
    mesh.triangle_count = delaunay((const float(*)[2])open, MESH_POINT_COUNT, mesh.triangles, MAX_TRIANGLES);
    for (int t = 0; t < mesh.triangle_count; t++)
        for (int e = 0; e < 3; e++) {
            add_neighbour(mesh.triangles[t][e], mesh.triangles[t][(e + 1) % 3]);
            add_neighbour(mesh.triangles[t][(e + 1) % 3], mesh.triangles[t][e]);
        }
}

const float (*mesh_mean_layout(void))[2] {
    pthread_once(&mesh.once, mesh_init);
    return (const float(*)[2])mesh.layout;
}

const int (*mesh_triangles(void))[3] {
    pthread_once(&mesh.once, mesh_init);
    return (const int(*)[3])mesh.triangles;
}

int mesh_triangle_count(void) {
    pthread_once(&mesh.once, mesh_init);
    return mesh.triangle_count;
}

/* ---- Similarity and affine helpers. ---- */
void similarity_fit(const float (*from)[2], const float (*to)[2], const int *idx, int count, float sim[4]) {
    double mfx = 0, mfy = 0, mtx = 0, mty = 0;
    for (int k = 0; k < count; k++) {
        int i = idx ? idx[k] : k;
        mfx += from[i][0]; mfy += from[i][1]; mtx += to[i][0]; mty += to[i][1];
    }
    if (count <= 0) { sim[0] = 1; sim[1] = sim[2] = sim[3] = 0; return; }
    mfx /= count; mfy /= count; mtx /= count; mty /= count;
    double sxx = 0, sab = 0, sba = 0;
    for (int k = 0; k < count; k++) {
        int i = idx ? idx[k] : k;
        double fx = from[i][0] - mfx, fy = from[i][1] - mfy, tx = to[i][0] - mtx, ty = to[i][1] - mty;
        sxx += fx * fx + fy * fy;
        sab += fx * tx + fy * ty;
        sba += fx * ty - fy * tx;
    }
    double a = sxx > 0 ? sab / sxx : 1, b = sxx > 0 ? sba / sxx : 0;
    sim[0] = (float)a;
    sim[1] = (float)b;
    sim[2] = (float)(mtx - (a * mfx - b * mfy));
    sim[3] = (float)(mty - (b * mfx + a * mfy));
}

void similarity_apply(const float sim[4], float x, float y, float *ox, float *oy) {
    *ox = sim[0] * x - sim[1] * y + sim[2];
    *oy = sim[1] * x + sim[0] * y + sim[3];
}

void similarity_to_affine(const float sim[4], float m[6]) {
    m[0] = sim[0]; m[1] = -sim[1]; m[2] = sim[2];
    m[3] = sim[1]; m[4] = sim[0];  m[5] = sim[3];
}

void affine_invert(const float m[6], float inv[6]) {
    double det = (double)m[0] * m[4] - (double)m[1] * m[3];
    if (fabs(det) < 1e-20) det = 1e-20;
    double a = m[4] / det, b = -m[1] / det, c = -m[3] / det, d = m[0] / det;
    inv[0] = (float)a; inv[1] = (float)b; inv[2] = (float)(-(a * m[2] + b * m[5]));
    inv[3] = (float)c; inv[4] = (float)d; inv[5] = (float)(-(c * m[2] + d * m[5]));
}

void affine_apply_points(const float m[6], const float (*in)[2], float (*out)[2], int count) {
    for (int k = 0; k < count; k++) {
        float x = in[k][0], y = in[k][1];
        out[k][0] = m[0] * x + m[1] * y + m[2];
        out[k][1] = m[3] * x + m[4] * y + m[5];
    }
}

/* Least-squares affine over idx (from -> to), as a 2x3 matrix. */
static void affine_fit(const float (*from)[2], const float (*to)[2], const int *idx, int count, float m[6]) {
    double s[3][3] = {{0}}, bx[3] = {0}, by[3] = {0};
    for (int k = 0; k < count; k++) {
        int i = idx[k];
        double v[3] = {from[i][0], from[i][1], 1};
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++) s[r][c] += v[r] * v[c];
            bx[r] += v[r] * to[i][0];
            by[r] += v[r] * to[i][1];
        }
    }
    /* 3x3 solve by Cramer's rule; a degenerate set falls back to a similarity. */
    double det = s[0][0] * (s[1][1] * s[2][2] - s[1][2] * s[2][1]) - s[0][1] * (s[1][0] * s[2][2] - s[1][2] * s[2][0]) +
                 s[0][2] * (s[1][0] * s[2][1] - s[1][1] * s[2][0]);
    if (fabs(det) < 1e-9) {
        float sim[4];
        similarity_fit(from, to, idx, count, sim);
        similarity_to_affine(sim, m);
        return;
    }
    for (int row = 0; row < 2; row++) {
        const double *b = row ? by : bx;
        for (int col = 0; col < 3; col++) {
            double t[3][3];
            memcpy(t, s, sizeof t);
            for (int r = 0; r < 3; r++) t[r][col] = b[r];
            double d = t[0][0] * (t[1][1] * t[2][2] - t[1][2] * t[2][1]) - t[0][1] * (t[1][0] * t[2][2] - t[1][2] * t[2][0]) +
                       t[0][2] * (t[1][0] * t[2][1] - t[1][1] * t[2][0]);
            m[row * 3 + col] = (float)(d / det);
        }
    }
}

/* Face units -> crop pixels for a crop of `size`: scale size/MESH_CROP_UNITS. */
static void units_to_crop(int size, float *scale, float *ox, float *oy) {
    *scale = (float)size / MESH_CROP_UNITS;
    *ox = (float)size / 2;
    *oy = (float)size / 2 - MESH_CROP_CENTER_Y * *scale;
}

void mesh_crop_transform(const float landmarks[68][2], int crop_size, float crop_to_image[6],
                         float image_to_crop[6]) {
    /* Face frame from the rigid-ish points (eyes, nose, brows, jaw top). */
    static const int rigid[] = {0, 1, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47};
    float sim[4]; /* face units -> image */
    similarity_fit(mean_landmarks, landmarks, rigid, (int)(sizeof rigid / sizeof rigid[0]), sim);
    float scale, ox, oy;
    units_to_crop(crop_size, &scale, &ox, &oy);
    /* crop -> units: u = (x - ox) / scale; then units -> image by sim. */
    float u[6] = {1 / scale, 0, -ox / scale, 0, 1 / scale, -oy / scale}, s[6];
    similarity_to_affine(sim, s);
    crop_to_image[0] = s[0] * u[0] + s[1] * u[3];
    crop_to_image[1] = s[0] * u[1] + s[1] * u[4];
    crop_to_image[2] = s[0] * u[2] + s[1] * u[5] + s[2];
    crop_to_image[3] = s[3] * u[0] + s[4] * u[3];
    crop_to_image[4] = s[3] * u[1] + s[4] * u[4];
    crop_to_image[5] = s[3] * u[2] + s[4] * u[5] + s[5];
    affine_invert(crop_to_image, image_to_crop);
}

/* ---- Folds. ---- */
static float triangle_area(const float (*p)[2], const int t[3]) {
    return 0.5f * ((p[t[1]][0] - p[t[0]][0]) * (p[t[2]][1] - p[t[0]][1]) -
                   (p[t[1]][1] - p[t[0]][1]) * (p[t[2]][0] - p[t[0]][0]));
}

/* Triangles wholly inside an eye or the inner mouth may legitimately collapse. */
static bool triangle_may_collapse(const int t[3]) {
    bool eye = true, mouth = true;
    for (int e = 0; e < 3; e++) {
        eye &= t[e] >= 36 && t[e] <= 47;
        mouth &= t[e] >= 48 && t[e] <= 67;
    }
    return eye || mouth;
}

int mesh_count_folds(const float points[MESH_POINT_COUNT][2], float min_area) {
    pthread_once(&mesh.once, mesh_init);
    int folds = 0;
    for (int t = 0; t < mesh.triangle_count; t++)
        if (!triangle_may_collapse(mesh.triangles[t]) && triangle_area(points, mesh.triangles[t]) <= min_area)
            folds++;
    return folds;
}

/* Moves the movable vertices of flipped triangles towards the position their neighbours'
 * displacements imply (relative to `reference`), until no triangle is flipped. */
static int folds_relax(float (*p)[2], const float (*reference)[2], const bool *movable, float min_area,
                       int iterations) {
    int remaining = 0;
    for (int it = 0; it < iterations; it++) {
        bool flag[MESH_POINT_COUNT] = {false};
        remaining = 0;
        for (int t = 0; t < mesh.triangle_count; t++) {
            const int *tri = mesh.triangles[t];
            if (triangle_may_collapse(tri) || triangle_area((const float(*)[2])p, tri) > min_area) continue;
            remaining++;
            for (int e = 0; e < 3; e++) flag[tri[e]] = true;
        }
        if (!remaining) return 0;
        for (int v = 0; v < MESH_POINT_COUNT; v++) {
            if (!flag[v] || !movable[v] || !mesh.neighbour_count[v]) continue;
            float sx = 0, sy = 0;
            for (int k = 0; k < mesh.neighbour_count[v]; k++) {
                int n = mesh.neighbours[v][k];
                sx += p[n][0] + reference[v][0] - reference[n][0];
                sy += p[n][1] + reference[v][1] - reference[n][1];
            }
            sx /= (float)mesh.neighbour_count[v];
            sy /= (float)mesh.neighbour_count[v];
            p[v][0] = 0.5f * p[v][0] + 0.5f * sx;
            p[v][1] = 0.5f * p[v][1] + 0.5f * sy;
        }
    }
    return remaining;
}

void mesh_source_points(const float landmarks[68][2], int crop_size, float out[MESH_POINT_COUNT][2]) {
    pthread_once(&mesh.once, mesh_init);
    float scale, ox, oy;
    units_to_crop(crop_size, &scale, &ox, &oy);
    float reference[MESH_POINT_COUNT][2];
    for (int i = 0; i < MESH_POINT_COUNT; i++) {
        reference[i][0] = mesh.layout[i][0] * scale + ox;
        reference[i][1] = mesh.layout[i][1] * scale + oy;
    }
    memcpy(out, reference, sizeof reference);
    memcpy(out, landmarks, 68 * sizeof out[0]);
    /* Synthetic points near the face (forehead, beyond the jaw) follow the source face's own
     * shape: place them with the similarity from the mean face to these landmarks. */
    float sim[4];
    similarity_fit((const float(*)[2])reference, landmarks, NULL, 68, sim);
    for (int i = MESH_FOREHEAD_FIRST; i < MESH_HEAD_RING_FIRST; i++)
        similarity_apply(sim, reference[i][0], reference[i][1], &out[i][0], &out[i][1]);
    for (int k = 0; k < MESH_JAW_OUTER_COUNT; k++) { /* keep the ring just outside this jaw */
        int j = 2 * k, o = MESH_JAW_OUTER_FIRST + k;
        float dx = reference[o][0] - reference[j][0], dy = reference[o][1] - reference[j][1];
        out[o][0] = landmarks[j][0] + sim[0] * dx - sim[1] * dy;
        out[o][1] = landmarks[j][1] + sim[1] * dx + sim[0] * dy;
    }
    bool movable[MESH_POINT_COUNT] = {false};
    for (int i = MESH_LANDMARKS; i < MESH_BORDER_FIRST; i++) movable[i] = true;
    folds_relax(out, (const float(*)[2])reference, movable, 0.5f, 60);
}

/* Damps the head similarity `head` (source -> target) towards the identity when its motion
 * of the head ring is near noise level: see mesh_target_points_damped.  false when it is left
 * as it is (damping under 0.1%). */
static bool head_motion_damp(const float (*source)[2], const float head[4], float still, float damped[4]) {
    float eyes = hypotf(source[45][0] - source[36][0], source[45][1] - source[36][1]);
    if (!(eyes > 0)) return false;
    double sum = 0;
    for (int i = MESH_HEAD_RING_FIRST; i < MESH_OUTER_RING_FIRST; i++) {
        float hx, hy;
        similarity_apply(head, source[i][0], source[i][1], &hx, &hy);
        sum += (double)(hx - source[i][0]) * (hx - source[i][0]) + (double)(hy - source[i][1]) * (hy - source[i][1]);
    }
    double m2 = sum / MESH_HEAD_RING_COUNT / ((double)eyes * eyes), z2 = (double)still * still;
    float k = (float)(m2 / (m2 + z2));
    if (k > 0.999f) return false;
    /* The similarity's change from the identity, scaled by k: x -> x + k (head(x) - x). */
    damped[0] = 1 + k * (head[0] - 1);
    damped[1] = k * head[1];
    damped[2] = k * head[2];
    damped[3] = k * head[3];
    return true;
}

/* out = a o b^-1 for similarities [a, b, tx, ty] (x' = a x - b y + tx, y' = b x + a y + ty). */
static void similarity_compose_inverse(const float a[4], const float b[4], float out[4]) {
    double d = (double)b[0] * b[0] + (double)b[1] * b[1];
    if (d < 1e-20) d = 1e-20;
    /* b^-1: [p, q] = [b0, -b1] / d, translation -(p tx - q ty, q tx + p ty). */
    double p = b[0] / d, q = -b[1] / d;
    double itx = -(p * b[2] - q * b[3]), ity = -(q * b[2] + p * b[3]);
    /* a o b^-1: rotation-scale a * (p, q), translation a applied to (itx, ity). */
    out[0] = (float)(a[0] * p - a[1] * q);
    out[1] = (float)(a[0] * q + a[1] * p);
    out[2] = (float)(a[0] * itx - a[1] * ity + a[2]);
    out[3] = (float)(a[1] * itx + a[0] * ity + a[3]);
}

int mesh_target_points(const float source[MESH_POINT_COUNT][2], const float target_landmarks[68][2],
                       const mesh_motion *motion, float out[MESH_POINT_COUNT][2]) {
    return mesh_target_points_damped(source, target_landmarks, motion, 0, out);
}

int mesh_target_points_damped(const float source[MESH_POINT_COUNT][2], const float target_landmarks[68][2],
                              const mesh_motion *motion, float still, float out[MESH_POINT_COUNT][2]) {
    pthread_once(&mesh.once, mesh_init);
    memcpy(out, source, MESH_POINT_COUNT * sizeof out[0]);
    memcpy(out, target_landmarks, 68 * sizeof out[0]);
    mesh_motion all = {true, true};
    if (!motion) motion = &all;
    static const int rigid[] = {0, 1, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35,
                                36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47};
    static const int upper[] = {17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
                                35, 36, 39, 42, 45};
    float head[4], forehead[6], damped_landmarks[68][2];
    similarity_fit(source, target_landmarks, rigid, (int)(sizeof rigid / sizeof rigid[0]), head);
    if (still > 0) {
        /* Damp a head motion near noise level: the face is moved back by
         * the fitted similarity and on by the damped one, so its expression is kept. */
        float damped[4];
        if (head_motion_damp(source, head, still, damped)) {
            float correction[4]; /* damped o head^-1 */
            similarity_compose_inverse(damped, head, correction);
            for (int k = 0; k < 68; k++)
                similarity_apply(correction, target_landmarks[k][0], target_landmarks[k][1], &damped_landmarks[k][0],
                                 &damped_landmarks[k][1]);
            memcpy(out, damped_landmarks, sizeof damped_landmarks);
            target_landmarks = (const float(*)[2])damped_landmarks; /* the damped face from here on */
            memcpy(head, damped, sizeof head);
        }
    }
    affine_fit(source, target_landmarks, upper, (int)(sizeof upper / sizeof upper[0]), forehead);
    /* The layout's vertical position says how much a ring point belongs to the head. */
    const float (*layout)[2] = (const float(*)[2])mesh.layout;
    if (motion->head) {
        for (int i = MESH_FOREHEAD_FIRST; i < MESH_FOREHEAD_FIRST + MESH_FOREHEAD_COUNT; i++) {
            float x = source[i][0], y = source[i][1];
            out[i][0] = forehead[0] * x + forehead[1] * y + forehead[2];
            out[i][1] = forehead[3] * x + forehead[4] * y + forehead[5];
        }
        /* Beyond the jaw: the head's motion plus a share of the jaw point's own (expression)
         * motion, all of it by the ears, less towards the chin: when the mouth opens the
         * chin slides over the neck and collar, which stay where they are. */
        static const float jaw_share[MESH_JAW_OUTER_COUNT] = {1, 1, 0.6f, 0.3f, 0.3f, 0.3f, 0.6f, 1, 1};
        for (int k = 0; k < MESH_JAW_OUTER_COUNT; k++) {
            int j = 2 * k, o = MESH_JAW_OUTER_FIRST + k;
            float hx, hy, jx, jy;
            similarity_apply(head, source[o][0], source[o][1], &hx, &hy);
            similarity_apply(head, source[j][0], source[j][1], &jx, &jy);
            out[o][0] = hx + jaw_share[k] * (target_landmarks[j][0] - jx);
            out[o][1] = hy + jaw_share[k] * (target_landmarks[j][1] - jy);
        }
        for (int i = MESH_HEAD_RING_FIRST; i < MESH_OUTER_RING_FIRST; i++) {
            float y = layout[i][1], w = y <= 1.2f ? 1.0f : y >= 2.7f ? 0.6f : 1.0f - 0.4f * (y - 1.2f) / 1.5f;
            float hx, hy;
            similarity_apply(head, source[i][0], source[i][1], &hx, &hy);
            out[i][0] = source[i][0] + w * (hx - source[i][0]);
            out[i][1] = source[i][1] + w * (hy - source[i][1]);
        }
    }
    if (motion->torso) {
        for (int i = MESH_OUTER_RING_FIRST; i < MESH_BORDER_FIRST; i++) {
            float y = layout[i][1], w = y <= 0.5f ? 0.35f : y >= 2.5f ? 0.15f : 0.35f - 0.2f * (y - 0.5f) / 2.0f;
            float hx, hy;
            similarity_apply(head, source[i][0], source[i][1], &hx, &hy);
            out[i][0] = source[i][0] + w * (hx - source[i][0]);
            out[i][1] = source[i][1] + w * (hy - source[i][1]);
        }
    }
    /* Fold-overs: relax the synthetic points first; if the face itself still folds (a
     * turned head's nose tip passing its nostril, the jaw crossing the nose line), pull the
     * non-rigid part of the offending outer landmarks (jaw, brows, nose) back towards the
     * head's similarity motion, point by point, until nothing is flipped. */
    bool movable[MESH_POINT_COUNT] = {false};
    for (int i = MESH_LANDMARKS; i < MESH_BORDER_FIRST; i++) movable[i] = true;
    int folds = folds_relax(out, source, movable, 0.0f, 60);
    float weight[36];
    for (int i = 0; i < 36; i++) weight[i] = 1;
    for (int it = 0; folds && it < 40; it++) {
        bool flag[36] = {false};
        for (int t = 0; t < mesh.triangle_count; t++) {
            const int *tri = mesh.triangles[t];
            if (triangle_may_collapse(tri) || triangle_area((const float(*)[2])out, tri) > 0) continue;
            for (int e = 0; e < 3; e++)
                if (tri[e] < 36) flag[tri[e]] = true;
        }
        for (int i = 0; i < 36; i++) {
            if (!flag[i]) continue;
            weight[i] *= 0.75f;
            float hx, hy;
            similarity_apply(head, source[i][0], source[i][1], &hx, &hy);
            out[i][0] = hx + weight[i] * (target_landmarks[i][0] - hx);
            out[i][1] = hy + weight[i] * (target_landmarks[i][1] - hy);
        }
        folds = folds_relax(out, source, movable, 0.0f, 20);
    }
    return folds;
}
