/**
 * A det job whose input is an image's bytes, end to end: det wrapped by `withImageInput` and registered on a
 * real chain (hardhat node process, Ignition deployment), the job posted with the SDK's uint8 input and
 * uploaded to the dApp's blob server, served by `dinfer worker` as a separate process, final on chain; its
 * output judged against a direct onnxruntime run of the wrapped model here under the model's registered
 * tolerance (as an auditor judges it), and read for text. Then the same job on det answering in bytes too
 * (`withByteOutput`, registered with one step of tolerance).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { compareOutputs, toleranceFromChain } from "../../offchain/codec/tolerance.js";
import { DEVNET_TOLERANCE } from "../../offchain/devnet/devnet.js";
import { BYTE_OUTPUT_TOLERANCE_ON_CHAIN } from "../../offchain/inference/byte-output.js";
import { DEFAULT_SESSION_OPTIONS } from "../../offchain/inference/session.js";
import { imageToDetInput, readDetOutput } from "../../offchain/sdk/image.js";
import { postJob, waitForResult } from "../../offchain/sdk/jobs.js";
import { registerImageInputDet } from "../helpers/image-input-model.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const FEE = 2_000_000_000_000_000_000n; // 2 tokens, above the 1-token price floor

describe("det on an image's bytes end to end: wrapped model registered, uint8 job posted, worker process, final on chain", function () {
  let net: LocalNetwork | undefined;
  let worker: WorkerProcess | undefined;

  after(async function () {
    this.timeout(60_000);
    await worker?.kill();
    await net?.stop();
  });

  /**
   * Registers det wrapped with its image's bytes as input (and bytes as output with `byteOutput`), serves it with a
   * `dinfer worker` process (the one before it stopped), posts doc.png as a job and waits until it is final; then
   * judges the served output against a direct run of the wrapped model here under the model's registered
   * tolerance, as an auditor judges it, and reads it for text.
   */
  async function serveDocJob({ byteOutput }: { byteOutput: boolean }) {
    net ??= await startLocalNetwork();
    await worker?.kill();
    const model = await registerImageInputDet(net, { byteOutput });
    const { tensor } = await imageToDetInput(`${IMAGES}doc.png`, { dtype: "uint8" });
    const input = encodeTensorBlob([tensor]);
    assert.equal(input.length, 1_228_833);
    const name = byteOutput ? "byte-output" : "image-input";
    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: model.modelId, path: model.path }],
      dataDir: net.tempDir(`${name}-worker-`),
      key: net.keys.provider,
      secret: `${name}-e2e-secret-00000001`,
    });
    const { jobId } = await postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: model.modelId,
      input,
      fee: FEE,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    const result = await waitForResult({ publicClient: net.publicClient, market: net.deployment.market, jobId, timeoutMs: 240_000 });
    assert.equal(result.final, true);
    assert.equal(result.record.job.status, JobStatus.Finalized);

    const session = await ort.InferenceSession.create(model.bytes, { ...DEFAULT_SESSION_OPTIONS, executionProviders: ["cpu"] });
    try {
      const output = session.outputNames[0]!;
      const direct = (await session.run({ image: new ort.Tensor("uint8", tensorToArray(tensor) as Uint8Array, [...tensor.dims]) }))[output]!;
      const dtype = byteOutput ? "uint8" : "float32";
      const expected = encodeTensorBlob([tensorFromArray({ name: output, dtype, values: direct.data as Float32Array | Uint8Array, dims: [...direct.dims] })]);
      const policy = toleranceFromChain(byteOutput ? BYTE_OUTPUT_TOLERANCE_ON_CHAIN : DEVNET_TOLERANCE);
      const judged = compareOutputs({ expected, actual: result.output, policy });
      assert.equal(judged.verdict, "agree", JSON.stringify(judged));
      const served = decodeTensorBlob(result.output);
      assert.deepEqual(served.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })), [{ name: output, dtype, dims: [1, 1, 640, 640] }]);
      const [map] = readDetOutput(served[0]!);
      assert.ok(map!.textFraction > 0 && map!.box !== undefined, `det found no text in doc.png: ${JSON.stringify(map)}`);
      return { output, bytes: result.output.length };
    } finally {
      await session.release();
    }
  }

  it("serves a 1.2 MB uint8 det job with an output that agrees with a direct run of the wrapped model under its tolerance, and finds the text", async function () {
    this.timeout(300_000);
    const served = await serveDocJob({ byteOutput: false });
    assert.deepEqual(served, { output: "sigmoid_0.tmp_0", bytes: 1_638_443 });
  });

  it("serves the same job on det answering in bytes too (model byte-output): a 0.4 MB uint8 result within one step of a direct run, final on chain", async function () {
    this.timeout(300_000);
    const served = await serveDocJob({ byteOutput: true });
    assert.deepEqual(served, { output: "sigmoid_0.tmp_0_uint8", bytes: 409_649 });
  });
});
