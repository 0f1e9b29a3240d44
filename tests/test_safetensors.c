/* nn/safetensors: round trips (F32 exact, F16/BF16 within half a unit in the last place),
 * metadata, the parameter-store checkpoint, half-precision conversions at their edges,
 * and a matrix of malformed files that must be refused with the right status. */
#include "test.h"

#include "nn/params.h"
#include "nn/safetensors.h"

static const char *dir;

static void test_half_conversions(void) {
    CHECK(float_to_half(1.0f) == 0x3c00);
    CHECK(float_to_half(-2.0f) == 0xc000);
    CHECK(float_to_half(65504.0f) == 0x7bff);
    CHECK(float_to_half(65520.0f) == 0x7c00);           /* rounds to infinity */
    CHECK(float_to_half(ldexpf(1.0f, -24)) == 0x0001);  /* smallest subnormal */
    CHECK(float_to_half(ldexpf(1.0f, -25)) == 0x0000);  /* tie to even: zero */
    CHECK(float_to_half(ldexpf(1.0f, -14)) == 0x0400);  /* smallest normal */
    CHECK(float_to_half(1.0f + ldexpf(1.0f, -11)) == 0x3c00);      /* tie to even, down */
    CHECK(float_to_half(1.0f + 3 * ldexpf(1.0f, -11)) == 0x3c02);  /* tie to even, up */
    CHECK(isnan(half_to_float(float_to_half(NAN))));
    CHECK(half_to_float(0x7c00) == INFINITY);
    CHECK(half_to_float(0x0001) == ldexpf(1.0f, -24));
    CHECK(half_to_float(0x3555) == 0.333251953125f);
    CHECK(float_to_bf16(1.0f) == 0x3f80);
    CHECK(bf16_to_float(0x4049) == 3.140625f);
    CHECK(float_to_bf16(1.0f + ldexpf(1.0f, -8)) == 0x3f80);  /* tie to even */
    CHECK(isnan(bf16_to_float(float_to_bf16(NAN))));
    /* every finite half survives half -> float -> half */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++)
        if ((h & 0x7c00) != 0x7c00 && float_to_half(half_to_float((uint16_t)h)) != h) bad++;
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
}

static void test_round_trip(void) {
    float a[24], b[6], c[5];
    for (int i = 0; i < 24; i++) a[i] = (float)sin(i * 0.7) * 100.0f;
    for (int i = 0; i < 6; i++) b[i] = (float)i / 3.0f - 1.0f;
    for (int i = 0; i < 5; i++) c[i] = (float)cos(i) * 1e-3f;
    int64_t sa[3] = {2, 3, 4}, sb[2] = {2, 3}, sc[1] = {5};
    safetensors_entry entries[3] = {{"layer.a", SAFETENSORS_F32, 3, sa, a},
                                    {"b", SAFETENSORS_F16, 2, sb, b},
                                    {"c", SAFETENSORS_BF16, 1, sc, c}};
    const char *keys[2] = {"config", "step"}, *values[2] = {"{\"channels\": 64}", "1200"};
    char path[4096];
    snprintf(path, sizeof path, "%s/round.safetensors", dir);
    CHECK_OK(safetensors_write(path, entries, 3, keys, values, 2));
    safetensors_file f;
    CHECK_OK(safetensors_open(&f, path, 0));
    CHECK(f.count == 3);
    CHECK(f.meta_count == 2);
    const char *config = safetensors_metadata(&f, "config");
    CHECK(config && strcmp(config, "{\"channels\": 64}") == 0);
    CHECK(safetensors_metadata(&f, "absent") == NULL);
    const safetensors_tensor *t = safetensors_find(&f, "layer.a");
    CHECK(t && t->ndim == 3 && t->shape[2] == 4 && t->dtype == SAFETENSORS_F32);
    CHECK((8 + (f.data - f.bytes - 8)) % 8 == 0); /* header padded to 8 bytes */
    float got[24];
    CHECK_OK(safetensors_read_f32(&f, "layer.a", got, 24));
    CHECK(memcmp(got, a, sizeof a) == 0);
    CHECK_OK(safetensors_read_f32(&f, "b", got, 6));
    for (int i = 0; i < 6; i++) CHECK_NEAR(got[i], b[i], fabsf(b[i]) * 4.9e-4 + 1e-7);
    CHECK_OK(safetensors_read_f32(&f, "c", got, 5));
    for (int i = 0; i < 5; i++) CHECK_NEAR(got[i], c[i], fabsf(c[i]) * 3.9e-3);
    CHECK(safetensors_read_f32(&f, "c", got, 4) == VV_ERR_INVALID_ARGUMENT);
    CHECK(safetensors_read_f32(&f, "nope", got, 4) == VV_ERR_NOT_FOUND);
    safetensors_close(&f);
    /* duplicate names are refused by the writer */
    safetensors_entry dup[2] = {entries[1], entries[1]};
    CHECK(safetensors_write(path, dup, 2, NULL, NULL, 0) == VV_ERR_INVALID_ARGUMENT);
}

