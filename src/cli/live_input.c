/* cli/live_input: cameras, lavfi graphs and pipes for `vivify live` (see live_input.h).
 *
 * Decoding is tuned for latency: slice threads only (frame threads hold frames back, one per
 * thread), and frames are converted to packed RGB as they come. */
#include "cli/live_input.h"

#include "img/image.h"

#include <stdlib.h>
#include <string.h>

live_input_kind live_input_kind_of(const char *input) {
    if (!strncmp(input, "/dev/video", 10)) return LIVE_INPUT_CAMERA;
    if (!strncmp(input, "lavfi:", 6)) return LIVE_INPUT_LAVFI;
    if (!strcmp(input, "pipe:") || (!strncmp(input, "pipe:", 5) && input[5] >= '0' && input[5] <= '9'))
        return LIVE_INPUT_PIPE;
    return LIVE_INPUT_FILE;
}

#ifndef VV_HAVE_AVDEVICE

bool live_input_devices_built(void) { return false; }

vv_status live_device_open(live_device **out, const char *input, live_input_kind kind, const live_device_params *params) {
    (void)kind, (void)params;
    *out = NULL;
    return vv_fail(VV_ERR_UNSUPPORTED, "--input %s: cameras, lavfi and pipes are not supported in this build "
                                       "(built without libavdevice); --input takes a video file", input);
}
void live_device_size(const live_device *device, int *width, int *height, double *fps) {
    (void)device;
    *width = *height = 0;
    *fps = 0;
}
vv_status live_device_next(live_device *device, vv_image *frame, double *time, bool *got) {
    (void)device, (void)frame, (void)time;
    *got = false;
    return vv_fail(VV_ERR_UNSUPPORTED, "live: no device input in this build");
}
void live_device_close(live_device *device) { (void)device; }

#else

#include <errno.h>
#include <fcntl.h>
#include <math.h>

#include <libavcodec/avcodec.h>
#include "cli/avdevice_load.h"
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#define DEVICE_MAX_SIDE 8192
#define DEVICE_MAX_PIXELS (8192ll * 4352ll)
#define DEVICE_MAX_ERRORS 100 /* undecodable packets in a row before giving up */

struct live_device {
    char *name;
    live_input_kind kind;
    AVFormatContext *format;
    AVCodecContext *decoder;
    int stream;
    AVPacket *packet;
    AVFrame *frame;
    struct SwsContext *scaler;
    uint8_t *scratch; /* swscale may write a few bytes past the last row: convert here */
    size_t scratch_size;
    int width, height;
    double fps;
    int64_t first_pts;
    bool have_first, input_done, finished;
    vv_abort_fn abort;
    void *abort_data;
    int pipe_fd, pipe_flags; /* a pipe's descriptor and its flags before O_NONBLOCK (fd -1: none) */
    long frames;
    int errors;
};

bool live_input_devices_built(void) { return true; }

void live_device_close(live_device *d) {
    if (!d) return;
    if (d->pipe_fd >= 0) fcntl(d->pipe_fd, F_SETFL, d->pipe_flags);
    sws_freeContext(d->scaler);
    avcodec_free_context(&d->decoder);
    avformat_close_input(&d->format);
    av_packet_free(&d->packet);
    av_frame_free(&d->frame);
    free(d->scratch);
    free(d->name);
    free(d);
}

static vv_status open_failure(const char *input, live_input_kind kind, int ret) {
    if (kind == LIVE_INPUT_CAMERA && (ret == AVERROR(ENOENT) || ret == AVERROR(ENODEV) || ret == AVERROR(ENXIO)))
        return vv_fail(VV_ERR_NOT_FOUND, "no camera at %s (%s)", input, av_err2str(ret));
    if (ret == AVERROR(EACCES)) return vv_fail(VV_ERR_IO, "cannot open %s: permission denied", input);
    if (ret == AVERROR(EBUSY)) return vv_fail(VV_ERR_IO, "camera %s is busy (another program uses it)", input);
    if (kind == LIVE_INPUT_CAMERA) return vv_fail(VV_ERR_IO, "cannot open camera %s (%s)", input, av_err2str(ret));
    if (kind == LIVE_INPUT_LAVFI) return vv_fail(VV_ERR_INVALID_ARGUMENT, "bad lavfi graph '%s' (%s)", input + 6, av_err2str(ret));
    return vv_fail(VV_ERR_FORMAT, "%s is not a recognised video stream (%s)", input, av_err2str(ret));
}

/* FFmpeg's blocking reads poll this: non-zero ends them with AVERROR_EXIT. */
static int device_interrupt(void *opaque) {
    const live_device *d = opaque;
    return d->abort && d->abort(d->abort_data);
}

