/**
 * Manifests, indexes and image configs as the OCI image spec and Docker's distribution spec define
 * them: media types, platform selection, history → layer attribution, chain IDs. Pure functions.
 */
import { createHash } from "node:crypto";
import { ImageError } from "../errors.ts";
import type { Platform } from "./resolved-image.ts";

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/**
 * Sent on every manifest request: without it, distribution answers OCI manifests with 404 and
 * converts schema-2 manifests to schema 1 (a different digest).
 */
export const manifestAccept = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(", ");

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string } | undefined;
  annotations?: Record<string, string> | undefined;
  urls?: string[] | undefined;
}

export interface ImageManifest {
  kind: "manifest";
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: "index";
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant: string | undefined;
  diffIds: string[];
  history: Array<{ createdBy: string | undefined; emptyLayer: boolean }>;
}

const digestPattern = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: unknown): value is string {
  return typeof value === "string" && digestPattern.test(value);
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function fail(what: string, detail: string): never {
  throw new ImageError(`${what}: ${detail}`, {
    hint: "the image is malformed or uses a format hyperclair does not read",
  });
}

function readDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== "object" || value === null) fail(what, "descriptor is not an object");
  const record = value as Record<string, unknown>;
  if (!isDigest(record["digest"]))
    fail(what, `descriptor digest ${JSON.stringify(record["digest"])} is not a sha256 digest`);
  if (typeof record["size"] !== "number") fail(what, "descriptor has no size");
  const platform = record["platform"] as Descriptor["platform"];
  return {
    mediaType: typeof record["mediaType"] === "string" ? record["mediaType"] : "",
    digest: record["digest"],
    size: record["size"],
    platform,
    annotations: record["annotations"] as Record<string, string> | undefined,
    urls: record["urls"] as string[] | undefined,
  };
}

/**
 * Parses a manifest or index. `contentType` (from the registry's Content-Type, or the referencing
 * descriptor) wins over the document's own `mediaType`, which OCI makes optional.
 */
export function parseManifest(
  text: string,
  contentType: string | undefined,
  what = "manifest",
): ImageManifest | ImageIndex {
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(text) as Record<string, unknown>;
  } catch {
    fail(what, "not JSON");
  }
  const declared = typeof document["mediaType"] === "string" ? document["mediaType"] : undefined;
  const mediaType = (contentType?.split(";")[0]?.trim() || declared || guessMediaType(document)) ?? "";
  switch (mediaType) {
    case MediaType.ociIndex:
    case MediaType.dockerManifestList: {
      if (!Array.isArray(document["manifests"])) fail(what, "index has no manifests");
      return {
        kind: "index",
        mediaType,
        manifests: (document["manifests"] as unknown[]).map((entry) => readDescriptor(entry, what)),
      };
    }
    case MediaType.ociManifest:
    case MediaType.dockerManifest: {
      if (!Array.isArray(document["layers"])) fail(what, "manifest has no layers");
      return {
        kind: "manifest",
        mediaType,
        config: readDescriptor(document["config"], what),
        layers: (document["layers"] as unknown[]).map((entry) => readDescriptor(entry, what)),
      };
    }
    case MediaType.dockerSchema1:
    case MediaType.dockerSchema1Signed:
      throw new ImageError(`${what}: Docker schema 1 manifests are not supported`, {
        hint: "schema 1 is deprecated; push the image again with a current Docker, or convert it with `skopeo copy --format v2s2`",
      });
    default:
      throw new ImageError(`${what}: unsupported media type ${JSON.stringify(mediaType)}`, {
        hint: "hyperclair reads OCI manifests and indexes and Docker schema-2 manifests and manifest lists",
      });
  }
}

function guessMediaType(document: Record<string, unknown>): string | undefined {
  // OCI allows a missing mediaType; the shape tells manifest from index.
  if (Array.isArray(document["manifests"])) return MediaType.ociIndex;
  if (Array.isArray(document["layers"])) return MediaType.ociManifest;
  if (document["schemaVersion"] === 1) return MediaType.dockerSchema1;
  return undefined;
}

