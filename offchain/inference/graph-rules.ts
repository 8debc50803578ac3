/**
 * What the graph alone says about whether a model can be judged (docs/PROTOCOL.md section 7,
 * "Model admission"): the nodes whose output is random or that run in training mode at inference
 * time, and the nodes that do arithmetic on floats (an `exact` policy needs none).
 * Pure functions of the parsed graph (offchain/inference/onnx-graph.ts); the runtime checks are in
 * offchain/inference/admission.ts.
 */
import {
  forEachNode,
  ONNX_FLOAT_TYPES,
  onnxDataTypeName,
  type OnnxGraph,
  type OnnxGraphNode,
  type OnnxModel,
  type OnnxTensorInfo,
  type OnnxValueInfo,
} from "./onnx-graph.js";

/**
 * Operators whose output is random by design. Dropout is absent on purpose: it is random only in
 * training mode (see `TRAINING_MODE_INPUTS`), and inference sessions run it as the identity.
 */
export const RANDOM_OPERATORS: readonly string[] = [
  "Bernoulli",
  "Multinomial",
  "RandomNormal",
  "RandomNormalLike",
  "RandomUniform",
  "RandomUniformLike",
];

/**
 * Dropout-like operators and the index of their `training_mode` input, by "domain:op" ("" is ONNX).
 * Left out or a constant false, the node is the identity; anything else (a graph input, a computed
 * value, an initializer a caller may override) can switch it to random dropout at run time.
 */
export const TRAINING_MODE_INPUTS: Readonly<Record<string, number>> = {
  ":Dropout": 2,
  "ai.onnx:Dropout": 2,
  "com.microsoft:BitmaskDropout": 2,
  "com.microsoft:BiasDropout": 4,
  "com.microsoft:BitmaskBiasDropout": 4,
};

/** Domains whose operators exist only for training (gradients, optimizers). */
export const TRAINING_DOMAINS: readonly string[] = ["ai.onnx.preview.training", "ai.onnx.training"];

/** A node that makes the model unjudgeable, and why. */
export type UnjudgeableNode = { opType: string; domain: string; path: string; reason: string };

/**
 * The nodes (main graph, subgraphs of If/Loop/Scan, local functions) whose output is random, or
 * that compute in training mode: random operators, Dropout whose `training_mode` is not a constant
 * false, BatchNormalization with `training_mode` 1, operators of a training domain.
 */
export function findUnjudgeableNodes(model: OnnxModel): UnjudgeableNode[] {
  const found: UnjudgeableNode[] = [];
  const functionOf = functionsByNode(model);
  forEachNode(model, (node, scopes) => {
    const add = (reason: string) => found.push({ opType: node.opType, domain: node.domain, path: node.path, reason });
    if (RANDOM_OPERATORS.includes(node.opType)) return add(`${node.opType} is random by design`);
    if (TRAINING_DOMAINS.includes(node.domain)) return add(`${node.opType} (domain ${node.domain}) exists only for training`);
    const trainingInput = TRAINING_MODE_INPUTS[`${node.domain}:${node.opType}`];
    if (trainingInput !== undefined) {
      const name = node.inputs[trainingInput];
      if (name !== undefined && name !== "" && !isConstantFalse(name, scopes, functionOf.get(node))) {
        add(`${node.opType}'s training_mode input "${name}" is not a constant false: it can switch on random dropout at run time`);
      }
      return;
    }
    if (node.opType === "BatchNormalization" && node.domain === "") {
      const mode = node.attributes.find((attribute) => attribute.name === "training_mode");
      if (mode !== undefined && (mode.refAttrName !== undefined || (mode.i ?? 0n) !== 0n)) {
        add("BatchNormalization in training mode (training_mode=1) normalizes by the batch's own statistics, a training-only computation");
      }
    }
  });
  return found;
}

/**
 * Operators that compute nothing new from float inputs: they move, select, compare or cast values,
 * or decide control flow, so every machine that follows IEEE 754 gets the same bits (no rounding
 * happens). Any other operator on a float is float arithmetic (rounding, reduction order, fused
 * multiply-adds, approximations of exp or tanh), which differs in its last bits between honest machines.
 */
export const EXACT_ON_FLOATS: ReadonlySet<string> = new Set([
  "Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Tile", "Concat", "Split", "Slice",
  "Gather", "GatherElements", "GatherND", "Pad", "Shape", "Size", "Cast", "CastLike", "Equal", "Greater", "Less",
  "GreaterOrEqual", "LessOrEqual", "IsNaN", "IsInf", "ArgMax", "ArgMin", "Max", "Min", "ReduceMax", "ReduceMin", "Abs",
  "Neg", "Sign", "Floor", "Ceil", "Round", "Relu", "Clip", "Where", "NonZero", "TopK", "Unique", "Compress",
  "DepthToSpace", "SpaceToDepth", "Trilu", "ReverseSequence", "OneHot", "MaxPool", "Dropout", "Constant",
  "ConstantOfShape", "EyeLike", "If", "Loop", "Scan", "Optional", "OptionalGetElement", "OptionalHasElement",
  "SequenceConstruct", "SequenceAt", "SequenceInsert", "SequenceErase", "SequenceLength", "SequenceEmpty",
  "SplitToSequence", "ConcatFromSequence",
]);

