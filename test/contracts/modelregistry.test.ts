import assert from "node:assert/strict";

import { network } from "hardhat";
import { getAddress, keccak256, parseEther, parseEventLogs, toHex, zeroAddress, zeroHash, type Hash } from "viem";

import {
  deploySystem,
  FEE,
  jobRequest,
  jobTracker,
  MODEL_COLLATERAL,
  modelSpec,
  PRICE_FLOOR,
  type Connection,
  type ModelSpecInput,
} from "../helpers/fixture.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const publicClient = await viem.getPublicClient();

const Tolerance = { Allclose: 0, Argmax: 1, Exact: 2 } as const;
const MAX_REL_TOL_E12 = 10n ** 12n;
const MAX_ABS_TOL_E12 = 10n ** 18n;
const MAX_MODELS = 2n ** 24n - 1n;
/** How long a lower collateral waits before posts copy it (ModelRegistry.COLLATERAL_NOTICE). */
const COLLATERAL_NOTICE = 24n * 60n * 60n;
/** ModelRegistry's first storage slot holds `modelCount`. */
const MODEL_COUNT_SLOT = 0n;

async function deployRegistry({ viem }: Connection) {
  const registry = await viem.deployContract("ModelRegistry");
  const [alice, bob, carol] = await viem.getWalletClients();
  return { registry, alice, bob, carol };
}

/** A registry with one model (id 1) owned by alice. */
async function registryWithModel(connection: Connection) {
  const fx = await deployRegistry(connection);
  await fx.registry.write.register([modelSpec()], { account: fx.alice.account });
  return { ...fx, modelId: 1n };
}

/** A spec that changes everything `update` may change (uri, collateral, price floor), and nothing it may not. */
function updatedSpec(): ModelSpecInput {
  return modelSpec({
    uri: "https://models.example/resnet18-v2.onnx",
    minCollateral: MODEL_COLLATERAL * 2n,
    priceFloor: PRICE_FLOOR * 3n,
  });
}

function tolerance(kind: number, absTolE12: bigint, relTolE12: bigint, axis = 0) {
  return { kind, axis, absTolE12, relTolE12 };
}

/** What `model(id)` returns for a spec registered by `owner`. */
function storedModel(spec: ModelSpecInput, owner: string, active = true) {
  return {
    modelHash: spec.modelHash,
    owner: getAddress(owner),
    active,
    minCollateral: spec.minCollateral,
    priceFloor: spec.priceFloor,
    tolerance: spec.tolerance,
    uri: spec.uri,
    runtime: spec.runtime,
    nonFiniteInputs: spec.nonFiniteInputs,
  };
}

