#!/usr/bin/env node
// The dinfer CLI. The sources are TypeScript, run through tsx's loader.
import { register } from "tsx/esm/api";

// node:sqlite still prints an ExperimentalWarning on Node 22; everything else is shown as usual.
process.removeAllListeners("warning");
process.on("warning", (warning) => {
  if (warning.name === "ExperimentalWarning" && /SQLite|execve/.test(warning.message)) return;
  console.warn(`${warning.name}: ${warning.message}`);
});

// The worker and verifier daemons pass blobs of megabytes between threads all day. glibc's malloc serves
// allocations that large with fresh mappings and unmaps them when freed, so every input and output touched
// fresh pages (about 12 us a page fault on the machine measured: several ms of CPU per det job). Told to keep
// freed memory in the process, the daemon re-executes itself once with glibc's tunables set (Linux; a
// GLIBC_TUNABLES already given is left as it is). bench:malloc measures the difference; bench:worker measures
// the daemon as it starts here.
const DAEMONS = new Set(["worker", "verifier"]);
// Both are needed: a trim threshold alone leaves the mmap threshold at 128 KiB, worse than glibc's default; 32 MiB is the
// highest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2).
const MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";
const command = process.argv.slice(2).find((arg) => !arg.startsWith("-"));
if (process.platform === "linux" && typeof process.execve === "function" && process.env.GLIBC_TUNABLES === undefined && DAEMONS.has(command)) {
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, GLIBC_TUNABLES: MALLOC_TUNABLES });
  } catch (error) {
    console.warn(`dinfer: running without glibc's malloc tunables (re-executing failed: ${error.message})`);
  }
}
register();
const { main } = await import("../offchain/cli/main.ts");
await main();
