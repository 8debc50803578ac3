/**
 * The daemon kit both daemons stand on (offchain/daemon/): the journaled send-at-most-once action (on a
 * real SQLite journal), the tick loop (on an in-process chain with a real log poller), the shared
 * options, the daemon secret, and the idle status line's timer.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { before, describe, it } from "mocha";
import pino from "pino";
import { getAbiItem, TransactionNotFoundError, TransactionReceiptNotFoundError, type AbiEvent, type Address, type Hex, type TransactionReceipt } from "viem";

import { dinferTestTokenAbi } from "../../offchain/chain/abis.js";
import { ContractRevertError } from "../../offchain/chain/errors.js";
import { LogPoller, MemoryCursorStore } from "../../offchain/chain/poller.js";
import type { SendReturnType } from "../../offchain/chain/sender.js";
import { ConfigError } from "../../offchain/config/options.js";
import { JournaledActions } from "../../offchain/daemon/action.js";
import { runDaemonLoop, type TickHead } from "../../offchain/daemon/loop.js";
import { readDaemonSecret } from "../../offchain/daemon/secrets.js";
import { startStatusLine } from "../../offchain/daemon/status.js";
import { silentLogger } from "../../offchain/log.js";
import { WorkerOptionsSchema } from "../../offchain/provider/options.js";
import { Journal } from "../../offchain/state/journal.js";
import { VerifierOptionsSchema } from "../../offchain/verifier/options.js";

const TX = `0x${"aa".repeat(32)}` as Hex;

/** A mined transaction as the sender returns it, after telling `onSent` its hash. */
function sent(onSent: (tx: { hash: Hex; nonce: number }) => void): SendReturnType {
  onSent({ hash: TX, nonce: 4 });
  return { hash: TX, nonce: 4, fee: 21_000n, receipt: { blockNumber: 9n, gasUsed: 21_000n } as TransactionReceipt };
}

describe("daemon kit: journaled actions (JournaledActions)", () => {
  for (const asyncFlush of [false, true]) {
    it(`records the intent before sending and the hash on send, then confirms; a done action is never sent again (${asyncFlush ? "flush off the event loop" : "synchronous flush"})`, async () => {
      const journal = new Journal({ path: ":memory:" });
      try {
        const actions = new JournaledActions({ journal, asyncFlush });
        const seen: (string | undefined)[] = [];
        let sends = 0;
        const first = await actions.send({
          jobId: 1n,
          action: "commit",
          send: async (onSent) => {
            sends++;
            seen.push(journal.getAction({ jobId: 1n, action: "commit" })?.state);
            assert.equal(actions.sending, 1, "counted as sending while it is");
            return sent((tx) => {
              onSent(tx);
              seen.push(journal.getAction({ jobId: 1n, action: "commit" })?.state);
            });
          },
        });
        assert.equal(first.state, "sent");
        assert.deepEqual(seen, ["pending", "sent"], "the intent was on record before the send, the hash at the send");
        const record = journal.getAction({ jobId: 1n, action: "commit" })!;
        assert.deepEqual([record.state, record.txHash, actions.sending], ["confirmed", TX, 0]);
        const again = await actions.send({ jobId: 1n, action: "commit", send: async () => assert.fail("sent twice") });
        assert.deepEqual([again.state, sends], ["done", 1]);
      } finally {
        journal.close();
      }
    });
  }

  it("returns a revert as refused and records it failed; a later try sends again (a new attempt)", async () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const actions = new JournaledActions({ journal });
      const refused = await actions.send({
        jobId: 2n,
        action: "reveal",
        send: async () => {
          throw new ContractRevertError({ errorName: "AuditPending", args: [2n, 100n] });
        },
      });
      assert.equal(refused.state, "refused");
      assert.equal(refused.state === "refused" && refused.error.errorName, "AuditPending");
      assert.deepEqual([journal.getAction({ jobId: 2n, action: "reveal" })?.state, journal.getAction({ jobId: 2n, action: "reveal" })?.error], ["failed", "AuditPending"]);
      const retried = await actions.send({ jobId: 2n, action: "reveal", send: async (onSent) => sent(onSent) });
      const record = journal.getAction({ jobId: 2n, action: "reveal" })!;
      assert.deepEqual([retried.state, record.state, record.attempts], ["sent", "confirmed", 2]);
    } finally {
      journal.close();
    }
  });

  it("rethrows any other failure (the RPC) and leaves the action pending, for the chain to settle after a restart", async () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const actions = new JournaledActions({ journal });
      await assert.rejects(
        actions.send({
          jobId: 3n,
          action: "finalize",
          send: async (onSent) => {
            onSent({ hash: TX, nonce: 1 });
            throw new Error("socket hang up");
          },
        }),
        /socket hang up/,
      );
      assert.deepEqual(
        journal.pendingActions({ jobId: 3n }).map((a) => [a.action, a.state, a.txHash]),
        [["finalize", "sent", TX]],
      );
      assert.equal(actions.sending, 0);
    } finally {
      journal.close();
    }
  });

  it("runs beforeSend after the intent is recorded and before the send (the worker waits for a withdrawal there)", async () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const actions = new JournaledActions({ journal, asyncFlush: true });
      const order: string[] = [];
      await actions.send({
        jobId: 4n,
        action: "claim",
        beforeSend: async () => {
          order.push(`before:${journal.getAction({ jobId: 4n, action: "claim" })?.state}:${actions.sending}`);
        },
        send: async (onSent) => {
          order.push("send");
          return sent(onSent);
        },
      });
      assert.deepEqual(order, ["before:pending:0", "send"]);
    } finally {
      journal.close();
    }
  });
});

