import assert from "node:assert/strict";

import { network } from "hardhat";
import { getAddress, keccak256, stringToHex, toHex, zeroHash, type Hex } from "viem";

import type { Connection } from "../helpers/fixture.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

const EP_CPU = 1;
const EP_GPU = 2;
const MAX_MODELS = 64n;
const ZERO_REGION = "0x0000000000000000";
const region = (name: string): Hex => stringToHex(name, { size: 8 });
const EU_WEST = region("eu-west");
const US_EAST = region("us-east");
const RECORD = '{"gpu":"H200","memoryGiB":141}';
const RECORD_URI = "ipfs://bafy-profile-record";
const RECORD_HASH = keccak256(toHex(RECORD));

type ProfileInput = {
  region: Hex;
  executionProviders: number;
  capacity: number;
  models: number[];
  recordURI: string;
  recordHash: Hex;
};

/** A valid profile: eu-west, GPU, 4 jobs at once, models 1, 2 and 7, with a record. */
function profile(overrides: Partial<ProfileInput> = {}): ProfileInput {
  return { region: EU_WEST, executionProviders: EP_GPU, capacity: 4, models: [1, 2, 7], recordURI: RECORD_URI, recordHash: RECORD_HASH, ...overrides };
}

const args = (p: ProfileInput) => [p.region, p.executionProviders, p.capacity, p.models, p.recordURI, p.recordHash] as const;

async function deployProfiles({ viem }: Connection) {
  const profiles = await viem.deployContract("ProviderProfiles");
  const publicClient = await viem.getPublicClient();
  const [alice, bob] = await viem.getWalletClients();
  return { profiles, publicClient, alice, bob };
}

/** Alice holds the default profile. */
async function aliceWithProfile(connection: Connection) {
  const fx = await deployProfiles(connection);
  await fx.profiles.write.setProfile(args(profile()), { account: fx.alice.account });
  return fx;
}

/** What `profileOf` returns for a profile set at `updatedAt`. */
function stored(p: ProfileInput, updatedAt: bigint) {
  return { ...p, updatedAt };
}

const EMPTY = stored(profile({ region: ZERO_REGION, executionProviders: 0, capacity: 0, models: [], recordURI: "", recordHash: zeroHash }), 0n);

