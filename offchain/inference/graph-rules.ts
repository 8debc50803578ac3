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
 * The main graph's outputs that are a float quantized to bytes inside the model, exactly as `withByteOutput`
 * writes it (offchain/inference/byte-output.ts):
 * `Cast(Clip(Round(Mul(Where(IsNaN(y), 0, y), k)), 0, 255))` to uint8, with `k` a finite float scalar above 0
 * and the 0, 0 and 255 float scalars, each an initializer that nothing else (a graph input, a node's output)
 * also names, and `y` a float that nothing discontinuous made from the inputs' data (`findJumpingValues`).
 * Honest machines whose `y` differ by less than a step (1 / k) compute such an output to within one step, so it
 * may be judged with allclose and an absTol of at least 1 (offchain/inference/admission.ts). Any other integer
 * output computed from floats may jump further at a near-tie (an ArgMax index to another class, a comparison
 * from 0 to 255 once scaled), and a NaN or a value out of range has no defined byte.
 *
 * A structural filter, not a proof: the graph cannot show how far `y` moves between honest machines. A steep
 * continuous function (a large `k`, a cancellation of large values) makes a near-step of it, as it makes a
 * float output's tolerance too tight. How precise its results are is the owner's choice, and whether that
 * suits its own hardware a provider's to judge, as for any allclose model.
 */
export function findQuantizedOutputs(model: OnnxModel): string[] {
  const { graph } = model;
  const { floats } = followFloats(model);
  const jumping = findJumpingValues(model);
  const producer = new Map<string, OnnxGraphNode>();
  for (const node of graph.nodes) for (const output of node.outputs) producer.set(output, node);
  // A name that is also a graph input (a caller may override it), a node's output, or given twice is no constant.
  const named = new Map<string, number>();
  for (const name of [...graph.inputs.map((input) => input.name), ...graph.initializers.map((tensor) => tensor.name), ...producer.keys()]) {
    named.set(name, (named.get(name) ?? 0) + 1);
  }
  const constants = new Map(graph.initializers.filter(({ name }) => named.get(name) === 1).map((tensor) => [tensor.name, tensor]));
  /** The value of a float32 scalar initializer that nothing else names, or undefined. */
  const scalar = (name: string | undefined) => {
    const tensor = name === undefined ? undefined : constants.get(name);
    const elements = tensor?.dims.reduce((product, dim) => product * dim, 1);
    return tensor?.dataType === ONNX_FLOAT32 && elements === 1 && tensor.floats?.length === 1 ? tensor.floats[0] : undefined;
  };
  const made = (name: string | undefined, opType: string) => {
    const node = name === undefined ? undefined : producer.get(name);
    return node !== undefined && node.opType === opType && (node.domain === "" || node.domain === "ai.onnx") ? node : undefined;
  };
  const isQuantized = (output: OnnxValueInfo): boolean => {
    const cast = made(output.name, "Cast");
    const clip = made(cast?.inputs[0], "Clip");
    const round = made(clip?.inputs[0], "Round");
    const mul = made(round?.inputs[0], "Mul");
    const where = made(mul?.inputs[0], "Where");
    const isNaN = made(where?.inputs[0], "IsNaN");
    if (cast === undefined || clip === undefined || round === undefined || mul === undefined || where === undefined || isNaN === undefined) return false;
    const to = cast.attributes.find(({ name }) => name === "to")?.i;
    const k = scalar(mul.inputs[1]);
    const y = isNaN.inputs[0];
    return (
      to === BigInt(ONNX_UINT8) &&
      scalar(clip.inputs[1]) === 0 &&
      scalar(clip.inputs[2]) === 255 &&
      k !== undefined &&
      Number.isFinite(k) &&
      k > 0 &&
      scalar(where.inputs[1]) === 0 &&
      y !== undefined &&
      where.inputs[2] === y &&
      floats.has(y) &&
      !jumping.has(y)
    );
  };
  return graph.outputs.filter(isQuantized).map(({ name }) => name);
}

const ONNX_FLOAT32 = 1;
const ONNX_UINT8 = 2;

/**
 * Operators whose output jumps when an input moves a little: comparisons, rounding, selecting an index,
 * thresholds, quantizing, a shape or a range computed from floats. IsNaN and IsInf are not among them: a NaN
 * on one honest machine and not another is a disagreement anyway.
 */
const DISCONTINUOUS: ReadonlySet<string> = new Set([
  "ArgMax", "ArgMin", "TopK", "Hardmax", "Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual", "Round", "Floor", "Ceil",
  "Sign", "NonZero", "Unique", "Mod", "NonMaxSuppression", "QuantizeLinear", "DynamicQuantizeLinear", "OneHot", "Shrink",
  "ThresholdedRelu", "Range", "BitShift", "RoiAlign", "MaxRoiPool", "Bernoulli", "Multinomial",
]);
/** Operators continuous in their first input whose other inputs set positions or a shape: they jump when those come from data. */
const POSITIONAL: ReadonlySet<string> = new Set(["Resize", "Upsample", "GridSample", "AffineGrid", "Pad", "Expand", "Tile", "Reshape", "Slice"]);

/**
 * The main graph's values that may jump between honest machines: the output of a discontinuous operator (or
 * of a cast of a float to another type, or MaxPool's indices) applied to a value computed from the model's
 * inputs, and whatever is computed from such a value. Conservative: an operator outside the ONNX domain that
 * reads the inputs' data, any operator with subgraphs (If, Loop, Scan), and any node that reads a value not
 * defined before it (ONNX runtimes sort nodes themselves; this walk does not) count as discontinuous.
 * Values computed from shapes only (`Shape`, `Size`) are the same on every machine and never jump.
 */
export function findJumpingValues(model: OnnxModel): Set<string> {
  const { graph } = model;
  const initializers = new Set(graph.initializers.map(({ name }) => name));
  const defined = new Set([...graph.inputs.map(({ name }) => name), ...initializers]);
  const data = new Set(graph.inputs.map(({ name }) => name).filter((name) => !initializers.has(name)));
  const jumping = new Set<string>();
  const { floats } = followFloats(model);
  for (const node of graph.nodes) {
    // A subgraph may read any outer value without naming it among its node's inputs.
    const subgraphs = node.attributes.some((attribute) => attribute.graphs.length > 0);
    const outOfOrder = node.inputs.some((name) => name !== "" && !defined.has(name));
    const readsData = subgraphs || outOfOrder || node.inputs.some((name) => data.has(name));
    const standard = node.domain === "" || node.domain === "ai.onnx";
    const to = node.attributes.find(({ name }) => name === "to")?.i;
    const castsFloat =
      (node.opType === "Cast" && !(to !== undefined && ONNX_FLOAT_TYPES.has(Number(to))) && floats.has(node.inputs[0] ?? "")) ||
      (node.opType === "CastLike" && floats.has(node.inputs[0] ?? ""));
    const indices = node.opType === "MaxPool" && node.outputs.length > 1;
    const positional = POSITIONAL.has(node.opType) && node.inputs.slice(1).some((name) => data.has(name));
    const jumps =
      outOfOrder ||
      node.inputs.some((name) => jumping.has(name)) ||
      positional ||
      (readsData && (!standard || subgraphs || castsFloat || indices || DISCONTINUOUS.has(node.opType)));
    if (readsData && node.opType !== "Shape" && node.opType !== "Size") for (const output of node.outputs) data.add(output);
    if (jumps) for (const output of node.outputs) jumping.add(output);
    for (const output of node.outputs) defined.add(output);
  }
  return jumping;
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
