# ldm.c — build, test and check.
#
#   make            build/libldm.a and the entry points in build/
#   make test       every Criterion suite (installs missing Debian packages when root)
#   make asan       the CPU suites under AddressSanitizer + UBSan
#   make demo       the main job: train and sample on real MRI, then judge it with ldm-eval (see README)
#   make fashion    Fashion-MNIST end to end on the CPU (<= 60 min): judge, VAE, U-Net, samples, ldm-eval
#   make bench      kernel, training and sampling benchmarks vs PyTorch (CPU; + GPU when present)
#   make CUDA=0     CPU backend only (also what happens when nvcc is not found)
#   make CUDA=emu   the CUDA kernels compiled by g++ against the emulator of core/emu/ (no GPU,
#                   no nvcc): --device cuda runs every kernel on the CPU, with fault checks
#
# nvcc comes from CUDA_HOME (default /usr/local/cuda). The only CUDA library linked is
# the runtime (static); no cuBLAS, cuDNN, CUTLASS or cuRAND.

CC        ?= gcc
BUILD     ?= build
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= sm_90
ifeq ($(origin CUDA),undefined)
CUDA := $(if $(wildcard $(NVCC)),1,0)
endif

CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -I. -fopenmp
OPT        ?= -O2 -march=native
CFLAGS     += $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDLIBS      = -lpng -ljpeg -lz -lm -lpthread -fopenmp
NVFLAGS     = -O3 -std=c++17 -arch=$(CUDA_ARCH) -I. -DLDM_CUDA -Xcompiler -Wall,-fno-strict-aliasing

# STATIC_IMG=1: the image libraries linked statically (make gpu-build)
ifeq ($(STATIC_IMG),1)
LDLIBS  := -Wl,-Bstatic -lpng -ljpeg -lz -Wl,-Bdynamic -lm -lpthread -fopenmp
endif

# The emulator build: each .cu is compiled by the host C++ compiler with the execution model
# of core/emu/cuda_emu.h force-included, and every load and store instrumented
# (-fsanitize=thread / alignment: the hooks are core/emu/cuda_emu.cpp's, libtsan is never
# linked). EMU_OPT="-O0 -g" for stepping through a kernel in gdb.
EMU_CXX   ?= g++
EMU_OPT   ?= -O2 -g -march=native
EMU_CUFLAGS = -x c++ -std=c++17 -I. -Icore/emu -DLDM_CUDA -include core/emu/cuda_emu.h $(EMU_OPT) \
              -Wall -Wno-unknown-pragmas -fno-strict-aliasing -fsanitize=thread \
              --param=tsan-instrument-func-entry-exit=0 -fsanitize=alignment

