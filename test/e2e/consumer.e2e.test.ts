/**
 * The example dApp contract end to end: `TextOrientationConsumer` (contracts/examples) deployed on a
 * real `hardhat node` process next to the protocol (Ignition), asking for the text orientation of
 * real images; `dinfer worker` runs as its own process with the real PaddleOCR cls model, and its
 * finalize delivers the inline output to the contract's callback. The orientation the contract
 * stores must be the one a direct onnxruntime run here gives (`readClsOutput`).
 *
 * Run alone: `npx hardhat test mocha test/e2e/consumer.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";
import { decodeEventLog, getAddress, maxUint256, type Abi, type Hex } from "viem";

import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, tensorToArray, type Tensor } from "../../offchain/codec/tensor.js";
import { imageToClsInput, readClsOutput, type ClsPrediction } from "../../offchain/sdk/image.js";
import { postedJobId } from "../../offchain/sdk/jobs.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { jobEvents as readJobEvents } from "../helpers/job-events.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const FEE = 2_000_000_000_000_000_000n; // 2 tokens, above the 1-token price floor
const CALLBACK_GAS = 50_000;
const LINES = ["line-1", "line-1-rot180", "line-2-rot180", "line-3"] as const;
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name]));
/** TextOrientationConsumer.RequestStatus. */
const RequestStatus = { Pending: 1, Resolved: 2, Failed: 3 } as const;

type Requested = { label: string; jobId: bigint; input: Tensor<"float32">; expected: ClsPrediction };

