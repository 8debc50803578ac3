/**
 * Image preprocessing for the PaddleOCR models (sharp), and readers for their outputs.
 *
 * Both models were trained on images decoded by OpenCV, so channels are in **BGR** order, and
 * the normalization constants apply in that order (PaddleOCR's `NormalizeImage` applies
 * mean[0] to the first channel of a BGR image, i.e. blue):
 * - det (PP-OCRv4 DBNet): x/255, then (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], NCHW
 *   float32; output `[N, 1, H, W]`, the probability that each pixel is text.
 * - cls (ppocr mobile v2.0 angle classifier): text-line crops resized to height 48 keeping their
 *   ratio (width at most 192), (x/255 - 0.5) / 0.5, zero-padded on the right to 192; output
 *   `[N, 2]` softmax over the labels 0 and 180 degrees.
 * Resizing uses bilinear interpolation, like OpenCV's default. Alpha is flattened onto white.
 *
 * sharp is loaded on the first image read, not with this module: the SDK package (packages/sdk)
 * has it as an optional peer, and a dApp that posts tensors never needs it.
 */
import type { Sharp, SharpOptions } from "sharp";

import { tensorFromArray, tensorToArray, type Tensor } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";

/** A file path or the encoded image bytes (PNG, JPEG, WebP, ...). */
export type ImageSource = string | Buffer | Uint8Array;

export const DET_MEAN_BGR = [0.485, 0.456, 0.406] as const;
export const DET_STD_BGR = [0.229, 0.224, 0.225] as const;
/** The cls model's labels, by output column. */
export const CLS_LABELS = [0, 180] as const;
export type ClsLabel = (typeof CLS_LABELS)[number];

/** An image that cannot be decoded or used, or a model output of the wrong shape. */
export class ImageError extends NonRetryableError {
  override name = "ImageError";
  constructor(message: string, { details, cause }: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { code: "IMAGE", details, cause });
  }
}

export type ImageToDetInputParameters = {
  /** Target side: the image is scaled to fit `size` x `size`. */
  size?: number;
  /**
   * "square": keep the ratio, pad right and bottom to `size` x `size` (fixed input shape).
   * "multiple-of-32": PaddleOCR's own DetResizeForTest (limit_type "max"): shrink so the longer
   * side is at most `size`, then round each side to a multiple of 32 (no padding, slight stretch).
   */
  pad?: "square" | "multiple-of-32";
  /** The model's input name (`session.inputNames[0]`; "x" for the PaddleOCR exports, "image" for `withImageInput`'s). */
  inputName?: string;
};

/**
 * `imageToDetInput`'s `dtype`: "float32" (default): normalized here, for the PaddleOCR export itself.
 * "uint8": the image's bytes, BGR and NCHW like the float tensor, for the det model wrapped by
 * `withImageInput` (offchain/inference/image-input.ts) with DET_MEAN_BGR and DET_STD_BGR, which
 * normalizes them itself: a quarter of the bytes per job. Its padding is the mean colour rounded to
 * bytes (124, 116, 104), which normalizes to within 0.01 of the float input's 0.
 */
export type DetInputDtype = { dtype?: "float32" | "uint8" };

export type ImageToDetInputReturnType<D extends "float32" | "uint8" = "float32"> = {
  tensor: Tensor<D>;
  /** The source image's size. */
  width: number;
  height: number;
  /** The area of the tensor that holds the image (the rest is padding). */
  resizedWidth: number;
  resizedHeight: number;
};

