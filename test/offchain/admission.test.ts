/**
 * Model admission (offchain/inference/admission.ts, docs/PROTOCOL.md section 7 "Model admission"):
 * what `dinfer model check` and `model register` refuse and why, on real models built here and run
 * by onnxruntime; the worker's handling of a model it cannot load; the owner's non-finite opt-in read
 * from a real registry and honoured on the worker's inference path.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import * as ort from "onnxruntime-node";
import pino from "pino";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import {
  assertModelAdmitted,
  checkModelAdmission,
  checkPolicyFits,
  formatFindings,
  ModelNotAdmittedError,
  parseToleranceFlag,
  parseTolerancePolicy,
  type AdmissionFinding,
} from "../../offchain/inference/admission.js";
import { InputValidationError, UnverifiableModelError } from "../../offchain/inference/errors.js";
import { withByteOutput } from "../../offchain/inference/byte-output.js";
import { findFloatArithmetic, findJumpingValues, findQuantizedOutputs } from "../../offchain/inference/graph-rules.js";
import { checkModelVerifiable, hashModel, loadModel } from "../../offchain/inference/model.js";
import { readOnnxModel } from "../../offchain/inference/onnx-graph.js";
import { createInferenceRunner } from "../../offchain/inference/runner.js";
import type { Logger } from "../../offchain/log.js";
import { prepareModels } from "../../offchain/provider/start.js";
import { prepareVerifierModel } from "../../offchain/verifier/judge.js";
import { deploySystem, modelSpec } from "../helpers/fixture.js";
import { buildOnnxModel, ELEM, type GraphSpec, type NodeSpec, type ValueSpec } from "../helpers/onnx-build.js";

const F = ELEM.float;

/** y = Dropout(x, ratio 0.5, training_mode t): `t` as the caller decides (a graph input by default). */
function dropoutModel({ training = "input" }: { training?: "input" | "initializer" | "constant" | "absent" | "overridable" } = {}): Uint8Array {
  const ratio = { name: "r", type: F, dims: [], floats: [0.5] };
  const falseFlag = { name: "t", type: ELEM.bool, dims: [], int32: [0] };
  const nodes: NodeSpec[] = [];
  if (training === "constant") nodes.push({ op: "Constant", outputs: ["t"], attributes: [{ name: "value", t: { type: ELEM.bool, dims: [], int32: [0] } }] });
  nodes.push({ op: "Dropout", inputs: training === "absent" ? ["x"] : ["x", "r", "t"], outputs: ["y"] });
  const inputs: ValueSpec[] = [{ name: "x", type: F, dims: [3, 20] }];
  if (training === "input" || training === "overridable") inputs.push({ name: "t", type: ELEM.bool, dims: [] });
  const initializers = training === "absent" ? [] : training === "initializer" || training === "overridable" ? [ratio, falseFlag] : [ratio];
  return buildOnnxModel({ graph: { nodes, inputs, outputs: [{ name: "y", type: F, dims: [3, 20] }], initializers } });
}

/** One float input and output [2, 3]: y = op(x). */
function unaryModel(op: string, { outputType = F, dims = [2, 3] as (number | string)[] } = {}): Uint8Array {
  return buildOnnxModel({
    graph: { nodes: [{ op, inputs: ["x"], outputs: ["y"] }], inputs: [{ name: "x", type: F, dims }], outputs: [{ name: "y", type: outputType, dims }] },
  });
}

/** y = ArgMax(Exp(input)) along the last axis: an integer index computed from float arithmetic. */
function argmaxOfExp({ input = "x", dims = [2, 3] }: { input?: string; dims?: number[] } = {}): Uint8Array {
  return buildOnnxModel({
    graph: {
      nodes: [
        { op: "Exp", inputs: [input], outputs: ["e"] },
        { op: "ArgMax", inputs: ["e"], outputs: ["y"], attributes: [{ name: "axis", i: dims.length - 1 }] },
      ],
      inputs: [{ name: input, type: F, dims }],
      outputs: [{ name: "y", type: ELEM.int64, dims: [...dims.slice(0, -1), 1] }],
    },
  });
}

