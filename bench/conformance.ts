/**
 * Conformance on ONNX's backend node tests: the worker's path (model admission, the tensor blob, the
 * inference runner, the model's tolerance comparison) against raw onnxruntime-node on every node test
 * Debian's libonnx-testdata ships (bench/onnx-node-tests.ts). The measure: ours passes every test raw
 * onnxruntime passes, except those it refuses for a stated reason.
 *
 *   apt-get install -y libonnx-testdata
 *   npm run bench:conformance   -> prints a table, writes bench/results/conformance.json
 *
 * DINFER_ONNX_NODE_TESTS=<dir> reads the tests from another folder.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { createInferenceRunner } from "../offchain/inference/runner.js";
import { machineInfo } from "./machine.js";
import { loadNodeTest, NODE_TEST_ATOL, NODE_TEST_RTOL, runOurs, runRaw, type NodeTest, type Outcome, type OursOutcome } from "./onnx-node-tests.js";

const DIR = process.env.DINFER_ONNX_NODE_TESTS ?? "/usr/share/libonnx-testdata/data/node";

if (!existsSync(DIR)) {
  console.error(`bench:conformance: no ONNX node tests at ${DIR}: install them with \`apt-get install -y libonnx-testdata\` (Debian), or set DINFER_ONNX_NODE_TESTS to a folder of test_* directories`);
  process.exit(1);
}
const dirs = readdirSync(DIR).filter((name) => name.startsWith("test_")).sort().map((name) => path.join(DIR, name));
const tests: NodeTest[] = [];
const unconvertible: { name: string; why: string }[] = [];
for (const dir of dirs) {
  const loaded = loadNodeTest(dir);
  if ("unconvertible" in loaded) unconvertible.push({ name: loaded.name, why: loaded.unconvertible });
  else tests.push(loaded);
}

const runner = createInferenceRunner({ size: 2, hashThreads: 1 });
const rows: { name: string; raw: Outcome; ours: OursOutcome }[] = [];
const started = performance.now();
try {
  for (const [i, test] of tests.entries()) {
    const raw = await runRaw(test);
    const ours = await runOurs(test, runner);
    rows.push({ name: test.name, raw, ours });
    if ((i + 1) % 100 === 0) console.error(`${i + 1} of ${tests.length}`);
  }
} finally {
  await runner.close();
}
const seconds = (performance.now() - started) / 1000;

const count = (pick: (row: (typeof rows)[number]) => boolean) => rows.filter(pick).length;
const refusedBy = new Map<string, number>();
for (const row of rows) if (row.ours.status === "refused") refusedBy.set(row.ours.check, (refusedBy.get(row.ours.check) ?? 0) + 1);
const oursFailsRawPasses = rows.filter((row) => row.raw.status === "pass" && row.ours.status === "fail");
const refusedRawPasses = rows.filter((row) => row.raw.status === "pass" && row.ours.status === "refused");
const oursPassesRawFails = rows.filter((row) => row.raw.status !== "pass" && row.ours.status === "pass");

console.log(`\nONNX node tests: ${dirs.length} in ${DIR}, ${tests.length} convert to tensor tests (${unconvertible.length} do not: sequences, optionals, types onnxruntime-node lacks)`);
console.log(`raw: onnxruntime-node CPU, assert_allclose(rtol ${NODE_TEST_RTOL}, atol ${NODE_TEST_ATOL}); ours: admission + tensor blob + runner + the model's tolerance policy\n`);
console.log("| path | pass | refused | fail |");
console.log("|---|---:|---:|---:|");
console.log(`| raw onnxruntime-node | ${count((r) => r.raw.status === "pass")} | - | ${count((r) => r.raw.status !== "pass")} |`);
console.log(`| ours (worker path) | ${count((r) => r.ours.status === "pass")} | ${count((r) => r.ours.status === "refused")} | ${count((r) => r.ours.status === "fail")} |`);
console.log("\nrefused, by admission check (of them, raw passes):");
for (const [check, n] of [...refusedBy].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${check.padEnd(18)} ${String(n).padStart(4)}  (${refusedRawPasses.filter((r) => r.ours.status === "refused" && r.ours.check === check).length})`);
}
console.log(`\npolicies: ${count((r) => r.ours.policy?.kind === "exact")} exact, ${count((r) => r.ours.policy?.kind === "allclose")} allclose; non-finite opt-in on ${count((r) => r.ours.nonFiniteInputs === true)}`);
console.log(`\nours fails where raw passes (${oursFailsRawPasses.length}):`);
for (const row of oursFailsRawPasses) console.log(`  ${row.name}: ${(row.ours as { reason: string }).reason}`);
console.log(`\nours passes where raw fails (${oursPassesRawFails.length}): ${oursPassesRawFails.map((r) => r.name).join(", ") || "none"}`);
console.log(`\n${rows.length} tests in ${seconds.toFixed(1)} s`);

const out = path.resolve("bench/results/conformance.json");
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    {
      source: DIR,
      tolerance: { rtol: NODE_TEST_RTOL, atol: NODE_TEST_ATOL },
      counts: {
        tests: dirs.length,
        convertible: tests.length,
        raw: { pass: count((r) => r.raw.status === "pass"), fail: count((r) => r.raw.status !== "pass") },
        ours: {
          pass: count((r) => r.ours.status === "pass"),
          refused: Object.fromEntries(refusedBy),
          fail: count((r) => r.ours.status === "fail"),
        },
        oursFailsRawPasses: oursFailsRawPasses.length,
        refusedRawPasses: refusedRawPasses.length,
      },
      oursFailsRawPasses: oursFailsRawPasses.map((r) => ({ name: r.name, reason: (r.ours as { reason: string }).reason })),
      refused: rows.filter((r) => r.ours.status === "refused").map((r) => ({ name: r.name, check: (r.ours as { check: string }).check, reason: (r.ours as { reason: string }).reason, raw: r.raw.status })),
      rawFails: rows.filter((r) => r.raw.status !== "pass").map((r) => ({ name: r.name, reason: (r.raw as { reason: string }).reason, ours: r.ours.status })),
      unconvertible,
      seconds: Math.round(seconds * 10) / 10,
      machine: machineInfo(),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
