/* video reader: streaming decode (one frame in memory at a time) of anything FFmpeg opens,
 * converted to packed RGB24 with swscale, with the container's rotation applied. */
#include "video/video.h"

#include "img/image.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

/* A stream of bad packets longer than this is treated as a corrupt file rather than skipped. */
#define MAX_CONSECUTIVE_ERRORS 500

struct video_reader {
    char *path;
    AVFormatContext *format;
    AVCodecContext *decoder;
    int stream_index;
    AVPacket *packet;
    AVFrame *frame;
    struct SwsContext *scaler;
    uint8_t *scratch;       /* unrotated RGB when rotation != 0 */
    size_t scratch_size;
    int64_t start_pts;      /* stream start time, so the first frame is near t = 0 */
    bool input_done;        /* demuxer hit EOF (or a fatal read error) */
    bool flushed;           /* NULL packet sent to the decoder */
    bool finished;          /* decoder returned EOF */
    long frames_decoded;
    long packets_sent;
    int consecutive_errors;
    video_info info;
};

/* Degrees clockwise (0/90/180/270) that the display matrix asks players to rotate by. */
static int stream_rotation(const AVStream *stream) {
    size_t size = 0;
    const uint8_t *matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!matrix || size < 9 * sizeof(int32_t)) return 0;
    double ccw = av_display_rotation_get((const int32_t *)matrix);
    if (!isfinite(ccw)) return 0;
    /* av_display_rotation_get is counter-clockwise; players rotate clockwise by its negation. */
    long quarter = lround(-ccw / 90.0);
    int cw = (int)(((quarter % 4) + 4) % 4) * 90;
    return cw;
}

static double rational_or_zero(AVRational r) {
    if (r.num <= 0 || r.den <= 0) return 0.0;
    double v = av_q2d(r);
    return (isfinite(v) && v < 10000.0) ? v : 0.0;
}

/* Video frames are capped well below the image caps: 8K (7680x4320) fits with room to
 * spare, while a fuzzed 13425x8224 VP8 stream took seconds per frame to convert. */
#define VIDEO_MAX_SIDE 8192
#define VIDEO_MAX_PIXELS (8192ull * 4352ull)

static vv_status check_size(int width, int height, const char *path) {
    if (width <= 0 || height <= 0)
        return vv_fail(VV_ERR_CORRUPT, "invalid frame size %dx%d in %s", width, height, path);
    if (width > VIDEO_MAX_SIDE || height > VIDEO_MAX_SIDE ||
        (unsigned long long)width * (unsigned long long)height > VIDEO_MAX_PIXELS)
        return vv_fail(VV_ERR_TOO_LARGE, "video %s is %dx%d, over the %d-per-side / %llu-pixel limit",
                       path, width, height, VIDEO_MAX_SIDE, VIDEO_MAX_PIXELS);
    return VV_OK;
}

/* First real video stream; cover art (attached pictures) does not count as video. */
static int find_video_stream(const AVFormatContext *format) {
    int best = av_find_best_stream((AVFormatContext *)format, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (best >= 0 && !(format->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC))
        return best;
    for (unsigned i = 0; i < format->nb_streams; i++) {
        const AVStream *s = format->streams[i];
        if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(s->disposition & AV_DISPOSITION_ATTACHED_PIC))
            return (int)i;
    }
    return -1;
}

/* The container FFmpeg recognises from the first bytes of path alone (not its name), or
 * NULL: tells a damaged file of a known kind (an MP4 cut before its index) from one that
 * is no video at all. */
static const char *container_by_content(const char *path) {
    enum { PROBE_BYTES = 4096 };
    uint8_t buffer[PROBE_BYTES + AVPROBE_PADDING_SIZE] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buffer, 1, PROBE_BYTES, f);
    fclose(f);
    AVProbeData probe = {.filename = "", .buf = buffer, .buf_size = (int)n};
    int score = 0;
    const AVInputFormat *format = av_probe_input_format3(&probe, 1, &score);
    if (!format || score < AVPROBE_SCORE_MAX / 2) return NULL;
    return format->long_name ? format->long_name : format->name;
}

