/**
 * `offchain/sdk/client.ts`, the dApp client, on the protocol as Ignition deploys it (in-process
 * chain): its own logic (input forms, the fee checked against the registry before anything is sent,
 * a read-only client, where log reads start) and the verification it promises (outputs checked
 * against the on-chain root, failed jobs reported). The provider side is driven by hand through
 * `test/helpers/market.ts`; real workers run in `test/e2e/`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { network } from "hardhat";
import { after, before, describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, parseEther, toHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { chainFor } from "../../offchain/chain/clients.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { JobStatus } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { DinferError, NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { createDinferClient, jobInputBlob, type CreateDinferClientParameters } from "../../offchain/sdk/client.js";
import { imageToClsInput, imageToDetInput } from "../../offchain/sdk/image.js";
import { waitForResult } from "../../offchain/sdk/jobs.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { deploySystem, deploymentOf, modelSpec, PRICE_FLOOR, setUpMarket, type Connection } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";
import { countingServer, refused } from "../helpers/private-hosts.js";

const connection = await network.create();
const { networkHelpers } = connection;

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
/** ignition/parameters/local.json, which the fixture deploys (sampling off). */
const LOCAL = JSON.parse(readFileSync(fileURLToPath(new URL("../../ignition/parameters/local.json", import.meta.url)), "utf8")).DinferLocal as {
  marketParams: Record<string, number>;
  verificationParams: Record<string, string | number>;
};
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
/** The SDK's user: a local account (TxSender signs in process), beyond the fixture's eight wallets. */
const user = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 9 });
const UPLOAD_TOKEN = "sdk-test-upload-token-0123";

/** A small output blob, as a provider would reveal it inline. */
const smallOutput = (values: number[] = [0.25, 0.75]) =>
  encodeTensorBlob([tensorFromArray({ name: "softmax_0.tmp_0", dtype: "float32", values: Float32Array.from(values), dims: [1, 2] })]);
/** A small input: inline (<= 4096 bytes). */
const smallInput = () => ({ tensors: [tensorFromArray({ name: "x", dtype: "float32", values: [1, 2, 3, 4], dims: [1, 4] })] });

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  await sys.token.write.mint([user.address, parseEther("1000")]);
  return sys;
}

/**
 * viem clients over the in-process chain, recording every JSON-RPC call (method and params). `chainId`: the node
 * answers eth_chainId with it (a chain other than the devnet, for what the SDK decides by the chain id).
 */
function clientsOver(conn: Connection, { chainId }: { chainId?: number } = {}) {
  const calls: { method: string; params: unknown }[] = [];
  const transport = custom({
    request: ({ method, params }: { method: string; params?: unknown }) => {
      calls.push({ method, params });
      if (method === "eth_chainId" && chainId !== undefined) return Promise.resolve(toHex(chainId));
      return conn.provider.request({ method, params: params as unknown[] });
    },
  });
  const chain = chainFor({ chainId: 31337, rpcUrl: "http://in-process.invalid" });
  const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 });
  const walletClient = createWalletClient({ chain, transport, account: user, cacheTime: 0, pollingInterval: 20 });
  return { publicClient, walletClient, calls };
}

