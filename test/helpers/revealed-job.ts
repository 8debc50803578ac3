/**
 * A revealed job's record as `readJob` rebuilds it from the market's events, for tests of input and output reads:
 * only its result (the output root), where the output is (a URI, or inline) and where its input is matter to them.
 */
import { keccak256, zeroAddress, type Hex } from "viem";

import { JobStatus, type JobRecord } from "../../offchain/chain/jobs.js";

/** A revealed job whose result is `root`, revealed at `outputURI` or inline; its input at `inputURI` with `inputHash`. */
export function revealedJob({
  root,
  outputURI = "",
  inlineOutput,
  inputURI = "",
  inputHash = keccak256("0x"),
}: {
  root: Hex;
  outputURI?: string;
  inlineOutput?: Hex;
  inputURI?: string;
  inputHash?: Hex;
}): JobRecord {
  return {
    jobId: 7n,
    job: {
      poster: zeroAddress,
      modelId: 1,
      terms: 1,
      fee: 0n,
      collateral: 0n,
      callbackGasLimit: 0,
      status: JobStatus.Revealed,
      deadline: 0,
      provider: zeroAddress,
      commitBlock: 0n,
      result: root,
      inlineOutput: inlineOutput !== undefined,
      sampled: false,
    },
    inputHash,
    inputURI,
    inlineInput: "0x",
    outputURI,
    inlineOutput,
    postedBlock: 1n,
  };
}
