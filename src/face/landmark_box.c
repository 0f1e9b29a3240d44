/* face/landmark_box: the box dlib's detector would have drawn around 68 landmarks. */
#include "face/landmark_box.h"

/* dlib's HOG boxes are axis-aligned squares in which its predictor placed its mean shape,
 * so landmarks ~ box origin + box size * template.  Template and constants fitted by
 * scripts/fit_landmark_box.py on dlib's boxes and landmarks of 6793 frames (alternate
 * clips of ../shared/data/reference, the rest held out): the template is the mean of the
 * landmarks in box units; lips and lower jaw weigh 1/4 since they move with speech.
 * Held-out error per box coordinate ~4% of the box size, ~7% for the size, mostly dlib's
 * own pyramid-step quantisation of box sizes. */
static const float box_template[68][2] = {
    {0.0398f, 0.3267f}, {0.0461f, 0.4532f}, {0.0625f, 0.5787f}, {0.0889f, 0.7020f}, /* 0..3 */
    {0.1342f, 0.8170f}, {0.2035f, 0.9196f}, {0.2919f, 1.0060f}, {0.3948f, 1.0720f}, /* 4..7 */
    {0.5126f, 1.0907f}, {0.6297f, 1.0677f}, {0.7301f, 0.9985f}, {0.8170f, 0.9106f}, /* 8..11 */
    {0.8856f, 0.8068f}, {0.9299f, 0.6904f}, {0.9546f, 0.5659f}, {0.9698f, 0.4394f}, /* 12..15 */
    {0.9755f, 0.3109f}, {0.1209f, 0.2138f}, {0.1754f, 0.1557f}, {0.2563f, 0.1320f}, /* 16..19 */
    {0.3422f, 0.1374f}, {0.4218f, 0.1678f}, {0.5831f, 0.1642f}, {0.6628f, 0.1312f}, /* 20..23 */
    {0.7489f, 0.1233f}, {0.8307f, 0.1450f}, {0.8865f, 0.2025f}, {0.5045f, 0.2724f}, /* 24..27 */
    {0.5061f, 0.3559f}, {0.5078f, 0.4387f}, {0.5095f, 0.5237f}, {0.4150f, 0.5888f}, /* 28..31 */
    {0.4610f, 0.6023f}, {0.5098f, 0.6143f}, {0.5583f, 0.6001f}, {0.6036f, 0.5841f}, /* 32..35 */
    {0.2136f, 0.2975f}, {0.2644f, 0.2660f}, {0.3251f, 0.2650f}, {0.3790f, 0.3026f}, /* 36..39 */
    {0.3229f, 0.3133f}, {0.2627f, 0.3150f}, {0.6296f, 0.2979f}, {0.6822f, 0.2584f}, /* 40..43 */
    {0.7426f, 0.2580f}, {0.7937f, 0.2881f}, {0.7457f, 0.3067f}, {0.6857f, 0.3069f}, /* 44..47 */
    {0.3332f, 0.7666f}, {0.3948f, 0.7246f}, {0.4628f, 0.7031f}, {0.5109f, 0.7137f}, /* 48..51 */
    {0.5591f, 0.7004f}, {0.6264f, 0.7188f}, {0.6883f, 0.7582f}, {0.6308f, 0.8314f}, /* 52..55 */
    {0.5658f, 0.8657f}, {0.5129f, 0.8731f}, {0.4601f, 0.8686f}, {0.3931f, 0.8377f}, /* 56..59 */
    {0.3620f, 0.7676f}, {0.4626f, 0.7479f}, {0.5112f, 0.7509f}, {0.5600f, 0.7454f}, /* 60..63 */
    {0.6594f, 0.7605f}, {0.5620f, 0.7964f}, {0.5120f, 0.8040f}, {0.4622f, 0.7992f}, /* 64..67 */
};
#define BOX_SIZE_GAIN 1.0088f
#define BOX_SHIFT_X -0.0037f
#define BOX_SHIFT_Y -0.0032f

static float box_point_weight(int i) { return (i >= 48 || (i >= 5 && i <= 11)) ? 0.25f : 1.0f; }

void landmarks_box(const float points[68][2], float box[4]) {
    double w_sum = 0, pm[2] = {0, 0}, um[2] = {0, 0};
    for (int i = 0; i < 68; i++) {
        double w = box_point_weight(i);
        w_sum += w;
        for (int k = 0; k < 2; k++) {
            pm[k] += w * points[i][k];
            um[k] += w * box_template[i][k];
        }
    }
    for (int k = 0; k < 2; k++) { pm[k] /= w_sum; um[k] /= w_sum; }
    double num = 0, den = 0;
    for (int i = 0; i < 68; i++) {
        double w = box_point_weight(i);
        for (int k = 0; k < 2; k++) {
            double du = box_template[i][k] - um[k];
            num += w * du * (points[i][k] - pm[k]);
            den += w * du * du;
        }
    }
    double s = num / den;
    double x0 = pm[0] - s * um[0] + BOX_SHIFT_X * s, y0 = pm[1] - s * um[1] + BOX_SHIFT_Y * s;
    double size = BOX_SIZE_GAIN * s;
    box[0] = (float)x0;
    box[1] = (float)y0;
    box[2] = (float)(x0 + size);
    box[3] = (float)(y0 + size);
}
