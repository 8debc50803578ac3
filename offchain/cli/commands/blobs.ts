/** `dinfer blobs serve`: a blob server for inputs and outputs (offchain/storage/server.ts). */
import type { Command } from "commander";

import { createLogger } from "../../log.js";
import { LocalBlobStore } from "../../storage/local.js";
import { startBlobServer } from "../../storage/server.js";

export function addBlobsCommands(program: Command): void {
  program
    .command("blobs")
    .description("blob storage")
    .command("serve")
    .description("serve a local blob store over HTTP (GET /blobs/<id>; PUT /blobs with DINFER_UPLOAD_TOKEN)")
    .option("--dir <dir>", "store directory", ".dinfer/blobs")
    .option("--host <host>", "bind address", "127.0.0.1")
    .option("--port <n>", "port", "8700")
    .action(async (flags) => {
      const log = createLogger({ name: "blobs" });
      const server = await startBlobServer({
        store: new LocalBlobStore({ dir: flags.dir }),
        host: flags.host,
        port: Number(flags.port),
        uploadToken: process.env.DINFER_UPLOAD_TOKEN,
        logger: log,
      });
      console.log(`serving ${flags.dir} at ${server.url}`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await server.close();
    });
}
