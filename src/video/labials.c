/* video/labials: acoustic lip cues fused with the decoder's phones (see labials.h). */
#include "video/labials.h"
#include "video/biquad.h"
#include "video/visemes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANDS 5
#define HOP 160  /* 10 ms at 16 kHz */
#define HALF 200 /* the Hann window's half width: 25 ms */

static const double band_edges[BANDS + 1] = {100, 400, 1000, 2500, 4500, 7500};

/* The rules' thresholds (dB against the frame's total level unless said; the dev clips of
 * docs/SPEAK.md chose them: a murmur's dip of 6 -> 12 dB and a burst's rise of 10 -> 12 dB
 * cut the closures away from labials from 4.4 % to 3.1 % of the speech frames for 0.93 ->
 * 0.95 of the m/b/p closed; frication over 4 frames rather than 2: F/V precision 0.26 ->
 * 0.56 at the same recall; the weak burst, the moved closure, the burst at the start, the
 * quiet v and the sibilant: 0.946 -> 0.982 closed at 2.9 -> 2.8 % away from labials, F/V
 * precision 0.77 -> 0.83 at the same recall). */
static const struct {
    double murmur_floor, murmur_low, murmur_place, murmur_dip;
    double burst_rise, burst_top, burst_mid, burst_floor, burst_closure;
    double fric_loud, fric_quiet, fric_mid, fric_top;
    int fric_frames;
    double burst_pause, v_top, v_floor, v_quiet;
    double weak_rise, weak_top, weak_closure, heard_move, sibilant_top;
    double voiced_low, voiced_dip, voiced_place, voiced_rise, voiced_top;
    int murmur_frames;
    double murmur_rounded_dip, z_peak, z_loud, fric_peak, mb_gap, mb_shortest, mb_longest;
    double quiet_b_rise, quiet_b_top, quiet_b_low, quiet_b_closure;
    double bar_oral, bar_place, open_m_loud, open_m_low, murmur_rounded_long_dip, loud_v, loud_v_low;
    int murmur_rounded_frames;
} rules = {
    .murmur_floor = -35, /* the frame within 35 dB of the recording's loud frames (its 95th percentile) */
    .murmur_low = -1,    /* 100-400 Hz within 1 dB of the total: the low band dominant */
    .murmur_place = 8,   /* 1000-2500 over 2500-4500 Hz: an m (about 11 dB), not an n (about 4) */
    .murmur_dip = 12,    /* 400-2500 Hz, 12 dB under the loudest frame within 80 ms */
    .burst_rise = 12,    /* 1000-7500 Hz up 12 dB from the previous frame */
    .burst_top = -4,     /* 4500-7500 under 1000-2500 Hz: falling, not an alveolar's rising burst */
    .burst_mid = -8,     /* 400-1000 Hz within 8 dB of the total */
    .burst_floor = -35,
    .burst_closure = 0.03, /* seconds of closure before the release */
    .fric_loud = -18,      /* frication 18-35 dB under the loud frames: weaker than s and sh */
    .fric_quiet = -35,
    .fric_mid = -14,  /* 400-1000 Hz within 14 dB of the total */
    .fric_top = 0,    /* 4500-7500 at least as strong as 2500-4500 Hz: flat */
    .fric_frames = 4, /* 40 ms or more (a t's aspiration is shorter) */
    .burst_pause = 40, /* no burst after 40 ms of a level 40 dB under the loud frames: the pause has closed the mouth */
    .v_top = 0,        /* a v heard as M/B: 4500-7500 over 2500-4500 Hz on average (m about -10, b -5, v +3) */
    .v_floor = -30,    /* and 4500-7500 Hz within 30 dB of the total (an m's is about 35 under) */
    .v_quiet = -40,    /* the v's averages over frames within 40 dB of the loud frames (a b's silent closure is flat) */
    .weak_rise = 5,    /* a weak burst: 1000-7500 Hz up 5 dB in 10 ms, */
    .weak_top = -8,    /* 4500-7500 Hz 8 dB under 1000-2500 Hz (a labial's burst falls; t's and k's less), */
    .weak_closure = -25, /* after a closure: one of the 3 frames before 25 dB under the loud frames */
    .heard_move = 0.06,  /* a heard P/B starting up to 60 ms before a burst's closure: the closure is the burst's */
    .sibilant_top = -4,  /* a heard F/V louder than frication (fric_loud) with 4500-7500 Hz within 4 dB of the total: s or z */
    .voiced_low = -0.5,  /* a b's voiced closure: 100-400 Hz within 0.5 dB of the total, */
    .voiced_dip = 20,    /* 400-2500 Hz 20 dB under the loudest frame within 80 ms, */
    .voiced_place = 3,   /* 1000-2500 Hz 3 dB over 2500-4500 Hz (a g's is about 2 under), */
    .voiced_rise = 10,   /* then a release: 1000-7500 Hz up 10 dB in 10 ms, */
    .voiced_top = -6,    /* 4500-7500 Hz 6 dB under 1000-2500 Hz */
    .murmur_frames = 4,  /* a heard M goes on over 40 ms or more of murmur after it (an m before a b) */
    .murmur_rounded_dip = 18, /* a murmur 18 dB under its neighbours is an M also over a heard UW/UH/OW (an m beside u: or w), */
    .murmur_rounded_long_dip = 13, /* as is 30 ms or more of murmur 13 dB under them (the m of "room was", "zoom west") */
    .murmur_rounded_frames = 2,
    .loud_v = -12,      /* a heard V within 12 dB of the loud frames (a v is weak: on the dev clips all under -14) */
    .loud_v_low = -1,   /* with 100-400 Hz 1 dB or more under the total on average (its voicing not alone): a z */
    .z_peak = 8,        /* a heard F/V with 4500-7500 Hz 8 dB over 1000-2500 Hz (a sibilant's peak; f and v are */
    .z_loud = -22,      /* flatter) and within 22 dB of the loud frames: an s or z */
    .fric_peak = 8,     /* frication with 4500-7500 Hz 8 dB over 1000-2500 Hz is a sibilant's, not an f's */
    .mb_gap = 0.05,     /* a G heard within 50 ms after an M (heard or a murmur's), */
    .mb_shortest = 0.03, /* 30-60 ms long (not a piece the cues cut off): the b of "mb" */
    .mb_longest = 0.06,
    .quiet_b_rise = 8,  /* a b after a short quiet closure (after an l): 1000-7500 Hz up 8 dB in 10 ms, */
    .quiet_b_top = -4,  /* 4500-7500 Hz 4 dB under 1000-2500 Hz (falling: a labial's), */
    .quiet_b_low = -2.5, /* 100-400 Hz within 2.5 dB of the total (voiced), */
    .quiet_b_closure = -20, /* one of the 3 frames before 20 dB under the loud frames */
    .bar_oral = -24,   /* a murmur's frame with 1000-2500 Hz 24 dB under the total (an m's murmur has a formant */
    .bar_place = 10,   /* there, about -13; a stop's voice bar about -25 to -29) and 10 dB over 2500-4500 Hz (a d's
                        * voice bar about 12, a b's about 8) is a d's closure: no M */
    .open_m_loud = -9, /* a heard M on every frame within 9 dB of the loud frames, */
    .open_m_low = -2.5, /* with 100-400 Hz 2.5 dB under the total on average: not an m's murmur */
};

