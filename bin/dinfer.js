#!/usr/bin/env node
// The dinfer CLI. The sources are TypeScript, run through tsx's loader.
import { register } from "tsx/esm/api";

// node:sqlite still prints an ExperimentalWarning on Node 22; everything else is shown as usual.
process.removeAllListeners("warning");
process.on("warning", (warning) => {
  if (warning.name === "ExperimentalWarning" && /SQLite|execve/.test(warning.message)) return;
  console.warn(`${warning.name}: ${warning.message}`);
});

// The worker and verifier daemons pass blobs of megabytes between threads all day, and the daemon re-executes
// itself once (Linux) to run them well:
// - glibc's malloc serves allocations that large with fresh mappings and unmaps them when freed, so every input
//   and output touched fresh pages (about 12 us a page fault on the machine measured: several ms of CPU per det
//   job). MALLOC_TUNABLES tells it to keep freed memory in the process (a GLIBC_TUNABLES already given is left as
//   it is). bench:malloc measures the difference.
// - Each blob a thread sends back is a new ArrayBuffer, outside V8's heap but counted toward when V8 runs a full
//   garbage collection: from V8's default start (a live heap of ~40 MB) one ran every two or three det jobs,
//   about 12 ms of CPU per job on the main thread and V8's helper threads. V8_FLAGS starts the old generation at
//   256 MiB: one full collection in about fifteen jobs (bench:worker, "CPU ms per job by thread role"). A flag
//   given to node itself comes later and wins.
// bench:worker measures the daemon as it starts here.
const DAEMONS = new Set(["worker", "verifier"]);
// Both are needed: a trim threshold alone leaves the mmap threshold at 128 KiB, worse than glibc's default; 32 MiB is the
// highest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2).
const MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";
const V8_FLAGS = ["--initial-old-space-size=256"];
/** Set in the re-executed process (and removed from its environment at once): it does not re-execute again. */
const REEXECUTED = "DINFER_DAEMON_REEXECUTED";
// Any argument naming a daemon, not only the first word: global options with values may come first
// (`dinfer --config worker.json worker`). Re-executing another command by mistake costs a moment, nothing more.
const daemon = process.argv.slice(2).some((arg) => DAEMONS.has(arg));
const reexecuted = process.env[REEXECUTED] !== undefined;
delete process.env[REEXECUTED];
if (process.platform === "linux" && typeof process.execve === "function" && !reexecuted && daemon) {
  try {
    process.execve(process.execPath, [process.execPath, ...V8_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
      ...process.env,
      GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? MALLOC_TUNABLES,
      [REEXECUTED]: "1",
    });
  } catch (error) {
    console.warn(`dinfer: running without glibc's malloc tunables and V8's heap flags (re-executing failed: ${error.message})`);
  }
}
register();
const { main } = await import("../offchain/cli/main.ts");
await main();
