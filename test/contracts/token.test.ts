import assert from "node:assert/strict";

import { network } from "hardhat";
import { domainSeparator, getAddress, maxUint256, parseEther, parseSignature, zeroAddress, type Address } from "viem";

import { deploySystem, FEE, jobRequest, modelSpec, type Connection } from "../helpers/fixture.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

const NAME = "dinfer test token";
const FAUCET_LIMIT = parseEther("1000000");

async function deployToken({ viem }: Connection) {
  const token = await viem.deployContract("DinferTestToken");
  const [alice, bob, carol] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  return { token, alice, bob, carol, chainId: await publicClient.getChainId() };
}

type TokenFixture = Awaited<ReturnType<typeof deployToken>>;
type Wallet = TokenFixture["alice"];

const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/** An EIP-2612 permit signed by `signer` (the owner unless told), as the (v, r, s) the token takes. */
async function signPermit(
  { token, chainId }: Pick<TokenFixture, "token" | "chainId">,
  {
    owner,
    spender,
    value,
    deadline,
    signer = owner,
    nonce,
  }: { owner: Wallet; spender: Address; value: bigint; deadline: bigint; signer?: Wallet; nonce?: bigint },
) {
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: { name: NAME, version: "1", chainId, verifyingContract: token.address },
    types: PERMIT_TYPES,
    primaryType: "Permit",
    message: {
      owner: owner.account.address,
      spender,
      value,
      nonce: nonce ?? (await token.read.nonces([owner.account.address])),
      deadline,
    },
  });
  const { r, s, v } = parseSignature(signature);
  return { v: Number(v), r, s };
}

async function inAnHour() {
  return BigInt(await networkHelpers.time.latest()) + 3600n;
}

