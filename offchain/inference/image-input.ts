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
 * Refused with a reason (ImageInputError): a model of IR version 3 or older (its initializers must be
 * listed as inputs too), a graph split over several fields, an input that is not float32 or has no channel
 * axis, mean and std that do not fit the channels, and a name the graph (its sparse initializers included), or
 * any of its subgraphs, already uses.
 */
import { NonRetryableError } from "../errors.js";
import { forEachNode, readOnnxFields, readOnnxModel, type OnnxField, type OnnxGraph, type OnnxModel } from "./onnx-graph.js";
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
/** The oldest IR version whose initializers need not be graph inputs too. */
const MIN_IR_VERSION = 4;
/** ModelProto.graph, ModelProto.opset_import; GraphProto.node, initializer, input. */
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
/** GraphProto.sparse_initializer (SparseTensorProto: values = 1, a TensorProto whose name = 8 names it). */
const GRAPH_SPARSE_INITIALIZER = 15;

/** The model's bytes with a uint8 image input normalized inside it; see the module doc. */
export function withImageInput(model: Uint8Array, { mean, std, inputName, imageName = "image" }: WithImageInputParameters): Uint8Array {
  if (imageName === "") throw new ImageInputError('imageName is empty; an ONNX value needs a name (the default is "image")');
  const parsed = readOnnxModel(model);
  const modelFields = readOnnxFields(model);
  const graphFields = modelFields.filter(({ field }) => field === MODEL_GRAPH);
  if (graphFields.length !== 1 || graphFields[0]!.payload === undefined) {
    throw new ImageInputError(`the model's graph is written in ${graphFields.length} fields; write it as one (onnx.save does) and wrap that`);
  }
  if (parsed.irVersion < MIN_IR_VERSION) {
    throw new ImageInputError(`the model is ONNX IR version ${parsed.irVersion}; an image input needs IR version ${MIN_IR_VERSION} or later (convert it with onnx's version converter)`);
  }
  const opset = parsed.opsetImports.find(({ domain }) => domain === "" || domain === "ai.onnx")?.version ?? 0;
  if (opset < MIN_OPSET) throw new ImageInputError(`the model imports ONNX opset ${opset}; an image input needs opset ${MIN_OPSET} or later`);
  const graph = readOnnxFields(model, graphFields[0]!.payload, "graph");
  const sparse = sparseInitializerNames(model, graph);
  const input = pickInput(parsed.graph, inputName, sparse);
  if (input.type.kind !== "tensor" || input.type.elemType !== ELEM.float) {
    throw new ImageInputError(`input "${input.name}" is not a float32 tensor; only a float32 input is normalized from an image`);
  }
  const dims = input.type.shape;
  if (dims === undefined || dims.length < 2) {
    throw new ImageInputError(`input "${input.name}" declares no channel axis (its rank is ${dims?.length ?? "undeclared"}); an image input needs [N, C, ...]`);
  }
  const channels = dims[1];
  checkChannels(mean, std, channels);
  const names = namesIn(parsed);
  for (const name of sparse) names.add(name);
  const derived = { float: `${imageName}_float`, scale: `${imageName}_scale`, shift: `${imageName}_shift`, scaled: `${imageName}_scaled` };
  for (const name of [imageName, ...Object.values(derived)]) {
    if (names.has(name)) throw new ImageInputError(`the model already has a value named "${name}"; choose another imageName`);
  }

  const perChannel = [1, mean.length, ...dims.slice(2).map(() => 1)];
  const prologue = [
    ...pb.bytes(GRAPH_NODE, nodeProto({ op: "Cast", name: `${imageName}/cast`, inputs: [imageName], outputs: [derived.float], attributes: [{ name: "to", i: ELEM.float }] })),
    ...pb.bytes(GRAPH_NODE, nodeProto({ op: "Mul", name: `${imageName}/scale`, inputs: [derived.float, derived.scale], outputs: [derived.scaled] })),
    ...pb.bytes(GRAPH_NODE, nodeProto({ op: "Add", name: `${imageName}/shift`, inputs: [derived.scaled, derived.shift], outputs: [input.name] })),
  ];
  const initializers = [
    ...pb.bytes(GRAPH_INITIALIZER, tensorProto({ name: derived.scale, type: ELEM.float, dims: perChannel, floats: std.map((s) => 1 / (255 * s)) })),
    ...pb.bytes(GRAPH_INITIALIZER, tensorProto({ name: derived.shift, type: ELEM.float, dims: perChannel, floats: mean.map((m, c) => -m / std[c]!) })),
  ];
  const imageInput = pb.bytes(GRAPH_INPUT, valueInfoProto({ name: imageName, type: ELEM.uint8, dims }));

  const graphParts: Uint8Array[] = [Uint8Array.from(prologue)];
  for (const field of graph) {
    graphParts.push(isInputNamed(model, field, input.name) ? Uint8Array.from(imageInput) : model.subarray(field.start, field.end));
  }
  graphParts.push(Uint8Array.from(initializers));
  const graphLength = graphParts.reduce((sum, part) => sum + part.length, 0);
  const parts: Uint8Array[] = [];
  for (const field of modelFields) {
    if (field.field !== MODEL_GRAPH) parts.push(model.subarray(field.start, field.end));
    else parts.push(Uint8Array.from(pb.varint(MODEL_GRAPH * 8 + 2)), Uint8Array.from(pb.varint(graphLength)), ...graphParts);
  }
  return Buffer.concat(parts);
}

