/* video writer: H.264 mp4/mov/mkv (libx264, yuv420p, +faststart), GIF (one palette for the
 * clip, chosen by median cut from its first frames, with ordered dithering only as strong as
 * the palette's steps, so still areas stay identical between frames and compress well), or a
 * folder of PNGs.  Output goes to a temporary name and is renamed into place at the end.
 *
 * mp4 and GIF frames are encoded on a thread of the writer's own: a write puts the frame
 * into one of two slots and returns, so the caller makes the next frame while this one is
 * encoded (mp4: converted to yuv420p straight into the slot, no copy; GIF: the RGB copied
 * in).  An error there is returned by the next write or the finish. */
#include "video/video.h"

#include "img/image.h"
#include "video/audio_track.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>

#define PNG_NAME_FORMAT "frame_%05ld.png"

typedef struct gif_state gif_state;

struct video_writer {
    video_format format;
    char final_path[PATH_MAX];
    char temp_path[PATH_MAX];
    int in_width, in_height; /* frame size given at open */
    int width, height;       /* encoded size (mp4: even) */
    double fps;
    long frames;
    /* mp4 / gif */
    AVFormatContext *output;
    AVCodecContext *encoder;
    AVStream *stream;
    AVFrame *frame;
    AVPacket *packet;
    bool header_written;
    audio_track *audio;
    double audio_duration;
    /* png sequence */
    bool temp_dir_created;
    /* mp4 / gif: the encoding thread and its two frame slots (slot k holds frame
     * frames with frames % 2 == k while full[k]); under lock */
    pthread_t thread;
    bool sync_ready, thread_started, closing;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    vv_image slot[2];          /* GIF: views of slot_data: RGB rows, then FFmpeg's input padding */
    uint8_t *slot_data[2];
    AVFrame *yuv[2];           /* mp4: the frames in yuv420p, for the encoder as they are */
    bool full[2];
    long encoded;              /* frames the thread has encoded (its own count) */
    gif_state *gif;            /* GIF: the clip's palette and the frames held back to choose it */
    vv_status thread_status;   /* the thread's first failure, and its message */
    char thread_error[1024];
};

static vv_status encode_slot(video_writer *writer, int k);
static void gif_free(gif_state *gif);
static vv_status gif_release(video_writer *writer);

static void *encode_main(void *arg) {
    video_writer *writer = arg;
    pthread_mutex_lock(&writer->lock);
    for (int k = 0;; k ^= 1) {
        while (!writer->full[k] && !writer->closing) pthread_cond_wait(&writer->changed, &writer->lock);
        if (!writer->full[k]) break; /* closing, nothing left */
        bool failed = writer->thread_status != VV_OK;
        pthread_mutex_unlock(&writer->lock);
        vv_status status = failed ? VV_OK : encode_slot(writer, k);
        pthread_mutex_lock(&writer->lock);
        if (status != VV_OK) {
            writer->thread_status = status;
            snprintf(writer->thread_error, sizeof writer->thread_error, "%s", vv_last_error());
        }
        writer->full[k] = false;
        pthread_cond_broadcast(&writer->changed);
    }
    pthread_mutex_unlock(&writer->lock);
    return NULL;
}

/* Waits until the thread has encoded everything given (all: true) or has slot k free;
 * returns its failure, if any, as this thread's. */
static vv_status encode_wait(video_writer *writer, int k, bool all) {
    pthread_mutex_lock(&writer->lock);
    while (all ? writer->full[0] || writer->full[1] : writer->full[k]) pthread_cond_wait(&writer->changed, &writer->lock);
    vv_status status = writer->thread_status;
    pthread_mutex_unlock(&writer->lock);
    return status == VV_OK ? VV_OK : vv_fail(status, "%s", writer->thread_error);
}

/* Stops and joins the thread (what it holds is encoded first unless it failed). */
static void encode_stop(video_writer *writer) {
    if (!writer->thread_started) return;
    pthread_mutex_lock(&writer->lock);
    writer->closing = true;
    pthread_cond_broadcast(&writer->changed);
    pthread_mutex_unlock(&writer->lock);
    pthread_join(writer->thread, NULL);
    writer->thread_started = false;
}

/* x264's preset names, checked here because x264 prints its own error for unknown ones. */
static bool preset_known(const char *preset) {
    static const char *const names[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                        "medium", "slow", "slower", "veryslow", "placebo"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(preset, names[i])) return true;
    return false;
}

video_writer_params video_writer_default_params(void) {
    video_writer_params p = {0};
    p.fps = 25;
    p.crf = 18;
    p.preset = "veryfast";
    return p;
}

static bool is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

video_format video_format_for_path(const char *path) {
    char ext[16];
    path_extension(path, ext, sizeof ext);
    size_t n = strlen(path);
    if (n > 0 && path[n - 1] == '/') return VIDEO_FORMAT_PNG_SEQUENCE;
    if (!strcmp(ext, "mp4") || !strcmp(ext, "mov") || !strcmp(ext, "mkv") || !strcmp(ext, "m4v"))
        return is_directory(path) ? VIDEO_FORMAT_PNG_SEQUENCE : VIDEO_FORMAT_MP4;
    if (!strcmp(ext, "gif")) return is_directory(path) ? VIDEO_FORMAT_PNG_SEQUENCE : VIDEO_FORMAT_GIF;
    return VIDEO_FORMAT_PNG_SEQUENCE;
}

