/**
 * What went wrong talking to the chain, and whether trying again can help.
 *
 * `classifyChainError` turns any error viem throws into one of the project's classes, so callers
 * decide by class, never by message: a revert is a `ContractRevertError` (never retried),
 * a dropped connection, a timeout or a 5xx is a `ChainTransportError` (retried with backoff), a
 * nonce the node rejects is a `NonceError` (retried after the nonce is read again from the chain), a
 * transaction the node refuses (no ETH for gas, fee too low) is a `NodeRejectedError` (final, named).
 * `withRetry` applies that rule with exponential backoff and a cap.
 */
import {
  BaseError,
  decodeErrorResult,
  HttpRequestError,
  RpcRequestError,
  TimeoutError,
  type Abi,
  type Hex,
} from "viem";

import { DinferError, NonRetryableError, RetryableError } from "../errors.js";
import { protocolAbis } from "./abis.js";
import { formatEth } from "./format.js";

type AbiError = Extract<Abi[number], { type: "error" }>;

export type ContractRevertErrorParameters = {
  /** The custom error's name (`WrongStatus`), `Error` for a reason string, `Panic`; undefined when undecodable. */
  errorName: string | undefined;
  /** The decoded arguments, in ABI order. */
  args: readonly unknown[];
  /** The raw revert data, when the node returned it. */
  data?: Hex;
  details?: Record<string, unknown>;
  cause?: unknown;
};

/** The contract reverted, in a simulation or in a mined transaction. Sending it again reverts again. */
export class ContractRevertError extends NonRetryableError {
  override name = "ContractRevertError";
  readonly errorName: string | undefined;
  readonly args: readonly unknown[];
  readonly data: Hex | undefined;

  constructor({ errorName, args, data, details, cause }: ContractRevertErrorParameters) {
    super(errorName ? `contract reverted: ${errorName}` : "contract reverted", {
      code: "CONTRACT_REVERT",
      details: { errorName, args: args.map(String), data, ...details },
      cause,
    });
    this.errorName = errorName;
    this.args = args;
    this.data = data;
  }
}

/** The RPC endpoint did not answer usefully: connection refused, timeout, HTTP 5xx or 429, a node busy. */
export class ChainTransportError extends RetryableError {
  override name = "ChainTransportError";
}

/** The node rejected the transaction's nonce (too low, too high, already known): read it again and retry. */
export class NonceError extends RetryableError {
  override name = "NonceError";
  /** What the node said, lower-cased: the sender treats "already known" differently from "too low". */
  readonly nodeMessage: string;

  constructor(nodeMessage: string, { details, cause }: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super("transaction nonce rejected", { code: "NONCE", details: { nodeMessage, ...details }, cause });
    this.nodeMessage = nodeMessage;
  }
}

/** Waiting for a receipt ran out of time; the transaction may still be mined. `details.txHash` names it. */
export class ReceiptTimeoutError extends RetryableError {
  override name = "ReceiptTimeoutError";
}

/** Any other failure the chain reported that the same request would hit again (bad params, no funds). */
export class ChainRequestError extends NonRetryableError {
  override name = "ChainRequestError";
}

/** Why a node refused a transaction outright; each is final: sending the same transaction again fails the same way. */
export type NodeRejection = "insufficient-funds" | "underpriced" | "gas-limit" | "chain-id" | "nonce";

export type NodeRejectedErrorParameters = {
  reason: NodeRejection;
  /** What the node said (its own words, for --verbose). */
  nodeMessage: string;
  /** The sending account, when known. */
  from?: string;
  /** For insufficient funds: the account's ETH balance and the most the transaction may cost (gas x max fee + value), wei. */
  balance?: bigint;
  cost?: bigint;
  details?: Record<string, unknown>;
  cause?: unknown;
};

/**
 * The node refused the transaction (a JSON-RPC error inside an HTTP 200): no ETH for gas, a fee below
 * what it accepts, a gas limit out of range, a wrong chain. Named, with the remedy; never retried.
 */
export class NodeRejectedError extends ChainRequestError {
  override name = "NodeRejectedError";
  readonly reason: NodeRejection;
  readonly nodeMessage: string;

