#!/usr/bin/env bash
# bench:worker on a GPU host that has no network and no Node: the CPU pipeline on its many cores, then
# the same pipeline with the webgpu execution provider. Results go to $OUT (default bench/results).
#
# The host gets what it needs as archives in .gpu-carry/, made here (see bench/gpu/README.md), in
# two steps because one transfer to it is limited to 64 MiB:
#   bench/gpu/worker-bench.sh unpack-base   node.tar.xz (a Node 22 binary), natives.tar.xz
#                                           (onnxruntime-node's and EDR's linux-x64 libraries),
#                                           the Vulkan loader .deb
#   bench/gpu/worker-bench.sh unpack-run [cpu|webgpu]
#                                           rest.tar.xz (node_modules without those, the compiled
#                                           artifacts), then both benchmarks (or the one named)
# The .debs are Debian's Vulkan loader and libglvnd (libvulkan1 libglvnd0 libglx0 libegl1 libgl1
# libopengl0 libgles2): the NVIDIA Vulkan driver is reached through them.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=.gpu-carry
NODE_DIR=/opt/dinfer-node
OUT=${OUT:-bench/results}

case "${1:-}" in
  unpack-base)
    mkdir -p "$NODE_DIR"
    tar -xJf "$CARRY/node.tar.xz" -C "$NODE_DIR"
    tar -xJf "$CARRY/natives.tar.xz"
    for deb in "$CARRY"/*.deb; do dpkg -x "$deb" /; done
    ldconfig
    "$NODE_DIR/bin/node" --version
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    nproc
    ;;
  unpack-run)
    tar -xJf "$CARRY/rest.tar.xz"
    export PATH="$NODE_DIR/bin:$PATH" CI=true
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    hardhat=(node node_modules/hardhat/dist/src/cli.js run --no-compile bench/worker.ts)
    mkdir -p "$OUT"
    which=${2:-both}
    if [ "$which" != webgpu ]; then
      BENCH_JOBS=${BENCH_JOBS:-96} BENCH_OUT="$OUT/worker-cpu-gpuhost.json" "${hardhat[@]}" 2>&1 | tee "$OUT/worker-cpu-gpuhost.log"
    fi
    if [ "$which" != cpu ]; then
      BENCH_JOBS=${BENCH_JOBS:-96} BENCH_EP=webgpu BENCH_THREADS=${WEBGPU_THREADS:-1} BENCH_OUT="$OUT/worker-webgpu.json" "${hardhat[@]}" 2>&1 |
        tee "$OUT/worker-webgpu.log"
    fi
    ;;
  *)
    echo "usage: $0 unpack-base | unpack-run" >&2
    exit 2
    ;;
esac
