/* video/labials: acoustic evidence of the lips, read from the recording itself and fused with
 * the phone decoder's phones (video/phonemes.h) before they become visemes (video/visemes.h).
 * The decoder hears many bilabials as another consonant (p as K/T/DH, m as N/L/G, b as
 * G/N), most v as M or B and most f as something else.  Rules on five band levels per 10 ms
 * (100-400, 400-1000, 1000-2500, 2500-4500, 4500-7500 Hz; 25 ms Hann windows) mend that:
 *   v        a run of M/B the decoder heard with frication over 4500 Hz (as much there as in
 *            2500-4500 Hz, where an m has 10 dB less): a V;
 *   murmur   a nasal murmur with an m's spectrum: the low band dominant, the 400-2500 Hz
 *            level 12 dB under the loudest of the neighbouring 80 ms, and 1000-2500 Hz 8 dB
 *            over 2500-4500 Hz (an m's murmur about 11 dB, an n's, whose anti-resonance is in
 *            the 1000-2500 band, about 4), but not a d's voice bar (1000-2500 Hz 24 dB under
 *            the total and 10 dB over 2500-4500 Hz; an m's has a formant there): an M over it;
 *   open m   an M the decoder heard over sound as loud as the vowels (every frame within 9 dB
 *            of the loud frames) without the murmur's low band (100-400 Hz 2.5 dB under the
 *            total on average): no closure (an r or a rounded vowel); the phone beside it;
 *   burst    a stop's release (the 1000-7500 Hz level up 12 dB in 10 ms) with a labial's
 *            diffuse, falling spectrum (4500-7500 under 1000-2500 Hz, a strong 400-1000
 *            band), not straight after a pause (the pause has closed the mouth): a P over
 *            the 30 ms of closure before it; a weaker one (up 5 dB, the top band 8 dB under,
 *            after a quiet closure) too where the decoder heard no F/V; where the decoder
 *            heard the P or B already, up to 60 ms early, its closure moves to the release;
 *   b        a voiced closure (the low band alone, 400-2500 Hz 20 dB under the vowels) then a
 *            release with a falling spectrum, or a short quiet closure (20 dB under the loud
 *            frames: a b after an l) then a voiced release (the low band within 2.5 dB of the
 *            total) up 8 dB with 4500-7500 Hz 4 dB under 1000-2500 Hz, where the decoder heard
 *            no M: a B before it;
 *   m on     40 ms or more of murmur right after a heard M (not running into a heard DH/TH): the M
 *            goes on over it (an m before a b, its rest heard as a vowel or G);
 *   sibilant an F or V the decoder heard that is louder than frication and has its 4500-7500
 *            Hz band within 4 dB of the total, or that is within 22 dB of the loud frames with
 *            4500-7500 Hz 8 dB over 1000-2500 Hz (a z, whose voicing keeps the top band under
 *            the total, but whose frication peaks there; an f's and a v's is flatter): S or Z;
 *            a V within 12 dB of the loud frames whose 100-400 Hz band is 1 dB or more under
 *            the total (a loud z; a v is weak, its voicing alone in the low band): Z; all
 *            judged again on the pieces the cues leave of it (the V of "kiss me" over the s's
 *            end and the m's murmur, the murmur an M: its piece over the s a Z);
 *   mb       a G of 30-60 ms the decoder heard within 50 ms after an M: a B (the b of "mb",
 *            whose closure the m's murmur fills, its release heard as G);
 *   frication weak, flat frication for 40 ms or more (18-35 dB under the recording's loud
 *            frames, 4500-7500 at least as strong as 2500-4500 Hz but under 8 dB over
 *            1000-2500 Hz, a strong 400-1000 band, unlike s, z, sh and a t's aspiration): an
 *            F, also over a P or B the decoder heard,
 *            not over an S, Z, SH or ZH it heard.
 * A murmur or frication is not added over one of the decoder's vowels (a cue inside a vowel
 * is the vowel's own spectrum, "m on" excepted; a murmur over a heard UW, UH or OW is, where
 * it dips 18 dB under its neighbours, or 13 dB for 20 ms or more: a rounded vowel hides an
 * m, as in "room was"), nor where the decoder already heard that
 * labial (a burst there moves the heard closure, as above).  The
 * thresholds were chosen on the dev clips of docs/SPEAK.md (espeak-ng voices) and measured on
 * held-out voices and on real recordings there. */
#ifndef VV_VIDEO_LABIALS_H
#define VV_VIDEO_LABIALS_H

#include "base/base.h"
#include "video/phonemes.h"

/* What labials_fuse did: segments added per cue, runs of M/B relabelled V, heard F/V
 * relabelled S/Z, heard P/B closures moved up to a burst, heard G after an M relabelled B,
 * heard M over open sound relabelled as the phone beside them. */
typedef struct labial_cues {
    int murmurs, bursts, frications, voiced, sibilants, moved, mb, open_m;
} labial_cues;

/* Relabels and adds the labials the decoder missed in *phones (*n of them, time order,
 * covering the recording; reallocated, still in time order) from `count` samples (mono,
 * `rate` Hz, rate 16000).  *cues (may be NULL) counts what was done.  VV_ERR_NO_MEMORY (the
 * phones as they were or only relabelled, still valid), VV_ERR_INVALID_ARGUMENT for another
 * rate. */
vv_status labials_fuse(const float *samples, int64_t count, int rate, phone_segment **phones, int *n,
                       labial_cues *cues);

#endif
