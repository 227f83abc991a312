#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>

// Float.squareRoot() on Linux lowers to the errno-preserving sqrtf, which blocks vectorisation
// (docs/platform.md §4); the elementwise builtin has no errno and vectorises.
static inline __attribute__((always_inline)) float reptile_sqrtf(float x) { return __builtin_elementwise_sqrt(x); }
#endif