describe("daemon kit: a confirmed action asked for again (JournaledActions, in-process chain)", function () {
  it("is done while its transaction is mined or pooled, and sent again once a reorg took it away (the node not putting it back)", async () => {
    const connection = await network.create();
    const token = (await connection.viem.deployContract("DinferTestToken")) as unknown as { write: { mint: (args: [Address, bigint]) => Promise<Hex> } };
    const [holder] = (await connection.viem.getWalletClients()).map((w) => w.account.address);
    const publicClient = await connection.viem.getPublicClient();
    const journal = new Journal({ path: ":memory:" });
    try {
      const actions = new JournaledActions({ journal, publicClient, lostRecheckMs: 50 });
      let sends = 0;
      const mint = async (onSent: (tx: { hash: Hex; nonce: number }) => void): Promise<SendReturnType> => {
        sends++;
        const hash = await token.write.mint([holder!, 1n]);
        onSent({ hash, nonce: 0 });
        return { hash, nonce: 0, fee: 0n, receipt: await publicClient.waitForTransactionReceipt({ hash }) };
      };
      const commit = { jobId: 1n, action: "commit", send: mint };
      const point = (await connection.provider.request({ method: "evm_snapshot", params: [] })) as string;
      const first = await actions.send(commit);
      assert.equal(first.state, "sent");
      const lost = (first as { hash: Hex }).hash;
      assert.deepEqual([(await actions.send(commit)).state, sends], ["done", 1], "mined: not sent again");

      // A node behind the one that mined it (a load balancer's) knows neither receipt nor transaction for a moment:
      // asked again lostRecheckMs later, it knows the receipt, and the action is done.
      let lagging = 2;
      const laggingClient = {
        getTransactionReceipt: async (args: { hash: Hex }) => {
          if (lagging > 0 && lagging--) throw new TransactionReceiptNotFoundError({ hash: args.hash });
          return publicClient.getTransactionReceipt(args);
        },
        getTransaction: async (args: { hash: Hex }) => {
          if (lagging > 0 && lagging--) throw new TransactionNotFoundError({ hash: args.hash });
          return publicClient.getTransaction(args);
        },
      } as unknown as typeof publicClient;
      const behind = new JournaledActions({ journal, publicClient: laggingClient, lostRecheckMs: 50 });
      assert.deepEqual([(await behind.send(commit)).state, sends, lagging], ["done", 1, 0], "not found once, by a lagging node: not sent again");

      // A transaction still in the node's pool will be mined: the action is done, not sent twice.
      await connection.provider.request({ method: "evm_setAutomine", params: [false] });
      try {
        const pooled = await token.write.mint([holder!, 2n]);
        journal.beginAction({ jobId: 2n, action: "reveal" });
        journal.markActionConfirmed({ jobId: 2n, action: "reveal", txHash: pooled });
        assert.deepEqual([(await actions.send({ jobId: 2n, action: "reveal", send: mint })).state, sends], ["done", 1], "pooled: not sent again");
        assert.equal(await connection.provider.request({ method: "hardhat_dropTransaction", params: [pooled] }), true);
      } finally {
        await connection.provider.request({ method: "evm_setAutomine", params: [true] });
      }

      // The block that mined it is replaced; nothing puts it back: the action is sent again, naming the lost transaction.
      await connection.provider.request({ method: "evm_revert", params: [point] });
      await connection.networkHelpers.mine(1);
      const again = await actions.send(commit);
      assert.equal(again.state, "sent");
      assert.deepEqual([(again as { lost?: Hex }).lost, sends], [lost, 2]);
      const record = journal.getAction({ jobId: 1n, action: "commit" })!;
      assert.deepEqual([record.state, record.attempts], ["confirmed", 2], "confirmed again, as a second attempt");
      assert.equal((await publicClient.getTransactionReceipt({ hash: record.txHash! })).status, "success");
    } finally {
      journal.close();
    }
  });
});

