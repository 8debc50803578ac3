import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { describe, it } from "mocha";

import { protocolAbis } from "../../offchain/chain/abis.js";
import { abiOf } from "../../offchain/chain/artifacts.js";
import { ABIS_PATH, GENERATED_CONTRACTS, REGENERATE_COMMAND, readArtifactAbis, renderAbis } from "../../scripts/gen-abis.js";

describe("typed contract ABIs (offchain/chain/abis.ts)", () => {
  it("equal what scripts/gen-abis.ts renders from the Hardhat artifacts", () => {
    assert.equal(readFileSync(ABIS_PATH, "utf8"), renderAbis(readArtifactAbis()), `offchain/chain/abis.ts is stale: run \`${REGENERATE_COMMAND}\``);
  });

  it("hold, at run time, each contract's ABI exactly as the artifact has it", () => {
    const artifacts = readArtifactAbis();
    for (const { name } of GENERATED_CONTRACTS) {
      assert.deepEqual(protocolAbis[name], artifacts[name], `${name}: run \`${REGENERATE_COMMAND}\``);
      assert.equal(abiOf(name), protocolAbis[name], `abiOf("${name}") returns the generated constant`);
    }
  });
});
