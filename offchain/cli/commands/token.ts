/** `dinfer token mint <amount>`: the local test token's faucet (DinferTestToken only). */
import type { Command } from "commander";

import { dinferTestTokenAbi } from "../../chain/abis.js";
import { formatTokens } from "../../chain/format.js";
import { parseTokens } from "../../chain/format.js";
import { connect } from "../context.js";

export function addTokenCommands(program: Command): void {
  program
    .command("token")
    .description("local test token")
    .command("mint <amount>")
    .description("mint test tokens to your account (DinferTestToken only)")
    .action(async (amount: string, _flags, cmd: Command) => {
      const value = parseTokens(amount);
      const { sender, deployment } = await connect(cmd);
      await sender.send({ address: deployment.token, abi: dinferTestTokenAbi, functionName: "mint", args: [sender.address, value] });
      console.log(`minted ${formatTokens(value)} to ${sender.address}`);
    });
}
