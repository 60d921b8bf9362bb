/**
 * The archive image sources: `docker-archive:PATH[:TAG|:@N]`, `oci-archive:PATH[:REF]` and
 * `oci:DIR[:REF]`, each resolved to `ResolvedImage`s whose layers sit in (or, for a layout directory,
 * are verified in place next to) the content-addressed cache.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { ImageError } from "../../errors.ts";
import { LayerCache } from "../cache.ts";
import type { Platform, ResolvedImage } from "../resolved-image.ts";
import { resolveDockerArchive } from "./docker-archive.ts";
import { parseImageTar, type TarLayerBlob } from "./image-tar.ts";
import { directoryBlobStore, resolveOciLayout, tarBlobStore } from "./oci-layout.ts";

export type ArchiveKind = "docker-archive" | "oci-archive" | "oci-dir";

export interface ArchiveInput {
  kind: ArchiveKind;
  path: string;
  /** docker-archive: a RepoTag or `@N`; oci-archive / oci-dir: a `ref.name` or `@N`. */
  selector?: string | undefined;
}

export interface ArchiveProgress {
  /** `read`: the archive streams into the cache; `verify`: a layout directory's layers are hashed in place. */
  phase: "read" | "verify";
  bytes: number;
  /** Bytes expected in this phase, when known. */
  total: number | undefined;
}

export interface OpenArchiveOptions {
  cacheDir: string;
  /** Used to pick one image from an index (config `registry.platform`, or `--platform`). */
  platform: Platform;
  /** Resolve every platform of an index instead of one. */
  allPlatforms?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: ArchiveProgress) => void) | undefined;
  /** Each layer blob as soon as it is complete in the cache (archives only). */
  onLayer?: ((blob: TarLayerBlob) => void) | undefined;
}

const prefixes: Record<ArchiveKind, string> = {
  "docker-archive": "docker-archive",
  "oci-archive": "oci-archive",
  "oci-dir": "oci",
};

async function pathInfo(path: string): Promise<{ kind: "file" | "dir"; size: number } | undefined> {
  try {
    const info = await stat(path);
    return { kind: info.isDirectory() ? "dir" : "file", size: info.size };
  } catch {
    return undefined;
  }
}

/**
 * Splits `PATH[:SELECTOR]` the way skopeo does, except that a path that exists as given wins (so a
 * file name with a colon still opens).
 */
export async function parseArchiveInput(kind: ArchiveKind, text: string): Promise<ArchiveInput> {
  if (text === "")
    throw new ImageError(`${prefixes[kind]}: needs a path`, { hint: `write ${prefixes[kind]}:PATH` });
  if ((await pathInfo(text)) !== undefined) return { kind, path: text };
  // The selector may hold colons itself (`repo/name:tag`), so the path ends at the first colon whose
  // prefix exists.
  for (let at = text.indexOf(":"); at > 0; at = text.indexOf(":", at + 1)) {
    const path = text.slice(0, at);
    const selector = text.slice(at + 1);
    if (selector !== "" && (await pathInfo(path)) !== undefined) return { kind, path, selector };
  }
  return { kind, path: text };
}

function describeInput(input: ArchiveInput): string {
  return `${prefixes[input.kind]}:${input.path}${input.selector === undefined ? "" : `:${input.selector}`}`;
}

/** Resolves an archive source: one image, or with `allPlatforms` one per platform of an index. */
export async function openArchiveImage(
  input: ArchiveInput,
  options: OpenArchiveOptions,
): Promise<ResolvedImage[]> {
  const path = resolve(input.path);
  const reference = describeInput({ ...input, path });
  const what = `${prefixes[input.kind]} ${input.path}`;
  const found = await pathInfo(path);
  if (found === undefined) {
    throw new ImageError(`${what}: no such ${input.kind === "oci-dir" ? "directory" : "file"}`, {
      hint: "check the path",
    });
  }
  if (input.kind === "oci-dir") {
    if (found.kind !== "dir") {
      throw new ImageError(`${what}: not a directory`, {
        hint: "for an OCI layout in a tar use oci-archive:PATH",
      });
    }
    const store = directoryBlobStore(path, {
      signal: options.signal,
      onProgress: (bytes) => options.onProgress?.({ phase: "verify", bytes, total: undefined }),
    });
    return resolveOciLayout(store, {
      selector: input.selector,
      platform: options.platform,
      allPlatforms: options.allPlatforms,
      reference,
      source: "oci-dir",
      what,
    });
  }
  if (found.kind !== "file") {
    throw new ImageError(`${what}: is a directory`, { hint: "for an OCI layout directory use oci:DIR" });
  }

  const total = found.size;
  const cache = new LayerCache(options.cacheDir);
  const parsed = await parseImageTar(createReadStream(path, { highWaterMark: 1 << 20 }), {
    cache,
    signal: options.signal,
    onLayer: options.onLayer,
    onProgress: (bytes) => options.onProgress?.({ phase: "read", bytes, total }),
    what,
  });
  if (input.kind === "docker-archive") {
    return [await resolveDockerArchive(parsed, { selector: input.selector, reference, cache, what })];
  }
  return resolveOciLayout(tarBlobStore(parsed, cache), {
    selector: input.selector,
    platform: options.platform,
    allPlatforms: options.allPlatforms,
    reference,
    source: "oci-archive",
    what,
  });
}
