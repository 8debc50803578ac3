/** What every `dinfer` command reads the same way: the global chain flags and `--model id=path` specs. */
import type { Command } from "commander";

type GlobalFlags = {
  config?: string;
  rpcUrl?: string;
  deploymentsDir?: string;
  keyEnv?: string;
  keystoreKey?: string;
  keystoreDev?: boolean;
};

/** The config file (--config or DINFER_CONFIG) and the chain flags given on the command line. */
export function chainFlags(cmd: Command) {
  const g = cmd.optsWithGlobals<GlobalFlags>();
  return {
    file: g.config ?? process.env.DINFER_CONFIG,
    flags: { rpcUrl: g.rpcUrl, deploymentsDir: g.deploymentsDir, keyEnv: g.keyEnv, keystoreKey: g.keystoreKey, keystoreDev: g.keystoreDev },
  };
}

/** `--model <id>=<path>` specs as `{ modelId, path }` (the path may itself contain "="). */
export function modelSpecs(specs: string[] | undefined): { modelId: string | undefined; path: string }[] | undefined {
  return specs?.map((spec) => {
    const [modelId, ...rest] = spec.split("=");
    return { modelId, path: rest.join("=") };
  });
}