ifeq ($(CUDA),1)
CFLAGS  += -DLDM_CUDA
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
CU_SRCS  = $(wildcard core/*.cu kernels/cuda/*.cu bench/*.cu)
EMU_OBJS =
else ifeq ($(CUDA),emu)
CFLAGS  += -DLDM_CUDA -DLDM_CUDA_EMU -Icore/emu
LDLIBS  += -ldl -lstdc++
CU_SRCS  = $(wildcard core/*.cu kernels/cuda/*.cu bench/*.cu)
EMU_OBJS = $(OBJ)/core/emu/cuda_emu.o
else
CU_SRCS  =
EMU_OBJS =
endif

# Entry points are <dir>/ldm_<name>.c -> build/ldm-<name>; everything else is the library.
MAIN_SRCS = $(wildcard train/ldm_*.c sample/ldm_*.c bench/ldm_*.c data/ldm_*.c)
LIB_SRCS  = $(filter-out $(MAIN_SRCS), $(wildcard core/*.c kernels/*.c kernels/cpu/*.c autograd/*.c \
              models/*.c data/*.c train/*.c sample/*.c bench/*.c bench/ops/*.c))
# tests/test_emu.c tests the emulator itself (fixtures tests/emu/*.cu): CUDA=emu builds only.
TEST_SRCS = $(if $(filter emu,$(CUDA)),$(wildcard tests/test_*.c),$(filter-out tests/test_emu.c tests/test_tc.c,$(wildcard tests/test_*.c)))
TEST_UTIL = $(wildcard tests/util/*.c)

OBJ      = $(BUILD)/obj
LIB_OBJS = $(LIB_SRCS:%.c=$(OBJ)/%.o) $(CU_SRCS:%.cu=$(OBJ)/%.cu.o) $(EMU_OBJS)
BINS     = $(patsubst %.c,$(BUILD)/%,$(subst ldm_,ldm-,$(notdir $(MAIN_SRCS))))
TESTS    = $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test asan demo fashion clean gpu-check gpu-build fuzz bench
.SECONDARY:
all: banner $(BUILD)/libldm.a $(BINS)

banner:
	@if [ "$(CUDA)" = 1 ]; then echo "ldm.c: building with CUDA ($(NVCC), $(CUDA_ARCH))"; \
	 elif [ "$(CUDA)" = emu ]; then echo "ldm.c: building with the CUDA emulator (kernels compiled by $(EMU_CXX), run on the CPU)"; \
	 else echo "ldm.c: building the CPU backend only (no nvcc at $(NVCC), or CUDA=0)"; fi
.PHONY: banner

# Objects depend on the flags they were built with, so switching CUDA=0/1, OPT or
# CUDA_ARCH in the same build folder rebuilds what it must.
FLAGS_STAMP = $(OBJ)/.flags
$(shell mkdir -p $(OBJ) && echo '$(CC) $(CFLAGS) | $(NVCC) $(NVFLAGS) | $(CUDA) | $(EMU_CXX) $(EMU_CUFLAGS)' > $(FLAGS_STAMP).new && \
  (cmp -s $(FLAGS_STAMP).new $(FLAGS_STAMP) || mv $(FLAGS_STAMP).new $(FLAGS_STAMP)); rm -f $(FLAGS_STAMP).new)

$(OBJ)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Philox normals must round identically on the CPU and the GPU: no contraction into FMA.
$(OBJ)/kernels/cpu/random.o: CFLAGS += -ffp-contract=off
# AdamW's sqrtf never sees a negative: without errno the loop vectorises (kernels/cpu/adamw.c).
$(OBJ)/kernels/cpu/adamw.o: CFLAGS += -fno-math-errno

ifeq ($(CUDA),emu)
$(OBJ)/%.cu.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(EMU_CXX) $(EMU_CUFLAGS) -MMD -MP -c $< -o $@

# The emulator's runtime: plain C++, not instrumented (it defines the hooks).
$(OBJ)/core/emu/%.o: core/emu/%.cpp $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(EMU_CXX) -std=c++17 -I. -O2 -g -Wall -Wextra -MMD -MP -c $< -o $@
else
$(OBJ)/%.cu.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@
endif

# The GPU side of the same rule: random.cu must equal the CPU bit for bit.
$(OBJ)/kernels/cuda/random.cu.o: NVFLAGS += --fmad=false
$(OBJ)/kernels/cuda/random.cu.o: EMU_CUFLAGS += -ffp-contract=off

# The archives are remade when their list of members changes: a source removed or moved
# leaves no newer object behind, and the old archive would keep its stale member (two
# definitions at link time). The list is kept in a stamp like the flags.
define members_stamp
$(shell echo '$(2)' > $(1).new && (cmp -s $(1).new $(1) || mv $(1).new $(1)); rm -f $(1).new)
endef
LIB_STAMP = $(OBJ)/.libldm-members
$(call members_stamp,$(LIB_STAMP),$(LIB_OBJS))
$(BUILD)/libldm.a: $(LIB_OBJS) $(LIB_STAMP)
	@rm -f $@
	ar rcs $@ $(LIB_OBJS)

$(BUILD)/ldm-%: $(OBJ)/train/ldm_%.o $(BUILD)/libldm.a
	$(CC) $(CFLAGS) $< $(BUILD)/libldm.a $(LDLIBS) -o $@
$(BUILD)/ldm-%: $(OBJ)/sample/ldm_%.o $(BUILD)/libldm.a
	$(CC) $(CFLAGS) $< $(BUILD)/libldm.a $(LDLIBS) -o $@
$(BUILD)/ldm-%: $(OBJ)/bench/ldm_%.o $(BUILD)/libldm.a
	$(CC) $(CFLAGS) $< $(BUILD)/libldm.a $(LDLIBS) -o $@
$(BUILD)/ldm-%: $(OBJ)/data/ldm_%.o $(BUILD)/libldm.a
	$(CC) $(CFLAGS) $< $(BUILD)/libldm.a $(LDLIBS) -o $@

$(BUILD)/tests/%: $(OBJ)/tests/%.o $(TEST_UTIL:%.c=$(OBJ)/%.o) $(BUILD)/libldm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(TEST_UTIL:%.c=$(OBJ)/%.o) $(BUILD)/libldm.a $(LDLIBS) $(TEST_LDFLAGS) -lcriterion -o $@

# test_no_malloc counts the malloc-family calls of ldm.c's own code: the linker redirects them
# to the suite's counting wrappers (tests/test_no_malloc.c says why this is sound).
NO_MALLOC_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=posix_memalign,--wrap=free
# (TEST_LDFLAGS, not LDLIBS: `make asan` sets LDLIBS on its command line, which would drop it.)
$(BUILD)/tests/test_no_malloc: TEST_LDFLAGS = $(NO_MALLOC_WRAP)

# build/gpu-check: device parity of the op table (tests/gpu/gpu_check.c, no Criterion).
$(BUILD)/gpu-check: $(OBJ)/tests/gpu/gpu_check.o $(BUILD)/libldm.a
	$(CC) $(CFLAGS) $< $(BUILD)/libldm.a $(LDLIBS) -o $@

# For a machine with a GPU: gpu-check, ldm-bench and ldm-train built here with nvcc, with
# libpng, libjpeg and zlib linked statically (the GPU machine may lack them), copied with
# bench/gpu_run.sh's inputs into $(GPU_RUN_DIR); carry that folder. See the README.
GPU_BUILD   ?= build-gpu
GPU_RUN_DIR ?= build/gpu-run
GPU_OPT     ?= -O2 -march=x86-64-v3
gpu-build:
	@$(MAKE) --no-print-directory CUDA=1 BUILD=$(GPU_BUILD) STATIC_IMG=1 OPT="$(GPU_OPT)" \
	  $(GPU_BUILD)/gpu-check $(GPU_BUILD)/ldm-bench $(GPU_BUILD)/ldm-train
	@mkdir -p $(GPU_RUN_DIR) && cp $(GPU_BUILD)/gpu-check $(GPU_BUILD)/ldm-bench $(GPU_BUILD)/ldm-train $(GPU_RUN_DIR)/
	@echo "gpu-build: $(GPU_RUN_DIR) ($$(du -sh $(GPU_RUN_DIR) | cut -f1)); on the GPU machine: bash bench/gpu_run.sh"

# On a machine with a GPU, from binaries built here (make gpu-build): the one-call run.
gpu-check:
	BIN=$(GPU_RUN_DIR) bash bench/gpu_run.sh

# Debian packages the build needs; installed when root, else the exact command is printed.
DEB_PKGS = libpng-dev libjpeg62-turbo-dev zlib1g-dev libcriterion-dev
deps:
	@missing=""; \
	 [ -f /usr/include/png.h ] || missing="$$missing libpng-dev"; \
	 [ -f /usr/include/jpeglib.h ] || [ -f /usr/include/x86_64-linux-gnu/jpeglib.h ] || missing="$$missing libjpeg62-turbo-dev"; \
	 [ -f /usr/include/zlib.h ] || missing="$$missing zlib1g-dev"; \
	 [ -f /usr/include/criterion/criterion.h ] || missing="$$missing libcriterion-dev"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "ldm.c: installing$$missing"; \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	   else \
	     echo "ldm.c: missing packages. Run:  sudo apt-get install -y$$missing"; exit 1; \
	   fi; \
	 fi

# Then every CUDA kernel on the emulator: test_gpu (the parity checks, every op and kernel
# version, quick shapes) and test_emu (the emulator's own fixtures), built with CUDA=emu in
# $(BUILD)/emu and linked against core + kernels only. Needs g++, not nvcc or a GPU.
# The suites' OpenMP threads sleep instead of spinning at barriers, as in `make demo`: on a
# machine shared with other work, a spinning thread waits out the timeslice of a descheduled
# partner at every parallel region (the 1000-step sampler test: 5 s passive, 60 s spinning).
TEST_ENV ?= OMP_WAIT_POLICY=passive
test: deps
	@$(MAKE) --no-print-directory all tests-build
	@fail=0; for t in $(TESTS); do echo "== $$t"; $(TEST_ENV) $$t --jobs 2 || fail=1; done; \
	 if [ "$(CUDA)" != emu ]; then \
	   if command -v $(EMU_CXX) >/dev/null; then \
	     $(MAKE) --no-print-directory CUDA=emu BUILD=$(BUILD)/emu emu-tests-build || fail=1; \
	     for t in $(EMU_TEST_BINS:$(BUILD)/%=$(BUILD)/emu/%); do echo "== $$t (CUDA emulator)"; $(TEST_ENV) $$t --jobs 2 || fail=1; done; \
	   else echo "SKIPPED: the CUDA emulator suites need $(EMU_CXX)"; fi; \
	 fi; \
	 if [ $$fail = 0 ]; then echo "make test: all suites passed"; else echo "make test: FAILED"; exit 1; fi

tests-build: $(TESTS)
.PHONY: tests-build

# The emulator suites link core (minus the files that use libpng/libjpeg), kernels, the op
# table (bench/ops), autograd and models (test_gpu trains a U-Net a few steps); test_emu also the fixtures tests/emu/*.cu (bad and good kernels), test_tc
# the tensor-core instruction kernels tests/tc/*.cu.
GPU_LIB_OBJS  = $(patsubst %.c,$(OBJ)/%.o,$(shell grep -L -E '<(png|jpeglib)\.h>' $(wildcard core/*.c)) \
                  $(wildcard kernels/*.c kernels/cpu/*.c bench/ops/*.c autograd/*.c models/*.c)) \
                $(CU_SRCS:%.cu=$(OBJ)/%.cu.o) $(EMU_OBJS)
EMU_TEST_BINS = $(BUILD)/tests/test_gpu $(BUILD)/tests/test_emu $(BUILD)/tests/test_tc
EMU_FIXTURES  = $(patsubst %.cu,$(OBJ)/%.cu.o,$(wildcard tests/emu/*.cu))
TC_KERNELS    = $(patsubst %.cu,$(OBJ)/%.cu.o,$(wildcard tests/tc/*.cu))
ifeq ($(CUDA),emu)
GPU_LIB_STAMP = $(OBJ)/.libldm-kernels-members
$(call members_stamp,$(GPU_LIB_STAMP),$(GPU_LIB_OBJS))
$(BUILD)/libldm-kernels.a: $(GPU_LIB_OBJS) $(GPU_LIB_STAMP)
	@rm -f $@
	ar rcs $@ $(GPU_LIB_OBJS)
$(BUILD)/tests/test_gpu: $(OBJ)/tests/test_gpu.o $(BUILD)/libldm-kernels.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libldm-kernels.a $(filter-out -lpng -ljpeg -lz,$(LDLIBS)) -lcriterion -o $@
$(BUILD)/tests/test_emu: $(OBJ)/tests/test_emu.o $(EMU_FIXTURES) $(BUILD)/libldm-kernels.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(EMU_FIXTURES) $(BUILD)/libldm-kernels.a $(filter-out -lpng -ljpeg -lz,$(LDLIBS)) -lcriterion -o $@
# test_tc: the tensor-core PTX layer (kernels/cuda/mma.cuh) through tests/tc/*.cu
$(BUILD)/tests/test_tc: $(OBJ)/tests/test_tc.o $(TC_KERNELS) $(BUILD)/libldm-kernels.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(TC_KERNELS) $(BUILD)/libldm-kernels.a $(filter-out -lpng -ljpeg -lz,$(LDLIBS)) -lcriterion -o $@
endif
emu-tests-build: $(EMU_TEST_BINS)
.PHONY: emu-tests-build

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CUDA=0 OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDLIBS="-lpng -ljpeg -lz -lm -lpthread -fopenmp -fsanitize=address,undefined" tests-build-asan

tests-build-asan: $(TESTS) $(BINS)
	@fail=0; for t in $(TESTS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t --jobs 1 || fail=1; done; \
	 if [ $$fail = 0 ]; then echo "make asan: all suites clean"; else echo "make asan: FAILED"; exit 1; fi
.PHONY: tests-build-asan

# ---- benchmarks: ldm-bench kernels/train/sample on the demo preset, the PyTorch twin
# (bench/torch_twin.py, any python3 that imports torch; Debian: apt-get install python3-torch)
# side by side, and the charts; tables and JSON in $(BUILD)/bench, charts in bench/.
# With a CUDA device the same runs on the GPU (adni shapes too). BENCH_PRESET, BENCH_FLAGS.
BENCH_PRESET ?= demo
BENCH_FLAGS  ?=
BENCH_PY     ?= $(firstword $(foreach p,python3 /usr/bin/python3,$(shell $(p) -c 'import torch' 2>/dev/null && echo $(p))))
bench: all
	@BUILD="$(BUILD)" PRESET="$(BENCH_PRESET)" FLAGS="$(BENCH_FLAGS)" PY="$(BENCH_PY)" bash bench/run_bench.sh

# ldm-eval's summary of a run, from the JSON reports of `ldm-eval samples` ($1) and `ldm-eval vae` ($2):
# accuracy, FD beside the real-vs-real floor and the FD of the VAE's own reconstructions.
# (a shell function: `eval_summary samples.json vae.json`)
EVAL_SUMMARY = eval_summary() { \
	  num() { sed -n "$$1" "$$2" | grep -o "\"$$3\": [-0-9.e+]*" | head -1 | sed 's/.*: //'; }; \
	  acc=$$(num '/"overall"/,$$p' $$1 accuracy); racc=$$(num '/"overall"/,$$p' $$1 real_accuracy); \
	  fd=$$(num '/"overall"/,$$p' $$1 fd); fl=$$(num '/"overall"/,$$p' $$1 fd_floor); \
	  mem=$$(num '/"overall"/,$$p' $$1 memorisation_share); \
	  rfd=$$(num '1,$$p' $$2 fd_reconstruction); psnr=$$(num '1,$$p' $$2 psnr); \
	  awk -v a="$$acc" -v r="$$racc" -v f="$$fd" -v l="$$fl" -v m="$$mem" -v v="$$rfd" -v p="$$psnr" 'BEGIN { \
	    printf "ldm-eval summary: samples %.1f%% correct (real held-out %.1f%%); FD %.3g = %.1fx the real-vs-real floor %.3g; VAE reconstructions FD %.3g, PSNR %.2f dB; memorised %.1f%%\n", \
	      100 * a, 100 * r, f, (l > 0 ? f / l : 0), l, v, p, 100 * m }'; }

# The demo: the `demo` preset (64x64, 3 classes) on axial slices of the Colin27 brain that
# Debian's mricron-data ships; classes are the inferior, middle and superior thirds of the
# brain. VAE, then U-Net, then a grid of samples per class, into $(DEMO_DIR); then ldm-eval:
# a classifier on the three slabs, the VAE on held-out slices, the samples. `--group-by
# image` makes each slice its own group, so a tenth of the slices (17) are held out of
# every training run and judged there. Sized to finish within 15 minutes on 2 CPU cores;
# uses the GPU when there is one. Re-running resumes an interrupted run (a finished stage
# is skipped).
DEMO_DIR        ?= out/demo
DEMO_DATA       ?= /usr/share/mricron/templates/ch2.nii.gz
DEMO_BATCH      ?= 16
DEMO_VAE_STEPS  ?= 1200
DEMO_VAE_BATCH  ?= 8
DEMO_VAE_LR     ?= 2e-3
DEMO_UNET_STEPS ?= 2400
DEMO_UNET_LR    ?= 1e-3
DEMO_SAMPLE     ?= --label all --n 8 --steps 50 --sampler ddim --guidance 3 --seed 0
DEMO_SPLIT      ?= --group-by image
DEMO_CLS_STEPS  ?= 100
DEMO_EVAL       ?= --n 16 --steps 25 --sampler ddim --guidance 3 --seed 0
# OpenMP threads sleep instead of spinning between the many small parallel regions: on a
# machine shared with other work, spinning threads slow each other down many times over.
DEMO_ENV        ?= OMP_WAIT_POLICY=passive
demo: deps all
	@if [ ! -f $(DEMO_DATA) ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "make demo: installing mricron-data (the Colin27 brain volumes)"; \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mricron-data >/dev/null || exit 1; \
	   else \
	     echo "make demo: the demo trains on $(DEMO_DATA) from mricron-data. Run:  sudo apt-get install -y mricron-data"; \
	     exit 1; \
	   fi; \
	 fi
	@mkdir -p $(DEMO_DIR)
	@start=$$(date +%s); set -e; \
	 resume() { [ -f $(DEMO_DIR)/$$1.safetensors ] && echo "--resume $(DEMO_DIR)/$$1.safetensors" || true; }; \
	 echo "== make demo: real slices -> $(DEMO_DIR)/real.png"; \
	 $(BUILD)/ldm-data preview $(DEMO_DATA) --out $(DEMO_DIR)/real.png --count 24 --cols 8 --size 64 >/dev/null; \
	 echo "== make demo: VAE ($(DEMO_VAE_STEPS) steps of $(DEMO_VAE_BATCH), peak lr $(DEMO_VAE_LR))"; \
	 $(DEMO_ENV) $(BUILD)/ldm-train vae --preset demo --data $(DEMO_DATA) $(DEMO_SPLIT) --out $(DEMO_DIR) \
	   --steps $(DEMO_VAE_STEPS) --batch $(DEMO_VAE_BATCH) --lr $(DEMO_VAE_LR) --ckpt-every 200 --log-every 20 $$(resume vae); \
	 echo "== make demo: U-Net ($(DEMO_UNET_STEPS) steps of $(DEMO_BATCH), peak lr $(DEMO_UNET_LR))"; \
	 $(DEMO_ENV) $(BUILD)/ldm-train unet --preset demo --data $(DEMO_DATA) $(DEMO_SPLIT) --vae $(DEMO_DIR)/vae.safetensors \
	   --out $(DEMO_DIR) --steps $(DEMO_UNET_STEPS) --batch $(DEMO_BATCH) --lr $(DEMO_UNET_LR) --ckpt-every 200 \
	   --log-every 50 $$(resume unet); \
	 echo "== make demo: sampling"; \
	 $(DEMO_ENV) $(BUILD)/ldm-sample --unet $(DEMO_DIR)/unet.safetensors --vae $(DEMO_DIR)/vae.safetensors \
	   $(DEMO_SAMPLE) --out $(DEMO_DIR)/samples.png --strip $(DEMO_DIR)/denoising.png; \
	 echo "== make demo: ldm-eval (a classifier on the three slabs, the VAE and the samples on held-out slices)"; \
	 [ -f $(DEMO_DIR)/classifier.safetensors ] || $(DEMO_ENV) $(BUILD)/ldm-eval classifier --data $(DEMO_DATA) $(DEMO_SPLIT) \
	   --preset demo --out $(DEMO_DIR)/classifier.safetensors --steps $(DEMO_CLS_STEPS) --quiet; \
	 $(DEMO_ENV) $(BUILD)/ldm-eval vae --vae $(DEMO_DIR)/vae.safetensors --data $(DEMO_DATA) $(DEMO_SPLIT) \
	   --classifier $(DEMO_DIR)/classifier.safetensors --json $(DEMO_DIR)/eval_vae.json; \
	 $(DEMO_ENV) $(BUILD)/ldm-eval samples --classifier $(DEMO_DIR)/classifier.safetensors --data $(DEMO_DATA) $(DEMO_SPLIT) \
	   --unet $(DEMO_DIR)/unet.safetensors --vae $(DEMO_DIR)/vae.safetensors $(DEMO_EVAL) --quiet \
	   --json $(DEMO_DIR)/eval_samples.json --plot $(DEMO_DIR)/embedding.png; \
	 $(EVAL_SUMMARY); eval_summary $(DEMO_DIR)/eval_samples.json $(DEMO_DIR)/eval_vae.json; \
	 end=$$(date +%s); \
	 echo "make demo: done in $$(( (end - start) / 60 )) min $$(( (end - start) % 60 )) s. Look at:"; \
	 echo "  $(DEMO_DIR)/samples.png     generated slices, one row per class (inferior, middle, superior)"; \
	 echo "  $(DEMO_DIR)/real.png        real slices of the same brain, for comparison"; \
	 echo "  $(DEMO_DIR)/denoising.png   the U-Net's guess of the clean slice along the way"; \
	 echo "  $(DEMO_DIR)/vae_loss.png $(DEMO_DIR)/unet_loss.png   the loss curves"; \
	 echo "  $(DEMO_DIR)/embedding.png   real and generated slices in the classifier's feature space (PCA)"


# Fashion-MNIST: the `fashion` preset (28x28 on a 32x32 canvas, 10 classes) from Debian's
# dataset-fashion-mnist. The judge first (ldm-eval classifier), then the VAE and the U-Net
# (--eval-every logs the judge's verdict on EMA samples while it trains), a grid, and
# ldm-eval on the held-out images (the t10k set and the validation tenth): accuracy per
# class, FD beside the real-vs-real floor and beside the VAE's own reconstructions. Sized
# for 60 minutes on 2 CPU cores; FASHION_*_STEPS shorten it (a smoke run: see the README).
# Re-running resumes (a finished stage is skipped).
FASHION_DIR        ?= out/fashion
FASHION_DATA       ?= /usr/share/datasets/fashion-mnist
FASHION_BATCH      ?= 32
FASHION_CLS_STEPS  ?= 600
FASHION_VAE_STEPS  ?= 1000
FASHION_UNET_STEPS ?= 4000
FASHION_UNET_LR    ?= 1e-3
FASHION_EVAL_EVERY ?= 1000
FASHION_EVAL_N     ?= 16
FASHION_SAMPLE     ?= --label all --n 10 --steps 50 --sampler ddim --guidance 3 --seed 0
FASHION_EVAL       ?= --n 50 --steps 25 --sampler ddim --guidance 3 --seed 0 --max-real 1000
fashion: deps all
	@if [ ! -f $(FASHION_DATA)/train-images-idx3-ubyte.gz ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "make fashion: installing dataset-fashion-mnist"; \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null || exit 1; \
	   else \
	     echo "make fashion: the data is $(FASHION_DATA) from dataset-fashion-mnist. Run:  sudo apt-get install -y dataset-fashion-mnist"; \
	     exit 1; \
	   fi; \
	 fi
	@mkdir -p $(FASHION_DIR)
	@start=$$(date +%s); set -e; \
	 resume() { [ -f $(FASHION_DIR)/$$1.safetensors ] && echo "--resume $(FASHION_DIR)/$$1.safetensors" || true; }; \
	 echo "== make fashion: the judge (ldm-eval classifier, $(FASHION_CLS_STEPS) steps)"; \
	 [ -f $(FASHION_DIR)/classifier.safetensors ] || $(DEMO_ENV) $(BUILD)/ldm-eval classifier --data $(FASHION_DATA) \
	   --preset fashion --out $(FASHION_DIR)/classifier.safetensors --steps $(FASHION_CLS_STEPS) --json $(FASHION_DIR)/classifier.json; \
	 echo "== make fashion: VAE ($(FASHION_VAE_STEPS) steps of $(FASHION_BATCH))"; \
	 $(DEMO_ENV) $(BUILD)/ldm-train vae --preset fashion --data $(FASHION_DATA) --out $(FASHION_DIR) \
	   --steps $(FASHION_VAE_STEPS) --batch $(FASHION_BATCH) --ckpt-every 250 --log-every 50 $$(resume vae); \
	 echo "== make fashion: U-Net ($(FASHION_UNET_STEPS) steps of $(FASHION_BATCH), peak lr $(FASHION_UNET_LR))"; \
	 $(DEMO_ENV) $(BUILD)/ldm-train unet --preset fashion --data $(FASHION_DATA) --vae $(FASHION_DIR)/vae.safetensors \
	   --out $(FASHION_DIR) --steps $(FASHION_UNET_STEPS) --batch $(FASHION_BATCH) --lr $(FASHION_UNET_LR) --ckpt-every 500 \
	   --log-every 50 --eval-every $(FASHION_EVAL_EVERY) --eval-n $(FASHION_EVAL_N) --classifier $(FASHION_DIR)/classifier.safetensors $$(resume unet); \
	 echo "== make fashion: sampling"; \
	 $(DEMO_ENV) $(BUILD)/ldm-sample --unet $(FASHION_DIR)/unet.safetensors --vae $(FASHION_DIR)/vae.safetensors \
	   $(FASHION_SAMPLE) --out $(FASHION_DIR)/samples.png; \
	 echo "== make fashion: ldm-eval (held-out images)"; \
	 $(DEMO_ENV) $(BUILD)/ldm-eval vae --vae $(FASHION_DIR)/vae.safetensors --data $(FASHION_DATA) --max-real 1000 \
	   --classifier $(FASHION_DIR)/classifier.safetensors --json $(FASHION_DIR)/eval_vae.json; \
	 $(DEMO_ENV) $(BUILD)/ldm-eval samples --classifier $(FASHION_DIR)/classifier.safetensors --data $(FASHION_DATA) \
	   --unet $(FASHION_DIR)/unet.safetensors --vae $(FASHION_DIR)/vae.safetensors $(FASHION_EVAL) --quiet \
	   --json $(FASHION_DIR)/eval_samples.json --plot $(FASHION_DIR)/embedding.png; \
	 $(EVAL_SUMMARY); eval_summary $(FASHION_DIR)/eval_samples.json $(FASHION_DIR)/eval_vae.json; \
	 end=$$(date +%s); \
	 echo "make fashion: done in $$(( (end - start) / 60 )) min $$(( (end - start) % 60 )) s. Look at:"; \
	 echo "  $(FASHION_DIR)/samples.png     generated images, one row per class"; \
	 echo "  $(FASHION_DIR)/unet_loss.png   the loss, and the judge's accuracy and FD along the run"; \
	 echo "  $(FASHION_DIR)/embedding.png   real and generated images in the classifier's feature space (PCA)"
.PHONY: fashion

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- fuzzing: the data decoders and the safetensors reader under libFuzzer + ASan + UBSan (clang), FUZZ_TIME s each.
# Seeds come from data/fuzz/make_seeds.c; corpora and crash files stay in $(BUILD)/fuzz.
FUZZ_TIME ?= 60
FUZZ_CC   ?= clang
FUZZ_DIR   = $(BUILD)/fuzz
FUZZ_LIB   = core/error.c core/safetensors.c core/json.c core/tensor.c core/arena.c core/device.c data/image.c data/decode_png.c data/decode_jpeg.c data/nifti.c data/idx.c data/byte_reader.c
FUZZ_TARGETS = $(notdir $(basename $(wildcard data/fuzz/fuzz_*.c)))
fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz: needs clang with libFuzzer (apt-get install clang)"; exit 1; }
	@mkdir -p $(FUZZ_DIR)
	$(CC) -std=c11 -D_GNU_SOURCE -I. -O1 data/fuzz/make_seeds.c core/png.c core/error.c -lpng -ljpeg -lz -o $(FUZZ_DIR)/make_seeds
	$(FUZZ_DIR)/make_seeds $(FUZZ_DIR)/seeds
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_CC) -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    data/fuzz/$$t.c $(FUZZ_LIB) -lpng -ljpeg -lz -lm -o $(FUZZ_DIR)/$$t || exit 1; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; echo "== $$t: $(FUZZ_TIME) s"; \
	  $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_TIME) -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/$$t- $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/seeds/$$t >$(FUZZ_DIR)/$$t.log 2>&1; \
	  rc=$$?; grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' $(FUZZ_DIR)/$$t.log; \
	  [ $$rc -eq 0 ] || { tail -40 $(FUZZ_DIR)/$$t.log; echo "make fuzz: $$t failed; input in $(FUZZ_DIR)/$$t-*"; exit 1; }; \
	done; echo "make fuzz: no crashes"

# ---- mutation check: each small wrong edit in tests/mutants/mutants.txt, applied one at a time to
# a scratch copy (MUTANT_DIR, default /tmp/ldm-mutants-<uid>), rebuilt with CUDA=0 and tested with
# the suites that cover it; a surviving mutant fails. MUTANTS=pattern runs a subset.
mutants:
	@bash tests/mutants/run_mutants.sh
.PHONY: mutants
