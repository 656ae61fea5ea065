/* train/loss_plot.h — the loss curve of a run as a PNG, drawn from its CSV log:
 * the per-step training loss (light), its running mean over ~2% of the run (dark), and
 * the validation loss (orange) when there is one; log-scaled y axis. With sample
 * evaluations in the CSV (ldm-train unet --eval-every), a row of two charts under it: the
 * classifier's accuracy on the samples and their Fréchet distance, against the step. */
#ifndef LDM_TRAIN_LOSS_PLOT_H
#define LDM_TRAIN_LOSS_PLOT_H

int loss_plot_write(const char *csv_path, const char *png_path, const char *title);

#endif
