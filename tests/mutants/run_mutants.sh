#!/usr/bin/env bash
# tests/mutants/run_mutants.sh — `make mutants`: do the tests notice wrong code?
#
# Each entry of tests/mutants/mutants.txt is one small wrong edit (a sign, an off-by-one,
# 1/n -> 1/(n-1), a dropped term, a swapped index, a missing accumulation, a wrong
# variance). For each, in a scratch copy of the working tree (never this tree): apply the
# edit, rebuild incrementally (CUDA=0 unless the entry says otherwise), run the suites
# that cover the file, restore the file. A mutant is "killed" when a suite fails (or
# times out), "SURVIVED" when all pass: a survivor is a failure (a test to write, or an
# edit that is no bug and should leave the list). Ends with 'N passed, N failed'.
#
#   MUTANTS=pattern   only the mutants whose name contains pattern
#   MUTANT_TIMEOUT=s  per-suite time limit (default 300)
#   MUTANT_DIR=path   scratch copy (default /tmp/ldm-mutants-<uid>; kept between runs, so
#                     a second run rebuilds only what changed)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIST=${MUTANT_LIST:-$ROOT/tests/mutants/mutants.txt}
SCRATCH=${MUTANT_DIR:-/tmp/ldm-mutants-$(id -u)}
TIMEOUT=${MUTANT_TIMEOUT:-300}
FILTER=${MUTANTS:-}
JOBS=${MUTANT_JOBS:-2}
export OMP_WAIT_POLICY=passive # spinning OpenMP threads crawl on a shared machine
start=$(date +%s)

# ---- the scratch copy: every tracked and untracked (not ignored) file, as it is now.
# Only files whose content changed are copied (with a new mtime), so that the scratch
# build stays incremental and never keeps an object older than its source's content.
# Source files the tree no longer has are deleted from the copy (the build folders, which
# hold no sources, stay): a file that moved (sample/generate.c -> models/generate.c) would
# otherwise be built twice and the link would fail.
mkdir -p "$SCRATCH"
stage="$SCRATCH.stage"
rm -rf "$stage" && mkdir -p "$stage"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf -) |
    tar -xf - -C "$stage" || { echo "make mutants: cannot copy the tree to $stage"; exit 1; }
(cd "$stage" && find . -type f -print0) | while IFS= read -r -d '' f; do
    cmp -s "$stage/$f" "$SCRATCH/$f" || { mkdir -p "$(dirname "$SCRATCH/$f")" && cp "$stage/$f" "$SCRATCH/$f"; }
done
(cd "$SCRATCH" && find . -path './build*' -prune -o -type f -print0) | while IFS= read -r -d '' f; do
    [ -e "$stage/$f" ] || rm -f "$SCRATCH/$f"
done
rm -rf "$stage"
cd "$SCRATCH" || exit 1

# ---- parse the list: "@ file | suites [| make args]", "- original", "+ replacement"
names=() files=() suites=() margs=() origs=() repls=()
name="" ; n=0
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
    "# mutant: "*) name=${line#"# mutant: "} ;;
    "@ "*)
        IFS='|' read -r f s m <<<"${line#@ }"
        names[n]=$name files[n]=$(echo $f) suites[n]=$(echo $s) margs[n]=$(echo ${m:-}) origs[n]="" repls[n]=""
        n=$((n + 1)) name="" ;;
    "- "*) origs[n-1]=${line#- } ;;
    "+ "*) repls[n-1]=${line#+ } ;;
    "+") repls[n-1]="" ;;
    esac
done <"$LIST"