/* Removes a folder and the plain files in it (our temporary PNG folder: no subfolders). */
static void remove_folder(const char *path) {
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *entry;
        char file[PATH_MAX];
        while ((entry = readdir(dir)) != NULL) {
            if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
            if (snprintf(file, sizeof file, "%s/%s", path, entry->d_name) < (int)sizeof file)
                remove(file);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* Stops the thread without encoding what it still holds. */
static void encode_drop(video_writer *writer) {
    if (!writer->thread_started) return;
    pthread_mutex_lock(&writer->lock);
    writer->thread_status = writer->thread_status != VV_OK ? writer->thread_status : VV_ERR_ABORTED;
    pthread_mutex_unlock(&writer->lock);
    encode_stop(writer);
}

static void writer_free(video_writer *writer) {
    encode_drop(writer); /* not after a finish */
    if (writer->sync_ready) {
        pthread_mutex_destroy(&writer->lock);
        pthread_cond_destroy(&writer->changed);
    }
    free(writer->slot_data[0]);
    free(writer->slot_data[1]);
    av_frame_free(&writer->yuv[0]);
    av_frame_free(&writer->yuv[1]);
    gif_free(writer->gif);
    audio_track_free(writer->audio);
    if (writer->output) {
        if (writer->output->pb) avio_closep(&writer->output->pb);
        avformat_free_context(writer->output);
    }
    avcodec_free_context(&writer->encoder);
    av_frame_free(&writer->frame);
    av_packet_free(&writer->packet);
    free(writer);
}

void video_writer_abort(video_writer *writer) {
    if (!writer) return;
    encode_drop(writer); /* before the muxer goes */
    /* The trailer also frees muxer state (the GIF muxer holds a packet back); its output is
     * deleted below anyway. */
    if (writer->header_written) av_write_trailer(writer->output);
    if (writer->output && writer->output->pb) avio_closep(&writer->output->pb);
    if (writer->format == VIDEO_FORMAT_PNG_SEQUENCE) {
        if (writer->temp_dir_created) remove_folder(writer->temp_path);
    } else if (writer->temp_path[0]) {
        remove(writer->temp_path);
    }
    writer_free(writer);
}

static vv_status open_png_sequence(video_writer *writer) {
    /* The temporary folder sits beside the final one so the closing rename is atomic. */
    size_t n = strlen(writer->final_path);
    while (n > 1 && writer->final_path[n - 1] == '/') writer->final_path[--n] = 0;
    vv_status status = file_temp_path(writer->final_path, writer->temp_path, sizeof writer->temp_path);
    if (status != VV_OK) return status;
    if (mkdir(writer->temp_path, 0777) != 0)
        return vv_fail(VV_ERR_WRITE, "cannot create the frame folder %s: %s", writer->final_path,
                       strerror(errno));
    writer->temp_dir_created = true;
    return VV_OK;
}

static vv_status open_encoder(video_writer *writer, const video_writer_params *params) {
    bool gif = writer->format == VIDEO_FORMAT_GIF;
    const AVCodec *codec = gif ? avcodec_find_encoder(AV_CODEC_ID_GIF)
                               : avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return vv_fail(VV_ERR_UNSUPPORTED, "this FFmpeg has no %s encoder (needed for %s)",
                       gif ? "GIF" : "libx264", writer->final_path);
    AVCodecContext *enc = writer->encoder = avcodec_alloc_context3(codec);
    if (!enc) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", writer->final_path);
    AVRational rate = av_d2q(writer->fps, 100000);
    enc->width = writer->width;
    enc->height = writer->height;
    enc->framerate = rate;
    enc->time_base = av_inv_q(rate);
    enc->sample_aspect_ratio = (AVRational){1, 1};
    if (gif) {
        enc->pix_fmt = AV_PIX_FMT_PAL8;
    } else {
        enc->pix_fmt = AV_PIX_FMT_YUV420P;
        /* Tagged BT.709 limited range, matching the conversion below, so players agree. */
        enc->color_range = AVCOL_RANGE_MPEG;
        enc->colorspace = AVCOL_SPC_BT709;
        enc->color_primaries = AVCOL_PRI_BT709;
        enc->color_trc = AVCOL_TRC_BT709;
        av_opt_set(enc->priv_data, "preset", params->preset ? params->preset : "veryfast", 0);
        av_opt_set_double(enc->priv_data, "crf", params->crf, 0);
    }
    if (writer->output->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int ret = avcodec_open2(enc, codec, NULL);
    if (ret < 0)
        return vv_fail(ret == AVERROR(EINVAL) ? VV_ERR_INVALID_ARGUMENT : VV_ERR_UNSUPPORTED,
                       "cannot open the %s encoder for %s (%s; preset \"%s\")", codec->name,
                       writer->final_path, av_err2str(ret), params->preset ? params->preset : "");
    writer->stream = avformat_new_stream(writer->output, NULL);
    if (!writer->stream ||
        avcodec_parameters_from_context(writer->stream->codecpar, enc) < 0)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", writer->final_path);
    writer->stream->time_base = enc->time_base;
    writer->stream->avg_frame_rate = rate;

    writer->packet = av_packet_alloc();
    if (!writer->packet) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", writer->final_path);
    /* GIF: one frame, filled from the RGB slots by the thread; mp4: two, filled by the writes. */
    AVFrame **frames[2] = {gif ? &writer->frame : &writer->yuv[0], gif ? NULL : &writer->yuv[1]};
    for (int k = 0; k < 2 && frames[k]; k++) {
        AVFrame *f = *frames[k] = av_frame_alloc();
        if (!f) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", writer->final_path);
        f->format = enc->pix_fmt;
        f->width = enc->width;
        f->height = enc->height;
        if (av_frame_get_buffer(f, 0) < 0) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", writer->final_path);
    }
    return VV_OK;
}

static vv_status open_container(video_writer *writer, const video_writer_params *params) {
    char ext[16];
    path_extension(writer->final_path, ext, sizeof ext);
    const char *muxer = writer->format == VIDEO_FORMAT_GIF ? "gif"
                        : !strcmp(ext, "mov")              ? "mov"
                        : !strcmp(ext, "mkv")              ? "matroska"
                                                           : "mp4";
    vv_status status = file_temp_path(writer->final_path, writer->temp_path, sizeof writer->temp_path);
    if (status != VV_OK) return status;
    int ret = avformat_alloc_output_context2(&writer->output, NULL, muxer, writer->temp_path);
    if (ret < 0 || !writer->output)
        return vv_fail(VV_ERR_UNSUPPORTED, "this FFmpeg cannot write %s files (%s)", muxer,
                       writer->final_path);
    if ((status = open_encoder(writer, params)) != VV_OK) return status;
    bool wants_audio = params->audio_source && params->audio_source[0] &&
                       writer->format == VIDEO_FORMAT_MP4;
    if (wants_audio) {
        status = audio_track_open(&writer->audio, params->audio_source, params->audio_start,
                                  writer->output);
        if (status != VV_OK) return status;
    }
    ret = avio_open(&writer->output->pb, writer->temp_path, AVIO_FLAG_WRITE);
    if (ret < 0)
        return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", writer->final_path, av_err2str(ret));
    AVDictionary *options = NULL;
    if (strcmp(muxer, "mp4") == 0 || strcmp(muxer, "mov") == 0)
        av_dict_set(&options, "movflags", "+faststart", 0); /* index first: plays while loading */
    ret = avformat_write_header(writer->output, &options);
    av_dict_free(&options);
    if (ret < 0)
        return vv_fail(VV_ERR_WRITE, "cannot write the header of %s (%s)", writer->final_path,
                       av_err2str(ret));
    writer->header_written = true;
    return VV_OK;
}

vv_status video_writer_open(video_writer **out, const char *path, const video_writer_params *params) {
    *out = NULL;
    video_writer_params defaults = video_writer_default_params();
    if (!params) params = &defaults;
    if (!path || !path[0]) return vv_fail(VV_ERR_INVALID_ARGUMENT, "output video path is empty");
    if (strlen(path) >= PATH_MAX - 64)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "output path too long: %.100s...", path);
    if (params->width <= 0 || params->height <= 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "invalid video size %dx%d for %s", params->width,
                       params->height, path);
    if (params->width > VV_IMAGE_MAX_SIDE || params->height > VV_IMAGE_MAX_SIDE ||
        (unsigned long long)params->width * (unsigned long long)params->height > VV_IMAGE_MAX_PIXELS)
        return vv_fail(VV_ERR_TOO_LARGE, "video size %dx%d for %s is over the limit", params->width,
                       params->height, path);
    double fps = params->fps > 0 ? params->fps : 25.0;
    if (!isfinite(fps) || fps > 1000)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "invalid frame rate %g for %s", params->fps, path);
    if (params->crf < 0 || params->crf > 51)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "CRF %d for %s is outside 0..51", params->crf, path);
    if (params->audio_duration < 0 || !isfinite(params->audio_duration) ||
        params->audio_start < 0 || !isfinite(params->audio_start))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "invalid audio start/duration for %s", path);

    if (params->preset && !preset_known(params->preset))
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "unknown x264 preset \"%s\" for %s (ultrafast ... veryslow)", params->preset, path);

    video_format format = video_format_for_path(path);
    char ext[16];
    path_extension(path, ext, sizeof ext);
    size_t len = strlen(path);
    if (format == VIDEO_FORMAT_PNG_SEQUENCE && ext[0] && path[len - 1] != '/' && !is_directory(path))
        return vv_fail(VV_ERR_UNSUPPORTED,
                       "cannot write .%s video %s: use .mp4, .mov, .mkv, .gif or a folder for PNG frames",
                       ext, path);
    if (format == VIDEO_FORMAT_MP4 && (params->width < 2 || params->height < 2))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "video size %dx%d for %s is too small for H.264",
                       params->width, params->height, path);

    av_log_set_level(AV_LOG_QUIET); /* the library never prints */
    video_writer *writer = calloc(1, sizeof *writer);
    if (!writer) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening %s", path);
    writer->format = format;
    snprintf(writer->final_path, sizeof writer->final_path, "%s", path);
    writer->in_width = params->width;
    writer->in_height = params->height;
    writer->width = format == VIDEO_FORMAT_MP4 ? params->width & ~1 : params->width;
    writer->height = format == VIDEO_FORMAT_MP4 ? params->height & ~1 : params->height;
    writer->fps = fps;
    writer->audio_duration = params->audio_duration;

    vv_status status = format == VIDEO_FORMAT_PNG_SEQUENCE ? open_png_sequence(writer)
                                                           : open_container(writer, params);
    if (status == VV_OK && format != VIDEO_FORMAT_PNG_SEQUENCE) {
        pthread_mutex_init(&writer->lock, NULL);
        pthread_cond_init(&writer->changed, NULL);
        writer->sync_ready = true;
        if (pthread_create(&writer->thread, NULL, encode_main, writer) != 0)
            status = vv_fail(VV_ERR_NO_MEMORY, "cannot start the encoding thread for %s", writer->final_path);
        else
            writer->thread_started = true;
    }
    if (status != VV_OK) {
        video_writer_abort(writer);
        return status;
    }
    *out = writer;
    return VV_OK;
}

