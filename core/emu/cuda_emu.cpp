/* core/emu/cuda_emu.cpp — the CUDA emulator's runtime: devices, memory, launches, the
 * scheduler of a block's threads, and the checks (see core/emu/cuda_emu.h for the model).
 *
 * Built WITHOUT instrumentation: the kernel code (the .cu files, built with
 * -fsanitize=thread and -fsanitize=alignment) calls the hooks defined at the end of this
 * file on every load and store, and libtsan / libubsan are never linked.
 *
 * Environment:
 *   LDM_EMU_SEED=n       order of blocks and threads (default 1)
 *   LDM_EMU_CHECK=0      skip the per-access checks (about 5x faster; barriers and
 *                        shuffles are still checked)
 *   LDM_EMU_ABORT=1      abort() at the first fault (in gdb: the faulting thread's stack)
 *   LDM_EMU_STICKY=1     faults stay, as on a GPU, until the process ends
 *   LDM_EMU_NO_DEVICE=1  report no device (cudaErrorNoDevice)
 *   LDM_EMU_DEVICE_ERROR=n  device queries fail with CUDA error n (100: no device)
 *   LDM_EMU_QUIET=1      do not print fault reports (they are still returned)
 */
#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#include <map>
#include <unordered_map>
#include <mutex>
#include <string>
#include <vector>

#include "core/emu/cuda_emu.h"

extern "C" char __executable_start, end; /* the program image: code, constants, __device__ data */

/* For gdb: the running thread's linear id in its block and the block's linear id in the grid
 * (`condition 1 ldm_emu_thread == 37 && ldm_emu_block == 2`); -1 outside kernels. */
extern "C" {
volatile int ldm_emu_thread = -1;
volatile long ldm_emu_block = -1;
}

namespace {

// ---------------------------------------------------------------------------------
// configuration and errors

struct Config {
    bool inited = false;
    int check = 1, abort_at_fault = 0, sticky = 0, quiet = 0, no_device = 0, device_error = 0;
    unsigned long long seed = 1;
};
Config g_cfg;

int env_int(const char *name, int dflt) {
    const char *e = getenv(name);
    return e && e[0] ? atoi(e) : dflt;
}

std::mutex g_mu;
cudaError_t g_pending = cudaSuccess; /* returned (once, unless sticky) by the next query */
cudaError_t g_sticky_err = cudaSuccess;
std::string g_report;      /* the last fault report */
std::string g_err_detail;  /* what cudaGetErrorString adds for g_pending */
int g_nreports = 0;

void init() {
    if (g_cfg.inited) return;
    g_cfg.inited = true;
    g_cfg.check = env_int("LDM_EMU_CHECK", 1);
    g_cfg.abort_at_fault = env_int("LDM_EMU_ABORT", 0);
    g_cfg.sticky = env_int("LDM_EMU_STICKY", 0);
    g_cfg.quiet = env_int("LDM_EMU_QUIET", 0);
    g_cfg.no_device = env_int("LDM_EMU_NO_DEVICE", 0);
    g_cfg.device_error = env_int("LDM_EMU_DEVICE_ERROR", 0);
    const char *s = getenv("LDM_EMU_SEED");
    if (s && s[0]) g_cfg.seed = strtoull(s, NULL, 0);
}

void set_error(cudaError_t e, const std::string &detail) {
    g_pending = e;
    g_err_detail = detail;
    if (g_cfg.sticky && e != cudaErrorInvalidConfiguration && e != cudaErrorInvalidValue &&
        e != cudaErrorMemoryAllocation)
        g_sticky_err = e;
}

/* The error a synchronising call returns: the sticky one, else the pending one (cleared). */
cudaError_t take_error() {
    if (g_sticky_err != cudaSuccess) return g_sticky_err;
    cudaError_t e = g_pending;
    g_pending = cudaSuccess;
    return e;
}

uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------
// device memory: every allocation is recorded, so each access can be checked

std::map<uintptr_t, size_t> g_allocs; /* base -> bytes */
size_t g_alloc_total = 0;
uintptr_t g_hit_base = 0, g_hit_size = 0; /* the allocation of the last good access (cleared by cudaFree) */
const size_t DEVICE_BYTES = (size_t)80 << 30; /* an H100's 80 GB */

/* The allocation holding [a, a+n), or the nearest one below a (for the report). */
bool find_alloc(uintptr_t a, uintptr_t *base, size_t *size) {
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return false;
    --it;
    *base = it->first;
    *size = it->second;
    return true;
}

bool device_range(const void *p, size_t n) {
    uintptr_t base;
    size_t size;
    const uintptr_t a = (uintptr_t)p;
    return find_alloc(a, &base, &size) && a - base <= size && n <= size - (a - base);
}

// ---------------------------------------------------------------------------------
// the execution state of the launch in progress

enum FiberState { RUNNABLE, AT_BARRIER, AT_WARP, EXITED };

const size_t STACK_BYTES = 256 * 1024;
const size_t DYN_SMEM_MAX = 227 * 1024;   /* sm_90 opt-in maximum per block */
const size_t DYN_SMEM_DEFAULT = 48 * 1024;

/* Switching between a block's threads. On x86-64 a few instructions (callee-saved registers
 * and the stack pointer); elsewhere ucontext, whose swapcontext also makes a system call. */
#if defined(__x86_64__)
#define LDM_EMU_FAST_SWITCH 1
struct Ctx {
    void *sp;
};
extern "C" void ldm_emu_switch(void **save_sp, void *load_sp);
asm(".text\n"
    ".globl ldm_emu_switch\n"
    ".type ldm_emu_switch,@function\n"
    "ldm_emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size ldm_emu_switch, .-ldm_emu_switch\n");
inline void ctx_switch(Ctx *from, Ctx *to) { ldm_emu_switch(&from->sp, to->sp); }
#else
struct Ctx {
    ucontext_t uc;
};
inline void ctx_switch(Ctx *from, Ctx *to) { swapcontext(&from->uc, &to->uc); }
#endif

struct Fiber {
    Ctx ctx;
    char *stack;
    uint3 tid;
    int lin, state;
    const char *file; /* where it waits */
    int line;
    int kind, src, width; /* warp op */
    unsigned mask;
    unsigned long long val, res;
};

/* One word (4 bytes) of shared memory: who wrote and read it since the last barrier. */
struct Shadow {
    uint32_t gen;          /* block generation that last touched it (older: never written) */
    uint32_t wepoch, repoch;
    uint16_t writer, reader;
    uint8_t written, multi, rvalid, atomic;
};

struct Exec {
    std::vector<Fiber> fibers;
    Ctx sched;
#ifndef LDM_EMU_FAST_SWITCH
    ucontext_t base_ctx;
#endif
    Fiber *cur = nullptr;
    bool on_fiber = false;
    /* launch */
    std::string name;
    const char *file = "";
    int line = 0;
    dim3 grid, block;
    uint3 bid{0, 0, 0};
    size_t smem = 0;
    int nthreads = 0;
    void (*body)(void *) = nullptr;
    void *params = nullptr;
    uintptr_t params_lo = 0;
    size_t params_n = 0;
    bool abort_launch = false;
    cudaError_t err = cudaSuccess;
    uint32_t epoch = 0, gen = 0;
    std::vector<int> order;
    uint64_t rng = 1;
    /* shared memory */
    char *dyn = nullptr;
    uintptr_t tls_lo = 0;
    size_t tls_n = 0;
    std::vector<Shadow> sh_dyn, sh_tls;
};
Exec g_x;
thread_local bool t_in_kernel = false;
thread_local char t_probe; /* a thread-local of this executable: locates its TLS block */

std::map<const void *, int> g_max_dyn;     /* cudaFuncAttributeMaxDynamicSharedMemorySize */
std::map<const void *, std::string> g_names;

/* "const char* ldm_emu::kernel_pretty() [with auto F = ew_kernel<{anonymous}::AxpyOp>]"
 * -> "ew_kernel<AxpyOp>" */
std::string clean_name(const char *pretty, const char *expr) {
    const char *p = strstr(pretty, "auto F = ");
    if (!p) return expr;
    std::string s(p + 9);
    if (!s.empty() && s.back() == ']') s.pop_back();
    if (!s.empty() && s[0] == '&') s.erase(0, 1);
    for (size_t i; (i = s.find("{anonymous}::")) != std::string::npos;) s.erase(i, 13);
    return s;
}

/* Find this thread's static TLS block (the executable's __shared__ variables live there). */
struct TlsFind {
    size_t memsz = 0, align = 1;
};
int tls_cb(struct dl_phdr_info *info, size_t, void *data) {
    TlsFind *t = (TlsFind *)data;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS) {
            t->memsz = info->dlpi_phdr[i].p_memsz;
            t->align = info->dlpi_phdr[i].p_align ? info->dlpi_phdr[i].p_align : 1;
        }
    return 1; /* the first object is the executable */
}

