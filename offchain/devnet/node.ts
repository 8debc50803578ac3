/**
 * A real local JSON-RPC chain process, for the demo, `dinfer devnet` and the end-to-end tests, from
 * one of two engines:
 *
 *   - `hardhat` (the default): `hardhat node --network node` (hardhat.config.ts's `node` network), under
 *     hardhat.node.config.ts, which leaves out the build infos the node would read first;
 *   - `anvil`: Foundry's Anvil from its npm package (offchain/devnet/anvil.ts), started as the same chain.
 *
 * Both mine one block a second and never a block per transaction (automine off, interval mining): block
 * timestamps follow the wall clock, so a window of N seconds lasts N real seconds; a transaction waits
 * for the next block (half a second on average). Same dev accounts, chain id 31337. The process runs in
 * its own process group, so `stop()` kills the whole tree; a process exit hook kills it too if its owner
 * dies without calling `stop()`.
 *
 *   const node = await startNode({ engine: "anvil" });
 *   try { ... node.url ... } finally { await node.stop(); }
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { anvilArgs, anvilBinary } from "./anvil.js";
import { hardhatCli } from "./build.js";
import type { ChainEngine } from "./chain-spec.js";

export { CHAIN_ENGINES, type ChainEngine } from "./chain-spec.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export type StartNodeParameters = {
  /** Which program serves the chain (default "hardhat"). */
  engine?: ChainEngine;
  /** A free port is picked when left out. */
  port?: number;
  /** `hardhat` only: the Hardhat network to serve; "node" mines one block a second and none per transaction. */
  network?: string;
  /** How long to wait for the node to answer eth_chainId. */
  timeoutMs?: number;
};

export type StartNodeReturnType = {
  engine: ChainEngine;
  url: string;
  port: number;
  pid: number;
  /** Kills the process group, waits for the exit and removes its scratch directory; safe to call twice. */
  stop: () => Promise<void>;
  /** What the node printed so far (the tail), for failure messages. */
  output: () => string;
};

/** Sends `signal` to the process group led by `pid` (a child spawned with `detached: true`); quiet when it is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** What runs when this process exits: one `exit` listener for every child still to clean up. */
const exitCleanups = new Set<() => void>();
const runExitCleanups = () => {
  for (const cleanup of exitCleanups) cleanup();
};

/**
 * Runs `cleanup` (synchronous) if this process exits before the returned function is called. One process
 * `exit` listener serves them all: a test process that starts dozens of nodes and daemons adds one, not
 * one each (Node warns of a leak past ten).
 */
export function atProcessExit(cleanup: () => void): () => void {
  if (exitCleanups.size === 0) process.once("exit", runExitCleanups);
  exitCleanups.add(cleanup);
  return () => {
    if (exitCleanups.delete(cleanup) && exitCleanups.size === 0) process.removeListener("exit", runExitCleanups);
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `url` answers a JSON-RPC eth_chainId. */
export async function answersChainId(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    const body = (await response.json()) as { result?: unknown };
    return typeof body.result === "string";
  } catch {
    return false;
  }
}

/** What to spawn for `engine` on `port`, and a scratch directory of its own to remove once it is gone. */
function commandFor({ engine, port, network }: { engine: ChainEngine; port: number; network: string }): { file: string; args: string[]; scratch?: string } {
  if (engine === "anvil") {
    const file = anvilBinary();
    const scratch = mkdtempSync(path.join(tmpdir(), "dinfer-anvil-"));
    return { file, args: anvilArgs({ port, cachePath: scratch }), scratch };
  }
  // hardhat.node.config.ts: the project's config without the build infos the node would read first (tens of seconds).
  const config = path.join(ROOT, "hardhat.node.config.ts");
  return { file: process.execPath, args: [hardhatCli(), "--config", config, "node", "--network", network, "--hostname", "127.0.0.1", "--port", String(port)] };
}

/** Starts the chain (`hardhat node --network <network>`, or Anvil) on 127.0.0.1:<port> and waits until it answers. */
export async function startNode({ engine = "hardhat", port, network = "node", timeoutMs = 90_000 }: StartNodeParameters = {}): Promise<StartNodeReturnType> {
  const chosen = port || (await freePort()); // 0 or unset: a free port
  const url = `http://127.0.0.1:${chosen}`;
  const { file, args, scratch } = commandFor({ engine, port: chosen, network });
  const removeScratch = () => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  };
  const name = engine === "anvil" ? "anvil" : "hardhat node";
  const child = spawn(file, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
  });
  // A binary that cannot be executed fails with an "error" event (and no "exit"), not a throw.
  let spawnError: Error | undefined;
  const spawnFailure = new Promise<Error>((resolve) =>
    child.once("error", (error) => {
      spawnError = error;
      resolve(error);
    }),
  );
  const pid = child.pid;
  if (pid === undefined) {
    removeScratch();
    throw new Error(`${name} did not start (${file}): ${(await spawnFailure).message}`);
  }

  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-16_384);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );

  const killGroup = (signal: NodeJS.Signals) => signalGroup(pid, signal);
  const forgetAtExit = atProcessExit(() => {
    killGroup("SIGKILL");
    removeScratch();
  });

  const stop = async () => {
    forgetAtExit();
    if (!exited) {
      killGroup("SIGTERM");
      const killed = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
      if (!killed) {
        killGroup("SIGKILL");
        await exit;
      }
    }
    removeScratch();
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await answersChainId(url))) {
    if (exited || spawnError || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} on ${url} did not come up${exited ? " (exited)" : spawnError ? ` (${spawnError.message})` : ""}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { engine, url, port: chosen, pid, stop, output: () => tail };
}