vv_status live_device_open(live_device **out, const char *input, live_input_kind kind, const live_device_params *params) {
    *out = NULL;
    av_log_set_level(AV_LOG_QUIET);
    vv_status loaded = cli_avdevice_register(); /* opened now, not linked (cli/avdevice_load.h) */
    if (loaded != VV_OK) return loaded;
    live_device *d = calloc(1, sizeof *d);
    if (d) d->pipe_fd = -1;
    if (!d || !(d->name = strdup(input)) || !(d->packet = av_packet_alloc()) || !(d->frame = av_frame_alloc())) {
        live_device_close(d);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", input);
    }
    d->kind = kind;
    d->abort = params ? params->abort : NULL;
    d->abort_data = params ? params->abort_data : NULL;
    /* FFmpeg's pipe reads block in read() where the interrupt callback cannot reach them (an
     * idle pipe would hold Ctrl-C up forever); non-blocking, FFmpeg retries every
     * millisecond and polls the callback between tries. */
    if (kind == LIVE_INPUT_PIPE) {
        int fd = input[5] ? atoi(input + 5) : 0, flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0) {
            d->pipe_fd = fd;
            d->pipe_flags = flags;
        }
    }
    if (!(d->format = avformat_alloc_context())) {
        live_device_close(d);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", input);
    }
    d->format->interrupt_callback.callback = device_interrupt;
    d->format->interrupt_callback.opaque = d;
    const AVInputFormat *format = NULL;
    const char *url = input;
    if (kind == LIVE_INPUT_CAMERA) format = av_find_input_format("v4l2");
    if (kind == LIVE_INPUT_LAVFI) {
        format = av_find_input_format("lavfi");
        url = input + 6;
    }
    if ((kind == LIVE_INPUT_CAMERA || kind == LIVE_INPUT_LAVFI) && !format) {
        live_device_close(d);
        return vv_fail(VV_ERR_UNSUPPORTED, "--input %s: this FFmpeg has no %s input", input,
                       kind == LIVE_INPUT_CAMERA ? "v4l2" : "lavfi");
    }
    if (params && params->format && !(format = av_find_input_format(params->format))) {
        live_device_close(d);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--input-format %s: FFmpeg has no such input format", params->format);
    }
    AVDictionary *options = NULL;
    if (params && params->options && params->options[0] &&
        av_dict_parse_string(&options, params->options, "=", ",", 0) < 0) {
        av_dict_free(&options);
        live_device_close(d);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "--input-options '%s': want key=value,key=value", params->options);
    }
    vv_status s = VV_OK;
    int ret = avformat_open_input(&d->format, url, format, &options);
    /* What the input did not take is left in the dictionary: a misspelt option says so. */
    const AVDictionaryEntry *unused = av_dict_get(options, "", NULL, AV_DICT_IGNORE_SUFFIX);
    if (unused) /* checked first: a failure to open may be its doing */
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "--input-options: %s does not take '%s'", input, unused->key);
    av_dict_free(&options);
    if (s != VV_OK) goto end;
    if (ret < 0) {
        s = open_failure(input, kind, ret);
        goto end;
    }
    if ((ret = avformat_find_stream_info(d->format, NULL)) < 0) {
        s = vv_fail(VV_ERR_IO, "cannot read stream information from %s (%s)", input, av_err2str(ret));
        goto end;
    }
    d->stream = av_find_best_stream(d->format, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (d->stream < 0) {
        s = vv_fail(VV_ERR_NO_VIDEO, "%s holds no video stream", input);
        goto end;
    }
    AVStream *stream = d->format->streams[d->stream];
    const AVCodec *codec = avcodec_find_decoder(stream->codecpar->codec_id);
    if (!codec) {
        s = vv_fail(VV_ERR_UNSUPPORTED, "no decoder for the %s video of %s", avcodec_get_name(stream->codecpar->codec_id), input);
        goto end;
    }
    d->width = stream->codecpar->width;
    d->height = stream->codecpar->height;
    if (d->width <= 0 || d->height <= 0 || d->width > DEVICE_MAX_SIDE || d->height > DEVICE_MAX_SIDE ||
        (long long)d->width * d->height > DEVICE_MAX_PIXELS) {
        s = vv_fail(VV_ERR_TOO_LARGE, "%s delivers %dx%d frames, over the %d-per-side limit", input, d->width, d->height,
                    DEVICE_MAX_SIDE);
        goto end;
    }
    AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    d->fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
    if (!isfinite(d->fps) || d->fps > 1000) d->fps = 0;
    if (!(d->decoder = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(d->decoder, stream->codecpar) < 0) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", input);
        goto end;
    }
    d->decoder->thread_count = 0;
    d->decoder->thread_type = FF_THREAD_SLICE; /* frame threads would delay each frame */
    d->decoder->max_pixels = DEVICE_MAX_PIXELS;
    d->decoder->pkt_timebase = stream->time_base;
    if ((ret = avcodec_open2(d->decoder, codec, NULL)) < 0) {
        s = vv_fail(VV_ERR_UNSUPPORTED, "cannot open the %s decoder for %s (%s)", codec->name, input, av_err2str(ret));
        goto end;
    }
end:
    if (s != VV_OK) {
        live_device_close(d);
        return s;
    }
    *out = d;
    return VV_OK;
}

