/**
 * The loop both daemons (the provider worker, the verifier) run on: one chain head per tick, shared by
 * everything in it. Each tick reads the latest block once, polls the daemon's logs up to it (the poller
 * asks for no head of its own, and for no block the head already names), then lets the daemon start its
 * steps at that same head, so a job discovered in this tick is never read at an older block. While
 * nothing is due (the daemon says it is `idle`) the tick comes every `idleIntervalMs` instead of
 * `intervalMs`: an idle worker makes under one request a second, and a job posted meanwhile is seen
 * within that. On abort, the steps in progress finish (`drain`).
 *
 * A failing endpoint is retried with backoff, and logged as an outage (`OutageLog`): a WARN line at
 * the first failure, then exponentially spaced ones, and one INFO line when it answers again.
 */
import type { Hex, PublicClient } from "viem";

import { backoffDelay, classifyChainError, sleep } from "../chain/errors.js";
import { OutageLog } from "../chain/outage.js";
import type { HeadBlock, LogPoller } from "../chain/poller.js";
import { RetryableError } from "../errors.js";
import type { Logger } from "../log.js";

/** The chain head a tick runs at (its hash where the loop read it: another hash at the same height is another block). */
export type TickHead = { number: bigint; timestamp: bigint; hash?: Hex };

/** What the loop ticks: a daemon that starts its steps due at a head and can wait for them. */
export type TickedDaemon = {
  /** Starts the steps due at `head` (returns at once; the steps run on). */
  tick(head: TickHead): void;
  /** Starts no new step and waits for those in progress. */
  drain(): Promise<void>;
  /** Steps in progress. */
  readonly busy: number;
  /** Nothing due soon: the next tick may wait `idleIntervalMs` (a daemon without it is never idle). */
  readonly idle?: boolean;
};

export type RunDaemonLoopParameters = {
  publicClient: PublicClient;
  poller: LogPoller;
  daemon: TickedDaemon;
  intervalMs: number;
  /** The tick interval while the daemon is idle (default: `intervalMs`). */
  idleIntervalMs?: number;
  /** Longest wait between tries while the endpoint fails. */
  maxRetryDelayMs?: number;
  signal: AbortSignal;
  log: Logger;
};

/** Runs until `signal` aborts, then waits for the steps in progress. A non-retryable poller failure (a reorg too deep) rejects. */
export async function runDaemonLoop({
  publicClient,
  poller,
  daemon,
  intervalMs,
  idleIntervalMs = intervalMs,
  maxRetryDelayMs = 30_000,
  signal,
  log,
}: RunDaemonLoopParameters): Promise<void> {
  const outage = new OutageLog({ log, what: "chain read" });
  let failures = 0;
  let polledTo: Hex | undefined;
  log.info({ msg: "loop started", interval_ms: intervalMs, idle_interval_ms: idleIntervalMs });
  try {
    while (!signal.aborted) {
      let waitMs: number;
      try {
        const block = await readHead(publicClient);
        const head: HeadBlock & { timestamp: bigint } = { number: block.number, hash: block.hash, parentHash: block.parentHash, timestamp: block.timestamp };
        let found = 0;
        // Polled again when the head is another block, not only another height: a block replaced at the same
        // height is a reorg the poller must see (it rewinds and redelivers; the worker forgets what it knew).
        if (polledTo !== head.hash) {
          for (;;) {
            const { caughtUp, delivered } = await poller.poll({ head });
            found += delivered;
            if (caughtUp) break;
          }
          polledTo = head.hash;
        }
        daemon.tick(head);
        outage.ok();
        failures = 0;
        waitMs = found === 0 && daemon.idle === true ? idleIntervalMs : intervalMs;
      } catch (error) {
        if (signal.aborted) break;
        if (!(error instanceof RetryableError)) throw error;
        waitMs = backoffDelay({ attempt: failures++, baseDelayMs: intervalMs, maxDelayMs: maxRetryDelayMs });
        outage.failed(error, { retry_in_ms: waitMs });
      }
      try {
        await sleep(waitMs, signal);
      } catch {
        break;
      }
    }
  } finally {
    log.info({ msg: "stopping: finishing the steps in progress", busy: daemon.busy });
    await daemon.drain();
  }
}

async function readHead(publicClient: PublicClient) {
  try {
    return await publicClient.getBlock({ blockTag: "latest" });
  } catch (error) {
    throw classifyChainError({ error, details: { method: "eth_getBlockByNumber" } });
  }
}
