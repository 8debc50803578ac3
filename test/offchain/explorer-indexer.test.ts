/**
 * The explorer's indexer and views (offchain/explorer/) on a real local chain (the in-process Hardhat
 * network, the whole deployment through Ignition): jobs finalized, expired and slashed by a committee after a
 * challenge, a provider profile; what the views say is checked against the chain's own logs and state
 * (test/helpers/explorer-truth.ts), and the indexer against a reorg (evm_snapshot / evm_revert, then other
 * blocks at the same heights) and restarts on the same file (nothing counted twice).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { after, describe, it } from "mocha";
import { decodeEventLog, formatUnits, getAddress, parseEther, type Address, type Hex, type PublicClient } from "viem";

import { jobMarketAbi, stakingAbi } from "../../offchain/chain/abis.js";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { profileArgs } from "../../offchain/chain/profiles.js";
import { ExplorerDb } from "../../offchain/explorer/db.js";
import { explorerSource } from "../../offchain/explorer/explorer.js";
import { ExplorerIndexer, INDEXER_CURSOR } from "../../offchain/explorer/indexer.js";
import { startExplorerServer } from "../../offchain/explorer/server.js";
import { foldExplorer } from "../../offchain/explorer/state.js";
import { disputesView, jobsView, jobView, modelsView, networkView, providersView, providerView } from "../../offchain/explorer/views.js";
import { formatScore, readReputation } from "../../offchain/sdk/reputation.js";
import { chainTruth, stakeOf } from "../helpers/explorer-truth.js";
import { deploySystem, deploymentOf, FEE, MODEL_COLLATERAL, setUpMarket, stakeVerifiers, type Connection } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";
import { verificationDriver, Vote } from "../helpers/verification.js";

const connection = await network.create();
const { networkHelpers } = connection;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 0 } });
  await setUpMarket(sys);
  await sys.token.write.mint([sys.challenger.account.address, parseEther("1000")]);
  await sys.token.write.approve([sys.verification.address, parseEther("1000")], { account: sys.challenger.account });
  return { ...sys, ...(await stakeVerifiers(conn, sys, 3)) };
}

describe("explorer: the indexer and its views on a real chain", function () {
  const dirs: string[] = [];
  const tempFile = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-explorer-test-"));
    dirs.push(dir);
    return path.join(dir, "explorer.sqlite");
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A deployment with a finalized job, an expired one, a slashed one (a challenge, a committee voting ProviderWrong) and a provider profile. */
  async function scenario() {
    const sys = await networkHelpers.loadFixture(deployed);
    const d = marketDriver({ connection, ...sys });
    const v = verificationDriver({ connection, sys, d, wallets: sys.wallets });
    const deployment: Deployment = deploymentOf(sys);
    await sys.profiles.write.setProfile([...profileArgs({ region: "eu-west", executionProviders: ["cpu", "gpu"], capacity: 2, models: [1] })], { account: sys.provider.account });

    const finalized = await d.post();
    await d.claimAndCommit(finalized);
    await d.reveal(finalized);
    await d.finalize(finalized);

    const expired = await d.post();
    await d.claim(expired);
    await d.pastDeadline(expired);
    await d.jobs.send(sys.market.write.expire([expired, d.jobs.job(expired)], { account: sys.keeper.account }));

    const slashed = await d.revealed();
    await v.challenge(slashed, sys.challenger);
    await v.drawCommittee(slashed);
    await v.vote(slashed, () => Vote.ProviderWrong);
    await v.resolve(slashed);
    const publicClient = sys.publicClient as unknown as PublicClient;
    return { sys, d, v, deployment, publicClient, jobs: { finalized, expired, slashed } };
  }

  function open(file: string, publicClient: PublicClient, deployment: Deployment) {
    const db = new ExplorerDb({ path: file });
    const indexer = new ExplorerIndexer({ publicClient, deployment, db, confirmations: 0, maxBlocksPerQuery: 50 });
    return { db, indexer, state: () => foldExplorer(db.rows()) };
  }

  it("counts jobs, fees, stake and slashes as the chain's own logs and state give them; the slashed job's timeline and dispute, the provider's row", async function () {
    const { sys, deployment, publicClient, jobs } = await scenario();
    const { db, indexer, state } = open(tempFile(), publicClient, deployment);
    try {
      await indexer.catchUp();
      const s = state();
      const truth = await chainTruth(publicClient, deployment);
      assert.deepEqual([truth.posted, truth.finalized, truth.expired, truth.slashed], [3, 1, 1, 1], "the scenario ran as meant");

      const n = networkView(s, { chainId: 31337, indexedBlock: await indexer.indexedBlock() });
      const { posted, finalized, expired, slashed } = n.jobs.allTime;
      assert.deepEqual({ posted, finalized, expired, slashed }, { posted: truth.posted, finalized: truth.finalized, expired: truth.expired, slashed: truth.slashed });
      assert.equal(n.fees.allTime.posted, formatUnits(3n * FEE, 18), "three jobs of 10 tokens each, in tokens");
      const totalStaked = await publicClient.readContract({ address: deployment.staking, abi: stakingAbi, functionName: "totalStaked" });
      assert.equal(n.stake.active, formatUnits(totalStaked, 18), "active stake is Staking.totalStaked, in tokens");
      assert.equal(n.providers.active, 1);
      assert.equal(n.verifiers.active, 3);
      assert.equal(n.disputes.opened, 1);
      assert.equal(n.disputes.providerFaulted, 1);
      assert.equal(n.sampling.targetPpm, 0);
      assert.equal(n.sampling.actual, 0, "every revealed job was unsampled");

      // Gas per finalized job: the receipts of its post, claimAndCommit, reveal and finalize.
      const lifecycle = (await publicClient.getLogs({ address: deployment.market, fromBlock: 0n, toBlock: "latest" })).filter((log) => {
        const { eventName, args } = decodeEventLog({ abi: jobMarketAbi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
        return ["JobPosted", "JobClaimed", "ResultCommitted", "ResultRevealed", "JobFinalized"].includes(eventName) && (args as { jobId?: bigint }).jobId === jobs.finalized;
      });
      const hashes = [...new Set(lifecycle.map((l) => l.transactionHash!))];
      assert.equal(hashes.length, 4, "post, claimAndCommit, reveal, finalize");
      let gas = 0n;
      for (const hash of hashes) gas += (await publicClient.getTransactionReceipt({ hash })).gasUsed;
      assert.equal(n.gas.perJob, Number(gas));
      assert.equal(n.gas.jobs, 1);

      // The provider's row: its outcomes, its one slash (the expiry penalty is a penalty, not a slash), its stake now, its profile, the reputation rule's score.
      const provider = sys.provider.account.address;
      const row = providersView(s).providers.find((p) => p.address === getAddress(provider))!;
      assert.ok(row, "the provider is listed");
      assert.deepEqual({ total: row.jobs.total, finalized: row.jobs.finalized, expired: row.jobs.expired, slashed: row.jobs.slashed }, { total: 3, finalized: 1, expired: 1, slashed: 1 });
      assert.equal(row.slashes.count, truth.faults.get(provider.toLowerCase()));
      assert.equal(row.slashes.amount, formatUnits(MODEL_COLLATERAL, 18));
      assert.equal(row.penalties.count, 1, "the expiry penalty of the job it claimed and never committed");
      const account = await stakeOf(publicClient, deployment, provider);
      assert.equal(row.stake.total, formatUnits(account.stake, 18));
      assert.equal(row.stake.locked, formatUnits(account.locked, 18));
      assert.equal(row.stake.unbonding, formatUnits(account.unbonding, 18));
      assert.equal(row.successRate, 1 / 3);
      assert.equal(row.region, "eu-west");
      assert.deepEqual(row.executionProviders, ["cpu", "gpu"]);
      assert.deepEqual(row.models, [1]);
      const rep = (await readReputation({ publicClient, deployment })).get(provider.toLowerCase())!;
      assert.equal(row.reputation.text, formatScore(rep.score), "the same rule as `dinfer provider status`");
      assert.equal(row.isNew, rep.isNew);
      assert.equal(row.earnings.allTime, providerView(s, provider)!.provider.earnings.allTime);

      // The slashed job's timeline, in chain order, and its dispute with the votes, the outcome and the split.
      const job = jobView(s, jobs.slashed)!;
      const steps = job.timeline.map((t) => t.step);
      for (const wanted of ["posted", "claimed", "committed", "revealed", "challenged", "committee", "vote-committed", "vote-revealed", "resolved", "slashed"]) {
        assert.ok(steps.includes(wanted as never), `timeline has ${wanted}: ${steps.join(", ")}`);
      }
      assert.deepEqual(steps.slice(0, 4), ["posted", "claimed", "committed", "revealed"]);
      assert.equal(steps.at(-1), "slashed");
      assert.equal(job.job.status, "slashed");
      assert.equal(job.job.slashed, "100");
      assert.ok(job.timeline.every((t) => t.gasUsed !== null && t.gasUsed > 0), "each step's transaction and its gas");
      const dispute = job.dispute!;
      assert.equal(dispute.reason, "Challenge");
      assert.equal(dispute.bond, "50");
      assert.equal(dispute.outcome, "ProviderWrong");
      assert.equal(dispute.providerFaulted, true);
      assert.ok(dispute.votes.every((vote) => vote.vote === "ProviderWrong"));
      const slash = dispute.split.find((e) => e.what === "slashed from stake")!;
      assert.deepEqual([slash.account, slash.sign, slash.amount], [getAddress(provider), "-", "100"]);
      assert.deepEqual(disputesView(s).disputes.map((x) => x.jobId), [jobs.slashed.toString()]);

      const listed = jobsView(s, { status: "slashed" });
      assert.deepEqual(listed.jobs.map((j) => j.jobId), [jobs.slashed.toString()]);
      const model = modelsView(s).models[0]!;
      assert.equal(model.modelId, 1);
      assert.deepEqual(model.jobs, { posted: 3, finalized: 1, expired: 1, slashed: 1 });
      assert.deepEqual(model.providers, [getAddress(provider)]);
    } finally {
      db.close();
    }
  });

  it("shows a lower collateral as the registry does: pending under notice, in force once an indexed block reaches its time", async function () {
    const sys = await networkHelpers.loadFixture(deployed);
    const d = marketDriver({ connection, ...sys });
    const publicClient = sys.publicClient as unknown as PublicClient;
    const { db, indexer, state } = open(tempFile(), publicClient, deploymentOf(sys));
    try {
      const spec = await sys.registry.read.model([1n]);
      await sys.registry.write.update([1n, { ...spec, minCollateral: MODEL_COLLATERAL / 4n }], { account: sys.owner.account });
      const [collateral, effectiveAt] = await sys.registry.read.pendingCollateral([1n]);
      await indexer.catchUp();
      const pending = modelsView(state()).models[0]!;
      assert.equal(pending.minCollateral, formatUnits(MODEL_COLLATERAL, 18));
      assert.deepEqual([pending.pendingCollateral?.collateral, pending.pendingCollateral?.timestamp], [formatUnits(collateral, 18), Number(effectiveAt)]);
      // A job posted once the notice is over: the chain gives it the new collateral, and so does the view.
      await networkHelpers.time.increaseTo(effectiveAt);
      const jobId = await d.post();
      assert.equal(d.jobs.job(jobId).collateral, collateral);
      await indexer.catchUp();
      const due = modelsView(state()).models[0]!;
      assert.deepEqual([due.minCollateral, due.pendingCollateral], [formatUnits(collateral, 18), null]);
    } finally {
      db.close();
    }
  });

  it("after a reorg of a few blocks the orphaned rows are gone and the counts are the new chain's", async function () {
    const { d, deployment, publicClient } = await scenario();
    const { db, indexer, state } = open(tempFile(), publicClient, deployment);
    try {
      await indexer.catchUp();
      const snapshot = await networkHelpers.takeSnapshot();
      // The branch the chain will drop: two more jobs, one claimed.
      const a = await d.post();
      await d.post();
      await d.claimAndCommit(a);
      await indexer.catchUp();
      assert.equal(networkView(state(), { chainId: 31337 }).jobs.allTime.posted, 5);
      const orphanHead = await publicClient.getBlockNumber();

      await snapshot.restore();
      d.jobs.records.clear();
      // Another branch at the same heights: an empty block, one job with another fee, then blocks past the old head.
      await networkHelpers.mine(1);
      await d.post({ fee: FEE * 2n });
      const now = await publicClient.getBlockNumber();
      await networkHelpers.mine(Number(orphanHead - now) + 2);
      const { reorgs } = await indexer.catchUp();
      assert.equal(reorgs.length, 1, "the indexer saw the reorg");

      const truth = await chainTruth(publicClient, deployment);
      assert.equal(truth.posted, 4);
      const n = networkView(state(), { chainId: 31337 });
      assert.equal(n.jobs.allTime.posted, truth.posted, "the dropped branch's jobs are not counted");
      assert.equal(n.fees.allTime.posted, "50", "10 + 10 + 10 + 20 tokens: the new branch's job, not the old ones");
      // Every row the file holds is on the chain: its block hash is the chain's at that height.
      const rows = db.rows();
      for (const e of rows.events) {
        const block = await publicClient.getBlock({ blockNumber: e.blockNumber });
        assert.equal(e.blockHash, block.hash, `event at block ${e.blockNumber} is on the chain`);
      }
      const protocolLogs = await publicClient.getLogs({
        address: [deployment.market, deployment.batchMarket, deployment.verification, deployment.staking, deployment.replicaMarket, deployment.registry, deployment.profiles] as Address[],
        fromBlock: 0n,
        toBlock: "latest",
      });
      assert.equal(rows.events.length, protocolLogs.length, "one row per protocol log, none orphaned, none missing");
      assert.ok(rows.txs.every((t) => t.blockNumber <= now + BigInt(Number(orphanHead - now) + 2)));
    } finally {
      db.close();
    }
  });

  it("a restart resumes from its cursor, and a range read again (a crash before the cursor was saved) is not counted twice", async function () {
    const { deployment, publicClient } = await scenario();
    const file = tempFile();
    const first = open(file, publicClient, deployment);
    await first.indexer.catchUp();
    const counts = first.db.counts();
    const view = JSON.stringify(networkView(first.state(), { chainId: 31337 }));
    const cursor = await first.indexer.indexedBlock();
    first.db.close();

    const second = open(file, publicClient, deployment);
    try {
      assert.equal(await second.indexer.indexedBlock(), cursor, "resumes from the saved cursor");
      const poll = await second.indexer.poller.poll();
      assert.equal(poll.delivered, 0, "nothing is delivered again");
      assert.deepEqual(second.db.counts(), counts);
      assert.equal(JSON.stringify(networkView(second.state(), { chainId: 31337 })), view);

      // The cursor lost: every range is read and written again, to the same rows.
      second.db.deleteCursor(INDEXER_CURSOR);
      const third = new ExplorerIndexer({ publicClient, deployment, db: second.db, confirmations: 0, maxBlocksPerQuery: 7 });
      await third.catchUp();
      assert.deepEqual(second.db.counts(), counts, "the same rows, none twice");
      assert.equal(JSON.stringify(networkView(second.state(), { chainId: 31337 })), view);
    } finally {
      second.db.close();
    }
  });

  it("serves the page and the JSON API: views by route, 400 for a malformed id, 404 for an unknown one, a new version on the event stream when the data changes", async function () {
    const { deployment, publicClient, jobs } = await scenario();
    const { db, indexer } = open(tempFile(), publicClient, deployment);
    await indexer.catchUp();
    const source = explorerSource({ db, chainId: 31337, block: await indexer.indexedBlock() });
    const server = await startExplorerServer({ source, port: 0 });
    const get = (route: string, init?: RequestInit) => fetch(`${server.url}${route}`, init);
    try {
      const page = await get("/");
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type")!, /text\/html/);
      assert.match(await page.text(), /dinfer <span>explorer<\/span>/);
      assert.match((await get("/app.js")).headers.get("content-type")!, /javascript/);

      const network = (await (await get("/api/network")).json()) as ReturnType<typeof networkView>;
      assert.equal(network.jobs.allTime.posted, 3);
      assert.equal(network.chain.indexedBlock, String(await indexer.indexedBlock()));
      const job = (await (await get(`/api/jobs/${jobs.slashed}`)).json()) as { job: { status: string }; timeline: { step: string }[] };
      assert.equal(job.job.status, "slashed");
      assert.equal(job.timeline.at(-1)!.step, "slashed");
      const listed = (await (await get("/api/jobs?status=finalized&limit=5")).json()) as { total: number; jobs: { jobId: string }[] };
      assert.deepEqual(listed.jobs.map((j) => j.jobId), [jobs.finalized.toString()]);
      assert.equal((await get("/api/providers")).status, 200);
      assert.equal((await get("/api/models")).status, 200);
      assert.equal((await get("/api/disputes")).status, 200);

      assert.equal((await get("/api/jobs/12x")).status, 400);
      assert.equal((await get("/api/jobs/999")).status, 404);
      assert.equal((await get("/api/jobs?status=bogus")).status, 400);
      assert.equal((await get("/api/jobs?limit=0")).status, 400);
      assert.equal((await get("/api/providers/0x12")).status, 400);
      assert.equal((await get(`/api/providers/0x${"ab".repeat(20)}`)).status, 404);
      assert.equal((await get("/api/nothing")).status, 404);
      assert.equal((await get("/api/network", { method: "POST" })).status, 405);

      // The event stream: the position now, then a new version when the indexer says the data changed.
      const controller = new AbortController();
      const stream = await get("/api/events", { signal: controller.signal });
      assert.match(stream.headers.get("content-type")!, /text\/event-stream/);
      const messages = sseMessages(stream);
      assert.deepEqual(await messages.next(), { version: 0, block: String(await indexer.indexedBlock()) });
      source.changed({ kind: "data", block: 12_345n });
      assert.deepEqual(await messages.next(), { version: 1, block: "12345" });
      source.changed({ kind: "cursor", block: 12_346n });
      assert.deepEqual(await messages.next(), { version: 1, block: "12346" }, "the block moves, the data version does not");
      controller.abort();
    } finally {
      await server.close();
      db.close();
    }
  });
});

/** The `data:` messages of a Server-Sent Events response, parsed as JSON, one per `next()`. */
function sseMessages(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next(): Promise<unknown> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").find((line) => line.startsWith("data: "));
          if (data) return JSON.parse(data.slice(6));
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the event stream ended");
        buffer += decoder.decode(value, { stream: true });
      }
    },
  };
}
