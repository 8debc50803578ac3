/**
 * Sends contract transactions for one account, carefully.
 *
 *   1. simulate: a revert is caught before anything is signed, decoded from the ABI into a
 *      `ContractRevertError` (never retried). The gas estimate (`eth_estimateGas`) runs the call
 *      and is that simulation; with a fixed gas limit, an `eth_call` is;
 *   2. the gas estimate (plus a buffer) and fees (reused for a second, the priority fee suggestion
 *      for 10 s);
 *   3. under a per-sender lock: take the next nonce (read from the chain's pending count once, then
 *      counted locally), sign locally, broadcast. The lock keeps broadcasts in nonce order, so
 *      concurrent sends get consecutive nonces and a failure before broadcast leaves no gap;
 *   4. wait for the receipt with a timeout; a mined transaction that reverted is a
 *      `ContractRevertError` too, decoded by replaying the call at its block. A transaction not mined
 *      within `replaceAfterMs` is looked at: one the node no longer has (dropped from its pool) is sent
 *      again, and one whose fees the chain has outgrown (its cap under the base fee plus the going priority
 *      fee, or its priority fee under that) is replaced at the same nonce with fees raised to the market's
 *      and by at least 12.5% (nodes take a replacement for at least 10% more); one the chain can still
 *      mine is left to wait. Its receipt is then awaited under every hash sent for the nonce, and
 *      `onSent` hears of each, so that a journal records the transaction that may be mined. Without this, a dropped transaction would leave a
 *      gap in the account's nonces and one the chain outpriced would hold every later send behind it. A gap below it that no
 *      transaction of ours holds (a reorg took a mined one away) is filled first, with a 0-value transfer to self (`#fillGap`).
 *
 * The node's own refusals (no ETH for gas, a fee or gas limit it does not accept) are final and named
 * (`NodeRejectedError`), never retried: only transport failures are. Transport failures (refused,
 * timeout, 5xx) are retried with exponential backoff and a cap. A
 * broadcast is retried with the same signed bytes, so a retry after a lost response is harmless:
 * "already known", or "nonce too low" for a hash the node has, counts as sent. A nonce taken by
 * someone else (the same key used elsewhere) resyncs from the chain and re-signs.
 */
