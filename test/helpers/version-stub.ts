/**
 * A stand-in JobMarket that only reports a protocol version (contracts/test/ProtocolVersionStub.sol), for
 * CLI and daemon processes run against a partial deployment or "another deployment": every command checks
 * the market's `PROTOCOL_VERSION` when it connects (offchain/chain/protocol-version.ts).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { getAddress, type Address, type Hex, type LocalAccount } from "viem";

import { createChainClients } from "../../offchain/chain/clients.js";
import { PROTOCOL_VERSION } from "../../offchain/chain/protocol-version.js";

const ARTIFACT = fileURLToPath(new URL("../../artifacts/contracts/test/ProtocolVersionStub.sol/ProtocolVersionStub.json", import.meta.url));

export type DeployVersionStubParameters = {
  rpcUrl: string;
  /** The deploying account (any funded one). */
  account: LocalAccount;
  /** What it reports; by default the version this code speaks. */
  version?: bigint;
};

/** Deploys the stub on the node at `rpcUrl` and returns its address. */
export async function deployVersionStub({ rpcUrl, account, version = PROTOCOL_VERSION }: DeployVersionStubParameters): Promise<Address> {
  const { abi, bytecode } = JSON.parse(readFileSync(ARTIFACT, "utf8")) as { abi: readonly unknown[]; bytecode: Hex };
  const { walletClient, publicClient } = await createChainClients({ rpcUrl, account });
  const hash = await walletClient!.deployContract({ abi, bytecode, args: [version] });
  return getAddress((await publicClient.waitForTransactionReceipt({ hash })).contractAddress!);
}
