import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findSharedLayers, planLayerDeletion } from "../../../src/clair/v1/layer-sharing.ts";

// Chain IDs stand for the whole chain below them, so two images share a layer only with all below it.
const app = ["base", "base+runtime", "base+runtime+app"];
const otherApp = ["base", "base+runtime", "base+runtime+other"];
const childOfApp = [...app, "base+runtime+app+plugin"];
const unrelated = ["alpine", "alpine+tools"];

describe("findSharedLayers", () => {
  it("flags each requested layer another image stands on, with the images", () => {
    assert.deepEqual(findSharedLayers(app, [0, 1, 2], [unrelated, otherApp, childOfApp]), [
      { layerIndex: 0, chainId: "base", sharedWith: [1, 2] },
      { layerIndex: 1, chainId: "base+runtime", sharedWith: [1, 2] },
      { layerIndex: 2, chainId: "base+runtime+app", sharedWith: [2] },
    ]);
  });

  it("only looks at the requested layers, and flags none when nothing else uses them", () => {
    assert.deepEqual(findSharedLayers(app, [2], [otherApp]), []);
    assert.deepEqual(findSharedLayers(app, [0, 1, 2], [unrelated]), []);
    assert.deepEqual(findSharedLayers(app, [0, 1, 2], []), []);
  });

  it("ignores an entry that is the same image (the same chain under another name)", () => {
    assert.deepEqual(findSharedLayers(app, [0, 1, 2], [[...app]]), []);
  });
});

describe("planLayerDeletion", () => {
  it("deletes the lowest layer only this image has, keeping the shared ones", () => {
    const plan = planLayerDeletion(app, [otherApp]);
    assert.deepEqual(plan.layerIndexes, [2]);
    assert.deepEqual(
      plan.kept.map((k) => k.layerIndex),
      [0, 1],
    );
  });

  it("deletes from the base when nothing else uses the image", () => {
    assert.deepEqual(planLayerDeletion(app, [unrelated]), { layerIndexes: [0], kept: [] });
  });

  it("deletes nothing when another image stands on the top layer", () => {
    const plan = planLayerDeletion(app, [childOfApp]);
    assert.deepEqual(plan.layerIndexes, []);
    assert.equal(plan.kept.length, 3);
  });
});
