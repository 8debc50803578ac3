/**
 * keccak-256 as the chain client uses it: a transaction's signing hash and hash, a job's state hash
 * (`hashJob`). viem's own (@noble/hashes, pure JavaScript) is the default; a daemon that signs and reads
 * jobs all day passes the WebAssembly one (offchain/codec/keccak-wasm.ts), 6-13x faster on a transaction's
 * few hundred to few thousand bytes. Either gives the same hash; this module imports viem only, so the
 * SDK package keeps viem as its one dependency.
 */
import { keccak256, type Hex } from "viem";

/** keccak-256 of bytes, as 0x-prefixed lowercase hex. */
export type Keccak256 = (bytes: Uint8Array) => Hex;

/** viem's keccak-256. */
export const viemKeccak256: Keccak256 = (bytes) => keccak256(bytes);