describe("DinferTestToken", () => {
  describe("metadata", () => {
    it("is an 18-decimal token named 'dinfer test token' (DINF) with no initial supply", async () => {
      const { token } = await networkHelpers.loadFixture(deployToken);
      assert.equal(await token.read.name(), NAME);
      assert.equal(await token.read.symbol(), "DINF");
      assert.equal(await token.read.decimals(), 18);
      assert.equal(await token.read.totalSupply(), 0n);
    });

    it("caps each faucet mint at one million tokens", async () => {
      const { token } = await networkHelpers.loadFixture(deployToken);
      assert.equal(await token.read.FAUCET_LIMIT(), FAUCET_LIMIT);
    });
  });

  describe("mint (faucet)", () => {
    it("lets any account mint to any address, emitting a Transfer from the zero address", async () => {
      const { token, alice, bob } = await networkHelpers.loadFixture(deployToken);
      await viem.assertions.emitWithArgs(
        token.write.mint([alice.account.address, parseEther("5")], { account: bob.account }),
        token,
        "Transfer",
        [zeroAddress, alice.account.address, parseEther("5")],
      );
      assert.equal(await token.read.balanceOf([alice.account.address]), parseEther("5"));
      assert.equal(await token.read.balanceOf([bob.account.address]), 0n);
      assert.equal(await token.read.totalSupply(), parseEther("5"));
    });

    it("mints exactly the faucet limit, and repeated mints add up", async () => {
      const { token, alice } = await networkHelpers.loadFixture(deployToken);
      await token.write.mint([alice.account.address, FAUCET_LIMIT]);
      await token.write.mint([alice.account.address, FAUCET_LIMIT]);
      assert.equal(await token.read.balanceOf([alice.account.address]), 2n * FAUCET_LIMIT);
      assert.equal(await token.read.totalSupply(), 2n * FAUCET_LIMIT);
    });

    it("reverts with FaucetLimit when one mint asks for more than the limit", async () => {
      const { token, alice } = await networkHelpers.loadFixture(deployToken);
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.mint([alice.account.address, FAUCET_LIMIT + 1n]),
        token,
        "FaucetLimit",
        [FAUCET_LIMIT + 1n, FAUCET_LIMIT],
      );
      assert.equal(await token.read.totalSupply(), 0n);
    });

    it("reverts when minting to the zero address", async () => {
      const { token } = await networkHelpers.loadFixture(deployToken);
      await viem.assertions.revertWithCustomErrorWithArgs(token.write.mint([zeroAddress, 1n]), token, "ERC20InvalidReceiver", [
        zeroAddress,
      ]);
    });
  });

  describe("ERC20 transfers", () => {
    it("moves balances on transfer and emits Transfer", async () => {
      const { token, alice, bob } = await networkHelpers.loadFixture(deployToken);
      await token.write.mint([alice.account.address, 100n]);
      await viem.assertions.emitWithArgs(
        token.write.transfer([bob.account.address, 30n], { account: alice.account }),
        token,
        "Transfer",
        [alice.account.address, bob.account.address, 30n],
      );
      assert.equal(await token.read.balanceOf([alice.account.address]), 70n);
      assert.equal(await token.read.balanceOf([bob.account.address]), 30n);
    });

    it("reverts a transfer larger than the balance with ERC20InsufficientBalance", async () => {
      const { token, alice, bob } = await networkHelpers.loadFixture(deployToken);
      await token.write.mint([alice.account.address, 100n]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.transfer([bob.account.address, 101n], { account: alice.account }),
        token,
        "ERC20InsufficientBalance",
        [alice.account.address, 100n, 101n],
      );
    });

    it("spends the allowance on transferFrom and reverts past it", async () => {
      const { token, alice, bob, carol } = await networkHelpers.loadFixture(deployToken);
      await token.write.mint([alice.account.address, 100n]);
      await token.write.approve([bob.account.address, 40n], { account: alice.account });
      await token.write.transferFrom([alice.account.address, carol.account.address, 25n], { account: bob.account });
      assert.equal(await token.read.allowance([alice.account.address, bob.account.address]), 15n);
      assert.equal(await token.read.balanceOf([carol.account.address]), 25n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.transferFrom([alice.account.address, carol.account.address, 16n], { account: bob.account }),
        token,
        "ERC20InsufficientAllowance",
        [bob.account.address, 15n, 16n],
      );
    });

    it("never decreases an unlimited allowance", async () => {
      const { token, alice, bob, carol } = await networkHelpers.loadFixture(deployToken);
      await token.write.mint([alice.account.address, 100n]);
      await token.write.approve([bob.account.address, maxUint256], { account: alice.account });
      await token.write.transferFrom([alice.account.address, carol.account.address, 60n], { account: bob.account });
      assert.equal(await token.read.allowance([alice.account.address, bob.account.address]), maxUint256);
    });
  });

  describe("permit (EIP-2612)", () => {
    it("uses the EIP-712 domain (name 'dinfer test token', version 1, this chain, this contract)", async () => {
      const { token, chainId } = await networkHelpers.loadFixture(deployToken);
      const [fields, name, version, domainChainId, verifyingContract, salt, extensions] = await token.read.eip712Domain();
      assert.equal(fields, "0x0f");
      assert.equal(name, NAME);
      assert.equal(version, "1");
      assert.equal(domainChainId, BigInt(chainId));
      assert.equal(getAddress(verifyingContract), getAddress(token.address));
      assert.equal(BigInt(salt), 0n);
      assert.deepEqual(extensions, []);
      assert.equal(
        await token.read.DOMAIN_SEPARATOR(),
        domainSeparator({ domain: { name: NAME, version: "1", chainId, verifyingContract: token.address } }),
      );
    });

    it("sets the allowance from the owner's signature, sent by anyone, and bumps the owner's nonce", async () => {
      const fixture = await networkHelpers.loadFixture(deployToken);
      const { token, alice, bob, carol } = fixture;
      const deadline = await inAnHour();
      const { v, r, s } = await signPermit(fixture, { owner: alice, spender: bob.account.address, value: 500n, deadline });
      await viem.assertions.emitWithArgs(
        token.write.permit([alice.account.address, bob.account.address, 500n, deadline, v, r, s], { account: carol.account }),
        token,
        "Approval",
        [alice.account.address, bob.account.address, 500n],
      );
      assert.equal(await token.read.allowance([alice.account.address, bob.account.address]), 500n);
      assert.equal(await token.read.nonces([alice.account.address]), 1n);
    });

    it("accepts a permit in the block whose timestamp equals its deadline", async () => {
      const fixture = await networkHelpers.loadFixture(deployToken);
      const { token, alice, bob } = fixture;
      const deadline = await inAnHour();
      const { v, r, s } = await signPermit(fixture, { owner: alice, spender: bob.account.address, value: 7n, deadline });
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await token.write.permit([alice.account.address, bob.account.address, 7n, deadline, v, r, s]);
      assert.equal(await token.read.allowance([alice.account.address, bob.account.address]), 7n);
    });

    it("reverts with ERC2612ExpiredSignature one second after the deadline", async () => {
      const fixture = await networkHelpers.loadFixture(deployToken);
      const { token, alice, bob } = fixture;
      const deadline = await inAnHour();
      const { v, r, s } = await signPermit(fixture, { owner: alice, spender: bob.account.address, value: 7n, deadline });
      await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.permit([alice.account.address, bob.account.address, 7n, deadline, v, r, s]),
        token,
        "ERC2612ExpiredSignature",
        [deadline],
      );
    });

    it("reverts with ERC2612InvalidSigner when someone other than the owner signed", async () => {
      const fixture = await networkHelpers.loadFixture(deployToken);
      const { token, alice, bob, carol } = fixture;
      const deadline = await inAnHour();
      const { v, r, s } = await signPermit(fixture, { owner: alice, signer: carol, spender: bob.account.address, value: 7n, deadline });
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.permit([alice.account.address, bob.account.address, 7n, deadline, v, r, s]),
        token,
        "ERC2612InvalidSigner",
        [carol.account.address, alice.account.address],
      );
    });

    it("rejects a replayed permit: the nonce it signed is spent", async () => {
      const fixture = await networkHelpers.loadFixture(deployToken);
      const { token, alice, bob } = fixture;
      const deadline = await inAnHour();
      const { v, r, s } = await signPermit(fixture, { owner: alice, spender: bob.account.address, value: 7n, deadline });
      const args = [alice.account.address, bob.account.address, 7n, deadline, v, r, s] as const;
      await token.write.permit([...args]);
      await viem.assertions.revertWithCustomErrorWithArgs(token.write.permit([...args]), token, "ERC2612InvalidSigner", [
        (signer: Address) => getAddress(signer) !== getAddress(alice.account.address),
        alice.account.address,
      ]);
      assert.equal(await token.read.nonces([alice.account.address]), 1n);
    });

    it("rejects a permit whose value differs from the one signed", async () => {
      const fixture = await networkHelpers.loadFixture(deployToken);
      const { token, alice, bob } = fixture;
      const deadline = await inAnHour();
      const { v, r, s } = await signPermit(fixture, { owner: alice, spender: bob.account.address, value: 7n, deadline });
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.permit([alice.account.address, bob.account.address, 8n, deadline, v, r, s]),
        token,
        "ERC2612InvalidSigner",
        [(signer: Address) => getAddress(signer) !== getAddress(alice.account.address), alice.account.address],
      );
      assert.equal(await token.read.allowance([alice.account.address, bob.account.address]), 0n);
    });
  });

  describe("as the protocol token", () => {
    async function deployedSystem(connection: Connection) {
      const sys = await deploySystem(connection);
      await sys.registry.write.register([modelSpec()], { account: sys.owner.account });
      await sys.token.write.mint([sys.dapp.account.address, FEE]);
      return { sys, chainId: await sys.publicClient.getChainId() };
    }

    it("is the token the local Ignition deployment wires into Staking and JobMarket", async () => {
      const { sys } = await networkHelpers.loadFixture(deployedSystem);
      assert.equal(getAddress(await sys.staking.read.token()), getAddress(sys.token.address));
      assert.equal(getAddress(await sys.market.read.token()), getAddress(sys.token.address));
      assert.equal(await sys.token.read.symbol(), "DINF");
    });

    it("lets a dApp with no allowance post a job through postJobWithPermit, paying the fee into escrow", async () => {
      const { sys, chainId } = await networkHelpers.loadFixture(deployedSystem);
      const { token, market, dapp } = sys;
      const now = BigInt(await networkHelpers.time.latest());
      const deadline = now + 3600n;
      const { v, r, s } = await signPermit({ token, chainId }, { owner: dapp, spender: market.address, value: FEE, deadline });
      assert.equal(await token.read.allowance([dapp.account.address, market.address]), 0n);

      await market.write.postJobWithPermit([jobRequest(1n, now + 600n), deadline, v, r, s], { account: dapp.account });

      assert.equal(await token.read.balanceOf([dapp.account.address]), 0n);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
      assert.equal(await token.read.nonces([dapp.account.address]), 1n);
      assert.equal(await token.read.allowance([dapp.account.address, market.address]), 0n);
    });
  });
});
