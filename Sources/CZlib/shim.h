#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 is a macro; this makes it callable from Swift. */
static inline int reptile_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 32); /* 32: detect gzip or zlib header */
}
#endif
