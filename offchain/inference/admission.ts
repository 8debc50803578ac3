/**
 * Model admission (docs/PROTOCOL.md section 7, "Model admission"): every check a model must pass
 * before it is registered, because a model is judged on every job and admitting the wrong one either
 * slashes honest providers or lets cheaters through. `dinfer model check` runs them offline (no chain,
 * no key), `dinfer model register` and the devnet run them before registering.
 *
 * The checks, each one finding (pass, fail, or a note that does not block):
 * - format: the bytes are an ONNX model;
 * - deterministic: no random operator and nothing in training mode, wherever it sits (main graph,
 *   If/Loop/Scan subgraphs, local functions): see offchain/inference/graph-rules.ts;
 * - runtime: onnxruntime-node loads it on CPU (a model it cannot load is refused with its message);
 * - inputs, outputs: tensors of a dtype tensor blobs carry;
 * - tolerance: the policy fits the declared outputs (argmax: the axis exists in every output; allclose:
 *   some output is a float; exact: every output is an integer or bool and the graph is integer-only);
 * - non-finite inputs: whether NaN/Inf inputs are accepted (the owner's opt-in, frozen on-chain);
 * - probe run: run twice on a generated input of the declared shapes (dynamic dims get small sizes):
 *   both outputs must encode as a tensor blob, be identical, match the declared outputs and compare
 *   under the policy without error. A run the generated input fails is only a note: generated values
 *   are no real input (an input may be a shape, an axis, a scale).
 */
import * as ort from "onnxruntime-node";
import type { Hex } from "viem";

import { encodeTensorBlob, isDType, tensorFromArray, type Tensor } from "../codec/tensor.js";
import { compareOutputs, toleranceFromChain, type TolerancePolicy } from "../codec/tolerance.js";
import { DinferError, NonRetryableError } from "../errors.js";
import { findFloatArithmetic, findQuantizedOutputs, findUnjudgeableNodes } from "./graph-rules.js";
import { hashModel } from "./model.js";
import { forEachNode, onnxDataTypeName, ONNX_FLOAT_TYPES, readOnnxModel, type OnnxDim, type OnnxModel, type OnnxValueInfo } from "./onnx-graph.js";
import { DEFAULT_SESSION_OPTIONS, runModelSession } from "./session.js";

export type AdmissionCheck = "format" | "deterministic" | "runtime" | "inputs" | "outputs" | "tolerance" | "non-finite inputs" | "probe run";

export type AdmissionFinding = {
  check: AdmissionCheck;
  /** "fail" refuses the model; "note" is information that does not. */
  status: "pass" | "fail" | "note";
  message: string;
};

/** A graph input or output as declared: its dtype name ("float32") and dims (undefined when the rank is not declared). */
export type DeclaredValue = { name: string; dtype: string; dims?: OnnxDim[] };

export type CheckModelAdmissionParameters = {
  bytes: Uint8Array;
  /** The policy the model will be registered with; without one, the report says which policies fit. */
  tolerance?: TolerancePolicy;
  /** The owner's opt-in to NaN/Inf inputs (IModelRegistry.ModelSpec.nonFiniteInputs). */
  nonFiniteInputs?: boolean;
  /** Extra session options for the runtime checks (threads). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
};

export type ModelAdmissionReport = {
  /** True when no finding failed: the model can be registered (with `tolerance`, when one was given). */
  admitted: boolean;
  findings: AdmissionFinding[];
  modelHash: Hex;
  inputs: DeclaredValue[];
  outputs: DeclaredValue[];
  /** Where the graph does arithmetic on floats; empty for an integer-only graph. */
  floatArithmetic: string[];
  /** The outputs quantized to bytes as model byte-output writes them (`findQuantizedOutputs`). */
  quantizedOutputs: string[];
};

