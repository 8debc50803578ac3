/**
 * A VerifierDaemon for tests that drive its journal records and ticks by hand: nothing sent, no runner, no
 * stores, one served exact model (id 1) and placeholder contract addresses, each overridable. The account and
 * the secret are the test's, as the commitments and watchdog picks it checks derive from them.
 */
import type { Address, Hex } from "viem";

import { silentLogger } from "../../offchain/log.js";
import type { Journal } from "../../offchain/state/journal.js";
import { ZERO_HASH } from "../../offchain/verifier/decide.js";
import { createVerifierMetrics } from "../../offchain/verifier/metrics.js";
import { VerifierDaemon, type VerifierDaemonParameters } from "../../offchain/verifier/verifier.js";

export function testVerifierDaemon({
  journal,
  account,
  secret,
  placeholder,
  ...overrides
}: { journal: Journal; account: Address; secret: Hex; placeholder: Address } & Partial<VerifierDaemonParameters>): VerifierDaemon {
  const p = placeholder;
  return new VerifierDaemon({
    log: silentLogger(),
    publicClient: undefined as never,
    sender: undefined as never,
    account,
    chainId: 31337,
    deployment: { token: p, staking: p, registry: p, market: p, verification: p, batchMarket: p, profiles: p, replicaMarket: p },
    journal,
    runner: undefined as never,
    store: undefined as never,
    outputs: undefined as never,
    models: [{ modelId: 1, path: "cls.onnx", modelHash: ZERO_HASH, policy: { kind: "exact" }, nonFiniteInputs: false, tolerance: { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n } }],
    secret,
    publicUrl: "http://127.0.0.1:1",
    metrics: createVerifierMetrics(),
    ep: "cpu",
    inferenceTimeoutMs: 1_000,
    maxInputBytes: 1 << 20,
    maxOutputBytes: 1 << 20,
    allowFileUris: false,
    allowPrivateHosts: true, // a devnet's: the tests serve on 127.0.0.1
    outputReserveSeconds: 5,
    keeper: true,
    keeperGraceSeconds: 5,
    watchdog: { share: 0, challenge: true },
    withdrawMin: 0n,
    ...overrides,
  });
}
