/**
 * Writes ONNX protobuf messages (a minimal writer of the wire format; field numbers as in
 * offchain/inference/onnx-graph.ts). Small messages are built as byte arrays; a model's bulk
 * (its initializers) is never rebuilt, only copied (see offchain/inference/image-input.ts).
 */

/** TensorProto.DataType values. */
export const ELEM = { float: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, string: 8, bool: 9, float16: 10, double: 11 } as const;

/** AttributeProto.AttributeType values. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, tensor: 4, graph: 5, ints: 7 } as const;

export type ValueSpec = {
  name: string;
  type: number;
  /** Left out: the rank is not declared; an undefined dim: its size is not declared. */
  dims?: (number | string | undefined)[];
};
export type TensorSpec = { name?: string; type: number; dims: number[]; int32?: number[]; int64?: (number | bigint)[]; floats?: number[] };
export type AttributeSpec = { name: string; i?: number | bigint; f?: number; ints?: (number | bigint)[]; t?: TensorSpec; g?: GraphSpec };
export type NodeSpec = { op: string; inputs?: string[]; outputs?: string[]; name?: string; domain?: string; attributes?: AttributeSpec[] };
export type GraphSpec = { name?: string; nodes: NodeSpec[]; inputs: ValueSpec[]; outputs: ValueSpec[]; initializers?: TensorSpec[] };

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

export function float32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return bytes;
}

export function graphProto({ name = "g", nodes, inputs, outputs, initializers = [] }: GraphSpec): number[] {
  return [
    ...nodes.flatMap((node) => pb.bytes(1, nodeProto(node))),
    ...pb.string(2, name),
    ...initializers.flatMap((tensor) => pb.bytes(5, tensorProto(tensor))),
    ...inputs.flatMap((value) => pb.bytes(11, valueInfoProto(value))),
    ...outputs.flatMap((value) => pb.bytes(12, valueInfoProto(value))),
  ];
}

export function nodeProto({ op, inputs = [], outputs = [], name, domain, attributes = [] }: NodeSpec): number[] {
  return [
    ...inputs.flatMap((input) => pb.string(1, input)),
    ...outputs.flatMap((output) => pb.string(2, output)),
    ...(name === undefined ? [] : pb.string(3, name)),
    ...pb.string(4, op),
    ...attributes.flatMap((attribute) => pb.bytes(5, attributeProto(attribute))),
    ...(domain === undefined ? [] : pb.string(7, domain)),
  ];
}

export function attributeProto({ name, i, f, ints, t, g }: AttributeSpec): number[] {
  const out = pb.string(1, name);
  if (f !== undefined) return [...out, ...pb.float(2, f), ...pb.int(20, ATTRIBUTE_TYPE.float)];
  if (i !== undefined) return [...out, ...pb.int(3, i), ...pb.int(20, ATTRIBUTE_TYPE.int)];
  if (t !== undefined) return [...out, ...pb.bytes(5, tensorProto(t)), ...pb.int(20, ATTRIBUTE_TYPE.tensor)];
  if (g !== undefined) return [...out, ...pb.bytes(6, graphProto(g)), ...pb.int(20, ATTRIBUTE_TYPE.graph)];
  if (ints !== undefined) return [...out, ...ints.flatMap((value) => pb.int(8, value)), ...pb.int(20, ATTRIBUTE_TYPE.ints)];
  throw new Error(`attribute ${name} has no value`);
}

export function tensorProto({ name = "", type, dims, int32, int64, floats }: TensorSpec): number[] {
  return [
    ...dims.flatMap((dim) => pb.int(1, dim)),
    ...pb.int(2, type),
    ...(floats === undefined ? [] : pb.bytes(4, floats.flatMap((value) => Array.from(float32Bytes(value))))),
    ...(int32 === undefined ? [] : pb.bytes(5, int32.flatMap((value) => pb.varint(value)))),
    ...(int64 === undefined ? [] : pb.bytes(7, int64.flatMap((value) => pb.varint(value)))),
    ...pb.string(8, name),
  ];
}

export function valueInfoProto({ name, type, dims }: ValueSpec): number[] {
  const shape = dims === undefined ? [] : pb.bytes(2, dims.flatMap((dim) => pb.bytes(1, typeof dim === "number" ? pb.int(1, dim) : dim === undefined ? [] : pb.string(2, dim))));
  return [...pb.string(1, name), ...pb.bytes(2, pb.bytes(1, [...pb.int(1, type), ...shape]))];
}
