/**
 * Signed job requests end to end: a dApp signs a PaddleOCR job off-chain with the SDK (`postSignedJob`) and
 * hands it to a real `dinfer worker` process (POST /jobs on its blob server); the worker runs it and posts it
 * with its commitment in one transaction of its own (JobMarket.postSignedAndCommit), reveals and finalizes
 * it, and the dApp gets the output checked against the root on-chain. Requests the worker must not take
 * (changed after signing, named for another provider, not covered by the deposit) are refused with the reason.
 *
 * Run alone: `npx hardhat test mocha test/e2e/worker-signed.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { decodeEventLog, erc20Abi, getAddress, zeroAddress } from "viem";

import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { encodeSignedJob, isSignedJobId, signJob } from "../../offchain/chain/signed-jobs.js";
import { createDinferClient } from "../../offchain/sdk/client.js";
import { blobId, encodeTensorBlob } from "../../offchain/codec/tensor.js";
import { imageToClsInput, readClsOutput } from "../../offchain/sdk/image.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "dinfer.js");

describe("dinfer worker takes signed job requests: SDK postSignedJob, worker process, one transaction per job", function () {
  let net: LocalNetwork;
  let worker: WorkerProcess | undefined;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
      dataDir: net.tempDir("worker-signed"),
      key: net.keys.provider,
      secret: randomBytes(32).toString("hex"),
    });
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.kill();
    await net?.stop();
  });

  it("runs a signed request, posts it with its commitment in one transaction, and the dApp gets the verified output", async function () {
    this.timeout(240_000);
    const client = createDinferClient({
      publicClient: net.publicClient,
      sender: net.dappSender,
      deployment: net.deployment,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    const posted = await client.postSignedJob({
      modelId: net.modelIds.cls,
      input: { image: `${IMAGES}line-1-rot180.png`, preprocess: "cls" },
      providerUrl: worker!.blobUrl,
      provider: getAddress(worker!.account),
    });
    const result = await client.waitForResult(posted.jobId, { timeoutMs: 180_000 });
    const [prediction] = readClsOutput(result.tensors()[0]!);
    assert.equal(prediction!.label, 180, `classified ${JSON.stringify(prediction)}\n${worker!.logs().slice(-3_000)}`);
    assert.equal(result.record.job.status, JobStatus.Finalized);
    assert.equal(getAddress(result.record.job.poster), getAddress(net.dappSender.address));

    // The job was posted and committed in one transaction, sent by the worker: the dApp sent none for it.
    const logs = await net.publicClient.getLogs({ address: net.deployment.market, fromBlock: posted.blockNumber });
    const events = logs
      .map((l) => ({ l, e: decodeEventLog({ abi: jobMarketAbi, data: l.data, topics: l.topics }) }))
      .filter(({ e }) => "jobId" in (e.args as object) && (e.args as { jobId: bigint }).jobId === posted.jobId);
    const postedLog = events.find(({ e }) => e.eventName === "JobPosted")!;
    const committedLog = events.find(({ e }) => e.eventName === "ResultCommitted")!;
    assert.equal(postedLog.l.transactionHash, committedLog.l.transactionHash, "posted and committed in one transaction");
    const tx = await net.publicClient.getTransaction({ hash: postedLog.l.transactionHash! });
    assert.equal(getAddress(tx.from), getAddress(worker!.account), "the worker sent it");
  });

  it("dinfer job post --to signs the job, hands it to the worker and waits for its result (CLI process)", async function () {
    this.timeout(240_000);
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-signed-cli-"));
    const config = path.join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: net.url, addresses: net.deployment }));
    const run = (args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, "--config", config, ...args],
          { cwd: ROOT, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", DINFER_PRIVATE_KEY: net.keys.dapp, DINFER_UPLOAD_TOKEN: net.uploadToken }, timeout: 200_000 },
          (error, stdout, stderr) => resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
        );
      });
    const posted = await run([
      "job", "post", "--model", String(net.modelIds.cls), "--input", `${IMAGES}line-2-rot180.png`, "--image", "cls", "--fee", "2",
      "--upload", net.blobServer.url, "--to", worker!.blobUrl, "--wait",
    ]);
    assert.equal(posted.status, 0, `${posted.stderr}\n${worker!.logs().slice(-2_000)}`);
    const jobId = BigInt(/signed job (\d+) taken by/.exec(posted.stdout)![1]!);
    assert.ok(isSignedJobId(jobId));
    const record = await readJob({ client: net.publicClient, market: net.deployment.market, jobId });
    assert.equal(record.job.status, JobStatus.Finalized);
    assert.equal(getAddress(record.job.provider), getAddress(worker!.account));

    // Its reputation, from the chain's events: the jobs it finalized, no fault.
    const status = await run(["provider", "status", "--address", worker!.account, "--history"]);
    assert.equal(status.status, 0, status.stderr);
    const finalized = Number(/^reputation \d\.\d{3}.*: (\d+) finalized, 0 expired, 0 slashed/m.exec(status.stdout)?.[1]);
    assert.ok(finalized >= 2, status.stdout);
    assert.match(status.stdout, new RegExp(`^  model ${net.modelIds.cls}: \\d+ finalized`, "m"));

    const misuse = await run(["job", "post", "--model", "1", "--input", "x", "--fee", "1", "--provider", worker!.account]);
    assert.equal(misuse.status, 1);
    assert.match(misuse.stderr, /--provider goes with --to/);
  });

  it("refuses requests changed after signing, named for another provider, or not covered by the deposit, saying why", async function () {
    this.timeout(60_000);
    const chainId = await net.publicClient.getChainId();
    const domain = { chainId, market: net.deployment.market };
    const now = (await net.publicClient.getBlock()).timestamp;
    const request = {
      modelId: BigInt(net.modelIds.cls),
      fee: 10n ** 18n,
      claimBy: now + 600n,
      inputHash: `0x${"00".repeat(32)}` as const,
      inputURI: "",
      // Refused before any fetch or run: the input is never looked at.
      inlineInput: "0x01" as const,
      callbackGasLimit: 0,
      inlineOutput: false,
    };
    const send = async (body: string) => {
      const response = await fetch(`${worker!.blobUrl}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body });
      return { status: response.status, body: (await response.json()) as { error: string; message: string } };
    };
    const me = getAddress(worker!.account);
    const forMe = { provider: me, minCollateral: 0n };
    // The worker says who it is (what a dApp signs a request for).
    const about = (await (await fetch(`${worker!.blobUrl}/jobs`)).json()) as { provider: string; chainId: number; market: string };
    assert.deepEqual([getAddress(about.provider), about.chainId, getAddress(about.market)], [me, chainId, getAddress(net.deployment.market)]);
    const signed = await signJob(net.dappSender, domain, request, forMe);
    const changed = await send(encodeSignedJob({ ...signed, request: { ...request, fee: request.fee * 2n } }));
    assert.equal(changed.status, 400);
    assert.match(changed.body.message, /signature is not the poster's/);

    const other = await send(encodeSignedJob(await signJob(net.dappSender, domain, request, { provider: getAddress(net.dappSender.address), minCollateral: 0n })));
    assert.equal(other.status, 400);
    assert.match(other.body.message, /is for provider .*; this worker is/);

    // One open to any provider is refused: a watcher could copy it from our pending post and post it first.
    const open = await send(encodeSignedJob(await signJob(net.dappSender, domain, request, { provider: zeroAddress, minCollateral: 0n })));
    assert.equal(open.status, 400);
    assert.match(open.body.message, /names no provider: name this worker/);

    const dear = await send(encodeSignedJob(await signJob(net.dappSender, domain, { ...request, fee: 10n ** 30n }, forMe)));
    assert.equal(dear.status, 400);
    assert.match(dear.body.message, /deposit .* does not cover the fee/);

    // A deposit that pays for one request pays for one: the second is refused while the first is not posted
    // (a poster cannot have us run more than it pays for, then withdraw).
    const { market } = net.deployment;
    await net.dappSender.send({ address: net.deployment.token, abi: erc20Abi, functionName: "approve", args: [market, request.fee] });
    await net.dappSender.send({ address: market, abi: jobMarketAbi, functionName: "deposit", args: [request.fee] });
    const held = await net.publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "deposits", args: [net.dappSender.address] });
    assert.equal(held, request.fee);
    // What only the market knows is checked by simulating the post: a claim deadline past the terms' maxClaimDelay.
    const far = await send(encodeSignedJob(await signJob(net.dappSender, domain, { ...request, claimBy: now + 10n ** 7n }, forMe)));
    assert.equal(far.status, 400);
    assert.match(far.body.message, /the market would refuse it: .*\(InvalidClaimBy\)/);

    // The first is a real job (a text line's input by URI): it stays ours until it is posted.
    const blob = encodeTensorBlob([await imageToClsInput(`${IMAGES}line-1.png`)]);
    const { url } = await uploadBlob({ serverUrl: net.blobServer.url, token: net.uploadToken, bytes: blob });
    const real = { ...request, inputURI: url, inputHash: blobId(blob), inlineInput: "0x" as const };
    const first = await send(encodeSignedJob(await signJob(net.dappSender, domain, real, { ...forMe, salt: 1n })));
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const second = await send(encodeSignedJob(await signJob(net.dappSender, domain, request, { ...forMe, salt: 2n })));
    assert.equal(second.status, 400);
    assert.match(second.body.message, /does not cover the fee/);

    const malformed = await send(JSON.stringify({ request: { modelId: "x" } }));
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.message, /request\.modelId is missing or malformed/);
  });
  // Last: the poster ends up refused by this worker for an hour.
  it("drops a signed request its poster cancels after the worker took it, and refuses that poster's next one", async function () {
    this.timeout(120_000);
    const chainId = await net.publicClient.getChainId();
    const domain = { chainId, market: net.deployment.market };
    const { market } = net.deployment;
    const fee = 10n ** 18n;
    await net.dappSender.send({ address: net.deployment.token, abi: erc20Abi, functionName: "approve", args: [market, fee] });
    await net.dappSender.send({ address: market, abi: jobMarketAbi, functionName: "deposit", args: [fee] });

    // The dApp's input server answers the worker's fetch only once the poster has cancelled: the worker
    // took the request and runs it with the cancel already on chain.
    const blob = encodeTensorBlob([await imageToClsInput(`${IMAGES}line-1.png`)]);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let fetched = 0;
    const inputServer = createServer((_request, response) => {
      fetched++;
      void released.then(() => response.end(Buffer.from(blob)));
    });
    await new Promise<void>((resolve) => inputServer.listen(0, "127.0.0.1", resolve));
    try {
      const now = (await net.publicClient.getBlock()).timestamp;
      const request = {
        modelId: BigInt(net.modelIds.cls),
        fee,
        claimBy: now + 600n,
        inputHash: blobId(blob),
        inputURI: `http://127.0.0.1:${(inputServer.address() as AddressInfo).port}/line-1`,
        inlineInput: "0x" as const,
        callbackGasLimit: 0,
        inlineOutput: false,
      };
      const signed = await signJob(net.dappSender, domain, request, { provider: getAddress(worker!.account), minCollateral: 0n, salt: 3n });
      const response = await fetch(`${worker!.blobUrl}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: encodeSignedJob(signed) });
      const answer = await response.text();
      assert.equal(response.status, 202, answer);
      const { jobId } = JSON.parse(answer) as { jobId: string };
      const client = createDinferClient({ publicClient: net.publicClient, sender: net.dappSender, deployment: net.deployment });
      await client.cancelSignedJob(signed);
      release();

      const ended = await worker!.waitForLine((line) => line.msg === "job ended" && line.job_id === jobId, `the end of job ${jobId}`, 90_000);
      assert.equal(ended.outcome, "dropped", JSON.stringify(ended));
      assert.match(String(ended.reason), /cancelled/);
      assert.ok(fetched >= 1, "the worker had taken the request and fetched its input");
      const stored = await net.publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "jobHash", args: [BigInt(jobId)] });
      assert.equal(BigInt(stored), 1n, "never posted: its slot holds the cancel marker");

      // Its poster made the worker run a request for nothing: its next request is refused, saying why.
      const next = await fetch(`${worker!.blobUrl}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: encodeSignedJob(await signJob(net.dappSender, domain, request, { provider: getAddress(worker!.account), minCollateral: 0n, salt: 4n })) });
      assert.equal(next.status, 400);
      assert.match(((await next.json()) as { message: string }).message, /could not be posted .* refused until/);
    } finally {
      release();
      inputServer.closeAllConnections();
      inputServer.close();
    }
  });
});
