/* video/audio_envelope: a speech recording decoded to mono and reduced to per-frame mouth
 * openness (see audio_envelope.h for the steps). */
#include "video/audio_envelope.h"
#include "video/biquad.h"
#include "video/labials.h"
#include "video/phonemes.h"
#include "video/visemes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>

static const double pi = 3.14159265358979323846;

/* ---- Decoding ------------------------------------------------------------------------ */

typedef struct pcm_buffer {
    float *data;
    int64_t count, capacity, limit; /* limit: samples beyond this mean "too long" */
    bool over;
} pcm_buffer;

static vv_status pcm_append(pcm_buffer *b, const float *samples, int count, const char *path) {
    if (count <= 0) return VV_OK;
    if (b->count + count > b->limit) {
        b->over = true;
        return VV_OK;
    }
    if (b->count + count > b->capacity) {
        int64_t capacity = b->capacity ? b->capacity * 2 : AUDIO_ENVELOPE_RATE * 8;
        while (capacity < b->count + count) capacity *= 2;
        float *grown = realloc(b->data, (size_t)capacity * sizeof *grown);
        if (!grown) return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading the audio of %s", path);
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->count, samples, (size_t)count * sizeof *samples);
    b->count += count;
    return VV_OK;
}

/* Resamples one decoded frame (NULL: the resampler's tail) into the buffer. */
static vv_status pcm_convert(SwrContext *swr, const AVFrame *frame, pcm_buffer *b, const char *path) {
    int in = frame ? frame->nb_samples : 0;
    int capacity = swr_get_out_samples(swr, in);
    if (capacity <= 0) return VV_OK;
    float *tmp = malloc((size_t)capacity * sizeof *tmp);
    if (!tmp) return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading the audio of %s", path);
    uint8_t *planes[1] = {(uint8_t *)tmp};
    int got = swr_convert(swr, planes, capacity, frame ? (const uint8_t **)frame->extended_data : NULL, in);
    vv_status s = got < 0 ? vv_fail(VV_ERR_CORRUPT, "cannot resample the audio of %s", path) : pcm_append(b, tmp, got, path);
    free(tmp);
    return s;
}

/* The first audio stream of `path`, mono float at AUDIO_ENVELOPE_RATE.  *source_rate: the
 * stream's own rate. */
