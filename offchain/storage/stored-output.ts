/**
 * A daemon's own outputs (a worker's results, a verifier's re-runs): stored, served and revealed under their
 * output root, the hash their job commits to, so each is hashed once (docs/PROTOCOL.md section 5). Kept in a
 * store of outputs (a LocalBlobStore with `address: "outputRoot"`) and served at `<publicUrl>/outputs/<root>`.
 *
 * A job journaled by an older daemon names its output by blob id (`outputId`): that output stays in the blob
 * store, served at `/blobs/<id>`, and is found and revealed there.
 */
import type { Hex } from "viem";

import type { BlobStore } from "./store.js";

/** How the journal names an output: its root, and, journaled by an older daemon, its blob id. */
export type OutputRef = { outputRoot?: Hex; outputId?: Hex };

/** The daemon's stores: blobs by id (inputs; outputs of older daemons) and outputs by root. */
export type OutputStores = { store: BlobStore; outputs: BlobStore };

/** Whether the output is stored (present, not yet verified). */
export async function hasOutput({ store, outputs }: OutputStores, { outputRoot, outputId }: OutputRef): Promise<boolean> {
  if (outputId !== undefined) return store.has(outputId);
  return outputRoot !== undefined && outputs.has(outputRoot);
}

/** The output's bytes, checked against the name it is stored under; throws BlobNotFoundError when absent. */
export function getOutput({ store, outputs }: OutputStores, ref: OutputRef): Promise<Uint8Array> {
  return ref.outputId !== undefined ? store.get(ref.outputId) : outputs.get(rootOf(ref));
}

/** Where the daemon's blob server at `publicUrl` serves the output. */
export function outputUrl(publicUrl: string, ref: OutputRef): string {
  return ref.outputId !== undefined ? `${publicUrl}/blobs/${ref.outputId}` : `${publicUrl}/outputs/${rootOf(ref)}`;
}

function rootOf({ outputRoot }: OutputRef): Hex {
  if (outputRoot === undefined) throw new TypeError("an output named by neither its root nor a blob id");
  return outputRoot;
}
