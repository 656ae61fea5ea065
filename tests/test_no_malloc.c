/* tests/test_no_malloc.c — a CPU training step (VAE and U-Net: loss, backward, AdamW) and a
 * guided DDIM denoising step allocate nothing once the first step has run: activations and
 * staging buffers come from the arena, kernel scratch from cpu_scratch's grow-only cache.
 *
 * How allocations are counted: this suite is linked with -Wl,--wrap=malloc (and calloc,
 * realloc, aligned_alloc, posix_memalign, free; see the Makefile). --wrap redirects every
 * call to those symbols from the objects in the link, libldm.a included, to the __wrap_
 * functions below, which count and forward to libc. Calls made inside shared libraries
 * (libc itself, libgomp's thread pool, Criterion) are not ours and are not redirected.
 * Every malloc-family call fails, the SGEMM's and conv2d's scratch included.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "kernels/adamw.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/random.h"
#include "models/sampler.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tests/util/testutil.h"

// ----------------------------------------------------------------------------
// the counting wrappers

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_ALIGNED, C_MEMALIGN, C_FREE, C_N };
static atomic_long counts[C_N];

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n) {
    atomic_fetch_add(&counts[C_MALLOC], 1);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t k, size_t n) {
    atomic_fetch_add(&counts[C_CALLOC], 1);
    return __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n) {
    atomic_fetch_add(&counts[C_REALLOC], 1);
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n) {
    atomic_fetch_add(&counts[C_ALIGNED], 1);
    return __real_aligned_alloc(a, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n) {
    atomic_fetch_add(&counts[C_MEMALIGN], 1);
    return __real_posix_memalign(p, a, n);
}
void __wrap_free(void *p) {
    if (p) atomic_fetch_add(&counts[C_FREE], 1);
    __real_free(p);
}

typedef struct {
    long c[C_N], grows;
} Snap;

static Snap snap(void) {
    Snap s;
    for (int i = 0; i < C_N; i++) s.c[i] = atomic_load(&counts[i]);
    s.grows = cpu_scratch_grows();
    return s;
}

/* Allocations between two snapshots: none of any kind, and no scratch growth. */
static void expect_none(const char *what, Snap a, Snap b) {
    long d[C_N];
    for (int i = 0; i < C_N; i++) d[i] = b.c[i] - a.c[i];
    cr_expect_eq(d[C_MALLOC] + d[C_CALLOC] + d[C_REALLOC] + d[C_MEMALIGN] + d[C_ALIGNED] + d[C_FREE], 0,
                 "%s: %ld malloc, %ld calloc, %ld realloc, %ld posix_memalign, %ld aligned_alloc, %ld free", what,
                 d[C_MALLOC], d[C_CALLOC], d[C_REALLOC], d[C_MEMALIGN], d[C_ALIGNED], d[C_FREE]);
    cr_expect_eq(b.grows - a.grows, 0, "%s: cpu_scratch grew %ld times", what, b.grows - a.grows);
}

// ----------------------------------------------------------------------------
// the steps

typedef struct {
    ParamSet m, v;
    AdamWConfig cfg;
    int step;
} Adam;

static void adam_step(Adam *o, ParamSet *ps) {
    o->step++;
    for (int i = 0; i < ps->n; i++)
        cr_assert_eq(adamw_step(ps->p[i].t, o->m.p[i].t, o->v.p[i].t, &o->cfg, o->step, 1.0f), 0);
}