/**
 * Where the graph does arithmetic on floats, one line each: a node of the ONNX domain outside
 * `EXACT_ON_FLOATS` with a float input (a float graph input, initializer, constant, declared value, a
 * cast to a float, or the output of a node that had one), and operators outside the ONNX domain
 * (what they compute cannot be told). Empty: the graph is integer-only in the sense that matters to
 * `exact` (docs/PROTOCOL.md section 7): floats may enter it, but are only moved, compared, selected
 * or cast, so every honest machine computes the same bits.
 */
export function findFloatArithmetic(model: OnnxModel): string[] {
  return followFloats(model).found;
}

/**
 * The main graph's outputs that a Cast to an integer type makes from a float value: a float output
 * quantized inside the model (offchain/inference/byte-output.ts), which honest machines compute to within
 * a step when their floats differ by less than one. Such outputs may be judged with allclose and an absTol
 * of at least 1 (offchain/inference/admission.ts); any other integer output computed from floats may
 * differ by more at a near-tie (an ArgMax index jumps to another class).
 */
export function findQuantizedOutputs(model: OnnxModel): string[] {
  const { floats } = followFloats(model);
  const castOf = new Map<string, OnnxGraphNode>();
  for (const node of model.graph.nodes) {
    if (node.opType === "Cast" && (node.domain === "" || node.domain === "ai.onnx")) for (const output of node.outputs) castOf.set(output, node);
  }
  return model.graph.outputs
    .filter(({ name, type }) => {
      const cast = castOf.get(name);
      return type.kind === "tensor" && !ONNX_FLOAT_TYPES.has(type.elemType) && cast !== undefined && floats.has(cast.inputs[0] ?? "");
    })
    .map(({ name }) => name);
}

/** Walks the graph as `findFloatArithmetic` describes: the arithmetic found, and every value that holds floats. */
function followFloats(model: OnnxModel): { found: string[]; floats: Set<string> } {
  const found: string[] = [];
  const floats = new Set<string>();
  const declare = (graph: OnnxGraph) => {
    for (const info of [...graph.inputs, ...graph.valueInfo]) if (floatTypeOf(info) !== undefined) floats.add(info.name);
    for (const tensor of graph.initializers) if (ONNX_FLOAT_TYPES.has(tensor.dataType)) floats.add(tensor.name);
  };
  const walkGraph = (graph: OnnxGraph) => {
    declare(graph);
    for (const node of graph.nodes) walkNode(node);
  };
  const walkNode = (node: OnnxGraphNode) => {
    // Subgraphs read outer values defined before their node; their outputs become the node's.
    const subgraphs = node.attributes.flatMap((attribute) => attribute.graphs);
    subgraphs.forEach(walkGraph);
    const floatIn = node.inputs.some((name) => floats.has(name));
    const standard = node.domain === "" || node.domain === "ai.onnx";
    const source = nodeFloatSource(node);
    if (!standard) found.push(`${node.opType} at ${node.path} is in domain ${node.domain}: what it computes cannot be told`);
    else if (source?.startsWith("takes attribute")) found.push(`${node.opType} at ${node.path} ${source}`);
    else if (floatIn && !EXACT_ON_FLOATS.has(node.opType)) found.push(`${node.opType} at ${node.path} does arithmetic on floats`);
    const floatOut = source !== undefined || (floatIn && !INTEGER_RESULT.has(node.opType)) || subgraphs.some((graph) => graph.outputs.some((output) => floats.has(output.name)));
    if (floatOut) for (const output of node.outputs) floats.add(output);
  };
  walkGraph(model.graph);
  for (const fn of model.functions) {
    if (fn.nodes.length > 0) found.push(`local function ${fn.domain}:${fn.name} (${fn.path}): what it computes is not followed`);
  }
  return { found, floats };
}

/** Operators whose outputs are integers or bools whatever their inputs. */
const INTEGER_RESULT: ReadonlySet<string> = new Set([
  "Shape", "Size", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "IsNaN", "IsInf", "ArgMax", "ArgMin", "NonZero",
  "SequenceLength", "OptionalHasElement",
]);

