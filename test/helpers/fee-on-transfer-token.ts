/**
 * A fee-on-transfer ERC20 for tests of the contracts that must refuse one (Staking.stake,
 * JobMarket.postJob). It is compiled here with the same `solc` package as the project, not kept
 * under contracts/, so it can never be deployed by the Ignition modules.
 */
import { createRequire } from "node:module";

import { getContract, parseAbi, type Hex } from "viem";

import type { Connection } from "./fixture.js";

/** Burns FEE_PERCENT of every transfer: the recipient receives less than was sent. */
export const FEE_PERCENT = 1n;

const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

contract FeeOnTransferToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        allowance[from][msg.sender] -= amount;
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        balanceOf[from] -= amount;
        balanceOf[to] += amount - amount * ${FEE_PERCENT} / 100;
    }
}
`;

/** The typed ABI of SOURCE (the compiler's own ABI is checked against it). */
export const feeOnTransferTokenAbi = parseAbi([
  "function balanceOf(address) view returns (uint256)",
  "function allowance(address, address) view returns (uint256)",
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function transfer(address to, uint256 amount) returns (bool)",
  "function transferFrom(address from, address to, uint256 amount) returns (bool)",
]);

let bytecode: Hex | undefined;

function compile(): Hex {
  if (bytecode) return bytecode;
  const solc = createRequire(import.meta.url)("solc");
  const input = {
    language: "Solidity",
    sources: { "FeeOnTransferToken.sol": { content: SOURCE } },
    settings: { outputSelection: { "*": { FeeOnTransferToken: ["abi", "evm.bytecode.object"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === "error");
  if (errors.length) throw new Error(`FeeOnTransferToken does not compile: ${errors.map((e: { message: string }) => e.message).join("; ")}`);
  const contract = output.contracts["FeeOnTransferToken.sol"].FeeOnTransferToken;
  const compiledNames = contract.abi.map((item: { name: string }) => item.name).sort().join();
  const typedNames = feeOnTransferTokenAbi.map((item) => item.name).sort().join();
  if (compiledNames !== typedNames) throw new Error(`FeeOnTransferToken ABI drifted: ${compiledNames} vs ${typedNames}`);
  bytecode = `0x${contract.evm.bytecode.object}`;
  return bytecode;
}

/** Deploys a FeeOnTransferToken from the first account. */
export async function deployFeeOnTransferToken({ viem }: Connection) {
  const [deployer] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  const abi = feeOnTransferTokenAbi;
  const hash = await deployer.deployContract({ abi, bytecode: compile(), account: deployer.account });
  const { contractAddress } = await publicClient.waitForTransactionReceipt({ hash });
  if (!contractAddress) throw new Error("FeeOnTransferToken deployment created no contract");
  return getContract({ address: contractAddress, abi, client: { public: publicClient, wallet: deployer } });
}
