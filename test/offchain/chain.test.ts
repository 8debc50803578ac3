/**
 * The chain module against real chains: an in-process EDR chain served over HTTP (so viem's http
 * transport, the retries and the error decoding run as in production), and a real `hardhat node`
 * process with interval mining.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { network } from "hardhat";
import { after, before, describe, it } from "mocha";
import { createPublicClient, custom, decodeFunctionResult, encodeFunctionResult, HttpRequestError, parseEther, RpcRequestError, type Address, type Hex } from "viem";
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from "viem/accounts";

import { createChainClients, contractOf } from "../../offchain/chain/clients.js";
import {
  backoffDelay,
  ChainRequestError,
  ChainTransportError,
  classifyChainError,
  ContractRevertError,
  NodeRejectedError,
  ReceiptTimeoutError,
} from "../../offchain/chain/errors.js";
import { applyJobLog, decodeJobLog, JobReader, JobStatus, MAX_JOBS_PER_READ, readJob, readJobsAt, type JobRecord } from "../../offchain/chain/jobs.js";
import {
  decodeCursor,
  encodeCursor,
  LogPoller,
  MemoryCursorStore,
  ReorgTooDeepError,
  type LogBatch,
  type LogPollerParameters,
  type PolledLog,
  type ReorgEvent,
} from "../../offchain/chain/poller.js";
import { OutageLog } from "../../offchain/chain/outage.js";
import { belowMarket, raisedFees, TxSender } from "../../offchain/chain/sender.js";
import { BLOCKHASH_REACH, revealWindowBlocks, TermsReader } from "../../offchain/chain/terms.js";
import { NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { deploySystem, jobRequest, jobTracker, ROLE_PROVIDER, setUpMarket, stake, type Connection, type System } from "../helpers/fixture.js";
import { freePort, startNode, answersChainId, type StartNodeReturnType } from "../helpers/node.js";

const MNEMONIC = "test test test test test test test test test test test junk";
const here = path.dirname(fileURLToPath(import.meta.url));
const tokenArtifact = JSON.parse(
  readFileSync(path.resolve(here, "../../artifacts/contracts/DinferTestToken.sol/DinferTestToken.json"), "utf8"),
) as { abi: readonly unknown[]; bytecode: Hex };

type Rpc = (request: { method: string; params?: unknown[] }) => Promise<unknown>;

/**
 * A JSON-RPC server on 127.0.0.1 in front of `rpc`. It counts methods and can answer the next
 * requests with an HTTP error, or start listening late (a node that is not up yet).
 */
async function serveRpc({ rpc, port, listenAfterMs = 0 }: { rpc: Rpc; port?: number; listenAfterMs?: number }) {
  const chosen = port ?? (await freePort());
  const calls: string[] = [];
  let failing = 0;
  let failStatus = 502;
  let failures = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (failing > 0) {
      failing--;
      failures++;
      res.writeHead(failStatus, { "content-type": "text/plain" }).end("bad gateway");
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: number; method: string; params?: unknown[] };
    calls.push(body.method);
    let reply: unknown;
    try {
      reply = { jsonrpc: "2.0", id: body.id, result: await rpc({ method: body.method, params: body.params }) };
    } catch (e) {
      const error = e as { code?: number; message?: string; data?: unknown };
      reply = { jsonrpc: "2.0", id: body.id, error: { code: error.code ?? -32603, message: error.message ?? "error", data: error.data } };
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply, (_, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
  });
  const listening = new Promise<void>((resolve) => {
    setTimeout(() => server.listen(chosen, "127.0.0.1", () => resolve()), listenAfterMs);
  });
  if (listenAfterMs === 0) await listening;
  return {
    url: `http://127.0.0.1:${chosen}`,
    listening,
    calls,
    count: (method: string) => calls.filter((m) => m === method).length,
    failNext(n: number, status = 502) {
      failing = n;
      failStatus = status;
    },
    failures: () => failures,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Forwards JSON-RPC to a URL (for a proxy in front of the real node). */
function forwardTo(url: string): Rpc {
  return async ({ method, params }) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: params ?? [] }),
    });
    const body = (await response.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
    if (body.error) throw Object.assign(new Error(body.error.message), body.error);
    return body.result;
  };
}

