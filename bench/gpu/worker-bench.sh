#!/usr/bin/env bash
# bench:worker on a GPU host that has no network and no Node: the CPU pipeline on its many cores, then
# the same pipeline with the webgpu execution provider. Results go to $OUT (default bench/results).
#
# The host gets what it needs as archives in .gpu-carry/, made here (see bench/gpu/README.md), in
# two steps because one transfer to it is limited to 64 MiB:
#   bench/gpu/worker-bench.sh unpack-base   node.tar.xz (a Node 22 binary), natives.tar.xz
#                                           (onnxruntime-node's and EDR's linux-x64 libraries),
#                                           the Vulkan loader .deb
#   bench/gpu/worker-bench.sh unpack-run    rest.tar.xz (node_modules without those, the compiled
#                                           artifacts), then both benchmarks
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
    BENCH_JOBS=${BENCH_JOBS:-96} BENCH_OUT="$OUT/worker-cpu-gpuhost.json" "${hardhat[@]}" 2>&1 | tee "$OUT/worker-cpu-gpuhost.log"
    BENCH_JOBS=${BENCH_JOBS:-96} BENCH_EP=webgpu BENCH_THREADS=${WEBGPU_THREADS:-4} BENCH_OUT="$OUT/worker-webgpu.json" "${hardhat[@]}" 2>&1 |
      tee "$OUT/worker-webgpu.log"
    ;;
  *)
    echo "usage: $0 unpack-base | unpack-run" >&2
    exit 2
    ;;
esac
