/* bench/chart.h — `ldm-bench chart`: a PNG bar chart from `ldm-bench kernels --json` and,
 * optionally, bench/torch_twin.py's --out JSON.
 *
 * One bar pair per op and pass (conv2d.fwd, group_norm.bwd, ...), aggregated over the
 * preset's shapes weighted by how often each runs (count): left, the share of the device's
 * ceiling achieved (sum of count x bytes, or x FLOP for conv2d/linear/attention, over sum
 * of count x time, divided by the measured ceiling); right, ldm.c time over PyTorch time
 * (sum of count x time each; below 1 means ldm.c is faster). Where several CUDA versions
 * were timed, each shape counts with its fastest. */
#ifndef LDM_BENCH_CHART_H
#define LDM_BENCH_CHART_H

/* torch_json may be NULL (no ratio panel). 0, or -1 with an error. */
int chart_write(const char *kernels_json, const char *torch_json, const char *png_path);

#endif
