/**
 * Hashing is a protocol choice (issue 16): what a provider's CPU pays per job for the blob ids and output
 * roots the chain binds: SHA-256 (the format since issue 16) against keccak-256 (the format before), on the
 * job sizes the network carries.
 *
 *   npm run bench:hashing      -> prints a table, writes bench/results/hashing.json
 *
 * Each figure is the median of BENCH_RUNS (default 15) runs after two warm-ups, in this process on one
 * core, over the PaddleOCR det job: its 640x640 float32 input blob (4.9 MB) and its 1x1x640x640 output
 * blob (1.6 MB), random bytes of those sizes (a hash does not care what the bytes mean).
 *
 * - keccak-256, hash-wasm (WebAssembly): what blob ids and the output root's leaves and nodes used before;
 * - keccak-256, @noble/hashes (plain JS): the reference;
 * - SHA-256, node:crypto (OpenSSL, which uses the CPU's SHA extensions where it has them): what
 *   offchain/codec/sha256.ts uses now;
 * - the output root as offchain/codec/merkle.ts builds it (4096-byte chunks, SHA-256 leaves and nodes), and
 *   the same tree over keccak-256 (the format before) and over node:crypto's one-shot hash.
 *
 * Per job, a worker hashes the input for its id (checked against inputHash) and the output for its root
 * (outputs are addressed by their root): `perJobMs` adds those up, and what the output's blob id added
 * before. The EVM side is the gas schedule, not a measurement:
 * KECCAK256 costs 30 + 6 per 32-byte word, the SHA-256 precompile (address 0x02) 60 + 12 per word plus
 * the STATICCALL around it (100 warm) and its memory; the chain hashes blobs only for inline inputs and
 * outputs (at most a few KiB) and Merkle proofs (one node per level).
 */
import { createHash, hash as oneShotHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { keccak_256 } from "@noble/hashes/sha3.js";
import { createKeccak } from "hash-wasm";

import { outputRoot } from "../offchain/codec/merkle.js";
import { machineInfo } from "./machine.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/hashing.json");
const CHUNK = 4096;
const SIZES = { input: 4_915_229, output: 1_638_429 } as const;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeMs(run: () => unknown): number {
  for (let i = 0; i < 2; i++) run();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    run();
    times.push(performance.now() - started);
  }
  return median(times);
}

const wasmKeccak = await createKeccak(256);
/** keccak-256 in WebAssembly, as offchain/codec/keccak.ts hashed blobs before the switch to SHA-256. */
const keccakWasm = (...parts: Uint8Array[]) => {
  wasmKeccak.init();
  for (const part of parts) wasmKeccak.update(part);
  return wasmKeccak.digest("binary");
};

const sha256 = (...parts: Uint8Array[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};

/** SHA-256 of one buffer in one call (node:crypto's `hash`, no Hash object: the tree hashes ~800 small buffers). */
const sha256OneShot = (...parts: Uint8Array[]) => new Uint8Array(oneShotHash("sha256", parts.length === 1 ? parts[0]! : Buffer.concat(parts), "buffer"));

/** The output root's tree (offchain/codec/merkle.ts: 4096-byte leaves, pairs hashed, an odd node carried up) over `hash`. */
function merkleRoot(blob: Uint8Array, hash: (...parts: Uint8Array[]) => Uint8Array): Uint8Array {
  let level: Uint8Array[] = [];
  for (let offset = 0; offset < Math.max(blob.length, 1); offset += CHUNK) level.push(hash(blob.subarray(offset, offset + CHUNK)));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? hash(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return level[0]!;
}

const blobs = { input: new Uint8Array(randomBytes(SIZES.input)), output: new Uint8Array(randomBytes(SIZES.output)) };
const rows: { what: string; blob: keyof typeof SIZES; hash: string; ms: number; mibPerSec: number }[] = [];
const measure = (what: string, blob: keyof typeof SIZES, hash: string, run: () => unknown) => {
  const ms = timeMs(run);
  rows.push({ what, blob, hash, ms: Math.round(ms * 100) / 100, mibPerSec: Math.round(SIZES[blob] / 2 ** 20 / (ms / 1000)) });
};

for (const blob of ["input", "output"] as const) {
  const bytes = blobs[blob];
  measure("blob id", blob, "keccak-256 (hash-wasm)", () => keccakWasm(bytes));
  measure("blob id", blob, "keccak-256 (@noble/hashes)", () => keccak_256(bytes));
  measure("blob id", blob, "sha-256 (node:crypto)", () => sha256(bytes));
}
measure("output root", "output", "keccak-256 (hash-wasm), the tree before", () => merkleRoot(blobs.output, keccakWasm));
measure("output root", "output", "sha-256 (node:crypto), as merkle.ts", () => outputRoot(blobs.output));
measure("output root", "output", "sha-256 (node:crypto, one-shot hash)", () => merkleRoot(blobs.output, sha256OneShot));

const find = (what: string, blob: string, prefix: string) => rows.find((r) => r.what === what && r.blob === blob && r.hash.startsWith(prefix))!.ms;
// Per job. Now: the input's id and the output's root (outputs are stored, served and revealed by their root, so
// hashed once). Before that, with SHA-256: the output's blob id too. Before SHA-256: all three with keccak-256.
const ms = (...parts: number[]) => Math.round(parts.reduce((sum, part) => sum + part, 0) * 100) / 100;
const shaMs = { inputId: find("blob id", "input", "sha-256"), outputId: find("blob id", "output", "sha-256"), outputRoot: find("output root", "output", "sha-256 (node:crypto), as") };
const keccakMs = { inputId: find("blob id", "input", "keccak-256 (hash-wasm)"), outputId: find("blob id", "output", "keccak-256 (hash-wasm)"), outputRoot: find("output root", "output", "keccak") };
const perJobMs = {
  sha256Now: ms(shaMs.inputId, shaMs.outputRoot),
  sha256WithOutputId: ms(shaMs.inputId, shaMs.outputId, shaMs.outputRoot),
  keccakBefore: ms(keccakMs.inputId, keccakMs.outputId, keccakMs.outputRoot),
};
const words = (bytes: number) => Math.ceil(bytes / 32);
const gas = {
  note: "the EVM's gas schedule (Osaka): KECCAK256 30 + 6/word; SHA-256 precompile 60 + 12/word plus a warm STATICCALL (100); memory not counted",
  keccak4KiB: 30 + 6 * words(4096),
  sha256For4KiB: 100 + 60 + 12 * words(4096),
  keccakNode64B: 30 + 6 * words(64),
  sha256Node64B: 100 + 60 + 12 * words(64),
};

console.log(`\nHashing a det job's blobs, median of ${RUNS} runs, one core\n`);
console.log("| what | blob | hash | ms | MiB/s |\n|---|---|---|---:|---:|");
for (const r of rows) console.log(`| ${r.what} | ${r.blob} (${(SIZES[r.blob] / 1e6).toFixed(1)} MB) | ${r.hash} | ${r.ms} | ${r.mibPerSec} |`);
console.log(
  `\nper job: now (input id + output root, sha-256) ${perJobMs.sha256Now} ms; with the output's id too (sha-256) ${perJobMs.sha256WithOutputId} ms; keccak-256, all three, ${perJobMs.keccakBefore} ms`,
);
console.log(`gas (schedule): a 4 KiB leaf keccak ${gas.keccak4KiB} vs sha-256 ${gas.sha256For4KiB}; a 64-byte node keccak ${gas.keccakNode64B} vs sha-256 ${gas.sha256Node64B}`);
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ runs: RUNS, sizes: SIZES, rows, perJobMs, gas, machine: machineInfo() }, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
