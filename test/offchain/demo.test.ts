/**
 * The demo's truth-telling parts on their own: `countCheats` (how many of the cheater's results were
 * faked, slashed and paid, from the chain's events against reference roots) and the JSON summary
 * written as the whole of stdout under `npm run demo -- --json > file` (`writeStdoutAlone`, on real
 * files). `test/e2e/demo.e2e.test.ts` runs the whole demo.
 */
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { after, describe, it } from "mocha";
import type { Address, Hex } from "viem";

import { writeStdoutAlone } from "../../offchain/cli/commands/devnet.js";
import { countCheats, type MarketEvent } from "../../offchain/devnet/demo.js";

const CHEATER: Address = "0x00000000000000000000000000000000000000c1";
const HONEST: Address = "0x00000000000000000000000000000000000000a1";
const root = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const REFERENCE = root(1);

const market = (name: string, args: Record<string, unknown>): MarketEvent => ({ contract: "market", name, args });
const committed = (jobId: bigint, provider: Address = CHEATER) => market("ResultCommitted", { jobId, provider });
const revealed = (jobId: bigint, outputRoot: Hex) => market("ResultRevealed", { jobId, outputRoot });

describe("demo: countCheats", () => {
  const count = (events: MarketEvent[]) => countCheats({ cheater: CHEATER, events, referenceRootOf: () => REFERENCE });

  it("counts a made-up result as faked, and as slashed when its dispute faulted the provider", () => {
    assert.deepEqual(count([committed(1n), revealed(1n, root(9)), market("JobDisputed", { jobId: 1n }), market("DisputeSettled", { jobId: 1n, providerFaulted: true })]), {
      faked: 1,
      slashed: 1,
      finalized: 0,
    });
  });

  it("counts a faked result that was paid as finalized, directly or upheld by a dispute", () => {
    const events = [
      committed(1n),
      revealed(1n, root(9)),
      market("JobFinalized", { jobId: 1n }),
      committed(2n),
      revealed(2n, root(8)),
      market("DisputeSettled", { jobId: 2n, providerFaulted: false }),
      market("JobFinalized", { jobId: 2n }),
    ];
    assert.deepEqual(count(events), { faked: 2, slashed: 0, finalized: 2 });
  });

  it("does not count the cheater's result whose root is the reference root, nor any other provider's", () => {
    const events = [committed(1n), revealed(1n, REFERENCE), market("JobFinalized", { jobId: 1n }), committed(2n, HONEST), revealed(2n, root(9))];
    assert.deepEqual(count(events), { faked: 0, slashed: 0, finalized: 0 });
  });

  it("counts a committed result never revealed as faked, slashed when it expired as sampled (the whole collateral), not when it expired unsampled", () => {
    const events = [
      committed(1n),
      market("JobExpired", { jobId: 1n, sampled: true }),
      committed(2n),
      market("JobExpired", { jobId: 2n, sampled: false }),
      committed(3n), // still open
    ];
    assert.deepEqual(count(events), { faked: 3, slashed: 1, finalized: 0 });
  });

  it("compares roots whatever their case, and refuses a revealed result it has no reference for", () => {
    const upper = REFERENCE.toUpperCase().replace("0X", "0x") as Hex;
    assert.deepEqual(count([committed(1n), revealed(1n, upper)]).faked, 0);
    assert.throws(
      () => countCheats({ cheater: CHEATER, events: [committed(1n), revealed(1n, root(9))], referenceRootOf: () => undefined }),
      /no reference run for job 1/,
    );
  });

  it("reads only the market's events", () => {
    const other: MarketEvent = { contract: "verification", name: "ResultCommitted", args: { jobId: 5n, provider: CHEATER } };
    assert.deepEqual(count([other]), { faked: 0, slashed: 0, finalized: 0 });
  });
});

describe("demo: the JSON summary as the whole of stdout", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-demo-stdout-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const json = `${JSON.stringify({ jobs: 20 }, null, 2)}\n`;

  /** A file opened as `> file` opens it, with `before` already written through the same descriptor. */
  function writeAfter(name: string, before: string): string {
    const file = path.join(dir, name);
    const fd = openSync(file, "w");
    try {
      if (before) writeSync(fd, before);
      writeStdoutAlone(json, fd);
    } finally {
      closeSync(fd);
    }
    return readFileSync(file, "utf8");
  }

  it("replaces npm's script banner in the file: the file is valid JSON and nothing else", () => {
    const content = writeAfter("npm.json", "\n> dinfer@0.1.0 demo\n> node bin/dinfer.js demo --json\n\n");
    assert.equal(content, json);
    assert.deepEqual(JSON.parse(content), { jobs: 20 });
  });

  it("writes to an empty file as it is, and after anything that is not a banner", () => {
    assert.equal(writeAfter("empty.json", ""), json);
    assert.equal(writeAfter("other.txt", "header line\n"), `header line\n${json}`, "someone else's content is kept");
  });
});
