/**
 * docker-archive: what `docker save` / `podman save` / `skopeo copy docker-archive:` write. Both forms
 * carry `manifest.json` (`[{Config, RepoTags, Layers}]`, moby image/tarexport); the Docker >= 25 form
 * adds an OCI layout (`index.json`, `blobs/sha256/…`) whose manifest we then report.
 */
import { ImageError } from "../../errors.ts";
import type { LayerCache } from "../cache.ts";
import { type Descriptor, MediaType, parseManifest, sha256Digest } from "../manifest.ts";
import { parseReference } from "../reference.ts";
import type { ImageSourceKind, ResolvedImage } from "../resolved-image.ts";
import { assembleImage, type FoundLayer } from "./assemble.ts";
import { type ParsedImageTar, readTarJson } from "./image-tar.ts";

export interface DockerArchiveImage {
  /** Archive path of the config JSON (`<hex>.json` or `blobs/sha256/<hex>`). */
  config: string;
  repoTags: string[];
  /** Archive paths of the layer tars, base first. */
  layers: string[];
}

export interface DockerArchiveOptions {
  /** `TAG` (a RepoTag, docker-normalised) or `@N` (0-based, as skopeo); undefined: the only image. */
  selector?: string | undefined;
  reference: string;
  source?: ImageSourceKind | undefined;
  cache: LayerCache;
  what: string;
}

/** Reads `manifest.json`; throws when the tar is not a docker-archive. */
export function readDockerManifest(parsed: ParsedImageTar, what: string): DockerArchiveImage[] {
  const document = readTarJson(parsed, "manifest.json", what);
  if (document === undefined) {
    const hint = parsed.files.has("index.json")
      ? "it looks like an OCI layout: open it as oci-archive:PATH"
      : "docker-archive: needs a tar written by `docker save`, `podman save` or skopeo";
    throw new ImageError(`${what}: no manifest.json, so this is not a docker-archive`, { hint });
  }
  if (!Array.isArray(document)) throw new ImageError(`${what}: manifest.json is not a list of images`);
  return document.map((item: unknown, index): DockerArchiveImage => {
    const record = (item ?? {}) as Record<string, unknown>;
    const layers = record["Layers"];
    if (
      typeof record["Config"] !== "string" ||
      !Array.isArray(layers) ||
      !layers.every((l) => typeof l === "string")
    ) {
      throw new ImageError(`${what}: manifest.json entry ${index} has no Config or Layers`);
    }
    const tags = Array.isArray(record["RepoTags"])
      ? record["RepoTags"].filter((t) => typeof t === "string")
      : [];
    return { config: record["Config"], repoTags: tags, layers };
  });
}

/**
 * A RepoTag or selector as docker normalises it, so `alpine` matches `docker.io/library/alpine:latest`
 * (Docker writes short RepoTags; podman and skopeo full ones). Text outside the grammar is compared as written.
 */
export function normaliseRepoTag(tag: string): string {
  try {
    return parseReference(tag).canonical;
  } catch {
    return tag;
  }
}

function describeImages(images: DockerArchiveImage[]): string {
  return images
    .map((image, index) => (image.repoTags.length > 0 ? image.repoTags.join(" ") : `@${index}`))
    .join(", ");
}

export function selectDockerArchiveImage(
  images: DockerArchiveImage[],
  selector: string | undefined,
  what: string,
): { image: DockerArchiveImage; position: number } {
  if (images.length === 0) throw new ImageError(`${what}: manifest.json lists no images`);
  if (selector === undefined || selector === "") {
    if (images.length === 1) return { image: images[0]!, position: 0 };
    throw new ImageError(`${what} holds ${images.length} images`, {
      hint: `pick one with PATH:TAG or PATH:@N: ${describeImages(images)}`,
    });
  }
  const position = selector.match(/^@(\d+)$/);
  if (position) {
    const index = Number(position[1]);
    const image = images[index];
    if (image === undefined) {
      throw new ImageError(`${what}: there is no image ${selector} (it holds ${images.length})`, {
        hint: "count from @0",
      });
    }
    return { image, position: index };
  }
  const wanted = normaliseRepoTag(selector);
  const index = images.findIndex((image) => image.repoTags.some((tag) => normaliseRepoTag(tag) === wanted));
  if (index === -1) {
    throw new ImageError(`${what} has no image tagged ${selector}`, {
      hint: `images in it: ${describeImages(images)}`,
    });
  }
  return { image: images[index]!, position: index };
}

