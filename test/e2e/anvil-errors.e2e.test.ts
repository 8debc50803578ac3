/**
 * The same failure reads the same on both chain engines. Hardhat's node and Anvil word their JSON-RPC
 * errors differently (a custom error is "VM Exception while processing transaction: reverted with custom
 * error 'FaucetLimit(...)'" on one and "execution reverted: custom error 0xd8ed9c26: ..." on the other;
 * running out of gas is a bad request on one and an internal error on the other); the sender and
 * `classifyChainError` (offchain/chain) must turn each into the same class, the same decoded error and
 * the same sentence. Both nodes run side by side, each with the test token and tiny contracts (one that
 * reverts without data, two that cost a given amount of gas) deployed, and every case is read on both and
 * compared.
 *
 * Run alone: `npx hardhat test mocha test/e2e/anvil-errors.e2e.test.ts` (about 20 s on 2 cores).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { erc20Abi, parseEther, type Abi, type Address, type Hex } from "viem";
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from "viem/accounts";

import { createChainClients, type ChainPublicClient } from "../../offchain/chain/clients.js";
import { classifyChainError, ContractRevertError, NodeRejectedError, NonceError } from "../../offchain/chain/errors.js";
import { describeRevert } from "../../offchain/chain/revert-messages.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/chain-spec.js";
import { startNode, type ChainEngine, type StartNodeReturnType } from "../../offchain/devnet/node.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const token = JSON.parse(readFileSync(path.join(ROOT, "artifacts/contracts/DinferTestToken.sol/DinferTestToken.json"), "utf8")) as { abi: Abi; bytecode: Hex };
/** Runtime `PUSH1 0 PUSH1 0 REVERT`: every call reverts with no data. */
const REVERTER_INIT: Hex = "0x6460006000fd6000526005601bf3";
/**
 * A contract whose every call writes a word at memory offset `offset` and stops: memory expansion makes it
 * cost what we like (3 gas a word plus words^2 / 512) at once, with no loop for the engines to run.
 * Runtime `PUSH1 0 PUSH3 offset MSTORE STOP`, returned by `PUSH8 runtime PUSH1 0 MSTORE PUSH1 8 PUSH1 24 RETURN`.
 */
function memoryToucherInit(offset: number): Hex {
  return `0x67600062${offset.toString(16).padStart(6, "0")}520060005260086018f3`;
}
/** About 45,000 gas of memory (128 KiB). */
const BURNER_OFFSET = 0x20000 - 32;
/** About 19.2M gas of memory (3 MiB): over Osaka's 2^24 per transaction, under the 60M block. */
const OVER_CAP_OFFSET = 0x300000 - 32;
const ENGINES: readonly ChainEngine[] = ["hardhat", "anvil"];

/** What a failure reads as, engine-neutral: its class, the decoded error or the node's reason, and the sentence. */
type Reading = Record<string, unknown>;

function reading(error: unknown): Reading {
  if (error instanceof ContractRevertError) {
    return { class: error.name, errorName: error.errorName, args: error.args.map(String), sentence: describeRevert(error), outOfGas: error.details?.outOfGas };
  }
  if (error instanceof NodeRejectedError) return { class: error.name, reason: error.reason, code: error.code };
  if (error instanceof NonceError) return { class: error.name, code: error.code };
  return { class: (error as Error)?.name, message: (error as Error)?.message };
}

type Chain = {
  engine: ChainEngine;
  node: StartNodeReturnType;
  publicClient: ChainPublicClient;
  owner: TxSender;
  ownerAccount: ReturnType<typeof mnemonicToAccount>;
  token: Address;
  reverter: Address;
  burner: Address;
  overCap: Address;
};