import {
  encodeFunctionData,
  parseSignature,
  serializeTransaction,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type ContractFunctionParameters,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";

import { hexToBytes } from "../codec/hex.js";
import { DinferError, NonRetryableError, RetryableError } from "../errors.js";
import { viemKeccak256, type Keccak256 } from "./keccak.js";
import {
  backoffDelay,
  ChainTransportError,
  classifyChainError,
  ContractRevertError,
  errorChain,
  NodeRejectedError,
  NonceError,
  ReceiptTimeoutError,
  sleep,
  withRetry,
  type RetryOptions,
} from "./errors.js";

type WriteMutability = "nonpayable" | "payable";

export type SendParameters<
  abi extends Abi | readonly unknown[] = Abi,
  functionName extends ContractFunctionName<abi, WriteMutability> = ContractFunctionName<abi, WriteMutability>,
  args extends ContractFunctionArgs<abi, WriteMutability, functionName> = ContractFunctionArgs<abi, WriteMutability, functionName>,
> = ContractFunctionParameters<abi, WriteMutability, functionName, args> & {
  address: Address;
  value?: bigint;
  /** A fixed gas limit; estimated (plus `gasBufferPct`) when left out. */
  gas?: bigint;
  /** Stops the send between steps (never between broadcast and its bookkeeping). */
  signal?: AbortSignal;
  /**
   * Called once the node accepted the transaction, before its receipt: a caller journals the hash
   * here, so that a crash while it waits still knows which transaction it sent (`markActionSent`).
   */
  onSent?: (sent: { hash: Hex; nonce: number }) => void;
};

export type SendReturnType = {
  hash: Hex;
  nonce: number;
  receipt: TransactionReceipt;
  /** gasUsed * effectiveGasPrice, wei. */
  fee: bigint;
};

export type SenderStats = {
  /** Transactions broadcast. */
  sent: number;
  mined: number;
  /** Mined with status reverted (their gas is counted too). */
  reverted: number;
  /** Simulations that reverted: caught before sending. */
  simulatedReverts: number;
  /** Retries of any step after a retryable failure. */
  retries: number;
  nonceResyncs: number;
  /** Transactions sent again at their nonce: dropped by the node, or outpriced by the chain. */
  replaced: number;
  /** Nonces below a waiting transaction filled with a 0-value transfer to self (a reorg took a mined transaction of ours away). */
  gapsFilled: number;
  gasUsed: bigint;
  /** Sum of gasUsed * effectiveGasPrice over mined receipts, wei. */
  feesWei: bigint;
};

/**
 * Where the sender logs (one record an object, `msg` inside): pino's `Logger` (offchain/log.ts) fits.
 * Kept this narrow so the SDK package (packages/sdk) signs without pino.
 */
export type SenderLogger = {
  info: (record: Record<string, unknown>) => void;
  warn: (record: Record<string, unknown>) => void;
};

const SILENT_LOGGER: SenderLogger = { info: () => {}, warn: () => {} };

export type TxSenderParameters = {
  publicClient: PublicClient;
  /** Its account must be local (signs in process): the sender signs once and may broadcast again. */
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  logger?: SenderLogger;
  /** Retry policy for every RPC step. */
  retry?: Omit<RetryOptions, "signal">;
  receiptTimeoutMs?: number;
  receiptPollingIntervalMs?: number;
  /** How long a transaction may go unmined before it is looked at (sent again where dropped, replaced where outpriced). */
  replaceAfterMs?: number;
  /** Added to the gas estimate, percent: the state may change between estimate and inclusion. */
  gasBufferPct?: number;
  /** The keccak-256 of signing hashes and transaction hashes (offchain/chain/keccak.ts); default viem's. */
  keccak?: Keccak256;
};

export type WaitForReceiptParameters = { hash: Hex; timeoutMs?: number; signal?: AbortSignal };

type PreparedCall = { to: Address; data: Hex; value: bigint | undefined; gas: bigint; abi: Abi; functionName: string };
export type Fees = { type: "eip1559"; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { type: "legacy"; gasPrice: bigint };

/** A transaction the sender signs: a contract call with its fees. */
export type SendableTransaction = { chainId: number; nonce: number; to: Address; data: Hex; value: bigint | undefined; gas: bigint } & Fees;

/**
 * The signed transaction and its hash: what `account.signTransaction` gives (serialize, hash, sign the hash,
 * serialize with the signature), with `keccak` for both hashes. An account that cannot sign a bare hash
 * (`sign` absent) signs the transaction whole, its own way.
 */
export async function signTransactionWith({
  account,
  transaction,
  keccak,
}: {
  account: LocalAccount;
  transaction: SendableTransaction;
  keccak: Keccak256;
}): Promise<{ raw: Hex; hash: Hex }> {
  const raw =
    account.sign === undefined
      ? await account.signTransaction(transaction)
      : serializeTransaction(transaction, parseSignature(await account.sign({ hash: keccak(hexToBytes(serializeTransaction(transaction))) })));
  return { raw, hash: keccak(hexToBytes(raw)) };
}

/** Runs async sections one at a time, in call order. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(section);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** How long a priority fee suggestion (eth_maxPriorityFeePerGas) is reused. */
const PRIORITY_FEE_TTL_MS = 10_000;
/**
 * How long fees computed from the latest base fee are reused. A base fee moves at most 12.5% a
 * block and the fee cap leaves 20% above it, so fees a second old still cover the next block on
 * any chain whose blocks are not much faster than that; a worker sending a few transactions per job
 * then reads the head once a second rather than once per transaction.
 */
const FEES_TTL_MS = 1_000;

/**
 * A transaction waiting for its receipt asks again after this many polling intervals even when the head
 * read says no block came (see `waitForReceipt`).
 */
const RECEIPT_POLL_CEILING = 8;

/**
 * On a chain whose last look at once found nothing (it mines on an interval), a receipt wait still looks at
 * once every this many waits: a chain that has come to mine each transaction as it arrives is seen again.
 */
const AT_ONCE_REPROBE_EVERY = 16;

/** The most gas one transaction may carry since Osaka (EIP-7825): 2^24. */
export const TX_GAS_CAP = 16_777_216n;

/**
 * A gas limit with a buffer, in integer arithmetic, never pushed over `TX_GAS_CAP` by the buffer: an
 * estimate of 15M would otherwise ask for 18M, which an Osaka chain refuses although 15M would do (an
 * estimate over the cap stays as it is: a chain without the cap takes it, one with it refuses it). Pure.
 */
export function withGasBuffer({ gas, bufferPct }: { gas: bigint; bufferPct: number }): bigint {
  const buffered = (gas * BigInt(100 + Math.round(bufferPct))) / 100n;
  return gas <= TX_GAS_CAP && buffered > TX_GAS_CAP ? TX_GAS_CAP : buffered;
}

/**
 * Whether a transaction's fees fell below what the chain takes now, so that it may never be mined: a legacy price
 * under the market's, or a fee cap under the latest base fee plus the market's priority fee, or a priority fee
 * under the market's. `market` is `#fees`' (a cap of 1.2 x the base fee plus the priority fee): a cap the base fee
 * has not yet caught up with is not below it. Pure.
 */
export function belowMarket(fees: Fees, market: Fees): boolean {
  if (fees.type === "legacy" || market.type === "legacy") return gasPriceOf(fees) < gasPriceOf(market);
  const baseFee = ((market.maxFeePerGas - market.maxPriorityFeePerGas) * 10n) / 12n;
  return fees.maxFeePerGas < baseFee + market.maxPriorityFeePerGas || fees.maxPriorityFeePerGas < market.maxPriorityFeePerGas;
}

/**
 * The fees a transaction is sent again at: each part the market's, or the old one if higher; where it `replaces`
 * one the node still holds, also at least 12.5% (and 1 wei) over the old one, as nodes take a replacement only for
 * 10% more on both parts. The priority fee never exceeds the fee cap. Pure.
 */
export function raisedFees({ fees, market, replacing }: { fees: Fees; market: Fees; replacing: boolean }): Fees {
  const raise = (old: bigint, now: bigint) => {
    const floor = replacing ? old + (old / 8n > 0n ? old / 8n : 1n) : old;
    return floor > now ? floor : now;
  };
  if (fees.type === "legacy" || market.type === "legacy") return { type: "legacy", gasPrice: raise(gasPriceOf(fees), gasPriceOf(market)) };
  const maxFeePerGas = raise(fees.maxFeePerGas, market.maxFeePerGas);
  const tip = raise(fees.maxPriorityFeePerGas, market.maxPriorityFeePerGas);
  return { type: "eip1559", maxFeePerGas, maxPriorityFeePerGas: tip > maxFeePerGas ? maxFeePerGas : tip };
}

function gasPriceOf(fees: Fees): bigint {
  return fees.type === "legacy" ? fees.gasPrice : fees.maxFeePerGas;
}

/** Sends transactions from one local account; see the module comment. */
export class TxSender {
  readonly address: Address;
  readonly #public: PublicClient;
  readonly #account: LocalAccount;
  readonly #chainId: number | undefined;
  readonly #log: SenderLogger;
  readonly #retries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #receiptTimeoutMs: number;
  readonly #receiptPollingIntervalMs: number;
  readonly #replaceAfterMs: number;
  readonly #gasBufferPct: number;
  readonly #keccak: Keccak256;
  readonly #lock = new Mutex();
  /** The next nonce to use; undefined: read the pending count from the chain first. */
  #nonce: number | undefined;
  /** The last priority fee suggestion and when it was read. */
  #priority: { value: bigint; at: number } | undefined;
  #recentFees: { fees: Fees; at: number } | undefined;
  #resolvedChainId: number | undefined;
  readonly #counted = new Set<Hex>();
  /** The head this sender read last, and when (a receipt poll that missed waits for another head than the one it could see). */
  #head: { number: bigint; at: number } | undefined;
  /** A head read in flight, shared by every receipt poll waiting on one. */
  #headRead: Promise<bigint> | undefined;
  /** The nonces of this sender's transactions waiting for their receipts (`#settle`): each one's own wait sends it again. */
  readonly #settling = new Set<number>();
  /** Whether the last receipt asked for at once, right after its broadcast, was there (the chain mines as transactions come). */
  #minedOnBroadcast = true;
  /** Receipt waits since the last look at once (see AT_ONCE_REPROBE_EVERY). */
  #waitsSinceAtOnce = 0;
  readonly #stats: SenderStats = {
    sent: 0,
    mined: 0,
    reverted: 0,
    simulatedReverts: 0,
    retries: 0,
    nonceResyncs: 0,
    replaced: 0,
    gapsFilled: 0,
    gasUsed: 0n,
    feesWei: 0n,
  };

  constructor({
    publicClient,
    walletClient,
    logger = SILENT_LOGGER,
    retry: { retries = 5, baseDelayMs = 200, maxDelayMs = 5_000 } = {},
    receiptTimeoutMs = 120_000,
    receiptPollingIntervalMs = 250,
    replaceAfterMs = 30_000,
    gasBufferPct = 20,
    keccak = viemKeccak256,
  }: TxSenderParameters) {
    const account = walletClient.account;
    if (account.type !== "local") {
      throw new NonRetryableError("TxSender needs a local account (a private key or keystore)", {
        code: "CONFIG",
        details: { address: account.address, type: account.type },
      });
    }
    this.address = account.address;
    this.#public = publicClient;
    this.#account = account;
    this.#chainId = walletClient.chain?.id ?? publicClient.chain?.id;
    this.#log = logger;
    this.#retries = retries;
    this.#baseDelayMs = baseDelayMs;
    this.#maxDelayMs = maxDelayMs;
    this.#receiptTimeoutMs = receiptTimeoutMs;
    this.#receiptPollingIntervalMs = receiptPollingIntervalMs;
    this.#replaceAfterMs = replaceAfterMs;
    this.#gasBufferPct = gasBufferPct;
    this.#keccak = keccak;
  }

  /** Counters for metrics; a copy. */
  /** Signs EIP-712 typed data with the sending account (a signed job request, offchain/chain/signed-jobs.ts). */
  signTypedData: LocalAccount["signTypedData"] = (typedData) => this.#account.signTypedData(typedData);

  stats(): SenderStats {
    return { ...this.#stats };
  }

  /** Forgets the local nonce: the next send reads the pending count from the chain. */
  resyncNonce(): void {
    this.#nonce = undefined;
  }

  /**
   * Simulates, signs, broadcasts and waits for one contract call. Throws `ContractRevertError`
   * when it reverts (simulated or mined), `ReceiptTimeoutError` (with `details.txHash`) when it
   * was sent but not seen mined in time, `ChainTransportError` when the RPC stayed down.
   */
  async send<
    const abi extends Abi | readonly unknown[],
    functionName extends ContractFunctionName<abi, WriteMutability>,
    args extends ContractFunctionArgs<abi, WriteMutability, functionName>,
  >(parameters: SendParameters<abi, functionName, args>): Promise<SendReturnType> {
    const { address: to, value, gas: fixedGas, signal, onSent } = parameters;
    const abi = parameters.abi as Abi;
    const functionName = parameters.functionName as string;
    const args = (parameters as { args?: readonly unknown[] }).args;
    const context = { from: this.address, to, function: functionName };
    const data = encodeFunctionData({ abi, functionName, args });

    let gas: bigint;
    try {
      if (fixedGas !== undefined) {
        await this.#retry({
          signal,
          abi,
          details: { ...context, step: "simulate" },
          run: () => this.#public.simulateContract({ account: this.address, address: to, abi, functionName, args, value }),
        });
        gas = fixedGas;
      } else {
        // One request, not an eth_call and then an estimate: the estimate runs the call, and its
        // revert carries the same data (one chain request less per transaction). Both devnet engines
        // estimate against the pending block (a call that needs a transaction still in the pool
        // estimates as if it were mined), but not alike: Hardhat's estimate also makes sure no inner
        // call ran out of gas, Anvil's (like geth's) is the least gas at which the call as a whole
        // succeeds (0.2% lower on a token transferFrom). A call that lets an inner call fail quietly
        // could then get too little for its whole work; the protocol's two such spots are safe by
        // construction: JobMarket's callback reverts when gasleft() cannot give the consumer its whole
        // limit, and a failed permit in postJobWithPermit leaves transferFrom without an allowance,
        // which reverts. Over Osaka's per-transaction cap the two part too: Hardhat's estimate stops at
        // the cap ("ran out of gas"), Anvil's goes on to the block gas limit and its node then refuses
        // the transaction; either way a NodeRejectedError("gas-limit") before anything is mined.
        const estimate = await this.#retry({
          signal,
          abi,
          details: { ...context, step: "estimateGas" },
          run: () => this.#public.estimateGas({ account: this.address, to, data, value }),
        });
        gas = withGasBuffer({ gas: estimate, bufferPct: this.#gasBufferPct });
      }
    } catch (error) {
      if (error instanceof ContractRevertError) {
        this.#stats.simulatedReverts++;
        this.#log.info({ msg: "simulation reverted, not sent", ...context, error_name: error.errorName, args: error.args.map(String) });
      }
      throw error;
    }
    signal?.throwIfAborted();
    const fees = await this.#fees(signal);
    const chainId = await this.#chain(signal);
    signal?.throwIfAborted();

    const call: PreparedCall = { to, data, value, gas, abi, functionName };
    const sent = await this.#broadcast({ call, fees, chainId, context });
    onSent?.(sent);
    const receipt = await this.#settle({ call, fees, chainId, context, sent, onSent, signal });
    const { transactionHash: hash } = receipt;
    const { nonce } = sent;
    const fee = receipt.gasUsed * receipt.effectiveGasPrice;
    if (receipt.status === "reverted") {
      const error = await this.#revertOf({ call, receipt });
      this.#log.warn({
        msg: "transaction reverted on chain",
        ...context,
        tx_hash: hash,
        nonce,
        block: receipt.blockNumber,
        gas_used: receipt.gasUsed,
        error_name: error.errorName,
      });
      throw error;
    }
    this.#log.info({ msg: "transaction mined", ...context, tx_hash: hash, nonce, block: receipt.blockNumber, gas_used: receipt.gasUsed });
    return { hash, nonce, receipt, fee };
  }

  /**
   * The receipt of the transaction `sent` for `call` (at `fees`), or of one sent again for its nonce: each
   * `replaceAfterMs` without it, the transaction is looked at (`#sendAgain`). `ReceiptTimeoutError` after
   * `receiptTimeoutMs` in all, as a single wait gives.
   */
  async #settle({
    call,
    fees,
    chainId,
    context,
    sent,
    onSent,
    signal,
  }: {
    call: PreparedCall;
    fees: Fees;
    chainId: number;
    context: Record<string, unknown>;
    sent: { hash: Hex; nonce: number };
    onSent: SendParameters["onSent"];
    signal: AbortSignal | undefined;
  }): Promise<TransactionReceipt> {
    const deadline = performance.now() + this.#receiptTimeoutMs;
    const hashes = [sent.hash];
    let current = fees;
    this.#settling.add(sent.nonce);
    try {
      for (;;) {
        const timeoutMs = Math.max(0, Math.min(this.#replaceAfterMs, deadline - performance.now()));
        try {
          return await this.#receiptOfAny({ hashes, timeoutMs, signal });
        } catch (error) {
          if (!(error instanceof ReceiptTimeoutError)) throw error;
          if (performance.now() >= deadline) {
            throw new ReceiptTimeoutError(error.message, { code: error.code, details: { ...error.details, timeoutMs: this.#receiptTimeoutMs }, cause: error.cause });
          }
        }
        signal?.throwIfAborted();
        // A gap below it holds it back whatever its fees: closed first, then it is looked at as usual.
        await this.#fillGap({ below: sent.nonce, chainId, context, signal }).catch((error: unknown) => {
          this.#log.warn({ msg: "nonce gap below a waiting transaction not filled", ...context, nonce: sent.nonce, err: error instanceof Error ? error.message : String(error) });
        });
        const again = await this.#sendAgain({ call, fees: current, chainId, context, nonce: sent.nonce, last: hashes.at(-1)!, signal }).catch((error: unknown) => {
          // A replacement the node refused (another at this nonce pays more) or a failed read: the next look tries again.
          this.#log.warn({ msg: "transaction not mined in time, and not sent again", ...context, tx_hash: hashes.at(-1), nonce: sent.nonce, err: error instanceof Error ? error.message : String(error) });
          return undefined;
        });
        if (again === undefined) continue;
        current = again.fees;
        this.#stats.replaced++;
        // Sent again at the same fees, a dropped transaction is the same signed bytes (signatures are deterministic).
        if (hashes.includes(again.hash)) continue;
        hashes.push(again.hash);
        onSent?.({ hash: again.hash, nonce: sent.nonce });
      }
    } finally {
      this.#settling.delete(sent.nonce);
    }
  }

  /**
   * Closes a gap in our nonces below `below` (a transaction of ours waiting unmined): a reorg that took away a mined
   * transaction of ours, which the node did not put back in its pool, leaves its nonce unused on the chain, and every
   * later transaction waits behind it forever. Each nonce from the node's pending count (the first one no transaction
   * of ours holds, mined or pooled) up to `below` is filled with a 0-value transfer to self at the market's fees,
   * unless a send of this sender is still waiting for its own transaction at that nonce (its wait sends it again).
   *
   * A no-op, not the waiting call sent again at the lower nonce: the lost transaction's signed bytes may yet come back
   * (a node that does put it back, anyone who kept them), and the waiting call stays in the pool at its own nonce
   * whatever we do. Sent again lower, the waiting call could be mined twice, or beside the lost one; a no-op at the lost
   * nonce is mined instead of the lost transaction or not at all, and changes nothing. An action whose transaction it
   * displaced is the caller's to send again (offchain/daemon/action.ts: a confirmed action the chain asks for again).
   * Each fill holds the broadcast lock: a send that read the pending count at the same moment (its local nonce reset)
   * would take the same nonce, and a fill priced 10% above it would push it out of the pool. Its gas is estimated (a
   * chain that charges its L1 data as gas refuses a plain 21,000). Returns how many nonces it filled.
   */
  async #fillGap({ below, chainId, context, signal }: { below: number; chainId: number; context: Record<string, unknown>; signal?: AbortSignal }): Promise<number> {
    let filled = 0;
    let last = -1;
    for (;;) {
      const nonce = await this.#lock.run(() => this.#fillOne({ below, last, chainId, context, signal }));
      if (nonce === undefined) return filled;
      filled++;
      last = nonce;
    }
  }

  /** One nonce of `#fillGap`, under the broadcast lock: the nonce filled, or undefined when none is missing any more. */
  async #fillOne({
    below,
    last,
    chainId,
    context,
    signal,
  }: {
    below: number;
    last: number;
    chainId: number;
    context: Record<string, unknown>;
    signal?: AbortSignal;
  }): Promise<number | undefined> {
    const nonce = await this.#pendingNonce();
    // A node whose count did not move past the nonce just filled is left to the next look.
    if (nonce >= below || nonce <= last || this.#settling.has(nonce)) return undefined;
    const fees = await this.#fees(signal, { fresh: true });
    const gas = await this.#public.estimateGas({ account: this.address, to: this.address, value: 0n });
    const call: PreparedCall = { to: this.address, data: "0x", value: 0n, gas, abi: [], functionName: "(transfer to self)" };
    const signed = await this.#sign({ call, fees, chainId, nonce });
    try {
      await this.#public.request({ method: "eth_sendRawTransaction", params: [signed.raw] });
    } catch (error) {
      const classified = classifyChainError({ error, details: { ...context, step: "fill nonce gap", nonce, txHash: signed.hash } });
      // Filled meanwhile (mined, or pooled since the count was read): nothing is missing there any more.
      if (classified instanceof NonceError) return undefined;
      throw classified;
    }
    this.#stats.gapsFilled++;
    this.#log.warn({ msg: "nonce gap below a waiting transaction filled (a reorg took a mined transaction of ours away)", ...context, nonce, waiting_nonce: below, tx_hash: signed.hash });
    return nonce;
  }

  /**
   * A transaction not mined in time (`last`, the latest sent at `nonce`), looked at: the node still has it and
   * its fees are the market's or more, so it waits on (undefined); or the node dropped it, and the same call is
   * sent at the same nonce at the market's fees (or its old ones, if higher); or the chain's fees outgrew it,
   * and it is replaced at fees raised to the market's and by at least 12.5% (`raisedFees`). Undefined too when the
   * nonce turns out spent (mined meanwhile: the receipt wait finds it).
   */
  async #sendAgain({
    call,
    fees,
    chainId,
    context,
    nonce,
    last,
    signal,
  }: {
    call: PreparedCall;
    fees: Fees;
    chainId: number;
    context: Record<string, unknown>;
    nonce: number;
    last: Hex;
    /** The send's abort (a daemon's stop): the fee read's retries end with it. */
    signal?: AbortSignal;
  }): Promise<{ hash: Hex; fees: Fees } | undefined> {
    const pooled = await this.#known(last);
    const market = await this.#fees(signal, { fresh: true });
    if (pooled && !belowMarket(fees, market)) return undefined;
    const next = raisedFees({ fees, market, replacing: pooled });
    const signed = await this.#sign({ call, fees: next, chainId, nonce });
    try {
      await this.#public.request({ method: "eth_sendRawTransaction", params: [signed.raw] });
    } catch (error) {
      const classified = classifyChainError({ error, abi: call.abi, details: { ...context, step: "send again", nonce, txHash: signed.hash } });
      // A lost answer (or a revert reported by a node that mines on submission): the node may have it all the same,
      // and then it is the one to wait for.
      if (!(classified instanceof NonceError)) {
        if (await this.#known(signed.hash).catch(() => false)) return { hash: signed.hash, fees: next };
        throw classified;
      }
      // The pool holds another transaction at this nonce at higher fees than these: the next look raises them again.
      if (/replacement transaction underpriced/.test(classified.nodeMessage)) throw classified;
      // "Nonce too low": a transaction at this nonce was mined, ours (the receipt wait finds it) or not.
      if (!/already known|known transaction|already imported/.test(classified.nodeMessage)) return undefined;
    }
    this.#log.warn({
      msg: pooled ? "transaction outpriced by the chain, replaced at higher fees" : "transaction dropped by the node, sent again",
      ...context,
      nonce,
      tx_hash: last,
      new_tx_hash: signed.hash,
      ...(next.type === "eip1559" ? { max_fee_per_gas: next.maxFeePerGas, max_priority_fee_per_gas: next.maxPriorityFeePerGas } : { gas_price: next.gasPrice }),
    });
    return { hash: signed.hash, fees: next };
  }

  /**
   * Polls for a receipt until `timeoutMs`; transport failures while polling are tolerated (the
   * next poll may work). Counts the receipt's gas into the stats (once per transaction).
   *
   * It asks once at once (an automining chain has mined the transaction already), then when the chain's
   * head is another block than the one its last ask could see (a new block, or a reorg), and in any case
   * every `RECEIPT_POLL_CEILING` intervals (a node behind a load balancer may miss a receipt its neighbour
   * has, on a chain that makes no new block), and once more at the deadline. Once an ask at once found
   * nothing (the chain mines on an interval), later waits start by waiting for another head, which spares
   * a request per transaction that could not be answered; every `AT_ONCE_REPROBE_EVERY`th wait still asks
   * at once, and one that finds its receipt so brings the asks at once back. The head is read at most once
   * per polling interval, and every transaction waiting on this sender shares that read (a daemon's tick
   * hands it the head it read, `noteHead`, which spares the read): a transaction
   * waiting for a 2-second block costs one or two receipt requests, not eight. A failed head read only
   * means the next receipt request comes after an interval, as before.
   */
  waitForReceipt({ hash, timeoutMs = this.#receiptTimeoutMs, signal }: WaitForReceiptParameters): Promise<TransactionReceipt> {
    return this.#receiptOfAny({ hashes: [hash], timeoutMs, signal });
  }

  /**
   * The receipt of whichever of `hashes` (the transactions sent for one nonce) is mined, waited for as
   * `waitForReceipt` waits for one. `ReceiptTimeoutError` names the last hash, and all of them (`txHashes`).
   */
  async #receiptOfAny({ hashes, timeoutMs, signal }: { hashes: readonly Hex[]; timeoutMs: number; signal?: AbortSignal }): Promise<TransactionReceipt> {
    const deadline = performance.now() + timeoutMs;
    let lastError: unknown;
    let atOnce = this.#minedOnBroadcast || ++this.#waitsSinceAtOnce >= AT_ONCE_REPROBE_EVERY;
    if (atOnce) this.#waitsSinceAtOnce = 0;
    else lastError = await this.#headOtherThan({ number: this.#head?.number, until: Math.min(deadline, performance.now() + RECEIPT_POLL_CEILING * this.#receiptPollingIntervalMs), signal });
    for (;;) {
      // Whatever block this poll answers from is at least as new as the head known before it.
      const seen = this.#head?.number;
      const askedAtOnce = atOnce;
      atOnce = false;
      let missed = true;
      for (const hash of hashes) {
        try {
          const receipt = await this.#public.getTransactionReceipt({ hash });
          if (askedAtOnce) this.#minedOnBroadcast = true;
          this.#record(receipt);
          return receipt;
        } catch (error) {
          const notFound = errorChain(error).some((e) => e instanceof TransactionReceiptNotFoundError);
          if (!notFound) {
            missed = false;
            const classified = classifyChainError({ error, details: { txHash: hash, step: "receipt" } });
            if (!(classified instanceof RetryableError)) throw classified;
            lastError = classified;
          }
        }
      }
      if (askedAtOnce && missed) this.#minedOnBroadcast = false;
      if (performance.now() >= deadline) {
        throw new ReceiptTimeoutError("no receipt in time; the transaction may still be mined", {
          code: "RECEIPT_TIMEOUT",
          details: { txHash: hashes.at(-1), ...(hashes.length > 1 ? { txHashes: [...hashes] } : {}), timeoutMs },
          cause: lastError,
        });
      }
      const until = Math.min(deadline, performance.now() + RECEIPT_POLL_CEILING * this.#receiptPollingIntervalMs);
      lastError = (await this.#headOtherThan({ number: seen, until, signal })) ?? lastError;
    }
  }

  /**
   * Waits until the chain's head is another block than `number` (at once when `number` is unknown), until
   * `until` (a `performance.now()` time), or an interval after a failed head read. Not "higher": a head that
   * went back (a reorg, another node behind a load balancer) also calls for a look. Returns the head
   * read's failure, if one ended the wait.
   */
  async #headOtherThan({ number, until, signal }: { number: bigint | undefined; until: number; signal: AbortSignal | undefined }): Promise<unknown> {
    const interval = this.#receiptPollingIntervalMs;
    for (;;) {
      const left = until - performance.now();
      if (left <= 0) return undefined;
      const age = this.#head === undefined ? Infinity : performance.now() - this.#head.at;
      if (age < interval) {
        if (number === undefined || this.#head!.number !== number) return undefined;
        await sleep(Math.min(interval - age, left), signal);
        continue;
      }
      try {
        const head = await this.#readHead();
        if (number === undefined || head !== number) return undefined;
      } catch (error) {
        await sleep(Math.min(interval, left), signal);
        return classifyChainError({ error, details: { step: "receipt", method: "eth_blockNumber" } });
      }
    }
  }

  /** Reads the head's number, one read at a time for all callers (a caller during a read shares it). */
  #readHead(): Promise<bigint> {
    this.#headRead ??= this.#public
      .getBlockNumber({ cacheTime: 0 })
      .then((number) => {
        this.noteHead(number);
        return number;
      })
      .finally(() => {
        this.#headRead = undefined;
      });
    return this.#headRead;
  }

  /**
   * A head the caller has just read (a daemon's tick reads one anyway): receipt waits take it for a read of
   * their own, so a daemon that ticks at least once per polling interval spares the sender's head reads.
   */
  noteHead(number: bigint): void {
    this.#head = { number, at: performance.now() };
  }

  /** Counts a receipt into the stats, once per transaction however often it is fetched. */
  #record(receipt: TransactionReceipt): void {
    if (this.#counted.has(receipt.transactionHash)) return;
    this.#counted.add(receipt.transactionHash);
    if (this.#counted.size > 10_000) this.#counted.delete(this.#counted.values().next().value as Hex);
    this.#stats.mined++;
    if (receipt.status === "reverted") this.#stats.reverted++;
    this.#stats.gasUsed += receipt.gasUsed;
    this.#stats.feesWei += receipt.gasUsed * receipt.effectiveGasPrice;
  }

  async #retry<T>({
    run,
    abi,
    details,
    signal,
  }: {
    run: () => Promise<T>;
    abi?: Abi;
    details: Record<string, unknown>;
    signal?: AbortSignal;
  }): Promise<T> {
    return withRetry({
      run,
      classify: (error) => classifyChainError({ error, abi, details }),
      onRetry: (error, attempt, delayMs) => {
        this.#stats.retries++;
        this.#log.warn({ msg: "chain request failed, retrying", ...details, err_code: error.code, attempt: attempt + 1, delay_ms: delayMs });
      },
      retries: this.#retries,
      baseDelayMs: this.#baseDelayMs,
      maxDelayMs: this.#maxDelayMs,
      signal,
    });
  }

  async #chain(signal?: AbortSignal): Promise<number> {
    if (this.#chainId !== undefined) return this.#chainId;
    this.#resolvedChainId ??= await this.#retry({ signal, details: { step: "chainId" }, run: () => this.#public.getChainId() });
    return this.#resolvedChainId;
  }

  /**
   * Fees as viem's estimateFeesPerGas computes them (the latest base fee x 1.2, plus the priority
   * fee suggestion), except that the suggestion, which moves slowly, is reused for
   * PRIORITY_FEE_TTL_MS, and the fees themselves for FEES_TTL_MS. No base fee: legacy.
   */
  async #fees(signal?: AbortSignal, { fresh = false }: { fresh?: boolean } = {}): Promise<Fees> {
    const recent = this.#recentFees;
    if (!fresh && recent !== undefined && Date.now() - recent.at < FEES_TTL_MS) return recent.fees;
    const fees = await this.#retry({
      signal,
      details: { step: "fees" },
      run: async (): Promise<Fees> => {
        const { baseFeePerGas, number } = await this.#public.getBlock({ blockTag: "latest" });
        if (number !== null) this.noteHead(number);
        if (typeof baseFeePerGas !== "bigint") return { type: "legacy", gasPrice: await this.#public.getGasPrice() };
        const maxPriorityFeePerGas = await this.#priorityFee({ fresh });
        return { type: "eip1559", maxFeePerGas: (baseFeePerGas * 12n) / 10n + maxPriorityFeePerGas, maxPriorityFeePerGas };
      },
    });
    this.#recentFees = { fees, at: Date.now() };
    return fees;
  }

  async #priorityFee({ fresh }: { fresh: boolean }): Promise<bigint> {
    const cached = this.#priority;
    if (!fresh && cached !== undefined && Date.now() - cached.at < PRIORITY_FEE_TTL_MS) return cached.value;
    const value = await this.#public.estimateMaxPriorityFeePerGas();
    this.#priority = { value, at: Date.now() };
    return value;
  }

  async #pendingNonce(): Promise<number> {
    return this.#retry({
      details: { step: "nonce", from: this.address },
      run: () => this.#public.getTransactionCount({ address: this.address, blockTag: "pending" }),
    });
  }

  async #sign({ call, fees, chainId, nonce }: { call: PreparedCall; fees: Fees; chainId: number; nonce: number }): Promise<{ raw: Hex; hash: Hex }> {
    const transaction = { chainId, nonce, to: call.to, data: call.data, value: call.value, gas: call.gas, ...fees };
    return signTransactionWith({ account: this.#account, transaction, keccak: this.#keccak });
  }

  /** Whether the node knows a transaction by hash (pending or mined). */
  async #known(hash: Hex): Promise<boolean> {
    try {
      await this.#public.getTransaction({ hash });
      return true;
    } catch (error) {
      if (errorChain(error).some((e) => e instanceof TransactionNotFoundError)) return false;
      throw classifyChainError({ error, details: { txHash: hash, step: "getTransaction" } });
    }
  }

  #broadcast({
    call,
    fees,
    chainId,
    context,
  }: {
    call: PreparedCall;
    fees: Fees;
    chainId: number;
    context: Record<string, unknown>;
  }): Promise<{ hash: Hex; nonce: number }> {
    return this.#lock.run(async () => {
      let nonce = this.#nonce ?? (await this.#pendingNonce());
      let signed = await this.#sign({ call, fees, chainId, nonce });
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#public.request({ method: "eth_sendRawTransaction", params: [signed.raw] });
          return this.#sent({ hash: signed.hash, nonce, context });
        } catch (error) {
          const classified = classifyChainError({ error, abi: call.abi, details: { ...context, step: "broadcast", nonce, txHash: signed.hash } });
          if (classified instanceof NonceError) {
            // Ours already (a lost response, a retry of the same bytes)? Then it is sent.
            if (/already known|known transaction|already imported/.test(classified.nodeMessage) || (await this.#known(signed.hash))) {
              return this.#sent({ hash: signed.hash, nonce, context });
            }
            if (attempt >= this.#retries) {
              this.#nonce = undefined;
              throw new NodeRejectedError({ reason: "nonce", nodeMessage: classified.nodeMessage, from: this.address, details: classified.details, cause: classified });
            }
            this.#stats.nonceResyncs++;
            const fresh = await this.#pendingNonce();
            this.#log.warn({ msg: "nonce rejected, resynced from chain", ...context, node_message: classified.nodeMessage, nonce, fresh_nonce: fresh });
            nonce = fresh;
            signed = await this.#sign({ call, fees, chainId, nonce });
          } else if (!(classified instanceof RetryableError)) {
            // Rejected outright: this nonce was not used and the lock keeps later ones waiting. But a
            // node that mines on submission (Hardhat's automine) reports the revert of a transaction it
            // did mine: then the nonce is spent, and the next send must not reuse it. (Anvil's automine
            // returns the hash and the revert shows in the receipt, as on a real chain.)
            const mined = classified instanceof ContractRevertError && (await this.#known(signed.hash).catch(() => false));
            this.#nonce = mined ? nonce + 1 : nonce;
            if (mined) this.#log.warn({ msg: "transaction mined and reverted", ...context, tx_hash: signed.hash, nonce });
            throw await this.#withBalance(classified, { call, fees });
          }
          if (attempt >= this.#retries) {
            // Unknown whether the node took it: read the nonce again next time.
            this.#nonce = undefined;
            throw this.#gaveUp(classified, signed.hash);
          }
          const delayMs = backoffDelay({ attempt, baseDelayMs: this.#baseDelayMs, maxDelayMs: this.#maxDelayMs });
          this.#stats.retries++;
          this.#log.warn({ msg: "broadcast failed, retrying", ...context, err_code: classified.code, attempt: attempt + 1, delay_ms: delayMs });
          await sleep(delayMs);
        }
      }
    });
  }

  /**
   * A no-funds rejection whose node did not say the balance gets it read from the chain (best effort), and
   * the transaction's most cost (gas x max fee + value) when the node did not say it: Hardhat's node says
   * both ("The max upfront cost is: N and the sender's balance is: M"), Anvil neither ("Insufficient funds
   * for gas * price + value"); the sentence then reads the same on both.
   */
  async #withBalance(error: DinferError, { call, fees }: { call: PreparedCall; fees: Fees }): Promise<DinferError> {
    if (!(error instanceof NodeRejectedError) || error.reason !== "insufficient-funds" || error.details?.balance !== undefined) return error;
    const balance = await this.#public.getBalance({ address: this.address }).catch(() => undefined);
    if (balance === undefined) return error;
    const { balance: _unsaid, cost: said, ...details } = error.details ?? {};
    const cost = said === undefined ? call.gas * (fees.type === "eip1559" ? fees.maxFeePerGas : fees.gasPrice) + (call.value ?? 0n) : BigInt(String(said));
    return new NodeRejectedError({ reason: error.reason, nodeMessage: error.nodeMessage, from: this.address, balance, cost, details, cause: error.cause });
  }

  #sent({ hash, nonce, context }: { hash: Hex; nonce: number; context: Record<string, unknown> }): { hash: Hex; nonce: number } {
    this.#nonce = nonce + 1;
    this.#stats.sent++;
    this.#log.info({ msg: "transaction sent", ...context, tx_hash: hash, nonce });
    return { hash, nonce };
  }

  #gaveUp(error: DinferError, hash: Hex): DinferError {
    if (error instanceof ChainTransportError) {
      return new ChainTransportError("broadcast failed after retries; the transaction may have been sent", {
        code: error.code,
        details: { ...error.details, txHash: hash },
        cause: error,
      });
    }
    return error;
  }

  /**
   * Why a mined transaction reverted: replays the call from the sender at the state it ran on (the
   * parent block when it was first in its block, else the block itself, where the transactions
   * before it are applied and its own effects were nil).
   */
  async #revertOf({ call, receipt }: { call: PreparedCall; receipt: TransactionReceipt }): Promise<ContractRevertError> {
    const details = { txHash: receipt.transactionHash, blockNumber: receipt.blockNumber.toString(), gasUsed: receipt.gasUsed.toString() };
    const blocks = receipt.transactionIndex === 0 && receipt.blockNumber > 0n ? [receipt.blockNumber - 1n, receipt.blockNumber] : [receipt.blockNumber];
    for (const blockNumber of blocks) {
      try {
        await this.#public.call({ account: this.address, to: call.to, data: call.data, value: call.value, gas: call.gas, blockNumber });
      } catch (error) {
        const classified = classifyChainError({ error, abi: call.abi, details, gasLimit: call.gas });
        if (classified instanceof ContractRevertError) {
          return new ContractRevertError({ errorName: classified.errorName, args: classified.args, data: classified.data, details, cause: error });
        }
        // It ran out of its gas limit: no revert data to decode, on any engine (classifyChainError makes
        // Hardhat's "Transaction ran out of gas" and Anvil's "EVM error OutOfGas" the same refusal).
        if (classified instanceof NodeRejectedError && classified.reason === "gas-limit") {
          return new ContractRevertError({ errorName: undefined, args: [], details: { ...details, outOfGas: true, gasLimit: call.gas.toString() }, cause: error });
        }
      }
    }
    return new ContractRevertError({ errorName: undefined, args: [], details: { ...details, replay: "did not reproduce the revert" } });
  }
}