describe("daemon kit: the tick loop (runDaemonLoop, in-process chain)", function () {
  let connection: Awaited<ReturnType<typeof network.create>>;
  let token: { address: Address; write: { mint: (args: [Address, bigint]) => Promise<Hex> } };
  let holder: Address;

  before(async () => {
    connection = await network.create();
    token = (await connection.viem.deployContract("DinferTestToken")) as unknown as typeof token;
    [holder] = (await connection.viem.getWalletClients()).map((w) => w.account.address);
  });

  it("polls the logs up to the head it read, then ticks the daemon at that same head; on abort the steps in progress finish", async () => {
    const publicClient = await connection.viem.getPublicClient();
    await token.write.mint([holder, 5n]);
    const minted = await publicClient.getBlockNumber();
    const delivered: bigint[] = [];
    const ticks: TickHead[] = [];
    const controller = new AbortController();
    let drained = false;
    const daemon = {
      busy: 0,
      tick(head: TickHead) {
        ticks.push(head);
        if (ticks.length === 1) assert.ok(delivered.includes(minted), "the logs up to the head came before its tick");
        if (ticks.length === 3) controller.abort();
      },
      async drain() {
        drained = true;
      },
    };
    const poller = new LogPoller({
      name: "token",
      publicClient,
      store: new MemoryCursorStore(),
      address: token.address,
      events: [getAbiItem({ abi: dinferTestTokenAbi, name: "Transfer" }) as AbiEvent],
      startBlock: 0n,
      confirmations: 0,
      logger: silentLogger(),
      onLogs: async ({ logs }) => {
        delivered.push(...logs.map((l) => l.blockNumber));
      },
    });
    await runDaemonLoop({ publicClient, poller, daemon, intervalMs: 10, signal: controller.signal, log: silentLogger() });
    assert.equal(ticks.length, 3);
    assert.equal(ticks[0]!.number, minted, "ticked at the head it read");
    assert.equal(typeof ticks[0]!.timestamp, "bigint");
    assert.ok(drained, "drained on abort");
  });

  it("polls again when the head is another block at the same height: the poller sees that reorg and delivers the new block's logs", async () => {
    const publicClient = await connection.viem.getPublicClient();
    const start = await publicClient.getBlockNumber();
    const snapshot = await connection.provider.request({ method: "evm_snapshot", params: [] });
    const recipient: Address = "0x00000000000000000000000000000000000d1f3e";
    const delivered: bigint[] = [];
    const reorgs: bigint[] = [];
    const ticks: TickHead[] = [];
    const controller = new AbortController();
    // First a block with a mint of 7; once the loop delivered it, that block is replaced by one with a mint of 11.
    let chain: Promise<unknown> | undefined;
    let replaced = false;
    const daemon = {
      busy: 0,
      tick(head: TickHead) {
        ticks.push(head);
        chain ??= token.write.mint([recipient, 7n]);
        if (!replaced && delivered.includes(7n)) {
          replaced = true;
          chain = (async () => {
            await connection.provider.request({ method: "evm_revert", params: [snapshot] });
            await token.write.mint([recipient, 11n]);
          })();
        }
        if (delivered.includes(11n) || ticks.length === 400) controller.abort();
      },
      async drain() {},
    };
    const poller = new LogPoller({
      name: "same-height",
      publicClient,
      store: new MemoryCursorStore(),
      address: token.address,
      events: [getAbiItem({ abi: dinferTestTokenAbi, name: "Transfer" }) as AbiEvent],
      startBlock: start,
      confirmations: 0,
      logger: silentLogger(),
      onReorg: ({ from }) => {
        reorgs.push(from.number);
      },
      onLogs: async ({ logs }) => {
        // This test's mints only (the start block may hold an earlier test's).
        const mints = logs.map((l) => l.args as { to: Address; value: bigint }).filter(({ to }) => to.toLowerCase() === recipient.toLowerCase());
        delivered.push(...mints.map(({ value }) => value));
      },
    });
    await runDaemonLoop({ publicClient, poller, daemon, intervalMs: 5, signal: controller.signal, log: silentLogger() });
    await chain;
    assert.equal(await publicClient.getBlockNumber(), start + 1n, "the new block is at the old one's height");
    assert.deepEqual(delivered, [7n, 11n], "the replaced block's mint, then its replacement's");
    assert.deepEqual(reorgs, [start + 1n], "the poller told of the reorg");
    assert.equal(ticks.at(-1)!.number, start + 1n);
  });

  it("waits idleIntervalMs between ticks while the daemon says it is idle, intervalMs otherwise", async () => {
    const publicClient = await connection.viem.getPublicClient();
    const poller = new LogPoller({ name: "idle", publicClient, store: new MemoryCursorStore(), address: token.address, confirmations: 0, logger: silentLogger(), onLogs: async () => {} });
    const gaps = async (idle: boolean) => {
      const at: number[] = [];
      const controller = new AbortController();
      const daemon = {
        busy: 0,
        idle,
        tick() {
          at.push(performance.now());
          if (at.length === 3) controller.abort();
        },
        async drain() {},
      };
      await runDaemonLoop({ publicClient, poller, daemon, intervalMs: 10, idleIntervalMs: 300, signal: controller.signal, log: silentLogger() });
      return at[2]! - at[1]!;
    };
    assert.ok((await gaps(true)) >= 290, "an idle daemon is ticked every idleIntervalMs");
    assert.ok((await gaps(false)) < 250, "a busy one every intervalMs");
  });
});

