/**
 * Rewrites a model's main graph around its bulk: what `withImageInput` (offchain/inference/image-input.ts)
 * and `withByteOutput` (offchain/inference/byte-output.ts) share. A rewrite adds a few nodes and
 * initializers and replaces one input or output declaration; every other field of the model, its
 * initializers above all, is copied byte for byte and never decoded.
 *
 * `openGraph` refuses, through the caller's error, what such a rewrite cannot handle: a graph written in
 * several fields (protobuf would merge them), a model of IR version 3 or older (its initializers must be
 * listed as inputs too) and a default-domain opset older than the nodes the rewrite adds.
 */
import { forEachNode, readOnnxFields, readOnnxModel, type OnnxField, type OnnxGraph, type OnnxModel } from "./onnx-graph.js";
import { pb } from "./onnx-write.js";

/** The oldest IR version whose initializers need not be graph inputs too. */
const MIN_IR_VERSION = 4;
/** ModelProto.graph. */
const MODEL_GRAPH = 7;
/** GraphProto.sparse_initializer (SparseTensorProto: values = 1, a TensorProto whose name = 8 names it). */
const GRAPH_SPARSE_INITIALIZER = 15;

export type OpenGraphParameters = {
  /** What the rewrite makes, for messages: "an image input", "a byte output". */
  what: string;
  /** The oldest default-domain opset whose operators the rewrite's nodes use. */
  minOpset: number;
  /** Makes the caller's error from a message that names the problem and the remedy. */
  fail: (message: string) => Error;
};

/** A model opened for a rewrite of its main graph. */
export type OpenGraph = {
  model: Uint8Array;
  parsed: OnnxModel;
  /** The model's top-level fields, and the main graph's, in the order written. */
  modelFields: OnnxField[];
  graph: OnnxField[];
  /** The graph's sparse initializers (which `readOnnxModel` does not follow). */
  sparse: string[];
  /** Every name the main graph and its subgraphs use, sparse initializers included. */
  names: Set<string>;
};

/** Parses the model and checks that its main graph can be rewritten; see the module doc. */
export function openGraph(model: Uint8Array, { what, minOpset, fail }: OpenGraphParameters): OpenGraph {
  const parsed = readOnnxModel(model);
  const modelFields = readOnnxFields(model);
  const graphFields = modelFields.filter(({ field }) => field === MODEL_GRAPH);
  if (graphFields.length !== 1 || graphFields[0]!.payload === undefined) {
    throw fail(`the model's graph is written in ${graphFields.length} fields; write it as one (onnx.save does) and wrap that`);
  }
  if (parsed.irVersion < MIN_IR_VERSION) {
    throw fail(`the model is ONNX IR version ${parsed.irVersion}; ${what} needs IR version ${MIN_IR_VERSION} or later (convert it with onnx's version converter)`);
  }
  const opset = parsed.opsetImports.find(({ domain }) => domain === "" || domain === "ai.onnx")?.version ?? 0;
  if (opset < minOpset) throw fail(`the model imports ONNX opset ${opset}; ${what} needs opset ${minOpset} or later`);
  const graph = readOnnxFields(model, graphFields[0]!.payload, "graph");
  const sparse = sparseInitializerNames(model, graph);
  const names = namesIn(parsed);
  for (const name of sparse) names.add(name);
  return { model, parsed, modelFields, graph, sparse, names };
}

/** Throws the caller's error for the first of `wanted` the graph already uses. */
export function checkNamesFree(open: OpenGraph, wanted: readonly string[], { fail, option }: { fail: (message: string) => Error; option: string }): void {
  for (const name of wanted) {
    if (open.names.has(name)) throw fail(`the model already has a value named "${name}"; choose another ${option}`);
  }
}

/**
 * The graph input or output a rewrite works on: the one named, or the only one; the caller's error names what
 * to do otherwise (`which`: "input" or "output", `option`: the parameter that names one, `verb`: what is done to it).
 */
export function pickValue<V extends { name: string }>(
  values: readonly V[],
  name: string | undefined,
  { which, option, verb, fail }: { which: string; option: string; verb: string; fail: (message: string) => Error },
): V {
  const list = values.map((value) => value.name).join(", ");
  if (name === undefined) {
    if (values.length !== 1) throw fail(`the model has ${values.length} ${which}s (${list}); name the one to ${verb} with ${option}`);
    return values[0]!;
  }
  const found = values.find((value) => value.name === name);
  if (found === undefined) throw fail(`the model has no ${which} "${name}"; its ${which}s: ${list}`);
  return found;
}

/**
 * The model with its main graph written anew: `prologue`, then each graph field (or its replacement,
 * when `replace` returns one), then `epilogue`. Repeated fields keep their order within the message,
 * so nodes in the prologue run first and nodes in the epilogue last.
 */
export function rewriteGraph(
  { model, modelFields, graph }: OpenGraph,
  { prologue = [], epilogue = [], replace }: { prologue?: number[]; epilogue?: number[]; replace: (field: OnnxField) => number[] | undefined },
): Uint8Array {
  const graphParts: Uint8Array[] = [Uint8Array.from(prologue)];
  for (const field of graph) {
    const replacement = replace(field);
    graphParts.push(replacement === undefined ? model.subarray(field.start, field.end) : Uint8Array.from(replacement));
  }
  graphParts.push(Uint8Array.from(epilogue));
  const graphLength = graphParts.reduce((sum, part) => sum + part.length, 0);
  const parts: Uint8Array[] = [];
  for (const field of modelFields) {
    if (field.field !== MODEL_GRAPH) parts.push(model.subarray(field.start, field.end));
    else parts.push(Uint8Array.from(pb.varint(MODEL_GRAPH * 8 + 2)), Uint8Array.from(pb.varint(graphLength)), ...graphParts);
  }
  return Buffer.concat(parts);
}

/** Whether a GraphProto field numbered `field` (input 11, output 12) is the ValueInfoProto named `name`. */
export function isValueInfoNamed(model: Uint8Array, graphField: OnnxField, field: number, name: string): boolean {
  return graphField.field === field && stringField(model, graphField, 1) === name;
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

/** The names of the main graph's sparse initializers, from its fields. */
function sparseInitializerNames(model: Uint8Array, graph: readonly OnnxField[]): string[] {
  return graph
    .filter(({ field, payload }) => field === GRAPH_SPARSE_INITIALIZER && payload !== undefined)
    .flatMap((sparse) => subfields(model, sparse, 1).map((values) => stringField(model, values, 8)))
    .filter((name): name is string => name !== undefined);
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
