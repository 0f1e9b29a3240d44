/* video/labials: acoustic evidence of the lips, read from the recording itself and fused with
 * the phone decoder's phones (video/phonemes.h) before they become visemes (video/visemes.h).
 * The decoder hears many bilabials as another consonant (p as K/T/DH, m as N/L/G, b as
 * G/N) and most f/v as something else; three cues, each a rule on five band levels per
 * 10 ms (100-400, 400-1000, 1000-2500, 2500-4500, 4500-7500 Hz, 25 ms Hann windows), add
 * the labials it missed:
 *   murmur   a nasal murmur with an m's spectrum: the low band dominant, a dip in the
 *            400-2500 Hz level against the neighbouring 80 ms, and more 1000-2500 than
 *            2500-4500 Hz energy by some 8 dB (an n's murmur has its anti-resonance in the
 *            1000-2500 band: about 4 dB): an M over the murmur;
 *   burst    a stop's release (the 1000-7500 Hz level jumping) with a labial's diffuse,
 *            falling spectrum (little over 4500 Hz against 1000-2500 Hz, a strong
 *            400-1000 band): a P over the 50 ms of closure before it;
 *   frication weak, flat frication (20-35 dB under the recording's loud frames, the top
 *            band at least as strong as 2500-4500 Hz, a strong 400-1000 band, unlike s,
 *            sh and t): an F.
 * A cue is added only where the decoder did not already hear a labial and not over one of
 * its vowels (a cue inside a vowel is the vowel's own spectrum).  The thresholds were chosen
 * on the dev clips of docs/SPEAK.md (espeak-ng voices) and checked on held-out voices and
 * real recordings there. */
#ifndef VV_VIDEO_LABIALS_H
#define VV_VIDEO_LABIALS_H

#include "base/base.h"
#include "video/phonemes.h"

/* How many segments of each cue labials_fuse added. */
typedef struct labial_cues {
    int murmurs, bursts, frications;
} labial_cues;

/* Adds the labials the decoder missed to *phones (*n of them, time order, covering the
 * recording; reallocated, still in time order) from `count` samples (mono, `rate` Hz, rate
 * 16000).  *cues (may be NULL) counts what was added.  VV_ERR_NO_MEMORY (the phones are
 * left as they were), VV_ERR_INVALID_ARGUMENT for another rate. */
vv_status labials_fuse(const float *samples, int64_t count, int rate, phone_segment **phones, int *n, labial_cues *cues);

#endif
