/* face/rigid3d: Horn (1987), "Closed-form solution of absolute orientation using unit
 * quaternions": the rotation is the eigenvector of the largest eigenvalue of a symmetric
 * 4x4 matrix built from the cross-covariance; scale = sum(to' . R from') / sum(|from'|^2). */
#include "face/rigid3d.h"

#include <math.h>
#include <string.h>

/* Eigen-decomposition of a symmetric 4x4 matrix by cyclic Jacobi rotations: a is
 * destroyed (its diagonal ends up holding the eigenvalues), v gets the eigenvectors as
 * columns. */
static void jacobi4(double a[4][4], double v[4][4]) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) v[i][j] = i == j;
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = 0;
        for (int p = 0; p < 4; p++)
            for (int q = p + 1; q < 4; q++) off += a[p][q] * a[p][q];
        if (off < 1e-24) break;
        for (int p = 0; p < 4; p++)
            for (int q = p + 1; q < 4; q++) {
                if (fabs(a[p][q]) < 1e-300) continue;
                double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 4; k++) { /* columns p, q */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 4; k++) { /* rows p, q */
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < 4; k++) {
                    double vkp = v[k][p], vkq = v[k][q];
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
    }
}

static void set_identity(rigid3d *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 3; i++) out->rotation[i][i] = 1;
    out->scale = 1;
}

bool rigid3d_fit(const float (*from)[3], const float (*to)[3], const float *weights, int n, rigid3d *out) {
    set_identity(out);
    if (!from || !to || n < 3) return false;
    double sw = 0, cf[3] = {0, 0, 0}, ct[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        double w = weights ? weights[i] : 1;
        if (!(w >= 0) || !isfinite(w)) return false;
        for (int k = 0; k < 3; k++) {
            if (!isfinite(from[i][k]) || !isfinite(to[i][k])) return false;
            cf[k] += w * from[i][k];
            ct[k] += w * to[i][k];
        }
        sw += w;
    }
    if (!(sw > 0)) return false;
    for (int k = 0; k < 3; k++) { cf[k] /= sw; ct[k] /= sw; }
    double s[3][3] = {{0}}, ff = 0;
    for (int i = 0; i < n; i++) {
        double w = weights ? weights[i] : 1, a[3], b[3];
        for (int k = 0; k < 3; k++) { a[k] = from[i][k] - cf[k]; b[k] = to[i][k] - ct[k]; }
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) s[r][c] += w * a[r] * b[c];
        ff += w * (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    }
    if (!(ff > 1e-20)) return false;
    double sxx = s[0][0], sxy = s[0][1], sxz = s[0][2], syx = s[1][0], syy = s[1][1], syz = s[1][2];
    double szx = s[2][0], szy = s[2][1], szz = s[2][2];
    double m[4][4] = {
        {sxx + syy + szz, syz - szy, szx - sxz, sxy - syx},
        {syz - szy, sxx - syy - szz, sxy + syx, szx + sxz},
        {szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy},
        {sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz},
    };
    double v[4][4];
    jacobi4(m, v);
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (m[i][i] > m[best][best]) best = i;
    double q0 = v[0][best], qx = v[1][best], qy = v[2][best], qz = v[3][best];
    double norm = sqrt(q0 * q0 + qx * qx + qy * qy + qz * qz);
    if (!(norm > 0)) return false;
    q0 /= norm; qx /= norm; qy /= norm; qz /= norm;
    double r[3][3] = {
        {q0 * q0 + qx * qx - qy * qy - qz * qz, 2 * (qx * qy - q0 * qz), 2 * (qx * qz + q0 * qy)},
        {2 * (qy * qx + q0 * qz), q0 * q0 - qx * qx + qy * qy - qz * qz, 2 * (qy * qz - q0 * qx)},
        {2 * (qz * qx - q0 * qy), 2 * (qz * qy + q0 * qx), q0 * q0 - qx * qx - qy * qy + qz * qz},
    };
    double dot = 0; /* sum b . R a */
    for (int rr = 0; rr < 3; rr++)
        for (int c = 0; c < 3; c++) dot += r[rr][c] * s[c][rr];
    double scale = dot / ff;
    if (!(scale > 0)) return false;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out->rotation[i][j] = (float)r[i][j];
    out->scale = (float)scale;
    for (int i = 0; i < 3; i++)
        out->translation[i] = (float)(ct[i] - scale * (r[i][0] * cf[0] + r[i][1] * cf[1] + r[i][2] * cf[2]));
    return true;
}

void rigid3d_apply(const rigid3d *t, const float in[3], float out[3]) {
    float x = in[0], y = in[1], z = in[2];
    for (int i = 0; i < 3; i++)
        out[i] = t->scale * (t->rotation[i][0] * x + t->rotation[i][1] * y + t->rotation[i][2] * z) + t->translation[i];
}

void rigid3d_invert(const rigid3d *t, rigid3d *out) {
    rigid3d inv;
    float s = t->scale > 0 ? 1 / t->scale : 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) inv.rotation[i][j] = t->rotation[j][i];
    inv.scale = s;
    for (int i = 0; i < 3; i++)
        inv.translation[i] = -s * (inv.rotation[i][0] * t->translation[0] + inv.rotation[i][1] * t->translation[1] +
                                   inv.rotation[i][2] * t->translation[2]);
    *out = inv;
}
