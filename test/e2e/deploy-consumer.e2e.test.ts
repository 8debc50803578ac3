/**
 * `scripts/examples/deploy-consumer.ts` (the guide: docs/consumer.md) run as a developer runs it, in its
 * own process configured by the DINFER_* variables a devnet prints, against a real `hardhat node`
 * process with the protocol deployed through Ignition. The contract it deploys must be wired to the
 * deployment and must work: a request through it posts a job whose poster is the contract, with the
 * callback gas and the inline output the consumer asks for. (The callback itself, with a real worker,
 * is test/e2e/consumer.e2e.test.ts.)
 *
 * Run alone: `npx hardhat test mocha test/e2e/deploy-consumer.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { getAddress, keccak256, maxUint256, stringToHex, type Address } from "viem";

import { readJob } from "../../offchain/chain/jobs.js";
import { blobId, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { postedJobId } from "../../offchain/sdk/jobs.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(ROOT, "scripts/examples/deploy-consumer.ts");

describe("scripts/examples/deploy-consumer.ts against a local network", function () {
  let net: LocalNetwork;
  let env: Record<string, string>;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
    env = { DINFER_RPC_URL: net.url, DINFER_PRIVATE_KEY: net.keys.dapp, DINFER_DEPLOYMENT_ID: net.deploymentId };
  });

  after(async function () {
    this.timeout(60_000);
    await net?.stop();
  });

  it("deploys TextOrientationConsumer wired to the deployment, prints its address, and a request through it posts the consumer's job", async function () {
    this.timeout(120_000);
    const run = await runScript({ ...env, MODEL_ID: String(net.modelIds.cls), CALLBACK_GAS_LIMIT: "60000" });
    assert.equal(run.code, 0, run.output);
    const printed = /^TextOrientationConsumer deployed at (0x[0-9a-fA-F]{40})$/m.exec(run.output);
    assert.ok(printed, run.output);
    assert.match(run.output, new RegExp(`model ${net.modelIds.cls} \\(fee at least .+\\), output "softmax_0\\.tmp_0", callback gas 60000`));
    const address = printed[1] as Address;

    // 1. Wired as asked: the deployment's market and token, the model, the callback gas, the cls output's name.
    const { viem } = net.connection;
    const consumer = await viem.getContractAt("TextOrientationConsumer", address);
    assert.equal(getAddress(await consumer.read.market()), getAddress(net.deployment.market));
    assert.equal(getAddress(await consumer.read.token()), getAddress(net.deployment.token));
    assert.equal(await consumer.read.modelId(), BigInt(net.modelIds.cls));
    assert.equal(await consumer.read.callbackGasLimit(), 60_000);
    assert.equal(await consumer.read.outputNameHash(), keccak256(stringToHex("softmax_0.tmp_0")));

    // 2. It works: the dApp approves it and requests; the market's job is the consumer's, with its callback.
    const publicClient = await viem.getPublicClient();
    const token = await viem.getContractAt("DinferTestToken", net.deployment.token);
    await publicClient.waitForTransactionReceipt({ hash: await token.write.approve([address, maxUint256], { account: net.addresses.dapp }) });
    const blob = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", dims: [1, 3, 48, 192], values: new Float32Array(3 * 48 * 192) })]);
    const { url } = await uploadBlob({ serverUrl: net.blobServer.url, token: net.uploadToken, bytes: blob });
    const fee = 2n * 10n ** 18n;
    const claimBy = (await publicClient.getBlock()).timestamp + 600n;
    const receipt = await publicClient.waitForTransactionReceipt({
      hash: await consumer.write.requestOrientation([blobId(blob), url, fee, claimBy], { account: net.addresses.dapp }),
    });
    const jobId = postedJobId(receipt.logs, net.deployment.market);
    const record = await readJob({ client: net.publicClient, market: net.deployment.market, jobId });
    assert.equal(getAddress(record.job.poster), getAddress(address));
    assert.equal(record.job.fee, fee);
    assert.equal(record.job.callbackGasLimit, 60_000);
    assert.equal(record.inputHash, blobId(blob));
    const request = await consumer.read.requestOf([jobId]);
    assert.equal(getAddress(request.requester), getAddress(net.addresses.dapp));
    assert.equal(request.status, 1, "Pending");
  });

  it("refuses a model that is not registered, in one line, before deploying anything", async function () {
    this.timeout(60_000);
    const before = await net.publicClient.getTransactionCount({ address: net.addresses.dapp });
    const run = await runScript({ ...env, MODEL_ID: "99" });
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /model 99 is not registered or not active/);
    assert.ok(!/\n\s+at /.test(run.output), `no stack trace:\n${run.output}`);
    assert.equal(await net.publicClient.getTransactionCount({ address: net.addresses.dapp }), before, "nothing was sent");
  });
});

/** Runs the script with tsx, as `npm run deploy:consumer` would, with only the given DINFER_* settings. */
function runScript(env: Record<string, string>, timeoutMs = 90_000): Promise<{ code: number | null; output: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DINFER_") && !["MODEL_ID", "CALLBACK_GAS_LIMIT", "OUTPUT_NAME"].includes(name)));
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], { cwd: ROOT, env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => {
    output += `\n(killed after ${timeoutMs} ms)`;
    child.kill("SIGKILL");
  }, timeoutMs);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}