void locate_tls() {
    TlsFind t;
    dl_iterate_phdr(tls_cb, &t);
    const uintptr_t tp = (uintptr_t)__builtin_thread_pointer(), probe = (uintptr_t)&t_probe;
    const size_t rounded = (t.memsz + t.align - 1) / t.align * t.align;
    uintptr_t lo;
#if defined(__x86_64__) || defined(__i386__)
    lo = tp - rounded; /* variant II: the executable's block ends at the thread pointer */
#else
    lo = tp + ((16 + t.align - 1) / t.align * t.align); /* variant I (aarch64) */
#endif
    if (t.memsz == 0 || probe < lo || probe >= lo + t.memsz) {
        fprintf(stderr, "ldm-emu: cannot locate the TLS block (static __shared__ variables); aborting\n");
        abort();
    }
    g_x.tls_lo = lo;
    g_x.tls_n = t.memsz;
    g_x.sh_tls.assign((t.memsz + 3) / 4, Shadow{});
}

// ---------------------------------------------------------------------------------
// fault reports

std::string symbolize(void *pc) {
    Dl_info info;
    if (!pc || !dladdr(pc, &info) || !info.dli_fname) return "";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "addr2line -C -f -i -p -e '%s' 0x%lx 2>/dev/null", info.dli_fname,
             (unsigned long)((uintptr_t)pc - 1 - (uintptr_t)info.dli_fbase));
    FILE *f = popen(cmd, "r");
    if (!f) return "";
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    for (size_t i; (i = out.find('\n')) != std::string::npos;) out.replace(i, 1, "; ");
    if (out.find("??") == 0) return "";
    return out;
}

std::string thread_str(int lin) {
    const dim3 b = g_x.block;
    char s[64];
    snprintf(s, sizeof s, "(%d,%d,%d)", (int)(lin % b.x), (int)(lin / b.x % b.y), (int)(lin / (b.x * b.y)));
    return s;
}

/* Records a fault of the running launch. On a fiber it never returns: the launch stops. */
void fault(cudaError_t code, void *pc, const char *where, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char head[512];
    if (g_x.cur)
        snprintf(head, sizeof head, "kernel %s block (%u,%u,%u) thread %s", g_x.name.c_str(), g_x.bid.x, g_x.bid.y,
                 g_x.bid.z, thread_str(g_x.cur->lin).c_str());
    else
        snprintf(head, sizeof head, "kernel %s block (%u,%u,%u)", g_x.name.c_str(), g_x.bid.x, g_x.bid.y, g_x.bid.z);
    std::string src = where ? std::string(where) : symbolize(pc);
    std::string rep = std::string(head) + ": " + what;
    if (!src.empty()) rep += " [at " + src + "]";
    char launched[512];
    snprintf(launched, sizeof launched, " (launched at %s:%d, grid (%u,%u,%u), block (%u,%u,%u))", g_x.file, g_x.line,
             g_x.grid.x, g_x.grid.y, g_x.grid.z, g_x.block.x, g_x.block.y, g_x.block.z);
    rep += launched;
    g_report = rep;
    g_nreports++;
    if (!g_cfg.quiet || g_cfg.abort_at_fault) fprintf(stderr, "ldm-emu: %s\n", rep.c_str());
    if (g_cfg.abort_at_fault) abort();
    if (g_x.err == cudaSuccess) g_x.err = code;
    g_x.abort_launch = true;
    if (g_x.on_fiber) {
        ctx_switch(&g_x.cur->ctx, &g_x.sched);
        abort(); /* never resumed */
    }
}

