/**
 * `offchain/sdk/replicas.ts` and the client's redundant jobs, on the protocol as Ignition deploys it
 * (in-process chain): the post (cost, constraints as the contract stores them, the total pulled, the
 * allowance), and the wait for a majority, with three providers committing and revealing by hand and serving
 * their outputs from a real HTTP server: it returns once two of three agree, with bytes checked against the
 * root, refuses bytes that do not match, and says why when no majority will come.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { after, before, describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, erc20Abi, getAddress, keccak256, maxUint256, parseEther, parseEventLogs, toHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { replicaMarketAbi } from "../../offchain/chain/abis.js";
import { chainFor } from "../../offchain/chain/clients.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { encodeRegion, EXECUTION_PROVIDER_BITS } from "../../offchain/chain/profiles.js";
import { ReplicaStatus } from "../../offchain/chain/replicas.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { commitment } from "../../offchain/codec/commitment.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, encodeTensorBlob, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { DinferError, NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { createDinferClient } from "../../offchain/sdk/client.js";
import { postReplicatedJob, replicaConstraints, replicaJobCost, waitForReplicatedResult } from "../../offchain/sdk/replicas.js";
import { PrivateHostRefusedError } from "../../offchain/storage/errors.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import { deploySystem, deploymentOf, LOCAL_PARAMETERS, modelSpec, PRICE_FLOOR, ROLE_PROVIDER, setUpMarket, stake, stakeVerifiers, type Connection } from "../helpers/fixture.js";
import { LOCAL_MARKET_PARAMS, type Wallet } from "../helpers/market.js";

const connection = await network.create();
const { networkHelpers } = connection;

const DEV_MNEMONIC = "test test test test test test test test test test test junk";
/** The dApp: a local account (TxSender signs in process), none of the fixture's or the verifiers' wallets. */
const user = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 19 });
const UPLOAD_TOKEN = "sdk-replicas-upload-token-01";
const REGION = "eu-west";
const ZERO_HASH: Hex = `0x${"00".repeat(32)}`;

const input = () => ({ tensors: [tensorFromArray({ name: "x", dtype: "float32", values: [1, 2, 3, 4], dims: [1, 4] })] });
const output = (values: number[]) => encodeTensorBlob([tensorFromArray({ name: "softmax_0.tmp_0", dtype: "float32", values: Float32Array.from(values), dims: [1, 2] })]);
/** Each seat's committee reserve under the local terms: committeeSize x voterRewardBps of the fee. */
const LOCAL_VERIFICATION = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal.verificationParams as { committeeSize: number; voterRewardBps: number };
const reserveOf = (fee: bigint) => (fee * BigInt(LOCAL_VERIFICATION.committeeSize) * BigInt(LOCAL_VERIFICATION.voterRewardBps)) / 10_000n;
const RIGHT = output([0.25, 0.75]);
const WRONG = output([0.9, 0.1]);
const OTHER = output([0.5, 0.5]);

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  await stakeVerifiers(conn, sys, 5);
  // Three providers (the fixture's provider is staked already), each declaring a GPU in eu-west for model 1.
  for (const w of [sys.provider2, sys.stranger]) await stake(sys, w.account.address, parseEther("1000"), ROLE_PROVIDER);
  for (const w of [sys.provider, sys.provider2, sys.stranger]) {
    await sys.profiles.write.setProfile([encodeRegion(REGION), EXECUTION_PROVIDER_BITS.gpu, 4, [1], "", ZERO_HASH], { account: w.account });
  }
  await sys.market.write.fundAuditPool([parseEther("1000")], { account: sys.dapp.account });
  await sys.token.write.mint([user.address, parseEther("1000")]);
  return sys;
}