void live_device_size(const live_device *d, int *width, int *height, double *fps) {
    *width = d->width;
    *height = d->height;
    *fps = d->fps;
}

/* The decoded frame to packed RGB at the size announced at open. */
static vv_status convert(live_device *d, vv_image *out) {
    const AVFrame *f = d->frame;
    if (!out->data || out->width != d->width || out->height != d->height || out->channels != 3) {
        image_free(out);
        vv_status s = image_create(out, d->width, d->height, 3);
        if (s != VV_OK) return s;
    }
    d->scaler = sws_getCachedContext(d->scaler, f->width, f->height, f->format, d->width, d->height, AV_PIX_FMT_RGB24,
                                     SWS_BILINEAR, NULL, NULL, NULL);
    if (!d->scaler) return vv_fail(VV_ERR_UNSUPPORTED, "cannot convert the frames of %s to RGB", d->name);
    size_t bytes = (size_t)d->width * (size_t)d->height * 3, slack = 256;
    if (d->scratch_size < bytes + slack) {
        free(d->scratch);
        d->scratch = malloc(bytes + slack);
        d->scratch_size = d->scratch ? bytes + slack : 0;
        if (!d->scratch) return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", d->name);
    }
    uint8_t *planes[4] = {d->scratch, NULL, NULL, NULL};
    int strides[4] = {d->width * 3, 0, 0, 0};
    if (sws_scale(d->scaler, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, strides) != d->height)
        return vv_fail(VV_ERR_INTERNAL, "colour conversion failed on a frame of %s", d->name);
    memcpy(out->data, d->scratch, bytes);
    return VV_OK;
}

vv_status live_device_next(live_device *d, vv_image *out, double *time, bool *got) {
    *got = false;
    *time = 0;
    while (!d->finished) {
        int ret = avcodec_receive_frame(d->decoder, d->frame);
        if (ret == 0) {
            d->errors = 0;
            vv_status s = convert(d, out);
            int64_t pts = d->frame->best_effort_timestamp;
            if (pts != AV_NOPTS_VALUE) {
                if (!d->have_first) {
                    d->first_pts = pts;
                    d->have_first = true;
                }
                *time = (double)(pts - d->first_pts) * av_q2d(d->format->streams[d->stream]->time_base);
            } else if (d->fps > 0) {
                *time = (double)d->frames / d->fps;
            }
            av_frame_unref(d->frame);
            if (s != VV_OK) return s;
            d->frames++;
            *got = true;
            return VV_OK;
        }
        if (ret == AVERROR_EOF) {
            d->finished = true;
            break;
        }
        if (ret != AVERROR(EAGAIN)) {
            if (++d->errors > DEVICE_MAX_ERRORS) return vv_fail(VV_ERR_CORRUPT, "too many undecodable frames from %s", d->name);
            continue;
        }
        if (d->input_done) return VV_OK; /* flushed and nothing more */
        ret = av_read_frame(d->format, d->packet);
        if (ret == AVERROR(EAGAIN)) continue;
        if (ret < 0) {
            /* The end of a pipe or graph; a camera has no end: it was unplugged or failed. */
            if (ret == AVERROR_EXIT || device_interrupt(d)) { /* stopped */
                d->finished = true;
                return VV_OK;
            }
            if (d->kind == LIVE_INPUT_CAMERA || (ret != AVERROR_EOF && d->frames == 0))
                return vv_fail(VV_ERR_IO, "%s stopped delivering frames (%s)", d->name, av_err2str(ret));
            d->input_done = true;
            avcodec_send_packet(d->decoder, NULL);
            continue;
        }
        if (d->packet->stream_index == d->stream) {
            ret = avcodec_send_packet(d->decoder, d->packet);
            if (ret < 0 && ret != AVERROR(EAGAIN) && ++d->errors > DEVICE_MAX_ERRORS) {
                av_packet_unref(d->packet);
                return vv_fail(VV_ERR_CORRUPT, "too many undecodable packets from %s", d->name);
            }
        }
        av_packet_unref(d->packet);
    }
    if (d->frames == 0) return vv_fail(VV_ERR_NO_VIDEO, "no video frames from %s", d->name);
    return VV_OK;
}

#endif
