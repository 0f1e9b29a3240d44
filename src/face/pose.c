/* face/pose: head pose from 68 points by fitting a mean 3D face under weak perspective
 * (scaled orthographic projection): image = scale * R[0..1] * X + t.
 *
 * Angle convention (pose.h): R = Rz(roll) * Ry(yaw) * Rx(pitch) maps model to camera
 * coordinates, both x right, y down, z toward the camera, with
 *   Rx(p) = [1 0 0; 0 cos p  sin p; 0 -sin p cos p]   (p > 0: nose tip moves down: looks down)
 *   Ry(y) = [cos y 0 sin y; 0 1 0; -sin y 0 cos y]     (y > 0: nose tip moves to image right)
 *   Rz(r) = [cos r -sin r 0; sin r cos r 0; 0 0 1]     (r > 0: clockwise on screen, y down)
 * so yaw = asin(-R20), pitch = atan2(-R21, R22), roll = atan2(R10, R00). */
#include "face/pose.h"

#include <math.h>
#include <string.h>

/* The mean 3D face, derived by scripts/derive_face_shape_3d.py (our own derivation, no
 * third-party model): orthographic structure from motion (Tomasi-Kanade factorisation,
 * metric upgrade, then alternating camera / shape least squares) on dlib's landmarks of
 * all 14307 face frames of the 50 talking-head clips in ../shared/data/reference; x is
 * the normal of the face's left-right symmetry plane, pitch zero is the median pitch of
 * those frames, the depth scale along the mean view axis is set anatomically (nose tip
 * 0.45 in front of the outer eye corners; the data cannot fix it), then mirror-averaged.
 * Units: outer eye corners (36, 45) 1 apart; origin: the centroid; x right, y down, z
 * toward the camera. */
static const float mean_shape_3d[68][3] = {
    {-0.8129f, -0.4009f, -0.5859f}, {-0.8015f, -0.1827f, -0.5662f}, /* 0, 1 */
    {-0.7743f, +0.0329f, -0.5630f}, {-0.7317f, +0.2458f, -0.5534f}, /* 2, 3 */
    {-0.6566f, +0.4456f, -0.5056f}, {-0.5389f, +0.6238f, -0.4252f}, /* 4, 5 */
    {-0.3863f, +0.7732f, -0.3315f}, {-0.2075f, +0.8893f, -0.2381f}, /* 6, 7 */
    {-0.0000f, +0.9250f, -0.2082f}, {+0.2075f, +0.8893f, -0.2381f}, /* 8, 9 */
    {+0.3863f, +0.7732f, -0.3315f}, {+0.5389f, +0.6238f, -0.4252f}, /* 10, 11 */
    {+0.6566f, +0.4456f, -0.5056f}, {+0.7317f, +0.2458f, -0.5534f}, /* 12, 13 */
    {+0.7743f, +0.0329f, -0.5630f}, {+0.8015f, -0.1827f, -0.5662f}, /* 14, 15 */
    {+0.8129f, -0.4009f, -0.5859f}, {-0.6621f, -0.5972f, -0.0281f}, /* 16, 17 */
    {-0.5698f, -0.7036f, +0.0950f}, {-0.4283f, -0.7478f, +0.2076f}, /* 18, 19 */
    {-0.2776f, -0.7387f, +0.2970f}, {-0.1377f, -0.6849f, +0.3471f}, /* 20, 21 */
    {+0.1377f, -0.6849f, +0.3471f}, {+0.2776f, -0.7387f, +0.2970f}, /* 22, 23 */
    {+0.4283f, -0.7478f, +0.2076f}, {+0.5698f, -0.7036f, +0.0950f}, /* 24, 25 */
    {+0.6621f, -0.5972f, -0.0281f}, {-0.0000f, -0.4999f, +0.2954f}, /* 26, 27 */
    {-0.0000f, -0.3590f, +0.3583f}, {-0.0000f, -0.2199f, +0.4294f}, /* 28, 29 */
    {-0.0000f, -0.0755f, +0.4947f}, {-0.1627f, +0.0429f, +0.2652f}, /* 30, 31 */
    {-0.0838f, +0.0677f, +0.3036f}, {-0.0000f, +0.0892f, +0.3293f}, /* 32, 33 */
    {+0.0838f, +0.0677f, +0.3036f}, {+0.1627f, +0.0429f, +0.2652f}, /* 34, 35 */
    {-0.5000f, -0.4553f, +0.0448f}, {-0.4137f, -0.5086f, +0.1071f}, /* 36, 37 */
    {-0.3107f, -0.5099f, +0.1257f}, {-0.2192f, -0.4462f, +0.1195f}, /* 38, 39 */
    {-0.3148f, -0.4268f, +0.1185f}, {-0.4171f, -0.4246f, +0.0975f}, /* 40, 41 */
    {+0.2192f, -0.4462f, +0.1195f}, {+0.3107f, -0.5099f, +0.1257f}, /* 42, 43 */
    {+0.4137f, -0.5086f, +0.1071f}, {+0.5000f, -0.4553f, +0.0448f}, /* 44, 45 */
    {+0.4171f, -0.4246f, +0.0975f}, {+0.3148f, -0.4268f, +0.1185f}, /* 46, 47 */
    {-0.2997f, +0.3630f, -0.0585f}, {-0.1941f, +0.2885f, +0.1239f}, /* 48, 49 */
    {-0.0807f, +0.2502f, +0.2200f}, {-0.0000f, +0.2708f, +0.2304f}, /* 50, 51 */
    {+0.0807f, +0.2502f, +0.2200f}, {+0.1941f, +0.2885f, +0.1239f}, /* 52, 53 */
    {+0.2997f, +0.3630f, -0.0585f}, {+0.1988f, +0.4730f, -0.0030f}, /* 54, 55 */
    {+0.0884f, +0.5238f, +0.0428f}, {-0.0000f, +0.5334f, +0.0523f}, /* 56, 57 */
    {-0.0884f, +0.5238f, +0.0428f}, {-0.1988f, +0.4730f, -0.0030f}, /* 58, 59 */
    {-0.2492f, +0.3635f, -0.0320f}, {-0.0816f, +0.3305f, +0.1822f}, /* 60, 61 */
    {-0.0000f, +0.3372f, +0.1990f}, {+0.0816f, +0.3305f, +0.1822f}, /* 62, 63 */
    {+0.2492f, +0.3635f, -0.0320f}, {+0.0835f, +0.4050f, +0.0652f}, /* 64, 65 */
    {-0.0000f, +0.4153f, +0.0745f}, {-0.0835f, +0.4050f, +0.0652f}, /* 66, 67 */
};

