/* data/preview.h — a labelled grid of preprocessed images from one split, as a PNG.
 *
 * `count` images are picked evenly spaced through each class's items (so they span
 * patients and slices), grouped by class; each tile is the image after the transform
 * (geometry and scaling, no flip) with its label above it: the class name, or the
 * patient id for unconditional data. The PNG is gray, or RGB when the transform has
 * channels = 3. Its text chunks record the source, layout, split and transform.
 */
#ifndef LDM_DATA_PREVIEW_H
#define LDM_DATA_PREVIEW_H

#include "data/dataset.h"
#include "data/transform.h"

typedef struct {
    DataSplit split;
    int count;          /* images in the grid (1..1024) */
    int cols;           /* tiles per row; 0 = about square */
    DataTransform tf;
} PreviewOptions;

int data_preview(const Dataset *ds, const PreviewOptions *o, const char *out_png);

#endif
