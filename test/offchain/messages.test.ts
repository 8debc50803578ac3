/**
 * What a person reads when something fails or is about to happen: a sentence for every custom error in
 * the compiled ABIs (a drift test: a contract that gains an error without a sentence fails here), the
 * CLI's one-line error formatting, and the staking plans that say what stake, unbond and withdraw will do.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, it } from "mocha";
import { encodeErrorResult, parseEther, RpcRequestError, type AbiParameter } from "viem";

import { classifyChainError, ContractRevertError } from "../../offchain/chain/errors.js";
import { formatDuration, formatWhen } from "../../offchain/chain/format.js";
import { describeRevert, REVERT_SENTENCES } from "../../offchain/chain/revert-messages.js";
import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { formatAccountStatus } from "../../offchain/protocol/account.js";
import { describeWithdrawRest, planStake, planUnbond, planVerifierStake, type StakingState } from "../../offchain/protocol/staking-plan.js";
import { formatCliError } from "../../offchain/ui/messages.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

type AbiError = { type: "error"; name: string; inputs: AbiParameter[] };

/** Every custom error in the compiled artifacts of contracts/ (the protocol, its interfaces and libraries, the examples), by file. */
function compiledErrors(): { file: string; error: AbiError }[] {
  const found: { file: string; error: AbiError }[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) {
        if (name !== "test") walk(full);
      } else if (name.endsWith(".json") && !name.endsWith(".dbg.json")) {
        const abi = (JSON.parse(readFileSync(full, "utf8")) as { abi?: { type: string }[] }).abi ?? [];
        for (const item of abi) if (item.type === "error") found.push({ file: path.relative(ROOT, full), error: item as AbiError });
      }
    }
  };
  walk(path.join(ROOT, "artifacts/contracts"));
  return found;
}

/** The arguments that are token amounts, by error: they must read as tokens ("1.5 DINF"), never wei. */
const TOKEN_ARGS: Record<string, string[]> = {
  FeeBelowFloor: ["fee", "floor"],
  FeeTooLarge: ["fee"],
  AmountTooLarge: ["amount"],
  TokenTransferMismatch: ["expected", "received"],
  InsufficientUnlockedStake: ["available", "requested"],
  MinVerifierStakeBelowBond: ["minVerifierStake", "challengeBond"],
  FaucetLimit: ["requested", "limit"],
  ERC20InsufficientBalance: ["balance", "needed"],
  ERC20InsufficientAllowance: ["allowance", "needed"],
};

/** A plausible value for an argument: 1.5 tokens for an amount (so wei would show), small numbers otherwise. */
function sample(errorName: string, input: AbiParameter): unknown {
  const { type, name } = input;
  if (TOKEN_ARGS[errorName]?.includes(name ?? "")) return parseEther("1.5");
  if (type.startsWith("uint8")) return 4;
  if (type.startsWith("uint") || type.startsWith("int")) return 1_800_000_000n;
  if (type === "address") return "0x00000000000000000000000000000000000000aa";
  if (type === "bytes32") return `0x${"ab".repeat(32)}`;
  if (type === "string") return "a reason";
  if (type === "bool") return true;
  return "0x";
}

