/**
 * A fast subset of the conformance bench (bench/conformance.ts): a handful of ONNX backend node tests,
 * committed in test/fixtures/onnx-node, run through raw onnxruntime-node and the worker's path
 * (admission, tensor blob, inference runner, the model's tolerance comparison). Each is a case the
 * protocol must get right: a plain pass, a random operator and a training-mode Dropout refused, If,
 * Loop and Scan subgraphs, integer graphs judged exact, an IsNaN model with the non-finite opt-in, and
 * refusals for a dtype blobs cannot carry, integer outputs of float arithmetic and training-only
 * BatchNormalization.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadNodeTest, runOurs, runRaw, type NodeTest, type OursOutcome } from "../../bench/onnx-node-tests.js";
import { createInferenceRunner, type InferenceRunner } from "../../offchain/inference/runner.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/onnx-node/", import.meta.url));

/** What the worker's path must do with each test: pass under a policy, or refuse by a check, for a reason. */
const EXPECTED: Record<string, { ours: "pass"; policy: "exact" | "allclose"; nonFinite?: true } | { ours: "refused"; check: string; reason: RegExp }> = {
  test_relu: { ours: "pass", policy: "allclose" },
  test_add: { ours: "pass", policy: "allclose" },
  test_matmul_2d: { ours: "pass", policy: "allclose" },
  test_if: { ours: "pass", policy: "allclose" },
  test_loop11: { ours: "pass", policy: "allclose" },
  test_scan9_sum: { ours: "pass", policy: "allclose" },
  test_add_uint8: { ours: "pass", policy: "exact" },
  test_argmax_default_axis_example: { ours: "pass", policy: "exact" },
  test_isnan: { ours: "pass", policy: "exact", nonFinite: true },
  test_bernoulli: { ours: "refused", check: "deterministic", reason: /Bernoulli is random by design/ },
  test_training_dropout: { ours: "refused", check: "deterministic", reason: /Dropout's training_mode input "t" is not a constant false/ },
  test_batchnorm_example_training_mode: { ours: "refused", check: "deterministic", reason: /BatchNormalization in training mode/ },
  test_bitshift_left_uint32: { ours: "refused", check: "inputs", reason: /uint32.*tensor blobs carry only/ },
  test_nonmaxsuppression_single_box: { ours: "refused", check: "tolerance", reason: /allclose needs a float output/ },
};

describe("conformance: ONNX node tests through the worker's path (committed subset)", function () {
  this.timeout(120_000);
  let runner: InferenceRunner;
  const tests = readdirSync(FIXTURES)
    .filter((name) => name.startsWith("test_"))
    .sort()
    .map((name) => loadNodeTest(path.join(FIXTURES, name)));

  before(() => {
    runner = createInferenceRunner({ size: 1, hashThreads: 1 });
  });
  after(async () => {
    await runner.close();
  });

  it("reads every committed test's model and tensors without Python, and each has an expectation", () => {
    assert.deepEqual(tests.map((test) => test.name).sort(), Object.keys(EXPECTED).sort());
    for (const test of tests) assert.ok(!("unconvertible" in test), `${test.name}: ${"unconvertible" in test ? test.unconvertible : ""}`);
  });

  for (const name of Object.keys(EXPECTED).sort()) {
    const expected = EXPECTED[name]!;
    const title =
      expected.ours === "pass"
        ? `${name}: passes under ${expected.policy}${expected.nonFinite ? " (non-finite inputs opted in)" : ""}, as raw onnxruntime does`
        : `${name}: refused by the ${expected.check} check, with its reason`;
    it(title, async () => {
      const test = tests.find((t) => t.name === name) as NodeTest;
      const raw = await runRaw(test);
      const ours: OursOutcome = await runOurs(test, runner);
      if (expected.ours === "pass") {
        assert.equal(raw.status, "pass", JSON.stringify(raw));
        assert.equal(ours.status, "pass", JSON.stringify(ours));
        assert.equal(ours.policy?.kind, expected.policy);
        assert.equal(ours.nonFiniteInputs, expected.nonFinite === true);
      } else {
        assert.equal(ours.status, "refused", JSON.stringify(ours));
        assert.equal(ours.status === "refused" && ours.check, expected.check);
        assert.match(ours.status === "refused" ? ours.reason : "", expected.reason);
      }
    });
  }
});
