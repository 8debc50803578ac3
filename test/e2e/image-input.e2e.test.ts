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

  it("serves a 1.2 MB uint8 det job with an output that agrees with a direct run of the wrapped model under its tolerance, and finds the text", async function () {
    this.timeout(300_000);
    net = await startLocalNetwork();
    const model = await registerImageInputDet(net);
    const { tensor } = await imageToDetInput(`${IMAGES}doc.png`, { dtype: "uint8" });
    const input = encodeTensorBlob([tensor]);
    assert.equal(input.length, 1_228_833);

    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: model.modelId, path: model.path }],
      dataDir: net.tempDir("image-input-worker-"),
      key: net.keys.provider,
      secret: "image-input-e2e-secret-0001",
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
      const direct = await session.run({ image: new ort.Tensor("uint8", tensorToArray(tensor) as Uint8Array, [...tensor.dims]) });
      const name = session.outputNames[0]!;
      const expected = encodeTensorBlob([tensorFromArray({ name, dtype: "float32", values: direct[name]!.data as Float32Array, dims: [...direct[name]!.dims] })]);
      const judged = compareOutputs({ expected, actual: result.output, policy: toleranceFromChain(DEVNET_TOLERANCE) });
      assert.equal(judged.verdict, "agree", JSON.stringify(judged));
      const served = decodeTensorBlob(result.output);
      const [map] = readDetOutput(served[0]!);
      assert.ok(map!.textFraction > 0 && map!.box !== undefined, `det found no text in doc.png: ${JSON.stringify(map)}`);
    } finally {
      await session.release();
    }
  });

  it("serves the same job on det answering in bytes too (model byte-output): a 0.4 MB uint8 result within one step of a direct run, final on chain", async function () {
    this.timeout(300_000);
    assert.ok(net !== undefined, "runs after the test above, on its network");
    await worker?.kill();
    const model = await registerImageInputDet(net, { byteOutput: true });
    const { tensor } = await imageToDetInput(`${IMAGES}doc.png`, { dtype: "uint8" });
    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: model.modelId, path: model.path }],
      dataDir: net.tempDir("byte-output-worker-"),
      key: net.keys.provider,
      secret: "byte-output-e2e-secret-00001",
    });
    const { jobId } = await postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: model.modelId,
      input: encodeTensorBlob([tensor]),
      fee: FEE,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    const result = await waitForResult({ publicClient: net.publicClient, market: net.deployment.market, jobId, timeoutMs: 240_000 });
    assert.equal(result.final, true);
    assert.equal(result.record.job.status, JobStatus.Finalized);
    const served = decodeTensorBlob(result.output);
    assert.deepEqual(served.map(({ name, dtype, dims }) => ({ name, dtype, dims })), [{ name: "sigmoid_0.tmp_0_uint8", dtype: "uint8", dims: [1, 1, 640, 640] }]);
    assert.ok(result.output.length < 640 * 640 + 100, `${result.output.length} bytes`);

    const session = await ort.InferenceSession.create(model.bytes, { ...DEFAULT_SESSION_OPTIONS, executionProviders: ["cpu"] });
    try {
      const direct = (await session.run({ image: new ort.Tensor("uint8", tensorToArray(tensor) as Uint8Array, [...tensor.dims]) }))["sigmoid_0.tmp_0_uint8"]!;
      const expected = encodeTensorBlob([tensorFromArray({ name: "sigmoid_0.tmp_0_uint8", dtype: "uint8", values: direct.data as Uint8Array, dims: [...direct.dims] })]);
      const judged = compareOutputs({ expected, actual: result.output, policy: toleranceFromChain(BYTE_OUTPUT_TOLERANCE_ON_CHAIN) });
      assert.equal(judged.verdict, "agree", JSON.stringify(judged));
      const [map] = readDetOutput(served[0]!);
      assert.ok(map!.textFraction > 0 && map!.box !== undefined, `det found no text in doc.png: ${JSON.stringify(map)}`);
    } finally {
      await session.release();
    }
  });
});
