/* video: streaming decode of anything FFmpeg opens, and encoding to H.264 mp4, GIF or a
 * PNG sequence, with the audio of another file copied (or re-encoded to AAC) in sync. */
#ifndef VV_VIDEO_VIDEO_H
#define VV_VIDEO_VIDEO_H

#include "base/base.h"

typedef struct video_reader video_reader;

typedef struct video_info {
    int width, height;     /* after applying rotation metadata */
    double fps;            /* average frame rate (0 if unknown) */
    double duration;       /* seconds (0 if unknown) */
    long frame_count;      /* estimate; 0 if unknown */
    int rotation;          /* degrees clockwise applied to decoded frames: 0, 90, 180, 270 */
    bool has_audio;
} video_info;

/* Opens a video (or animated GIF) for streaming.  Errors: VV_ERR_NOT_FOUND,
 * VV_ERR_FORMAT (not a media file), VV_ERR_NO_VIDEO (no video stream), VV_ERR_TOO_LARGE. */
vv_status video_reader_open(video_reader **out, const char *path);
const video_info *video_reader_info(const video_reader *reader);
/* Decodes the next frame into `frame` as RGB (reallocated if the size differs; rotation
 * applied).  *got is false at end of stream.  time: presentation time in seconds. */
vv_status video_reader_next(video_reader *reader, vv_image *frame, double *time, bool *got);
void video_reader_close(video_reader *reader);

typedef enum video_format { VIDEO_FORMAT_MP4, VIDEO_FORMAT_GIF, VIDEO_FORMAT_PNG_SEQUENCE } video_format;

typedef struct video_writer_params {
    int width, height;          /* frame size; mp4 rounds down to even */
    double fps;                 /* default 25 */
    int crf;                    /* H.264 quality, default 18 */
    const char *audio_source;   /* file whose first audio stream goes into the output, or NULL */
    double audio_start;         /* seconds into the audio source to start from (default 0) */
    double audio_duration;      /* cut audio after this many seconds; <= 0: until video ends.
                                 * Audio never runs past the video's end. */
    const char *preset;         /* x264 speed/size preset, default "veryfast" */
} video_writer_params;

typedef struct video_writer video_writer;

video_writer_params video_writer_default_params(void);
/* Format by name: *.mp4 / *.mov / *.mkv -> H.264 (yuv420p); *.gif -> GIF; anything else
 * that is an existing folder or ends with '/' -> PNG sequence (frame_00000.png ...).
 * Written to a temporary name; nothing appears at `path` until video_writer_finish.
 * video_writer_open refuses other video extensions (.webm, .avi, ...) with
 * VV_ERR_UNSUPPORTED; a path with no extension is a PNG-sequence folder.
 * Audio (audio_source) goes into mp4/mov/mkv only; GIF and PNG sequences ignore it.
 * An audio_source without an audio stream is VV_ERR_FORMAT.  A PNG sequence into an
 * existing folder replaces its frame_NNNNN.png files (stale higher-numbered ones removed). */
video_format video_format_for_path(const char *path);
vv_status video_writer_open(video_writer **out, const char *path, const video_writer_params *params);
/* frame: RGB of the size given at open (mp4: cropped to the even size). */
vv_status video_writer_write(video_writer *writer, const vv_image *frame);
/* Flushes, muxes audio, and renames into place.  Frees the writer. */
vv_status video_writer_finish(video_writer *writer);
/* Abandons the output: temporary files removed, nothing left at the path.  Frees. */
void video_writer_abort(video_writer *writer);

#endif