  constructor({ reason, nodeMessage, from, balance, cost, details, cause }: NodeRejectedErrorParameters) {
    super(nodeRejectionMessage({ reason, nodeMessage, from, balance, cost }), {
      code: NODE_REJECTION_CODES[reason],
      details: { nodeMessage, from, balance: balance?.toString(), cost: cost?.toString(), ...details },
      cause,
    });
    this.reason = reason;
    this.nodeMessage = nodeMessage;
  }
}

const NODE_REJECTION_CODES: Record<NodeRejection, string> = {
  "insufficient-funds": "INSUFFICIENT_FUNDS",
  underpriced: "UNDERPRICED",
  "gas-limit": "GAS_LIMIT",
  "chain-id": "CHAIN_ID",
  nonce: "NONCE",
};

/** The sentence a NodeRejectedError carries: what the node refused, and what to do. */
export function nodeRejectionMessage({ reason, nodeMessage, from, balance, cost }: Omit<NodeRejectedErrorParameters, "details" | "cause">): string {
  const who = from ? `account ${from}` : "the sending account";
  switch (reason) {
    case "insufficient-funds": {
      const has = balance === undefined ? "not enough ETH" : `${formatEth(balance)}`;
      const needs = cost === undefined ? "" : ` (this transaction may cost up to ${formatEth(cost)})`;
      return `${who} has ${has} for gas${needs}: fund it with ETH (on the devnet: use a key \`dinfer devnet\` prints; each holds 10000 ETH)`;
    }
    case "underpriced":
      return `the node refused the transaction's fee as too low (${nodeMessage}): retry; if it persists, the node's minimum gas price is above what it suggests`;
    case "gas-limit":
      return `the node refused the transaction's gas limit (${nodeMessage}): the call needs more gas than the block allows, or the limit given was too low`;
    case "chain-id":
      return `the node is on another chain than the transaction was signed for (${nodeMessage}): check --rpc-url and the deployment`;
    case "nonce":
      return `the node kept refusing ${who}'s transaction nonce (${nodeMessage}): another program is sending from this key at the same time; stop it, or use another key`;
  }
}

let protocolErrors: AbiError[] | undefined;

/**
 * Every custom error of the protocol's contracts, deduplicated by signature: a call into JobMarket
 * may revert with an error declared by Staking, which JobMarket's own ABI does not list.
 */
export function protocolErrorsAbi(): readonly AbiError[] {
  if (protocolErrors) return protocolErrors;
  const seen = new Map<string, AbiError>();
  for (const abi of Object.values(protocolAbis)) {
    for (const item of abi) {
      if (item.type !== "error") continue;
      seen.set(`${item.name}(${item.inputs.map((i) => i.type).join(",")})`, item);
    }
  }
  protocolErrors = [...seen.values()];
  return protocolErrors;
}

export type DecodeRevertParameters = {
  data: Hex | undefined;
  /** Tried first; then the protocol's errors. */
  abi?: Abi;
};

export type DecodeRevertReturnType = { errorName: string | undefined; args: readonly unknown[] };

/** Decodes revert data against an ABI and the protocol's errors; `Error(string)` and `Panic(uint256)` built in. */
export function decodeRevert({ data, abi = [] }: DecodeRevertParameters): DecodeRevertReturnType {
  if (!data || data === "0x") return { errorName: undefined, args: [] };
  for (const candidate of [abi, protocolErrorsAbi() as Abi]) {
    try {
      const { errorName, args } = decodeErrorResult({ abi: candidate, data });
      return { errorName, args: (args ?? []) as readonly unknown[] };
    } catch {
      // not in this ABI: try the next one
    }
  }
  return { errorName: undefined, args: [] };
}

/** The errors an error wraps, outermost first (viem nests them through `cause`). */
export function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 16 && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

function asHex(value: unknown): Hex | undefined {
  return typeof value === "string" && /^0x([0-9a-fA-F]{2})*$/.test(value) ? (value as Hex) : undefined;
}

/** Revert data carried anywhere in an error chain (`raw`, `data`, `data.data`), if any. */
export function revertDataOf(error: unknown): Hex | undefined {
  for (const e of errorChain(error)) {
    const o = e as { raw?: unknown; data?: unknown };
    const found = asHex(o.raw) ?? asHex(o.data) ?? asHex((o.data as { data?: unknown } | undefined)?.data);
    if (found && found.length >= 10) return found;
  }
  return undefined;
}

