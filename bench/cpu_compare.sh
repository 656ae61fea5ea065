#!/usr/bin/env bash
# bench/cpu_compare.sh — ldm.c against PyTorch on the CPU, at 1 and 2 threads, in rounds that
# interleave the two, for a machine whose speed drifts (a shared VM): both sides see the same
# slow spells, and each keeps its best. What bench/RESULTS.md's quiet runs are made with.
#
#   bash bench/cpu_compare.sh                 # build/ldm-bench, 5 rounds, into /tmp/cpu_compare
#   B=build/ldm-bench OLD=/tmp/old/build/ldm-bench ROUNDS=5 KROUNDS=5 OUT=dir bash bench/cpu_compare.sh
#
# Per thread count: ROUNDS rounds of (ldm-bench train, OLD's train if given, ldm-bench sample,
# the twin's train and sample), then the kernel rows with `torch_twin.py --interleave KROUNDS`.
# The summary (best of the rounds per side, and the median of the per-round ratios) goes to
# OUT/summary.txt; the kernel tables to OUT/tk1.txt and OUT/tk2.txt, their charts to
# OUT/chart_1.png and OUT/chart_2.png (cp one to bench/chart_cpu_demo.png). Needs python3 with torch
# (Debian's python3-torch and libopenblas0-pthread). About 10 minutes with the defaults.
set -u
B=${B:-build/ldm-bench}; OLD=${OLD:-}; OUT=${OUT:-/tmp/cpu_compare}; PY=${PY:-/usr/bin/python3}
ROUNDS=${ROUNDS:-5}; KROUNDS=${KROUNDS:-5}; PRESET=${PRESET:-demo}
[ -x "$B" ] || { echo "cpu_compare.sh: $B is missing (make first)" >&2; exit 1; }
[ -z "$OLD" ] || [ -x "$OLD" ] || { echo "cpu_compare.sh: OLD=$OLD is not an executable" >&2; exit 1; }
"$PY" -c "import torch" 2>/dev/null || { echo "cpu_compare.sh: $PY cannot import torch" >&2; exit 1; }
mkdir -p "$OUT"
run() { "$@" > /dev/null 2> "$OUT/last.err" || { echo "cpu_compare.sh: failed: $* (see $OUT/last.err)" >&2; exit 1; }; }
for th in 1 2; do
  export OMP_NUM_THREADS=$th
  for r in $(seq 1 "$ROUNDS"); do
    run "$B" train --preset "$PRESET" --json "$OUT/t${th}_$r.json"
    [ -z "$OLD" ] || run "$OLD" train --preset "$PRESET" --json "$OUT/old_t${th}_$r.json"
    run "$B" sample --preset "$PRESET" --json "$OUT/s${th}_$r.json"
    run "$PY" bench/torch_twin.py --train "$OUT/t${th}_$r.json" --sample "$OUT/s${th}_$r.json" --threads $th \
      --out "$OUT/tt${th}_$r.json"
    echo "cpu_compare.sh: $th thread(s), round $r/$ROUNDS done" >&2
  done
  run "$B" kernels --preset "$PRESET" --json "$OUT/k$th.json"
  "$PY" bench/torch_twin.py --kernels "$OUT/k$th.json" --interleave "$KROUNDS" --threads $th --ldm-bench "$B" \
    --out "$OUT/tk$th.json" --ldm-out "$OUT/lk$th.json" > "$OUT/tk$th.txt" 2> "$OUT/last.err" ||
    { echo "cpu_compare.sh: the kernel twin failed" >&2; exit 1; }
  run "$B" chart --json "$OUT/lk$th.json" --torch "$OUT/tk$th.json" --png "$OUT/chart_$th.png"
  echo "cpu_compare.sh: $th thread(s), kernels done" >&2
done
"$PY" - "$OUT" "$ROUNDS" > "$OUT/summary.txt" <<'PYEOF'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
load = lambda p: json.load(open(p)) if os.path.exists(p) else None
ms = lambda d, m, part: d["models"][m][part + "_ns"] * 1e-6
for th in (1, 2):
    side = {"ldm": {}, "old": {}, "torch": {}}
    ratio, vs_old = {}, {}
    for r in range(1, rounds + 1):
        t, o = load(f"{out}/t{th}_{r}.json"), load(f"{out}/old_t{th}_{r}.json")
        tt, s = load(f"{out}/tt{th}_{r}.json"), load(f"{out}/s{th}_{r}.json")
        for m in ("vae", "unet"):
            parts = {p: ms(t, m, p) for p in ("fwd", "bwd", "opt")}
            tparts = {p: tt["train"][m][p] * 1e-6 for p in ("fwd", "bwd", "opt")}
            parts["step"], tparts["step"] = sum(parts.values()), sum(tparts.values())
            for p in parts:
                side["ldm"].setdefault((m, p), []).append(parts[p])
                side["torch"].setdefault((m, p), []).append(tparts[p])
            ratio.setdefault(m, []).append(parts["step"] / tparts["step"])
            if o:
                ostep = sum(ms(o, m, p) for p in ("fwd", "bwd", "opt"))
                side["old"].setdefault((m, "step"), []).append(ostep)
                vs_old.setdefault(m, []).append(parts["step"] / ostep)
        n = s["steps"]
        l = {"step": s["step_ns"] * 1e-6, "decode": s["decode_ns"] * 1e-6, "total": (n * s["step_ns"] + s["decode_ns"]) * 1e-9}
        e = tt["sample"]
        p = {"step": e["eager"] * 1e-6, "decode": e["decode"] * 1e-6, "total": (n * e["eager"] + e["decode"]) * 1e-9}
        for k in l:
            side["ldm"].setdefault(("sample", k), []).append(l[k])
            side["torch"].setdefault(("sample", k), []).append(p[k])
        ratio.setdefault("sample", []).append(l["total"] / p["total"])
    print(f"\n{th} thread{'s' if th > 1 else ''}: best of {rounds} rounds per side (ms; sampling total in s)")
    print(f"{'model':6} {'part':6} {'ldm.c':>9} {'torch':>9} {'ratio':>6}")
    for key in side["ldm"]:
        a, b = min(side["ldm"][key]), min(side["torch"][key])
        print(f"{key[0]:6} {key[1]:6} {a:9.3f} {b:9.3f} {a / b:6.2f}")
    med = lambda v: f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
    print("median (range) of the per-round ratios ldm.c / torch: " +
          ", ".join(f"{k} {med(v)}" for k, v in ratio.items()))
    if vs_old:
        print("median (range) of the per-round ratios ldm.c / OLD: " + ", ".join(f"{k} {med(v)}" for k, v in vs_old.items()))
PYEOF
cat "$OUT/summary.txt"
