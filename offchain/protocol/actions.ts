/**
 * The protocol actions every entry point shares. Staking (`dinfer provider stake|unbond|withdraw`, the
 * provider scripts (scripts/provider/*), the devnet's staking of its accounts and the verifier's start):
 * each reads the account, says what it will do (offchain/protocol/staking-plan.ts) through `say`, refuses
 * with that sentence when the plan does, and only then sends. Registering a model (the CLI, the devnet)
 * and ending a job (the CLI's keeper commands, the worker, the verifier). Challenges: ./challenge.ts.
 */
import { erc20Abi, type Address, type ContractFunctionArgs, type Hash, type Hex, type PublicClient } from "viem";

import { jobMarketAbi, modelRegistryAbi, stakingAbi, verificationAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { formatTokens } from "../chain/format.js";
import type { Job } from "../chain/jobs.js";
import { registeredModelId } from "../chain/models.js";
import type { SendParameters, SendReturnType, TxSender } from "../chain/sender.js";
import { NonRetryableError } from "../errors.js";
import { readStakingState } from "./account.js";
import { describeWithdrawRest, planStake, planUnbond } from "./staking-plan.js";

/** What every action needs: the chain, the addresses, and the acting account's sender. */
export type ActionContext = {
  publicClient: PublicClient;
  sender: Pick<TxSender, "send" | "address">;
  deployment: Deployment;
  /** Where the plan's sentences and the results go (the CLI prints them). */
  say?: (line: string) => void;
};

/** A staking action the account's state rules out: its message says why and what to do instead. */
export class ActionRefusedError extends NonRetryableError {
  override name = "ActionRefusedError";
}

/**
 * Approves the staking contract for `amount`, then stakes it with `roles` (bits: provider 1, verifier 2).
 * No plan: for callers that planned already (the verifier's start) or own the account (the devnet).
 */
export async function sendStake({ sender, deployment, amount, roles }: Pick<ActionContext, "sender" | "deployment"> & { amount: bigint; roles: number }): Promise<Hash> {
  await sender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [deployment.staking, amount] });
  const { hash } = await sender.send({ address: deployment.staking, abi: stakingAbi, functionName: "stake", args: [amount, roles] });
  return hash;
}

/** Stakes `amount` with `roles` after saying what the stake becomes; refuses a verifier stake below the minimum. */
export async function stake({ publicClient, sender, deployment, say = () => {}, amount, roles }: ActionContext & { amount: bigint; roles: number }): Promise<{ hash: Hash }> {
  const state = await readStakingState({ publicClient, deployment, address: sender.address });
  const plan = planStake({ amount, roles, state });
  if (plan.action === "refuse") throw new ActionRefusedError(plan.message, { code: "STAKE_REFUSED" });
  const balance = await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "balanceOf", args: [sender.address] });
  if (balance < amount) {
    throw new ActionRefusedError(
      `${sender.address} holds ${formatTokens(balance)}, less than the ${formatTokens(amount)} to stake: get tokens first (the local test token: \`dinfer token mint <tokens>\`)`,
      { code: "STAKE_REFUSED" },
    );
  }
  say(plan.message);
  const hash = await sendStake({ sender, deployment, amount, roles });
  return { hash };
}

/**
 * Starts unbonding `amount` after saying when it is released; when stake is already unbonding the
 * request restarts its clock, so `confirm` is asked first (it throws to stop).
 */
export async function unbond({
  publicClient,
  sender,
  deployment,
  say = () => {},
  amount,
  confirm,
}: ActionContext & { amount: bigint; confirm: (question: string) => Promise<void> }): Promise<{ hash: Hash }> {
  const state = await readStakingState({ publicClient, deployment, address: sender.address });
  const plan = planUnbond({ amount, state, now: (await publicClient.getBlock()).timestamp });
  if (plan.action === "refuse") throw new ActionRefusedError(plan.message, { code: "UNBOND_REFUSED" });
  say(plan.message);
  if (plan.confirm) await confirm("Restart the clock?");
  const { hash } = await sender.send({ address: deployment.staking, abi: stakingAbi, functionName: "requestUnbond", args: [amount] });
  return { hash };
}

export type WithdrawAllReturnType = { stake: bigint; marketCredits: bigint; verificationCredits: bigint };