/** Runs every admission check; never throws for a problem of the model (each is a finding). */
export async function checkModelAdmission({
  bytes,
  tolerance,
  nonFiniteInputs = false,
  sessionOptions = {},
}: CheckModelAdmissionParameters): Promise<ModelAdmissionReport> {
  const findings: AdmissionFinding[] = [];
  const report: ModelAdmissionReport = { admitted: false, findings, modelHash: hashModel(bytes), inputs: [], outputs: [], floatArithmetic: [], quantizedOutputs: [] };
  const add = (check: AdmissionCheck, status: AdmissionFinding["status"], message: string) => findings.push({ check, status, message });
  const done = () => ({ ...report, admitted: findings.every((finding) => finding.status !== "fail") });

  let model: OnnxModel;
  try {
    model = readOnnxModel(bytes);
  } catch (error) {
    add("format", "fail", `not an ONNX model: ${messageOf(error)}`);
    return done();
  }
  let nodeCount = 0;
  forEachNode(model, () => nodeCount++);
  const opsets = model.opsetImports.map(({ domain, version }) => `${domain === "" ? "ai.onnx" : domain} ${version}`).join(", ");
  add("format", "pass", `ONNX IR version ${model.irVersion}, opsets ${opsets || "none"}, ${nodeCount} nodes`);

  const unjudgeable = findUnjudgeableNodes(model);
  if (unjudgeable.length === 0) add("deterministic", "pass", "no random operator and nothing in training mode (main graph, subgraphs, local functions)");
  else add("deterministic", "fail", `${unjudgeable.length} node(s) make the output unjudgeable: ${unjudgeable.map((n) => `${n.reason} (${n.path})`).join("; ")}`);
  report.floatArithmetic = findFloatArithmetic(model);
  report.quantizedOutputs = findQuantizedOutputs(model);

  let session: ort.InferenceSession | undefined;
  try {
    // Fatal-only runtime logs: a failing probe run is a finding, not an error line on the console.
    const options = { ...DEFAULT_SESSION_OPTIONS, logSeverityLevel: 4 as const, ...sessionOptions, executionProviders: ["cpu"] };
    session = await ort.InferenceSession.create(bytes, options);
    add("runtime", "pass", `onnxruntime-node ${ort.env.versions.node ?? "(version unknown)"} loads it on cpu`);
  } catch (error) {
    add("runtime", "fail", `onnxruntime-node cannot load it: ${messageOf(error)}`);
  }
  try {
    report.inputs = declaredValues(model, session?.inputMetadata, "inputs");
    report.outputs = declaredValues(model, session?.outputMetadata, "outputs");
    checkValues(report.inputs, "inputs", add);
    checkValues(report.outputs, "outputs", add);
    checkTolerance({ tolerance, outputs: report.outputs, floatArithmetic: report.floatArithmetic, quantized: report.quantizedOutputs, add });
    checkNonFinite({ nonFiniteInputs, inputs: report.inputs, add });
    const failed = (check: AdmissionCheck) => findings.some((finding) => finding.check === check && finding.status === "fail");
    if (session !== undefined && !failed("inputs") && !failed("outputs")) {
      // A policy that does not fit is refused already; the run then only checks load and determinism.
      await probeRun({ session, report, tolerance: failed("tolerance") ? undefined : tolerance, nonFiniteInputs, add });
    }
  } finally {
    await session?.release().catch(() => undefined);
  }
  return done();
}

/** One line per finding: "PASS  runtime      onnxruntime-node 1.30.0 loads it on cpu". */
export function formatFindings(findings: readonly AdmissionFinding[]): string {
  const width = Math.max(...findings.map((finding) => finding.check.length));
  return findings.map(({ check, status, message }) => `${status.toUpperCase().padEnd(4)}  ${check.padEnd(width)}  ${message}`).join("\n");
}

export type ModelNotAdmittedErrorParameters = { path: string; failures: AdmissionFinding[] };

/** The model fails admission: registering it would let results be judged wrongly. */
export class ModelNotAdmittedError extends NonRetryableError {
  override name = "ModelNotAdmittedError";
  readonly failures: AdmissionFinding[];

  constructor({ path, failures }: ModelNotAdmittedErrorParameters) {
    const first = failures[0];
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : "";
    super(`model ${path} cannot be registered: ${first ? `${first.check}: ${first.message}` : "admission failed"}${more}; run \`dinfer model check\` for every finding`, {
      code: "MODEL_NOT_ADMITTED",
      details: { path, failures: failures.map(({ check, message }) => `${check}: ${message}`) },
    });
    this.failures = failures;
  }
}

/** Runs the admission checks and throws ModelNotAdmittedError when any fails (devnet, scripts). */
export async function assertModelAdmitted({ path, ...parameters }: CheckModelAdmissionParameters & { path: string }): Promise<ModelAdmissionReport> {
  const report = await checkModelAdmission(parameters);
  if (!report.admitted) throw new ModelNotAdmittedError({ path, failures: report.findings.filter((finding) => finding.status === "fail") });
  return report;
}

