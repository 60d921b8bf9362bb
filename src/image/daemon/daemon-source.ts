/**
 * The Docker daemon as an image source (dockerode): find the image, optionally have the daemon pull it,
 * and export its layers with `docker save` into the content-addressed cache, streamed.
 * Inspecting and exporting are separate steps so a push can start on the layers as they arrive.
 */
import type Docker from "dockerode";
import type { Config } from "../../config/types.ts";
import { chainIds, configPlatform } from "../manifest.ts";
import type { Platform, ResolvedImage } from "../resolved-image.ts";
import {
  connectDaemon,
  type DaemonEndpoint,
  type Environment,
  resolveDaemonEndpoint,
  translateDaemonError,
} from "./connection.ts";
import {
  type DaemonExportEvent,
  type ExportLayersOptions,
  exportDaemonLayers,
  readCachedConfig,
} from "./export.ts";
import {
  type DaemonImageInspect,
  findDaemonImage,
  formatDaemonName,
  looksLikeImageId,
  parseDaemonName,
  platformOf,
  repoDigestOf,
} from "./find-image.ts";
import { createdByFromHistory, type DaemonHistoryEntry } from "./history.ts";
import { type DaemonPullEvent, pullDaemonImage, type RegistryCredentials } from "./pull.ts";

export type DaemonProgressEvent = DaemonPullEvent | DaemonExportEvent;

export interface DaemonSourceOptions {
  config: Pick<Config, "docker">;
  /** The content-addressed layer cache (the caller resolves `cache.dir` "" to its default). */
  cacheDir: string;
  /** `--docker-pull`: have the daemon pull the image first. */
  pull?: boolean | undefined;
  /** Registry credentials handed to the daemon for the pull. */
  credentials?: RegistryCredentials | undefined;
  /** Platform asked of the daemon's pull (`--platform`). */
  platform?: Platform | undefined;
  onProgress?: ((event: DaemonProgressEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** `--debug` lines. */
  debug?: ((line: string) => void) | undefined;
  /** Defaults to `process.env` (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, XDG_RUNTIME_DIR). */
  env?: Environment | undefined;
}

/** A daemon image as inspected: everything but the exported bytes. */
export interface DaemonImage {
  /** The reference normalised (`docker.io/library/alpine:latest`), or the image ID as given. */
  reference: string;
  endpoint: DaemonEndpoint;
  /** Image ID (`sha256:…`), which is also the config digest. */
  id: string;
  digest: string;
  digestKind: "manifest" | "image-id";
  platform: Platform;
  tags: string[];
  diffIds: string[];
  chainIds: string[];
  /** Dockerfile steps per layer, from the cached config when there is one, else from the daemon's history. */
  createdBy: Array<string | undefined>;
  /** The daemon's figure for the image's size (bytes), a rough total for export progress. */
  size: number | undefined;
}

/**
 * The digest Clair should know the image by: the manifest digest the daemon recorded for the repository
 * that was asked for (RepoDigests, set when the image was pulled or pushed). Podman lists every digest it
 * knows under every name, so when several match, only the one the pull reported can be trusted.
 */
export function manifestDigestFor(
  reference: string,
  repoDigests: readonly string[],
  pulledDigest?: string | undefined,
): string | undefined {
  const name = parseDaemonName(reference);
  if (name === undefined) return undefined;
  if (name.digest !== undefined) return name.digest;
  const candidates = new Set<string>();
  for (const entry of repoDigests) {
    const digest = repoDigestOf(entry, name);
    if (digest !== undefined) candidates.add(digest);
  }
  if (pulledDigest !== undefined && candidates.has(pulledDigest)) return pulledDigest;
  return candidates.size === 1 ? [...candidates][0] : undefined;
}

function normalisedReference(reference: string): string {
  if (looksLikeImageId(reference)) return reference;
  const name = parseDaemonName(reference);
  return name === undefined ? reference : formatDaemonName(name);
}

async function readHistory(
  docker: Docker,
  endpoint: DaemonEndpoint,
  id: string,
): Promise<DaemonHistoryEntry[]> {
  try {
    return (await docker.getImage(id).history()) as DaemonHistoryEntry[];
  } catch (err) {
    throw translateDaemonError(err, endpoint, `reading the history of ${id}`);
  }
}

/**
 * Finds the image in the daemon (pulling it first with `pull`), without exporting anything: the diff IDs
 * are known up front, so a push can plan its layers while `exportDaemonImage` streams them.
 */
export async function inspectDaemonImage(
  reference: string,
  options: DaemonSourceOptions,
): Promise<DaemonImage> {
  const endpoint = resolveDaemonEndpoint({ config: options.config, env: options.env });
  options.debug?.(`daemon: ${endpoint.display} (from ${endpoint.source})`);
  const docker = connectDaemon(endpoint);
  let pulledDigest: string | undefined;
  if (options.pull === true) {
    options.debug?.(`daemon: pulling ${reference}`);
    ({ digest: pulledDigest } = await pullDaemonImage(docker, endpoint, reference, {
      credentials: options.credentials,
      platform: options.platform,
      onProgress: options.onProgress,
      signal: options.signal,
    }));
  }
  let inspect: DaemonImageInspect;
  try {
    inspect = await findDaemonImage(docker, endpoint, reference);
  } catch (err) {
    throw translateDaemonError(err, endpoint, `finding ${reference}`);
  }
  const diffIds = inspect.RootFS.Layers ?? [];
  const repoDigests = inspect.RepoDigests ?? [];
  const manifestDigest = manifestDigestFor(reference, repoDigests, pulledDigest);
  const cached = await readCachedConfig(options.cacheDir, inspect.Id, diffIds);
  const createdBy =
    cached?.createdBy ?? createdByFromHistory(await readHistory(docker, endpoint, inspect.Id), diffIds);
  options.debug?.(
    `daemon: ${reference} is ${inspect.Id} (${diffIds.length} layers, digest ${manifestDigest ?? "none recorded"})`,
  );
  return {
    reference: normalisedReference(reference),
    endpoint,
    id: inspect.Id,
    digest: manifestDigest ?? inspect.Id,
    digestKind: manifestDigest === undefined ? "image-id" : "manifest",
    platform: cached === undefined ? platformOf(inspect) : configPlatform(cached.config, platformOf(inspect)),
    tags: [...(inspect.RepoTags ?? []), ...repoDigests],
    diffIds,
    chainIds: chainIds(diffIds),
    createdBy,
    size: inspect.Size,
  };
}

/**
 * Exports an inspected image into the cache (`GET /images/{id}/get`, streamed) and returns the resolved
 * image. When every layer is already cached nothing is exported.
 */
export async function exportDaemonImage(
  image: DaemonImage,
  options: ExportLayersOptions,
): Promise<ResolvedImage> {
  const docker = connectDaemon(image.endpoint);
  const exported = await exportDaemonLayers(docker, image, options);
  return {
    reference: image.reference,
    source: "daemon",
    digest: image.digest,
    digestKind: image.digestKind,
    manifestMediaType: undefined,
    configDigest: image.id,
    platform: image.platform,
    tags: image.tags,
    layers: exported,
  };
}

/** Finds, optionally pulls, and exports a daemon image: `pull --local`, `scan --local`. */
export async function resolveDaemonImage(
  reference: string,
  options: DaemonSourceOptions,
): Promise<ResolvedImage> {
  const image = await inspectDaemonImage(reference, options);
  return exportDaemonImage(image, {
    cacheDir: options.cacheDir,
    onProgress: options.onProgress,
    signal: options.signal,
    debug: options.debug,
  });
}
