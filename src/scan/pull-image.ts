/**
 * `pull`: resolve an image from wherever it lives into the one `ResolvedImage` model. Registry images
 * are read from the distribution API (nothing is downloaded but manifests and configs); daemon and
 * archive images are streamed into the content-addressed layer cache, ready for the layer server.
 */
import type { Config } from "../config/types.ts";
import { ImageError } from "../errors.ts";
import type { DaemonProgressEvent } from "../image/daemon/daemon-source.ts";
import { parsePlatform } from "../image/manifest.ts";
import { type ImageInput, parseImageArgument } from "../image/reference.ts";
import type { Platform, ResolvedImage } from "../image/resolved-image.ts";

export interface Credentials {
  username: string;
  password: string;
}

export interface PullRequest {
  /** The image argument as typed: a reference, or `docker:`, `registry:`, `docker-archive:`, `oci-archive:`, `oci:`. */
  image: string;
  /** `--local`: the reference names an image in the Docker daemon. */
  local?: boolean | undefined;
  /** `--platform os/arch[/variant]`; default `registry.platform`. */
  platform?: string | undefined;
  allPlatforms?: boolean | undefined;
  /** `--docker-pull`: the daemon pulls the image first. */
  dockerPull?: boolean | undefined;
  credentials?: Credentials | undefined;
}

/** One line of progress for the person watching; the CLI turns it into a spinner or a plain line. */
export interface ProgressEvent {
  step: "resolve" | "daemon-pull" | "export" | "read-archive";
  message: string;
  bytes?: number | undefined;
  total?: number | undefined;
}

export interface ScanDeps {
  config: Config;
  cacheDir: string;
  env: Record<string, string | undefined>;
  debug?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
}

export async function pullImage(request: PullRequest, deps: ScanDeps): Promise<ResolvedImage[]> {
  const input = parseImageArgument(request.image, { local: request.local === true });
  const platform = parsePlatform(request.platform ?? deps.config.registry.platform);
  if (request.dockerPull && input.kind !== "daemon") {
    throw new ImageError("--docker-pull only applies to images in the Docker daemon", {
      hint: "add --local (or write docker:IMAGE)",
    });
  }
  deps.onProgress?.({ step: "resolve", message: `resolving ${request.image}` });
  return resolveInput(input, request, platform, deps);
}

async function resolveInput(
  input: ImageInput,
  request: PullRequest,
  platform: Platform,
  deps: ScanDeps,
): Promise<ResolvedImage[]> {
  switch (input.kind) {
    case "registry": {
      const { resolveRegistryImage } = await import("../image/registry/resolve.ts");
      return resolveRegistryImage(input.reference, {
        config: deps.config,
        platform,
        allPlatforms: request.allPlatforms,
        credentials: request.credentials,
        debug: deps.debug,
        signal: deps.signal,
        env: deps.env,
      });
    }
    case "daemon": {
      if (request.allPlatforms) {
        throw new ImageError("--all-platforms does not apply to daemon images", {
          hint: "a daemon holds one platform of an image; pull it from the registry instead",
        });
      }
      const { resolveDaemonImage } = await import("../image/daemon/daemon-source.ts");
      const image = await resolveDaemonImage(input.name, {
        config: deps.config,
        cacheDir: deps.cacheDir,
        pull: request.dockerPull,
        credentials: request.credentials,
        platform: request.platform === undefined ? undefined : platform,
        signal: deps.signal,
        debug: deps.debug,
        env: deps.env,
        onProgress: (event) => deps.onProgress?.(describeDaemonEvent(event)),
      });
      return [image];
    }
    default: {
      const { openArchiveImage, parseArchiveInput } = await import("../image/archive/open-archive.ts");
      // A path that exists as written wins over skopeo's split at the first ':' (paths may hold colons).
      const text = input.selector === undefined ? input.path : `${input.path}:${input.selector}`;
      return openArchiveImage(await parseArchiveInput(input.kind, text), {
        cacheDir: deps.cacheDir,
        platform,
        allPlatforms: request.allPlatforms,
        signal: deps.signal,
        onProgress: (progress) =>
          deps.onProgress?.({
            step: "read-archive",
            message: progress.phase === "read" ? "reading the archive" : "verifying layers",
            bytes: progress.bytes,
            total: progress.total,
          }),
      });
    }
  }
}

export function describeDaemonEvent(event: DaemonProgressEvent): ProgressEvent {
  if (event.kind === "pull") {
    const layer = event.id ? `${event.id}: ` : "";
    return {
      step: "daemon-pull",
      message: `daemon pull: ${layer}${event.status}`,
      bytes: event.current,
      total: event.total,
    };
  }
  switch (event.phase) {
    case "bytes":
      return { step: "export", message: `exporting ${event.image}`, bytes: event.bytes, total: event.total };
    case "layer":
      return {
        step: "export",
        message: `layer ${event.diffId.slice(7, 19)} ${event.cached ? "already cached" : "cached"}`,
      };
    case "skipped":
      return { step: "export", message: `export skipped: ${event.reason}` };
    default:
      return { step: "export", message: `exporting ${event.image}`, bytes: 0, total: event.total };
  }
}
