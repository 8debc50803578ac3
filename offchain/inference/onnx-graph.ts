/**
 * Reads the structure of an ONNX model without a protobuf dependency: a minimal reader of the
 * protobuf wire format that follows the fields model admission needs (offchain/inference/admission.ts)
 * and skips everything else. Tensor data (initializers, the bulk of a model's bytes) is never copied:
 * an initializer is read for its name, dtype and dims, and a few elements only when it is small.
 *
 * Fields followed (onnx.proto3):
 * ```
 * ModelProto         ir_version = 1, graph = 7, opset_import = 8, functions = 25
 * OperatorSetIdProto domain = 1, version = 2
 * GraphProto         node = 1, initializer = 5 (TensorProto), input = 11, output = 12, value_info = 13
 * FunctionProto      name = 1, input = 4, output = 5, node = 7, domain = 10
 * NodeProto          input = 1, output = 2, op_type = 4, attribute = 5, domain = 7
 * AttributeProto     name = 1, f = 2, i = 3, t = 5, g = 6, floats = 7, ints = 8, tensors = 10,
 *                    graphs = 11 (the subgraphs of If, Loop, Scan), type = 20, ref_attr_name = 21
 * TensorProto        dims = 1, data_type = 2, float_data = 4, int32_data = 5, int64_data = 7, name = 8, raw_data = 9
 * ValueInfoProto     name = 1, type = 2 (TypeProto: tensor_type = 1 {elem_type = 1, shape = 2})
 * TensorShapeProto   dim = 1 {dim_value = 1, dim_param = 2}
 * ```
 * `training_info` (20) is not followed: inference sessions never run those graphs.
 */
import { ModelFormatError } from "./errors.js";

/** One node of the model, wherever it sits (main graph, a subgraph, a local function). */
export type OnnxNode = {
  opType: string;
  /** "" for the default ONNX domain. */
  domain: string;
  /** Where the node is, e.g. "graph.node[12]" or "graph.node[3].attribute[0].g.node[1]". */
  path: string;
};

/** TensorProto.DataType values (onnx.proto3). */
export const ONNX_DATA_TYPES: Readonly<Record<number, string>> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  14: "complex64",
  15: "complex128",
  16: "bfloat16",
  17: "float8e4m3fn",
  18: "float8e4m3fnuz",
  19: "float8e5m2",
  20: "float8e5m2fnuz",
  21: "uint4",
  22: "int4",
  23: "float4e2m1",
};

/** The ONNX data types that hold real numbers with a fraction (floats of every width, complex). */
export const ONNX_FLOAT_TYPES: ReadonlySet<number> = new Set([1, 10, 11, 14, 15, 16, 17, 18, 19, 20, 23]);

/** An ONNX data type's name ("float32", "int64", ...), or "type <n>" for one this reader does not know. */
export function onnxDataTypeName(dataType: number): string {
  return ONNX_DATA_TYPES[dataType] ?? `type ${dataType}`;
}

/** A dimension: a fixed size, a symbol ("batch"), or unknown (neither given). */
export type OnnxDim = number | string | undefined;

/** The declared type of a graph input, output or intermediate value. */
export type OnnxValueType =
  /** `shape` undefined: the rank is not declared. */
  | { kind: "tensor"; elemType: number; shape?: OnnxDim[] }
  /** A sequence, map, optional or sparse tensor. */
  | { kind: "other"; what: string }
  /** No type given. */
  | { kind: "none" };

export type OnnxValueInfo = { name: string; type: OnnxValueType };

/** An initializer or an attribute's tensor: its type and dims, and its first elements when cheap to read. */
export type OnnxTensorInfo = {
  name: string;
  dataType: number;
  dims: number[];
  /**
   * The integer elements of a small integer or bool tensor (at most MAX_READ_ELEMENTS), from
   * int32_data, int64_data or raw_data; undefined when not read (other dtypes, large, external data).
   */
  integers?: bigint[];
  /**
   * The first elements of a float32 tensor (at most MAX_READ_ELEMENTS), from float_data or raw_data;
   * undefined when it has both (which one a runtime reads cannot be told), neither (external data) or another dtype.
   */
  floats?: number[];
};

