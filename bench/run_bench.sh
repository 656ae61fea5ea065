#!/usr/bin/env bash
# bench/run_bench.sh — what `make bench` runs: the static resource table of the CUDA
# kernels (bench/resources.py, into bench/RESULTS.md, when nvcc is here); then for the CPU,
# and for the GPU when one is present (nvidia-smi lists a device and ldm-bench was built
# with CUDA):
#   ldm-bench kernels / train / sample on $PRESET (the GPU also does adni's kernels),
#   ldm-bench numerics (weights + inputs + outputs), bench/torch_twin.py side by side
#   (when $PY imports torch), and ldm-bench chart -> bench/chart_<device>_<preset>.png.
# The twin first checks PyTorch's BLAS (the library it loaded and a 512^3 SGEMM's GFLOP/s):
# on the reference BLAS it refuses to time anything (exit 3) and the chart gets no ratios.
# Tables and JSON go to $BUILD/bench. Exit status 1 when a step failed.
set -u -o pipefail
BUILD=${BUILD:-build}
PRESET=${PRESET:-demo}
FLAGS=${FLAGS:-}
PY=${PY:-}
BIN=$BUILD/ldm-bench
OUT=$BUILD/bench
mkdir -p "$OUT"
status=0
step() { echo; echo "== $*"; }
run() { # log file, command...
    local log=$1; shift
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "make bench: '$*' failed (rc $rc)"; status=1; }
    return "$rc"
}

devices=cpu
if nvidia-smi -L >/dev/null 2>&1 && "$BIN" kernels --device cuda --op add --quick >/dev/null 2>&1; then
    devices="cpu cuda"
else
    echo "make bench: no usable CUDA device (or a CPU-only build): CPU tables only"
fi

step "static kernel resources (ptxas; no GPU needed) -> bench/RESULTS.md"
if [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
    run "$OUT/resources.txt" python3 bench/resources.py --results bench/RESULTS.md
else
    echo "make bench: no nvcc: the resource table in bench/RESULTS.md is left as it is"
fi

step "numerics file ($PRESET)"
num=$OUT/numerics_$PRESET.safetensors
run "$OUT/numerics_$PRESET.txt" "$BIN" numerics --preset "$PRESET" --out "$num"

for dev in $devices; do
    k=$OUT/kernels_${dev}_$PRESET
    t=$OUT/train_${dev}_$PRESET
    s=$OUT/sample_${dev}_$PRESET
    step "kernels, $dev, $PRESET"
    run "$k.txt" "$BIN" kernels --device "$dev" --preset "$PRESET" $FLAGS --json "$k.json"
    step "train step, $dev, $PRESET"
    run "$t.txt" "$BIN" train --device "$dev" --preset "$PRESET" --json "$t.json"
    step "sampling, $dev, $PRESET"
    run "$s.txt" "$BIN" sample --device "$dev" --preset "$PRESET" --json "$s.json"
    torch_json=()
    if [ -n "$PY" ]; then
        step "PyTorch twin, $dev ($PY)"
        if run "$OUT/torch_${dev}_$PRESET.txt" "$PY" bench/torch_twin.py --numerics "$num" --kernels "$k.json" \
            --train "$t.json" --sample "$s.json" --device "$dev" --out "$OUT/torch_${dev}_$PRESET.json"; then
            torch_json=(--torch "$OUT/torch_${dev}_$PRESET.json")
        fi
    else
        echo "make bench: no python3 with torch (Debian: apt-get install python3-torch): no PyTorch column"
    fi
    step "chart, $dev"
    run "$OUT/chart_$dev.txt" "$BIN" chart --json "$k.json" "${torch_json[@]}" --png "bench/chart_${dev}_$PRESET.png" &&
        echo "wrote bench/chart_${dev}_$PRESET.png"
    if [ "$dev" = cuda ] && [ "$PRESET" != adni ]; then
        step "kernels, cuda, adni"
        run "$OUT/kernels_cuda_adni.txt" "$BIN" kernels --device cuda --preset adni $FLAGS --json "$OUT/kernels_cuda_adni.json"
    fi
done
echo
[ $status -eq 0 ] && echo "make bench: done (tables in $OUT)" || echo "make bench: FAILED (see above)"
exit $status
