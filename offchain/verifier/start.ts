/**
 * Builds the verifier daemon from its options and runs it until the signal aborts: chain clients,
 * the verifier role (staked on request), journal, blob store and server, models checked against the
 * registry and warmed (every session created before the first tick), inference threads, metrics, the
 * log poller over the market's, Verification's, Staking's and the BatchMarket's events, the blob pruner, and the
 * tick loop. Shutdown finishes the steps in progress, then closes everything.
 */
import type { Abi, AbiEvent, Address, Hex, PublicClient } from "viem";

import { batchMarketAbi, jobMarketAbi, stakingAbi, verificationAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { LogPoller } from "../chain/poller.js";
import { TxSender } from "../chain/sender.js";
import { TermsReader } from "../chain/terms.js";
import { createWasmKeccak256 } from "../codec/keccak-wasm.js";
import { ConfigError } from "../config/options.js";
import type { Logger } from "../log.js";
import { formatTokens } from "../chain/format.js";
import { connectChain } from "../daemon/chain.js";
import { allowsPrivateHosts } from "../daemon/options.js";
import { runDaemonLoop } from "../daemon/loop.js";
import { readDaemonSecret } from "../daemon/secrets.js";
import { inferenceThreads, openDaemonServices } from "../daemon/services.js";
import { readStakingState } from "../protocol/account.js";
import { sendStake } from "../protocol/actions.js";
import { planVerifierStake } from "../protocol/staking-plan.js";
import { journalCursorStore } from "../state/cursor-store.js";
import type { Journal } from "../state/journal.js";
import type { LocalBlobStore } from "../storage/local.js";
import { BlobPruner } from "../storage/prune.js";
import { prepareVerifierModel, warmVerifierModels } from "./judge.js";
import { createVerifierMetrics } from "./metrics.js";
import type { VerifierOptions } from "./options.js";
import { startIdleStatus } from "./status.js";
import { SLASH_EVENTS, VERIFIER_SET_EVENTS, VerifierDaemon, verifierEntriesProtect } from "./verifier.js";

export type RunVerifierParameters = {
  options: VerifierOptions;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  onReady?: (info: { blobUrl: string; metricsUrl?: string; account: Hex }) => void;
};

/** The market's, Verification's and Staking's events the verifier follows (the market's JobPosted starts tracking a job). */
const MARKET_EVENTS = ["JobPosted", "JobImported", "ResultCommitted", "ResultRevealed", "OutputAnnounced", "JobDisputed", "DisputeSettled", "JobFinalized", "JobExpired"];
/** The BatchMarket's events the watchdog follows batches by (BatchPosted starts following one, with the watchdog on). */
const BATCH_EVENTS = ["BatchPosted", "BatchRevealed", "JobSplit", "BatchFinalized", "BatchExpired"];
const VERIFICATION_EVENTS = [
  "AuditCommitted",
  "AuditRevealed",
  "AuditorPenalized",
  "ChallengeOpened",
  "CommitteeReseeded",
  "CommitteeDrawn",
  "VoteCommitted",
  "VoteRevealed",
  "VoterPenalized",
  "DisputeResolved",
];

export async function runVerifier({ options, log, signal, env = process.env, onReady }: RunVerifierParameters): Promise<void> {
  const secret = readDaemonSecret({ env, variable: options.secretEnv, owner: "verifier", derives: "audit and vote salts" });
  // Inference options that are wrong without any chain fail first: nothing is staked or opened for them.
  inferenceThreads(options);
  const chain = await connectChain({ options, env, keyed: true });
  const { publicClient, walletClient, account, chainId, deployment } = chain;
  const allowPrivateHosts = allowsPrivateHosts({ allowPrivateHosts: options.allowPrivateHosts, chainId });
  const sender = new TxSender({ publicClient, walletClient: walletClient!, logger: log.child({ component: "sender" }), keccak: await createWasmKeccak256() });
  await ensureVerifier({ publicClient, sender, deployment, account: account!.address, stake: options.stake, log });

  const metrics = createVerifierMetrics();
  const services = await openDaemonServices({ ...options, chain: { publicClient, chainId, market: deployment.market }, registry: metrics.registry, log });
  const { journal, store, outputs, runner, blobServer, metricsUrl, publicUrl, ipfs } = services;
  try {
    const models = await Promise.all(options.models.map((m) => prepareVerifierModel({ ...m, publicClient, deployment })));
    const daemon = new VerifierDaemon({
      log,
      publicClient,
      sender,
      account: account!.address,
      chainId,
      deployment,
      journal,
      runner,
      store,
      outputs,
      models,
      secret,
      publicUrl,
      metrics,
      ep: options.ep,
      inferenceTimeoutMs: options.inferenceTimeoutMs,
      maxInputBytes: options.maxInputBytes,
      maxOutputBytes: options.maxOutputBytes,
      ipfsGateway: options.ipfsGateway,
      ipfs,
      allowFileUris: options.allowFileUris,
      allowPrivateHosts,
      outputReserveSeconds: options.outputReserveSeconds,
      keeper: options.keeper,
      keeperGraceSeconds: options.keeperGraceSeconds,
      watchdog: options.watchdog,
      withdrawMin: options.withdrawMin,
      pruner: verifierBlobPruner({ retentionSeconds: options.blobRetentionSeconds, stores: [store, outputs], journal, publicClient, market: deployment.market, log }),
    });
    await daemon.init();
    // Every session is created now, before the first tick: one created at the first audit came too late
    // for its blind commit on a loaded machine (issue 10).
    const warm = await warmVerifierModels({ runner, models, ep: options.ep, timeoutMs: options.inferenceTimeoutMs });
    log.info({ msg: "models warmed", ms: warm.ms, models: warm.models.map((m) => ({ id: m.modelId, ms: m.ms })), threads: runner.stats().workers });

    const events = [
      ...eventsOf(jobMarketAbi, MARKET_EVENTS),
      ...eventsOf(verificationAbi, VERIFICATION_EVENTS),
      ...eventsOf(stakingAbi, [...VERIFIER_SET_EVENTS, ...SLASH_EVENTS]),
      ...eventsOf(batchMarketAbi, BATCH_EVENTS),
    ];
    const poller = new LogPoller({
      name: `verifier-${deployment.verification.toLowerCase()}`,
      publicClient,
      store: journalCursorStore(journal),
      // One request a poll over all four contracts: an idle verifier stays under one RPC request a second.
      address: [deployment.market, deployment.verification, deployment.staking, deployment.batchMarket],
      events,
      startBlock: options.startBlock,
      confirmations: options.confirmations,
      pollingIntervalMs: options.pollIntervalMs,
      logger: log.child({ component: "poller" }),
      onReorg: () => daemon.onReorg(),
      onLogs: async ({ logs }) => daemon.onLogs(logs),
    });

    log.info({
      msg: "verifier ready",
      account: account!.address,
      verification: deployment.verification,
      models: models.map((m) => ({ id: m.modelId, tolerance: m.policy })),
      keeper: options.keeper,
      watchdog: options.watchdog,
      allow_private_hosts: allowPrivateHosts,
      blob_url: blobServer.url,
      metrics_url: metricsUrl,
      ...(ipfs ? { ipfs_peer_id: ipfs.peerId, ipfs_addresses: ipfs.addresses() } : {}),
    });
    onReady?.({ blobUrl: blobServer.url, metricsUrl, account: account!.address });
    const stopStatus = startIdleStatus({ daemon, publicClient, staking: deployment.staking, account: account!.address, intervalMs: options.statusIntervalMs, log });
    try {
      await runDaemonLoop({ publicClient, poller, daemon, intervalMs: options.pollIntervalMs, signal, log });
    } finally {
      stopStatus();
    }
  } finally {
    await services.close();
    log.info({ msg: "verifier stopped" });
  }
}

/**
 * The verifier's blob pruner, as the worker's (offchain/storage/prune.ts): an auditor that runs for weeks would
 * otherwise keep every output it re-ran for good. It deletes a file kept longer ago than twice the longest job
 * lifetime plus `retentionSeconds`, and never one that an entry still open in the journal names
 * (`verifierEntriesProtect`); none at all with `retentionSeconds` -1 (undefined: no pruner).
 */
export function verifierBlobPruner({
  retentionSeconds,
  stores,
  journal,
  publicClient,
  market,
  log,
}: {
  retentionSeconds: number;
  stores: readonly LocalBlobStore[];
  journal: Journal;
  publicClient: PublicClient;
  market: Address;
  log: Logger;
}): BlobPruner | undefined {
  if (retentionSeconds < 0) return undefined;
  return new BlobPruner({
    stores,
    lifetimeSeconds: () => new TermsReader({ client: publicClient, market }).longestJobLifetime(),
    retentionSeconds,
    protectedIds: () => verifierEntriesProtect(journal),
    log: log.child({ component: "prune" }),
  });
}

export type EnsureVerifierParameters = {
  publicClient: PublicClient;
  sender: TxSender;
  deployment: Deployment;
  account: Address;
  /** Stake exactly this many wei when the account is not in the verifier set (refused when it is not enough to join). */
  stake?: bigint;
  log: Logger;
};

/**
 * Makes sure the account is in the verifier set: with `stake`, stakes exactly that much with the
 * verifier role, after saying so, or refuses when it would not reach the minimum (it never stakes more
 * than asked); without it, fails naming what to run. Already in the set: nothing is staked, and a
 * `stake` given is reported as unused.
 */
export async function ensureVerifier({ publicClient, sender, deployment, account, stake, log }: EnsureVerifierParameters): Promise<void> {
  const state = await readStakingState({ publicClient, deployment, address: account });
  const plan = planVerifierStake({ stake, state, account });
  switch (plan.action) {
    case "none":
      if (plan.message) log.info({ msg: plan.message, account });
      return;
    case "refuse":
      throw new ConfigError(plan.message, {
        code: "NOT_A_VERIFIER",
        details: { account, stake: state.stake.toString(), minVerifierStake: state.minVerifierStake.toString() },
      });
    case "stake":
      log.info({ msg: plan.message, account, amount: plan.amount.toString(), amount_tokens: formatTokens(plan.amount) });
      await sendStake({ sender, deployment, amount: plan.amount, roles: plan.roles });
      log.info({ msg: "staked as a verifier", account, amount: plan.amount.toString(), amount_tokens: formatTokens(plan.amount) });
  }
}

/** The ABI's events of these names; a name it lacks (an event renamed in the contracts) stops the start. */
function eventsOf(abi: Abi, names: readonly string[]): AbiEvent[] {
  return names.map((name) => {
    const event = abi.find((item): item is AbiEvent => item.type === "event" && item.name === name);
    if (event === undefined) throw new Error(`the contract ABI has no event ${name}: offchain/verifier follows events the contracts no longer emit`);
    return event;
  });
}
