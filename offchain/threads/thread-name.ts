/**
 * Names the calling worker thread for the operating system after its `name` (the Worker option): `top -H`,
 * `ps -L` and /proc then tell an inference thread from a hashing thread from V8's and libuv's own, and
 * `npm run bench:worker` reports each thread's CPU by that name. Linux only (a thread may rename itself
 * through /proc/thread-self/comm, 15 bytes at most); a no-op elsewhere, on a Node without `threadName`, or
 * when the name cannot be set.
 */
import { writeFileSync } from "node:fs";
// A namespace import: `threadName` exists from Node 22.20 on, and a named import of it would fail to link on the
// earlier Node 22 releases the project supports (the thread would not start at all).
import * as workerThreads from "node:worker_threads";

/** The longest name Linux keeps for a thread (TASK_COMM_LEN less its terminating zero). */
const MAX_THREAD_NAME_BYTES = 15;

export function nameOsThread(name: string = (workerThreads as { threadName?: string }).threadName ?? ""): void {
  // The main thread's name is the process's own (what ps and kill -l show): never renamed.
  if (workerThreads.isMainThread || name === "" || process.platform !== "linux") return;
  try {
    writeFileSync("/proc/thread-self/comm", Buffer.from(name, "utf8").subarray(0, MAX_THREAD_NAME_BYTES));
  } catch {
    // a sandbox without /proc, or a kernel that refuses: the thread keeps Node's name
  }
}
