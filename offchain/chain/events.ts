/**
 * viem's `decodeEventLog`, with each ABI's events prepared once.
 *
 * viem finds a log's event by hashing the signature of every event in the ABI until one matches
 * topic 0: a keccak-256 per event per log (JobMarket has a few dozen events), and a worker's tick
 * decodes every log of every job it reads. Handed the one event the log names, it still formats and
 * hashes that event's signature at every call (~7% of a worker's main thread in `npm run bench:worker`).
 * Here each ABI's events are hashed once, on its first decode, with what decoding them needs (which
 * inputs come from topics, which from data); a log is then decoded as viem decodes it, with viem's own
 * `decodeAbiParameters`. The result, and every error, is viem's: a log this path cannot decode (a
 * selector the ABI does not know, missing topics, short data, an event with unnamed inputs) goes to viem,
 * which throws, or decodes, as it always did.
 */
import { decodeAbiParameters, decodeEventLog, toEventSelector, type Abi, type AbiEvent, type AbiParameter, type DecodeEventLogReturnType, type Hex } from "viem";
import { formatAbiItem } from "viem/utils";

/** An event and how its inputs decode: the indexed ones from topics 1.., the others from data. */
type PreparedEvent = {
  event: AbiEvent;
  /** Every input named (else viem decodes it: its args are then an array; an event without inputs, viem fails on). */
  named: boolean;
  indexed: { param: AbiParameter; name: string; raw: boolean }[];
  nonIndexed: AbiParameter[];
};

/**
 * Per ABI (by identity): its events by selector, found as viem finds them (named, non-anonymous events, by
 * the signature viem's `formatAbiItem` writes; the first of any repeated selector); null for an ABI with an
 * event viem's formatting refuses, whose logs viem then decodes, as it always did.
 */
const bySelector = new WeakMap<Abi, Map<string, PreparedEvent> | null>();

function eventsOf(abi: Abi): Map<string, PreparedEvent> | null {
  let events = bySelector.get(abi);
  if (events === undefined) {
    try {
      events = new Map();
      for (const item of abi) {
        if (item.type !== "event" || !("name" in item) || item.anonymous) continue;
        const selector = toEventSelector(formatAbiItem(item));
        if (!events.has(selector)) events.set(selector, prepare(item));
      }
    } catch {
      events = null;
    }
    bySelector.set(abi, events);
  }
  return events;
}

function prepare(event: AbiEvent): PreparedEvent {
  const inputs = event.inputs ?? [];
  return {
    event,
    named: Array.isArray(event.inputs) && inputs.every((input) => Boolean(input.name)),
    indexed: inputs.filter((input) => input.indexed).map((param) => ({ param, name: param.name ?? "", raw: isRawTopic(param) })),
    nonIndexed: inputs.filter((input) => !input.indexed),
  };
}

/** A topic viem returns as it is (the hash of a dynamic value), not decoded. */
function isRawTopic(param: AbiParameter): boolean {
  return param.type === "string" || param.type === "bytes" || param.type === "tuple" || /^(.*)\[(\d+)?\]$/.test(param.type);
}

export type DecodeEventParameters<abi extends Abi> = {
  abi: abi;
  data: Hex;
  topics: readonly Hex[];
};

/** Decodes a log as `decodeEventLog({ abi, data, topics })` does (same result, same errors). */
export function decodeEvent<const abi extends Abi>({ abi, data, topics }: DecodeEventParameters<abi>): DecodeEventLogReturnType<abi> {
  const selector = topics[0];
  const prepared = selector === undefined ? undefined : eventsOf(abi)?.get(selector);
  const decoded = prepared === undefined ? undefined : decodePrepared(prepared, data, topics);
  return (decoded ?? decodeEventLog({ abi: prepared === undefined ? abi : [prepared.event], data, topics: topics as [Hex, ...Hex[]] })) as DecodeEventLogReturnType<abi>;
}

/** viem's decoding of a matched event (strict), or undefined where viem would throw or build its args otherwise. */
function decodePrepared({ event, named, indexed, nonIndexed }: PreparedEvent, data: Hex, topics: readonly Hex[]): { eventName: string; args: unknown } | undefined {
  if (!named || topics.length < indexed.length + 1) return undefined;
  if (nonIndexed.length > 0 && (!data || data === "0x")) return undefined;
  const args: Record<string, unknown> = {};
  try {
    for (let i = 0; i < indexed.length; i++) {
      const { param, name, raw } = indexed[i]!;
      const topic = topics[i + 1];
      if (!topic) return undefined;
      args[name] = raw ? topic : decodeAbiParameters([param], topic)[0];
    }
    if (nonIndexed.length > 0) {
      const values = decodeAbiParameters(nonIndexed, data);
      for (let i = 0; i < nonIndexed.length; i++) args[nonIndexed[i]!.name!] = values[i];
    }
  } catch {
    return undefined;
  }
  return { eventName: event.name, args: Object.keys(args).length > 0 ? args : undefined };
}
