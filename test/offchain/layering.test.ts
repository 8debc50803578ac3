/**
 * The layering the architecture rests on, checked on every import (as Ponder checks its packages'):
 *
 *   - the verifier (offchain/verifier) never imports the worker (offchain/provider): they share
 *     offchain/daemon, offchain/protocol, offchain/chain, never each other;
 *   - nothing but bin/ and the CLI itself imports the CLI (offchain/cli): the scripts, the daemons and the
 *     SDK take what they share with it from offchain/ui, offchain/config and the rest;
 *   - the SDK (offchain/sdk) never imports a daemon (offchain/provider, verifier, daemon, devnet) or the
 *     CLI, directly or through any module it imports: a dApp installs the SDK without them.
 *
 * Imports are read with the TypeScript compiler's parser, not a regular expression, so `import type`,
 * `export ... from`, dynamic `import()`, `import x = require()` and `import("...").Type` all count.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, it } from "mocha";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The folders whose files are checked (tests may import anything). */
const CHECKED = ["offchain", "scripts", "bin"];
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

type ImportKind = "import" | "export from" | "dynamic import" | "import require" | "import type node";

/** One import of one file: what it names, where, and which syntax. */
type ImportEdge = { file: string; line: number; kind: ImportKind; specifier: string };

/** Every import of a source file's text, of every syntax. A dynamic import of a computed name is reported with specifier "<computed>". */
function importsOf(file: string, text: string): ImportEdge[] {
  const kind = /\.(js|mjs|cjs)$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const edges: ImportEdge[] = [];
  const add = (node: ts.Node, kind: ImportKind, specifier: ts.Node | undefined) => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const name = specifier !== undefined && ts.isStringLiteralLike(specifier) ? specifier.text : "<computed>";
    edges.push({ file, line, kind, specifier: name });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, "import", node.moduleSpecifier);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) add(node, "export from", node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, "import require", node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, "dynamic import", node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, "import type node", node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** A relative specifier as a path from the repository root ("offchain/provider/worker.js"); undefined for a package. */
function target(edge: ImportEdge): string | undefined {
  if (!edge.specifier.startsWith(".")) return undefined;
  return path.posix.normalize(path.posix.join(path.posix.dirname(edge.file), edge.specifier));
}

const under = (file: string, folders: readonly string[]) => folders.some((folder) => file.startsWith(`${folder}/`));

type Rule = { name: string; from: (file: string) => boolean; forbidden: readonly string[] };

const RULES: readonly Rule[] = [
  { name: "the verifier never imports the worker", from: (f) => under(f, ["offchain/verifier"]), forbidden: ["offchain/provider"] },
  { name: "nothing but bin/ and the CLI imports the CLI", from: (f) => !under(f, ["bin", "offchain/cli"]), forbidden: ["offchain/cli"] },
  {
    name: "the SDK never imports a daemon or the CLI",
    from: (f) => under(f, ["offchain/sdk"]),
    forbidden: ["offchain/provider", "offchain/verifier", "offchain/daemon", "offchain/devnet", "offchain/cli"],
  },
];

/** Why a dynamic import of a computed name is a violation: no rule can be checked on it. */
const UNCHECKABLE = "an import the layering cannot check: name the module";

/** "offchain/verifier/audit.ts:12: import \"../provider/account.js\" (the verifier never imports the worker)" for each import that breaks a rule. */
function violations(edges: readonly ImportEdge[], rules: readonly Rule[] = RULES): string[] {
  const found: string[] = [];
  for (const edge of edges) {
    const to = target(edge);
    if (edge.specifier === "<computed>") found.push(`${edge.file}:${edge.line}: ${edge.kind} of a computed name (${UNCHECKABLE})`);
    for (const rule of rules) {
      if (to !== undefined && rule.from(edge.file) && under(to, rule.forbidden)) {
        found.push(`${edge.file}:${edge.line}: ${edge.kind} "${edge.specifier}" (${rule.name})`);
      }
    }
  }
  return found;
}

/**
 * The chains by which files under `from` reach a file under `forbidden` through relative imports: each as
 * "offchain/sdk/a.ts -> offchain/chain/b.ts -> offchain/provider/c.ts".
 */
function reachable(edges: readonly ImportEdge[], from: readonly string[], forbidden: readonly string[]): string[] {
  const next = new Map<string, string[]>();
  for (const edge of edges) {
    const to = target(edge);
    if (to === undefined) continue;
    const file = to.replace(/\.(js|mjs|cjs)$/, ".ts");
    next.set(edge.file, [...(next.get(edge.file) ?? []), file]);
  }
  const chains: string[] = [];
  for (const start of next.keys()) {
    if (!under(start, from)) continue;
    const seen = new Set([start]);
    const queue: string[][] = [[start]];
    while (queue.length > 0) {
      const chain = queue.shift()!;
      for (const file of next.get(chain.at(-1)!) ?? []) {
        if (seen.has(file)) continue;
        seen.add(file);
        if (under(file, forbidden)) chains.push([...chain, file].join(" -> "));
        else queue.push([...chain, file]);
      }
    }
  }
  return chains;
}

function repositoryImports(): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const folder of CHECKED) {
    for (const entry of readdirSync(path.join(ROOT, folder), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !SOURCE.test(entry.name) || entry.name.endsWith(".d.ts")) continue;
      const full = path.join(entry.parentPath, entry.name);
      const file = path.relative(ROOT, full).split(path.sep).join("/");
      edges.push(...importsOf(file, readFileSync(full, "utf8")));
    }
  }
  return edges;
}