// ---------------------------------------------------------------------------------
// the access checks

/* off: byte offset in the region (dynamic buffer or TLS block); base: its address. */
void shared_access(std::vector<Shadow> &sh, size_t off, unsigned n, bool write, bool atomic, const char *space,
                   void *pc) {
    const int me = g_x.cur->lin;
    const bool dyn = space[0] == 'd';
    char where[96];
    for (size_t w = off / 4; w <= (off + n - 1) / 4; w++) {
        Shadow &s = sh[w];
        auto W = [&]() -> const char * { /* formatted only for a report */
            if (dyn) snprintf(where, sizeof where, "dynamic shared memory byte %zu", w * 4);
            else snprintf(where, sizeof where, "static shared memory at %p", (void *)(g_x.tls_lo + w * 4));
            return where;
        };
        if (s.gen != g_x.gen) {
            s = Shadow{};
            s.gen = g_x.gen;
        }
        const bool same_epoch_w = s.written && s.wepoch == g_x.epoch;
        if (write) {
            if (!atomic && same_epoch_w && s.writer != me && !s.atomic)
                fault(cudaErrorLaunchFailure, pc, nullptr,
                      "shared-memory race: write-after-write on %s by threads %s and %s with no barrier between",
                      W(), thread_str(s.writer).c_str(), thread_str(me).c_str());
            if (!atomic && s.rvalid && s.repoch == g_x.epoch && (s.reader != me || s.multi)) {
                const int other = s.reader != me ? s.reader : -1;
                fault(cudaErrorLaunchFailure, pc, nullptr,
                      "shared-memory race: write by thread %s to %s that thread %s read since the last barrier",
                      thread_str(me).c_str(), W(), other >= 0 ? thread_str(other).c_str() : "(another)");
            }
            s.written = 1;
            s.wepoch = g_x.epoch;
            s.writer = (uint16_t)me;
            s.atomic = atomic;
        } else {
            if (!s.written)
                fault(cudaErrorLaunchFailure, pc, nullptr,
                      "read of %s, which no thread of this block has written", W());
            if (!atomic && same_epoch_w && s.writer != me && !s.atomic)
                fault(cudaErrorLaunchFailure, pc, nullptr,
                      "shared-memory race: thread %s reads %s that thread %s wrote with no barrier between",
                      thread_str(me).c_str(), W(), thread_str(s.writer).c_str());
            if (!s.rvalid || s.repoch != g_x.epoch) {
                s.rvalid = 1;
                s.repoch = g_x.epoch;
                s.reader = (uint16_t)me;
                s.multi = 0;
            } else if (s.reader != me) {
                s.multi = 1;
            }
        }
    }
}

/* Global memory written during the launch in progress: half-word (2 bytes, so that bf16 elements
 * written by neighbouring threads are not one word) -> who wrote it. A half-word written by
 * one block and read or written by another in the same launch is a race (blocks run in any
 * order, concurrently); within a block, by two threads between two barriers. */
struct GlobalWrite {
    uint64_t block;
    uint32_t epoch;
    uint16_t thread;
    uint8_t atomic;
};
std::unordered_map<uintptr_t, GlobalWrite> g_gwrites;

std::string block_str(uint64_t lin) {
    const dim3 g = g_x.grid;
    char s[64];
    snprintf(s, sizeof s, "(%u,%u,%u)", (unsigned)(lin % g.x), (unsigned)(lin / g.x % g.y),
             (unsigned)(lin / ((uint64_t)g.x * g.y)));
    return s;
}

void global_race_check(uintptr_t a, unsigned n, bool write, bool atomic, void *pc) {
    const uint64_t blk = g_x.bid.x + (uint64_t)g_x.grid.x * (g_x.bid.y + (uint64_t)g_x.grid.y * g_x.bid.z);
    const uint16_t me = (uint16_t)g_x.cur->lin;
    for (uintptr_t w = a & ~(uintptr_t)1; w < a + n; w += 2) {
        auto it = g_gwrites.find(w);
        if (it != g_gwrites.end()) {
            const GlobalWrite &o = it->second;
            const bool other = o.block != blk || (o.thread != me && o.epoch == g_x.epoch);
            if (other && !(atomic && o.atomic))
                fault(cudaErrorLaunchFailure, pc, nullptr,
                      "global-memory race: thread %s %s %p, which thread %s of block %s wrote in this launch%s",
                      thread_str(me).c_str(), write ? "writes" : "reads", (void *)w, thread_str(o.thread).c_str(),
                      block_str(o.block).c_str(), o.block != blk ? " (blocks are not ordered)" : " with no barrier between");
        }
        if (write) g_gwrites[w] = GlobalWrite{blk, g_x.epoch, me, (uint8_t)atomic};
    }
}

