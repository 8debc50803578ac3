/**
 * Writes small ONNX models byte by byte (a minimal protobuf writer), so tests can craft exactly the
 * graph they need without Python: a Dropout whose training flag is a graph input, an If with a random
 * branch, an IsNaN model, an integer graph. Field numbers as in offchain/inference/onnx-graph.ts.
 *
 *   const bytes = buildOnnxModel({ graph: { nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }],
 *     inputs: [{ name: "x", type: ELEM.float, dims: [2] }], outputs: [{ name: "y", type: ELEM.float, dims: [2] }] } });
 */

/** TensorProto.DataType values. */
export const ELEM = { float: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, string: 8, bool: 9, float16: 10, double: 11 } as const;

export type ValueSpec = { name: string; type: number; /** Left out: the rank is not declared. */ dims?: (number | string)[] };
export type TensorSpec = { name?: string; type: number; dims: number[]; int32?: number[]; int64?: (number | bigint)[]; floats?: number[] };
export type AttributeSpec = { name: string; i?: number | bigint; f?: number; ints?: (number | bigint)[]; t?: TensorSpec; g?: GraphSpec };
export type NodeSpec = { op: string; inputs?: string[]; outputs?: string[]; domain?: string; attributes?: AttributeSpec[] };
export type GraphSpec = { name?: string; nodes: NodeSpec[]; inputs: ValueSpec[]; outputs: ValueSpec[]; initializers?: TensorSpec[] };
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

/** A protobuf writer: varints, length-delimited fields, fixed32 floats. */
export const pb = {
  varint(value: number | bigint): number[] {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v > 0n ? byte | 0x80 : byte);
    } while (v > 0n);
    return out;
  },
  int(field: number, value: number | bigint): number[] {
    return [...pb.varint(field * 8), ...pb.varint(value)];
  },
  bytes(field: number, payload: ArrayLike<number>): number[] {
    return [...pb.varint(field * 8 + 2), ...pb.varint(payload.length), ...Array.from(payload)];
  },
  string(field: number, text: string): number[] {
    return pb.bytes(field, new TextEncoder().encode(text));
  },
  float(field: number, value: number): number[] {
    return [...pb.varint(field * 8 + 5), ...float32Bytes(value)];
  },
};

function float32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return bytes;
}

function graphProto({ name = "g", nodes, inputs, outputs, initializers = [] }: GraphSpec): number[] {
  return [
    ...nodes.flatMap((node) => pb.bytes(1, nodeProto(node))),
    ...pb.string(2, name),
    ...initializers.flatMap((tensor) => pb.bytes(5, tensorProto(tensor))),
    ...inputs.flatMap((value) => pb.bytes(11, valueInfo(value))),
    ...outputs.flatMap((value) => pb.bytes(12, valueInfo(value))),
  ];
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

function nodeProto({ op, inputs = [], outputs = [], domain, attributes = [] }: NodeSpec): number[] {
  return [
    ...inputs.flatMap((input) => pb.string(1, input)),
    ...outputs.flatMap((output) => pb.string(2, output)),
    ...pb.string(4, op),
    ...attributes.flatMap((attribute) => pb.bytes(5, attributeProto(attribute))),
    ...(domain === undefined ? [] : pb.string(7, domain)),
  ];
}

function attributeProto({ name, i, f, ints, t, g }: AttributeSpec): number[] {
  const out = pb.string(1, name);
  if (f !== undefined) return [...out, ...pb.float(2, f), ...pb.int(20, 1)];
  if (i !== undefined) return [...out, ...pb.int(3, i), ...pb.int(20, 2)];
  if (t !== undefined) return [...out, ...pb.bytes(5, tensorProto(t)), ...pb.int(20, 4)];
  if (g !== undefined) return [...out, ...pb.bytes(6, graphProto(g)), ...pb.int(20, 5)];
  if (ints !== undefined) return [...out, ...ints.flatMap((value) => pb.int(8, value)), ...pb.int(20, 7)];
  throw new Error(`attribute ${name} has no value`);
}

function tensorProto({ name = "", type, dims, int32, int64, floats }: TensorSpec): number[] {
  return [
    ...dims.flatMap((dim) => pb.int(1, dim)),
    ...pb.int(2, type),
    ...(floats === undefined ? [] : pb.bytes(4, floats.flatMap((value) => Array.from(float32Bytes(value))))),
    ...(int32 === undefined ? [] : pb.bytes(5, int32.flatMap((value) => pb.varint(value)))),
    ...(int64 === undefined ? [] : pb.bytes(7, int64.flatMap((value) => pb.varint(value)))),
    ...pb.string(8, name),
  ];
}

function valueInfo({ name, type, dims }: ValueSpec): number[] {
  const shape = dims === undefined ? [] : pb.bytes(2, dims.flatMap((dim) => pb.bytes(1, typeof dim === "number" ? pb.int(1, dim) : pb.string(2, dim))));
  return [...pb.string(1, name), ...pb.bytes(2, pb.bytes(1, [...pb.int(1, type), ...shape]))];
}
