/**
 * What one JSON-RPC request costs the daemon's own thread: viem's http transport (over `fetch`) against the
 * node:http transport the daemons use (offchain/chain/rpc-transport.ts), in one run against one real chain node
 * (Anvil, its own process, so its CPU is not counted).
 *
 *   npm run bench:rpc      -> prints a table, writes bench/results/rpc.json
 *
 * For each transport and each request kind, BENCH_REQUESTS (default 2,000) requests one after the other, after
 * 200 warm-ups, in BENCH_ROUNDS (default 3) alternating rounds: CPU microseconds per request of this process
 * (user + system, its garbage collection included) and wall microseconds per request; the table shows the median
 * round. Kinds: `eth_blockNumber` (a tiny answer), `eth_getBlockByNumber` (a block header, formatted by viem),
 * `eth_getTransactionReceipt` (a receipt with a log, formatted by viem).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { chainFor } from "../offchain/chain/clients.js";
import { nodeHttpTransport } from "../offchain/chain/rpc-transport.js";
import { DEV_MNEMONIC } from "../offchain/devnet/chain-spec.js";
import { anvilArgs, anvilBinary } from "../offchain/devnet/anvil.js";
import { machineInfo } from "./machine.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/rpc.json");
const PORT = 18_545 + Math.floor(Math.random() * 1_000);

const cachePath = mkdtempSync(path.join(tmpdir(), "dinfer-bench-rpc-"));
const anvil = spawn(anvilBinary(), anvilArgs({ port: PORT, cachePath }), { stdio: "ignore" });
const url = `http://127.0.0.1:${PORT}`;
try {
  await waitForNode(url);
  // A transaction with a receipt to read (a plain transfer mined in the next block).
  const account = mnemonicToAccount(DEV_MNEMONIC);
  const chain = chainFor({ chainId: await createPublicClient({ transport: http(url) }).getChainId(), rpcUrl: url });
  const wallet = createWalletClient({ account, transport: http(url), chain });
  const hash = await wallet.sendTransaction({ to: account.address, value: 1n });
  const transports = {
    "viem http (fetch)": createPublicClient({ transport: http(url, { retryCount: 0, batch: false }), cacheTime: 0 }),
    "node:http (daemons)": createPublicClient({ transport: nodeHttpTransport(url), cacheTime: 0 }),
  } as Record<string, PublicClient>;
  const first = Object.values(transports)[0]!;
  while ((await first.getTransactionReceipt({ hash }).catch(() => undefined)) === undefined) await new Promise((r) => setTimeout(r, 200));
  const kinds: Record<string, (client: PublicClient) => Promise<unknown>> = {
    eth_blockNumber: (client) => client.getBlockNumber(),
    eth_getBlockByNumber: (client) => client.getBlock({ blockTag: "latest" }),
    eth_getTransactionReceipt: (client) => client.getTransactionReceipt({ hash: hash as Hex }),
  };
  type Round = { cpuUsPerRequest: number; wallUsPerRequest: number };
  const rounds: Record<string, Record<string, Round[]>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [kind, call] of Object.entries(kinds)) {
      for (const [name, client] of Object.entries(transports)) {
        for (let i = 0; i < 200; i++) await call(client);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < REQUESTS; i++) await call(client);
        const cpu = process.cpuUsage(cpu0);
        ((rounds[kind] ??= {})[name] ??= []).push({
          cpuUsPerRequest: (cpu.user + cpu.system) / REQUESTS,
          wallUsPerRequest: ((performance.now() - t0) * 1000) / REQUESTS,
        });
      }
    }
  }
  const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const round1 = (x: number) => Math.round(x);
  const results = Object.fromEntries(
    Object.entries(rounds).map(([kind, byTransport]) => {
      const figures = Object.fromEntries(
        Object.entries(byTransport).map(([name, list]) => [
          name,
          { cpuUsPerRequest: round1(median(list.map((r) => r.cpuUsPerRequest))), wallUsPerRequest: round1(median(list.map((r) => r.wallUsPerRequest))) },
        ]),
      );
      const [fetchCpu, nodeCpu] = Object.values(figures).map((f) => f.cpuUsPerRequest);
      return [kind, { ...figures, cpuRatioFetchOverNodeHttp: Math.round((fetchCpu! / nodeCpu!) * 100) / 100 }];
    }),
  );
  console.table(
    Object.entries(results).flatMap(([kind, figures]) =>
      Object.entries(figures)
        .filter(([, f]) => typeof f === "object")
        .map(([name, f]) => ({ kind, transport: name, ...(f as unknown as Round) })),
    ),
  );
  for (const [kind, figures] of Object.entries(results)) console.log(`${kind}: fetch costs ${figures.cpuRatioFetchOverNodeHttp}x the CPU of node:http`);
  const out = {
    definition: `CPU (user + system) and wall microseconds per JSON-RPC request of this process, ${REQUESTS} sequential requests per round after 200 warm-ups, median of ${ROUNDS} alternating rounds, against Anvil in its own process`,
    requests: REQUESTS,
    rounds: ROUNDS,
    results,
    machine: machineInfo(),
  };
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
} finally {
  anvil.kill();
  rmSync(cachePath, { recursive: true, force: true });
}

async function waitForNode(rpcUrl: string): Promise<void> {
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }) });
  for (let i = 0; i < 100; i++) {
    if (await client.getChainId().then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`anvil did not answer at ${rpcUrl}`);
}