/** The input to replace: a graph input that no initializer (dense or sparse) gives a value. */
function pickInput(graph: OnnxGraph, inputName: string | undefined, sparse: readonly string[]) {
  const initializers = new Set([...graph.initializers.map(({ name }) => name), ...sparse]);
  const inputs = graph.inputs.filter(({ name }) => !initializers.has(name));
  if (inputName === undefined) {
    if (inputs.length !== 1) {
      throw new ImageInputError(`the model has ${inputs.length} inputs (${inputs.map(({ name }) => name).join(", ")}); name the one to replace with inputName`);
    }
    return inputs[0]!;
  }
  const input = inputs.find(({ name }) => name === inputName);
  if (input === undefined) throw new ImageInputError(`the model has no input "${inputName}"; its inputs: ${inputs.map(({ name }) => name).join(", ")}`);
  return input;
}

function checkChannels(mean: readonly number[], std: readonly number[], channels: number | string | undefined): void {
  if (mean.length === 0 || mean.length !== std.length) {
    throw new ImageInputError(`mean has ${mean.length} values and std ${std.length}; give one of each per channel`);
  }
  if (typeof channels === "number" && channels !== mean.length) {
    throw new ImageInputError(`the input has ${channels} channels (axis 1) but ${mean.length} mean and std values were given`);
  }
  mean.forEach((m, c) => {
    if (!Number.isFinite(m)) throw new ImageInputError(`mean[${c}] is ${m}; it must be a finite number`);
  });
  std.forEach((s, c) => {
    if (!(Number.isFinite(s) && s > 0)) throw new ImageInputError(`std[${c}] is ${s}; it must be a finite number above 0`);
  });
}

/** Every name the main graph and its subgraphs use: inputs, outputs, initializers, declared values, node inputs and outputs. */
function namesIn(model: OnnxModel): Set<string> {
  const names = new Set<string>();
  const addGraph = (graph: OnnxGraph) => {
    for (const { name } of [...graph.inputs, ...graph.outputs, ...graph.initializers, ...graph.valueInfo]) names.add(name);
  };
  addGraph(model.graph);
  forEachNode(model, (node, scopes) => {
    if (scopes.length === 0) return; // a local function's node: its names are its own
    for (const name of [...node.inputs, ...node.outputs]) names.add(name);
    for (const attribute of node.attributes) attribute.graphs.forEach(addGraph);
  });
  return names;
}

/** The names of the main graph's sparse initializers (which `readOnnxModel` does not follow), from its fields. */
function sparseInitializerNames(model: Uint8Array, graph: readonly OnnxField[]): string[] {
  return graph
    .filter(({ field, payload }) => field === GRAPH_SPARSE_INITIALIZER && payload !== undefined)
    .flatMap((sparse) => subfields(model, sparse, 1).map((values) => stringField(model, values, 8)))
    .filter((name): name is string => name !== undefined);
}

/** Whether a GraphProto field is the `input` ValueInfoProto named `name`. */
function isInputNamed(model: Uint8Array, field: OnnxField, name: string): boolean {
  return field.field === GRAPH_INPUT && stringField(model, field, 1) === name;
}

/** The length-delimited fields numbered `number` inside a message field. */
function subfields(model: Uint8Array, message: OnnxField, number: number): OnnxField[] {
  return readOnnxFields(model, message.payload!, `#${message.field}`).filter(({ field, payload }) => field === number && payload !== undefined);
}

/** The first string field numbered `number` inside a message field, if any. */
function stringField(model: Uint8Array, message: OnnxField, number: number): string | undefined {
  const found = subfields(model, message, number)[0];
  return found === undefined ? undefined : Buffer.from(model.subarray(found.payload!.start, found.payload!.end)).toString("utf8");
}
