/**
 * Blobs on IPFS end to end (docs/PROTOCOL.md, section 5, "Blob storage and availability"): a real `hardhat
 * node` process, the protocol deployed with Ignition (offchain/devnet), `dinfer worker` and `dinfer verifier`
 * as separate processes each running its own Helia node, and the dApp's Helia node in this process. Every
 * libp2p listens on 127.0.0.1 and dials only the peers it is configured with: no bootstrap list, DHT,
 * delegated routing or gateway. Every job is sampled.
 *
 *   dApp node  <-- worker A (PaddleOCR det; its node's peer: the dApp's)  <-- verifiers 1 and 2 (their nodes' peer: worker A's)
 *              <-- worker B (PaddleOCR cls, a cheater; its node's peer: the dApp's; no verifier can reach it)
 *
 * 1. The dApp puts a det input on IPFS and posts `ipfs://<cid>`; worker A fetches it through its node, runs
 *    the model (with noise inside the tolerance, as another machine would), pins the input and publishes its
 *    output, revealed as `ipfs://<cid>`. The auditor, peered with worker A only, audits from IPFS: the input
 *    from worker A's pinned copy (the poster's node is out of its reach), the output from worker A's node,
 *    judged under the tolerance. The dApp reads the output through its node; it matches the chain's root.
 * 2. A hidden input: a cls job taken by worker B, which makes its result up and keeps the only copy of the
 *    input out of the verifiers' reach once the dApp's node stops (the dApp is gone, as dApps go). Before,
 *    every verifier abstained on an input it could read nowhere, no committee reached a quorum and B was
 *    paid; now an input the provider does not serve counts against it: the blind auditor abstains (it cannot
 *    know yet where the provider serves), the missed audit's committee votes the provider wrong, B is slashed.
 * 3. The CLI: `dinfer job get --ipfs-peer` reads job 1's output through a node of its own, and `dinfer job post
 *    --ipfs` serves a new input from its own node, which dials worker A (A has no address of it), until final.
 *
 * Run alone: `npx hardhat test mocha test/e2e/ipfs.e2e.test.ts` (about 5 minutes on 2 cores).
 * DINFER_E2E_LOG_DIR=<dir> keeps every daemon's log.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { getAddress, parseEther } from "viem";

import { verificationAbi } from "../../offchain/chain/abis.js";
import { JobStatus, readJob, type JobRecord } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob } from "../../offchain/codec/tensor.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";
import { imageToClsInput, imageToDetInput } from "../../offchain/sdk/image.js";
import { postJob, waitForResult } from "../../offchain/sdk/jobs.js";
import { startIpfsNode, type IpfsNode } from "../../offchain/storage/ipfs.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { AuditState, DisputeReason } from "../../offchain/verifier/decide.js";
import { readAudit, readDispute } from "../../offchain/verifier/views.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const DINFER_BIN = fileURLToPath(new URL("../../bin/dinfer.js", import.meta.url));
const FEE = parseEther("2");
/** Every job sampled, the seed 2 blocks after a commit, 30 s for the blind audit, no recheck, short disputes. */
const MARKET_PARAMS = { samplingPpm: 1_000_000, seedDelay: 2, challengeWindow: 20, revealTimeout: 120, disputeDuration: 40, auditLevyBps: 2_000 };
const VERIFICATION_PARAMS = {
  challengeBond: parseEther("50").toString(),
  auditorPenalty: parseEther("5").toString(),
  voterPenalty: parseEther("2").toString(),
  auditCommitTimeout: 30,
  voteCommitTimeout: 8,
  voteRevealTimeout: 8,
  committeeSize: 3,
  challengerRewardBps: 4_000,
  providerRewardBps: 5_000,
  auditRewardBps: 1_000,
  voterRewardBps: 1_000,
  recheckPpm: 0,
};
const OUTPUT_RESERVE_SECONDS = 3;
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