/* Sends a frame (NULL: flush) and writes every packet the encoder has ready, then the
 * audio up to the same time so the file stays interleaved. */
static vv_status encode_and_write(video_writer *writer, AVFrame *frame) {
    int ret = avcodec_send_frame(writer->encoder, frame);
    if (ret < 0)
        return vv_fail(VV_ERR_INTERNAL, "encoding a frame of %s failed (%s)", writer->final_path,
                       av_err2str(ret));
    for (;;) {
        ret = avcodec_receive_packet(writer->encoder, writer->packet);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
        if (ret < 0)
            return vv_fail(VV_ERR_INTERNAL, "encoding %s failed (%s)", writer->final_path,
                           av_err2str(ret));
        if (writer->packet->duration <= 0) writer->packet->duration = 1;
        av_packet_rescale_ts(writer->packet, writer->encoder->time_base, writer->stream->time_base);
        writer->packet->stream_index = writer->stream->index;
        ret = av_interleaved_write_frame(writer->output, writer->packet);
        av_packet_unref(writer->packet);
        if (ret < 0)
            return vv_fail(VV_ERR_WRITE, "cannot write %s (%s)", writer->final_path, av_err2str(ret));
    }
    if (writer->audio && frame) {
        double limit = (double)writer->encoded / writer->fps;
        if (writer->audio_duration > 0 && writer->audio_duration < limit) limit = writer->audio_duration;
        return audio_track_pump(writer->audio, limit, false);
    }
    return VV_OK;
}

