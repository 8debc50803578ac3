import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import type { Command } from "commander";
import { describe, it } from "mocha";
import { parseEther } from "viem";

import { loadVerifierOptions, type VerifierFlags } from "../../offchain/cli/commands/verifier.js";
import { loadWorkerOptions, type WorkerFlags } from "../../offchain/cli/commands/worker.js";
import { buildProgram } from "../../offchain/cli/main.js";
import { allowsPrivateHosts } from "../../offchain/daemon/options.js";
import { inferenceThreads } from "../../offchain/daemon/services.js";

import { resolvePrivateKey } from "../../offchain/daemon/secrets.js";
import { ConfigError, envOptions, loadOptions } from "../../offchain/config/options.js";
import { NonRetryableError } from "../../offchain/errors.js";
import { parseTokens } from "../../offchain/chain/format.js";
import { parseRoles, roleNames } from "../../offchain/protocol/account.js";
import { WorkerOptionsSchema, type WorkerOptions } from "../../offchain/provider/options.js";
import { createLogger } from "../../offchain/log.js";
import { runWorker } from "../../offchain/provider/start.js";
import { VerifierOptionsSchema, type VerifierOptions } from "../../offchain/verifier/options.js";
import { runVerifier } from "../../offchain/verifier/start.js";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const dir = mkdtempSync(path.join(tmpdir(), "dinfer-config-"));
const file = (name: string, value: unknown) => {
  const p = path.join(dir, name);
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
  return p;
};

