#ifndef CJPEG_SHIM_H
#define CJPEG_SHIM_H
// libjpeg-turbo's decompressor behind an error manager that longjmps instead of calling exit():
// Swift cannot call setjmp, so every libjpeg call that can fail is made here, inside a setjmp.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct reptile_jpeg_reader {
    struct jpeg_decompress_struct info;
    struct jpeg_error_mgr error;
    jmp_buf failure;
    /// libjpeg's message for the failure, once a call has returned 0.
    char message[JMSG_LENGTH_MAX];
} reptile_jpeg_reader;

static void reptile_jpeg_error_exit(j_common_ptr common) {
    reptile_jpeg_reader *reader = (reptile_jpeg_reader *)common;   // info is the first member
    (*common->err->format_message)(common, reader->message);
    longjmp(reader->failure, 1);
}

// Warnings are ignored as Pillow ignores them, except premature end of data: libjpeg would fill the
// missing rows with gray, so a truncated file is an error, as it is in Pillow.
static void reptile_jpeg_emit_message(j_common_ptr common, int level) {
    if (level < 0 && common->err->msg_code == JWRN_JPEG_EOF) {
        reptile_jpeg_error_exit(common);
    }
}

static void reptile_jpeg_output_message(j_common_ptr common) { (void)common; }

/// A reader for `file` (left open; the caller closes it after reptile_jpeg_reader_destroy), or NULL
/// when memory runs out.
static inline reptile_jpeg_reader *reptile_jpeg_reader_create(FILE *file) {
    reptile_jpeg_reader *reader = (reptile_jpeg_reader *)calloc(1, sizeof(reptile_jpeg_reader));
    if (reader == NULL) return NULL;
    reader->info.err = jpeg_std_error(&reader->error);
    reader->error.error_exit = reptile_jpeg_error_exit;
    reader->error.emit_message = reptile_jpeg_emit_message;
    reader->error.output_message = reptile_jpeg_output_message;
    if (setjmp(reader->failure)) {
        jpeg_destroy_decompress(&reader->info);
        free(reader);
        return NULL;
    }
    jpeg_create_decompress(&reader->info);
    jpeg_stdio_src(&reader->info, file);
    return reader;
}

static inline void reptile_jpeg_reader_destroy(reptile_jpeg_reader *reader) {
    if (reader == NULL) return;
    jpeg_destroy_decompress(&reader->info);
    free(reader);
}

/// Reads the header, keeping the APP1 segments (EXIF) in info.marker_list. 1 on success, 0 on failure
/// (the reason in reader->message).
static inline int reptile_jpeg_read_header(reptile_jpeg_reader *reader) {
    if (setjmp(reader->failure)) return 0;
    jpeg_save_markers(&reader->info, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&reader->info, TRUE);
    return 1;
}

/// Decodes every row into `pixels` (output_height rows of `row_bytes`), after the caller has set
/// info.out_color_space. 1 on success, 0 on failure (the reason in reader->message).
static inline int reptile_jpeg_decode(reptile_jpeg_reader *reader, unsigned char *pixels, size_t row_bytes,
                                      size_t capacity) {
    if (setjmp(reader->failure)) return 0;
    jpeg_start_decompress(&reader->info);
    size_t needed = (size_t)reader->info.output_height * row_bytes;
    if ((size_t)reader->info.output_width * (size_t)reader->info.output_components > row_bytes || needed > capacity) {
        snprintf(reader->message, sizeof reader->message, "decoded size %ux%ux%d does not match the header",
                 reader->info.output_width, reader->info.output_height, reader->info.output_components);
        return 0;
    }
    while (reader->info.output_scanline < reader->info.output_height) {
        JSAMPROW row = pixels + (size_t)reader->info.output_scanline * row_bytes;
        jpeg_read_scanlines(&reader->info, &row, 1);
    }
    jpeg_finish_decompress(&reader->info);
    return 1;
}

#endif
