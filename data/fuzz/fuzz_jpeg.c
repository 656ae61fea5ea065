/* data/fuzz/fuzz_jpeg.c — libFuzzer target for the JPEG decoder (`make fuzz`).
 * Any input must give either -1 with a message or a valid image; ASan/UBSan watch. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ldm_clear_error();
    GrayImage im;
    if (img_decode_jpeg(data, size, "fuzz.jpeg", &im) == 0) {
        if (im.w < 1 || im.h < 1 || (size_t)im.w * im.h > IMG_MAX_PIXELS || !im.px) abort();
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)im.w * im.h; i++) sum += im.px[i];
        gray_free(&im);
    } else if (!ldm_last_error()[0] || im.px) {
        abort();
    }
    return 0;
}