export type OnnxAttribute = {
  name: string;
  /** AttributeProto.AttributeType: 1 FLOAT, 2 INT, 4 TENSOR, 5 GRAPH, 7 INTS, 10 GRAPHS ... (0 when unset). */
  type: number;
  i?: bigint;
  f?: number;
  ints?: bigint[];
  t?: OnnxTensorInfo;
  tensors?: OnnxTensorInfo[];
  /** The subgraphs held by this attribute (g, graphs). */
  graphs: OnnxGraph[];
  /** Inside a function: the caller's attribute this one stands for (its value is unknown here). */
  refAttrName?: string;
};

export type OnnxGraphNode = OnnxNode & {
  /** Input names in order; "" for an optional input left out. */
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
};

export type OnnxGraph = {
  path: string;
  nodes: OnnxGraphNode[];
  initializers: OnnxTensorInfo[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
};

export type OnnxFunction = {
  path: string;
  name: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  nodes: OnnxGraphNode[];
};

export type OnnxModel = {
  irVersion: number;
  opsetImports: { domain: string; version: number }[];
  graph: OnnxGraph;
  functions: OnnxFunction[];
};

/** Nested subgraphs deeper than this are refused (a crafted file could otherwise overflow the stack). */
export const MAX_SUBGRAPH_DEPTH = 32;

/** Elements read from a small integer tensor (enough for the scalars admission looks at). */
export const MAX_READ_ELEMENTS = 16;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder("utf-8");

/** The model's main graph, its subgraphs and local functions, as far as the fields above go. */
export function readOnnxModel(bytes: Uint8Array): OnnxModel {
  const model: Partial<OnnxModel> & Pick<OnnxModel, "functions" | "opsetImports"> = { irVersion: 0, functions: [], opsetImports: [] };
  readMessage(bytes, { start: 0, end: bytes.length }, "model", (field, value) => {
    if (field === 1 && value.kind === "scalar") model.irVersion = Number(varintAt(bytes, value));
    else if (field === 7 && value.kind === "len") model.graph = readGraph(bytes, value, "graph", 0);
    else if (field === 8 && value.kind === "len") model.opsetImports.push(readOpsetImport(bytes, value, `opset_import[${model.opsetImports.length}]`));
    else if (field === 25 && value.kind === "len") model.functions.push(readFunction(bytes, value, `functions[${model.functions.length}]`));
  });
  if (model.graph === undefined) throw new ModelFormatError({ field: "model.graph", offset: 0, problem: "the model has no graph" });
  return model as OnnxModel;
}

/** Every node of the model: main graph, subgraphs in attributes, local functions; in file order. */
export function listOnnxNodes(bytes: Uint8Array): OnnxNode[] {
  const model = readOnnxModel(bytes);
  const nodes: OnnxNode[] = [];
  forEachNode(model, (node) => nodes.push({ opType: node.opType, domain: node.domain, path: node.path }));
  return nodes;
}

/** The distinct operator types of the model, sorted. */
export function listOnnxOperatorTypes(bytes: Uint8Array): string[] {
  return [...new Set(listOnnxNodes(bytes).map((node) => node.opType))].sort();
}

/**
 * Calls `visit` for every node: the main graph's, each followed by those of its subgraphs (depth
 * first), then the local functions'. `scopes` are the graphs enclosing the node, innermost last
 * (empty for a function's nodes).
 */
export function forEachNode(model: OnnxModel, visit: (node: OnnxGraphNode, scopes: readonly OnnxGraph[]) => void): void {
  const walkGraph = (graph: OnnxGraph, scopes: readonly OnnxGraph[]) => {
    const inner = [...scopes, graph];
    for (const node of graph.nodes) walkNode(node, inner);
  };
  const walkNode = (node: OnnxGraphNode, scopes: readonly OnnxGraph[]) => {
    visit(node, scopes);
    for (const attribute of node.attributes) for (const graph of attribute.graphs) walkGraph(graph, scopes);
  };
  walkGraph(model.graph, []);
  for (const fn of model.functions) for (const node of fn.nodes) walkNode(node, []);
}

type Span = { start: number; end: number };
type FieldValue = ({ kind: "len" } & Span) | { kind: "scalar"; wireType: number; at: number };
/** `tagAt`: where the field starts (its tag), so a caller can copy it whole. */
type FieldVisitor = (field: number, value: FieldValue, tagAt: number) => void;

function readOpsetImport(bytes: Uint8Array, span: Span, path: string): { domain: string; version: number } {
  const opset = { domain: "", version: 0 };
  readMessage(bytes, span, path, (field, value) => {
    if (field === 1 && value.kind === "len") opset.domain = text(bytes, value);
    else if (field === 2 && value.kind === "scalar") opset.version = Number(varintAt(bytes, value));
  });
  return opset;
}

function readGraph(bytes: Uint8Array, span: Span, path: string, depth: number): OnnxGraph {
  if (depth > MAX_SUBGRAPH_DEPTH) {
    throw new ModelFormatError({ field: path, offset: span.start, problem: `subgraphs nested deeper than ${MAX_SUBGRAPH_DEPTH}` });
  }
  const graph: OnnxGraph = { path, nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind !== "len") return;
    if (field === 1) graph.nodes.push(readNode(bytes, value, `${path}.node[${graph.nodes.length}]`, depth));
    else if (field === 5) graph.initializers.push(readTensor(bytes, value, `${path}.initializer[${graph.initializers.length}]`));
    else if (field === 11) graph.inputs.push(readValueInfo(bytes, value, `${path}.input[${graph.inputs.length}]`));
    else if (field === 12) graph.outputs.push(readValueInfo(bytes, value, `${path}.output[${graph.outputs.length}]`));
    else if (field === 13) graph.valueInfo.push(readValueInfo(bytes, value, `${path}.value_info[${graph.valueInfo.length}]`));
  });
  return graph;
}

