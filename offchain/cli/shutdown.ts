/** Kept for the CLI's imports: the daemons' shutdown signal lives in the daemon kit (offchain/daemon/shutdown.ts). */
export { daemonShutdownSignal } from "../daemon/shutdown.js";
