/**
 * The chain side every command needs (the daemons' starts, and the CLI's and scripts' one-shot
 * commands): chain id, the deployment's addresses, viem clients, and a wallet when keyed. The
 * deployment must speak this code's protocol version (offchain/chain/protocol-version.ts).
 */
import { createChainClients, readChainId } from "../chain/clients.js";
import { loadDeployment, type Deployment } from "../chain/deployment.js";
import { assertProtocolVersion } from "../chain/protocol-version.js";
import type { ChainOptions } from "./options.js";
import { resolvePrivateKey } from "./secrets.js";

export type ConnectChainParameters = {
  options: ChainOptions;
  env?: NodeJS.ProcessEnv;
  /** Whether a signing key is loaded (offchain/daemon/secrets.ts): a wallet client and account come with it. */
  keyed: boolean;
  /** Told the method of every JSON-RPC request (metrics). */
  onRequest?: (method: string) => void;
};

/**
 * The chain side every command needs: chain id, addresses, clients, and a sender when keyed. Refuses
 * (`ProtocolVersionError`) a deployment of another protocol version than this code speaks, or of none.
 */
export async function connectChain({ options, env = process.env, keyed, onRequest }: ConnectChainParameters) {
  const chainId = await readChainId({ rpcUrl: options.rpcUrl });
  const deployment: Deployment =
    (options.addresses as Deployment | undefined) ??
    loadDeployment({ chainId, deploymentsDir: options.deploymentsDir, deploymentId: options.deploymentId });
  const privateKey = keyed
    ? resolvePrivateKey({
        source: options.keystoreKey
          ? { kind: "keystore", key: options.keystoreKey, dev: options.keystoreDev }
          : { kind: "env", variable: options.keyEnv },
        env,
      })
    : undefined;
  const clients = await createChainClients({ rpcUrl: options.rpcUrl, privateKey, chainId, onRequest });
  // Against another version this code would judge honest work wrong (blob ids, output roots): checked once, first.
  await assertProtocolVersion({ publicClient: clients.publicClient, market: deployment.market });
  return { chainId, deployment, ...clients };
}

export type ConnectChainReturnType = Awaited<ReturnType<typeof connectChain>>;