void check_access(uintptr_t a, unsigned n, bool write, bool atomic, void *pc) {
    const char *rw = atomic ? "atomic" : write ? "write" : "read";
    if ((n == 2 || n == 4 || n == 8 || n == 16) && (a & (n - 1)))
        fault(cudaErrorMisalignedAddress, pc, nullptr, "misaligned %u-byte %s at %p (address %% %u = %u)", n, rw,
              (void *)a, n, (unsigned)(a & (n - 1)));
    if (a - (uintptr_t)g_x.dyn < DYN_SMEM_MAX) {
        const size_t off = a - (uintptr_t)g_x.dyn;
        if (off + n > g_x.smem)
            fault(cudaErrorIllegalAddress, pc, nullptr,
                  "out-of-bounds dynamic shared memory %s: bytes [%zu, %zu) of the %zu launched", rw, off, off + n,
                  g_x.smem);
        shared_access(g_x.sh_dyn, off, n, write, atomic, "dynamic shared", pc);
        return;
    }
    if (a - g_x.tls_lo < g_x.tls_n) {
        shared_access(g_x.sh_tls, a - g_x.tls_lo, n, write, atomic, "static shared", pc);
        return;
    }
    if (a - g_hit_base < g_hit_size && a + n <= g_hit_base + g_hit_size) {
        global_race_check(a, n, write, atomic, pc);
        return;
    }
    uintptr_t base;
    size_t size;
    if (find_alloc(a, &base, &size)) {
        if (a + n <= base + size) {
            g_hit_base = base;
            g_hit_size = size;
            global_race_check(a, n, write, atomic, pc);
            return;
        }
        if (a < base + size + 65536)
            fault(cudaErrorIllegalAddress, pc, nullptr,
                  "out-of-bounds global %s of %u bytes at %p: offset %zu of a %zu-byte allocation at %p", rw, n,
                  (void *)a, (size_t)(a - base), size, (void *)base);
    }
    if (a >= (uintptr_t)&__executable_start && a < (uintptr_t)&end) return; /* __device__ variable, constant */
    fault(cudaErrorIllegalAddress, pc, nullptr,
          "%s of %u bytes at %p: not device memory (host memory, a freed allocation, or another thread's locals)",
          rw, n, (void *)a);
}

inline void on_access(void *addr, unsigned n, bool write, void *pc) {
    if (!t_in_kernel || !g_cfg.check) return;
    const uintptr_t a = (uintptr_t)addr;
    if (a - (uintptr_t)g_x.cur->stack < STACK_BYTES) return; /* the thread's own locals */
    if (a - g_x.params_lo < g_x.params_n) return;             /* kernel parameters */
    check_access(a, n, write, false, pc);
}

// ---------------------------------------------------------------------------------
// the scheduler: a block's threads as fibers

/* A thread's life: the kernel, then back to the scheduler for good. */
void fiber_entry() {
    Fiber *f = g_x.cur;
    g_x.body(g_x.params);
    f->state = EXITED;
    ctx_switch(&f->ctx, &g_x.sched);
    abort(); /* an exited thread is never resumed */
}

void yield_to_scheduler() {
    Fiber *f = g_x.cur;
    ctx_switch(&f->ctx, &g_x.sched);
}

void shuffle_order() {
    std::vector<int> &o = g_x.order;
    for (int i = (int)o.size() - 1; i > 0; i--) {
        int j = (int)(splitmix(&g_x.rng) % (uint64_t)(i + 1));
        std::swap(o[i], o[j]);
    }
}

const char *kind_name(int k) {
    static const char *n[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
                              "__ballot_sync", "__any_sync",     "__all_sync",       "__syncwarp"};
    return k >= 0 && k < 8 ? n[k] : "warp op";
}
const int SYNCWARP = 7;

/* Completes the warp ops of warp w whose lanes have all arrived. */
void try_complete_warp(int w) {
    const int n = g_x.nthreads;
    for (int l0 = 0; l0 < 32 && w * 32 + l0 < n; l0++) {
        Fiber &f0 = g_x.fibers[w * 32 + l0];
        if (f0.state != AT_WARP) continue;
        const unsigned m = f0.mask;
        bool all = true;
        for (int l = 0; l < 32; l++) {
            if (!(m >> l & 1)) continue;
            Fiber &f = g_x.fibers[w * 32 + l];
            if (f.state == EXITED) {
                g_x.cur = &f0;
                fault(cudaErrorLaunchFailure, nullptr, nullptr,
                      "%s at %s:%d by lane %d: mask 0x%08x names lane %d, which has exited", kind_name(f0.kind),
                      f0.file, f0.line, l0, m, l);
                return;
            }
            if (f.state != AT_WARP) {
                all = false;
                break;
            }
            if (f.mask != m || f.kind != f0.kind || f.line != f0.line || strcmp(f.file, f0.file)) {
                fault(cudaErrorLaunchFailure, nullptr, nullptr,
                      "warp %d: lane %d is in %s at %s:%d (mask 0x%08x) while lane %d is in %s at %s:%d (mask "
                      "0x%08x)",
                      w, l0, kind_name(f0.kind), f0.file, f0.line, m, l, kind_name(f.kind), f.file, f.line, f.mask);
                return;
            }
        }
        if (!all) continue;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++)
            if (m >> l & 1 && g_x.fibers[w * 32 + l].val) ballot |= 1u << l;
        for (int l = 0; l < 32; l++) {
            if (!(m >> l & 1)) continue;
            Fiber &f = g_x.fibers[w * 32 + l];
            const int width = f.width, seg = l / width * width;
            int s = l;
            switch (f.kind) {
            case ldm_emu::SHFL_IDX: s = seg + ((f.src % width) + width) % width; break;
            case ldm_emu::SHFL_UP: s = l - f.src >= seg ? l - f.src : l; break;
            case ldm_emu::SHFL_DOWN: s = l + f.src < seg + width ? l + f.src : l; break;
            case ldm_emu::SHFL_XOR: s = (l ^ f.src) / width == l / width ? (l ^ f.src) : l; break;
            default: break;
            }
            if (f.kind <= ldm_emu::SHFL_XOR) {
                if (!(m >> s & 1) || w * 32 + s >= n) {
                    g_x.cur = &f;
                    fault(cudaErrorLaunchFailure, nullptr, nullptr,
                          "%s at %s:%d: lane %d reads lane %d, which is not in the mask 0x%08x", kind_name(f.kind),
                          f.file, f.line, l, s, m);
                    return;
                }
                f.res = g_x.fibers[w * 32 + s].val;
            } else if (f.kind == ldm_emu::VOTE_BALLOT) {
                f.res = ballot;
            } else if (f.kind == ldm_emu::VOTE_ANY) {
                f.res = ballot != 0;
            } else if (f.kind == ldm_emu::VOTE_ALL) {
                f.res = ballot == m;
            }
        }
        for (int l = 0; l < 32; l++)
            if (m >> l & 1) g_x.fibers[w * 32 + l].state = RUNNABLE;
    }
}

