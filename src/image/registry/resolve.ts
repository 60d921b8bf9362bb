/**
 * Resolves a registry image into the one model every source produces: manifest (platform-selected
 * from an index or manifest list), config, and per layer digest, diff ID, size, media type, the
 * Dockerfile step that made it, chain ID and the blob URL Clair downloads it from.
 */
import type { Config } from "../../config/types.ts";
import { ImageError, RegistryError } from "../../errors.ts";
import {
  chainIds,
  type Descriptor,
  type ImageManifest,
  imagePlatforms,
  layerCreatedBy,
  manifestAccept,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectPlatform,
} from "../manifest.ts";
import type { ImageReference } from "../reference.ts";
import { manifestReferenceOf } from "../reference.ts";
import type { Platform, ResolvedImage, ResolvedLayer } from "../resolved-image.ts";
import { createRegistryClient, pullScope, type RegistryClient } from "./client.ts";
import type { RegistryCredentials } from "./credentials.ts";

export interface ResolveRegistryOptions {
  config: Config;
  /** Default: `registry.platform` from the config (linux/amd64). */
  platform?: Platform | undefined;
  /** Resolve every image of an index, not one platform. */
  allPlatforms?: boolean | undefined;
  credentials?: RegistryCredentials | undefined;
  debug?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** An existing client (shares its probes and tokens); one is created otherwise. */
  client?: RegistryClient | undefined;
  env?: Record<string, string | undefined> | undefined;
}

/** Resolves `reference` to one image, or one per platform with `allPlatforms`. */
export async function resolveRegistryImage(
  reference: ImageReference,
  options: ResolveRegistryOptions,
): Promise<ResolvedImage[]> {
  const client =
    options.client ??
    createRegistryClient({
      config: options.config,
      credentials: options.credentials,
      debug: options.debug,
      signal: options.signal,
      env: options.env,
    });
  const host = reference.apiHost;
  const repository = reference.path;
  const display = reference.familiar;
  const top = await client.fetchManifest(
    host,
    repository,
    manifestReferenceOf(reference),
    manifestAccept,
    display,
  );
  const parsed = parseManifest(top.body.toString("utf8"), top.mediaType, `manifest of ${display}`);
  if (parsed.kind === "manifest") {
    return [await resolveManifest(client, reference, top.digest, parsed, undefined)];
  }
  const wanted = options.platform ?? parsePlatform(options.config.registry.platform || "linux/amd64");
  const descriptors =
    options.allPlatforms === true ? imagePlatforms(parsed) : [selectPlatform(parsed, wanted, display)];
  if (descriptors.length === 0) {
    throw new ImageError(`${display} is an index without any platform image`, {
      hint: "the index lists no manifest with a platform",
    });
  }
  const images: ResolvedImage[] = [];
  for (const descriptor of descriptors) {
    const fetched = await client.fetchManifest(host, repository, descriptor.digest, manifestAccept, display);
    if (fetched.digest !== descriptor.digest) {
      throw new RegistryError(`manifest ${descriptor.digest} of ${display} came back as ${fetched.digest}`, {
        hint: "the registry answered with different bytes than the index names",
      });
    }
    const manifest = parseManifest(
      fetched.body.toString("utf8"),
      fetched.mediaType || descriptor.mediaType,
      `manifest ${descriptor.digest} of ${display}`,
    );
    if (manifest.kind !== "manifest") {
      throw new ImageError(`${display}: index entry ${descriptor.digest} is itself an index`, {
        hint: "nested indexes are not supported; name the inner index by digest",
      });
    }
    images.push(await resolveManifest(client, reference, fetched.digest, manifest, descriptor));
  }
  return images;
}

async function resolveManifest(
  client: RegistryClient,
  reference: ImageReference,
  digest: string,
  manifest: ImageManifest,
  descriptor: Descriptor | undefined,
): Promise<ResolvedImage> {
  const host = reference.apiHost;
  const repository = reference.path;
  const display = reference.familiar;
  const configBytes = await client.fetchBlob(host, repository, manifest.config.digest, display);
  const config = parseImageConfig(configBytes.toString("utf8"), `image config of ${display}`);
  if (config.diffIds.length !== manifest.layers.length) {
    throw new ImageError(
      `${display}: the manifest lists ${manifest.layers.length} layers but the config has ${config.diffIds.length} diff IDs`,
      { hint: "the image is malformed; rebuild and push it again" },
    );
  }
  const createdBy = layerCreatedBy(config);
  const chains = chainIds(config.diffIds);
  const scope = pullScope(repository);
  const layers: ResolvedLayer[] = manifest.layers.map((layer, index) => ({
    index,
    digest: layer.digest,
    diffId: config.diffIds[index]!,
    size: layer.size,
    mediaType: layer.mediaType,
    createdBy: createdBy[index],
    chainId: chains[index]!,
    location: {
      kind: "registry",
      url: client.blobUrl(host, repository, layer.digest),
      registry: host,
      repository,
      scope,
    },
  }));
  const platform: Platform =
    config.os !== "" && config.architecture !== ""
      ? {
          os: config.os,
          architecture: config.architecture,
          variant: config.variant ?? descriptor?.platform?.variant,
        }
      : {
          os: descriptor?.platform?.os ?? "unknown",
          architecture: descriptor?.platform?.architecture ?? "unknown",
          variant: descriptor?.platform?.variant,
        };
  if (platform.variant === undefined) delete platform.variant;
  return {
    reference: reference.canonical,
    source: "registry",
    digest,
    digestKind: "manifest",
    manifestMediaType: manifest.mediaType,
    configDigest: manifest.config.digest,
    platform,
    tags: reference.tag === undefined ? [] : [reference.canonical],
    layers,
  };
}