static void adam_init(Adam *o, const ParamSet *ps) {
    cr_assert_eq(ps_clone(&o->m, ps, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_clone(&o->v, ps, DEV_CPU, false, false), 0);
    o->cfg = (AdamWConfig){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    o->step = 0;
}

static void small_config(ModelConfig *cfg) {
    cfg_preset(cfg, "demo");
    const char *kv[] = {"image_size=16", "data_size=16", "vae_ch=8",  "vae_mult=1,2", "vae_groups=4",
                        "unet_ch=16",    "unet_mult=1,2", "unet_res=1", "attn_res=4",   "head_dim=16",
                        "unet_groups=4"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(cfg, kv[i]), 0);
}

Test(no_malloc, vae_training_step) {
    ModelConfig cfg;
    small_config(&cfg);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, true);
    VAE vae;
    cr_assert_eq(vae_init(&vae, &ps, &cfg), 0, "%s", ldm_last_error());
    Adam opt;
    adam_init(&opt, &ps);
    Arena *a = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    Tape tp;
    tape_init(&tp, a);
    Tensor *x = tu_data(4, (int[]){4, 16, 16, 1}, 1, -1, 1);
    Snap before = snap();
    for (int s = 0; s < 3; s++) {
        if (s == 1) before = snap(); /* step 0 warms the caches up */
        arena_reset(a);
        tape_reset(&tp);
        Tensor *noise = tensor_new4(a, DEV_CPU, 4, 8, 8, 4);
        cr_assert_eq(rng_normal(noise, 5, (uint64_t)s * noise->numel), 0);
        VAEOutput o;
        Tensor *loss = vae_loss(&vae, &tp, x, noise, &o);
        cr_assert(loss, "%s", ldm_last_error());
        ps_zero_grad(&ps);
        cr_assert_eq(tape_backward(&tp, loss, NULL), 0, "%s", ldm_last_error());
        adam_step(&opt, &ps);
    }
    expect_none("VAE steps 2-3", before, snap());
    tensor_free(x);
    arena_destroy(a);
    ps_free(&opt.m), ps_free(&opt.v), ps_free(&ps);
}

/* with_dropout: ResBlock dropout on, its masks staged through the arena */
static void unet_steps(bool with_dropout) {
    ModelConfig cfg;
    small_config(&cfg);
    if (with_dropout) cfg.unet_dropout = 0.1f;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 2, true, true);
    UNet unet;
    NoiseSchedule sched;
    cr_assert_eq(unet_init(&unet, &ps, &cfg), 0, "%s", ldm_last_error());
    uint64_t drop_offset = 0;
    DropoutRng drop = {5, &drop_offset};
    if (with_dropout) unet.dropout_rng = &drop;
    cr_assert_eq(schedule_from_config(&sched, &cfg), 0);
    Adam opt;
    adam_init(&opt, &ps);
    Arena *a = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    Tape tp;
    tape_init(&tp, a);
    const int lat = cfg_latent_size(&cfg), lc = cfg.latent_ch;
    Tensor *z0 = tu_data(4, (int[]){4, lat, lat, lc}, 3, -1, 1), *noise = tu_data(4, (int[]){4, lat, lat, lc}, 4, -1, 1);
    Tensor *labels = tu_data(1, (int[]){4}, 5, 0, 1);
    for (int i = 0; i < 4; i++) labels->data[i] = (float)(i % 3);
    const int t[4] = {50, 300, 600, 900};
    Snap before = snap();
    for (int s = 0; s < 3; s++) {
        if (s == 1) before = snap();
        arena_reset(a);
        tape_reset(&tp);
        Tensor *loss = unet_loss(&unet, &tp, &sched, z0, noise, t, labels);
        cr_assert(loss, "%s", ldm_last_error());
        ps_zero_grad(&ps);
        cr_assert_eq(tape_backward(&tp, loss, NULL), 0, "%s", ldm_last_error());
        adam_step(&opt, &ps);
    }
    expect_none(with_dropout ? "U-Net steps 2-3 with dropout" : "U-Net steps 2-3", before, snap());
    if (with_dropout) cr_expect_gt(drop_offset, 0, "the masks were drawn");
    tensor_free(z0), tensor_free(noise), tensor_free(labels);
    schedule_free(&sched);
    arena_destroy(a);
    ps_free(&opt.m), ps_free(&opt.v), ps_free(&ps);
}

Test(no_malloc, unet_training_step) { unet_steps(false); }
Test(no_malloc, unet_training_step_with_dropout) { unet_steps(true); }

// ----------------------------------------------------------------------------
// sampling: the allocations between the callbacks of consecutive steps

static int per_step(void *ctx, int step, int steps, int t, const Tensor *x_t, const Tensor *x0) {
    (void)steps, (void)t, (void)x_t, (void)x0;
    Snap *s = ctx;
    s[step] = snap();
    return 0;
}

Test(no_malloc, guided_ddim_sampling_step) {
    ModelConfig cfg;
    small_config(&cfg);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 2, true, true);
    UNet unet;
    NoiseSchedule sched;
    cr_assert_eq(unet_init(&unet, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(schedule_from_config(&sched, &cfg), 0);
    Arena *a = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    Tape tp;
    tape_init(&tp, a);
    const int lat = cfg_latent_size(&cfg), lc = cfg.latent_ch, labels[2] = {0, 2};
    Tensor *x = tensor_new4(NULL, DEV_CPU, 2, lat, lat, lc);
    cr_assert_eq(sample_init_noise(x, 7), 0);
    enum { STEPS = 4 };
    Snap at[STEPS];
    SamplerOpts o = {.kind = SAMPLER_DDIM, .steps = STEPS, .eta = 0.5f, .guidance = 3.0f, .seed = 1,
                     .null_label = cfg.num_classes, .callback = per_step, .callback_ctx = at};
    cr_assert_eq(sample(&sched, unet_eps, &unet, &tp, x, labels, &o), 0, "%s", ldm_last_error());
    expect_none("DDIM steps 2-4 (guided, eta 0.5)", at[1], at[STEPS - 1]);
    tensor_free(x);
    schedule_free(&sched);
    arena_destroy(a);
    ps_free(&ps);
}
