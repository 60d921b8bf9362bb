/**
 * Clair 2.x deletes a layer together with every layer whose parent chain contains it, and two images that
 * share base layers share them in Clair too (v1/recorded/README.md, "Deleting a layer deletes all its
 * descendants"). Layers are named by chain ID (DESIGN.md), and a chain ID covers the whole parent chain, so
 * another image stands on layer `i` of this image exactly when the chain ID of layer `i` appears among its
 * own. These pure helpers let `delete` say so before it removes anything.
 */

/** A requested layer that other pushed images stand on. */
export interface SharedLayer {
  layerIndex: number;
  chainId: string;
  /** Indexes into the `others` list given to `findSharedLayers`. */
  sharedWith: number[];
}

/** What deleting the image from Clair 2.x can remove without touching any other pushed image. */
export interface LayerDeletionPlan {
  /** Layers to DELETE: the lowest layer no other image uses (its descendants go with it), or none. */
  layerIndexes: number[];
  /** Layers left in Clair because other images stand on them, lowest first. */
  kept: SharedLayer[];
}

/**
 * Which of the requested layers (by index into `chainIds`, the image's layer chain IDs bottom-up) other
 * images stand on. `others` are the chain-ID lists of images pushed to the same Clair; an entry equal to
 * this image's own chain is the same image in Clair's eyes (Clair knows layers, not tags) and is ignored.
 */
export function findSharedLayers(
  chainIds: readonly string[],
  layerIndexes: readonly number[],
  others: ReadonlyArray<readonly string[]>,
): SharedLayer[] {
  const candidates = others
    .map((chain, index) => ({ index, names: new Set(chain) }))
    .filter((_, index) => !sameChain(others[index]!, chainIds));
  const shared: SharedLayer[] = [];
  for (const layerIndex of [...new Set(layerIndexes)].sort((a, b) => a - b)) {
    const chainId = chainIds[layerIndex];
    if (chainId === undefined) continue;
    const sharedWith = candidates.filter((c) => c.names.has(chainId)).map((c) => c.index);
    if (sharedWith.length > 0) shared.push({ layerIndex, chainId, sharedWith });
  }
  return shared;
}

/**
 * The deletion that removes as much of the image as possible without removing layers another image
 * stands on: since sharing runs from the base up, the unshared layers form a suffix of the chain, and
 * deleting its lowest layer removes the whole suffix.
 */
export function planLayerDeletion(
  chainIds: readonly string[],
  others: ReadonlyArray<readonly string[]>,
): LayerDeletionPlan {
  const all = chainIds.map((_, index) => index);
  const kept = findSharedLayers(chainIds, all, others);
  const highestShared = kept.reduce((max, layer) => Math.max(max, layer.layerIndex), -1);
  const lowestFree = highestShared + 1;
  return {
    layerIndexes: lowestFree < chainIds.length ? [lowestFree] : [],
    kept,
  };
}

function sameChain(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, index) => name === b[index]);
}
