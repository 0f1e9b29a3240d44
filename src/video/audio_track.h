/* Internal to src/video: the audio of another file, copied (AAC / MP3) or re-encoded to
 * AAC, trimmed to [start, start + limit) and muxed next to the video in an output file. */
#ifndef VV_VIDEO_AUDIO_TRACK_H
#define VV_VIDEO_AUDIO_TRACK_H

#include "base/base.h"

#include <libavformat/avformat.h>

typedef struct audio_track audio_track;

/* Opens the first audio stream of `source`, seeks to `start` seconds and adds a matching
 * stream to `output` (before its header is written).  VV_ERR_FORMAT if it has no audio. */
vv_status audio_track_open(audio_track **out, const char *source, double start,
                           AVFormatContext *output);
/* Writes the audio up to `limit` seconds of output time (interleaved writes).  Calls must
 * use non-decreasing limits; with `final`, the audio is cut exactly at `limit` and the
 * encoder flushed. */
vv_status audio_track_pump(audio_track *track, double limit, bool final);
void audio_track_free(audio_track *track);

#endif
