/* cli/live_input: the inputs of `vivify live` that the video reader (files) does not open: a
 * camera (/dev/videoN, FFmpeg's v4l2 input), a lavfi graph ("lavfi:GRAPH") and standard input
 * ("pipe:"), through libavdevice.  Without libavdevice at build time they are refused as not
 * supported in this build. */
#ifndef VV_CLI_LIVE_INPUT_H
#define VV_CLI_LIVE_INPUT_H

#include "base/base.h"

typedef enum live_input_kind {
    LIVE_INPUT_FILE,   /* the video reader's */
    LIVE_INPUT_CAMERA, /* /dev/video* */
    LIVE_INPUT_LAVFI,  /* lavfi:GRAPH */
    LIVE_INPUT_PIPE,   /* pipe: or pipe:N */
} live_input_kind;

live_input_kind live_input_kind_of(const char *input);
/* Whether this build reads cameras, lavfi and pipes (libavdevice was found). */
bool live_input_devices_built(void);

typedef struct live_device live_device;

typedef struct live_device_params {
    const char *format;  /* the FFmpeg input format to use (e.g. rawvideo on a pipe); NULL: v4l2
                            for a camera, lavfi for a graph, probed for a pipe */
    const char *options; /* its options, "key=value,key=value" (a camera's video_size, framerate,
                            input_format; a raw pipe's video_size, pixel_format); NULL: none */
    vv_abort_fn abort;   /* a blocked read (an idle pipe) ends as the end of input once this
                            returns non-zero (may be NULL) */
    void *abort_data;
} live_device_params;

/* Opens a camera, lavfi graph or pipe.  Errors: VV_ERR_NOT_FOUND (no such camera),
 * VV_ERR_IO (busy, permission, unreadable), VV_ERR_NO_VIDEO, VV_ERR_INVALID_ARGUMENT (an
 * unknown format or option, a bad graph), VV_ERR_UNSUPPORTED (not built in, no decoder),
 * VV_ERR_TOO_LARGE. */
vv_status live_device_open(live_device **out, const char *input, live_input_kind kind, const live_device_params *params);
void live_device_size(const live_device *device, int *width, int *height, double *fps);
/* The next frame as RGB (reallocated to the stream's size); *got false at the end; time in
 * seconds from the first frame.  A camera that stops delivering is VV_ERR_IO. */
vv_status live_device_next(live_device *device, vv_image *frame, double *time, bool *got);
void live_device_close(live_device *device);

#endif
