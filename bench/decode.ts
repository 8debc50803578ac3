/**
 * What decoding a contract event log costs a daemon's main thread: viem's `decodeEventLog`, which finds the
 * log's event by hashing the signature of every event in the ABI (keccak-256, in JavaScript) until one
 * matches topic 0, against `decodeEvent` (offchain/chain/events.ts), which prepares an ABI's events once
 * (selectors hashed, inputs sorted into topics and data) and decodes the log with viem's `decodeAbiParameters`. A worker decodes every log of a job each time it reads the
 * job (`readJob`), and the explorer and the SDK every log they index.
 *
 *   npm run bench:decode      -> prints a table, writes bench/results/decode.json
 *
 * The logs: two of every event of JobMarket, BatchMarket and Verification (test/helpers/event-logs.ts
 * builds them as a node returns them). Each figure is the median of BENCH_RUNS (default 15) passes over
 * all of them, after two warm-up passes, in this process; `ratio` is viem's time over ours, in the same run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { decodeEventLog, type Abi, type AbiEvent, type Hex } from "viem";

import { batchMarketAbi, jobMarketAbi, verificationAbi } from "../offchain/chain/abis.js";
import { decodeEvent } from "../offchain/chain/events.js";
import { logOf } from "../test/helpers/event-logs.js";
import { machineInfo } from "./machine.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/decode.json");
const CONTRACTS: [string, Abi][] = [
  ["JobMarket", jobMarketAbi],
  ["BatchMarket", batchMarketAbi],
  ["Verification", verificationAbi],
];

const rows = CONTRACTS.map(([contract, abi]) => {
  const events = abi.filter((item): item is AbiEvent => item.type === "event");
  const logs = events.flatMap((event) => [0, 3].map((seed) => logOf(abi, event, seed)));
  const decoders = {
    "viem decodeEventLog": (log: { data: Hex; topics: Hex[] }) => decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] }),
    decodeEvent: (log: { data: Hex; topics: Hex[] }) => decodeEvent({ abi, ...log }),
  };
  const usPerLog = Object.fromEntries(
    Object.entries(decoders).map(([name, decode]) => {
      const times: number[] = [];
      for (let run = 0; run < RUNS + 2; run++) {
        const start = performance.now();
        for (const log of logs) decode(log);
        if (run >= 2) times.push(((performance.now() - start) * 1000) / logs.length);
      }
      return [name, round(median(times))];
    }),
  );
  return { contract, events: events.length, logs: logs.length, usPerLog, ratio: round(usPerLog["viem decodeEventLog"]! / usPerLog.decodeEvent!) };
});

console.log(`\nDecoding an event log, microseconds per log on one thread (median of ${RUNS} passes)\n`);
console.log("| contract | events in its ABI | viem decodeEventLog | decodeEvent | ratio |");
console.log("|---|---:|---:|---:|---:|");
for (const row of rows) {
  console.log(`| ${row.contract} | ${row.events} | ${row.usPerLog["viem decodeEventLog"]} | ${row.usPerLog.decodeEvent} | ${row.ratio}x |`);
}
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ runs: RUNS, rows, machine: machineInfo() }, null, 2)}\n`);
console.log(`\nwrote ${path.relative(process.cwd(), OUT)}`);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