describe("the same failure reads the same on Hardhat's node and on Anvil", function () {
  const chains = new Map<ChainEngine, Chain>();
  const nodes: StartNodeReturnType[] = [];

  before(async function () {
    this.timeout(120_000);
    await Promise.all(
      ENGINES.map(async (engine) => {
        const node = await startNode({ engine });
        nodes.push(node); // stopped by `after` whatever happens next
        const ownerAccount = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 5 });
        const { publicClient, walletClient } = await createChainClients({ rpcUrl: node.url, account: ownerAccount });
        const deploy = async (parameters: { abi: Abi; bytecode: Hex }) => {
          const hash = await walletClient!.deployContract({ ...parameters, args: [] } as never);
          return (await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100 })).contractAddress!;
        };
        // One after the other: viem's wallet reads the pending nonce per transaction.
        const tokenAddress = await deploy(token);
        const reverter = await deploy({ abi: [], bytecode: REVERTER_INIT });
        const burner = await deploy({ abi: [], bytecode: memoryToucherInit(BURNER_OFFSET) });
        const overCap = await deploy({ abi: [], bytecode: memoryToucherInit(OVER_CAP_OFFSET) });
        const owner = new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 100, retry: { retries: 1, baseDelayMs: 50 } });
        chains.set(engine, { engine, node, publicClient, owner, ownerAccount, token: tokenAddress, reverter, burner, overCap });
      }),
    );
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(nodes.map((node) => node.stop()));
  });

  /** Runs `attempt` on both engines and asserts the readings are equal; returns them. */
  async function sameOnBoth(attempt: (chain: Chain) => Promise<unknown>): Promise<Reading> {
    const readings = new Map<ChainEngine, Reading>();
    for (const engine of ENGINES) {
      try {
        await attempt(chains.get(engine)!);
        readings.set(engine, { class: "none: it succeeded" });
      } catch (error) {
        readings.set(engine, reading(error));
      }
    }
    assert.deepEqual(readings.get("anvil"), readings.get("hardhat"), `anvil read ${JSON.stringify(readings.get("anvil"))}, hardhat ${JSON.stringify(readings.get("hardhat"))}`);
    return readings.get("anvil")!;
  }

  const rpc = (chain: Chain, method: string, params: unknown[]) => chain.publicClient.request({ method, params } as never);

  it("a custom error, in a gas estimate, in a simulation and mined, decodes to the same error and sentence", async function () {
    this.timeout(60_000);
    const tooMuch = parseEther("1000000000");
    for (const gas of [undefined, 200_000n]) {
      const read = await sameOnBoth((c) => c.owner.send({ address: c.token, abi: token.abi, functionName: "mint", args: [c.owner.address, tooMuch], gas } as never));
      assert.equal(read.errorName, "FaucetLimit", `with gas ${gas}`);
      assert.match(String(read.sentence), /^the test token's faucet gives at most .* \(FaucetLimit\)$/);
    }
    // Mined: two transfers of the whole balance in one block. Interval mining is paused while both are
    // sent, so each one's simulation (an eth_call at the latest block, a fixed gas skipping the
    // estimate) sees the whole balance; the next block then holds both, the later nonce reverts on
    // chain and the sender replays it to say why. Which of the two gets the earlier nonce is the
    // sender's race to win. (evm_setIntervalMining takes milliseconds on Hardhat, seconds on Anvil.)
    const mined = await sameOnBoth(async (c) => {
      const amount = parseEther("5");
      await c.owner.send({ address: c.token, abi: token.abi, functionName: "mint", args: [c.owner.address, amount] } as never);
      const holder = await c.publicClient.readContract({ address: c.token, abi: erc20Abi, functionName: "balanceOf", args: [c.owner.address] });
      const revertedBefore = c.owner.stats().reverted;
      await rpc(c, "evm_setIntervalMining", [0]);
      try {
        let sent = 0;
        let bothSent!: () => void;
        const broadcast = new Promise<void>((resolve) => (bothSent = resolve));
        const onSent = () => void (++sent === 2 && bothSent());
        const sends = [0, 1].map(() => c.owner.send({ address: c.token, abi: erc20Abi, functionName: "transfer", args: [c.reverter, holder], gas: 100_000n, onSent }));
        await broadcast;
        await rpc(c, "evm_mine", []);
        const settled = await Promise.allSettled(sends);
        assert.deepEqual(settled.map((s) => s.status).sort(), ["fulfilled", "rejected"]);
        assert.equal(c.owner.stats().reverted, revertedBefore + 1, "the refused transfer was mined, not caught by its simulation");
        throw (settled.find((s) => s.status === "rejected") as PromiseRejectedResult).reason;
      } finally {
        await rpc(c, "evm_setIntervalMining", [c.engine === "anvil" ? 1 : 1000]);
      }
    });
    assert.equal(mined.errorName, "ERC20InsufficientBalance");
  });

  it("a revert without data, and running out of gas, read the same", async function () {
    this.timeout(30_000);
    const noData = await sameOnBoth((c) => c.owner.send({ address: c.reverter, abi: [{ type: "function", name: "f", inputs: [], outputs: [], stateMutability: "nonpayable" }], functionName: "f" } as never));
    assert.deepEqual([noData.class, noData.errorName, noData.sentence], ["ContractRevertError", undefined, "the contract refused the call without a reason"]);
    // A call given too little gas: Hardhat "Transaction ran out of gas" (-32000), Anvil "EVM error OutOfGas"
    // (-32603, which must not read as the node's trouble and be retried).
    const call = await sameOnBoth((c) => c.publicClient.call({ account: c.ownerAccount.address, to: c.burner, data: "0x", gas: 30_000n }).catch((error) => Promise.reject(classifyChainError({ error }))));
    assert.deepEqual([call.class, call.reason], ["NodeRejectedError", "gas-limit"]);
    // Mined out of gas: the replay says so on both.
    const mined = await sameOnBoth((c) => c.owner.send({ address: c.burner, abi: [{ type: "function", name: "f", inputs: [], outputs: [], stateMutability: "nonpayable" }], functionName: "f", gas: 60_000n } as never));
    assert.deepEqual([mined.class, mined.outOfGas], ["ContractRevertError", true]);
  });

  it("a call over Osaka's per-transaction gas cap is refused before anything is mined, on both", async function () {
    this.timeout(30_000);
    // Hardhat's estimate stops at the cap; Anvil's goes to the block limit and its node refuses the transaction.
    const nonces = await Promise.all(ENGINES.map((e) => chains.get(e)!.publicClient.getTransactionCount({ address: chains.get(e)!.owner.address, blockTag: "pending" })));
    const read = await sameOnBoth((c) => c.owner.send({ address: c.overCap, abi: [{ type: "function", name: "f", inputs: [], outputs: [], stateMutability: "nonpayable" }], functionName: "f" } as never));
    assert.deepEqual([read.class, read.reason], ["NodeRejectedError", "gas-limit"]);
    const after = await Promise.all(ENGINES.map((e) => chains.get(e)!.publicClient.getTransactionCount({ address: chains.get(e)!.owner.address, blockTag: "pending" })));
    assert.deepEqual(after, nonces, "no nonce spent");
  });

  it("the node's refusals (no ETH for gas, a used nonce, a transaction it has, another chain's) read the same", async function () {
    this.timeout(30_000);
    // No ETH: the sentence names the balance and the most the transaction may cost on both (Anvil says
    // neither; the sender reads the balance and works the cost out).
    const poor = await sameOnBoth(async (c) => {
      const { walletClient } = await createChainClients({ rpcUrl: c.node.url, privateKey: generatePrivateKey() });
      const sender = new TxSender({ publicClient: c.publicClient, walletClient: walletClient!, retry: { retries: 0 } });
      try {
        await sender.send({ address: c.token, abi: erc20Abi, functionName: "approve", args: [c.reverter, 1n] });
      } catch (error) {
        assert.match((error as Error).message, /has 0 ETH for gas \(this transaction may cost up to [\d.]+ ETH\): fund it/, `${c.engine}: ${(error as Error).message}`);
        throw error;
      }
    });
    assert.deepEqual([poor.class, poor.reason], ["NodeRejectedError", "insufficient-funds"]);

    const signer = privateKeyToAccount(generatePrivateKey());
    const signed = (chainId: number, nonce: number) =>
      signer.signTransaction({ chainId, nonce, to: signer.address, value: 0n, gas: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, type: "eip1559" });
    const broadcast = (c: Chain, raw: Hex) => rpc(c, "eth_sendRawTransaction", [raw]).catch((error) => Promise.reject(classifyChainError({ error })));
    const wrongChain = await sameOnBoth(async (c) => broadcast(c, await signed(1, 0)));
    assert.deepEqual([wrongChain.class, wrongChain.reason], ["NodeRejectedError", "chain-id"]);

    // A used nonce, and the same bytes twice: the owner's first nonce is long spent; its next transaction sent twice.
    const stale = await sameOnBoth(async (c) => {
      const raw = await c.ownerAccount.signTransaction({ chainId: 31337, nonce: 0, to: c.ownerAccount.address, value: 0n, gas: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, type: "eip1559" });
      await broadcast(c, raw);
    });
    assert.equal(stale.class, "NonceError");
    const twice = await sameOnBoth(async (c) => {
      const nonce = await c.publicClient.getTransactionCount({ address: c.ownerAccount.address, blockTag: "pending" });
      const raw = await c.ownerAccount.signTransaction({ chainId: 31337, nonce, to: c.ownerAccount.address, value: 0n, gas: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, type: "eip1559" });
      await broadcast(c, raw);
      try {
        await broadcast(c, raw);
      } catch (error) {
        // The sender counts these as sent (a retry of bytes the node took): it must recognise each engine's words.
        assert.match((error as NonceError).nodeMessage, /already known|known transaction|already imported/, `${c.engine}: ${(error as NonceError).nodeMessage}`);
        throw error;
      }
    });
    assert.equal(twice.class, "NonceError");
  });
});
