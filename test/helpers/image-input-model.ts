/**
 * PaddleOCR det with its image's bytes as input (`withImageInput` with det's constants), written to a temporary
 * file of the network and registered as the devnet registers det (same tolerance, collateral, price floor,
 * runtime), admitted first as `dinfer model register` admits a model. For bench/worker.ts (BENCH_INPUT=uint8)
 * and test/e2e/image-input.e2e.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { toleranceFromChain } from "../../offchain/codec/tolerance.js";
import { DEVNET_COLLATERAL, DEVNET_PRICE_FLOOR, DEVNET_TOLERANCE } from "../../offchain/devnet/devnet.js";
import { assertModelAdmitted } from "../../offchain/inference/admission.js";
import { withImageInput } from "../../offchain/inference/image-input.js";
import { hashModel } from "../../offchain/inference/model.js";
import { registerModel } from "../../offchain/protocol/actions.js";
import { DET_MEAN_BGR, DET_STD_BGR } from "../../offchain/sdk/image.js";
import type { LocalNetwork } from "./network.js";

export async function registerImageInputDet(net: Pick<LocalNetwork, "modelFiles" | "tempDir" | "dappSender" | "deployment">): Promise<{ path: string; modelId: number; bytes: Uint8Array }> {
  const bytes = withImageInput(new Uint8Array(readFileSync(net.modelFiles.det)), { mean: DET_MEAN_BGR, std: DET_STD_BGR });
  const file = path.join(net.tempDir("det-uint8-"), "det-uint8.onnx");
  writeFileSync(file, bytes);
  await assertModelAdmitted({ bytes, path: file, tolerance: toleranceFromChain(DEVNET_TOLERANCE) });
  const { id } = await registerModel({
    sender: net.dappSender,
    deployment: net.deployment,
    spec: {
      modelHash: hashModel(bytes),
      uri: pathToFileURL(file).href,
      runtime: "onnxruntime-node@1.30.0",
      tolerance: DEVNET_TOLERANCE,
      minCollateral: DEVNET_COLLATERAL,
      priceFloor: DEVNET_PRICE_FLOOR,
      nonFiniteInputs: false,
    },
  });
  return { path: file, modelId: id, bytes };
}
