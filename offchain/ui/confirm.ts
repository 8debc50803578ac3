/** Asking before something irreversible: the staking actions and `dinfer challenge` go through it. */
import { DinferError } from "../errors.js";

export type ConfirmParameters = {
  /** What will happen, already printed; the question follows it. */
  question: string;
  /** --yes was given. */
  yes: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
};

/**
 * Goes ahead when --yes was given; asks on a terminal; refuses otherwise (a script must say --yes),
 * so that nothing irreversible happens unconfirmed.
 */
export async function confirmOrRefuse({ question, yes, input = process.stdin, output = process.stdout }: ConfirmParameters): Promise<void> {
  if (yes) return;
  if (!input.isTTY) {
    throw new DinferError(`not confirmed: run again with --yes to go ahead`, { code: "CONFIRMATION_NEEDED" });
  }
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input, output });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") throw new DinferError("cancelled: nothing was sent", { code: "CANCELLED" });
  } finally {
    rl.close();
  }
}
