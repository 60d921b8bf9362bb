/**
 * Streaming reader for image tars: `docker save` output (the legacy form with `<id>/layer.tar` and
 * `manifest.json`, podman's variant with `<diffid>.tar` files and symlinked `<id>/layer.tar` entries,
 * and the OCI-layout form Docker >= 25 writes) and OCI image layouts in a tar (oci-archive).
 *
 * Entries arrive in any order, so nothing is resolved while the stream runs: every entry that may be a
 * layer goes into the content-addressed cache as it arrives (hashed while written, gunzipped in a tee
 * when it is gzip so a compressed layer's diff ID is known too), small metadata is kept in memory
 * under a size cap, and links are recorded. Entry names are only ever map keys: no entry name becomes
 * a file path, so nothing can be written outside the cache.
 */
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { extract as createExtract, type Header } from "tar-stream";
import { HyperclairError, ImageError } from "../../errors.ts";
import { abortError, type CachedBlob, type ChunkSource, type LayerCache } from "../cache.ts";
import { sha256Digest } from "../manifest.ts";

/** A layer-candidate entry, complete in the cache. */
export interface TarLayerBlob extends CachedBlob {
  /** The archive path it was read from. */
  entry: string;
}

export interface ParseImageTarOptions {
  cache: LayerCache;
  signal?: AbortSignal | undefined;
  /** Called as the tar streams in, with the total bytes read so far. */
  onProgress?: ((bytesRead: number) => void) | undefined;
  /** Called as soon as each layer-candidate blob is complete in the cache (before the tar ends). */
  onLayer?: ((blob: TarLayerBlob) => void) | undefined;
  /** Cap on each metadata entry kept in memory (manifest.json, index.json, configs…). Default 8 MiB. */
  maxMetadataBytes?: number | undefined;
  /** Names the tar in error messages, e.g. `archive /tmp/x.tar` or `docker save of alpine`. */
  what?: string | undefined;
}

export interface ParsedImageTar {
  /** Small entries kept in memory, by normalised archive path (links followed). */
  files: Map<string, Buffer>;
  /** Layer-candidate entries streamed into the cache, by normalised archive path (links followed). */
  blobs: Map<string, TarLayerBlob>;
  /** Link entries, as normalised archive path → normalised target path. */
  links: Map<string, string>;
  stats: {
    bytesRead: number;
    /** Blobs this parse added to the cache (0 when everything was cached already). */
    blobsWritten: number;
    bytesWritten: number;
  };
}

export const defaultMaxMetadataBytes = 8 * 1024 * 1024;

const blobPathPattern = /^blobs\/sha256\/([a-f0-9]{64})$/;
const diffIdTarPattern = /^([a-f0-9]{64})\.tar$/;

function archiveError(what: string, message: string, hint?: string): ImageError {
  return new ImageError(`${what}: ${message}`, {
    hint: hint ?? "the archive is corrupt or was not written by docker, podman or skopeo",
  });
}

/**
 * Normalises an entry name, rejecting absolute names and any `..` segment: a well-formed image tar
 * has neither, and refusing them outright is simpler to trust than resolving them safely.
 */
export function normaliseEntryName(name: string, what: string): string {
  if (name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)) {
    throw archiveError(
      what,
      `entry ${JSON.stringify(name)} has an absolute path`,
      "refusing to read the archive",
    );
  }
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) {
    throw archiveError(
      what,
      `entry ${JSON.stringify(name)} points outside the archive (..)`,
      "refusing to read the archive",
    );
  }
  return parts.join("/");
}

