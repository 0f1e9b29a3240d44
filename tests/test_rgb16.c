/* warp/raster.h's sixteen-pixel RGB helpers (the 3D head's composite with AVX-512): the
 * byte mask of every pixel mask, and the blend of every (p, q, a) triple against the
 * integer formula the scalar loop uses (p a + q (255 - a) + 127) / 255, rounded down.
 * A build without AVX-512 has no such helpers (the composite's scalar loop only): it
 * passes with a note. */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "warp/raster.h"

#ifdef RASTER_RGB16
static void test_masks(void) {
    int wrong = 0;
    for (uint32_t m = 0; m < 65536; m++) {
        uint64_t want = 0;
        for (int i = 0; i < 16; i++)
            if (m >> i & 1) want |= 7ull << (3 * i);
        wrong += raster_rgb16_mask((__mmask16)m) != want;
    }
    CHECK_MSG(wrong == 0, "%d of 65536 pixel masks give the wrong byte mask", wrong);
}

/* Every p (one per pixel, its three bytes p, p ^ 1, p ^ 2), q and a, sixteen pixels a step:
 * the bytes as the scalar formula gives them; the 16 bytes past the 48 are zero. */
static void test_blend_all(void) {
    long wrong = 0;
    uint8_t p[64], q[64], a[16], out[64];
    for (int pv = 0; pv < 256; pv++)
        for (int qv = 0; qv < 256; qv++)
            for (int a0 = 0; a0 < 256; a0 += 16) {
                memset(p, 0, sizeof p);
                memset(q, 0, sizeof q);
                for (int i = 0; i < 16; i++) {
                    a[i] = (uint8_t)(a0 + i);
                    for (int c = 0; c < 3; c++) {
                        p[3 * i + c] = (uint8_t)(pv ^ c);
                        q[3 * i + c] = (uint8_t)(qv ^ (2 - c));
                    }
                }
                __m512i r = raster_rgb16_blend255(_mm512_loadu_si512(p), _mm512_loadu_si512(q), _mm_loadu_si128((const __m128i *)a));
                _mm512_storeu_si512(out, r);
                for (int k = 0; k < 48; k++) {
                    int n = p[k] * a[k / 3] + q[k] * (255 - a[k / 3]) + 127;
                    wrong += out[k] != n / 255;
                }
                for (int k = 48; k < 64; k++) wrong += out[k] != 0;
            }
    CHECK_MSG(wrong == 0, "%ld bytes blended unlike (p a + q (255 - a) + 127) / 255", wrong);
}
#endif

int main(void) {
#ifdef RASTER_RGB16
    test_masks();
    test_blend_all();
#else
    printf("test_rgb16: this build has no AVX-512 helpers (the scalar loops only): nothing to check\n");
#endif
    return test_finish("test_rgb16");
}
