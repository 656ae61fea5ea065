/* data/dataset.h — a data set on disk as a list of labelled images in splits.
 *
 * Layouts (detected from the path unless forced):
 *   adni    AD_NC/{train,test}/{AD,NC}/<patient>_<slice>.jpeg; labels AD = 0, NC = 1.
 *           The validation split takes whole patients out of the test set.
 *   oasis   keras_png_slices_{train,validate,test}/ (PNG); the keras_png_slices_seg_*
 *           mask folders are ignored; unconditional.
 *   folder  one subfolder per class (PNG or JPEG), optionally under train/, val/
 *           (validate/, validation/) and test/; images directly in the folder = one
 *           unconditional set. Classes are the sorted folder names.
 *   nifti   a .nii / .nii.gz volume, or a folder of them (one volume = one patient):
 *           slices along an axis (axial by default), near-empty slices dropped,
 *           classes = inferior / middle / superior third of the kept slices.
 *   idx     IDX image + label files (Fashion-MNIST: train-* and t10k-*).
 * The validation split keeps a group of images on one side. Which group (DataGroupBy):
 *   prefix  the patient in the file name: the part before "_slice_", else before a final
 *           "_<digits>", else the whole name. The rule of the layouts that have patients
 *           (ADNI's <patient>_<slice>, OASIS's case numbers); the default there.
 *   image   every image its own group: the default for class folders, whose names say
 *           nothing about patients (bag/bag_000.png, a/img_001.png, cats/0.jpg).
 *   pattern a POSIX extended regex on the file name; its first parenthesised part (else
 *           the whole match) names the group; a name it does not match is its own group.
 * A NIfTI volume is one patient and an IDX image its own, whatever is asked.
 * The split is seeded and stratified by class, and never takes a class's last group
 * out of the split it comes from (a small class gets a note instead).
 *
 * dataset_open decodes every image once (verify, on by default) so that a corrupt,
 * truncated, non-image or wrong-size file is found up front, named, and either fails
 * the open or (skip_bad) is left out and listed in `skipped`. Labels are class indices;
 * unconditional data sets have n_classes = 0 and every label -1.
 */
#ifndef LDM_DATA_DATASET_H
#define LDM_DATA_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "data/image.h"
#include "data/transform.h"

typedef enum { LAYOUT_AUTO = 0, LAYOUT_ADNI, LAYOUT_OASIS, LAYOUT_FOLDER, LAYOUT_NIFTI, LAYOUT_IDX } DataLayout;
typedef enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2 } DataSplit;
#define SPLIT_COUNT 3
typedef enum { AXIS_AXIAL = 0, AXIS_CORONAL = 1, AXIS_SAGITTAL = 2 } SliceAxis;
typedef enum { GROUP_AUTO = 0, GROUP_IMAGE, GROUP_PREFIX, GROUP_PATTERN } DataGroupBy;

typedef struct {
    DataLayout layout;  /* LAYOUT_AUTO: detect */
    bool skip_bad;      /* leave bad files out (listed in `skipped`) instead of failing */
    bool verify;        /* decode everything at open (default true) */
    uint64_t seed;      /* for the validation split */
    int val_patients;   /* groups (patients, or images) in the validation split; -1 = the layout's default */
    DataGroupBy group_by; /* GROUP_AUTO: the layout's rule (see above) */
    const char *group_pattern; /* GROUP_PATTERN: the regex */
    SliceAxis axis;     /* NIfTI slicing axis */
    float min_fill;     /* NIfTI: keep a slice when >= this fraction of it is above 10% of the volume's range */
    int threads;        /* decode threads for verify (default 2) */
} DataOptions;

typedef struct {
    char *path;     /* the image file, or the volume / IDX file holding it */
    int index;      /* slice (NIfTI) or record (IDX); -1 for image files */
    int label;      /* class index, -1 when unconditional */
    int patient;    /* index into Dataset.patients */
    DataSplit split;
    int w, h;       /* 0 until decoded (verify off) */
    uint8_t *pixels; /* (h, w) in memory (NIfTI, IDX); NULL = decode `path` */
    uint8_t src_channels, src_depth; /* what the file holds (ImageSource); 0 until decoded */
} DataItem;

typedef struct {
    char *path;
    char *why;
} DataNote;

typedef struct {
    DataLayout layout;
    char *root;            /* the folder or file the layout was read from */
    DataItem *items;
    int n_items;
    char **classes;        /* class names, n_classes of them */
    int n_classes;
    char **patients;       /* the split's groups: patients, or images (see DataGroupBy) */
    int n_patients;
    DataGroupBy grouping;  /* the rule used (never GROUP_AUTO) */
    char *split_rule;      /* how the validation split was made, a newline, "why: ..." */
    int w, h;              /* the common image size */
    DataNote *skipped;     /* bad files left out with skip_bad */
    int n_skipped;
    DataNote *notes;       /* things ignored or worth saying (seg folders, dropped slices, ...) */
    int n_notes;
    void **blocks;         /* memory behind in-memory pixels */
    int n_blocks;
} Dataset;

void data_options_default(DataOptions *o);
Dataset *dataset_open(const char *path, const DataOptions *o);
void dataset_free(Dataset *ds);

/* Items in `split` with `label` (-1: any label); -1 with an error for a NULL dataset. */
int dataset_count(const Dataset *ds, DataSplit split, int label);
/* Patients with at least one item in `split`. */
int dataset_count_patients(const Dataset *ds, DataSplit split);
/* The item's 8-bit gray image: decoded from its file, or a copy of its in-memory pixels. */
int dataset_item_gray(const Dataset *ds, int item, GrayImage *out);
/* The same with `channels` (1 or 3) channels (image.h says how they are converted). */
int dataset_item_image(const Dataset *ds, int item, int channels, Image *out);
/* Decode + geometry (transform steps 1-3) into dst (side x side x tf's channels, side
 * from transform_out_side for the data set's size), with scratch ws (may be NULL).
 * Fails if the image is not w x h. */
int dataset_item_geometry(const Dataset *ds, int item, const DataTransform *tf, uint8_t *dst, TransformWork *ws);

/* Items whose file holds colour (src_channels >= 3), an alpha channel (2 or 4), 16-bit samples. */
void dataset_count_sources(const Dataset *ds, int *colour, int *alpha, int *deep);

/* "image", "prefix", else a pattern: sets o->group_by (and o->group_pattern = s). */
int group_by_parse(const char *s, DataOptions *o);
const char *group_by_name(DataGroupBy g);
const char *layout_name(DataLayout l);
int layout_parse(const char *s, DataLayout *out);
const char *split_name(DataSplit s);
int axis_parse(const char *s, SliceAxis *out);

#endif
