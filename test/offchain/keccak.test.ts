/**
 * The chain client's keccak-256 (offchain/chain/keccak.ts): the WebAssembly one the daemons use gives
 * viem's hashes, and a transaction signed with it is byte for byte the one the account signs itself.
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";
import { keccak256, recoverTransactionAddress, type Hex } from "viem";
import { privateKeyToAccount, toAccount } from "viem/accounts";

import { hashJob, JobStatus, type Job } from "../../offchain/chain/jobs.js";
import { viemKeccak256 } from "../../offchain/chain/keccak.js";
import { signTransactionWith, type SendableTransaction } from "../../offchain/chain/sender.js";
import { createWasmKeccak256 } from "../../offchain/codec/keccak-wasm.js";

// Hardhat's well-known development account #0 (local chains only).
const account = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 167 + seed * 31) % 256);
}

const TRANSACTIONS: SendableTransaction[] = [
  {
    chainId: 31337,
    nonce: 7,
    to: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    data: `0x${Buffer.from(bytes(1_500, 1)).toString("hex")}`,
    value: undefined,
    gas: 250_000n,
    type: "eip1559",
    maxFeePerGas: 3_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  },
  {
    chainId: 11155111,
    nonce: 0,
    to: "0x0000000000000000000000000000000000000001",
    data: "0x",
    value: 5n,
    gas: 21_000n,
    type: "legacy",
    gasPrice: 7n,
  },
];

describe("keccak-256 of the chain client", () => {
  it("the WebAssembly keccak gives viem's hash for every length around the rate (136 bytes), call after call", async () => {
    const wasm = await createWasmKeccak256();
    for (const length of [0, 1, 31, 32, 135, 136, 137, 271, 272, 273, 1_500, 5_000, 65_537]) {
      for (const seed of [1, 2]) {
        const data = bytes(length, seed);
        assert.equal(wasm(data), keccak256(data), `${length} bytes, seed ${seed}`);
        assert.equal(viemKeccak256(data), keccak256(data));
      }
    }
  });

  it("hashJob gives the same state hash with either keccak", async () => {
    const wasm = await createWasmKeccak256();
    const job: Job = {
      poster: account.address,
      modelId: 3,
      terms: 2,
      fee: 10n ** 18n,
      collateral: 5n * 10n ** 17n,
      callbackGasLimit: 0,
      status: JobStatus.Committed,
      deadline: 1_800_000_000,
      provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      commitBlock: 12_345n,
      result: `0x${"ab".repeat(32)}`,
      inlineOutput: false,
      sampled: true,
    };
    assert.equal(hashJob(job, wasm), hashJob(job));
    assert.notEqual(hashJob({ ...job, sampled: false }, wasm), hashJob(job, wasm), "a different state, a different hash");
  });

  it("signTransactionWith signs eip1559 and legacy transactions byte for byte as the account does, with the hash of what it signed", async () => {
    const wasm = await createWasmKeccak256();
    for (const transaction of TRANSACTIONS) {
      const expected = await account.signTransaction(transaction);
      for (const [name, keccak] of [["WebAssembly", wasm], ["viem", viemKeccak256]] as const) {
        const { raw, hash } = await signTransactionWith({ account, transaction, keccak });
        assert.equal(raw, expected, `${transaction.type}, ${name} keccak`);
        assert.equal(hash, keccak256(raw));
        assert.equal(await recoverTransactionAddress({ serializedTransaction: raw as `0x02${string}` }), account.address);
      }
    }
  });

  it("an account that cannot sign a bare hash signs the transaction its own way", async () => {
    const wasm = await createWasmKeccak256();
    const signed: SendableTransaction[] = [];
    const signsWhole = toAccount({
      address: account.address,
      signMessage: (parameters) => account.signMessage(parameters),
      signTypedData: (parameters) => account.signTypedData(parameters),
      signTransaction: async (transaction) => {
        signed.push(transaction as SendableTransaction);
        return account.signTransaction(transaction);
      },
    });
    assert.equal(signsWhole.sign, undefined);
    const transaction = TRANSACTIONS[0]!;
    const { raw, hash } = await signTransactionWith({ account: signsWhole, transaction, keccak: wasm });
    assert.equal(signed.length, 1, "the account's own signTransaction signed it");
    assert.equal(raw, await account.signTransaction(transaction));
    assert.equal(hash, keccak256(raw) as Hex);
  });
});
