/**
 * What a user reads from `dinfer` when something is wrong or about to happen, as processes against a
 * devnet (a real `hardhat node` with the protocol deployed): a key with no ETH fails at once with
 * the account named; a post to a model that does not exist, or below its price floor, is refused
 * before anything is escrowed; a revert reads as a sentence; a bad flag prints one line and a hint;
 * staking says what it will do, refuses a verifier stake below the minimum, asks before a second
 * unbond restarts the clock, and withdraw says when the stake is released; status shows a declared profile.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { after, before, describe, it } from "mocha";
import { generatePrivateKey } from "viem/accounts";

import { dinferTestTokenAbi } from "../../offchain/chain/abis.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { devAccount, startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");

type Run = { status: number | null; stdout: string; stderr: string; ms: number };

function dinfer(args: string[], env: Record<string, string> = {}): Run {
  const started = Date.now();
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", DINFER_DEBUG: "", ...env }, timeout: 120_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, ms: Date.now() - started };
}

describe("dinfer: what users read (CLI processes against a devnet)", function () {
  this.timeout(300_000);
  let devnet: Devnet;
  let config: string;
  let input: string;
  /** An account the devnet leaves alone: funded with ETH by the node, no tokens, no stake. */
  const user = devAccount(15);
  const as = (key: string, ...args: string[]) => dinfer(["--config", config, ...args], { DINFER_PRIVATE_KEY: key });

  before(async function () {
    this.timeout(240_000);
    devnet = await startDevnet({ providers: 0, verifiers: 0 });
    config = path.join(devnet.tempDir("cli-messages"), "config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: devnet.url, addresses: devnet.deployment }));
    input = path.join(path.dirname(config), "input.bin");
    writeFileSync(input, encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", dims: [1, 2], values: [1, 2] })]));
  });

  after(async () => {
    await devnet?.stop();
  });

  it("prints the version from package.json", () => {
    const run = dinfer(["--version"]);
    assert.equal(run.status, 0);
    assert.equal(run.stdout.trim(), (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });

  it("answers a bad flag with the error and a hint to the command's --help, not the whole help", () => {
    const run = dinfer(["job", "post", "--model", "1", "--input", "x", "--fee", "1", "--feee", "1"]);
    assert.equal(run.status, 1);
    assert.doesNotMatch(run.stderr, /Usage:|Options:/);
    const lines = run.stderr.trim().split("\n");
    assert.match(lines[0]!, /^error: unknown option '--feee'/);
    assert.equal(lines.at(-1), "see `dinfer job post --help`");
    assert.ok(lines.length <= 3, run.stderr);
    const amount = dinfer(["job", "post", "--model", "1", "--input", "x", "--fee", "lots"]);
    assert.equal(amount.stderr, 'dinfer: --fee must be a positive decimal number of tokens, got "lots"\nsee `dinfer job post --help`\n');
  });

  it("fails at once, naming the account and its 0 ETH, when the key has no ETH for gas (no retries)", () => {
    const run = as(generatePrivateKey(), "token", "mint", "1");
    assert.equal(run.status, 1, run.stdout);
    assert.match(run.stderr, /^dinfer: account 0x[0-9a-fA-F]{40} has 0 ETH for gas \(this transaction may cost up to 0\.\d+ ETH\): fund it with ETH \(on the devnet: use a key `dinfer devnet` prints/);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.ok(run.ms < 10_000, `took ${run.ms} ms: retried?`);
  });

  it("refuses a post to a model that does not exist, or below its price floor, before escrowing anything", async () => {
    const before = await devnet.publicClient.readContract({ address: devnet.deployment.token, abi: dinferTestTokenAbi, functionName: "balanceOf", args: [devnet.dapp.address] });
    const unknown = as(devnet.dapp.key, "job", "post", "--model", "99", "--input", input, "--fee", "5");
    assert.equal(unknown.status, 1);
    assert.equal(unknown.stderr, "dinfer: model 99 does not exist: the registry holds models 1 to 2 (`dinfer model show <id>`)\n");
    const cheap = as(devnet.dapp.key, "job", "post", "--model", String(devnet.modelIds.cls), "--input", input, "--fee", "0.5");
    assert.equal(cheap.status, 1);
    assert.equal(
      cheap.stderr,
      `dinfer: model ${devnet.modelIds.cls}: the fee 0.5 DINF is below the model's price floor of 1 DINF: post with a fee of at least 1 (FeeBelowFloor)\n`,
    );
    const after = await devnet.publicClient.readContract({ address: devnet.deployment.token, abi: dinferTestTokenAbi, functionName: "balanceOf", args: [devnet.dapp.address] });
    assert.equal(after, before);
  });

  it("prints a revert as a sentence with the remedy, not the error's name with wei", () => {
    const run = as(user.key, "model", "deactivate", String(devnet.modelIds.cls));
    assert.equal(run.status, 1);
    assert.equal(run.stderr, `dinfer: ${user.address} does not own model ${devnet.modelIds.cls}: use the owner's key (NotModelOwner)\n`);
  });

  it("staking says what it will do: refuses a verifier stake below the minimum, asks before a second unbond, says when a withdraw is due", () => {
    assert.equal(as(user.key, "token", "mint", "500").status, 0);

    const low = as(user.key, "provider", "stake", "10", "--roles", "verifier");
    assert.equal(low.status, 1);
    assert.equal(
      low.stderr,
      "dinfer: staking 10 DINF as a verifier leaves the stake at 10 DINF, below the verifier set's minimum of 100 DINF: the account would not be drawn for audits or committees. Stake at least 100\n",
    );

    const staked = as(user.key, "provider", "stake", "200", "--roles", "provider");
    assert.equal(staked.status, 0, staked.stderr);
    assert.match(staked.stdout, /^staking 200 DINF as provider: the stake becomes 200 DINF\nstaked 200 DINF as provider/);

    const nothing = as(user.key, "provider", "withdraw");
    assert.equal(nothing.stdout, "nothing to withdraw: no stake is unbonding (`dinfer provider unbond <amount>` starts unbonding) and there are no market credits\n");

    const first = as(user.key, "provider", "unbond", "50");
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^unbonding 50 DINF: withdrawable at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 2 h\)\n/);

    const notYet = as(user.key, "provider", "withdraw");
    assert.match(notYet.stdout, /^nothing to withdraw yet: 50 DINF is unbonding, withdrawable at [-\d: ]+UTC \(in (2 h|1 h 59 min)\); no market credits\n$/);

    const second = as(user.key, "provider", "unbond", "20");
    assert.equal(second.status, 1, "not confirmed: stdin is not a terminal and there is no --yes");
    assert.match(second.stdout, /^50 DINF is already unbonding, withdrawable at .*\nUnbonding 20 DINF more restarts the clock for all 70 DINF: withdrawable at .* \(in 2 h\), 2 h from now\.\n$/);
    assert.equal(second.stderr, "dinfer: not confirmed: run again with --yes to go ahead\nsee `dinfer provider unbond --help`\n");
    assert.match(as(user.key, "provider", "status").stdout, /^unbonding +50 DINF \(withdrawable at /m, "nothing was sent");

    const confirmed = as(user.key, "provider", "unbond", "20", "--yes");
    assert.equal(confirmed.status, 0, confirmed.stderr);
    assert.match(as(user.key, "provider", "status").stdout, /^unbonding +70 DINF \(withdrawable at .*\(in (2 h|1 h 59 min)\)\)/m);
  });

  it("provider status prints the provider's profile line once it declared one, and none before", () => {
    const before = as(user.key, "provider", "status");
    assert.equal(before.status, 0, before.stderr);
    assert.doesNotMatch(before.stdout, /^profile:/m);
    const set = as(user.key, "provider", "profile", "set", "--region", "eu-west", "--ep", "gpu", "--capacity", "2", "--models", "1");
    assert.equal(set.status, 0, set.stderr);
    assert.match(as(user.key, "provider", "status").stdout, /^profile: region eu-west, gpu, 2 jobs at once, models 1; set .* \(self-declared\)$/m);
  });
});

