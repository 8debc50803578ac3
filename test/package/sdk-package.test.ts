/**
 * `@dinfer/sdk` as a dApp developer meets it: built (`packages/sdk/build.ts`), packed with `npm pack`,
 * installed from the tarball into an empty project (the npm registry supplies viem), then
 * scripts in that project that import nothing but `@dinfer/sdk` post jobs to a real devnet (a `hardhat
 * node` process, the protocol deployed through Ignition, the cls model registered, the dApp's blob
 * server). The package README's example runs as written, and a TypeScript consumer type-checks against
 * the package's declarations.
 *
 * Run alone: `npm run test:package` (about a minute; needs the npm registry or a warm npm cache).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { decodeEventLog, getAddress, parseEventLogs, type Hex } from "viem";

import { buildSdk, type ImportGraph } from "../../packages/sdk/build.js";
import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { blobId, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { DEVNET_PRICE_FLOOR } from "../../offchain/devnet/devnet.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PACKAGE_DIR = path.join(ROOT, "packages/sdk");
const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");

type Run = { code: number; stdout: string; stderr: string };

/** Runs a command to its end; npm's own variables of this run are left out, as in a fresh shell. */
function run(command: string, args: string[], { cwd, env = {}, timeoutMs = 180_000 }: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")));
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...clean, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(result: Run, what: string): Run {
  assert.equal(result.code, 0, `${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The same cls input the fixture script builds, encoded by the repository's codec. */
function clsInputBlob(): Uint8Array {
  const values = Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => ((i % 255) / 255 - 0.5) / 0.5);
  return encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", dims: [1, 3, 48, 192], values })]);
}

describe("@dinfer/sdk packed, installed into an empty project and used against a devnet", function () {
  let graph: ImportGraph;
  let project: string;
  let net: LocalNetwork;
  let scriptEnv: Record<string, string>;

  before(async function () {
    this.timeout(480_000);
    graph = buildSdk();
    project = mkdtempSync(path.join(tmpdir(), "dinfer-sdk-consumer-"));
    ok(await run("npm", ["pack", "--pack-destination", project], { cwd: PACKAGE_DIR }), "npm pack");
    const [tarball] = readdirSync(project).filter((name) => name.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote a tarball");
    ok(await run("npm", ["init", "-y"], { cwd: project }), "npm init");
    ok(await run("npm", ["pkg", "set", "type=module"], { cwd: project }), "npm pkg set");
    ok(await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", `./${tarball}`], { cwd: project, timeoutMs: 300_000 }), "npm install");
    net = await startLocalNetwork();
    scriptEnv = {
      DINFER_RPC_URL: net.url,
      DINFER_PRIVATE_KEY: net.keys.dapp,
      DINFER_CONTRACTS: JSON.stringify(net.deployment),
      DINFER_UPLOAD_URL: net.blobServer.url,
      DINFER_UPLOAD_TOKEN: net.uploadToken,
      MODEL_ID: String(net.modelIds.cls),
    };
  });

  after(async function () {
    this.timeout(60_000);
    await net?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it("compiles to a package whose code imports only viem, sharp (optional) and Node's built-ins, and no daemon, CLI or logger", function () {
    const bare = [...graph.external.keys()].filter((specifier) => !specifier.startsWith("node:")).sort();
    assert.deepEqual(bare, ["sharp", "viem", "viem/accounts", "viem/utils"]);
    assert.equal(graph.external.get("sharp"), path.join("sdk", "image.js"), "only the image helpers load sharp");
    assert.match(readFileSync(path.join(PACKAGE_DIR, "dist/sdk/image.js"), "utf8"), /import\("sharp"\)/, "sharp is imported lazily");
    const declared = [...graph.typeExternal.keys()].filter((specifier) => !specifier.startsWith("node:")).sort();
    assert.deepEqual(declared, ["viem"], "the declarations name viem's types and nothing a consumer lacks");
    const folders = new Set(graph.modules.map((module) => module.split(path.sep)[0]));
    assert.deepEqual([...folders].sort(), ["chain", "codec", "deadline.js", "errors.js", "inference", "sdk", "storage"]);
    assert.ok(!graph.modules.some((module) => /log\.js$|session\.js$|runner\.js$|server\.js$/.test(module)), graph.modules.join(", "));
  });

  it("installs from its tarball with its one dependency (viem), without onnxruntime, hardhat, pino or sharp", function () {
    const installed = JSON.parse(readFileSync(path.join(project, "node_modules/@dinfer/sdk/package.json"), "utf8")) as { dependencies: Record<string, string> };
    assert.deepEqual(Object.keys(installed.dependencies).sort(), ["viem"]);
    const top = readdirSync(path.join(project, "node_modules"));
    for (const absent of ["onnxruntime-node", "hardhat", "pino", "sharp", "zod", "commander"]) assert.ok(!top.includes(absent), `${absent} was installed`);
    const files = readdirSync(path.join(project, "node_modules/@dinfer/sdk/dist"));
    assert.ok(!files.some((name) => ["cli", "daemon", "devnet", "provider", "verifier"].includes(name)), files.join(", "));
  });

  it("posts a job from a script that imports only @dinfer/sdk: the receipt's JobPosted names it, the chain holds it as Posted, a wrong shape is refused first", async function () {
    this.timeout(120_000);
    copyFileSync(path.join(PACKAGE_DIR, "test/post-job.mjs"), path.join(project, "post-job.mjs"));
    const imports = readFileSync(path.join(project, "post-job.mjs"), "utf8").match(/from "[^"]+"/g);
    assert.deepEqual(imports, ['from "@dinfer/sdk"'], "the script imports the package and nothing else");

    const { stdout } = ok(await run(process.execPath, ["post-job.mjs"], { cwd: project, env: scriptEnv }), "post-job.mjs");
    const seen = JSON.parse(stdout.trim().split("\n").pop()!) as {
      jobId: string;
      receiptJobId: string;
      receiptStatus: string;
      txHash: Hex;
      inputHash: Hex;
      inputURI: string;
      fee: string;
      account: string;
      state: { status: number; posted: boolean; poster: string; fee: string };
      refused: { name: string; code: string; message: string; dinferError: boolean };
      noSharp: { name: string; code: string; message: string; dinferError: boolean };
    };

    // 1. The wrong-shape input was refused by the input check, naming the axis, with no transaction.
    assert.equal(seen.refused.name, "JobInputError");
    assert.equal(seen.refused.code, "INPUT_DOES_NOT_FIT");
    assert.ok(seen.refused.dinferError, "the package's errors extend its DinferError");
    assert.match(seen.refused.message, /model \d+ cannot take this input: input "x" dims\[1\]: is 1, the model takes 3/);
    assert.equal(seen.noSharp.name, "ImageError");
    assert.match(seen.noSharp.message, /npm install sharp@0\.34\.5/);

    // 2. The receipt, read here with the repository's own ABI, holds the JobPosted the script reported.
    const jobId = BigInt(seen.jobId);
    assert.equal(seen.receiptJobId, seen.jobId);
    assert.equal(seen.receiptStatus, "success");
    const receipt = await net.publicClient.getTransactionReceipt({ hash: seen.txHash });
    const marketLogs = receipt.logs.filter((log) => getAddress(log.address) === getAddress(net.deployment.market));
    const posted = parseEventLogs({ abi: jobMarketAbi, logs: marketLogs, eventName: "JobPosted" });
    assert.equal(posted.length, 1);
    const args = posted[0]!.args;
    assert.equal(args.jobId, jobId);
    assert.equal(args.modelId, BigInt(net.modelIds.cls));
    assert.equal(getAddress(args.poster), getAddress(net.addresses.dapp));
    assert.equal(args.inputURI, seen.inputURI);
    assert.equal(args.fee, BigInt(seen.fee));

    // 3. The job on-chain: Posted, by the dApp, with the input the repository's codec encodes byte for byte.
    const record = await readJob({ client: net.publicClient, market: net.deployment.market, jobId });
    assert.equal(record.job.status, JobStatus.Posted);
    assert.equal(seen.state.status, JobStatus.Posted);
    assert.ok(seen.state.posted);
    assert.equal(getAddress(seen.account), getAddress(net.addresses.dapp));
    const expected = clsInputBlob();
    assert.equal(seen.inputHash, blobId(expected));
    assert.equal(record.inputHash, blobId(expected));
    assert.match(seen.inputURI, new RegExp(`^${net.blobServer.url}/blobs/${blobId(expected)}$`), "uploaded to the dApp's blob server, not inline");
    const uploaded = new Uint8Array(await (await fetch(seen.inputURI)).arrayBuffer());
    assert.deepEqual(uploaded, expected);

    // 4. The refused post sent nothing: this job is the only one the market has.
    const logs = await net.publicClient.getLogs({ address: net.deployment.market, fromBlock: 0n });
    const jobsPosted = logs.filter((log) => decodeName(log) === "JobPosted");
    assert.equal(jobsPosted.length, 1, "only the good input was posted");
  });

  it("runs the package README's example as written: it posts a job and reads it back as Posted", async function () {
    this.timeout(120_000);
    const readme = readFileSync(path.join(PACKAGE_DIR, "README.md"), "utf8");
    const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, "the README has a js example");
    writeFileSync(path.join(project, "readme-example.mjs"), example);
    const { stdout } = ok(await run(process.execPath, ["readme-example.mjs"], { cwd: project, env: scriptEnv }), "the README example");
    const postedLine = /^posted job (\d+) \(fee (\d+) wei\) in (0x[0-9a-f]{64})$/m.exec(stdout);
    assert.ok(postedLine, stdout);
    assert.match(stdout, new RegExp(`^job ${postedLine[1]} is Posted$`, "m"));
    const record = await readJob({ client: net.publicClient, market: net.deployment.market, jobId: BigInt(postedLine[1]!) });
    assert.equal(record.job.status, JobStatus.Posted);
    assert.equal(record.job.fee, BigInt(postedLine[2]!));
    assert.equal(record.job.fee, DEVNET_PRICE_FLOOR, "without a fee, the model's price floor is paid (the README's 1000000000000000000 wei)");
    assert.equal(getAddress(record.job.poster), getAddress(net.addresses.dapp));
  });

  it("gives TypeScript consumers real types: a consumer type-checks under strict tsc, and misuses of the client are errors", async function () {
    this.timeout(120_000);
    writeFileSync(
      path.join(project, "consumer.ts"),
      [
        'import { connectDinfer, DinferError, JobStatus, tensorFromArray, type ClientJobResult, type Deployment, type Tensor } from "@dinfer/sdk";',
        "",
        "export async function firstJob(rpcUrl: string, privateKey: `0x${string}`, deployment: Deployment): Promise<number> {",
        "  const { dinfer } = await connectDinfer({ rpcUrl, privateKey, deployment });",
        '  const x: Tensor<"float32"> = tensorFromArray({ name: "x", dtype: "float32", dims: [1, 2], values: new Float32Array([1, 2]) });',
        "  const { jobId } = await dinfer.postJob({ modelId: 1, input: { tensors: [x] }, fee: 10n ** 18n });",
        "  const result: ClientJobResult = await dinfer.waitForResult(jobId, { until: \"revealed\" });",
        "  return result.record.job.status === JobStatus.Finalized ? result.tensors().length : 0;",
        "}",
        "",
        "export const isOurs = (error: unknown): boolean => error instanceof DinferError && error.code === \"INPUT_DOES_NOT_FIT\";",
        "",
      ].join("\n"),
    );
    writeFileSync(
      path.join(project, "misuse.ts"),
      [
        'import { connectDinfer, type Deployment } from "@dinfer/sdk";',
        "",
        "export async function misuse(deployment: Deployment): Promise<void> {",
        '  const { dinfer } = await connectDinfer({ rpcUrl: "http://127.0.0.1:8545", deployment });',
        '  const id: string = (await dinfer.postJob({ modelId: 1, input: { blob: new Uint8Array(8) } })).jobId;',
        '  await dinfer.postJob({ modelId: 1, input: { image: "a.png", preprocess: "rotate" } });',
        '  await dinfer.waitForResult(1n, { until: "soon" });',
        "  void id;",
        "}",
        "",
      ].join("\n"),
    );
    writeFileSync(
      path.join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          lib: ["es2023"],
          strict: true,
          noEmit: true,
          // The package's declarations name only viem and Node (the build checks it); checking viem's own is slow.
          skipLibCheck: true,
          // A Node project has @types/node; this one borrows the repository's.
          types: ["node"],
          typeRoots: [path.join(ROOT, "node_modules/@types")],
        },
        files: ["consumer.ts", "misuse.ts"],
      }),
    );
    const result = await run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: project });
    const errors = result.stdout.split("\n").filter((line) => /error TS\d+/.test(line));
    assert.notEqual(result.code, 0, "the misuses must not compile");
    assert.deepEqual(
      errors.map((line) => /^(\S+?)\((\d+),\d+\): error (TS\d+)/.exec(line)?.slice(1, 4).join(":")),
      ["misuse.ts:5:TS2322", "misuse.ts:6:TS2322", "misuse.ts:7:TS2322"],
      `only the three misuses are errors (none in consumer.ts):\n${result.stdout}`,
    );
  });
});

/** A market log's event name, or undefined for one the ABI does not know. */
function decodeName(log: { data: Hex; topics: readonly Hex[] }): string | undefined {
  try {
    return decodeEventLog({ abi: jobMarketAbi, data: log.data, topics: log.topics as [Hex, ...Hex[]] }).eventName;
  } catch {
    return undefined;
  }
}