const float (*face_mean_shape_3d(void))[3] { return mean_shape_3d; }

void head_pose_rotation(float yaw, float pitch, float roll, float rotation[3][3]) {
    const double d2r = M_PI / 180.0;
    double cy = cos(yaw * d2r), sy = sin(yaw * d2r);
    double cp = cos(pitch * d2r), sp = sin(pitch * d2r);
    double cr = cos(roll * d2r), sr = sin(roll * d2r);
    /* Rz(roll) * Ry(yaw) * Rx(pitch), multiplied out. */
    double r[3][3] = {
        {cr * cy, -sr * cp - cr * sy * sp, -sr * sp + cr * sy * cp},
        {sr * cy, cr * cp - sr * sy * sp, cr * sp + sr * sy * cp},
        {-sy, -cy * sp, cy * cp},
    };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) rotation[i][j] = (float)r[i][j];
}

void head_pose_angles(const double r[3][3], float *yaw, float *pitch, float *roll) {
    const double r2d = 180.0 / M_PI;
    double s = -r[2][0];
    if (s > 1) s = 1;
    if (s < -1) s = -1;
    *yaw = (float)(asin(s) * r2d);
    *pitch = (float)(atan2(-r[2][1], r[2][2]) * r2d);
    *roll = (float)(atan2(r[1][0], r[0][0]) * r2d);
}

void head_pose_project(const head_pose *pose, const float shape[68][3], float out[68][2]) {
    for (int i = 0; i < 68; i++) {
        const float *x = shape[i];
        for (int k = 0; k < 2; k++) {
            const float *row = pose->rotation[k];
            out[i][k] = pose->scale * (row[0] * x[0] + row[1] * x[1] + row[2] * x[2]) +
                        (k == 0 ? pose->tx : pose->ty);
        }
    }
}

/* Point weights: the jaw contour is a silhouette that slides over the face as it turns,
 * and the lips move with speech, so both count half; the rigid eyes, brows and nose full. */