async function waitFor(condition: () => boolean | Promise<boolean>, { timeoutMs = 20_000, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function amountsOf(logs: PolledLog[]): bigint[] {
  return logs.map((l) => BigInt(l.data));
}

describe("chain: LogPoller (in-process chain)", function () {
  let connection: Connection;
  let token: { address: Address; write: { mint: (args: [Address, bigint]) => Promise<Hex> } };
  let deployBlock: bigint;
  let mintTo: Address;
  let next = 1n;

  before(async () => {
    connection = await network.create();
    const deployed = await connection.viem.deployContract("DinferTestToken");
    token = deployed as unknown as typeof token;
    deployBlock = await (await connection.viem.getPublicClient()).getBlockNumber();
    [mintTo] = (await connection.viem.getWalletClients()).map((w) => w.account.address);
  });

  /** Mints a fresh, increasing amount (one Transfer log) and returns it. */
  async function mint(): Promise<bigint> {
    const amount = next++;
    await token.write.mint([mintTo, amount]);
    return amount;
  }

  /** Several mints in one block. */
  async function mintInOneBlock(n: number): Promise<bigint[]> {
    await connection.provider.request({ method: "evm_setAutomine", params: [false] });
    try {
      const amounts: bigint[] = [];
      for (let i = 0; i < n; i++) amounts.push(await mint());
      await connection.networkHelpers.mine();
      return amounts;
    } finally {
      await connection.provider.request({ method: "evm_setAutomine", params: [true] });
    }
  }

  async function makePoller(overrides: Partial<LogPollerParameters> & { store: MemoryCursorStore }) {
    const delivered: PolledLog[] = [];
    const batches: LogBatch[] = [];
    const reorgs: ReorgEvent[] = [];
    const poller = new LogPoller({
      name: "token",
      publicClient: await connection.viem.getPublicClient(),
      address: token.address,
      startBlock: deployBlock,
      confirmations: 0,
      onLogs: async (batch) => {
        batches.push(batch);
        delivered.push(...batch.logs);
      },
      onReorg: (event) => {
        reorgs.push(event);
      },
      ...overrides,
    });
    return { poller, delivered, batches, reorgs };
  }

  async function drain(poller: LogPoller) {
    for (let i = 0; i < 1_000; i++) if ((await poller.poll()).caughtUp) return;
    throw new Error("poller never caught up");
  }

  it("delivers logs in chain order across batches of at most maxBlocksPerQuery blocks", async () => {
    const expected: bigint[] = [];
    expected.push(...(await mintInOneBlock(3)));
    expected.push(await mint());
    await connection.networkHelpers.mine(3);
    expected.push(...(await mintInOneBlock(2)));
    expected.push(await mint(), await mint());
    await connection.networkHelpers.mine(2);
    expected.push(...(await mintInOneBlock(4)));

    const { poller, delivered, batches } = await makePoller({ store: new MemoryCursorStore(), maxBlocksPerQuery: 2 });
    await drain(poller);

    assert.deepEqual(amountsOf(delivered), expected);
    assert.ok(batches.length >= 4, `expected several batches, got ${batches.length}`);
    for (const batch of batches) {
      assert.ok(batch.toBlock - batch.fromBlock + 1n <= 2n, "a batch spans more than maxBlocksPerQuery blocks");
      for (const log of batch.logs) assert.ok(log.blockNumber >= batch.fromBlock && log.blockNumber <= batch.toBlock);
    }
    for (let i = 1; i < delivered.length; i++) {
      const [a, b] = [delivered[i - 1]!, delivered[i]!];
      assert.ok(a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.logIndex < b.logIndex), "out of order");
    }
    const head = await (await connection.viem.getPublicClient()).getBlockNumber();
    assert.equal((await poller.cursor())?.block, head);
  });

  it("resumes from the persisted cursor without redelivering handled logs", async () => {
    const store = new MemoryCursorStore();
    const first = await makePoller({ store });
    await drain(first.poller);
    const handled = first.delivered.length;
    assert.ok(handled > 0);

    const fresh = [await mint(), await mint()];
    const second = await makePoller({ store });
    await drain(second.poller);
    assert.deepEqual(amountsOf(second.delivered), fresh);

    // The stored cursor survives a round trip through its text form (what a SQLite column holds).
    const stored = store.get("token")!;
    assert.deepEqual(decodeCursor(encodeCursor(stored)), stored);
  });

  it("keeps the cursor when the handler fails, and redelivers the batch on the next poll", async () => {
    const store = new MemoryCursorStore();
    const { poller } = await makePoller({ store });
    await drain(poller);
    const before = (await poller.cursor())!;

    const amount = await mint();
    let calls = 0;
    const seen: bigint[][] = [];
    const flaky = new LogPoller({
      name: "token",
      publicClient: await connection.viem.getPublicClient(),
      store,
      address: token.address,
      confirmations: 0,
      onLogs: async ({ logs }) => {
        seen.push(amountsOf(logs));
        if (calls++ === 0) throw new Error("database is locked");
      },
    });
    await assert.rejects(flaky.poll(), (e: unknown) => e instanceof RetryableError && (e as RetryableError).code === "LOG_HANDLER");
    assert.deepEqual(store.get("token"), before, "cursor moved although the handler failed");
    await drain(flaky);
    assert.deepEqual(seen, [[amount], [amount]]);
    assert.ok(store.get("token")!.block > before.block);
  });

  it("reads only blocks with `confirmations` blocks on top", async () => {
    const client = await connection.viem.getPublicClient();
    const { poller, delivered } = await makePoller({ store: new MemoryCursorStore(), confirmations: 3 });
    await connection.networkHelpers.mine(3); // earlier tests' logs get their confirmations
    await drain(poller);
    const handled = delivered.length;

    const amount = await mint();
    const minedIn = await client.getBlockNumber();
    await poller.poll();
    assert.equal(delivered.length, handled, "delivered with 0 confirmations");
    await connection.networkHelpers.mine(2);
    await drain(poller);
    assert.equal(delivered.length, handled, "delivered with 2 confirmations");
    assert.equal((await poller.cursor())?.block, (await client.getBlockNumber()) - 3n);
    await connection.networkHelpers.mine(1);
    await drain(poller);
    assert.deepEqual(amountsOf(delivered.slice(handled)), [amount]);
    assert.equal(delivered.at(-1)?.blockNumber, minedIn);
    assert.equal((await poller.cursor())?.block, minedIn);
  });

  it("rewinds on a reorg and delivers the new canonical logs", async () => {
    const client = await connection.viem.getPublicClient();
    const { poller, delivered, reorgs } = await makePoller({ store: new MemoryCursorStore() });
    await drain(poller);
    const base = await client.getBlockNumber();
    const handled = delivered.length;

    // Fork A: two blocks with logs, delivered.
    const snapshot = await connection.networkHelpers.takeSnapshot();
    const forkA = [await mint(), await mint()];
    await drain(poller);
    assert.deepEqual(amountsOf(delivered.slice(handled)), forkA);
    assert.equal((await poller.cursor())?.block, base + 2n);

    // The chain drops back to `base` (shorter than the cursor), which still holds the block remembered there:
    // as a node behind would look, so the poller delivers and rewinds nothing yet.
    await snapshot.restore();
    const behind = await poller.poll();
    assert.deepEqual([behind.caughtUp, behind.delivered, behind.reorg, behind.cursor?.block], [true, 0, undefined, base + 2n]);
    assert.equal((await poller.cursor())?.block, base + 2n);
    assert.equal(reorgs.length, 0);

    // Fork B grows past the old height: the reorg is seen (fork A's blocks are gone), its log is delivered, fork A's are not again.
    const forkB = [await mint()];
    await connection.networkHelpers.mine(2);
    await drain(poller);
    assert.deepEqual({ depth: reorgs[0]!.depth, to: reorgs[0]!.to.number }, { depth: 2n, to: base });
    assert.deepEqual(amountsOf(delivered.slice(handled)), [...forkA, ...forkB]);
    const last = delivered.at(-1)!;
    assert.equal((await client.getBlock({ blockNumber: last.blockNumber })).hash, last.blockHash);

    // Same height, different block: detected by hash alone.
    const tip = await client.getBlockNumber();
    const again = await connection.networkHelpers.takeSnapshot();
    const forkC = await mint();
    await drain(poller);
    await again.restore();
    const forkD = await mint();
    assert.equal(await client.getBlockNumber(), tip + 1n);
    await drain(poller);
    assert.equal(reorgs.length, 2);
    assert.deepEqual({ depth: reorgs[1]!.depth, to: reorgs[1]!.to.number }, { depth: 1n, to: tip });
    assert.deepEqual(amountsOf(delivered.slice(handled)), [...forkA, ...forkB, forkC, forkD]);
  });

  it("rewinds a one-block fork at the head on a fresh start whose first range reached the head (its parent is remembered)", async () => {
    const client = await connection.viem.getPublicClient();
    const snapshot = await connection.networkHelpers.takeSnapshot();
    const replaced = await mint();
    const head = await client.getBlockNumber();
    const { poller, delivered, reorgs } = await makePoller({ store: new MemoryCursorStore(), startBlock: head });
    await drain(poller);
    assert.deepEqual(amountsOf(delivered), [replaced]);
    assert.deepEqual((await poller.cursor())?.recent.map((r) => r.number), [head - 1n, head]);
    await snapshot.restore();
    const replacement = await mint();
    assert.equal(await client.getBlockNumber(), head);
    await drain(poller);
    assert.deepEqual({ depth: reorgs[0]!.depth, to: reorgs[0]!.to.number }, { depth: 1n, to: head - 1n });
    assert.deepEqual(amountsOf(delivered), [replaced, replacement]);
  });

  it("waits for a node whose head is behind the blocks it handled, rather than rewinding, and goes on once it catches up", async () => {
    const client = await connection.viem.getPublicClient();
    const { poller, delivered, reorgs } = await makePoller({ store: new MemoryCursorStore() });
    await drain(poller);
    const amounts = [await mint(), await mint(), await mint()];
    await drain(poller);
    const cursor = await poller.cursor();
    const handled = delivered.length;
    // A node two blocks behind (a load balancer's other node): its head is a block of the same chain.
    const lagging = await client.getBlock({ blockNumber: cursor!.block - 2n });
    const behind = await poller.poll({ head: { number: lagging.number, hash: lagging.hash, parentHash: lagging.parentHash } });
    assert.deepEqual([behind.caughtUp, behind.delivered, behind.reorg], [true, 0, undefined], "a head behind is no reorg");
    assert.deepEqual(await poller.cursor(), cursor, "nothing rewound");
    assert.equal(reorgs.length, 0);
    // Caught up: nothing is redelivered, and new blocks are read as before.
    const later = await mint();
    await drain(poller);
    assert.equal(reorgs.length, 0);
    assert.deepEqual(amountsOf(delivered.slice(handled - 3)), [...amounts, later]);
  });

  it("sees a reorg to a shorter chain at once when a block it remembers at or below the head is gone", async () => {
    const { poller, delivered, reorgs } = await makePoller({ store: new MemoryCursorStore() });
    await drain(poller);
    const base = (await poller.cursor())!.block;
    const snapshot = await connection.networkHelpers.takeSnapshot();
    const forkA = [await mint(), await mint()];
    await drain(poller);
    assert.deepEqual((await poller.cursor())?.recent.slice(-3).map((r) => r.number), [base, base + 1n, base + 2n]);
    // Back to `base`, then one block of another branch: the head (base + 1) is below the cursor (base + 2), and
    // the block remembered at base + 1 is gone.
    await snapshot.restore();
    const forkB = await mint();
    const polled = await poller.poll();
    assert.deepEqual(polled.reorg && { depth: polled.reorg.depth, to: polled.reorg.to.number }, { depth: 2n, to: base });
    assert.equal(reorgs.length, 1);
    await drain(poller);
    assert.deepEqual(amountsOf(delivered).slice(-3), [...forkA, forkB]);
  });

  it("fails with ReorgTooDeepError when the reorg goes below the remembered history", async () => {
    const { poller } = await makePoller({ store: new MemoryCursorStore(), historyLength: 1 });
    await drain(poller);
    const snapshot = await connection.networkHelpers.takeSnapshot();
    await mint();
    await drain(poller);
    await snapshot.restore();
    await mint();
    await assert.rejects(poller.poll(), ReorgTooDeepError);
  });

  it("run() follows new blocks and stops cleanly on abort", async () => {
    const { poller, delivered } = await makePoller({ store: new MemoryCursorStore(), pollingIntervalMs: 20 });
    await drain(poller);
    const handled = delivered.length;
    const controller = new AbortController();
    const running = poller.run({ signal: controller.signal });
    const amounts = [await mint(), await mint(), await mint()];
    await waitFor(() => delivered.length === handled + 3, { what: "three logs" });
    assert.deepEqual(amountsOf(delivered.slice(handled)), amounts);

    const started = Date.now();
    controller.abort();
    await running;
    assert.ok(Date.now() - started < 1_000, "run() did not stop promptly");
    await mint();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(delivered.length, handled + 3, "delivered after abort");
  });

  it("polls up to a head it is given without reading a head, or the head's block, itself", async () => {
    const methods: string[] = [];
    const base = await connection.viem.getPublicClient();
    const counted = createPublicClient({
      chain: base.chain,
      transport: custom({ request: (args: { method: string; params?: unknown }) => (methods.push(args.method), connection.provider.request(args as never)) }),
      cacheTime: 0,
    });
    const { poller, delivered } = await makePoller({ store: new MemoryCursorStore(), publicClient: counted as never });
    await drain(poller);
    const handled = delivered.length;
    const headOf = async () => {
      const block = await base.getBlock({ blockTag: "latest" });
      return { number: block.number, hash: block.hash, parentHash: block.parentHash };
    };

    // One new block: the head's own parent hash proves the cursor still on the chain; only the logs are read.
    const one = await mint();
    methods.length = 0;
    assert.equal((await poller.poll({ head: await headOf() })).caughtUp, true);
    assert.deepEqual(methods, ["eth_getLogs"]);
    // Several: the block after the cursor is read for its parent hash, the head's block is not.
    const more = [await mint(), await mint(), await mint()];
    methods.length = 0;
    assert.equal((await poller.poll({ head: await headOf() })).caughtUp, true);
    assert.deepEqual(methods.sort(), ["eth_getBlockByNumber", "eth_getLogs"]);
    assert.deepEqual(amountsOf(delivered.slice(handled)), [one, ...more]);
  });
});

describe("chain: OutageLog", () => {
  function recorder() {
    const lines: { level: string; msg: string; failures?: number }[] = [];
    const log = {
      warn: (o: { msg: string; failures?: number }) => lines.push({ level: "warn", ...o }),
      info: (o: { msg: string; failures?: number }) => lines.push({ level: "info", ...o }),
      debug: (o: { msg: string; failures?: number }) => lines.push({ level: "debug", ...o }),
    };
    return { lines, log: log as never };
  }

  it("warns at the first failure, then exponentially less often, and says once when it recovered", () => {
    const { lines, log } = recorder();
    let now = 0;
    const outage = new OutageLog({ log, what: "chain read", minGapMs: 2_000, maxGapMs: 60_000, now: () => now });
    // Two failures a second for ten minutes: what the worker's tick did during an outage.
    for (; now < 600_000; now += 500) outage.failed(new Error("ECONNREFUSED"));
    const warns = lines.filter((l) => l.level === "warn");
    assert.equal(lines.length, 1_200);
    assert.equal(warns[0]!.msg, "chain read failed");
    assert.ok(warns.length <= 15, `${warns.length} WARN lines in ten minutes`);
    assert.ok(warns.slice(1).every((l) => l.msg === "chain read still failing"));
    outage.ok();
    outage.ok();
    assert.deepEqual(lines.slice(-1).map((l) => [l.level, l.msg, l.failures]), [["info", "chain read recovered", 1_200]]);
    outage.failed(new Error("again"));
    assert.equal(lines.at(-1)!.level, "warn", "a new outage warns at once");
  });
});

describe("chain: TxSender (in-process chain over HTTP)", function () {
  let connection: Connection;
  let sys: System;
  let modelId: bigint;
  let rpc: Awaited<ReturnType<typeof serveRpc>>;
  const account = (index: number) => mnemonicToAccount(MNEMONIC, { addressIndex: index });

  async function senderFor(index: number, { url = rpc.url, ...options }: { url?: string } & Partial<ConstructorParameters<typeof TxSender>[0]> = {}) {
    const { publicClient, walletClient } = await createChainClients({ rpcUrl: url, account: account(index), chainId: 31337, timeoutMs: 5_000 });
    return new TxSender({
      publicClient,
      walletClient: walletClient!,
      retry: { retries: 5, baseDelayMs: 20, maxDelayMs: 200 },
      receiptPollingIntervalMs: 20,
      receiptTimeoutMs: 20_000,
      ...options,
    });
  }

  async function postJob() {
    const jobs = jobTracker(sys);
    const now = BigInt(await connection.networkHelpers.time.latest());
    await jobs.send(sys.market.write.postJob([jobRequest(modelId, now + 600n)], { account: sys.dapp.account }));
    const jobId = await sys.market.read.jobCount();
    return { jobId, jobs };
  }

  /** The log reads and calls the counting RPC proxy has answered; `readsSince(before)`: those since `before`. */
  const readCounts = () => ({ logs: rpc.count("eth_getLogs"), calls: rpc.count("eth_call") });
  const readsSince = (before: { logs: number; calls: number }) => ({ logs: rpc.count("eth_getLogs") - before.logs, calls: rpc.count("eth_call") - before.calls });
  /** Job `jobId` as its JobPosted log among `logs` gives it, as the worker's poller hands the logs over. */
  const postedRecord = (logs: readonly Parameters<typeof decodeJobLog>[0][], jobId: bigint) =>
    applyJobLog(undefined, logs.map((l) => decodeJobLog(l)).find((d) => d?.eventName === "JobPosted" && d.args.jobId === jobId)!)!;

  const pendingNonce = (address: Address) => sys.publicClient.getTransactionCount({ address, blockTag: "pending" });
  const setAutomine = (on: boolean) => connection.provider.request({ method: "evm_setAutomine", params: [on] });

  before(async () => {
    connection = await network.create();
    sys = await deploySystem(connection);
    ({ modelId } = await setUpMarket(sys));
    await stake(sys, sys.provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
    rpc = await serveRpc({ rpc: (r) => connection.provider.request(r) });
    assert.equal(account(2).address.toLowerCase(), sys.provider.account.address.toLowerCase());
    assert.equal(account(3).address.toLowerCase(), sys.provider2.account.address.toLowerCase());
  });

  after(async () => {
    await rpc?.close();
  });

  it("simulates, sends and accounts for a claim", async () => {
    const sender = await senderFor(2);
    const { jobId, jobs } = await postJob();
    const balanceBefore = await sys.publicClient.getBalance({ address: sender.address });
    const { receipt, fee, nonce } = await sender.send({
      address: sys.market.address,
      abi: sys.market.abi,
      functionName: "claim",
      args: [jobId, jobs.job(jobId)],
    });
    assert.equal(receipt.status, "success");
    assert.equal(nonce, (await sys.publicClient.getTransaction({ hash: receipt.transactionHash })).nonce);
    const market = contractOf({ name: "JobMarket", address: sys.market.address, publicClient: sys.publicClient });
    const claimed = await market.getEvents.JobClaimed({ jobId }, { fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber });
    assert.equal(claimed[0]?.args.provider?.toLowerCase(), sender.address.toLowerCase());

    const stats = sender.stats();
    assert.deepEqual({ sent: stats.sent, mined: stats.mined, reverted: stats.reverted }, { sent: 1, mined: 1, reverted: 0 });
    assert.equal(fee, receipt.gasUsed * receipt.effectiveGasPrice);
    assert.equal(stats.feesWei, fee);
    assert.equal(balanceBefore - (await sys.publicClient.getBalance({ address: sender.address })), fee);
  });

  it("tells the caller the hash and nonce once the node has the transaction, before its receipt", async () => {
    const sender = await senderFor(2);
    const { jobId, jobs } = await postJob();
    // Mining off: the transaction sits in the pool, so the hook must come while there is no receipt yet.
    await setAutomine(false);
    const seen: { hash: Hex; nonce: number; receiptThen: boolean }[] = [];
    try {
      const sending = sender.send({
        address: sys.market.address,
        abi: sys.market.abi,
        functionName: "claim",
        args: [jobId, jobs.job(jobId)],
        onSent: ({ hash, nonce }) => seen.push({ hash, nonce, receiptThen: false }),
      });
      for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(seen.length, 1, "onSent came while the transaction waited to be mined");
      await assert.rejects(sys.publicClient.getTransactionReceipt({ hash: seen[0]!.hash }), "no receipt when onSent came");
      await connection.networkHelpers.mine();
      const { hash, nonce } = await sending;
      assert.deepEqual(seen, [{ hash, nonce, receiptThen: false }], "called once, with the hash and nonce of the mined transaction");
    } finally {
      await setAutomine(true);
    }
  });

  it("asks for a receipt only once a newer block exists, one head read per interval shared by every waiting transaction", async () => {
    const sender = await senderFor(9);
    await setAutomine(false);
    try {
      const before = rpc.calls.length;
      const sends = [10n, 11n, 12n].map((amount) => sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, amount] }));
      // Twenty-five polling intervals with no block: the three wait on the head, not on receipts (but for a look every eight intervals).
      await new Promise((r) => setTimeout(r, 500));
      const waiting = rpc.calls.slice(before);
      const count = (method: string) => waiting.filter((m) => m === method).length;
      assert.equal(count("eth_sendRawTransaction"), 3);
      // Per transaction: one at once, then one every eight intervals (160 ms) while the head stays (one more for the first head read).
      const ceiling = 3 * (1 + Math.ceil(500 / 160)) + 1;
      assert.ok(count("eth_getTransactionReceipt") <= ceiling, `receipt requests while no block came: ${count("eth_getTransactionReceipt")}, at most ${ceiling} (one per 20-ms interval would be 75)`);
      assert.ok(count("eth_blockNumber") >= 5, `the head is still read while they wait: ${count("eth_blockNumber")}`);
      assert.ok(count("eth_blockNumber") <= 500 / 20 + 2, `head reads are shared, at most one per interval: ${count("eth_blockNumber")}`);
      await connection.networkHelpers.mine();
      const sent = await Promise.all(sends);
      assert.ok(sent.every((s) => s.receipt.status === "success"), "all three mined in the next block");
      const receipts = rpc.calls.slice(before).filter((m) => m === "eth_getTransactionReceipt").length;
      assert.ok(receipts <= ceiling + 3 + 1, `receipt requests in all: ${receipts}`);
    } finally {
      await setAutomine(true);
    }
  });

  it("takes the heads a daemon's ticks read (noteHead) for its own: no head read of its own while they come, and a new one ends the wait", async () => {
    const sender = await senderFor(13);
    await setAutomine(false);
    let ticking = true;
    // A daemon's loop, reading the head on its own client every few milliseconds.
    const ticks = (async () => {
      while (ticking) {
        sender.noteHead(await sys.publicClient.getBlockNumber({ cacheTime: 0 }));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      const before = rpc.calls.length;
      const sending = sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 17n] });
      await new Promise((r) => setTimeout(r, 300));
      const calls = rpc.calls.slice(before);
      assert.equal(calls.filter((m) => m === "eth_blockNumber").length, 0, "no head read of its own");
      assert.ok(calls.filter((m) => m === "eth_getTransactionReceipt").length <= 1 + Math.ceil(300 / 160), "receipts only at once and every eight intervals");
      await connection.networkHelpers.mine();
      const { receipt } = await sending;
      assert.equal(receipt.status, "success");
    } finally {
      ticking = false;
      await ticks;
      await setAutomine(true);
    }
  });

  it("on a chain that mines on an interval, waits for a block before it asks for a receipt, and asks at once again where the chain mines each transaction", async () => {
    const sender = await senderFor(14);
    const mint = (amount: bigint) => sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, amount] });
    const receiptsOf = async (amount: bigint, { mineAfterMs }: { mineAfterMs?: number } = {}) => {
      const before = rpc.calls.length;
      const sending = mint(amount);
      if (mineAfterMs !== undefined) {
        await new Promise((r) => setTimeout(r, mineAfterMs));
        await connection.networkHelpers.mine();
      }
      assert.equal((await sending).receipt.status, "success");
      const calls = rpc.calls.slice(before);
      return { receipts: calls.filter((m) => m === "eth_getTransactionReceipt").length, headReads: calls.filter((m) => m === "eth_blockNumber").length };
    };
    await setAutomine(false);
    try {
      // The first asks at once and finds nothing: one request that could not be answered.
      assert.ok((await receiptsOf(20n, { mineAfterMs: 100 })).receipts >= 2, "at once, then after the block");
      // The next ones wait for the block (mined within the eight intervals a wait looks again after) and ask once.
      for (const amount of [21n, 22n]) assert.equal((await receiptsOf(amount, { mineAfterMs: 100 })).receipts, 1, "one request, after the block");
    } finally {
      await setAutomine(true);
    }
    // Automining again: the waits still read a head first, until one asks at once (every sixteenth) and finds it.
    const waits: { receipts: number; headReads: number }[] = [];
    for (let i = 0n; i < 16n; i++) waits.push(await receiptsOf(30n + i));
    assert.ok(waits.every((w) => w.receipts === 1), `one receipt request each: ${JSON.stringify(waits)}`);
    assert.ok(waits.slice(0, 13).every((w) => w.headReads >= 1), "the waits before the look at once read a head first");
    assert.deepEqual(await receiptsOf(50n), { receipts: 1, headReads: 0 }, "after a look at once found it, asked at once with no head read");
  });

  it("a head that went back (a reorg to a shorter chain) does not leave a receipt wait stuck until the chain regrows", async () => {
    const sender = await senderFor(10, { receiptTimeoutMs: 3_000 });
    const snapshot = await connection.networkHelpers.takeSnapshot();
    await connection.networkHelpers.mine(5);
    // The sender reads the head (five blocks up) for its fees, and this one is mined at once.
    await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 13n] });
    await snapshot.restore();
    sender.resyncNonce();
    await setAutomine(false);
    try {
      const sending = sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 14n] });
      await new Promise((r) => setTimeout(r, 200));
      await connection.networkHelpers.mine();
      const { receipt } = await sending;
      assert.equal(receipt.status, "success", "found one block after the shorter chain's head, not five blocks later");
    } finally {
      await setAutomine(true);
    }
  });

  it("asks again within a few intervals when a node behind the RPC missed a receipt and no block comes", async () => {
    // A load balancer's lagging node: the first two receipt requests find nothing; automining, so no new block follows.
    let misses = 2;
    const lagging = await serveRpc({
      rpc: async (r) => {
        if (r.method === "eth_getTransactionReceipt" && misses > 0) {
          misses--;
          return null;
        }
        return connection.provider.request(r);
      },
    });
    try {
      const sender = await senderFor(11, { url: lagging.url, receiptTimeoutMs: 15_000 });
      const started = performance.now();
      const { receipt } = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 15n] });
      assert.equal(receipt.status, "success");
      // Eight 20-ms intervals after the second miss, not the last look at the 15-second deadline.
      assert.ok(performance.now() - started < 7_500, `found after ${Math.round(performance.now() - started)} ms`);
      assert.equal(lagging.count("eth_getTransactionReceipt"), 3, "two misses, then found, with no new block in between");
    } finally {
      await lagging.close();
    }
  });

  it("waits on the receipt alone, every interval, where the head cannot be read (a proxy that refuses eth_blockNumber)", async () => {
    const refusing = await serveRpc({
      rpc: async (r) => {
        if (r.method === "eth_blockNumber") throw Object.assign(new Error("the method eth_blockNumber does not exist/is not available"), { code: -32601 });
        return connection.provider.request(r);
      },
    });
    await setAutomine(false);
    try {
      const sender = await senderFor(12, { url: refusing.url, receiptTimeoutMs: 5_000 });
      const sending = sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 16n] });
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(refusing.count("eth_blockNumber") >= 2, "it tried to read the head");
      await connection.networkHelpers.mine();
      const { receipt } = await sending;
      assert.equal(receipt.status, "success");
    } finally {
      await setAutomine(true);
      await refusing.close();
    }
  });

  it("readJob rebuilds a job as of a given block, or the latest", async () => {
    const sender = await senderFor(2);
    const { jobId, jobs } = await postJob();
    const postedAt = await sys.publicClient.getBlockNumber();
    await sender.send({ address: sys.market.address, abi: sys.market.abi, functionName: "claim", args: [jobId, jobs.job(jobId)] });
    const read = (blockNumber?: bigint) => readJob({ client: sys.publicClient, market: sys.market.address, jobId, blockNumber });
    assert.equal((await read(postedAt)).job.status, JobStatus.Posted);
    const latest = await read();
    assert.equal(latest.job.status, JobStatus.Claimed);
    assert.equal(latest.job.provider.toLowerCase(), sender.address.toLowerCase());
  });

  it("JobReader reads the jobs asked for at one block in one turn in two requests, each as readJob reads it", async () => {
    const sender = await senderFor(2);
    const posted = [await postJob(), await postJob(), await postJob()];
    const [first] = posted;
    await sender.send({ address: sys.market.address, abi: sys.market.abi, functionName: "claim", args: [first!.jobId, first!.jobs.job(first!.jobId)] });
    const head = await sys.publicClient.getBlockNumber();
    const missing = (await sys.market.read.jobCount()) + 7n;
    const { publicClient } = await createChainClients({ rpcUrl: rpc.url, chainId: 31337, timeoutMs: 5_000 });
    const reader = new JobReader({ client: publicClient, market: sys.market.address });

    const before = { logs: rpc.count("eth_getLogs"), calls: rpc.count("eth_call") };
    const reads = [...posted.map(({ jobId }) => reader.read({ jobId, blockNumber: head })), reader.read({ jobId: missing, blockNumber: head }), reader.read({ jobId: posted[1]!.jobId, blockNumber: head })];
    const settled = await Promise.allSettled(reads);
    assert.deepEqual({ logs: rpc.count("eth_getLogs") - before.logs, calls: rpc.count("eth_call") - before.calls }, { logs: 1, calls: 1 }, "five reads of four jobs: one log read, one hash read");

    for (const [i, { jobId }] of posted.entries()) {
      const alone = await readJob({ client: sys.publicClient, market: sys.market.address, jobId, blockNumber: head });
      assert.deepEqual(settled[i], { status: "fulfilled", value: alone }, `job ${jobId} as readJob reads it`);
    }
    assert.equal((settled[0] as PromiseFulfilledResult<JobRecord>).value.job.status, JobStatus.Claimed);
    assert.deepEqual(settled[4], settled[1], "a job asked for twice in the turn: both callers get it");
    assert.equal(settled[3]!.status, "rejected");
    assert.equal(((settled[3] as PromiseRejectedResult).reason as NonRetryableError).code, "JOB_NOT_FOUND", "a job that does not exist fails alone");

    // Other blocks are other reads; a read of the latest block goes out alone, as readJob.
    const again = { logs: rpc.count("eth_getLogs"), calls: rpc.count("eth_call") };
    const [older, latest] = await Promise.all([reader.read({ jobId: first!.jobId, blockNumber: head - 1n }), reader.read({ jobId: first!.jobId })]);
    assert.equal(older.job.status, JobStatus.Posted);
    assert.equal(latest.job.status, JobStatus.Claimed);
    assert.deepEqual({ logs: rpc.count("eth_getLogs") - again.logs, calls: rpc.count("eth_call") - again.calls }, { logs: 2, calls: 2 });
  });

  it("JobReader splits a turn's reads into reads of at most MAX_JOBS_PER_READ jobs", async () => {
    const { jobId } = await postJob();
    const head = await sys.publicClient.getBlockNumber();
    const { publicClient } = await createChainClients({ rpcUrl: rpc.url, chainId: 31337, timeoutMs: 5_000 });
    const reader = new JobReader({ client: publicClient, market: sys.market.address });
    const ids = [jobId, ...Array.from({ length: MAX_JOBS_PER_READ }, (_, i) => jobId + 1_000n + BigInt(i))];
    const before = rpc.count("eth_getLogs");
    const settled = await Promise.allSettled(ids.map((id) => reader.read({ jobId: id, blockNumber: head })));
    assert.equal(rpc.count("eth_getLogs") - before, 2, `${ids.length} jobs: two reads`);
    assert.equal(settled[0]!.status, "fulfilled");
    assert.ok(settled.slice(1).every((s) => s.status === "rejected" && (s.reason as NonRetryableError).code === "JOB_NOT_FOUND"));
  });

  it("JobReader reads a job it knows as posted by its stored hash alone, and reads the logs of one that moved on", async () => {
    const sender = await senderFor(2);
    const [fresh, taken, forged] = [await postJob(), await postJob(), await postJob()];
    await sender.send({ address: sys.market.address, abi: sys.market.abi, functionName: "claim", args: [taken.jobId, taken.jobs.job(taken.jobId)] });
    const head = await sys.publicClient.getBlockNumber();
    const postedLogs = await sys.publicClient.getLogs({ address: sys.market.address, fromBlock: head - 10n, toBlock: head });
    const asPosted = (jobId: bigint) => postedRecord(postedLogs, jobId);
    const { publicClient } = await createChainClients({ rpcUrl: rpc.url, chainId: 31337, timeoutMs: 5_000 });
    const reader = new JobReader({ client: publicClient, market: sys.market.address });
    // readJob over the chain's own client (not counted).
    const readJobAt = (jobId: bigint) => readJob({ client: sys.publicClient, market: sys.market.address, jobId, blockNumber: head });

    reader.know(asPosted(fresh.jobId));
    let before = readCounts();
    assert.deepEqual(await reader.read({ jobId: fresh.jobId, blockNumber: head }), await readJobAt(fresh.jobId), "the known job, as readJob reads it");
    assert.deepEqual(readsSince(before), { logs: 0, calls: 1 }, "no log read: one hash read");

    // A known record serves one read: the next reads the job's logs.
    before = readCounts();
    await reader.read({ jobId: fresh.jobId, blockNumber: head });
    assert.deepEqual(readsSince(before), { logs: 1, calls: 1 });

    // A job claimed since its post: the market's hash is the claimed state's, so the posted record is not handed out.
    reader.know(asPosted(taken.jobId));
    before = readCounts();
    const read = await reader.read({ jobId: taken.jobId, blockNumber: head });
    assert.equal(read.job.status, JobStatus.Claimed);
    assert.deepEqual(read, await readJobAt(taken.jobId));
    assert.deepEqual(readsSince(before), { logs: 1, calls: 2 }, "the hash read, then the job's logs and hash");

    // A known record the market's hash does not match (a fee other than the posted one) is never handed out.
    const posted = asPosted(forged.jobId);
    reader.know({ ...posted, job: { ...posted.job, fee: posted.job.fee + 1n } });
    assert.deepEqual(await reader.read({ jobId: forged.jobId, blockNumber: head }), await readJobAt(forged.jobId));

    // Known and unknown jobs in one turn: one hash read for all, one log read for the unknown ones.
    reader.know(asPosted(fresh.jobId));
    before = readCounts();
    const [a, b] = await Promise.all([reader.read({ jobId: fresh.jobId, blockNumber: head }), reader.read({ jobId: forged.jobId, blockNumber: head })]);
    assert.deepEqual(readsSince(before), { logs: 1, calls: 1 });
    assert.deepEqual([a, b], [await readJobAt(fresh.jobId), await readJobAt(forged.jobId)]);

    // A record with a long input URI is not held: its job is read from its logs.
    reader.know({ ...asPosted(fresh.jobId), inputURI: `https://dapp.example/${"x".repeat(4_096)}` });
    before = readCounts();
    assert.deepEqual(await reader.read({ jobId: fresh.jobId, blockNumber: head }), await readJobAt(fresh.jobId));
    assert.deepEqual(readsSince(before), { logs: 1, calls: 1 });

    // After a reorg the known records are dropped: every job is read from its logs.
    reader.know(asPosted(fresh.jobId));
    reader.forget();
    before = readCounts();
    await reader.read({ jobId: fresh.jobId, blockNumber: head });
    assert.deepEqual(readsSince(before), { logs: 1, calls: 1 });
  });

  it("JobReader reads ahead the stored hashes of the next known jobs: fresh jobs read one by one at one block cost one request", async () => {
    const sender = await senderFor(2);
    const [a, b, c, taken, forged, later] = [await postJob(), await postJob(), await postJob(), await postJob(), await postJob(), await postJob()];
    await sender.send({ address: sys.market.address, abi: sys.market.abi, functionName: "claim", args: [taken.jobId, taken.jobs.job(taken.jobId)] });
    const head = await sys.publicClient.getBlockNumber();
    const postedLogs = await sys.publicClient.getLogs({ address: sys.market.address, fromBlock: head - 10n, toBlock: head });
    const asPosted = (jobId: bigint) => postedRecord(postedLogs, jobId);
    const { publicClient } = await createChainClients({ rpcUrl: rpc.url, chainId: 31337, timeoutMs: 5_000 });
    const reader = new JobReader({ client: publicClient, market: sys.market.address });
    const readJobAt = (jobId: bigint, blockNumber = head) => readJob({ client: sys.publicClient, market: sys.market.address, jobId, blockNumber });
    for (const { jobId } of [a, b, c, taken, later]) reader.know(asPosted(jobId));
    const posted = asPosted(forged.jobId);
    reader.know({ ...posted, job: { ...posted.job, fee: posted.job.fee + 1n } });

    let before = readCounts();
    assert.deepEqual(await reader.read({ jobId: a.jobId, blockNumber: head }), await readJobAt(a.jobId));
    assert.deepEqual(readsSince(before), { logs: 0, calls: 1 }, "one hash read, for this job and the known ones after it");
    before = readCounts();
    assert.deepEqual(await reader.read({ jobId: b.jobId, blockNumber: head }), await readJobAt(b.jobId));
    assert.deepEqual(readsSince(before), { logs: 0, calls: 0 }, "a known job read later at the same block: checked against the hash read ahead");

    // A job that moved on (claimed since its post), or a known record the market's hash does not match, is never
    // handed out on the hash read ahead: its logs are read, as without it.
    before = readCounts();
    const claimed = await reader.read({ jobId: taken.jobId, blockNumber: head });
    assert.equal(claimed.job.status, JobStatus.Claimed);
    assert.deepEqual(claimed, await readJobAt(taken.jobId));
    assert.deepEqual(readsSince(before), { logs: 1, calls: 1 });
    assert.deepEqual(await reader.read({ jobId: forged.jobId, blockNumber: head }), await readJobAt(forged.jobId));

    // The hashes serve only the block they were read at: a read at another block asks again.
    await connection.networkHelpers.mine();
    before = readCounts();
    assert.deepEqual(await reader.read({ jobId: c.jobId, blockNumber: head + 1n }), await readJobAt(c.jobId, head + 1n));
    assert.deepEqual(readsSince(before), { logs: 0, calls: 1 });

    // After a reorg they are dropped with the known records: a job known again is checked against a fresh hash read.
    reader.forget();
    reader.know(asPosted(later.jobId));
    before = readCounts();
    assert.deepEqual(await reader.read({ jobId: later.jobId, blockNumber: head + 1n }), await readJobAt(later.jobId, head + 1n));
    assert.deepEqual(readsSince(before), { logs: 0, calls: 1 });

    // A read in flight when the reader forgets keeps none of what it read ahead: it may be the replaced block's.
    for (const { jobId } of [a, b]) reader.know(asPosted(jobId));
    const inFlight = reader.read({ jobId: a.jobId, blockNumber: head + 1n });
    await new Promise((resolve) => setImmediate(resolve)); // the read has gone out
    reader.forget();
    reader.know(asPosted(b.jobId));
    await inFlight;
    before = readCounts();
    assert.deepEqual(await reader.read({ jobId: b.jobId, blockNumber: head + 1n }), await readJobAt(b.jobId, head + 1n));
    assert.deepEqual(readsSince(before), { logs: 0, calls: 1 }, "b's hash, read ahead before the reorg, was not kept");

    // Nor are they kept past a new head block: another block at the same height (a reorg the poller reports only
    // once it is confirmed) may store other hashes. The same head again keeps them.
    for (const { jobId } of [a, b, c]) reader.know(asPosted(jobId));
    reader.atHead(`0x${"11".repeat(32)}`);
    await reader.read({ jobId: a.jobId, blockNumber: head + 1n });
    reader.atHead(`0x${"11".repeat(32)}`);
    before = readCounts();
    await reader.read({ jobId: b.jobId, blockNumber: head + 1n });
    assert.deepEqual(readsSince(before), { logs: 0, calls: 0 }, "the same head: b checked against the hash read ahead");
    reader.atHead(`0x${"22".repeat(32)}`);
    before = readCounts();
    assert.deepEqual(await reader.read({ jobId: c.jobId, blockNumber: head + 1n }), await readJobAt(c.jobId, head + 1n));
    assert.deepEqual(readsSince(before), { logs: 0, calls: 1 }, "another head block at that height: c's hash read again");
  });

  it("JobReader reads again job by job when a shared read fails: a node that caps log ranges fails only the old job, as it did alone", async () => {
    const old = await postJob();
    await connection.networkHelpers.mine(50);
    const recent = [await postJob(), await postJob()];
    const head = await sys.publicClient.getBlockNumber();
    // A node that refuses eth_getLogs over more than 20 blocks (hosted RPCs cap ranges).
    const capped = await serveRpc({
      rpc: async (request) => {
        if (request.method === "eth_getLogs") {
          const [{ fromBlock, toBlock }] = request.params as [{ fromBlock: Hex; toBlock: Hex }];
          if (BigInt(toBlock) - BigInt(fromBlock) > 20n) throw Object.assign(new Error("block range too large: at most 20 blocks"), { code: -32005 });
        }
        return connection.provider.request(request as never);
      },
    });
    try {
      const { publicClient } = await createChainClients({ rpcUrl: capped.url, chainId: 31337, timeoutMs: 5_000 });
      const reader = new JobReader({ client: publicClient, market: sys.market.address });
      const [oldRead, ...recentReads] = await Promise.allSettled(
        [old, ...recent].map(({ jobId }) => reader.read({ jobId, fromBlock: jobId === old.jobId ? head - 52n : head - 2n, blockNumber: head })),
      );
      assert.deepEqual(recentReads.map((r) => r.status === "fulfilled" && r.value.job.status), [JobStatus.Posted, JobStatus.Posted], "the recent jobs are read");
      assert.equal(oldRead!.status, "rejected", "the old job fails, alone");
      assert.match(String((oldRead as PromiseRejectedResult).reason), /block range too large/);
      assert.equal(capped.count("eth_getLogs"), 4, "one shared read, then one per job");

      // The node answers the next two requests with 502s: the shared read fails, the reads job by job succeed.
      capped.failNext(2);
      const retried = await Promise.allSettled(recent.map(({ jobId }) => reader.read({ jobId, fromBlock: head - 2n, blockNumber: head })));
      assert.deepEqual(retried.map((r) => r.status), ["fulfilled", "fulfilled"]);
      assert.equal(capped.failures(), 2);
    } finally {
      await capped.close();
    }
  });

  it("readJobsAt fails only the job whose stored hash a node misreports, never hands its state out", async () => {
    const posted = [await postJob(), await postJob(), await postJob()];
    const head = await sys.publicClient.getBlockNumber();
    const victim = posted[1]!.jobId;
    // A node that answers the hash of the second job wrongly (as one behind a load balancer at another block could).
    const lying = await serveRpc({
      rpc: async (request) => {
        const result = (await connection.provider.request(request as never)) as Hex;
        if (request.method !== "eth_call") return result;
        const hashes = decodeFunctionResult({ abi: sys.market.abi, functionName: "multicall", data: result });
        return encodeFunctionResult({ abi: sys.market.abi, functionName: "multicall", result: hashes.map((h, i) => (i === 1 ? `0x${"11".repeat(32)}` : h)) as Hex[] });
      },
    });
    try {
      const { publicClient } = await createChainClients({ rpcUrl: lying.url, chainId: 31337, timeoutMs: 5_000 });
      const results = await readJobsAt({ client: publicClient, market: sys.market.address, jobs: posted.map(({ jobId }) => ({ jobId })), blockNumber: head });
      assert.equal((results.get(victim) as NonRetryableError).code, "JOB_STATE_MISMATCH");
      for (const { jobId } of [posted[0]!, posted[2]!]) assert.equal((results.get(jobId) as JobRecord).job.status, JobStatus.Posted);
      assert.equal(lying.count("eth_call"), 1);
    } finally {
      await lying.close();
    }
  });

  it("reads the base fee once for transactions sent within a second, and again after", async () => {
    const sender = await senderFor(2);
    const before = rpc.count("eth_getBlockByNumber");
    const mint = () =>
      sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "approve", args: [sys.market.address, 1n] });
    const [first, second] = [await mint(), await mint()];
    assert.equal(first.receipt.status, "success");
    assert.equal(second.receipt.status, "success");
    assert.equal(rpc.count("eth_getBlockByNumber") - before, 1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await mint();
    assert.equal(rpc.count("eth_getBlockByNumber") - before, 2);
  });

  it("catches a revert in simulation, decodes it, and never sends", async () => {
    const sender = await senderFor(3);
    const { jobId, jobs } = await postJob();
    await jobs.send(sys.market.write.claim([jobId, jobs.job(jobId)], { account: sys.provider.account }));

    const nonceBefore = await pendingNonce(sender.address);
    const sendsBefore = rpc.count("eth_sendRawTransaction");
    const error = await sender
      .send({ address: sys.market.address, abi: sys.market.abi, functionName: "claim", args: [jobId, jobs.job(jobId)] })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ContractRevertError, `expected ContractRevertError, got ${String(error)}`);
    assert.ok(error instanceof NonRetryableError);
    assert.equal(error.errorName, "WrongStatus");
    assert.deepEqual(error.args, [jobId, JobStatus.Claimed]);
    assert.equal(await pendingNonce(sender.address), nonceBefore);
    assert.equal(rpc.count("eth_sendRawTransaction"), sendsBefore);
    assert.deepEqual(sender.stats(), {
      sent: 0, mined: 0, reverted: 0, simulatedReverts: 1, retries: 0, nonceResyncs: 0, replaced: 0, gapsFilled: 0, gasUsed: 0n, feesWei: 0n,
    });
  });

  it("two providers race for one job: one wins, the other gets a decoded revert and is not retried", async () => {
    const [a, b] = [await senderFor(2), await senderFor(3)];
    const { jobId, jobs } = await postJob();
    const posted = jobs.job(jobId);
    const nonces = [await pendingNonce(a.address), await pendingNonce(b.address)];
    const sendsBefore = rpc.count("eth_sendRawTransaction");

    // Both simulate against the same state and both broadcast; one block then holds both claims.
    await setAutomine(false);
    let results: PromiseSettledResult<unknown>[];
    try {
      const racing = [a, b].map((s) => s.send({ address: sys.market.address, abi: sys.market.abi, functionName: "claim", args: [jobId, posted] }));
      await waitFor(() => rpc.count("eth_sendRawTransaction") === sendsBefore + 2, { what: "both claims broadcast" });
      await connection.networkHelpers.mine();
      results = await Promise.allSettled(racing);
    } finally {
      await setAutomine(true);
    }

    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    const error = lost[0]!.reason;
    assert.ok(error instanceof ContractRevertError, `expected ContractRevertError, got ${String(error)}`);
    assert.ok(["JobMismatch", "WrongStatus"].includes(error.errorName ?? ""), `unexpected ${error.errorName}`);
    assert.equal(error.args[0], jobId);
    assert.ok(error.details?.txHash, "a mined revert names its transaction");

    // Not retried: exactly one broadcast each, and each account used exactly one nonce.
    assert.equal(rpc.count("eth_sendRawTransaction"), sendsBefore + 2);
    assert.deepEqual([await pendingNonce(a.address), await pendingNonce(b.address)], [nonces[0]! + 1, nonces[1]! + 1]);
    const loser = results[0]!.status === "rejected" ? a : b;
    assert.equal(loser.stats().retries, 0);
    assert.equal(loser.stats().reverted, 1);
    assert.ok(loser.stats().feesWei > 0n, "a reverted transaction's gas is counted");
  });

  it("retries transport failures (HTTP 502) and succeeds", async () => {
    const sender = await senderFor(4);
    rpc.failNext(2, 502);
    const failuresBefore = rpc.failures();
    const { receipt } = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 5n] });
    assert.equal(receipt.status, "success");
    assert.equal(rpc.failures() - failuresBefore, 2);
    assert.equal(sender.stats().retries, 2);
    assert.equal(sender.stats().sent, 1);
  });

  it("retries while the node is not up yet (connection refused)", async () => {
    const late = await serveRpc({ rpc: (r) => connection.provider.request(r), listenAfterMs: 400 });
    try {
      // A retry budget (about 2.5 s with jitter) well beyond the 400 ms the server waits: under CI load
      // the default budget (~0.3-0.5 s) could run out before the port opens.
      const sender = await senderFor(5, { url: late.url, retry: { retries: 8, baseDelayMs: 50, maxDelayMs: 500 } });
      const { receipt } = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 6n] });
      assert.equal(receipt.status, "success");
      assert.ok(sender.stats().retries >= 1, "no retry was needed: the server was up too early");
    } finally {
      await late.listening;
      await late.close();
    }
  });

  it("gives a transport failure that outlasts the retries as a retryable ChainTransportError", async () => {
    const sender = await senderFor(5, { retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 10 } });
    rpc.failNext(3, 503);
    await assert.rejects(
      sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 7n] }),
      (e: unknown) => e instanceof ChainTransportError && e instanceof RetryableError,
    );
    assert.equal(sender.stats().retries, 2);
    rpc.failNext(0);
  });

  it("fails at once, unretried, naming the account and its 0 ETH, when the key has no ETH for gas", async () => {
    const key = generatePrivateKey();
    const { publicClient, walletClient } = await createChainClients({ rpcUrl: rpc.url, account: privateKeyToAccount(key), chainId: 31337, timeoutMs: 5_000 });
    const sender = new TxSender({ publicClient, walletClient: walletClient!, retry: { retries: 5, baseDelayMs: 500, maxDelayMs: 2_000 } });
    const sendsBefore = rpc.count("eth_sendRawTransaction");
    const started = Date.now();
    await assert.rejects(
      sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 7n] }),
      (e: unknown) => {
        assert.ok(e instanceof NodeRejectedError && e instanceof NonRetryableError, String(e));
        assert.equal(e.code, "INSUFFICIENT_FUNDS");
        assert.ok(e.message.startsWith(`account ${sender.address} has 0 ETH for gas (this transaction may cost up to 0.0`), e.message);
        assert.match(e.message, /fund it with ETH \(on the devnet: use a key `dinfer devnet` prints/);
        return true;
      },
    );
    assert.equal(rpc.count("eth_sendRawTransaction") - sendsBefore, 1, "the broadcast was retried");
    assert.equal(sender.stats().retries, 0);
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
  });

  it("gives concurrent sends consecutive nonces", async () => {
    const sender = await senderFor(6);
    const start = await pendingNonce(sender.address);
    const sendsBefore = rpc.count("eth_sendRawTransaction");
    const sent = await Promise.all(
      [1n, 2n, 3n, 4n, 5n].map((amount) =>
        sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, amount] }),
      ),
    );
    assert.deepEqual(sent.map((s) => s.nonce).sort((x, y) => x - y), [start, start + 1, start + 2, start + 3, start + 4]);
    for (const s of sent) {
      assert.equal(s.receipt.status, "success");
      assert.equal((await sys.publicClient.getTransaction({ hash: s.hash })).nonce, s.nonce);
    }
    assert.equal(await pendingNonce(sender.address), start + 5);
    assert.equal(rpc.count("eth_sendRawTransaction") - sendsBefore, 5, "a nonce was rejected and sent again");
    assert.equal(sender.stats().nonceResyncs, 0);
    assert.equal(sender.stats().feesWei, sent.reduce((sum, s) => sum + s.fee, 0n));
  });

  it("resyncs the nonce when the account sent elsewhere (nonce too low)", async () => {
    const sender = await senderFor(7);
    const first = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 1n] });
    // The same key sends from another client: the sender's local count is now stale.
    const other = await connection.viem.getWalletClient(sender.address);
    await sys.publicClient.waitForTransactionReceipt({ hash: await other.sendTransaction({ to: sender.address, value: 1n }) });
    const second = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 2n] });
    assert.equal(second.receipt.status, "success");
    assert.equal(second.nonce, first.nonce + 2);
    assert.equal(sender.stats().nonceResyncs, 1);
  });

  it("spends the nonce of a transaction the node mined and reverted on submission (automine)", async () => {
    // b simulates transferFrom(c -> b) against c's allowance; c revokes it before b's broadcast
    // reaches the node, which mines b's transaction and answers with its revert.
    const c = account(10);
    const cWallet = await connection.viem.getWalletClient(c.address);
    await sys.token.write.mint([c.address, 5n], { account: c.address });
    await sys.token.write.approve([account(9).address, 5n], { account: c.address });
    let held = false;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const proxy = await serveRpc({
      rpc: async (r) => {
        if (r.method === "eth_sendRawTransaction" && !held) {
          held = true;
          await gate;
        }
        return connection.provider.request(r);
      },
    });
    try {
      const b = await senderFor(9, { url: proxy.url });
      const nonce = await pendingNonce(b.address);
      const sending = b
        .send({ address: sys.token.address, abi: sys.token.abi, functionName: "transferFrom", args: [c.address, b.address, 5n] })
        .then(() => undefined, (e: unknown) => e);
      await waitFor(() => held, { what: "b's broadcast held at the proxy" });
      await sys.publicClient.waitForTransactionReceipt({
        hash: await cWallet.writeContract({ address: sys.token.address, abi: sys.token.abi, functionName: "approve", args: [b.address, 0n] }),
      });
      release();
      const error = await sending;
      assert.ok(error instanceof ContractRevertError, `expected ContractRevertError, got ${String(error)}`);
      assert.equal(await pendingNonce(b.address), nonce + 1, "the reverted transaction was mined and used its nonce");
      const next = await b.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [b.address, 1n] });
      assert.equal(next.nonce, nonce + 1, "the next send takes the following nonce");
      assert.equal(b.stats().nonceResyncs, 0, "without a 'nonce too low' round trip");
    } finally {
      release();
      await proxy.close();
    }
  });

  it("times out waiting for a receipt with a retryable error that names the transaction", async () => {
    const sender = await senderFor(8, { receiptTimeoutMs: 300 });
    await setAutomine(false);
    let hash: Hex;
    try {
      const error = await sender
        .send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 9n] })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof ReceiptTimeoutError && error instanceof RetryableError, `got ${String(error)}`);
      hash = error.details?.txHash as Hex;
      await connection.networkHelpers.mine();
    } finally {
      await setAutomine(true);
    }
    const receipt = await sender.waitForReceipt({ hash });
    assert.equal(receipt.status, "success");
    assert.equal(sender.stats().mined, 1);
  });

  /** A mint from `sender` sent with automine off, the hashes it was sent under as `onSent` heard them. */
  function mintUnmined(sender: TxSender) {
    const hashes: Hex[] = [];
    const nonces: number[] = [];
    const sending = sender.send({
      address: sys.token.address,
      abi: sys.token.abi,
      functionName: "mint",
      args: [sender.address, 3n],
      onSent: ({ hash, nonce }) => {
        hashes.push(hash);
        nonces.push(nonce);
      },
    });
    sending.catch(() => {});
    return { hashes, nonces, sending };
  }

  it("sends a transaction the node dropped from its pool again at its nonce, so that no gap holds later sends", async () => {
    const sender = await senderFor(15, { replaceAfterMs: 300 });
    const nonce = await pendingNonce(sender.address);
    const sendsBefore = rpc.count("eth_sendRawTransaction");
    await setAutomine(false);
    try {
      const { hashes, nonces, sending } = mintUnmined(sender);
      await waitFor(() => hashes.length === 1, { what: "the first broadcast" });
      assert.equal(await connection.provider.request({ method: "hardhat_dropTransaction", params: [hashes[0]] }), true);
      await assert.rejects(sys.publicClient.getTransaction({ hash: hashes[0]! }), "the node no longer has it");
      await waitFor(() => rpc.count("eth_sendRawTransaction") === sendsBefore + 2, { what: "the transaction sent again" });
      // The market's fees have not moved: the same fields, so the same signed bytes and hash, back in the pool.
      assert.equal((await sys.publicClient.getTransaction({ hash: hashes[0]! })).nonce, nonce);
      await connection.networkHelpers.mine();
      const { receipt, hash, nonce: used } = await sending;
      assert.equal(receipt.status, "success");
      assert.equal(hash, hashes[0]);
      assert.deepEqual(nonces, [nonce], "one transaction: nothing new for the caller's journal");
      assert.equal(used, nonce);
      assert.equal(sender.stats().replaced, 1);
    } finally {
      await setAutomine(true);
    }
    const next = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 1n] });
    assert.equal(next.nonce, nonce + 1, "the next send takes the nonce after it: no gap");
    assert.equal(await pendingNonce(sender.address), nonce + 2);
  });

  it("replaces a transaction the chain's base fee outgrew, at the same nonce and higher fees, and mines it", async () => {
    const sender = await senderFor(16, { replaceAfterMs: 300 });
    const nonce = await pendingNonce(sender.address);
    await setAutomine(false);
    try {
      const { hashes, nonces, sending } = mintUnmined(sender);
      await waitFor(() => hashes.length === 1, { what: "the first broadcast" });
      const first = await sys.publicClient.getTransaction({ hash: hashes[0]! });
      // The next block's base fee is past the transaction's cap: it stays in the pool, unminable.
      await connection.provider.request({ method: "hardhat_setNextBlockBaseFeePerGas", params: [`0x${(first.maxFeePerGas! * 4n).toString(16)}`] });
      await connection.networkHelpers.mine();
      await assert.rejects(sys.publicClient.getTransactionReceipt({ hash: hashes[0]! }), "not mined under a base fee past its cap");
      await waitFor(() => hashes.length === 2, { what: "the replacement" });
      await connection.networkHelpers.mine();
      const { receipt, hash } = await sending;
      assert.equal(receipt.status, "success");
      assert.equal(hash, hashes[1]);
      assert.deepEqual(nonces, [nonce, nonce]);
      const replacement = await sys.publicClient.getTransaction({ hash });
      assert.equal(replacement.nonce, nonce);
      assert.ok(replacement.maxFeePerGas! > first.maxFeePerGas! * 4n, `the replacement's cap ${replacement.maxFeePerGas} covers the new base fee ${first.maxFeePerGas! * 4n}`);
      assert.equal(sender.stats().replaced, 1);
    } finally {
      await setAutomine(true);
    }
  });

  it("waits for a replacement the node took although its answer was lost, and mines it", async () => {
    // The proxy hands the replacement to the node, then answers with an internal error.
    let sends = 0;
    const proxy = await serveRpc({
      rpc: async (r) => {
        const result = await connection.provider.request(r);
        if (r.method === "eth_sendRawTransaction" && ++sends === 2) throw Object.assign(new Error("internal error"), { code: -32603 });
        return result;
      },
    });
    try {
      const sender = await senderFor(18, { url: proxy.url, replaceAfterMs: 300 });
      const nonce = await pendingNonce(sender.address);
      await setAutomine(false);
      try {
        const { hashes, nonces, sending } = mintUnmined(sender);
        await waitFor(() => hashes.length === 1, { what: "the first broadcast" });
        const first = await sys.publicClient.getTransaction({ hash: hashes[0]! });
        await connection.provider.request({ method: "hardhat_setNextBlockBaseFeePerGas", params: [`0x${(first.maxFeePerGas! * 4n).toString(16)}`] });
        await connection.networkHelpers.mine();
        await waitFor(() => hashes.length === 2, { what: "the replacement, heard of despite the lost answer" });
        assert.equal(sends, 2, "sent once, not again");
        await connection.networkHelpers.mine();
        const { receipt, hash } = await sending;
        assert.equal(receipt.status, "success");
        assert.equal(hash, hashes[1]);
        assert.deepEqual(nonces, [nonce, nonce]);
      } finally {
        await setAutomine(true);
      }
    } finally {
      await proxy.close();
    }
  });

  it("leaves a transaction priced at the market to wait for its block, however long, rather than pay more", async () => {
    const sender = await senderFor(17, { replaceAfterMs: 100 });
    const sendsBefore = rpc.count("eth_sendRawTransaction");
    await setAutomine(false);
    try {
      const { hashes, sending } = mintUnmined(sender);
      await waitFor(() => hashes.length === 1, { what: "the broadcast" });
      // Five looks at it, each finding it in the pool at the market's fees.
      await new Promise((resolve) => setTimeout(resolve, 600));
      await connection.networkHelpers.mine();
      const { receipt, hash } = await sending;
      assert.equal(receipt.status, "success");
      assert.equal(hash, hashes[0]);
      assert.equal(hashes.length, 1);
      assert.equal(rpc.count("eth_sendRawTransaction") - sendsBefore, 1, "sent once");
      assert.equal(sender.stats().replaced, 0);
    } finally {
      await setAutomine(true);
    }
  });

  it("fills the nonce of a mined transaction a reorg took away (not put back in the pool) with a transfer to self, so that the next send is mined", async () => {
    const sender = await senderFor(19, { replaceAfterMs: 300 });
    const point = (await connection.provider.request({ method: "evm_snapshot", params: [] })) as string;
    const lost = await sender.send({ address: sys.token.address, abi: sys.token.abi, functionName: "mint", args: [sender.address, 1n] });
    // The block that mined it is replaced: the chain's nonce for the account goes back, the sender's does not.
    await connection.provider.request({ method: "evm_revert", params: [point] });
    await connection.networkHelpers.mine(2);
    await assert.rejects(sys.publicClient.getTransaction({ hash: lost.hash }), "the node no longer has it, mined or pooled");
    assert.equal(await pendingNonce(sender.address), lost.nonce);

    // No resyncNonce: the next send goes out at the nonce after the lost one, where the gap holds it (as a real node
    // queues it; Hardhat's automine would refuse it outright, and the sender resync).
    await setAutomine(false);
    try {
      const { hashes, nonces, sending } = mintUnmined(sender);
      await waitFor(() => hashes.length === 1, { what: "the broadcast" });
      assert.deepEqual(nonces, [lost.nonce + 1]);
      await connection.networkHelpers.mine();
      await assert.rejects(sys.publicClient.getTransactionReceipt({ hash: hashes[0]! }), "not mined: the gap below holds it");
      await waitFor(() => sender.stats().gapsFilled === 1, { what: "the gap filled" });
      await connection.networkHelpers.mine();
      const { receipt, hash, nonce } = await sending;
      assert.equal(receipt.status, "success");
      assert.equal(hash, hashes[0], "the waiting transaction itself, not one sent again");
      assert.equal(nonce, lost.nonce + 1);
      const block = await sys.publicClient.getBlock({ blockNumber: receipt.blockNumber, includeTransactions: true });
      const filler = block.transactions.find((tx) => tx.from.toLowerCase() === sender.address.toLowerCase() && tx.nonce === lost.nonce);
      assert.ok(filler !== undefined, "a transaction of ours at the lost nonce, mined in the same block");
      assert.deepEqual([filler.to?.toLowerCase(), filler.value, filler.input], [sender.address.toLowerCase(), 0n, "0x"], "a 0-value transfer to self: the lost call is not sent again");
      assert.equal(await pendingNonce(sender.address), lost.nonce + 2, "no gap left");
    } finally {
      await setAutomine(true);
    }
  });
});

