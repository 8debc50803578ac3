/**
 * A model that takes an image's bytes: `withImageInput` puts a model's input normalization inside the
 * model, so a job's input is the image as uint8 (one byte per channel value) rather than float32
 * (four). For PP-OCRv4 det at 640x640 that is 1.2 MB per job instead of 4.9 MB: a quarter of the
 * bytes to upload, pin, fetch, hash, stage and keep, on every machine that handles the job (the
 * dApp's, the provider's, each auditor's).
 *
 * The wrapped model is a new model (another file, another hash, registered on its own): the float
 * input `x` becomes an internal value computed by three nodes put in front of the graph,
 * ```
 * image (uint8, x's shape) -> Cast(float) -> Mul(scale) -> Add(shift) -> x
 * scale[c] = 1 / (255 * std[c]),  shift[c] = -mean[c] / std[c]      (per channel, float32)
 * ```
 * i.e. x = (image / 255 - mean) / std, PaddleOCR's NormalizeImage, computed by onnxruntime in
 * float32. The rest of the model is copied byte for byte (its initializers, a model's bulk, are
 * never decoded). The two extra nodes are float arithmetic, so the model is judged by its tolerance
 * like the one it wraps (offchain/inference/admission.ts). The x it computes is not the x a dApp
 * computes in float64 and rounds once: the scale and shift are rounded to float32, and so are the
 * product and the sum, a few float32 roundings in all (under 1e-6 for det's constants, where |x| < 2.7);
 * test/offchain/image-input.test.ts measures what that does to det's output.
 *
 * Refused with a reason (ImageInputError): what `openGraph` refuses (offchain/inference/onnx-edit.ts: a
 * graph split over several fields, IR version 3 or older, an opset older than 7), an input that is not
 * float32 or has no channel axis, mean and std that do not fit the channels, and a name the graph (its
 * sparse initializers included), or any of its subgraphs, already uses.
 */
import { NonRetryableError } from "../errors.js";
import { checkNamesFree, isValueInfoNamed, openGraph, pickValue, rewriteGraph } from "./onnx-edit.js";
import type { OnnxGraph } from "./onnx-graph.js";
import { ELEM, nodeProto, pb, tensorProto, valueInfoProto } from "./onnx-write.js";

/** Parameters that cannot make a model with an image input; the message names the problem. */
export class ImageInputError extends NonRetryableError {
  override name = "ImageInputError";
  constructor(message: string) {
    super(message, { code: "IMAGE_INPUT" });
  }
}

export type WithImageInputParameters = {
  /** Per channel, in the input's channel order (axis 1): x = (image / 255 - mean[c]) / std[c]. */
  mean: readonly number[];
  std: readonly number[];
  /** The float input to replace; left out, the model's only input. */
  inputName?: string;
  /** The new uint8 input's name (default "image"); it must not name anything in the graph. */
  imageName?: string;
};

/** The oldest default-domain opset with Cast's `to` and broadcasting Mul and Add. */
const MIN_OPSET = 7;
/** GraphProto.node, initializer, input. */
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;

const fail = (message: string) => new ImageInputError(message);

/** The model's bytes with a uint8 image input normalized inside it; see the module doc. */
export function withImageInput(model: Uint8Array, { mean, std, inputName, imageName = "image" }: WithImageInputParameters): Uint8Array {
  if (imageName === "") throw fail('imageName is empty; an ONNX value needs a name (the default is "image")');
  const open = openGraph(model, { what: "an image input", minOpset: MIN_OPSET, fail });
  const input = pickInput(open.parsed.graph, inputName, open.sparse);
  if (input.type.kind !== "tensor" || input.type.elemType !== ELEM.float) {
    throw fail(`input "${input.name}" is not a float32 tensor; only a float32 input is normalized from an image`);
  }
  const dims = input.type.shape;
  if (dims === undefined || dims.length < 2) {
    throw fail(`input "${input.name}" declares no channel axis (its rank is ${dims?.length ?? "undeclared"}); an image input needs [N, C, ...]`);
  }
  const channels = dims[1];
  checkChannels(mean, std, channels);
  const derived = { float: `${imageName}_float`, scale: `${imageName}_scale`, shift: `${imageName}_shift`, scaled: `${imageName}_scaled` };
  checkNamesFree(open, [imageName, ...Object.values(derived)], { fail, option: "imageName" });

  const perChannel = [1, mean.length, ...dims.slice(2).map(() => 1)];
  const prologue = [
    ...pb.bytes(GRAPH_NODE, nodeProto({ op: "Cast", name: `${imageName}/cast`, inputs: [imageName], outputs: [derived.float], attributes: [{ name: "to", i: ELEM.float }] })),
    ...pb.bytes(GRAPH_NODE, nodeProto({ op: "Mul", name: `${imageName}/scale`, inputs: [derived.float, derived.scale], outputs: [derived.scaled] })),
    ...pb.bytes(GRAPH_NODE, nodeProto({ op: "Add", name: `${imageName}/shift`, inputs: [derived.scaled, derived.shift], outputs: [input.name] })),
  ];
  const epilogue = [
    ...pb.bytes(GRAPH_INITIALIZER, tensorProto({ name: derived.scale, type: ELEM.float, dims: perChannel, floats: std.map((s) => 1 / (255 * s)) })),
    ...pb.bytes(GRAPH_INITIALIZER, tensorProto({ name: derived.shift, type: ELEM.float, dims: perChannel, floats: mean.map((m, c) => -m / std[c]!) })),
  ];
  const imageInput = pb.bytes(GRAPH_INPUT, valueInfoProto({ name: imageName, type: ELEM.uint8, dims }));
  return rewriteGraph(open, { prologue, epilogue, replace: (field) => (isValueInfoNamed(model, field, GRAPH_INPUT, input.name) ? imageInput : undefined) });
}

/** The input to replace: a graph input that no initializer (dense or sparse) gives a value. */
function pickInput(graph: OnnxGraph, inputName: string | undefined, sparse: readonly string[]) {
  const initializers = new Set([...graph.initializers.map(({ name }) => name), ...sparse]);
  const inputs = graph.inputs.filter(({ name }) => !initializers.has(name));
  return pickValue(inputs, inputName, { which: "input", option: "inputName", verb: "replace", fail });
}

function checkChannels(mean: readonly number[], std: readonly number[], channels: number | string | undefined): void {
  if (mean.length === 0 || mean.length !== std.length) {
    throw fail(`mean has ${mean.length} values and std ${std.length}; give one of each per channel`);
  }
  if (typeof channels === "number" && channels !== mean.length) {
    throw fail(`the input has ${channels} channels (axis 1) but ${mean.length} mean and std values were given`);
  }
  mean.forEach((m, c) => {
    if (!Number.isFinite(m)) throw fail(`mean[${c}] is ${m}; it must be a finite number`);
  });
  std.forEach((s, c) => {
    if (!(Number.isFinite(s) && s > 0)) throw fail(`std[${c}] is ${s}; it must be a finite number above 0`);
  });
}
