/* train/ldm_train.c — ldm-train: train the VAE, then the U-Net.
 *
 *   ldm-train vae  --preset demo --data /usr/share/mricron/templates/ch2.nii.gz --out out/demo
 *   ldm-train unet --preset demo --data ... --vae out/demo/vae.safetensors --out out/demo
 *
 * Exit status: 0 success, 1 runtime error (data, files, a diverging loss), 2 usage error.
 * See train/train_args.c for every flag (`ldm-train --help`).
 */
#include <stdio.h>

#include "core/error.h"
#include "models/describe.h"
#include "models/patch_disc.h"
#include "train/train_data.h"
#include "train/trainers.h"

int main(int argc, char **argv) {
    TrainArgs a;
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress and notes reach a log file as they happen */
    int rc = train_args_parse(argc, argv, &a);
    if (rc == 1) return 0;
    if (rc == 2) return 2;
    if (rc == 3) { /* --describe */
        ModelConfig cfg;
        if (!a.preset) {
            fprintf(stderr, "ldm-train: --describe needs --preset\n");
            return 2;
        }
        if (train_config(&a, NULL, &cfg)) {
            fprintf(stderr, "ldm-train: %s\n", ldm_last_error());
            return 2;
        }
        describe_config(&cfg, stdout);
        if (a.kind == TRAIN_VAE)
            printf("VAE discriminator (--disc-weight): %s; a PatchGAN of %.2fM parameters when on (models/patch_disc.h)\n",
                   a.disc_weight > 0 ? "on" : "off", disc_param_count(cfg.channels) / 1e6);
        return 0;
    }
    if (a.device == DEV_CUDA && !dev_cuda_available()) {
        fprintf(stderr, "ldm-train: --device cuda: no CUDA device (or this build has no CUDA); use --device cpu\n");
        return 2;
    }
    if (a.device == DEV_CUDA) dev_cuda_announce("ldm-train");
    if (!a.resume) { /* a bad preset or --set is a usage error, found before any work */
        ModelConfig cfg;
        if (train_config(&a, NULL, &cfg)) {
            fprintf(stderr, "ldm-train: %s\nTry 'ldm-train --help'.\n", ldm_last_error());
            return 2;
        }
    }
    rc = a.kind == TRAIN_VAE ? train_vae(&a) : train_unet(&a);
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "ldm-train: %s\n", ldm_last_error());
        return 1;
    }
    return 0;
}