/**
 * Withdraws everything due: finished unbonding stake, market credits (earnings, refunds) and
 * Verification credits (a challenge's bond back, audit and vote rewards); says each, then what is left
 * or why nothing was due.
 */
export async function withdrawAll({ publicClient, sender, deployment, say = () => {} }: ActionContext): Promise<WithdrawAllReturnType> {
  const address: Address = sender.address;
  const [state, marketCredits, verificationCredits, block] = await Promise.all([
    readStakingState({ publicClient, deployment, address }),
    publicClient.readContract({ address: deployment.market, abi: jobMarketAbi, functionName: "credits", args: [address] }),
    publicClient.readContract({ address: deployment.verification, abi: verificationAbi, functionName: "credits", args: [address] }),
    publicClient.getBlock(),
  ]);
  const now = block.timestamp;
  const done: WithdrawAllReturnType = { stake: 0n, marketCredits: 0n, verificationCredits: 0n };
  if (state.unbonding > 0n && state.unbondingEnd <= now) {
    await sender.send({ address: deployment.staking, abi: stakingAbi, functionName: "withdraw", args: [] });
    say(`withdrew ${formatTokens(state.unbonding)} of stake`);
    done.stake = state.unbonding;
  }
  if (marketCredits > 0n) {
    await sender.send({ address: deployment.market, abi: jobMarketAbi, functionName: "withdraw", args: [] });
    say(`withdrew ${formatTokens(marketCredits)} of market credits`);
    done.marketCredits = marketCredits;
  }
  if (verificationCredits > 0n) {
    await sender.send({ address: deployment.verification, abi: verificationAbi, functionName: "withdraw", args: [] });
    say(`withdrew ${formatTokens(verificationCredits)} of verification credits (bonds back, audit and vote pay)`);
    done.verificationCredits = verificationCredits;
  }
  const withdrew = done.stake > 0n || done.marketCredits > 0n || done.verificationCredits > 0n;
  const rest = describeWithdrawRest({ state, now, withdrew });
  if (rest) say(rest);
  return done;
}

/** A model as `ModelRegistry.register` takes it. */
export type ModelSpec = ContractFunctionArgs<typeof modelRegistryAbi, "nonpayable", "register">[0];

/**
 * Registers a model and returns its id from the transaction's own ModelRegistered event (never
 * `modelCount`, which another registration in the same block may have moved on). The caller checks the
 * file first (`dinfer model check`, offchain/inference/admission.ts).
 */
export async function registerModel({ sender, deployment, spec }: Pick<ActionContext, "sender" | "deployment"> & { spec: ModelSpec }): Promise<{ id: number; hash: Hash }> {
  const { hash, receipt } = await sender.send({ address: deployment.registry, abi: modelRegistryAbi, functionName: "register", args: [spec] });
  return { id: registeredModelId(receipt.logs, deployment.registry), hash };
}

/**
 * Ends a job as a keeper may: `finalize` pays the provider after the challenge window (with the inline
 * output when the job's consumer takes one: `finalizeWithOutput`), `expire` refunds the poster after a
 * missed deadline. `onSent` lets a daemon journal the hash before the receipt.
 */
export async function endJob({
  sender,
  deployment,
  action,
  jobId,
  job,
  inlineOutput,
  onSent,
  group,
}: Pick<ActionContext, "sender" | "deployment"> & {
  action: "finalize" | "expire";
  jobId: bigint;
  job: Job;
  inlineOutput?: Hex;
  onSent?: SendParameters["onSent"];
  /**
   * Sends a finalize grouped with others (offchain/chain/call-group.ts). Never a callback job's: its consumer
   * may take more gas on chain than in the estimate (a poster arms it after the estimate, or tells simulations
   * apart), which a lone finalize survives (the market keeps a reserve after the callback) and a group does not:
   * the calls after it run out of gas and the whole group is paid for, reverted.
   */
  group?: Pick<ActionContext["sender"], "send">;
}): Promise<SendReturnType> {
  const market = { address: deployment.market, abi: jobMarketAbi, onSent } as const;
  if (action === "expire") return sender.send({ ...market, functionName: "expire", args: [jobId, job] });
  if (inlineOutput !== undefined) return sender.send({ ...market, functionName: "finalizeWithOutput", args: [jobId, job, inlineOutput] });
  const via = group !== undefined && job.callbackGasLimit === 0 ? group : sender;
  return via.send({ ...market, functionName: "finalize", args: [jobId, job] });
}