static vv_status pcm_read(const char *path, double max_seconds, float **samples, int64_t *count, int *source_rate) {
    *samples = NULL;
    *count = 0;
    av_log_set_level(AV_LOG_QUIET); /* the library never prints */
    if (!file_exists(path)) return vv_fail(VV_ERR_NOT_FOUND, "audio file not found: %s", path);
    vv_status s = VV_OK;
    AVFormatContext *input = NULL;
    AVCodecContext *decoder = NULL;
    SwrContext *swr = NULL;
    AVPacket *packet = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    pcm_buffer b = {0};
    b.limit = (int64_t)ceil(max_seconds * AUDIO_ENVELOPE_RATE);
    if (!packet || !frame) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory reading the audio of %s", path);
        goto end;
    }
    int ret = avformat_open_input(&input, path, NULL, NULL);
    if (ret < 0) {
        s = vv_fail(VV_ERR_FORMAT, "%s is not a recognised audio or video file (%s)", path, av_err2str(ret));
        goto end;
    }
    if ((ret = avformat_find_stream_info(input, NULL)) < 0) {
        s = vv_fail(VV_ERR_CORRUPT, "cannot read stream information from %s (%s)", path, av_err2str(ret));
        goto end;
    }
    int index = -1;
    for (unsigned i = 0; i < input->nb_streams; i++)
        if (input->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            index = (int)i;
            break;
        }
    if (index < 0) {
        s = vv_fail(VV_ERR_NO_VIDEO, "%s has no audio stream (--audio needs a speech recording)", path);
        goto end;
    }
    for (unsigned i = 0; i < input->nb_streams; i++)
        if ((int)i != index) input->streams[i]->discard = AVDISCARD_ALL;
    /* A container that says it is too long is refused before anything is decoded. */
    if (input->duration != AV_NOPTS_VALUE && input->duration > 0 &&
        (double)input->duration / AV_TIME_BASE > max_seconds + 1) {
        s = vv_fail(VV_ERR_TOO_LARGE, "%s: the audio lasts %.0f s; --audio takes at most %.0f s (%.0f minutes)", path,
                    (double)input->duration / AV_TIME_BASE, max_seconds, max_seconds / 60);
        goto end;
    }
    AVCodecParameters *par = input->streams[index]->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        s = vv_fail(VV_ERR_UNSUPPORTED, "no decoder for the %s audio in %s", avcodec_get_name(par->codec_id), path);
        goto end;
    }
    decoder = avcodec_alloc_context3(codec);
    if (!decoder || avcodec_parameters_to_context(decoder, par) < 0) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory reading the audio of %s", path);
        goto end;
    }
    decoder->pkt_timebase = input->streams[index]->time_base;
    if ((ret = avcodec_open2(decoder, codec, NULL)) < 0) {
        s = vv_fail(VV_ERR_UNSUPPORTED, "cannot decode the %s audio in %s (%s)", codec->name, path, av_err2str(ret));
        goto end;
    }
    if (decoder->sample_rate <= 0 || decoder->sample_rate > 768000 || decoder->ch_layout.nb_channels > 64) {
        s = vv_fail(VV_ERR_CORRUPT, "implausible audio parameters in %s", path);
        goto end;
    }
    *source_rate = decoder->sample_rate;
    AVChannelLayout in_layout = {0}, mono = {0};
    av_channel_layout_default(&mono, 1);
    if (decoder->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || decoder->ch_layout.nb_channels <= 0)
        av_channel_layout_default(&in_layout, decoder->ch_layout.nb_channels > 0 ? decoder->ch_layout.nb_channels : 1);
    else if (av_channel_layout_copy(&in_layout, &decoder->ch_layout) < 0) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory reading the audio of %s", path);
        goto end;
    }
    ret = swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, AUDIO_ENVELOPE_RATE, &in_layout, decoder->sample_fmt,
                              decoder->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (ret < 0 || swr_init(swr) < 0) {
        s = vv_fail(VV_ERR_UNSUPPORTED, "cannot resample the audio of %s (%d Hz, %s)", path, decoder->sample_rate,
                    av_get_sample_fmt_name(decoder->sample_fmt));
        goto end;
    }
    /* Send / receive until the decoder is flushed; bad packets and frames are skipped, and
     * frames whose format changed mid-stream are dropped (the resampler is set for the first). */
    bool flushed = false;
    int errors = 0; /* in a row: a decoder that only fails ends the read */
    while (s == VV_OK && !b.over) {
        ret = avcodec_receive_frame(decoder, frame);
        if (ret != 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF && ++errors > 1000) {
            s = vv_fail(VV_ERR_CORRUPT, "%s: the audio does not decode (%s)", path, av_err2str(ret));
            break;
        }
        if (ret == 0) {
            errors = 0;
            if (frame->sample_rate == decoder->sample_rate && frame->format == decoder->sample_fmt &&
                frame->ch_layout.nb_channels == decoder->ch_layout.nb_channels)
                s = pcm_convert(swr, frame, &b, path);
            av_frame_unref(frame);
            continue;
        }
        if (ret == AVERROR_EOF || (ret == AVERROR(EAGAIN) && flushed)) break;
        if (ret != AVERROR(EAGAIN)) continue;
        if (av_read_frame(input, packet) < 0) {
            avcodec_send_packet(decoder, NULL);
            flushed = true;
            continue;
        }
        if (packet->stream_index == index) avcodec_send_packet(decoder, packet);
        av_packet_unref(packet);
    }
    if (s == VV_OK && !b.over) s = pcm_convert(swr, NULL, &b, path);
    if (s == VV_OK && b.over)
        s = vv_fail(VV_ERR_TOO_LARGE, "%s: the audio lasts over %.0f s; --audio takes at most %.0f s (%.0f minutes)", path,
                    max_seconds, max_seconds, max_seconds / 60);
    if (s == VV_OK && b.count == 0) s = vv_fail(VV_ERR_CORRUPT, "%s: no audio could be decoded", path);
end:
    if (s == VV_OK) {
        *samples = b.data;
        *count = b.count;
    } else {
        free(b.data);
    }
    swr_free(&swr);
    avcodec_free_context(&decoder);
    avformat_close_input(&input);
    av_packet_free(&packet);
    av_frame_free(&frame);
    return s;
}

/* ---- Analysis ------------------------------------------------------------------------ */

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (0..1) of n values, nearest rank. */
static float percentile(const float *values, int n, double p, float *scratch) {
    memcpy(scratch, values, (size_t)n * sizeof *scratch);
    qsort(scratch, (size_t)n, sizeof *scratch, compare_float);
    int k = (int)floor(p * (n - 1) + 0.5);
    return scratch[k < 0 ? 0 : k >= n ? n - 1 : k];
}