vv_status video_reader_open(video_reader **out, const char *path) {
    vv_status status = VV_OK;
    video_reader *reader = NULL;
    *out = NULL;
    if (!path || !path[0]) return vv_fail(VV_ERR_INVALID_ARGUMENT, "video path is empty");
    av_log_set_level(AV_LOG_QUIET); /* the library never prints */

    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return vv_fail(VV_ERR_NOT_FOUND, "video not found: %s", path);
        return vv_fail(VV_ERR_IO, "cannot open video %s: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return vv_fail(VV_ERR_FORMAT, "%s is a folder, not a video", path);
    if (st.st_size == 0) return vv_fail(VV_ERR_FORMAT, "%s is empty (0 bytes), not a video", path);

    reader = calloc(1, sizeof *reader);
    if (!reader) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
    reader->path = strdup(path);
    reader->packet = av_packet_alloc();
    reader->frame = av_frame_alloc();
    if (!reader->path || !reader->packet || !reader->frame) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
        goto end;
    }

    int ret = avformat_open_input(&reader->format, path, NULL, NULL);
    if (ret < 0) {
        const char *container = ret == AVERROR(EACCES) ? NULL : container_by_content(path);
        status = ret == AVERROR(EACCES)
                     ? vv_fail(VV_ERR_IO, "cannot read %s: permission denied", path)
                 : container
                     ? vv_fail(VV_ERR_CORRUPT, "%s is a truncated or damaged %s file (%s)", path, container,
                               av_err2str(ret))
                     : vv_fail(VV_ERR_FORMAT, "%s is not a recognised video format (%s)", path,
                               av_err2str(ret));
        goto end;
    }
    ret = avformat_find_stream_info(reader->format, NULL);
    if (ret < 0) {
        status = vv_fail(VV_ERR_CORRUPT, "cannot read stream information from %s (%s)", path,
                         av_err2str(ret));
        goto end;
    }
    int index = find_video_stream(reader->format);
    if (index < 0) {
        status = vv_fail(VV_ERR_NO_VIDEO, "%s holds no video stream", path);
        goto end;
    }
    reader->stream_index = index;
    AVStream *stream = reader->format->streams[index];
    const AVCodecParameters *par = stream->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "no decoder for the %s video codec in %s",
                         avcodec_get_name(par->codec_id), path);
        goto end;
    }
    if ((status = check_size(par->width, par->height, path)) != VV_OK) goto end;

    reader->decoder = avcodec_alloc_context3(codec);
    if (!reader->decoder) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
        goto end;
    }
    if ((ret = avcodec_parameters_to_context(reader->decoder, par)) < 0) {
        status = vv_fail(VV_ERR_CORRUPT, "bad codec parameters in %s (%s)", path, av_err2str(ret));
        goto end;
    }
    reader->decoder->thread_count = 0; /* FFmpeg picks per core */
    reader->decoder->max_pixels = (int64_t)VIDEO_MAX_PIXELS; /* decoders refuse larger frames */
    reader->decoder->pkt_timebase = stream->time_base;
    if ((ret = avcodec_open2(reader->decoder, codec, NULL)) < 0) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "cannot open the %s decoder for %s (%s)",
                         codec->name, path, av_err2str(ret));
        goto end;
    }

    video_info *info = &reader->info;
    info->rotation = stream_rotation(stream);
    bool swap = info->rotation == 90 || info->rotation == 270;
    info->width = swap ? par->height : par->width;
    info->height = swap ? par->width : par->height;
    info->fps = rational_or_zero(stream->avg_frame_rate);
    if (info->fps <= 0) info->fps = rational_or_zero(stream->r_frame_rate);
    if (stream->duration > 0 && stream->duration != AV_NOPTS_VALUE)
        info->duration = (double)stream->duration * av_q2d(stream->time_base);
    else if (reader->format->duration > 0)
        info->duration = (double)reader->format->duration / AV_TIME_BASE;
    if (!isfinite(info->duration) || info->duration < 0 || info->duration > 1e7) info->duration = 0;
    if (stream->nb_frames > 0 && stream->nb_frames < 100000000)
        info->frame_count = (long)stream->nb_frames;
    else if (info->duration > 0 && info->fps > 0)
        info->frame_count = lround(info->duration * info->fps);
    for (unsigned i = 0; i < reader->format->nb_streams; i++)
        if (reader->format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            info->has_audio = true;
    reader->start_pts = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;

end:
    if (status != VV_OK) {
        video_reader_close(reader);
        return status;
    }
    *out = reader;
    return VV_OK;
}

