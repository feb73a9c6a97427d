#include "image_shims.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *error;
    size_t error_size;
    const unsigned char *data;
    size_t size;
    size_t offset;
} shim_context;

static void shim_error(png_structp png, png_const_charp message) {
    shim_context *context = (shim_context *)png_get_error_ptr(png);
    if (context && context->error && context->error_size) {
        snprintf(context->error, context->error_size, "%s", message);
    }
    png_longjmp(png, 1);
}

static void shim_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void shim_read(png_structp png, png_bytep out, size_t count) {
    shim_context *context = (shim_context *)png_get_io_ptr(png);
    if (context->size - context->offset < count) {
        png_error(png, "file is truncated");
    }
    memcpy(out, context->data + context->offset, count);
    context->offset += count;
}

static void set_error(char *error, size_t error_size, const char *message) {
    if (error && error_size) snprintf(error, error_size, "%s", message);
}

static png_structp open_reader(shim_context *context, png_infop *info) {
    if (context->size < 8 || png_sig_cmp(context->data, 0, 8) != 0) {
        set_error(context->error, context->error_size, "not a PNG file (bad signature)");
        return NULL;
    }
    /* libpng allocates a chunk's declared length before reading it: a 114-byte file declaring
       a 1 GB tEXt chunk made it malloc 1 GB (fuzz-png). The whole file is in memory, so every
       chunk's length is checked against what is left before libpng sees any. */
    size_t at = 8;
    while (at + 12 <= context->size) {
        const unsigned char *c = context->data + at;
        size_t length = ((size_t)c[0] << 24) | ((size_t)c[1] << 16) | ((size_t)c[2] << 8) | c[3];
        if (length > context->size - at - 12) {
            if (context->error && context->error_size) snprintf(context->error, context->error_size,
                     "chunk '%c%c%c%c' at byte %zu declares %zu bytes but the file has %zu left (truncated or corrupt)",
                     c[4] >= 32 && c[4] < 127 ? c[4] : '?', c[5] >= 32 && c[5] < 127 ? c[5] : '?',
                     c[6] >= 32 && c[6] < 127 ? c[6] : '?', c[7] >= 32 && c[7] < 127 ? c[7] : '?',
                     at, length, context->size - at - 12);
            return NULL;
        }
        if (memcmp(c + 4, "IEND", 4) == 0) break;
        at += 12 + length;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, context, shim_error, shim_warning);
    if (!png) {
        set_error(context->error, context->error_size, "libpng could not start");
        return NULL;
    }
    *info = png_create_info_struct(png);
    if (!*info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_error(context->error, context->error_size, "libpng could not start");
        return NULL;
    }
    png_set_read_fn(png, context, shim_read);
    return png;
}

int nextgpt_png_decode_rgb8(const unsigned char *data, size_t size, unsigned char **pixels,
                            int *width, int *height, char *error, size_t error_size) {
    shim_context context = {error, error_size, data, size, 0};
    png_infop info = NULL;
    png_structp png = open_reader(&context, &info);
    if (!png) return 0;
    unsigned char *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(buffer);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    if (w == 0 || h == 0 || (size_t)w * h > ((size_t)1 << 28)) {
        /* A decompression bomb declares its size here, before any pixel buffer exists. */
        char message[128];
        snprintf(message, sizeof message, "declares %lu×%lu pixels, more than the %lu allowed",
                 (unsigned long)w, (unsigned long)h, 1UL << 28);
        png_error(png, message);
    }
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    /* Palette expansion also turns tRNS into an alpha channel; Pillow's RGB drops it. */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected row layout after conversion");
    buffer = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!buffer || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buffer + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *pixels = buffer;
    *width = (int)w;
    *height = (int)h;
    return 1;
}

int nextgpt_png_write_rgb8(const char *path, const unsigned char *pixels, int width, int height,
                           const char *const *keys, const char *const *values, int text_count,
                           char *error, size_t error_size) {
    FILE *file = fopen(path, "wb");
    if (!file) {
        set_error(error, error_size, "cannot open the file for writing");
        return 0;
    }
    shim_context context = {error, error_size, NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, shim_error, shim_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_textp volatile text = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        if (png) png_destroy_write_struct(&png, NULL);
        fclose(file);
        set_error(error, error_size, "libpng could not start");
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        free(text);
        free(rows);
        png_destroy_write_struct(&png, &info);
        fclose(file);
        return 0;
    }
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (text_count > 0) {
        text = calloc((size_t)text_count, sizeof(png_text));
        if (!text) png_error(png, "out of memory");
        for (int i = 0; i < text_count; i++) {
            /* tEXt holds Latin-1; values with other characters go in an iTXt chunk as UTF-8. */
            int ascii = 1;
            for (const unsigned char *c = (const unsigned char *)values[i]; *c; c++) ascii &= *c < 0x80;
            text[i].compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
            text[i].key = (png_charp)keys[i];
            text[i].text = (png_charp)values[i];
            text[i].text_length = ascii ? strlen(values[i]) : 0;
            text[i].itxt_length = ascii ? 0 : strlen(values[i]);
        }
        png_set_text(png, info, text, text_count);
    }
    rows = malloc(sizeof(png_bytep) * (size_t)(height > 0 ? height : 1));
    if (!rows) png_error(png, "out of memory");
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * width * 3);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    free(text);
    free(rows);
    png_destroy_write_struct(&png, &info);
    if (fclose(file) != 0) {
        set_error(error, error_size, "writing the file failed");
        return 0;
    }
    return 1;
}

int nextgpt_png_read_text(const unsigned char *data, size_t size, char ***keys, char ***values,
                          int *count, char *error, size_t error_size) {
    shim_context context = {error, error_size, data, size, 0};
    png_infop info = NULL;
    png_structp png = open_reader(&context, &info);
    if (!png) return 0;
    png_infop end = png_create_info_struct(png);
    char **volatile key_list = NULL;
    char **volatile value_list = NULL;
    volatile int found = 0;
    if (!end || setjmp(png_jmpbuf(png))) {
        nextgpt_free_strings(key_list, found);
        nextgpt_free_strings(value_list, found);
        png_destroy_read_struct(&png, &info, end ? &end : NULL);
        if (!end) set_error(error, error_size, "libpng could not start");
        return 0;
    }
    png_read_info(png, info);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    png_bytep row = png_malloc(png, row_bytes);
    png_uint_32 h = png_get_image_height(png, info);
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < h; y++) png_read_row(png, row, NULL);
    png_free(png, row);
    png_read_end(png, end);
    png_textp text_before = NULL, text_after = NULL;
    int before = png_get_text(png, info, &text_before, NULL);
    int after = png_get_text(png, end, &text_after, NULL);
    int total = before + after;
    key_list = calloc((size_t)(total > 0 ? total : 1), sizeof(char *));
    value_list = calloc((size_t)(total > 0 ? total : 1), sizeof(char *));
    if (!key_list || !value_list) png_error(png, "out of memory");
    for (int i = 0; i < total; i++) {
        png_textp t = i < before ? &text_before[i] : &text_after[i - before];
        key_list[i] = strdup(t->key);
        value_list[i] = strdup(t->text ? t->text : "");
        found = i + 1;
    }
    png_destroy_read_struct(&png, &info, &end);
    *keys = key_list;
    *values = value_list;
    *count = total;
    return 1;
}

void nextgpt_free_strings(char **strings, int count) {
    if (!strings) return;
    for (int i = 0; i < count; i++) free(strings[i]);
    free(strings);
}

void nextgpt_free(void *pointer) { free(pointer); }
