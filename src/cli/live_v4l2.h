/* cli/live_v4l2: `vivify live --v4l2 /dev/videoN`: the result as a virtual camera for
 * video-call apps, written to a v4l2loopback device (FFmpeg's v4l2 output, libavdevice;
 * YUV 4:2:0 frames at the result's size).  Without the module there is no such device:
 * refused before anything loads, in one line that says how to get it. */
#ifndef VV_CLI_LIVE_V4L2_H
#define VV_CLI_LIVE_V4L2_H

#include "base/base.h"

typedef struct live_v4l2 live_v4l2;

/* Cheap checks: VV_ERR_NOT_FOUND no device there (v4l2loopback not loaded),
 * VV_ERR_INVALID_ARGUMENT not a video device, VV_ERR_UNSUPPORTED a device that takes no
 * frames (a camera) or a build without libavdevice. */
vv_status live_v4l2_check(const char *path);
vv_status live_v4l2_open(live_v4l2 **out, const char *path, int width, int height, double fps);
vv_status live_v4l2_write(live_v4l2 *v, const vv_image *frame);
void live_v4l2_close(live_v4l2 *v);

#endif