/** Det input `[1, 3, H, W]` from an image, float32 or (`dtype: "uint8"`) its bytes; see the module doc and `pad`. */
export async function imageToDetInput(source: ImageSource, parameters: ImageToDetInputParameters & { dtype: "uint8" }): Promise<ImageToDetInputReturnType<"uint8">>;
export async function imageToDetInput(source: ImageSource, parameters?: ImageToDetInputParameters & { dtype?: "float32" }): Promise<ImageToDetInputReturnType>;
export async function imageToDetInput(
  source: ImageSource,
  parameters?: ImageToDetInputParameters & DetInputDtype,
): Promise<ImageToDetInputReturnType<"float32"> | ImageToDetInputReturnType<"uint8">>;
export async function imageToDetInput(
  source: ImageSource,
  { size = 640, pad = "square", inputName, dtype = "float32" }: ImageToDetInputParameters & DetInputDtype = {},
): Promise<ImageToDetInputReturnType<"float32"> | ImageToDetInputReturnType<"uint8">> {
  checkSide("size", size);
  if (dtype !== "float32" && dtype !== "uint8") throw new ImageError(`dtype ${JSON.stringify(dtype)} is not one of "float32", "uint8"`);
  const { width, height } = await imageSize(source);
  const { resizedWidth, resizedHeight, tensorWidth, tensorHeight } =
    pad === "square" ? fitSquare({ width, height, size }) : fitMultipleOf32({ width, height, size });
  const rgb = await decodeResized(source, resizedWidth, resizedHeight);
  if (dtype === "uint8") {
    const plane = tensorHeight * tensorWidth;
    const bytes = new Uint8Array(3 * plane);
    for (let c = 0; c < 3; c++) bytes.fill(Math.round(DET_MEAN_BGR[c]! * 255), c * plane, (c + 1) * plane);
    for (let y = 0; y < resizedHeight; y++) {
      for (let x = 0; x < resizedWidth; x++) {
        const pixel = (y * resizedWidth + x) * 3;
        const at = y * tensorWidth + x;
        for (let c = 0; c < 3; c++) bytes[c * plane + at] = rgb[pixel + 2 - c]!; // BGR: channel 0 reads the blue byte
      }
    }
    const tensor = tensorFromArray({ name: inputName ?? "image", dtype: "uint8", values: bytes, dims: [1, 3, tensorHeight, tensorWidth] });
    return { tensor, width, height, resizedWidth, resizedHeight };
  }
  const values = new Float32Array(3 * tensorHeight * tensorWidth); // padding stays 0 (the mean colour)
  const plane = tensorHeight * tensorWidth;
  for (let y = 0; y < resizedHeight; y++) {
    for (let x = 0; x < resizedWidth; x++) {
      const pixel = (y * resizedWidth + x) * 3;
      const at = y * tensorWidth + x;
      for (let c = 0; c < 3; c++) {
        const value = rgb[pixel + 2 - c]! / 255; // BGR: channel 0 reads the blue byte
        values[c * plane + at] = (value - DET_MEAN_BGR[c]!) / DET_STD_BGR[c]!;
      }
    }
  }
  const tensor = tensorFromArray({ name: inputName ?? "x", dtype: "float32", values, dims: [1, 3, tensorHeight, tensorWidth] });
  return { tensor, width, height, resizedWidth, resizedHeight };
}

export type ImageToClsInputParameters = {
  inputName?: string;
  /** Model input height and width: 48 x 192 for ppocr cls. */
  height?: number;
  width?: number;
};

/** Cls input `[N, 3, 48, 192]` float32 from one or more text-line images (one row each, in order). */
export async function imageToClsInput(
  sources: ImageSource | readonly ImageSource[],
  { inputName = "x", height = 48, width = 192 }: ImageToClsInputParameters = {},
): Promise<Tensor<"float32">> {
  checkSide("height", height);
  checkSide("width", width);
  const list = Array.isArray(sources) ? (sources as readonly ImageSource[]) : [sources as ImageSource];
  if (list.length === 0) throw new ImageError("no images given");
  const plane = height * width;
  const values = new Float32Array(list.length * 3 * plane);
  for (const [n, source] of list.entries()) {
    const size = await imageSize(source);
    const resizedWidth = Math.min(width, Math.ceil(height * (size.width / size.height)));
    const rgb = await decodeResized(source, resizedWidth, height);
    const offset = n * 3 * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < resizedWidth; x++) {
        const pixel = (y * resizedWidth + x) * 3;
        for (let c = 0; c < 3; c++) values[offset + c * plane + y * width + x] = (rgb[pixel + 2 - c]! / 255 - 0.5) / 0.5;
      }
    }
  }
  return tensorFromArray({ name: inputName, dtype: "float32", values, dims: [list.length, 3, height, width] });
}

export type ClsPrediction = { label: ClsLabel; probability: number };

/** One prediction per row of the cls output `[N, 2]`: the more probable label and its probability. */
export function readClsOutput(tensor: Tensor): ClsPrediction[] {
  if (tensor.dtype !== "float32" || tensor.dims.length !== 2 || tensor.dims[1] !== CLS_LABELS.length) {
    throw new ImageError(`cls output must be float32 [N, 2], got ${tensor.dtype} [${tensor.dims.join(", ")}]`);
  }
  const values = tensorToArray(tensor as Tensor<"float32">);
  return Array.from({ length: tensor.dims[0]! }, (_, n) => {
    const [upright, flipped] = [values[2 * n]!, values[2 * n + 1]!];
    return flipped > upright ? { label: 180, probability: flipped } : { label: 0, probability: upright };
  });
}

export type ReadDetOutputParameters = {
  /** Probability above which a pixel counts as text (PaddleOCR's det_db_thresh: 0.3). */
  threshold?: number;
  /** Only look at the top-left `width` x `height` (the unpadded image area). */
  region?: { width: number; height: number };
  /**
   * For a uint8 map (det wrapped by `withByteOutput`, offchain/inference/byte-output.ts): what a
   * probability was multiplied by before rounding (default 255, that wrapper's default).
   */
  byteScale?: number;
};

export type DetMapStats = {
  width: number;
  height: number;
  max: number;
  mean: number;
  /** Fraction of pixels above the threshold. */
  textFraction: number;
  /** Bounding box of the pixels above the threshold, or undefined when there are none. */
  box?: { left: number; top: number; right: number; bottom: number };
};

/**
 * Statistics of each probability map of the det output `[N, 1, H, W]`: float32, or uint8 from det
 * wrapped by `withByteOutput`, read as byte / `byteScale`.
 */
