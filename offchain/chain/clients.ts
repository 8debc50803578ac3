/**
 * viem clients for one RPC endpoint and one key, and typed read handles on the protocol contracts.
 *
 * The transport (node:http, offchain/chain/rpc-transport.ts) never retries on its own: the poller and
 * the sender own retries, so that a revert is never repeated and every retry is logged once. Nothing is cached
 * (`cacheTime: 0`): a daemon must see each new block.
 */
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getContract,
  type Address,
  type Chain,
  type GetContractReturnType,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { NonRetryableError } from "../errors.js";
import { protocolAbis, type ContractName } from "./abis.js";
import { classifyChainError } from "./errors.js";
import { nodeHttpTransport } from "./rpc-transport.js";

export type ChainPublicClient = PublicClient<Transport, Chain>;
export type ChainWalletClient = WalletClient<Transport, Chain, LocalAccount>;

export type CreateChainClientsParameters = {
  /** An http(s) JSON-RPC endpoint. */
  rpcUrl: string;
  /** The signing key; or pass `account`. Neither: read-only clients. */
  privateKey?: Hex;
  /** A local (in-process signing) account, e.g. from a keystore. */
  account?: LocalAccount;
  /** The expected chain id; read from the node when left out. */
  chainId?: number;
  /** Per-request limit, milliseconds. */
  timeoutMs?: number;
  /** How often viem polls (receipts, block numbers), milliseconds. */
  pollingIntervalMs?: number;
  /** Called with the method of every JSON-RPC request sent (metrics: requests per method). */
  onRequest?: (method: string) => void;
};

export type CreateChainClientsReturnType = {
  chain: Chain;
  publicClient: ChainPublicClient;
  /** Present when a key or account was given. */
  walletClient: ChainWalletClient | undefined;
  account: LocalAccount | undefined;
};

/** A minimal chain definition for an endpoint: viem needs one to sign and to format. */
export function chainFor({ chainId, rpcUrl }: { chainId: number; rpcUrl: string }): Chain {
  return defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

function transportFor({ rpcUrl, timeoutMs, onRequest }: { rpcUrl: string; timeoutMs: number; onRequest?: (method: string) => void }): Transport {
  return nodeHttpTransport(rpcUrl, { timeoutMs, onRequest });
}

/**
 * Builds the public client and, with a key, the wallet client for one endpoint. Without `chainId`
 * it asks the node once (a node that is down fails here with a retryable `ChainTransportError`).
 */
export async function createChainClients({
  rpcUrl,
  privateKey,
  account: givenAccount,
  chainId,
  timeoutMs = 10_000,
  pollingIntervalMs = 250,
  onRequest,
}: CreateChainClientsParameters): Promise<CreateChainClientsReturnType> {
  if (privateKey && givenAccount) {
    throw new NonRetryableError("pass either privateKey or account, not both", { code: "CONFIG", details: { rpcUrl } });
  }
  const transport = transportFor({ rpcUrl, timeoutMs, onRequest });
  const id = chainId ?? (await readChainId({ rpcUrl, timeoutMs }));
  const chain = chainFor({ chainId: id, rpcUrl });
  const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: pollingIntervalMs });
  const account = givenAccount ?? (privateKey ? privateKeyToAccount(privateKey) : undefined);
  const walletClient = account
    ? createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: pollingIntervalMs })
    : undefined;
  return { chain, publicClient, walletClient, account };
}

/** eth_chainId of an endpoint, with the same transport settings as the clients. */
export async function readChainId({ rpcUrl, timeoutMs = 10_000 }: { rpcUrl: string; timeoutMs?: number }): Promise<number> {
  const client = createPublicClient({ transport: transportFor({ rpcUrl, timeoutMs }), cacheTime: 0 });
  try {
    return await client.getChainId();
  } catch (error) {
    throw classifyChainError({ error, details: { rpcUrl, method: "eth_chainId" } });
  }
}

/** The ABI type of a protocol contract (offchain/chain/abis.ts): function names and args are checked. */
export type ContractAbi<N extends ContractName> = (typeof protocolAbis)[N];

export type ContractHandle<N extends ContractName> = GetContractReturnType<ContractAbi<N>, PublicClient, Address>;

export type ContractOfParameters<N extends ContractName> = {
  name: N;
  address: Address;
  publicClient: PublicClient;
};

/**
 * A typed handle for reads, simulations, event queries and gas estimates. It has no `write`:
 * transactions go through `TxSender`, which simulates first and owns nonces and retries.
 */
export function contractOf<N extends ContractName>({ name, address, publicClient }: ContractOfParameters<N>): ContractHandle<N> {
  const abi: ContractAbi<N> = protocolAbis[name];
  return getContract({ address, abi, client: publicClient });
}