export type PolicyFitParameters = {
  policy: TolerancePolicy;
  outputs: readonly DeclaredValue[];
  /** `findFloatArithmetic` of the graph: empty for an integer-only graph. */
  floatArithmetic: readonly string[];
  /** `findQuantizedOutputs` of the graph: outputs quantized to bytes as model byte-output writes them (none when left out). */
  quantized?: readonly string[];
};

export type PolicyFitReturnType = { problems: string[]; notes: string[] };

/**
 * Whether a tolerance policy can judge the model's outputs (the comparison applies it to every output
 * tensor, offchain/codec/tolerance.ts):
 * - argmax(axis): every output is a float, declares its rank and has the axis (negative counts from the end);
 * - allclose: some output is a float (on integer and bool outputs it is a numeric comparison within
 *   absTol, noted: when they are computed from floats, a near-tie may differ between honest machines), or
 *   every output is quantized from floats (`findQuantizedOutputs`: a float output quantized to bytes inside
 *   the model, offchain/inference/byte-output.ts) and absTol is at least 1, the step a near-tie moves it by.
 *   The graph cannot tell how far a float moves between honest machines: one step holds when that is
 *   under the quantization's step, as for a probability scaled to 255, and is the model owner's to choose;
 * - exact: every output is an integer or bool and the graph is integer-only: floats may enter it but
 *   are only moved, compared, selected or cast, never computed with (`findFloatArithmetic`), since
 *   float arithmetic differs in its last bits between honest machines.
 */
export function checkPolicyFits({ policy, outputs, floatArithmetic, quantized = [] }: PolicyFitParameters): PolicyFitReturnType {
  const problems: string[] = [];
  const notes: string[] = [];
  const floats = outputs.filter((output) => isFloatName(output.dtype));
  const integers = outputs.filter((output) => !isFloatName(output.dtype));
  switch (policy.kind) {
    case "argmax":
      if (integers.length > 0) problems.push(`argmax compares the top-1 of float scores, and ${describeValues(integers)} ${integers.length > 1 ? "are integers" : "is an integer"}`);
      for (const output of outputs) {
        if (output.dims === undefined) problems.push(`output "${output.name}" does not declare its rank, so argmax axis ${policy.axis} cannot be checked`);
        else if (output.dims.length === 0) problems.push(`output "${output.name}" is a scalar: argmax needs an axis`);
        else if (policy.axis < -output.dims.length || policy.axis >= output.dims.length) {
          problems.push(`argmax axis ${policy.axis} does not exist in output "${output.name}" of rank ${output.dims.length} (axes ${-output.dims.length}..${output.dims.length - 1})`);
        }
      }
      break;
    case "allclose":
      if (floats.length === 0 && !outputs.every((output) => quantized.includes(output.name))) {
        problems.push(`allclose needs a float output, and every output is an integer or bool (${describeValues(outputs)}): use exact if the graph is integer-only`);
      } else if (floats.length === 0 && policy.absTol < 1) {
        problems.push(
          `allclose needs a float output, or an absTol of at least 1 on outputs quantized from floats (${describeValues(outputs)}): ` +
            `a near-tie moves such an output by a step between honest machines, which absTol ${policy.absTol} would slash; use allclose:1:0 (one step)`,
        );
      } else if (floats.length === 0) {
        notes.push(`outputs ${describeValues(outputs)} are quantized from floats (model byte-output's tail) and compared within absTol ${policy.absTol}`);
      } else if (integers.length > 0) {
        notes.push(`integer outputs ${describeValues(integers)} are compared within absTol ${policy.absTol}: computed from floats, a near-tie may differ between honest machines`);
      }
      break;
    case "exact":
      if (floats.length > 0) problems.push(`exact needs integer or bool outputs, and ${describeValues(floats)} ${floats.length > 1 ? "are floats" : "is a float"}: use allclose or argmax`);
      if (floatArithmetic.length > 0) {
        const more = floatArithmetic.length > 3 ? ` (and ${floatArithmetic.length - 3} more)` : "";
        problems.push(`exact needs an integer-only graph, and this one does arithmetic on floats: ${floatArithmetic.slice(0, 3).join("; ")}${more}`);
      }
      break;
  }
  return { problems, notes };
}

