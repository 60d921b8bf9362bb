/**
 * `delete`: remove an image's index data from Clair. v4 deletes the manifest's index report. Clair 2.x
 * (v1) deletes a layer together with all its descendants, and images share base layers: so only the
 * layers no other pushed image stands on are deleted, unless the user forces it, and the output says
 * which layers were kept and why.
 */
import type { ClairClient, DeleteResult } from "../clair/client.ts";
import { planLayerDeletion } from "../clair/v1/layer-sharing.ts";
import { UsageError } from "../errors.ts";
import type { ResolvedImage } from "../image/resolved-image.ts";
import { type PullRequest, pullImage } from "./pull-image.ts";
import { connectConfiguredClair, type PushDeps } from "./push-image.ts";
import { forgetPushes, readPushes } from "./push-record.ts";

export interface DeleteRequest extends PullRequest {
  /** v1: delete every layer of the image, even those other pushed images stand on. */
  force?: boolean | undefined;
}

export interface DeleteOutcome {
  image: ResolvedImage;
  result: DeleteResult;
  /** v1: layers left in Clair because other images stand on them. */
  kept: Array<{ layerIndex: number; sharedWith: string[] }>;
  /** v1 with --force: other images that lost layers. */
  affected: string[];
}

export async function deleteImages(request: DeleteRequest, deps: PushDeps): Promise<DeleteOutcome[]> {
  const clair = deps.clair ?? (await connectConfiguredClair(deps));
  const images = await pullImage(request, deps);
  const outcomes: DeleteOutcome[] = [];
  for (const image of images) outcomes.push(await deleteResolvedImage(clair, image, request, deps));
  return outcomes;
}

async function deleteResolvedImage(
  clair: ClairClient,
  image: ResolvedImage,
  request: DeleteRequest,
  deps: PushDeps,
): Promise<DeleteOutcome> {
  if (clair.api === "v4") {
    const result = await clair.delete({ image, signal: deps.signal });
    await forgetPushes(deps.cacheDir, clair.url, [image.digest]);
    return { image, result, kept: [], affected: [] };
  }
  const chainIds = image.layers.map((layer) => layer.chainId);
  const others = (await readPushes(deps.cacheDir, clair.url)).filter(
    (record) => record.digest !== image.digest,
  );
  const plan = planLayerDeletion(
    chainIds,
    others.map((record) => record.chainIds),
  );
  const names = (indexes: number[]) => indexes.map((index) => others[index]!.reference);
  if (plan.layerIndexes.length === 0 && !request.force) {
    const top = plan.kept.at(-1)!;
    throw new UsageError(
      `every layer of ${image.reference} is shared: ${names(top.sharedWith).join(", ")} stand${top.sharedWith.length === 1 ? "s" : ""} on its top layer, and Clair 2.x would delete them too`,
      { hint: "pass --force to delete it anyway" },
    );
  }
  // Deleting the lowest unshared layer removes the rest of the chain with it (Clair cascades).
  const layerIndexes = request.force ? [0] : plan.layerIndexes;
  const result = await clair.delete({ image, layerIndexes, signal: deps.signal });
  const affected = request.force ? [...new Set(plan.kept.flatMap((layer) => names(layer.sharedWith)))] : [];
  const gone = request.force
    ? others.filter((record) => record.chainIds.includes(chainIds[0]!)).map((record) => record.digest)
    : [];
  await forgetPushes(deps.cacheDir, clair.url, [image.digest, ...gone]);
  return {
    image,
    result,
    kept: request.force
      ? []
      : plan.kept.map((layer) => ({ layerIndex: layer.layerIndex, sharedWith: names(layer.sharedWith) })),
    affected,
  };
}
