/**
 * Worker threads that run one of this project's modules, from the TypeScript sources (under tsx,
 * as the tests and `bin/dinfer.js` run them) or from compiled JavaScript.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * A thread running the module `name` that sits beside the module whose `import.meta.url` is `from`:
 * `name.ts` when running from source, `name.js` once compiled. A thread does not inherit loaders
 * registered in-process (Hardhat registers tsx that way), so a TypeScript one is given tsx
 * explicitly, by absolute URL so it resolves from anywhere.
 */
export function moduleWorker(from: string, name: string, options: Omit<WorkerOptions, "execArgv"> = {}): Worker {
  const fromSource = from.endsWith(".ts");
  const url = new URL(`./${name}.${fromSource ? "ts" : "js"}`, from);
  // createRequire, not import.meta.resolve: tsx may load this file as CommonJS, where the latter is missing.
  const execArgv = fromSource ? ["--import", pathToFileURL(createRequire(from).resolve("tsx")).href] : [];
  return new Worker(url, { ...options, execArgv });
}

/** Whether the bytes are a whole, transferable ArrayBuffer (not a view into a larger or shared one). */
export function spansWholeBuffer(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}