/** A link's target as an archive path; symlinks are relative to their directory, hard links to the root. */
function resolveLinkTarget(entry: string, header: Header, what: string): string {
  const target = header.linkname ?? "";
  const escapes = () =>
    archiveError(
      what,
      `link ${JSON.stringify(entry)} → ${JSON.stringify(target)} escapes the archive`,
      "refusing to read the archive",
    );
  if (target === "" || target.startsWith("/")) throw escapes();
  const joined =
    header.type === "symlink" ? posix.join(posix.dirname(entry), target) : posix.normalize(target);
  if (joined === ".." || joined.startsWith("../") || posix.isAbsolute(joined)) throw escapes();
  return joined.replace(/^\.\//, "");
}

function isMetadataName(name: string): boolean {
  const base = posix.basename(name);
  return (
    base.endsWith(".json") ||
    base === "json" ||
    base === "VERSION" ||
    base === "repositories" ||
    base === "oci-layout"
  );
}

function isLayerName(name: string): boolean {
  return name.endsWith(".tar") || blobPathPattern.test(name);
}

/** Collects a small entry in memory, refusing it past `cap` bytes. */
function readSmallEntry(stream: ChunkSource, name: string, cap: number, what: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      if (error === undefined) resolve(Buffer.concat(parts));
      else reject(error);
    };
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) {
        const error = archiveError(what, `entry ${name} is larger than ${cap} bytes`);
        stream.destroy(error);
        settle(error);
      } else {
        parts.push(chunk);
      }
    });
    stream.on("end", () => settle(undefined));
    stream.on("error", (error: Error) => settle(error));
    stream.on("close", () =>
      settle(new Error("premature close: the archive ended in the middle of an entry")),
    );
  });
}

function drainEntry(stream: ChunkSource): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    stream.on("data", () => undefined);
    stream.on("end", () => resolve());
    stream.on("error", (error: Error) => reject(error));
    stream.on("close", () =>
      reject(new Error("premature close: the archive ended in the middle of an entry")),
    );
  });
}

function looksLikeJson(data: Buffer): boolean {
  const text = data.subarray(0, 64).toString("latin1").trimStart();
  return text.startsWith("{") || text.startsWith("[");
}

/**
 * Reads an image tar from `input`, storing layer candidates in the cache as they arrive. Resolve the
 * result with `resolveDockerArchive` (manifest.json) or `resolveOciLayout` (index.json).
 */
