/**
 * The example dApp in `contracts/examples/`: the `Float32PairBlob` decoder (through a test harness)
 * against blobs made by `offchain/codec/tensor.ts`, and `TextOrientationConsumer` on the protocol as
 * Ignition deploys it, with jobs driven through the real market (post, claim, commit, reveal inline,
 * finalize with the output). Also measures the callback's gas in a real finalize.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, keccak256, maxUint256, parseEther, toHex, zeroAddress, type Address, type Hex } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { decodeTensorBlob, elementCount, encodeTensorBlob, tensorFromArray, type Tensor } from "../../offchain/codec/tensor.js";
import { deploySystem, FEE, MODEL_COLLATERAL, setUpMarket, stakeVerifiers, type Connection } from "../helpers/fixture.js";
import { inlineRoot, marketDriver, type Wallet } from "../helpers/market.js";
import { VERIFICATION_PARAMS, verificationDriver, Vote } from "../helpers/verification.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

/** The ppocr cls model's output name, as onnxruntime reports it. */
const OUTPUT_NAME = "softmax_0.tmp_0";
const CALLBACK_GAS = 50_000;
/** Float32PairBlob.Status, by name. */
const Status = { Ok: 0, Truncated: 1, BadMagic: 2, NotOneTensor: 3, NotFloat32: 4, RankTooLarge: 5, NotTwoElements: 6, TrailingBytes: 7 } as const;
/** TextOrientationConsumer.RequestStatus and Failure. */
const Request = { None: 0, Pending: 1, Resolved: 2, Failed: 3, Refunded: 4 } as const;
const Failure = { None: 0, NoInlineOutput: 1, MalformedBlob: 2, WrongOutputName: 3, NotAProbability: 4 } as const;

/** The IEEE 754 bits of a float32 value (the value rounded to float32 first). */
const bitsOf = (value: number) => new Uint32Array(Float32Array.of(value).buffer)[0]!;
/** Float32 elements from raw bits, bit for bit (NaN payloads kept). */
const fromBits = (...bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);

/** A cls-like output blob: one float32 tensor, `[1, 2]` named softmax_0.tmp_0 unless told otherwise. */
function clsBlob(values: Float32Array | number[], { name = OUTPUT_NAME, dims = [1, 2] }: { name?: string; dims?: number[] } = {}): Uint8Array {
  const array = values instanceof Float32Array ? values : Float32Array.from(values);
  return encodeTensorBlob([tensorFromArray({ name, dtype: "float32", values: array, dims })]);
}

/** `blob` with `bytes` written at `offset` (a copy). */
function patched(blob: Uint8Array, offset: number, bytes: number[]): Uint8Array {
  const copy = blob.slice();
  copy.set(bytes, offset);
  return copy;
}

const hex = (bytes: Uint8Array): Hex => toHex(bytes);

// Byte offsets in a blob of one tensor named "softmax_0.tmp_0" (15 bytes) of rank 2.
const AT = { count: 4, nameLength: 8, name: 10, dtype: 25, rank: 26, dims: 27, data: 35, end: 43 } as const;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  const { modelId } = await setUpMarket(sys);
  const consumer = await conn.viem.deployContract("TextOrientationConsumer", [
    sys.market.address,
    sys.token.address,
    modelId,
    CALLBACK_GAS,
    OUTPUT_NAME,
  ]);
  await sys.token.write.approve([consumer.address, maxUint256], { account: sys.dapp.account });
  const harness = await conn.viem.deployContract("Float32PairBlobHarness");
  return { ...sys, consumer, harness };
}

async function load() {
  const sys = await networkHelpers.loadFixture(deployed);
  const d = marketDriver({ connection, ...sys });
  const { consumer, dapp } = sys;

  /** The dApp asks the consumer for an orientation; returns the job id. */
  async function request({ by = dapp, fee = FEE, inputHash = keccak256(toHex("cls input blob")) }: { by?: Wallet; fee?: bigint; inputHash?: Hex } = {}) {
    const claimBy = (await d.now()) + 600n;
    return d.posted(consumer.write.requestOrientation([inputHash, "http://127.0.0.1:8700/blobs/x", fee, claimBy], { account: by.account }));
  }

  /** A requested job run to Revealed with `output` inline, then finalized with it by the keeper. */
  async function finalizedWith(output: Uint8Array) {
    const jobId = await d.revealed(await request(), { inlineOutput: hex(output) });
    await d.pastDeadline(jobId);
    const receipt = await d.jobs.send(
      sys.market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), hex(output)], { account: sys.keeper.account }),
    );
    return { jobId, hash: receipt.transactionHash };
  }

  return { ...sys, d, request, finalizedWith };
}