static void test_param_store_checkpoint(void) {
    param_store ps;
    param_store_init(&ps);
    int w, bias, other;
    CHECK_OK(param_store_add(&ps, "conv1.weight", 4, (int[]){8, 3, 3, 3}, &w));
    CHECK_OK(param_store_add(&ps, "conv1.bias", 1, (int[]){8}, &bias));
    CHECK(param_store_add(&ps, "conv1.bias", 1, (int[]){8}, &other) == VV_ERR_INVALID_ARGUMENT);
    CHECK(param_store_add(&ps, "bad", 2, (int[]){8, 0}, &other) == VV_ERR_INVALID_ARGUMENT);
    CHECK_OK(param_store_alloc(&ps));
    CHECK(ps.entries[bias].offset % 16 == 0 && ps.entries[bias].offset >= 216);
    CHECK(param_data(&ps, bias) - ps.data == (ptrdiff_t)ps.entries[bias].offset);
    CHECK(param_grad(&ps, bias) - param_data(&ps, bias) == (ptrdiff_t)ps.total);
    uint64_t seed = 7;
    param_fill_uniform(&ps, w, 0.1f, &seed);
    param_fill_uniform(&ps, bias, 1.0f, &seed);
    float max = 0;
    for (int i = 0; i < 216; i++) max = fmaxf(max, fabsf(param_data(&ps, w)[i]));
    CHECK(max <= 0.1f && max > 0.05f);
    char path[4096];
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    const char *keys[1] = {"config"}, *values[1] = {"{\"net\": \"test\"}"};
    CHECK_OK(param_store_save(&ps, path, keys, values, 1));
    param_store copy;
    param_store_init(&copy);
    CHECK_OK(param_store_add(&copy, "conv1.weight", 4, (int[]){8, 3, 3, 3}, NULL));
    CHECK_OK(param_store_add(&copy, "conv1.bias", 1, (int[]){8}, NULL));
    CHECK_OK(param_store_alloc(&copy));
    CHECK_OK(param_store_load(&copy, path));
    CHECK(memcmp(param_data(&copy, 0), param_data(&ps, w), 216 * sizeof(float)) == 0);
    CHECK(memcmp(param_data(&copy, 1), param_data(&ps, bias), 8 * sizeof(float)) == 0);
    param_store_free(&copy);
    /* a network of another shape refuses the checkpoint */
    param_store_init(&copy);
    CHECK_OK(param_store_add(&copy, "conv1.weight", 4, (int[]){8, 3, 3, 3}, NULL));
    CHECK_OK(param_store_add(&copy, "conv1.bias", 1, (int[]){9}, NULL));
    CHECK_OK(param_store_alloc(&copy));
    CHECK(param_store_load(&copy, path) == VV_ERR_MODEL);
    param_store_free(&copy);
    param_store_zero_grad(&ps);
    param_store_free(&ps);
}

/* A file image: 8-byte length + header + `data_bytes` zero bytes. */
static size_t make_file(uint8_t *out, const char *header, size_t data_bytes) {
    size_t len = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)len >> (8 * i));
    memcpy(out + 8, header, len);
    memset(out + 8 + len, 0, data_bytes);
    return 8 + len + data_bytes;
}

