/**
 * What the tests of reads refused on private hosts share (test/offchain/fetch-private-hosts.test.ts for the
 * daemons, test/offchain/sdk-private-hosts.test.ts for the SDK and the CLI): a real HTTP server that counts the
 * requests it gets, so a refusal is seen to send none, and the assertion of a refusal.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import { NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { PrivateHostRefusedError } from "../../offchain/storage/errors.js";

export type CountingServer = { port: number; base: string; requests: () => number; close: () => Promise<void> };

/**
 * A blob server on `host` that counts every request it gets: `/blob`, any `/ipfs/...` and any `/blobs/...` or
 * `/outputs/...` path serve `bytes` (or, with `ipfsRedirect`, an `/ipfs/...` path redirects there: a gateway sent
 * off itself), `/to?url=` redirects there.
 */
export async function countingServer(bytes: Uint8Array, { host = "127.0.0.1", ipfsRedirect }: { host?: string; ipfsRedirect?: string } = {}): Promise<CountingServer> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const url = new URL(req.url ?? "/", "http://server");
    if (url.pathname.startsWith("/ipfs/") && ipfsRedirect !== undefined) return void res.writeHead(302, { location: ipfsRedirect }).end();
    if (url.pathname === "/blob" || /^\/(ipfs|blobs|outputs)\//.test(url.pathname)) return void res.writeHead(200, { "content-length": bytes.length }).end(bytes);
    if (url.pathname === "/to") return void res.writeHead(302, { location: url.searchParams.get("url")! }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    base: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Asserts a refusal: the error class (non-retryable), the host, the address and its kind named, and the remedy. */
export function refused(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PrivateHostRefusedError, `expected a PrivateHostRefusedError, got ${String(error)}`);
    assert.ok(error instanceof NonRetryableError && !(error instanceof RetryableError), "non-retryable: reading it again is refused again");
    assert.match(error.message, pattern);
    assert.match(error.message, /set allowPrivateHosts \(a daemon's config, the SDK's option; --allow-private-hosts\) to read it$/);
    assert.equal(error.code, "PRIVATE_HOST_REFUSED");
    return true;
  };
}
