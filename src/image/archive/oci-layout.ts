/**
 * OCI image layouts (image-spec image-layout.md), read from a directory (`oci:DIR[:ref]`) or out of a
 * tar (`oci-archive:PATH[:ref]`): `index.json` → (nested) index → platform manifest → config + layers.
 * Selection follows skopeo: a reference picks the `org.opencontainers.image.ref.name` entry, then an
 * index is narrowed to the requested platform with `selectPlatform`.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { ImageError } from "../../errors.ts";
import { hashFile, type LayerCache } from "../cache.ts";
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  imagePlatforms,
  isDigest,
  MediaType,
  parseManifest,
  selectPlatform,
  sha256Digest,
} from "../manifest.ts";
import type { ImageSourceKind, Platform, ResolvedImage } from "../resolved-image.ts";
import { assembleImage, type FoundLayer } from "./assemble.ts";
import { defaultMaxMetadataBytes, type ParsedImageTar } from "./image-tar.ts";

/** The OCI annotation skopeo and containerd use to name an image inside a layout. */
export const refNameAnnotation = "org.opencontainers.image.ref.name";
const containerdNameAnnotation = "io.containerd.image.name";

/** Where a layout's blobs can be read from: a tar already streamed into the cache, or a directory. */
export interface OciBlobStore {
  /** Text of `index.json`, or undefined when there is none. */
  readIndexJson(): Promise<string | undefined>;
  /** A small blob (manifest, index, config), its digest checked. */
  readSmallBlob(digest: string, what: string): Promise<string>;
  /** A layer blob, its digest checked (streamed), and its gunzipped digest when it is gzip. */
  openLayer(descriptor: Descriptor, what: string): Promise<Omit<FoundLayer, "mediaType" | "entry">>;
}

export interface OciResolveOptions {
  /** The `ref.name` to pick (skopeo's `oci:DIR:REF`); undefined: the only image, else by platform. */
  selector?: string | undefined;
  platform: Platform;
  allPlatforms?: boolean | undefined;
  /** `ResolvedImage.reference`. */
  reference: string;
  source: ImageSourceKind;
  what: string;
}

function missingBlob(what: string, digest: string): ImageError {
  return new ImageError(`${what}: blob ${digest} is missing`, {
    hint: "the layout is incomplete; copy or export the image again",
  });
}

function blobHex(digest: string, what: string): string {
  if (!isDigest(digest)) {
    throw new ImageError(`${what}: unsupported digest ${JSON.stringify(digest)}`, {
      hint: "hyperclair reads sha256 blobs only",
    });
  }
  return digest.slice("sha256:".length);
}

/** Blobs of an oci-archive (or Docker >= 25 save) after `parseImageTar`. */
export function tarBlobStore(parsed: ParsedImageTar, cache: LayerCache): OciBlobStore {
  return {
    async readIndexJson() {
      return parsed.files.get("index.json")?.toString("utf8");
    },
    async readSmallBlob(digest, what) {
      const name = `blobs/sha256/${blobHex(digest, what)}`;
      const data = parsed.files.get(name);
      if (data !== undefined) return data.toString("utf8");
      // Not JSON-looking when it streamed past, so it went to the cache (its digest checked then).
      const blob = parsed.blobs.get(name);
      if (blob === undefined) throw missingBlob(what, digest);
      if (blob.size > defaultMaxMetadataBytes) {
        throw new ImageError(
          `${what}: blob ${digest} is too large (${blob.size} bytes) for a manifest or config`,
        );
      }
      return readFile(blob.path, "utf8");
    },
    async openLayer(descriptor, what) {
      const name = `blobs/sha256/${blobHex(descriptor.digest, what)}`;
      const blob = parsed.blobs.get(name);
      if (blob !== undefined) return { ...blob };
      const small = parsed.files.get(name);
      if (small === undefined) throw missingBlob(what, descriptor.digest);
      // A tiny layer that happened to look like JSON: store it now, from memory (it is under the cap).
      const stored = await cache.writeBuffer(small, {
        expectedDigest: descriptor.digest,
        uncompressedDigest: true,
        what: `${what}: blob ${descriptor.digest}`,
      });
      return { ...stored };
    },
  };
}

