/**
 * `docker save` (Engine API `GET /images/{name}/get`) streamed into the content-addressed cache: each
 * layer is hashed while it is written and must equal the image's diff ID (inspect `RootFS.Layers`).
 * The image config goes into the cache too, under the image ID (its digest), so a later run that finds
 * every layer cached needs neither the export nor the daemon's history to name each layer's step.
 */
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { DaemonError, HyperclairError, ImageError, InterruptedError } from "../../errors.ts";
import { type ParsedImageTar, parseImageTar, readTarJson, type TarLayerBlob } from "../archive/image-tar.ts";
import { LayerCache } from "../cache.ts";
import {
  configPlatform,
  type ImageConfig,
  layerCreatedBy,
  MediaType,
  parseImageConfig,
} from "../manifest.ts";
import type { ResolvedLayer } from "../resolved-image.ts";
import { translateDaemonError } from "./connection.ts";
import type { DaemonImage } from "./daemon-source.ts";

/** Export progress: `start` once when the daemon begins sending, `bytes` as the archive streams, `layer` per layer cached. */
export type DaemonExportEvent =
  | { kind: "export"; phase: "start"; image: string; total: number | undefined }
  | { kind: "export"; phase: "bytes"; image: string; bytes: number; total: number | undefined }
  | { kind: "export"; phase: "layer"; image: string; diffId: string; cached: boolean }
  | { kind: "export"; phase: "skipped"; image: string; reason: string };

export interface ExportLayersOptions {
  cacheDir: string;
  onProgress?: ((event: DaemonExportEvent) => void) | undefined;
  /** Called once per layer as soon as its bytes are in the cache (at once for layers already cached). */
  onLayer?: ((layer: ResolvedLayer) => void) | undefined;
  signal?: AbortSignal | undefined;
  debug?: ((line: string) => void) | undefined;
}

/** The config cached under the image ID, when its diff IDs are the image's: its per-layer steps. */
export async function readCachedConfig(
  cacheDir: string,
  imageId: string,
  diffIds: readonly string[],
): Promise<{ createdBy: Array<string | undefined>; config: ImageConfig } | undefined> {
  const cache = new LayerCache(cacheDir);
  const found = await cache.lookup(imageId).catch(() => undefined);
  if (found === undefined || found.size > 8 * 1024 * 1024) return undefined;
  try {
    const config = parseImageConfig(await readFile(found.path, "utf8"));
    if (config.diffIds.join(",") !== diffIds.join(",")) return undefined;
    return { createdBy: layerCreatedBy(config), config };
  } catch {
    return undefined;
  }
}

function layerOf(image: DaemonImage, index: number, path: string, size: number): ResolvedLayer {
  const diffId = image.diffIds[index]!;
  return {
    index,
    // The daemon's export holds uncompressed tars, and those are the bytes served to Clair.
    digest: diffId,
    diffId,
    size,
    mediaType: MediaType.ociLayer,
    createdBy: image.createdBy[index],
    chainId: image.chainIds[index]!,
    location: { kind: "cache", path },
  };
}

async function lookupAll(cache: LayerCache, digests: readonly string[]) {
  return Promise.all(digests.map((digest) => cache.lookup(digest)));
}

interface SavedManifestEntry {
  Config: string;
  Layers: string[];
}

/** The `manifest.json` entry (both save formats have one) for the image: the one whose config is its ID. */
function savedEntryOf(parsed: ParsedImageTar, image: DaemonImage): SavedManifestEntry | undefined {
  const manifest = readTarJson(parsed, "manifest.json", `the export of ${image.reference}`);
  if (!Array.isArray(manifest)) return undefined;
  const hex = image.id.replace(/^sha256:/, "");
  const entries = manifest as SavedManifestEntry[];
  return (
    entries.find((entry) => typeof entry.Config === "string" && entry.Config.includes(hex)) ??
    (entries.length === 1 ? entries[0] : undefined)
  );
}

/**
 * Each saved layer must be the layer the daemon described: its bytes hash to the diff ID at its position.
 * Returns the config's archive path and the cached layers in order.
 */