static void expect_refused(const char *header, size_t data_bytes, vv_status want, const char *what) {
    static uint8_t file[8192];
    size_t n = make_file(file, header, data_bytes);
    safetensors_file f;
    vv_status got = safetensors_parse(&f, file, n);
    CHECK_MSG(got == want, "%s: got %s (%s), want %s", what, vv_status_string(got),
              got == VV_OK ? "" : vv_last_error(), vv_status_string(want));
    if (got == VV_OK) safetensors_close(&f);
}

static void test_malformed(void) {
    /* the valid baseline parses */
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, VV_OK, "valid");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ", 8, VV_OK, "space padding");
    expect_refused("{}", 0, VV_OK, "empty");
    safetensors_file f;
    uint8_t tiny[4] = {1, 0, 0, 0};
    CHECK(safetensors_parse(&f, tiny, 4) == VV_ERR_FORMAT);
    /* header length past the file / absurd */
    uint8_t big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    CHECK(safetensors_parse(&f, big, 16) == VV_ERR_FORMAT);
    uint8_t past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(safetensors_parse(&f, past, 16) == VV_ERR_CORRUPT);
    expect_refused("[1,2]", 0, VV_ERR_FORMAT, "not an object");
    expect_refused("{\"a\":", 0, VV_ERR_CORRUPT, "truncated JSON");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}xx", 8, VV_ERR_CORRUPT, "trailing garbage");
    expect_refused("{\"a\":3}", 0, VV_ERR_CORRUPT, "entry not an object");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, VV_ERR_CORRUPT, "no offsets");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, VV_ERR_CORRUPT, "unknown field");
    expect_refused("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, VV_ERR_UNSUPPORTED, "I64");
    expect_refused("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, VV_ERR_CORRUPT, "unknown dtype");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, VV_ERR_CORRUPT, "shape vs bytes");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, VV_ERR_CORRUPT, "negative dim");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, VV_ERR_CORRUPT, "fractional dim");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
                   VV_ERR_CORRUPT, "shape overflow");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, VV_ERR_TOO_LARGE, "rank 9");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, VV_ERR_CORRUPT, "past the data");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, VV_ERR_CORRUPT, "reversed offsets");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, VV_ERR_CORRUPT, "one offset");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, VV_ERR_CORRUPT, "overlap");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, VV_ERR_CORRUPT, "hole");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, VV_ERR_CORRUPT, "trailing data");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, VV_ERR_CORRUPT, "duplicate name");
    expect_refused("{\"__metadata__\":{\"k\":3}}", 0, VV_ERR_CORRUPT, "non-string metadata");
    expect_refused("{\"__metadata__\":[]}", 0, VV_ERR_CORRUPT, "metadata not an object");
    /* a truncated real file: every prefix is refused, never crashes */
    char path[4096];
    snprintf(path, sizeof path, "%s/round.safetensors", dir);
    uint8_t *bytes;
    size_t size;
    CHECK_OK(file_read_all(path, 1 << 20, &bytes, &size));
    int accepted = 0;
    for (size_t n = 0; n < size; n++) {
        if (safetensors_parse(&f, bytes, n) == VV_OK) { accepted++; safetensors_close(&f); }
    }
    CHECK(accepted == 0);
    /* flipping each header byte never crashes (the result may be valid or not) */
    for (size_t i = 0; i < size && i < 400; i++) {
        uint8_t saved = bytes[i];
        bytes[i] ^= 0x5a;
        if (safetensors_parse(&f, bytes, size) == VV_OK) safetensors_close(&f);
        bytes[i] = saved;
    }
    free(bytes);
    CHECK(safetensors_open(&f, "/nonexistent/x.safetensors", 0) != VV_OK);
}

int main(void) {
    dir = test_tmp_dir("test_safetensors");
    test_half_conversions();
    test_round_trip();
    test_param_store_checkpoint();
    test_malformed();
    return test_finish("test_safetensors");
}