/**
 * The OCI manifest we report for a legacy archive, which has none. Clair caches index reports by
 * manifest digest, so it must change whenever the image content does: it is built from the config and
 * layer digests only, with the field order and media types Docker >= 25 writes (moby
 * image/tarexport/save.go), so the legacy and OCI forms of one `docker save` get the same digest.
 */
export function synthesiseManifest(
  config: { digest: string; size: number },
  layers: Array<{ digest: string; size: number }>,
): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({
      mediaType: MediaType.ociLayer,
      digest: layer.digest,
      size: layer.size,
    })),
  });
}

/** Every image manifest an OCI layout in the tar reaches from `index.json` (through nested indexes). */
function layoutManifests(
  parsed: ParsedImageTar,
): Array<{ descriptor: Descriptor; layers: Descriptor[]; config: string }> {
  const found: Array<{ descriptor: Descriptor; layers: Descriptor[]; config: string }> = [];
  const visit = (descriptors: Descriptor[], depth: number) => {
    for (const descriptor of descriptors) {
      const data = parsed.files.get(`blobs/sha256/${descriptor.digest.slice("sha256:".length)}`);
      if (data === undefined || depth > 4) continue;
      try {
        const document = parseManifest(data.toString("utf8"), descriptor.mediaType || undefined);
        if (document.kind === "index") visit(document.manifests, depth + 1);
        else found.push({ descriptor, layers: document.layers, config: document.config.digest });
      } catch {
        // Not an image manifest we read (e.g. an attestation): the legacy manifest.json still serves.
      }
    }
  };
  const index = parsed.files.get("index.json");
  if (index !== undefined) {
    try {
      const document = parseManifest(index.toString("utf8"), MediaType.ociIndex);
      if (document.kind === "index") visit(document.manifests, 0);
    } catch {
      // A broken index.json in a docker-archive: fall back to manifest.json alone.
    }
  }
  return found;
}

export async function resolveDockerArchive(
  parsed: ParsedImageTar,
  options: DockerArchiveOptions,
): Promise<ResolvedImage> {
  const { what } = options;
  const images = readDockerManifest(parsed, what);
  const { image } = selectDockerArchiveImage(images, options.selector, what);
  const configData = parsed.files.get(normaliseName(image.config));
  if (configData === undefined) throw new ImageError(`${what}: the image config ${image.config} is missing`);
  const configDigest = sha256Digest(configData);

  const layers: FoundLayer[] = [];
  for (const [index, name] of image.layers.entries()) {
    const key = normaliseName(name);
    let blob = parsed.blobs.get(key);
    const small = parsed.files.get(key);
    if (blob === undefined && small !== undefined) {
      const stored = await options.cache.writeBuffer(small, {
        uncompressedDigest: true,
        what: `${what}, entry ${key}`,
      });
      blob = { ...stored, entry: key };
    }
    if (blob === undefined) {
      throw new ImageError(`${what}: layer ${index} (${name}) is missing from the archive`, {
        hint: "the archive is incomplete; export it again",
      });
    }
    const mediaType =
      blob.uncompressedDigest !== undefined
        ? MediaType.ociLayerGzip
        : blob.zstd
          ? MediaType.ociLayerZstd
          : MediaType.ociLayer;
    layers.push({ ...blob, mediaType, entry: key });
  }

  // Prefer the archive's own OCI manifest (Docker >= 25) when it describes exactly these blobs.
  const own = layoutManifests(parsed).find(
    (candidate) =>
      candidate.config === configDigest &&
      candidate.layers.length === layers.length &&
      candidate.layers.every((layer, index) => layer.digest === layers[index]!.digest),
  );
  let digest: string;
  let manifestMediaType: string;
  if (own !== undefined) {
    digest = own.descriptor.digest;
    manifestMediaType = own.descriptor.mediaType || MediaType.ociManifest;
    own.layers.forEach((layer, index) => {
      if (layer.mediaType !== "") layers[index]!.mediaType = layer.mediaType;
    });
  } else {
    digest = sha256Digest(synthesiseManifest({ digest: configDigest, size: configData.length }, layers));
    manifestMediaType = MediaType.ociManifest;
  }

  return assembleImage({
    reference: options.reference,
    source: options.source ?? "docker-archive",
    digest,
    digestKind: "manifest",
    manifestMediaType,
    configDigest,
    configText: configData.toString("utf8"),
    tags: image.repoTags,
    layers,
    what,
  });
}

function normaliseName(name: string): string {
  return name
    .split("/")
    .filter((part) => part !== "" && part !== ".")
    .join("/");
}
