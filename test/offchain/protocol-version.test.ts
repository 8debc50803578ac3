/**
 * The protocol version a deployment speaks (offchain/chain/protocol-version.ts): JobMarket reports 2, and
 * every command's start (`connectChain`, offchain/daemon/chain.ts, the worker's and verifier's first step)
 * refuses a deployment that reports another version, or none, or has no contract at its market address,
 * with one line naming both versions and the remedy; so does the SDK's `connectDinfer`. Against the
 * in-process chain served over HTTP, as a daemon reaches a node.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";

import { network } from "hardhat";
import { after, before, describe, it } from "mocha";
import { getAddress, type Address } from "viem";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { ChainTransportError } from "../../offchain/chain/errors.js";
import { PROTOCOL_VERSION, ProtocolVersionError } from "../../offchain/chain/protocol-version.js";
import { connectChain } from "../../offchain/daemon/chain.js";
import { ChainOptionsSchema } from "../../offchain/daemon/options.js";
import { connectDinfer } from "../../offchain/sdk/connect.js";
import { formatCliError } from "../../offchain/ui/messages.js";
import { deploySystem, deploymentOf, type Connection, type System } from "../helpers/fixture.js";
import { freePort } from "../helpers/node.js";

const REMEDY = "deploy this version's contracts, or run the dinfer release that matches the deployment";

/** The in-process chain as a JSON-RPC endpoint on 127.0.0.1; `failCalls` answers every eth_call with HTTP 502. */
async function serveChain(connection: Connection) {
  const port = await freePort();
  let failCalls = false;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: number; method: string; params?: unknown[] };
    if (failCalls && body.method === "eth_call") {
      res.writeHead(502, { "content-type": "text/plain" }).end("bad gateway");
      return;
    }
    let reply: unknown;
    try {
      reply = { jsonrpc: "2.0", id: body.id, result: await connection.provider.request({ method: body.method, params: body.params }) };
    } catch (e) {
      const error = e as { code?: number; message?: string; data?: unknown };
      reply = { jsonrpc: "2.0", id: body.id, error: { code: error.code ?? -32603, message: error.message ?? "error", data: error.data } };
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    setFailCalls: (on: boolean) => {
      failCalls = on;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("protocol version: JobMarket reports it, every start checks it", function () {
  let connection: Connection;
  let sys: System;
  let deployment: Deployment;
  let rpc: Awaited<ReturnType<typeof serveChain>>;

  /** Connects as a daemon does (no key: the check comes before anything keyed), with `market` in place of the real one. */
  const start = (market: Address = deployment.market) =>
    connectChain({ options: ChainOptionsSchema.parse({ rpcUrl: rpc.url, addresses: { ...deployment, market } }), keyed: false });

  /** The refusal a start against `market` ends in, as the CLI prints it. */
  async function refusal(market: Address): Promise<{ error: ProtocolVersionError; printed: string }> {
    const error = await start(market).then(
      () => assert.fail(`started against ${market}`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ProtocolVersionError, `a ProtocolVersionError, got ${String(error)}`);
    return { error, printed: formatCliError({ error }) };
  }

  before(async () => {
    connection = await network.create();
    sys = await deploySystem(connection);
    deployment = deploymentOf(sys);
    rpc = await serveChain(connection);
  });

  after(async () => {
    await rpc?.close();
  });

  it("JobMarket reports protocol version 2, the version this code speaks", async () => {
    assert.equal(await sys.market.read.PROTOCOL_VERSION(), 2n);
    assert.equal(PROTOCOL_VERSION, 2n);
  });

  it("starts against this version's deployment", async () => {
    const chain = await start();
    assert.equal(chain.chainId, 31337);
    assert.deepEqual(chain.deployment, deployment);
  });

  it("refuses a deployment that reports another version, naming both and the remedy", async () => {
    for (const version of [1n, 3n]) {
      const stub = await connection.viem.deployContract("ProtocolVersionStub", [version]);
      const market = getAddress(stub.address);
      const { error, printed } = await refusal(market);
      assert.equal(error.code, "DEPLOYMENT_VERSION");
      assert.deepEqual(error.details, { deployment: { market, version: version.toString() }, speaks: { version: "2" } });
      assert.equal(printed, `dinfer: the deployment (JobMarket ${market}) speaks protocol version ${version} and this dinfer speaks version 2: ${REMEDY}`);
    }
  });

  it("refuses a deployment whose market has no PROTOCOL_VERSION (one from before version 2)", async () => {
    // The token stands in for a market without the getter: the call reverts (no such function, no fallback).
    const market = deployment.token;
    const { error, printed } = await refusal(market);
    assert.equal(error.code, "DEPLOYMENT_UNVERSIONED");
    assert.deepEqual(error.details, { deployment: { market, version: null }, speaks: { version: "2" } });
    assert.equal(
      printed,
      `dinfer: the deployment (JobMarket ${market}) reports no protocol version (it predates version 2, or is no JobMarket) and this dinfer speaks version 2: ${REMEDY}`,
    );
  });

  it("refuses a market address with no contract on the chain, saying so", async () => {
    const market = getAddress(`0x${"5e".repeat(20)}`);
    const { error, printed } = await refusal(market);
    assert.equal(error.code, "DEPLOYMENT_NO_CODE");
    assert.equal(
      printed,
      `dinfer: no contract at the deployment's JobMarket address ${market} on this chain: check --rpc-url and the deployment (a restarted devnet deploys again with \`dinfer devnet\`)`,
    );
  });

  it("the SDK's connectDinfer checks the same: it connects to this version's deployment and refuses another's", async () => {
    const { dinfer } = await connectDinfer({ rpcUrl: rpc.url, deployment });
    assert.ok(dinfer);
    const stub = await connection.viem.deployContract("ProtocolVersionStub", [1n]);
    const error = await connectDinfer({ rpcUrl: rpc.url, deployment: { ...deployment, market: getAddress(stub.address) } }).then(
      () => assert.fail("connected to a version 1 deployment"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ProtocolVersionError, `a ProtocolVersionError, got ${String(error)}`);
    assert.equal(error.code, "DEPLOYMENT_VERSION");
  });

  it("never reads a failed request as no version: an unreachable node is a retryable transport error", async () => {
    rpc.setFailCalls(true);
    try {
      const error = await start().then(
        () => assert.fail("started with every eth_call failing"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ChainTransportError, `a ChainTransportError, got ${String(error)}`);
    } finally {
      rpc.setFailCalls(false);
    }
  });
});
