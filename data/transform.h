/* data/transform.h — what happens to a decoded image before the model sees it.
 *
 * The pipeline, in order (the struct is stored in the model config so sampling and
 * evaluation reproduce it):
 *   1. channels             decoders give 8-bit gray or RGB as asked (see image.h);
 *                           with RGB every step below runs on each channel alike
 *   2. make square          FIT_PAD: centre in a max(w,h) square of `background`;
 *                           FIT_CROP: centre crop to min(w,h); FIT_STRETCH: neither
 *   3. resize to size x size area averaging when shrinking an axis, bilinear (pixel
 *                           centres, edge clamped) when enlarging; rounded to uint8
 *   4. horizontal flip      when requested for this sample (training augmentation)
 *   5. scale to [-1, 1]     x = v / 127.5 - 1
 * Steps 2-3 depend only on the image, so their uint8 result is what the loader caches;
 * cached and uncached batches are bit-identical.
 */
#ifndef LDM_DATA_TRANSFORM_H
#define LDM_DATA_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { FIT_PAD = 0, FIT_CROP = 1, FIT_STRETCH = 2 } DataFit;

typedef struct {
    int size;           /* output side; 0 = the side step 2 produces (no resize) */
    DataFit fit;
    uint8_t background; /* pad value (MRI background is black: 0) */
    bool hflip;         /* random horizontal flips (the loader applies them) */
    int channels;       /* 1 gray (0 means 1) or 3 RGB; images are (h, w, channels) */
} DataTransform;

#define TRANSFORM_MAX_SIDE 4096

/* Scratch memory for transform_geometry (square buffer, resize buffer, tap tables
 * kept for the last sizes seen). One per thread; reusing it keeps the per-image cost
 * free of malloc/free churn, which otherwise makes glibc hand pages back to the kernel
 * and fault them in again for every image (measured: 5-10x slower). */
typedef struct TransformWork TransformWork;
TransformWork *transform_work_new(void);
void transform_work_free(TransformWork *ws);

/* The output side for a w x h input; -1 with an error when it would be out of range. */
int transform_out_side(const DataTransform *tf, int w, int h);
/* Channels of tf (0 -> 1). */
int transform_channels(const DataTransform *tf);
/* Steps 2-3: (h, w, C) uint8 -> (side, side, C) uint8, side = transform_out_side,
 * C = transform_channels. ws may be NULL (a temporary one is used). */
int transform_geometry(const DataTransform *tf, const uint8_t *src, int w, int h, uint8_t *dst,
                       TransformWork *ws);
/* Steps 4-5: (side, side) uint8 -> (side, side) float in [-1, 1], mirrored when flip. */
void transform_to_float(const uint8_t *src, int side, bool flip, float *dst);
/* The same for (side, side, channels) interleaved pixels (a mirrored pixel keeps its
 * channel order). */
void transform_to_float_ch(const uint8_t *src, int side, int channels, bool flip, float *dst);

/* "size=64,fit=pad,background=0,hflip=0" — the form stored in configs and PNG text;
 * ",channels=3" follows for RGB (gray transforms read as they always did). */
int transform_format(const DataTransform *tf, char *buf, size_t n);
/* Parses transform_format's form (fields in any order, any subset; others keep their
 * values in *tf). -1 with an error naming the bad field. */
int transform_parse(const char *s, DataTransform *tf);
const char *fit_name(DataFit f);
int fit_parse(const char *s, DataFit *out);

#endif
