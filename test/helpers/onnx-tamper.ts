/**
 * Makes a real "wrong model" for verification tests: a copy of an .onnx file with one weight
 * tensor scaled. The file stays a valid model of the same shape (same bytes count, same graph),
 * but it computes something else, and its sha256 differs from the registered one.
 *
 * A minimal protobuf reader in the spirit of offchain/inference/onnx-graph.ts, following only:
 * ```
 * ModelProto      graph = 7 (GraphProto)
 * GraphProto      node = 1 (NodeProto), initializer = 5 (TensorProto)
 * NodeProto       output = 2, op_type = 4, attribute = 5 (AttributeProto)
 * AttributeProto  name = 1, t = 5 (TensorProto)
 * TensorProto     dims = 1 (int64, packed or not), data_type = 2, name = 8, raw_data = 9
 * ```
 * Weights are graph initializers, or `Constant` nodes' `value` tensors (paddle2onnx writes those,
 * e.g. the PaddleOCR models); a Constant's tensor is named after the node's output. Only float32
 * tensors stored as `raw_data` are listed (what exporters write for weights).
 */

/** A float32 initializer and where its raw little-endian data sits in the file. */
export type OnnxInitializer = { name: string; dims: number[]; dataStart: number; dataEnd: number };

const FLOAT32 = 1;

type Span = { start: number; end: number };
type Field = { field: number; wire: number; start: number; end: number; value?: number };

/** Every float32 `raw_data` weight of the main graph (initializers, then Constant nodes), in file order. */
export function listFloatInitializers(bytes: Uint8Array): OnnxInitializer[] {
  const found: OnnxInitializer[] = [];
  for (const graph of fields(bytes, { start: 0, end: bytes.length }).filter((f) => f.field === 7 && f.wire === 2)) {
    const graphFields = fields(bytes, graph);
    for (const init of graphFields.filter((f) => f.field === 5 && f.wire === 2)) {
      const tensor = readTensor(bytes, init);
      if (tensor) found.push(tensor);
    }
    for (const node of graphFields.filter((f) => f.field === 1 && f.wire === 2)) {
      const nodeFields = fields(bytes, node);
      if (text(bytes, nodeFields.find((f) => f.field === 4)) !== "Constant") continue;
      const output = text(bytes, nodeFields.find((f) => f.field === 2));
      for (const attribute of nodeFields.filter((f) => f.field === 5 && f.wire === 2)) {
        const attributeFields = fields(bytes, attribute);
        if (text(bytes, attributeFields.find((f) => f.field === 1)) !== "value") continue;
        const t = attributeFields.find((f) => f.field === 5 && f.wire === 2);
        const tensor = t && readTensor(bytes, t);
        if (tensor) found.push({ ...tensor, name: tensor.name || output });
      }
    }
  }
  return found;
}

function readTensor(bytes: Uint8Array, span: Span): OnnxInitializer | undefined {
  let name = "";
  let dataType = 0;
  let raw: Span | undefined;
  const dims: number[] = [];
  for (const f of fields(bytes, span)) {
    if (f.field === 8 && f.wire === 2) name = text(bytes, f);
    else if (f.field === 2 && f.wire === 0) dataType = f.value!;
    else if (f.field === 9 && f.wire === 2) raw = f;
    else if (f.field === 1 && f.wire === 0) dims.push(f.value!);
    else if (f.field === 1 && f.wire === 2) {
      for (let at = f.start; at < f.end; ) {
        const v = varint(bytes, at);
        dims.push(v.value);
        at = v.next;
      }
    }
  }
  return dataType === FLOAT32 && raw ? { name, dims, dataStart: raw.start, dataEnd: raw.end } : undefined;
}

function text(bytes: Uint8Array, span: Span | undefined): string {
  return span ? new TextDecoder().decode(bytes.subarray(span.start, span.end)) : "";
}

/** A copy of `bytes` with every element of float32 initializer `name` multiplied by `factor`. */
export function scaleInitializer(bytes: Uint8Array, name: string, factor: number): Uint8Array {
  const init = listFloatInitializers(bytes).find((i) => i.name === name);
  if (!init) throw new Error(`no float32 raw_data initializer named ${JSON.stringify(name)}`);
  const copy = new Uint8Array(bytes);
  const view = new DataView(copy.buffer, copy.byteOffset + init.dataStart, init.dataEnd - init.dataStart);
  for (let at = 0; at + 4 <= view.byteLength; at += 4) view.setFloat32(at, view.getFloat32(at, true) * factor, true);
  return copy;
}

function fields(bytes: Uint8Array, { start, end }: Span): Field[] {
  const out: Field[] = [];
  let at = start;
  while (at < end) {
    const tag = varint(bytes, at);
    at = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (wire === 0) {
      const v = varint(bytes, at);
      out.push({ field, wire, start: at, end: v.next, value: v.value });
      at = v.next;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
    } else if (wire === 2) {
      const length = varint(bytes, at);
      out.push({ field, wire, start: length.next, end: length.next + length.value });
      at = length.next + length.value;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire} at byte ${at}`);
    }
    if (at > end) throw new Error(`protobuf field ${field} runs past its message at byte ${at}`);
  }
  return out;
}

function varint(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[at + i];
    if (byte === undefined) throw new Error(`truncated varint at byte ${at}`);
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return { value, next: at + i + 1 };
    scale *= 128;
  }
  throw new Error(`varint longer than 10 bytes at byte ${at}`);
}
