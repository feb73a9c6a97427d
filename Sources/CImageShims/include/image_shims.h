#ifndef NEXTGPT_IMAGE_SHIMS_H
#define NEXTGPT_IMAGE_SHIMS_H
#include <stddef.h>

/* libpng reports errors by longjmp, which Swift cannot catch: these helpers set the jump point in
   C and turn every libpng error into a return value of 0 and a message. */

/* Decodes a PNG held in memory to 8-bit RGB the way Pillow's convert("RGB") does: palette and
   low-bit gray expanded, 16-bit samples reduced to their high byte, gray replicated, alpha and
   transparency dropped, no gamma applied. On success *pixels is malloc'ed (width·height·3 bytes). */
int nextgpt_png_decode_rgb8(const unsigned char *data, size_t size, unsigned char **pixels,
                            int *width, int *height, char *error, size_t error_size);

/* Writes 8-bit RGB rows to `path` with text chunks (keys of 1…79 ASCII bytes; ASCII values in
   tEXt, other UTF-8 values in iTXt). */
int nextgpt_png_write_rgb8(const char *path, const unsigned char *pixels, int width, int height,
                           const char *const *keys, const char *const *values, int text_count,
                           char *error, size_t error_size);

/* The tEXt/zTXt/iTXt chunks of a PNG in memory, as libpng reads them. *keys and *values are
   malloc'ed arrays of malloc'ed strings; free them with nextgpt_free_strings. */
int nextgpt_png_read_text(const unsigned char *data, size_t size, char ***keys, char ***values,
                          int *count, char *error, size_t error_size);

void nextgpt_free_strings(char **strings, int count);
void nextgpt_free(void *pointer);

#endif
