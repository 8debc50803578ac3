import assert from "node:assert/strict";

import { describe, it } from "mocha";
import {
  decodeEventLog,
  encodeAbiParameters,
  encodeEventTopics,
  toEventSelector,
  type Abi,
  type AbiEvent,
  type AbiParameter,
  type Hex,
} from "viem";

import { protocolAbis } from "../../offchain/chain/abis.js";
import { decodeEvent } from "../../offchain/chain/events.js";

/** A value of an ABI type that differs per seed (every type the protocol's events use). */
function sample(parameter: AbiParameter, seed: number): unknown {
  const { type } = parameter;
  if (type.endsWith("]")) {
    const inner = { ...parameter, type: type.slice(0, type.lastIndexOf("[")) } as AbiParameter;
    return [sample(inner, seed), sample(inner, seed + 1)];
  }
  if (type === "tuple") {
    const components = (parameter as { components: readonly AbiParameter[] }).components;
    const values = components.map((c, i) => sample(c, seed + i));
    return components.every((c) => c.name) ? Object.fromEntries(components.map((c, i) => [c.name!, values[i]])) : values;
  }
  if (type === "address") return `0x${(seed + 1).toString(16).padStart(40, "0")}` as Hex;
  if (type === "bool") return seed % 2 === 1;
  if (type === "string") return `value ${seed}`;
  if (type === "bytes") return `0x${"ab".repeat(seed % 5 + 1)}` as Hex;
  if (type.startsWith("bytes")) return `0x${(seed + 7).toString(16).padStart(Number(type.slice(5)) * 2, "0")}` as Hex;
  if (type.startsWith("uint")) return BigInt(seed + 3);
  if (type.startsWith("int")) return -BigInt(seed + 3);
  throw new Error(`no sample for ABI type ${type}`);
}

/** A log of `event` as a node returns it: topic 0, the indexed arguments, the rest ABI-encoded. */
function logOf(abi: Abi, event: AbiEvent, seed: number): { data: Hex; topics: Hex[] } {
  const args = Object.fromEntries(event.inputs.map((input, i) => [input.name!, sample(input, seed + i)]));
  const topics = encodeEventTopics({ abi, eventName: event.name, args: Object.fromEntries(event.inputs.filter((i) => i.indexed).map((i) => [i.name!, args[i.name!]])) } as never) as Hex[];
  const plain = event.inputs.filter((i) => !i.indexed);
  return { topics, data: encodeAbiParameters(plain, plain.map((i) => args[i.name!])) };
}

/** viem's result or its error's class and message, for comparison. */
function outcome(decode: () => unknown): unknown {
  try {
    return { result: decode() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

describe("decodeEvent (offchain/chain/events.ts)", () => {
  const abis = Object.entries(protocolAbis) as [string, Abi][];

  it("decodes every event of every protocol contract exactly as viem's decodeEventLog does", () => {
    let events = 0;
    for (const [name, abi] of abis) {
      for (const event of abi.filter((item): item is AbiEvent => item.type === "event")) {
        for (const seed of [0, 5]) {
          const log = logOf(abi, event, seed);
          const ours = decodeEvent({ abi, ...log });
          assert.deepEqual(ours, decodeEventLog({ abi, ...(log as { data: Hex; topics: [Hex, ...Hex[]] }) }), `${name}.${event.name}`);
          assert.equal((ours as { eventName?: string }).eventName, event.name, `${name}.${event.name}: named by its own selector`);
        }
        events++;
      }
    }
    assert.ok(events >= 40, `the protocol's ABIs hold ${events} events: expected dozens`);
  });

  it("fails as viem does on an unknown selector, no topics, short data and a selector in capitals", () => {
    const abi = protocolAbis.JobMarket as Abi;
    const posted = abi.find((item): item is AbiEvent => item.type === "event" && item.name === "JobPosted")!;
    const log = logOf(abi, posted, 1);
    const unknown = toEventSelector("NoSuchEvent(uint256)");
    const cases: { name: string; data: Hex; topics: Hex[] }[] = [
      { name: "unknown selector", data: log.data, topics: [unknown, ...log.topics.slice(1)] },
      { name: "an event of another contract", ...logOf(protocolAbis.Staking as Abi, (protocolAbis.Staking as Abi).find((i): i is AbiEvent => i.type === "event")!, 2) },
      { name: "no topics", data: log.data, topics: [] },
      { name: "short data", data: log.data.slice(0, 66) as Hex, topics: log.topics },
      { name: "capitals", data: log.data, topics: [log.topics[0]!.toUpperCase().replace("0X", "0x") as Hex, ...log.topics.slice(1)] },
    ];
    for (const { name, data, topics } of cases) {
      const ours = outcome(() => decodeEvent({ abi, data, topics }));
      const viems = outcome(() => decodeEventLog({ abi, data, topics: topics as [Hex, ...Hex[]] }));
      assert.deepEqual(ours, viems, name);
    }
    assert.equal((outcome(() => decodeEvent({ abi, data: log.data, topics: [unknown] })) as { error?: string }).error, "AbiEventSignatureNotFoundError");
  });

  it("passes over an anonymous event with the same signature as a named one, as viem does", () => {
    const named = { type: "event", name: "Moved", inputs: [{ name: "id", type: "uint256", indexed: true }, { name: "amount", type: "uint256", indexed: false }] } as const;
    const abi = [{ ...named, anonymous: true }, named] as const satisfies Abi;
    const log = { topics: encodeEventTopics({ abi: [named], eventName: "Moved", args: { id: 7n } }) as Hex[], data: encodeAbiParameters([{ type: "uint256" }], [9n]) };
    const viems = decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
    assert.deepEqual(viems, { eventName: "Moved", args: { id: 7n, amount: 9n } });
    assert.deepEqual(decodeEvent({ abi, ...log }), viems);
    assert.deepEqual(decodeEvent({ abi, ...log }), viems, "and again, from the selectors it keeps");
  });
});