describe("chain: fees of a transaction sent again (belowMarket, raisedFees)", () => {
  const eip1559 = (maxFeePerGas: bigint, maxPriorityFeePerGas: bigint) => ({ type: "eip1559" as const, maxFeePerGas, maxPriorityFeePerGas });

  it("is below the market when its cap is under the base fee plus the going priority fee, or its priority fee under that, or a legacy price is", () => {
    // The market's pair is 1.2 x the base fee plus the priority fee: (130, 10) is a base fee of 100.
    assert.equal(belowMarket(eip1559(130n, 10n), eip1559(130n, 10n)), false);
    assert.equal(belowMarket(eip1559(150n, 20n), eip1559(130n, 10n)), false);
    assert.equal(belowMarket(eip1559(110n, 10n), eip1559(130n, 10n)), false, "a cap the base fee has not caught up with: still minable");
    assert.equal(belowMarket(eip1559(109n, 10n), eip1559(130n, 10n)), true, "under the base fee plus the priority fee");
    assert.equal(belowMarket(eip1559(200n, 9n), eip1559(130n, 10n)), true, "a priority fee under the market's");
    assert.equal(belowMarket({ type: "legacy", gasPrice: 9n }, { type: "legacy", gasPrice: 10n }), true);
    assert.equal(belowMarket({ type: "legacy", gasPrice: 10n }, { type: "legacy", gasPrice: 10n }), false);
  });

  it("replaces at the market's fees, or 12.5% (at least 1 wei) over the old ones where that is more, the tip never over the cap", () => {
    assert.deepEqual(raisedFees({ fees: eip1559(100n, 10n), market: eip1559(300n, 20n), replacing: true }), eip1559(300n, 20n));
    assert.deepEqual(raisedFees({ fees: eip1559(100n, 10n), market: eip1559(101n, 10n), replacing: true }), eip1559(112n, 11n));
    assert.deepEqual(raisedFees({ fees: eip1559(100n, 0n), market: eip1559(90n, 0n), replacing: true }), eip1559(112n, 1n));
    assert.deepEqual(raisedFees({ fees: eip1559(8n, 8n), market: eip1559(8n, 8n), replacing: true }), eip1559(9n, 9n));
    assert.deepEqual(raisedFees({ fees: eip1559(100n, 200n), market: eip1559(100n, 200n), replacing: false }), eip1559(100n, 100n));
    assert.deepEqual(raisedFees({ fees: { type: "legacy", gasPrice: 80n }, market: { type: "legacy", gasPrice: 70n }, replacing: true }), { type: "legacy", gasPrice: 90n });
  });

  it("sends a dropped transaction again at the market's fees, or its old ones where higher, with no raise", () => {
    assert.deepEqual(raisedFees({ fees: eip1559(100n, 10n), market: eip1559(90n, 5n), replacing: false }), eip1559(100n, 10n));
    assert.deepEqual(raisedFees({ fees: eip1559(100n, 10n), market: eip1559(150n, 12n), replacing: false }), eip1559(150n, 12n));
  });
});