/* ---- GIF: one palette for the clip ----------------------------------------------------
 * The first frames (GIF_HOLD_FRAMES, or fewer when they pass GIF_HOLD_BYTES) are held back;
 * the palette is chosen from their colours by median cut (the box of colours with the
 * largest squared error split at its median along its widest axis, GIF_COLOURS boxes, each
 * its mean), then they and every later frame are mapped with it.  Entry GIF_COLOURS and any
 * unused ones are transparent: the GIF encoder marks pixels unchanged since the previous
 * frame with such an entry.  Each pixel takes the entry nearest to it after an ordered
 * (8x8 Bayer) offset scaled to the distance from its nearest entry to that entry's own
 * nearest neighbour: dithering only as strong as the palette's step there, none on a colour
 * the palette holds exactly (a flat background stays flat), and, being ordered, a pixel
 * that did not change maps as before (still areas compress). */
#define GIF_COLOURS 255
#define GIF_HOLD_FRAMES 50
#define GIF_HOLD_BYTES ((size_t)64 << 20)
#define GIF_SAMPLES 4000000L        /* pixels looked at to choose the palette, at most */
#define GIF_HISTOGRAM_BITS 18       /* distinct colours kept (a quarter... half full) */
#define GIF_CACHE_BITS 18           /* nearest-entry cache of exact colours (1.25 MB) */
#define GIF_DITHER_MAX 24.0f        /* the largest offset step, in levels */

/* 8x8 Bayer thresholds (0..63). */
static const uint8_t bayer8[8][8] = {
    {0, 32, 8, 40, 2, 34, 10, 42},  {48, 16, 56, 24, 50, 18, 58, 26},
    {12, 44, 4, 36, 14, 46, 6, 38}, {60, 28, 52, 20, 62, 30, 54, 22},
    {3, 35, 11, 43, 1, 33, 9, 41},  {51, 19, 59, 27, 49, 17, 57, 25},
    {15, 47, 7, 39, 13, 45, 5, 37}, {63, 31, 55, 23, 61, 29, 53, 21},
};

struct gif_state {
    bool ready;                 /* the palette is chosen */
    vv_image held[GIF_HOLD_FRAMES];
    int held_count;
    size_t held_bytes;
    int colours;
    uint32_t palette[256];      /* 0xAARRGGBB for the encoder */
    int sorted[GIF_COLOURS];    /* entries by green, for the nearest search */
    int sorted_green[GIF_COLOURS];
    uint8_t rgb[GIF_COLOURS][3];
    float step[GIF_COLOURS];    /* the dither step (per channel) around each entry */
    uint32_t cache_key[1 << GIF_CACHE_BITS]; /* colour | 1 << 24 when filled */
    uint8_t cache_entry[1 << GIF_CACHE_BITS];
};

static void gif_free(gif_state *gif) {
    if (!gif) return;
    for (int i = 0; i < gif->held_count; i++) image_free(&gif->held[i]);
    free(gif);
}

/* A histogram bin: the colours falling in one cell (exact colours until the table fills). */
typedef struct {
    uint32_t key; /* cell | 1 << 31 when used */
    uint32_t count;
    uint64_t sum[3];
    float sort_key;
} gif_bin;

typedef struct {
    size_t begin, end; /* bins[begin, end) */
    double error;      /* squared error of the bins' means around the box's mean, by count */
    int axis;          /* the axis of largest spread */
} gif_box;

static int bin_compare(const void *a, const void *b) {
    float x = ((const gif_bin *)a)->sort_key, y = ((const gif_bin *)b)->sort_key;
    return x < y ? -1 : x > y;
}

static void box_measure(gif_box *box, const gif_bin *bins) {
    double n = 0, mean[3] = {0}, square[3] = {0};
    for (size_t i = box->begin; i < box->end; i++) {
        n += bins[i].count;
        for (int c = 0; c < 3; c++) {
            double v = (double)bins[i].sum[c] / bins[i].count;
            mean[c] += v * bins[i].count;
            square[c] += v * v * bins[i].count;
        }
    }
    box->error = 0;
    box->axis = 0;
    double widest = -1;
    for (int c = 0; c < 3; c++) {
        double spread = square[c] - mean[c] * mean[c] / n; /* count x variance */
        box->error += spread;
        if (spread > widest) widest = spread, box->axis = c;
    }
}

/* Adds the sampled pixels of `image` to the table (open addressing, `shift` low bits of
 * each channel dropped); false when the table is half full. */