/** What the full TypeScript decoder says about a blob, in the terms of Float32PairBlob. */
function reference(blob: Uint8Array): { ok: true; first: number; second: number; name: string } | { ok: false; nameOnly: boolean } {
  let tensors: Tensor[];
  try {
    tensors = decodeTensorBlob(blob);
  } catch (error) {
    // The Solidity decoder leaves UTF-8 to the caller's name check; everything else must agree.
    return { ok: false, nameOnly: /\.name$/.test((error as { field?: string }).field ?? "") };
  }
  const [tensor] = tensors;
  if (tensors.length !== 1 || tensor!.dtype !== "float32" || elementCount(tensor!.dims) !== 2n) return { ok: false, nameOnly: false };
  const view = new DataView(tensor!.data.buffer, tensor!.data.byteOffset, 8);
  return { ok: true, first: view.getUint32(0, true), second: view.getUint32(4, true), name: tensor!.name };
}

describe("examples: Float32PairBlob", () => {
  it("decodes a real-format cls output: name and both elements' bits", async () => {
    const { harness } = await load();
    const values = [0.9999926090240479, 0.000007357322374446085];
    const blob = clsBlob(values);
    assert.equal(blob.length, AT.end);
    const [status, name, first, second] = await harness.read.decode([hex(blob)]);
    assert.deepEqual([status, name, first, second], [Status.Ok, toHex(OUTPUT_NAME), bitsOf(values[0]!), bitsOf(values[1]!)]);
  });

  it("accepts any shape of two elements and any name, the empty one too", async () => {
    const { harness } = await load();
    for (const [name, dims] of [["", [2]], ["probs", [2, 1]], ["x", [1, 1, 2, 1, 1, 1, 1, 1]]] as const) {
      const [status, decodedName, first, second] = await harness.read.decode([hex(clsBlob([0.25, 0.75], { name, dims: [...dims] }))]);
      assert.deepEqual([status, decodedName, first, second], [Status.Ok, toHex(name), bitsOf(0.25), bitsOf(0.75)], `${name} [${dims}]`);
    }
  });

  it("names what is wrong in a malformed blob, without reverting", async () => {
    const { harness } = await load();
    const good = clsBlob([0.5, 0.5]);
    const two = encodeTensorBlob([
      tensorFromArray({ name: "a", dtype: "float32", values: [1, 0], dims: [1, 2] }),
      tensorFromArray({ name: "b", dtype: "float32", values: [1, 0], dims: [1, 2] }),
    ]);
    const int32 = encodeTensorBlob([tensorFromArray({ name: OUTPUT_NAME, dtype: "int32", values: [1, 0], dims: [1, 2] })]);
    const float64 = encodeTensorBlob([tensorFromArray({ name: OUTPUT_NAME, dtype: "float64", values: [1, 0], dims: [1, 2] })]);
    const cases: [string, Uint8Array, number][] = [
      ["empty", new Uint8Array(), Status.Truncated],
      ["three bytes of magic", good.slice(0, 3), Status.Truncated],
      ["wrong magic", patched(good, 0, [0x44, 0x54, 0x4e, 0x32]), Status.BadMagic],
      ["a JSON document", new TextEncoder().encode('{"label": 180}'), Status.BadMagic],
      ["magic only", good.slice(0, 4), Status.Truncated],
      ["no tensors", patched(good.slice(0, 8), AT.count, [0, 0, 0, 0]), Status.NotOneTensor],
      ["two tensors", two, Status.NotOneTensor],
      ["count 2^32-1", patched(good, AT.count, [0xff, 0xff, 0xff, 0xff]), Status.NotOneTensor],
      ["no name length", good.slice(0, 9), Status.Truncated],
      ["a name running past the end", patched(good, AT.nameLength, [0xff, 0xff]), Status.Truncated],
      ["int32", int32, Status.NotFloat32],
      ["float64", float64, Status.NotFloat32],
      ["unknown dtype 0", patched(good, AT.dtype, [0]), Status.NotFloat32],
      ["rank 9", patched(good, AT.rank, [9]), Status.RankTooLarge],
      ["rank 255", patched(good, AT.rank, [255]), Status.RankTooLarge],
      ["dims cut short", good.slice(0, AT.dims + 6), Status.Truncated],
      ["three elements", clsBlob([0.2, 0.3, 0.5], { dims: [1, 3] }), Status.NotTwoElements],
      ["a scalar", clsBlob([1], { dims: [] }), Status.NotTwoElements],
      ["a zero dim", clsBlob([], { dims: [0, 2] }), Status.NotTwoElements],
      ["dims whose product wraps to 2 in 32 bits", patched(good, AT.dims, [1, 0, 0, 0x80, 2, 0, 0, 0]), Status.NotTwoElements],
      ["data cut short", good.slice(0, AT.end - 1), Status.Truncated],
      ["a trailing byte", Uint8Array.from([...good, 0]), Status.TrailingBytes],
    ];
    for (const [what, blob, expected] of cases) {
      const [status, name, first, second] = await harness.read.decode([hex(blob)]);
      assert.deepEqual([status, name, first, second], [expected, "0x", 0, 0], what);
      assert.equal(reference(blob).ok, false, `${what}: the TypeScript decoder disagrees`);
    }
  });

  it("agrees with the TypeScript decoder on every truncation and every single-byte change of a real blob", async () => {
    const { harness } = await load();
    const good = clsBlob([0.018613358959555626, 0.9813866019248962]);
    const blobs: Uint8Array[] = [];
    for (let length = 0; length < good.length; length++) blobs.push(good.slice(0, length));
    for (let at = 0; at < good.length; at++) {
      // Name bytes stay ASCII: UTF-8 validity is the name check's business, not the decoder's.
      const values = at >= AT.name && at < AT.dtype ? [0x00, 0x41, 0x7f] : [0x00, 0x01, 0x02, 0x03, 0x09, 0x0f, 0x41, 0x80, 0xff];
      for (const value of values) if (good[at] !== value) blobs.push(patched(good, at, [value]));
    }
    let accepted = 0;
    for (const blob of blobs) {
      const [status, name, first, second] = await harness.read.decode([hex(blob)]);
      const expected = reference(blob);
      if (expected.ok) {
        accepted++;
        assert.deepEqual([status, name, first, second], [Status.Ok, toHex(expected.name), expected.first, expected.second], hex(blob));
      } else {
        assert.ok(expected.nameOnly || status !== Status.Ok, `accepted a blob the TypeScript decoder rejects: ${hex(blob)}`);
      }
    }
    // The changes inside the data, at least, decode: the comparison has both kinds of case.
    assert.ok(accepted >= 8 * 8, `${accepted} of ${blobs.length} variants decode`);
  });

  it("orders non-negative finite floats by their bits and refuses negatives, infinities and NaN", async () => {
    const { harness } = await load();
    const refused = [0xbf800000, 0x80000001, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff];
    for (const bits of refused) assert.deepEqual(await harness.read.orderKey([bits]), [false, 0], `0x${bits.toString(16)}`);
    assert.deepEqual(await harness.read.orderKey([0x80000000]), [true, 0], "negative zero is zero");
    // Zero, the smallest subnormal, the largest subnormal, the smallest normal, 1e-7, 0.5, 1, the largest finite.
    const ascending = [0, 1, 0x007fffff, 0x00800000, bitsOf(1e-7), bitsOf(0.5), bitsOf(1), 0x7f7fffff];
    const values = fromBits(...ascending);
    for (let i = 1; i < ascending.length; i++) assert.ok(values[i - 1]! < values[i]!, "the fixture itself ascends");
    for (const bits of ascending) assert.deepEqual(await harness.read.orderKey([bits]), [true, bits]);
  });
});

