/**
 * The SDK's runnable example, `scripts/examples/post-image-job.ts`, run as a dApp developer runs it
 * (its own process, configured by the environment) against a real `hardhat node` process, an
 * Ignition deployment and `dinfer worker` with the real PaddleOCR cls model. It must print the
 * orientation a direct onnxruntime run gives, so the example cannot rot unnoticed.
 *
 * Run alone: `npx hardhat test mocha test/e2e/sdk-example.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";

import { tensorToArray } from "../../offchain/codec/tensor.js";
import { imageToClsInput, readClsOutput } from "../../offchain/sdk/image.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(ROOT, "scripts/examples/post-image-job.ts");
const IMAGE = path.join(ROOT, "test/fixtures/images/line-2-rot180.png");

describe("scripts/examples/post-image-job.ts against a local network and a real worker", function () {
  let net: LocalNetwork;
  let worker: WorkerProcess | undefined;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.kill();
    await net?.stop();
  });

  it("posts the image, waits for the final verified result and prints the direct run's orientation", async function () {
    this.timeout(300_000);
    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
      dataDir: net.tempDir("example-worker"),
      key: net.keys.provider,
      secret: randomBytes(32).toString("hex"),
    });

    const session = await ort.InferenceSession.create(net.modelFiles.cls, { executionProviders: ["cpu"] });
    const input = await imageToClsInput(IMAGE);
    const results = await session.run({ x: new ort.Tensor("float32", tensorToArray(input).slice(), input.dims) });
    const output = results[session.outputNames[0]!] as ort.Tensor;
    const [expected] = readClsOutput({
      name: session.outputNames[0]!,
      dtype: "float32",
      dims: [...output.dims],
      data: new Uint8Array((output.data as Float32Array).slice().buffer),
    });
    await session.release();

    const run = await runScript([IMAGE], {
      DINFER_RPC_URL: net.url,
      DINFER_PRIVATE_KEY: net.keys.dapp,
      DINFER_DEPLOYMENT_ID: net.deploymentId,
      MODEL_ID: String(net.modelIds.cls),
      FEE: "2",
    });
    assert.equal(run.code, 0, `the script failed:\n${run.output}\n--- worker ---\n${worker.logs().slice(-3_000)}`);
    assert.match(run.output, /^posted job \d+: line-2-rot180\.png, fee 2, input http:\/\/127\.0\.0\.1:\d+\/blobs\/0x[0-9a-f]{64}$/m);
    assert.match(run.output, new RegExp(`^job \\d+ final: provider ${worker.account}, output root 0x[0-9a-f]{64}$`, "mi"));
    const printed = /^orientation: (\d+) degrees \(probability ([\d.]+)\)$/m.exec(run.output);
    assert.ok(printed, run.output);
    assert.equal(Number(printed[1]), expected!.label);
    assert.ok(Math.abs(Number(printed[2]) - expected!.probability) < 1e-4, `${printed[2]} vs ${expected!.probability}`);
    await worker.stop();
  });
});

/** Runs the example with tsx, as `npx tsx` would, with only the given DINFER_* settings; killed after `timeoutMs`. */
function runScript(args: string[], env: Record<string, string>, timeoutMs = 240_000): Promise<{ code: number | null; output: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DINFER_")));
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, ...args], { cwd: ROOT, env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => {
    output += `\n(killed after ${timeoutMs} ms)`;
    child.kill("SIGKILL");
  }, timeoutMs);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}
