/* eval/frechet: Gaussian fits of feature sets, their Fréchet distance, and cosine
 * similarity of embeddings.
 *
 * tr((S_a S_b)^(1/2)): with S_a = L L^T (L = V diag(sqrt(lambda)) from S_a's eigen-
 * decomposition), S_a S_b = L (L^T S_b) has the same eigenvalues as the symmetric PSD
 * matrix L^T S_b L, so the trace is the sum of the square roots of its eigenvalues.  No
 * non-symmetric matrix square root (scipy's sqrtm) is needed, and rounding can only
 * make tiny eigenvalues slightly negative: those are clamped to 0.
 *
 * Eigen-decompositions use LAPACK's dsyevd, which OpenBLAS exports; Debian 12's
 * libopenblas-dev ships no lapacke.h, so the Fortran entry point is declared here
 * (32-bit integers as in Debian's libopenblas0; hidden character lengths passed). */
#include "eval/metrics.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FEATURE_MAX_DIM 4096 /* covariance 128 MiB */
#define FIT_BLOCK_ROWS 256

extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                    double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                    int *info, size_t jobz_len, size_t uplo_len);

/* Eigenvalues (ascending) and, if vectors, eigenvectors of the symmetric n x n matrix a
 * (row-major; symmetric so row/column order does not matter), by dsyevd (divide and
 * conquer: several times faster than dsyev with vectors at n = 1024).  With vectors, a
 * is overwritten by them: column-major from LAPACK's view, so row k of a (the k-th
 * contiguous run of n) is the k-th eigenvector. */
static vv_status symmetric_eigen(double *a, int n, double *values, bool vectors) {
    const char jobz = vectors ? 'V' : 'N', uplo = 'U';
    int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
    double work_query = 0;
    dsyevd_(&jobz, &uplo, &n, a, &n, values, &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
    if (info != 0 || !(work_query >= 1) || work_query > 1e9 || iwork_query < 1)
        return vv_fail(VV_ERR_INTERNAL, "frechet: dsyevd workspace query failed (info %d)", info);
    lwork = (int)work_query;
    liwork = iwork_query;
    double *work = mem_alloc((size_t)lwork, sizeof(double));
    int *iwork = mem_alloc((size_t)liwork, sizeof(int));
    if (!work || !iwork) {
        free(work), free(iwork);
        return vv_fail(VV_ERR_NO_MEMORY, "frechet: no memory for dsyevd workspace of %d", lwork);
    }
    dsyevd_(&jobz, &uplo, &n, a, &n, values, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
    if (info != 0)
        return vv_fail(VV_ERR_INTERNAL, "frechet: dsyevd did not converge on a %dx%d matrix (info %d)",
                       n, n, info);
    return VV_OK;
}

void feature_gaussian_free(feature_gaussian *g) {
    if (!g) return;
    free(g->mean);
    free(g->covariance);
    memset(g, 0, sizeof *g);
}

vv_status feature_gaussian_fit(feature_gaussian *out, const float *features, long count,
                               int dim) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "feature fit: no output");
    memset(out, 0, sizeof *out);
    if (!features || count < 2 || dim < 1 || dim > FEATURE_MAX_DIM)
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "feature fit: need >= 2 vectors of 1..%d values (got %ld x %d)",
                       FEATURE_MAX_DIM, count, dim);
    size_t total;
    if (!size_mul((size_t)count, (size_t)dim, &total))
        return vv_fail(VV_ERR_TOO_LARGE, "feature fit: %ld x %d overflows", count, dim);
    double *mean = mem_calloc((size_t)dim, sizeof(double));
    double *cov = mem_calloc((size_t)dim * (size_t)dim, sizeof(double));
    double *block = mem_alloc((size_t)FIT_BLOCK_ROWS * (size_t)dim, sizeof(double));
    if (!mean || !cov || !block) {
        free(mean), free(cov), free(block);
        return vv_fail(VV_ERR_NO_MEMORY, "feature fit: no memory for a %d-dimensional covariance", dim);
    }
    for (long i = 0; i < count; i++) {
        const float *row = features + (size_t)i * (size_t)dim;
        for (int j = 0; j < dim; j++) {
            if (!isfinite(row[j])) {
                free(mean), free(cov), free(block);
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "feature fit: vector %ld value %d is not finite", i, j);
            }
            mean[j] += row[j];
        }
    }
    for (int j = 0; j < dim; j++) mean[j] /= (double)count;
    /* covariance by blocks of centred rows: cov += X^T X (upper triangle), then mirror */
    for (long start = 0; start < count; start += FIT_BLOCK_ROWS) {
        int rows = (int)(count - start < FIT_BLOCK_ROWS ? count - start : FIT_BLOCK_ROWS);
        for (int r = 0; r < rows; r++) {
            const float *row = features + (size_t)(start + r) * (size_t)dim;
            for (int j = 0; j < dim; j++) block[(size_t)r * dim + j] = row[j] - mean[j];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, dim, rows, 1.0, block, dim, 1.0, cov, dim);
    }
    free(block);
    double scale = 1.0 / (double)(count - 1);
    for (int i = 0; i < dim; i++)
        for (int j = i; j < dim; j++) {
            double v = cov[(size_t)i * dim + j] * scale;
            cov[(size_t)i * dim + j] = v;
            cov[(size_t)j * dim + i] = v;
        }
    out->dim = dim;
    out->count = count;
    out->mean = mean;
    out->covariance = cov;
    return VV_OK;
}

