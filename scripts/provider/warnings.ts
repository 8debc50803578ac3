// Imported first by every provider script, as bin/dinfer.js does: node:sqlite still prints an
// ExperimentalWarning on Node 22 (the chain code imports it); every other warning is shown as usual.
process.removeAllListeners("warning");
process.on("warning", (warning) => {
  if (warning.name === "ExperimentalWarning" && /SQLite/.test(warning.message)) return;
  console.warn(`${warning.name}: ${warning.message}`);
});
