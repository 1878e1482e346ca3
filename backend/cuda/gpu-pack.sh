#!/usr/bin/env bash
# Builds .gpubin for gpu-session.sh and makes it fit what the device tool
# carries: the working tree and the carried paths together, 64 MiB at most.
#
# Here (no GPU needed), from the repository root:
#   bash backend/cuda/gpu-pack.sh
# then, on the GPU machine, with .gpubin carried:
#   bash backend/cuda/gpu-session.sh "$OUT"
#
# It runs build-gpubin.sh (HG_BUILD_GPUBIN, default the project's shared
# recipe at ../shared/cuda/build-gpubin.sh) for every cuda test binary and
# the CLI; removes the test binaries whose packages run no CUDA code (bench,
# data, spectral, datasets, backend/cpu, backend's own: they test the CPU
# backend, the loaders and the reports, which the CPU CI already runs); gzips
# every file over 1 MiB (gpu-session.sh unpacks them); and prints the sizes,
# failing when the tree and .gpubin exceed 64 MiB.
set -euo pipefail
build=${HG_BUILD_GPUBIN:-../shared/cuda/build-gpubin.sh}
if [ ! -f "$build" ]; then
	echo "gpu-pack.sh: $build not found (set HG_BUILD_GPUBIN)" >&2
	exit 2
fi
bash "$build" ./cmd/hypergrad
rm -rf .gpubin/bench .gpubin/data .gpubin/spectral .gpubin/datasets .gpubin/backend/cpu .gpubin/backend/pkg.test
find .gpubin -type f -size +1M ! -name '*.gz' -exec gzip -9f {} +

limit=$((64 << 20))
# (du skips, and complains of, tracked files deleted from the tree.)
tree=$( (git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null || true) | tail -1 | cut -f1)
bin=$(du -sb .gpubin | cut -f1)
total=$((tree + bin))
printf 'working tree %d MiB, .gpubin %d MiB, together %d MiB of %d MiB\n' \
	$((tree >> 20)) $((bin >> 20)) $((total >> 20)) $((limit >> 20))
if [ "$total" -gt "$limit" ]; then
	echo "gpu-pack.sh: over the device tool's limit: leave out more test binaries or results" >&2
	exit 1
fi
