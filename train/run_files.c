/* train/run_files.c — see run_files.h. */
#include "train/run_files.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/error.h"

/* mkdir -p: every missing folder of the path, parents first. */
static int mkdir_parents(const char *dir) {
    char p[1100];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return ldm_error("output", "folder name too long: %s", dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return ldm_error("output", "cannot create folder %s (for %s): %s", p, dir, strerror(errno));
        *c = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        return ldm_error("output", "cannot create folder %s: %s", dir, strerror(errno));
    return 0;
}

int outdir_prepare(const char *dir, unsigned long long need_bytes) {
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (mkdir_parents(dir)) return -1;
    } else if (!S_ISDIR(st.st_mode)) {
        return ldm_error("output", "%s exists and is not a folder", dir);
    }
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/.ldm_write_test", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ldm_error("output", "folder %s is not writable: %s", dir, strerror(errno));
    close(fd);
    unlink(probe);
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0) {
        unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
        if (avail < need_bytes)
            return ldm_error("output", "only %.1f MB free in %s, the run needs about %.1f MB", avail / 1e6, dir,
                             need_bytes / 1e6);
    }
    return 0;
}

static const char *CSV_HEADER = "step,loss,lr,val_loss,images_per_s,gen_accuracy,gen_fd\n";

int csv_open(CsvLog *log, const char *path, long resume_step) {
    snprintf(log->path, sizeof log->path, "%s", path);
    log->f = NULL;
    if (resume_step >= 0) {
        /* keep the header and the rows with step <= resume_step */
        FILE *in = fopen(path, "r");
        char *kept = NULL;
        size_t kept_len = 0;
        if (in) {
            FILE *mem = open_memstream(&kept, &kept_len);
            char line[512];
            while (mem && fgets(line, sizeof line, in)) {
                char *end;
                long s = strtol(line, &end, 10);
                if (end == line || s <= resume_step) fputs(line, mem);
            }
            fclose(in);
            if (mem) fclose(mem);
        }
        log->f = fopen(path, "w");
        if (log->f && kept) fwrite(kept, 1, kept_len, log->f);
        free(kept);
    } else {
        log->f = fopen(path, "w");
    }
    if (!log->f) return ldm_error("csv", "cannot open %s for writing: %s", path, strerror(errno));
    if (ftell(log->f) == 0) fputs(CSV_HEADER, log->f);
    fflush(log->f);
    return 0;
}

int csv_row(CsvLog *log, long step, double loss, double lr, double val_loss, double images_per_s, double gen_acc,
            double gen_fd) {
    if (!log->f) return ldm_error("csv", "log %s is not open", log->path);
    char v[32] = "", ga[32] = "", gf[32] = "";
    if (!isnan(val_loss)) snprintf(v, sizeof v, "%.9g", val_loss);
    if (!isnan(gen_acc)) snprintf(ga, sizeof ga, "%.6g", gen_acc);
    if (!isnan(gen_fd)) snprintf(gf, sizeof gf, "%.6g", gen_fd);
    if (fprintf(log->f, "%ld,%.9g,%.6g,%s,%.3f,%s,%s\n", step, loss, lr, v, images_per_s, ga, gf) < 0 ||
        fflush(log->f) != 0)
        return ldm_error("csv", "cannot write to %s: %s", log->path, strerror(errno));
    return 0;
}

void csv_close(CsvLog *log) {
    if (log->f) fclose(log->f);
    log->f = NULL;
}

static int push(double **a, int *n, int *cap, double v) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        double *p = realloc(*a, (size_t)nc * sizeof **a);
        if (!p) return -1;
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

int csv_read_losses(const char *path, double **steps, double **loss, int *n_loss, double **vsteps, double **vloss,
                    int *n_val) {
    FILE *f = fopen(path, "r");
    if (!f) return ldm_error("csv", "cannot read %s: %s", path, strerror(errno));
    *steps = *loss = *vsteps = *vloss = NULL;
    *n_loss = *n_val = 0;
    int cap1 = 0, cap1b = 0, cap2 = 0, cap2b = 0, n1b = 0, n2b = 0;
    char line[512];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        long s = strtol(p, &end, 10);
        if (end == p || *end != ',') continue; /* header or junk */
        p = end + 1;
        double l = strtod(p, &end);
        if (end == p || *end != ',') continue;
        p = strchr(end + 1, ',');
        if (!p) continue;
        p++;
        ok |= push(steps, n_loss, &cap1, (double)s) | push(loss, &n1b, &cap1b, l);
        double v = strtod(p, &end);
        if (end != p) ok |= push(vsteps, n_val, &cap2, (double)s) | push(vloss, &n2b, &cap2b, v);
    }
    fclose(f);
    if (ok) return ldm_error("csv", "out of memory reading %s", path);
    return 0;
}

int csv_read_column(const char *path, int col, double **steps, double **vals, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return ldm_error("csv", "cannot read %s: %s", path, strerror(errno));
    *steps = *vals = NULL;
    *n = 0;
    int cap = 0, capb = 0, nb = 0, bad = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        long s = strtol(p, &end, 10);
        if (end == p || *end != ',') continue; /* header or junk */
        for (int c = 0; c < col && p; c++) p = (p = strchr(p, ',')) ? p + 1 : NULL;
        if (!p) continue;
        double v = strtod(p, &end);
        if (end != p) bad |= push(steps, n, &cap, (double)s) | push(vals, &nb, &capb, v);
    }
    fclose(f);
    return bad ? ldm_error("csv", "out of memory reading %s", path) : 0;
}