function readFunction(bytes: Uint8Array, span: Span, path: string): OnnxFunction {
  const fn: OnnxFunction = { path, name: "", domain: "", inputs: [], outputs: [], nodes: [] };
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind !== "len") return;
    if (field === 1) fn.name = text(bytes, value);
    else if (field === 4) fn.inputs.push(text(bytes, value));
    else if (field === 5) fn.outputs.push(text(bytes, value));
    else if (field === 7) fn.nodes.push(readNode(bytes, value, `${path}.node[${fn.nodes.length}]`, 0));
    else if (field === 10) fn.domain = text(bytes, value);
  });
  return fn;
}

function readNode(bytes: Uint8Array, span: Span, path: string, depth: number): OnnxGraphNode {
  const node: OnnxGraphNode = { opType: "", domain: "", path, inputs: [], outputs: [], attributes: [] };
  const attributes: Span[] = [];
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind !== "len") return;
    if (field === 1) node.inputs.push(text(bytes, value));
    else if (field === 2) node.outputs.push(text(bytes, value));
    else if (field === 4) node.opType = text(bytes, value);
    else if (field === 7) node.domain = text(bytes, value);
    else if (field === 5) attributes.push(value);
  });
  if (node.opType === "") throw new ModelFormatError({ field: `${path}.op_type`, offset: span.start, problem: "node has no op_type" });
  node.attributes = attributes.map((attribute, a) => readAttribute(bytes, attribute, `${path}.attribute[${a}]`, depth));
  return node;
}