function messagesOf(error: unknown): string {
  return errorChain(error)
    .map((e) => {
      const o = e as { details?: unknown; shortMessage?: unknown; message?: unknown };
      return [o.details, o.shortMessage, o.message].filter((m) => typeof m === "string").join(" ");
    })
    .join(" | ")
    .toLowerCase();
}

const REVERT_MESSAGE = /execution reverted|reverted with|revert(ed)? with custom error|vm exception|transaction reverted/;
// An exceptional halt other than running out of gas (invalid opcode, bad jump, stack overflow): Hardhat says
// "VM Exception while processing transaction: invalid opcode" (a REVERT_MESSAGE); Anvil says "EVM error
// InvalidFEOpcode" with JSON-RPC code -32603, which would otherwise read as the node's own trouble and be
// retried. Either is the call's doing and final: a revert without data. Anvil's "EVM error
// FatalExternalError" is not a halt but its database failing (a fork's remote state read): NODE_FAULT.
const EVM_HALT = /evm error (?!fatalexternalerror)[a-z]/;
// The node's own failure while running the call, not the call's: retried like a transport failure.
const NODE_FAULT = /fatalexternalerror/;
// The call needed more gas than it had (a fixed limit, or an estimate's cap), with no revert data. Hardhat:
// "Transaction ran out of gas"; Anvil: "EVM error OutOfGas" (code -32603) in a call and "Out of gas: gas
// required exceeds allowance: N" in an estimate (which viem reads as a revert); geth: "gas required exceeds
// allowance (N)". One class on every engine: the node's gas-limit refusal, final. But see ALLOWANCE.
const OUT_OF_GAS = /ran out of gas|out of gas|gas required exceeds allowance|evm error \w*(outofgas|oog)\b/;
// An estimate's ceiling N is the least of the request's gas, the node's gas cap and what the sender's
// balance pays for at the request's fee (balance / fee); geth and Anvil say "gas required exceeds
// allowance" whichever it was. Only a ceiling of the request's own gas or of a cap means out of gas (see
// allowanceShortfall).
const ALLOWANCE = /gas required exceeds allowance\s*[:(]?\s*(\d+)/;
/**
 * The lowest gas cap a node puts on one transaction: EIP-7825's 2^24 (Osaka). Block gas limits and geth's
 * RPC gas cap (50M) are higher, so an allowance this high or higher is a cap; a lower one is the balance's.
 */
const MIN_GAS_CAP = 2n ** 24n;
const NONCE_MESSAGE = /nonce too (low|high)|nonce is too low|nonce has already been used|already known|known transaction|transaction already imported|replacement transaction underpriced/;
const TRANSPORT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT"]);
// JSON-RPC codes that mean "the node, not the request": limit exceeded (-32005), resource unavailable
// (-32002); and internal (-32603) on an RpcRequestError (see isTransportFailure).
const RETRYABLE_RPC_CODES = new Set([-32005, -32002]);

const INSUFFICIENT_FUNDS = /insufficient funds|doesn't have enough funds|not enough funds|sender balance too low/;
const UNDERPRICED = /transaction underpriced|max fee per gas less than block base fee|maxfeepergas .*too low|fee cap less than block base fee|gas price too low|priority fee .*too low|feetoolow/;
// A gas limit over the block's or Osaka's per-transaction cap (EIP-7825): Hardhat "Transaction gas limit is N
// and exceeds transaction gas cap of M"; Anvil "intrinsic gas too high -- tx.gas_limit > env.block.gas_limit"
// (or "> env.cfg.tx_gas_limit_cap").
const GAS_LIMIT = /intrinsic gas too (low|high)|requires at least \d+ gas|exceeds block gas limit|gas limit reached|transaction gas limit .*exceeds/;
// Anvil "invalid chain id for signer"; Hardhat "Trying to send a raw transaction with an invalid chainId".
const CHAIN_ID = /invalid chain ?id|chain id mismatch|incompatible eip155-based v|wrong chain id/;

/** Which node rejection a message names, with the balance and cost when it says them (EDR's and geth's wording). */
function nodeRejectionOf(text: string): { reason: NodeRejection; balance?: bigint; cost?: bigint } | undefined {
  if (INSUFFICIENT_FUNDS.test(text)) {
    // EDR: "The max upfront cost is: 55862400000000 and the sender's balance is: 0."; geth: "have 0 want 123".
    const edr = /upfront cost is:? *(\d+).*balance is:? *(\d+)/.exec(text);
    const geth = /have (\d+) want (\d+)/.exec(text);
    if (edr) return { reason: "insufficient-funds", cost: BigInt(edr[1]!), balance: BigInt(edr[2]!) };
    if (geth) return { reason: "insufficient-funds", balance: BigInt(geth[1]!), cost: BigInt(geth[2]!) };
    return { reason: "insufficient-funds" };
  }
  if (UNDERPRICED.test(text)) return { reason: "underpriced" };
  if (GAS_LIMIT.test(text)) return { reason: "gas-limit" };
  if (CHAIN_ID.test(text)) return { reason: "chain-id" };
  return undefined;
}

/** The node's own words: the innermost `details` string viem kept (the JSON-RPC error's message). */
function nodeMessageOf(error: unknown): string | undefined {
  let found: string | undefined;
  for (const e of errorChain(error)) {
    const o = e as { details?: unknown; message?: unknown };
    if (typeof o.details === "string" && o.details) found = o.details;
  }
  return found?.split("\n")[0];
}

function isTransportFailure(error: unknown, text: string): boolean {
  for (const e of errorChain(error)) {
    if (e instanceof TimeoutError) return true;
    if (e instanceof HttpRequestError || e instanceof RpcRequestError) {
      const status = e.status;
      // No status on an HttpRequestError: fetch itself failed (refused, reset, DNS). An RpcRequestError
      // without one is the node's own JSON-RPC error inside an HTTP 200: it answered, and said no; only
      // an internal error (-32603: the node's trouble, not the request's) is worth another try.
      if (status === undefined && e instanceof HttpRequestError) return true;
      if (status === undefined && e instanceof RpcRequestError && e.code === -32603) return true;
      if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSPORT_CODES.has(code)) return true;
    if (typeof code === "number" && RETRYABLE_RPC_CODES.has(code)) return true;
  }
  return /fetch failed|socket hang up|econnrefused|econnreset|timed out|took too long|rate limit|too many requests|header not found/.test(text);
}

export type ClassifyChainErrorParameters = {
  error: unknown;
  /** The called contract's ABI, for decoding its custom errors. */
  abi?: Abi;
  /** Added to the classified error's details (function name, tx hash...). */
  details?: Record<string, unknown>;
  /** The gas limit the request was given, if any: an estimate's allowance equal to it is out of gas, not out of funds. */
  gasLimit?: bigint;
};

/**
 * What "gas required exceeds allowance (N)" means: "out-of-gas" when N is the request's own gas limit or a
 * node's gas cap; "funds" when it can only be what the balance pays for (below any cap: an account with no
 * ETH gets 0); undefined when the message names no allowance.
 */
function allowanceShortfall(text: string, gasLimit: bigint | undefined): "out-of-gas" | "funds" | undefined {
  const match = ALLOWANCE.exec(text);
  if (!match) return undefined;
  const allowance = BigInt(match[1]!);
  if (allowance === gasLimit || allowance >= MIN_GAS_CAP) return "out-of-gas";
  return "funds";
}

/**
 * Maps any error from viem (or the node) to the project's classes. Order matters: running out of gas
 * without revert data is the node's gas-limit refusal (engines disagree on whether it is a revert, a
 * node failure or a bad request), unless the estimate's allowance was the balance's (no ETH for gas) or
 * the node said it lacks funds; a node's internal fault while running the call (Anvil's
 * FatalExternalError) is retried; then a revert wins over everything (it is final even when it arrived
 * over a flaky link), then nonce rejections, then the node's own refusals (no ETH for gas, fee too low,
 * gas limit, chain id: a `NodeRejectedError` that names the remedy), then transport failures; anything
 * else is a non-retryable `ChainRequestError`.
 * A JSON-RPC error inside an HTTP 200 is the node's answer, never a transport failure.
 */
export function classifyChainError({ error, abi, details, gasLimit }: ClassifyChainErrorParameters): DinferError {
  if (error instanceof DinferError) return error;
  const text = messagesOf(error);
  const data = revertDataOf(error);
  const from = typeof details?.from === "string" ? details.from : undefined;
  if (!data && OUT_OF_GAS.test(text)) {
    // An estimate the balance capped reads as running out of gas on geth and Anvil: it is no ETH for gas.
    if (INSUFFICIENT_FUNDS.test(text) || allowanceShortfall(text, gasLimit) === "funds") {
      const said = nodeRejectionOf(text);
      const nodeMessage = nodeMessageOf(error) ?? "insufficient funds";
      return new NodeRejectedError({ reason: "insufficient-funds", nodeMessage, from, balance: said?.balance, cost: said?.cost, details, cause: error });
    }
    return new NodeRejectedError({ reason: "gas-limit", nodeMessage: nodeMessageOf(error) ?? "out of gas", from, details, cause: error });
  }
  if (!data && NODE_FAULT.test(text)) {
    return new ChainTransportError("the chain node failed while running the call", { code: "CHAIN_TRANSPORT", details, cause: error });
  }
  const reverted = errorChain(error).some((e) => e instanceof BaseError && e.name === "ContractFunctionRevertedError");
  if (reverted || data || REVERT_MESSAGE.test(text) || EVM_HALT.test(text)) {
    const { errorName, args } = decodeRevert({ data, abi });
    return new ContractRevertError({ errorName, args, data, details, cause: error });
  }
  const nonce = NONCE_MESSAGE.exec(text);
  if (nonce) return new NonceError(nonce[0], { details, cause: error });
  const rejected = nodeRejectionOf(text);
  if (rejected) {
    return new NodeRejectedError({ ...rejected, nodeMessage: nodeMessageOf(error) ?? rejected.reason, from, details, cause: error });
  }
  if (isTransportFailure(error, text)) {
    return new ChainTransportError("chain RPC unavailable", { code: "CHAIN_TRANSPORT", details, cause: error });
  }
  const shortMessage = (error as { shortMessage?: unknown })?.shortMessage;
  return new ChainRequestError(typeof shortMessage === "string" ? shortMessage : "chain request failed", {
    code: "CHAIN_REQUEST",
    details,
    cause: error,
  });
}

export type BackoffDelayParameters = {
  /** 0 for the first retry. */
  attempt: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A number in [0, 1); the delay is drawn from [d/2, d) ("equal jitter") so retries spread out. */
  random?: number;
};

/** The wait before retry number `attempt`: base * 2^attempt, capped, with jitter. */
export function backoffDelay({ attempt, baseDelayMs = 200, maxDelayMs = 10_000, random = Math.random() }: BackoffDelayParameters): number {
  const capped = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  return Math.round(capped / 2 + (capped / 2) * random);
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export type RetryOptions = {
  /** Retries after the first try; 0 disables retrying. */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
};

export type WithRetryParameters<T> = RetryOptions & {
  /** The action; receives the attempt number (0 first). */
  run: (attempt: number) => Promise<T>;
  /** Turns a thrown error into a project error; retried only when the result is a `RetryableError`. */
  classify: (error: unknown) => DinferError;
  /** Called before each wait, e.g. to log or to resync a nonce. */
  onRetry?: (error: DinferError, attempt: number, delayMs: number) => void | Promise<void>;
};

/** Runs `run` until it succeeds, a non-retryable error comes, or the retries are used up. */
export async function withRetry<T>({
  run,
  classify,
  onRetry,
  retries = 5,
  baseDelayMs = 200,
  maxDelayMs = 10_000,
  signal,
}: WithRetryParameters<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      const classified = classify(error);
      if (!(classified instanceof RetryableError) || attempt >= retries || signal?.aborted) throw classified;
      const delayMs = backoffDelay({ attempt, baseDelayMs, maxDelayMs });
      await onRetry?.(classified, attempt, delayMs);
      await sleep(delayMs, signal);
    }
  }
}