function checkSavedImage(
  parsed: ParsedImageTar,
  image: DaemonImage,
): { config: string; layers: TarLayerBlob[] } {
  const what = `the export of ${image.reference} from ${image.endpoint.display}`;
  const entry = savedEntryOf(parsed, image);
  if (entry === undefined || !Array.isArray(entry.Layers)) {
    throw new DaemonError(`${what} has no manifest.json entry for ${image.id}`, {
      hint: "the daemon wrote an archive hyperclair does not understand; try `docker save` by hand to check it",
    });
  }
  if (entry.Layers.length !== image.diffIds.length) {
    throw new DaemonError(
      `${what} has ${entry.Layers.length} layers where the image has ${image.diffIds.length}`,
      { hint: "the image changed while it was exported; try again" },
    );
  }
  const layers = entry.Layers.map((layerPath, index) => {
    const blob = parsed.blobs.get(posix.normalize(layerPath));
    const expected = image.diffIds[index]!;
    if (blob === undefined) {
      throw new DaemonError(`${what} lacks layer ${index} (${layerPath})`, {
        hint: "the daemon wrote an incomplete archive; try again",
      });
    }
    if (blob.digest !== expected) {
      throw new DaemonError(
        `${what}: layer ${index} has content digest ${blob.digest}, not its diff ID ${expected}`,
        { hint: "the daemon's copy of the image is damaged; remove it and pull or load it again" },
      );
    }
    return blob;
  });
  return { config: entry.Config, layers };
}

/**
 * Streams the image out of the daemon into the cache, unless every layer is cached already. Returns the
 * layers in order, each with its cache path and size.
 */
export async function exportDaemonLayers(
  docker: Docker,
  image: DaemonImage,
  options: ExportLayersOptions,
): Promise<ResolvedLayer[]> {
  const cache = new LayerCache(options.cacheDir);
  const name = image.reference;
  const before = await lookupAll(cache, image.diffIds);
  const reported = new Set<number>();
  const report = (index: number, path: string, size: number) => {
    if (reported.has(index)) return;
    reported.add(index);
    options.onLayer?.(layerOf(image, index, path, size));
  };

  if (before.every((entry) => entry !== undefined)) {
    options.debug?.(`daemon: every layer of ${image.id} is cached; no export`);
    options.onProgress?.({ kind: "export", phase: "skipped", image: name, reason: "every layer is cached" });
    before.forEach((entry, index) => {
      report(index, entry!.path, entry!.size);
    });
    return before.map((entry, index) => layerOf(image, index, entry!.path, entry!.size));
  }
  before.forEach((entry, index) => {
    if (entry !== undefined) report(index, entry.path, entry.size);
  });

  const indexOf = new Map<string, number[]>();
  image.diffIds.forEach((diffId, index) => {
    indexOf.set(diffId, [...(indexOf.get(diffId) ?? []), index]);
  });

  let stream: Readable;
  try {
    // By ID: a name could have moved to another image since it was inspected.
    stream = (await docker.getImage(image.id).get()) as Readable;
  } catch (err) {
    if (options.signal?.aborted) throw new InterruptedError();
    throw translateDaemonError(err, image.endpoint, `exporting ${name}`);
  }
  options.onProgress?.({ kind: "export", phase: "start", image: name, total: image.size });
  options.debug?.(`daemon: exporting ${image.id} into ${options.cacheDir}`);

  let parsed: ParsedImageTar;
  try {
    parsed = await parseImageTar(stream, {
      cache,
      signal: options.signal,
      what: `the export of ${name} from ${image.endpoint.display}`,
      onLayer: (layer) => {
        for (const index of indexOf.get(layer.digest) ?? []) report(index, layer.path, layer.size);
        options.onProgress?.({
          kind: "export",
          phase: "layer",
          image: name,
          diffId: layer.digest,
          cached: !layer.written,
        });
      },
      onProgress: (bytes) => {
        options.onProgress?.({ kind: "export", phase: "bytes", image: name, bytes, total: image.size });
      },
    });
  } catch (err) {
    stream.destroy();
    if (options.signal?.aborted) throw new InterruptedError();
    // What the archive reader calls a bad archive (truncated, a digest that does not match) is, coming
    // from a daemon, the daemon failing: exit 3, not the user's input.
    if (err instanceof ImageError) {
      throw new DaemonError(err.message, {
        hint: `the daemon at ${image.endpoint.display} sent a broken export; check it is healthy and try again`,
        cause: err,
      });
    }
    if (err instanceof HyperclairError) throw err;
    throw translateDaemonError(err, image.endpoint, `exporting ${name}`);
  }

  const saved = checkSavedImage(parsed, image);
  const configText = parsed.files.get(saved.config);
  if (configText !== undefined) {
    // Cached under its own digest (the image ID), for the next run's layer steps.
    await cache.writeBuffer(configText, { what: `the config of ${name}` }).catch(() => undefined);
    const config = parseImageConfig(configText.toString("utf8"), `the config of ${name}`);
    image.createdBy = layerCreatedBy(config);
    // podman's compat inspect leaves out `Variant`, which the config has.
    image.platform = configPlatform(config, image.platform);
  }

  saved.layers.forEach((blob, index) => {
    report(index, blob.path, blob.size);
  });
  return saved.layers.map((blob, index) => layerOf(image, index, blob.path, blob.size));
}