static bool histogram_add(gif_bin *table, size_t *used, int shift, const uint8_t *pixel, uint32_t count,
                          const uint64_t sum[3]) {
    const size_t mask = ((size_t)1 << GIF_HISTOGRAM_BITS) - 1;
    uint32_t cell = (uint32_t)(pixel[0] >> shift) << 16 | (uint32_t)(pixel[1] >> shift) << 8 | (pixel[2] >> shift);
    size_t h = (cell * 2654435761u) & mask;
    while (table[h].key && table[h].key != (cell | 1u << 31)) h = (h + 1) & mask;
    if (!table[h].key) {
        if (*used >= (mask + 1) / 2) return false;
        table[h].key = cell | 1u << 31;
        (*used)++;
    }
    table[h].count += count;
    for (int c = 0; c < 3; c++) table[h].sum[c] += sum[c];
    return true;
}

/* Rebuilds the table with one more low bit dropped. */
static void histogram_coarsen(gif_bin *table, gif_bin *scratch, size_t *used, int shift) {
    const size_t size = (size_t)1 << GIF_HISTOGRAM_BITS;
    memcpy(scratch, table, size * sizeof *table);
    memset(table, 0, size * sizeof *table);
    *used = 0;
    for (size_t i = 0; i < size; i++) {
        if (!scratch[i].key) continue;
        uint8_t pixel[3];
        for (int c = 0; c < 3; c++) pixel[c] = (uint8_t)(scratch[i].sum[c] / scratch[i].count);
        histogram_add(table, used, shift, pixel, scratch[i].count, scratch[i].sum); /* fits: fewer cells */
    }
}

static int gif_nearest_search(const gif_state *gif, int r, int g, int b) {
    int n = gif->colours, lo = 0, hi = n;
    while (lo < hi) { /* the first entry with green >= g */
        int mid = (lo + hi) / 2;
        if (gif->sorted_green[mid] < g) lo = mid + 1;
        else hi = mid;
    }
    int best = 0, best_distance = INT_MAX;
    for (int up = lo, down = lo - 1; up < n || down >= 0;) {
        if (up < n) {
            int dg = gif->sorted_green[up] - g;
            if (dg * dg >= best_distance) {
                up = n;
            } else {
                const uint8_t *p = gif->rgb[gif->sorted[up]];
                int d = (p[0] - r) * (p[0] - r) + dg * dg + (p[2] - b) * (p[2] - b);
                if (d < best_distance) best_distance = d, best = gif->sorted[up];
                up++;
            }
        }
        if (down >= 0) {
            int dg = g - gif->sorted_green[down];
            if (dg * dg >= best_distance) {
                down = -1;
            } else {
                const uint8_t *p = gif->rgb[gif->sorted[down]];
                int d = (p[0] - r) * (p[0] - r) + dg * dg + (p[2] - b) * (p[2] - b);
                if (d < best_distance) best_distance = d, best = gif->sorted[down];
                down--;
            }
        }
    }
    return best;
}

