/* video/visemes: phones to visemes to a per-frame mouth with coarticulation (visemes.h). */
#include "video/visemes.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *phone;
    viseme v;
} phone_table[] = {
    {"M", VISEME_CLOSED}, {"B", VISEME_CLOSED}, {"P", VISEME_CLOSED},
    {"F", VISEME_LIP_TEETH}, {"V", VISEME_LIP_TEETH},
    {"UW", VISEME_ROUNDED}, {"UH", VISEME_ROUNDED}, {"OW", VISEME_ROUNDED}, {"OY", VISEME_ROUNDED}, {"W", VISEME_ROUNDED},
    {"IY", VISEME_WIDE}, {"IH", VISEME_WIDE}, {"EH", VISEME_WIDE}, {"EY", VISEME_WIDE}, {"Y", VISEME_WIDE},
    {"AA", VISEME_OPEN}, {"AE", VISEME_OPEN}, {"AH", VISEME_OPEN}, {"AO", VISEME_OPEN}, {"AW", VISEME_OPEN},
    {"AY", VISEME_OPEN},
    {"TH", VISEME_DENTAL}, {"DH", VISEME_DENTAL},
    {"T", VISEME_ALVEOLAR}, {"D", VISEME_ALVEOLAR}, {"N", VISEME_ALVEOLAR}, {"L", VISEME_ALVEOLAR},
    {"S", VISEME_ALVEOLAR}, {"Z", VISEME_ALVEOLAR},
    {"SH", VISEME_POSTALVEOLAR}, {"ZH", VISEME_POSTALVEOLAR}, {"CH", VISEME_POSTALVEOLAR}, {"JH", VISEME_POSTALVEOLAR},
    {"K", VISEME_VELAR}, {"G", VISEME_VELAR}, {"NG", VISEME_VELAR}, {"HH", VISEME_VELAR},
    {"R", VISEME_R}, {"ER", VISEME_R},
};

viseme viseme_of_phone(const char *phone) {
    if (!phone) return VISEME_REST;
    char name[4];
    size_t k = 0;
    for (; phone[k] && !isdigit((unsigned char)phone[k]); k++) {
        if (k == sizeof name - 1 || !isalpha((unsigned char)phone[k])) return VISEME_REST;
        name[k] = (char)toupper((unsigned char)phone[k]);
    }
    name[k] = 0;
    for (size_t i = 0; i < sizeof phone_table / sizeof phone_table[0]; i++)
        if (!strcmp(name, phone_table[i].phone)) return phone_table[i].v;
    return VISEME_REST;
}

const char *viseme_name(viseme v) {
    static const char *const names[VISEME_COUNT] = {"rest", "closed", "lip-teeth", "rounded", "wide", "open",
                                                    "dental", "alveolar", "postalveolar", "velar", "r"};
    return v >= 0 && v < VISEME_COUNT ? names[v] : "rest";
}

viseme_shape viseme_target(viseme v) {
    static const viseme_shape shapes[VISEME_COUNT] = {
        [VISEME_REST] = {0, 0, 0},          [VISEME_CLOSED] = {0, 0, 0},         [VISEME_LIP_TEETH] = {0, 0.15f, 1},
        [VISEME_ROUNDED] = {0.35f, -1, 0},  [VISEME_WIDE] = {0.45f, 0.8f, 0},    [VISEME_OPEN] = {1, 0.1f, 0},
        [VISEME_DENTAL] = {0.25f, 0.2f, 0}, [VISEME_ALVEOLAR] = {0.3f, 0.2f, 0}, [VISEME_POSTALVEOLAR] = {0.25f, -0.6f, 0},
        [VISEME_VELAR] = {0.45f, 0, 0},     [VISEME_R] = {0.3f, -0.4f, 0},
    };
    return shapes[v >= 0 && v < VISEME_COUNT ? v : VISEME_REST];
}

/* The opening is at most the envelope plus half of it above 0.05: 1.5 times a loud
 * envelope, the envelope itself where it fades out (a pause's edges close as the energy
 * lip-sync's do). */
static float envelope_cap(float e) { return e + 0.5f * fmaxf(0.0f, e - 0.05f); }

/* The envelope as a gain on the viseme's openness: 0 in silence, 0.4 at the first sound,
 * full from an envelope of 0.75. */
static float energy_gain(float e) { return e <= 0 ? 0 : e >= 0.75f ? 1 : 0.4f + 0.8f * e; }

