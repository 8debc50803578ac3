/**
 * A model that answers in bytes: `withByteOutput` quantizes a float output inside the model, so a
 * job's result holds one byte per element rather than four. PP-OCRv4 det's output is a probability
 * per pixel, 1.6 MB of float32 at 640x640; as bytes it is 410 KB: a quarter of the bytes to hash into
 * the output root, keep, serve, fetch and compare, on every machine that handles the job (the
 * provider's, each auditor's, the dApp's). Together with `withImageInput` (offchain/inference/image-input.ts),
 * a det job is 1.2 MB in and 0.4 MB out instead of 4.9 and 1.6.
 *
 * The wrapped model is a new model (another file, another hash, registered on its own): the float
 * output `y` becomes an internal value, and six nodes put after the graph compute the new output,
 * ```
 * y (float32) -> Where(IsNaN(y), 0, y) -> Mul(scale) -> Round -> Clip(0, 255) -> Cast(uint8) -> y_bytes (uint8, y's shape)
 * ```
 * i.e. y_bytes = min(max(round(y * scale), 0), 255), rounding halves to even (ONNX's Round), in
 * float32. With the default scale of 255 a probability p in [0, 1] becomes the byte nearest 255 p: one
 * step is 1/255 (0.0039), far finer than det's text threshold of 0.3 needs. A reader divides by the scale
 * (`readDetOutput` in offchain/sdk/image.ts does). NaN becomes 0, before anything whose NaN runtimes
 * treat differently (Clip, a cast); Inf and values out of range are clipped, so the cast is always in
 * range and defined.
 *
 * Judging: the output is integers, so two machines agree exactly or differ by whole steps. A GPU's
 * float noise (up to 7.7e-5 against CPU for det, bench/results/webgpu.json; a step is 1/255) can move a
 * value across a rounding boundary: one step. So the wrapped model is registered with `allclose`, absTol
 * 1 and relTol 0 (one step, nothing more), which model admission allows for this tail exactly, on a float
 * nothing discontinuous made (`findQuantizedOutputs`, offchain/inference/graph-rules.ts);
 * test/offchain/byte-output.test.ts measures the bytes against the float model.
 *
 * Refused with a reason (ByteOutputError): what `openGraph` refuses (offchain/inference/onnx-edit.ts),
 * an opset older than 11 (Round, and Clip's bounds as inputs), an output that is not float32, a scale that
 * is not a finite number above 0, and a name the graph (its sparse initializers and subgraphs included)
 * already uses.
 */
import { toleranceFromChain, type TolerancePolicy } from "../codec/tolerance.js";
import { NonRetryableError } from "../errors.js";
import { checkNamesFree, isValueInfoNamed, openGraph, pickValue, rewriteGraph } from "./onnx-edit.js";
import { ELEM, nodeProto, pb, tensorProto, valueInfoProto } from "./onnx-write.js";

/** Parameters that cannot make a model with a byte output; the message names the problem. */
export class ByteOutputError extends NonRetryableError {
  override name = "ByteOutputError";
  constructor(message: string) {
    super(message, { code: "BYTE_OUTPUT" });
  }
}

export type WithByteOutputParameters = {
  /** The float output to quantize; left out, the model's only output. */
  outputName?: string;
  /** The new uint8 output's name (default: the float output's with "_uint8" appended); it must not name anything in the graph. */
  byteName?: string;
  /** What a value is multiplied by before rounding (default 255: [0, 1] onto 0..255). */
  scale?: number;
};

/** The scale that maps a probability in [0, 1] onto the 256 byte values. */
export const PROBABILITY_SCALE = 255;
/**
 * The tolerance a byte-output model is registered with: one step, `allclose:1:0` as `dinfer model register
 * --tolerance` takes it; on chain (IModelRegistry.Tolerance, 12 decimals) and as verifiers apply it.
 */
