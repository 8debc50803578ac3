import assert from "node:assert/strict";
import { getEventListeners } from "node:events";

import { deadline } from "../../offchain/deadline.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("deadline: a time limit that costs nothing once its work is done", () => {
  it("aborts at its limit with a TimeoutError, as AbortSignal.timeout does, and says it expired", async () => {
    const limit = deadline(30);
    assert.equal(limit.signal.aborted, false);
    await sleep(80);
    assert.equal(limit.signal.aborted, true);
    assert.equal(limit.expired, true);
    assert.equal((limit.signal.reason as DOMException).name, "TimeoutError");
    limit.clear(); // after the fact: harmless
  });

  it("cleared before its limit, never aborts, and leaves no listener on the caller's signal", async () => {
    const caller = new AbortController();
    const limit = deadline(30, caller.signal);
    assert.equal(getEventListeners(caller.signal, "abort").length, 1);
    limit.clear();
    assert.equal(getEventListeners(caller.signal, "abort").length, 0);
    await sleep(80);
    assert.equal(limit.signal.aborted, false);
    assert.equal(limit.expired, false);
  });

  it("follows the caller's abort with its reason, which is no expiry; a signal aborted already aborts it at once", () => {
    const caller = new AbortController();
    const limit = deadline(60_000, caller.signal);
    caller.abort(new Error("stopping"));
    assert.equal(limit.signal.aborted, true);
    assert.equal((limit.signal.reason as Error).message, "stopping");
    assert.equal(limit.expired, false);
    limit.clear();
    const early = deadline(60_000, AbortSignal.abort("gone"));
    assert.equal(early.signal.aborted, true);
    assert.equal(early.signal.reason, "gone");
    early.clear();
  });

  it("a caller's abort that comes first is no expiry, even once the limit has passed", async () => {
    const caller = new AbortController();
    const limit = deadline(20, caller.signal);
    caller.abort(new Error("stopping"));
    await sleep(60);
    assert.equal(limit.expired, false);
    assert.equal((limit.signal.reason as Error).message, "stopping");
    limit.clear();
  });

  it("refuses a limit that is not a positive number", () => {
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => deadline(ms), /ms must be a positive number/);
  });
});