/* Whether frame k is a b's voiced closure: the voicing's low band alone, the mouth's bands
 * far under the neighbouring vowels'. */
static bool voiced_closure(const float *level, const float *total, const float *oral, int frames, int k, float peak) {
    const float *r = level + k * BANDS;
    float most = oral[k];
    for (int j = k - 8; j <= k + 8; j++)
        if (j >= 0 && j < frames && oral[j] > most) most = oral[j];
    return r[0] - total[k] > rules.voiced_low && most - oral[k] > rules.voiced_dip && r[2] - r[3] > rules.voiced_place &&
           total[k] - peak > rules.burst_floor;
}

/* The deepest dip of 400-2500 Hz under the loudest frame within 80 ms over frames [first, end). */
static float deepest(const float *oral, int frames, int first, int end) {
    float dip = 0;
    for (int k = first; k < end; k++) {
        float most = oral[k];
        for (int j = k - 8; j <= k + 8; j++)
            if (j >= 0 && j < frames && oral[j] > most) most = oral[j];
        dip = fmaxf(dip, most - oral[k]);
    }
    return dip;
}

/* level[k * BANDS + b]: band b's Hann-weighted power around sample k * HOP, dB. */
static vv_status band_levels(const float *samples, int64_t count, int frames, float *level) {
    float *band = mem_alloc((size_t)count, sizeof *band);
    double weights[2 * HALF + 1], weight_sum = 0;
    if (!band) return vv_fail(VV_ERR_NO_MEMORY, "labials: out of memory for %lld samples", (long long)count);
    for (int i = -HALF; i <= HALF; i++) {
        weights[i + HALF] = 0.5 + 0.5 * cos(3.14159265358979323846 * i / (HALF + 1));
        weight_sum += weights[i + HALF];
    }
    for (int b = 0; b < BANDS; b++) {
        memcpy(band, samples, (size_t)count * sizeof *band);
        biquad high = biquad_design(band_edges[b], 16000, true), low = biquad_design(band_edges[b + 1], 16000, false);
        biquad_run(&high, band, count, 1); /* twice each: fourth order */
        biquad_run(&high, band, count, 1);
        biquad_run(&low, band, count, 1);
        biquad_run(&low, band, count, 1);
        for (int k = 0; k < frames; k++) {
            int64_t c = (int64_t)k * HOP;
            double p = 0;
            for (int i = -HALF; i <= HALF; i++)
                if (c + i >= 0 && c + i < count) p += weights[i + HALF] * band[c + i] * band[c + i];
            level[k * BANDS + b] = (float)(10 * log10(p / weight_sum + 1e-10));
        }
    }
    free(band);
    return VV_OK;
}