describe("chain: TermsReader (in-process chain over HTTP)", function () {
  it("reads a terms version once, both halves typed; the current version is read fresh; a version never changes", async () => {
    const connection = await network.create();
    const sys = await deploySystem(connection); // the local terms, sampling off
    const rpc = await serveRpc({ rpc: (r) => connection.provider.request(r) });
    try {
      const { publicClient } = await createChainClients({ rpcUrl: rpc.url, chainId: 31337 });
      const reader = new TermsReader({ client: publicClient, market: sys.market.address });
      assert.equal((await reader.address()).toLowerCase(), (sys as unknown as { terms: { address: Address } }).terms.address.toLowerCase());
      const first = await reader.of(1);
      assert.equal(first.version, 1);
      assert.equal(first.market.samplingPpm, 0);
      assert.equal(typeof first.market.revealTimeout, "number");
      assert.equal(typeof first.verification.challengeBond, "bigint", "token amounts are bigints");
      assert.equal(typeof first.verification.auditCommitTimeout, "number");

      const calls = rpc.count("eth_call");
      assert.deepEqual(await reader.of(1n), first);
      assert.equal(rpc.count("eth_call"), calls, "a version is read once");

      // Governance sets version 2: jobs posted from now on get it; version 1 stays as it was.
      const terms = (sys as unknown as { terms: { write: { setParams: (args: [unknown], options: { account: unknown }) => Promise<Hex> } } }).terms;
      await terms.write.setParams([{ ...first.market, challengeWindow: first.market.challengeWindow + 7 }], { account: sys.owner.account });
      const current = await reader.current();
      assert.deepEqual([current.version, current.market.challengeWindow], [2, first.market.challengeWindow + 7]);
      assert.equal((await reader.of(1)).market.challengeWindow, first.market.challengeWindow);
      await assert.rejects(reader.of(9), /UnknownTerms/);
    } finally {
      await rpc.close();
    }
  });

  it("puts the last reveal block 256 blocks after the seed block", () => {
    assert.deepEqual(revealWindowBlocks({ commitBlock: 100n, seedDelay: 2 }), { seedBlock: 102n, lastRevealBlock: 102n + BLOCKHASH_REACH });
    assert.equal(BLOCKHASH_REACH, 256n);
  });
});

