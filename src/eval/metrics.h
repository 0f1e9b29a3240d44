/* eval/metrics: image, landmark, pose and feature-set metrics for evaluating
 * reenactment (issue 4).  Pure functions: no I/O, no global state; reference values
 * come from scripts/fixtures/make_metrics_fixtures.py (skimage / scipy / numpy). */
#ifndef VV_EVAL_METRICS_H
#define VV_EVAL_METRICS_H

#include "base/base.h"
#include "face/pose.h"

/* ---- Pixel metrics ---------------------------------------------------------------
 * a and b: same width, height and channel count (1 or 3).  Every metric can be taken
 * on a rectangle (e.g. the face box): the value is then exactly that of the metric on
 * the cropped sub-images a[y0:y1, x0:x1], b[y0:y1, x0:x1]. */

/* Half-open pixel rectangle [x0, x1) x [y0, y1). */
typedef struct metrics_box {
    int x0, y0, x1, y1;
} metrics_box;

typedef struct image_metrics {
    double ssim; /* skimage structural_similarity(gaussian_weights=True, sigma=1.5,
                    use_sample_covariance=False, data_range=255); RGB: mean over channels */
    double psnr; /* dB, data_range 255; INFINITY when the images are identical */
    double l1;   /* mean absolute difference over all samples, in [0, 1] units (/ 255) */
    double mse;  /* mean squared difference in [0, 255] units */
} image_metrics;

/* The SSIM window: 11 x 11 (Gaussian sigma 1.5 truncated at 3.5 sigma), so the image or
 * box must be at least this big on each side. */
#define METRICS_SSIM_WINDOW 11

/* All four metrics; box NULL: the full frame.  threads as parallel_for (0: all cores). */
vv_status metrics_images(const vv_image *a, const vv_image *b, const metrics_box *box,
                         int threads, image_metrics *out);
vv_status metrics_ssim(const vv_image *a, const vv_image *b, const metrics_box *box,
                       int threads, double *out);
/* PSNR, L1 and MSE (one pass; no window, so any size >= 1 x 1). */
vv_status metrics_psnr_l1(const vv_image *a, const vv_image *b, const metrics_box *box,
                          double *psnr, double *l1, double *mse);

/* The bounding box of 68 landmarks grown by `margin` times its larger side on every
 * side, clipped to width x height.  Fails (VV_ERR_INVALID_ARGUMENT) if the clipped box
 * is smaller than METRICS_SSIM_WINDOW on a side or a point is not finite. */
vv_status metrics_box_from_landmarks(const float points[68][2], float margin, int width,
                                     int height, metrics_box *out);

/* ---- Landmark metrics (68 dlib points, pixels) -----------------------------------
 * `reference` is the ground truth (e.g. landmarks of the real frame), `points` the
 * prediction (landmarks of the generated frame). */

/* AKD: mean Euclidean point distance, in pixels. */
double metrics_akd(const float points[68][2], const float reference[68][2]);
/* NME: AKD divided by the reference's outer-eye-corner distance |ref[36] - ref[45]|
 * (0-based dlib indices).  Fails if that distance is ~0 (< 1e-6). */
vv_status metrics_nme(const float points[68][2], const float reference[68][2], double *out);

/* Expression distance (AED-like, landmark-based).  Definition:
 *   N(p): the set translated to its centroid and scaled to unit RMS distance from it.
 *   Without neutrals (a_neutral = b_neutral = NULL): N(a) is rotated onto N(b) (the 2D
 *   rotation minimising the squared point distances, Procrustes without reflection); the
 *   value is the mean point distance between rotated N(a) and N(b), divided by the mean
 *   outer-eye-corner distance of N(a) and N(b).  Removes position, scale and in-plane
 *   rotation, not face shape or out-of-plane rotation.
 *   With neutrals (each person's own neutral/reference landmarks, e.g. the source
 *   portrait and the driver's first frame): each set's expression displacement
 *   d_a = R N(a) - N(a_neutral) (R rotates N(a) onto N(a_neutral)), likewise d_b; d_a is
 *   rotated from a_neutral's frame into b_neutral's; the value is the mean |d_a - d_b|
 *   over the points divided by the mean eye distance of N(a_neutral) and N(b_neutral).
 *   The two people's face shapes cancel (to first order).
 * 0 for identical expressions; invariant to translating, scaling and rotating any set in
 * the image plane.  Fails on degenerate sets (all points equal). */
vv_status metrics_expression_distance(const float a[68][2], const float b[68][2],
                                      const float a_neutral[68][2],
                                      const float b_neutral[68][2], double *out);

/* Pose distance (APD-like) between two head poses, in degrees. */
typedef struct pose_distance {
    double angle;             /* geodesic angle of the relative rotation R_a R_b^T */
    double yaw, pitch, roll;  /* absolute differences of the Euler angles */
    double mean_euler;        /* (yaw + pitch + roll) / 3 */
} pose_distance;

pose_distance metrics_pose_distance(const head_pose *a, const head_pose *b);
/* Estimates both poses with head_pose_estimate (face/pose.h), then as above.  Fails when
 * either set is degenerate (the estimator returns scale 0). */
vv_status metrics_pose_distance_landmarks(const float a[68][2], const float b[68][2],
                                          pose_distance *out);

/* ---- Feature-set metrics ---------------------------------------------------------- */

/* CSIM: cosine similarity a.b / (|a| |b|) of two embeddings of length n.  Fails on a
 * zero vector or a non-finite value. */
vv_status metrics_cosine_similarity(const float *a, const float *b, int n, double *out);

/* A Gaussian fitted to a feature set: mean and sample covariance (n - 1 denominator,
 * as numpy.cov and pytorch-fid). */
typedef struct feature_gaussian {
    int dim;
    long count;
    double *mean;       /* dim */
    double *covariance; /* dim x dim, row-major, symmetric */
} feature_gaussian;

/* features: count x dim row-major; count >= 2. */
vv_status feature_gaussian_fit(feature_gaussian *out, const float *features, long count,
                               int dim);
void feature_gaussian_free(feature_gaussian *g);

/* Fréchet distance between two Gaussians:
 *   |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)),
 * with tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)) (a
 * symmetric PSD form with the same eigenvalues as S_a S_b), eigen-decomposed by LAPACK's
 * dsyevd from OpenBLAS.  On faceres features this is what reports call "FD-faceres"
 * (FID's formula on another network's features; not FID). */
vv_status metrics_frechet_distance(const feature_gaussian *a, const feature_gaussian *b,
                                   double *out);
/* Convenience: fits both sets and returns their Fréchet distance. */
vv_status metrics_frechet_distance_sets(const float *features_a, long count_a,
                                        const float *features_b, long count_b, int dim,
                                        double *out);

#endif