static inline int gif_nearest(gif_state *gif, int r, int g, int b) {
    uint32_t key = (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b | 1u << 24;
    uint32_t h = (key * 2654435761u) >> (32 - GIF_CACHE_BITS);
    if (gif->cache_key[h] == key) return gif->cache_entry[h];
    int entry = gif_nearest_search(gif, r, g, b);
    gif->cache_key[h] = key;
    gif->cache_entry[h] = (uint8_t)entry;
    return entry;
}

static int green_compare(const void *a, const void *b) {
    const int *x = a, *y = b;
    return x[1] != y[1] ? (x[1] > y[1]) - (x[1] < y[1]) : (x[0] > y[0]) - (x[0] < y[0]);
}

/* The palette from the held frames. */
static vv_status gif_choose_palette(video_writer *writer) {
    gif_state *gif = writer->gif;
    const size_t size = (size_t)1 << GIF_HISTOGRAM_BITS;
    gif_bin *table = calloc(size, sizeof *table), *scratch = calloc(size, sizeof *scratch);
    gif_box *boxes = malloc(GIF_COLOURS * sizeof *boxes);
    if (!table || !scratch || !boxes) {
        free(table), free(scratch), free(boxes);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory choosing the palette of %s", writer->final_path);
    }
    long pixels = 0;
    for (int i = 0; i < gif->held_count; i++) pixels += (long)gif->held[i].width * gif->held[i].height;
    long stride = pixels / GIF_SAMPLES + 1;
    if (stride > 1 && stride % 2 == 0) stride++; /* odd: not the same columns of every row */
    size_t used = 0;
    int shift = 0;
    for (int i = 0; i < gif->held_count; i++) {
        const vv_image *image = &gif->held[i];
        long count = (long)image->width * image->height;
        for (long k = (i * 7919L) % stride; k < count; k += stride) {
            const uint8_t *p = image->data + (size_t)k * 3;
            const uint64_t sum[3] = {p[0], p[1], p[2]};
            while (!histogram_add(table, &used, shift, p, 1, sum)) histogram_coarsen(table, scratch, &used, ++shift);
        }
    }
    /* The used bins to the front, then median cut. */
    size_t bins = 0;
    for (size_t i = 0; i < size; i++)
        if (table[i].key) table[bins++] = table[i];
    int box_count = 1;
    boxes[0] = (gif_box){.begin = 0, .end = bins};
    box_measure(&boxes[0], table);
    while (box_count < GIF_COLOURS) {
        int split = -1;
        for (int i = 0; i < box_count; i++)
            if (boxes[i].end - boxes[i].begin >= 2 && boxes[i].error > 0 &&
                (split < 0 || boxes[i].error > boxes[split].error))
                split = i;
        if (split < 0) break;
        gif_box *box = &boxes[split];
        uint64_t total = 0;
        for (size_t i = box->begin; i < box->end; i++) {
            table[i].sort_key = (float)((double)table[i].sum[box->axis] / table[i].count);
            total += table[i].count;
        }
        qsort(table + box->begin, box->end - box->begin, sizeof *table, bin_compare);
        size_t middle = box->begin + 1;
        uint64_t below = table[box->begin].count;
        while (middle < box->end - 1 && below * 2 < total) below += table[middle++].count;
        boxes[box_count] = (gif_box){.begin = middle, .end = box->end};
        box->end = middle;
        box_measure(box, table);
        box_measure(&boxes[box_count++], table);
    }
    gif->colours = box_count;
    memset(gif->palette, 0, sizeof gif->palette); /* unused entries transparent */
    int order[GIF_COLOURS][2];
    for (int i = 0; i < box_count; i++) {
        uint64_t n = 0, sum[3] = {0};
        for (size_t k = boxes[i].begin; k < boxes[i].end; k++) {
            n += table[k].count;
            for (int c = 0; c < 3; c++) sum[c] += table[k].sum[c];
        }
        for (int c = 0; c < 3; c++) gif->rgb[i][c] = (uint8_t)((sum[c] + n / 2) / n);
        gif->palette[i] = 0xFF000000u | (uint32_t)gif->rgb[i][0] << 16 | (uint32_t)gif->rgb[i][1] << 8 | gif->rgb[i][2];
        order[i][0] = i;
        order[i][1] = gif->rgb[i][1];
    }
    qsort(order, (size_t)box_count, sizeof order[0], green_compare);
    for (int i = 0; i < box_count; i++) gif->sorted[i] = order[i][0], gif->sorted_green[i] = order[i][1];
    /* Each entry's dither step: the distance to its nearest neighbour, per channel (a step
     * along the grey diagonal is sqrt(3) channel levels long). */
    for (int i = 0; i < box_count; i++) {
        int nearest = INT_MAX;
        for (int j = 0; j < box_count; j++) {
            if (j == i) continue;
            int d = 0;
            for (int c = 0; c < 3; c++) d += (gif->rgb[i][c] - gif->rgb[j][c]) * (gif->rgb[i][c] - gif->rgb[j][c]);
            if (d < nearest) nearest = d;
        }
        float step = nearest == INT_MAX ? 0.0f : sqrtf((float)nearest / 3.0f);
        gif->step[i] = step > GIF_DITHER_MAX ? GIF_DITHER_MAX : step;
    }
    gif->ready = true;
    free(table), free(scratch), free(boxes);
    return VV_OK;
}

static void gif_fill_frame(gif_state *gif, AVFrame *frame, const vv_image *image) {
    memcpy(frame->data[1], gif->palette, sizeof gif->palette);
    for (int y = 0; y < frame->height; y++) {
        const uint8_t *src = image->data + (size_t)y * image->width * 3;
        uint8_t *dst = frame->data[0] + (size_t)y * frame->linesize[0];
        for (int x = 0; x < frame->width; x++) {
            int r = src[3 * x], g = src[3 * x + 1], b = src[3 * x + 2];
            int entry = gif_nearest(gif, r, g, b);
            float step = gif->step[entry];
            if (step >= 1.0f) {
                /* An offset in (-step/2, step/2) on every channel. */
                float shift = step * (float)(2 * bayer8[y & 7][x & 7] + 1 - 64) * (1.0f / 128.0f);
                int offset = (int)(shift + (shift < 0 ? -0.5f : 0.5f));
                if (offset) {
                    r = r + offset < 0 ? 0 : r + offset > 255 ? 255 : r + offset;
                    g = g + offset < 0 ? 0 : g + offset > 255 ? 255 : g + offset;
                    b = b + offset < 0 ? 0 : b + offset > 255 ? 255 : b + offset;
                    entry = gif_nearest(gif, r, g, b);
                }
            }
            dst[x] = (uint8_t)entry;
        }
    }
}

static vv_status gif_encode_one(video_writer *writer, const vv_image *frame) {
    AVFrame *f = writer->frame;
    if (av_frame_make_writable(f) < 0)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding %s", writer->final_path);
    gif_fill_frame(writer->gif, f, frame);
    f->pts = writer->encoded++;
    return encode_and_write(writer, f);
}

/* Chooses the palette from the held frames (if not yet) and encodes them. */
static vv_status gif_release(video_writer *writer) {
    gif_state *gif = writer->gif;
    vv_status status = VV_OK;
    if (!gif->ready && gif->held_count > 0) status = gif_choose_palette(writer);
    for (int i = 0; i < gif->held_count; i++) {
        if (status == VV_OK) status = gif_encode_one(writer, &gif->held[i]);
        image_free(&gif->held[i]);
    }
    gif->held_count = 0;
    gif->held_bytes = 0;
    return status;
}

/* The encoding thread's work for one GIF frame: held back until the palette is chosen. */
static vv_status gif_encode(video_writer *writer, const vv_image *frame) {
    if (!writer->gif && !(writer->gif = calloc(1, sizeof *writer->gif)))
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding %s", writer->final_path);
    gif_state *gif = writer->gif;
    if (gif->ready) return gif_encode_one(writer, frame);
    size_t bytes = (size_t)frame->width * frame->height * 3;
    if (gif->held_count > 0 && (gif->held_count == GIF_HOLD_FRAMES || gif->held_bytes + bytes > GIF_HOLD_BYTES)) {
        vv_status status = gif_release(writer);
        return status != VV_OK ? status : gif_encode_one(writer, frame);
    }
    vv_status status = image_copy(&gif->held[gif->held_count], frame);
    if (status != VV_OK) return status;
    gif->held_count++;
    gif->held_bytes += bytes;
    return VV_OK;
}

/* RGB to BT.709 limited-range yuv420p (the colours the stream is tagged with): luma per
 * pixel, chroma from each 2x2 block's mean, in 15-bit fixed point, rounded; an odd frame's
 * last column and row are left out (the encoded size is even).  Written for the compiler
 * to vectorise: swscale's accurate path took 3x as long, beside a copy of the frame. */
#define YUV_SHIFT 15
#define YUV_COEF(x) ((int32_t)((x) * (1 << YUV_SHIFT) * 219.0 / 255.0 + 0.5))
#define UV_COEF(x) ((int32_t)((x) * (1 << YUV_SHIFT) * 224.0 / 255.0 + 0.5))

/* Each row pair in pieces of YUV_CHUNK columns: luma, and the two rows' sums per column
 * (one pass over the pixels with stride-3 loads, which the compiler vectorises), then
 * chroma from pairs of those sums (stride 2; vectorised too: reading the 2x2 blocks
 * straight from the RGB rows at stride 6 was not, and took 2/3 of the time).  The same
 * integers as the per-block formula. */
#define YUV_CHUNK 512

static void rgb_to_yuv420p(const vv_image *rgb, AVFrame *f) {
    /* Kr 0.2126, Kb 0.0722; each chroma row's coefficients sum to 0, so grey is 128. */
    const int32_t yr = YUV_COEF(0.2126), yg = YUV_COEF(0.7152), yb = YUV_COEF(0.0722);
    const int32_t ur = -UV_COEF(0.2126 / 1.8556), ub = UV_COEF(0.5), ug = -ub - ur;
    const int32_t vg = -UV_COEF(0.7152 / 1.5748), vr = UV_COEF(0.5), vb = -vr - vg;
    const int32_t y_add = (16 << YUV_SHIFT) + (1 << (YUV_SHIFT - 1)), uv_add = (128 << (YUV_SHIFT + 2)) + (1 << (YUV_SHIFT + 1));
    int w = f->width, h = f->height;
    size_t stride = (size_t)rgb->width * 3;
    int16_t sum_r[YUV_CHUNK], sum_g[YUV_CHUNK], sum_b[YUV_CHUNK]; /* two rows' sums per column */
    for (int y = 0; y < h; y += 2) {
        /* the next two rows asked for while these are converted: the frame was drawn band
         * by band and is mostly out of cache, and the loads stalled */
        if (y + 3 < rgb->height)
            for (size_t k = 0; k < 2 * stride; k += 64) __builtin_prefetch(rgb->data + (size_t)(y + 2) * stride + k);
        uint8_t *y0 = f->data[0] + (size_t)y * f->linesize[0], *y1 = y0 + f->linesize[0];
        uint8_t *u = f->data[1] + (size_t)(y / 2) * f->linesize[1], *v = f->data[2] + (size_t)(y / 2) * f->linesize[2];
        for (int x0 = 0; x0 < w; x0 += YUV_CHUNK) { /* w is even, so is YUV_CHUNK: pieces of whole blocks */
            int n = w - x0 < YUV_CHUNK ? w - x0 : YUV_CHUNK;
            const uint8_t *restrict r0 = rgb->data + (size_t)y * stride + (size_t)x0 * 3, *restrict r1 = r0 + stride;
            uint8_t *restrict o0 = y0 + x0, *restrict o1 = y1 + x0;
            for (int x = 0; x < n; x++) {
                int32_t ra = r0[3 * x], ga = r0[3 * x + 1], ba = r0[3 * x + 2];
                int32_t rb = r1[3 * x], gb = r1[3 * x + 1], bb = r1[3 * x + 2];
                o0[x] = (uint8_t)((yr * ra + yg * ga + yb * ba + y_add) >> YUV_SHIFT);
                o1[x] = (uint8_t)((yr * rb + yg * gb + yb * bb + y_add) >> YUV_SHIFT);
                sum_r[x] = (int16_t)(ra + rb);
                sum_g[x] = (int16_t)(ga + gb);
                sum_b[x] = (int16_t)(ba + bb);
            }
            uint8_t *restrict ou = u + x0 / 2, *restrict ov = v + x0 / 2;
            for (int x = 0; x < n / 2; x++) {
                int32_t sr = sum_r[2 * x] + sum_r[2 * x + 1], sg = sum_g[2 * x] + sum_g[2 * x + 1], sb = sum_b[2 * x] + sum_b[2 * x + 1];
                ou[x] = (uint8_t)((ur * sr + ug * sg + ub * sb + uv_add) >> (YUV_SHIFT + 2));
                ov[x] = (uint8_t)((vr * sr + vg * sg + vb * sb + uv_add) >> (YUV_SHIFT + 2));
            }
        }
    }
}

/* Hands slot k to the encoding thread. */
static vv_status slot_filled(video_writer *writer, int k) {
    pthread_mutex_lock(&writer->lock);
    writer->full[k] = true;
    pthread_cond_broadcast(&writer->changed);
    pthread_mutex_unlock(&writer->lock);
    writer->frames++;
    return VV_OK;
}

vv_status video_writer_write(video_writer *writer, const vv_image *frame) {
    if (!writer || !frame || !frame->data)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "no frame given to the video writer");
    bool size_ok = (frame->width == writer->in_width && frame->height == writer->in_height) ||
                   (frame->width == writer->width && frame->height == writer->height);
    if (!size_ok || frame->channels != 3)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "frame %ld for %s is %dx%dx%d, expected %dx%d RGB",
                       writer->frames, writer->final_path, frame->width, frame->height,
                       frame->channels, writer->in_width, writer->in_height);
    if (writer->frames >= 99999 && writer->format == VIDEO_FORMAT_PNG_SEQUENCE)
        return vv_fail(VV_ERR_TOO_LARGE, "too many frames for a PNG sequence in %s", writer->final_path);

    if (writer->format == VIDEO_FORMAT_PNG_SEQUENCE) {
        char name[PATH_MAX + 32];
        snprintf(name, sizeof name, "%s/" PNG_NAME_FORMAT, writer->temp_path, writer->frames);
        vv_status status = image_save(frame, name);
        if (status != VV_OK) return status;
        writer->frames++;
        return VV_OK;
    }

    /* Into the slot the thread has done with, for the thread to encode. */
    int k = (int)(writer->frames & 1);
    vv_status status = encode_wait(writer, k, false);
    if (status != VV_OK) return status;
    if (writer->format == VIDEO_FORMAT_MP4) { /* converted straight into the encoder's frame */
        if (av_frame_make_writable(writer->yuv[k]) < 0)
            return vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding %s", writer->final_path);
        rgb_to_yuv420p(frame, writer->yuv[k]);
        return slot_filled(writer, k);
    }
    vv_image *slot = &writer->slot[k];
    size_t bytes = (size_t)frame->width * frame->height * 3;
    if (slot->width != frame->width || slot->height != frame->height) {
        /* swscale's SIMD readers may read a little past the last row, as FFmpeg's own
         * buffers allow (AV_INPUT_BUFFER_PADDING_SIZE): a frame whose end met the end of
         * its mapping crashed the conversion. */
        free(writer->slot_data[k]);
        writer->slot_data[k] = calloc(bytes + AV_INPUT_BUFFER_PADDING_SIZE, 1);
        memset(slot, 0, sizeof *slot);
        if (!writer->slot_data[k])
            return vv_fail(VV_ERR_NO_MEMORY, "out of memory for a %dx%d frame of %s", frame->width, frame->height,
                           writer->final_path);
        *slot = (vv_image){.width = frame->width, .height = frame->height, .channels = 3, .data = writer->slot_data[k]};
    }
    memcpy(slot->data, frame->data, bytes);
    return slot_filled(writer, k);
}