/** `linux/arm64/v8` → Platform; the user's input, so errors are ImageError (exit 2). */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/.test(part))) {
    throw new ImageError(`invalid platform ${JSON.stringify(text)}`, {
      hint: "write it as os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8",
    });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/** Default variants, as containerd normalises them: arm64 means v8; arm means v7. */
function normaliseVariant(architecture: string, variant: string | undefined): string | undefined {
  if (variant) return variant;
  if (architecture === "arm64") return "v8";
  if (architecture === "arm") return "v7";
  return undefined;
}

export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  // A request without a variant takes any variant; with one, the normalised variants must agree.
  if (wanted.variant === undefined) return true;
  return (
    normaliseVariant(wanted.architecture, wanted.variant) ===
    normaliseVariant(candidate.architecture, candidate.variant)
  );
}

/** Picks the manifest for `platform` from an index or manifest list; exit 2 listing what is there when none matches. */
export function selectPlatform(index: ImageIndex, platform: Platform, what: string): Descriptor {
  const images = imagePlatforms(index).filter((entry) => entry.mediaType !== "");
  const match = images.find((entry) => platformMatches(platform, entry.platform!));
  if (match) return match;
  const available = images.map((entry) => formatPlatform(entry.platform!)).join(", ") || "none";
  throw new ImageError(`${what} has no image for platform ${formatPlatform(platform)}`, {
    hint: `available platforms: ${available}; choose one with --platform`,
  });
}

/** Every image in an index (attestation manifests, with platform unknown/unknown, left out). */
export function imagePlatforms(index: ImageIndex): Descriptor[] {
  return index.manifests.filter((entry) => entry.platform && entry.platform.architecture !== "unknown");
}

/** The platform the config states (image-spec config.md `os`, `architecture`, `variant`), or `fallback` when it names none. */
export function configPlatform(config: ImageConfig, fallback: Platform): Platform {
  if (config.os === "" || config.architecture === "") return fallback;
  return config.variant === undefined
    ? { os: config.os, architecture: config.architecture }
    : { os: config.os, architecture: config.architecture, variant: config.variant };
}

export function parseImageConfig(text: string, what = "image config"): ImageConfig {
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(text) as Record<string, unknown>;
  } catch {
    fail(what, "not JSON");
  }
  const rootfs = document["rootfs"] as { diff_ids?: unknown } | undefined;
  const diffIds = rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every(isDigest)) fail(what, "rootfs.diff_ids missing or malformed");
  const history = Array.isArray(document["history"])
    ? (document["history"] as Array<Record<string, unknown>>)
    : [];
  return {
    architecture: typeof document["architecture"] === "string" ? document["architecture"] : "",
    os: typeof document["os"] === "string" ? document["os"] : "",
    variant: typeof document["variant"] === "string" ? document["variant"] : undefined,
    diffIds,
    history: history.map((entry) => ({
      createdBy: typeof entry["created_by"] === "string" ? entry["created_by"] : undefined,
      emptyLayer: entry["empty_layer"] === true,
    })),
  };
}

/**
 * The Dockerfile step behind each layer: history entries in order, skipping `empty_layer` ones
 * (ENV, LABEL…), pair up with the layers. When the counts disagree the history is not trusted.
 */
export function layerCreatedBy(config: ImageConfig): Array<string | undefined> {
  const steps = config.history.filter((entry) => !entry.emptyLayer).map((entry) => entry.createdBy);
  if (steps.length !== config.diffIds.length) return config.diffIds.map(() => undefined);
  return steps.map((step) => cleanCreatedBy(step));
}

function cleanCreatedBy(step: string | undefined): string | undefined {
  if (step === undefined) return undefined;
  // Docker records RUN steps as `/bin/sh -c #(nop) ...` or `/bin/sh -c ...`; show the Dockerfile form.
  const nop = step.match(/^\/bin\/sh -c #\(nop\)\s+(.*)$/s);
  if (nop) return nop[1]!.trim();
  const run = step.match(/^\/bin\/sh -c (.*)$/s);
  if (run) return `RUN ${run[1]!.trim()}`;
  return step.trim();
}

/**
 * ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
 * https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const result: string[] = [];
  for (const diffId of diffIds) {
    const parent = result.at(-1);
    result.push(parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`));
  }
  return result;
}
