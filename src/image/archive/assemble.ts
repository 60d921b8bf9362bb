/**
 * Turns a config plus the blobs found for its layers into the one `ResolvedImage` model, checking on
 * the way that every layer really is the one the config names (its diff ID).
 */
import { ImageError } from "../../errors.ts";
import { chainIds, configPlatform, layerCreatedBy, parseImageConfig } from "../manifest.ts";
import type { ImageSourceKind, Platform, ResolvedImage, ResolvedLayer } from "../resolved-image.ts";

/** A layer blob as found in an archive or layout, with what its bytes hashed to. */
export interface FoundLayer {
  /** Digest of the bytes that will be served (the blob as stored). */
  digest: string;
  size: number;
  mediaType: string;
  path: string;
  /** sha256 of the gunzipped bytes when the blob is gzip. */
  uncompressedDigest: string | undefined;
  /** zstd blobs cannot be decompressed here (Node 20), so their diff ID is taken from the config unchecked. */
  zstd: boolean;
  /** Where it came from, for error messages. */
  entry: string;
}

export interface AssembleInput {
  reference: string;
  source: ImageSourceKind;
  digest: string;
  digestKind: ResolvedImage["digestKind"];
  manifestMediaType: string | undefined;
  configDigest: string;
  configText: string;
  /** Used when the config names no os/architecture. */
  fallbackPlatform?: Platform | undefined;
  tags: string[];
  layers: FoundLayer[];
  what: string;
}

export function assembleImage(input: AssembleInput): ResolvedImage {
  const config = parseImageConfig(input.configText, `${input.what}: image config ${input.configDigest}`);
  if (config.diffIds.length !== input.layers.length) {
    throw new ImageError(
      `${input.what}: the manifest lists ${input.layers.length} layers but the image config has ${config.diffIds.length} diff IDs`,
      { hint: "the image is malformed" },
    );
  }
  const steps = layerCreatedBy(config);
  const chains = chainIds(config.diffIds);
  const layers = input.layers.map((layer, index): ResolvedLayer => {
    const diffId = config.diffIds[index]!;
    const matches = layer.digest === diffId || layer.uncompressedDigest === diffId || layer.zstd;
    if (!matches) {
      const found = layer.uncompressedDigest ?? layer.digest;
      throw new ImageError(
        `${input.what}: layer ${index} (${layer.entry}) has content digest ${found}, but the image config expects diff ID ${diffId}`,
        { hint: "the archive is corrupt or was altered; export it again" },
      );
    }
    return {
      index,
      digest: layer.digest,
      diffId,
      size: layer.size,
      mediaType: layer.mediaType,
      createdBy: steps[index],
      chainId: chains[index]!,
      location: { kind: "cache", path: layer.path },
    };
  });
  const platform = configPlatform(
    config,
    input.fallbackPlatform ?? { os: config.os, architecture: config.architecture },
  );
  return {
    reference: input.reference,
    source: input.source,
    digest: input.digest,
    digestKind: input.digestKind,
    manifestMediaType: input.manifestMediaType,
    configDigest: input.configDigest,
    platform,
    tags: input.tags,
    layers,
  };
}