std::string where_waits(const Fiber &f) {
    char s[512];
    if (f.state == EXITED) return "exited";
    if (f.state == AT_BARRIER) snprintf(s, sizeof s, "at __syncthreads %s:%d", f.file, f.line);
    else if (f.state == AT_WARP) snprintf(s, sizeof s, "in %s at %s:%d (mask 0x%08x)", kind_name(f.kind), f.file, f.line, f.mask);
    else snprintf(s, sizeof s, "running");
    return s;
}

/* Called when no thread can run: release a barrier every live thread reached, else fault. */
void no_runnable() {
    const int n = g_x.nthreads;
    int at_bar = 0, exited = 0, first_bar = -1, first_exit = -1, first_warp = -1;
    for (int i = 0; i < n; i++) {
        const Fiber &f = g_x.fibers[i];
        if (f.state == AT_BARRIER) at_bar++, first_bar = first_bar < 0 ? i : first_bar;
        else if (f.state == EXITED) exited++, first_exit = first_exit < 0 ? i : first_exit;
        else if (f.state == AT_WARP) first_warp = first_warp < 0 ? i : first_warp;
    }
    if (first_warp >= 0) {
        const Fiber &f = g_x.fibers[first_warp];
        int missing = -1;
        for (int l = 0; l < 32; l++) {
            const int t = (first_warp & ~31) + l;
            if (f.mask >> l & 1 && t < n && g_x.fibers[t].state != AT_WARP) { missing = t; break; }
        }
        g_x.cur = &g_x.fibers[first_warp];
        fault(cudaErrorLaunchFailure, nullptr, nullptr, "deadlock: thread %s waits %s for thread %s, which is %s",
              thread_str(first_warp).c_str(), where_waits(f).c_str(),
              missing >= 0 ? thread_str(missing).c_str() : "?",
              missing >= 0 ? where_waits(g_x.fibers[missing]).c_str() : "?");
        return;
    }
    if (at_bar == 0) return;
    const Fiber &b = g_x.fibers[first_bar];
    g_x.cur = &g_x.fibers[first_bar];
    if (exited > 0) {
        fault(cudaErrorLaunchFailure, nullptr, nullptr,
              "__syncthreads at %s:%d reached by %d of %d threads: thread %s exited without reaching it (thread %s "
              "waits there)",
              b.file, b.line, at_bar, n, thread_str(first_exit).c_str(), thread_str(first_bar).c_str());
        return;
    }
    for (int i = 0; i < n; i++) {
        const Fiber &f = g_x.fibers[i];
        if (f.line != b.line || strcmp(f.file, b.file)) {
            fault(cudaErrorLaunchFailure, nullptr, nullptr,
                  "divergent __syncthreads: thread %s waits at %s:%d, thread %s at %s:%d", thread_str(first_bar).c_str(),
                  b.file, b.line, thread_str(i).c_str(), f.file, f.line);
            return;
        }
    }
    g_x.epoch++;
    for (int i = 0; i < n; i++) g_x.fibers[i].state = RUNNABLE;
    shuffle_order();
}

void ensure_fibers(int n) {
    while ((int)g_x.fibers.size() < n) {
        g_x.fibers.emplace_back();
        Fiber &f = g_x.fibers.back();
        char *m = (char *)mmap(nullptr, STACK_BYTES + 4096, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "ldm-emu: out of memory for thread stacks\n");
            abort();
        }
        mprotect(m, 4096, PROT_NONE); /* guard page: a stack overflow faults at once */
        f.stack = m + 4096;
    }
}

void run_block() {
    const int n = g_x.nthreads;
    g_x.gen++;
    g_x.epoch = 0;
    for (int i = 0; i < n; i++) {
        Fiber &f = g_x.fibers[i];
        f.tid = uint3{(unsigned)(i % g_x.block.x), (unsigned)(i / g_x.block.x % g_x.block.y),
                      (unsigned)(i / (g_x.block.x * g_x.block.y))};
        f.lin = i;
        f.state = RUNNABLE;
#ifdef LDM_EMU_FAST_SWITCH
        /* the stack as ldm_emu_switch leaves it: six saved registers, then the address it
         * returns to (fiber_entry), then a null return address that ends backtraces */
        void **sp = (void **)(f.stack + STACK_BYTES) - 8;
        for (int r = 0; r < 6; r++) sp[r] = nullptr;
        sp[6] = (void *)fiber_entry;
        sp[7] = nullptr;
        f.ctx.sp = sp;
#else
        f.ctx.uc = g_x.base_ctx;
        f.ctx.uc.uc_stack.ss_sp = f.stack;
        f.ctx.uc.uc_stack.ss_size = STACK_BYTES;
        f.ctx.uc.uc_link = nullptr;
        makecontext(&f.ctx.uc, (void (*)())fiber_entry, 0);
#endif
    }
    g_x.order.resize(n);
    for (int i = 0; i < n; i++) g_x.order[i] = i;
    shuffle_order();
    for (;;) {
        bool ran = false, live = false;
        for (int k = 0; k < n; k++) {
            Fiber &f = g_x.fibers[g_x.order[k]];
            if (f.state != RUNNABLE) {
                live |= f.state != EXITED;
                continue;
            }
            g_x.cur = &f;
            ldm_emu_thread = f.lin;
            g_x.on_fiber = true;
            t_in_kernel = true;
            ctx_switch(&g_x.sched, &f.ctx);
            t_in_kernel = false;
            g_x.on_fiber = false;
            if (g_x.abort_launch) return;
            ran = true;
            live |= f.state != EXITED;
            if (f.state == AT_WARP) {
                try_complete_warp(f.lin >> 5);
                if (g_x.abort_launch) return;
            }
        }
        if (!live) return;
        if (!ran) {
            no_runnable();
            if (g_x.abort_launch) return;
        }
    }
}

std::string dim_str(dim3 d) {
    char s[64];
    snprintf(s, sizeof s, "(%u,%u,%u)", d.x, d.y, d.z);
    return s;
}

