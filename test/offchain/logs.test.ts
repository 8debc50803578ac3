/**
 * What an operator reads: the daemons' logs are one readable line a record in a terminal and JSON
 * records when piped (`DINFER_LOG_FORMAT` overrides), and the idle worker's status line reads its
 * stake from the real Staking contract and says what it has done.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";

import { network } from "hardhat";
import { describe, it } from "mocha";
import pino from "pino";
import { parseEther } from "viem";

import { ConfigError } from "../../offchain/config/options.js";
import { hasVulkanLoader } from "../../offchain/inference/session.js";
import { chooseLogFormat, createLogger } from "../../offchain/log.js";
import { formatWorkerStatus, startWorkerStatus } from "../../offchain/provider/status.js";
import { deploySystem, ROLE_PROVIDER, stake } from "../helpers/fixture.js";

/** A destination that keeps each written line. */
function lineSink(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

describe("log format", function () {
  it("is readable lines in a terminal and JSON when piped, unless DINFER_LOG_FORMAT says which; a wrong value names the choices", () => {
    assert.equal(chooseLogFormat({ env: {}, isTTY: true }), "pretty");
    assert.equal(chooseLogFormat({ env: {}, isTTY: false }), "json");
    assert.equal(chooseLogFormat({ env: { DINFER_LOG_FORMAT: "auto" }, isTTY: true }), "pretty");
    assert.equal(chooseLogFormat({ env: { DINFER_LOG_FORMAT: "json" }, isTTY: true }), "json");
    assert.equal(chooseLogFormat({ env: { DINFER_LOG_FORMAT: "pretty" }, isTTY: false }), "pretty");
    assert.throws(
      () => chooseLogFormat({ env: { DINFER_LOG_FORMAT: "text" }, isTTY: true }),
      (error: unknown) => error instanceof ConfigError && /DINFER_LOG_FORMAT must be one of auto, json, pretty, got "text"/.test(error.message),
    );
  });

  it("pretty: one line a record with the time, level, process and component, message, then the other fields (an error's too) on the same line", () => {
    const { lines, stream } = lineSink();
    const log = createLogger({ name: "worker", level: "info", format: "pretty", destination: stream });
    log.info({ msg: "job claimed", job_id: "7", fee: parseEther("1.5").toString(), fee_tokens: "1.5 DINF" });
    log.child({ component: "sender" }).warn({ msg: "broadcast failed", err: "connection refused" });
    log.debug({ msg: "below the level" });
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\] INFO: \(worker\) job claimed \{"job_id":"7","fee":"1500000000000000000","fee_tokens":"1\.5 DINF"\}$/);
    assert.match(lines[1]!, /^\[\d\d:\d\d:\d\d\] WARN: \(worker\/sender\) broadcast failed \{"err":"connection refused"\}$/);
  });

  it("json: one pino JSON record a line, as before", () => {
    const { lines, stream } = lineSink();
    createLogger({ name: "verifier", level: "info", format: "json", destination: stream }).info({ msg: "verifier ready", port: 8610 });
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.msg, "verifier ready");
    assert.equal(record.name, "verifier");
    assert.equal(record.level, 30);
    assert.equal(record.port, 8610);
  });
});

describe("native noise", function () {
  it("WebGPU is tried only where the Vulkan loader is found (LD_LIBRARY_PATH or the loader cache), always off Linux", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-vulkan-"));
    try {
      assert.equal(hasVulkanLoader({ platform: "darwin", env: {} }), true);
      writeFileSync(path.join(dir, "libvulkan.so.1"), "");
      assert.equal(hasVulkanLoader({ platform: "linux", env: { LD_LIBRARY_PATH: `/nonexistent:${dir}` } }), true);
      rmSync(path.join(dir, "libvulkan.so.1"));
      const cached = (() => {
        try {
          return readFileSync("/etc/ld.so.cache").includes("libvulkan.so.1");
        } catch {
          return undefined;
        }
      })();
      if (cached !== undefined) assert.equal(hasVulkanLoader({ platform: "linux", env: { LD_LIBRARY_PATH: dir } }), cached);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the idle worker's status line", function () {
  this.timeout(120_000);

  it("says the jobs seen, open, claimed, committed and revealed, the stake and its free part in tokens, and the up time", () => {
    const line = formatWorkerStatus({ jobsSeen: 12, open: 1, claimed: 3, committed: 3, revealed: 2, stake: parseEther("1000"), free: parseEther("900"), uptimeS: 330 });
    assert.equal(line, "idle: 12 jobs seen, 1 open, 3 claimed, 3 committed, 2 revealed, stake 1000 DINF (900 DINF free), up 5m");
    assert.equal(
      formatWorkerStatus({ jobsSeen: 1, open: 0, claimed: 0, committed: 0, revealed: 0, stake: 0n, free: 0n, uptimeS: 7_500 }),
      "idle: 1 job seen, 0 open, 0 claimed, 0 committed, 0 revealed, no provider stake (claims need collateral: dinfer provider stake), up 2h05m",
    );
  });

  it("is logged every interval while no step runs, with the stake read from Staking, and not while one does", async () => {
    const connection = await network.create();
    try {
      const sys = await deploySystem(connection);
      await stake(sys, sys.provider.account.address, parseEther("1000"), ROLE_PROVIDER);
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          for (const text of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(text) as Record<string, unknown>);
          done();
        },
      });
      const daemon = { busy: 0, activity: () => ({ jobsSeen: 4, open: 1, claimed: 2, committed: 2, revealed: 1 }) };
      const stop = startWorkerStatus({
        daemon,
        publicClient: sys.publicClient as never,
        staking: sys.staking.address,
        account: sys.provider.account.address,
        intervalMs: 100,
        log: pino({ level: "info" }, sink),
      });
      try {
        await waitFor(() => lines.length >= 1);
        const [first] = lines;
        assert.equal(first!.level, 30);
        assert.match(String(first!.msg), /^idle: 4 jobs seen, 1 open, 2 claimed, 2 committed, 1 revealed, stake 1000 DINF \(1000 DINF free\), up 0s$/);
        assert.equal(first!.stake, parseEther("1000").toString());
        assert.equal(first!.free_stake_tokens, "1000 DINF");
        daemon.busy = 1;
        await new Promise((r) => setTimeout(r, 300)); // a read already under way may still log
        const count = lines.length;
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(lines.length, count, "no status line while a step runs");
      } finally {
        stop();
      }
    } finally {
      await connection.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
