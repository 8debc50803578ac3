/**
 * `dinfer model check|register|update|show|activate|deactivate`: model owners. `check` runs offline
 * (no chain, no key): every admission check of offchain/inference/admission.ts on an .onnx file.
 * `image-input` (offline too) writes a model that takes an image's bytes (offchain/inference/image-input.ts);
 * `byte-output` (offline too) one that answers in bytes (offchain/inference/byte-output.ts).
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import type { Command } from "commander";

import { modelRegistryAbi } from "../../chain/abis.js";
import { formatTokens } from "../../chain/format.js";
import { collateralUpdate } from "../../chain/models.js";
import { DinferError } from "../../errors.js";
import { withByteOutput } from "../../inference/byte-output.js";
import { withImageInput } from "../../inference/image-input.js";
import { hashModel } from "../../inference/model.js";
import { readOnnxModel } from "../../inference/onnx-graph.js";
import { checkModelAdmission, formatFindings, ModelNotAdmittedError, parseToleranceFlag, parseTolerancePolicy } from "../../inference/admission.js";
import { parseTokens } from "../../chain/format.js";
import { registerModel } from "../../protocol/actions.js";
import { bigintJson, connect, connectReadOnly, parseId } from "../context.js";

export function addModelCommands(program: Command): void {
  const model = program
    .command("model")
    .description("model owners: check, register and update models")
    .addHelpText(
      "after",
      `
What is frozen, and what is not:
  per model   the file (modelHash), tolerance, runtime and the non-finite inputs opt-in: a model's results
              are judged by them, so they never change (change them by registering a new model)
  per job     the collateral and the protocol terms in force when the job was posted
  changeable  uri, collateral and price floor (model update; a lower collateral after a day's notice),
              active (model activate|deactivate), owner`,
    );
  model
    .command("check <file>")
    .description("run every admission check on an .onnx file, offline (no chain, no key); exit code 0 only when it can be registered")
    .option("--tolerance <policy>", "the policy it would be registered with: allclose:<absTol>:<relTol> | argmax:<axis> | exact")
    .option("--non-finite-inputs", "opt in to NaN and Inf in float inputs (frozen per model)")
    .action(async (file: string, flags) => {
      const report = await admitFile({ file, tolerance: flags.tolerance, nonFiniteInputs: flags.nonFiniteInputs === true });
      console.log(formatFindings(report.findings));
      console.log(report.admitted ? `${file}: can be registered (sha256 ${report.modelHash})` : `${file}: cannot be registered`);
      if (!report.admitted) process.exitCode = 1;
    });
  model
    .command("image-input <file>")
    .description(
      "write a model that takes an image's bytes (uint8) and normalizes them itself, (image / 255 - mean) / std per channel, " +
        "in front of <file>'s float input: a quarter of the bytes per job; offline",
    )
    .requiredOption("-o, --out <file>", "the .onnx file to write (a new model: check and register it as any other)")
    .requiredOption("--mean <values>", "per channel, comma-separated, in the input's channel order")
    .requiredOption("--std <values>", "per channel, comma-separated")
    .option("--input <name>", "the float input to replace (default: the model's only input); the new one is named image")
    .addHelpText(
      "after",
      `
PaddleOCR det (its channels are BGR), whose jobs then take \`--image det-uint8\` inputs:
  dinfer model image-input ch_PP-OCRv4_det_infer.onnx -o det-uint8.onnx --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225`,
    )
    .action((file: string, flags: { out: string; mean: string; std: string; input?: string }) => {
      if (path.resolve(flags.out) === path.resolve(file)) {
        throw new DinferError(`-o ${flags.out} is the model being read; write the new model to another file`, { code: "BAD_FLAG" });
      }
      const bytes = withImageInput(new Uint8Array(readFileSync(file)), {
        mean: parseNumbers(flags.mean, "--mean"),
        std: parseNumbers(flags.std, "--std"),
        inputName: flags.input,
      });
      writeFileSync(flags.out, bytes);
      console.log(`wrote ${flags.out}: input "image" (uint8), sha256 ${hashModel(bytes)}; next: dinfer model check ${flags.out} --tolerance <policy>`);
    });
  model
    .command("byte-output <file>")
    .description(
      "write a model that quantizes <file>'s float output to bytes (uint8) itself, round(y * scale) clipped to 0..255: " +
        "a quarter of the bytes per result; register it with --tolerance allclose:1:0 (one step); offline",
    )
    .requiredOption("-o, --out <file>", "the .onnx file to write (a new model: check and register it as any other)")
    .option("--output <name>", "the float output to quantize (default: the model's only output); the new one is named <name>_uint8")
    .option("--scale <number>", "what a value is multiplied by before rounding (255 maps a probability in [0, 1] onto the bytes)", "255")
    .addHelpText(
      "after",
      `
PaddleOCR det, whose output is a probability per pixel (after model image-input, for bytes both ways):
  dinfer model byte-output det-uint8.onnx -o det-bytes.onnx
  dinfer model check det-bytes.onnx --tolerance allclose:1:0`,
    )
    .action((file: string, flags: { out: string; output?: string; scale: string }) => {
      if (path.resolve(flags.out) === path.resolve(file)) {
        throw new DinferError(`-o ${flags.out} is the model being read; write the new model to another file`, { code: "BAD_FLAG" });
      }
      const scale = Number(flags.scale);
      if (flags.scale.trim() === "" || !(Number.isFinite(scale) && scale > 0)) {
        throw new DinferError(`--scale ${flags.scale}: give a number above 0 (255 maps [0, 1] onto the bytes)`, { code: "BAD_FLAG" });
      }
      const original = new Uint8Array(readFileSync(file));
      const bytes = withByteOutput(original, { outputName: flags.output, scale });
      const before = new Set(readOnnxModel(original).graph.outputs.map(({ name }) => name));
      const made = readOnnxModel(bytes).graph.outputs.find(({ name }) => !before.has(name))!;
      writeFileSync(flags.out, bytes);
      console.log(`wrote ${flags.out}: output "${made.name}" (uint8), sha256 ${hashModel(bytes)}; next: dinfer model check ${flags.out} --tolerance allclose:1:0`);
    });
  model
    .command("register")
    .description("check an .onnx model (as model check does, refusing it on a failure), then register it; its sha256 is computed from the file")
    .requiredOption("--file <path>", "the .onnx file")
    .requiredOption("--uri <uri>", "where providers can fetch the file")
    .requiredOption("--tolerance <policy>", "allclose:<absTol>:<relTol> | argmax:<axis> | exact (frozen)")
    .requiredOption("--collateral <tokens>", "stake a provider locks per job")
    .requiredOption("--price <tokens>", "lowest fee per job")
    .option("--runtime <pin>", "runtime the outputs are pinned to (frozen)", "onnxruntime-node@1.30.0")
    .option("--non-finite-inputs", "opt in to NaN and Inf in float inputs (frozen)")
    .action(async (flags, cmd: Command) => {
      const nonFiniteInputs = flags.nonFiniteInputs === true;
      const report = await admitFile({ file: flags.file, tolerance: flags.tolerance, nonFiniteInputs });
      console.log(formatFindings(report.findings));
      if (!report.admitted) throw new ModelNotAdmittedError({ path: flags.file, failures: report.findings.filter((f) => f.status === "fail") });
      const spec = {
        modelHash: report.modelHash,
        uri: flags.uri,
        runtime: flags.runtime,
        tolerance: parseToleranceFlag(flags.tolerance),
        minCollateral: parseTokens(flags.collateral, "--collateral"),
        priceFloor: parseTokens(flags.price, "--price"),
        nonFiniteInputs,
      };
      const { sender, deployment } = await connect(cmd);
      const { id, hash } = await registerModel({ sender, deployment, spec });
      console.log(`registered model ${id} (sha256 ${spec.modelHash}, tx ${hash})`);
    });
  model
    .command("update <modelId>")
    .description("model owners: change a model's uri, collateral or price floor (what is left out stays); the file, tolerance, runtime and non-finite opt-in are frozen")
    .option("--uri <uri>", "where providers can fetch the file")
    .option("--collateral <tokens>", "stake a provider locks per job, for jobs posted from now on (a lower one from a day on)")
    .option("--price <tokens>", "lowest fee per job")
    .addHelpText(
      "after",
      `
A higher collateral applies to the next post; a lower one waits out the registry's notice (COLLATERAL_NOTICE,
one day), so that a dApp's post already sent keeps the collateral it saw. A new --collateral replaces a
decrease still pending; leaving --collateral out keeps it, with its time.`,
    )
    .action(async (modelId: string, flags, cmd: Command) => {
      const id = parseId(modelId, "modelId");
      if (flags.uri === undefined && flags.collateral === undefined && flags.price === undefined) {
        throw new DinferError("model update: give at least one of --uri, --collateral, --price", { code: "NOTHING_TO_UPDATE" });
      }
      const { sender, deployment, publicClient } = await connect(cmd);
      const registry = { address: deployment.registry, abi: modelRegistryAbi } as const;
      const current = await publicClient.readContract({ ...registry, functionName: "model", args: [id] });
      const [pendingCollateral, pendingAt] = await publicClient.readContract({ ...registry, functionName: "pendingCollateral", args: [id] });
      // Left out, the collateral stays as it is: a pending decrease sent again keeps its time (the collateral in
      // force sent instead would cancel it).
      const unchanged = pendingAt === 0n ? current.minCollateral : pendingCollateral;
      const spec = {
        modelHash: current.modelHash,
        uri: flags.uri ?? current.uri,
        runtime: current.runtime,
        tolerance: current.tolerance,
        minCollateral: flags.collateral === undefined ? unchanged : parseTokens(flags.collateral, "--collateral"),
        priceFloor: flags.price === undefined ? current.priceFloor : parseTokens(flags.price, "--price"),
        nonFiniteInputs: current.nonFiniteInputs,
      };
      const { hash, receipt } = await sender.send({ ...registry, functionName: "update", args: [id, spec] });
      const { minCollateral, lowering } = collateralUpdate(receipt.logs, deployment.registry);
      console.log(`updated model ${id}: uri ${spec.uri}, collateral ${formatTokens(minCollateral)}, price floor ${formatTokens(spec.priceFloor)} (tx ${hash})`);
      if (lowering !== undefined && lowering.effectiveAt !== 0n) {
        console.log(
          `the lower collateral ${formatTokens(lowering.collateral)} takes effect at ${isoTime(lowering.effectiveAt)} (the registry's notice); ` +
            `jobs posted before then carry ${formatTokens(minCollateral)}`,
        );
      } else if (lowering !== undefined) {
        console.log(`the decrease to ${formatTokens(pendingCollateral)} that was pending is cancelled`);
      } else if (pendingAt !== 0n && spec.minCollateral === pendingCollateral && minCollateral !== pendingCollateral) {
        console.log(`the lower collateral ${formatTokens(pendingCollateral)} still takes effect at ${isoTime(pendingAt)}`);
      }
    });
  model
    .command("show <modelId>")
    .description("print a registered model's spec, with the collateral in force and a lower one under notice (pendingCollateral, else null)")
    .action(async (modelId: string, _flags, cmd: Command) => {
      const id = parseId(modelId, "modelId");
      const chain = await connectReadOnly(cmd);
      const registry = { address: chain.deployment.registry, abi: modelRegistryAbi } as const;
      const spec = await chain.publicClient.readContract({ ...registry, functionName: "model", args: [id] });
      const [collateral, effectiveAt] = await chain.publicClient.readContract({ ...registry, functionName: "pendingCollateral", args: [id] });
      const pendingCollateral = effectiveAt === 0n ? null : { collateral, effectiveAt, effectiveTime: isoTime(effectiveAt) };
      console.log(JSON.stringify({ ...spec, pendingCollateral }, bigintJson, 2));
    });
  for (const [name, active] of [["activate", true], ["deactivate", false]] as const) {
    model
      .command(`${name} <modelId>`)
      .description(`model owners: ${active ? "accept" : "refuse"} new jobs for the model (posted jobs are not affected)`)
      .action(async (modelId: string, _flags, cmd: Command) => {
        const id = parseId(modelId, "modelId");
        const { sender, deployment } = await connect(cmd);
        const { hash } = await sender.send({ address: deployment.registry, abi: modelRegistryAbi, functionName: "setActive", args: [id, active] });
        console.log(`model ${modelId} ${active ? "activated" : "deactivated"} (tx ${hash})`);
      });
  }
}

/** Reads an .onnx file and runs every admission check on it (offchain/inference/admission.ts). */
async function admitFile({ file, tolerance, nonFiniteInputs }: { file: string; tolerance?: string; nonFiniteInputs: boolean }) {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (cause) {
    throw new DinferError(`cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { code: "MODEL_READ", cause });
  }
  return checkModelAdmission({ bytes, tolerance: tolerance === undefined ? undefined : parseTolerancePolicy(tolerance), nonFiniteInputs });
}

/** A block time (seconds) as ISO 8601 UTC. */
function isoTime(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

/** A comma-separated list of numbers, or a clear error naming the flag. */
function parseNumbers(text: string, flag: string): number[] {
  const values = text.split(",").map((part) => part.trim());
  const numbers = values.map(Number);
  const bad = values.findIndex((part, i) => part === "" || !Number.isFinite(numbers[i]));
  if (bad !== -1) throw new DinferError(`${flag} ${text}: "${values[bad]}" is not a number; give comma-separated numbers, one per channel`, { code: "BAD_FLAG" });
  return numbers;
}
