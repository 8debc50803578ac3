import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Abi } from "viem";

import { NonRetryableError } from "../errors.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export type ContractName = "JobMarket" | "Staking" | "ModelRegistry" | "Verification" | "ProtocolTerms" | "DinferTestToken";

const cache = new Map<ContractName, Abi>();

/** The ABI of a protocol contract, from the Hardhat build (`npx hardhat build`). */
export function abiOf(name: ContractName): Abi {
  const cached = cache.get(name);
  if (cached) return cached;
  const file = path.join(ROOT, "artifacts", "contracts", `${name}.sol`, `${name}.json`);
  let abi: Abi;
  try {
    abi = JSON.parse(readFileSync(file, "utf8")).abi as Abi;
  } catch (cause) {
    throw new NonRetryableError("contract artifact missing: run `npx hardhat build`", {
      code: "ARTIFACT_MISSING",
      details: { name, file },
      cause,
    });
  }
  cache.set(name, abi);
  return abi;
}
