/**
 * `dinfer job post --replicas` and `dinfer job replicas` (offchain/cli/commands/job-replicas.ts), in process:
 * the flags a redundant job refuses, before anything is read or sent, and how a redundant job is shown.
 * The post itself runs on the chain in test/offchain/sdk-replicas.test.ts (the SDK it calls).
 */
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, it } from "mocha";
import type { Address, Hex } from "viem";

import { encodeRegion, EXECUTION_PROVIDER_BITS } from "../../offchain/chain/profiles.js";
import { ReplicaStatus, type ReplicaRecord } from "../../offchain/chain/replicas.js";
import { describeReplicaJob } from "../../offchain/cli/commands/job-replicas.js";
import { buildProgram } from "../../offchain/cli/main.js";
import { DinferError } from "../../offchain/errors.js";

const input = path.join(mkdtempSync(path.join(tmpdir(), "dinfer-cli-replicas-")), "x.dtn");
writeFileSync(input, new Uint8Array([1, 2, 3]));

/** Runs `dinfer ...args` in process and returns the error its action threw. */
async function refusal(...args: string[]): Promise<DinferError> {
  try {
    await buildProgram().parseAsync(["node", "dinfer", ...args]);
  } catch (error) {
    assert.ok(error instanceof DinferError, `expected a DinferError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a refusal");
}

const A = "0x00000000000000000000000000000000000000a1" as Address;
const B = "0x00000000000000000000000000000000000000b2" as Address;
const root = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hex;

describe("cli: redundant jobs", () => {
  it("refuses --replicas with --batch or --to, naming the remedy", async () => {
    for (const extra of [["--batch", "jobs.jsonl"], ["--to", "http://worker"]]) {
      const error = await refusal("job", "post", "--model", "1", "--input", input, "--fee", "1", "--replicas", "3", ...extra);
      assert.equal(error.code, "BAD_FLAGS");
      assert.match(error.message, /--replicas posts one job to k providers/);
      assert.match(error.message, /drop --batch/);
    }
  });

  it("refuses seat constraints without --replicas, and --replicas without an upload server", async () => {
    const constrained = await refusal("job", "post", "--model", "1", "--input", input, "--fee", "1", "--region", "eu-west", "--min-reputation", "0.5");
    assert.match(constrained.message, /--region, --min-reputation constrain a redundant job's seats: add --replicas <k>/);
    const noUpload = await refusal("job", "post", "--model", "1", "--input", input, "--fee", "1", "--replicas", "3");
    assert.match(noUpload.message, /give --upload/);
    const badScore = await refusal("job", "post", "--model", "1", "--input", input, "--fee", "1", "--replicas", "3", "--min-reputation", "90");
    assert.match(badScore.message, /--min-reputation is a reputation score from 0 to 1/);
  });

  it("shows a redundant job's seats, roots, committee jobs and constraints", () => {
    const record: ReplicaRecord = {
      replicaJobId: 7n,
      postedBlock: 10n,
      poster: B,
      modelId: 1,
      terms: 1,
      replicas: 3,
      committed: 3,
      revealed: 3,
      status: ReplicaStatus.Disputed,
      feePerReplica: 2n * 10n ** 18n,
      collateral: 100n * 10n ** 18n,
      claimBy: 1_000n,
      revealDeadline: 2_000n,
      inputHash: root(1),
      inputURI: "http://dapp/blobs/0x01",
      constraints: { allowlist: [A, B], region: encodeRegion("eu-west"), executionProviders: EXECUTION_PROVIDER_BITS.gpu, minReputationPpm: 900_000 },
      seats: [
        { index: 0, provider: A, commitBlock: 11n, revealed: true, commitment: root(9), outputRoot: root(2), jobId: 21n, outputURI: "http://a/out" },
        { index: 1, provider: B, commitBlock: 12n, revealed: true, commitment: root(9), outputRoot: root(2), jobId: 22n, outputURI: "http://b/out" },
        { index: 2, provider: A, commitBlock: 13n, revealed: true, commitment: root(9), outputRoot: root(3), jobId: 23n, outputURI: "http://c/out" },
      ],
    };
    const text = describeReplicaJob(record, 3_000n).join("\n");
    assert.match(text, /^redundant job 7: disputed \(3 of 3 seats taken, 3 revealed\)/);
    assert.match(text, /constraints: allowlist 0x0+a1, 0x0+b2; region eu-west; execution providers gpu; min reputation 0\.9/);
    assert.match(text, new RegExp(`seat 2: ${A}, revealed ${root(3)} at http://c/out; before a committee as job 23`));
    assert.match(text, new RegExp(`majority ${root(2)} \\(2 of 3 seats\\)`));
  });
});
