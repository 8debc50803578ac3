/**
 * Renders the sample images of test/fixtures/images/ (a few KB each): black text on white, drawn
 * by sharp from SVG with the machine's fonts (DejaVu Sans here; another font renders slightly
 * different pixels, so the committed PNGs, not this script's output, are what tests read).
 *
 * - doc.png: a small document, four lines of text, for the det model;
 * - blank.png: the same size with no text, the det model's negative case;
 * - line-N.png: single text lines, upright, for the cls model;
 * - line-N-rot180.png: the same lines turned 180 degrees, which cls should label 180.
 *
 *   npx tsx scripts/make-sample-images.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import sharp from "sharp";

export const SAMPLE_IMAGES_DIR: string = fileURLToPath(new URL("../test/fixtures/images/", import.meta.url));

export const SAMPLE_LINES: readonly string[] = ["Invoice 4821: total 93.50 EUR", "Decentralized GPU inference", "The quick brown fox jumps"];
export const DOC_LINES: readonly string[] = ["Shipping note 2026-11-26", "Order 77 / 3 parcels", "Deliver to: 12 Rue Verte", "Signed: A. Martin"];

const FONT = "DejaVu Sans";

export type SampleImage = { name: string; png: Buffer };

/** Every sample image, rendered in memory. */
export async function renderSampleImages(): Promise<SampleImage[]> {
  const images: SampleImage[] = [
    { name: "doc.png", png: await renderText({ lines: DOC_LINES, width: 400, height: 240, fontSize: 24 }) },
    { name: "blank.png", png: await renderText({ lines: [], width: 400, height: 240, fontSize: 24 }) },
  ];
  for (const [i, line] of SAMPLE_LINES.entries()) {
    const png = await renderText({ lines: [line], width: 12 + line.length * 12, height: 40, fontSize: 22 });
    images.push({ name: `line-${i + 1}.png`, png });
    images.push({ name: `line-${i + 1}-rot180.png`, png: await sharp(png).rotate(180).png(PNG_OPTIONS).toBuffer() });
  }
  return images;
}

const PNG_OPTIONS = { compressionLevel: 9, palette: true, colours: 16 } as const;

type RenderTextParameters = { lines: readonly string[]; width: number; height: number; fontSize: number };

/** Black text lines on white, left-aligned, as a small palette PNG. */
async function renderText({ lines, width, height, fontSize }: RenderTextParameters): Promise<Buffer> {
  const lineHeight = Math.round(fontSize * 1.6);
  const top = Math.round((height - lineHeight * lines.length) / 2 + fontSize);
  const text = lines
    .map((line, i) => `<text x="8" y="${top + i * lineHeight}" font-family="${FONT}" font-size="${fontSize}" fill="#000">${escapeXml(line)}</text>`)
    .join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#fff"/>${text}</svg>`;
  return sharp(Buffer.from(svg)).flatten({ background: "#ffffff" }).png(PNG_OPTIONS).toBuffer();
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

async function main(): Promise<void> {
  mkdirSync(SAMPLE_IMAGES_DIR, { recursive: true });
  for (const { name, png } of await renderSampleImages()) {
    writeFileSync(join(SAMPLE_IMAGES_DIR, name), png);
    console.log(`${name}\t${png.length} bytes`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
