// GPU check: the webgpu and cpu execution providers through the real inference runner and
// session selection, on the same inputs. Run on a GPU host (see bench/gpu/README.md); writes
// $OUT/gpu.json, summarized in bench/results/webgpu.json.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import pino from "pino";
import { decodeTensorBlob, tensorToArray, blobId } from "../../offchain/codec/tensor.js";
import { createInferenceRunner } from "../../offchain/inference/runner.js";
import { createModelSession } from "../../offchain/inference/session.js";

const here = (p: string) => fileURLToPath(new URL(`./bundle/${p}`, import.meta.url));
const DET = { modelPath: here("./models/det.onnx"), modelHash: "0x30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff" };
const CLS = { modelPath: here("./models/cls.onnx"), modelHash: "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640" };
const det640 = readFileSync(here("./inputs/det640.blob"));
const cls6 = readFileSync(here("./inputs/cls6.blob"));
const out: Record<string, unknown> = {};
const logs: unknown[] = [];
const log = pino({ level: "debug" }, { write: (l: string) => void logs.push(JSON.parse(l)) });
const save = () => writeFileSync(process.env.OUT + "/gpu.json", JSON.stringify({ out, logs }, null, 1));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function maxDiff(a: Uint8Array, b: Uint8Array) {
  const [x, y] = [tensorToArray(decodeTensorBlob(a)[0]!) as Float32Array, tensorToArray(decodeTensorBlob(b)[0]!) as Float32Array];
  let m = 0, n = 0; for (let i = 0; i < x.length; i++) { const d = Math.abs(x[i]! - y[i]!); if (d > m) m = d; if (d > 0) n++; }
  return { max: m, differing: n, of: x.length };
}
async function step(name: string, fn: () => Promise<unknown>) {
  const t = performance.now();
  try { out[name] = await fn(); } catch (e) { out[name] = { error: String(e), stack: (e as Error).stack }; }
  console.log(name, ((performance.now() - t) / 1000).toFixed(1) + "s", JSON.stringify(out[name]).slice(0, 600));
  save();
}
const runner = createInferenceRunner({ log, size: 1 });
async function series(model: typeof DET, input: Uint8Array, ep: "cpu" | "webgpu" | "auto", n: number) {
  const rs = [];
  for (let i = 0; i < n; i++) rs.push(await runner.run({ ...model, input, ep, timeoutMs: 60_000 }));
  return { ep: rs[0]!.ep, reason: rs[0]!.epReason, msMedian: median(rs.map((r) => r.ms)), ms: rs.map((r) => +r.ms.toFixed(2)), ids: [...new Set(rs.map((r) => blobId(r.output)))], output: rs[0]!.output };
}
const strip = ({ output, ...rest }: { output: Uint8Array } & Record<string, unknown>) => rest;
let detCpu: any, detGpu: any, clsCpu: any, clsGpu: any;
await step("det640 auto (runner, job input as probe)", async () => strip(await series(DET, det640, "auto", 3)));
await step("det640 webgpu", async () => { detGpu = await series(DET, det640, "webgpu", 6); return strip(detGpu); });
await step("det640 cpu", async () => { detCpu = await series(DET, det640, "cpu", 6); return strip(detCpu); });
await step("det640 webgpu vs cpu", async () => maxDiff(detGpu.output, detCpu.output));
await step("cls6 webgpu", async () => { clsGpu = await series(CLS, cls6, "webgpu", 6); return strip(clsGpu); });
await step("cls6 cpu", async () => { clsCpu = await series(CLS, cls6, "cpu", 6); return strip(clsCpu); });
await step("cls6 webgpu vs cpu", async () => ({ ...maxDiff(clsGpu.output, clsCpu.output), gpu: Array.from(tensorToArray(decodeTensorBlob(clsGpu.output)[0]!) as Float32Array).map((v) => +v.toFixed(4)) }));
await step("cls6 auto (runner)", async () => strip(await series(CLS, cls6, "auto", 2)));
for (const probeDimSize of [64]) {
  await step(`det auto in-process probe ${probeDimSize}`, async () => {
    const s = await createModelSession({ model: { bytes: readFileSync(DET.modelPath), hash: DET.modelHash as `0x${string}` }, ep: "auto", probeDimSize, log });
    await s.session.release();
    return { ep: s.ep, reason: s.reason, timings: s.timings };
  });
}
await step("maxpool-indices webgpu", async () => {
  const s = await createModelSession({ model: { bytes: readFileSync(here("./models/maxpool-indices.onnx")), hash: ("0x" + "0".repeat(64)) as `0x${string}` }, ep: "webgpu", log });
  return { ep: s.ep, reason: s.reason, rejected: s.rejected };
});
await runner.close();
save();
process.exit(0);
