/* Audio for the video writer: the first audio stream of a source file, either copied packet
 * by packet (AAC / MP3 fit any mp4) or decoded, resampled and re-encoded to AAC, with
 * timestamps shifted so `start` in the source lands at t = 0 in the output. */
#include "video/audio_track.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>

struct audio_track {
    char *source;
    AVFormatContext *input;
    AVFormatContext *output;
    int input_index;
    AVStream *input_stream, *output_stream;
    AVPacket *packet;       /* the next packet to write (copy) or to decode (encode) */
    bool copy;
    bool input_done;
    bool done;              /* nothing more will be written */
    /* copy mode */
    int64_t start_ts;       /* source timestamp that maps to output t = 0 */
    bool has_pending;
    /* encode mode */
    AVCodecContext *decoder, *encoder;
    SwrContext *resampler;
    AVAudioFifo *fifo;
    AVFrame *decoded;
    double start;           /* seconds into the source */
    int64_t skip_samples;   /* resampled samples still to drop before `start`; -1: not yet known */
    int64_t fed_samples;    /* samples sent to the encoder (= next output pts) */
    bool decoder_flushed, resampler_flushed, encoder_flushed;
};

static bool codec_copyable(enum AVCodecID id) {
    return id == AV_CODEC_ID_AAC || id == AV_CODEC_ID_MP3;
}

static vv_status write_packet(audio_track *track, AVPacket *packet, AVRational from) {
    av_packet_rescale_ts(packet, from, track->output_stream->time_base);
    packet->stream_index = track->output_stream->index;
    packet->pos = -1;
    int ret = av_interleaved_write_frame(track->output, packet);
    av_packet_unref(packet);
    if (ret < 0)
        return vv_fail(VV_ERR_WRITE, "cannot write audio to %s (%s)", track->output->url,
                       av_err2str(ret));
    return VV_OK;
}