/** Serves registered bytes at /out/<name> over real HTTP: each provider's output location. */
async function outputServer() {
  const served = new Map<string, Uint8Array>();
  const server: Server = createServer((request, response) => {
    const bytes = served.get(request.url ?? "");
    if (!bytes) return void response.writeHead(404).end("not found");
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length }).end(Buffer.from(bytes));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    serve(name: string, bytes: Uint8Array) {
      served.set(`/out/${name}`, bytes);
      return `${base}/out/${name}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
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

describe("sdk/replicas: redundant jobs", () => {
  let blobServer: BlobServer;
  let blobDir: string;
  let outputs: Awaited<ReturnType<typeof outputServer>>;

  before(async () => {
    blobDir = mkdtempSync(path.join(tmpdir(), "dinfer-sdk-replicas-"));
    blobServer = await startBlobServer({ store: new LocalBlobStore({ dir: blobDir }), port: 0, uploadToken: UPLOAD_TOKEN, closeGraceMs: 200 });
    outputs = await outputServer();
  });

  after(async () => {
    await outputs?.close();
    await blobServer?.close();
    rmSync(blobDir, { recursive: true, force: true });
  });

  async function load() {
    const sys = await networkHelpers.loadFixture(deployed);
    const sent: string[] = [];
    const transport = custom({
      request: ({ method, params }: { method: string; params?: unknown }) => {
        if (method === "eth_sendRawTransaction") sent.push(method);
        return connection.provider.request({ method, params: params as unknown[] });
      },
    });
    const chain = chainFor({ chainId: 31337, rpcUrl: "http://in-process.invalid" });
    const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 });
    const walletClient = createWalletClient({ chain, transport, account: user, cacheTime: 0, pollingInterval: 20 });
    // A new sender per test: a fixture snapshot rewinds the nonces a kept sender would remember.
    const sender = new TxSender({ publicClient, walletClient, receiptPollingIntervalMs: 10 });
    const deployment: Deployment = deploymentOf(sys);
    // The fixture's model is a hash without a file: there is no declared input to check against.
    const client = createDinferClient({ publicClient, sender, deployment, upload: { serverUrl: blobServer.url, token: UPLOAD_TOKEN }, checkInput: false });
    const rm = sys.replicaMarket;
    const chainId = await publicClient.getChainId();
    const providers = [sys.provider, sys.provider2, sys.stranger] as [Wallet, Wallet, Wallet];
    const saltOf = (id: bigint, w: Wallet) => keccak256(toHex(`salt ${id} ${w.account.address}`));
    const send = async (tx: Promise<Hex>) => sys.publicClient.waitForTransactionReceipt({ hash: await tx });
    /** A provider commits blind to the root of `bytes`. */
    const commitAs = (id: bigint, w: Wallet, bytes: Uint8Array) =>
      send(rm.write.commit([id, commitment({ chainId, jobMarket: rm.address, jobId: id, provider: w.account.address, outputRoot: outputRoot(bytes), salt: saltOf(id, w) })], { account: w.account }));
    /** A provider reveals the root of `bytes` and where it serves them (`served`: what it actually serves, by default the same bytes). */
    const revealAs = (id: bigint, w: Wallet, bytes: Uint8Array, { served = bytes, name = `${id}-${w.account.address}` }: { served?: Uint8Array; name?: string } = {}) =>
      send(rm.write.reveal([id, outputRoot(bytes), saltOf(id, w), outputs.serve(name, served)], { account: w.account }));
    const settle = async (id: bigint) => {
      await networkHelpers.mine(LOCAL_MARKET_PARAMS.seedDelay + 1);
      return send(rm.write.settle([id], { account: sys.keeper.account }));
    };
    const balance = (address: Hex) => sys.token.read.balanceOf([address]);
    const allowance = () => publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "allowance", args: [user.address, deployment.replicaMarket] });
    return { sys, rm, client, sender, publicClient, deployment, providers, commitAs, revealAs, settle, balance, allowance, sent };
  }

  describe("cost and constraints", () => {
    it("costs k x (fee + committee reserve), the fee the model's floor by default, and refuses k outside 2..5 or a fee under the floor", async () => {
      const { client, publicClient, deployment } = await load();
      assert.deepEqual(await client.replicaJobCost({ modelId: 1, replicas: 3 }), {
        replicas: 3,
        feePerReplica: PRICE_FLOOR,
        reservePerSeat: reserveOf(PRICE_FLOOR),
        total: (PRICE_FLOOR + reserveOf(PRICE_FLOOR)) * 3n,
      });
      const fee = parseEther("2.5");
      assert.deepEqual(await replicaJobCost({ publicClient, deployment, modelId: 1, replicas: 2, feePerReplica: fee }), {
        replicas: 2,
        feePerReplica: fee,
        reservePerSeat: reserveOf(fee),
        total: (fee + reserveOf(fee)) * 2n,
      });
      assert.equal((await rejection(client.replicaJobCost({ modelId: 1, replicas: 6 }))).code, "REPLICAS_INVALID");
      assert.equal((await rejection(client.replicaJobCost({ modelId: 1, replicas: 1 }))).code, "REPLICAS_INVALID");
      assert.equal((await rejection(client.replicaJobCost({ modelId: 1, replicas: 3, feePerReplica: PRICE_FLOOR - 1n }))).code, "FEE_BELOW_FLOOR");
    });

    it("encodes constraints as the contract takes them and refuses what it would revert on", () => {
      const a = getAddress("0x00000000000000000000000000000000000000a1");
      const b = getAddress("0x00000000000000000000000000000000000000b2");
      assert.deepEqual(replicaConstraints({ allowlist: [a.toLowerCase() as Hex, b], region: REGION, executionProviders: ["cpu", "gpu"], minReputation: 0.9 }, 2), {
        allowlist: [a, b],
        region: encodeRegion(REGION),
        executionProviders: EXECUTION_PROVIDER_BITS.cpu | EXECUTION_PROVIDER_BITS.gpu,
        minReputationPpm: 900_000,
      });
      assert.deepEqual(replicaConstraints(undefined, 3), { allowlist: [], region: "0x0000000000000000", executionProviders: 0, minReputationPpm: 0 });
      const bad = (c: Parameters<typeof replicaConstraints>[0]) => assert.throws(() => replicaConstraints(c, 3), (e: DinferError) => e.code === "BAD_CONSTRAINTS");
      bad({ allowlist: [a, b] }); // fewer than the seats
      bad({ allowlist: [a, a, b] });
      bad({ minReputation: 1.5 });
      bad({ minReputation: Number.NaN });
      assert.throws(() => replicaConstraints({ region: "far too long a region" }, 3), (e: DinferError) => e.code === "BAD_REGION");
    });
  });

  describe("posting", () => {
    it("posts k = 3 seats with its constraints: ReplicaJobPosted carries them, k x (fee + reserve) is pulled, the market approved for exactly that", async () => {
      const { sys, client, providers, balance, allowance, sent } = await load();
      const allowlist = providers.map((w) => getAddress(w.account.address));
      const fee = parseEther("2");
      const before = { user: await balance(user.address), market: await balance(sys.replicaMarket.address) };
      assert.equal(await allowance(), 0n);
      const posted = await client.postReplicatedJob({
        modelId: 1,
        input: input(),
        replicas: 3,
        feePerReplica: fee,
        claimWithinSeconds: 300,
        constraints: { allowlist, region: REGION, executionProviders: ["gpu"], minReputation: 0.75 },
      });
      const total = (fee + reserveOf(fee)) * 3n;
      assert.equal(posted.total, total);
      assert.equal(posted.feePerReplica, fee);
      assert.equal(posted.reservePerSeat, reserveOf(fee));
      assert.equal(sent.length, 2, "an approval, then the post");
      assert.equal(await allowance(), 0n, "approved for exactly the total, which the post spent");
      assert.equal(await balance(user.address), before.user - total);
      assert.equal(await balance(sys.replicaMarket.address), before.market + total);

      const receipt = await sys.publicClient.getTransactionReceipt({ hash: posted.txHash });
      const [event] = parseEventLogs({ abi: replicaMarketAbi, logs: receipt.logs, eventName: "ReplicaJobPosted" });
      assert.ok(event);
      const args = event.args;
      assert.equal(args.replicaJobId, posted.replicaJobId);
      assert.equal(args.modelId, 1n);
      assert.equal(getAddress(args.poster), getAddress(user.address));
      assert.equal(args.replicas, 3n);
      assert.equal(args.feePerReplica, fee);
      assert.equal(args.claimBy, posted.claimBy);
      assert.equal(args.inputHash, posted.inputHash);
      assert.equal(args.inputHash, blobId(posted.input));
      assert.match(args.inputURI, /^http:\/\/127\.0\.0\.1:\d+\/blobs\/0x/, "uploaded: a redundant job has no inline input");
      assert.deepEqual(
        { ...args.constraints, allowlist: args.constraints.allowlist.map((a) => getAddress(a)) },
        { allowlist, region: encodeRegion(REGION), executionProviders: EXECUTION_PROVIDER_BITS.gpu, minReputationPpm: 750_000 },
      );
      const record = await client.readReplicaJob(posted.replicaJobId);
      assert.equal(record.status, ReplicaStatus.Open);
      assert.deepEqual(record.constraints.allowlist.map((a) => getAddress(a)), allowlist);
    });

    it("sends no approval when the allowance covers the total, and picks the model's floor as the fee", async () => {
      const { client, sender, deployment, publicClient, allowance, sent } = await load();
      await sender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [deployment.replicaMarket, maxUint256] });
      sent.length = 0;
      const posted = await postReplicatedJob({ sender, publicClient, deployment, modelId: 1, input: input(), replicas: 2, upload: { serverUrl: blobServer.url, token: UPLOAD_TOKEN } });
      assert.equal(sent.length, 1, "the post alone");
      assert.equal(posted.total, (PRICE_FLOOR + reserveOf(PRICE_FLOOR)) * 2n);
      assert.equal(await allowance(), maxUint256);
      assert.equal((await client.readReplicaJob(posted.replicaJobId)).replicas, 2);
    });

    it("refuses a redundant job whose model's lower collateral falls due before its claim deadline, before sending anything", async () => {
      const { sys, sender, deployment, publicClient, sent } = await load();
      await sys.registry.write.update([1n, modelSpec({ minCollateral: 1n })], { account: sys.owner.account });
      const [, effectiveAt] = await sys.registry.read.pendingCollateral([1n]);
      const upload = { serverUrl: blobServer.url, token: UPLOAD_TOKEN };
      const error = await rejection(postReplicatedJob({ sender, publicClient, deployment, modelId: 1, input: input(), replicas: 2, upload, claimBy: effectiveAt }));
      assert.equal(error.code, "COLLATERAL_DROPS");
      assert.equal(sent.length, 0);
    });

    it("refuses an input it cannot put at a URI, and claimBy with claimWithinSeconds, before sending anything", async () => {
      const { sender, deployment, publicClient, sent } = await load();
      const base = { sender, publicClient, deployment, modelId: 1, input: input(), replicas: 3 };
      assert.equal((await rejection(postReplicatedJob(base))).code, "INPUT_NEEDS_URI");
      assert.equal((await rejection(postReplicatedJob({ ...base, inputURI: "http://x/y", claimBy: 10n, claimWithinSeconds: 5 }))).code, "BAD_CLAIM_BY");
      assert.equal(sent.length, 0);
    });
  });

  describe("waiting for the majority", () => {
    it("returns as soon as two of three seats reveal one root, with the bytes they serve; the third's differing root changes nothing", async () => {
      const { client, providers, commitAs, revealAs, settle } = await load();
      const [p1, p2, p3] = providers;
      const { replicaJobId } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 3 });
      await commitAs(replicaJobId, p1, RIGHT);
      await commitAs(replicaJobId, p2, WRONG);
      await commitAs(replicaJobId, p3, RIGHT);
      await revealAs(replicaJobId, p1, RIGHT);
      await revealAs(replicaJobId, p2, WRONG);
      const early = await rejection(client.waitForReplicatedResult(replicaJobId, { timeoutMs: 100, pollMs: 20 }));
      assert.equal(early.code, "JOB_WAIT_TIMEOUT", "one root each: no majority yet");

      await revealAs(replicaJobId, p3, RIGHT);
      const result = await client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 });
      assert.deepEqual(result.output, RIGHT);
      assert.equal(result.outputRoot, outputRoot(RIGHT));
      assert.equal(result.agreeing, 2);
      assert.equal(result.final, false, "not settled yet");
      assert.equal(result.record.status, ReplicaStatus.Open);
      assert.deepEqual(Array.from(tensorToArray(result.tensors()[0]!) as Float32Array), [0.25, 0.75]);

      // Settled: the disagreement sends every seat to a committee; the majority's output is still the answer.
      await settle(replicaJobId);
      const after = await client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 });
      assert.equal(after.record.status, ReplicaStatus.Disputed);
      assert.equal(after.final, false);
      assert.deepEqual(after.output, RIGHT);
      assert.ok(after.record.seats.every((seat) => seat.jobId !== 0n), "each seat became a JobMarket job");
    });

    it("returns before the last seat reveals, and once settled Agreed says it is final", async () => {
      const { client, providers, commitAs, revealAs, settle } = await load();
      const { replicaJobId } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 3 });
      for (const w of providers) await commitAs(replicaJobId, w, RIGHT);
      await revealAs(replicaJobId, providers[0], RIGHT);
      await revealAs(replicaJobId, providers[1], RIGHT);
      const early = await client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 });
      assert.equal(early.agreeing, 2);
      assert.equal(early.record.revealed, 2);
      assert.equal(early.final, false);
      await revealAs(replicaJobId, providers[2], RIGHT);
      await settle(replicaJobId);
      const settled = await client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 });
      assert.equal(settled.record.status, ReplicaStatus.Agreed);
      assert.equal(settled.final, true);
      assert.equal(settled.agreeing, 3);
      assert.deepEqual(settled.output, RIGHT);
    });

    it("refuses the agreeing seats' locations on 127.0.0.1 unread with allowPrivateHosts off (each provider chose its own), and reads them on the devnet by default", async () => {
      const { client, providers, commitAs, revealAs, publicClient, deployment } = await load();
      const { replicaJobId, blockNumber } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 2 });
      for (const w of providers.slice(0, 2)) await commitAs(replicaJobId, w, RIGHT);
      for (const w of providers.slice(0, 2)) await revealAs(replicaJobId, w, RIGHT);
      const error = await rejection(waitForReplicatedResult({ publicClient, deployment, replicaJobId, fromBlock: blockNumber, timeoutMs: 5_000, pollMs: 20, allowPrivateHosts: false }));
      assert.equal(error.code, "OUTPUT_NOT_SERVED", "every location refused for good: not worth waiting for");
      assert.ok(error instanceof NonRetryableError && !(error instanceof RetryableError));
      assert.ok(error.cause instanceof PrivateHostRefusedError);
      assert.equal(error.message.match(/PrivateHostRefusedError: private host refused: 127\.0\.0\.1 is a private address \(loopback\)/g)?.length, 2, "both seats' locations");
      // The client leaves it to the chain id: 31337, the devnet, where providers serve on 127.0.0.1.
      assert.deepEqual((await client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 })).output, RIGHT);
    });

    it("takes the output from another agreeing seat when one serves bytes that do not match the root", async () => {
      const { client, providers, commitAs, revealAs } = await load();
      const { replicaJobId } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 2 });
      for (const w of providers.slice(0, 2)) await commitAs(replicaJobId, w, RIGHT);
      await revealAs(replicaJobId, providers[0], RIGHT, { served: OTHER });
      await revealAs(replicaJobId, providers[1], RIGHT);
      const result = await client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 });
      assert.deepEqual(result.output, RIGHT);
    });

    it("refuses a served output whose root is not the majority's", async () => {
      const { client, providers, commitAs, revealAs } = await load();
      const { replicaJobId } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 2 });
      for (const w of providers.slice(0, 2)) await commitAs(replicaJobId, w, RIGHT);
      // Both seats reveal the right root but point at one location serving other bytes.
      for (const w of providers.slice(0, 2)) await revealAs(replicaJobId, w, RIGHT, { served: WRONG, name: `${replicaJobId}-shared` });
      const error = await rejection(client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(error.code, "OUTPUT_ROOT_MISMATCH");
      assert.equal(error.details?.expected, outputRoot(RIGHT));
      assert.equal(error.details?.actual, outputRoot(WRONG));

      // Each at its own location, both wrong: no location served it.
      const second = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 2 });
      for (const w of providers.slice(0, 2)) await commitAs(second.replicaJobId, w, RIGHT);
      for (const w of providers.slice(0, 2)) await revealAs(second.replicaJobId, w, RIGHT, { served: WRONG });
      const again = await rejection(client.waitForReplicatedResult(second.replicaJobId, { timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(again.code, "OUTPUT_NOT_SERVED");
      assert.match(again.message, /does not match the root/);
    });
  });

  describe("when no majority comes", () => {
    it("says a job nobody took expired, before and after it is settled", async () => {
      const { client, publicClient, deployment, settle, sys } = await load();
      const posted = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 3, claimWithinSeconds: 60 });
      await networkHelpers.time.increase(61);
      await networkHelpers.mine();
      const error = await rejection(waitForReplicatedResult({ publicClient, deployment, replicaJobId: posted.replicaJobId, fromBlock: posted.blockNumber, timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(error.code, "JOB_FAILED");
      assert.equal(error.details?.status, "expired");
      assert.match(error.message, /expired/);
      await settle(posted.replicaJobId);
      assert.equal((await sys.replicaMarket.read.replicaJob([posted.replicaJobId])).status, ReplicaStatus.Expired);
      const settled = await rejection(client.waitForReplicatedResult(posted.replicaJobId, { timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(settled.code, "JOB_FAILED");
      assert.equal(settled.details?.status, "expired");
      assert.equal(settled.details?.chainStatus, "expired");
    });

    it("says no majority is possible once three seats revealed three roots, and that it went to committees once settled", async () => {
      const { client, providers, commitAs, revealAs, settle } = await load();
      const { replicaJobId } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 3 });
      const roots = [RIGHT, WRONG, OTHER];
      for (const [i, w] of providers.entries()) await commitAs(replicaJobId, w, roots[i]!);
      for (const [i, w] of providers.entries()) await revealAs(replicaJobId, w, roots[i]!);
      const open = await rejection(client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(open.code, "JOB_FAILED");
      assert.equal(open.details?.status, "no-majority");
      await settle(replicaJobId);
      const disputed = await rejection(client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(disputed.details?.status, "disputed");
      assert.match(disputed.message, /committees as JobMarket jobs \d+, \d+, \d+/);
    });

    it("says no majority came when reveals closed with one of two seats revealed", async () => {
      const { client, providers, commitAs, revealAs, publicClient } = await load();
      const { replicaJobId } = await client.postReplicatedJob({ modelId: 1, input: input(), replicas: 2 });
      await commitAs(replicaJobId, providers[0], RIGHT);
      await commitAs(replicaJobId, providers[1], RIGHT);
      await revealAs(replicaJobId, providers[0], RIGHT);
      const record = await client.readReplicaJob(replicaJobId);
      const now = (await publicClient.getBlock()).timestamp;
      await networkHelpers.time.increase(Number(record.revealDeadline - now) + 1);
      await networkHelpers.mine();
      const error = await rejection(client.waitForReplicatedResult(replicaJobId, { timeoutMs: 5_000, pollMs: 20 }));
      assert.equal(error.code, "JOB_FAILED");
      assert.equal(error.details?.status, "no-majority");
      assert.match(error.message, /reveals closed/);
    });
  });
});
