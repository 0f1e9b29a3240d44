/* video/audio_envelope: a speech recording read whole (the first audio stream of anything
 * FFmpeg opens, a video file's audio track included), decoded, downmixed and resampled to
 * mono, and reduced to one value per video frame: the speech-band level and, from it, how
 * far open the mouth is (the energy lip-sync, `--lipsync energy`).
 *
 * The openness is computed offline over the whole recording, so it is centred (no lag):
 *   1. the samples band-passed to 300-3000 Hz (second-order high- and low-pass sections run
 *      forwards and then backwards: zero phase);
 *   2. per frame, the Hann-weighted mean power over 50 ms centred on the middle of the frame's
 *      interval [f / fps, (f + 1) / fps), in dB;
 *   3. normalised per recording: 0 at a noise floor (the 10th percentile of the frames + 8 dB,
 *      at least 35 dB under the 95th percentile), 1 at the 95th percentile; a recording whose
 *      95th percentile is under AUDIO_SILENCE_DB is silent (every frame 0);
 *   4. smoothed like coarticulation: opening fast (15 ms), closing slower (40 ms) and a
 *      shorter anticipation before an onset (30 ms), then a small dead zone so a pause closes;
 *      3 or more frames in a row at or under the floor (a pause, not a stop's closure) are 0.
 * Onsets (speech starting or a stressed syllable) are where the level jumps: `onset` is
 * 0..1 per frame.
 *
 * The phoneme lip-sync (`--lipsync phonemes`, the default where the recogniser is built in:
 * video/phonemes.h, video/visemes.h) recognises the phones of the same 16 kHz samples and
 * replaces the openness by the visemes' (the envelope as their gain), with a width per frame
 * (rounded .. spread). */
#ifndef VV_VIDEO_AUDIO_ENVELOPE_H
#define VV_VIDEO_AUDIO_ENVELOPE_H

#include "base/base.h"
#include "video/phonemes.h"

#define AUDIO_ENVELOPE_RATE 16000        /* the recording is resampled to this (mono) */
#define AUDIO_ENVELOPE_MAX_SECONDS 600.0 /* recordings over 10 minutes are refused */
#define AUDIO_SILENCE_DB (-55.0)         /* dBFS: a recording under this is silent */

typedef struct audio_envelope {
    int frames;          /* ceil(seconds * fps) */
    double fps;
    double seconds;      /* the recording's length (decoded samples / rate) */
    int sample_rate;     /* of the source stream */
    float *level_db;     /* per frame: speech-band level, dBFS */
    float *openness;     /* per frame: 0 closed .. 1 wide open */
    float *onset;        /* per frame: 0..1, strength of a rise in level starting there */
    bool silent;         /* nothing above AUDIO_SILENCE_DB: every openness is 0 */
    float *width;        /* phonemes: per frame, -1 rounded .. +1 spread; NULL with energy */
    float *tuck;         /* phonemes: per frame, 0..1 lower lip under the upper teeth (f/v); NULL with energy */
    const char *lipsync; /* what made the openness: "energy" or "phonemes" (static) */
    int phones;          /* phonemes: how many phones were recognised (silence included) */
    phone_segment *phone_list; /* phonemes: those phones (labials mended), in time order; NULL with energy */
} audio_envelope;

/* The lip-sync modes by name: "energy", "phonemes"; NULL: the default, phonemes where
 * phonemes_available(), else energy.  NULL for an unknown name. */
const char *audio_lipsync_resolve(const char *name);

/* Reads `path` and computes its envelope at `fps` (0: 25).  Errors, each naming the file:
 * VV_ERR_NOT_FOUND, VV_ERR_FORMAT (not a media file), VV_ERR_NO_VIDEO (no audio stream:
 * the stream the job needs is missing), VV_ERR_INVALID_ARGUMENT (shorter than one frame),
 * VV_ERR_TOO_LARGE (over `max_seconds`, 0: AUDIO_ENVELOPE_MAX_SECONDS), VV_ERR_CORRUPT
 * (nothing decodable). */
vv_status audio_envelope_read(audio_envelope *out, const char *path, double fps, double max_seconds);
/* The same with a lip-sync mode (audio_lipsync_resolve's names; NULL: the default).
 * "phonemes" in a build or install without the recogniser: VV_ERR_UNSUPPORTED or
 * VV_ERR_MODEL (phonemes.h); an unknown name: VV_ERR_INVALID_ARGUMENT. */
vv_status audio_envelope_read_lipsync(audio_envelope *out, const char *path, double fps, double max_seconds,
                                      const char *lipsync);
/* The phoneme lip-sync on an envelope already computed from `samples` (mono 16 kHz):
 * recognises the phones, mends their labials with the recording's own cues
 * (video/labials.h), and replaces out->openness, sets out->width and out->tuck. */
vv_status audio_envelope_phonemes(audio_envelope *out, const float *samples, int64_t count);

/* The same from samples already in memory (mono, `rate` Hz): what audio_envelope_read does
 * after decoding; for tests.  sample_rate in out is `rate`. */
vv_status audio_envelope_compute(audio_envelope *out, const float *samples, int64_t count, int rate, double fps);

void audio_envelope_free(audio_envelope *envelope);

#endif