/**
 * A registered model whose tolerance policy does not fit its outputs (`checkPolicyFits`): an honest run of
 * it could be judged wrong, so a worker does not serve it. The registry takes any policy; `dinfer model
 * register` refuses these, but an owner may call the registry directly.
 */
export class ToleranceMisfitError extends NonRetryableError {
  override name = "ToleranceMisfitError";
  constructor({ modelHash, policy, problems }: { modelHash: string; policy: TolerancePolicy; problems: string[] }) {
    super(
      `model ${modelHash} is registered with ${describePolicy(policy)}, which does not fit its outputs: ${problems.join("; ")}. ` +
        "An honest run could be judged wrong, so it is not served; its owner must register it with a policy that fits (dinfer model check says which)",
      { code: "TOLERANCE_MISFIT", details: { modelHash, problems } },
    );
  }
}

/**
 * Throws ToleranceMisfitError when a registered policy does not fit the model (`checkPolicyFits` on the
 * graph, with the output types a session reports): what a worker checks before it serves a model.
 */
export function assertPolicyFits({ bytes, modelHash, policy, outputMetadata }: { bytes: Uint8Array; modelHash: string; policy: TolerancePolicy; outputMetadata: readonly ort.InferenceSession.ValueMetadata[] }): void {
  const model = readOnnxModel(bytes);
  const outputs = declaredValues(model, outputMetadata, "outputs");
  const { problems } = checkPolicyFits({ policy, outputs, floatArithmetic: findFloatArithmetic(model), quantized: findQuantizedOutputs(model) });
  if (problems.length > 0) throw new ToleranceMisfitError({ modelHash, policy, problems });
}

/**
 * Parses a tolerance flag: `allclose:<absTol>:<relTol>`, `argmax:<axis>` or `exact`, into the
 * on-chain struct (IModelRegistry.Tolerance, 12-decimal fixed point).
 */
export function parseToleranceFlag(text: string): { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint } {
  const [kind, a, b, ...rest] = text.split(":");
  const bad = (problem: string) => new DinferError(`--tolerance ${JSON.stringify(text)}: ${problem}`, { code: "BAD_TOLERANCE" });
  if (rest.length > 0) throw bad("too many fields");
  const e12 = (value: string | undefined, field: string) => {
    const n = Number(value);
    if (value === undefined || value.trim() === "" || !Number.isFinite(n) || n < 0) throw bad(`${field} must be a non-negative number`);
    return BigInt(Math.round(n * 1e12));
  };
  if (kind === "allclose") return { kind: 0, axis: 0, absTolE12: e12(a, "absTol"), relTolE12: e12(b, "relTol") };
  if (kind === "argmax") {
    const axis = Number(a ?? "-1");
    if (!Number.isInteger(axis) || axis < -128 || axis > 127 || b !== undefined) throw bad("argmax takes one integer axis in -128..127");
    return { kind: 1, axis, absTolE12: 0n, relTolE12: 0n };
  }
  if (kind === "exact" && a === undefined) return { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n };
  throw bad("must be allclose:<absTol>:<relTol>, argmax:<axis> or exact");
}

/** A tolerance flag as the policy verifiers apply. */
export function parseTolerancePolicy(text: string): TolerancePolicy {
  return toleranceFromChain(parseToleranceFlag(text));
}

type Add = (check: AdmissionCheck, status: AdmissionFinding["status"], message: string) => void;

/**
 * The graph's inputs (initializers left out) or outputs, with their declared dims, and the dtype
 * onnxruntime reports (the graph's own type when the session did not load).
 */
function declaredValues(model: OnnxModel, metadata: readonly ort.InferenceSession.ValueMetadata[] | undefined, which: "inputs" | "outputs"): DeclaredValue[] {
  const initializers = new Set(model.graph.initializers.map((tensor) => tensor.name));
  const declared = model.graph[which].filter((value) => which === "outputs" || !initializers.has(value.name));
  const byName = new Map(declared.map((value) => [value.name, value]));
  if (metadata === undefined) return declared.map((value) => ({ name: value.name, dtype: graphDtype(value), ...graphDims(value) }));
  return metadata.map((entry) => {
    const value = byName.get(entry.name);
    const dtype = entry.isTensor ? String(entry.type) : value?.type.kind === "other" ? value.type.what : "non-tensor";
    return { name: entry.name, dtype, ...(value === undefined ? {} : graphDims(value)) };
  });
}

