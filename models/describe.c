/* models/describe.c — see describe.h. */
#include "models/describe.h"

#include "models/unet.h"
#include "models/vae.h"

void describe_line(const ModelConfig *c, FILE *f) {
    int s = cfg_latent_size(c);
    fprintf(f, "%-9s %dx%dx%d -> latent %dx%dx%d (f%d), ", c->preset, c->image_size, c->image_size, c->channels,
            c->latent_ch, s, s, cfg_vae_factor(c));
    if (c->num_classes) fprintf(f, "%d classes (%s)", c->num_classes, c->class_names);
    else fprintf(f, "unconditional");
    fprintf(f, "; VAE %.2fM, U-Net %.2fM params\n", vae_param_count(c) / 1e6, unet_param_count(c) / 1e6);
}

void describe_presets(FILE *f) {
    static const char *const names[] = {"adni", "oasis", "demo", "fashion"};
    for (int i = 0; i < 4; i++) {
        ModelConfig c;
        if (!cfg_preset(&c, names[i])) describe_line(&c, f);
    }
}

void describe_config(const ModelConfig *c, FILE *f) {
    describe_line(c, f);
    int s = cfg_latent_size(c);
    fprintf(f, "U-Net levels:");
    for (int i = 0; i < c->unet_levels; i++)
        fprintf(f, " %dx%d:%d%s", s >> i, s >> i, c->unet_ch * c->unet_mult[i], cfg_has_attn(c, s >> i) ? "+attn" : "");
    fprintf(f, ", middle %dx%d+attn\n", s >> (c->unet_levels - 1), s >> (c->unet_levels - 1));
    cfg_describe(c, f);
}