static vv_status open_encoder(audio_track *track) {
    AVCodecContext *dec = track->decoder;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!codec) return vv_fail(VV_ERR_UNSUPPORTED, "FFmpeg has no AAC encoder");
    AVCodecContext *enc = track->encoder = avcodec_alloc_context3(codec);
    if (!enc) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening the AAC encoder");

    int rate = 48000; /* the source rate when AAC supports it */
    for (const int *r = codec->supported_samplerates; r && *r; r++)
        if (*r == dec->sample_rate) rate = dec->sample_rate;
    if (dec->ch_layout.nb_channels == 1) av_channel_layout_default(&enc->ch_layout, 1);
    else av_channel_layout_default(&enc->ch_layout, 2); /* downmix anything wider to stereo */
    enc->sample_rate = rate;
    enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    enc->bit_rate = enc->ch_layout.nb_channels == 1 ? 96000 : 160000;
    enc->time_base = (AVRational){1, rate};
    if (track->output->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int ret = avcodec_open2(enc, codec, NULL);
    if (ret < 0)
        return vv_fail(VV_ERR_UNSUPPORTED, "cannot open the AAC encoder for the audio of %s (%s)",
                       track->source, av_err2str(ret));

    AVChannelLayout in_layout = {0};
    if (dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || dec->ch_layout.nb_channels <= 0)
        av_channel_layout_default(&in_layout, dec->ch_layout.nb_channels > 0 ? dec->ch_layout.nb_channels : 2);
    else if (av_channel_layout_copy(&in_layout, &dec->ch_layout) < 0)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening the audio of %s", track->source);
    ret = swr_alloc_set_opts2(&track->resampler, &enc->ch_layout, enc->sample_fmt, enc->sample_rate,
                              &in_layout, dec->sample_fmt, dec->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (ret < 0 || swr_init(track->resampler) < 0)
        return vv_fail(VV_ERR_UNSUPPORTED, "cannot resample the audio of %s (%d Hz, %s)",
                       track->source, dec->sample_rate, av_get_sample_fmt_name(dec->sample_fmt));
    track->fifo = av_audio_fifo_alloc(enc->sample_fmt, enc->ch_layout.nb_channels, 4096);
    track->decoded = av_frame_alloc();
    if (!track->fifo || !track->decoded)
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening the audio of %s", track->source);
    track->skip_samples = -1;
    return VV_OK;
}

vv_status audio_track_open(audio_track **out, const char *source, double start,
                           AVFormatContext *output) {
    vv_status status = VV_OK;
    *out = NULL;
    audio_track *track = calloc(1, sizeof *track);
    if (!track) return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening audio %s", source);
    track->output = output;
    track->start = start > 0 && isfinite(start) ? start : 0;
    track->source = strdup(source);
    track->packet = av_packet_alloc();
    if (!track->source || !track->packet) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory opening audio %s", source);
        goto end;
    }
    if (!file_exists(source)) {
        status = vv_fail(VV_ERR_NOT_FOUND, "audio source not found: %s", source);
        goto end;
    }
    int ret = avformat_open_input(&track->input, source, NULL, NULL);
    if (ret < 0) {
        status = vv_fail(VV_ERR_FORMAT, "audio source %s is not a recognised media file (%s)",
                         source, av_err2str(ret));
        goto end;
    }
    if ((ret = avformat_find_stream_info(track->input, NULL)) < 0) {
        status = vv_fail(VV_ERR_CORRUPT, "cannot read stream information from %s (%s)", source,
                         av_err2str(ret));
        goto end;
    }
    track->input_index = -1;
    for (unsigned i = 0; i < track->input->nb_streams; i++)
        if (track->input->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            track->input_index = (int)i;
            break;
        }
    if (track->input_index < 0) {
        status = vv_fail(VV_ERR_FORMAT, "audio source %s has no audio stream", source);
        goto end;
    }
    AVStream *in = track->input_stream = track->input->streams[track->input_index];
    for (unsigned i = 0; i < track->input->nb_streams; i++)
        if ((int)i != track->input_index) track->input->streams[i]->discard = AVDISCARD_ALL;

    int64_t stream_start = in->start_time != AV_NOPTS_VALUE ? in->start_time : 0;
    track->start_ts = stream_start + av_rescale_q((int64_t)llround(track->start * AV_TIME_BASE),
                                                  AV_TIME_BASE_Q, in->time_base);
    if (track->start > 0) /* a failed seek just means reading (and dropping) from the top */
        av_seek_frame(track->input, track->input_index, track->start_ts, AVSEEK_FLAG_BACKWARD);

    track->output_stream = avformat_new_stream(output, NULL);
    if (!track->output_stream) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory adding audio to %s", output->url);
        goto end;
    }
    track->copy = codec_copyable(in->codecpar->codec_id) &&
                  avformat_query_codec(output->oformat, in->codecpar->codec_id,
                                       FF_COMPLIANCE_NORMAL) == 1;
    if (track->copy) {
        if ((ret = avcodec_parameters_copy(track->output_stream->codecpar, in->codecpar)) < 0) {
            status = vv_fail(VV_ERR_NO_MEMORY, "out of memory adding audio to %s", output->url);
            goto end;
        }
        track->output_stream->codecpar->codec_tag = 0; /* let the muxer pick its own tag */
        track->output_stream->time_base = in->time_base;
        goto end;
    }

    const AVCodec *codec = avcodec_find_decoder(in->codecpar->codec_id);
    if (!codec) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "no decoder for the %s audio in %s",
                         avcodec_get_name(in->codecpar->codec_id), source);
        goto end;
    }
    track->decoder = avcodec_alloc_context3(codec);
    if (!track->decoder || avcodec_parameters_to_context(track->decoder, in->codecpar) < 0) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory opening audio %s", source);
        goto end;
    }
    track->decoder->pkt_timebase = in->time_base;
    if ((ret = avcodec_open2(track->decoder, codec, NULL)) < 0) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "cannot decode the %s audio in %s (%s)", codec->name,
                         source, av_err2str(ret));
        goto end;
    }
    if (track->decoder->sample_rate <= 0 || track->decoder->sample_rate > 768000 ||
        track->decoder->ch_layout.nb_channels > 64) {
        status = vv_fail(VV_ERR_CORRUPT, "implausible audio parameters in %s", source);
        goto end;
    }
    if ((status = open_encoder(track)) != VV_OK) goto end;
    if ((ret = avcodec_parameters_from_context(track->output_stream->codecpar, track->encoder)) < 0) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory adding audio to %s", output->url);
        goto end;
    }
    track->output_stream->time_base = track->encoder->time_base;

end:
    if (status != VV_OK) {
        audio_track_free(track);
        return status;
    }
    *out = track;
    return VV_OK;
}

/* Copy mode: reads the next packet of the audio stream at or after start into
 * track->packet; sets input_done at the end. */