describe("layering (imports between offchain modules)", () => {
  const edges = repositoryImports();
  const broken = (ruleName: string) => violations(edges).filter((v) => v.endsWith(`(${ruleName})`));

  it("reads every import syntax: import, import type, export from, dynamic import(), import = require(), import(\"...\") types", () => {
    const text = [
      `import { a } from "./a.js";`,
      `import type { B } from "./b.js";`,
      `export { c } from "./c.js";`,
      `export * from "./d.js";`,
      `const e = await import("./e.js");`,
      `import f = require("./f.js");`,
      `let g: import("./g.js").G;`,
      `const h = await import(name);`,
      `// import { fake } from "./comment.js";`,
      "const text = `import { fake } from \"./template.js\"`;",
    ].join("\n");
    const found = importsOf("offchain/x/y.ts", text).map(({ line, kind, specifier }) => `${line} ${kind} ${specifier}`);
    assert.deepEqual(found, [
      "1 import ./a.js",
      "2 import ./b.js",
      "3 export from ./c.js",
      "4 export from ./d.js",
      "5 dynamic import ./e.js",
      "6 import require ./f.js",
      "7 import type node ./g.js",
      "8 dynamic import <computed>",
    ]);
  });

  it("reports each violation with its file, line and import, and none for allowed ones", () => {
    const files: Record<string, string> = {
      "offchain/verifier/x.ts": `import { stake } from "../chain/format.js";\nimport type { W } from "../provider/worker.js";`,
      "offchain/sdk/y.ts": `export * from "../verifier/judge.js";\nexport { z } from "../storage/output.js";`,
      "scripts/provider/z.ts": `const { main } = await import("../../offchain/cli/main.js");`,
      "offchain/provider/w.ts": `import { formatCliError } from "../cli/messages.js";`,
      "offchain/cli/commands/v.ts": `import { connect } from "../context.js";`,
      "bin/dinfer.js": `const { main } = await import("../offchain/cli/main.ts");`,
      "offchain/chain/u.ts": `const m = await import(name);`,
    };
    const edges = Object.entries(files).flatMap(([file, text]) => importsOf(file, text));
    assert.deepEqual(violations(edges), [
      `offchain/verifier/x.ts:2: import "../provider/worker.js" (the verifier never imports the worker)`,
      `offchain/sdk/y.ts:1: export from "../verifier/judge.js" (the SDK never imports a daemon or the CLI)`,
      `scripts/provider/z.ts:1: dynamic import "../../offchain/cli/main.js" (nothing but bin/ and the CLI imports the CLI)`,
      `offchain/provider/w.ts:1: import "../cli/messages.js" (nothing but bin/ and the CLI imports the CLI)`,
      `offchain/chain/u.ts:1: dynamic import of a computed name (${UNCHECKABLE})`,
    ]);
    const chain = { "offchain/sdk/a.ts": `import "../chain/b.js";`, "offchain/chain/b.ts": `import "../daemon/c.js";` };
    const chainEdges = Object.entries(chain).flatMap(([file, text]) => importsOf(file, text));
    assert.deepEqual(reachable(chainEdges, ["offchain/sdk"], ["offchain/daemon"]), ["offchain/sdk/a.ts -> offchain/chain/b.ts -> offchain/daemon/c.ts"]);
  });

  it("reads the imports of the repository's own files (the checks below are not vacuous)", () => {
    assert.ok(edges.some((e) => e.file === "bin/dinfer.js" && e.kind === "dynamic import" && e.specifier === "../offchain/cli/main.ts"));
    assert.ok(edges.some((e) => e.file.startsWith("offchain/verifier/")) && edges.some((e) => e.file.startsWith("offchain/sdk/")) && edges.some((e) => e.file.startsWith("scripts/")));
    assert.deepEqual(broken(UNCHECKABLE), [], "every import names its module");
  });

  it("the verifier never imports the worker (offchain/provider)", () => {
    assert.deepEqual(broken(RULES[0]!.name), []);
  });

  it("nothing but bin/ and offchain/cli imports the CLI", () => {
    assert.deepEqual(broken(RULES[1]!.name), []);
  });

  it("the SDK never imports a daemon or the CLI, directly or through the modules it imports", () => {
    assert.deepEqual(broken(RULES[2]!.name), []);
    assert.deepEqual(reachable(edges, ["offchain/sdk"], RULES[2]!.forbidden), []);
  });
});
