/**
 * A real `hardhat node` JSON-RPC process, for the demo, `dinfer devnet` and the end-to-end tests
 * (one block a second, automine off, as `npm run chain`: hardhat.config.ts's `node` network). Block
 * timestamps follow the wall clock, so a window of N seconds lasts N real seconds; a transaction
 * waits for the next block (half a second on average). It runs in its own process group, so
 * `stop()` kills the whole tree; a process exit hook kills it too if its owner dies without calling
 * `stop()`.
 *
 *   const node = await startNode();
 *   try { ... node.url ... } finally { await node.stop(); }
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { hardhatCli } from "./build.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export type StartNodeParameters = {
  /** A free port is picked when left out. */
  port?: number;
  /** The Hardhat network to serve; "node" mines one block a second and none per transaction. */
  network?: string;
  /** How long to wait for the node to answer eth_chainId. */
  timeoutMs?: number;
};

export type StartNodeReturnType = {
  url: string;
  port: number;
  pid: number;
  /** Kills the process group and waits for the exit; safe to call twice. */
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

/** Starts `hardhat node --network <network> --hostname 127.0.0.1 --port <port>` and waits until it answers. */
export async function startNode({ port, network = "node", timeoutMs = 90_000 }: StartNodeParameters = {}): Promise<StartNodeReturnType> {
  const chosen = port || (await freePort()); // 0 or unset: a free port
  const url = `http://127.0.0.1:${chosen}`;
  const cli = hardhatCli();
  const child = spawn(process.execPath, [cli, "node", "--network", network, "--hostname", "127.0.0.1", "--port", String(chosen)], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0" },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("hardhat node did not start");

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
  const onProcessExit = () => killGroup("SIGKILL");
  process.once("exit", onProcessExit);

  const stop = async () => {
    process.removeListener("exit", onProcessExit);
    if (exited) return;
    killGroup("SIGTERM");
    const killed = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    if (!killed) {
      killGroup("SIGKILL");
      await exit;
    }
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await answersChainId(url))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`hardhat node on ${url} did not come up${exited ? " (exited)" : ""}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port: chosen, pid, stop, output: () => tail };
}