static double point_weight(int i) { return (i <= 16 || i >= 48) ? 0.5 : 1.0; }

/* Solves the n x n system a x = b (n <= 6) by Gaussian elimination with partial
 * pivoting; false when singular. */
static bool solve_small(int n, double a[6][6], double b[6], double x[6]) {
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
        if (!(fabs(a[p][c]) > 1e-300)) return false;
        if (p != c) {
            for (int k = 0; k < n; k++) { double t = a[c][k]; a[c][k] = a[p][k]; a[p][k] = t; }
            double t = b[c]; b[c] = b[p]; b[p] = t;
        }
        for (int r = c + 1; r < n; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < n; k++) a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double v = b[r];
        for (int k = r + 1; k < n; k++) v -= a[r][k] * x[k];
        x[r] = v / a[r][r];
    }
    return true;
}

/* r <- r * exp([w]x) (Rodrigues). */
static void rotation_compose(double r[3][3], const double w[3]) {
    double theta = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    double e[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    if (theta > 1e-15) {
        double k[3] = {w[0] / theta, w[1] / theta, w[2] / theta};
        double kx[3][3] = {{0, -k[2], k[1]}, {k[2], 0, -k[0]}, {-k[1], k[0], 0}};
        double s = sin(theta), c1 = 1 - cos(theta);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double kk = 0;
                for (int m = 0; m < 3; m++) kk += kx[i][m] * kx[m][j];
                e[i][j] += s * kx[i][j] + c1 * kk;
            }
    }
    double out[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out[i][j] = r[i][0] * e[0][j] + r[i][1] * e[1][j] + r[i][2] * e[2][j];
    memcpy(r, out, sizeof out);
}

static void cross3(const double a[3], const double b[3], double out[3]) {
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static bool normalise3(double v[3]) {
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (!(n > 1e-12)) return false;
    for (int i = 0; i < 3; i++) v[i] /= n;
    return true;
}

/* Weighted squared residual of the pose (r, s, t) on the points. */
static double pose_cost(const float points[68][2], const double r[3][3], double s, const double t[2]) {
    double cost = 0;
    for (int i = 0; i < 68; i++) {
        const float *x = mean_shape_3d[i];
        for (int k = 0; k < 2; k++) {
            double m = s * (r[k][0] * x[0] + r[k][1] * x[1] + r[k][2] * x[2]) + t[k];
            double d = points[i][k] - m;
            cost += point_weight(i) * d * d;
        }
    }
    return cost;
}

head_pose head_pose_estimate(const float points[68][2]) {
    head_pose pose;
    memset(&pose, 0, sizeof pose);
    for (int k = 0; k < 3; k++) pose.rotation[k][k] = 1;

    /* Weighted centroids; the table's own centroid is ~0 but the weighted one is not. */
    double wsum = 0, pc[2] = {0, 0}, xc[3] = {0, 0, 0};
    for (int i = 0; i < 68; i++) {
        double w = point_weight(i);
        if (!isfinite(points[i][0]) || !isfinite(points[i][1])) return pose;
        wsum += w;
        for (int k = 0; k < 2; k++) pc[k] += w * points[i][k];
        for (int k = 0; k < 3; k++) xc[k] += w * mean_shape_3d[i][k];
    }
    for (int k = 0; k < 2; k++) pc[k] /= wsum;
    for (int k = 0; k < 3; k++) xc[k] /= wsum;

    /* Initial guess: the weighted least-squares affine camera A = P X^T (X X^T)^-1, its
     * rows orthonormalised.  It already knows the depth, so it lands in the right basin
     * (not the depth-mirrored pose). */
    double xx[6][6] = {{0}}, px[2][3] = {{0}};
    for (int i = 0; i < 68; i++) {
        double w = point_weight(i), x[3], p[2];
        for (int k = 0; k < 3; k++) x[k] = mean_shape_3d[i][k] - xc[k];
        for (int k = 0; k < 2; k++) p[k] = points[i][k] - pc[k];
        for (int a = 0; a < 3; a++) {
            for (int b = 0; b < 3; b++) xx[a][b] += w * x[a] * x[b];
            for (int k = 0; k < 2; k++) px[k][a] += w * p[k] * x[a];
        }
    }
    double rows[2][3];
    for (int k = 0; k < 2; k++) {
        double m[6][6], b[6];
        memcpy(m, xx, sizeof m);
        for (int a = 0; a < 3; a++) b[a] = px[k][a];
        if (!solve_small(3, m, b, rows[k])) return pose;
    }
    double n0 = sqrt(rows[0][0] * rows[0][0] + rows[0][1] * rows[0][1] + rows[0][2] * rows[0][2]);
    double n1 = sqrt(rows[1][0] * rows[1][0] + rows[1][1] * rows[1][1] + rows[1][2] * rows[1][2]);
    double s = (n0 + n1) / 2;
    if (!(s > 1e-9) || !isfinite(s)) return pose;
    double r[3][3];
    double r0[3] = {rows[0][0], rows[0][1], rows[0][2]}, r1[3] = {rows[1][0], rows[1][1], rows[1][2]};
    double r2[3];
    normalise3(r0);
    double d = r0[0] * r1[0] + r0[1] * r1[1] + r0[2] * r1[2];
    for (int k = 0; k < 3; k++) r1[k] -= d * r0[k];
    if (!normalise3(r1)) return pose;
    cross3(r0, r1, r2);
    for (int k = 0; k < 3; k++) { r[0][k] = r0[k]; r[1][k] = r1[k]; r[2][k] = r2[k]; }
    double t[2];
    for (int k = 0; k < 2; k++)
        t[k] = pc[k] - s * (r[k][0] * xc[0] + r[k][1] * xc[1] + r[k][2] * xc[2]);

    /* Levenberg-Marquardt on (rotation increment w, scale, translation): the model point
     * s R (I + [w]x) X + t has d/dw = -s R[0..1] [X]x. */
    double cost = pose_cost(points, r, s, t), lambda = 1e-6;
    for (int iteration = 0; iteration < 30; iteration++) {
        double jtj[6][6] = {{0}}, jtr[6] = {0};
        for (int i = 0; i < 68; i++) {
            const float *x = mean_shape_3d[i];
            double w = point_weight(i);
            double xs[3][3] = {{0, -x[2], x[1]}, {x[2], 0, -x[0]}, {-x[1], x[0], 0}};
            for (int k = 0; k < 2; k++) {
                double proj = r[k][0] * x[0] + r[k][1] * x[1] + r[k][2] * x[2];
                double res = points[i][k] - (s * proj + t[k]);
                double j[6];
                for (int a = 0; a < 3; a++)
                    j[a] = -s * (r[k][0] * xs[0][a] + r[k][1] * xs[1][a] + r[k][2] * xs[2][a]);
                j[3] = proj;
                j[4] = k == 0;
                j[5] = k == 1;
                for (int a = 0; a < 6; a++) {
                    jtr[a] += w * j[a] * res;
                    for (int b = 0; b < 6; b++) jtj[a][b] += w * j[a] * j[b];
                }
            }
        }
        bool improved = false;
        for (int attempt = 0; attempt < 10 && !improved; attempt++) {
            double m[6][6], b[6], step[6];
            memcpy(m, jtj, sizeof m);
            memcpy(b, jtr, sizeof b);
            for (int a = 0; a < 6; a++) m[a][a] += lambda * (jtj[a][a] + 1e-12);
            if (!solve_small(6, m, b, step)) break;
            double rn[3][3], tn[2] = {t[0] + step[4], t[1] + step[5]}, sn = s + step[3];
            memcpy(rn, r, sizeof rn);
            rotation_compose(rn, step);
            double cn = pose_cost(points, rn, sn, tn);
            if (cn <= cost) {
                double change = fabs(step[0]) + fabs(step[1]) + fabs(step[2]) + fabs(step[3]) / s;
                memcpy(r, rn, sizeof rn);
                s = sn; t[0] = tn[0]; t[1] = tn[1];
                cost = cn;
                lambda = lambda * 0.1 > 1e-9 ? lambda * 0.1 : 1e-9;
                improved = true;
                if (change < 1e-9) iteration = 30;
            } else {
                lambda *= 10;
            }
        }
        if (!improved) break;
    }
    /* Re-orthonormalise against rounding from the composed increments. */
    double a0[3] = {r[0][0], r[0][1], r[0][2]}, a1[3] = {r[1][0], r[1][1], r[1][2]}, a2[3];
    normalise3(a0);
    d = a0[0] * a1[0] + a0[1] * a1[1] + a0[2] * a1[2];
    for (int k = 0; k < 3; k++) a1[k] -= d * a0[k];
    normalise3(a1);
    cross3(a0, a1, a2);
    for (int k = 0; k < 3; k++) { r[0][k] = a0[k]; r[1][k] = a1[k]; r[2][k] = a2[k]; }

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) pose.rotation[i][j] = (float)r[i][j];
    pose.scale = (float)s;
    pose.tx = (float)t[0];
    pose.ty = (float)t[1];
    head_pose_angles(r, &pose.yaw, &pose.pitch, &pose.roll);
    return pose;
}

/* The points that measure the face's width: the brows, the nose and the eyes fully, the jaw
 * contour half (as in the fit: it steadies the width against the brows' and eyes' own
 * motion), the lips not at all (their width changes with every viseme). */
static double width_weight(int i) { return i >= 48 ? 0.0 : i <= 16 ? 0.5 : 1.0; }

head_pose head_pose_estimate_rigid(const float points[68][2]) {
    head_pose pose = head_pose_estimate(points);
    if (!(pose.scale > 0)) return pose;
    /* The face's own horizontal axis: the camera's x row turned back by the roll, so that
     * image points measured along (cos roll, sin roll) project the model through it. */
    double roll = atan2((double)pose.rotation[1][0], (double)pose.rotation[0][0]);
    double c = cos(roll), sn = sin(roll), axis[3], q[68], u[68];
    for (int k = 0; k < 3; k++) axis[k] = c * pose.rotation[0][k] + sn * pose.rotation[1][k];
    double sw = 0, mq = 0, mu = 0;
    for (int i = 0; i < 68; i++) {
        const float *x = mean_shape_3d[i];
        q[i] = axis[0] * x[0] + axis[1] * x[1] + axis[2] * x[2];
        /* The jaw contour on the side turned towards the camera is the face's outline, which
         * keeps its width as the head turns (a cylinder's) where the mean shape's fixed points
         * foreshorten: x0 instead of x0 cos(yaw) (dlib's points on turned heads: 0.2-0.3 of
         * the eye distance further out at 46 degrees, as the outline puts them; the far side's
         * contour lies on the cheek, near the fixed points).  Without this a head turned 35
         * degrees read 6% wider over the training clips' tracks. */
        if (i <= 16 && x[0] * pose.yaw < 0) q[i] += x[0] * (1 - fabs(axis[0]));
        u[i] = c * points[i][0] + sn * points[i][1];
        double w = width_weight(i);
        sw += w; mq += w * q[i]; mu += w * u[i];
    }
    mq /= sw; mu /= sw;
    double num = 0, den = 0;
    for (int i = 0; i < 68; i++) {
        double w = width_weight(i);
        num += w * (u[i] - mu) * (q[i] - mq);
        den += w * (q[i] - mq) * (q[i] - mq);
    }
    double s = num / den;
    if (!(den > 1e-12) || !(s > 0) || !isfinite(s)) return pose;
    /* The translation again for this scale: the weighted centroids still coincide. */
    double wsum = 0, pc[2] = {0, 0}, xc[3] = {0, 0, 0};
    for (int i = 0; i < 68; i++) {
        double w = point_weight(i);
        wsum += w;
        for (int k = 0; k < 2; k++) pc[k] += w * points[i][k];
        for (int k = 0; k < 3; k++) xc[k] += w * mean_shape_3d[i][k];
    }
    float t[2];
    for (int k = 0; k < 2; k++)
        t[k] = (float)(pc[k] / wsum - s * (pose.rotation[k][0] * xc[0] + pose.rotation[k][1] * xc[1] + pose.rotation[k][2] * xc[2]) / wsum);
    pose.scale = (float)s;
    pose.tx = t[0];
    pose.ty = t[1];
    return pose;
}

float head_pose_residual(const head_pose *pose, const float points[68][2]) {
    if (!(pose->scale > 0)) return INFINITY;
    float projected[68][2];
    head_pose_project(pose, mean_shape_3d, projected);
    double sum = 0;
    for (int i = 0; i < 68; i++) {
        double dx = points[i][0] - projected[i][0], dy = points[i][1] - projected[i][1];
        sum += dx * dx + dy * dy;
    }
    return (float)(sqrt(sum / 68) / pose->scale);
}
