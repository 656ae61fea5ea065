#!/usr/bin/env python3
"""bench/torch_twin.py — ldm.c's VAE and U-Net in PyTorch, timed the way ldm-bench times
ldm.c, side by side with ldm-bench's JSON, plus a numerics check.

    ldm-bench numerics --preset demo --out N.safetensors       # weights, inputs, outputs
    ldm-bench kernels  --preset demo --json K.json
    ldm-bench train    --preset demo --json T.json
    ldm-bench sample   --preset demo --json S.json
    python3 bench/torch_twin.py --numerics N.safetensors [--kernels K.json] [--train T.json]
                                [--sample S.json] [--device cpu|cuda] [--out TORCH.json]

--numerics gives the config (from the file's __metadata__) and the weights: the twin loads
ldm.c's parameter names as they are (conv weights KRSC -> OIHW, everything else as is) with
a 40-line safetensors reader (json + struct; the safetensors package is not needed), runs
the same inputs and compares with ldm.c's outputs (max |torch - ldm| / max |ldm| <= 1e-3).
The BLAS check: PyTorch's BLAS (the libblas.so.3 it loaded, from /proc/self/maps, and a 512^3
SGEMM's GFLOP/s) is named in every table; on the reference BLAS the twin times nothing and
exits 3, since every GEMM ratio would flatter ldm.c (Debian: libopenblas0-pthread).
--kernels: every row (op, pass, shape) is rebuilt in PyTorch (F.conv2d and
aten.convolution_backward, F.group_norm + F.silu, F.layer_norm, attention as softmax(QK^T)V
or scaled_dot_product_attention where torch has it, F.linear, F.interpolate, AdamW; backward
passes through autograd.grad on a recorded graph) and timed the same way: CPU wall clock,
median after a warm-up, repeated for 0.2 s (at least 3, at most 50 calls); on CUDA, events,
inputs rotated through copies that together exceed 2.5x the L2. --interleave N (CPU): N rounds, each rerunning `ldm-bench kernels --op X` for the ops of --kernels
and then PyTorch on the same rows; each side keeps its best per-row median, so both see the
same spells of load on a shared machine (--ldm-out FILE keeps ldm.c's best rows, for the
chart). --train / --sample: one
training step split into forward, backward and AdamW, and one guided denoising step + the
VAE decode, timed as ldm-bench does; torch.compile is tried for the U-Net forward where
torch has it. --out writes {"rows": {key: ns}, ...} (integers) for `ldm-bench chart --torch`.
Activations are NCHW here (PyTorch's default), NHWC in ldm.c.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import tempfile
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------
# safetensors without the package

DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I32": (torch.int32, 4), "I64": (torch.int64, 8)}


def read_safetensors(path):
    """(tensors: name -> CPU tensor, metadata: dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, e in header.items():
        dtype, size = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=dtype) if end > b else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"])
    return out, meta


def parse_config(text):
    cfg = {}
    for line in text.strip().splitlines():
        k, _, v = line.partition("=")
        if k in ("vae_mult", "unet_mult", "attn_res"):
            cfg[k] = [int(x) for x in v.split(",") if x]
        elif k in ("kl_beta", "beta_start", "beta_end"):
            cfg[k] = float(v)
        else:
            try:
                cfg[k] = int(v)
            except ValueError:
                cfg[k] = v
    return cfg


# ----------------------------------------------------------------------------
# the models (models/blocks.c, vae.c, unet.c), NCHW

def heads_for(c, head_dim):
    return 1 if c <= head_dim else c // head_dim


def attention(q, k, v, heads):
    """q (N, Lq, C), k, v (N, Lk, C) -> (N, Lq, C); heads split C into contiguous groups."""
    n, lq, c = q.shape
    lk, d = k.shape[1], c // heads
    q = q.view(n, lq, heads, d).transpose(1, 2)
    k = k.view(n, lk, heads, d).transpose(1, 2)
    v = v.view(n, lk, heads, d).transpose(1, 2)
    if hasattr(F, "scaled_dot_product_attention"):
        o = F.scaled_dot_product_attention(q, k, v)
    else:
        o = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d)), dim=-1) @ v
    return o.transpose(1, 2).reshape(n, lq, c)


def conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride, k // 2)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.cout, self.has_emb = cout, emb_dim > 0
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = conv(cin, cout, 3)
        if self.has_emb:
            self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.conv2 = conv(cout, cout, 3)
        self.skip = conv(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb_silu=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.has_emb:
            e = self.emb(emb_silu)
            scale, shift = e[:, :self.cout, None, None], e[:, self.cout:, None, None]
            h = F.silu(self.norm2(h) * (1 + scale) + shift)
        else:
            h = F.silu(self.norm2(h))
        h = self.conv2(h)
        return (self.skip(x) if self.skip is not None else x) + h


def tokens(x):
    return x.flatten(2).transpose(1, 2)


def untokens(t, like):
    return t.transpose(1, 2).reshape(like.shape)


class AttnBlock(nn.Module):
    def __init__(self, c, head_dim, groups):
        super().__init__()
        self.heads = heads_for(c, head_dim)
        self.norm = nn.GroupNorm(groups, c, eps=1e-5)
        self.q, self.k, self.v, self.proj = (nn.Linear(c, c) for _ in range(4))

    def forward(self, x):
        n = tokens(self.norm(x))
        o = attention(self.q(n), self.k(n), self.v(n), self.heads)
        return x + untokens(self.proj(o), x)


class CrossAttnBlock(nn.Module):
    def __init__(self, c, ctx_dim, head_dim):
        super().__init__()
        self.heads = heads_for(c, head_dim)
        self.norm = nn.LayerNorm(c, eps=1e-5)
        self.q = nn.Linear(c, c, bias=False)
        self.k = nn.Linear(ctx_dim, c, bias=False)
        self.v = nn.Linear(ctx_dim, c, bias=False)
        self.proj = nn.Linear(c, c)

    def forward(self, x, ctx):
        n = self.norm(tokens(x))
        o = attention(self.q(n), self.k(ctx), self.v(ctx), self.heads)
        return x + untokens(self.proj(o), x)


class Mid(nn.Module):
    def __init__(self, ch, groups, attn):
        super().__init__()
        self.res = nn.ModuleList([ResBlock(ch, ch, 0, groups), ResBlock(ch, ch, 0, groups)])
        self.attn = AttnBlock(ch, ch, groups) if attn else None

    def forward(self, h):
        h = self.res[0](h)
        if self.attn is not None:
            h = self.attn(h)
        return self.res[1](h)


class Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, G, L = c["vae_ch"], c["vae_groups"], len(c["vae_mult"])
        self.conv_in = conv(c["channels"], C, 3)
        self.down = nn.ModuleList()
        ch = C
        for i in range(L):
            lv = Level()
            lv.res = nn.ModuleList()
            for _ in range(c["vae_res"]):
                lv.res.append(ResBlock(ch, C * c["vae_mult"][i], 0, G))
                ch = C * c["vae_mult"][i]
            if i < L - 1:
                lv.downsample = conv(ch, ch, 3, 2)
            self.down.append(lv)
        self.mid = Mid(ch, G, c["vae_attn"])
        self.norm_out = nn.GroupNorm(G, ch, eps=1e-5)
        self.conv_out = conv(ch, 2 * c["latent_ch"], 3)

    def forward(self, x):
        h = self.conv_in(x)
        for lv in self.down:
            for r in lv.res:
                h = r(h)
            if hasattr(lv, "downsample"):
                h = lv.downsample(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, G, L = c["vae_ch"], c["vae_groups"], len(c["vae_mult"])
        ch = C * c["vae_mult"][L - 1]
        self.conv_in = conv(c["latent_ch"], ch, 3)
        self.mid = Mid(ch, G, c["vae_attn"])
        levels = [None] * L
        for i in range(L - 1, -1, -1):
            lv = Level()
            lv.res = nn.ModuleList()
            for _ in range(c["vae_res"] + 1):
                lv.res.append(ResBlock(ch, C * c["vae_mult"][i], 0, G))
                ch = C * c["vae_mult"][i]
            if i > 0:
                lv.upsample = conv(ch, ch, 3)
            levels[i] = lv
        self.up = nn.ModuleList(levels)
        self.norm_out = nn.GroupNorm(G, ch, eps=1e-5)
        self.conv_out = conv(ch, c["channels"], 3)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for lv in reversed(self.up):
            for r in lv.res:
                h = r(h)
            if hasattr(lv, "upsample"):
                h = lv.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class VAE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cfg = c
        self.enc, self.dec = Encoder(c), Decoder(c)

    def encode(self, x):
        h = self.enc(x)
        z = self.cfg["latent_ch"]
        return h[:, :z], h[:, z:]

    def loss(self, x, noise):
        mean, logvar = self.encode(x)
        lv = logvar.clamp(-30.0, 20.0)
        xh = self.dec(mean + torch.exp(0.5 * lv) * noise)
        recon = (xh - x).abs().mean() if self.cfg["recon"] == "l1" else ((xh - x) ** 2).mean()
        kl = (0.5 * (mean ** 2 + torch.exp(lv) - 1 - lv)).mean()
        return recon + self.cfg["kl_beta"] * kl


class Stage(nn.Module):
    pass


class UNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cfg = c
        C, L, R, G, hd = c["unet_ch"], len(c["unet_mult"]), c["unet_res"], c["unet_groups"], c["head_dim"]
        self.cond = c["num_classes"] > 0
        lat = c["image_size"] // (1 << (len(c["vae_mult"]) - 1))
        self.time = nn.Module()
        self.time.lin1, self.time.lin2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, 4 * C)
        if self.cond:
            self.class_emb = nn.Module()
            self.class_emb.weight = nn.Parameter(torch.zeros(c["num_classes"] + 1, c["ctx_tokens"] * c["ctx_dim"]))
        self.conv_in = conv(c["latent_ch"], C, 3)

        def stage(parent, j, cin, cout, attn):
            parent.res[str(j)] = ResBlock(cin, cout, 4 * C, G)
            if attn:
                parent.attn[str(j)] = AttnBlock(cout, hd, G)
                if self.cond:
                    parent.xattn[str(j)] = CrossAttnBlock(cout, c["ctx_dim"], hd)

        def level():
            lv = Stage()
            lv.res, lv.attn, lv.xattn = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
            return lv

        skips, ch = [C], C
        self.down = nn.ModuleList()
        for i in range(L):
            lv, attn = level(), (lat >> i) in c["attn_res"]
            for j in range(R):
                stage(lv, j, ch, C * c["unet_mult"][i], attn)
                ch = C * c["unet_mult"][i]
                skips.append(ch)
            if i < L - 1:
                lv.downsample = conv(ch, ch, 3, 2)
                skips.append(ch)
            self.down.append(lv)
        self.mid = level()
        stage(self.mid, 0, ch, ch, True)
        self.mid.res["1"] = ResBlock(ch, ch, 4 * C, G)
        ups = [None] * L
        for i in range(L - 1, -1, -1):
            lv, attn = level(), (lat >> i) in c["attn_res"]
            for j in range(R + 1):
                stage(lv, j, ch + skips.pop(), C * c["unet_mult"][i], attn)
                ch = C * c["unet_mult"][i]
            if i > 0:
                lv.upsample = conv(ch, ch, 3)
            ups[i] = lv
        self.up = nn.ModuleList(ups)
        self.norm_out = nn.GroupNorm(G, ch, eps=1e-5)
        self.conv_out = conv(ch, c["latent_ch"], 3)

    @staticmethod
    def run_stage(lv, j, h, emb, ctx):
        h = lv.res[str(j)](h, emb)
        if str(j) in lv.attn:
            h = lv.attn[str(j)](h)
        if str(j) in lv.xattn:
            h = lv.xattn[str(j)](h, ctx)
        return h

    def forward(self, x, t, labels):
        c = self.cfg
        half = c["unet_ch"] // 2
        f = torch.exp(-math.log(10000.0) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
        a = t.float()[:, None] * f[None]
        emb = torch.cat([torch.cos(a), torch.sin(a)], dim=1)
        emb = F.silu(self.time.lin2(F.silu(self.time.lin1(emb))))
        ctx = None
        if self.cond:
            ctx = self.class_emb.weight[labels.long()].view(x.shape[0], c["ctx_tokens"], c["ctx_dim"])
        h = self.conv_in(x)
        skips = [h]
        for lv in self.down:
            for j in range(len(lv.res)):
                h = self.run_stage(lv, j, h, emb, ctx)
                skips.append(h)
            if hasattr(lv, "downsample"):
                h = lv.downsample(h)
                skips.append(h)
        h = self.run_stage(self.mid, 0, h, emb, ctx)
        h = self.mid.res["1"](h, emb)
        for lv in reversed(self.up):
            for j in range(len(lv.res)):
                h = self.run_stage(lv, j, torch.cat([h, skips.pop()], dim=1), emb, ctx)
            if hasattr(lv, "upsample"):
                h = lv.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def load_weights(model, tensors, prefix):
    """ldm.c's names -> the module's parameters; 4-D conv weights KRSC -> OIHW. Strict."""
    own = dict(model.named_parameters())
    theirs = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing, extra = set(own) - set(theirs), set(theirs) - set(own)
    if missing or extra:
        raise SystemExit(f"torch_twin: {prefix}: names differ: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}")
    with torch.no_grad():
        for k, p in own.items():
            v = theirs[k]
            if v.dim() == 4:
                v = v.permute(0, 3, 1, 2)
            if tuple(v.shape) != tuple(p.shape):
                raise SystemExit(f"torch_twin: {prefix}.{k}: shape {tuple(v.shape)} vs {tuple(p.shape)}")
            p.copy_(v)


def nchw(t):
    return t.permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------
# timing (the way bench/timer.h times ldm.c)

class Timer:
    def __init__(self, device, l2_bytes=0, quick=False):
        self.device, self.l2, self.quick = device, l2_bytes, quick

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def median(self, fns):
        """fns: callables (rotated copies on CUDA). Median seconds per call."""
        budget = 0.05 if self.quick else 0.2
        if self.device == "cuda":
            for i in range(3):
                fns[i % len(fns)]()
            torch.cuda.synchronize()
            times, spent, i = [], 0.0, 0
            while len(times) < 200 and (len(times) < 10 or spent < budget):
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                fns[i % len(fns)]()
                e1.record()
                e1.synchronize()
                t = e0.elapsed_time(e1) * 1e-3
                times.append(t)
                spent += t
                i += 1
            return statistics.median(times)
        fns[0]()
        times, spent = [], 0.0
        while len(times) < 50 and (len(times) < (2 if self.quick else 3) or spent < budget):
            s = time.perf_counter()
            fns[0]()
            t = time.perf_counter() - s
            times.append(t)
            spent += t
        return statistics.median(times)


# ----------------------------------------------------------------------------
# the BLAS under PyTorch: ratios against a reference BLAS would flatter ldm.c

# 512^3 SGEMM, one thread: the reference BLAS peaks at ~3 GFLOP/s, OpenBLAS at 25-70 on these cores
# (and still 8 at a load of 17 on 2 cores): 5 separates them with room on a busy machine.
BLAS_MIN_GFLOPS = 5.0


def blas_info():
    """{name, path, gflops, ok}: the BLAS library PyTorch loaded and a 512^3 SGEMM's GFLOP/s.
    Debian's python3-torch is built with BLAS_INFO=generic: it calls whatever libblas.so.3
    the alternatives system points at, the reference (netlib) BLAS unless an optimised one
    (libopenblas0-pthread, libblis, MKL) is installed. ok: an optimised library and at least
    BLAS_MIN_GFLOPS on one thread (the best of 10-100 calls over at least 1 s, so a loaded
    machine still passes)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.rand(512, 512), torch.rand(512, 512)
    best, start, calls = math.inf, time.perf_counter(), 0
    while calls < 100 and (calls < 10 or time.perf_counter() - start < 1.0):
        s = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - s)
        calls += 1
    torch.set_num_threads(saved)
    gflops = 2 * 512 ** 3 / best * 1e-9
    path = ""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "/" in line}
        blas = sorted(x for x in libs if re.search(r"blas|mkl_core|blis", os.path.basename(x), re.I) and ".so" in x)
        path = os.path.realpath(blas[0]) if blas else ""
    except OSError:
        pass
    config = torch.__config__.show()
    low = path.lower()
    if "openblas" in low:
        name = "OpenBLAS" + (" (pthread)" if "pthread" in low else " (openmp)" if "openmp" in low else "")
    elif "mkl" in low or "BLAS_INFO=mkl" in config:
        name = "MKL"
    elif "blis" in low:
        name = "BLIS"
    elif path:
        name = "reference BLAS (netlib)" if "/blas/" in low else os.path.basename(path)
    else:
        name = "unknown (no BLAS library in the process maps)"
    ok = not name.startswith(("reference", "unknown")) and gflops >= BLAS_MIN_GFLOPS
    return {"name": name, "path": path, "gflops": round(gflops, 1), "ok": int(ok)}


# ----------------------------------------------------------------------------
# the ops of `ldm-bench kernels`, one row at a time

def op_case(row, dev, dtype=torch.float32):
    """A callable running the row's op and pass once on fresh random inputs (AdamW's parameters
    and moments stay fp32, as autocast keeps them)."""
    d, op, p = row["dims"], row["op"], row["pass"]
    r = lambda *s: torch.rand(*s, device=dev, dtype=dtype)
    if op == "conv2d":
        x, w, b = r(d["n"], d["c"], d["h"], d["w"]), r(d["k"], d["c"], d["r"], d["r"]), r(d["k"])
        pad, st = d["r"] // 2, d["stride"]
        if p == "fwd":
            return lambda: F.conv2d(x, w, b, st, pad)
        y = F.conv2d(x, w, b, st, pad)
        dy = torch.rand_like(y)
        mask = [p == "dgrad", p == "wgrad", False]
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [pad, pad], [1, 1], False,
                                                           [0, 0], 1, mask)
    if op in ("group_norm", "layer_norm"):
        if op == "group_norm":
            x, c = r(d["n"], d["c"], d["h"], d["w"]), d["c"]
            f = lambda x, g, b: F.group_norm(x, d["groups"], g, b, 1e-5)
            if d["silu"]:
                f0 = f
                f = lambda x, g, b: F.silu(f0(x, g, b))
        else:
            x, c = r(d["rows"], d["in"]), d["in"]
            f = lambda x, g, b: F.layer_norm(x, (c,), g, b, 1e-5)
        g, b = r(c), r(c)
        if p == "fwd":
            return lambda: f(x, g, b)
        return backward_of(f, [x, g, b])
    if op == "attention":
        C = d["heads"] * d["d"]
        q, k, v = r(d["n"], d["lq"], C), r(d["n"], d["lk"], C), r(d["n"], d["lk"], C)
        f = lambda q, k, v: attention(q, k, v, d["heads"])
        return (lambda: f(q, k, v)) if p == "fwd" else backward_of(f, [q, k, v])
    if op == "linear":
        x, w, b = r(d["rows"], d["in"]), r(d["out"], d["in"]), r(d["out"])
        return (lambda: F.linear(x, w, b)) if p == "fwd" else backward_of(F.linear, [x, w, b])
    if op == "silu":
        x = r(d["numel"])
        return (lambda: F.silu(x)) if p == "fwd" else backward_of(F.silu, [x])
    if op == "add":
        a, b = r(d["numel"]), r(d["numel"])
        return lambda: torch.add(a, b)
    if op == "upsample2x":
        x = r(d["n"], d["c"], d["h"], d["w"])
        f = lambda x: F.interpolate(x, scale_factor=2, mode="nearest")
        return (lambda: f(x)) if p == "fwd" else backward_of(f, [x])
    if op == "adamw":
        prm = nn.Parameter(torch.rand(d["numel"], device=dev))
        prm.grad = torch.rand(d["numel"], device=dev)
        opt = torch.optim.AdamW([prm], lr=1e-3, weight_decay=0.01)
        opt.step()
        return opt.step
    return None


def backward_of(f, inputs):
    """The backward pass alone: the graph is recorded once, autograd.grad reruns it."""
    ins = [t.detach().requires_grad_(True) for t in inputs]
    y = f(*ins)
    dy = torch.rand_like(y)
    return lambda: torch.autograd.grad(y, ins, dy, retain_graph=True)


def base_key(row):
    return f'{row["op"]}.{row["pass"]} {row["model"]} {row["shape"]}'


def bench_kernels(kj, dev, timer, l2, dtype=torch.float32):
    results = {}
    seen = {}
    for row in kj["rows"]:
        key = base_key(row)
        if key in seen:  # several CUDA versions of ldm.c: one PyTorch time per shape
            continue
        fn = op_case(row, dev, dtype)
        if fn is None:
            continue
        fns = [fn]
        if dev == "cuda" and l2:
            while len(fns) < 32 and len(fns) * row["bytes"] < 2.5 * l2:
                fns.append(op_case(row, dev, dtype))
        with torch.no_grad() if row["pass"] == "fwd" else torch.enable_grad():
            seen[key] = timer.median(fns)
        results[key] = seen[key]
    return results


def bench_interleaved(kj, rounds, ldm_bench, timer, threads):
    """--interleave: `rounds` rounds, each running ldm-bench kernels (one process per op of kj)
    and then the same rows in PyTorch; each side keeps its best (lowest) per-row median. On a
    machine shared with other work, both sides then see the same spells of load."""
    ops = sorted({r["op"] for r in kj["rows"]})
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    rows, torch_t = {}, {}
    tmp = os.path.join(tempfile.mkdtemp(prefix="ldm_twin_"), "k.json")
    for i in range(rounds):
        for op in ops:
            cmd = [ldm_bench, "kernels", "--device", "cpu", "--preset", kj["preset"], "--batch", str(kj["batch"]),
                   "--op", op, "--json", tmp]
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            got = json.load(open(tmp))
            for row in got["rows"]:
                k = (base_key(row), row.get("version", -1))
                if k not in rows or row["time_ns"] < rows[k]["time_ns"]:
                    rows[k] = row
            res = bench_kernels({"rows": got["rows"]}, "cpu", timer, 0)
            for k, v in res.items():
                torch_t[k] = min(v, torch_t.get(k, math.inf))
        print(f"torch_twin: interleaved round {i + 1}/{rounds} done", file=sys.stderr)
    return dict(kj, rows=list(rows.values())), torch_t


def print_kernels(kj, torch_t, blas):
    best = {}
    for row in kj["rows"]:
        k = base_key(row)
        if k not in best or row["time_ns"] < best[k]["time_ns"]:
            best[k] = row
    print(f'\n== kernels: ldm.c vs PyTorch {torch.__version__} ({kj["device"]}, preset {kj["preset"]}, '
          f'batch {kj["batch"]}, {kj.get("threads", "?")} threads; PyTorch BLAS {blas}; ratio = ldm.c / PyTorch, '
          '< 1: ldm.c faster)')
    print(f'{"op":16} {"model":5} {"shape":36} {"calls":>5} {"ldm.c ms":>10} {"torch ms":>10} {"ratio":>7}')
    groups = {}
    for k, row in best.items():
        if k not in torch_t:
            continue
        l, t = row["time_ns"] * 1e-9, torch_t[k]
        name = f'{row["op"]}.{row["pass"]}'
        print(f'{name:16} {row["model"]:5} {row["shape"]:36} {row["count"]:5} {l * 1e3:10.4f} {t * 1e3:10.4f} '
              f'{l / t:7.2f}')
        g = groups.setdefault(name, [0.0, 0.0])
        g[0] += row["count"] * l
        g[1] += row["count"] * t
    print(f'\n{"op (all shapes, x calls)":28} {"ldm.c ms":>10} {"torch ms":>10} {"ratio":>7}')
    tl = tt = 0.0
    for name, (l, t) in groups.items():
        print(f"{name:28} {l * 1e3:10.3f} {t * 1e3:10.3f} {l / t:7.2f}")
        tl, tt = tl + l, tt + t
    if tt > 0:
        print(f'{"all ops (one forward+backward)":28} {tl * 1e3:10.3f} {tt * 1e3:10.3f} {tl / tt:7.2f}')


# ----------------------------------------------------------------------------
# end to end

def schedule_abar(c, dev):
    T = c["timesteps"]
    b = torch.linspace(c["beta_start"], c["beta_end"], T, dtype=torch.float64)
    if c["schedule"] == "scaled_linear":
        b = torch.linspace(math.sqrt(c["beta_start"]), math.sqrt(c["beta_end"]), T, dtype=torch.float64) ** 2
    elif c["schedule"] == "cosine":
        s = 0.008
        f = lambda t: math.cos(math.pi / 2 * (t / T + s) / (1 + s)) ** 2
        ab = torch.tensor([f(t + 1) / f(0) for t in range(T)], dtype=torch.float64)
        return ab.float().to(dev)
    return torch.cumprod(1 - b, 0).float().to(dev)


def time_parts(timer, steps, parts):
    """parts: list of callables run in order each step; medians of each after one warm-up."""
    t = [[] for _ in parts]
    for s in range(steps + 1):
        for i, p in enumerate(parts):
            timer.sync()
            t0 = time.perf_counter()
            p()
            timer.sync()
            if s > 0:
                t[i].append(time.perf_counter() - t0)
    return [statistics.median(x) for x in t]


def bench_train(c, batch, steps, dev, timer, amp=False, compile_ok=False):
    """Per model: {variant: {fwd, bwd, opt, peak}}; variants "eager" and, with compile_ok,
    "compile" (torch.compile of the model). amp: the forward under autocast to bf16 (fp32
    weights and AdamW, as ldm.c's --precision bf16)."""
    out = {}
    lat = c["image_size"] // (1 << (len(c["vae_mult"]) - 1))
    abar = schedule_abar(c, dev)
    for name in ("vae", "unet"):
        torch.manual_seed(0)
        base = (VAE(c) if name == "vae" else UNet(c)).to(dev)
        run = base.loss if name == "vae" else base  # the VAE's step is its loss(x, eps); the U-Net's its forward
        variants = [("eager", run)]
        if compile_ok and hasattr(torch, "compile"):
            variants.append(("compile", torch.compile(run)))
        out[name] = {}
        for vname, m in variants:  # noqa: B007 - bound into the closures below
            opt = torch.optim.AdamW(base.parameters(), lr=1e-4, weight_decay=0.0)
            st = {}
            if dev == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()

            def fwd(m=m, st=st):
                with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
                    if name == "vae":
                        x = torch.randn(batch, c["channels"], c["image_size"], c["image_size"], device=dev)
                        eps = torch.randn(batch, c["latent_ch"], lat, lat, device=dev)
                        st["loss"] = m(x, eps)
                    else:
                        z0 = torch.randn(batch, c["latent_ch"], lat, lat, device=dev)
                        noise = torch.randn_like(z0)
                        t = torch.randint(0, c["timesteps"], (batch,), device=dev)
                        a = abar[t][:, None, None, None]
                        xt = a.sqrt() * z0 + (1 - a).sqrt() * noise
                        labels = torch.arange(batch, device=dev) % max(c["num_classes"], 1)
                        st["loss"] = F.mse_loss(m(xt, t.float(), labels.float()).float(), noise)

            def bwd(st=st):
                st["loss"].backward()

            def step(opt=opt):
                opt.step()
                opt.zero_grad(set_to_none=False)

            try:
                f, b, o = time_parts(timer, steps, [fwd, bwd, step])
            except Exception as e:  # noqa: BLE001 - torch.compile fails in many environments; say so and go on
                if vname == "eager":
                    raise
                print(f"torch.compile ({name} training): not used ({type(e).__name__}: {str(e)[:80]})")
                continue
            peak = torch.cuda.max_memory_allocated() if dev == "cuda" else 0
            out[name][vname] = {"fwd": f, "bwd": b, "opt": o, "peak": peak}
    return out


def bench_sample(c, batch, dev, timer, compile_ok, amp=False):
    torch.manual_seed(0)
    lat = c["image_size"] // (1 << (len(c["vae_mult"]) - 1))
    unet, vae = UNet(c).to(dev).eval(), VAE(c).to(dev).eval()
    guided = c["num_classes"] > 0
    nb = 2 * batch if guided else batch
    x = torch.randn(nb, c["latent_ch"], lat, lat, device=dev)
    t = torch.full((nb,), 500.0, device=dev)
    labels = torch.arange(nb, device=dev).float() % (c["num_classes"] + 1)
    res = {}
    variants = [("eager", unet)]
    if compile_ok and hasattr(torch, "compile"):
        try:
            cu = torch.compile(unet)
            with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
                cu(x, t, labels)
            variants.append(("compile", cu))
        except Exception as e:  # noqa: BLE001 - torch.compile fails in many environments; say so and go on
            print(f"torch.compile: not used ({type(e).__name__}: {str(e)[:80]})")
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
        for name, m in variants:
            res[name] = timer.median([lambda m=m: m(x, t, labels)])
        z = torch.randn(batch, c["latent_ch"], lat, lat, device=dev)
        res["decode"] = timer.median([lambda: vae.dec(z)])
    return res


# ----------------------------------------------------------------------------
# numerics

def check_numerics(tensors, c, dev):
    vae, unet = VAE(c).to(dev), UNet(c).to(dev)
    load_weights(vae, tensors, "vae")
    load_weights(unet, tensors, "unet")
    io = {k: v.to(dev) for k, v in tensors.items() if k.startswith("io.")}
    ok = True

    def cmp(name, got, want):
        nonlocal ok
        err = ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()
        good = err <= 1e-3
        ok &= good
        print(f"  {'OK  ' if good else 'FAIL'} {name:14} max |torch - ldm.c| / max |ldm.c| = {err:.2e}")

    with torch.no_grad():
        mean, logvar = vae.encode(nchw(io["io.vae.x"]))
        cmp("vae mean", mean, nchw(io["io.vae.mean"]))
        cmp("vae logvar", logvar, nchw(io["io.vae.logvar"]))
        cmp("vae x_hat", vae.dec(nchw(io["io.vae.mean"])), nchw(io["io.vae.x_hat"]))
        eps = unet(nchw(io["io.unet.x"]), io["io.unet.t"], io["io.unet.labels"])
        cmp("unet eps", eps, nchw(io["io.unet.eps"]))
    return ok


# ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--numerics", help="ldm-bench numerics --out file (config + weights); without it, no numerics "
                    "check, and the config comes from the --train / --sample JSON")
    ap.add_argument("--kernels", help="ldm-bench kernels --json file")
    ap.add_argument("--train", help="ldm-bench train --json file")
    ap.add_argument("--sample", help="ldm-bench sample --json file")
    ap.add_argument("--device", default=None, help="cpu | cuda (default: the kernels JSON's device, else cpu)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: the JSON's)")
    ap.add_argument("--quick", action="store_true", help="shorter timing")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                    help="kernels: PyTorch's inputs in this type; train/sample: bf16 = autocast (default fp32)")
    ap.add_argument("--out", help="write {rows: {key: ns}, train: ..., sample: ...} (integers)")
    ap.add_argument("--interleave", type=int, default=0, metavar="N",
                    help="CPU kernels: N rounds alternating LDM_BENCH kernels (per op of --kernels) and PyTorch; "
                    "best of N on both sides (for a machine shared with other work)")
    ap.add_argument("--ldm-bench", default="build/ldm-bench", help="the ldm-bench binary for --interleave")
    ap.add_argument("--ldm-out", help="with --interleave: write ldm.c's best rows as a `ldm-bench kernels --json` "
                    "file, for `ldm-bench chart --json` beside --out (both sides then best of N)")
    a = ap.parse_args()

    kj = json.load(open(a.kernels)) if a.kernels else None
    tj = json.load(open(a.train)) if a.train else None
    sj = json.load(open(a.sample)) if a.sample else None
    if a.numerics:
        tensors, meta = read_safetensors(a.numerics)
        c = parse_config(meta["config"])
    else:
        text = (tj or sj or {}).get("config")
        if (tj or sj) and not text:
            raise SystemExit("torch_twin: --train/--sample JSON without a config: give --numerics")
        c = parse_config(text) if text else {"preset": (kj or {}).get("preset", "?")}
    dev = a.device or (kj or tj or sj or {}).get("device", "cpu")
    threads = a.threads or (kj or tj or sj or {}).get("threads", 0)
    if threads:
        torch.set_num_threads(threads)
    if a.dtype == "bf16" and dev != "cuda" and (tj or sj):
        raise SystemExit("torch_twin: --dtype bf16 with --train/--sample needs --device cuda (CPU autocast in "
                         "PyTorch 1.13 fails on group_norm)")
    if dev == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch_twin: --device cuda but torch sees no CUDA device")
    l2 = torch.cuda.get_device_properties(0).L2_cache_size if dev == "cuda" and hasattr(
        torch.cuda.get_device_properties(0), "L2_cache_size") else (50 << 20 if dev == "cuda" else 0)
    timer = Timer(dev, l2, a.quick)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"torch_twin: PyTorch {torch.__version__}, {dev}, {torch.get_num_threads()} threads, preset {c['preset']}")
    blas = blas_info()
    print(f"torch_twin: PyTorch's BLAS: {blas['name']} ({blas['path'] or '?'}), {blas['gflops']} GFLOP/s on a 512^3 "
          f"SGEMM, one thread")

    ok = True
    if a.numerics:
        print("== numerics: the same weights and inputs through ldm.c and PyTorch (on the CPU)")
        ok = check_numerics(tensors, c, "cpu")
    # the JSON holds integers only (ldm-bench chart reads it): the SGEMM rate in MFLOP/s
    blas_out = {k: v for k, v in blas.items() if k != "gflops"}
    blas_out["mflops"] = int(round(blas["gflops"] * 1000))
    out = {"torch": torch.__version__, "device": dev, "numerics_ok": int(ok), "blas": blas_out, "rows": {}}
    if dev == "cpu" and not blas["ok"] and (kj or tj or sj):
        print(f"torch_twin: REFUSED: no ratios. PyTorch runs on {blas['name']} at {blas['gflops']} GFLOP/s (an "
              f"optimised BLAS does >= {BLAS_MIN_GFLOPS:g}); every GEMM, convolution and attention comparison would "
              "be against a crippled PyTorch. Debian: apt-get install libopenblas0-pthread (update-alternatives "
              "--display libblas.so.3-x86_64-linux-gnu shows which libblas.so.3 is active).")
        return 3

    if kj and a.interleave and dev == "cpu":
        kj, res = bench_interleaved(kj, a.interleave, a.ldm_bench, timer, torch.get_num_threads())
        out["rows"] = {k: int(round(v * 1e9)) for k, v in res.items()}
        if a.ldm_out:
            with open(a.ldm_out, "w") as f:
                json.dump(kj, f)
        print(f"\n(best of {a.interleave} interleaved rounds on each side)")
        print_kernels(kj, res, blas["name"])
    elif kj:
        res = bench_kernels(kj, dev, timer, l2, torch.bfloat16 if a.dtype == "bf16" else torch.float32)
        out["rows"] = {k: int(round(v * 1e9)) for k, v in res.items()}
        print_kernels(kj, res, blas["name"])
    if tj:
        batch = tj["batch"]
        amp = a.dtype == "bf16"
        tr = bench_train(c, batch, 3, dev, timer, amp, compile_ok=not a.no_compile and dev == "cuda")
        print(f"\n== train step (batch {batch}, PyTorch {'autocast bf16' if amp else 'fp32'}, BLAS {blas['name']}): "
              f"ldm.c vs PyTorch, ms; ratio = ldm.c / PyTorch, < 1: ldm.c faster")
        print(f'{"model":6} {"variant":8} {"part":5} {"ldm.c":>10} {"torch":>10} {"ratio":>7}')
        out["train"] = {}
        for m, variants in tr.items():
            lm = tj["models"][m]
            for vname, r in variants.items():
                tot_l = tot_t = 0.0
                for part, key in (("fwd", "fwd_ns"), ("bwd", "bwd_ns"), ("opt", "opt_ns")):
                    lv, tv = lm[key] * 1e-9, r[part]
                    tot_l, tot_t = tot_l + lv, tot_t + tv
                    print(f"{m:6} {vname:8} {part:5} {lv * 1e3:10.2f} {tv * 1e3:10.2f} {lv / tv:7.2f}")
                print(f"{m:6} {vname:8} {'step':5} {tot_l * 1e3:10.2f} {tot_t * 1e3:10.2f} {tot_l / tot_t:7.2f}   "
                      f"images/s ldm.c {batch / tot_l:.1f}, torch {batch / tot_t:.1f}"
                      + (f"; peak MiB ldm.c arena {lm['arena_peak_bytes'] / 2**20:.0f} + params "
                         f"{lm['param_bytes'] / 2**20:.0f} = "
                         f"{(lm['arena_peak_bytes'] + lm['param_bytes']) / 2**20:.0f}, torch {r['peak'] / 2**20:.0f} "
                         f"(ratio {(lm['arena_peak_bytes'] + lm['param_bytes']) / max(r['peak'], 1):.2f})"
                         if dev == "cuda" else ""))
                out["train"][m if vname == "eager" else f"{m}.{vname}"] = {p: int(r[p] * 1e9)
                                                                            for p in ("fwd", "bwd", "opt")}
    if sj:
        batch = sj["batch"]
        sr = bench_sample(c, batch, dev, timer, not a.no_compile, a.dtype == "bf16")
        ls, ld = sj["step_ns"] * 1e-9, sj["decode_ns"] * 1e-9
        print(f"\n== sampling (batch {batch}, guidance {'on' if c['num_classes'] else 'off'}, BLAS {blas['name']}): ms")
        print(f'{"part":22} {"ldm.c":>10} {"torch":>10} {"ratio":>7}')
        for name in [k for k in sr if k != "decode"]:
            print(f'{"denoising step " + name:22} {ls * 1e3:10.2f} {sr[name] * 1e3:10.2f} {ls / sr[name]:7.2f}')
        print(f'{"VAE decode":22} {ld * 1e3:10.2f} {sr["decode"] * 1e3:10.2f} {ld / sr["decode"]:7.2f}')
        n = sj["steps"]
        for name in [k for k in sr if k != "decode"]:
            print(f'{f"{n}-step DDIM + decode, s ({name})":22} {n * ls + ld:10.3f} {n * sr[name] + sr["decode"]:10.3f} '
                  f'{(n * ls + ld) / (n * sr[name] + sr["decode"]):7.2f}')
        out["sample"] = {k: int(v * 1e9) for k, v in sr.items()}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
