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
// GLIBC_TUNABLES already given is left as it is). bench:worker measures the daemon as it starts here.
const DAEMONS = new Set(["worker", "verifier"]);
const MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456";
if (process.platform === "linux" && typeof process.execve === "function" && process.env.GLIBC_TUNABLES === undefined && DAEMONS.has(process.argv[2])) {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, GLIBC_TUNABLES: MALLOC_TUNABLES });
}
register();
const { main } = await import("../offchain/cli/main.ts");
await main();