function readAttribute(bytes: Uint8Array, span: Span, path: string, depth: number): OnnxAttribute {
  const attribute: OnnxAttribute = { name: "", type: 0, graphs: [] };
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind === "scalar") {
      if (field === 3) attribute.i = signed(varintAt(bytes, value));
      else if (field === 20) attribute.type = Number(varintAt(bytes, value));
      else if (field === 2 && value.wireType === WIRE_FIXED32) attribute.f = float32At(bytes, value.at);
      else if (field === 8) (attribute.ints ??= []).push(signed(varintAt(bytes, value)));
      else if (field === 7 && value.wireType === WIRE_FIXED32) return;
      return;
    }
    if (field === 1) attribute.name = text(bytes, value);
    else if (field === 5) attribute.t = readTensor(bytes, value, `${path}.t`);
    else if (field === 6) attribute.graphs.push(readGraph(bytes, value, `${path}.g`, depth + 1));
    else if (field === 8) (attribute.ints ??= []).push(...packedVarints(bytes, value, `${path}.ints`));
    else if (field === 10) (attribute.tensors ??= []).push(readTensor(bytes, value, `${path}.tensors[${attribute.tensors?.length ?? 0}]`));
    else if (field === 11) attribute.graphs.push(readGraph(bytes, value, `${path}.graphs[${attribute.graphs.length}]`, depth + 1));
    else if (field === 21) attribute.refAttrName = text(bytes, value);
  });
  return attribute;
}

function readTensor(bytes: Uint8Array, span: Span, path: string): OnnxTensorInfo {
  const tensor: OnnxTensorInfo = { name: "", dataType: 0, dims: [] };
  let int32: bigint[] | undefined;
  let int64: bigint[] | undefined;
  let floats: number[] | undefined;
  let raw: Span | undefined;
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind === "scalar") {
      if (field === 4 && value.wireType === WIRE_FIXED32) (floats ??= []).push(float32At(bytes, value.at));
      else if (field === 1) tensor.dims.push(Number(signed(varintAt(bytes, value))));
      else if (field === 2) tensor.dataType = Number(varintAt(bytes, value));
      else if (field === 5) (int32 ??= []).push(signed(varintAt(bytes, value)));
      else if (field === 7) (int64 ??= []).push(signed(varintAt(bytes, value)));
      return;
    }
    if (field === 1) tensor.dims.push(...packedVarints(bytes, value, `${path}.dims`).map(Number));
    else if (field === 4) (floats ??= []).push(...packedFloat32s(bytes, value));
    else if (field === 5) (int32 ??= []).push(...packedVarints(bytes, value, `${path}.int32_data`, MAX_READ_ELEMENTS));
    else if (field === 7) (int64 ??= []).push(...packedVarints(bytes, value, `${path}.int64_data`, MAX_READ_ELEMENTS));
    else if (field === 8) tensor.name = text(bytes, value);
    else if (field === 9) raw = value;
  });
  const integers = int32 ?? int64 ?? (raw === undefined ? undefined : rawIntegers(bytes, raw, tensor.dataType));
  if (integers !== undefined && INTEGER_SIZES[tensor.dataType] !== undefined) tensor.integers = integers.slice(0, MAX_READ_ELEMENTS);
  // Both float_data and raw_data: which one a runtime reads cannot be told, so neither is.
  if (tensor.dataType === FLOAT32 && (floats === undefined || raw === undefined)) {
    const values = floats ?? (raw === undefined ? undefined : packedFloat32s(bytes, raw));
    if (values !== undefined) tensor.floats = values.slice(0, MAX_READ_ELEMENTS);
  }
  return tensor;
}

const FLOAT32 = 1;

/** Up to MAX_READ_ELEMENTS little-endian float32 values from a span (packed float_data, raw_data). */
function packedFloat32s(bytes: Uint8Array, span: Span): number[] {
  const count = Math.min(MAX_READ_ELEMENTS, Math.floor((span.end - span.start) / 4));
  return Array.from({ length: count }, (_, k) => float32At(bytes, span.start + 4 * k));
}

