#!/usr/bin/env bash
# bench/gpu_run.sh — the GPU run that fits in one or two calls (at most 9 minutes each), from
# binaries built beforehand on a machine without a GPU (`make gpu-build`: nvcc there, no
# compiling here). Stages, each under its own time limit taken from one budget, in two groups
# (STAGES="check speed" runs both in one call; one group a call fits the budget better):
#  check:
#   device      nvidia-smi sees a GPU
#   parity      gpu-check: every op, pass and kernel version of the op table, full shapes
#   memcheck, racecheck, synccheck
#               compute-sanitizer on the quick shapes of the shared-memory ops
#  speed (the tensor-core issue's rows first; PyTorch in bf16 beside each):
#   tc-conv     conv2d version 3 (forward, dgrad, wgrad) at the adni shapes, then PyTorch
#               (cuDNN) on the same shapes in bf16
#   tc-attn     attention version 3 forward + backward at L = 1024 and 4096, head dim 64
#               (4 heads; self and to 4 context tokens), then PyTorch's SDPA in bf16
#   train-bf16  one adni training step at batch 16 in bf16: ldm.c, then PyTorch eager under
#               autocast and torch.compile, with peak memory
#   sample-bf16 50-step DDIM of 16 adni images: seconds, ldm.c then PyTorch
#   kernels     ldm-bench kernels --device cuda --preset adni --no-naive --quick (every op and
#               version, fp32 shapes), then PyTorch fp32 on the same shapes
# The table is written to $OUT/gpu_run.md as it goes (a timeout keeps what was done); logs
# beside it. Ends with 'N passed, N failed'; exit status 1 when a stage failed, 2 when there
# is no GPU (unless --dry-run, which prints each command and its limit and runs none).
#
#   bash bench/gpu_run.sh [--dry-run]     BIN (default build/gpu-run), OUT (default
#                                         build/gpu-run-out), PY (default python3), BUDGET (s),
#                                         STAGES (default "check speed")
set -u -o pipefail
DRY=0
for a in "$@"; do
    case $a in
    --dry-run) DRY=1 ;;
    *) echo "usage: bash bench/gpu_run.sh [--dry-run]" >&2; exit 2 ;;
    esac
done
BIN=${BIN:-build/gpu-run}
OUT=${OUT:-build/gpu-run-out}
PY=${PY:-python3}
BUDGET=${BUDGET:-520}
STAGES=${STAGES:-check speed}
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
PRESET=${PRESET:-adni}
mkdir -p "$OUT"
WORK=$(mktemp -d)
TABLE=$OUT/gpu_run.md
t0=$(date +%s)
passed=0
failed=0

{
    echo "# bench/gpu_run.sh, $(date -u '+%Y-%m-%d %H:%M UTC')$([ $DRY = 1 ] && echo ' (dry run)')"
    echo
    echo "| stage | result | s | detail |"
    echo "| --- | --- | ---: | --- |"
} >"$TABLE"

row() { # stage result seconds detail
    printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" >>"$TABLE"
    printf '%-10s %-8s %4ss  %s\n' "$1" "$2" "$3" "$4"
}

# stage NAME CAP LOG DETAIL-COMMAND -- COMMAND...: runs COMMAND under min(CAP, budget left),
# appending to $OUT/LOG; DETAIL-COMMAND (a shell snippet reading $log) makes the detail.
stage() {
    local name=$1 cap=$2 log=$OUT/$3 detail=$4
    shift 5
    local left=$((BUDGET - ($(date +%s) - t0)))
    local lim=$((cap < left ? cap : left))
    if [ $DRY = 1 ]; then
        echo "[dry-run] $name: timeout $cap $*  >> $log"
        row "$name" dry-run 0 "limit ${cap} s"
        return 0
    fi
    if [ "$lim" -lt 5 ]; then
        row "$name" FAIL 0 "not run: the ${BUDGET} s budget is spent"
        failed=$((failed + 1))
        return 1
    fi
    echo "== $name (limit ${lim} s): $*" >>"$log"
    local s=$(date +%s)
    timeout -k 5 "$lim" "$@" >>"$log" 2>&1
    local rc=$? took=$(($(date +%s) - s))
    local d
    d=$(log=$log; eval "$detail" 2>/dev/null | tr '\n|' ' /' | cut -c1-160)
    if [ $rc -eq 0 ]; then
        row "$name" ok "$took" "$d"
        passed=$((passed + 1))
    else
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && d="timed out after ${lim} s; $d" || d="rc $rc; $d"
        row "$name" FAIL "$took" "$d"
        failed=$((failed + 1))
    fi
    return $rc
}

# ---- device
if [ $DRY = 0 ]; then
    if ! gpus=$(nvidia-smi -L 2>&1) || [ -z "$gpus" ]; then
        row device FAIL 0 "no GPU: nvidia-smi: $(echo "$gpus" | head -n1)"
        echo "bench/gpu_run.sh: no GPU visible (use --dry-run to see the commands)"
        echo "0 passed, 1 failed"
        exit 2
    fi
    row device ok 0 "$(echo "$gpus" | head -n1 | cut -c1-120)"
    passed=$((passed + 1))