export async function parseImageTar(input: Readable, options: ParseImageTarOptions): Promise<ParsedImageTar> {
  const what = options.what ?? "image archive";
  const cap = options.maxMetadataBytes ?? defaultMaxMetadataBytes;
  const { cache, signal } = options;
  const result: ParsedImageTar = {
    files: new Map(),
    blobs: new Map(),
    links: new Map(),
    stats: { bytesRead: 0, blobsWritten: 0, bytesWritten: 0 },
  };
  if (signal?.aborted) throw abortError(signal);

  const storeLayer = async (
    source: ChunkSource | Buffer,
    name: string,
    expectedDigest: string | undefined,
  ): Promise<void> => {
    const writeOptions = { expectedDigest, uncompressedDigest: true, signal, what: `${what}, entry ${name}` };
    const blob = Buffer.isBuffer(source)
      ? await cache.writeBuffer(source, writeOptions)
      : await cache.writeBlob(source, writeOptions);
    if (blob.written) {
      result.stats.blobsWritten += 1;
      result.stats.bytesWritten += blob.size;
    }
    const layer: TarLayerBlob = { ...blob, entry: name };
    result.blobs.set(name, layer);
    options.onLayer?.(layer);
  };

  const handleEntry = async (header: Header, stream: ChunkSource): Promise<void> => {
    const type = header.type ?? "file";
    const name = normaliseEntryName(header.name, what);
    if (type === "symlink" || type === "link") {
      result.links.set(name, resolveLinkTarget(name, header, what));
      return drainEntry(stream);
    }
    if (type !== "file" && type !== "contiguous-file") return drainEntry(stream);
    const size = header.size ?? 0;
    const blobMatch = name.match(blobPathPattern);
    if (blobMatch) {
      const digest = `sha256:${blobMatch[1]}`;
      if (size > cap) return storeLayer(stream, name, digest);
      // Configs, manifests and indexes live among the blobs; JSON never starts a tar or gzip stream.
      // Small blobs are read whole (under the cap) to tell which is which.
      const data = await readSmallEntry(stream, name, cap, what);
      if (!looksLikeJson(data)) return storeLayer(data, name, digest);
      if (sha256Digest(data) !== digest) {
        throw archiveError(
          what,
          `entry ${name} has content digest ${sha256Digest(data)}, not the ${digest} its name promises`,
        );
      }
      result.files.set(name, data);
      return;
    }
    if (isLayerName(name)) {
      // `<diffid>.tar` (podman, skopeo) names its digest, but only the image config is authoritative:
      // the name just lets a cached layer be recognised without writing it again.
      const hinted = name.match(diffIdTarPattern);
      const hint = hinted ? `sha256:${hinted[1]}` : undefined;
      const known = hint !== undefined && (await cache.has(hint));
      return storeLayer(stream, name, known ? hint : undefined);
    }
    if (isMetadataName(name)) {
      if (size > cap) throw archiveError(what, `entry ${name} is larger than ${cap} bytes`);
      result.files.set(name, await readSmallEntry(stream, name, cap, what));
      return;
    }
    // Not part of any image format we read: skipped.
    return drainEntry(stream);
  };

  const extract = createExtract();
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    let inputError: unknown;
    let current: Promise<unknown> = Promise.resolve();
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      signal?.removeEventListener("abort", onAbort);
      input.unpipe(extract as unknown as NodeJS.WritableStream);
      input.destroy();
      extract.destroy();
      const reason = signal?.aborted ? abortError(signal) : translateStreamError(error, inputError, what);
      // Let the entry being stored see its stream die and remove its temp file before we report.
      void current.then(() => reject(reason));
    };
    const onAbort = () => fail(abortError(signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    extract.on("entry", (header, stream, next) => {
      const handling = handleEntry(header, stream as unknown as ChunkSource);
      current = handling.catch(() => undefined);
      handling.then(() => next(), fail);
    });
    extract.on("finish", () => {
      // The last entry may still be moving into the cache.
      void current.then(() => {
        if (failed) return;
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
    extract.on("error", fail);
    input.on("error", (error) => {
      inputError = error;
      fail(error);
    });
    input.pipe(extract as unknown as NodeJS.WritableStream);
    input.on("data", (chunk: Buffer) => {
      result.stats.bytesRead += chunk.length;
      options.onProgress?.(result.stats.bytesRead);
    });
  });
  followLinks(result, what);
  return result;
}

function translateStreamError(error: unknown, inputError: unknown, what: string): Error {
  if (error instanceof HyperclairError) return error;
  if (inputError !== undefined && inputError instanceof HyperclairError) return inputError;
  const message = error instanceof Error ? error.message : String(error);
  if (/unexpected end|premature|truncat/i.test(message)) {
    return archiveError(
      what,
      "the archive is truncated (it ends in the middle of an entry)",
      "the file is incomplete: copy or export it again",
    );
  }
  if (inputError !== undefined) {
    return new ImageError(
      `${what}: cannot read the archive: ${(inputError as Error).message ?? inputError}`,
      {
        cause: inputError,
      },
    );
  }
  return archiveError(what, `not a readable tar archive (${message})`);
}

/** Makes each link path resolve to what its target holds, following chains of links within the archive. */
function followLinks(result: ParsedImageTar, what: string): void {
  for (const [link] of result.links) {
    let target = link;
    const seen = new Set<string>();
    while (result.links.has(target)) {
      if (seen.has(target)) throw archiveError(what, `link ${link} is part of a loop`);
      seen.add(target);
      target = result.links.get(target)!;
    }
    const blob = result.blobs.get(target);
    const file = result.files.get(target);
    if (blob !== undefined) result.blobs.set(link, { ...blob, entry: link });
    else if (file !== undefined) result.files.set(link, file);
  }
}

/** Parses a JSON entry kept in memory; `undefined` when the archive has no such entry. */
export function readTarJson(parsed: ParsedImageTar, name: string, what: string): unknown {
  const data = parsed.files.get(name);
  if (data === undefined) return undefined;
  try {
    return JSON.parse(data.toString("utf8"));
  } catch {
    throw archiveError(what, `${name} is not valid JSON`);
  }
}