/** Byte sizes of the integer and bool data types whose raw_data is read. */
const INTEGER_SIZES: Readonly<Record<number, number>> = { 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 12: 4, 13: 8 };

function rawIntegers(bytes: Uint8Array, raw: Span, dataType: number): bigint[] | undefined {
  const size = INTEGER_SIZES[dataType];
  if (size === undefined) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + raw.start, raw.end - raw.start);
  const count = Math.min(MAX_READ_ELEMENTS, Math.floor(view.byteLength / size));
  const signedType = dataType === 3 || dataType === 5 || dataType === 6 || dataType === 7;
  return Array.from({ length: count }, (_, k) => {
    const at = k * size;
    if (size === 1) return BigInt(signedType ? view.getInt8(at) : view.getUint8(at));
    if (size === 2) return BigInt(signedType ? view.getInt16(at, true) : view.getUint16(at, true));
    if (size === 4) return BigInt(signedType ? view.getInt32(at, true) : view.getUint32(at, true));
    return signedType ? view.getBigInt64(at, true) : view.getBigUint64(at, true);
  });
}

function readValueInfo(bytes: Uint8Array, span: Span, path: string): OnnxValueInfo {
  const info: OnnxValueInfo = { name: "", type: { kind: "none" } };
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind !== "len") return;
    if (field === 1) info.name = text(bytes, value);
    else if (field === 2) info.type = readType(bytes, value, `${path}.type`);
  });
  return info;
}

const OTHER_TYPES: Readonly<Record<number, string>> = { 4: "sequence", 5: "map", 8: "sparse tensor", 9: "optional" };

function readType(bytes: Uint8Array, span: Span, path: string): OnnxValueType {
  let type: OnnxValueType = { kind: "none" };
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind !== "len") return;
    if (field === 1) {
      const tensor: { kind: "tensor"; elemType: number; shape?: OnnxDim[] } = { kind: "tensor", elemType: 0 };
      readMessage(bytes, value, `${path}.tensor_type`, (f, v) => {
        if (f === 1 && v.kind === "scalar") tensor.elemType = Number(varintAt(bytes, v));
        else if (f === 2 && v.kind === "len") tensor.shape = readShape(bytes, v, `${path}.tensor_type.shape`);
      });
      type = tensor;
    } else if (OTHER_TYPES[field] !== undefined) {
      type = { kind: "other", what: OTHER_TYPES[field] };
    }
  });
  return type;
}

function readShape(bytes: Uint8Array, span: Span, path: string): OnnxDim[] {
  const dims: OnnxDim[] = [];
  readMessage(bytes, span, path, (field, value) => {
    if (field !== 1 || value.kind !== "len") return;
    let dim: OnnxDim;
    readMessage(bytes, value, `${path}.dim[${dims.length}]`, (f, v) => {
      if (f === 1 && v.kind === "scalar") dim = Number(signed(varintAt(bytes, v)));
      else if (f === 2 && v.kind === "len") dim = text(bytes, v);
    });
    dims.push(dim);
  });
  return dims;
}

/** One field of a message: its number, where it starts (its tag) and ends, and its payload if length-delimited. */
export type OnnxField = { field: number; start: number; end: number; payload?: { start: number; end: number } };

/** The fields of the message at `span` (the whole buffer by default), in order, checked as `readOnnxModel` checks them. */
export function readOnnxFields(bytes: Uint8Array, span: { start: number; end: number } = { start: 0, end: bytes.length }, path = "model"): OnnxField[] {
  const fields: OnnxField[] = [];
  readMessage(bytes, span, path, (field, value, tagAt) => {
    const end = value.kind === "len" ? value.end : value.wireType === WIRE_VARINT ? skipVarint(bytes, value.at, span.end, path) : value.at + (value.wireType === WIRE_FIXED64 ? 8 : 4);
    fields.push({ field, start: tagAt, end, ...(value.kind === "len" && { payload: { start: value.start, end: value.end } }) });
  });
  return fields;
}

