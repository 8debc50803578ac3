/**
 * Provider profiles off-chain (offchain/chain/profiles.ts): region and execution provider encoding, the
 * checks made before a set is sent, and a profile set on a local chain read back with `readProfile`.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, keccak256, stringToHex, toBytes, zeroHash } from "viem";

import {
  decodeExecutionProviders,
  decodeRegion,
  encodeExecutionProviders,
  encodeRegion,
  formatProfile,
  MAX_PROFILE_MODELS,
  parseExecutionProviders,
  parseProfileModels,
  ProfileInputError,
  profileArgs,
  readProfile,
  type ProviderProfile,
} from "../../offchain/chain/profiles.js";
import { NonRetryableError } from "../../offchain/errors.js";

const refused = (code: string, message: RegExp) => (error: unknown) =>
  error instanceof ProfileInputError && error instanceof NonRetryableError && error.code === code && message.test(error.message);

describe("provider profiles (offchain/chain/profiles.ts)", () => {
  describe("encodeRegion / decodeRegion", () => {
    it("encodes a name as ASCII zero-padded on the right to 8 bytes, as viem's stringToHex does", () => {
      assert.equal(encodeRegion("eu-west"), "0x65752d7765737400");
      assert.equal(encodeRegion("eu-west"), stringToHex("eu-west", { size: 8 }));
      assert.equal(encodeRegion("ap-south"), stringToHex("ap-south", { size: 8 }));
      assert.equal(encodeRegion("x"), "0x7800000000000000");
    });

    it("encodes the empty name as the zero region, which decodes to undefined (not declared)", () => {
      assert.equal(encodeRegion(""), "0x0000000000000000");
      assert.equal(decodeRegion("0x0000000000000000"), undefined);
    });

    it("decodes what it encodes", () => {
      for (const name of ["eu-west", "us-east1", "a", "AP_SE.2", "~!@#$%^&"]) assert.equal(decodeRegion(encodeRegion(name)), name);
    });

    it("refuses a name over 8 bytes, naming its length and the remedy", () => {
      assert.throws(() => encodeRegion("europe-west2"), refused("BAD_REGION", /"europe-west2" is 12 bytes, over the 8 a profile holds: use a shorter name/));
    });

    it("refuses a space, a control character and non-ASCII, naming the character and its position", () => {
      assert.throws(() => encodeRegion("eu west"), refused("BAD_REGION", /holds a space at position 3: use visible ASCII/));
      assert.throws(() => encodeRegion("eu\twest"), refused("BAD_REGION", /holds U\+0009 at position 3/));
      assert.throws(() => encodeRegion("eu\u007f"), refused("BAD_REGION", /holds U\+007F at position 3/));
      assert.throws(() => encodeRegion("région"), refused("BAD_REGION", /holds U\+00E9 at position 2/));
      assert.throws(() => encodeRegion("🌍"), refused("BAD_REGION", /holds U\+1F30D at position 1/));
    });
  });

  describe("execution providers", () => {
    it("encodes names as the contract's bits and decodes bits as names, in a fixed order", () => {
      assert.equal(encodeExecutionProviders([]), 0);
      assert.equal(encodeExecutionProviders(["cpu"]), 1);
      assert.equal(encodeExecutionProviders(["gpu"]), 2);
      assert.equal(encodeExecutionProviders(["gpu", "cpu"]), 3);
      assert.deepEqual(decodeExecutionProviders(0), []);
      assert.deepEqual(decodeExecutionProviders(1), ["cpu"]);
      assert.deepEqual(decodeExecutionProviders(2), ["gpu"]);
      assert.deepEqual(decodeExecutionProviders(3), ["cpu", "gpu"]);
      assert.deepEqual(decodeExecutionProviders(0xff), ["cpu", "gpu"], "unknown bits are left out");
    });

    it("parses --ep lists in any case and order, each name once", () => {
      assert.deepEqual(parseExecutionProviders("gpu"), ["gpu"]);
      assert.deepEqual(parseExecutionProviders("GPU, cpu,gpu"), ["cpu", "gpu"]);
    });

    it("refuses an unknown name and an empty list", () => {
      assert.throws(() => parseExecutionProviders("cuda"), refused("BAD_EP", /unknown execution provider "cuda" \(execution providers: cpu, gpu\)/));
      assert.throws(() => parseExecutionProviders(" , "), refused("BAD_EP", /at least one execution provider/));
    });
  });

  describe("models", () => {
    it("sorts model ids and drops repeats, as the contract wants them", () => {
      assert.deepEqual(parseProfileModels("7, 2,1,2"), [1, 2, 7]);
      assert.deepEqual(parseProfileModels(""), []);
    });

    it("refuses a zero id, a non-integer and more than 64 models", () => {
      assert.throws(() => parseProfileModels("0,1"), refused("BAD_MODELS", /model id 0/));
      assert.throws(() => parseProfileModels("1,x"), refused("BAD_MODELS", /got "x"/));
      assert.throws(() => parseProfileModels("4294967296"), refused("BAD_MODELS", /model id 4294967296/));
      const many = Array.from({ length: MAX_PROFILE_MODELS + 1 }, (_, i) => i + 1).join(",");
      assert.throws(() => parseProfileModels(many), refused("BAD_MODELS", /65 models are over the 64/));
    });
  });

  describe("profileArgs", () => {
    it("builds the setProfile arguments, the record pinned by the keccak256 of its bytes", () => {
      const bytes = toBytes('{"gpu":"H200"}');
      assert.deepEqual(profileArgs({ region: "eu-west", executionProviders: ["gpu"], capacity: 4, models: [7, 1], record: { uri: "ipfs://r", bytes } }), [
        encodeRegion("eu-west"),
        2,
        4,
        [1, 7],
        "ipfs://r",
        keccak256(bytes),
      ]);
    });

    it("gives a zero region and a zero hash when neither is given", () => {
      assert.deepEqual(profileArgs({ executionProviders: ["cpu"], capacity: 1, models: [] }), ["0x0000000000000000", 1, 1, [], "", zeroHash]);
    });

    it("refuses models with no capacity or no execution provider, and a record with no URI", () => {
      assert.throws(() => profileArgs({ executionProviders: ["gpu"], capacity: 0, models: [1] }), refused("BAD_CAPACITY", /--capacity/));
      assert.throws(() => profileArgs({ executionProviders: [], capacity: 1, models: [1] }), refused("BAD_EP", /--ep/));
      assert.throws(() => profileArgs({ executionProviders: ["gpu"], capacity: 2 ** 32, models: [] }), refused("BAD_CAPACITY", /from 0 to 4294967295/));
      assert.throws(() => profileArgs({ executionProviders: ["gpu"], capacity: 1, models: [], record: { uri: "", bytes: new Uint8Array() } }), refused("BAD_RECORD", /--record-uri/));
    });
  });

  describe("formatProfile", () => {
    const base: ProviderProfile = {
      provider: getAddress("0x00000000000000000000000000000000000000aa"),
      region: "eu-west",
      executionProviders: ["cpu", "gpu"],
      capacity: 4,
      models: [1, 2, 7],
      updatedAt: 1_767_225_600n,
      record: { uri: "ipfs://r", hash: zeroHash },
    };

    it("prints one line with every field", () => {
      assert.equal(
        formatProfile(base),
        `profile: region eu-west, cpu+gpu, 4 jobs at once, models 1, 2, 7, record ipfs://r (keccak256 ${zeroHash}); set 2026-01-01 00:00:00 UTC (self-declared)`,
      );
    });

    it("says what is not declared, and how to declare a profile when there is none", () => {
      assert.equal(
        formatProfile({ ...base, region: undefined, executionProviders: [], capacity: 1, models: [], record: undefined }),
        "profile: region not declared, no execution provider, 1 job at once, no models; set 2026-01-01 00:00:00 UTC (self-declared)",
      );
      assert.match(formatProfile(undefined), /none \(`dinfer provider profile set` declares one\)/);
    });
  });

  describe("readProfile", () => {
    it("reads a profile set on chain with its region as text and execution providers by name; undefined before and after", async () => {
      const { viem } = await network.create();
      const profiles = await viem.deployContract("ProviderProfiles");
      const client = await viem.getPublicClient();
      const [alice] = await viem.getWalletClients();
      const provider = getAddress(alice.account.address);
      const read = () => readProfile({ client, address: profiles.address, provider });
      assert.equal(await read(), undefined);

      const bytes = toBytes('{"gpu":"H200"}');
      await profiles.write.setProfile(
        profileArgs({ region: "eu-west", executionProviders: ["gpu"], capacity: 4, models: [7, 1], record: { uri: "ipfs://r", bytes } }),
        { account: alice.account },
      );
      const { timestamp } = await client.getBlock();
      assert.deepEqual(await read(), {
        provider,
        region: "eu-west",
        executionProviders: ["gpu"],
        capacity: 4,
        models: [1, 7],
        updatedAt: timestamp,
        record: { uri: "ipfs://r", hash: keccak256(bytes) },
      });

      await profiles.write.clearProfile({ account: alice.account });
      assert.equal(await read(), undefined);
    });
  });
});
