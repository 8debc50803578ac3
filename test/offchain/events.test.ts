import assert from "node:assert/strict";

import { describe, it } from "mocha";
import { decodeEventLog, encodeAbiParameters, encodeEventTopics, keccak256, toEventSelector, toHex, type Abi, type AbiEvent, type Hex } from "viem";

import { protocolAbis } from "../../offchain/chain/abis.js";
import { decodeEvent } from "../../offchain/chain/events.js";
import { decodeJobLog, jobLogsOf } from "../../offchain/chain/jobs.js";
import { logOf } from "../helpers/event-logs.js";

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

  it("decodes as viem does where its own path steps aside: indexed dynamic values, unnamed inputs, missing topics, no data", () => {
    const tagged = {
      type: "event",
      name: "Tagged",
      inputs: [
        { name: "tag", type: "string", indexed: true },
        { name: "blob", type: "bytes", indexed: true },
        { name: "who", type: "address", indexed: true },
        { name: "amount", type: "uint256", indexed: false },
      ],
    } as const;
    const unnamed = { type: "event", name: "Unnamed", inputs: [{ name: "", type: "uint256", indexed: true }, { name: "", type: "bool", indexed: false }] } as const;
    const noData = { type: "event", name: "Ping", inputs: [{ name: "id", type: "uint256", indexed: true }] } as const;
    const abi = [tagged, unnamed, noData] as const satisfies Abi;
    const cases: { name: string; data: Hex; topics: Hex[] }[] = [];
    for (const seed of [0, 3]) {
      for (const event of abi) cases.push({ name: `${event.name} seed ${seed}`, ...logOf(abi, event as AbiEvent, seed) });
    }
    const full = logOf(abi, tagged as AbiEvent, 1);
    cases.push({ name: "a topic missing", data: full.data, topics: full.topics.slice(0, 3) });
    cases.push({ name: "no data", data: "0x", topics: full.topics });
    cases.push({ name: "data too short", data: full.data.slice(0, 20) as Hex, topics: full.topics });
    cases.push({ name: "an address topic with dirty high bytes", data: full.data, topics: [...full.topics.slice(0, 3), `0x${"ff".repeat(12)}${full.topics[3]!.slice(26)}` as Hex] });
    for (const { name, data, topics } of cases) {
      const ours = outcome(() => decodeEvent({ abi, data, topics }));
      assert.deepEqual(ours, outcome(() => decodeEventLog({ abi, data, topics: topics as [Hex, ...Hex[]] })), name);
    }
    assert.deepEqual((outcome(() => decodeEvent({ abi, ...logOf(abi, tagged as AbiEvent, 0) })) as { result: { args: { tag: Hex } } }).result.args.tag.length, 66, "an indexed string is its hash");
  });

  it("finds an event as viem does in odd ABIs: malformed, nameless, truthy-anonymous and input-less events, and an empty topic", () => {
    const word = (n: bigint) => encodeAbiParameters([{ type: "uint256" }], [n]);
    const other = { type: "event", name: "Other", inputs: [{ name: "y", type: "uint256", indexed: true }] };
    const tag = { type: "event", name: "Tag", inputs: [{ name: "tag", type: "string", indexed: true }, { name: "n", type: "uint256", indexed: false }] };
    const otherLog = { data: "0x" as Hex, topics: [toEventSelector("Other(uint256)"), word(1n)] };
    const cases: { name: string; abi: Abi; data: Hex; topics: Hex[] }[] = [
      // viem formats events only until the one the log names: a malformed one after it is never formatted.
      { name: "a malformed event after the one decoded", abi: [other, { type: "event", name: "Pa", inputs: [{ name: "a(b", type: "uint256", indexed: true }] }] as unknown as Abi, ...otherLog },
      { name: "an event without inputs", abi: [{ type: "event", name: "N" }] as unknown as Abi, data: "0x", topics: [toEventSelector("N()")] },
      { name: "an event without inputs before the one decoded", abi: [{ type: "event", name: "N" }, other] as unknown as Abi, ...otherLog },
      { name: "anonymous: 1", abi: [{ type: "event", name: "Other", anonymous: 1, inputs: other.inputs }] as unknown as Abi, ...otherLog },
      { name: "a nameless event", abi: [{ type: "event", inputs: other.inputs }] as unknown as Abi, data: "0x", topics: [keccak256(toHex("undefined(uint256)")), word(1n)] },
      { name: "an empty topic for an indexed string", abi: [tag] as unknown as Abi, data: word(1n), topics: [toEventSelector("Tag(string,uint256)"), "" as Hex] },
    ];
    for (const { name, abi, data, topics } of cases) {
      assert.deepEqual(outcome(() => decodeEvent({ abi, data, topics })), outcome(() => decodeEventLog({ abi, data, topics: topics as [Hex, ...Hex[]] })), name);
    }
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

describe("jobLogsOf (offchain/chain/jobs.ts)", () => {
  it("decodes a receipt's job events of the market once, in order, whoever asks: each step of a grouped transaction reads the same receipt", () => {
    const abi = protocolAbis.JobMarket as Abi;
    const event = (name: string) => abi.find((item): item is AbiEvent => item.type === "event" && item.name === name)!;
    const market = "0x00000000000000000000000000000000000000aa" as const;
    const elsewhere = "0x00000000000000000000000000000000000000bb" as const;
    const at = (address: Hex, log: { data: Hex; topics: Hex[] }) => ({ ...log, address, blockNumber: 7n });
    const logs = [
      at(market, logOf(abi, event("ResultRevealed"), 1)),
      at(elsewhere, logOf(abi, event("ResultRevealed"), 2)), // another contract's log with the same shape
      at(market, logOf(abi, event("AuditPoolFunded"), 3)), // not about a job
      at(market.toUpperCase().replace("0X", "0x") as Hex, logOf(abi, event("OutputAnnounced"), 4)),
    ];
    const decoded = jobLogsOf(logs, market);
    assert.deepEqual(
      decoded,
      [logs[0]!, logs[3]!].map((log) => decodeJobLog(log)),
      "the market's job events only, as decodeJobLog decodes each",
    );
    assert.equal(jobLogsOf(logs, market), decoded, "decoded once: the second step gets the same array");
    assert.notEqual(jobLogsOf([...logs], market), decoded, "another receipt is decoded anew");
  });
});