const DTYPE_ATTRIBUTES = ["to", "dtype", "output_datatype", "output_dtype"];
/** Operators whose output type defaults to float when their dtype attribute is left out. */
const FLOAT_BY_DEFAULT = ["HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix", "SequenceEmpty"];
/** Operators whose output is a float whatever their inputs. */
const FLOAT_ALWAYS = ["DequantizeLinear", "TfIdfVectorizer"];

/**
 * Why a node outputs a float whatever its inputs (a float constant, a cast to a float, an operator
 * whose output type defaults to float), or takes a type-setting attribute from a function's caller;
 * undefined otherwise.
 */
function nodeFloatSource(node: OnnxGraphNode): string | undefined {
  if (FLOAT_ALWAYS.includes(node.opType)) return "outputs floats";
  for (const attribute of node.attributes) {
    if (attribute.refAttrName !== undefined && (DTYPE_ATTRIBUTES.includes(attribute.name) || attribute.name.startsWith("value"))) {
      return `takes attribute ${attribute.name} from its caller: its type cannot be told`;
    }
    const tensors = [attribute.t, ...(attribute.tensors ?? [])].filter((t): t is OnnxTensorInfo => t !== undefined);
    const float = tensors.find((t) => ONNX_FLOAT_TYPES.has(t.dataType));
    if (float !== undefined) return `holds a ${onnxDataTypeName(float.dataType)} tensor in attribute ${attribute.name}`;
    if (node.opType === "Constant" && (attribute.name === "value_float" || attribute.name === "value_floats")) return `makes a float (${attribute.name})`;
    if (DTYPE_ATTRIBUTES.includes(attribute.name) && attribute.i !== undefined && ONNX_FLOAT_TYPES.has(Number(attribute.i))) {
      return `sets ${attribute.name} = ${onnxDataTypeName(Number(attribute.i))}`;
    }
  }
  const named = (names: string[]) => node.attributes.some((attribute) => names.includes(attribute.name));
  if (FLOAT_BY_DEFAULT.includes(node.opType) && !named(DTYPE_ATTRIBUTES)) return "outputs float32 by default";
  if (node.opType === "ConstantOfShape" && !named(["value"])) return "fills float32 zeros by default";
  return undefined;
}

/** The float type of a declared value ("float32"), or undefined for an integer, bool or untyped one. */
function floatTypeOf(info: OnnxValueInfo): string | undefined {
  if (info.type.kind !== "tensor") return undefined;
  return ONNX_FLOAT_TYPES.has(info.type.elemType) ? onnxDataTypeName(info.type.elemType) : undefined;
}

/** Each local function's nodes, by node (subgraph nodes inside a function included). */
function functionsByNode(model: OnnxModel): Map<OnnxGraphNode, OnnxGraphNode[]> {
  const byNode = new Map<OnnxGraphNode, OnnxGraphNode[]>();
  const walk = (nodes: OnnxGraphNode[], own: OnnxGraphNode[]) => {
    for (const node of nodes) {
      byNode.set(node, own);
      for (const attribute of node.attributes) for (const graph of attribute.graphs) walk(graph.nodes, own);
    }
  };
  for (const fn of model.functions) walk(fn.nodes, fn.nodes);
  return byNode;
}

/**
 * Whether `name`, as seen from a node inside `scopes` (innermost last), is a constant false: a bool
 * initializer that no caller can override (not also a graph input), or the output of a Constant node
 * holding a bool false. In a function, only the function's own Constant nodes count (its inputs
 * come from the caller). Anything else, or a name not found, is not.
 */
function isConstantFalse(name: string, scopes: readonly OnnxGraph[], functionNodes: OnnxGraphNode[] | undefined): boolean {
  if (functionNodes !== undefined) {
    const producer = functionNodes.find((node) => node.outputs.includes(name));
    return producer !== undefined && isConstantFalseNode(producer);
  }
  for (let s = scopes.length - 1; s >= 0; s--) {
    const graph = scopes[s]!;
    if (graph.inputs.some((input) => input.name === name)) return false;
    const initializer = graph.initializers.find((tensor) => tensor.name === name);
    if (initializer !== undefined) return isFalseTensor(initializer);
    const producer = graph.nodes.find((node) => node.outputs.includes(name));
    if (producer !== undefined) return isConstantFalseNode(producer);
  }
  return false;
}

function isConstantFalseNode(node: OnnxGraphNode): boolean {
  if (node.opType !== "Constant" || (node.domain !== "" && node.domain !== "ai.onnx")) return false;
  const value = node.attributes.find((attribute) => attribute.name === "value");
  return value?.t !== undefined && isFalseTensor(value.t);
}

function isFalseTensor(tensor: OnnxTensorInfo): boolean {
  const count = tensor.dims.reduce((product, dim) => product * dim, 1);
  const values = tensor.integers;
  return tensor.dataType === 9 && values !== undefined && count <= values.length && values.slice(0, count).every((value) => value === 0n);
}
