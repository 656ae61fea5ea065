#!/usr/bin/env bash
# bench/demo_ab.sh — one training recipe run in full by two builds of ldm.c, stage by stage
# alternating (old VAE, new VAE, old U-Net, new U-Net, old sampling, new sampling), so both
# see the same spells of load; wall clock and CPU seconds per stage into $OUT/times.txt.
#
#   OLD=/path/to/old/build NEW=build OUT=/tmp/demo_ab bash bench/demo_ab.sh
#
# The recipe is `make demo`'s as it was before the CPU-speed work (6ddcb0b): VAE 400 steps of
# 16, U-Net 2400 steps of 16 at lr 1e-3, 8 samples per class with 50 guided DDIM steps. Build
# the old side with `git worktree add /tmp/old 6ddcb0b && make -C /tmp/old CUDA=0`. The
# numbers of the last run are in bench/RESULTS.md. Takes about 25 minutes on 2 cores.
set -u
OLD=${OLD:?OLD=the old build folder}; NEW=${NEW:-build}; OUT=${OUT:-/tmp/demo_ab}
DATA=${DATA:-/usr/share/mricron/templates/ch2.nii.gz}
for b in "$OLD" "$NEW"; do
  for p in ldm-data ldm-train ldm-sample; do
    [ -x "$b/$p" ] || { echo "demo_ab.sh: $b/$p is missing (build it first)" >&2; exit 1; }
  done
done
[ -f "$DATA" ] || { echo "demo_ab.sh: $DATA is missing (apt-get install mricron-data)" >&2; exit 1; }
mkdir -p "$OUT/old" "$OUT/new"
: > "$OUT/times.txt"
export OMP_WAIT_POLICY=passive # make demo's DEMO_ENV
timed() { local tag=$1; shift; /usr/bin/time -f "$tag wall %e s user %U s sys %S s" -a -o "$OUT/times.txt" "$@" \
            > "$OUT/$tag.log" 2>&1 || echo "demo_ab.sh: $tag failed, see $OUT/$tag.log" >&2; }
bin() { [ "$1" = old ] && echo "$OLD" || echo "$NEW"; }
for s in old new; do
  timed $s-preview "$(bin $s)/ldm-data" preview "$DATA" --out "$OUT/$s/real.png" --count 24 --cols 8 --size 64; done
for s in old new; do
  timed $s-vae "$(bin $s)/ldm-train" vae --preset demo --data "$DATA" --out "$OUT/$s" --steps 400 --batch 16 \
    --ckpt-every 100 --log-every 20; done
for s in old new; do
  timed $s-unet "$(bin $s)/ldm-train" unet --preset demo --data "$DATA" --vae "$OUT/$s/vae.safetensors" --out "$OUT/$s" \
    --steps 2400 --batch 16 --lr 1e-3 --ckpt-every 200 --log-every 50; done
for s in old new; do
  timed $s-sample "$(bin $s)/ldm-sample" --unet "$OUT/$s/unet.safetensors" --vae "$OUT/$s/vae.safetensors" --label all \
    --n 8 --steps 50 --sampler ddim --guidance 3 --seed 0 --out "$OUT/$s/samples.png" --strip "$OUT/$s/denoising.png"; done
awk '{w[substr($1, 1, 3)] += $3; c[substr($1, 1, 3)] += $6 + $9}
     END {printf "total: old %.1f s wall (%.0f CPU-s), new %.1f s wall (%.0f CPU-s), speed-up %.2fx\n",
          w["old"], c["old"], w["new"], c["new"], w["old"] / w["new"]}' "$OUT/times.txt" | tee -a "$OUT/times.txt"