describe("chain: error classification", () => {
  it("classifies HTTP failures by status", () => {
    const http = (status?: number) => new HttpRequestError({ url: "http://127.0.0.1:1", status, body: {} });
    assert.ok(classifyChainError({ error: http(502) }) instanceof ChainTransportError);
    assert.ok(classifyChainError({ error: http(429) }) instanceof ChainTransportError);
    assert.ok(classifyChainError({ error: http(undefined) }) instanceof ChainTransportError);
    assert.ok(classifyChainError({ error: http(401) }) instanceof ChainRequestError);
  });

  it("takes a JSON-RPC error inside an HTTP 200 as the node's answer, not a transport failure", () => {
    const rpcError = (message: string, code = -32000) => new RpcRequestError({ url: "http://127.0.0.1:1", body: {}, error: { code, message } });
    const funds = classifyChainError({ error: rpcError("insufficient funds for gas * price + value: address 0xab have 5 want 9"), details: { from: "0xab" } });
    assert.ok(funds instanceof NodeRejectedError && funds.reason === "insufficient-funds", String(funds));
    assert.equal(funds.message.split(":")[0], "account 0xab has 0.000000000000000005 ETH for gas (this transaction may cost up to 0.000000000000000009 ETH)");
    assert.equal((classifyChainError({ error: rpcError("transaction underpriced") }) as NodeRejectedError).reason, "underpriced");
    assert.equal((classifyChainError({ error: rpcError("intrinsic gas too low") }) as NodeRejectedError).reason, "gas-limit");
    assert.ok(classifyChainError({ error: rpcError("something else the node refused") }) instanceof ChainRequestError);
    assert.ok(!(classifyChainError({ error: rpcError("something else the node refused") }) instanceof RetryableError));
    // A node that says it is busy (limit exceeded) is still worth retrying.
    assert.ok(classifyChainError({ error: rpcError("limit exceeded", -32005) }) instanceof ChainTransportError);
    assert.ok(classifyChainError({ error: rpcError("internal error", -32603) }) instanceof ChainTransportError);
  });

  it("reads an estimate's 'gas required exceeds allowance' as out of gas only when the allowance is the request's gas or a gas cap, else as no ETH for gas", () => {
    const rpcError = (message: string, code = -32000) => new RpcRequestError({ url: "http://127.0.0.1:1", body: {}, error: { code, message } });
    const reasonOf = (message: string, gasLimit?: bigint) => {
      const classified = classifyChainError({ error: rpcError(message), details: { from: "0xab" }, gasLimit });
      assert.ok(classified instanceof NodeRejectedError, `${message}: ${String(classified)}`);
      return classified.reason;
    };
    // The balance capped the estimate (allowance = balance / fee): an account with no ETH gets 0 on geth.
    assert.equal(reasonOf("gas required exceeds allowance (0)"), "insufficient-funds");
    assert.equal(reasonOf("gas required exceeds allowance (20999)"), "insufficient-funds");
    assert.equal(reasonOf("Out of gas: gas required exceeds allowance: 150000"), "insufficient-funds");
    const funds = classifyChainError({ error: rpcError("gas required exceeds allowance (0)"), details: { from: "0xab" } });
    assert.match(funds.message, /^account 0xab has not enough ETH for gas: fund it/);
    // A cap: geth's RPC gas cap, Anvil's block gas limit, Osaka's per-transaction cap.
    assert.equal(reasonOf("gas required exceeds allowance (50000000)"), "gas-limit");
    assert.equal(reasonOf("Out of gas: gas required exceeds allowance: 60000000"), "gas-limit");
    assert.equal(reasonOf("gas required exceeds allowance (16777216)"), "gas-limit");
    // The request's own gas limit.
    assert.equal(reasonOf("gas required exceeds allowance (150000)", 150_000n), "gas-limit");
    // No allowance named, or plainly out of gas: as before.
    assert.equal(reasonOf("gas required exceeds allowance or always failing transaction"), "gas-limit");
    assert.equal(reasonOf("Transaction ran out of gas"), "gas-limit");
    assert.equal((classifyChainError({ error: rpcError("EVM error OutOfGas", -32603) }) as NodeRejectedError).reason, "gas-limit");
  });

  it("reads Anvil's FatalExternalError as the node's fault (retried), and its other 'EVM error's as a halt (a revert)", () => {
    const rpcError = (message: string, code = -32603) => new RpcRequestError({ url: "http://127.0.0.1:1", body: {}, error: { code, message } });
    for (const code of [-32603, -32000]) {
      const fault = classifyChainError({ error: rpcError("EVM error FatalExternalError", code) });
      assert.ok(fault instanceof ChainTransportError && fault instanceof RetryableError, `${code}: ${String(fault)}`);
    }
    assert.ok(classifyChainError({ error: rpcError("EVM error InvalidFEOpcode") }) instanceof ContractRevertError);
    assert.ok(classifyChainError({ error: rpcError("EVM error StackOverflow") }) instanceof ContractRevertError);
  });

  it("backs off exponentially up to the cap", () => {
    assert.deepEqual([0, 1, 2, 3, 10].map((attempt) => backoffDelay({ attempt, baseDelayMs: 100, maxDelayMs: 500, random: 0.999999 })), [100, 200, 400, 500, 500]);
    assert.equal(backoffDelay({ attempt: 3, baseDelayMs: 100, maxDelayMs: 10_000, random: 0 }), 400);
  });
});

