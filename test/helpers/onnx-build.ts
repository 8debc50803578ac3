/**
 * Writes small ONNX models byte by byte (the protobuf writer of offchain/inference/onnx-write.ts), so tests can craft exactly the
 * graph they need without Python: a Dropout whose training flag is a graph input, an If with a random
 * branch, an IsNaN model, an integer graph. Field numbers as in offchain/inference/onnx-graph.ts.
 *
 *   const bytes = buildOnnxModel({ graph: { nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }],
 *     inputs: [{ name: "x", type: ELEM.float, dims: [2] }], outputs: [{ name: "y", type: ELEM.float, dims: [2] }] } });
 */

import { readOnnxFields } from "../../offchain/inference/onnx-graph.js";
import { ELEM, graphProto, nodeProto, pb, type GraphSpec, type NodeSpec } from "../../offchain/inference/onnx-write.js";

export { ELEM, pb };
export type { AttributeSpec, GraphSpec, NodeSpec, TensorSpec, ValueSpec } from "../../offchain/inference/onnx-write.js";
export type FunctionSpec = { name: string; domain: string; inputs: string[]; outputs: string[]; nodes: NodeSpec[] };

export type BuildOnnxModelParameters = {
  graph: GraphSpec;
  opset?: number;
  irVersion?: number;
  functions?: FunctionSpec[];
  /** Extra opset imports, e.g. { domain: "local", version: 1 } for local functions. */
  opsets?: { domain: string; version: number }[];
};

export function buildOnnxModel({ graph, opset = 17, irVersion = 8, functions = [], opsets = [] }: BuildOnnxModelParameters): Uint8Array {
  const imports = [{ domain: "", version: opset }, ...opsets];
  return Uint8Array.from([
    ...pb.int(1, irVersion),
    ...imports.flatMap(({ domain, version }) => pb.bytes(8, [...pb.string(1, domain), ...pb.int(2, version)])),
    ...pb.bytes(7, graphProto(graph)),
    ...functions.flatMap((fn) => pb.bytes(25, functionProto(fn))),
  ]);
}

function functionProto({ name, domain, inputs, outputs, nodes }: FunctionSpec): number[] {
  return [
    ...pb.string(1, name),
    ...inputs.flatMap((input) => pb.string(4, input)),
    ...outputs.flatMap((output) => pb.string(5, output)),
    ...nodes.flatMap((node) => pb.bytes(7, nodeProto(node))),
    ...pb.bytes(9, [...pb.string(1, ""), ...pb.int(2, 17)]),
    ...pb.string(10, domain),
  ];
}

/** The main graph's fields of a model, in the order written, each with its bytes in hex (for byte-for-byte comparisons of rewrites). */
export function graphFields(bytes: Uint8Array): { field: number; bytes: string }[] {
  const graph = readOnnxFields(bytes).find(({ field }) => field === 7)!.payload!;
  return readOnnxFields(bytes, graph, "graph").map(({ field, start, end }) => ({ field, bytes: Buffer.from(bytes.subarray(start, end)).toString("hex") }));
}