describe("IPFS end to end: a dApp's Helia node, workers and a verifier with their own, on loopback", function () {
  let devnet: Devnet;
  let dapp: IpfsNode;
  let workerA: Daemon;
  let workerB: Daemon;
  let verifiers: Daemon[];
  const logDir = process.env.DINFER_E2E_LOG_DIR;

  before(async function () {
    this.timeout(300_000);
    process.setMaxListeners(32);
    devnet = await startDevnet({
      providers: 2,
      // Two: a Disagree's committee excludes the auditor, so the other verifier sits on it.
      verifiers: 2,
      providerStake: parseEther("10000"),
      verifierStake: parseEther("1000"),
      marketParams: MARKET_PARAMS,
      verificationParams: VERIFICATION_PARAMS,
    });
    if (logDir) mkdirSync(logDir, { recursive: true });
    dapp = await startIpfsNode({ dir: devnet.tempDir("dapp-ipfs") });
    devnet.onStop(() => dapp.stop());
    const common = { rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, metricsPort: -1, pollIntervalMs: 300, threads: 1, ep: "cpu" };
    // Worker A adds noise inside the tolerance (another machine's rounding): the verifier's root differs, so it
    // must fetch A's output from IPFS and compare, not agree on equal roots.
    [workerA, workerB] = await Promise.all([
      startWorker("a", devnet.modelIds.det, { ...common, fault: { mode: "noise", amplitude: 5e-5 } }),
      startWorker("b", devnet.modelIds.cls, { ...common, fault: { mode: "random" } }),
    ]);
    verifiers = await Promise.all([0, 1].map((index) => startVerifier(index, common)));
  });

  async function startVerifier(index: number, common: Record<string, unknown>): Promise<Daemon> {
    const dataDir = devnet.tempDir(`verifier-${index}`);
    const verifier = await startDaemon({
      command: "verifier",
      configFile: path.join(dataDir, "verifier.config.json"),
      config: {
        ...common,
        dataDir,
        models: [
          { modelId: devnet.modelIds.det, path: devnet.modelFiles.det },
          { modelId: devnet.modelIds.cls, path: devnet.modelFiles.cls },
        ],
        outputReserveSeconds: OUTPUT_RESERVE_SECONDS,
        keeperGraceSeconds: 2,
        // Worker A's node only: not the dApp's, not worker B's.
        ipfs: { peers: ipfsAddressesOf(workerA) },
      },
      env: { DINFER_PRIVATE_KEY: devnet.verifiers[index]!.key, DINFER_VERIFIER_SECRET: `e2e-ipfs-verifier-secret-${index}-0123456789` },
      readyMsg: "verifier ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `verifier-${index}.log`),
    });
    devnet.onStop(() => verifier.kill());
    return verifier;
  }

  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    for (const [name, daemon] of [["worker A", workerA], ["worker B", workerB], ["verifier 1", verifiers?.[0]], ["verifier 2", verifiers?.[1]]] as const) {
      if (daemon) console.log(`--- ${name} ---\n${daemon.logs().slice(-4_000)}`);
    }
  });

  after(async function () {
    this.timeout(90_000);
    await devnet?.stop();
  });

  async function startWorker(name: string, modelId: number, common: Record<string, unknown>): Promise<Daemon> {
    const dataDir = devnet.tempDir(`worker-${name}`);
    const account = devnet.providers[name === "a" ? 0 : 1]!;
    const daemon = await startDaemon({
      command: "worker",
      configFile: path.join(dataDir, "worker.config.json"),
      config: {
        ...common,
        dataDir,
        models: [{ modelId, path: modelId === devnet.modelIds.det ? devnet.modelFiles.det : devnet.modelFiles.cls }],
        // The dApp's node is the only peer: inputs come from there.
        ipfs: { peers: dapp.addresses() },
      },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_WORKER_SECRET: `e2e-ipfs-worker-secret-${name}-0123456789`, DINFER_ALLOW_FAULTS: "1" },
      readyMsg: "worker ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `worker-${name}.log`),
    });
    devnet.onStop(() => daemon.kill());
    return daemon;
  }

  function ipfsAddressesOf(daemon: Daemon): string[] {
    const addresses = daemon.ready.ipfs_addresses;
    assert.ok(Array.isArray(addresses) && addresses.length > 0, `the daemon's ready line names its IPFS addresses: ${JSON.stringify(daemon.ready)}`);
    for (const address of addresses) assert.match(String(address), /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//, "loopback only");
    return addresses.map(String);
  }

  async function record(jobId: bigint): Promise<JobRecord> {
    for (;;) {
      try {
        return await readJob({ client: devnet.publicClient, market: devnet.deployment.market, jobId });
      } catch (error) {
        if ((error as { code?: string }).code !== "JOB_STATE_MISMATCH") throw error;
      }
    }
  }

  async function waitFor(jobId: bigint, done: (r: JobRecord) => boolean, what: string, timeoutMs: number): Promise<JobRecord> {
    for (const until = Date.now() + timeoutMs; ; await sleep(500)) {
      const r = await record(jobId);
      if (done(r)) return r;
      if (Date.now() > until) assert.fail(`job ${jobId} not ${what} within ${timeoutMs} ms (status ${STATUS_NAMES[r.job.status]})`);
    }
  }

  /** The verifier daemon that was drawn as the job's auditor (its AuditCommitted event names it). */
  function auditorOf(events: { eventName: string; args: Record<string, unknown> }[]): Daemon {
    const committed = events.find((e) => e.eventName === "AuditCommitted");
    assert.ok(committed, `an audit was committed: ${events.map((e) => e.eventName).join(", ")}`);
    const index = devnet.verifiers.findIndex((v) => getAddress(v.address) === getAddress(String(committed.args.auditor)));
    assert.ok(index === 0 || index === 1, "one of the two verifiers is the auditor");
    return verifiers[index]!;
  }

  /** The Verification contract's events about `jobId`, by name. */
  async function verificationEvents(jobId: bigint): Promise<{ eventName: string; args: Record<string, unknown> }[]> {
    const logs = await devnet.publicClient.getContractEvents({ address: devnet.deployment.verification, abi: verificationAbi, fromBlock: 0n });
    return logs
      .filter((log) => (log.args as { jobId?: bigint }).jobId === jobId)
      .map((log) => ({ eventName: log.eventName as string, args: log.args as Record<string, unknown> }));
  }

  it("carries a job's input and output over IPFS, audited from IPFS, and the dApp's read matches the output root", async function () {
    this.timeout(240_000);
    const input = encodeTensorBlob([(await imageToDetInput(path.join(IMAGES, "doc.png"))).tensor]);
    const posted = await postJob({ sender: devnet.dappSender, publicClient: devnet.publicClient, deployment: devnet.deployment, modelId: devnet.modelIds.det, input, fee: FEE, ipfs: dapp });
    assert.match(posted.inputURI, /^ipfs:\/\/bafy\w+$/, "the input went on IPFS, not inline and not to a blob server");
    assert.equal(posted.inputHash, blobId(input));
    const cid = posted.inputURI.slice("ipfs://".length);
    assert.deepEqual(await dapp.holders(cid), [`poster:${blobId(input)}`], "the poster pins its input");

    const result = await waitForResult({ publicClient: devnet.publicClient, market: devnet.deployment.market, jobId: posted.jobId, fromBlock: posted.blockNumber, ipfs: dapp, timeoutMs: 200_000 });
    assert.equal(result.final, true);
    const { record: final, output } = result;
    assert.equal(STATUS_NAMES[final.job.status], "Finalized");
    assert.equal(final.inputURI, posted.inputURI);
    assert.ok(final.inlineOutput === undefined || final.inlineOutput === "0x", "the det output (1.6 MB) is revealed by URI only");
    assert.match(final.outputURI ?? "", /^ipfs:\/\/bafy\w+$/, "worker A revealed its output on IPFS");
    assert.equal(outputRoot(output), final.job.result, "the bytes the dApp read through IPFS have the root the chain holds");
    assert.deepEqual(
      decodeTensorBlob(output).map((t) => t.dims),
      [[1, 1, 640, 640]],
      "the text detector's probability map",
    );

    // The drawn auditor audited it: committed blind, then revealed an Agree.
    const events = await verificationEvents(posted.jobId);
    const auditor = auditorOf(events);
    assert.ok(events.some((e) => e.eventName === "AuditCommitted"), "the auditor committed its audit");
    const revealed = events.find((e) => e.eventName === "AuditRevealed");
    assert.equal(revealed?.args.verdict, 0, "and revealed Agree");
    assert.notEqual(revealed?.args.outputRoot, final.job.result, "with its own root, another than worker A's (noise within the tolerance)");
    // So it judged worker A's output on its bytes, read from IPFS (its only peer is worker A's node, so the input
    // it re-ran came from worker A's pinned copy too).
    const judged = auditor.lines().find((l) => l.msg === "provider output judged" && l.job_id === posted.jobId.toString());
    assert.deepEqual([judged?.verdict, judged?.source], ["agree", final.outputURI], `the auditor read the output from IPFS: ${JSON.stringify(judged)}`);
    assert.ok(!auditor.lines().some((l) => /job input (not served|invalid)/.test(String(l.msg)) && l.job_id === posted.jobId.toString()));

    // The CLI reads it the same way: a node of its own that dials worker A, the bytes checked against the root.
    const cli = devnet.tempDir("cli");
    const config = path.join(cli, "config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: devnet.url, addresses: devnet.deployment }));
    const out = path.join(cli, "output.dtn");
    const args = [DINFER_BIN, "--config", config, "job", "get", posted.jobId.toString(), "--ipfs-peer", ...ipfsAddressesOf(workerA), "--ipfs-dir", path.join(cli, "ipfs"), "--out", out];
    const { stdout } = await promisify(execFile)(process.execPath, args, { env: { ...process.env, FORCE_COLOR: "0" }, timeout: 60_000 });
    assert.match(stdout, new RegExp(`job ${posted.jobId}: final, output root ${final.job.result} verified`));
    assert.deepEqual(new Uint8Array(readFileSync(out)), output);

    // An http(s) input is on worker A's blob server, not its IPFS node: A reveals its blob server's URL then,
    // which is also where verifiers find its copy of the input (`/blobs/<inputHash>`), not `ipfs://`.
    const httpInput = encodeTensorBlob([(await imageToDetInput(path.join(IMAGES, "blank.png"))).tensor]);
    const uploaded = await uploadBlob({ serverUrl: devnet.blobServer.url, token: devnet.uploadToken, bytes: httpInput });
    const overHttp = await postJob({ sender: devnet.dappSender, publicClient: devnet.publicClient, deployment: devnet.deployment, modelId: devnet.modelIds.det, input: httpInput, inputURI: uploaded.url, fee: FEE });
    const revealedOverHttp = await waitFor(overHttp.jobId, (r) => r.job.status >= JobStatus.Revealed, "revealed", 120_000);
    assert.match(revealedOverHttp.outputURI ?? "", /^http:\/\/127\.0\.0\.1:\d+\/outputs\/0x[0-9a-f]{64}$/, "an http input's job is revealed at the blob server, by its output root");
  });

  it("slashes a provider that hides the only copy of an input once the dApp is gone: an unserved input counts against it", async function () {
    this.timeout(240_000);
    const input = encodeTensorBlob([await imageToClsInput(path.join(IMAGES, "line-1.png"))]);
    assert.ok(input.length > 4096, "too large to go inline");
    const posted = await postJob({ sender: devnet.dappSender, publicClient: devnet.publicClient, deployment: devnet.deployment, modelId: devnet.modelIds.cls, input, fee: FEE, ipfs: dapp });
    assert.match(posted.inputURI, /^ipfs:\/\//);
    // Worker B fetched it from the dApp's node (its only peer) and committed a made-up result; then the dApp's
    // node goes. No verifier reaches B's node: B holds the only copy and serves it to nobody.
    const committed = await waitFor(posted.jobId, (r) => r.job.status >= JobStatus.Committed, "committed", 90_000);
    assert.equal(getAddress(committed.job.provider), getAddress(devnet.providers[1]!.address), "worker B took it");
    await dapp.stop();

    const final = await waitFor(posted.jobId, (r) => r.job.status === JobStatus.Finalized || r.job.status === JobStatus.Slashed, "final", 200_000);
    assert.equal(STATUS_NAMES[final.job.status], "Slashed", "worker B, which kept the input to itself, is slashed");

    // The drawn auditor, blind (B had revealed nothing it could read the input from), abstained from its commit;
    // the missed audit sent the job to a committee, the other verifier, which read the input nowhere by its vote's
    // deadline and judged the job as having no input: ProviderWrong.
    const events = await verificationEvents(posted.jobId);
    assert.ok(!events.some((e) => e.eventName === "AuditCommitted"), `the auditor did not commit: ${events.map((e) => e.eventName).join(", ")}`);
    const audit = await readAudit({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId: posted.jobId });
    assert.equal(audit.state, AuditState.Missed);
    const auditorIndex = devnet.verifiers.findIndex((v) => getAddress(v.address) === getAddress(audit.auditor));
    const [auditor, member] = [verifiers[auditorIndex]!, verifiers[1 - auditorIndex]!];
    assert.ok(auditor.lines().some((l) => l.msg === "job input served nowhere: abstaining from this step" && l.job_id === posted.jobId.toString()), "the auditor says it abstained");
    const dispute = await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId: posted.jobId });
    assert.equal(dispute.reason, DisputeReason.AuditMissed);
    const unserved = member.lines().find((l) => l.msg === "job input invalid" && l.job_id === posted.jobId.toString());
    assert.match(String(unserved?.reason), /^the job's input is served nowhere, the provider's copy included: BlobUnavailableError/, `the member's reason: ${JSON.stringify(unserved)}`);
    assert.ok(member.lines().some((l) => l.msg === "vote revealed" && l.job_id === posted.jobId.toString() && l.vote === "provider_wrong"), "the committee member voted the provider wrong");
    const resolved = events.find((e) => e.eventName === "DisputeResolved");
    assert.equal(resolved?.args.providerFaulted, true, "the provider is faulted");
  });

  it("dinfer job post --ipfs serves the input from the CLI's own node, dialling the worker, until the job is final", async function () {
    this.timeout(240_000);
    const cli = devnet.tempDir("cli-post");
    const config = path.join(cli, "config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: devnet.url, addresses: devnet.deployment }));
    const input = encodeTensorBlob([(await imageToDetInput(path.join(IMAGES, "line-2.png"))).tensor]);
    const inputFile = path.join(cli, "input.dtn");
    writeFileSync(inputFile, input);
    // Another input than the first job's (worker A may still hold those blocks). Worker A knows no node of this
    // dApp: the CLI's node dials worker A's, and A's wants reach it over that connection.
    const args = [
      DINFER_BIN, "--config", config, "job", "post", "--model", String(devnet.modelIds.det), "--input", inputFile, "--fee", "2",
      "--model-file", devnet.modelFiles.det, "--ipfs", "--ipfs-dir", path.join(cli, "ipfs"), "--ipfs-peer", ...ipfsAddressesOf(workerA),
    ];
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, {
      env: { ...process.env, FORCE_COLOR: "0", DINFER_PRIVATE_KEY: devnet.dapp.key },
      timeout: 200_000,
    });
    assert.match(stderr, /^ipfs node 12D3Koo\w+ at \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo\w+ \(1 peer\(s\) connected\)$/m);
    const jobId = BigInt(/posted job (\d+) \(input (0x[0-9a-f]{64})/.exec(stdout)?.[1] ?? assert.fail(`no job posted: ${stdout}`));
    assert.match(stdout, new RegExp(`posted job ${jobId} \\(input ${blobId(input)}`));
    const final = await record(jobId);
    assert.match(stdout, new RegExp(`job ${jobId}: final, output root ${final.job.result} verified`), "--ipfs waited for the final result and read it");
    assert.equal(STATUS_NAMES[final.job.status], "Finalized");
    assert.match(final.inputURI, /^ipfs:\/\/bafy\w+$/, "the input was posted as an ipfs:// URI");
    assert.equal(getAddress(final.job.provider), getAddress(devnet.providers[0]!.address), "worker A fetched it from the CLI's node and ran it");
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
