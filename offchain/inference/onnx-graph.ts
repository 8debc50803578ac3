/**
 * Lists the operators of an ONNX model without a protobuf dependency: a minimal reader of the
 * protobuf wire format that follows only the fields leading to nodes and skips everything else
 * (initializers, the bulk of a model's bytes, are skipped by their length prefix).
 *
 * Fields followed (onnx.proto3):
 * ```
 * ModelProto      graph = 7 (GraphProto), functions = 25 (FunctionProto)
 * GraphProto      node = 1 (NodeProto)
 * FunctionProto   node = 7 (NodeProto)
 * NodeProto       op_type = 4, domain = 7, attribute = 5 (AttributeProto)
 * AttributeProto  g = 6 (GraphProto), graphs = 11 (GraphProto): the subgraphs of If, Loop, Scan
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

/** Nested subgraphs deeper than this are refused (a crafted file could otherwise overflow the stack). */
export const MAX_SUBGRAPH_DEPTH = 32;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder("utf-8");

/** Every node of the model: main graph, subgraphs in attributes, local functions; in file order. */
export function listOnnxNodes(bytes: Uint8Array): OnnxNode[] {
  const nodes: OnnxNode[] = [];
  let graphs = 0;
  let functions = 0;
  readMessage(bytes, { start: 0, end: bytes.length }, "model", (field, value) => {
    if (field === 7 && value.kind === "len") {
      graphs++;
      readGraph(bytes, value, "graph", 1, nodes, 0);
    } else if (field === 25 && value.kind === "len") {
      readGraph(bytes, value, `functions[${functions++}]`, 7, nodes, 0);
    }
  });
  if (graphs === 0) throw new ModelFormatError({ field: "model.graph", offset: 0, problem: "the model has no graph" });
  return nodes;
}

/** The distinct operator types of the model, sorted. */
export function listOnnxOperatorTypes(bytes: Uint8Array): string[] {
  return [...new Set(listOnnxNodes(bytes).map((node) => node.opType))].sort();
}

type Span = { start: number; end: number };
type FieldValue = ({ kind: "len" } & Span) | { kind: "scalar" };
type FieldVisitor = (field: number, value: FieldValue) => void;

/** Reads a GraphProto (node field 1) or a FunctionProto (node field 7). */
function readGraph(bytes: Uint8Array, span: Span, path: string, nodeField: number, nodes: OnnxNode[], depth: number): void {
  if (depth > MAX_SUBGRAPH_DEPTH) {
    throw new ModelFormatError({ field: path, offset: span.start, problem: `subgraphs nested deeper than ${MAX_SUBGRAPH_DEPTH}` });
  }
  let index = 0;
  readMessage(bytes, span, path, (field, value) => {
    if (field !== nodeField || value.kind !== "len") return;
    readNode(bytes, value, `${path}.node[${index++}]`, nodes, depth);
  });
}

function readNode(bytes: Uint8Array, span: Span, path: string, nodes: OnnxNode[], depth: number): void {
  const node: OnnxNode = { opType: "", domain: "", path };
  const attributes: Span[] = [];
  readMessage(bytes, span, path, (field, value) => {
    if (value.kind !== "len") return;
    if (field === 4) node.opType = utf8.decode(bytes.subarray(value.start, value.end));
    else if (field === 7) node.domain = utf8.decode(bytes.subarray(value.start, value.end));
    else if (field === 5) attributes.push(value);
  });
  if (node.opType === "") throw new ModelFormatError({ field: `${path}.op_type`, offset: span.start, problem: "node has no op_type" });
  nodes.push(node);
  attributes.forEach((attribute, a) => {
    let graphIndex = 0;
    readMessage(bytes, attribute, `${path}.attribute[${a}]`, (field, value) => {
      if (value.kind !== "len") return;
      if (field === 6) readGraph(bytes, value, `${path}.attribute[${a}].g`, 1, nodes, depth + 1);
      else if (field === 11) readGraph(bytes, value, `${path}.attribute[${a}].graphs[${graphIndex++}]`, 1, nodes, depth + 1);
    });
  });
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
      offset = skipVarint(bytes, offset, end, `${path}#${field}`);
      visit(field, { kind: "scalar" });
    } else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      offset += wireType === WIRE_FIXED64 ? 8 : 4;
      if (offset > end) throw new ModelFormatError({ field: `${path}#${field}`, offset: tagAt, problem: "truncated fixed-size field" });
      visit(field, { kind: "scalar" });
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
      visit(field, { kind: "len", start: length.next, end: valueEnd });
    } else {
      // Wire types 3/4 are the deprecated groups (ONNX has none); 6/7 do not exist.
      throw new ModelFormatError({ field: `${path}#${field}`, offset: tagAt, problem: `unsupported wire type ${wireType}` });
    }
  }
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
