/* warp/delaunay: Bowyer-Watson insertion; each new point removes the triangles whose
 * circumcircle holds it and fans the hole's boundary to it.  Circumcircles are cached. */
#include "warp/delaunay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tri {
    int v[3];
    double cx, cy, r2; /* circumcircle */
} tri;

static bool circumcircle(const double (*p)[2], tri *t) {
    const double *a = p[t->v[0]], *b = p[t->v[1]], *c = p[t->v[2]];
    double d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]));
    if (fabs(d) < 1e-12) return false;
    double a2 = a[0] * a[0] + a[1] * a[1], b2 = b[0] * b[0] + b[1] * b[1], c2 = c[0] * c[0] + c[1] * c[1];
    t->cx = (a2 * (b[1] - c[1]) + b2 * (c[1] - a[1]) + c2 * (a[1] - b[1])) / d;
    t->cy = (a2 * (c[0] - b[0]) + b2 * (a[0] - c[0]) + c2 * (b[0] - a[0])) / d;
    double dx = a[0] - t->cx, dy = a[1] - t->cy;
    t->r2 = dx * dx + dy * dy;
    return true;
}

vv_status delaunay_triangulate(const float (*points)[2], int count, int (**triangles)[3], int *triangle_count) {
    *triangles = NULL;
    *triangle_count = 0;
    if (!points || count < 3 || count > 1000000) return vv_fail(VV_ERR_INVALID_ARGUMENT, "delaunay: %d points", count);
    double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
    for (int i = 0; i < count; i++) {
        if (!isfinite(points[i][0]) || !isfinite(points[i][1]))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "delaunay: point %d is not finite", i);
        minx = fmin(minx, points[i][0]); maxx = fmax(maxx, points[i][0]);
        miny = fmin(miny, points[i][1]); maxy = fmax(maxy, points[i][1]);
    }
    double span = fmax(maxx - minx, maxy - miny) + 1, mx = (minx + maxx) / 2, my = (miny + maxy) / 2;
    double (*p)[2] = malloc((size_t)(count + 3) * sizeof *p);
    size_t cap = (size_t)count * 2 + 16;
    tri *t = malloc(cap * sizeof *t);
    int (*edges)[2] = malloc(cap * 3 * sizeof *edges);
    if (!p || !t || !edges) {
        free(p); free(t); free(edges);
        return vv_fail(VV_ERR_NO_MEMORY, "delaunay: out of memory for %d points", count);
    }
    for (int i = 0; i < count; i++) { p[i][0] = points[i][0]; p[i][1] = points[i][1]; }
    /* A super-triangle far around everything. */
    p[count][0] = mx - 40 * span; p[count][1] = my - 30 * span;
    p[count + 1][0] = mx + 40 * span; p[count + 1][1] = my - 30 * span;
    p[count + 2][0] = mx; p[count + 2][1] = my + 40 * span;
    size_t n = 1;
    t[0].v[0] = count; t[0].v[1] = count + 1; t[0].v[2] = count + 2;
    circumcircle((const double(*)[2])p, &t[0]);
    vv_status s = VV_OK;
    for (int i = 0; i < count && s == VV_OK; i++) {
        bool duplicate = false;
        for (int j = 0; j < i && !duplicate; j++) duplicate = p[j][0] == p[i][0] && p[j][1] == p[i][1];
        if (duplicate) continue;
        size_t edge_count = 0;
        for (size_t k = 0; k < n;) {
            double dx = p[i][0] - t[k].cx, dy = p[i][1] - t[k].cy;
            if (dx * dx + dy * dy < t[k].r2 * (1 + 1e-12)) {
                for (int e = 0; e < 3; e++) {
                    int a = t[k].v[e], b = t[k].v[(e + 1) % 3];
                    size_t shared = edge_count;
                    for (size_t q = 0; q < edge_count; q++)
                        if (edges[q][0] == b && edges[q][1] == a) { shared = q; break; }
                    if (shared < edge_count) edges[shared][0] = -1;
                    else { edges[edge_count][0] = a; edges[edge_count][1] = b; edge_count++; }
                }
                t[k] = t[--n];
            } else {
                k++;
            }
        }
        for (size_t q = 0; q < edge_count; q++) {
            if (edges[q][0] < 0) continue;
            if (n >= cap) {
                size_t grown = cap * 2;
                tri *bigger = realloc(t, grown * sizeof *t);
                int (*more)[2] = bigger ? realloc(edges, grown * 3 * sizeof *edges) : NULL;
                if (bigger) t = bigger;
                if (more) edges = more;
                if (!bigger || !more) { s = vv_fail(VV_ERR_NO_MEMORY, "delaunay: out of memory"); break; }
                cap = grown;
            }
            t[n].v[0] = edges[q][0]; t[n].v[1] = edges[q][1]; t[n].v[2] = i;
            if (circumcircle((const double(*)[2])p, &t[n])) n++;
        }
    }
    int (*out)[3] = s == VV_OK ? malloc((n ? n : 1) * sizeof *out) : NULL;
    if (s == VV_OK && !out) s = vv_fail(VV_ERR_NO_MEMORY, "delaunay: out of memory");
    int kept = 0;
    for (size_t k = 0; s == VV_OK && k < n; k++) {
        int a = t[k].v[0], b = t[k].v[1], c = t[k].v[2];
        if (a >= count || b >= count || c >= count) continue;
        double area = (p[b][0] - p[a][0]) * (p[c][1] - p[a][1]) - (p[b][1] - p[a][1]) * (p[c][0] - p[a][0]);
        if (fabs(area) < 1e-9) continue;
        out[kept][0] = a;
        out[kept][1] = area > 0 ? b : c;
        out[kept][2] = area > 0 ? c : b;
        kept++;
    }
    free(p);
    free(t);
    free(edges);
    if (s != VV_OK) return s;
    *triangles = out;
    *triangle_count = kept;
    return VV_OK;
}