export interface DirectoryStoreOptions {
  signal?: AbortSignal | undefined;
  /** Called with the running count of layer bytes verified. */
  onProgress?: ((bytes: number) => void) | undefined;
}

/**
 * Blobs of an OCI layout directory. Its blob files are already content-addressed, so layers are served
 * from where they are, after one streamed pass that checks their digest (and gunzipped digest).
 */
export function directoryBlobStore(dir: string, options: DirectoryStoreOptions = {}): OciBlobStore {
  let verified = 0;
  const blobPath = (digest: string, what: string) => join(dir, "blobs", "sha256", blobHex(digest, what));
  return {
    async readIndexJson() {
      try {
        return await readFile(join(dir, "index.json"), "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    },
    async readSmallBlob(digest, what) {
      const path = blobPath(digest, what);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw missingBlob(what, digest);
      }
      if (size > defaultMaxMetadataBytes) {
        throw new ImageError(`${what}: blob ${digest} is too large (${size} bytes) for a manifest or config`);
      }
      const data = await readFile(path);
      if (sha256Digest(data) !== digest) {
        throw new ImageError(`${what}: blob ${digest} has content digest ${sha256Digest(data)}`, {
          hint: "the layout is corrupt or was altered",
        });
      }
      return data.toString("utf8");
    },
    async openLayer(descriptor, what) {
      const path = blobPath(descriptor.digest, what);
      try {
        await stat(path);
      } catch {
        throw missingBlob(what, descriptor.digest);
      }
      const base = verified;
      const digests = await hashFile(path, {
        uncompressedDigest: true,
        signal: options.signal,
        onProgress: (bytes) => options.onProgress?.(base + bytes),
      });
      verified += digests.size;
      if (digests.digest !== descriptor.digest) {
        throw new ImageError(
          `${what}: layer blob ${descriptor.digest} has content digest ${digests.digest}`,
          { hint: "the layout is corrupt or was altered; copy the image again" },
        );
      }
      return { ...digests, path };
    },
  };
}

function describeEntry(entry: Descriptor, position: number): string {
  const name = entry.annotations?.[refNameAnnotation];
  if (name !== undefined) return name;
  const platform = entry.platform;
  return platform ? `@${position} (${platform.os}/${platform.architecture})` : `@${position}`;
}

async function readIndex(store: OciBlobStore, what: string): Promise<ImageIndex> {
  const text = await store.readIndexJson();
  if (text === undefined) {
    throw new ImageError(`${what}: no index.json, so this is not an OCI image layout`, {
      hint: "oci: and oci-archive: need an OCI layout (as written by skopeo, buildah or `docker save` 25+)",
    });
  }
  const index = parseManifest(text, MediaType.ociIndex, `${what}: index.json`);
  if (index.kind !== "index") throw new ImageError(`${what}: index.json is not an image index`);
  return index;
}

/**
 * Picks the top-level entries of `index.json` the selector asks for: entries named by `ref.name`, or
 * with `@N` the Nth entry, or without selector every entry.
 */
function pickTopEntries(index: ImageIndex, selector: string | undefined, what: string): Descriptor[] {
  if (selector === undefined || selector === "") return index.manifests;
  const position = selector.match(/^@(\d+)$/);
  if (position) {
    const entry = index.manifests[Number(position[1])];
    if (entry === undefined) {
      throw new ImageError(
        `${what}: there is no image ${selector} (index.json has ${index.manifests.length})`,
        {
          hint: "count from @0",
        },
      );
    }
    return [entry];
  }
  const named = index.manifests.filter((entry) => entry.annotations?.[refNameAnnotation] === selector);
  if (named.length > 0) return named;
  const names = index.manifests.map(describeEntry);
  throw new ImageError(`${what} has no image named ${JSON.stringify(selector)}`, {
    hint: `images in it: ${names.join(", ") || "none"}`,
  });
}

export async function resolveOciLayout(
  store: OciBlobStore,
  options: OciResolveOptions,
): Promise<ResolvedImage[]> {
  const { what } = options;
  const top = await readIndex(store, what);
  const entries = pickTopEntries(top, options.selector, what);
  let chosen: Descriptor[];
  if (entries.length === 1) {
    chosen = entries;
  } else if (entries.length === 0) {
    throw new ImageError(`${what}: index.json lists no images`);
  } else if (entries.every((entry) => entry.platform !== undefined)) {
    // Several per-platform entries at the top level: index.json itself acts as the image index.
    const asIndex: ImageIndex = { kind: "index", mediaType: top.mediaType, manifests: entries };
    chosen = options.allPlatforms
      ? imagePlatforms(asIndex)
      : [selectPlatform(asIndex, options.platform, what)];
  } else {
    throw new ImageError(`${what} holds ${entries.length} images`, {
      hint: `pick one: ${entries.map(describeEntry).join(", ")} (append :NAME or :@N to the path)`,
    });
  }
  const results: ResolvedImage[] = [];
  for (const entry of chosen) {
    const tags = [
      entry.annotations?.[refNameAnnotation],
      entry.annotations?.[containerdNameAnnotation],
    ].filter((tag): tag is string => tag !== undefined);
    results.push(...(await resolveDescriptor(store, entry, options, tags, 0)));
  }
  return results;
}

async function resolveDescriptor(
  store: OciBlobStore,
  descriptor: Descriptor,
  options: OciResolveOptions,
  tags: string[],
  depth: number,
): Promise<ResolvedImage[]> {
  const { what } = options;
  if (depth > 4) throw new ImageError(`${what}: indexes nested too deeply`);
  const text = await store.readSmallBlob(descriptor.digest, what);
  const document = parseManifest(text, descriptor.mediaType || undefined, `${what}: ${descriptor.digest}`);
  if (document.kind === "index") {
    const picks = options.allPlatforms
      ? imagePlatforms(document)
      : [selectPlatform(document, options.platform, `${what} (index ${descriptor.digest})`)];
    const results: ResolvedImage[] = [];
    for (const pick of picks)
      results.push(...(await resolveDescriptor(store, pick, options, tags, depth + 1)));
    return results;
  }
  return [await resolveManifest(store, descriptor, document, options, tags)];
}

async function resolveManifest(
  store: OciBlobStore,
  descriptor: Descriptor,
  manifest: ImageManifest,
  options: OciResolveOptions,
  tags: string[],
): Promise<ResolvedImage> {
  const { what } = options;
  const configText = await store.readSmallBlob(manifest.config.digest, `${what}: config`);
  const layers: FoundLayer[] = [];
  for (const [index, layer] of manifest.layers.entries()) {
    if (!isLayerMediaType(layer.mediaType)) {
      throw new ImageError(
        `${what}: layer ${index} has unsupported media type ${JSON.stringify(layer.mediaType)}`,
        {
          hint: "hyperclair reads tar layers, uncompressed, gzip or zstd",
        },
      );
    }
    const found = await store.openLayer(layer, `${what}: layer ${index}`);
    layers.push({ ...found, mediaType: layer.mediaType, entry: `blobs/sha256/${layer.digest.slice(7)}` });
  }
  return assembleImage({
    reference: options.reference,
    source: options.source,
    digest: descriptor.digest,
    digestKind: "manifest",
    manifestMediaType: manifest.mediaType,
    configDigest: manifest.config.digest,
    configText,
    fallbackPlatform: descriptor.platform,
    tags,
    layers,
    what,
  });
}

function isLayerMediaType(mediaType: string): boolean {
  return (
    mediaType === "" ||
    mediaType.startsWith("application/vnd.oci.image.layer.") ||
    mediaType.startsWith("application/vnd.docker.image.rootfs.")
  );
}