function finding(findings: readonly AdmissionFinding[], check: AdmissionFinding["check"], status?: AdmissionFinding["status"]): AdmissionFinding {
  const found = findings.find((f) => f.check === check && (status === undefined || f.status === status));
  assert.ok(found, `no ${status ?? ""} ${check} finding in:\n${formatFindings(findings)}`);
  return found;
}

function captureLogger(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  return { log: pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line)) }), records };
}

describe("model admission: what is random or training-only at inference time is refused", () => {
  it("refuses a Dropout whose training flag is a graph input, with the reason; two runs of it really differ", async () => {
    const bytes = dropoutModel();
    const report = await checkModelAdmission({ bytes, tolerance: parseTolerancePolicy("allclose:1e-6:1e-4") });
    assert.equal(report.admitted, false);
    assert.match(finding(report.findings, "deterministic", "fail").message, /Dropout's training_mode input "t" is not a constant false.*graph\.node\[0\]/);
    // Why: with the flag on, onnxruntime drops a different random half of the elements on every run.
    const session = await ort.InferenceSession.create(bytes);
    const feeds = { x: new ort.Tensor("float32", new Float32Array(60).fill(1), [3, 20]), t: new ort.Tensor("bool", Uint8Array.from([1]), []) };
    const [a, b] = [await session.run(feeds), await session.run(feeds)];
    assert.notDeepEqual(Array.from(a.y!.data as Float32Array), Array.from(b.y!.data as Float32Array));
    await session.release();
    // The worker and the verifier load models through loadModel: refused there too, whoever registered it.
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-admission-"));
    writeFileSync(path.join(dir, "dropout.onnx"), bytes);
    await assert.rejects(loadModel({ path: path.join(dir, "dropout.onnx"), expectedHash: hashModel(bytes) }), (error: unknown) => {
      assert.ok(error instanceof UnverifiableModelError);
      assert.match(error.message, /training_mode input "t"/);
      return true;
    });
  });

  it("accepts a Dropout left in inference mode: no flag, a constant false initializer or Constant; refuses an initializer a caller may override", async () => {
    for (const training of ["absent", "initializer", "constant"] as const) {
      const report = await checkModelAdmission({ bytes: dropoutModel({ training }), tolerance: parseTolerancePolicy("allclose:1e-6:1e-4") });
      assert.equal(report.admitted, true, `${training}:\n${formatFindings(report.findings)}`);
    }
    // An initializer that is also a graph input is only a default: the job's input replaces it.
    assert.throws(() => checkModelVerifiable({ bytes: dropoutModel({ training: "overridable" }) }), /training_mode input "t"/);
  });

  it("finds random and training-only operators in If branches, Loop bodies and local functions, and BatchNormalization in training mode", () => {
    const x = { name: "x", type: F, dims: [2] };
    const y = { name: "y", type: F, dims: [2] };
    const branch = (op: string): GraphSpec => ({ nodes: [{ op, inputs: ["x"], outputs: ["b"] }], inputs: [], outputs: [{ name: "b", type: F, dims: [2] }] });
    const loopBody: GraphSpec = {
      nodes: [
        { op: "Identity", inputs: ["cond"], outputs: ["cond_out"] },
        { op: "Dropout", inputs: ["v", "", "cond"], outputs: ["v_out"] },
      ],
      inputs: [{ name: "i", type: ELEM.int64, dims: [] }, { name: "cond", type: ELEM.bool, dims: [] }, { name: "v", type: F, dims: [2] }],
      outputs: [{ name: "cond_out", type: ELEM.bool, dims: [] }, { name: "v_out", type: F, dims: [2] }],
    };
    const bytes = buildOnnxModel({
      graph: {
        nodes: [
          { op: "If", inputs: ["c"], outputs: ["a"], attributes: [{ name: "then_branch", g: branch("RandomUniformLike") }, { name: "else_branch", g: branch("Relu") }] },
          { op: "Loop", inputs: ["n", "c", "a"], outputs: ["l"], attributes: [{ name: "body", g: loopBody }] },
          { op: "noisy", domain: "local", inputs: ["l"], outputs: ["m"] },
          { op: "BatchNormalization", inputs: ["m", "s", "s", "s", "s"], outputs: ["y"], attributes: [{ name: "training_mode", i: 1 }] },
          { op: "Momentum", domain: "ai.onnx.preview.training", inputs: ["x"], outputs: ["z"] },
        ],
        inputs: [x, { name: "c", type: ELEM.bool, dims: [] }, { name: "n", type: ELEM.int64, dims: [] }, { name: "s", type: F, dims: [2] }],
        outputs: [y],
      },
      functions: [{ name: "noisy", domain: "local", inputs: ["p"], outputs: ["q"], nodes: [{ op: "Bernoulli", inputs: ["p"], outputs: ["q"] }] }],
      opsets: [{ domain: "local", version: 1 }],
    });
    assert.throws(() => checkModelVerifiable({ bytes, path: "mixed.onnx" }), (thrown: unknown) => {
      assert.ok(thrown instanceof UnverifiableModelError);
      const reasons = (thrown as UnverifiableModelError).parameters.reasons!;
      assert.deepEqual((thrown as UnverifiableModelError).parameters.operators, ["BatchNormalization", "Bernoulli", "Dropout", "Momentum", "RandomUniformLike"]);
      assert.ok(reasons.some((r) => /RandomUniformLike is random.*graph\.node\[0\]\.attribute\[0\]\.g\.node\[0\]/.test(r)), reasons.join("\n"));
      assert.ok(reasons.some((r) => /Dropout's training_mode input "cond".*graph\.node\[1\]\.attribute\[0\]\.g\.node\[1\]/.test(r)), "a Loop body's input is no constant");
      assert.ok(reasons.some((r) => /Bernoulli is random.*functions\[0\]\.node\[0\]/.test(r)));
      assert.ok(reasons.some((r) => /BatchNormalization in training mode/.test(r)));
      assert.ok(reasons.some((r) => /Momentum \(domain ai\.onnx\.preview\.training\) exists only for training/.test(r)));
      return true;
    });
  });
});

describe("model admission: the tolerance policy must fit the declared outputs", () => {
  it("refuses argmax over an axis the output does not have (the rank-2 case that threw on every comparison), naming the output and its rank", async () => {
    const bytes = unaryModel("Relu");
    const misfit = await checkModelAdmission({ bytes, tolerance: parseTolerancePolicy("argmax:5") });
    assert.equal(misfit.admitted, false);
    assert.match(finding(misfit.findings, "tolerance", "fail").message, /argmax axis 5 does not exist in output "y" of rank 2 \(axes -2\.\.1\)/);
    for (const axis of ["-2", "-1", "0", "1"]) assert.equal((await checkModelAdmission({ bytes, tolerance: parseTolerancePolicy(`argmax:${axis}`) })).admitted, true, axis);
    // A dynamic rank cannot be checked, so it is refused rather than trusted.
    const unranked = buildOnnxModel({ graph: { nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }], inputs: [{ name: "x", type: F, dims: [2, 3] }], outputs: [{ name: "y", type: F }] } });
    assert.match(finding((await checkModelAdmission({ bytes: unranked, tolerance: parseTolerancePolicy("argmax:-1") })).findings, "tolerance", "fail").message, /does not declare its rank/);
  });

  it("allows exact only on integer-only graphs, allclose and argmax only with float outputs", async () => {
    const ints = { name: "a", type: ELEM.int32, dims: [4] };
    const integerGraph = buildOnnxModel({
      graph: { nodes: [{ op: "Add", inputs: ["a", "b"], outputs: ["s"] }], inputs: [ints, { ...ints, name: "b" }], outputs: [{ ...ints, name: "s" }] },
    });
    assert.equal((await checkModelAdmission({ bytes: integerGraph, tolerance: { kind: "exact" } })).admitted, true);
    assert.match(finding((await checkModelAdmission({ bytes: integerGraph, tolerance: parseTolerancePolicy("allclose:0.5:0") })).findings, "tolerance", "fail").message, /allclose needs a float output/);
    assert.match(finding((await checkModelAdmission({ bytes: integerGraph, tolerance: parseTolerancePolicy("argmax:0") })).findings, "tolerance", "fail").message, /argmax compares the top-1 of float scores/);

    // Integer outputs computed by float arithmetic may flip at a near-tie between honest machines.
    const floatToInt = argmaxOfExp();
    const refused = await checkModelAdmission({ bytes: floatToInt, tolerance: { kind: "exact" } });
    assert.match(finding(refused.findings, "tolerance", "fail").message, /exact needs an integer-only graph.*Exp at graph\.node\[0\] does arithmetic on floats/);
    const none = await checkModelAdmission({ bytes: floatToInt });
    assert.match(finding(none.findings, "tolerance", "fail").message, /no tolerance policy can judge these outputs/);

    // Floats only compared or moved compute the same bits everywhere: exact fits (ArgMax of the input itself).
    const comparedOnly = buildOnnxModel({
      graph: {
        nodes: [{ op: "ArgMax", inputs: ["x"], outputs: ["y"], attributes: [{ name: "axis", i: 1 }] }],
        inputs: [{ name: "x", type: F, dims: [2, 3] }],
        outputs: [{ name: "y", type: ELEM.int64, dims: [2, 1] }],
      },
    });
    assert.deepEqual(findFloatArithmetic(readOnnxModel(comparedOnly)), []);
    assert.equal((await checkModelAdmission({ bytes: comparedOnly, tolerance: { kind: "exact" } })).admitted, true);
    assert.match(finding((await checkModelAdmission({ bytes: unaryModel("Relu"), tolerance: { kind: "exact" } })).findings, "tolerance", "fail").message, /exact needs integer or bool outputs, and y float32\[2, 3\] is a float/);
  });

  it("allows allclose on integer outputs only where a float is quantized as byte-output does, and only from one step up", async () => {
    /** y = byte-output's tail on x, x computed by `head` from the input v (each part can be bent into a trap). */
    const tail = ({
      head,
      guard = true,
      clip = true,
      to = ELEM.uint8,
      hi = 255,
      reorder = false,
      extra = [],
      inputs = [],
    }: { head: NodeSpec[]; guard?: boolean; clip?: boolean; to?: number; hi?: number; reorder?: boolean; extra?: NodeSpec[]; inputs?: ValueSpec[] }) => {
      const nodes: NodeSpec[] = [
        ...head,
        ...(guard
          ? [
              { op: "IsNaN", inputs: ["x"], outputs: ["nan"] },
              { op: "Where", inputs: ["nan", "zero", "x"], outputs: ["finite"] },
            ]
          : []),
        { op: "Mul", inputs: [guard ? "finite" : "x", "k"], outputs: ["s"] },
        { op: "Round", inputs: ["s"], outputs: ["r"] },
        ...(clip ? [{ op: "Clip", inputs: ["r", "lo", "hi"], outputs: ["c"] }] : []),
        { op: "Cast", inputs: [clip ? "c" : "r"], outputs: ["y"], attributes: [{ name: "to", i: to }] },
        ...extra,
      ];
      return buildOnnxModel({
        graph: {
          // Reordered: the head's nodes listed backwards, each before what it reads, as a file may list them
          // (runtimes sort nodes; the walk must not be fooled).
          nodes: reorder ? [...[...head].reverse(), ...nodes.slice(head.length)] : nodes,
          inputs: [{ name: "v", type: F, dims: [2, 3] }, ...inputs],
          outputs: [{ name: "y", type: to, dims: [2, 3] }],
          initializers: [
            { name: "zero", type: F, dims: [], floats: [0] },
            { name: "k", type: F, dims: [], floats: [255] },
            { name: "lo", type: F, dims: [], floats: [0] },
            { name: "hi", type: F, dims: [], floats: [hi] },
          ],
        },
      });
    };
    const sigmoid = [{ op: "Sigmoid", inputs: ["v"], outputs: ["x"] }];
    const quantized = tail({ head: sigmoid });
    assert.deepEqual(findQuantizedOutputs(readOnnxModel(quantized)), ["y"]);
    const oneStep = await checkModelAdmission({ bytes: quantized, tolerance: parseTolerancePolicy("allclose:1:0") });
    assert.equal(oneStep.admitted, true, JSON.stringify(oneStep.findings));
    assert.match(finding(oneStep.findings, "tolerance", "note").message, /y uint8\[2, 3\] are quantized from floats .* within absTol 1/);
    // Under a step, a near-tie between honest machines would be slashed.
    const underAStep = await checkModelAdmission({ bytes: quantized, tolerance: parseTolerancePolicy("allclose:0.5:0") });
    assert.match(finding(underAStep.findings, "tolerance", "fail").message, /an absTol of at least 1 on outputs quantized from floats .* use allclose:1:0/);
    assert.match(finding((await checkModelAdmission({ bytes: quantized, tolerance: { kind: "exact" } })).findings, "tolerance", "fail").message, /exact needs an integer-only graph/);
    assert.match(finding((await checkModelAdmission({ bytes: quantized })).findings, "tolerance", "note").message, /policies that fit: allclose:1:0 \(one step\)$/);

    // A model owner's traps, each refused under allclose:1:0, and with them an honest provider's slashing at a near-tie
    // (the owner's dApp challenges and takes the finder's share):
    const castTo = (input: string, output: string, to: number): NodeSpec => ({ op: "Cast", inputs: [input], outputs: [output], attributes: [{ name: "to", i: to }] });
    const traps: [string, Uint8Array][] = [
      // an ArgMax index, which a near-tie moves to another class, not by one;
      ["index", argmaxOfExp({ input: "v" })],
      // the same index cast back to a float and through byte-output's tail;
      ["index through the tail", tail({ head: [{ op: "ArgMax", inputs: ["v"], outputs: ["i"], attributes: [{ name: "axis", i: 1 }] }, castTo("i", "x", ELEM.float)] })],
      // a comparison (0 or 1, then 0 or 255);
      ["comparison through the tail", tail({ head: [{ op: "Greater", inputs: ["v", "k"], outputs: ["g"] }, castTo("g", "x", ELEM.float)] })],
      // a float rounded before the tail (a whole number, which a near-tie moves by 255 steps once scaled);
      ["floor through the tail", tail({ head: [{ op: "Floor", inputs: ["v"], outputs: ["x"] }] })],
      // a float truncated by CastLike, and MaxPool's indices;
      ["CastLike through the tail", tail({
        head: [{ op: "CastLike", inputs: ["v", "kind"], outputs: ["t"] }, castTo("t", "x", ELEM.float)],
        inputs: [{ name: "kind", type: ELEM.int64, dims: [1] }],
      })],
      // the comparison again, its cast listed before the comparison it reads (runtimes sort nodes);
      ["a cast listed before the comparison it reads", tail({ head: [{ op: "Greater", inputs: ["v", "k"], outputs: ["g"] }, castTo("g", "x", ELEM.float)], reorder: true })],
      // no NaN guard: Clip and a cast of NaN differ between runtimes;
      ["no NaN guard", tail({ head: sigmoid, guard: false })],
      // no Clip: a value out of a byte's range casts to what each runtime likes (44 or 255 for 300);
      ["no clip", tail({ head: sigmoid, clip: false })],
      // bounds that are not a byte's, and a type that is not a byte;
      ["bounds out of range", tail({ head: sigmoid, hi: 300 })],
      ["a step as wide as the range", tail({ head: sigmoid, hi: 1 })],
      ["int32", tail({ head: sigmoid, to: ELEM.int32 })],
      // the scale a graph input a job may set, and a bound a Constant node renames over.
      ["scale a job sets", tail({ head: sigmoid, inputs: [{ name: "k", type: F, dims: [] }] })],
      ["bound overridden", tail({ head: sigmoid, extra: [{ op: "Constant", outputs: ["hi"], attributes: [{ name: "value_float", f: 1e30 }] }] })],
    ];
    for (const [name, bytes] of traps) {
      assert.deepEqual(findQuantizedOutputs(readOnnxModel(bytes)), [], name);
      assert.equal(checkPolicyFits({ policy: { kind: "allclose", absTol: 1, relTol: 0 }, outputs: [{ name: "y", dtype: "uint8", dims: [2, 3] }], floatArithmetic: ["Exp"], quantized: findQuantizedOutputs(readOnnxModel(bytes)) }).problems.length, 1, name);
    }
    for (const [name, bytes] of traps.slice(0, 3)) {
      const report = await checkModelAdmission({ bytes, tolerance: parseTolerancePolicy("allclose:1:0") });
      assert.match(finding(report.findings, "tolerance", "fail").message, /allclose needs a float output/, name);
    }
    // Shapes are the same on every machine: a Floor of a size does not jump (Resize's scales often come so).
    const fromShape = tail({
      head: [
        { op: "Shape", inputs: ["v"], outputs: ["shape"] },
        castTo("shape", "sf", ELEM.float),
        { op: "Floor", inputs: ["sf"], outputs: ["fl"] },
        { op: "ReduceSum", inputs: ["fl"], outputs: ["n"], attributes: [{ name: "keepdims", i: 0 }] },
        { op: "Div", inputs: ["v", "n"], outputs: ["x"] },
      ],
    });
    assert.equal(findJumpingValues(readOnnxModel(fromShape)).has("fl"), false);
    assert.deepEqual(findQuantizedOutputs(readOnnxModel(fromShape)), ["y"]);
  });

  it("checks policies without a model too, and says which fit when none is given", async () => {
    const outputs = [{ name: "scores", dtype: "float32", dims: [1, 10] }, { name: "label", dtype: "int64", dims: [1] }];
    assert.deepEqual(checkPolicyFits({ policy: { kind: "allclose", absTol: 1e-4, relTol: 0 }, outputs, floatArithmetic: ["Gemm at graph.node[0] does arithmetic on floats"] }).problems, []);
    assert.match(checkPolicyFits({ policy: { kind: "allclose", absTol: 1e-4, relTol: 0 }, outputs, floatArithmetic: [] }).notes[0]!, /label int64\[1\] are compared within absTol/);
    assert.match(finding((await checkModelAdmission({ bytes: unaryModel("Relu") })).findings, "tolerance", "note").message, /policies that fit: allclose, argmax:-1$/);
  });

  it("parses tolerance flags into the registry's struct, refusing malformed ones with the flag named", () => {
    assert.deepEqual(parseToleranceFlag("allclose:1e-4:0.001"), { kind: 0, axis: 0, absTolE12: 100_000_000n, relTolE12: 1_000_000_000n });
    assert.deepEqual(parseToleranceFlag("argmax:-1"), { kind: 1, axis: -1, absTolE12: 0n, relTolE12: 0n });
    assert.deepEqual(parseToleranceFlag("exact"), { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n });
    for (const bad of ["allclose:1e-4", "argmax:1.5", "argmax:300", "exact:1", "close:1:1", "allclose:-1:0"]) {
      assert.throws(() => parseToleranceFlag(bad), /--tolerance/, bad);
    }
  });
});

describe("model admission: onnxruntime loads and runs the model before it is registered", () => {
  it("refuses a model onnxruntime cannot load, with the runtime's message", async () => {
    const report = await checkModelAdmission({ bytes: unaryModel("NoSuchOperator"), tolerance: parseTolerancePolicy("allclose:1e-6:0") });
    assert.equal(report.admitted, false);
    assert.match(finding(report.findings, "runtime", "fail").message, /onnxruntime-node cannot load it: .*NoSuchOperator/);
    await assert.rejects(assertModelAdmitted({ bytes: unaryModel("NoSuchOperator"), path: "bad.onnx" }), (error: unknown) => {
      assert.ok(error instanceof ModelNotAdmittedError);
      assert.match(error.message, /bad\.onnx cannot be registered: runtime: onnxruntime-node cannot load it/);
      return true;
    });
  });

  it("runs a model twice on a generated input of its declared shapes; a generated input it refuses is only a note", async () => {
    const ok = await checkModelAdmission({ bytes: unaryModel("Relu"), tolerance: parseTolerancePolicy("allclose:1e-6:0") });
    assert.match(finding(ok.findings, "probe run", "pass").message, /ran twice on the declared input shapes: identical outputs y float32\[2, 3\]/);
    // Loads (shapes check out on paper), fails at run time: the gathered index 5 is out of range.
    const failing = buildOnnxModel({
      graph: {
        nodes: [{ op: "Gather", inputs: ["x", "i"], outputs: ["y"] }],
        inputs: [{ name: "x", type: F, dims: [2, 3] }],
        outputs: [{ name: "y", type: F, dims: [1, 3] }],
        initializers: [{ name: "i", type: ELEM.int64, dims: [1], int64: [5] }],
      },
    });
    const report = await checkModelAdmission({ bytes: failing, tolerance: parseTolerancePolicy("allclose:1e-6:0") });
    assert.equal(report.admitted, true, formatFindings(report.findings));
    assert.match(finding(report.findings, "probe run", "note").message, /the generated input fails \(.*indices element out of data bounds.*\): if the model takes shapes/);
  });
});

describe("model admission: the worker's side", () => {
  it("serves the models it can load and leaves out, with an error log, one onnxruntime cannot load; the opt-in to non-finite inputs comes from the registry", async function () {
    this.timeout(120_000);
    const connection = await network.create();
    const sys = await deploySystem(connection);
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-worker-models-"));
    // A model testing its input for NaN: deterministic, and the comparison handles NaN.
    const isnan = buildOnnxModel({
      graph: {
        nodes: [
          { op: "IsNaN", inputs: ["x"], outputs: ["n"] },
          { op: "Cast", inputs: ["n"], outputs: ["y"], attributes: [{ name: "to", i: ELEM.int32 }] },
        ],
        inputs: [{ name: "x", type: F, dims: [4] }],
        outputs: [{ name: "y", type: ELEM.int32, dims: [4] }],
      },
    });
    const unloadable = unaryModel("NoSuchOperator");
    const files = { isnan: path.join(dir, "isnan.onnx"), unloadable: path.join(dir, "unloadable.onnx") };
    writeFileSync(files.isnan, isnan);
    writeFileSync(files.unloadable, unloadable);
    const exact = { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n };
    const register = (bytes: Uint8Array, nonFiniteInputs: boolean) =>
      sys.registry.write.register([modelSpec({ modelHash: hashModel(bytes), tolerance: exact, nonFiniteInputs })], { account: sys.owner.account });
    await register(isnan, true); // 1: opted in
    await register(isnan, false); // 2: the same file, not opted in
    await register(unloadable, false); // 3: onnxruntime cannot load it
    // 4: a trap set through the registry directly (dinfer model register refuses it): an ArgMax index judged within one
    // step, which a near-tie moves further, so an honest provider could be slashed. 5: the same index cast to bytes is
    // no quantized float either. 6: a float quantized as model byte-output does, judged within one step: served.
    const index = argmaxOfExp({ dims: [4] });
    const bytesOut = withByteOutput(unaryModel("Sigmoid", { dims: [4] }));
    writeFileSync(path.join(dir, "index.onnx"), index);
    writeFileSync(path.join(dir, "bytes-out.onnx"), bytesOut);
    const oneStep = { kind: 0, axis: 0, absTolE12: 10n ** 12n, relTolE12: 0n };
    await sys.registry.write.register([modelSpec({ modelHash: hashModel(index), tolerance: oneStep })], { account: sys.owner.account });
    await sys.registry.write.register([modelSpec({ modelHash: hashModel(bytesOut), tolerance: exact })], { account: sys.owner.account });
    await sys.registry.write.register([modelSpec({ modelHash: hashModel(bytesOut), tolerance: oneStep })], { account: sys.owner.account });
    const deployment = { registry: sys.registry.address } as Deployment;
    const { log, records } = captureLogger();
    const served = [
      { modelId: 1, path: files.isnan, minFee: 0n },
      { modelId: 2, path: files.isnan, minFee: 0n },
      { modelId: 3, path: files.unloadable, minFee: 0n },
      { modelId: 4, path: path.join(dir, "index.onnx"), minFee: 0n },
      { modelId: 5, path: path.join(dir, "bytes-out.onnx"), minFee: 0n },
      { modelId: 6, path: path.join(dir, "bytes-out.onnx"), minFee: 0n },
    ];
    const models = await prepareModels({ served, publicClient: sys.publicClient as never, deployment, log });
    assert.deepEqual(models.map((m) => [m.modelId, m.nonFiniteInputs]), [[1, true], [2, false], [6, false]]);
    const skipped = records.filter((r) => r.msg === "model not served: it cannot be loaded");
    assert.deepEqual(skipped.map((r) => r.model_id), [3, 4, 5], JSON.stringify(records));
    assert.ok(String(skipped[0]!.err).includes("NoSuchOperator"), JSON.stringify(records));
    assert.match(String(skipped[1]!.err), /registered with allclose\(absTol=1, relTol=0\), which does not fit its outputs: allclose needs a float output.*not served/);
    assert.match(String(skipped[2]!.err), /registered with exact, which does not fit its outputs: exact needs an integer-only graph/);
    await assert.rejects(prepareModels({ served: [served[2]!], publicClient: sys.publicClient as never, deployment, log }), /NoSuchOperator/, "with nothing left to serve, the worker does not start");

    // The worker's inference path with each model's flag: NaN is judged only where the owner opted in.
    const verifierModel = await prepareVerifierModel({ modelId: 1, path: files.isnan, publicClient: sys.publicClient as never, deployment });
    assert.equal(verifierModel.nonFiniteInputs, true);
    const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: Float32Array.from([1, Number.NaN, Infinity, 0]), dims: [4] })]);
    const runner = createInferenceRunner({ size: 1, hashThreads: 1 });
    try {
      for (const model of models) {
        const run = runner.run({ modelPath: model.path, modelHash: model.modelHash, ep: "cpu", input: input.slice(), allowNonFinite: model.nonFiniteInputs });
        if (!model.nonFiniteInputs) {
          await assert.rejects(run, (error: unknown) => error instanceof InputValidationError && /data\[1\].*NaN.*must be finite/.test(error.message));
          continue;
        }
        const [y] = decodeTensorBlob((await run).output);
        assert.deepEqual(Array.from(tensorToArray(y!) as Int32Array), [0, 1, 0, 0]);
      }
    } finally {
      await runner.close();
    }
  });
});