describe("ProviderProfiles", () => {
  describe("setProfile", () => {
    it("stores the caller's profile with the block's timestamp and emits ProfileSet with every field", async () => {
      const { profiles, publicClient, alice } = await networkHelpers.loadFixture(deployProfiles);
      const p = profile();
      await viem.assertions.emitWithArgs(profiles.write.setProfile(args(p), { account: alice.account }), profiles, "ProfileSet", [
        getAddress(alice.account.address),
        ...args(p),
      ]);
      const { timestamp } = await publicClient.getBlock();
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(p, timestamp));
    });

    it("replaces the whole profile on a second set (fewer models, no record, a new timestamp)", async () => {
      const { profiles, publicClient, alice } = await networkHelpers.loadFixture(aliceWithProfile);
      await networkHelpers.time.increase(60);
      const next = profile({ region: US_EAST, executionProviders: EP_CPU | EP_GPU, capacity: 1, models: [3], recordURI: "", recordHash: zeroHash });
      await viem.assertions.emitWithArgs(profiles.write.setProfile(args(next), { account: alice.account }), profiles, "ProfileSet", [
        getAddress(alice.account.address),
        ...args(next),
      ]);
      const { timestamp } = await publicClient.getBlock();
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(next, timestamp));
    });

    it("accepts a profile that declares nothing but a region (no models, no capacity, no execution provider)", async () => {
      const { profiles, publicClient, alice } = await networkHelpers.loadFixture(deployProfiles);
      const p = profile({ executionProviders: 0, capacity: 0, models: [], recordURI: "", recordHash: zeroHash });
      await profiles.write.setProfile(args(p), { account: alice.account });
      const { timestamp } = await publicClient.getBlock();
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(p, timestamp));
    });

    it("accepts MAX_MODELS models, a full 8-byte region and the widest capacity", async () => {
      const { profiles, publicClient, alice } = await networkHelpers.loadFixture(deployProfiles);
      const models = Array.from({ length: Number(MAX_MODELS) }, (_, i) => i + 1);
      const p = profile({ region: region("ap-south"), capacity: 2 ** 32 - 1, models });
      await profiles.write.setProfile(args(p), { account: alice.account });
      const { timestamp } = await publicClient.getBlock();
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(p, timestamp));
      assert.equal(await profiles.read.MAX_MODELS(), MAX_MODELS);
      assert.equal(await profiles.read.EP_CPU(), EP_CPU);
      assert.equal(await profiles.read.EP_GPU(), EP_GPU);
    });

    it("writes only the caller's profile: another provider's set leaves it as it was", async () => {
      const { profiles, publicClient, alice, bob } = await networkHelpers.loadFixture(deployProfiles);
      await profiles.write.setProfile(args(profile()), { account: alice.account });
      const { timestamp } = await publicClient.getBlock();
      const bobs = profile({ region: US_EAST, executionProviders: EP_CPU, models: [9] });
      await profiles.write.setProfile(args(bobs), { account: bob.account });
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(profile(), timestamp));
      assert.equal((await profiles.read.profileOf([bob.account.address])).region, US_EAST);
    });

    for (const [name, bad] of [
      ["a zero byte before the name", "0x0065752d77657374"],
      ["text after the zero padding", "0x6575000077657374"],
      ["a space", region("eu west")],
      ["a control character", "0x6575090000000000"],
      ["a byte above 0x7e", "0x65757f0000000000"],
      ["a non-ASCII byte", "0xc3a9000000000000"],
    ] as const) {
      it(`reverts with InvalidRegion for a region with ${name}`, async () => {
        const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
        await viem.assertions.revertWithCustomErrorWithArgs(
          profiles.write.setProfile(args(profile({ region: bad })), { account: alice.account }),
          profiles,
          "InvalidRegion",
          [bad],
        );
      });
    }

    for (const bits of [4, 5, 0x80, 0xff]) {
      it(`reverts with UnknownExecutionProviders for the bitmask ${bits}`, async () => {
        const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
        await viem.assertions.revertWithCustomErrorWithArgs(
          profiles.write.setProfile(args(profile({ executionProviders: bits })), { account: alice.account }),
          profiles,
          "UnknownExecutionProviders",
          [bits],
        );
      });
    }

    it("reverts with TooManyProfileModels above MAX_MODELS models", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
      const models = Array.from({ length: Number(MAX_MODELS) + 1 }, (_, i) => i + 1);
      await viem.assertions.revertWithCustomErrorWithArgs(
        profiles.write.setProfile(args(profile({ models })), { account: alice.account }),
        profiles,
        "TooManyProfileModels",
        [MAX_MODELS + 1n, MAX_MODELS],
      );
    });

    for (const [name, models, index, modelId] of [
      ["a zero model id", [0, 1], 0n, 0],
      ["a repeated model id", [1, 2, 2], 2n, 2],
      ["model ids out of order", [1, 7, 3], 2n, 3],
    ] as const) {
      it(`reverts with UnsortedProfileModels for ${name}`, async () => {
        const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
        await viem.assertions.revertWithCustomErrorWithArgs(
          profiles.write.setProfile(args(profile({ models: [...models] })), { account: alice.account }),
          profiles,
          "UnsortedProfileModels",
          [index, modelId],
        );
      });
    }

    it("reverts with ModelsWithoutCapacity for models with a zero capacity", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
      await viem.assertions.revertWithCustomErrorWithArgs(
        profiles.write.setProfile(args(profile({ capacity: 0 })), { account: alice.account }),
        profiles,
        "ModelsWithoutCapacity",
        [3n],
      );
    });

    it("reverts with ModelsWithoutExecutionProvider for models with no execution provider", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
      await viem.assertions.revertWithCustomErrorWithArgs(
        profiles.write.setProfile(args(profile({ executionProviders: 0 })), { account: alice.account }),
        profiles,
        "ModelsWithoutExecutionProvider",
        [3n],
      );
    });

    it("reverts with RecordUriWithoutHash for a record URI with a zero hash", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
      await viem.assertions.revertWithCustomErrorWithArgs(
        profiles.write.setProfile(args(profile({ recordHash: zeroHash })), { account: alice.account }),
        profiles,
        "RecordUriWithoutHash",
        [],
      );
    });

    it("reverts with RecordHashWithoutUri for a record hash with an empty URI", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(deployProfiles);
      await viem.assertions.revertWithCustomErrorWithArgs(
        profiles.write.setProfile(args(profile({ recordURI: "" })), { account: alice.account }),
        profiles,
        "RecordHashWithoutUri",
        [RECORD_HASH],
      );
    });

    it("leaves the profile as it was when a set reverts", async () => {
      const { profiles, publicClient, alice } = await networkHelpers.loadFixture(aliceWithProfile);
      const { timestamp } = await publicClient.getBlock();
      await viem.assertions.revertWithCustomError(profiles.write.setProfile(args(profile({ capacity: 0 })), { account: alice.account }), profiles, "ModelsWithoutCapacity");
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(profile(), timestamp));
    });
  });

  describe("clearProfile", () => {
    it("removes the caller's profile and emits ProfileCleared", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(aliceWithProfile);
      await viem.assertions.emitWithArgs(profiles.write.clearProfile({ account: alice.account }), profiles, "ProfileCleared", [
        getAddress(alice.account.address),
      ]);
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), EMPTY);
      assert.equal(await profiles.read.meets([alice.account.address, EU_WEST, EP_GPU]), false);
      assert.equal(await profiles.read.meets([alice.account.address, ZERO_REGION, 0]), true);
    });

    it("lets a provider set a profile again after clearing it", async () => {
      const { profiles, publicClient, alice } = await networkHelpers.loadFixture(aliceWithProfile);
      await profiles.write.clearProfile({ account: alice.account });
      const p = profile({ models: [5] });
      await profiles.write.setProfile(args(p), { account: alice.account });
      const { timestamp } = await publicClient.getBlock();
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(p, timestamp));
    });

    it("reverts with ProfileNotFound for a caller with no profile, and cannot clear another provider's", async () => {
      const { profiles, publicClient, alice, bob } = await networkHelpers.loadFixture(aliceWithProfile);
      const { timestamp } = await publicClient.getBlock();
      await viem.assertions.revertWithCustomErrorWithArgs(profiles.write.clearProfile({ account: bob.account }), profiles, "ProfileNotFound", [
        getAddress(bob.account.address),
      ]);
      assert.deepEqual(await profiles.read.profileOf([alice.account.address]), stored(profile(), timestamp));
    });

    it("reverts with ProfileNotFound on a second clear", async () => {
      const { profiles, alice } = await networkHelpers.loadFixture(aliceWithProfile);
      await profiles.write.clearProfile({ account: alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(profiles.write.clearProfile({ account: alice.account }), profiles, "ProfileNotFound", [
        getAddress(alice.account.address),
      ]);
    });
  });

  describe("profileOf", () => {
    it("returns an empty profile with a zero updatedAt for a provider that never set one", async () => {
      const { profiles, bob } = await networkHelpers.loadFixture(deployProfiles);
      assert.deepEqual(await profiles.read.profileOf([bob.account.address]), EMPTY);
    });
  });

  describe("meets", () => {
    // Alice: eu-west, GPU only. Bob: no region declared, CPU and GPU. Carol: nothing set.
    async function threeProviders(connection: Connection) {
      const fx = await deployProfiles(connection);
      const [, , carol] = await connection.viem.getWalletClients();
      await fx.profiles.write.setProfile(args(profile()), { account: fx.alice.account });
      await fx.profiles.write.setProfile(args(profile({ region: ZERO_REGION, executionProviders: EP_CPU | EP_GPU })), { account: fx.bob.account });
      return { ...fx, carol };
    }

    const cases: [who: "alice" | "bob" | "carol", region: Hex, eps: number, expected: boolean, why: string][] = [
      ["carol", ZERO_REGION, 0, true, "no profile meets the query that asks for nothing"],
      ["carol", EU_WEST, 0, false, "no profile does not meet a region"],
      ["carol", ZERO_REGION, EP_CPU, false, "no profile does not meet an execution provider"],
      ["alice", ZERO_REGION, 0, true, "any region, any execution provider"],
      ["alice", EU_WEST, 0, true, "its region"],
      ["alice", US_EAST, 0, false, "another region"],
      ["alice", region("eu"), 0, false, "a prefix of its region"],
      ["alice", ZERO_REGION, EP_GPU, true, "its execution provider"],
      ["alice", ZERO_REGION, EP_CPU, false, "an execution provider it did not declare"],
      ["alice", ZERO_REGION, EP_CPU | EP_GPU, true, "either of two, one declared"],
      ["alice", ZERO_REGION, 4, false, "an unknown execution provider bit"],
      ["alice", EU_WEST, EP_GPU, true, "its region and execution provider"],
      ["alice", EU_WEST, EP_CPU, false, "its region with an execution provider it did not declare"],
      ["alice", US_EAST, EP_GPU, false, "its execution provider in another region"],
      ["bob", ZERO_REGION, 0, true, "no region declared, any region asked"],
      ["bob", EU_WEST, 0, false, "no region declared, a region asked"],
      ["bob", ZERO_REGION, EP_CPU, true, "CPU, declared with GPU"],
      ["bob", ZERO_REGION, EP_GPU, true, "GPU, declared with CPU"],
    ];
    for (const [who, r, eps, expected, why] of cases) {
      it(`${expected ? "is met" : "is not met"} by ${who} for ${why} (${r}, ${eps})`, async () => {
        const fx = await networkHelpers.loadFixture(threeProviders);
        assert.equal(await fx.profiles.read.meets([fx[who].account.address, r, eps]), expected);
      });
    }
  });
});