describe("worker options", () => {
  it("layers defaults < config file < environment < flags", () => {
    const config = file("layers.json", { models: [{ modelId: 1, path: "a.onnx" }], port: 9000, ep: "cpu", rpcUrl: "http://127.0.0.1:1" });
    const options = loadOptions({
      schema: WorkerOptionsSchema,
      file: config,
      env: envOptions(["port", "rpcUrl"], { DINFER_PORT: "9100", DINFER_RPC_URL: "http://127.0.0.1:2" }),
      flags: { rpcUrl: "http://127.0.0.1:3", ep: undefined },
    });
    assert.equal(options.port, 9100, "the environment beats the file");
    assert.equal(options.rpcUrl, "http://127.0.0.1:3", "flags beat the environment");
    assert.equal(options.ep, "cpu", "an undefined flag leaves the file's value");
    assert.equal(options.dataDir, ".dinfer/worker", "defaults fill the rest");
    assert.equal(options.models[0]!.minFee, 0n);
  });

  it("keeps blobs a day past what jobs can need by default, never deletes them at -1, and refuses less or more than ten years", () => {
    const models = [{ modelId: 1, path: "a.onnx" }];
    assert.equal(loadOptions({ schema: WorkerOptionsSchema, file: file("retention-default.json", { models }) }).blobRetentionSeconds, 86_400);
    assert.equal(loadOptions({ schema: WorkerOptionsSchema, file: file("retention-never.json", { models, blobRetentionSeconds: -1 }) }).blobRetentionSeconds, -1);
    for (const [name, value] of [["retention-bad.json", -2], ["retention-huge.json", 1e20]] as const) {
      assert.throws(() => loadOptions({ schema: WorkerOptionsSchema, file: file(name, { models, blobRetentionSeconds: value }) }), (error: unknown) => error instanceof ConfigError && /blobRetentionSeconds/.test(error.message));
    }
  });

  it("takes jobs whose callback asks for up to the market's default 500,000 gas unless told less, and refuses a cap over a uint32", () => {
    const models = [{ modelId: 1, path: "a.onnx" }];
    assert.equal(loadOptions({ schema: WorkerOptionsSchema, file: file("callback-default.json", { models }) }).maxCallbackGas, 500_000);
    assert.equal(loadOptions({ schema: WorkerOptionsSchema, file: file("callback-none.json", { models, maxCallbackGas: 0 }) }).maxCallbackGas, 0);
    assert.throws(
      () => loadOptions({ schema: WorkerOptionsSchema, file: file("callback-over.json", { models, maxCallbackGas: 2 ** 32 }) }),
      (error: unknown) => error instanceof ConfigError && /maxCallbackGas/.test(error.message),
    );
  });

  it("reads inputs up to 16 MiB by default, and refuses a cap over the largest tensor blob a runner decodes", () => {
    const models = [{ modelId: 1, path: "a.onnx" }];
    assert.equal(loadOptions({ schema: WorkerOptionsSchema, file: file("input-default.json", { models }) }).maxInputBytes, 16 * 1024 * 1024);
    assert.equal(loadOptions({ schema: WorkerOptionsSchema, file: file("input-max.json", { models, maxInputBytes: 64 * 1024 * 1024 }) }).maxInputBytes, 64 * 1024 * 1024);
    assert.throws(
      () => loadOptions({ schema: WorkerOptionsSchema, file: file("input-over.json", { models, maxInputBytes: 64 * 1024 * 1024 + 1 }) }),
      (error: unknown) => error instanceof ConfigError && /maxInputBytes/.test(error.message) && /64 MiB/.test(error.message),
    );
  });

  it("limits the blob server's reads by default, and refuses a bytes cap below the largest blob", () => {
    const models = [{ modelId: 1, path: "a.onnx" }];
    const defaults = loadOptions({ schema: WorkerOptionsSchema, file: file("reads-default.json", { models }) });
    assert.deepEqual([defaults.blobMaxReadsPerClient, defaults.blobMaxBytesInFlight, defaults.blobSendTimeoutMs], [16, 512 * 1024 * 1024, 120_000]);
    const set = loadOptions({ schema: WorkerOptionsSchema, file: file("reads-set.json", { models, blobMaxReadsPerClient: 32, blobSendTimeoutMs: 600_000 }) });
    assert.deepEqual([set.blobMaxReadsPerClient, set.blobSendTimeoutMs], [32, 600_000]);
    assert.throws(
      () => loadOptions({ schema: WorkerOptionsSchema, file: file("reads-bad.json", { models, blobMaxBytesInFlight: 1024 * 1024 }) }),
      (error: unknown) => error instanceof ConfigError && /blobMaxBytesInFlight/.test(error.message) && /could never be served/.test(error.message),
    );
  });

  it("names every bad option in one error", () => {
    const config = file("bad.json", { models: [{ modelId: -1, path: "" }], ep: "tpu", port: 70000 });
    assert.throws(
      () => loadOptions({ schema: WorkerOptionsSchema, file: config }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /models\.0\.modelId/.test(error.message) &&
        /models\.0\.path/.test(error.message) &&
        /ep/.test(error.message) &&
        /port/.test(error.message),
    );
  });

  it("refuses a config file that holds a private key", () => {
    const config = file("secret.json", { models: [{ modelId: 1, path: "a.onnx" }], privateKey: KEY });
    assert.throws(() => loadOptions({ schema: WorkerOptionsSchema, file: config }), /never read from config files/);
  });

  it("reports an unreadable or malformed config file by name", () => {
    assert.throws(() => loadOptions({ schema: WorkerOptionsSchema, file: path.join(dir, "missing.json") }), /cannot read config file .*missing\.json/);
    assert.throws(() => loadOptions({ schema: WorkerOptionsSchema, file: file("broken.json", "{ not json") }), /is not a JSON object/);
  });

  it("parses fee amounts in wei and rejects negative ones", () => {
    const ok = loadOptions({ schema: WorkerOptionsSchema, flags: { models: [{ modelId: "2", path: "m.onnx", minFee: "1000" }] } });
    assert.equal(ok.models[0]!.minFee, 1000n);
    assert.equal(ok.models[0]!.modelId, 2);
    assert.throws(
      () => loadOptions({ schema: WorkerOptionsSchema, flags: { models: [{ modelId: 1, path: "m.onnx", minFee: "-5" }] } }),
      /models\.0\.minFee: must be a non-negative integer amount in wei/,
    );
  });
});

/** `dinfer <name> --model 1=m.onnx ...args` parsed by the real command, its options loaded (with `env` as the environment) instead of running the daemon. */
async function daemonOptions<Flags, Options>(name: string, load: (flags: Flags, cmd: Command, env: NodeJS.ProcessEnv) => Options, args: string[], env: NodeJS.ProcessEnv): Promise<Options> {
  const program = buildProgram();
  let options: Options | undefined;
  program.commands.find((command) => command.name() === name)!.action((flags: Flags, cmd: Command) => {
    options = load(flags, cmd, env);
  });
  await program.parseAsync(["node", "dinfer", name, "--model", "1=m.onnx", ...args]);
  assert.ok(options !== undefined, `the ${name} action did not run`);
  return options;
}
const workerOptions = (args: string[], env: NodeJS.ProcessEnv = {}) => daemonOptions<WorkerFlags, WorkerOptions>("worker", loadWorkerOptions, args, env);
const verifierOptions = (args: string[], env: NodeJS.ProcessEnv = {}) => daemonOptions<VerifierFlags, VerifierOptions>("verifier", loadVerifierOptions, args, env);

describe("daemon options: GPU devices", () => {
  it("reads --gpu-devices 0,1 as the list of devices, and leaves it unset without the flag", async () => {
    assert.deepEqual((await workerOptions(["--gpu-devices", "0,1"])).gpuDevices, [0, 1]);
    assert.deepEqual((await workerOptions(["--gpu-devices", " 3 , 1 "])).gpuDevices, [3, 1]);
    const plain = await workerOptions([]);
    assert.equal(plain.gpuDevices, undefined);
    assert.equal(plain.threads, 1);
  });

  it("takes the devices from DINFER_GPU_DEVICES and from a config file's list, the flag first", async () => {
    assert.deepEqual((await workerOptions([], { DINFER_GPU_DEVICES: "2" })).gpuDevices, [2]);
    const config = file("gpus.json", { gpuDevices: [4, 5] });
    assert.deepEqual((await workerOptions(["--config", config])).gpuDevices, [4, 5]);
    assert.deepEqual((await workerOptions(["--config", config, "--gpu-devices", "0"], { DINFER_GPU_DEVICES: "1" })).gpuDevices, [0]);
  });

  it("refuses a device list that repeats a device, holds a non-index or is empty, naming gpuDevices", async () => {
    const refusal = async (value: string, pattern: RegExp) => {
      const error = await workerOptions(["--gpu-devices", value]).then(
        () => assert.fail(`--gpu-devices ${JSON.stringify(value)} was accepted`),
        (error: unknown) => error,
      );
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, pattern);
    };
    await refusal("0,0", /gpuDevices: lists device 0 twice: each device gets one inference thread, list each once/);
    await refusal("0,x", /gpuDevices\.1: must be a GPU device index \(a non-negative integer\), got "x"/);
    await refusal("-1", /gpuDevices\.0: must be a GPU device index/);
    await refusal("1.5", /gpuDevices\.0: must be a GPU device index/);
    await refusal("0,,1", /gpuDevices\.1: must be a GPU device index \(a non-negative integer\), got ""/);
    assert.throws(() => loadOptions({ schema: WorkerOptionsSchema, flags: { models: [{ modelId: 1, path: "m.onnx" }], gpuDevices: [] } }), /gpuDevices: must list at least one GPU device index/);
  });

  it("gives the verifier the same devices: --gpu-devices, DINFER_GPU_DEVICES, with its other flags read as before", async () => {
    const flagged = await verifierOptions(["--gpu-devices", "1,0", "--stake", "5", "--watchdog", "0.25", "--no-keeper"]);
    assert.deepEqual(flagged.gpuDevices, [1, 0]);
    assert.equal(flagged.stake, parseEther("5"));
    assert.equal(flagged.watchdog?.share, 0.25);
    assert.equal(flagged.keeper, false);
    assert.deepEqual((await verifierOptions([], { DINFER_GPU_DEVICES: "3" })).gpuDevices, [3]);
    assert.equal((await verifierOptions([])).gpuDevices, undefined);
    await assert.rejects(verifierOptions(["--gpu-devices", "0,0"]), /gpuDevices: lists device 0 twice/);
  });

  it("refuses GPU devices with an execution provider that cannot use them (cpu, webgpu), naming the remedy", () => {
    for (const ep of ["cpu", "webgpu"] as const) {
      assert.throws(
        () => inferenceThreads({ gpuDevices: [0, 1], ep }),
        (error: unknown) => error instanceof ConfigError && new RegExp(`^gpuDevices \\(0,1\\) with ep ${ep}: .*; pass --ep cuda \\(or auto\\), or leave gpuDevices out$`).test(error.message),
      );
    }
    assert.deepEqual(inferenceThreads({ gpuDevices: [0, 1], ep: "cuda" }), { devices: [0, 1] });
    assert.deepEqual(inferenceThreads({ gpuDevices: [1], ep: "auto" }), { devices: [1] });
    assert.deepEqual(inferenceThreads({ threads: 2, ep: "cpu" }), { size: 2 }, "cpu threads without devices are fine");
  });

  it("stops a worker or verifier with such devices before it touches the chain (nothing staked, nothing opened)", async () => {
    const unreachable = "http://127.0.0.1:9"; // nothing listens: reaching for the chain would fail otherwise
    const env = { DINFER_WORKER_SECRET: "a worker secret, long enough", DINFER_VERIFIER_SECRET: "a verifier secret, long enough" };
    const signal = new AbortController().signal;
    const log = createLogger({ name: "test", level: "silent" });
    const refusal = (ep: string) => (error: unknown) => error instanceof ConfigError && new RegExp(`^gpuDevices \\(0\\) with ep ${ep}: `).test(error.message);
    const verifier = loadOptions({ schema: VerifierOptionsSchema, flags: { rpcUrl: unreachable, models: [{ modelId: 1, path: "m.onnx" }], gpuDevices: [0] } });
    await assert.rejects(runVerifier({ options: verifier, log, signal, env }), refusal("cpu"));
    const worker = loadOptions({ schema: WorkerOptionsSchema, flags: { rpcUrl: unreachable, models: [{ modelId: 1, path: "m.onnx" }], gpuDevices: [0], ep: "webgpu" } });
    await assert.rejects(runWorker({ options: worker, log, signal, env }), refusal("webgpu"));
  });

  it("gives the runner one thread per device, refusing a threads count the devices do not give", () => {
    assert.deepEqual(inferenceThreads({ threads: 3 }), { size: 3 });
    assert.deepEqual(inferenceThreads({ threads: 1, gpuDevices: [0, 1] }), { devices: [0, 1] }, "threads' default does not get in the way");
    assert.deepEqual(inferenceThreads({ threads: 2, gpuDevices: [0, 1] }), { devices: [0, 1] });
    assert.throws(
      () => inferenceThreads({ threads: 4, gpuDevices: [0, 1] }),
      (error: unknown) => error instanceof ConfigError && /^threads \(4\) and gpuDevices \(2 devices\) disagree: .*leave threads out, or list 4 devices$/.test(error.message),
    );
  });
});