describe("daemon kit: options, secret, status line", () => {
  it("gives both daemons the shared options with their own defaults", () => {
    const worker = WorkerOptionsSchema.parse({ models: [{ modelId: 1, path: "m.onnx" }] });
    const verifier = VerifierOptionsSchema.parse({ models: [{ modelId: 1, path: "m.onnx" }] });
    const pick = (o: Record<string, unknown>) => [o.ep, o.dataDir, o.port, o.metricsPort, o.secretEnv, o.withdrawMin];
    // The worker withdraws its earnings once they reach 100 tokens, not after every job (issue 13).
    assert.deepEqual(pick(worker), ["auto", ".dinfer/worker", 8600, 9464, "DINFER_WORKER_SECRET", 100n * 10n ** 18n]);
    assert.deepEqual(pick(verifier), ["cpu", ".dinfer/verifier", 8610, 9465, "DINFER_VERIFIER_SECRET", 0n]);
    for (const options of [worker, verifier]) {
      assert.deepEqual(
        [options.pollIntervalMs, options.statusIntervalMs, options.keeper, options.keeperGraceSeconds, options.threads, options.confirmations],
        [500, 60_000, true, 10, 1, 0],
      );
    }
    assert.throws(() => VerifierOptionsSchema.parse({ models: [{ modelId: 1, path: "m.onnx" }], withdrawMin: "-1" }), /non-negative integer amount in wei/);
  });

  it("reads a daemon secret as hex or as text, and refuses a short one naming the variable and what derives from it", () => {
    assert.equal(readDaemonSecret({ env: { S: "0x00112233445566778899" }, variable: "S", owner: "worker", derives: "commitment salts" }), "0x00112233445566778899");
    assert.equal(readDaemonSecret({ env: { S: "a long enough secret" }, variable: "S", owner: "worker", derives: "commitment salts" }), `0x${Buffer.from("a long enough secret").toString("hex")}`);
    assert.throws(
      () => readDaemonSecret({ env: { S: "short" }, variable: "S", owner: "verifier", derives: "audit and vote salts" }),
      (error: unknown) => error instanceof ConfigError && /S must hold the verifier secret \(at least 16 characters\); audit and vote salts derive from it/.test(error.message),
    );
  });

  it("logs the status line only while no step runs, with the uptime, and stops", async () => {
    const lines: { msg: string; uptime?: number }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let busy = 1;
    let clock = 0;
    const stop = startStatusLine({ busy: () => busy, intervalMs: 20, log, now: () => clock, read: async (uptimeS) => ({ msg: "idle: all quiet", uptime: uptimeS }) });
    try {
      await new Promise((r) => setTimeout(r, 70));
      assert.equal(lines.length, 0, "no line while a step runs");
      busy = 0;
      clock = 5_000;
      await new Promise((r) => setTimeout(r, 70));
      assert.ok(lines.length >= 1);
      assert.deepEqual([lines[0]!.msg, lines[0]!.uptime], ["idle: all quiet", 5]);
    } finally {
      stop();
    }
    const count = lines.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(lines.length, count, "no line after stop");
  });
});
