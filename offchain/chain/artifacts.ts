import type { Abi } from "viem";

import { protocolAbis, type ContractName } from "./abis.js";

export type { ContractName } from "./abis.js";

/**
 * The ABI of a protocol contract, untyped.
 *
 * @deprecated Import the typed constant from `./abis.js` (`jobMarketAbi`, `stakingAbi`, ...) so
 * viem checks names, arguments and results; for the ERC-20 calls use viem's `erc20Abi`.
 */
export function abiOf(name: ContractName): Abi {
  return protocolAbis[name];
}