describe("daemon options: private hosts", () => {
  it("reads --allow-private-hosts, DINFER_ALLOW_PRIVATE_HOSTS (false is false) and the config file, and leaves it unset without any", async () => {
    assert.equal((await workerOptions([])).allowPrivateHosts, undefined);
    assert.equal((await verifierOptions([])).allowPrivateHosts, undefined);
    assert.equal((await workerOptions(["--allow-private-hosts"])).allowPrivateHosts, true);
    assert.equal((await verifierOptions(["--allow-private-hosts"])).allowPrivateHosts, true);
    assert.equal((await workerOptions([], { DINFER_ALLOW_PRIVATE_HOSTS: "false" })).allowPrivateHosts, false);
    assert.equal((await verifierOptions([], { DINFER_ALLOW_PRIVATE_HOSTS: "1" })).allowPrivateHosts, true);
    assert.equal((await workerOptions(["--config", file("private-hosts.json", { allowPrivateHosts: false })])).allowPrivateHosts, false);
    await assert.rejects(workerOptions([], { DINFER_ALLOW_PRIVATE_HOSTS: "maybe" }), (error: unknown) => error instanceof ConfigError && /allowPrivateHosts: must be true or false/.test(error.message));
  });

  it("reads DINFER_ALLOW_FILE_URIS=false and DINFER_KEYSTORE_DEV=false as false (a coerced boolean read any non-empty string as true)", async () => {
    for (const options of [workerOptions, verifierOptions]) {
      assert.equal((await options([], { DINFER_ALLOW_FILE_URIS: "false" })).allowFileUris, false);
      assert.equal((await options([], { DINFER_ALLOW_FILE_URIS: "0" })).allowFileUris, false);
      assert.equal((await options([], { DINFER_ALLOW_FILE_URIS: "true" })).allowFileUris, true);
      assert.equal((await options([], { DINFER_KEYSTORE_DEV: "false" })).keystoreDev, false);
      await assert.rejects(options([], { DINFER_ALLOW_FILE_URIS: "nope" }), (error: unknown) => error instanceof ConfigError && /allowFileUris: must be true or false/.test(error.message));
    }
    assert.equal((await workerOptions(["--config", file("keeper-off.json", { keeper: false })])).keeper, false);
  });

  it("is on by default only on a devnet (chain id 31337), whatever is configured wins", () => {
    assert.equal(allowsPrivateHosts({ chainId: 31337 }), true);
    assert.equal(allowsPrivateHosts({ chainId: 1 }), false);
    assert.equal(allowsPrivateHosts({ chainId: 8453 }), false);
    assert.equal(allowsPrivateHosts({ allowPrivateHosts: false, chainId: 31337 }), false);
    assert.equal(allowsPrivateHosts({ allowPrivateHosts: true, chainId: 1 }), true);
  });
});

