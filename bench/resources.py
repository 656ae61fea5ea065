#!/usr/bin/env python3
"""bench/resources.py — the static resource report of every CUDA kernel, without a GPU.

For each kernels/cuda/*.cu: nvcc -ptx (front end, the project's flags), then ptxas -v for the
target (sm_90 by default) on that PTX. From ptxas: registers per thread, spill stores/loads,
stack frame, static shared memory, barriers. From the PTX: .maxntid (the __launch_bounds__
thread count) and .minnctapersm. Theoretical occupancy on sm_90 (H100/H200 limits: 65536
registers, 228 KB shared memory, 2048 threads, 64 warps, 32 blocks per SM; registers are
allocated per warp in units of 256, i.e. a thread's count rounded up to a multiple of 8; each
block reserves 1 KB of shared memory) is computed from registers, static shared memory and
the block size: the launch bound when the kernel declares one, else 256 (marked '256*': this
project launches its element-wise and reduction kernels with 256 threads). Dynamic shared
memory (attention, the cached group norm) is set at launch and not counted here: for those
kernels the occupancy column is an upper bound (marked 'dyn').

Writes a markdown table to stdout (or --out FILE), and lists the kernels that spill.
Usage: python3 bench/resources.py [--nvcc PATH] [--arch sm_90] [--out FILE] [--results bench/RESULTS.md]
"""
import argparse, glob, os, re, subprocess, sys, tempfile

REGS_SM, SMEM_SM, SMEM_RESERVED, THREADS_SM, WARPS_SM, BLOCKS_SM = 65536, 228 * 1024, 1024, 2048, 64, 32


