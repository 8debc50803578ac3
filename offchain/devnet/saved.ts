/**
 * What `dinfer devnet --data-dir <dir>` keeps in `<dir>/devnet.json` so that a restart brings back
 * the same network: its ports, the blob server's upload token, the Ignition deployment id, the
 * number of provider and verifier accounts (which fixes every account's role and key), and the
 * addresses it deployed to, and the chain engine. Neither engine keeps chain state across restarts
 * (Hardhat's node, EDR, has no state file; Anvil is not given one), so the chain starts empty each
 * time and the protocol is deployed again; the deployer's nonces are the same, so the contracts come
 * back at the same addresses (checked against the saved ones).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { z } from "zod";

import type { Deployment } from "../chain/deployment.js";
import { NonRetryableError } from "../errors.js";
import { CHAIN_ENGINES } from "./chain-spec.js";

export const SAVED_DEVNET_FILE = "devnet.json";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
const SavedDevnetSchema = z.object({
  port: z.number().int().min(1).max(65535),
  blobPort: z.number().int().min(1).max(65535),
  uploadToken: z.string().min(1),
  deploymentId: z.string().min(1),
  /** Absent in files written before there was a choice: Hardhat's node. */
  engine: z.enum(CHAIN_ENGINES).optional(),
  providers: z.number().int().min(0),
  verifiers: z.number().int().min(0),
  chainId: z.number().int(),
  deployment: z.object({ token: address, staking: address, registry: address, market: address, verification: address, batchMarket: address, profiles: address, replicaMarket: address }),
});
export type SavedDevnet = Omit<z.infer<typeof SavedDevnetSchema>, "deployment"> & { deployment: Deployment };

/** The saved devnet in `dir`, or undefined when there is none. */
export function readSavedDevnet(dir: string): SavedDevnet | undefined {
  const file = path.join(dir, SAVED_DEVNET_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    return SavedDevnetSchema.parse(JSON.parse(text)) as SavedDevnet;
  } catch (cause) {
    throw new NonRetryableError(`${file} is not a saved devnet: remove it, or use another --data-dir`, { code: "DEVNET_SAVED_MALFORMED", details: { file }, cause });
  }
}

export function writeSavedDevnet(dir: string, saved: SavedDevnet): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, SAVED_DEVNET_FILE), `${JSON.stringify(saved, null, 2)}\n`);
}

/** The contracts whose address differs between two deployments ("market 0x.. -> 0x.."), none when equal. */
export function movedContracts(before: Deployment, after: Deployment): string[] {
  return (Object.keys(before) as (keyof Deployment)[])
    .filter((key) => before[key].toLowerCase() !== after[key].toLowerCase())
    .map((key) => `${key} ${before[key]} -> ${after[key]}`);
}