static void read_copy_packet(audio_track *track) {
    while (!track->input_done) {
        if (av_read_frame(track->input, track->packet) < 0) {
            track->input_done = true;
            return;
        }
        AVPacket *p = track->packet;
        if (p->stream_index != track->input_index) {
            av_packet_unref(p);
            continue;
        }
        if (p->pts == AV_NOPTS_VALUE) p->pts = p->dts;
        if (p->pts == AV_NOPTS_VALUE || p->pts < track->start_ts) { /* before the cut */
            av_packet_unref(p);
            continue;
        }
        if (p->dts == AV_NOPTS_VALUE || p->dts > p->pts) p->dts = p->pts;
        track->has_pending = true;
        return;
    }
}

static vv_status pump_copy(audio_track *track, double limit, bool final) {
    AVRational tb = track->input_stream->time_base;
    for (;;) {
        if (!track->has_pending) read_copy_packet(track);
        if (!track->has_pending) { /* source exhausted */
            track->done = true;
            return VV_OK;
        }
        AVPacket *p = track->packet;
        double t = (double)(p->pts - track->start_ts) * av_q2d(tb);
        if (t >= limit - 1e-9) {
            if (final) {
                av_packet_unref(p);
                track->has_pending = false;
                track->done = true;
            }
            return VV_OK;
        }
        p->pts -= track->start_ts;
        p->dts -= track->start_ts;
        track->has_pending = false;
        vv_status status = write_packet(track, p, tb);
        if (status != VV_OK) return status;
    }
}

/* Converts the decoded frame (or, with frame NULL, the resampler's tail) into the FIFO,
 * dropping samples before `start`. */
static vv_status resample_into_fifo(audio_track *track, const AVFrame *frame) {
    AVCodecContext *enc = track->encoder;
    int in_samples = frame ? frame->nb_samples : 0;
    int capacity = swr_get_out_samples(track->resampler, in_samples);
    if (capacity <= 0) return VV_OK;
    uint8_t **planes = NULL;
    int ret = av_samples_alloc_array_and_samples(&planes, NULL, enc->ch_layout.nb_channels, capacity,
                                                 enc->sample_fmt, 0);
    if (ret < 0) return vv_fail(VV_ERR_NO_MEMORY, "out of memory resampling %s", track->source);
    int got = swr_convert(track->resampler, planes, capacity,
                          frame ? (const uint8_t **)frame->extended_data : NULL, in_samples);
    vv_status status = VV_OK;
    if (got < 0) {
        status = vv_fail(VV_ERR_CORRUPT, "cannot resample the audio of %s", track->source);
    } else if (got > 0) {
        if (av_audio_fifo_write(track->fifo, (void **)planes, got) < got)
            status = vv_fail(VV_ERR_NO_MEMORY, "out of memory buffering audio of %s", track->source);
        int64_t drop = track->skip_samples > 0 ? track->skip_samples : 0;
        if (drop > av_audio_fifo_size(track->fifo)) drop = av_audio_fifo_size(track->fifo);
        if (drop > 0) {
            av_audio_fifo_drain(track->fifo, (int)drop);
            track->skip_samples -= drop;
        }
    }
    av_freep(&planes[0]);
    av_freep(&planes);
    return status;
}

/* Encode mode: decodes more source audio into the FIFO (or flushes at the end). */
static vv_status decode_more(audio_track *track) {
    AVCodecContext *dec = track->decoder;
    for (;;) {
        int ret = avcodec_receive_frame(dec, track->decoded);
        if (ret == 0) {
            AVFrame *f = track->decoded;
            vv_status status = VV_OK;
            bool same_format = f->sample_rate == dec->sample_rate && f->format == dec->sample_fmt &&
                               f->ch_layout.nb_channels == dec->ch_layout.nb_channels;
            if (track->skip_samples < 0) { /* the first frame fixes where `start` falls */
                int64_t pts = f->best_effort_timestamp;
                AVRational tb = track->input_stream->time_base;
                int64_t origin = track->input_stream->start_time != AV_NOPTS_VALUE
                                     ? track->input_stream->start_time : 0;
                double t0 = pts != AV_NOPTS_VALUE ? (double)(pts - origin) * av_q2d(tb) : 0.0;
                double skip = (track->start - t0) * track->encoder->sample_rate;
                track->skip_samples = skip > 0 ? (int64_t)llround(skip) : 0;
            }
            if (same_format) status = resample_into_fifo(track, f); /* mid-stream changes dropped */
            av_frame_unref(f);
            return status;
        }
        if (ret == AVERROR_EOF) {
            if (!track->resampler_flushed) {
                track->resampler_flushed = true;
                vv_status status = resample_into_fifo(track, NULL);
                if (status != VV_OK) return status;
            }
            track->input_done = true;
            return VV_OK;
        }
        if (ret != AVERROR(EAGAIN)) continue; /* a bad frame: skip it */

        if (track->decoder_flushed) { /* should not happen: flushed decoders end in EOF */
            track->input_done = true;
            return VV_OK;
        }
        if (av_read_frame(track->input, track->packet) < 0) {
            avcodec_send_packet(dec, NULL);
            track->decoder_flushed = true;
            continue;
        }
        if (track->packet->stream_index == track->input_index)
            avcodec_send_packet(dec, track->packet); /* bad packets are skipped */
        av_packet_unref(track->packet);
    }
}