describe("chain: against a real hardhat node process", function () {
  let node: StartNodeReturnType | undefined;

  before(async function () {
    this.timeout(120_000);
    node = await startNode();
  });

  after(async () => {
    const running = node;
    await running?.stop();
    if (running) {
      assert.equal(await answersChainId(running.url), false, "node still answers after stop()");
      assert.throws(() => process.kill(running.pid, 0), /ESRCH/);
    }
  });

  it("sends through a flaky proxy and polls the logs with confirmations over interval mining", async () => {
    const { url } = node!;
    const deployer = await createChainClients({ rpcUrl: url, account: mnemonicToAccount(MNEMONIC, { addressIndex: 0 }) });
    assert.equal(deployer.chain.id, 31337);
    const deployHash = await deployer.walletClient!.deployContract({ abi: tokenArtifact.abi, bytecode: tokenArtifact.bytecode });
    const deployed = await deployer.publicClient.waitForTransactionReceipt({ hash: deployHash });
    const tokenAddress = deployed.contractAddress!;

    const proxy = await serveRpc({ rpc: forwardTo(url) });
    const controller = new AbortController();
    const delivered: { log: PolledLog; head: bigint }[] = [];
    try {
      const { publicClient, walletClient } = await createChainClients({ rpcUrl: proxy.url, account: mnemonicToAccount(MNEMONIC, { addressIndex: 1 }) });
      const sender = new TxSender({ publicClient, walletClient: walletClient!, retry: { baseDelayMs: 20, maxDelayMs: 200 }, receiptPollingIntervalMs: 50 });
      const poller = new LogPoller({
        name: "token",
        publicClient: deployer.publicClient,
        store: new MemoryCursorStore(),
        address: tokenAddress,
        startBlock: deployed.blockNumber,
        confirmations: 2,
        pollingIntervalMs: 100,
        onLogs: async ({ logs }) => {
          const head = await deployer.publicClient.getBlockNumber({ cacheTime: 0 });
          for (const log of logs) delivered.push({ log, head });
        },
      });
      const running = poller.run({ signal: controller.signal });

      proxy.failNext(2, 502);
      const amounts = [11n, 12n, 13n];
      const sent = await Promise.all(
        amounts.map((amount) => sender.send({ address: tokenAddress, abi: tokenArtifact.abi as never, functionName: "mint", args: [sender.address, amount] })),
      );
      assert.equal(proxy.failures(), 2);
      assert.ok(sender.stats().retries >= 2);
      assert.deepEqual(sent.map((s) => s.receipt.status), ["success", "success", "success"]);

      await waitFor(() => delivered.length === 3, { what: "three confirmed logs", timeoutMs: 30_000 });
      controller.abort();
      await running;
      const byNonce = [...sent].sort((x, y) => x.nonce - y.nonce).map((s) => s.hash);
      assert.deepEqual(delivered.map((d) => d.log.transactionHash), byNonce);
      assert.deepEqual(amountsOf(delivered.map((d) => d.log)).sort(), [...amounts].sort());
      for (const { log, head } of delivered) assert.ok(head - log.blockNumber >= 2n, `delivered with ${head - log.blockNumber} confirmations`);
    } finally {
      controller.abort();
      await proxy.close();
    }
  });

  it("keeps chain time with wall time under a burst of transactions: one block a second, none per transaction", async function () {
    this.timeout(60_000);
    const { publicClient, walletClient } = await createChainClients({ rpcUrl: node!.url, account: mnemonicToAccount(MNEMONIC, { addressIndex: 2 }) });
    const sender = new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 50 });
    const deployHash = await walletClient!.deployContract({ abi: tokenArtifact.abi, bytecode: tokenArtifact.bytecode });
    const token = (await publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress!;
    const start = await publicClient.getBlock({ blockTag: "latest" });
    const startedAt = Date.now();
    // 30 transactions at once, then 3 more one after the other: with a block per transaction the
    // chain would be 30+ seconds ahead after them.
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) => sender.send({ address: token, abi: tokenArtifact.abi as never, functionName: "mint", args: [sender.address, BigInt(i + 1)] })),
    );
    for (let i = 0; i < 3; i++) await sender.send({ address: token, abi: tokenArtifact.abi as never, functionName: "mint", args: [sender.address, 1n] });
    await new Promise((r) => setTimeout(r, 3_000));
    const end = await publicClient.getBlock({ blockTag: "latest" });
    const wallSeconds = (Date.now() - startedAt) / 1000;
    const chainSeconds = Number(end.timestamp - start.timestamp);
    const blocksUsed = new Set(burst.map((s) => s.receipt.blockNumber)).size;
    assert.ok(blocksUsed <= 3, `the burst of 30 took ${blocksUsed} blocks`);
    assert.ok(Math.abs(chainSeconds - wallSeconds) <= 2, `chain time moved ${chainSeconds} s in ${wallSeconds.toFixed(1)} s of wall time`);
    assert.ok(end.number - start.number <= BigInt(Math.ceil(wallSeconds)) + 1n, `${end.number - start.number} blocks in ${wallSeconds.toFixed(1)} s`);
  });
});
