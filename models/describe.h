/* models/describe.h — human-readable summaries of configurations, for --help and
 * --describe: the geometry (image -> latent -> U-Net resolutions) and parameter counts. */
#ifndef LDM_MODELS_DESCRIBE_H
#define LDM_MODELS_DESCRIBE_H

#include <stdio.h>

#include "models/config.h"

/* One line: "demo      64x64x1 -> latent 4x16x16, 3 classes; VAE 0.24M, U-Net 1.26M params" */
void describe_line(const ModelConfig *cfg, FILE *f);
/* describe_line for every preset. */
void describe_presets(FILE *f);
/* describe_line, the U-Net resolutions with attention, then every field (cfg_describe). */
void describe_config(const ModelConfig *cfg, FILE *f);

#endif
