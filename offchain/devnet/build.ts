/**
 * Builds the contracts the devnet deploys (`hardhat build --no-tests`), so that `npm ci && npm run demo`
 * works on a fresh clone: nothing else compiles them before the first `npm test`. An up-to-date build
 * takes a second (Hardhat compiles only what changed). Hardhat's output goes to stderr: stdout is the
 * demo's JSON summary's.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);

/** The Hardhat CLI's entry file (the package exports no `cli.js`; it sits beside the main entry). */
export function hardhatCli(): string {
  return path.join(path.dirname(require.resolve("hardhat")), "cli.js");
}

/** Runs `hardhat build --no-tests --quiet` in the repository; rejects with its output when it fails. */
export function buildContracts({ signal }: { signal?: AbortSignal } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hardhatCli(), "build", "--no-tests", "--quiet"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORCE_COLOR: "0" },
      signal,
    });
    let output = "";
    const forward = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-16_384);
      process.stderr.write(chunk);
    };
    child.stdout.on("data", forward);
    child.stderr.on("data", forward);
    child.once("error", reject);
    child.once("exit", (code, killedBy) => {
      if (code === 0) resolve();
      else reject(new Error(`hardhat build failed (${killedBy ?? `exit code ${code}`}):\n${output}`));
    });
  });
}