def occupancy(regs, smem, threads):
    """Blocks per SM and the share of the 64 warp slots they fill, with the limiting factor."""
    warps = (threads + 31) // 32
    regs_warp = ((max(regs, 1) + 7) // 8 * 8) * 32
    lim = {
        "threads": THREADS_SM // threads,
        "blocks": BLOCKS_SM,
        "regs": (REGS_SM // regs_warp) // warps,
        "smem": SMEM_SM // (smem + SMEM_RESERVED),
    }
    key = min(lim, key=lambda k: lim[k])
    blocks = lim[key]
    return blocks, blocks * warps / WARPS_SM, key


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        sys.stderr.write(p.stdout)
        raise SystemExit(f"resources: {' '.join(cmd)} failed ({p.returncode})")
    return p.stdout


def demangle(names):
    if not names:
        return {}
    out = subprocess.run(["c++filt"], input="\n".join(names), stdout=subprocess.PIPE, text=True).stdout.split("\n")
    return dict(zip(names, out))


def short(name):
    """attn_flash_dkdv<64, true>(const float*, ...) -> attn_flash_dkdv<64, true>"""
    name = name.replace("(anonymous namespace)::", "")
    if name.startswith("void "):
        name = name[5:]
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            return name[:i]
    return name


def kernels_of(src, nvcc, arch, tmp):
    ptx = os.path.join(tmp, os.path.basename(src) + ".ptx")
    run([nvcc, "-O3", "-std=c++17", f"-arch={arch}", "-I.", "-DLDM_CUDA", "-ptx", src, "-o", ptx])
    text = open(ptx).read()
    bounds = {}
    for m in re.finditer(r"\.entry\s+(\S+)\s*\((.*?)\)\s*((?:\.\w+[^{]*?)*)\{", text, re.S):
        attrs = m.group(3)
        nt = re.search(r"\.maxntid\s+(\d+)\s*,\s*(\d+)\s*,\s*(\d+)", attrs)
        mb = re.search(r"\.minnctapersm\s+(\d+)", attrs)
        bounds[m.group(1)] = (int(nt.group(1)) * int(nt.group(2)) * int(nt.group(3)) if nt else 0,
                              int(mb.group(1)) if mb else 0)
    log = run(["ptxas", "-v", f"-arch={arch}", ptx, "-o", os.devnull])
    rows, cur = [], None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\S+)'", line)
        if m:
            cur = {"mangled": m.group(1), "stack": 0, "spill_st": 0, "spill_ld": 0, "regs": 0, "smem": 0, "bar": 0}
            rows.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["stack"], cur["spill_st"], cur["spill_ld"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["regs"] = int(m.group(1))
            b = re.search(r"used (\d+) barriers", line)
            s = re.search(r"(\d+) bytes smem", line)
            cur["bar"] = int(b.group(1)) if b else 0
            cur["smem"] = int(s.group(1)) if s else 0
    for r in rows:
        r["threads"], r["minblocks"] = bounds.get(r["mangled"], (0, 0))
        r["file"] = os.path.relpath(src)
    return rows, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvcc", default=os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc"))
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--src", default="kernels/cuda")
    ap.add_argument("--out")
    ap.add_argument("--results", help="replace the section between the resources markers of this file "
                    "(bench/RESULTS.md)")
    a = ap.parse_args()
    if not os.path.exists(a.nvcc):
        raise SystemExit(f"resources: no nvcc at {a.nvcc} (set CUDA_HOME)")
    os.environ["PATH"] = os.path.dirname(a.nvcc) + os.pathsep + os.environ["PATH"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(glob.glob(os.path.join(a.src, "*.cu"))):
            r, ptx = kernels_of(src, a.nvcc, a.arch, tmp)
            # dynamic shared memory: the entry's body addresses an extern .shared array
            ext = set(re.findall(r"\.extern \.shared[^;]*?(\w+)\[\]", ptx))
            for k in r:
                body = ptx.split(".entry " + k["mangled"], 1)[-1].split(".entry ", 1)[0]
                k["dyn"] = any(re.search(r"\b" + re.escape(e) + r"\b", body) for e in ext)
            rows += r
    names = demangle([r["mangled"] for r in rows])
    lines = []
    ver = run([a.nvcc, "--version"]).strip().splitlines()[-1]
    lines.append(f"Static resources per kernel ({a.arch}; {ver}): `make bench` regenerates this table "
                 f"(bench/resources.py). Occupancy = resident warps / 64 per SM from registers, static shared "
                 f"memory and block size (H100/H200 limits); 'limit' names the binding resource. Block size: "
                 f"the kernel's __launch_bounds__, or 256* (this project's launches, assumed). 'dyn': the kernel "
                 f"also takes dynamic shared memory at launch, so its occupancy is an upper bound.\n")
    lines.append("| file | kernel | regs | spill st/ld (B) | stack (B) | smem (B) | block | min blocks | occupancy | limit |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    spills, low, seen = [], [], {}
    for r in rows:
        key = (r["file"], short(names.get(r["mangled"], r["mangled"])), r["regs"], r["spill_st"], r["smem"])
        seen[key] = seen.get(key, 0) + 1
    for r in rows:
        key = (r["file"], short(names.get(r["mangled"], r["mangled"])), r["regs"], r["spill_st"], r["smem"])
        if seen.get(key, 0) == 0:
            continue  # a second instantiation with the same name and resources: counted on the first row
        count, seen[key] = seen[key], 0
        name = short(names.get(r["mangled"], r["mangled"]))
        threads = r["threads"] or 256
        blocks, occ, lim = occupancy(r["regs"], r["smem"], threads)
        spill = f'{r["spill_st"]}/{r["spill_ld"]}'
        if r["spill_st"] or r["spill_ld"]:
            spill = f"**{spill}**"
            spills.append(f'{name} ({r["file"]}): {r["spill_st"]} B spill stores, {r["spill_ld"]} B loads, '
                          f'{r["regs"]} registers')
        if occ <= 0.25:
            low.append(f"{name} {100 * occ:.0f}% ({lim})")
        lines.append(f'| {r["file"].split("/")[-1]} | `{name}`{f" (x{count})" if count > 1 else ""} | {r["regs"]} | {spill} | {r["stack"]} | {r["smem"]}'
                     f'{" +dyn" if r["dyn"] else ""} | {threads if r["threads"] else "256*"} | {r["minblocks"] or "-"} | '
                     f'{100 * occ:.0f}%{" (ub)" if r["dyn"] else ""} | {lim} |')
    lines.append("")
    lines.append(f"{len(rows)} kernels; " + (f"{len(spills)} spill:" if spills else "none spills."))
    lines += [f"- {s}" for s in spills]
    if low:
        lines.append(f"\nAt or under 25% theoretical occupancy ({len(low)}): " + "; ".join(low) + ".")
    text = "\n".join(lines) + "\n"
    if a.out:
        open(a.out, "w").write(text)
    if a.results:
        begin, end = "<!-- resources:begin (bench/resources.py) -->", "<!-- resources:end -->"
        doc = open(a.results).read() if os.path.exists(a.results) else ""
        block = f"{begin}\n{text}{end}"
        if begin in doc and end in doc:
            doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
        else:
            doc = doc.rstrip("\n") + "\n\n## Static kernel resources (no GPU needed)\n\n" + block + "\n"
        open(a.results, "w").write(doc)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