else
    row device dry-run 0 "nvidia-smi -L"
fi
for b in gpu-check ldm-bench; do
    if [ ! -x "$BIN/$b" ]; then
        row binaries FAIL 0 "$BIN/$b missing: run make gpu-build on the build machine and carry $BIN"
        failed=$((failed + 1))
        [ $DRY = 1 ] || { echo "$passed passed, $failed failed" | tee -a "$TABLE"; exit 1; }
    fi
done

if has check; then
# ---- parity: every op, pass and version, full shapes
stage parity 100 parity.log 'tail -n1 $log; grep -c "^FAIL" $log | sed "s/$/ FAIL lines/"' -- \
    "$BIN/gpu-check"

# ---- compute-sanitizer on the shared-memory kernels, quick shapes
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
[ -x "$SAN" ] || [ $DRY = 1 ] || echo "== compute-sanitizer not found at $SAN" >>"$OUT/sanitizer.log"
for tool in memcheck racecheck synccheck; do
    cap=50; [ $tool = racecheck ] && cap=70; [ $tool = synccheck ] && cap=40
    stage "$tool" $cap sanitizer.log \
        "grep -E \"ERROR SUMMARY|RACECHECK SUMMARY|Device not supported|not found|[0-9]+ passed\" \$log | tail -n2" -- \
        env LDM_CUDA_SYNC=1 "$SAN" --tool $tool --error-exitcode 3 --print-limit 20 "$BIN/gpu-check" --quick --shared-only
done
fi

if has speed; then
# ---- the tensor-core issue's rows: ldm.c's version 3 and PyTorch in bf16 on the same shapes
KC=$WORK/tc_conv.json
stage tc-conv 45 tc.log 'grep -c FAIL $log | sed "s/$/ FAIL rows/"' -- \
    "$BIN/ldm-bench" kernels --device cuda --preset "$PRESET" --op conv2d --version 3 --quick --json "$KC"
[ -f "$KC" ] && cp "$KC" "$OUT/tc_conv.json"
stage tc-conv-torch 40 tc.log 'grep -E "^(conv2d|all)" $log | tail -n4' -- \
    env PYTHONUNBUFFERED=1 "$PY" bench/torch_twin.py --kernels "$KC" --device cuda --dtype bf16 --quick
KA=$WORK/tc_attn.json
stage tc-attn 45 tc.log 'grep -c FAIL $log | sed "s/$/ FAIL rows/"' -- \
    "$BIN/ldm-bench" kernels --device cuda --op attention --version 3 --attn-len 1024,4096 --batch 4 --json "$KA"
[ -f "$KA" ] && cp "$KA" "$OUT/tc_attn.json"
stage tc-attn-torch 40 tc.log 'grep -E "^attention" $log | tail -n2' -- \
    env PYTHONUNBUFFERED=1 "$PY" bench/torch_twin.py --kernels "$KA" --device cuda --dtype bf16 --quick
T16=$WORK/train_bf16.json
stage train-bf16 60 train.log 'grep -E "^(vae|unet) " $log | tail -n2' -- \
    "$BIN/ldm-bench" train --preset "$PRESET" --device cuda --batch 16 --precision bf16 --json "$T16"
stage train-bf16-torch 110 train.log 'grep -E "unet +(eager|compile) +step" $log | tail -n2' -- \
    env PYTHONUNBUFFERED=1 "$PY" bench/torch_twin.py --train "$T16" --device cuda --dtype bf16
S16=$WORK/sample_bf16.json
stage sample-bf16 120 sample.log 'grep -E "^ldm-bench sample|per image" $log | tail -n2' -- \
    "$BIN/ldm-bench" sample --preset "$PRESET" --device cuda --batch 16 --steps 50 --precision bf16 --json "$S16"
stage sample-bf16-torch 60 sample.log 'grep -E "DDIM" $log | tail -n2' -- \
    env PYTHONUNBUFFERED=1 "$PY" bench/torch_twin.py --sample "$S16" --device cuda --dtype bf16

# ---- the kernel benchmark (no naive versions) on the preset's shapes, then PyTorch's
K=$WORK/kernels.json
stage kernels 80 kernels.log 'grep -c FAIL $log | sed "s/$/ FAIL rows/"; grep -E "^ceilings" $log' -- \
    "$BIN/ldm-bench" kernels --device cuda --preset "$PRESET" --no-naive --quick --json "$K"
[ -f "$K" ] && cp "$K" "$OUT/kernels.json"
stage torch 50 kernels.log 'grep -E "^(total|all)" $log | tail -n2' -- \
    env PYTHONUNBUFFERED=1 "$PY" bench/torch_twin.py --kernels "$K" --device cuda --quick
fi

echo >>"$TABLE"
echo "$passed passed, $failed failed" | tee -a "$TABLE"
rm -rf "$WORK"
[ $failed -eq 0 ]
