/**
 * `dinfer provider profile set|show|clear` as a provider runs them: the CLI as a process, against a real
 * hardhat node process with a ProviderProfiles contract and a stand-in market that reports the protocol version
 * (the other addresses are unused).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { keccak256, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { createChainClients } from "../../offchain/chain/clients.js";
import { startNode, type StartNodeReturnType } from "../helpers/node.js";
import { deployVersionStub } from "../helpers/version-stub.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const MNEMONIC = "test test test test test test test test test test test junk";
/** Hardhat's second development account. */
const PROVIDER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

function dinfer(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", ...env }, timeout: 120_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("dinfer provider profile: set, show, clear (CLI processes)", function () {
  this.timeout(240_000);
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-cli-profile-"));
  const record = path.join(dir, "record.json");
  writeFileSync(record, '{"gpu":"H200","memoryGiB":141}\n');
  let node: StartNodeReturnType | undefined;
  let config: string;
  const keyed = { DINFER_PRIVATE_KEY: PROVIDER_KEY };

  before(async function () {
    this.timeout(120_000);
    node = await startNode();
    const artifact = JSON.parse(readFileSync(path.join(ROOT, "artifacts/contracts/ProviderProfiles.sol/ProviderProfiles.json"), "utf8")) as { abi: readonly unknown[]; bytecode: Hex };
    const account = mnemonicToAccount(MNEMONIC, { addressIndex: 0 });
    const { walletClient, publicClient } = await createChainClients({ rpcUrl: node.url, account });
    const hash = await walletClient!.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode });
    const profiles = (await publicClient.waitForTransactionReceipt({ hash })).contractAddress!;
    // Every command checks the market's protocol version when it connects: a stand-in reports this one.
    const market = await deployVersionStub({ rpcUrl: node.url, account });
    const unused = "0x0000000000000000000000000000000000000001";
    config = path.join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: node.url, addresses: { token: unused, staking: unused, registry: unused, market, verification: unused, batchMarket: unused, profiles, replicaMarket: unused } }));
  });

  after(async () => {
    await node?.stop();
  });

  it("shows no profile, sets one (models sorted, the record pinned by its file's keccak256), shows it by address and as JSON, clears it", () => {
    const none = dinfer(["--config", config, "provider", "profile", "show", PROVIDER]);
    assert.equal(none.status, 0, none.stderr);
    assert.match(none.stdout, /profile: none/);

    const set = dinfer(
      ["--config", config, "provider", "profile", "set", "--region", "eu-west", "--ep", "gpu,cpu", "--capacity", "4", "--models", "7,1,2", "--record-uri", "ipfs://record", "--record-file", record],
      keyed,
    );
    assert.equal(set.status, 0, set.stderr);
    const hash = keccak256(new Uint8Array(readFileSync(record)));
    assert.match(set.stdout, new RegExp(`^profile: region eu-west, cpu\\+gpu, 4 jobs at once, models 1, 2, 7, record ipfs://record \\(keccak256 ${hash}\\); set .* \\(self-declared\\) \\(tx 0x[0-9a-f]{64}\\)$`, "m"));

    const json = dinfer(["--config", config, "provider", "profile", "show", PROVIDER.toLowerCase(), "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const shown = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { ...shown, updatedAt: undefined },
      { provider: PROVIDER, region: "eu-west", executionProviders: ["cpu", "gpu"], capacity: 4, models: [1, 2, 7], updatedAt: undefined, record: { uri: "ipfs://record", hash } },
    );

    const mine = dinfer(["--config", config, "provider", "profile", "show"], keyed);
    assert.match(mine.stdout, new RegExp(`^${PROVIDER} profile: region eu-west, cpu\\+gpu`, "m"));

    const cleared = dinfer(["--config", config, "provider", "profile", "clear"], keyed);
    assert.equal(cleared.status, 0, cleared.stderr);
    assert.match(cleared.stdout, /^profile cleared \(tx 0x/m);
    assert.match(dinfer(["--config", config, "provider", "profile", "show", PROVIDER]).stdout, /profile: none/);

    const again = dinfer(["--config", config, "provider", "profile", "clear"], keyed);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /has no provider profile: there is nothing to clear .*\(ProfileNotFound\)/);
  });

  it("refuses bad input before sending anything, naming the flag to fix", () => {
    const base = ["--config", config, "provider", "profile", "set", "--ep", "gpu", "--capacity", "1", "--models", "1"];
    const long = dinfer([...base, "--region", "europe-west2"], keyed);
    assert.equal(long.status, 1);
    assert.match(long.stderr, /region "europe-west2" is 12 bytes, over the 8 a profile holds: use a shorter name/);
    const ep = dinfer([...base.slice(0, 5), "--ep", "cuda", "--capacity", "1", "--models", "1"], keyed);
    assert.equal(ep.status, 1);
    assert.match(ep.stderr, /unknown execution provider "cuda"/);
    const half = dinfer([...base, "--record-uri", "ipfs://record"], keyed);
    assert.equal(half.status, 1);
    assert.match(half.stderr, /give --record-uri and --record-file together/);
    assert.match(dinfer(["--config", config, "provider", "profile", "show", PROVIDER]).stdout, /profile: none/);
  });
});
