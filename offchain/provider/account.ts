/**
 * Kept for the CLI's and scripts' imports: an account's roles, stake and status live in
 * offchain/protocol/account.ts, token amounts in offchain/chain/format.ts.
 */
export * from "../protocol/account.js";
export { formatTokens, parseTokens } from "../chain/format.js";
