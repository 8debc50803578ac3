/**
 * Event logs as a node returns them, built from an ABI (every type the protocol's events use), with
 * values that differ per seed: for tests and benchmarks of log decoding.
 */
import { encodeAbiParameters, encodeEventTopics, type Abi, type AbiEvent, type AbiParameter, type Hex } from "viem";

/** A value of an ABI type that differs per seed (every type the protocol's events use). */
export function sample(parameter: AbiParameter, seed: number): unknown {
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
export function logOf(abi: Abi, event: AbiEvent, seed: number): { data: Hex; topics: Hex[] } {
  const args = Object.fromEntries(event.inputs.map((input, i) => [input.name!, sample(input, seed + i)]));
  const topics = encodeEventTopics({ abi, eventName: event.name, args: Object.fromEntries(event.inputs.filter((i) => i.indexed).map((i) => [i.name!, args[i.name!]])) } as never) as Hex[];
  const plain = event.inputs.filter((i) => !i.indexed);
  return { topics, data: encodeAbiParameters(plain, plain.map((i) => args[i.name!])) };
}

