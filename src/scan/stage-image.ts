/**
 * Images made ready for Clair. Registry and archive images are complete once resolved. A daemon image is
 * pipelined: `docker inspect` gives its diff IDs (hence its digests and chain IDs) up front, the export
 * streams into the cache in the background, and each layer can be handed to Clair as soon as it is cached
 * instead of after the whole export.
 */

import { MediaType } from "../image/manifest.ts";
import { parseImageArgument } from "../image/reference.ts";
import type { ResolvedImage } from "../image/resolved-image.ts";
import { describeDaemonEvent, type PullRequest, pullImage, type ScanDeps } from "./pull-image.ts";

export interface StagedImage {
  /** Digests, chain IDs and cache paths are final; sizes may be 0 until `complete()`. */
  image: ResolvedImage;
  /** Layers are still being cached while Clair may already ask for them. */
  pipelined: boolean;
  /** Resolves when the layer's bytes are in the cache (at once for images that are complete). */
  layerReady(index: number): Promise<void>;
  /** The image with every layer cached and measured. */
  complete(): Promise<ResolvedImage>;
  /** Stops a background export that is no longer needed (Clair already has the image). */
  cancel(): void;
}

export function completeImage(image: ResolvedImage): StagedImage {
  return {
    image,
    pipelined: false,
    layerReady: () => Promise.resolve(),
    complete: () => Promise.resolve(image),
    cancel: () => {},
  };
}

export async function stageImages(request: PullRequest, deps: ScanDeps): Promise<StagedImage[]> {
  const input = parseImageArgument(request.image, { local: request.local === true });
  if (input.kind !== "daemon" || request.allPlatforms) {
    return (await pullImage(request, deps)).map(completeImage);
  }
  return [await stageDaemonImage(input.name, request, deps)];
}

async function stageDaemonImage(
  reference: string,
  request: PullRequest,
  deps: ScanDeps,
): Promise<StagedImage> {
  const { inspectDaemonImage, exportDaemonImage } = await import("../image/daemon/daemon-source.ts");
  const { LayerCache } = await import("../image/cache.ts");
  const { parsePlatform } = await import("../image/manifest.ts");
  deps.onProgress?.({ step: "resolve", message: `resolving ${request.image}` });
  const inspected = await inspectDaemonImage(reference, {
    config: deps.config,
    cacheDir: deps.cacheDir,
    pull: request.dockerPull,
    credentials: request.credentials,
    platform: request.platform === undefined ? undefined : parsePlatform(request.platform),
    signal: deps.signal,
    debug: deps.debug,
    env: deps.env,
    onProgress: (event) => deps.onProgress?.(describeDaemonEvent(event)),
  });
  const cache = new LayerCache(deps.cacheDir);
  const provisional: ResolvedImage = {
    reference: inspected.reference,
    source: "daemon",
    digest: inspected.digest,
    digestKind: inspected.digestKind,
    manifestMediaType: undefined,
    configDigest: inspected.id,
    platform: inspected.platform,
    tags: inspected.tags,
    // `docker save` writes uncompressed layer tars: the bytes served are the diff IDs'.
    layers: inspected.diffIds.map((diffId, index) => ({
      index,
      digest: diffId,
      diffId,
      size: 0,
      mediaType: MediaType.ociLayer,
      createdBy: inspected.createdBy[index],
      chainId: inspected.chainIds[index]!,
      location: { kind: "cache", path: cache.pathFor(diffId) },
    })),
  };

  const ready = provisional.layers.map(() => deferred());
  const abort = new AbortController();
  const onAbort = () => abort.abort(deps.signal?.reason);
  deps.signal?.addEventListener("abort", onAbort, { once: true });
  const exported = exportDaemonImage(inspected, {
    cacheDir: deps.cacheDir,
    signal: abort.signal,
    debug: deps.debug,
    onLayer: (layer) => {
      provisional.layers[layer.index]!.size = layer.size;
      ready[layer.index]?.resolve();
    },
    onProgress: (event) => {
      if (event.kind === "export" && event.phase === "bytes") {
        deps.onProgress?.({
          step: "export",
          message: "exporting from the daemon",
          bytes: event.bytes,
          total: event.total,
        });
      }
    },
  }).finally(() => deps.signal?.removeEventListener("abort", onAbort));
  exported.then(
    () => {
      for (const layer of ready) layer.resolve();
    },
    (error: unknown) => {
      for (const layer of ready) layer.reject(error);
    },
  );
  return {
    image: provisional,
    pipelined: true,
    layerReady: (index) => ready[index]?.promise ?? Promise.resolve(),
    complete: () => exported,
    cancel: () => abort.abort(),
  };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  // Awaited only for layers Clair asks for; a failed export must not count as unhandled for the others.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