export const BYTE_OUTPUT_TOLERANCE_ON_CHAIN = { kind: 0, axis: 0, absTolE12: 10n ** 12n, relTolE12: 0n } as const;
export const BYTE_OUTPUT_TOLERANCE: TolerancePolicy = toleranceFromChain(BYTE_OUTPUT_TOLERANCE_ON_CHAIN);

/** The oldest default-domain opset with Round and with Clip's bounds as inputs (IsNaN and Where: 9). */
const MIN_OPSET = 11;
/** GraphProto.node, initializer, output. */
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_OUTPUT = 12;

const fail = (message: string) => new ByteOutputError(message);

/** The model's bytes with a float output quantized to uint8 inside it; see the module doc. */
export function withByteOutput(model: Uint8Array, { outputName, byteName, scale = PROBABILITY_SCALE }: WithByteOutputParameters = {}): Uint8Array {
  // Checked as the float32 the model holds: 1e300 would be Inf there, and 1e-50 zero.
  if (!(Number.isFinite(Math.fround(scale)) && Math.fround(scale) > 0)) {
    throw fail(`scale is ${scale}; it must be a number above 0 that float32 holds (255 maps [0, 1] onto the bytes)`);
  }
  if (byteName === "") throw fail("byteName is empty; an ONNX value needs a name (the default is the output's name with _uint8 appended)");
  const open = openGraph(model, { what: "a byte output", minOpset: MIN_OPSET, fail });
  const output = pickValue(open.parsed.graph.outputs, outputName, { which: "output", option: "outputName", verb: "quantize", fail });
  if (output.type.kind !== "tensor" || output.type.elemType !== ELEM.float) {
    throw fail(`output "${output.name}" is not a float32 tensor; only a float32 output is quantized to bytes`);
  }
  const name = byteName ?? `${output.name}_uint8`;
  const derived = {
    nan: `${name}_nan`,
    zero: `${name}_zero`,
    finite: `${name}_finite`,
    scale: `${name}_scale`,
    min: `${name}_min`,
    max: `${name}_max`,
    scaled: `${name}_scaled`,
    rounded: `${name}_rounded`,
    clipped: `${name}_clipped`,
  };
  checkNamesFree(open, [name, ...Object.values(derived)], { fail, option: "byteName" });

  const node = (spec: Parameters<typeof nodeProto>[0]) => pb.bytes(GRAPH_NODE, nodeProto(spec));
  const scalar = (tensorName: string, value: number) => pb.bytes(GRAPH_INITIALIZER, tensorProto({ name: tensorName, type: ELEM.float, dims: [], floats: [value] }));
  const epilogue = [
    ...node({ op: "IsNaN", name: `${name}/isnan`, inputs: [output.name], outputs: [derived.nan] }),
    ...node({ op: "Where", name: `${name}/nan-to-zero`, inputs: [derived.nan, derived.zero, output.name], outputs: [derived.finite] }),
    ...node({ op: "Mul", name: `${name}/scale`, inputs: [derived.finite, derived.scale], outputs: [derived.scaled] }),
    ...node({ op: "Round", name: `${name}/round`, inputs: [derived.scaled], outputs: [derived.rounded] }),
    ...node({ op: "Clip", name: `${name}/clip`, inputs: [derived.rounded, derived.min, derived.max], outputs: [derived.clipped] }),
    ...node({ op: "Cast", name: `${name}/cast`, inputs: [derived.clipped], outputs: [name], attributes: [{ name: "to", i: ELEM.uint8 }] }),
    ...scalar(derived.zero, 0),
    ...scalar(derived.scale, scale),
    ...scalar(derived.min, 0),
    ...scalar(derived.max, 255),
  ];
  const byteOutput = pb.bytes(GRAPH_OUTPUT, valueInfoProto({ name, type: ELEM.uint8, dims: output.type.shape }));
  return rewriteGraph(open, { epilogue, replace: (field) => (isValueInfoNamed(model, field, GRAPH_OUTPUT, output.name) ? byteOutput : undefined) });
}