describe("examples: TextOrientationConsumer", () => {
  it("pulls the fee from the caller and posts a URI job with its callback gas, the consumer as poster", async () => {
    const { consumer, market, token, dapp, d, request } = await load();
    const before = await token.read.balanceOf([dapp.account.address]);
    const escrowBefore = await token.read.balanceOf([market.address]);
    const jobId = await request();
    const record = d.jobs.records.get(jobId)!;
    assert.equal(record.job.poster, getAddress(consumer.address));
    assert.equal(record.job.callbackGasLimit, CALLBACK_GAS);
    assert.equal(record.job.modelId, 1);
    assert.equal(record.job.inlineOutput, true, "the output must come inline, for the callback to decode it");
    assert.equal(record.inputHash, keccak256(toHex("cls input blob")));
    assert.equal(record.inputURI, "http://127.0.0.1:8700/blobs/x");
    assert.equal(await token.read.balanceOf([dapp.account.address]), before - FEE);
    assert.equal(await token.read.balanceOf([market.address]), escrowBefore + FEE);
    assert.equal(await token.read.balanceOf([consumer.address]), 0n, "nothing stays in the consumer");
    assert.deepEqual(await consumer.read.requestOf([jobId]), {
      requester: getAddress(dapp.account.address),
      status: Request.Pending,
      degrees: 0,
      confidenceBits: 0,
      failure: Failure.None,
    });
  });

  it("emits OrientationRequested with the requester, fee and input", async () => {
    const { consumer, market, dapp, d } = await load();
    const claimBy = (await d.now()) + 600n;
    const inputHash = keccak256(toHex("another input"));
    const hash = await consumer.write.requestOrientation([inputHash, "ipfs://bafy", FEE, claimBy], { account: dapp.account });
    await d.jobs.send(hash);
    const jobId = await market.read.jobCount();
    await assertions.emitWithArgs(hash, consumer, "OrientationRequested", [jobId, getAddress(dapp.account.address), FEE, inputHash, "ipfs://bafy"]);
  });

  it("reverts when the caller has not approved the fee", async () => {
    const { consumer, token, stranger, d } = await load();
    await token.write.mint([stranger.account.address, FEE]);
    await assertions.revertWithCustomError(
      consumer.write.requestOrientation([keccak256("0x01"), "ipfs://x", FEE, (await d.now()) + 600n], { account: stranger.account }),
      token,
      "ERC20InsufficientAllowance",
    );
  });

  for (const [label, probabilities, degrees] of [
    ["upright", [0.9999926090240479, 0.000007357322374446085], 0],
    ["upside down", [0.00015376636292785406, 0.9998462200164795], 180],
    ["a tie (to 0, like readClsOutput)", [0.5, 0.5], 0],
  ] as const) {
    it(`stores ${degrees} degrees for ${label} text`, async () => {
      const { consumer, market, dapp, finalizedWith } = await load();
      const { jobId, hash } = await finalizedWith(clsBlob([...probabilities]));
      const confidence = bitsOf(Math.max(...probabilities));
      await assertions.emitWithArgs(hash, consumer, "OrientationResolved", [jobId, getAddress(dapp.account.address), degrees, confidence]);
      assert.equal(await consumer.read.orientationOf([jobId]), degrees);
      assert.deepEqual(await consumer.read.requestOf([jobId]), {
        requester: getAddress(dapp.account.address),
        status: Request.Resolved,
        degrees,
        confidenceBits: confidence,
        failure: Failure.None,
      });
      const callbackFailed = await market.getEvents.CallbackFailed({ jobId }, { fromBlock: 0n });
      assert.equal(callbackFailed.length, 0);
    });
  }

  it("compares a subnormal with zero and negative zero with zero correctly", async () => {
    const { consumer, finalizedWith } = await load();
    const subnormal = await finalizedWith(clsBlob(fromBits(0x00000000, 0x00000001)));
    assert.equal(await consumer.read.orientationOf([subnormal.jobId]), 180);
    const negativeZero = await finalizedWith(clsBlob(fromBits(0x80000000, 0x00000000)));
    assert.equal(await consumer.read.orientationOf([negativeZero.jobId]), 0, "-0 ties with +0");
  });

  const rejected: [string, () => Uint8Array, number, number][] = [
    ["not a tensor blob", () => new TextEncoder().encode("180 degrees"), Failure.MalformedBlob, Status.BadMagic],
    ["three probabilities", () => clsBlob([0.1, 0.2, 0.7], { dims: [1, 3] }), Failure.MalformedBlob, Status.NotTwoElements],
    ["a float64 output", () => encodeTensorBlob([tensorFromArray({ name: OUTPUT_NAME, dtype: "float64", values: [0, 1], dims: [1, 2] })]), Failure.MalformedBlob, Status.NotFloat32],
    ["a trailing byte", () => Uint8Array.from([...clsBlob([0, 1]), 0]), Failure.MalformedBlob, Status.TrailingBytes],
    ["another model's output name", () => clsBlob([0, 1], { name: "sigmoid_0.tmp_0" }), Failure.WrongOutputName, Status.Ok],
    ["a NaN", () => clsBlob(fromBits(0x7fc00000, bitsOf(0.5))), Failure.NotAProbability, Status.Ok],
    ["a negative value", () => clsBlob([-2, -1]), Failure.NotAProbability, Status.Ok],
    ["an infinity", () => clsBlob([0, Infinity]), Failure.NotAProbability, Status.Ok],
  ];
  for (const [what, blob, failure, blobStatus] of rejected) {
    it(`records a failure, without reverting, for ${what}`, async () => {
      const { consumer, market, dapp, d, finalizedWith } = await load();
      const { jobId, hash } = await finalizedWith(blob());
      await assertions.emitWithArgs(hash, consumer, "OrientationFailed", [jobId, getAddress(dapp.account.address), failure, blobStatus]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized, "the job is final all the same");
      assert.equal((await market.getEvents.CallbackFailed({ jobId }, { fromBlock: 0n })).length, 0, "the callback did not revert");
      const stored = await consumer.read.requestOf([jobId]);
      assert.deepEqual([stored.status, stored.failure, stored.degrees], [Request.Failed, failure, 0]);
      await assertions.revertWithCustomErrorWithArgs(consumer.read.orientationOf([jobId]), consumer, "OrientationNotResolved", [jobId, Request.Failed]);
    });
  }

  it("posts with inlineOutput, so a provider cannot reveal by URI and leave the callback without the output", async () => {
    const { consumer, market, provider, d, request, finalizedWith } = await load();
    const jobId = await request();
    assert.equal(d.jobs.job(jobId).inlineOutput, true, "the JobPosted event carries inlineOutput: true");
    await d.committed(jobId);
    await d.waitForSeed(jobId);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.reveal(d.revealArgs(jobId, { outputURI: "http://127.0.0.1:8600/blobs/cls" }), { account: provider.account }),
      market,
      "InlineOutputRequired",
      [jobId],
    );
    assert.equal(d.jobs.job(jobId).status, JobStatus.Committed);
    // The same request revealed inline is resolved: the callback had the output.
    const resolved = await finalizedWith(clsBlob([0.25, 0.75]));
    assert.equal(await consumer.read.orientationOf([resolved.jobId]), 180);
  });

  it("reverts when anyone but the market calls onJobResult", async () => {
    const { consumer, stranger, dapp, request } = await load();
    const jobId = await request();
    const output = hex(clsBlob([0, 1]));
    for (const caller of [stranger, dapp]) {
      await assertions.revertWithCustomErrorWithArgs(
        consumer.write.onJobResult([jobId, inlineRoot(output), output], { account: caller.account }),
        consumer,
        "NotMarket",
        [getAddress(caller.account.address)],
      );
    }
    assert.equal((await consumer.read.requestOf([jobId])).status, Request.Pending);
  });

  it("reverts when called back for a job it did not post or already settled", async () => {
    const { consumer, market, finalizedWith } = await load();
    const { jobId } = await finalizedWith(clsBlob([1, 0]));
    await networkHelpers.impersonateAccount(market.address);
    await networkHelpers.setBalance(market.address, parseEther("1"));
    const output = hex(clsBlob([0, 1]));
    for (const [id, status] of [[jobId, Request.Resolved], [999n, Request.None]] as const) {
      await assertions.revertWithCustomErrorWithArgs(
        consumer.write.onJobResult([id, inlineRoot(output), output], { account: market.address }),
        consumer,
        "RequestNotPending",
        [id, status],
      );
    }
    assert.equal(await consumer.read.orientationOf([jobId]), 0, "the stored answer did not change");
  });

  it("reverts orientationOf while the job is pending", async () => {
    const { consumer, request } = await load();
    const jobId = await request();
    await assertions.revertWithCustomErrorWithArgs(consumer.read.orientationOf([jobId]), consumer, "OrientationNotResolved", [jobId, Request.Pending]);
  });

  it("refunds the requester's fee once the job expired, once", async () => {
    const { consumer, market, token, dapp, keeper, d, request } = await load();
    const jobId = await request();
    const before = await token.read.balanceOf([dapp.account.address]);
    await d.pastDeadline(jobId);
    await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
    const hash = await consumer.write.refund([jobId, d.jobs.job(jobId)], { account: keeper.account });
    await assertions.emitWithArgs(hash, consumer, "FeeRefunded", [jobId, getAddress(dapp.account.address), FEE]);
    assert.equal(await token.read.balanceOf([dapp.account.address]), before + FEE);
    assert.equal(await market.read.credits([consumer.address]), 0n);
    assert.equal((await consumer.read.requestOf([jobId])).status, Request.Refunded);
    await assertions.revertWithCustomErrorWithArgs(
      consumer.write.refund([jobId, d.jobs.job(jobId)], { account: keeper.account }),
      consumer,
      "RequestNotPending",
      [jobId, Request.Refunded],
    );
  });

  it("refunds a slashed job's fee and collects the poster's finder share from Verification", async () => {
    const sys = await load();
    const { consumer, market, verification, token, dapp, challenger, keeper, d, request } = sys;
    // Verifiers in the set before the job is committed: its committee is drawn from the set of its commit block.
    const { wallets } = await stakeVerifiers(connection, sys, 3);
    const v = verificationDriver({ connection, sys, d, wallets });
    const jobId = await d.revealed(await request(), { inlineOutput: hex(clsBlob([1, 0])) });
    await token.write.mint([challenger.account.address, VERIFICATION_PARAMS.challengeBond]);
    await token.write.approve([verification.address, VERIFICATION_PARAMS.challengeBond], { account: challenger.account });
    await d.jobs.send(verification.write.challenge([jobId, d.jobs.job(jobId)], { account: challenger.account }));
    await v.drawCommittee(jobId);
    await v.vote(jobId, (_member, _seats) => Vote.ProviderWrong);
    await v.resolve(jobId);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    // No auditor found the fault: the finder's share of the slash goes to the poster, this contract.
    const finderShare = (MODEL_COLLATERAL * BigInt(VERIFICATION_PARAMS.challengerRewardBps)) / 10_000n;
    assert.equal(await verification.read.credits([consumer.address]), finderShare);
    const before = await token.read.balanceOf([dapp.account.address]);
    await consumer.write.refund([jobId, d.jobs.job(jobId)], { account: keeper.account });
    assert.equal(await token.read.balanceOf([dapp.account.address]), before + FEE, "the requester gets its fee back");
    assert.equal(await verification.read.credits([consumer.address]), 0n, "nothing stays owed to the consumer in Verification");
    assert.equal(await market.read.credits([consumer.address]), 0n);
    assert.equal(await token.read.balanceOf([consumer.address]), finderShare, "the compensation is collected into the consumer");
  });

  it("refunds two expired requests from one withdrawal of the market credits", async () => {
    const { consumer, market, token, dapp, stranger, keeper, d, request } = await load();
    await token.write.mint([stranger.account.address, FEE]);
    await token.write.approve([consumer.address, FEE], { account: stranger.account });
    const first = await request();
    const second = await request({ by: stranger });
    await d.pastDeadline(second);
    for (const jobId of [first, second]) await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
    assert.equal(await market.read.credits([consumer.address]), 2n * FEE);
    const dappBefore = await token.read.balanceOf([dapp.account.address]);
    await consumer.write.refund([first, d.jobs.job(first)], { account: keeper.account });
    await consumer.write.refund([second, d.jobs.job(second)], { account: keeper.account });
    assert.equal(await token.read.balanceOf([dapp.account.address]), dappBefore + FEE);
    assert.equal(await token.read.balanceOf([stranger.account.address]), FEE);
    assert.equal(await token.read.balanceOf([consumer.address]), 0n);
  });

  it("reverts a refund for a job that is live, final, or described wrongly", async () => {
    const { consumer, keeper, d, request, finalizedWith } = await load();
    const live = await request();
    await assertions.revertWithCustomErrorWithArgs(
      consumer.write.refund([live, d.jobs.job(live)], { account: keeper.account }),
      consumer,
      "JobNotFailed",
      [live, JobStatus.Posted],
    );
    await assertions.revertWithCustomErrorWithArgs(
      consumer.write.refund([live, { ...d.jobs.job(live), status: JobStatus.Expired }], { account: keeper.account }),
      consumer,
      "JobStateMismatch",
      [live],
    );
    const { jobId: final } = await finalizedWith(clsBlob([0, 1]));
    await assertions.revertWithCustomErrorWithArgs(
      consumer.write.refund([final, d.jobs.job(final)], { account: keeper.account }),
      consumer,
      "RequestNotPending",
      [final, Request.Resolved],
    );
  });

  it("refuses a zero market or token and a zero callback gas limit", async () => {
    const { market, token } = await load();
    const deploy = (args: [Address, Address, bigint, number, string]) => viem.deployContract("TextOrientationConsumer", args);
    const consumer = await viem.deployContract("TextOrientationConsumer", [market.address, token.address, 1n, 1, OUTPUT_NAME]);
    await assertions.revertWithCustomError(deploy([zeroAddress, token.address, 1n, CALLBACK_GAS, OUTPUT_NAME]), consumer, "ZeroAddress");
    await assertions.revertWithCustomError(deploy([market.address, zeroAddress, 1n, CALLBACK_GAS, OUTPUT_NAME]), consumer, "ZeroAddress");
    await assertions.revertWithCustomError(deploy([market.address, token.address, 1n, 0, OUTPUT_NAME]), consumer, "ZeroCallbackGasLimit");
  });

  it("keeps the callback cheap: the gas onJobResult used inside a real finalize", async () => {
    const { consumer, publicClient, finalizedWith } = await load();
    const measured: Record<string, number> = {};
    for (const [what, output] of [
      ["resolved (180)", clsBlob([0.00015376636292785406, 0.9998462200164795])],
      ["resolved (0)", clsBlob([0.9999926090240479, 0.000007357322374446085])],
      ["failed (malformed)", patched(clsBlob([0, 1]), AT.rank, [9])],
      ["failed (NaN)", clsBlob(fromBits(0x7fc00000, 0))],
    ] as const) {
      const { hash } = await finalizedWith(output);
      const frame = findCall(await traceCalls(publicClient, hash), consumer.address);
      assert.ok(frame, `${what}: a call to the consumer in the finalize trace`);
      assert.equal(BigInt(frame.gas), BigInt(CALLBACK_GAS), "the market forwarded exactly the callback limit");
      measured[what] = Number(BigInt(frame.gasUsed));
    }
    console.log(`      onJobResult gas inside finalize (limit ${CALLBACK_GAS}): ${JSON.stringify(measured)}`);
    for (const [what, gas] of Object.entries(measured)) assert.ok(gas < 15_000, `${what}: ${gas} gas`);
  });
});

type CallFrame = { to?: string; gas: Hex; gasUsed: Hex; input: Hex; calls?: CallFrame[] };

/** The call tree of a mined transaction (EDR's debug_traceTransaction with geth's callTracer). */
async function traceCalls(client: { request: (args: never) => Promise<unknown> }, hash: Hex): Promise<CallFrame> {
  return (await client.request({ method: "debug_traceTransaction", params: [hash, { tracer: "callTracer" }] } as never)) as CallFrame;
}

/** The first call (depth first) to `to`. */
function findCall(frame: CallFrame, to: Address): CallFrame | undefined {
  if (frame.to?.toLowerCase() === to.toLowerCase()) return frame;
  for (const child of frame.calls ?? []) {
    const hit = findCall(child, to);
    if (hit) return hit;
  }
  return undefined;
}
