/**
 * PaddleOCR det with its image's bytes as input (`withImageInput` with det's constants), written to a temporary
 * file of the network and registered as the devnet registers det (same tolerance, collateral, price floor,
 * runtime), admitted first as `dinfer model register` admits a model. With `byteOutput`, its output is
 * quantized to bytes too (`withByteOutput`) and the model registered with one step of tolerance
 * (BYTE_OUTPUT_TOLERANCE) instead. For bench/worker.ts (BENCH_INPUT=uint8, BENCH_OUTPUT=uint8) and
 * test/e2e/image-input.e2e.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { toleranceFromChain } from "../../offchain/codec/tolerance.js";
import { DEVNET_COLLATERAL, DEVNET_PRICE_FLOOR, DEVNET_TOLERANCE } from "../../offchain/devnet/devnet.js";
import { assertModelAdmitted } from "../../offchain/inference/admission.js";
import { BYTE_OUTPUT_TOLERANCE_ON_CHAIN, withByteOutput } from "../../offchain/inference/byte-output.js";
import { withImageInput } from "../../offchain/inference/image-input.js";
import { hashModel } from "../../offchain/inference/model.js";
import { registerModel } from "../../offchain/protocol/actions.js";
import { DET_MEAN_BGR, DET_STD_BGR } from "../../offchain/sdk/image.js";
import type { LocalNetwork } from "./network.js";

export async function registerImageInputDet(
  net: Pick<LocalNetwork, "modelFiles" | "tempDir" | "dappSender" | "deployment">,
  { byteOutput = false }: { byteOutput?: boolean } = {},
): Promise<{ path: string; modelId: number; bytes: Uint8Array }> {
  const imageInput = withImageInput(new Uint8Array(readFileSync(net.modelFiles.det)), { mean: DET_MEAN_BGR, std: DET_STD_BGR });
  const bytes = byteOutput ? withByteOutput(imageInput) : imageInput;
  const tolerance = byteOutput ? BYTE_OUTPUT_TOLERANCE_ON_CHAIN : DEVNET_TOLERANCE;
  const file = path.join(net.tempDir("det-uint8-"), byteOutput ? "det-uint8-bytes-out.onnx" : "det-uint8.onnx");
  writeFileSync(file, bytes);
  await assertModelAdmitted({ bytes, path: file, tolerance: toleranceFromChain(tolerance) });
  const { id } = await registerModel({
    sender: net.dappSender,
    deployment: net.deployment,
    spec: {
      modelHash: hashModel(bytes),
      uri: pathToFileURL(file).href,
      runtime: "onnxruntime-node@1.30.0",
      tolerance,
      minCollateral: DEVNET_COLLATERAL,
      priceFloor: DEVNET_PRICE_FLOOR,
      nonFiniteInputs: false,
    },
  });
  return { path: file, modelId: id, bytes };
}
