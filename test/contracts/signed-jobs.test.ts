/**
 * Signed job requests (JobMarket.postSignedAndCommit, offchain/chain/signed-jobs.ts): a dApp signs a request
 * off-chain (EIP-712), the provider that ran it posts it with its commitment in one transaction, the fee from
 * the dApp's deposit. Every rule with its error, and the attacker's best moves: replaying a request, posting it
 * with another poster's name, changing its fee, taking a request named for another provider, posting it on
 * another market or chain, and taking one without revealing.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, zeroAddress, type Hex } from "viem";

import { hashJob, JobStatus } from "../../offchain/chain/jobs.js";
import { isSignedJobId, signedJobArg, signedJobDigest, signedJobId, signJob, SIGNED_JOB_BIT, type SignedJob } from "../../offchain/chain/signed-jobs.js";
import { deploySystem, FEE, jobRequest, MODEL_COLLATERAL, modelSpec, setUpMarket, type Connection } from "../helpers/fixture.js";
import { NonRetryableError } from "../../offchain/errors.js";
import { waitForResult } from "../../offchain/sdk/jobs.js";
import { expiryPenalty, feeSplit, marketDriver, type Wallet } from "../helpers/market.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  await sys.market.write.deposit([FEE * 10n], { account: sys.dapp.account });
  return sys;
}

async function load() {
  const sys = await networkHelpers.loadFixture(deployed);
  const d = marketDriver({ connection, ...sys });
  const chainId = await sys.publicClient.getChainId();
  const domain = { chainId, market: sys.market.address };
  const signerOf = (wallet: Wallet) => ({
    address: wallet.account.address,
    signTypedData: (td: Parameters<Parameters<typeof signJob>[0]["signTypedData"]>[0]) => wallet.signTypedData({ account: wallet.account, ...td }),
  });
  const now = BigInt(await networkHelpers.time.latest());
  const sign = (
    overrides: Record<string, unknown> = {},
    { by = sys.dapp, provider = zeroAddress as Hex, salt = 7n, on = domain, minCollateral = MODEL_COLLATERAL } = {},
  ) => signJob(signerOf(by), on, jobRequest(1n, now + 600n, overrides) as never, { provider, salt, minCollateral });
  const commitmentFor = (jobId: bigint, by: Wallet = sys.provider) => d.commitmentOf(jobId, { ...outputOf(jobId), by });
  const post = async (signed: SignedJob, by: Wallet = sys.provider) => {
    const jobId = signedJobId(domain, signed);
    return sys.market.write.postSignedAndCommit([signedJobArg(signed), signed.signature, await commitmentFor(jobId, by)], { account: by.account });
  };
  return { ...sys, d, domain, sign, post, signerOf };
}

const outputOf = (jobId: bigint) => ({
  outputRoot: `0x${(jobId % 2n ** 200n).toString(16).padStart(64, "1")}` as Hex,
  salt: `0x${"ab".repeat(32)}` as Hex,
});

describe("JobMarket: signed job requests", () => {
  it("posts the job under its digest's id and commits the provider's result in one transaction, the fee from the deposit", async () => {
    const { market, staking, dapp, provider, d, domain, sign, post } = await load();
    const signed = await sign();
    const jobId = signedJobId(domain, signed);
    assert.equal(await market.read.signedJobDigest([signedJobArg(signed)]), signedJobDigest(domain, signed));
    assert.equal(jobId, BigInt(signedJobDigest(domain, signed)) | SIGNED_JOB_BIT);
    assert.ok(isSignedJobId(jobId));
    const countBefore = await market.read.jobCount();
    const depositBefore = await market.read.deposits([dapp.account.address]);
    const hash = await post(signed);
    await d.jobs.send(hash);
    await assertions.emitWithArgs(hash, market, "JobPosted", [
      jobId, 1n, getAddress(dapp.account.address), signed.request.inputURI, "0x", FEE, signed.request.claimBy, 0, false, MODEL_COLLATERAL, signed.request.inputHash, 1,
    ]);
    const job = d.jobs.job(jobId);
    assert.equal(job.status, JobStatus.Committed);
    assert.equal(getAddress(job.provider), getAddress(provider.account.address));
    assert.equal(await market.read.jobHash([jobId]), hashJob(job));
    assert.equal(await market.read.deposits([dapp.account.address]), depositBefore - FEE, "the fee came out of the deposit");
    assert.equal(await market.read.jobCount(), countBefore, "a signed job takes no sequential id");
    assert.equal((await staking.read.account([provider.account.address])).locked, MODEL_COLLATERAL);
  });

  it("goes on as any committed job: revealed, finalized, the provider paid and its collateral unlocked", async () => {
    const { market, staking, provider, d, domain, sign, post } = await load();
    const signed = await sign();
    const jobId = signedJobId(domain, signed);
    await d.jobs.send(post(signed));
    // The driver's reveal uses its own output for the id: commit that one.
    await d.reveal(jobId, outputOf(jobId));
    const credits = await market.read.credits([provider.account.address]);
    await d.finalize(jobId);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    assert.equal((await market.read.credits([provider.account.address])) - credits, feeSplit(FEE).payout);
    assert.equal((await staking.read.account([provider.account.address])).locked, 0n);
  });

  it("posts a request once: a replay, by the same provider or another, reverts SignedJobUsed", async () => {
    const { market, d, domain, sign, post } = await load();
    const signed = await sign();
    const jobId = signedJobId(domain, signed);
    await d.jobs.send(post(signed));
    await assertions.revertWithCustomErrorWithArgs(post(signed), market, "SignedJobUsed", [jobId]);
    // Even once the job ended, the request stays spent.
    await d.reveal(jobId, outputOf(jobId));
    await d.finalize(jobId);
    await assertions.revertWithCustomErrorWithArgs(post(signed), market, "SignedJobUsed", [jobId]);
  });

  it("two requests that differ only in their salt are two jobs", async () => {
    const { d, domain, sign, post } = await load();
    const a = await sign({}, { salt: 1n });
    const b = await sign({}, { salt: 2n });
    assert.notEqual(signedJobId(domain, a), signedJobId(domain, b));
    await d.jobs.send(post(a));
    await d.jobs.send(post(b));
    assert.equal(d.jobs.job(signedJobId(domain, b)).status, JobStatus.Committed);
  });

  it("refuses a request whose signature is not the named poster's (BadJobSignature): nobody spends another's deposit", async () => {
    const { market, dapp, keeper, sign, post } = await load();
    // The keeper signs, and names the dApp (whose deposit is there) as the poster.
    const forged = { ...(await sign({}, { by: keeper })), poster: getAddress(dapp.account.address) };
    await assertions.revertWithCustomErrorWithArgs(post(forged), market, "BadJobSignature", [getAddress(dapp.account.address)]);
  });

  it("refuses a request changed after signing: a provider cannot raise its fee or swap its input (BadJobSignature)", async () => {
    const { market, dapp, sign, post } = await load();
    const signed = await sign();
    for (const change of [{ fee: FEE * 2n }, { inputHash: `0x${"66".repeat(32)}` as Hex }, { claimBy: signed.request.claimBy + 1n }]) {
      const changed = { ...signed, request: { ...signed.request, ...change } };
      await assertions.revertWithCustomErrorWithArgs(post(changed), market, "BadJobSignature", [getAddress(dapp.account.address)]);
    }
    await assertions.revertWithCustomErrorWithArgs(post({ ...signed, salt: 8n }), market, "BadJobSignature", [getAddress(dapp.account.address)]);
    await assertions.revertWithCustomErrorWithArgs(post({ ...signed, minCollateral: 0n }), market, "BadJobSignature", [getAddress(dapp.account.address)]);
  });

  it("refuses a request signed for another market or chain (the EIP-712 domain)", async () => {
    const { market, dapp, domain, sign, post } = await load();
    for (const on of [{ ...domain, chainId: domain.chainId + 1 }, { ...domain, market: getAddress(dapp.account.address) }]) {
      const signed = await sign({}, { on });
      await assertions.revertWithCustomErrorWithArgs(post(signed), market, "BadJobSignature", [getAddress(dapp.account.address)]);
    }
  });

  it("a request named for one provider is posted by it only (SignedJobForAnotherProvider): a mempool watcher cannot take it", async () => {
    const { market, provider, keeper, d, sign, post } = await load();
    const signed = await sign({}, { provider: getAddress(provider.account.address) });
    await assertions.revertWithCustomErrorWithArgs(post(signed, keeper), market, "SignedJobForAnotherProvider", [
      getAddress(provider.account.address),
      getAddress(keeper.account.address),
    ]);
    await d.jobs.send(post(signed, provider));
  });

  it("refuses a request the poster's deposit does not cover (InsufficientDeposit), and a claim deadline already past", async () => {
    const { market, dapp, sign, post } = await load();
    const held = await market.read.deposits([dapp.account.address]);
    const tooDear = await sign({ fee: held + 1n });
    await assertions.revertWithCustomErrorWithArgs(post(tooDear), market, "InsufficientDeposit", [getAddress(dapp.account.address), held, held + 1n]);
    const late = await sign();
    await networkHelpers.time.increaseTo(late.request.claimBy);
    await assertions.revertWithCustomError(post(late), market, "InvalidClaimBy");
  });

  it("a provider that owns the model cannot lower its collateral for the signed job: under notice the job carries the old one, after it CollateralBelowSigned", async () => {
    const { market, registry, provider, d, domain, sign, post } = await load();
    // The provider registers model 2 (it owns it); the dApp signs for its collateral as it is.
    const hash = `0x${"22".repeat(32)}` as Hex;
    const asOwner = { account: provider.account };
    await registry.write.register([modelSpec({ modelHash: hash })], asOwner);
    const forProvider = { provider: getAddress(provider.account.address) };
    const signed = await sign({ modelId: 2n }, forProvider);
    // Its best move: collateral down to 1 wei right before its post. The decrease waits out its notice.
    await registry.write.update([2n, modelSpec({ modelHash: hash, minCollateral: 1n })], asOwner);
    await d.jobs.send(post(signed));
    assert.equal(d.jobs.job(signedJobId(domain, signed)).collateral, MODEL_COLLATERAL);
    // Once the decrease is in force, a request signed for the old collateral is refused.
    const [, effectiveAt] = await registry.read.pendingCollateral([2n]);
    await networkHelpers.time.increaseTo(effectiveAt);
    const later = await sign({ modelId: 2n, claimBy: effectiveAt + 600n }, { ...forProvider, salt: 8n });
    await assertions.revertWithCustomErrorWithArgs(post(later), market, "CollateralBelowSigned", [1n, MODEL_COLLATERAL]);
    // Raised above what was signed is fine: the job carries the model's collateral as it is at post.
    await registry.write.update([2n, modelSpec({ modelHash: hash, minCollateral: MODEL_COLLATERAL * 2n })], asOwner);
    await d.jobs.send(post(later));
    assert.equal(d.jobs.job(signedJobId(domain, later)).collateral, MODEL_COLLATERAL * 2n);
  });

  it("its poster cancels a request nobody posted: it can never be posted; a stranger cannot cancel it, nor anyone once posted", async () => {
    const { market, dapp, keeper, d, domain, sign, post } = await load();
    const signed = await sign();
    const jobId = signedJobId(domain, signed);
    await assertions.revertWithCustomErrorWithArgs(market.write.cancelSignedJob([signedJobArg(signed)], { account: keeper.account }), market, "NotPoster", [getAddress(keeper.account.address)]);
    const hash = await market.write.cancelSignedJob([signedJobArg(signed)], { account: dapp.account });
    await assertions.emitWithArgs(hash, market, "SignedJobCancelled", [jobId, getAddress(dapp.account.address)]);
    await assertions.revertWithCustomErrorWithArgs(post(signed), market, "SignedJobUsed", [jobId]);
    await assertions.revertWithCustomErrorWithArgs(market.write.cancelSignedJob([signedJobArg(signed)], { account: dapp.account }), market, "SignedJobUsed", [jobId]);
    // A posted one cannot be cancelled (its fee is in escrow, its provider at work).
    const other = await sign({}, { salt: 99n });
    await d.jobs.send(post(other));
    await assertions.revertWithCustomErrorWithArgs(market.write.cancelSignedJob([signedJobArg(other)], { account: dapp.account }), market, "SignedJobUsed", [signedJobId(domain, other)]);
    // The cancelled slot holds no job: nothing can act on it.
    await assertions.revertWithCustomError(market.write.finalize([jobId, d.jobs.job(signedJobId(domain, other))], { account: keeper.account }), market, "JobMismatch");
  });

  it("waitForResult on a signed request nobody posted: not retryable before its claimBy (cancel first), failed after it", async () => {
    const { market, publicClient, dapp, domain, sign } = await load();
    const signed = await sign();
    const jobId = signedJobId(domain, signed);
    const wait = (claimBy?: bigint) => waitForResult({ publicClient, market: market.address, jobId, timeoutMs: 300, pollMs: 50, claimBy });
    await assert.rejects(wait(signed.request.claimBy), (e: NonRetryableError) => e instanceof NonRetryableError && e.code === "SIGNED_JOB_PENDING" && /cancel it/.test(e.message));
    // Cancelled: said at once, never "wait longer".
    const cancelled = await sign({}, { salt: 5n });
    await market.write.cancelSignedJob([signedJobArg(cancelled)], { account: dapp.account });
    await assert.rejects(
      waitForResult({ publicClient, market: market.address, jobId: signedJobId(domain, cancelled), timeoutMs: 5_000, pollMs: 50 }),
      (e: NonRetryableError) => e.code === "JOB_FAILED" && /cancelled by its poster/.test(e.message),
    );
    await networkHelpers.time.increaseTo(signed.request.claimBy + 1n);
    await networkHelpers.mine(1);
    await assert.rejects(wait(signed.request.claimBy), (e: NonRetryableError) => e.code === "JOB_FAILED" && /never will be, and nothing was paid/.test(e.message));
  });

  it("a provider that posts a signed job and never reveals loses the expiry penalty; the poster gets the fee back and the penalty", async () => {
    const { market, staking, dapp, provider, keeper, d, domain, sign, post } = await load();
    const signed = await sign();
    const jobId = signedJobId(domain, signed);
    await d.jobs.send(post(signed));
    await d.waitForSeed(jobId);
    await d.pastDeadline(jobId);
    const stakeBefore = (await staking.read.account([provider.account.address])).stake;
    const [, sampled] = await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock, 1n]);
    await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
    const lost = stakeBefore - (await staking.read.account([provider.account.address])).stake;
    const penalty = sampled ? MODEL_COLLATERAL : expiryPenalty(MODEL_COLLATERAL);
    assert.equal(lost, penalty);
    const toPoster = sampled ? expiryPenalty(MODEL_COLLATERAL) : penalty;
    assert.equal(await market.read.credits([dapp.account.address]), FEE + toPoster);
    assert.ok(lost > feeSplit(FEE).payout, "withholding costs more than the honest payout would have earned");
  });
});
