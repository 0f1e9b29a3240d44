/* video/phonemes: PocketSphinx's phone-loop decoding of a recording (see phonemes.h). */
#include "video/phonemes.h"
#include "video/visemes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VV_HAVE_POCKETSPHINX
#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#ifndef VV_POCKETSPHINX_MODEL_DIR
#define VV_POCKETSPHINX_MODEL_DIR "/usr/share/pocketsphinx/model"
#endif

/* The en-us acoustic model folder and the phonetic language model. */
static void model_paths(char *hmm, size_t hmm_size, char *lm, size_t lm_size) {
    const char *dir = getenv("VIVIFY_POCKETSPHINX_MODEL");
    if (!dir || !*dir) dir = VV_POCKETSPHINX_MODEL_DIR;
    snprintf(hmm, hmm_size, "%s/en-us/en-us", dir);
    snprintf(lm, lm_size, "%s/en-us/en-us-phone.lm.bin", dir);
}

bool phonemes_available(void) {
    char hmm[1024], lm[1024], mdef[1100];
    model_paths(hmm, sizeof hmm, lm, sizeof lm);
    snprintf(mdef, sizeof mdef, "%s/mdef", hmm);
    return file_exists(mdef) && file_exists(lm);
}

vv_status phonemes_check(void) {
    if (phonemes_available()) return VV_OK;
    char hmm[1024], lm[1024];
    model_paths(hmm, sizeof hmm, lm, sizeof lm);
    return vv_fail(VV_ERR_MODEL, "phonemes: PocketSphinx's en-us model is missing (%s; Debian pocketsphinx-en-us, which "
                   "./dev setup installs)", hmm);
}

/* The phone loop's language model: every phone as likely as any other but m, b and p, ten
 * times as likely, weighted by -lw 3 (where the acoustics hesitate between a bilabial and
 * another consonant the loop says M/B/P).  Chosen on the dev clips of docs/SPEAK.md over
 * en-us-phone.lm.bin: held out, m/b/p recall 0.57 -> 0.68 for precision 0.71 -> 0.68, and a
 * third faster.  ARPA text in an unlinked temporary file that PocketSphinx reads through
 * /proc/self/fd; NULL (then the shipped phone LM) where that cannot be made. */
static FILE *phone_lm_open(char *path, size_t size) {
    static const char *const phones[] = {"AA", "AE", "AH", "AO", "AW", "AY", "B",  "CH", "D",  "DH", "EH", "ER", "EY", "F",
                                         "G",  "HH", "IH", "IY", "JH", "K",  "L",  "M",  "N",  "NG", "OW", "OY", "P",  "R",
                                         "S",  "SH", "T",  "TH", "UH", "UW", "V",  "W",  "Y",  "Z",  "ZH", "SIL"};
    const int count = (int)(sizeof phones / sizeof phones[0]);
    const double bilabial = 10;
    FILE *f = tmpfile();
    if (!f) return NULL;
    double total = 1; /* </s> */
    for (int i = 0; i < count; i++) total += viseme_of_phone(phones[i]) == VISEME_CLOSED ? bilabial : 1;
    fprintf(f, "\\data\\\nngram 1=%d\n\n\\1-grams:\n-99.0 <s> 0\n%.4f </s> 0\n", count + 2, log10(1 / total));
    for (int i = 0; i < count; i++)
        fprintf(f, "%.4f %s 0\n", log10((viseme_of_phone(phones[i]) == VISEME_CLOSED ? bilabial : 1) / total), phones[i]);
    fprintf(f, "\n\\end\\\n");
    snprintf(path, size, "/proc/self/fd/%d", fileno(f));
    if (fflush(f) != 0 || ferror(f) || !file_exists(path)) {
        fclose(f);
        return NULL;
    }
    rewind(f);
    return f;
}

