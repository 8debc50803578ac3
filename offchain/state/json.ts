/**
 * JSON for journal data, with bigints: chain values (fees, job ids, block numbers) are bigints in
 * viem, and plain JSON cannot hold them. A bigint is written as `{"$bigint":"<decimal>"}` and read
 * back as a bigint; everything else is ordinary JSON. An object of exactly that shape in the
 * data itself would come back as a bigint, so do not store one.
 */
import { JournalInputError } from "./errors.js";

const BIGINT_KEY = "$bigint";

/** JSON text of `value`, bigints tagged; throws `JournalInputError` naming `field` if not serializable. */
export function encodeJson(value: unknown, field = "data"): string {
  try {
    const text = JSON.stringify(value, (key, item: unknown) => encodeItem(key, item));
    if (text === undefined) throw new TypeError(`${typeof value} is not JSON`);
    return text;
  } catch (error) {
    throw new JournalInputError({ field, problem: `not serializable as JSON (${(error as Error).message})` });
  }
}

/**
 * Tags bigints; refuses what JSON would silently drop or mangle (functions, symbols, typed
 * arrays, maps, class instances): store bytes as hex, collections as arrays or plain objects.
 */
function encodeItem(key: string, item: unknown): unknown {
  if (typeof item === "bigint") return { [BIGINT_KEY]: item.toString() };
  if (typeof item === "function" || typeof item === "symbol") throw new TypeError(`${key || "value"} is a ${typeof item}`);
  if (typeof item === "object" && item !== null && !Array.isArray(item)) {
    const prototype = Object.getPrototypeOf(item);
    if (prototype !== Object.prototype && prototype !== null) {
      throw new TypeError(`${key || "value"} is a ${item.constructor?.name ?? "non-plain object"}`);
    }
  }
  return item;
}

/** Parses JSON text written by `encodeJson`, turning tagged bigints back into bigints. */
export function decodeJson<T = unknown>(text: string): T {
  return JSON.parse(text, (_key, item: unknown) => (isTaggedBigint(item) ? BigInt(item[BIGINT_KEY]) : item)) as T;
}

function isTaggedBigint(item: unknown): item is { [BIGINT_KEY]: string } {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return false;
  const keys = Object.keys(item);
  return keys.length === 1 && keys[0] === BIGINT_KEY && typeof (item as Record<string, unknown>)[BIGINT_KEY] === "string"
    && /^-?\d+$/.test((item as Record<string, string>)[BIGINT_KEY]!);
}
