import { execFileSync } from "node:child_process";
import os from "node:os";

/** What a benchmark ran on, written next to every result. */
export function machineInfo() {
  const cpus = os.cpus();
  const gpu = gpuName();
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ...(gpu === undefined ? {} : { gpu }),
    date: new Date().toISOString(),
  };
}

/** The NVIDIA card's name where nvidia-smi answers (a GPU host), else undefined. */
function gpuName(): string | undefined {
  try {
    return execFileSync("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader"], { encoding: "utf8", timeout: 10_000 }).trim() || undefined;
  } catch {
    return undefined;
  }
}
