/**
 * `dinfer tensor encode|decode|show`: tensor blobs (DTN1, docs/PROTOCOL.md section 5) for people.
 *
 *   dinfer tensor encode x.json -o input.dtn          JSON { name: { dtype, dims, data } | nested array }
 *   dinfer tensor encode x=a.npy mask=b.npy -o in.dtn  NumPy .npy files, each under a name
 *   dinfer tensor encode --image cls line.png -o in.dtn  an image as the PaddleOCR cls (or det) input
 *   dinfer tensor decode out.dtn [-o out.json]         every tensor as JSON
 *   dinfer tensor show in.dtn                          names, dtypes, dims and the first values
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { Command, Option } from "commander";

import { readNpy } from "../../codec/npy.js";
import { elementsOf, tensorsFromJson, tensorsToJson } from "../../codec/tensor-json.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, isDType, type DType, type Tensor } from "../../codec/tensor.js";
import { CodecError, DinferError } from "../../errors.js";
import { imageToClsInput, imageToDetInput } from "../../sdk/image.js";

export function addTensorCommands(program: Command): void {
  const tensor = program.command("tensor").description("tensor blobs (DTN1), the format of every job's input and output: build, read, inspect");
  tensor
    .command("encode <inputs...>")
    .description("build a tensor blob from JSON files, name=file.npy arrays, or images (--image)")
    .requiredOption("-o, --out <file>", "the blob file to write")
    .option("--dtype <dtype>", "dtype of bare nested JSON arrays", "float32")
    .addOption(
      new Option("--image <kind>", "the inputs are images, turned into the PaddleOCR det or cls model's input (det-uint8: its bytes, for det made by model image-input)").choices(
        IMAGE_KINDS,
      ),
    )
    .addHelpText(
      "after",
      `
Inputs:
  file.json         { "x": { "dtype": "float32", "dims": [1, 4], "data": [1, 2, 3, 4] }, "y": [[1, 2]] }
  name=file.json    one tensor: { "dtype", "dims", "data" } or a nested array
  name=file.npy     a NumPy array (np.save); file.npy alone is named after the file`,
    )
    .action(async (inputs: string[], flags: { out: string; dtype: string; image?: ImageKind }) => {
      if (!isDType(flags.dtype)) throw new DinferError(`--dtype ${flags.dtype}: not a dtype (float16, float32, float64, int8, uint8, int32, int64, bool)`, { code: "BAD_DTYPE" });
      const tensors = flags.image ? [await imageTensor(inputs, flags.image)] : inputs.flatMap((input) => readTensors(input, flags.dtype as DType));
      const blob = encodeTensorBlob(tensors);
      writeFileSync(flags.out, blob);
      console.log(`wrote ${flags.out}: ${blob.length} bytes, blob id ${blobId(blob)}`);
      for (const t of decodeTensorBlob(blob)) console.log(`  ${describeTensor(t)}`);
    });
  tensor
    .command("decode <blob>")
    .description("print a tensor blob as JSON ({ name: { dtype, dims, data } }, what encode reads back)")
    .option("-o, --out <file>", "write the JSON here instead")
    .action((file: string, flags: { out?: string }) => {
      const json = JSON.stringify(tensorsToJson(readBlob(file)));
      if (flags.out) {
        writeFileSync(flags.out, `${json}\n`);
        console.log(`wrote ${flags.out}`);
      } else console.log(json);
    });
  tensor
    .command("show <blob>")
    .description("list a tensor blob's tensors: names, dtypes, dims and the first values")
    .option("--values <n>", "values shown per tensor", "8")
    .action((file: string, flags: { values: string }) => {
      const bytes = readBytes(file);
      const tensors = readBlob(file, bytes);
      console.log(`${file}: DTN1 blob, ${tensors.length} tensor${tensors.length === 1 ? "" : "s"}, ${bytes.length} bytes, blob id ${blobId(bytes)}`);
      for (const t of tensors) console.log(`  ${describeTensor(t, Number(flags.values))}`);
    });
}

/** "x float32[1, 4] (16 bytes): 1, 2, 3, 4": a tensor in one line, with up to `values` of its elements. */
export function describeTensor(tensor: Tensor, values = 8): string {
  const count = tensor.dims.reduce((product, dim) => product * dim, 1);
  const shown = elementsOf(tensor, values);
  const more = count > shown.length ? `, ... (${count} values)` : "";
  return `${tensor.name} ${tensor.dtype}[${tensor.dims.join(", ")}] (${tensor.data.length} bytes)${shown.length > 0 ? `: ${shown.join(", ")}${more}` : ""}`;
}

function readTensors(input: string, dtype: DType): Tensor[] {
  const eq = input.indexOf("=");
  const [name, file] = eq > 0 ? [input.slice(0, eq), input.slice(eq + 1)] : [undefined, input];
  const bytes = readBytes(file);
  if (file.toLowerCase().endsWith(".npy")) return [readNpy({ bytes, name: name ?? path.basename(file, path.extname(file)), source: file })];
  if (!file.toLowerCase().endsWith(".json")) {
    throw new DinferError(`${file}: give a .json or .npy file (or images with --image det|det-uint8|cls)`, { code: "BAD_TENSOR_INPUT" });
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (cause) {
    throw new CodecError({ field: file, problem: `not JSON: ${cause instanceof Error ? cause.message : String(cause)}` });
  }
  return tensorsFromJson({ json: name === undefined ? json : { [name]: json }, defaultDtype: dtype, source: file });
}

/** `--image`'s kinds: the PaddleOCR det input (float32, or the image's bytes for det wrapped by `model image-input`), cls. */
export const IMAGE_KINDS: readonly ImageKind[] = ["det", "det-uint8", "cls"];
export type ImageKind = "det" | "det-uint8" | "cls";

/** The model input for images of `kind`. */
export async function imageTensor(files: string[], kind: ImageKind): Promise<Tensor> {
  if (kind === "det" || kind === "det-uint8") {
    if (files.length !== 1) throw new DinferError(`--image ${kind} takes one image`, { code: "BAD_TENSOR_INPUT" });
    return (await imageToDetInput(files[0]!, { dtype: kind === "det" ? "float32" : "uint8" })).tensor;
  }
  return imageToClsInput(files);
}

function readBlob(file: string, bytes = readBytes(file)): Tensor[] {
  try {
    return decodeTensorBlob(bytes);
  } catch (cause) {
    const problem = cause instanceof Error ? cause.message : String(cause);
    throw new DinferError(`${file} is not a DTN1 tensor blob (${problem}): build one with \`dinfer tensor encode\``, { code: "NOT_A_BLOB", cause });
  }
}

function readBytes(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (cause) {
    throw new DinferError(`cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { code: "READ_FAILED", cause });
  }
}
