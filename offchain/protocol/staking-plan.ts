/**
 * What a staking command will do, said before it is done: pure functions from the account's state and
 * the staking parameters to a plan (the sentence to print, and whether to go ahead, ask first, or
 * refuse with the reason). The CLI's `provider stake|unbond|withdraw` and the verifier's start use them,
 * so that a stake below the verifier minimum, a top-up bigger than asked, a second unbond that restarts
 * the clock, or a withdraw that is not due yet are never silent.
 */
import { formatDuration, formatTokens, formatWhen, plainTokens } from "../chain/format.js";
import { ROLE_BITS, roleNames } from "./account.js";

/** The parts of `Staking.account` and `Staking.params` the plans read. */
export type StakingState = {
  stake: bigint;
  locked: bigint;
  unbonding: bigint;
  unbondingEnd: bigint;
  roles: number;
  inVerifierSet: boolean;
  minVerifierStake: bigint;
  unbondingPeriod: bigint;
};

export type StakePlan =
  | { action: "stake"; amount: bigint; roles: number; message: string }
  | { action: "refuse"; message: string };

/**
 * `provider stake <amount> --roles <roles>`: refuses a verifier stake that leaves the account below the
 * verifier set's minimum (it would never be drawn), and says the resulting stake, the verifier set
 * membership, and a role dropped by the new role bits.
 */
export function planStake({ amount, roles, state }: { amount: bigint; roles: number; state: StakingState }): StakePlan {
  const total = state.stake + amount;
  const verifier = (roles & ROLE_BITS.verifier) !== 0;
  if (verifier && total < state.minVerifierStake) {
    const short = state.minVerifierStake - state.stake;
    return {
      action: "refuse",
      message:
        `staking ${formatTokens(amount)} as a verifier leaves the stake at ${formatTokens(total)}, below the verifier set's minimum of ${formatTokens(state.minVerifierStake)}: ` +
        `the account would not be drawn for audits or committees. Stake at least ${plainTokens(short)}`,
    };
  }
  const parts = [`staking ${formatTokens(amount)} as ${roleNames(roles)}: the stake becomes ${formatTokens(total)}`];
  if (verifier) parts.push(state.inVerifierSet ? "in the verifier set" : `joining the verifier set (minimum ${formatTokens(state.minVerifierStake)})`);
  const dropped = state.roles & ~roles;
  if (dropped !== 0) parts.push(`the ${roleNames(dropped)} role is dropped (roles are replaced: give --roles ${roleNames(state.roles | roles)} to keep it)`);
  return { action: "stake", amount, roles, message: parts.join("; ") };
}

export type VerifierStakePlan =
  | { action: "none"; message?: string }
  | { action: "stake"; amount: bigint; roles: number; message: string }
  | { action: "refuse"; message: string };

/**
 * The verifier's start (`dinfer verifier --stake <tokens>`): stakes exactly what was asked, or refuses
 * when that is not enough to reach the verifier set's minimum (never tops up on its own). Without
 * `stake`, an account outside the set is refused with what to run.
 */
export function planVerifierStake({ stake, state, account = "the account" }: { stake: bigint | undefined; state: StakingState; account?: string }): VerifierStakePlan {
  if (state.inVerifierSet) {
    return stake === undefined
      ? { action: "none" }
      : { action: "none", message: `already in the verifier set with ${formatTokens(state.stake)} staked: --stake ${plainTokens(stake)} is not needed and nothing is staked` };
  }
  const roles = Number(state.roles) | ROLE_BITS.verifier;
  const short = state.minVerifierStake > state.stake ? state.minVerifierStake - state.stake : 0n;
  if (stake === undefined) {
    const needs = short > 0n ? `stake at least ${formatTokens(short)} more` : "add the verifier role";
    return {
      action: "refuse",
      message: `${account} is not in the verifier set: ${needs} (\`dinfer provider stake <tokens> --roles verifier\`, or start with --stake <tokens>)`,
    };
  }
  if (stake < short) {
    return {
      action: "refuse",
      message:
        `--stake ${plainTokens(stake)} is not enough to join the verifier set: ${account} has ${formatTokens(state.stake)} staked and the minimum is ${formatTokens(state.minVerifierStake)}; ` +
        `start with --stake ${plainTokens(short)} or more`,
    };
  }
  return {
    action: "stake",
    amount: stake,
    roles,
    message: `staking ${formatTokens(stake)} as a verifier: the stake becomes ${formatTokens(state.stake + stake)} (minimum ${formatTokens(state.minVerifierStake)})`,
  };
}

export type UnbondPlan =
  | { action: "unbond"; amount: bigint; confirm: boolean; message: string }
  | { action: "refuse"; message: string };

/**
 * `provider unbond <amount>`: the release time, and, when stake is already unbonding, that the new
 * request restarts the clock for all of it (the caller asks for confirmation when `confirm`).
 */
export function planUnbond({ amount, state, now }: { amount: bigint; state: StakingState; now: bigint }): UnbondPlan {
  const available = state.stake - state.locked;
  if (amount > available) {
    return {
      action: "refuse",
      message:
        `only ${formatTokens(available)} of the stake can be unbonded now (${formatTokens(state.locked)} of ${formatTokens(state.stake)} is locked by open jobs): ` +
        `unbond at most ${plainTokens(available)}, or wait for the jobs to end`,
    };
  }
  const end = now + state.unbondingPeriod;
  if (state.unbonding === 0n) {
    return { action: "unbond", amount, confirm: false, message: `unbonding ${formatTokens(amount)}: withdrawable at ${formatWhen(end, now)}` };
  }
  const due = state.unbondingEnd <= now ? "withdrawable now" : `withdrawable at ${formatWhen(state.unbondingEnd, now)}`;
  const lines = [
    `${formatTokens(state.unbonding)} is already unbonding, ${due}.`,
    `Unbonding ${formatTokens(amount)} more restarts the clock for all ${formatTokens(state.unbonding + amount)}: withdrawable at ${formatWhen(end, now)}, ` +
      `${formatDuration(state.unbondingPeriod)} from now.`,
  ];
  if (state.unbondingEnd <= now) lines.push("To keep the first amount from waiting again, run `dinfer provider withdraw` first.");
  return { action: "unbond", amount, confirm: true, message: lines.join("\n") };
}

/**
 * `provider withdraw`: what is left after withdrawing what was due (`withdrew`: something was), or why
 * nothing was: the stake still unbonding and its release time, or that nothing is unbonding at all.
 * Undefined when nothing is left to say.
 */
export function describeWithdrawRest({ state, now, withdrew }: { state: StakingState; now: bigint; withdrew: boolean }): string | undefined {
  const pending = state.unbonding > 0n && state.unbondingEnd > now;
  if (pending) {
    const left = `${formatTokens(state.unbonding)} is unbonding, withdrawable at ${formatWhen(state.unbondingEnd, now)}`;
    return withdrew ? `still ${left}` : `nothing to withdraw yet: ${left}; no market credits`;
  }
  if (withdrew) return undefined;
  return "nothing to withdraw: no stake is unbonding (`dinfer provider unbond <amount>` starts unbonding) and there are no market credits";
}
