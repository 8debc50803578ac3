/**
 * Builds `@dinfer/sdk` (`npm run build:sdk`): compiles offchain/sdk/index.ts and exactly the modules
 * it imports into packages/sdk/dist (JavaScript and .d.ts), the contracts' ABIs included (compiled from
 * offchain/chain/abis.ts, nothing read at run time), then checks what the compiled code imports:
 * only the package's own dependencies (viem), its optional peer (sharp) and Node's built-ins,
 * and no daemon, CLI, onnxruntime or logger module. The versions it depends on must be the root
 * package's, so the package runs what the repository's tests ran.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(PACKAGE_DIR, "../..");
export const DIST = path.join(PACKAGE_DIR, "dist");
export const ENTRY = path.join(DIST, "sdk", "index.js");
/** Folders of offchain/ that a dApp's package must never carry. */
const FORBIDDEN_FOLDERS = ["cli", "daemon", "devnet", "provider", "verifier", "threads", "state", "config"];
const FORBIDDEN_MODULES = ["log.js", "inference/session.js", "inference/runner.js", "inference/worker.js", "storage/server.js"];

type PackageJson = {
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};

export type ImportGraph = {
  /** The compiled modules reached from the entry, relative to dist/. */
  modules: string[];
  /** Every bare specifier imported (static or dynamic), with the first module importing it. */
  external: Map<string, string>;
  /** Every bare specifier the declarations (.d.ts) name, with the first file naming it: a consumer's tsc resolves these. */
  typeExternal: Map<string, string>;
};

const IMPORT_PATTERN = /^\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"|\bimport\("([^"]+)"\)/gm;

/** Compiles, checks the result; throws naming the first problem. */
export function buildSdk(): ImportGraph {
  rmSync(DIST, { recursive: true, force: true });
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", path.join(PACKAGE_DIR, "tsconfig.json")], { stdio: "inherit" });
  checkVersions();
  const graph = importGraph();
  checkGraph(graph);
  return graph;
}

/** The package's dependencies must be pinned to the root's versions. */
function checkVersions(): void {
  const root = readJson(path.join(ROOT, "package.json"));
  const sdk = readJson(path.join(PACKAGE_DIR, "package.json"));
  if (sdk.version !== root.version) throw new Error(`packages/sdk/package.json version ${sdk.version} is not the root's ${root.version}`);
  const pinned = { ...root.devDependencies, ...root.dependencies };
  for (const [name, version] of Object.entries({ ...sdk.dependencies, ...sdk.peerDependencies })) {
    if (pinned[name] !== version) throw new Error(`packages/sdk depends on ${name}@${version}; the root pins ${pinned[name] ?? "nothing"}`);
  }
}

/** Follows the compiled entry's relative imports (static and dynamic) through dist/. */
export function importGraph(entry = ENTRY): ImportGraph {
  const modules = new Set<string>();
  const external = new Map<string, string>();
  const visit = (file: string) => {
    const relative = path.relative(DIST, file);
    if (modules.has(relative)) return;
    if (!existsSync(file)) throw new Error(`${relative} is imported but was not compiled`);
    modules.add(relative);
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(IMPORT_PATTERN)) {
      const specifier = (match[1] ?? match[2] ?? match[3])!;
      if (specifier.startsWith(".")) visit(path.resolve(path.dirname(file), specifier));
      else if (!external.has(specifier)) external.set(specifier, relative);
    }
  };
  visit(entry);
  const typeExternal = new Map<string, string>();
  for (const file of readdirSync(DIST, { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".d.ts")).sort()) {
    for (const match of readFileSync(path.join(DIST, file), "utf8").matchAll(IMPORT_PATTERN)) {
      const specifier = (match[1] ?? match[2] ?? match[3])!;
      if (!specifier.startsWith(".") && !typeExternal.has(specifier)) typeExternal.set(specifier, file);
    }
  }
  return { modules: [...modules].sort(), external, typeExternal };
}

function checkGraph({ modules, external, typeExternal }: ImportGraph): void {
  const sdk = readJson(path.join(PACKAGE_DIR, "package.json"));
  const allowed = new Set([...Object.keys(sdk.dependencies ?? {}), ...Object.keys(sdk.peerDependencies ?? {})]);
  for (const [specifier, importer] of [...external, ...typeExternal]) {
    if (specifier.startsWith("node:")) continue;
    const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!;
    if (!allowed.has(name)) throw new Error(`dist/${importer} imports ${specifier}, which @dinfer/sdk does not depend on`);
  }
  for (const module of modules) {
    const posix = module.split(path.sep).join("/");
    if (FORBIDDEN_FOLDERS.includes(posix.split("/")[0]!) || FORBIDDEN_MODULES.includes(posix)) {
      throw new Error(`the SDK's import graph reaches offchain/${posix.replace(/\.js$/, ".ts")}, which a dApp's package must not carry`);
    }
  }
}

function readJson(file: string): PackageJson {
  return JSON.parse(readFileSync(file, "utf8")) as PackageJson;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { modules, external } = buildSdk();
    console.log(`@dinfer/sdk built: ${modules.length} modules in packages/sdk/dist, importing ${[...external.keys()].sort().join(", ")}`);
  } catch (error) {
    console.error(`build:sdk failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
