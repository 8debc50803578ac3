/**
 * A client from an RPC URL and a key, for a dApp that has no viem clients of its own yet:
 *
 * ```ts
 * const { dinfer, publicClient } = await connectDinfer({ rpcUrl, privateKey, deployment });
 * ```
 *
 * The chain id is read from the node, and the deployment's protocol version checked against the one
 * this SDK speaks (offchain/chain/protocol-version.ts); the key signs in process (the `TxSender` needs a
 * local account). A dApp that already has viem clients calls `createDinferClient` with them instead
 * (and may call `assertProtocolVersion` itself).
 */
import { createPublicClient, createWalletClient, defineChain, http, type Chain, type Hex, type LocalAccount, type PublicClient, type Transport, type WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { assertProtocolVersion } from "../chain/protocol-version.js";
import { createDinferClient, type CreateDinferClientParameters, type DinferClient } from "./client.js";

export type ConnectDinferParameters = Omit<CreateDinferClientParameters, "publicClient" | "walletClient" | "sender"> & {
  /** An http(s) JSON-RPC endpoint. */
  rpcUrl: string;
  /** The key that posts and pays; or `account`. Neither: a read-only client. */
  privateKey?: Hex;
  /** A local (in-process signing) account, e.g. from a keystore. */
  account?: LocalAccount;
  /** Per-request limit, milliseconds (default 10 s). */
  timeoutMs?: number;
};

export type ConnectDinferReturnType = {
  dinfer: DinferClient;
  chain: Chain;
  publicClient: PublicClient<Transport, Chain>;
  /** Present when a key or account was given. */
  walletClient: WalletClient<Transport, Chain, LocalAccount> | undefined;
};

/**
 * Connects to `rpcUrl`, reads its chain id and makes the clients and the dinfer client for `deployment`.
 * Throws a `ProtocolVersionError` when the deployment speaks another protocol version than this SDK, or none.
 */
export async function connectDinfer({ rpcUrl, privateKey, account: given, timeoutMs = 10_000, ...options }: ConnectDinferParameters): Promise<ConnectDinferReturnType> {
  if (privateKey && given) throw new TypeError("connectDinfer: pass either privateKey or account, not both");
  const transport = http(rpcUrl, { timeout: timeoutMs });
  const chainId = await createPublicClient({ transport }).getChainId();
  const chain = defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 250 });
  await assertProtocolVersion({ publicClient: publicClient as PublicClient, market: options.deployment.market });
  const account = given ?? (privateKey ? privateKeyToAccount(privateKey) : undefined);
  const walletClient = account ? createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 250 }) : undefined;
  const dinfer = createDinferClient({ ...options, publicClient: publicClient as PublicClient, walletClient });
  return { dinfer, chain, publicClient, walletClient };
}
