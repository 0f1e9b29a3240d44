/* cli/live_v4l2: a v4l2loopback virtual camera for `vivify live --v4l2` (see live_v4l2.h). */
#include "cli/live_v4l2.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOOPBACK_HINT "a virtual camera needs the v4l2loopback module: sudo modprobe v4l2loopback (Debian: apt install v4l2loopback-dkms)"

static vv_status device_check(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        bool loaded = access("/sys/module/v4l2loopback", F_OK) == 0;
        return vv_fail(VV_ERR_NOT_FOUND, "--v4l2 %s: no such device; %s", path,
                       loaded ? "v4l2loopback is loaded: its devices are the /dev/video* it lists in "
                                "/sys/devices/virtual/video4linux"
                              : LOOPBACK_HINT);
    }
    if (!S_ISCHR(st.st_mode)) return vv_fail(VV_ERR_INVALID_ARGUMENT, "--v4l2 %s: not a video device (%s)", path, LOOPBACK_HINT);
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return vv_fail(errno == EACCES ? VV_ERR_WRITE : VV_ERR_IO, "--v4l2 %s: cannot open it: %s", path, strerror(errno));
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    int r = ioctl(fd, VIDIOC_QUERYCAP, &cap);
    close(fd);
    if (r != 0) return vv_fail(VV_ERR_INVALID_ARGUMENT, "--v4l2 %s: not a video device (%s)", path, LOOPBACK_HINT);
    uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    if (!(caps & (V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_OUTPUT_MPLANE)))
        return vv_fail(VV_ERR_UNSUPPORTED, "--v4l2 %s: %.32s takes no frames (a camera?); %s", path, (const char *)cap.card,
                       LOOPBACK_HINT);
    return VV_OK;
}

#ifndef VV_HAVE_AVDEVICE

vv_status live_v4l2_check(const char *path) {
    vv_status s = device_check(path);
    if (s != VV_OK) return s;
    return vv_fail(VV_ERR_UNSUPPORTED, "--v4l2 is not supported in this build (built without libavdevice)");
}
vv_status live_v4l2_open(live_v4l2 **out, const char *path, int width, int height, double fps) {
    (void)path, (void)width, (void)height, (void)fps;
    *out = NULL;
    return vv_fail(VV_ERR_UNSUPPORTED, "--v4l2 is not supported in this build (built without libavdevice)");
}
vv_status live_v4l2_write(live_v4l2 *v, const vv_image *frame) {
    (void)v, (void)frame;
    return vv_fail(VV_ERR_UNSUPPORTED, "--v4l2 is not supported in this build");
}
void live_v4l2_close(live_v4l2 *v) { (void)v; }

#else

#include "cli/avdevice_load.h"
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

struct live_v4l2 {
    AVFormatContext *format;
    struct SwsContext *scaler;
    uint8_t *yuv;
    int size, width, height;
    int64_t pts;
};

vv_status live_v4l2_check(const char *path) { return device_check(path); }

void live_v4l2_close(live_v4l2 *v) {
    if (!v) return;
    if (v->format) {
        if (v->pts > 0) av_write_trailer(v->format);
        avformat_free_context(v->format);
    }
    sws_freeContext(v->scaler);
    av_free(v->yuv);
    free(v);
}

vv_status live_v4l2_open(live_v4l2 **out, const char *path, int width, int height, double fps) {
    *out = NULL;
    vv_status s = device_check(path);
    if (s != VV_OK) return s;
    s = cli_avdevice_register(); /* opened now, not linked (cli/avdevice_load.h) */
    if (s != VV_OK) return s;
    live_v4l2 *v = calloc(1, sizeof *v);
    if (!v) return vv_fail(VV_ERR_NO_MEMORY, "--v4l2: out of memory");
    v->width = width;
    v->height = height;
    char why[128] = "";
    int r = avformat_alloc_output_context2(&v->format, NULL, "v4l2", path);
    AVStream *stream = r >= 0 ? avformat_new_stream(v->format, NULL) : NULL;
    if (stream) {
        stream->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
        stream->codecpar->codec_id = AV_CODEC_ID_RAWVIDEO;
        stream->codecpar->format = AV_PIX_FMT_YUV420P;
        stream->codecpar->width = width;
        stream->codecpar->height = height;
        stream->time_base = av_d2q(1.0 / (fps > 0 ? fps : 25), 100000);
        r = avformat_write_header(v->format, NULL);
    }
    if (r < 0 || !stream) {
        if (r < 0) av_strerror(r, why, sizeof why);
        live_v4l2_close(v);
        return vv_fail(VV_ERR_IO, "--v4l2 %s: cannot write to it: %s", path, why[0] ? why : "out of memory");
    }
    v->size = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, width, height, 1);
    v->yuv = v->size > 0 ? av_malloc((size_t)v->size + 64) : NULL;
    v->scaler = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!v->yuv || !v->scaler) {
        live_v4l2_close(v);
        return vv_fail(VV_ERR_NO_MEMORY, "--v4l2: out of memory");
    }
    *out = v;
    return VV_OK;
}

vv_status live_v4l2_write(live_v4l2 *v, const vv_image *frame) {
    if (frame->width != v->width || frame->height != v->height || frame->channels != 3)
        return vv_fail(VV_ERR_INTERNAL, "--v4l2: a frame of another size");
    uint8_t *planes[4];
    int strides[4];
    av_image_fill_arrays(planes, strides, v->yuv, AV_PIX_FMT_YUV420P, v->width, v->height, 1);
    const uint8_t *src[1] = {frame->data};
    const int src_stride[1] = {frame->width * 3};
    sws_scale(v->scaler, src, src_stride, 0, v->height, planes, strides);
    AVPacket *packet = av_packet_alloc();
    if (!packet) return vv_fail(VV_ERR_NO_MEMORY, "--v4l2: out of memory");
    packet->data = v->yuv;
    packet->size = v->size;
    packet->stream_index = 0;
    packet->pts = packet->dts = v->pts++;
    int r = av_write_frame(v->format, packet);
    av_packet_free(&packet);
    if (r < 0) {
        char why[128];
        av_strerror(r, why, sizeof why);
        return vv_fail(VV_ERR_IO, "--v4l2: the device stopped taking frames: %s", why);
    }
    return VV_OK;
}

#endif
