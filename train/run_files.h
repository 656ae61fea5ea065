/* train/run_files.h — the files a training run writes beside its checkpoints:
 * the output folder check done before any training starts, and the CSV log.
 *
 * CSV columns: step,loss,lr,val_loss,images_per_s,gen_accuracy,gen_fd (val_loss empty when
 * not measured; gen_* empty but at the U-Net's --eval-every steps: the classifier's accuracy
 * on images sampled with the EMA weights and their Fréchet distance to held-out images).
 * On resume the log is cut back to the checkpoint's step, so the CSV of a resumed run
 * equals the CSV of an uninterrupted one. */
#ifndef LDM_TRAIN_RUN_FILES_H
#define LDM_TRAIN_RUN_FILES_H

#include <stdio.h>

/* Creates `dir` (one level) if missing, checks that a file can be created in it and
 * that at least `need_bytes` are free on its file system. -1 with an error naming the
 * folder otherwise. */
int outdir_prepare(const char *dir, unsigned long long need_bytes);

typedef struct {
    FILE *f;
    char path[1024];
} CsvLog;

/* Opens path for appending; with resume_step >= 0, first drops every row whose step is
 * greater than resume_step (the rows written after the checkpoint being resumed);
 * with resume_step < 0 truncates. Writes the header when the file is empty. */
int csv_open(CsvLog *log, const char *path, long resume_step);
/* val_loss, gen_acc, gen_fd NAN leave their columns empty. Flushed after each row. */
int csv_row(CsvLog *log, long step, double loss, double lr, double val_loss, double images_per_s, double gen_acc,
            double gen_fd);
void csv_close(CsvLog *log);

/* Reads the (step, loss) and (step, val_loss) columns back, for the loss plot.
 * Arrays are malloc'd (caller frees); counts through n_loss / n_val. */
int csv_read_losses(const char *path, double **steps, double **loss, int *n_loss, double **vsteps, double **vloss,
                    int *n_val);

/* The (step, value) pairs of column `col` (0 = step) where it holds a number. */
int csv_read_column(const char *path, int col, double **steps, double **vals, int *n);

#endif