vv_status metrics_frechet_distance(const feature_gaussian *a, const feature_gaussian *b,
                                   double *out) {
    if (!a || !b || !out || !a->mean || !b->mean || !a->covariance || !b->covariance)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "frechet: missing Gaussian");
    if (a->dim != b->dim || a->dim < 1 || a->dim > FEATURE_MAX_DIM)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "frechet: dimensions differ or are out of range (%d vs %d)",
                       a->dim, b->dim);
    const int n = a->dim;
    const size_t nn = (size_t)n * (size_t)n;
    double *factor = mem_alloc(nn, sizeof(double));
    double *product = mem_alloc(nn, sizeof(double));
    double *middle = mem_alloc(nn, sizeof(double));
    double *values = mem_alloc((size_t)n, sizeof(double));
    vv_status s = VV_OK;
    if (!factor || !product || !middle || !values) {
        s = vv_fail(VV_ERR_NO_MEMORY, "frechet: no memory for %dx%d matrices", n, n);
        goto end;
    }
    /* S_a = V diag(lambda) V^T; factor: row k = sqrt(lambda_k) v_k, i.e. factor = L^T */
    memcpy(factor, a->covariance, nn * sizeof(double));
    if ((s = symmetric_eigen(factor, n, values, true))) goto end;
    for (int k = 0; k < n; k++) {
        double root = sqrt(fmax(values[k], 0.0));
        for (int j = 0; j < n; j++) factor[(size_t)k * n + j] *= root;
    }
    /* middle = L^T S_b L = factor S_b factor^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, factor, n,
                b->covariance, n, 0.0, product, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, product, n, factor, n,
                0.0, middle, n);
    for (int i = 0; i < n; i++) /* symmetrise away rounding */
        for (int j = i + 1; j < n; j++) {
            double v = 0.5 * (middle[(size_t)i * n + j] + middle[(size_t)j * n + i]);
            middle[(size_t)i * n + j] = middle[(size_t)j * n + i] = v;
        }
    if ((s = symmetric_eigen(middle, n, values, false))) goto end;
    double trace_root = 0, trace_a = 0, trace_b = 0, mean_sq = 0;
    for (int k = 0; k < n; k++) trace_root += sqrt(fmax(values[k], 0.0));
    for (int k = 0; k < n; k++) {
        trace_a += a->covariance[(size_t)k * n + k];
        trace_b += b->covariance[(size_t)k * n + k];
        double d = a->mean[k] - b->mean[k];
        mean_sq += d * d;
    }
    /* clamp: rounding can push identical sets a hair below 0 */
    *out = fmax(0.0, mean_sq + trace_a + trace_b - 2.0 * trace_root);
end:
    free(factor), free(product), free(middle), free(values);
    return s;
}

vv_status metrics_frechet_distance_sets(const float *features_a, long count_a,
                                        const float *features_b, long count_b, int dim,
                                        double *out) {
    feature_gaussian ga, gb;
    vv_status s = feature_gaussian_fit(&ga, features_a, count_a, dim);
    if (s) return s;
    s = feature_gaussian_fit(&gb, features_b, count_b, dim);
    if (!s) s = metrics_frechet_distance(&ga, &gb, out);
    feature_gaussian_free(&ga);
    feature_gaussian_free(&gb);
    return s;
}

vv_status metrics_cosine_similarity(const float *a, const float *b, int n, double *out) {
    if (!a || !b || !out || n < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "cosine similarity: missing vectors or length %d", n);
    double dot = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (!isfinite(dot) || !isfinite(aa) || !isfinite(bb))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "cosine similarity: a value is not finite");
    if (aa == 0 || bb == 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "cosine similarity: the %s vector is zero",
                       aa == 0 ? "first" : "second");
    *out = dot / (sqrt(aa) * sqrt(bb));
    return VV_OK;
}