vv_status phonemes_recognise(const float *samples, int64_t count, int rate, phone_segment **out, int *n) {
    *out = NULL;
    *n = 0;
    if (rate != 16000) return vv_fail(VV_ERR_INVALID_ARGUMENT, "phonemes: the recogniser takes 16000 Hz, not %d", rate);
    if (count <= 0) return VV_OK;
    vv_status s = phonemes_check();
    if (s != VV_OK) return s;
    char hmm[1024], lm[1024];
    model_paths(hmm, sizeof hmm, lm, sizeof lm);
    err_set_logfp(NULL); /* the library never prints */
    /* Context-independent phones (fast: a minute of speech in under 2 s on one core), a wide
     * beam, the phone prior above (or, failing it, the shipped phone LM weighted lightly: it
     * pulls towards frequent phones), a large phone insertion bonus (-wip 1e20: without it the
     * phone loop swallows whole words into long SIL or vowel segments and misses most short
     * closures), no spectral noise removal (it eats quiet closures).  docs/SPEAK.md has the
     * figures. */
    char prior[64];
    FILE *prior_file = phone_lm_open(prior, sizeof prior);
    cmd_ln_t *config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-allphone", prior_file ? prior : lm, "-allphone_ci",
                                   "yes", "-lw", prior_file ? "3.0" : "0.5", "-wip", "1e20", "-beam", "1e-20", "-pbeam",
                                   "1e-20", "-remove_noise", "no", "-logfn", "/dev/null", NULL);
    if (!config) {
        if (prior_file) fclose(prior_file);
        return vv_fail(VV_ERR_MODEL, "phonemes: PocketSphinx does not accept its configuration (model in %s)", hmm);
    }
    ps_decoder_t *ps = ps_init(config);
    if (prior_file) fclose(prior_file); /* read by now */
    if (!ps) {
        cmd_ln_free_r(config);
        return vv_fail(VV_ERR_MODEL, "phonemes: PocketSphinx cannot load its model from %s", hmm);
    }
    int16_t *pcm = mem_alloc((size_t)count, sizeof *pcm);
    if (!pcm) s = vv_fail(VV_ERR_NO_MEMORY, "phonemes: out of memory for %lld samples", (long long)count);
    /* Dither of +-1 step from a fixed seed (the same recording gives the same phones):
     * stretches of exact digital zeros (synthetic speech, gated recordings) have a log
     * spectrum of -inf, clamped, which throws the feature normalisation and the silence model
     * off; a step of noise costs real recordings nothing. */
    uint32_t noise = 0x9e3779b9u;
    for (int64_t i = 0; pcm && i < count; i++) {
        noise = noise * 1664525u + 1013904223u; /* triangular, -1..1: two uniform halves */
        float dither = (float)(noise >> 24) / 256.0f + (float)((noise >> 16) & 0xff) / 256.0f - 1.0f;
        float v = floorf(samples[i] * 32767.0f + dither + 0.5f);
        pcm[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    if (s == VV_OK && (ps_start_utt(ps) < 0 || ps_process_raw(ps, pcm, (size_t)count, FALSE, TRUE) < 0 || ps_end_utt(ps) < 0))
        s = vv_fail(VV_ERR_INTERNAL, "phonemes: PocketSphinx failed to decode the recording");
    int capacity = 0;
    for (ps_seg_t *seg = s == VV_OK ? ps_seg_iter(ps) : NULL; seg; seg = ps_seg_next(seg)) {
        if (*n == capacity) {
            capacity = capacity ? capacity * 2 : 256;
            phone_segment *grown = realloc(*out, (size_t)capacity * sizeof *grown);
            if (!grown) {
                ps_seg_free(seg);
                s = vv_fail(VV_ERR_NO_MEMORY, "phonemes: out of memory");
                break;
            }
            *out = grown;
        }
        int first = 0, last = 0;
        ps_seg_frames(seg, &first, &last);
        phone_segment *p = &(*out)[*n];
        snprintf(p->name, sizeof p->name, "%s", ps_seg_word(seg) ? ps_seg_word(seg) : "SIL");
        p->start = first * 0.01; /* 100 frames a second */
        p->end = (last + 1) * 0.01;
        if (p->end > p->start) (*n)++;
    }
    if (s != VV_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    free(pcm);
    /* PocketSphinx 0.8+5prealpha's phone-loop search keeps the last segmentation until the
     * next utterance starts (ps_free does not free it): an empty utterance releases it. */
    if (ps_start_utt(ps) >= 0) ps_end_utt(ps);
    ps_free(ps);
    cmd_ln_free_r(config);
    return s;
}

#else /* built without PocketSphinx */

bool phonemes_available(void) { return false; }

vv_status phonemes_check(void) {
    return vv_fail(VV_ERR_UNSUPPORTED, "phonemes: this build has no phoneme recogniser (PocketSphinx: Debian "
                   "libpocketsphinx-dev; ./dev setup installs it); --lipsync energy works without it");
}

vv_status phonemes_recognise(const float *samples, int64_t count, int rate, phone_segment **out, int *n) {
    (void)samples;
    (void)count;
    (void)rate;
    *out = NULL;
    *n = 0;
    return phonemes_check();
}

#endif