build() { # make args...: quiet unless it fails (later CUDA= and BUILD= arguments win)
    nice make --no-print-directory CUDA=0 BUILD=build-mutants -j"$JOBS" "$@" >build-mutants.log 2>&1
}
bdir=build-mutants # the build folder of the mutant at hand: BUILD= of its make arguments
build_dir() { bdir=build-mutants; for a in $1; do case $a in BUILD=*) bdir=${a#BUILD=} ;; esac; done; }
suite_bins() { for s in $1; do printf '%s/tests/%s ' "$bdir" "$s"; done; }
run_suites() { # suites -> 0 all passed, 1 one failed (name in $failed_suite)
    failed_suite=""
    for s in $1; do
        timeout "$TIMEOUT" "$bdir"/tests/"$s" --jobs "$JOBS" >mutant-suite.log 2>&1 || { failed_suite=$s; return 1; }
    done
    return 0
}

# ---- baseline: everything builds and every covering suite passes unmutated
all_suites=$(for ((i = 0; i < n; i++)); do [ -z "${margs[i]}" ] && echo "${suites[i]}"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
echo "make mutants: $n mutants; scratch copy $SCRATCH; baseline build and suites ($all_suites)"
build all $(suite_bins "$all_suites") || { tail -30 build-mutants.log; echo "make mutants: the unmutated tree does not build"; exit 1; }
if ! run_suites "$all_suites"; then
    tail -30 mutant-suite.log
    echo "make mutants: $failed_suite fails on the unmutated tree; fix that first"
    exit 1
fi

killed=0 survived=0 broken=0 ran=0
for ((i = 0; i < n; i++)); do
    label="${names[i]:-mutant $((i + 1))}"
    [ -n "$FILTER" ] && [[ "$label" != *"$FILTER"* ]] && continue
    ran=$((ran + 1))
    f=${files[i]} o=${origs[i]//\\n/$'\n'} r=${repls[i]//\\n/$'\n'}
    t0=$(date +%s)
    if [ ! -f "$f" ]; then
        echo "[$((i + 1))] $label ($f): BROKEN (no such file)"; broken=$((broken + 1)); continue
    fi
    src=$(cat "$f"; printf x) src=${src%x}
    rest=${src//"$o"/}
    count=$(((${#src} - ${#rest}) / ${#o}))
    if [ -z "$o" ] || [ "$count" -ne 1 ]; then
        echo "[$((i + 1))] $label ($f): BROKEN (the original text occurs $count times; update the list)"
        broken=$((broken + 1)); continue
    fi
    build_dir "${margs[i]}"
    if [ -n "${margs[i]}" ]; then # its own build (the CUDA emulator): the unmutated suites pass first
        if ! build ${margs[i]} $(suite_bins "${suites[i]}") || ! run_suites "${suites[i]}"; then
            echo "[$((i + 1))] $label ($f): BROKEN (the unmutated ${suites[i]} fails with ${margs[i]})"
            broken=$((broken + 1)); continue
        fi
    fi
    cp -p "$f" "$f.orig"
    printf '%s' "${src/"$o"/"$r"}" >"$f"
    touch "$f"
    targets="all"
    [ -n "${margs[i]}" ] && targets=""
    if ! build ${margs[i]} $targets $(suite_bins "${suites[i]}"); then
        result="BROKEN (does not compile: $(grep -m1 -E 'error' build-mutants.log))"; broken=$((broken + 1))
    elif run_suites "${suites[i]}"; then
        result="SURVIVED (${suites[i]} all pass)"; survived=$((survived + 1))
    else
        result="killed by $failed_suite"; killed=$((killed + 1))
    fi
    mv "$f.orig" "$f"
    touch "$f"
    echo "[$((i + 1))] $label ($f, $(($(date +%s) - t0)) s): $result"
done
bdir=build-mutants
build all $(suite_bins "$all_suites") >/dev/null 2>&1 # leave the scratch build unmutated
el=$(($(date +%s) - start))
echo "make mutants: $killed of $ran killed, $survived survived, $broken broken; $((el / 60)) min $((el % 60)) s"
echo "mutants: $killed passed, $((survived + broken)) failed"
[ $((survived + broken)) -eq 0 ]
