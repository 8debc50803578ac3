/** What every `dinfer` command reads the same way: the global chain flags and `--model id=path` specs. */
import type { Command } from "commander";

import { DEVNET_CHAIN_ID } from "../devnet/chain-spec.js";

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

/** The daemons' IPFS flags, as commander parses them. */
export type IpfsFlags = { ipfs?: boolean; ipfsListen?: string[]; ipfsPeer?: string[] };

/**
 * `--ipfs`, `--ipfs-listen <multiaddr...>`, `--ipfs-peer <multiaddr...>` as the daemons' `ipfs` option (any of
 * them turns the node on; the schema fills the rest). Undefined when none is given: the config file's `ipfs`
 * applies then, and is replaced whole when one is.
 */
export function ipfsOption({ ipfs, ipfsListen, ipfsPeer }: IpfsFlags): { listen?: string[]; peers?: string[] } | undefined {
  if (!ipfs && ipfsListen === undefined && ipfsPeer === undefined) return undefined;
  return { ...(ipfsListen ? { listen: ipfsListen } : {}), ...(ipfsPeer ? { peers: ipfsPeer } : {}) };
}

/** The help of the daemons' IPFS flags (`dinfer worker`, `dinfer verifier`). */
export const IPFS_FLAGS = {
  ipfs: "run an IPFS node (Helia, repository under <data-dir>/ipfs): read ipfs:// blobs through it, pin what the jobs need (a worker publishes its outputs there)",
  listen: "addresses the IPFS node listens on (default /ip4/127.0.0.1/tcp/0)",
  peer: "IPFS peers to dial: posters', providers', verifiers' nodes (there is no DHT or bootstrap list)",
} as const;

/** The flags `dinfer worker` and `dinfer verifier` share, as commander parses them. */
export type DaemonFlags = IpfsFlags & {
  model?: string[];
  ep?: string;
  dataDir?: string;
  port?: string;
  publicUrl?: string;
  metricsPort?: string;
  allowFileUris?: boolean;
  allowPrivateHosts?: boolean;
  gpuDevices?: string;
};

/** The options the shared daemon flags set (undefined where a flag is not given: the environment or file decides). */
export function daemonFlagOptions(flags: DaemonFlags) {
  return {
    models: modelSpecs(flags.model),
    ep: flags.ep,
    dataDir: flags.dataDir,
    port: flags.port,
    publicUrl: flags.publicUrl,
    metricsPort: flags.metricsPort,
    allowFileUris: flags.allowFileUris,
    allowPrivateHosts: flags.allowPrivateHosts,
    gpuDevices: flags.gpuDevices,
    ipfs: ipfsOption(flags),
  };
}

/**
 * The help of `--allow-private-hosts` (`dinfer worker`, `dinfer verifier`, `dinfer audit`, and `dinfer job post|get|status`,
 * which read outputs through the SDK; DINFER_ALLOW_PRIVATE_HOSTS).
 */
export const ALLOW_PRIVATE_HOSTS_FLAG = `read inputs, outputs and model files others chose on loopback, private and link-local hosts (127.0.0.1, 10.x, 192.168.x, 169.254.x, ::1...); on by default on a devnet (chain id ${DEVNET_CHAIN_ID}), off otherwise: whoever chose them must not make this machine request its own network`;

/** The help of the daemons' `--gpu-devices` flag (`dinfer worker`, `dinfer verifier`; DINFER_GPU_DEVICES). */
export const GPU_DEVICES_FLAG = "GPU device indices, comma-separated (e.g. 0,1): one inference thread per device (cuda; webgpu cannot be pinned to a device)";

/** `--model <id>=<path>` specs as `{ modelId, path }` (the path may itself contain "="). */
export function modelSpecs(specs: string[] | undefined): { modelId: string | undefined; path: string }[] | undefined {
  return specs?.map((spec) => {
    const [modelId, ...rest] = spec.split("=");
    return { modelId, path: rest.join("=") };
  });
}