cudaError_t launch_error(cudaError_t e, const std::string &name, const char *file, int line, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    std::string rep = "launch of kernel " + name + " at " + file + ":" + std::to_string(line) + ": " + what;
    g_report = rep;
    g_nreports++;
    if (!g_cfg.quiet) fprintf(stderr, "ldm-emu: %s\n", rep.c_str());
    set_error(e, rep);
    return e;
}

uint64_t gcd64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

} // namespace

// ---------------------------------------------------------------------------------
// what kernel code calls

namespace ldm_emu {

uint3 thread_idx() { return g_x.cur ? g_x.cur->tid : uint3{0, 0, 0}; }
uint3 block_idx() { return g_x.bid; }
uint3 block_dim() { return uint3{g_x.block.x, g_x.block.y, g_x.block.z}; }
uint3 grid_dim() { return uint3{g_x.grid.x, g_x.grid.y, g_x.grid.z}; }
void *dyn_smem() { return g_x.dyn; }

void syncthreads(const char *file, int line) {
    if (!t_in_kernel) return;
    Fiber *f = g_x.cur;
    f->state = AT_BARRIER;
    f->file = file;
    f->line = line;
    yield_to_scheduler();
}

unsigned long long warp_op(int kind, unsigned mask, unsigned long long bits, int src, int width, const char *file,
                           int line) {
    if (!t_in_kernel) return bits;
    Fiber *f = g_x.cur;
    const int lane = f->lin & 31;
    if (!(mask >> lane & 1))
        fault(cudaErrorLaunchFailure, nullptr, nullptr, "%s at %s:%d: lane %d is not in its own mask 0x%08x",
              kind_name(kind), file, line, lane, mask);
    if (width < 1 || width > 32 || (width & (width - 1)))
        fault(cudaErrorLaunchFailure, nullptr, nullptr, "%s at %s:%d: width %d is not a power of two <= 32",
              kind_name(kind), file, line, width);
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1) {
            const int t = (f->lin & ~31) + l;
            if (t >= g_x.nthreads)
                fault(cudaErrorLaunchFailure, nullptr, nullptr,
                      "%s at %s:%d: mask 0x%08x names lane %d, which does not exist (block of %d threads)",
                      kind_name(kind), file, line, mask, l, g_x.nthreads);
            if (g_x.fibers[t].state == EXITED)
                fault(cudaErrorLaunchFailure, nullptr, nullptr,
                      "%s at %s:%d: mask 0x%08x names lane %d, which has exited", kind_name(kind), file, line, mask,
                      l);
        }
    f->kind = kind;
    f->mask = mask;
    f->val = bits;
    f->src = src;
    f->width = width;
    f->file = file;
    f->line = line;
    f->state = AT_WARP;
    yield_to_scheduler();
    return f->res;
}

void syncwarp(unsigned mask, const char *file, int line) { warp_op(SYNCWARP, mask, 0, 0, 32, file, line); }

unsigned active_mask() {
    if (!t_in_kernel) return 0;
    const int w0 = g_x.cur->lin & ~31;
    unsigned m = 0;
    for (int l = 0; l < 32 && w0 + l < g_x.nthreads; l++)
        if (g_x.fibers[w0 + l].state != EXITED) m |= 1u << l;
    return m;
}

int launch(const void *fn, const char *pretty, const char *expr, const char *file, int line, dim3 grid, dim3 block,
           size_t smem, void (*body)(void *), void *params, size_t params_bytes) {
    std::lock_guard<std::mutex> lock(g_mu);
    init();
    auto nit = g_names.find(fn);
    if (nit == g_names.end()) nit = g_names.emplace(fn, clean_name(pretty, expr)).first;
    const std::string &name = nit->second;
    if (g_sticky_err != cudaSuccess) return g_sticky_err;
    if (t_in_kernel) return launch_error(cudaErrorLaunchFailure, name, file, line, "launch from inside a kernel");
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return launch_error(cudaErrorInvalidConfiguration, name, file, line,
                            "invalid configuration: grid %s (x 1..2^31-1, y and z 1..65535)", dim_str(grid).c_str());
    const unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 || nt > 1024)
        return launch_error(cudaErrorInvalidConfiguration, name, file, line,
                            "invalid configuration: block %s (1..1024 threads; x, y <= 1024, z <= 64)",
                            dim_str(block).c_str());
    auto ait = g_max_dyn.find(fn);
    const size_t allowed = ait != g_max_dyn.end() ? (size_t)ait->second : DYN_SMEM_DEFAULT;
    if (smem > allowed)
        return launch_error(cudaErrorInvalidValue, name, file, line,
                            "%zu bytes of dynamic shared memory, the kernel may use %zu (above 48 KB needs "
                            "cudaFuncSetAttribute(MaxDynamicSharedMemorySize), at most 227 KB)",
                            smem, allowed);
    if (!g_x.dyn) {
        g_x.dyn = (char *)aligned_alloc(4096, DYN_SMEM_MAX);
        g_x.sh_dyn.assign(DYN_SMEM_MAX / 4, Shadow{});
        locate_tls();
#ifndef LDM_EMU_FAST_SWITCH
        getcontext(&g_x.base_ctx);
#endif
    }
    ensure_fibers((int)nt);
    g_x.name = name;
    g_x.file = file;
    g_x.line = line;
    g_x.grid = grid;
    g_x.block = block;
    g_x.smem = smem;
    g_x.nthreads = (int)nt;
    g_x.body = body;
    g_x.params = params;
    g_x.params_lo = (uintptr_t)params;
    g_x.params_n = params_bytes;
    g_x.abort_launch = false;
    g_x.err = cudaSuccess;
    g_x.rng = g_cfg.seed * 0x9E3779B97F4A7C15ull + (uint64_t)(uintptr_t)fn;
    const uint64_t nb = (uint64_t)grid.x * grid.y * grid.z;
    /* blocks in a seeded order: i -> (a i + b) mod nb with a coprime to nb */
    uint64_t a = nb > 1 ? 1 + splitmix(&g_x.rng) % (nb - 1) : 1, b = nb > 1 ? splitmix(&g_x.rng) % nb : 0;
    while (gcd64(a, nb) != 1) a++;
    for (uint64_t i = 0; i < nb && !g_x.abort_launch; i++) {
        const uint64_t bl = (uint64_t)(((unsigned __int128)a * i + b) % nb);
        g_x.bid = uint3{(unsigned)(bl % grid.x), (unsigned)(bl / grid.x % grid.y), (unsigned)(bl / ((uint64_t)grid.x * grid.y))};
        ldm_emu_block = (long)bl;
        run_block();
    }
    g_x.cur = nullptr;
    ldm_emu_thread = -1;
    ldm_emu_block = -1;
    g_x.params_n = 0;
    g_gwrites.clear();
    if (g_x.err != cudaSuccess) {
        set_error(g_x.err, g_report);
        return g_x.err;
    }
    return 0;
}

} // namespace ldm_emu