function graphDtype(value: OnnxValueInfo): string {
  if (value.type.kind === "tensor") return onnxDataTypeName(value.type.elemType);
  return value.type.kind === "other" ? value.type.what : "untyped";
}

function graphDims(value: OnnxValueInfo): { dims?: OnnxDim[] } {
  return value.type.kind === "tensor" && value.type.shape !== undefined ? { dims: value.type.shape } : {};
}

function checkValues(values: readonly DeclaredValue[], which: "inputs" | "outputs", add: Add): void {
  const bad = values.filter((value) => !isDType(value.dtype));
  if (which === "outputs" && values.length === 0) return add("outputs", "fail", "the model has no outputs");
  if (bad.length > 0) {
    return add(which, "fail", `${describeValues(bad)}: tensor blobs carry only float16/32/64, int8, uint8, int32, int64 and bool tensors`);
  }
  add(which, "pass", values.length === 0 ? "none" : describeValues(values));
}

function checkTolerance({ tolerance, add, ...graph }: { tolerance?: TolerancePolicy; add: Add } & Omit<PolicyFitParameters, "policy">): void {
  const { outputs, floatArithmetic } = graph;
  if (tolerance === undefined) {
    const candidates: [string, TolerancePolicy][] = [
      ["allclose", { kind: "allclose", absTol: 0, relTol: 0 }],
      ["argmax:-1", { kind: "argmax", axis: -1 }],
      ["exact", { kind: "exact" }],
    ];
    const fits = (policy: TolerancePolicy) => checkPolicyFits({ policy, ...graph }).problems.length === 0;
    const fitting = candidates.filter(([, policy]) => fits(policy)).map(([name]) => name);
    // Outputs quantized from floats: allclose only from one step up.
    if (!fitting.includes("allclose") && fits({ kind: "allclose", absTol: 1, relTol: 0 })) fitting.unshift("allclose:1:0 (one step)");
    if (fitting.length === 0) {
      return add("tolerance", "fail", `no tolerance policy can judge these outputs (${describeValues(outputs)}): ${explainNoFit(outputs, floatArithmetic)}`);
    }
    return add("tolerance", "note", `no --tolerance given; policies that fit: ${fitting.join(", ")}`);
  }
  const { problems, notes } = checkPolicyFits({ policy: tolerance, ...graph });
  const shown = describePolicy(tolerance);
  if (problems.length > 0) add("tolerance", "fail", `${shown} does not fit the model: ${problems.join("; ")}`);
  else add("tolerance", "pass", `${shown} fits the outputs ${describeValues(outputs)}`);
  for (const note of notes) add("tolerance", "note", note);
}

function explainNoFit(outputs: readonly DeclaredValue[], floatArithmetic: readonly string[]): string {
  if (outputs.some((output) => isFloatName(output.dtype))) return "see the argmax and allclose rules";
  return `integer outputs computed by float arithmetic (${floatArithmetic[0] ?? "?"}) may differ between honest machines at a near-tie; output the float scores and register with argmax or allclose`;
}

function checkNonFinite({ nonFiniteInputs, inputs, add }: { nonFiniteInputs: boolean; inputs: DeclaredValue[]; add: Add }): void {
  const floats = inputs.filter((input) => isFloatName(input.dtype));
  if (!nonFiniteInputs) {
    add("non-finite inputs", "pass", floats.length === 0 ? "no float inputs" : "refused: jobs whose float inputs hold NaN or Inf are skipped (opt in with --non-finite-inputs)");
  } else if (floats.length === 0) {
    add("non-finite inputs", "note", "opted in, but the model has no float input: the opt-in changes nothing");
  } else {
    add("non-finite inputs", "pass", `accepted (opted in): NaN and Inf may reach ${describeValues(floats)}; outputs compare NaN with NaN as equal`);
  }
}

