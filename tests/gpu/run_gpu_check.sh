#!/usr/bin/env bash
# tests/gpu/run_gpu_check.sh — what `make gpu-check` runs on a machine with a GPU:
#   1. build build/gpu-check for this GPU (sm_90 when nvidia-smi reports compute
#      capability 9.0, else nvcc's -arch=native), without Criterion, libpng or libjpeg;
#   2. the full parity run (every op, every kernel version, against the CPU);
#   3. compute-sanitizer memcheck and racecheck over the quick shapes;
#   4. the kernel benchmark;
# then prints a summary and the benchmark table. Full logs go to $OUT when it is set
# (else $BUILD/gpu-check-logs). Every stage runs under a time limit taken from one
# 9.5-minute budget, so the whole finishes in under 10 minutes. Exit status 1 if any
# stage failed or ran out of time.
set -u -o pipefail
MAKE=${MAKE:-make}
BUILD=${BUILD:-build}
LOG=${OUT:-$BUILD/gpu-check-logs}
mkdir -p "$LOG"
BIN=$BUILD/gpu-check
BUDGET=570
t0=$(date +%s)
status=0
summary=()

stage() { echo; echo "== $1 ($(( $(date +%s) - t0 )) s)"; }
# seconds a stage may take: its own cap, or what is left of the budget
limit() {
    local left=$(( BUDGET - ($(date +%s) - t0) ))
    [ "$left" -lt 1 ] && left=1
    [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
note() { # stage name, exit code of timeout(1)
    if [ "$2" -eq 124 ]; then summary+=("$1: ran out of time"); status=1;
    elif [ "$2" -ne 0 ]; then status=1; fi
}

# nvcc: CUDA_HOME if it has one, else the one on PATH
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -x "$CUDA_HOME/bin/nvcc" ] && command -v nvcc >/dev/null; then
    CUDA_HOME=$(dirname "$(dirname "$(command -v nvcc)")")
fi
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' ')
if [ "$cap" = "9.0" ]; then arch=sm_90; else arch=native; fi

stage "build for compute capability ${cap:-unknown} (-arch=$arch, $CUDA_HOME)"
nvidia-smi -L 2>&1 | tee "$LOG/build.log"
timeout "$(limit 240)" $MAKE --no-print-directory -j"$(nproc)" CUDA=1 CUDA_HOME="$CUDA_HOME" CUDA_ARCH=$arch \
    "$BIN" >>"$LOG/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    tail -n 40 "$LOG/build.log"
    echo "make gpu-check: build failed (rc $rc; full log: $LOG/build.log)"
    exit 1
fi
echo "built $BIN"

stage "parity: every op and kernel version against the CPU"
timeout "$(limit 150)" "$BIN" 2>&1 | tee "$LOG/parity.log"
rc=$?
summary+=("parity:    $(tail -n1 "$LOG/parity.log") (rc $rc)")
note parity $rc

SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
for tool in memcheck racecheck; do
    stage "compute-sanitizer --tool $tool (quick shapes)"
    if [ ! -x "$SAN" ]; then
        summary+=("$tool: compute-sanitizer not found")
        status=1
        continue
    fi
    LDM_CUDA_SYNC=1 timeout "$(limit 100)" "$SAN" --tool $tool --error-exitcode 3 --print-limit 20 "$BIN" --quick \
        >"$LOG/$tool.log" 2>&1
    rc=$?
    grep -E '^(FAIL|ABSENT) |^[0-9]+ passed' "$LOG/$tool.log" | tail -n 5
    summary+=("$tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$LOG/$tool.log" | tail -n1) (rc $rc)")
    note "$tool" $rc
done

stage "benchmark"
timeout "$(limit 120)" "$BIN" --bench --table "$LOG/table.txt" 2>&1 | tee "$LOG/bench.log"
rc=$?
summary+=("benchmark: rc $rc")
note benchmark $rc

stage "summary (full logs in $LOG)"
printf '%s\n' "${summary[@]}"
grep -E '^(FAIL|ABSENT) ' "$LOG/parity.log" | head -n 40
echo
echo "== table"
cat "$LOG/table.txt" 2>/dev/null || echo "(no table: the benchmark did not finish)"
exit $status