// ---------------------------------------------------------------------------------
// atomics

namespace {
template <class T, class Op>
T atomic_rmw(T *p, Op op) {
    if (t_in_kernel && g_cfg.check) {
        const uintptr_t a = (uintptr_t)p;
        if (!(a - (uintptr_t)g_x.cur->stack < STACK_BYTES)) check_access(a, sizeof(T), true, true, __builtin_return_address(0));
    }
    T old = *p;
    *p = op(old);
    return old;
}
} // namespace

#define LDM_ATOMIC(name, T, expr) \
    T name(T *p, T v) { return atomic_rmw(p, [v](T o) { (void)o; return (T)(expr); }); }
LDM_ATOMIC(atomicAdd, int, o + v)
LDM_ATOMIC(atomicAdd, unsigned, o + v)
LDM_ATOMIC(atomicAdd, unsigned long long, o + v)
LDM_ATOMIC(atomicAdd, float, o + v)
LDM_ATOMIC(atomicAdd, double, o + v)
LDM_ATOMIC(atomicSub, int, o - v)
LDM_ATOMIC(atomicSub, unsigned, o - v)
LDM_ATOMIC(atomicMin, int, v < o ? v : o)
LDM_ATOMIC(atomicMin, unsigned, v < o ? v : o)
LDM_ATOMIC(atomicMax, int, v > o ? v : o)
LDM_ATOMIC(atomicMax, unsigned, v > o ? v : o)
LDM_ATOMIC(atomicExch, int, v)
LDM_ATOMIC(atomicExch, unsigned, v)
LDM_ATOMIC(atomicExch, float, v)
LDM_ATOMIC(atomicAnd, int, o & v)
LDM_ATOMIC(atomicOr, int, o | v)
LDM_ATOMIC(atomicXor, int, o ^ v)
LDM_ATOMIC(atomicAnd, unsigned, o & v)
LDM_ATOMIC(atomicOr, unsigned, o | v)
LDM_ATOMIC(atomicXor, unsigned, o ^ v)
#undef LDM_ATOMIC
int atomicCAS(int *p, int c, int v) { return atomic_rmw(p, [c, v](int o) { return o == c ? v : o; }); }
unsigned atomicCAS(unsigned *p, unsigned c, unsigned v) {
    return atomic_rmw(p, [c, v](unsigned o) { return o == c ? v : o; });
}
unsigned long long atomicCAS(unsigned long long *p, unsigned long long c, unsigned long long v) {
    return atomic_rmw(p, [c, v](unsigned long long o) { return o == c ? v : o; });
}

// ---------------------------------------------------------------------------------
// the runtime API

extern "C" {

static cudaError_t device_query() {
    init();
    if (g_cfg.device_error) return (cudaError_t)g_cfg.device_error;
    if (g_cfg.no_device) return cudaErrorNoDevice;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int *count) {
    cudaError_t e = device_query();
    *count = e == cudaSuccess ? 1 : 0;
    if (e != cudaSuccess) g_pending = e;
    return e;
}

cudaError_t cudaGetDevice(int *device) {
    *device = 0;
    return device_query();
}

cudaError_t cudaSetDevice(int device) {
    cudaError_t e = device_query();
    return e != cudaSuccess ? e : device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    cudaError_t e = device_query();
    if (e != cudaSuccess) return e;
    if (device != 0) return cudaErrorInvalidDevice;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulator on the CPU (H100 limits, sm_90)");
    p->totalGlobalMem = DEVICE_BYTES;
    p->sharedMemPerBlock = DYN_SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = DYN_SMEM_MAX;
    p->sharedMemPerMultiprocessor = 228 * 1024;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->major = 9, p->minor = 0;
    p->multiProcessorCount = 132;
    p->l2CacheSize = 50 * 1024 * 1024;
    p->maxThreadsPerMultiProcessor = 2048;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return e;
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
    default: return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    return take_error();
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaDeviceSynchronize(); }

cudaError_t cudaDeviceReset(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_pending = g_sticky_err = cudaSuccess;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    return take_error();
}

cudaError_t cudaPeekAtLastError(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    return g_sticky_err != cudaSuccess ? g_sticky_err : g_pending;
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorMisalignedAddress: return "cudaErrorMisalignedAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}

static const char *base_string(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidSymbol: return "invalid device symbol";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorMisalignedAddress: return "misaligned address";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
    }
}

/* The toolkit's text, followed by the emulator's report of the fault that raised it. */
const char *cudaGetErrorString(cudaError_t e) {
    static thread_local char buf[4][2048];
    static thread_local int k;
    std::lock_guard<std::mutex> lock(g_mu);
    if (e == cudaSuccess || g_err_detail.empty()) return base_string(e);
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s (ldm-emu: %s)", base_string(e), g_err_detail.c_str());
    return b;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    std::lock_guard<std::mutex> lock(g_mu);
    init();
    *ptr = nullptr;
    if (g_sticky_err != cudaSuccess) return g_sticky_err;
    if (bytes > DEVICE_BYTES - g_alloc_total) return cudaErrorMemoryAllocation;
    const size_t rounded = (bytes + 255) / 256 * 256;
    void *p = aligned_alloc(256, rounded ? rounded : 256);
    if (!p) return cudaErrorMemoryAllocation;
    g_allocs[(uintptr_t)p] = bytes;
    g_alloc_total += bytes;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!ptr) return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)ptr);
    if (it == g_allocs.end()) return cudaErrorInvalidDevicePointer;
    g_alloc_total -= it->second;
    g_allocs.erase(it);
    g_hit_base = g_hit_size = 0;
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t bytes) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_sticky_err != cudaSuccess) return g_sticky_err;
    if (bytes == 0) return cudaSuccess;
    if (!device_range(ptr, bytes)) return cudaErrorInvalidValue;
    memset(ptr, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_sticky_err != cudaSuccess) return g_sticky_err;
    if (bytes == 0) return cudaSuccess;
    const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind > cudaMemcpyDefault) return cudaErrorInvalidMemcpyDirection;
    if ((dst_dev && !device_range(dst, bytes)) || (src_dev && !device_range(src, bytes))) return cudaErrorInvalidValue;
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, bytes, kind);
}

