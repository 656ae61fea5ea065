/* tests/test_split.c — the validation split (data/split.c) on hand-built data sets:
 *   - the per-class shares follow the largest-remainder rule (floors of the
 *     proportional shares, then one more for the classes with the largest remainders);
 *   - the seeded Fisher-Yates shuffle picks every patient of a class equally often over
 *     many seeds (a shuffle that never leaves an element in place, Sattolo's, never picks
 *     the first patient);
 *   - whole patients move, and a patient with items in another split never does. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_build.h"

#define MAX_P 32

typedef struct {
    Dataset ds;
    DataItem items[2 * MAX_P];
    char *names[MAX_P];
    char buf[MAX_P][8];
} Fixture;

/* class_of[p] for np patients, two items each, all in SPLIT_TRAIN */
static void build(Fixture *f, int np, const int *class_of, int n_classes) {
    memset(f, 0, sizeof *f);
    for (int p = 0; p < np; p++) {
        snprintf(f->buf[p], sizeof f->buf[p], "p%02d", p);
        f->names[p] = f->buf[p];
        for (int k = 0; k < 2; k++)
            f->items[2 * p + k] = (DataItem){.index = -1, .label = class_of[p], .patient = p, .split = SPLIT_TRAIN};
    }
    f->ds.items = f->items;
    f->ds.n_items = 2 * np;
    f->ds.patients = f->names;
    f->ds.n_patients = np;
    f->ds.n_classes = n_classes;
}

/* val patients per class into per_class[], and whether each patient moved whole */
static void count_val(const Fixture *f, int *per_class, int n_classes, bool *val) {
    for (int c = 0; c < n_classes; c++) per_class[c] = 0;
    for (int p = 0; p < f->ds.n_patients; p++) {
        bool a = f->items[2 * p].split == SPLIT_VAL, b = f->items[2 * p + 1].split == SPLIT_VAL;
        cr_expect_eq(a, b, "patient %d split between train and val", p);
        val[p] = a;
        if (a) per_class[f->items[2 * p].label]++;
    }
}

Test(split, shares_follow_the_largest_remainder_rule) {
    /* 10 patients: 5 of class 0, 3 of class 1, 2 of class 2; 3 to validation.
     * Shares 1.5, 0.9, 0.6 -> floors 1, 0, 0; the two extra go to the largest remainders,
     * 0.9 and 0.6: (1, 1, 1). */
    const int cls[10] = {0, 1, 0, 2, 0, 1, 0, 2, 1, 0};
    Fixture f;
    build(&f, 10, cls, 3);
    cr_assert_eq(split_validation(&f.ds, SPLIT_TRAIN, 3, 7), 0);
    int per[3];
    bool val[10];
    count_val(&f, per, 3, val);
    cr_expect(per[0] == 1 && per[1] == 1 && per[2] == 1, "val patients per class (%d, %d, %d), want (1, 1, 1)", per[0],
              per[1], per[2]);
    /* 6 of 10: 3, 1.8, 1.2 -> 3, 1, 1 + one for the remainder 0.8: (3, 2, 1) */
    build(&f, 10, cls, 3);
    cr_assert_eq(split_validation(&f.ds, SPLIT_TRAIN, 6, 7), 0);
    count_val(&f, per, 3, val);
    cr_expect(per[0] == 3 && per[1] == 2 && per[2] == 1, "val patients per class (%d, %d, %d), want (3, 2, 1)", per[0],
              per[1], per[2]);
}

Test(split, every_patient_is_picked_equally_often) {
    /* one class of 4 patients, 1 to validation, over 400 seeds: each ~100 times
     * (binomial sd 8.7; the bound is 5 sd) */
    const int cls[4] = {0, 0, 0, 0};
    int hits[4] = {0};
    for (uint64_t seed = 0; seed < 400; seed++) {
        Fixture f;
        build(&f, 4, cls, 1);
        cr_assert_eq(split_validation(&f.ds, SPLIT_TRAIN, 1, seed), 0);
        int per[1];
        bool val[4];
        count_val(&f, per, 1, val);
        cr_assert_eq(per[0], 1);
        for (int p = 0; p < 4; p++) hits[p] += val[p];
    }
    printf("validation picks over 400 seeds: %d %d %d %d\n", hits[0], hits[1], hits[2], hits[3]);
    for (int p = 0; p < 4; p++)
        cr_expect(fabs(hits[p] - 100.0) <= 5 * sqrt(400 * 0.25 * 0.75), "patient %d: %d", p, hits[p]);
}

Test(split, patients_in_another_split_stay) {
    const int cls[6] = {0, 0, 0, 1, 1, 1};
    Fixture f;
    build(&f, 6, cls, 2);
    f.items[2 * 0 + 1].split = SPLIT_TEST; /* patients 0 and 3 also have a test item */
    f.items[2 * 3 + 1].split = SPLIT_TEST;
    for (uint64_t seed = 0; seed < 20; seed++) {
        for (int i = 0; i < f.ds.n_items; i++)
            if (f.items[i].split == SPLIT_VAL) f.items[i].split = SPLIT_TRAIN;
        cr_assert_eq(split_validation(&f.ds, SPLIT_TRAIN, 4, seed), 0);
        cr_expect_eq(f.items[0].split, SPLIT_TRAIN, "seed %llu: patient 0 moved", (unsigned long long)seed);
        cr_expect_eq(f.items[6].split, SPLIT_TRAIN, "seed %llu: patient 3 moved", (unsigned long long)seed);
        int n_val = 0;
        for (int i = 0; i < f.ds.n_items; i++) n_val += f.items[i].split == SPLIT_VAL;
        cr_expect_eq(n_val, 8, "seed %llu: 4 whole patients of 2 items", (unsigned long long)seed);
    }
}