const video_info *video_reader_info(const video_reader *reader) { return &reader->info; }

/* Feeds the decoder one packet of our stream, or the NULL flush packet at end of input.
 * Bad packets are skipped (counted); a long run of them is reported as corruption. */
static vv_status feed_decoder(video_reader *reader) {
    if (reader->input_done) {
        if (!reader->flushed) {
            avcodec_send_packet(reader->decoder, NULL);
            reader->flushed = true;
        }
        return VV_OK;
    }
    for (;;) {
        int ret = av_read_frame(reader->format, reader->packet);
        if (ret < 0) { /* EOF, or a truncated / unreadable tail: decode what we have */
            reader->input_done = true;
            avcodec_send_packet(reader->decoder, NULL);
            reader->flushed = true;
            return VV_OK;
        }
        if (reader->packet->stream_index != reader->stream_index) {
            av_packet_unref(reader->packet);
            continue;
        }
        ret = avcodec_send_packet(reader->decoder, reader->packet);
        av_packet_unref(reader->packet);
        reader->packets_sent++;
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            if (ret == AVERROR(ENOMEM))
                return vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding %s", reader->path);
            if (++reader->consecutive_errors > MAX_CONSECUTIVE_ERRORS)
                return vv_fail(VV_ERR_CORRUPT, "too many undecodable packets in %s", reader->path);
            continue;
        }
        return VV_OK;
    }
}

/* Rotates packed RGB src (w x h) clockwise by `rotation` into dst; one loop per angle so
 * the inner loop has no branches. */
static void rotate_rgb(uint8_t *dst, const uint8_t *src, int w, int h, int rotation) {
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)y * w * 3;
        if (rotation == 90) { /* (x, y) -> (h-1-y, x): a column of dst, top to bottom */
            uint8_t *d = dst + (size_t)(h - 1 - y) * 3;
            for (int x = 0; x < w; x++, s += 3) memcpy(d + (size_t)x * h * 3, s, 3);
        } else if (rotation == 180) { /* (x, y) -> (w-1-x, h-1-y): a row, reversed */
            uint8_t *d = dst + (size_t)(h - 1 - y) * w * 3;
            for (int x = w - 1; x >= 0; x--, s += 3) memcpy(d + (size_t)x * 3, s, 3);
        } else { /* 270: (x, y) -> (y, w-1-x): a column of dst, bottom to top */
            uint8_t *d = dst + (size_t)y * 3;
            for (int x = w - 1; x >= 0; x--, s += 3) memcpy(d + (size_t)x * h * 3, s, 3);
        }
    }
}

static int sws_colorspace(enum AVColorSpace space) {
    switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return SWS_CS_DEFAULT; /* BT.601, as FFmpeg assumes for untagged video */
    }
}

