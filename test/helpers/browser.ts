/**
 * A real headless browser for the page tests: Debian's Chromium driven by playwright-core (the full
 * `playwright` package would download its own browser, which this network forbids). Each launch gets a fresh
 * profile directory, removed on close.
 *
 *   const browser = await launchChromium();
 *   try { await browser.page.goto(url); ... } finally { await browser.close(); }
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.DINFER_CHROMIUM ?? "/usr/bin/chromium";

/** The switches the browser runs with: headless, no sandbox (CI runs as root), nothing that calls home. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export type LaunchedBrowser = { context: BrowserContext; page: Page; close: () => Promise<void> };

/** Launches Chromium; throws a message naming the remedy when it is not installed. */
export async function launchChromium({ viewport = { width: 1400, height: 1000 } }: { viewport?: { width: number; height: number } } = {}): Promise<LaunchedBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: the explorer's browser test needs it. Install it with \`apt-get update && apt-get install -y chromium\` (or set DINFER_CHROMIUM to a Chromium binary)`);
  }
  const profile = mkdtempSync(path.join(tmpdir(), "dinfer-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
