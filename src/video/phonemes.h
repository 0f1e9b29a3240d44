/* video/phonemes: phones recognised with their times in a speech recording, for the phoneme
 * lip-sync (`--lipsync phonemes`, video/visemes.h).  PocketSphinx (Debian libpocketsphinx-dev
 * + pocketsphinx-en-us) decodes 16 kHz mono samples in its phone-loop mode: the en-us
 * context-independent phone models under the en-us phonetic language model
 * (en-us-phone.lm.bin), 10 ms frames.  Optional at build time (VV_HAVE_POCKETSPHINX); without
 * it, or without the model files, phonemes_available() is false and the lip-sync falls back
 * to the energy envelope. */
#ifndef VV_VIDEO_PHONEMES_H
#define VV_VIDEO_PHONEMES_H

#include "base/base.h"

/* One recognised phone: its ARPAbet name as PocketSphinx's en-us model spells it ("M", "AA",
 * "SIL", or a filler such as "+NSN+"), and its interval in seconds from the recording's start. */
typedef struct phone_segment {
    char name[8];
    double start, end;
} phone_segment;

/* Whether the recogniser is built in and its model files are there (the folder is
 * $VIVIFY_POCKETSPHINX_MODEL when set, else the one pkg-config named at build time). */
bool phonemes_available(void);
/* The same as a status: VV_OK, or VV_ERR_UNSUPPORTED (not built in) / VV_ERR_MODEL (model
 * files missing) with a message saying how to get it. */
vv_status phonemes_check(void);

/* The phones of `count` samples (mono, 16000 Hz, -1..1).  *out (free it) holds *n segments in
 * time order, covering the recording.  VV_ERR_UNSUPPORTED when the recogniser is not built
 * in, VV_ERR_MODEL when its files are missing or do not load, VV_ERR_INVALID_ARGUMENT for a
 * rate other than 16000. */
vv_status phonemes_recognise(const float *samples, int64_t count, int rate, phone_segment **out, int *n);

#endif
