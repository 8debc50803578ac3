/**
 * Deploys the example consumer contract, `TextOrientationConsumer` (contracts/examples), next to a
 * dinfer deployment on any chain, and prints its address (the guide: docs/consumer.md).
 *
 *   npm run deploy:consumer                       # against `npm run devnet`, with the variables it prints
 *   npx tsx scripts/examples/deploy-consumer.ts   # the same
 *
 * The chain and the key come from the same DINFER_* variables as the CLI and the provider scripts
 * (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID or DINFER_DEPLOYMENTS_DIR, DINFER_PRIVATE_KEY, or DINFER_CONFIG,
 * DINFER_KEYSTORE_KEY ...); the deployer becomes nobody special: the contract has no owner. The contract's
 * settings, all frozen at deployment:
 * - MODEL_ID: the PaddleOCR angle classifier's model id in the registry (default 1, as on the devnet);
 * - CALLBACK_GAS_LIMIT: gas the market gives the result callback (default 50000; it uses about 12,700);
 * - OUTPUT_NAME: the model's output tensor (default `softmax_0.tmp_0`, the cls export's), which the
 *   callback checks by name.
 * A failure prints one line (DINFER_DEBUG=1 adds the details).
 */
import "../provider/warnings.js";

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { getAddress, type Abi, type Address, type Hex } from "viem";

import { formatTokens } from "../../offchain/chain/format.js";
import { NonRetryableError } from "../../offchain/errors.js";
import { checkedFee } from "../../offchain/sdk/client.js";
import { providerContext, runScript } from "../provider/lib.js";

const ARTIFACT = fileURLToPath(new URL("../../artifacts/contracts/examples/TextOrientationConsumer.sol/TextOrientationConsumer.json", import.meta.url));
/** The output name of the PaddleOCR cls export (ch_ppocr_mobile_v2.0_cls_infer.onnx). */
export const CLS_OUTPUT_NAME = "softmax_0.tmp_0";

await runScript(async () => {
  const modelId = integerEnv("MODEL_ID", 1n);
  const callbackGasLimit = integerEnv("CALLBACK_GAS_LIMIT", 50_000n);
  if (callbackGasLimit < 1n || callbackGasLimit > 0xffff_ffffn) {
    throw new NonRetryableError(`CALLBACK_GAS_LIMIT must be from 1 to 4294967295, got ${callbackGasLimit}`, { code: "BAD_CALLBACK_GAS_LIMIT" });
  }
  const outputName = process.env.OUTPUT_NAME || CLS_OUTPUT_NAME;
  const { publicClient, walletClient, deployment, sender } = await providerContext();

  // The model must be live: a consumer bound to a missing model could never post.
  const priceFloor = await checkedFee({ publicClient, registry: deployment.registry, modelId });
  const { abi, bytecode } = artifact();
  const hash = await walletClient!.deployContract({
    abi,
    bytecode,
    args: [deployment.market, deployment.token, modelId, Number(callbackGasLimit), outputName],
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success" || !receipt.contractAddress) {
    throw new NonRetryableError(`the deployment transaction ${hash} reverted`, { code: "DEPLOY_REVERTED", details: { hash } });
  }
  const address: Address = getAddress(receipt.contractAddress);
  console.log(`TextOrientationConsumer deployed at ${address}`);
  console.log(`  tx ${hash}, block ${receipt.blockNumber}, deployer ${sender.address}`);
  console.log(`  market ${deployment.market}, token ${deployment.token}`);
  console.log(`  model ${modelId} (fee at least ${formatTokens(priceFloor)}), output ${JSON.stringify(outputName)}, callback gas ${callbackGasLimit}`);
  console.log("Next: approve it on the token for the fees, then call requestOrientation(inputHash, inputURI, fee, claimBy) (docs/consumer.md)");
});

function artifact(): { abi: Abi; bytecode: Hex } {
  try {
    return JSON.parse(readFileSync(ARTIFACT, "utf8")) as { abi: Abi; bytecode: Hex };
  } catch (cause) {
    throw new NonRetryableError("the TextOrientationConsumer artifact is missing: run `npx hardhat build`", { code: "ARTIFACT_MISSING", details: { file: ARTIFACT }, cause });
  }
}

function integerEnv(name: string, fallback: bigint): bigint {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new NonRetryableError(`${name} must be a whole number, got ${JSON.stringify(raw)}`, { code: "BAD_ENV", details: { name } });
  return BigInt(raw.trim());
}