describe("ModelRegistry", () => {
  describe("register", () => {
    it("stores the spec under id 1, owned by the caller and active, and emits ModelRegistered", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(deployRegistry);
      const spec = modelSpec();
      await viem.assertions.emitWithArgs(
        registry.write.register([spec], { account: alice.account }),
        registry,
        "ModelRegistered",
        [1n, alice.account.address, spec.modelHash, spec],
      );
      assert.equal(await registry.read.modelCount(), 1n);
      assert.deepEqual(await registry.read.model([1n]), storedModel(spec, alice.account.address));
      assert.deepEqual(await registry.read.terms([1n]), [true, PRICE_FLOOR, MODEL_COLLATERAL]);
    });

    it("returns the new id and numbers models consecutively", async () => {
      const { registry, alice, bob } = await networkHelpers.loadFixture(deployRegistry);
      const { result } = await registry.simulate.register([modelSpec()], { account: alice.account.address });
      assert.equal(result, 1n);
      await registry.write.register([modelSpec()], { account: alice.account });
      const second = modelSpec({ modelHash: keccak256(toHex("other model")) });
      await registry.write.register([second], { account: bob.account });
      assert.equal(await registry.read.modelCount(), 2n);
      assert.deepEqual(await registry.read.model([2n]), storedModel(second, bob.account.address));
    });

    it("registers the same model file again as a new model (new collateral means a new model)", async () => {
      const { registry, alice, bob } = await networkHelpers.loadFixture(registryWithModel);
      const sameFile = modelSpec({ minCollateral: MODEL_COLLATERAL * 2n });
      await registry.write.register([sameFile], { account: bob.account });
      assert.deepEqual(await registry.read.model([2n]), storedModel(sameFile, bob.account.address));
      assert.deepEqual(await registry.read.model([1n]), storedModel(modelSpec(), alice.account.address));
    });

    it("reverts with EmptyModelHash for a zero model hash", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([modelSpec({ modelHash: zeroHash })]),
        registry,
        "EmptyModelHash",
        [],
      );
    });

    it("reverts with EmptyUri for an empty uri", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.register([modelSpec({ uri: "" })]), registry, "EmptyUri", []);
    });

    it("reverts with ZeroCollateral for a zero minimum collateral", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([modelSpec({ minCollateral: 0n })]),
        registry,
        "ZeroCollateral",
        [],
      );
      assert.equal(await registry.read.modelCount(), 0n);
    });

    it("accepts allclose tolerances up to relTol 1.0 and absTol 1e6", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(deployRegistry);
      const spec = modelSpec({ tolerance: tolerance(Tolerance.Allclose, MAX_ABS_TOL_E12, MAX_REL_TOL_E12) });
      await registry.write.register([spec], { account: alice.account });
      assert.deepEqual((await registry.read.model([1n])).tolerance, spec.tolerance);
    });

    it("reverts with InvalidTolerance for an allclose relTol above 1.0", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([modelSpec({ tolerance: tolerance(Tolerance.Allclose, 0n, MAX_REL_TOL_E12 + 1n) })]),
        registry,
        "InvalidTolerance",
        [Tolerance.Allclose],
      );
    });

    it("reverts with InvalidTolerance for an allclose absTol above 1e6", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([modelSpec({ tolerance: tolerance(Tolerance.Allclose, MAX_ABS_TOL_E12 + 1n, 0n) })]),
        registry,
        "InvalidTolerance",
        [Tolerance.Allclose],
      );
    });

    it("accepts argmax along any axis, negative included, and exact, with zero numeric tolerances", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(deployRegistry);
      const argmax = modelSpec({ tolerance: tolerance(Tolerance.Argmax, 0n, 0n, -1) });
      const exact = modelSpec({ tolerance: tolerance(Tolerance.Exact, 0n, 0n) });
      await registry.write.register([argmax], { account: alice.account });
      await registry.write.register([exact], { account: alice.account });
      assert.deepEqual((await registry.read.model([1n])).tolerance, argmax.tolerance);
      assert.deepEqual((await registry.read.model([2n])).tolerance, exact.tolerance);
    });

    for (const [name, kind] of [
      ["argmax", Tolerance.Argmax],
      ["exact", Tolerance.Exact],
    ] as const) {
      it(`reverts with InvalidTolerance for ${name} with a numeric absTol or relTol`, async () => {
        const { registry } = await networkHelpers.loadFixture(deployRegistry);
        for (const t of [tolerance(kind, 1n, 0n), tolerance(kind, 0n, 1n)]) {
          await viem.assertions.revertWithCustomErrorWithArgs(
            registry.write.register([modelSpec({ tolerance: t })]),
            registry,
            "InvalidTolerance",
            [kind],
          );
        }
      });
    }

    it("reverts for a tolerance kind outside the enum", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      await viem.assertions.revert(registry.write.register([modelSpec({ tolerance: tolerance(3, 0n, 0n) })]));
      assert.equal(await registry.read.modelCount(), 0n);
    });

    it("registers up to 2^24 - 1 models (the market's 24-bit id) and then reverts with TooManyModels", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(deployRegistry);
      await networkHelpers.setStorageAt(registry.address, MODEL_COUNT_SLOT, MAX_MODELS - 1n);
      assert.equal(await registry.read.modelCount(), MAX_MODELS - 1n);
      await registry.write.register([modelSpec()], { account: alice.account });
      assert.equal((await registry.read.model([MAX_MODELS])).owner, getAddress(alice.account.address));
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.register([modelSpec()]), registry, "TooManyModels", []);
      assert.equal(await registry.read.modelCount(), MAX_MODELS);
    });
  });

  describe("update", () => {
    it("replaces uri, collateral and price floor, and emits ModelUpdated", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const spec = updatedSpec();
      await viem.assertions.emitWithArgs(
        registry.write.update([modelId, spec], { account: alice.account }),
        registry,
        "ModelUpdated",
        [modelId, spec],
      );
      assert.deepEqual(await registry.read.model([modelId]), storedModel(spec, alice.account.address));
      assert.deepEqual(await registry.read.terms([modelId]), [true, PRICE_FLOOR * 3n, MODEL_COLLATERAL * 2n]);
    });

    // What a result is judged by never changes under a job: a new tolerance or runtime is a new model.
    const registered = modelSpec().tolerance;
    for (const [what, changed] of [
      ["kind", { ...registered, kind: Tolerance.Argmax, absTolE12: 0n, relTolE12: 0n }],
      ["axis", { ...registered, axis: 1 }],
      ["absTol", { ...registered, absTolE12: registered.absTolE12 + 1n }],
      ["relTol", { ...registered, relTolE12: registered.relTolE12 - 1n }],
    ] as const) {
      it(`reverts with ToleranceChanged when the tolerance's ${what} differs, and keeps the registered spec`, async () => {
        const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.update([modelId, { ...updatedSpec(), tolerance: changed }], { account: alice.account }),
          registry,
          "ToleranceChanged",
          [modelId],
        );
        assert.deepEqual(await registry.read.model([modelId]), storedModel(modelSpec(), alice.account.address));
      });
    }

    it("reverts with RuntimeChanged when the runtime differs, even by a patch version or letter case", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      for (const runtime of ["onnxruntime-node@1.30.1", "ONNXRUNTIME-NODE@1.30.0", ""]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.update([modelId, { ...updatedSpec(), runtime }], { account: alice.account }),
          registry,
          "RuntimeChanged",
          [modelId],
        );
      }
      assert.deepEqual(await registry.read.model([modelId]), storedModel(modelSpec(), alice.account.address));
    });

    it("stores the owner's opt-in to non-finite inputs, carries it in ModelRegistered, and reverts with NonFiniteInputsChanged on any change", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(deployRegistry);
      const optedIn = modelSpec({ nonFiniteInputs: true });
      await viem.assertions.emitWithArgs(
        registry.write.register([optedIn], { account: alice.account }),
        registry,
        "ModelRegistered",
        [1n, alice.account.address, optedIn.modelHash, optedIn],
      );
      await registry.write.register([modelSpec()], { account: alice.account });
      assert.equal((await registry.read.model([1n])).nonFiniteInputs, true);
      assert.equal((await registry.read.model([2n])).nonFiniteInputs, false);
      // It changes which inputs are judged at all: frozen per model, both ways.
      for (const [modelId, nonFiniteInputs] of [[1n, false], [2n, true]] as const) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.update([modelId, { ...updatedSpec(), nonFiniteInputs }], { account: alice.account }),
          registry,
          "NonFiniteInputsChanged",
          [modelId],
        );
      }
      await registry.write.update([1n, { ...updatedSpec(), nonFiniteInputs: true }], { account: alice.account });
      assert.deepEqual(await registry.read.model([1n]), storedModel({ ...updatedSpec(), nonFiniteInputs: true }, alice.account.address));
    });

    it("refuses a tolerance change before validating it: an invalid new tolerance is ToleranceChanged", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([modelId, modelSpec({ tolerance: tolerance(Tolerance.Exact, 0n, 1n) })], { account: alice.account }),
        registry,
        "ToleranceChanged",
        [modelId],
      );
    });

    it("keeps a deactivated model inactive", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await registry.write.setActive([modelId, false], { account: alice.account });
      await registry.write.update([modelId, updatedSpec()], { account: alice.account });
      assert.equal((await registry.read.model([modelId])).active, false);
    });

    it("reverts with NotModelOwner when someone other than the owner updates", async () => {
      const { registry, bob, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([modelId, updatedSpec()], { account: bob.account }),
        registry,
        "NotModelOwner",
        [modelId, bob.account.address],
      );
    });

    it("reverts with ModelNotFound for an id that was never registered", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(registryWithModel);
      for (const id of [0n, 2n]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.update([id, updatedSpec()], { account: alice.account }),
          registry,
          "ModelNotFound",
          [id],
        );
      }
    });

    it("reverts with ModelHashChanged when the spec names another model file", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const otherHash = keccak256(toHex("other model bytes"));
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([modelId, modelSpec({ modelHash: otherHash })], { account: alice.account }),
        registry,
        "ModelHashChanged",
        [modelSpec().modelHash, otherHash],
      );
    });

    it("lets the owner change the collateral for jobs posted from then on", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await registry.write.update([modelId, modelSpec({ minCollateral: MODEL_COLLATERAL + 1n })], { account: alice.account });
      const [, , collateral] = await registry.read.terms([modelId]);
      assert.equal(collateral, MODEL_COLLATERAL + 1n);
    });

    it("validates the new spec as register does", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([modelId, modelSpec({ uri: "" })], { account: alice.account }),
        registry,
        "EmptyUri",
        [],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([modelId, modelSpec({ minCollateral: 0n })], { account: alice.account }),
        registry,
        "ZeroCollateral",
        [],
      );
      assert.deepEqual(await registry.read.model([modelId]), storedModel(modelSpec(), alice.account.address));
    });
  });

  describe("collateral notice (a lower collateral waits COLLATERAL_NOTICE, a higher one applies at once)", () => {
    const LOWER = MODEL_COLLATERAL / 2n;

    /** The block time `hash` was mined at. */
    async function minedAt(hash: Hash) {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      return (await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    }

    /** The CollateralLowering events of a transaction, as [collateral, effectiveAt]. */
    async function loweringsOf(hash: Hash, registry: Awaited<ReturnType<typeof deployRegistry>>["registry"]) {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      return parseEventLogs({ abi: registry.abi, logs: receipt.logs, eventName: "CollateralLowering" }).map((l) => [l.args.collateral, l.args.effectiveAt]);
    }

    /** terms() and model() read in a block mined at `timestamp`, and the collateral each says is in force. */
    async function collateralAt(registry: Awaited<ReturnType<typeof deployRegistry>>["registry"], modelId: bigint, timestamp: bigint) {
      await networkHelpers.time.increaseTo(timestamp);
      const blockNumber = await publicClient.getBlockNumber();
      const [, , inTerms] = await registry.read.terms([modelId], { blockNumber });
      const { minCollateral } = await registry.read.model([modelId], { blockNumber });
      assert.equal(minCollateral, inTerms, "model() and terms() agree");
      return { collateral: inTerms, pending: await registry.read.pendingCollateral([modelId], { blockNumber }) };
    }

    it("is one day", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistry);
      assert.equal(await registry.read.COLLATERAL_NOTICE(), COLLATERAL_NOTICE);
    });

    it("schedules a lower collateral: not in force at effectiveAt - 1, in force from effectiveAt on; the URI and price floor apply at once", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const spec = { ...updatedSpec(), minCollateral: LOWER };
      const hash = await registry.write.update([modelId, spec], { account: alice.account });
      const effectiveAt = (await minedAt(hash)) + COLLATERAL_NOTICE;
      await viem.assertions.emitWithArgs(hash, registry, "CollateralLowering", [modelId, LOWER, effectiveAt]);
      // ModelUpdated claims only the collateral in force: the old one.
      await viem.assertions.emitWithArgs(hash, registry, "ModelUpdated", [modelId, { ...spec, minCollateral: MODEL_COLLATERAL }]);
      assert.deepEqual(await registry.read.model([modelId]), storedModel({ ...spec, minCollateral: MODEL_COLLATERAL }, alice.account.address));
      assert.deepEqual(await registry.read.terms([modelId]), [true, spec.priceFloor, MODEL_COLLATERAL]);
      assert.deepEqual(await registry.read.pendingCollateral([modelId]), [LOWER, effectiveAt]);

      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt - 1n), { collateral: MODEL_COLLATERAL, pending: [LOWER, effectiveAt] });
      // From effectiveAt on, applied on read: nobody has to send anything.
      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt), { collateral: LOWER, pending: [0n, 0n] });
      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt + 1000n), { collateral: LOWER, pending: [0n, 0n] });
    });

    it("applies a raise at once and cancels a pending decrease (CollateralLowering with effectiveAt 0); keeping the collateral in force cancels it too", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      for (const kept of [MODEL_COLLATERAL * 2n, MODEL_COLLATERAL]) {
        const restore = await networkHelpers.takeSnapshot();
        const lowered = await registry.write.update([modelId, modelSpec({ minCollateral: LOWER })], { account: alice.account });
        const effectiveAt = (await minedAt(lowered)) + COLLATERAL_NOTICE;
        const hash = await registry.write.update([modelId, modelSpec({ minCollateral: kept })], { account: alice.account });
        await viem.assertions.emitWithArgs(hash, registry, "CollateralLowering", [modelId, 0n, 0n]);
        await viem.assertions.emitWithArgs(hash, registry, "ModelUpdated", [modelId, modelSpec({ minCollateral: kept })]);
        assert.deepEqual(await registry.read.pendingCollateral([modelId]), [0n, 0n]);
        assert.deepEqual(await collateralAt(registry, modelId, effectiveAt), { collateral: kept, pending: [0n, 0n] }, "the cancelled decrease never applies");
        await restore.restore();
      }
      // A raise with nothing pending cancels nothing: no CollateralLowering.
      const raised = await registry.write.update([modelId, updatedSpec()], { account: alice.account });
      assert.deepEqual(await loweringsOf(raised, registry), []);
    });

    it("replaces a pending decrease with a new lower one and restarts the clock", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const first = await registry.write.update([modelId, modelSpec({ minCollateral: LOWER })], { account: alice.account });
      const firstAt = (await minedAt(first)) + COLLATERAL_NOTICE;
      await networkHelpers.time.increaseTo(firstAt - 60n);
      const lowest = LOWER / 2n;
      const second = await registry.write.update([modelId, modelSpec({ minCollateral: lowest })], { account: alice.account });
      const secondAt = (await minedAt(second)) + COLLATERAL_NOTICE;
      await viem.assertions.emitWithArgs(second, registry, "CollateralLowering", [modelId, lowest, secondAt]);
      // Neither the first decrease at its time nor the second before its own.
      assert.deepEqual(await collateralAt(registry, modelId, firstAt), { collateral: MODEL_COLLATERAL, pending: [lowest, secondAt] });
      assert.deepEqual(await collateralAt(registry, modelId, secondAt - 1n), { collateral: MODEL_COLLATERAL, pending: [lowest, secondAt] });
      assert.deepEqual(await collateralAt(registry, modelId, secondAt), { collateral: lowest, pending: [0n, 0n] });
    });

    it("keeps a pending decrease and its time when an update repeats it (a URI or price floor change meanwhile)", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const lowered = await registry.write.update([modelId, modelSpec({ minCollateral: LOWER })], { account: alice.account });
      const effectiveAt = (await minedAt(lowered)) + COLLATERAL_NOTICE;
      await networkHelpers.time.increase(3600);
      const spec = { ...updatedSpec(), minCollateral: LOWER };
      const hash = await registry.write.update([modelId, spec], { account: alice.account });
      assert.deepEqual(await loweringsOf(hash, registry), [], "nothing rescheduled");
      await viem.assertions.emitWithArgs(hash, registry, "ModelUpdated", [modelId, { ...spec, minCollateral: MODEL_COLLATERAL }]);
      assert.equal((await registry.read.model([modelId])).uri, spec.uri);
      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt - 1n), { collateral: MODEL_COLLATERAL, pending: [LOWER, effectiveAt] });
      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt), { collateral: LOWER, pending: [0n, 0n] });
    });

    it("measures the next update against a decrease already due: ModelUpdated reports it, a value above it applies at once, one below waits", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const lowered = await registry.write.update([modelId, modelSpec({ minCollateral: LOWER })], { account: alice.account });
      await networkHelpers.time.increaseTo((await minedAt(lowered)) + COLLATERAL_NOTICE);
      // Still LOWER by the price change: the due decrease is written for good.
      const kept = await registry.write.update([modelId, modelSpec({ minCollateral: LOWER, priceFloor: PRICE_FLOOR * 2n })], { account: alice.account });
      await viem.assertions.emitWithArgs(kept, registry, "ModelUpdated", [modelId, modelSpec({ minCollateral: LOWER, priceFloor: PRICE_FLOOR * 2n })]);
      assert.deepEqual(await loweringsOf(kept, registry), []);
      // Above LOWER (still below the original collateral) is a raise now: at once.
      const between = LOWER + 1n;
      const raised = await registry.write.update([modelId, modelSpec({ minCollateral: between })], { account: alice.account });
      assert.deepEqual(await loweringsOf(raised, registry), []);
      assert.deepEqual(await registry.read.terms([modelId]), [true, PRICE_FLOOR, between]);
      // Below it waits again.
      const again = await registry.write.update([modelId, modelSpec({ minCollateral: 1n })], { account: alice.account });
      const effectiveAt = (await minedAt(again)) + COLLATERAL_NOTICE;
      await viem.assertions.emitWithArgs(again, registry, "ModelUpdated", [modelId, modelSpec({ minCollateral: between })]);
      assert.deepEqual(await loweringsOf(again, registry), [[1n, effectiveAt]]);
      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt - 1n), { collateral: between, pending: [1n, effectiveAt] });
    });

    it("pendingCollateral is (0, 0) with nothing pending and for a model never registered", async () => {
      const { registry, modelId } = await networkHelpers.loadFixture(registryWithModel);
      assert.deepEqual(await registry.read.pendingCollateral([modelId]), [0n, 0n]);
      assert.deepEqual(await registry.read.pendingCollateral([2n]), [0n, 0n]);
    });

    it("keeps a pending decrease through setActive and transferModel, and the new owner may cancel it", async () => {
      const { registry, alice, bob, modelId } = await networkHelpers.loadFixture(registryWithModel);
      const lowered = await registry.write.update([modelId, modelSpec({ minCollateral: LOWER })], { account: alice.account });
      const effectiveAt = (await minedAt(lowered)) + COLLATERAL_NOTICE;
      await registry.write.setActive([modelId, false], { account: alice.account });
      await registry.write.transferModel([modelId, bob.account.address], { account: alice.account });
      assert.deepEqual(await registry.read.pendingCollateral([modelId]), [LOWER, effectiveAt]);
      assert.equal((await registry.read.model([modelId])).owner, getAddress(bob.account.address), "the decrease shares the owner's slot");
      await registry.write.update([modelId, modelSpec()], { account: bob.account });
      assert.deepEqual(await collateralAt(registry, modelId, effectiveAt), { collateral: MODEL_COLLATERAL, pending: [0n, 0n] });
      assert.equal((await registry.read.model([modelId])).owner, getAddress(bob.account.address));
    });
  });

  describe("setActive", () => {
    it("turns a model off and on for its owner, emitting ModelActiveSet each time", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.emitWithArgs(
        registry.write.setActive([modelId, false], { account: alice.account }),
        registry,
        "ModelActiveSet",
        [modelId, false],
      );
      assert.deepEqual(await registry.read.terms([modelId]), [false, PRICE_FLOOR, MODEL_COLLATERAL]);
      await viem.assertions.emitWithArgs(
        registry.write.setActive([modelId, true], { account: alice.account }),
        registry,
        "ModelActiveSet",
        [modelId, true],
      );
      assert.equal((await registry.read.model([modelId])).active, true);
    });

    it("reverts with NotModelOwner for anyone but the owner", async () => {
      const { registry, bob, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setActive([modelId, false], { account: bob.account }),
        registry,
        "NotModelOwner",
        [modelId, bob.account.address],
      );
    });

    it("reverts with ModelNotFound for an unknown id", async () => {
      const { registry, alice } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setActive([7n, false], { account: alice.account }),
        registry,
        "ModelNotFound",
        [7n],
      );
    });
  });

  describe("transferModel", () => {
    it("hands the model to a new owner, emitting ModelOwnershipTransferred", async () => {
      const { registry, alice, bob, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.emitWithArgs(
        registry.write.transferModel([modelId, bob.account.address], { account: alice.account }),
        registry,
        "ModelOwnershipTransferred",
        [modelId, alice.account.address, bob.account.address],
      );
      assert.equal((await registry.read.model([modelId])).owner, getAddress(bob.account.address));
    });

    it("gives the new owner every owner right and takes them from the old one", async () => {
      const { registry, alice, bob, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await registry.write.transferModel([modelId, bob.account.address], { account: alice.account });
      await registry.write.update([modelId, updatedSpec()], { account: bob.account });
      await registry.write.setActive([modelId, false], { account: bob.account });
      const asOldOwner = { account: alice.account };
      for (const write of [
        () => registry.write.update([modelId, modelSpec()], asOldOwner),
        () => registry.write.setActive([modelId, true], asOldOwner),
        () => registry.write.transferModel([modelId, alice.account.address], asOldOwner),
      ]) {
        await viem.assertions.revertWithCustomErrorWithArgs(write(), registry, "NotModelOwner", [modelId, alice.account.address]);
      }
      assert.deepEqual(await registry.read.model([modelId]), storedModel(updatedSpec(), bob.account.address, false));
    });

    it("reverts with ZeroAddress for the zero address", async () => {
      const { registry, alice, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.transferModel([modelId, zeroAddress], { account: alice.account }),
        registry,
        "ZeroAddress",
        [],
      );
    });

    it("reverts with NotModelOwner for anyone but the owner", async () => {
      const { registry, bob, carol, modelId } = await networkHelpers.loadFixture(registryWithModel);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.transferModel([modelId, carol.account.address], { account: bob.account }),
        registry,
        "NotModelOwner",
        [modelId, bob.account.address],
      );
    });
  });

  describe("views", () => {
    it("model reverts with ModelNotFound for an unknown id", async () => {
      const { registry } = await networkHelpers.loadFixture(registryWithModel);
      for (const id of [0n, 2n]) {
        await viem.assertions.revertWithCustomErrorWithArgs(registry.read.model([id]), registry, "ModelNotFound", [id]);
      }
    });

    it("terms reads an unknown id as inactive with zero floor and collateral", async () => {
      const { registry } = await networkHelpers.loadFixture(registryWithModel);
      assert.deepEqual(await registry.read.terms([2n]), [false, 0n, 0n]);
    });
  });

  describe("as the JobMarket's source of terms", () => {
    async function market(connection: Connection) {
      const sys = await deploySystem(connection);
      await sys.registry.write.register([modelSpec()], { account: sys.owner.account });
      await sys.token.write.mint([sys.dapp.account.address, parseEther("1000")]);
      await sys.token.write.approve([sys.market.address, parseEther("1000")], { account: sys.dapp.account });
      return { ...sys, modelId: 1n };
    }

    async function post(sys: Awaited<ReturnType<typeof market>>, fee = FEE, modelId = sys.modelId) {
      const now = BigInt(await networkHelpers.time.latest());
      return sys.market.write.postJob([jobRequest(modelId, now + 600n, { fee })], { account: sys.dapp.account });
    }

    it("refuses jobs for a deactivated model and takes them again once it is reactivated", async () => {
      const sys = await networkHelpers.loadFixture(market);
      await sys.registry.write.setActive([sys.modelId, false], { account: sys.owner.account });
      await viem.assertions.revertWithCustomErrorWithArgs(post(sys), sys.market, "ModelInactive", [sys.modelId]);
      await sys.registry.write.setActive([sys.modelId, true], { account: sys.owner.account });
      await post(sys);
      assert.equal(await sys.market.read.jobCount(), 1n);
    });

    it("refuses jobs for a model id that was never registered", async () => {
      const sys = await networkHelpers.loadFixture(market);
      await viem.assertions.revertWithCustomErrorWithArgs(post(sys, FEE, 2n), sys.market, "ModelInactive", [2n]);
    });

    it("keeps the collateral a job was posted with when the owner changes it afterwards", async () => {
      const sys = await networkHelpers.loadFixture(market);
      const jobs = jobTracker(sys);
      await jobs.send(post(sys));
      await sys.registry.write.update([sys.modelId, modelSpec({ minCollateral: MODEL_COLLATERAL * 5n })], { account: sys.owner.account });
      await jobs.send(post(sys));
      assert.equal(jobs.job(1n).collateral, MODEL_COLLATERAL, "posted before the update");
      assert.equal(jobs.job(2n).collateral, MODEL_COLLATERAL * 5n, "posted after it");
    });

    it("gives a job posted during a decrease's notice the old collateral, and one posted from effectiveAt on the new", async () => {
      const sys = await networkHelpers.loadFixture(market);
      const jobs = jobTracker(sys);
      const lowered = await sys.registry.write.update([sys.modelId, modelSpec({ minCollateral: 1n })], { account: sys.owner.account });
      const [, effectiveAt] = await sys.registry.read.pendingCollateral([sys.modelId]);
      assert.equal(effectiveAt, (await sys.publicClient.getBlock({ blockNumber: (await sys.publicClient.waitForTransactionReceipt({ hash: lowered })).blockNumber })).timestamp + COLLATERAL_NOTICE);
      await jobs.send(post(sys)); // the very next block: a dApp's post the update tried to front-run
      await networkHelpers.time.increaseTo(effectiveAt - 2n); // the post's claimBy counts from the latest block
      await networkHelpers.time.setNextBlockTimestamp(effectiveAt - 1n);
      await jobs.send(post(sys));
      await networkHelpers.time.setNextBlockTimestamp(effectiveAt);
      await jobs.send(post(sys));
      assert.deepEqual([1n, 2n, 3n].map((id) => jobs.job(id).collateral), [MODEL_COLLATERAL, MODEL_COLLATERAL, 1n]);
    });

    it("applies an updated price floor to the next job", async () => {
      const sys = await networkHelpers.loadFixture(market);
      await post(sys, PRICE_FLOOR);
      await sys.registry.write.update([sys.modelId, modelSpec({ priceFloor: PRICE_FLOOR + 1n })], { account: sys.owner.account });
      await viem.assertions.revertWithCustomErrorWithArgs(post(sys, PRICE_FLOOR), sys.market, "FeeBelowFloor", [
        PRICE_FLOOR,
        PRICE_FLOOR + 1n,
      ]);
      await post(sys, PRICE_FLOOR + 1n);
      assert.equal(await sys.market.read.jobCount(), 2n);
    });
  });
});