/** Walks the fields of one message, calling `visit` for each; malformed wire data throws. */
function readMessage(bytes: Uint8Array, { start, end }: Span, path: string, visit: FieldVisitor): void {
  let offset = start;
  while (offset < end) {
    const tagAt = offset;
    const tag = readVarint(bytes, offset, end, path);
    offset = tag.next;
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    if (field === 0) throw new ModelFormatError({ field: path, offset: tagAt, problem: "field number 0" });
    if (wireType === WIRE_VARINT) {
      const at = offset;
      offset = skipVarint(bytes, offset, end, `${path}#${field}`);
      visit(field, { kind: "scalar", wireType, at }, tagAt);
    } else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      const at = offset;
      offset += wireType === WIRE_FIXED64 ? 8 : 4;
      if (offset > end) throw new ModelFormatError({ field: `${path}#${field}`, offset: tagAt, problem: "truncated fixed-size field" });
      visit(field, { kind: "scalar", wireType, at }, tagAt);
    } else if (wireType === WIRE_LEN) {
      const length = readVarint(bytes, offset, end, `${path}#${field}`);
      const valueEnd = length.next + length.value;
      if (valueEnd > end) {
        throw new ModelFormatError({
          field: `${path}#${field}`,
          offset: tagAt,
          problem: `length ${length.value} runs past the end of its message`,
        });
      }
      offset = valueEnd;
      visit(field, { kind: "len", start: length.next, end: valueEnd }, tagAt);
    } else {
      // Wire types 3/4 are the deprecated groups (ONNX has none); 6/7 do not exist.
      throw new ModelFormatError({ field: `${path}#${field}`, offset: tagAt, problem: `unsupported wire type ${wireType}` });
    }
  }
}

function text(bytes: Uint8Array, { start, end }: Span): string {
  return utf8.decode(bytes.subarray(start, end));
}

/** A scalar field's varint as an unsigned 64-bit value (already checked by `readMessage`). */
function varintAt(bytes: Uint8Array, value: { wireType: number; at: number }): bigint {
  if (value.wireType !== WIRE_VARINT) return 0n;
  let result = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[value.at + i]!;
    result |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) break;
  }
  return BigInt.asUintN(64, result);
}

/** Packed varints (a repeated int field in proto3); at most `limit` are decoded. */
function packedVarints(bytes: Uint8Array, { start, end }: Span, path: string, limit = Number.POSITIVE_INFINITY): bigint[] {
  const values: bigint[] = [];
  let offset = start;
  while (offset < end && values.length < limit) {
    const next = skipVarint(bytes, offset, end, path);
    values.push(signed(varintAt(bytes, { wireType: WIRE_VARINT, at: offset })));
    offset = next;
  }
  return values;
}

function signed(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

function float32At(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getFloat32(0, true);
}

/** Skips a varint value of any size (a negative int64 takes 10 bytes). */
function skipVarint(bytes: Uint8Array, offset: number, end: number, path: string): number {
  for (let i = 0; i < 10; i++) {
    if (offset + i >= end) throw new ModelFormatError({ field: path, offset, problem: "truncated varint" });
    if ((bytes[offset + i]! & 0x80) === 0) return offset + i + 1;
  }
  throw new ModelFormatError({ field: path, offset, problem: "varint longer than 10 bytes" });
}

/** A tag or a length: a base-128 varint whose value must be a safe integer (no ONNX length is larger). */
function readVarint(bytes: Uint8Array, offset: number, end: number, path: string): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (offset + i >= end) throw new ModelFormatError({ field: path, offset, problem: "truncated varint" });
    const byte = bytes[offset + i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) throw new ModelFormatError({ field: path, offset, problem: "varint too large" });
      return { value, next: offset + i + 1 };
    }
    scale *= 128;
  }
  throw new ModelFormatError({ field: path, offset, problem: "varint longer than 10 bytes" });
}