static double db_sum(const float *v, int first, int last) {
    double s = 0;
    for (int i = first; i <= last; i++) s += pow(10, v[i] / 10);
    return 10 * log10(s);
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static bool is_vowel(const char *name) {
    viseme v = viseme_of_phone(name);
    return v == VISEME_OPEN || v == VISEME_WIDE || (v == VISEME_ROUNDED && strcmp(name, "W") != 0) ||
           !strcmp(name, "ER");
}

static bool is_sibilant(const char *name) {
    return !strcmp(name, "S") || !strcmp(name, "Z") || !strcmp(name, "SH") || !strcmp(name, "ZH");
}

/* The decoder's phone at time t (NULL: none); the phones are in time order. */
static const char *phone_at(const phone_segment *phones, int n, double t) {
    for (int i = 0; i < n && phones[i].start <= t; i++)
        if (t < phones[i].end) return phones[i].name;
    return NULL;
}

/* Whether the decoder heard a phone of viseme v overlapping [a, b]. */
static bool heard_near(const phone_segment *phones, int n, double a, double b, viseme v) {
    for (int i = 0; i < n && phones[i].start < b; i++)
        if (phones[i].end > a && viseme_of_phone(phones[i].name) == v) return true;
    return false;
}

static bool heard_name(const phone_segment *phones, int n, double a, double b, const char *name) {
    for (int i = 0; i < n && phones[i].start < b; i++)
        if (phones[i].end > a && !strcmp(phones[i].name, name)) return true;
    return false;
}

typedef struct cue {
    double start, end;
    const char *name;
    bool moves; /* a burst's P after a heard P/B: that P/B's closure moves up to the release */
} cue;

static int compare_cue(const void *a, const void *b) {
    double x = ((const cue *)a)->start, y = ((const cue *)b)->start;
    return x < y ? -1 : x > y;
}

static int compare_phone(const void *a, const void *b) {
    double x = ((const phone_segment *)a)->start, y = ((const phone_segment *)b)->start;
    return x < y ? -1 : x > y;
}

/* An F or V heard with loud frication dominated by the top band, or with frication peaked
 * over 4500 Hz: an s or z (a z's voicing keeps its top band under the total, but its
 * frication peaks there); a V heard as loud as the vowels whose low band is not alone: a z
 * (on the dev clips the z of "zebras", "doze", "his", heard as V).  How many were relabelled. */
static int relabel_sibilants(const float *level, const float *total, float peak, int frames, phone_segment *phones, int n) {
    int relabelled = 0;
    for (int i = 0; i < n; i++) {
        if (viseme_of_phone(phones[i].name) != VISEME_LIP_TEETH) continue;
        double loud = 0, top = 0, peaked = 0, low = 0;
        int m = 0;
        for (int k = (int)ceil(phones[i].start * 100); k < frames && k * 0.01 < phones[i].end; k++, m++) {
            loud += total[k] - peak;
            top += level[k * BANDS + 4] - total[k];
            peaked += level[k * BANDS + 4] - level[k * BANDS + 2];
            low += level[k * BANDS] - total[k];
        }
        bool loud_v = phones[i].name[0] == 'V' && m > 0 && loud / m > rules.loud_v && low / m < rules.loud_v_low;
        if (m > 0 && ((loud / m > rules.fric_loud && top / m > rules.sibilant_top) ||
                                          (loud / m > rules.z_loud && peaked / m > rules.z_peak) || loud_v)) {
            snprintf(phones[i].name, sizeof phones[i].name, "%s", phones[i].name[0] == 'V' ? "Z" : "S");
            relabelled++;
        }
    }
    return relabelled;
}

vv_status labials_fuse(const float *samples, int64_t count, int rate, phone_segment **phones, int *n,
                       labial_cues *cues) {
    labial_cues counted = {0};
    if (cues) *cues = counted;
    if (rate != 16000) return vv_fail(VV_ERR_INVALID_ARGUMENT, "labials: the cues take 16000 Hz, not %d", rate);
    if (count <= 0 || *n <= 0) return VV_OK;
    int frames = (int)((count + HOP - 1) / HOP);
    float *level = mem_alloc((size_t)frames * BANDS, sizeof *level);
    float *total = mem_alloc((size_t)frames, sizeof *total), *oral = mem_alloc((size_t)frames, sizeof *oral);
    float *high = mem_alloc((size_t)frames, sizeof *high), *sorted = mem_alloc((size_t)frames, sizeof *sorted);
    uint8_t *mark = mem_calloc((size_t)frames, 1);
    cue *found = mem_alloc((size_t)frames, sizeof *found);
    vv_status s = level && total && oral && high && sorted && mark && found
                      ? band_levels(samples, count, frames, level)
                      : vv_fail(VV_ERR_NO_MEMORY, "labials: out of memory for %d frames", frames);
    int cue_count = 0;
    float peak = 0; /* the recording's loud frames: the 95th percentile of the total level */
    if (s == VV_OK) {
        for (int k = 0; k < frames; k++) {
            const float *r = level + k * BANDS;
            total[k] = (float)db_sum(r, 0, BANDS - 1);
            oral[k] = (float)db_sum(r, 1, 3);
            high[k] = (float)db_sum(r, 2, 4);
        }
        memcpy(sorted, total, (size_t)frames * sizeof *sorted);
        qsort(sorted, (size_t)frames, sizeof *sorted, compare_float);
        peak = sorted[(int)(0.95 * (frames - 1))];
        counted.sibilants += relabel_sibilants(level, total, peak, frames, *phones, *n);
        /* An M heard over sound as loud as the vowels (every frame within 9 dB of the loud
         * frames) without the murmur's low band (100-400 Hz on average 2.5 dB or more under
         * the total): no closure (on the dev clips the r of "room" or "bread", the o of "old"
         * or "bowl", heard as M); it takes the phone beside it (not a closure, a tuck or
         * silence; AH if none). */
        for (int i = 0; i < *n; i++) {
            if (strcmp((*phones)[i].name, "M")) continue;
            double low = 0, softest = 0;
            int m = 0;
            for (int k = (int)ceil((*phones)[i].start * 100); k < frames && k * 0.01 < (*phones)[i].end; k++, m++) {
                low += level[k * BANDS] - total[k];
                softest = m ? fmin(softest, total[k] - peak) : total[k] - peak;
            }
            if (m == 0 || softest < rules.open_m_loud || low / m > rules.open_m_low) continue;
            const char *beside = NULL;
            for (int q = i - 1; q <= i + 1 && !beside; q += 2) {
                if (q < 0 || q >= *n) continue;
                viseme v = viseme_of_phone((*phones)[q].name);
                if (v != VISEME_CLOSED && v != VISEME_LIP_TEETH && v != VISEME_REST) beside = (*phones)[q].name;
            }
            snprintf((*phones)[i].name, sizeof (*phones)[i].name, "%s", beside ? beside : "AH");
            counted.open_m++;
        }
        /* A v heard as M or B: the run of M/B with frication over 4500 Hz. */
        for (int i = 0; i < *n;) {
            viseme v = viseme_of_phone((*phones)[i].name);
            int j = i + 1;
            if (v != VISEME_CLOSED || !strcmp((*phones)[i].name, "P")) {
                i = j;
                continue;
            }
            while (j < *n && (!strcmp((*phones)[j].name, "M") || !strcmp((*phones)[j].name, "B"))) j++;
            double top = 0, floor_ = 0;
            int m = 0;
            for (int k = (int)ceil((*phones)[i].start * 100); k < frames && k * 0.01 < (*phones)[j - 1].end; k++) {
                const float *r = level + k * BANDS;
                if (total[k] - peak < rules.v_quiet) continue; /* a silent closure says nothing */
                m++;
                top += r[4] - r[3];
                floor_ += r[4] - total[k];
            }
            if (m > 0 && top / m > rules.v_top && floor_ / m > rules.v_floor) {
                for (int q = i; q < j; q++) snprintf((*phones)[q].name, sizeof (*phones)[q].name, "V");
                counted.voiced++;
            }
            i = j;
        }
        /* Per frame: 1 murmur (7 a deep one), 2 burst, 3 frication, 4 weak burst, 5 a b's release
         * (6 below). */
        for (int k = 0; k < frames; k++) {
            const float *r = level + k * BANDS;
            float loud = total[k] - peak, most = oral[k];
            for (int j = k - 8; j <= k + 8; j++)
                if (j >= 0 && j < frames && oral[j] > most) most = oral[j];
            if (loud > rules.murmur_floor && r[0] - total[k] > rules.murmur_low && r[2] - r[3] > rules.murmur_place &&
                most - oral[k] > rules.murmur_dip && !(r[2] - total[k] < rules.bar_oral && r[2] - r[3] > rules.bar_place))
                mark[k] = most - oral[k] > rules.murmur_rounded_long_dip ? 7 : 1;
            else if (k > 0 && high[k] - high[k - 1] > rules.burst_rise && r[4] - r[2] < rules.burst_top &&
                     r[1] - total[k] > rules.burst_mid && loud > rules.burst_floor)
                mark[k] = 2;
            else if (k >= 3 && high[k] - high[k - 1] > rules.weak_rise && r[4] - r[2] < rules.weak_top &&
                     r[1] - total[k] > rules.burst_mid && loud > rules.burst_floor &&
                     fminf(total[k - 1], fminf(total[k - 2], total[k - 3])) - peak < rules.weak_closure)
                mark[k] = 4;
            else if (k >= 3 && loud > rules.burst_floor &&
                     ((high[k] - high[k - 1] > rules.voiced_rise && r[4] - r[2] < rules.voiced_top &&
                       (voiced_closure(level, total, oral, frames, k - 1, peak) ||
                        voiced_closure(level, total, oral, frames, k - 2, peak) ||
                        voiced_closure(level, total, oral, frames, k - 3, peak))) ||
                      (high[k] - high[k - 1] > rules.quiet_b_rise && r[4] - r[2] < rules.quiet_b_top &&
                       r[0] - total[k] > rules.quiet_b_low &&
                       fminf(total[k - 1], fminf(total[k - 2], total[k - 3])) - peak < rules.quiet_b_closure)))
                mark[k] = 5;
            else if (loud < rules.fric_loud && loud > rules.fric_quiet && r[1] - total[k] > rules.fric_mid &&
                     r[4] - r[3] > rules.fric_top && r[4] - r[2] < rules.fric_peak)
                mark[k] = 3;
        }
        /* 6: a heard M's murmur going on after it for 40 ms or more (the murmur's level and low
         * band, without its m-n place cue: the decoder heard the m), as in an m before a b,
         * whose rest the decoder hears as a vowel or G; none where it runs into a heard DH or
         * TH (the voiced th of "am the" is as low and quiet: the m's closure is heard). */
        for (int i = 0; i < *n; i++) {
            if (strcmp((*phones)[i].name, "M")) continue;
            int first = (int)ceil((*phones)[i].end * 100), k = first;
            bool dental = false;
            for (int at = i; k < frames; k++) {
                while (at < *n && (*phones)[at].end <= k * 0.01) at++;
                dental = at < *n && (*phones)[at].start <= k * 0.01 && viseme_of_phone((*phones)[at].name) == VISEME_DENTAL;
                if (dental) break;
                const float *r = level + k * BANDS;
                float most = oral[k];
                for (int j = k - 8; j <= k + 8; j++)
                    if (j >= 0 && j < frames && oral[j] > most) most = oral[j];
                if (!(r[0] - total[k] > rules.murmur_low && most - oral[k] > rules.murmur_dip &&
                      total[k] - peak > rules.murmur_floor))
                    break;
            }
            if (k - first >= rules.murmur_frames && !dental)
                for (int j = first; j < k; j++)
                    if (!mark[j]) mark[j] = 6;
        }
        const phone_segment *heard = *phones;
        int left = *n; /* heard[0 .. left): the phones from 0.2 s before the run on */
        for (int k = 0; k < frames;) {
            int end = k + 1;
            while (end < frames && mark[end] == mark[k]) end++;
            cue c = {k * 0.01, end * 0.01, NULL, false};
            while (left > 1 && heard[0].end < c.start - 0.2) {
                heard++;
                left--;
            }
            double middle = 0.5 * (c.start + c.end);
            const char *under = mark[k] ? phone_at(heard, left, middle) : NULL;
            bool vowel = under && is_vowel(under);
            bool after_pause = false, burst = mark[k] == 2;
            if (mark[k] == 4 || mark[k] == 5) /* a weak burst or a b's: not beside an F/V the decoder heard (an f's onset) */
                burst = !heard_near(heard, left, c.start - 0.04 - rules.burst_closure, c.end + 0.04, VISEME_LIP_TEETH);
            if (burst) { /* the recording's start is no pause: too short for the envelope to close */
                float before = -1e9f;
                for (int j = k - 12; j <= k - 4; j++) before = fmaxf(before, j >= 0 ? total[j] : 1e9f);
                after_pause = before < peak - rules.burst_pause;
            }
            if (mark[k] == 6) { /* the heard M's murmur goes on */
                c.name = "M";
                counted.murmurs++;
            } else if ((mark[k] == 1 || mark[k] == 7) &&
                       (!vowel || (mark[k] == 7 && viseme_of_phone(under) == VISEME_ROUNDED &&
                                   (end - k >= rules.murmur_rounded_frames ||
                                    deepest(oral, frames, k, end) > rules.murmur_rounded_dip))) && /* u: hides an m */
                       !heard_near(heard, left, c.start - 0.04, c.end + 0.04, VISEME_CLOSED)) {
                c.name = "M";
                counted.murmurs++;
            } else if (burst && !after_pause &&
                       !(mark[k] == 5 && heard_name(heard, left, c.start - 0.04 - rules.burst_closure, c.end + 0.04, "M"))) {
                /* also after a heard P/B: its closure lasts to the release (a heard m's murmur and
                 * release look like a b's: no cue there) */
                c.moves = heard_near(heard, left, c.start - 0.04 - rules.burst_closure, c.end + 0.04, VISEME_CLOSED);
                c.start -= rules.burst_closure;
                c.end = k * 0.01;
                c.name = mark[k] == 5 ? "B" : "P";
                if (c.moves) counted.moved++;
                else counted.bursts++;
            } else if (mark[k] == 3 && end - k >= rules.fric_frames && !vowel &&
                       !heard_near(heard, left, c.start - 0.04, c.end + 0.04, VISEME_LIP_TEETH) &&
                       !heard_name(heard, left, c.start, c.end, "M") && /* over a P or B: an f's frication wins */
                       !(under && is_sibilant(under))) { /* nor over a heard s, z, sh or zh */
                c.name = "F";
                counted.frications++;
            }
            if (c.name && c.start < c.end) found[cue_count++] = c;
            k = end;
        }
    }
    /* The cues cut into the decoder's phones: each phone keeps what no cue covers. */
    if (s == VV_OK && cue_count > 0) {
        qsort(found, (size_t)cue_count, sizeof *found, compare_cue);
        for (int i = 0; i < cue_count; i++) {
            if (found[i].start < 0) found[i].start = 0;
            if (i > 0 && found[i].start < found[i - 1].end) found[i].start = found[i - 1].end;
            if (found[i].end < found[i].start) found[i].end = found[i].start; /* empty: skipped */
        }
        double last = (*phones)[*n - 1].end;
        int capacity = *n + 2 * cue_count, m = 0;
        phone_segment *out = mem_alloc((size_t)capacity, sizeof *out);
        if (!out) s = vv_fail(VV_ERR_NO_MEMORY, "labials: out of memory");
        int first = 0; /* the first cue that does not end before the phone */
        for (int i = 0; out && i < *n; i++) { /* each phone cut by the cues: at most one more piece per cue */
            const phone_segment *p = &(*phones)[i];
            double at = p->start;
            while (first < cue_count && found[first].end <= at) first++;
            for (int j = first; j < cue_count && at < p->end; j++) {
                if (found[j].end <= at || found[j].start >= p->end || found[j].start >= found[j].end) continue;
                if (found[j].start > at) {
                    out[m] = *p;
                    out[m].start = at;
                    out[m++].end = found[j].start;
                }
                at = found[j].end;
            }
            if (at < p->end) {
                out[m] = *p;
                out[m++].start = at;
            }
        }
        for (int j = 0; out && j < cue_count; j++) {
            if (found[j].end > last) found[j].end = last;
            if (found[j].start >= found[j].end) continue;
            out[m] = (phone_segment){.start = found[j].start, .end = found[j].end};
            snprintf(out[m].name, sizeof out[m].name, "%s", found[j].name);
            m++;
        }
        if (out) {
            qsort(out, (size_t)m, sizeof *out, compare_phone); /* time order: pieces and cues do not overlap */
            /* A burst after a heard P or B: the heard closure's pieces from 60 ms before the
             * burst's take the phone before them, so the lips close up to the release (the
             * decoder puts many a P over the vowel's end, before the silent closure). */
            for (int i = 0, j = 0; j < cue_count; j++) {
                if (!found[j].moves || found[j].start >= found[j].end) continue;
                while (i < m && out[i].start < found[j].start) i++;
                if (i >= m || out[i].start != found[j].start) continue; /* cut away: the recording's end */
                int q = i - 1;
                while (q >= 0 && (!strcmp(out[q].name, "P") || !strcmp(out[q].name, "B")) &&
                       out[q].start >= found[j].start - rules.heard_move)
                    q--;
                if (q >= 0 && q < i - 1 && viseme_of_phone(out[q].name) != VISEME_CLOSED)
                    for (int r = q + 1; r < i; r++) memcpy(out[r].name, out[q].name, sizeof out[r].name);
            }
            free(*phones);
            *phones = out;
            *n = m;
            /* The pieces of a heard F or V that the cues cut (the V of "kiss me" over the s's
             * end and the m, the m now a murmur's M) relabelled S or Z as a whole one would be. */
            counted.sibilants += relabel_sibilants(level, total, peak, frames, *phones, *n);
        }
    }
    /* A G heard just after an M: the b of "mb" (after the m's murmur the b's closure is
     * not silent and the decoder hears its release as G; a g after an m is rare). */
    for (int i = 1; s == VV_OK && i < *n; i++) {
        double length = (*phones)[i].end - (*phones)[i].start;
        if (strcmp((*phones)[i].name, "G") || length < rules.mb_shortest - 1e-9 || length > rules.mb_longest + 1e-9) continue;
        bool after_m = false;
        for (int q = i - 1; q >= 0 && (*phones)[q].end > (*phones)[i].start - rules.mb_gap - 1e-9; q--)
            after_m |= !strcmp((*phones)[q].name, "M");
        if (after_m) {
            snprintf((*phones)[i].name, sizeof (*phones)[i].name, "B");
            counted.mb++;
        }
    }
    if (s == VV_OK && cues) *cues = counted;
    free(level);
    free(total);
    free(oral);
    free(high);
    free(sorted);
    free(mark);
    free(found);
    return s;
}
