/**
 * The devnet's exit hook (offchain/devnet/node.ts `atProcessExit`): a process that starts many chain
 * nodes and daemons cleans up every one still running when it exits, through one `exit` listener.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { describe, it } from "mocha";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NODE_TS = pathToFileURL(path.join(ROOT, "offchain/devnet/node.ts")).href;

describe("devnet: cleanups at process exit (atProcessExit)", () => {
  it("runs every cleanup not forgotten when the process exits, with one exit listener for twenty, and none once all are forgotten", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-exit-"));
    try {
      const script = path.join(dir, "exit.ts");
      writeFileSync(
        script,
        `import { atProcessExit } from ${JSON.stringify(NODE_TS)};
process.on("warning", (w) => process.stdout.write("warning " + w.name + "\\n"));
const forget = [];
for (let i = 0; i < 20; i++) forget.push(atProcessExit(() => process.stdout.write("cleaned " + i + "\\n")));
process.stdout.write("listeners " + process.listenerCount("exit") + "\\n");
for (const i of [0, 3, 19]) forget[i]();
forget[3](); // twice: no effect
const alone = atProcessExit(() => process.stdout.write("never\\n"));
alone();
process.stdout.write("listeners " + process.listenerCount("exit") + "\\n");
`,
      );
      const child = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
      assert.equal(child.status, 0, child.stderr);
      const lines = child.stdout.trim().split("\n");
      assert.deepEqual(lines.slice(0, 2), ["listeners 1", "listeners 1"]);
      const cleaned = lines.slice(2);
      const expected = [...Array(20).keys()].filter((i) => ![0, 3, 19].includes(i)).map((i) => `cleaned ${i}`);
      assert.deepEqual(cleaned, expected, "every cleanup still registered ran once, in order; no warning");

      const none = path.join(dir, "none.ts");
      writeFileSync(
        none,
        `import { atProcessExit } from ${JSON.stringify(NODE_TS)};
const base = process.listenerCount("exit");
const forget = [atProcessExit(() => {}), atProcessExit(() => {})];
forget.forEach((f) => f());
process.stdout.write(String(process.listenerCount("exit") - base));
`,
      );
      const second = spawnSync(process.execPath, ["--import", "tsx", none], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
      assert.equal(second.status, 0, second.stderr);
      assert.equal(second.stdout, "0", "the listener goes with the last cleanup");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
