#!/usr/bin/env node
// The dinfer CLI. The sources are TypeScript, run through tsx's loader.
import { register } from "tsx/esm/api";

// node:sqlite still prints an ExperimentalWarning on Node 22; everything else is shown as usual.
process.removeAllListeners("warning");
process.on("warning", (warning) => {
  if (warning.name === "ExperimentalWarning" && /SQLite/.test(warning.message)) return;
  console.warn(`${warning.name}: ${warning.message}`);
});
register();
const { main } = await import("../offchain/cli/main.ts");
await main();