void audio_envelope_free(audio_envelope *e) {
    if (!e) return;
    free(e->level_db);
    free(e->openness);
    free(e->onset);
    free(e->width);
    free(e->tuck);
    free(e->phone_list);
    memset(e, 0, sizeof *e);
}

vv_status audio_envelope_compute(audio_envelope *out, const float *samples, int64_t count, int rate, double fps) {
    memset(out, 0, sizeof *out);
    if (fps <= 0) fps = 25;
    if (!(fps <= 240) || rate < 8000 || count < 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "audio envelope: fps %g or rate %d out of range", fps, rate);
    double seconds = (double)count / rate;
    double frames_exact = seconds * fps;
    if (frames_exact < 1 - 1e-9)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "the audio lasts %.3f s, shorter than one frame (%.3f s at %g fps)", seconds,
                       1 / fps, fps);
    int frames = (int)ceil(frames_exact - 1e-6);
    out->frames = frames;
    out->fps = fps;
    out->seconds = seconds;
    out->sample_rate = rate;
    out->lipsync = "energy";
    out->level_db = mem_calloc((size_t)frames, sizeof(float));
    out->openness = mem_calloc((size_t)frames, sizeof(float));
    out->onset = mem_calloc((size_t)frames, sizeof(float));
    float *band = mem_alloc((size_t)count, sizeof(float));
    float *scratch = mem_alloc((size_t)frames, sizeof(float));
    float *forward = mem_alloc((size_t)frames, sizeof(float));
    if (!out->level_db || !out->openness || !out->onset || !band || !scratch || !forward) {
        free(band);
        free(scratch);
        free(forward);
        audio_envelope_free(out);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory analysing %.0f s of audio", seconds);
    }
    /* 1. Speech band, zero phase. */
    memcpy(band, samples, (size_t)count * sizeof *band);
    biquad high = biquad_design(300, rate, true), low = biquad_design(3000, rate, false);
    for (int step = 1; step >= -1; step -= 2) {
        biquad_run(&high, band, count, step);
        biquad_run(&low, band, count, step);
    }
    /* 2. Per-frame level: Hann-weighted power over 50 ms centred on the frame's middle. */
    int64_t half = (int64_t)lround(0.025 * rate);
    for (int f = 0; f < frames; f++) {
        int64_t centre = (int64_t)llround((f + 0.5) / fps * rate);
        double power = 0, weight = 0;
        for (int64_t i = centre - half; i <= centre + half; i++) {
            double w = 0.5 + 0.5 * cos(pi * (double)(i - centre) / (double)(half + 1));
            weight += w; /* samples past either end count as silence */
            if (i >= 0 && i < count) power += w * (double)band[i] * band[i];
        }
        out->level_db[f] = (float)(10 * log10(power / weight + 1e-12));
    }
    /* 3. Normalised per recording. */
    float peak = percentile(out->level_db, frames, 0.95, scratch), floor10 = percentile(out->level_db, frames, 0.10, scratch);
    out->silent = !(peak >= AUDIO_SILENCE_DB);
    if (!out->silent) {
        double lo = fmax(floor10 + 8.0, peak - 35.0);
        if (peak - lo < 6) lo = peak - 6;
        for (int f = 0; f < frames; f++) {
            double v = (out->level_db[f] - lo) / (peak - lo);
            scratch[f] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
        /* 4. Fast opening, slower closing, a shorter anticipation; centred by construction
         * (each output frame sees the frames around it, none is delayed). */
        double dt = 1 / fps, attack = 1 - exp(-dt / 0.015), release = 1 - exp(-dt / 0.040),
               anticipate = 1 - exp(-dt / 0.030);
        double y = 0;
        for (int f = 0; f < frames; f++) {
            y += (scratch[f] - y) * (scratch[f] > y ? attack : release);
            forward[f] = (float)y;
        }
        y = 0;
        for (int f = frames - 1; f >= 0; f--) {
            y += (scratch[f] - y) * (scratch[f] > y ? attack : anticipate);
            double v = fmax(forward[f], y);
            v = (v - 0.06) / 0.94; /* dead zone: a pause closes */
            out->openness[f] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
        /* A pause closes at once: frames in a run of 3 or more whose own window hears nothing
         * over the floor (a stop's silent closure is shorter and keeps the smoothing). */
        for (int f = 0; f < frames;) {
            int end = f;
            while (end < frames && scratch[end] <= 0) end++;
            if (end - f >= 3)
                for (int k = f; k < end; k++) out->openness[k] = 0;
            f = end > f ? end : f + 1;
        }
        /* Onsets: how far the level (normalised) rises from the lowest of the previous
         * 120 ms to the highest of the next 80 ms. */
        int back = (int)ceil(0.12 * fps), ahead = (int)ceil(0.08 * fps);
        for (int f = 0; f < frames; f++) {
            float before = 1, after = 0;
            for (int k = f - back; k < f; k++) before = fminf(before, k >= 0 ? scratch[k] : 0);
            for (int k = f; k <= f + ahead && k < frames; k++) after = fmaxf(after, scratch[k]);
            float rise = after - before;
            out->onset[f] = rise > 0 ? rise : 0;
        }
        /* Keep only each rise's first frame (a local start). */
        for (int f = frames - 1; f > 0; f--)
            if (out->onset[f - 1] >= out->onset[f] * 0.9f) out->onset[f] = 0;
    }
    free(band);
    free(scratch);
    free(forward);
    return VV_OK;
}

const char *audio_lipsync_resolve(const char *name) {
    if (!name) return phonemes_available() ? "phonemes" : "energy";
    if (!strcmp(name, "energy")) return "energy";
    if (!strcmp(name, "phonemes")) return "phonemes";
    return NULL;
}

vv_status audio_envelope_phonemes(audio_envelope *out, const float *samples, int64_t count) {
    phone_segment *phones = NULL;
    int n = 0;
    vv_status s = phonemes_recognise(samples, count, AUDIO_ENVELOPE_RATE, &phones, &n);
    if (s == VV_OK) s = labials_fuse(samples, count, AUDIO_ENVELOPE_RATE, &phones, &n, NULL);
    if (s != VV_OK) {
        free(phones);
        return s;
    }
    float *open = mem_alloc((size_t)out->frames, sizeof *open), *width = mem_calloc((size_t)out->frames, sizeof *width);
    float *tuck = mem_calloc((size_t)out->frames, sizeof *tuck);
    if (!open || !width || !tuck) {
        free(open);
        free(width);
        free(tuck);
        free(phones);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the mouth of %d frames", out->frames);
    }
    if (!out->silent) visemes_mouth(phones, n, out->openness, out->frames, out->fps, open, width, tuck);
    else memset(open, 0, (size_t)out->frames * sizeof *open);
    free(out->openness);
    free(out->width);
    free(out->tuck);
    out->openness = open;
    out->width = width;
    out->tuck = tuck;
    out->lipsync = "phonemes";
    out->phones = n;
    free(out->phone_list);
    out->phone_list = phones;
    return VV_OK;
}

vv_status audio_envelope_read(audio_envelope *out, const char *path, double fps, double max_seconds) {
    return audio_envelope_read_lipsync(out, path, fps, max_seconds, "energy");
}

vv_status audio_envelope_read_lipsync(audio_envelope *out, const char *path, double fps, double max_seconds,
                                      const char *lipsync) {
    memset(out, 0, sizeof *out);
    const char *mode = audio_lipsync_resolve(lipsync);
    if (!mode) return vv_fail(VV_ERR_INVALID_ARGUMENT, "lip-sync '%s' is not known (energy or phonemes)", lipsync);
    if (max_seconds <= 0) max_seconds = AUDIO_ENVELOPE_MAX_SECONDS;
    float *samples = NULL;
    int64_t count = 0;
    int source_rate = 0;
    vv_status s = pcm_read(path, max_seconds, &samples, &count, &source_rate);
    if (s == VV_OK) {
        s = audio_envelope_compute(out, samples, count, AUDIO_ENVELOPE_RATE, fps);
        if (s == VV_ERR_INVALID_ARGUMENT) {
            char why[256];
            snprintf(why, sizeof why, "%s", vv_last_error());
            s = vv_fail(s, "%s: %s (--audio needs at least one frame)", path, why);
        }
        if (s == VV_OK) out->sample_rate = source_rate;
        if (s == VV_OK && !strcmp(mode, "phonemes")) s = audio_envelope_phonemes(out, samples, count);
        if (s != VV_OK) audio_envelope_free(out);
    }
    free(samples);
    return s;
}