/** The static-shape test run: twice on a generated input, outputs checked against the declaration and the policy. */
async function probeRun({
  session,
  report,
  tolerance,
  nonFiniteInputs,
  add,
}: {
  session: ort.InferenceSession;
  report: ModelAdmissionReport;
  tolerance?: TolerancePolicy;
  nonFiniteInputs: boolean;
  add: Add;
}): Promise<void> {
  const staticShapes = report.inputs.every((input) => input.dims !== undefined && input.dims.every((dim) => typeof dim === "number" && dim >= 0));
  const on = staticShapes ? "the declared input shapes" : "generated sizes for the dynamic input dims";
  const fail = (problem: string) => add("probe run", "fail", `on ${on}: ${problem}`);
  const inputs = probeInputs(session.inputMetadata);
  let blobs: Uint8Array[];
  let outputs: Tensor[];
  try {
    const runs = [];
    for (let i = 0; i < 2; i++) runs.push(await runModelSession({ session, inputs, modelHash: report.modelHash, ep: "cpu", allowNonFinite: nonFiniteInputs }));
    outputs = runs[0]!.outputs;
    blobs = runs.map((run) => encodeTensorBlob(run.outputs));
  } catch (error) {
    // Generated values (ones, a ramp) are no real input: an input that is really a shape, an axis, a
    // scale or an index may refuse them. The model loaded; what it does with real input is not known here.
    return add("probe run", "note", `on ${on}, the generated input fails (${messageOf(error)}): if the model takes shapes, axes, scales or indices as inputs that is expected; try it on a real input`);
  }
  if (!Buffer.from(blobs[0]!).equals(Buffer.from(blobs[1]!))) return fail("two runs on the same input gave different outputs: the model is not deterministic");
  for (const output of outputs) {
    const declared = report.outputs.find((value) => value.name === output.name);
    if (declared === undefined) return fail(`it output "${output.name}", which the model does not declare`);
    if (declared.dtype !== output.dtype) return fail(`output "${output.name}" is ${output.dtype}, declared ${declared.dtype}`);
    if (declared.dims !== undefined && declared.dims.length !== output.dims.length) {
      return fail(`output "${output.name}" has rank ${output.dims.length}, declared ${declared.dims.length}`);
    }
  }
  if (tolerance !== undefined) {
    try {
      const compared = compareOutputs({ expected: blobs[0]!, actual: blobs[1]!, policy: tolerance });
      if (compared.verdict !== "agree") return fail(`the output disagrees with itself under ${describePolicy(tolerance)}: ${compared.reason}`);
    } catch (error) {
      return fail(`the comparison under ${describePolicy(tolerance)} fails: ${messageOf(error)}`);
    }
  }
  const shown = outputs.map((output) => `${output.name} ${output.dtype}[${output.dims.join(", ")}]`).join(", ");
  add("probe run", "pass", `ran twice on ${on}: identical outputs ${shown}${tolerance ? `, compared under ${describePolicy(tolerance)}` : ""}`);
}

/**
 * A generated input for every tensor input: fixed dims as declared, dynamic ones 1 for the first axis
 * (the batch) and 4 for the others; floats a ramp in (0, 1], integers and bools 1 (no zero divisors,
 * steps or scales).
 */
function probeInputs(inputMetadata: readonly ort.InferenceSession.ValueMetadata[]): Tensor[] {
  const tensors: Tensor[] = [];
  for (const metadata of inputMetadata) {
    if (!metadata.isTensor || !isDType(metadata.type)) continue;
    const dims = metadata.shape.map((dim, axis) => (typeof dim === "number" && dim >= 0 ? dim : axis === 0 ? 1 : 4));
    const count = dims.reduce((product, dim) => product * dim, 1);
    const dtype = metadata.type;
    const values =
      dtype === "int64"
        ? new BigInt64Array(count).fill(1n)
        : dtype === "float32" || dtype === "float64"
          ? Float64Array.from({ length: count }, (_, i) => ((i % 251) + 1) / 251)
          : dtype === "float16"
            ? new Uint16Array(count).fill(0x3c00) // 1.0
            : new Uint8Array(count).fill(1);
    tensors.push(tensorFromArray({ name: metadata.name, dtype, values: values as unknown as ArrayLike<never>, dims }));
  }
  return tensors;
}

function describePolicy(policy: TolerancePolicy): string {
  if (policy.kind === "allclose") return `allclose(absTol=${policy.absTol}, relTol=${policy.relTol})`;
  return policy.kind === "argmax" ? `argmax(axis=${policy.axis})` : "exact";
}

function describeValues(values: readonly DeclaredValue[]): string {
  return values.map((value) => `${value.name} ${value.dtype}${value.dims === undefined ? "[rank unknown]" : `[${value.dims.map((dim) => dim ?? "?").join(", ")}]`}`).join(", ");
}

function isFloatName(dtype: string): boolean {
  return [...ONNX_FLOAT_TYPES].some((type) => onnxDataTypeName(type) === dtype);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