export function readDetOutput(tensor: Tensor, { threshold = 0.3, region, byteScale = 255 }: ReadDetOutputParameters = {}): DetMapStats[] {
  if ((tensor.dtype !== "float32" && tensor.dtype !== "uint8") || tensor.dims.length !== 4 || tensor.dims[1] !== 1) {
    throw new ImageError(`det output must be float32 or uint8 [N, 1, H, W], got ${tensor.dtype} [${tensor.dims.join(", ")}]`);
  }
  if (!(Number.isFinite(byteScale) && byteScale > 0)) throw new ImageError(`byteScale is ${byteScale}; it must be a finite number above 0 (the scale the byte output was made with)`);
  const [batch, , mapHeight, mapWidth] = tensor.dims as [number, number, number, number];
  const width = Math.min(region?.width ?? mapWidth, mapWidth);
  const height = Math.min(region?.height ?? mapHeight, mapHeight);
  const values = tensor.dtype === "uint8" ? Float64Array.from(tensorToArray(tensor as Tensor<"uint8">), (byte) => byte / byteScale) : tensorToArray(tensor as Tensor<"float32">);
  return Array.from({ length: batch }, (_, n) => mapStats({ values, offset: n * mapWidth * mapHeight, mapWidth, width, height, threshold }));
}

function mapStats({
  values,
  offset,
  mapWidth,
  width,
  height,
  threshold,
}: {
  values: Float32Array | Float64Array;
  offset: number;
  mapWidth: number;
  width: number;
  height: number;
  threshold: number;
}): DetMapStats {
  let max = 0;
  let sum = 0;
  let above = 0;
  let box: DetMapStats["box"];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = values[offset + y * mapWidth + x]!;
      sum += value;
      if (value > max) max = value;
      if (value <= threshold) continue;
      above++;
      box = box === undefined
        ? { left: x, top: y, right: x, bottom: y }
        : { left: Math.min(box.left, x), top: Math.min(box.top, y), right: Math.max(box.right, x), bottom: Math.max(box.bottom, y) };
    }
  }
  const count = width * height;
  return { width, height, max, mean: count === 0 ? 0 : sum / count, textFraction: count === 0 ? 0 : above / count, box };
}

function fitSquare({ width, height, size }: { width: number; height: number; size: number }) {
  const scale = size / Math.max(width, height);
  const resizedWidth = Math.max(1, Math.min(size, Math.round(width * scale)));
  const resizedHeight = Math.max(1, Math.min(size, Math.round(height * scale)));
  return { resizedWidth, resizedHeight, tensorWidth: size, tensorHeight: size };
}

function fitMultipleOf32({ width, height, size }: { width: number; height: number; size: number }) {
  const ratio = Math.min(1, size / Math.max(width, height));
  const round32 = (side: number) => Math.max(32, roundHalfEven((side * ratio) / 32) * 32);
  const [resizedWidth, resizedHeight] = [round32(width), round32(height)];
  return { resizedWidth, resizedHeight, tensorWidth: resizedWidth, tensorHeight: resizedHeight };
}

/** Python 3's `round`, which PaddleOCR's resize uses: halves go to the even neighbour (12.5 -> 12). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

type SharpFactory = (input: string | Buffer, options?: SharpOptions) => Sharp;

let sharpLoaded: Promise<SharpFactory> | undefined;

/** sharp, imported once; its absence is an `ImageError` that says how to install it. */
function loadSharp(): Promise<SharpFactory> {
  sharpLoaded ??= import("sharp").then(
    (module) => module.default as SharpFactory,
    (cause: unknown) => {
      sharpLoaded = undefined;
      throw new ImageError("reading images needs sharp, which is not installed: `npm install sharp@0.34.5` (or post tensors: { tensors } or { blob })", { cause });
    },
  );
  return sharpLoaded;
}

/** The stored pixel size of the image (EXIF orientation is not applied). */
async function imageSize(source: ImageSource): Promise<{ width: number; height: number }> {
  const sharp = await loadSharp();
  try {
    const { width, height } = await sharp(toSharpInput(source)).metadata();
    if (!width || !height) throw new Error("no dimensions");
    return { width, height };
  } catch (cause) {
    throw new ImageError(`cannot read image ${describe(source)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Raw 8-bit RGB, exactly `width` x `height`, alpha flattened onto white. */
async function decodeResized(source: ImageSource, width: number, height: number): Promise<Uint8Array> {
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(toSharpInput(source))
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .resize(width, height, { fit: "fill", kernel: "linear" })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== width || info.height !== height) {
      throw new Error(`decoded ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (cause) {
    throw new ImageError(`cannot decode image ${describe(source)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function toSharpInput(source: ImageSource): string | Buffer {
  if (typeof source === "string") return source;
  if (Buffer.isBuffer(source)) return source;
  if (source instanceof Uint8Array) return Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  throw new ImageError("image must be a file path, a Buffer or a Uint8Array");
}

function describe(source: ImageSource): string {
  return typeof source === "string" ? source : `(${source.length} bytes)`;
}

function checkSide(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 8192) {
    throw new ImageError(`${name} must be an integer from 1 to 8192, got ${value}`);
  }
}
