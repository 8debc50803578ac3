/**
 * An auditor's and a provider's commands as processes against a devnet (a real `hardhat node` on a
 * port of its own, the protocol deployed): `dinfer audit --model <id>=<path>` finds a revealed result
 * wrong, `dinfer challenge` shows the bond and refuses without --yes when stdin is not a terminal,
 * then challenges (the dispute is on chain, the bond left the account; `job status` shows the job
 * revealed, then disputed with its bond), and refuses once the window
 * closed; the provider scripts stake with the DINFER_* variables the devnet prints and fail in one line.
 *
 * Run alone: `npx hardhat test mocha test/e2e/cli-challenge.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { keccak256, parseEther, toHex, type Address, type Hex } from "viem";

import { dinferTestTokenAbi, jobMarketAbi, stakingAbi, verificationAbi } from "../../offchain/chain/abis.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { commitment } from "../../offchain/codec/commitment.js";
import { encodeTensorBlob } from "../../offchain/codec/tensor.js";
import { devAccount, startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";
import { imageToClsInput } from "../../offchain/sdk/image.js";
import { postJob } from "../../offchain/sdk/jobs.js";
import { DisputeState } from "../../offchain/verifier/decide.js";
import { readDispute } from "../../offchain/verifier/views.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const IMAGE = fileURLToPath(new URL("../fixtures/images/line-1.png", import.meta.url));
const WINDOW = 600;

type Run = { status: number | null; stdout: string; stderr: string };

/** A process that does not block this one (the devnet's blob server runs here). */
function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", DINFER_DEBUG: "", ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe("dinfer audit --model id=path, dinfer challenge, the provider scripts (processes against a devnet)", function () {
  this.timeout(300_000);
  let devnet: Devnet;
  /** The auditor: an account the devnet leaves alone (ETH from the node, no tokens, no stake). */
  const auditor = devAccount(15);
  let env: Record<string, string>;
  const dinfer = (...args: string[]) => run([BIN, ...args], env);
  const balance = async (address: Address) =>
    (await devnet.publicClient.readContract({ address: devnet.deployment.token, abi: dinferTestTokenAbi, functionName: "balanceOf", args: [address] })) as bigint;

  /** Posts a cls job and reveals a made-up output as the provider, served nowhere (a wrong result). */
  async function revealedJob(): Promise<bigint> {
    const input = encodeTensorBlob([await imageToClsInput(IMAGE)]);
    const { deployment, publicClient } = devnet;
    const posted = await postJob({
      sender: devnet.dappSender,
      publicClient,
      deployment,
      modelId: devnet.modelIds.cls,
      input,
      fee: parseEther("2"),
      upload: { serverUrl: devnet.blobServer.url, token: devnet.uploadToken },
    });
    const jobId = posted.jobId;
    const provider = devnet.providers[0]!;
    const { walletClient } = await createChainClients({ rpcUrl: devnet.url, privateKey: provider.key, chainId: devnet.chainId });
    const sender = new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 100 });
    const outputRoot = keccak256(toHex(`a made-up output of job ${jobId}`));
    const salt = keccak256(toHex(`salt ${jobId}`));
    const c = commitment({ chainId: devnet.chainId, jobMarket: deployment.market, jobId, provider: provider.address, outputRoot, salt });
    const market = { address: deployment.market, abi: jobMarketAbi };
    await sender.send({ ...market, functionName: "claimAndCommit", args: [jobId, (await readJob({ client: publicClient, market: deployment.market, jobId })).job, c] });
    const { job } = await readJob({ client: publicClient, market: deployment.market, jobId });
    while ((await publicClient.getBlockNumber()) <= job.commitBlock + 2n) await new Promise((r) => setTimeout(r, 300));
    const nowhere = `file://${devnet.tempDir("nowhere")}/output-${jobId}`;
    await sender.send({ ...market, functionName: "reveal", args: [jobId, job, outputRoot, salt, nowhere, "0x"] });
    assert.equal((await readJob({ client: publicClient, market: deployment.market, jobId })).job.status, JobStatus.Revealed);
    return jobId;
  }

  before(async function () {
    this.timeout(240_000);
    devnet = await startDevnet({ providers: 1, verifiers: 0, marketParams: { challengeWindow: WINDOW, seedDelay: 2, samplingPpm: 0 } });
    // What `dinfer devnet` tells a user to export.
    env = { DINFER_RPC_URL: devnet.url, DINFER_DEPLOYMENT_ID: devnet.deploymentId, DINFER_PRIVATE_KEY: auditor.key };
    assert.notEqual(new URL(devnet.url).port, "8545", "a node on a port of its own: nothing is fixed to 8545");
  });

  after(async function () {
    this.timeout(60_000);
    await devnet?.stop();
  });

  it("audit takes --model <id>=<path> as the daemons do, and finds the result wrong", async () => {
    const jobId = await revealedJob();
    const audit = await dinfer("audit", String(jobId), "--model", `${devnet.modelIds.cls}=${devnet.modelFiles.cls}`, "--allow-file-uris");
    assert.equal(audit.status, 0, audit.stderr);
    assert.match(audit.stdout, /provider output SERVED NOWHERE/);
    assert.match(audit.stdout, /^verdict +DISAGREE/m);
    assert.match(audit.stdout, /^challenge +open until /m);
    const wrongId = await dinfer("audit", String(jobId), "--model", `99=${devnet.modelFiles.cls}`);
    assert.equal(wrongId.status, 1);
    assert.match(wrongId.stderr, new RegExp(`^dinfer: job ${jobId} runs model ${devnet.modelIds.cls}: give its \\.onnx file with --model ${devnet.modelIds.cls}=<path>`));
  });

  it("challenge shows the bond and what is won or lost, refuses without --yes off a terminal, then opens the dispute with the bond", async () => {
    const jobId = await revealedJob();
    // What a dApp sees of it: revealed, the window's end, and an output its location does not serve.
    const revealed = await dinfer("job", "status", String(jobId));
    assert.equal(revealed.status, 0, revealed.stderr);
    assert.match(revealed.stdout, new RegExp(`^job ${jobId}: revealed$`, "m"));
    assert.match(revealed.stdout, /^ {2}provider 0x[0-9a-fA-F]{40}$/m);
    assert.match(revealed.stdout, /^ {2}challenge window ends \d{4}-\d\d-\d\dT[\d:]+Z \(in (9|10)m/m);
    assert.match(revealed.stdout, /^ {2}sampled for audit: no$/m);
    assert.match(revealed.stdout, new RegExp(`^ {2}output: file://\\S+/output-${jobId} \\(not read: .+\\)$`, "m"));
    assert.doesNotMatch(revealed.stdout, /dispute:/);
    assert.equal((await dinfer("token", "mint", "300")).status, 0);
    const before = await balance(auditor.address);

    const unconfirmed = await dinfer("challenge", String(jobId));
    assert.equal(unconfirmed.status, 1);
    assert.match(unconfirmed.stdout, new RegExp(`^challenge job ${jobId} \\(model ${devnet.modelIds.cls}, provider 0x[0-9a-fA-F]{40}\\): \\d+ min( \\d+ s)? left to challenge \\(the window closes at [-\\d: ]+UTC\\)\\.\\n`));
    assert.match(unconfirmed.stdout, /^ {2}bond {7}\d+(\.\d+)? DINF from 0x/m);
    assert.match(unconfirmed.stdout, /^ {2}if wrong {3}the provider's 100 DINF collateral is slashed/m);
    assert.match(unconfirmed.stdout, /^ {2}if right {3}\(a quorum upholds the result\) you lose the bond/m);
    assert.equal(unconfirmed.stderr, "dinfer: not confirmed: run again with --yes to go ahead\nsee `dinfer challenge --help`\n");
    assert.equal((await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId })).state, DisputeState.None, "nothing was sent");
    assert.equal(await balance(auditor.address), before);

    const challenged = await dinfer("challenge", String(jobId), "--yes");
    assert.equal(challenged.status, 0, challenged.stderr);
    const bond = BigInt((await devnet.publicClient.readContract({ address: devnet.deployment.verification, abi: verificationAbi, functionName: "dispute", args: [jobId] }) as { bond: bigint }).bond);
    assert.ok(bond > 0n);
    assert.match(challenged.stdout, new RegExp(`^challenged job ${jobId}: dispute ${jobId} opened with a bond of \\d+(\\.\\d+)? DINF \\(tx 0x[0-9a-f]{64}\\)$`, "m"));
    assert.match(challenged.stdout, /^next: a committee of verifiers is drawn once block \d+ is mined/m);
    const dispute = await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId });
    assert.equal(dispute.state, DisputeState.Open);
    assert.equal(dispute.challenger, auditor.address);
    assert.equal(dispute.bond, bond);
    assert.equal(await balance(auditor.address), before - bond, "the bond left the account");
    assert.equal((await readJob({ client: devnet.publicClient, market: devnet.deployment.market, jobId })).job.status, JobStatus.Disputed);
    const disputed = await dinfer("job", "status", String(jobId), "--json");
    assert.equal(disputed.status, 0, disputed.stderr);
    const shown = JSON.parse(disputed.stdout) as { state: string; verification: { dispute?: { reason: string; opener: string; bond: string; resolved?: unknown } } };
    assert.equal(shown.state, "disputed");
    assert.deepEqual(
      { ...shown.verification.dispute, opener: shown.verification.dispute?.opener.toLowerCase() },
      { reason: "challenge", opener: auditor.address.toLowerCase(), bond: String(bond) },
      "the open dispute, its challenger and bond, unresolved",
    );
    assert.match((await dinfer("job", "status", String(jobId))).stdout, new RegExp(`^ {2}dispute: challenge by 0x[0-9a-fA-F]{40}, bond [\\d.]+ DINF, open$`, "m"));

    const again = await dinfer("challenge", String(jobId), "--yes");
    assert.equal(again.status, 1);
    assert.equal(again.stderr.trim().split("\n").length, 1, again.stderr);
    assert.match(again.stderr, new RegExp(`^dinfer: job ${jobId} is already disputed \\(one dispute per job\\)`));
  });

  it("provider scripts: stake with the variables the devnet prints, on its own port; an error is one line, no stack", async () => {
    const script = (name: string, ...args: string[]) => run(["--import", "tsx", path.join(ROOT, `scripts/provider/${name}.ts`), ...args], env);
    const staker = devAccount(16);
    env = { ...env, DINFER_PRIVATE_KEY: staker.key };
    assert.equal((await dinfer("token", "mint", "100")).status, 0);

    const staked = await script("stake", "60", "--roles", "provider");
    assert.equal(staked.status, 0, staked.stderr);
    assert.match(staked.stdout, /^staking 60 DINF as provider: the stake becomes 60 DINF\n0x[0-9a-fA-F]{40} staked 60 DINF as provider \(tx 0x[0-9a-f]{64}\)\n$/);
    const account = (await devnet.publicClient.readContract({ address: devnet.deployment.staking, abi: stakingAbi, functionName: "account", args: [staker.address] })) as { stake: bigint; roles: number };
    assert.equal(account.stake, parseEther("60"));
    assert.equal(Number(account.roles), 1);

    const low = await script("stake", "10", "--roles", "verifier");
    assert.equal(low.status, 1);
    assert.match(low.stderr, /^dinfer: staking 10 DINF as a verifier leaves the stake at 70 DINF, below the verifier set's minimum of \d+ DINF/);
    assert.equal(low.stderr.trim().split("\n").length, 1, low.stderr);

    const poor = await script("stake", "1000");
    assert.equal(poor.status, 1);
    assert.match(poor.stderr, /^dinfer: 0x[0-9a-fA-F]{40} holds 40 DINF, less than the 1000 DINF to stake/);
    assert.equal(poor.stderr.trim().split("\n").length, 1, poor.stderr);

    const unreachable = await run(["--import", "tsx", path.join(ROOT, "scripts/provider/status.ts")], { ...env, DINFER_RPC_URL: "http://127.0.0.1:9" });
    assert.equal(unreachable.status, 1);
    assert.equal(unreachable.stderr.trim().split("\n").length, 1, unreachable.stderr);
    assert.match(unreachable.stderr, /^dinfer: cannot reach the chain/);

    const status = await script("status");
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^stake +60 DINF/m);
  });

  it("challenge refuses once the window closed, before sending anything", async () => {
    const jobId = await revealedJob();
    env = { ...env, DINFER_PRIVATE_KEY: auditor.key };
    await devnet.connection.networkHelpers.time.increase(WINDOW + 60);
    const before = await balance(auditor.address);
    const late = await dinfer("challenge", String(jobId), "--yes");
    assert.equal(late.status, 1);
    assert.match(late.stderr, new RegExp(`^dinfer: job ${jobId}'s challenge window closed at [-\\d: ]+UTC \\((\\d+ s|\\d+ min( \\d+ s)?) ago\\): its result can no longer be challenged\\n$`));
    assert.equal(late.stdout, "");
    assert.equal(await balance(auditor.address), before);
  });
});
