import { Counter, Gauge } from "prom-client";

import { createDaemonMetrics } from "../daemon/metrics.js";

/** The verifier's Prometheus metrics: the daemon kit's (inference, gas) and its own, on one registry. */
export function createVerifierMetrics() {
  const base = createDaemonMetrics({ inferenceHelp: "Re-execution latency (session.run in the worker thread)" });
  const { registry } = base;
  return {
    ...base,
    audits: new Counter({
      name: "dinfer_verifier_audits_total",
      help: "Audits revealed by this verifier, by verdict (agree, disagree)",
      labelNames: ["verdict"] as const,
      registers: [registry],
    }),
    votes: new Counter({
      name: "dinfer_verifier_votes_total",
      help: "Committee votes revealed by this verifier, by vote (provider_correct, provider_wrong, auditor_wrong)",
      labelNames: ["vote"] as const,
      registers: [registry],
    }),
    challenges: new Counter({
      name: "dinfer_verifier_challenges_total",
      help: "Challenges opened by this verifier's watchdog (bond posted; a challenge found right returns the bond, the finder's share goes to the dApp)",
      registers: [registry],
    }),
    watched: new Counter({
      name: "dinfer_verifier_watched_total",
      help: "Unsampled results the watchdog re-ran and judged, by kind (job: posted alone; batch: in a revealed batch) and verdict (agree, disagree)",
      labelNames: ["kind", "verdict"] as const,
      registers: [registry],
    }),
    batchSplits: new Counter({
      name: "dinfer_verifier_batch_splits_total",
      help: "Jobs the watchdog judged wrong and split out of their batch (splitRevealed) to challenge them",
      registers: [registry],
    }),
    keeper: new Counter({
      name: "dinfer_verifier_keeper_actions_total",
      help: "Keeper actions sent by this verifier, by action (drawCommittee, resolve, expire, syncVerifier)",
      labelNames: ["action"] as const,
      registers: [registry],
    }),
    rewards: new Counter({
      name: "dinfer_verifier_rewards_wei_total",
      help: "Credits withdrawn (audit rewards, voter pay, finder shares, returned bonds), wei, by contract",
      labelNames: ["source"] as const,
      registers: [registry],
    }),
    penalties: new Counter({
      name: "dinfer_verifier_penalties_total",
      help: "Penalties this verifier suffered, by kind (auditor, voter: one per seat)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    penaltiesWei: new Counter({
      name: "dinfer_verifier_penalties_wei_total",
      help: "Stake this verifier lost to penalties, wei",
      registers: [registry],
    }),
    inputsUnserved: new Counter({
      name: "dinfer_verifier_inputs_unserved_total",
      help: "Steps whose job input no location served by their deadline, the provider's copy included: judged against the provider (a vote, an audit's reveal) or abstained on (a blind audit, a watchdog)",
      labelNames: ["judged"] as const,
      registers: [registry],
    }),
    cpuReruns: new Counter({
      name: "dinfer_verifier_cpu_reruns_total",
      help: "Re-executions that failed on this verifier's GPU provider (ours, not the input's fault) and were run again on CPU, by outcome (ran; failed: the input judged invalid)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    tracked: new Gauge({ name: "dinfer_verifier_jobs_tracked", help: "Jobs this verifier follows and has not closed", registers: [registry] }),
  };
}

export type VerifierMetrics = ReturnType<typeof createVerifierMetrics>;