describe("private keys", () => {
  it("reads a key from the named environment variable, with or without 0x", () => {
    assert.equal(resolvePrivateKey({ source: { kind: "env", variable: "K" }, env: { K: KEY } }), KEY);
    assert.equal(resolvePrivateKey({ source: { kind: "env", variable: "K" }, env: { K: KEY.slice(2) } }), KEY);
  });

  it("says where the key was missing or malformed", () => {
    assert.throws(() => resolvePrivateKey({ source: { kind: "env", variable: "NOPE" }, env: {} }), /no private key in environment variable NOPE/);
    assert.throws(() => resolvePrivateKey({ source: { kind: "env", variable: "K" }, env: { K: "0x1234" } }), /K does not hold a 32-byte hex private key/);
  });

  it("takes a key from the Hardhat keystore through its reader", () => {
    const asked: [string, boolean][] = [];
    const key = resolvePrivateKey({
      source: { kind: "keystore", key: "PROVIDER_KEY", dev: true },
      readKeystore: (name, dev) => {
        asked.push([name, dev]);
        return `${KEY}\n`;
      },
    });
    assert.equal(key, KEY);
    assert.deepEqual(asked, [["PROVIDER_KEY", true]]);
  });
});

describe("account helpers", () => {
  it("parses role lists and names role bits", () => {
    assert.equal(parseRoles("provider"), 1);
    assert.equal(parseRoles("provider, verifier"), 3);
    assert.equal(roleNames(3), "provider,verifier");
    assert.equal(roleNames(0), "none");
    assert.throws(() => parseRoles("miner"), (e: unknown) => e instanceof NonRetryableError && /unknown role "miner"/.test(e.message));
    assert.throws(() => parseRoles(""), /at least one role/);
  });

  it("parses token amounts typed by people", () => {
    assert.equal(parseTokens("12.5"), parseEther("12.5"));
    assert.throws(() => parseTokens("1e18"), /amount must be a positive decimal number of tokens, got "1e18"/);
    assert.throws(() => parseTokens("0", "--fee"), /--fee must be more than zero/);
  });
});
