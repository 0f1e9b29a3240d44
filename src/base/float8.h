/* base/float8: eight floats as one GCC vector, at any 4-byte alignment and aliasing float.
 * Hot loops use it explicitly: the sanitizer build (-O1, every access instrumented, never
 * auto-vectorised) then checks one access per eight floats, several times faster under
 * test, and the release build gets the vector code it would pick anyway.  Element by
 * element the arithmetic is the scalar loop's, in the same order: results are
 * bit-identical. */
#ifndef VV_BASE_FLOAT8_H
#define VV_BASE_FLOAT8_H

#include <stdint.h>

typedef float float8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t int32x8 __attribute__((vector_size(32), aligned(4), may_alias));

#endif
