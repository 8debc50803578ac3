/**
 * How the contracts are built, checked on the compiled artifacts and the sources: every custom error is
 * declared once (contracts/errors/Errors.sol), so one error name has one signature in every ABI, and every
 * deployable contract fits under the EIP-170 code size limit (Verification is close to it).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, it } from "mocha";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** EIP-170: the largest deployed code a chain accepts. */
const MAX_CODE_SIZE = 24_576;
const ERRORS_FILE = "contracts/errors/Errors.sol";

type Artifact = { contractName: string; abi?: { type: string; name?: string; inputs?: { type: string }[] }[]; deployedBytecode?: string };

function files(dir: string, suffix: string, skip: (name: string) => boolean = () => false): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) {
      if (!skip(name)) found.push(...files(full, suffix, skip));
    } else if (name.endsWith(suffix) && !name.endsWith(".dbg.json")) found.push(full);
  }
  return found;
}

/** The compiled artifacts of contracts/ (protocol, base, libraries, interfaces, examples; not contracts/test). */
function artifacts(): { file: string; artifact: Artifact }[] {
  return files(path.join(ROOT, "artifacts/contracts"), ".json", (name) => name === "test")
    .map((file) => ({ file: path.relative(ROOT, file), artifact: JSON.parse(readFileSync(file, "utf8")) as Artifact }))
    .filter(({ artifact }) => artifact.contractName !== undefined);
}

describe("contracts: one errors file, sizes under EIP-170", () => {
  it("gives every custom error name one signature across all compiled ABIs", () => {
    const signatures = new Map<string, Set<string>>();
    for (const { artifact } of artifacts()) {
      for (const item of artifact.abi ?? []) {
        if (item.type !== "error") continue;
        const signature = `${item.name}(${(item.inputs ?? []).map((input) => input.type).join(",")})`;
        signatures.set(item.name!, (signatures.get(item.name!) ?? new Set()).add(signature));
      }
    }
    assert.ok(signatures.size > 80, `only ${signatures.size} errors found: are the contracts built?`);
    const twice = [...signatures.values()].filter((set) => set.size > 1).map((set) => [...set].join(" vs "));
    assert.deepEqual(twice, [], "error names with two signatures");
  });

  it("declares the protocol's custom errors only in contracts/errors/Errors.sol (examples keep their own)", () => {
    const sources = files(path.join(ROOT, "contracts"), ".sol", (name) => name === "test" || name === "examples");
    const elsewhere = sources
      .filter((file) => path.relative(ROOT, file) !== ERRORS_FILE)
      .flatMap((file) => [...readFileSync(file, "utf8").matchAll(/^\s*error (\w+)\(/gm)].map((m) => `${m[1]} (${path.relative(ROOT, file)})`));
    assert.deepEqual(elsewhere, [], `errors declared outside ${ERRORS_FILE}`);
    const declared = [...readFileSync(path.join(ROOT, ERRORS_FILE), "utf8").matchAll(/^error (\w+)\(/gm)].map((m) => m[1]);
    assert.equal(new Set(declared).size, declared.length, "an error declared twice in the errors file");
  });

  it("keeps every deployable contract's runtime code at or under 24,576 bytes", () => {
    const sizes = artifacts()
      .filter(({ artifact }) => (artifact.deployedBytecode ?? "0x").length > 2)
      .map(({ artifact }) => ({ name: artifact.contractName, bytes: (artifact.deployedBytecode!.length - 2) / 2 }));
    assert.ok(sizes.some(({ name }) => name === "Verification"), "no Verification artifact: are the contracts built?");
    const over = sizes.filter(({ bytes }) => bytes > MAX_CODE_SIZE).map(({ name, bytes }) => `${name}: ${bytes} bytes`);
    assert.deepEqual(over, [], `over the EIP-170 limit of ${MAX_CODE_SIZE} bytes`);
  });
});
