/**
 * A daemon's data dir belongs to one chain and deployment (offchain/state/data-dir.ts): the first
 * start records them, a start against another chain or deployment is refused with one line naming
 * both and the fix, and a start against a reset chain (same chain id and addresses, a new genesis
 * block: a restarted devnet) moves the old journal aside and starts a fresh one.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, describe, it } from "mocha";
import type { Hex } from "viem";

import { claimDataDir, DataDirMismatchError, type DataDirOwner } from "../../offchain/state/data-dir.js";
import { Journal } from "../../offchain/state/journal.js";
import { formatCliError } from "../../offchain/ui/messages.js";

const MARKET = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9";
const OTHER_MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
const genesis = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const owner = (over: Partial<DataDirOwner> = {}): DataDirOwner => ({ chainId: 31337, market: MARKET, genesisHash: genesis(1), ...over });

describe("data dir ownership", () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-datadir-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("records the chain, market and genesis on first use, and accepts the same again", () => {
    const dir = fresh();
    assert.deepEqual(claimDataDir({ dir, owner: owner() }), { outcome: "new" });
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "chain.json"), "utf8")), { chainId: 31337, market: MARKET, genesisHash: genesis(1) });
    assert.deepEqual(claimDataDir({ dir, owner: owner({ market: MARKET.toLowerCase() as Hex }) }), { outcome: "same" });
  });

  it("refuses another deployment or chain with one line naming both and the fix", () => {
    const dir = fresh();
    claimDataDir({ dir, owner: owner() });
    for (const other of [owner({ market: OTHER_MARKET }), owner({ chainId: 1 })]) {
      let caught: unknown;
      try {
        claimDataDir({ dir, owner: other });
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof DataDirMismatchError);
      const printed = formatCliError({ error: caught });
      assert.equal(printed.split("\n").length, 1, printed);
      assert.equal(
        printed,
        `dinfer: this data dir (${dir}) belongs to chain 31337 deployment ${MARKET}, not chain ${other.chainId} deployment ${other.market}: use a new --data-dir or remove it`,
      );
    }
  });

  it("on a reset chain (same chain id and market, new genesis), moves the old journal aside and a fresh one starts", () => {
    const dir = fresh();
    claimDataDir({ dir, owner: owner() });
    const journal = new Journal({ path: path.join(dir, "journal.sqlite") });
    journal.setCursor({ name: "market", blockNumber: 40n, blockHash: genesis(40) });
    journal.close();

    const claimed = claimDataDir({ dir, owner: owner({ genesisHash: genesis(2) }) });
    assert.equal(claimed.outcome, "reset");
    assert.equal(claimed.movedTo, path.join(dir, `journal.${genesis(1).slice(2, 14)}.sqlite`));
    assert.ok(existsSync(claimed.movedTo!), "the old journal is kept aside");
    assert.ok(!existsSync(path.join(dir, "journal.sqlite")));
    const reopened = new Journal({ path: path.join(dir, "journal.sqlite") });
    assert.equal(reopened.getCursor("market"), undefined, "no cursor of the old chain");
    reopened.close();
    assert.deepEqual(claimDataDir({ dir, owner: owner({ genesisHash: genesis(2) }) }), { outcome: "same" });
  });
});