/* The encoding thread's work for a GIF frame (see gif_encode). */
static vv_status encode_image(video_writer *writer, const vv_image *frame) {
    return gif_encode(writer, frame);
}

/* The encoding thread's work for slot k: mp4's frame is ready as it is. */
static vv_status encode_slot(video_writer *writer, int k) {
    if (writer->format != VIDEO_FORMAT_MP4) return encode_image(writer, &writer->slot[k]);
    writer->yuv[k]->pts = writer->encoded++;
    return encode_and_write(writer, writer->yuv[k]);
}

/* Moves the finished PNG folder into place: a rename when the target is new or empty,
 * otherwise file by file into the existing folder, removing stale frames past our count. */
static vv_status commit_png_sequence(video_writer *writer) {
    if (rename(writer->temp_path, writer->final_path) == 0) return VV_OK;
    if (!is_directory(writer->final_path))
        return vv_fail(VV_ERR_WRITE, "cannot create %s: %s", writer->final_path, strerror(errno));
    char from[PATH_MAX + 32], to[PATH_MAX + 32];
    for (long i = 0; i < writer->frames; i++) {
        snprintf(from, sizeof from, "%s/" PNG_NAME_FORMAT, writer->temp_path, i);
        snprintf(to, sizeof to, "%s/" PNG_NAME_FORMAT, writer->final_path, i);
        if (rename(from, to) != 0)
            return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", to, strerror(errno));
    }
    for (long i = writer->frames; i < 100000; i++) {
        snprintf(to, sizeof to, "%s/" PNG_NAME_FORMAT, writer->final_path, i);
        if (remove(to) != 0) break;
    }
    remove_folder(writer->temp_path);
    return VV_OK;
}