struct LdmEmuEvent {
    double t;
};

cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new LdmEmuEvent{0};
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->t = ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaDeviceSynchronize(); }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)(b->t - a->t);
    return cudaSuccess;
}

cudaError_t ldm_emu_memcpy_symbol(void *dst, const void *src, size_t bytes, size_t symbol_bytes, size_t offset,
                                  int to_symbol) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_sticky_err != cudaSuccess) return g_sticky_err;
    if (offset > symbol_bytes || bytes > symbol_bytes - offset) return cudaErrorInvalidValue;
    if (to_symbol) memmove((char *)dst + offset, src, bytes);
    else memmove(dst, (const char *)src + offset, bytes);
    return cudaSuccess;
}

cudaError_t ldm_emu_func_set_attribute(const void *kernel, cudaFuncAttribute attr, int value) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value > DYN_SMEM_MAX) return cudaErrorInvalidValue;
        g_max_dyn[kernel] = value;
    }
    return cudaSuccess;
}

const char *ldm_emu_last_report(void) { return g_report.c_str(); }
void ldm_emu_clear_report(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_report.clear();
    g_pending = cudaSuccess;
    g_err_detail.clear();
}
int ldm_emu_reports(void) { return g_nreports; }

/* For gdb: `condition 1 ldm_emu_tid() == 37 && ldm_emu_bid() == 2` */
int ldm_emu_tid(void) { return g_x.cur ? g_x.cur->lin : -1; }
int ldm_emu_bid(void) {
    return (int)(g_x.bid.x + g_x.grid.x * (g_x.bid.y + (uint64_t)g_x.grid.y * g_x.bid.z));
}
int ldm_emu_checks_on(void) {
    init();
    return g_cfg.check;
}
void ldm_emu_set_seed(unsigned long long seed) {
    init();
    g_cfg.seed = seed;
}
unsigned long long ldm_emu_seed(void) {
    init();
    return g_cfg.seed;
}

// ---------------------------------------------------------------------------------
// the hooks the instrumented kernel code calls (-fsanitize=thread, -fsanitize=alignment)

void __tsan_init(void) {}
void __tsan_func_entry(void *) {}
void __tsan_func_exit(void) {}
void __tsan_vptr_update(void **, void *) {}
void __tsan_vptr_read(void **) {}

#define LDM_HOOK(n)                                                                                      \
    void __tsan_read##n(void *a) { on_access(a, n, false, __builtin_return_address(0)); }              \
    void __tsan_write##n(void *a) { on_access(a, n, true, __builtin_return_address(0)); }              \
    void __tsan_unaligned_read##n(void *a) { on_access(a, n, false, __builtin_return_address(0)); }    \
    void __tsan_unaligned_write##n(void *a) { on_access(a, n, true, __builtin_return_address(0)); }    \
    void __tsan_volatile_read##n(void *a) { on_access(a, n, false, __builtin_return_address(0)); }     \
    void __tsan_volatile_write##n(void *a) { on_access(a, n, true, __builtin_return_address(0)); }
LDM_HOOK(1)
LDM_HOOK(2)
LDM_HOOK(4)
LDM_HOOK(8)
LDM_HOOK(16)
#undef LDM_HOOK

void __tsan_read_range(void *a, unsigned long n) {
    if (n) on_access(a, (unsigned)n, false, __builtin_return_address(0));
}
void __tsan_write_range(void *a, unsigned long n) {
    if (n) on_access(a, (unsigned)n, true, __builtin_return_address(0));
}

/* UBSan's alignment check: a typed access (a float4 load) through a misaligned pointer. */
struct UbsanLoc {
    const char *file;
    uint32_t line, col;
};
struct UbsanType {
    uint16_t kind, info;
    char name[1];
};
struct UbsanMismatch {
    UbsanLoc loc;
    const UbsanType *type;
    unsigned char log_alignment, check_kind;
};

void __ubsan_handle_type_mismatch_v1(UbsanMismatch *d, uintptr_t ptr) {
    if (!t_in_kernel || !g_cfg.check) return;
    char where[512];
    snprintf(where, sizeof where, "%s:%u", d->loc.file, d->loc.line);
    const unsigned align = 1u << d->log_alignment;
    if (!ptr) fault(cudaErrorIllegalAddress, nullptr, where, "access through a null pointer of type %s", d->type->name);
    else
        fault(cudaErrorMisalignedAddress, nullptr, where,
              "misaligned access: %s at %p needs %u-byte alignment (address %% %u = %u)", d->type->name,
              (void *)ptr, align, align, (unsigned)(ptr & (align - 1)));
}
void __ubsan_handle_type_mismatch_v1_abort(UbsanMismatch *d, uintptr_t ptr) { __ubsan_handle_type_mismatch_v1(d, ptr); }

} // extern "C"

// ---------------------------------------------------------------------------------
// for the PTX instructions of core/emu/ptx_emu.h

extern "C" unsigned ldm_emu_block_gen(void) { return g_x.gen; }
extern "C" void ldm_emu_fault(const char *what) {
    fault(cudaErrorLaunchFailure, __builtin_return_address(0), nullptr, "%s", what);
}