/* Sends `count` samples from the FIFO to the encoder. */
static vv_status encode_from_fifo(audio_track *track, int count) {
    AVCodecContext *enc = track->encoder;
    AVFrame *frame = av_frame_alloc();
    if (!frame) return vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding audio");
    vv_status status = VV_OK;
    frame->nb_samples = count;
    frame->format = enc->sample_fmt;
    frame->sample_rate = enc->sample_rate;
    if (av_channel_layout_copy(&frame->ch_layout, &enc->ch_layout) < 0 ||
        av_frame_get_buffer(frame, 0) < 0) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory encoding audio");
        goto end;
    }
    if (av_audio_fifo_read(track->fifo, (void **)frame->extended_data, count) < count) {
        status = vv_fail(VV_ERR_INTERNAL, "audio buffer underrun encoding %s", track->source);
        goto end;
    }
    frame->pts = track->fed_samples;
    track->fed_samples += count;
    int ret = avcodec_send_frame(enc, frame);
    if (ret < 0)
        status = vv_fail(VV_ERR_INTERNAL, "AAC encoding failed for the audio of %s (%s)",
                         track->source, av_err2str(ret));
end:
    av_frame_free(&frame);
    return status;
}

static vv_status pump_encode(audio_track *track, double limit, bool final) {
    AVCodecContext *enc = track->encoder;
    int64_t limit_samples = (int64_t)floor(limit * enc->sample_rate + 1e-6);
    for (;;) {
        /* Drain whatever the encoder has ready. */
        for (;;) {
            int ret = avcodec_receive_packet(enc, track->packet);
            if (ret == AVERROR(EAGAIN)) break;
            if (ret == AVERROR_EOF) {
                track->done = true;
                return VV_OK;
            }
            if (ret < 0)
                return vv_fail(VV_ERR_INTERNAL, "AAC encoding failed for the audio of %s (%s)",
                               track->source, av_err2str(ret));
            vv_status status = write_packet(track, track->packet, enc->time_base);
            if (status != VV_OK) return status;
        }
        if (track->encoder_flushed) return VV_OK; /* unreachable: a flushed encoder ends in EOF */

        int64_t room = limit_samples - track->fed_samples;
        int want = room < enc->frame_size ? (int)(room > 0 ? room : 0) : enc->frame_size;
        int buffered = av_audio_fifo_size(track->fifo);
        /* Only the last frame sent to the AAC encoder may be short: wait for more video. */
        if (!final && want < enc->frame_size) return VV_OK;
        if (want > 0 && buffered >= want) {
            vv_status status = encode_from_fifo(track, want);
            if (status != VV_OK) return status;
            continue;
        }
        if (want > 0 && !track->input_done) {
            vv_status status = decode_more(track);
            if (status != VV_OK) return status;
            continue;
        }
        if (!final) return VV_OK;
        if (want > 0 && buffered > 0) { /* source ends before the limit: send its tail */
            vv_status status = encode_from_fifo(track, buffered);
            if (status != VV_OK) return status;
        }
        avcodec_send_frame(enc, NULL);
        track->encoder_flushed = true;
    }
}

vv_status audio_track_pump(audio_track *track, double limit, bool final) {
    if (!track || track->done) return VV_OK;
    return track->copy ? pump_copy(track, limit, final) : pump_encode(track, limit, final);
}

void audio_track_free(audio_track *track) {
    if (!track) return;
    avcodec_free_context(&track->decoder);
    avcodec_free_context(&track->encoder);
    swr_free(&track->resampler);
    if (track->fifo) av_audio_fifo_free(track->fifo);
    av_frame_free(&track->decoded);
    av_packet_free(&track->packet);
    avformat_close_input(&track->input);
    free(track->source);
    free(track);
}
