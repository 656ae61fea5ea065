/* data/image.c — file reading and decoder dispatch by signature (see image.h). */
#include "data/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

void gray_free(GrayImage *im) {
    if (!im) return;
    free(im->px);
    *im = (GrayImage){0};
}

int read_file(const char *path, size_t max, uint8_t **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ldm_error("data", "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ldm_error("data", "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max) {
        fclose(f);
        return ldm_error("data", "%s: file too large (%lld bytes, at most %zu)", path, (long long)st.st_size, max);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *b = malloc(size ? size : 1);
    if (!b) {
        fclose(f);
        return ldm_error("data", "%s: out of memory (%zu bytes)", path, size);
    }
    size_t got = fread(b, 1, size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != size) {
        free(b);
        return ldm_error("data", "%s: read failed (%zu of %zu bytes)", path, got, size);
    }
    *buf = b;
    *n = size;
    return 0;
}

int img_decode_as(const uint8_t *buf, size_t n, const char *name, int channels, Image *out, ImageSource *src) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (out) *out = (Image){0};
    if (channels != 1 && channels != 3) return ldm_error("data", "%s: %d channels asked (want 1 or 3)", name, channels);
    if (buf && n >= 8 && memcmp(buf, png_sig, 8) == 0) return img_decode_png_as(buf, n, name, channels, out, src);
    if (buf && n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return img_decode_jpeg_as(buf, n, name, channels, out, src);
    if (!buf || n == 0) return ldm_error("data", "%s: empty file, not an image", name);
    return ldm_error("data", "%s: not a PNG or JPEG image (unknown signature)", name);
}

int img_decode_file_as(const char *path, int channels, Image *out, ImageSource *src) {
    uint8_t *buf;
    size_t n;
    if (out) *out = (Image){0};
    if (read_file(path, IMG_MAX_FILE, &buf, &n)) return -1;
    int rc = img_decode_as(buf, n, path, channels, out, src);
    free(buf);
    return rc;
}

int img_decode_png(const uint8_t *buf, size_t n, const char *name, GrayImage *out) {
    return img_decode_png_as(buf, n, name, 1, out, NULL);
}
int img_decode_jpeg(const uint8_t *buf, size_t n, const char *name, GrayImage *out) {
    return img_decode_jpeg_as(buf, n, name, 1, out, NULL);
}
int img_decode(const uint8_t *buf, size_t n, const char *name, GrayImage *out) {
    return img_decode_as(buf, n, name, 1, out, NULL);
}
int img_decode_file(const char *path, GrayImage *out) { return img_decode_file_as(path, 1, out, NULL); }