void visemes_mouth(const phone_segment *phones, int n, const float *energy, int frames, double fps, float *open,
                   float *width, float *tuck) {
    if (frames <= 0) return;
    float *target_open = mem_alloc((size_t)frames, sizeof *target_open);
    float *target_width = mem_alloc((size_t)frames, sizeof *target_width);
    float *target_tuck = mem_alloc((size_t)frames, sizeof *target_tuck);
    uint8_t *closed = mem_calloc((size_t)frames, 1);
    if (!target_open || !target_width || !target_tuck || !closed) { /* nothing better to do than the envelope */
        for (int f = 0; f < frames; f++) {
            open[f] = energy ? energy[f] : 0;
            width[f] = 0;
            if (tuck) tuck[f] = 0;
        }
        free(target_open);
        free(target_width);
        free(target_tuck);
        free(closed);
        return;
    }
    /* Targets: the viseme under each frame's middle, through the energy gain. */
    int p = 0;
    for (int f = 0; f < frames; f++) {
        double t = (f + 0.5) / fps;
        while (p < n && phones[p].end <= t) p++;
        viseme v = p < n && phones[p].start <= t ? viseme_of_phone(phones[p].name) : VISEME_REST;
        float e = energy ? energy[f] : 1;
        viseme_shape s = viseme_target(v);
        target_tuck[f] = e > 0 ? s.tuck : 0;
        if (v == VISEME_REST) {
            target_open[f] = energy && e > 0.2f ? e : 0; /* speech the recogniser missed: the envelope's */
            target_width[f] = 0;
        } else {
            target_open[f] = s.open * energy_gain(e);
            target_width[f] = s.width * (e >= 1.0f / 3 ? 1 : 3 * e);
        }
        if (v == VISEME_CLOSED) closed[f] = 1;
    }
    /* A closure shorter than a frame (or between two frames' middles) still closes: the
     * frame nearest its middle. */
    for (int i = 0; i < n; i++) {
        if (viseme_of_phone(phones[i].name) != VISEME_CLOSED) continue;
        long f = lround(0.5 * (phones[i].start + phones[i].end) * fps - 0.5);
        if (f >= 0 && f < frames) {
            closed[f] = 1;
            target_open[f] = 0;
            target_width[f] = 0;
            target_tuck[f] = 0;
        }
    }
    /* A lip-teeth phone between two frames' middles still tucks, the frame nearest its middle
     * (unless a closure holds it), even where the envelope is 0: an f's energy is mostly over
     * the envelope's 3000 Hz (on the dev clips of docs/SPEAK.md, f/v with the tuck over 0.5
     * 91 -> 117 of 162). */
    for (int i = 0; i < n; i++) {
        if (viseme_of_phone(phones[i].name) != VISEME_LIP_TEETH) continue;
        long f = lround(0.5 * (phones[i].start + phones[i].end) * fps - 0.5);
        if (f >= 0 && f < frames && !closed[f]) {
            target_tuck[f] = 1;
            target_open[f] = 0;
        }
    }
    /* Coarticulation: a centred Gaussian blend of the targets. */
    double sigma = VISEME_BLEND_SIGMA * fps;
    int radius = (int)ceil(3 * sigma);
    for (int f = 0; f < frames; f++) {
        double so = 0, sw = 0, st = 0, weight = 0;
        for (int k = f - radius; k <= f + radius; k++) {
            if (k < 0 || k >= frames) continue;
            double d = (k - f) / sigma, w = exp(-0.5 * d * d);
            so += w * target_open[k];
            sw += w * target_width[k];
            st += w * target_tuck[k];
            weight += w;
        }
        open[f] = (float)(so / weight);
        width[f] = (float)(sw / weight);
        if (tuck) tuck[f] = closed[f] ? 0 : (float)(1.4 * st / weight); /* a 2-frame f reaches ~1 */
    }
    /* Closures reach closed; the envelope caps the opening (a pause or a stop's silent closure
     * closes the mouth although the blend would smear the vowels over it). */
    for (int f = 0; f < frames; f++) {
        if (closed[f]) open[f] = 0;
        if (energy && open[f] > envelope_cap(energy[f])) open[f] = envelope_cap(energy[f]);
    }
    for (int f = 0; f < frames; f++) {
        open[f] = open[f] < 0 ? 0 : open[f] > 1 ? 1 : open[f];
        width[f] = width[f] < -1 ? -1 : width[f] > 1 ? 1 : width[f];
        if (tuck) tuck[f] = tuck[f] < 0 ? 0 : tuck[f] > 1 ? 1 : tuck[f];
    }
    free(target_open);
    free(target_width);
    free(target_tuck);
    free(closed);
}
