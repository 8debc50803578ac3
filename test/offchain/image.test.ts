import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

import sharp from "sharp";

import { tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { NonRetryableError } from "../../offchain/errors.js";
import {
  DET_MEAN_BGR,
  DET_STD_BGR,
  ImageError,
  imageToClsInput,
  imageToDetInput,
  readClsOutput,
  readDetOutput,
  roundHalfEven,
} from "../../offchain/sdk/image.js";
import { renderSampleImages, SAMPLE_IMAGES_DIR } from "../../scripts/make-sample-images.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));

/** A solid-colour PNG. */
async function solid({ width, height, r, g, b }: { width: number; height: number; r: number; g: number; b: number }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} vs ${expected}`);

describe("sdk/image: det preprocessing", () => {
  it("puts channels in BGR order, normalized with PaddleOCR's mean and std", async () => {
    // Pure red: R=1, G=0, B=0. Channel 0 is blue, channel 2 red.
    const { tensor } = await imageToDetInput(await solid({ width: 64, height: 64, r: 255, g: 0, b: 0 }), { size: 64 });
    assert.deepEqual([tensor.name, tensor.dtype, tensor.dims], ["x", "float32", [1, 3, 64, 64]]);
    const values = tensorToArray(tensor);
    const plane = 64 * 64;
    close(values[0]!, (0 - DET_MEAN_BGR[0]) / DET_STD_BGR[0], "blue");
    close(values[plane]!, (0 - DET_MEAN_BGR[1]) / DET_STD_BGR[1], "green");
    close(values[2 * plane]!, (1 - DET_MEAN_BGR[2]) / DET_STD_BGR[2], "red");
    close(values[3 * plane - 1]!, (1 - DET_MEAN_BGR[2]) / DET_STD_BGR[2], "red, last pixel");
  });

  it("square: fits the image in size x size keeping its ratio, padding right and bottom with zeros", async () => {
    const det = await imageToDetInput(`${IMAGES}doc.png`, { size: 640 });
    assert.deepEqual([det.width, det.height, det.resizedWidth, det.resizedHeight], [400, 240, 640, 384]);
    assert.deepEqual(det.tensor.dims, [1, 3, 640, 640]);
    const values = tensorToArray(det.tensor);
    const at = (c: number, y: number, x: number) => values[c * 640 * 640 + y * 640 + x]!;
    close(at(0, 0, 0), (1 - DET_MEAN_BGR[0]) / DET_STD_BGR[0], "white corner");
    for (const [y, x] of [[384, 0], [639, 639], [500, 320]]) {
      for (let c = 0; c < 3; c++) assert.equal(at(c, y!, x!), 0, `padding at ${y},${x}`);
    }
  });

  it("multiple-of-32: PaddleOCR's resize, halves rounded to even as Python does", async () => {
    // 400x240 fits in 640: 400/32 = 12.5 -> 12 (Python rounds half to even), 240/32 = 7.5 -> 8.
    const det = await imageToDetInput(`${IMAGES}doc.png`, { size: 640, pad: "multiple-of-32" });
    assert.deepEqual(det.tensor.dims, [1, 3, 256, 384]);
    const shrunk = await imageToDetInput(await solid({ width: 1000, height: 90, r: 9, g: 9, b: 9 }), { size: 640, pad: "multiple-of-32" });
    assert.deepEqual(shrunk.tensor.dims, [1, 3, 64, 640]); // 90 * 0.64 = 57.6 -> 64
    assert.deepEqual([12.5, 13.5, 7.5, 2.4, 2.6].map(roundHalfEven), [12, 14, 8, 2, 3]);
  });

  it("reads a file path and the same bytes in a Buffer or Uint8Array identically", async () => {
    const bytes = readFileSync(`${IMAGES}doc.png`);
    const fromPath = await imageToDetInput(`${IMAGES}doc.png`, { size: 128 });
    const fromBuffer = await imageToDetInput(bytes, { size: 128 });
    const fromArray = await imageToDetInput(new Uint8Array(bytes), { size: 128, inputName: "image" });
    assert.deepEqual(fromBuffer.tensor, fromPath.tensor);
    assert.deepEqual(fromArray.tensor.data, fromPath.tensor.data);
    assert.equal(fromArray.tensor.name, "image");
  });

  it("refuses undecodable images, missing files and bad sizes with an ImageError naming the problem", async () => {
    const garbage = await rejection(imageToDetInput(Buffer.from("not an image")));
    assert.ok(garbage instanceof ImageError && garbage instanceof NonRetryableError);
    assert.match(garbage.message, /cannot read image \(12 bytes\)/);
    const missing = await rejection(imageToDetInput(`${IMAGES}missing.png`));
    assert.ok(missing instanceof ImageError);
    assert.match(missing.message, /missing\.png/);
    const badSize = await rejection(imageToDetInput(`${IMAGES}doc.png`, { size: 0 }));
    assert.ok(badSize instanceof ImageError);
    assert.match(badSize.message, /size must be an integer/);
  });
});

describe("sdk/image: cls preprocessing", () => {
  it("resizes to height 48 keeping the ratio, normalizes to [-1, 1] and pads the right with zeros", async () => {
    // 60x40 -> 72x48; white maps to 1, the padding (columns 72..191) stays 0.
    const tensor = await imageToClsInput(await solid({ width: 60, height: 40, r: 255, g: 255, b: 255 }));
    assert.deepEqual(tensor.dims, [1, 3, 48, 192]);
    const values = tensorToArray(tensor);
    const at = (c: number, y: number, x: number) => values[c * 48 * 192 + y * 192 + x]!;
    for (const c of [0, 1, 2]) {
      assert.equal(at(c, 0, 0), 1);
      assert.equal(at(c, 47, 71), 1);
      assert.equal(at(c, 47, 72), 0);
      assert.equal(at(c, 20, 191), 0);
    }
  });

  it("stacks several images into one batch, in order, with BGR channels", async () => {
    const red = await solid({ width: 200, height: 48, r: 255, g: 0, b: 0 });
    const blue = await solid({ width: 200, height: 48, r: 0, g: 0, b: 255 });
    const tensor = await imageToClsInput([red, blue]);
    assert.deepEqual(tensor.dims, [2, 3, 48, 192]);
    const values = tensorToArray(tensor);
    const image = 3 * 48 * 192;
    const plane = 48 * 192;
    assert.deepEqual([values[0], values[2 * plane]], [-1, 1]); // red image: B=-1, R=1
    assert.deepEqual([values[image], values[image + 2 * plane]], [1, -1]); // blue image: B=1, R=-1
  });

  it("refuses an empty list", async () => {
    const error = await rejection(imageToClsInput([]));
    assert.ok(error instanceof ImageError);
  });
});

describe("sdk/image: output readers", () => {
  it("reads cls rows as the more probable of 0 and 180", () => {
    const tensor = tensorFromArray({ name: "y", dtype: "float32", values: [0.9, 0.1, 0.2, 0.8], dims: [2, 2] });
    const predictions = readClsOutput(tensor);
    assert.deepEqual(predictions.map((p) => p.label), [0, 180]);
    close(predictions[0]!.probability, 0.9, "row 0");
    close(predictions[1]!.probability, 0.8, "row 1");
    assert.throws(() => readClsOutput(tensorFromArray({ name: "y", dtype: "float32", values: [1, 2, 3], dims: [1, 3] })), ImageError);
  });

  it("summarizes a det probability map, optionally only inside the image region", () => {
    // One 4x4 map with two hot pixels; one of them in the padding (x = 3).
    const values = new Float32Array(16).fill(0.1);
    values[1 * 4 + 1] = 0.9;
    values[2 * 4 + 3] = 0.8;
    const tensor = tensorFromArray({ name: "y", dtype: "float32", values, dims: [1, 1, 4, 4] });
    const [all] = readDetOutput(tensor);
    assert.deepEqual(all!.box, { left: 1, top: 1, right: 3, bottom: 2 });
    close(all!.textFraction, 2 / 16, "fraction");
    close(all!.max, 0.9, "max");
    const [inside] = readDetOutput(tensor, { region: { width: 3, height: 4 } });
    assert.deepEqual(inside!.box, { left: 1, top: 1, right: 1, bottom: 1 });
    assert.equal(inside!.width, 3);
    const [strict] = readDetOutput(tensor, { threshold: 0.95 });
    assert.equal(strict!.box, undefined);
    assert.throws(() => readDetOutput(tensorFromArray({ name: "y", dtype: "float32", values: [1], dims: [1] })), ImageError);
  });
});

describe("scripts/make-sample-images", () => {
  it("renders the committed sample set: small PNGs, the rotated lines being the upright ones turned 180 degrees", async () => {
    const images = await renderSampleImages();
    const names = images.map((image) => image.name).sort();
    assert.deepEqual(names, readdirSync(SAMPLE_IMAGES_DIR).filter((name) => name.endsWith(".png")).sort());
    assert.equal(names.length, 8);
    for (const name of names) assert.ok(statSync(`${SAMPLE_IMAGES_DIR}${name}`).size < 8192, name);
    for (const { name, png } of images.filter((image) => image.name.endsWith("-rot180.png"))) {
      const upright = images.find((image) => image.name === name.replace("-rot180", ""))!;
      const turned = await sharp(upright.png).rotate(180).raw().toBuffer();
      assert.deepEqual(await sharp(png).raw().toBuffer(), turned, name);
      const committed = await sharp(`${SAMPLE_IMAGES_DIR}${name}`).metadata();
      const rendered = await sharp(png).metadata();
      assert.deepEqual([committed.width, committed.height], [rendered.width, rendered.height], name);
    }
  });
});
