/** A job's market events, read straight from the node, for end-to-end tests. */
import { numberToHex, type Address, type Hex, type PublicClient } from "viem";

import { decodeJobLog } from "../../offchain/chain/jobs.js";

export type JobEvent = { eventName: string; args: Record<string, unknown>; txHash: Hex };

/** The job's market events by name, with their transaction hashes, in chain order. */
export async function jobEvents({ client, market, jobId }: { client: PublicClient; market: Address; jobId: bigint }): Promise<JobEvent[]> {
  const logs = await client.request({
    method: "eth_getLogs",
    params: [{ address: market, fromBlock: "0x0", toBlock: "latest", topics: [null, numberToHex(jobId, { size: 32 })] }],
  });
  return logs.flatMap((log) => {
    const decoded = decodeJobLog({ data: log.data, topics: log.topics, blockNumber: BigInt(log.blockNumber ?? 0) });
    return decoded && decoded.args.jobId === jobId ? [{ eventName: decoded.eventName, args: decoded.args, txHash: log.transactionHash as Hex }] : [];
  });
}

/** The distinct jobs whose market events a receipt holds: more than one when a worker grouped its steps (multicall). */
export function jobsInReceipt({ logs, market }: { logs: readonly { address: Address; data: Hex; topics: readonly Hex[] }[]; market: Address }): bigint[] {
  const ids = new Set<bigint>();
  for (const log of logs) {
    if (log.address.toLowerCase() !== market.toLowerCase()) continue;
    const decoded = decodeJobLog({ data: log.data, topics: [...log.topics] as [Hex, ...Hex[]], blockNumber: 0n });
    if (decoded && typeof decoded.args.jobId === "bigint") ids.add(decoded.args.jobId);
  }
  return [...ids];
}
