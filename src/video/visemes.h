/* video/visemes: recognised phones (video/phonemes.h) to a per-frame mouth, the phoneme
 * lip-sync (`--lipsync phonemes`).  Each phone maps to a viseme, a mouth shape with an
 * openness (0 closed .. 1 wide open, as the energy lip-sync's) and a width (-1 rounded and
 * narrow .. 0 neutral .. +1 spread wide):
 *   closed        M B P                   lips together (openness exactly 0)
 *   lip-teeth     F V                     lower lip tucked under the upper teeth (tuck 1),
 *                                         the jaw closed
 *   rounded       UW UH OW OY W           small and round
 *   wide          IY IH EH EY Y           half open, spread
 *   open          AA AE AH AO AW AY       wide open
 *   dental        TH DH                   slightly open, tongue between the teeth
 *   alveolar      T D N L S Z             slightly open, neutral
 *   postalveolar  SH ZH CH JH             slightly open, lips pushed forward (rounded)
 *   velar         K G NG HH               half open
 *   r             R ER                    slightly open, a little rounded
 *   rest          SIL, fillers, unknown   the portrait's own mouth
 * Per frame the viseme under the frame's middle gives the target; the energy envelope
 * (video/audio_envelope.h's openness) is its gain: silence (envelope 0) is the mouth at rest,
 * and where the recogniser heard silence or a filler in speech (envelope over 0.2), the
 * envelope's own openness stands in.  Coarticulation: the targets are blended over
 * neighbouring frames by a centred Gaussian (sigma 35 ms: ~2-3 frames at 25 fps, no lag);
 * then every closure (M B P) is made to reach openness 0 on at least one frame, even one
 * shorter than a frame (the frame nearest its middle), every F/V tucks the lower lip on the
 * frame nearest its middle even where the envelope is 0 (an f is mostly over 3000 Hz), and
 * the opening is capped at the envelope plus half of it above 0.05 (1.5 times a loud envelope; a pause or a stop's silent
 * closure closes the mouth, which the blend would otherwise bridge). */
#ifndef VV_VIDEO_VISEMES_H
#define VV_VIDEO_VISEMES_H

#include "base/base.h"
#include "video/phonemes.h"

typedef enum viseme {
    VISEME_REST,
    VISEME_CLOSED,
    VISEME_LIP_TEETH,
    VISEME_ROUNDED,
    VISEME_WIDE,
    VISEME_OPEN,
    VISEME_DENTAL,
    VISEME_ALVEOLAR,
    VISEME_POSTALVEOLAR,
    VISEME_VELAR,
    VISEME_R,
    VISEME_COUNT
} viseme;

typedef struct viseme_shape {
    float open;  /* 0 closed .. 1 wide open */
    float width; /* -1 rounded .. 0 neutral .. +1 spread */
    float tuck;  /* 0 .. 1: the lower lip under the upper teeth (lip-teeth) */
} viseme_shape;

#define VISEME_BLEND_SIGMA 0.035 /* seconds: the coarticulation blend */

/* The viseme of an ARPAbet phone ("M", "iy", "AA1": case and a stress digit ignored). */
viseme viseme_of_phone(const char *phone);
const char *viseme_name(viseme v);
viseme_shape viseme_target(viseme v);

/* The mouth of `frames` frames at `fps` from `n` phones (time order) and the energy
 * envelope's openness per frame (NULL: a gain of 1 everywhere, nothing at rest but the
 * rest visemes): openness, width and tuck per frame (tuck may be NULL).  The tuck is blended
 * as the others, not scaled by the envelope (an f is quiet) but 0 where the envelope is 0
 * (except on the frame nearest an F/V's middle), and 0 on a closure's frame. */
void visemes_mouth(const phone_segment *phones, int n, const float *energy, int frames, double fps, float *open,
                   float *width, float *tuck);

#endif
