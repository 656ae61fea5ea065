/* data/decode_jpeg.c — JPEG to 8-bit gray or RGB through libjpeg(-turbo), from memory.
 * libjpeg does the conversion: gray from YCbCr is its Y (the BT.601 luma), RGB from gray
 * repeats the value.
 *
 * libjpeg's default error manager calls exit(); ours longjmps back with the message.
 * Its warnings (premature end of data, corrupt entropy data) would let a damaged file
 * decode to a half-gray picture, so they are errors too. A progress monitor caps the
 * number of progressive scans, which otherwise lets a small crafted file take seconds.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "core/error.h"
#include "data/image.h"

#define JPEG_MAX_SCANS 500

typedef struct {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} JpegErr;

static void on_error_exit(j_common_ptr cinfo) {
    JpegErr *e = (JpegErr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* msg_level < 0 is a warning: corrupt or missing data. Trace messages (>= 0) are ignored. */
static void on_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0) on_error_exit(cinfo);
}

static void on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        JpegErr *e = (JpegErr *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

int img_decode_jpeg_as(const uint8_t *buf, size_t n, const char *name, int channels, Image *out, ImageSource *src) {
    if (!out) return ldm_error("jpeg", "%s: no output image", name);
    *out = (Image){0};
    if (channels != 1 && channels != 3) return ldm_error("jpeg", "%s: %d channels asked (want 1 or 3)", name, channels);
    if (!buf || n < 3 || buf[0] != 0xFF || buf[1] != 0xD8 || buf[2] != 0xFF)
        return ldm_error("jpeg", "%s: not a JPEG file (bad signature)", name);
    if (n > (size_t)0xFFFFFFFFu) return ldm_error("jpeg", "%s: file too large", name);
    struct jpeg_decompress_struct cinfo;
    JpegErr err;
    uint8_t *volatile px = NULL;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error_exit;
    err.pub.emit_message = on_emit_message;
    err.msg[0] = '\0';
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        return ldm_error("jpeg", "%s: %s", name, err.msg[0] ? err.msg : "corrupt JPEG");
    }
    jpeg_create_decompress(&cinfo);
    err.progress.progress_monitor = on_progress;
    cinfo.progress = &err.progress;
    cinfo.mem->max_memory_to_use = 512L << 20;
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width > IMG_MAX_SIDE || cinfo.image_height > IMG_MAX_SIDE ||
        (size_t)cinfo.image_width * cinfo.image_height > IMG_MAX_PIXELS) {
        snprintf(err.msg, sizeof err.msg, "image too large (%ux%u)", cinfo.image_width, cinfo.image_height);
        longjmp(err.jump, 1);
    }
    if (src) *src = (ImageSource){.channels = cinfo.num_components == 1 ? 1 : 3, .depth = 8};
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    if (cinfo.output_components != channels) {
        snprintf(err.msg, sizeof err.msg, "unexpected %d output components", cinfo.output_components);
        longjmp(err.jump, 1);
    }
    px = malloc((size_t)w * h * channels);
    if (!px) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = px + (size_t)cinfo.output_scanline * w * channels;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *out = (Image){.w = w, .h = h, .px = px, .c = channels};
    return 0;
}
