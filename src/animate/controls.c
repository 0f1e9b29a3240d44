/* animate/controls: live controls of a streaming animator (include/vivify.h): gains,
 * recalibrating the neutral reference, pinning a source. */
#include "animate/animate.h"
#include "warp/head3d.h"

#include <math.h>

vv_status vv_animator_set_gains(vv_animator *a, float expression_scale, float pose_scale, float eyes, float lips) {
    if (!a) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_set_gains: NULL animator");
    const float values[4] = {expression_scale, pose_scale, eyes, lips}, limits[4] = {10, 10, 3, 3};
    static const char *const names[4] = {"expression_scale", "pose_scale", "eyes", "lips"};
    for (int i = 0; i < 4; i++)
        if (isnan(values[i]) || values[i] > limits[i])
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_set_gains: %s must be 0..%g", names[i], limits[i]);
    if (expression_scale >= 0) a->params.expression_scale = expression_scale;
    if (pose_scale >= 0) a->params.pose_scale = pose_scale;
    if (eyes >= 0) a->params.eyes = eyes;
    if (lips >= 0) a->params.lips = lips;
    for (int i = 0; i < a->source_count; i++) {
        if (a->sources[i].head) head3d_set_gains(a->sources[i].head, a->params.eyes, a->params.lips);
        /* the expression and pose scales are the retargeting's: made again from the same
         * reference when the source is next used */
        a->sources[i].retarget_ready = false;
    }
    return VV_OK;
}

vv_status vv_animator_recalibrate(vv_animator *a) {
    if (!a) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_recalibrate: NULL animator");
    /* as at the start: animator_take makes the next face the reference, and each source
     * retargets against it when it is next used */
    a->have_reference = false;
    a->have_reference_gaze = false;
    for (int i = 0; i < a->source_count; i++) a->sources[i].retarget_ready = false;
    return VV_OK;
}

vv_status vv_animator_set_source(vv_animator *a, int index) {
    if (!a) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_set_source: NULL animator");
    if (index < -1 || index >= a->source_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animator_set_source: source %d of %d", index, a->source_count);
    a->source_pinned = index >= 0;
    a->source_pin = index >= 0 ? index : 0;
    return VV_OK;
}

int vv_animator_source_count(const vv_animator *a) { return a ? a->source_count : 0; }