/* Converts reader->frame to RGB in `out`, rotated. */
static vv_status convert_frame(video_reader *reader, vv_image *out) {
    const AVFrame *f = reader->frame;
    vv_status status = check_size(f->width, f->height, reader->path);
    if (status != VV_OK) return status;
    int rotation = reader->info.rotation;
    bool swap = rotation == 90 || rotation == 270;
    /* Frames come out at the size open announced (and checked): a stream that changes
     * size midway, or a 2 KB file whose later frames claim 16000x16000, is scaled back,
     * so every frame matches video_reader_info and memory stays bounded by it. */
    int out_w = reader->info.width, out_h = reader->info.height;
    int width = swap ? out_h : out_w, height = swap ? out_w : out_h; /* before rotation */
    if (!out->data || out->width != out_w || out->height != out_h || out->channels != 3) {
        image_free(out);
        if ((status = image_create(out, out_w, out_h, 3)) != VV_OK) return status;
    }

    /* FFmpeg 5.1's SIMD YUV -> RGB24 path converts rows 16 pixels at a time and leaves the
     * rest of a row unwritten (6 pixels at width 150, 854): those widths take the accurate
     * path, which writes every pixel (within a level of the fast one). */
    int accurate = f->width % 16 || width % 16 ? SWS_ACCURATE_RND : 0;
    reader->scaler = sws_getCachedContext(reader->scaler, f->width, f->height, f->format,
                                          width, height, AV_PIX_FMT_RGB24,
                                          SWS_BILINEAR | accurate,
                                          NULL, NULL, NULL);
    if (!reader->scaler)
        return vv_fail(VV_ERR_UNSUPPORTED, "cannot convert %s frames of %s to RGB",
                       av_get_pix_fmt_name(f->format), reader->path);
    /* Honour the frame's matrix and range; swscale otherwise assumes BT.601 limited range. */
    int full_range = f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
                     f->format == AV_PIX_FMT_YUVJ422P || f->format == AV_PIX_FMT_YUVJ444P;
    const int *coefficients = sws_getCoefficients(sws_colorspace(f->colorspace));
    sws_setColorspaceDetails(reader->scaler, coefficients, full_range,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);

    /* swscale's SIMD paths may write a few bytes past the end of a row (seen: 8 bytes on
     * 250-pixel-wide frames); inside the buffer the next row overwrites them, after the
     * last row they would land outside the image.  Convert into a scratch buffer with
     * slack and copy (one memcpy, ~50 us for 512x512), or rotate from it. */
    size_t bytes = (size_t)width * (size_t)height * 3; /* bounded by check_size at open */
    const size_t slack = 256;
    if (reader->scratch_size < bytes + slack) {
        free(reader->scratch);
        reader->scratch = malloc(bytes + slack);
        reader->scratch_size = reader->scratch ? bytes + slack : 0;
        if (!reader->scratch)
            return vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding %s", reader->path);
    }
    uint8_t *target = reader->scratch;
    uint8_t *dst[4] = {target, NULL, NULL, NULL};
    int dst_stride[4] = {width * 3, 0, 0, 0};
    int rows = sws_scale(reader->scaler, (const uint8_t *const *)f->data, f->linesize, 0,
                         f->height, dst, dst_stride);
    if (rows != height)
        return vv_fail(VV_ERR_INTERNAL, "colour conversion failed on a frame of %s", reader->path);
    if (rotation != 0) rotate_rgb(out->data, reader->scratch, width, height, rotation);
    else memcpy(out->data, reader->scratch, bytes);
    return VV_OK;
}

vv_status video_reader_next(video_reader *reader, vv_image *frame, double *time, bool *got) {
    *got = false;
    if (time) *time = 0;
    if (reader->finished) return VV_OK;
    for (;;) {
        int ret = avcodec_receive_frame(reader->decoder, reader->frame);
        if (ret == 0) {
            reader->consecutive_errors = 0;
            vv_status status = convert_frame(reader, frame);
            int64_t pts = reader->frame->best_effort_timestamp;
            if (time && pts != AV_NOPTS_VALUE)
                *time = (double)(pts - reader->start_pts) *
                        av_q2d(reader->format->streams[reader->stream_index]->time_base);
            else if (time && reader->info.fps > 0)
                *time = (double)reader->frames_decoded / reader->info.fps;
            av_frame_unref(reader->frame);
            if (status != VV_OK) return status;
            reader->frames_decoded++;
            *got = true;
            return VV_OK;
        }
        if (ret == AVERROR_EOF) {
            reader->finished = true;
            if (reader->frames_decoded == 0) {
                if (reader->packets_sent == 0)
                    return vv_fail(VV_ERR_NO_VIDEO, "no video frames in %s", reader->path);
                return vv_fail(VV_ERR_CORRUPT, "no decodable video frame in %s (%ld packets read)",
                               reader->path, reader->packets_sent);
            }
            return VV_OK;
        }
        if (ret == AVERROR(EAGAIN)) {
            vv_status status = feed_decoder(reader);
            if (status != VV_OK) return status;
            continue;
        }
        if (ret == AVERROR(ENOMEM))
            return vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding %s", reader->path);
        /* A frame failed to decode (threaded decoders report it here): skip it. */
        if (++reader->consecutive_errors > MAX_CONSECUTIVE_ERRORS) {
            reader->finished = true;
            return vv_fail(VV_ERR_CORRUPT, "too many undecodable frames in %s", reader->path);
        }
    }
}

void video_reader_close(video_reader *reader) {
    if (!reader) return;
    sws_freeContext(reader->scaler);
    avcodec_free_context(&reader->decoder);
    avformat_close_input(&reader->format);
    av_packet_free(&reader->packet);
    av_frame_free(&reader->frame);
    free(reader->scratch);
    free(reader->path);
    free(reader);
}