describe("messages: a sentence for every contract error", () => {
  it("has a sentence for every custom error in the compiled ABIs (fails when a contract adds one without)", () => {
    const errors = compiledErrors();
    assert.ok(errors.length > 100, `only ${errors.length} errors found: are the contracts built?`);
    const missing = [...new Set(errors.filter(({ error }) => !(error.name in REVERT_SENTENCES)).map(({ file, error }) => `${error.name} (${file})`))];
    assert.deepEqual(missing, [], "errors without a sentence in offchain/chain/revert-messages.ts");
  });

  it("renders every error with amounts in tokens, never wei, and no undefined, NaN or object dumps", () => {
    for (const { error } of compiledErrors()) {
      const args = error.inputs.map((input) => sample(error.name, input));
      const sentence = describeRevert({ errorName: error.name, args });
      assert.doesNotMatch(sentence, /undefined|NaN|\[object|1500000000000000000/, `${error.name}: ${sentence}`);
      if (TOKEN_ARGS[error.name]) assert.match(sentence, /1\.5 DINF/, `${error.name}: ${sentence}`);
      assert.ok(sentence.endsWith(`(${error.name})`), sentence);
      assert.ok(sentence.length < 300, `${error.name} is too long: ${sentence}`);
    }
  });

  it("says fees in tokens, job statuses by name and times as dates with the time left", () => {
    assert.equal(
      describeRevert({ errorName: "FeeBelowFloor", args: [parseEther("0.5"), parseEther("1")] }),
      "the fee 0.5 DINF is below the model's price floor of 1 DINF: post with a fee of at least 1 (FeeBelowFloor)",
    );
    assert.equal(
      describeRevert({ errorName: "WrongStatus", args: [4n, 7] }),
      "job 4 is Expired (it expired: its fee was refunded), and this action needs another status: see `dinfer job get 4` (WrongStatus)",
    );
    assert.match(
      describeRevert({ errorName: "UnbondingNotFinished", args: ["0x00000000000000000000000000000000000000aa", 1_800_007_200n, 1_800_000_000n] }),
      /withdrawable at 2027-01-15 \d\d:\d\d:\d\d UTC \(in 2 h\): withdraw after that/,
    );
    assert.match(describeRevert({ errorName: "ModelInactive", args: [7n] }), /^model 7 does not accept jobs: it is not registered or its owner deactivated it/);
  });

  it("decodes real revert data from the ABIs into the sentence the CLI prints, on one line", () => {
    const abi = jobMarketAbi;
    const data = encodeErrorResult({ abi, errorName: "FeeBelowFloor", args: [parseEther("0.25"), parseEther("2")] });
    const error = classifyChainError({ error: Object.assign(new Error("execution reverted"), { data }), abi });
    assert.ok(error instanceof ContractRevertError);
    assert.equal(formatCliError({ error }), "dinfer: the fee 0.25 DINF is below the model's price floor of 2 DINF: post with a fee of at least 2 (FeeBelowFloor)");
  });

  it("prints a viem error as one line without its dump, and the details and stack only when verbose", () => {
    const error = new RpcRequestError({ url: "http://127.0.0.1:8545", body: { method: "eth_call" }, error: { code: -32000, message: "something odd" } });
    const line = formatCliError({ error });
    assert.equal(line.split("\n").length, 1, line);
    assert.doesNotMatch(line, /Request body|Version: viem|URL:/);
    const verbose = formatCliError({ error, verbose: true });
    assert.ok(verbose.split("\n").length > 3);
    assert.match(verbose, /at /, "a stack");
    assert.equal(formatCliError({ error: Object.assign(new Error("ENOENT: no such file or directory, open 'x.bin'"), { code: "ENOENT", path: "x.bin" }) }), "dinfer: no such file: x.bin");
  });
});

describe("messages: durations and dates", () => {
  it("keeps the two largest units", () => {
    assert.deepEqual([0, 45, 90, 7200, 7199, 93_784].map((s) => formatDuration(s)), ["0 s", "45 s", "1 min 30 s", "2 h", "1 h 59 min", "1 d 2 h"]);
    assert.equal(formatWhen(1_800_000_060n, 1_800_000_000n), "2027-01-15 08:01:00 UTC (in 1 min)");
    assert.equal(formatWhen(1_800_000_000n, 1_800_000_060n), "2027-01-15 08:00:00 UTC (1 min ago)");
  });
});

describe("messages: staking says what it will do", () => {
  const state = (over: Partial<StakingState> = {}): StakingState => ({
    stake: 0n,
    locked: 0n,
    unbonding: 0n,
    unbondingEnd: 0n,
    roles: 0,
    inVerifierSet: false,
    minVerifierStake: parseEther("100"),
    unbondingPeriod: 7200n,
    ...over,
  });
  const NOW = 1_800_000_000n;

  it("refuses a verifier stake that leaves the account below the verifier set's minimum, naming the amount that would do", () => {
    const plan = planStake({ amount: parseEther("10"), roles: 2, state: state({ stake: parseEther("5") }) });
    assert.equal(plan.action, "refuse");
    assert.equal(
      plan.message,
      "staking 10 DINF as a verifier leaves the stake at 15 DINF, below the verifier set's minimum of 100 DINF: the account would not be drawn for audits or committees. Stake at least 95",
    );
    const enough = planStake({ amount: parseEther("95"), roles: 3, state: state({ stake: parseEther("5"), roles: 1 }) });
    assert.deepEqual(enough, {
      action: "stake",
      amount: parseEther("95"),
      roles: 3,
      message: "staking 95 DINF as provider,verifier: the stake becomes 100 DINF; joining the verifier set (minimum 100 DINF)",
    });
    assert.equal(planStake({ amount: parseEther("10"), roles: 1, state: state() }).action, "stake", "a provider has no minimum");
  });

  it("says when new role bits drop a role the account holds", () => {
    const plan = planStake({ amount: parseEther("10"), roles: 1, state: state({ stake: parseEther("200"), roles: 3, inVerifierSet: true }) });
    assert.match(plan.message, /the verifier role is dropped \(roles are replaced: give --roles provider,verifier to keep it\)/);
  });

  it("stakes exactly the verifier's --stake, or refuses when it does not reach the minimum (never tops up)", () => {
    assert.deepEqual(planVerifierStake({ stake: parseEther("10"), state: state({ stake: parseEther("10") }) }), {
      action: "refuse",
      message: "--stake 10 is not enough to join the verifier set: the account has 10 DINF staked and the minimum is 100 DINF; start with --stake 90 or more",
    });
    const plan = planVerifierStake({ stake: parseEther("90"), state: state({ stake: parseEther("10"), roles: 1 }) });
    assert.equal(plan.action, "stake");
    assert.equal(plan.action === "stake" && plan.amount, parseEther("90"));
    assert.equal(plan.action === "stake" && plan.roles, 3);
    assert.deepEqual(planVerifierStake({ stake: parseEther("10"), state: state({ stake: parseEther("500"), inVerifierSet: true }) }), {
      action: "none",
      message: "already in the verifier set with 500 DINF staked: --stake 10 is not needed and nothing is staked",
    });
  });

  it("says the release time of an unbond, and asks before a second one restarts the clock for all of it", () => {
    const first = planUnbond({ amount: parseEther("50"), state: state({ stake: parseEther("200") }), now: NOW });
    assert.deepEqual(first, { action: "unbond", amount: parseEther("50"), confirm: false, message: "unbonding 50 DINF: withdrawable at 2027-01-15 10:00:00 UTC (in 2 h)" });
    const second = planUnbond({ amount: parseEther("20"), state: state({ stake: parseEther("150"), unbonding: parseEther("50"), unbondingEnd: NOW + 600n }), now: NOW });
    assert.equal(second.action === "unbond" && second.confirm, true);
    assert.equal(
      second.message,
      "50 DINF is already unbonding, withdrawable at 2027-01-15 08:10:00 UTC (in 10 min).\n" +
        "Unbonding 20 DINF more restarts the clock for all 70 DINF: withdrawable at 2027-01-15 10:00:00 UTC (in 2 h), 2 h from now.",
    );
    const due = planUnbond({ amount: parseEther("20"), state: state({ stake: parseEther("150"), unbonding: parseEther("50"), unbondingEnd: NOW - 5n }), now: NOW });
    assert.match(due.message, /withdrawable now\.\n.*\nTo keep the first amount from waiting again, run `dinfer provider withdraw` first\./);
    const locked = planUnbond({ amount: parseEther("60"), state: state({ stake: parseEther("150"), locked: parseEther("100") }), now: NOW });
    assert.deepEqual(locked, {
      action: "refuse",
      message: "only 50 DINF of the stake can be unbonded now (100 DINF of 150 DINF is locked by open jobs): unbond at most 50, or wait for the jobs to end",
    });
  });

  it("shows a penalty debt in the account status only when one is owed, in tokens", () => {
    const status = {
      address: "0x00000000000000000000000000000000000000aa" as const,
      roles: "provider, verifier",
      stake: parseEther("150"),
      locked: parseEther("150"),
      available: 0n,
      unbonding: 0n,
      unbondingEnd: 0n,
      inVerifierSet: true,
      verifierWeight: parseEther("150"),
      penaltyDebt: parseEther("50"),
      credits: 0n,
      wallet: 0n,
    };
    assert.match(formatAccountStatus(status, NOW), /\npenalty debt   50 DINF  \(verifier penalties owed on the locked collateral: taken as it comes back\)\n/);
    assert.doesNotMatch(formatAccountStatus({ ...status, penaltyDebt: 0n }, NOW), /penalty debt/);
  });

  it("says how much is unbonding and when it is released when nothing can be withdrawn yet", () => {
    assert.equal(
      describeWithdrawRest({ state: state({ unbonding: parseEther("50"), unbondingEnd: NOW + 3_600n }), now: NOW, withdrew: false }),
      "nothing to withdraw yet: 50 DINF is unbonding, withdrawable at 2027-01-15 09:00:00 UTC (in 1 h); no market credits",
    );
    assert.equal(
      describeWithdrawRest({ state: state({ unbonding: parseEther("50"), unbondingEnd: NOW + 3_600n }), now: NOW, withdrew: true }),
      "still 50 DINF is unbonding, withdrawable at 2027-01-15 09:00:00 UTC (in 1 h)",
    );
    assert.match(describeWithdrawRest({ state: state(), now: NOW, withdrew: false })!, /^nothing to withdraw: no stake is unbonding/);
    assert.equal(describeWithdrawRest({ state: state({ unbonding: parseEther("50"), unbondingEnd: NOW }), now: NOW, withdrew: true }), undefined);
  });
});
