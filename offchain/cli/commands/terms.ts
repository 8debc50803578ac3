/** `dinfer terms [version]`: the protocol terms a job is judged by (default: the current version). */
import type { Command } from "commander";

import { TermsReader } from "../../chain/terms.js";
import { bigintJson, connectReadOnly, parseId } from "../context.js";

export function addTermsCommand(program: Command): void {
  program
    .command("terms [version]")
    .description("print a protocol terms version: the rules a job posted under it is judged by (default: the current one)")
    .action(async (version: string | undefined, _flags, cmd: Command) => {
      const chain = await connectReadOnly(cmd);
      const reader = new TermsReader({ client: chain.publicClient, market: chain.deployment.market });
      const terms = version === undefined ? await reader.current() : await reader.of(parseId(version, "version"));
      console.log(JSON.stringify(terms, bigintJson, 2));
    });
}