describe("TextOrientationConsumer end to end: a contract dApp gets a real worker's cls result by callback", function () {
  let net: LocalNetwork;
  let session: ort.InferenceSession;
  let worker: WorkerProcess | undefined;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
    session = await ort.InferenceSession.create(net.modelFiles.cls, { executionProviders: ["cpu"], intraOpNumThreads: 1 });
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.kill();
    await session?.release();
    await net?.stop();
  });

  it("stores, for each line, the orientation a direct onnxruntime run of the cls model gives", async function () {
    this.timeout(300_000);
    const { viem } = net.connection;
    const publicClient = await viem.getPublicClient();
    // The dApp (account #2) deploys its consumer and lets it pull fees; the node signs for its dev accounts.
    const dapp = await viem.getWalletClient(net.addresses.dapp);
    const consumer = await viem.deployContract(
      "TextOrientationConsumer",
      [net.deployment.market, net.deployment.token, BigInt(net.modelIds.cls), CALLBACK_GAS, session.outputNames[0]!],
      { client: { wallet: dapp } },
    );
    const token = await viem.getContractAt("DinferTestToken", net.deployment.token);
    await mined(token.write.approve([consumer.address, maxUint256], { account: net.addresses.dapp }));

    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
      dataDir: net.tempDir("consumer-worker"),
      key: net.keys.provider,
      secret: randomBytes(32).toString("hex"),
    });

    // 1. Each line: its input blob uploaded where the worker fetches it, the request posted through the contract.
    const requested: Requested[] = [];
    for (const label of LINES) {
      const input = await imageToClsInput(`${IMAGES}${label}.png`);
      const blob = encodeTensorBlob([input]);
      const { url } = await uploadBlob({ serverUrl: net.blobServer.url, token: net.uploadToken, bytes: blob });
      const claimBy = (await publicClient.getBlock()).timestamp + 600n;
      const receipt = await mined(
        consumer.write.requestOrientation([blobId(blob), url, FEE, claimBy], { account: net.addresses.dapp }),
      );
      const jobId = postedJobId(receipt.logs, net.deployment.market);
      requested.push({ label, jobId, input, expected: await directPrediction(input) });
    }
    assert.deepEqual(
      requested.map((r) => r.expected.label),
      LINES.map((label) => (label.endsWith("rot180") ? 180 : 0)),
      "the direct runs read the fixtures right",
    );

    // 2. The worker takes each job to Finalized; its finalize calls the contract back.
    for (const job of requested) await untilFinal(job);

    // 3. The contract stored the direct run's orientation, from the very output the worker revealed.
    const gasUsed: number[] = [];
    for (const job of requested) {
      const request = await consumer.read.requestOf([job.jobId]);
      assert.equal(request.status, RequestStatus.Resolved, `${job.label}: resolved (status ${request.status}, failure ${request.failure})`);
      assert.equal(request.degrees, job.expected.label, `${job.label}: the contract says ${request.degrees}, the direct run ${job.expected.label}`);
      assert.equal(await consumer.read.orientationOf([job.jobId]), job.expected.label);
      assert.equal(request.requester, getAddress(net.addresses.dapp));

      const record = await readJob({ client: net.publicClient, market: net.deployment.market, jobId: job.jobId });
      assert.equal(record.job.poster, getAddress(consumer.address));
      assert.ok(record.inlineOutput && record.inlineOutput !== "0x", `${job.label}: the cls output (43 bytes) was revealed inline`);
      const output = hexBytes(record.inlineOutput);
      assert.equal(outputRoot(output), record.job.result);
      const [probabilities] = decodeTensorBlob(output);
      const [revealed] = readClsOutput(probabilities!);
      assert.equal(revealed!.label, job.expected.label, `${job.label}: the revealed output agrees with the direct run`);
      assert.equal(request.confidenceBits, float32Bits(revealed!.probability), `${job.label}: the stored confidence is the revealed probability`);
      assert.ok(Math.abs(revealed!.probability - job.expected.probability) < 1e-4, `${job.label}: ${revealed!.probability} vs ${job.expected.probability}`);

      // The worker's finalize was the transaction that delivered it, and the callback did not fail.
      const events = await jobEvents(job.jobId);
      const finalized = events.find((e) => e.eventName === "JobFinalized")!;
      assert.equal(finalized.args.provider, worker.account);
      const finalizeTx = await publicClient.getTransaction({ hash: finalized.txHash });
      assert.equal(getAddress(finalizeTx.from), getAddress(worker.account));
      const finalizeReceipt = await publicClient.getTransactionReceipt({ hash: finalized.txHash });
      const consumerEvents = finalizeReceipt.logs
        .filter((log) => getAddress(log.address) === getAddress(consumer.address))
        .map((log) => decodeEventLog({ abi: consumer.abi as Abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] }));
      assert.deepEqual(consumerEvents.map((e) => e.eventName), ["OrientationResolved"], `${job.label}: the callback ran in the worker's finalize`);
      assert.ok(!events.some((e) => e.eventName === "CallbackFailed"), `${job.label}: no CallbackFailed`);
      gasUsed.push(Number(finalizeReceipt.gasUsed));
    }
    console.log(`      finalizeWithOutput with the callback, gasUsed per job: ${gasUsed.join(", ")}`);
    await worker.stop();
  });

  // ------------------------------------------------------------------ helpers

  async function mined(hash: Promise<Hex>) {
    const receipt = await (await net.connection.viem.getPublicClient()).waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  }

  /** The cls model run here, on the CPU, on the job's own input. */
  async function directPrediction(input: Tensor<"float32">): Promise<ClsPrediction> {
    const results = await session.run({ [input.name]: new ort.Tensor("float32", tensorToArray(input).slice(), input.dims) });
    const output = results[session.outputNames[0]!] as ort.Tensor;
    const [prediction] = readClsOutput({
      name: session.outputNames[0]!,
      dtype: "float32",
      dims: [...output.dims],
      data: new Uint8Array((output.data as Float32Array).slice().buffer),
    });
    return prediction!;
  }

  /** Polls until the job is Finalized; fails fast if it ends any other way. */
  async function untilFinal(job: Requested, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await statusOf(job.jobId);
      if (status === JobStatus.Finalized) return;
      if (status === JobStatus.Expired || status === JobStatus.Slashed || status === JobStatus.Disputed) {
        throw new Error(`job ${job.jobId} (${job.label}) ended ${STATUS_NAMES[status]}:\n${worker?.logs().slice(-4_000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`job ${job.jobId} (${job.label}) not final within ${timeoutMs} ms (${STATUS_NAMES[status ?? -1]}):\n${worker?.logs().slice(-4_000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async function statusOf(jobId: bigint): Promise<JobStatus | undefined> {
    try {
      return (await readJob({ client: net.publicClient, market: net.deployment.market, jobId })).job.status;
    } catch (error) {
      if ((error as { code?: string }).code === "JOB_STATE_MISMATCH") return undefined; // moved between reads: read again
      throw error;
    }
  }

  const jobEvents = (jobId: bigint) => readJobEvents({ client: net.publicClient, market: net.deployment.market, jobId });
});

function hexBytes(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}

function float32Bits(value: number): number {
  return new Uint32Array(Float32Array.of(value).buffer)[0]!;
}