vv_status video_writer_finish(video_writer *writer) {
    if (!writer) return vv_fail(VV_ERR_INVALID_ARGUMENT, "no video writer to finish");
    vv_status status = VV_OK;
    if (writer->frames == 0) {
        status = vv_fail(VV_ERR_INVALID_ARGUMENT, "no frames were written to %s", writer->final_path);
        goto end;
    }
    if (writer->format == VIDEO_FORMAT_PNG_SEQUENCE) {
        status = commit_png_sequence(writer);
        if (status == VV_OK) writer->temp_dir_created = false;
        goto end;
    }
    if ((status = encode_wait(writer, 0, true)) != VV_OK) goto end;
    encode_stop(writer);
    if (writer->gif && (status = gif_release(writer)) != VV_OK) goto end; /* a clip shorter than the hold */
    if ((status = encode_and_write(writer, NULL)) != VV_OK) goto end;
    if (writer->audio) {
        double limit = (double)writer->frames / writer->fps;
        if (writer->audio_duration > 0 && writer->audio_duration < limit) limit = writer->audio_duration;
        if ((status = audio_track_pump(writer->audio, limit, true)) != VV_OK) goto end;
    }
    writer->header_written = false; /* the trailer is written (or failed) exactly once */
    int ret = av_write_trailer(writer->output);
    if (ret < 0) {
        status = vv_fail(VV_ERR_WRITE, "cannot finish %s (%s)", writer->final_path, av_err2str(ret));
        goto end;
    }
    ret = avio_closep(&writer->output->pb);
    if (ret < 0) {
        status = vv_fail(VV_ERR_WRITE, "cannot write %s (%s)", writer->final_path, av_err2str(ret));
        goto end;
    }
    if ((status = file_commit(writer->temp_path, writer->final_path)) == VV_OK)
        writer->temp_path[0] = 0;

end:
    if (status != VV_OK) {
        video_writer_abort(writer);
        return status;
    }
    writer_free(writer);
    return VV_OK;
}
