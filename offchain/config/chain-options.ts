/**
 * The chain options every entry point (`dinfer`, the provider scripts, the daemons) reads the same way:
 * from flags, from their DINFER_* variables (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID, ...) or from the
 * JSON config file (offchain/config/options.ts).
 */
export const CHAIN_OPTION_NAMES = ["rpcUrl", "deploymentsDir", "deploymentId", "keyEnv", "keystoreKey", "keystoreDev"] as const;
