/**
 * viem's `decodeEventLog`, with each ABI's event selectors computed once.
 *
 * viem finds a log's event by hashing the signature of every event in the ABI until one matches
 * topic 0: a keccak-256 per event per log (JobMarket has a few dozen events), and a worker's tick
 * decodes every log of every job it reads. Here the selectors of an ABI are hashed once, on its first
 * decode, and viem is handed the one event the log names. The result, and every error, is viem's own:
 * a selector the ABI does not know goes to viem with the whole ABI, which throws as it always did.
 */
import { decodeEventLog, toEventSelector, type Abi, type AbiEvent, type DecodeEventLogReturnType, type Hex } from "viem";

/** Per ABI (by identity): its events by selector (the first of any repeated signature, as viem finds it; anonymous events left out, as viem leaves them). */
const bySelector = new WeakMap<Abi, Map<string, AbiEvent>>();

function eventsOf(abi: Abi): Map<string, AbiEvent> {
  let events = bySelector.get(abi);
  if (events === undefined) {
    events = new Map();
    for (const item of abi) {
      // viem matches topic 0 against named, non-anonymous events only (an anonymous one has no selector topic).
      if (item.type !== "event" || item.anonymous === true) continue;
      const selector = toEventSelector(item);
      if (!events.has(selector)) events.set(selector, item);
    }
    bySelector.set(abi, events);
  }
  return events;
}

export type DecodeEventParameters<abi extends Abi> = {
  abi: abi;
  data: Hex;
  topics: readonly Hex[];
};

/** Decodes a log as `decodeEventLog({ abi, data, topics })` does (same result, same errors). */
export function decodeEvent<const abi extends Abi>({ abi, data, topics }: DecodeEventParameters<abi>): DecodeEventLogReturnType<abi> {
  const selector = topics[0];
  const event = selector === undefined ? undefined : eventsOf(abi).get(selector);
  return decodeEventLog({ abi: event === undefined ? abi : [event], data, topics: topics as [Hex, ...Hex[]] }) as DecodeEventLogReturnType<abi>;
}