async function rejection(promise: Promise<unknown>): Promise<DinferError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DinferError, `expected a DinferError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

describe("sdk/client", () => {
  let blobServer: BlobServer;
  let blobDir: string;

  before(async () => {
    blobDir = mkdtempSync(path.join(tmpdir(), "dinfer-sdk-test-"));
    blobServer = await startBlobServer({ store: new LocalBlobStore({ dir: blobDir }), port: 0, uploadToken: UPLOAD_TOKEN, closeGraceMs: 200 });
  });

  after(async () => {
    await blobServer?.close();
    rmSync(blobDir, { recursive: true, force: true });
  });

  /** A fresh deployment (snapshot), a client for the user and a driver for the provider side. */
  async function load(overrides: Partial<CreateDinferClientParameters> = {}) {
    const sys = await networkHelpers.loadFixture(deployed);
    const { publicClient, walletClient, calls } = clientsOver(connection);
    // A new sender per test: a fixture snapshot rewinds the nonces a kept sender would remember.
    const sender = new TxSender({ publicClient, walletClient, receiptPollingIntervalMs: 10 });
    const deployment: Deployment = deploymentOf(sys);
    const client = createDinferClient({
      publicClient,
      sender,
      deployment,
      upload: { serverUrl: blobServer.url, token: UPLOAD_TOKEN },
      // The fixture's models are hashes without files: the input check (test/offchain/tensor-json.test.ts,
      // test/e2e/cli-dapp.e2e.test.ts) has nothing to read here.
      checkInput: false,
      ...overrides,
    });
    const d = marketDriver({ connection, ...sys });
    /** Posts through the client and lets the driver track the job. */
    async function post(parameters: Parameters<typeof client.postJob>[0] = { modelId: 1, input: smallInput() }) {
      const posted = await client.postJob(parameters);
      await d.jobs.send(posted.txHash);
      return posted;
    }
    return { ...sys, client, sender, publicClient, walletClient, calls, deployment, d, post };
  }

  describe("job inputs", () => {
    it("passes a blob through untouched", async () => {
      const blob = new Uint8Array([1, 2, 3]);
      assert.equal(await jobInputBlob({ blob }), blob);
    });

    it("encodes tensors as the canonical blob, sorted by name", async () => {
      const a = tensorFromArray({ name: "a", dtype: "int32", values: [7], dims: [] });
      const b = tensorFromArray({ name: "b", dtype: "float32", values: [1, 2], dims: [2] });
      const blob = await jobInputBlob({ tensors: [b, a] });
      assert.deepEqual(blob, encodeTensorBlob([a, b]));
      assert.deepEqual(decodeTensorBlob(blob).map((t) => t.name), ["a", "b"]);
    });

    it("turns text-line images into the cls model's input, one row each", async () => {
      const lines = [`${IMAGES}line-1.png`, `${IMAGES}line-2-rot180.png`];
      const blob = await jobInputBlob({ image: lines, preprocess: "cls" });
      assert.deepEqual(blob, encodeTensorBlob([await imageToClsInput(lines)]));
      const [x] = decodeTensorBlob(blob);
      assert.deepEqual([x!.name, x!.dtype, x!.dims], ["x", "float32", [2, 3, 48, 192]]);
    });

    it("turns an image into the det model's input with the options given", async () => {
      const blob = await jobInputBlob({ image: `${IMAGES}doc.png`, preprocess: "det", options: { size: 64 } });
      assert.deepEqual(blob, encodeTensorBlob([(await imageToDetInput(`${IMAGES}doc.png`, { size: 64 })).tensor]));
      assert.deepEqual(decodeTensorBlob(blob)[0]!.dims, [1, 3, 64, 64]);
      // dtype "uint8": the image's bytes, for det made by withImageInput; a quarter of the float blob's data.
      const bytes = await jobInputBlob({ image: `${IMAGES}doc.png`, preprocess: "det", options: { size: 64, dtype: "uint8" } });
      const [image] = decodeTensorBlob(bytes);
      assert.deepEqual([image!.name, image!.dtype, image!.dims], ["image", "uint8", [1, 3, 64, 64]]);
      assert.deepEqual(bytes, encodeTensorBlob([(await imageToDetInput(`${IMAGES}doc.png`, { size: 64, dtype: "uint8" })).tensor]));
    });

    it("rejects an input of no known form", async () => {
      const error = await rejection(jobInputBlob({ image: "x.png", preprocess: "ocr" } as never));
      assert.ok(error instanceof NonRetryableError);
      assert.equal(error.code, "BAD_JOB_INPUT");
    });
  });

  describe("postJob", () => {
    it("posts a small input inline, paying the model's price floor when no fee is given", async () => {
      const { client, d, post } = await load();
      const posted = await post();
      const record = d.jobs.records.get(posted.jobId)!;
      assert.equal(posted.fee, PRICE_FLOOR);
      assert.equal(record.job.fee, PRICE_FLOOR);
      assert.equal(record.job.poster, user.address);
      assert.equal(record.inlineInput, toHex(posted.input));
      assert.equal(record.inputHash, blobId(posted.input));
      assert.equal(posted.inputURI, "");
      assert.equal(client.account, user.address);
    });

    it("posts a job that requires an inline output when asked, and one that does not by default", async () => {
      const { d, post } = await load();
      const required = await post({ modelId: 1, input: smallInput(), inlineOutput: true });
      const plain = await post();
      assert.equal(d.jobs.records.get(required.jobId)!.job.inlineOutput, true, "inlineOutput: true is posted");
      assert.equal(d.jobs.records.get(plain.jobId)!.job.inlineOutput, false, "the default is false");
    });

    it("refuses a claimWithin over the current terms' maxClaimDelay before sending anything", async () => {
      const { client, sender } = await load();
      const { maxClaimDelay } = (await client.terms()).market;
      assert.equal(maxClaimDelay, Number(LOCAL.marketParams.maxClaimDelay));
      const error = await rejection(client.postJob({ modelId: 1, input: smallInput(), claimWithin: maxClaimDelay + 1 }));
      assert.equal(error.code, "CLAIM_WITHIN_TOO_LONG");
      assert.deepEqual(error.details, { claimWithin: maxClaimDelay + 1, maxClaimDelay });
      assert.deepEqual([sender.stats().sent, sender.stats().simulatedReverts], [0, 0], "no transaction and no simulation");
    });

    it("uploads an image input over 4096 bytes and posts its URI", async () => {
      const { d, post } = await load();
      const posted = await post({ modelId: 1, input: { image: `${IMAGES}line-1-rot180.png`, preprocess: "cls" }, fee: parseEther("2") });
      assert.equal(posted.input.length, 110_621);
      assert.equal(posted.inputURI, `${blobServer.url}/blobs/${blobId(posted.input)}`);
      const record = d.jobs.records.get(posted.jobId)!;
      assert.deepEqual([record.inputURI, record.inputHash, record.inlineInput, record.job.fee], [posted.inputURI, blobId(posted.input), "0x", parseEther("2")]);
      const served = new Uint8Array(await (await fetch(posted.inputURI)).arrayBuffer());
      assert.equal(blobId(served), posted.inputHash, "the blob server holds the input");
    });

    it("posts an input already stored elsewhere by its URI, uploading nothing", async () => {
      const { d, post } = await load({ upload: undefined });
      const input = await jobInputBlob({ image: `${IMAGES}line-1.png`, preprocess: "cls" });
      const posted = await post({ modelId: 1, input: { blob: input }, inputURI: "ipfs://bafy-line-1" });
      assert.equal(d.jobs.records.get(posted.jobId)!.inputURI, "ipfs://bafy-line-1");
    });

    it("refuses an input over 4096 bytes with nowhere to put it", async () => {
      const { client } = await load({ upload: undefined });
      const error = await rejection(client.postJob({ modelId: 1, input: { image: `${IMAGES}line-1.png`, preprocess: "cls" } }));
      assert.equal(error.code, "INPUT_NEEDS_URI");
    });

    it("refuses a fee below the price floor and an inactive model before sending anything", async () => {
      const { client, sender, registry, owner } = await load();
      const below = await rejection(client.postJob({ modelId: 1, input: smallInput(), fee: PRICE_FLOOR - 1n }));
      assert.equal(below.code, "FEE_BELOW_FLOOR");
      assert.deepEqual(below.details, { modelId: "1", fee: (PRICE_FLOOR - 1n).toString(), priceFloor: PRICE_FLOOR.toString() });
      assert.equal((await rejection(client.postJob({ modelId: 99, input: smallInput() }))).code, "MODEL_INACTIVE");
      await registry.write.setActive([1n, false], { account: owner.account });
      assert.equal((await rejection(client.postJob({ modelId: 1, input: smallInput() }))).code, "MODEL_INACTIVE");
      assert.deepEqual([sender.stats().sent, sender.stats().simulatedReverts], [0, 0], "no transaction and no simulation");
    });

    it("refuses to post while a lower collateral falls due before the job's claim deadline (COLLATERAL_DROPS), and posts when the window ends first", async () => {
      const { client, sender, registry, owner, d, post } = await load();
      const [, , collateral] = await registry.read.terms([1n]);
      await registry.write.update([1n, modelSpec({ minCollateral: 1n })], { account: owner.account });
      const [, effectiveAt] = await registry.read.pendingCollateral([1n]);
      await networkHelpers.time.increaseTo(effectiveAt - 120n);
      const sent = sender.stats().sent;
      const error = await rejection(client.postJob({ modelId: 1, input: smallInput(), claimWithin: 600 }));
      assert.equal(error.code, "COLLATERAL_DROPS");
      assert.match(error.message, /model 1's collateral drops from 100 DINF to 0\.000000000000000001 DINF at .*: a post landing after the drop would carry the lower collateral/);
      assert.equal(sender.stats().sent, sent, "nothing sent");
      // A claim window that ends before the drop: the job carries the collateral in force.
      const early = await post({ modelId: 1, input: smallInput(), claimWithin: 60 });
      assert.equal(d.jobs.records.get(early.jobId)!.job.collateral, collateral);
      // Once the drop is in force, posting is a choice made in the open.
      await networkHelpers.time.increaseTo(effectiveAt);
      const late = await post({ modelId: 1, input: smallInput(), claimWithin: 600 });
      assert.equal(d.jobs.records.get(late.jobId)!.job.collateral, 1n);
    });

    it("posts from a wallet client alone (a sender is made for it)", async () => {
      const { deployment, publicClient, walletClient, d } = await load();
      const client = createDinferClient({ publicClient, walletClient, deployment, checkInput: false });
      assert.equal(client.account, user.address);
      const posted = await client.postJob({ modelId: 1, input: smallInput(), fee: parseEther("3") });
      await d.jobs.send(posted.txHash);
      assert.equal(d.jobs.records.get(posted.jobId)!.job.fee, parseEther("3"));
    });

    it("refuses to post without a signer, but reads and waits all the same", async () => {
      const { deployment, publicClient, d, post } = await load();
      const readOnly = createDinferClient({ publicClient, deployment });
      assert.equal(readOnly.account, undefined);
      assert.equal((await rejection(readOnly.postJob({ modelId: 1, input: smallInput() }))).code, "NO_SIGNER");
      const { jobId } = await post();
      const output = smallOutput();
      await d.revealed(jobId, { inlineOutput: toHex(output) });
      await d.finalize(jobId);
      assert.deepEqual((await readOnly.waitForResult(jobId, { pollMs: 10 })).output, output);
    });
  });

  describe("terms", () => {
    it("reads the terms version a job is judged by, both halves, as the deployment set them", async () => {
      const { client, post } = await load();
      const { jobId } = await post();
      const record = await client.readJob(jobId);
      const terms = await client.terms(record.job.terms);
      assert.equal(terms.version, record.job.terms);
      assert.deepEqual(await client.terms(), terms, "the job got the current version");
      // The fixture's first version: local.json with sampling off.
      assert.equal(terms.market.samplingPpm, 0);
      for (const key of ["revealTimeout", "challengeWindow", "seedDelay", "auditLevyBps", "maxClaimDelay"] as const) {
        assert.equal(terms.market[key], Number(LOCAL.marketParams[key]), `market.${key}`);
      }
      assert.equal(terms.verification.auditCommitTimeout, Number(LOCAL.verificationParams.auditCommitTimeout));
      assert.equal(terms.verification.challengeBond, BigInt(LOCAL.verificationParams.challengeBond), "amounts as bigints");
      assert.equal(terms.verification.voterPenalty, BigInt(LOCAL.verificationParams.voterPenalty));
      assert.equal(terms.verification.recheckPpm, Number(LOCAL.verificationParams.recheckPpm));
      assert.equal(terms.verification.committeeSize, Number(LOCAL.verificationParams.committeeSize));
    });

    it("rejects a version never set", async () => {
      const { client } = await load();
      const error = await client.terms(99).then(
        () => assert.fail("expected a rejection"),
        (e: unknown) => e,
      );
      assert.match(String(error), /UnknownTerms/);
    });
  });

  describe("results", () => {
    it("waits until final and returns the inline output, verified, with its tensors", async () => {
      const { client, d, post } = await load();
      const { jobId } = await post();
      const output = smallOutput([0.1, 0.9]);
      await d.revealed(jobId, { inlineOutput: toHex(output) });
      const waiting = client.waitForResult(jobId, { pollMs: 10 });
      await d.finalize(jobId);
      const result = await waiting;
      assert.equal(result.final, true);
      assert.equal(result.record.job.status, JobStatus.Finalized);
      assert.deepEqual(result.output, output);
      assert.equal(result.outputRoot, outputRoot(output));
      const [probabilities] = result.tensors();
      assert.equal(probabilities!.name, "softmax_0.tmp_0");
      assert.deepEqual(Array.from(tensorToArray(probabilities as never) as Float32Array), [Math.fround(0.1), Math.fround(0.9)]);
      assert.equal(result.tensors(), result.tensors(), "decoded once");
    });

    it("returns a revealed result early with until: revealed", async () => {
      const { client, d, post } = await load();
      const { jobId } = await post();
      await d.revealed(jobId, { inlineOutput: toHex(smallOutput()) });
      const result = await client.waitForResult(jobId, { until: "revealed", pollMs: 10 });
      assert.deepEqual([result.final, result.record.job.status], [false, JobStatus.Revealed]);
    });

    it("fetches an output revealed by URI and checks it against the on-chain root", async () => {
      const { client, d, post } = await load();
      const output = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: new Float32Array(2_000), dims: [2_000] })]);
      const { url } = await uploadBlob({ serverUrl: blobServer.url, token: UPLOAD_TOKEN, bytes: output });
      const { jobId } = await post();
      await d.claim(jobId);
      await d.commit(jobId, { outputRoot: outputRoot(output) });
      await d.reveal(jobId, { outputURI: url });
      assert.deepEqual(await client.fetchOutput(jobId), output);
    });

    it("reads an output on 127.0.0.1 on the devnet only: on another chain it is refused unread, unless the client is told allowPrivateHosts", async () => {
      const { d, post, deployment } = await load();
      const output = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: new Float32Array(1_500), dims: [1_500] })]);
      const local = await countingServer(output);
      try {
        const { jobId } = await post();
        await d.claim(jobId);
        await d.commit(jobId, { outputRoot: outputRoot(output) });
        // The provider's choice of location: an address on the dApp server's own machine.
        await d.reveal(jobId, { outputURI: `${local.base}/outputs/${outputRoot(output)}` });
        const loopback = refused(/127\.0\.0\.1 is a private address \(loopback\)/);

        // The node says chain 31337: the devnet, where dApps and workers serve on 127.0.0.1, as the daemons read it.
        const devnet = clientsOver(connection).publicClient;
        assert.deepEqual(await createDinferClient({ publicClient: devnet, deployment }).fetchOutput(jobId), output);
        assert.equal(local.requests(), 1);

        // The node says chain 8453: the client's reads refuse it before any request, and so do the building blocks.
        const elsewhere = clientsOver(connection, { chainId: 8453 }).publicClient;
        const client = createDinferClient({ publicClient: elsewhere, deployment });
        await assert.rejects(client.fetchOutput(jobId), loopback);
        await assert.rejects(client.waitForResult(jobId, { until: "revealed", pollMs: 10 }), loopback);
        await assert.rejects(waitForResult({ publicClient: elsewhere, market: deployment.market, jobId, until: "revealed", pollMs: 10 }), loopback);
        await assert.rejects(createDinferClient({ publicClient: devnet, deployment, allowPrivateHosts: false }).fetchOutput(jobId), loopback, "told, even on the devnet");
        assert.equal(local.requests(), 1, "no request reached the server");

        // Told to (a provider on the dApp's own network), it reads it.
        assert.deepEqual(await createDinferClient({ publicClient: elsewhere, deployment, allowPrivateHosts: true }).fetchOutput(jobId), output);
        const result = await waitForResult({ publicClient: elsewhere, market: deployment.market, jobId, until: "revealed", pollMs: 10, allowPrivateHosts: true });
        assert.deepEqual(result.output, output);
        assert.equal(local.requests(), 3);
      } finally {
        await local.close();
      }
    });

    it("refuses an output whose bytes do not match the root the provider revealed", async () => {
      const { client, d, post } = await load();
      const served = smallOutput([0.9, 0.1]);
      const { url } = await uploadBlob({ serverUrl: blobServer.url, token: UPLOAD_TOKEN, bytes: served });
      const { jobId } = await post();
      await d.claim(jobId);
      await d.commit(jobId, { outputRoot: outputRoot(smallOutput([0.1, 0.9])) });
      await d.reveal(jobId, { outputURI: url });
      const error = await rejection(client.fetchOutput(jobId));
      assert.equal(error.code, "OUTPUT_ROOT_MISMATCH");
      assert.equal((await rejection(client.waitForResult(jobId, { until: "revealed", pollMs: 10 }))).code, "OUTPUT_ROOT_MISMATCH");
    });

    it("reports a job that expired, and a retryable timeout for one still open", async () => {
      const { client, market, keeper, d, post } = await load();
      const { jobId } = await post();
      const timeout = await rejection(client.waitForResult(jobId, { timeoutMs: 30, pollMs: 10 }));
      assert.ok(timeout instanceof RetryableError);
      assert.equal(timeout.code, "JOB_WAIT_TIMEOUT");
      await d.pastDeadline(jobId);
      await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      const failed = await rejection(client.waitForResult(jobId, { pollMs: 10 }));
      assert.ok(failed instanceof NonRetryableError);
      assert.equal(failed.code, "JOB_FAILED");
    });

    it("reads a job's events from the block it posted it in, and from block 0 for other jobs", async () => {
      const { client, dapp, calls, d, post } = await load();
      await networkHelpers.mine(5);
      const posted = await post();
      const other = await d.post({}, dapp);
      for (const jobId of [posted.jobId, other]) await d.revealed(jobId, { inlineOutput: toHex(smallOutput()) });
      assert.ok(posted.blockNumber > 5n);

      const fromBlocks = async (run: () => Promise<unknown>) => {
        const start = calls.length;
        await run();
        return new Set(calls.slice(start).filter((c) => c.method === "eth_getLogs").map((c) => (c.params as [{ fromBlock: Hex }])[0].fromBlock));
      };
      const until = "revealed" as const;
      assert.deepEqual(await fromBlocks(() => client.waitForResult(posted.jobId, { until })), new Set([toHex(posted.blockNumber)]));
      assert.deepEqual(await fromBlocks(() => client.fetchOutput(posted.jobId)), new Set([toHex(posted.blockNumber)]));
      assert.deepEqual(await fromBlocks(() => client.waitForResult(other, { until })), new Set(["0x0"]));
      assert.equal((await client.readJob(other)).job.poster.toLowerCase(), dapp.account.address.toLowerCase());
    });
  });
});
