/**
 * The content-addressed layer cache: `<dir>/blobs/sha256/<hex>`, the layout of an OCI image layout's
 * blob store (image-spec image-layout.md "Blobs"), so a blob's file name is its digest.
 *
 * A blob is streamed into a temp file under `<dir>/tmp/` while its sha256 is computed, checked against
 * the expected digest when one is known, then renamed into place: a blob never sits under its final
 * name unless its bytes hash to that name, and two writers of the same digest only ever rename
 * identical files over each other. Nothing here holds a blob in memory.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { EnvironmentError, HyperclairError, ImageError, InterruptedError } from "../errors.ts";
import { isDigest } from "./manifest.ts";

/** What a blob's bytes turned out to be, learnt while they streamed past. */
export interface BlobDigests {
  /** sha256 of the bytes as they are (what the cache file holds). */
  digest: string;
  size: number;
  /**
   * sha256 of the gunzipped bytes, when the blob is gzip (magic `1f 8b`) and that was asked for:
   * the diff ID of a compressed layer. `undefined` when the blob is not gzip or does not gunzip.
   */
  uncompressedDigest: string | undefined;
  /** The blob starts with zstd's magic (`28 b5 2f fd`); Node 20 cannot decompress it to check a diff ID. */
  zstd: boolean;
}

export interface CachedBlob extends BlobDigests {
  /** Absolute path of the blob in the cache. */
  path: string;
  /** False when the cache already held the blob and nothing new was written. */
  written: boolean;
}

export interface HashOptions {
  /** Also hash the gunzipped stream when the bytes are gzip (costs CPU, no disk, no memory). */
  uncompressedDigest?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Called with the running byte count of this blob. */
  onProgress?: ((bytes: number) => void) | undefined;
}

export interface BlobWriteOptions extends HashOptions {
  /** When known, the bytes must hash to it; a mismatch deletes the temp file and fails. */
  expectedDigest?: string | undefined;
  /** Names the blob in error messages, e.g. `archive x.tar entry blobs/sha256/…`. */
  what?: string | undefined;
}

const gzipMagic = [0x1f, 0x8b];
const zstdMagic = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(head: Buffer, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((byte, index) => head[index] === byte);
}

/**
 * A pass-through step that hashes what flows by and, for gzip data, also hashes its decompressed
 * form. Backpressure from the gunzip side holds up the source, so memory stays bounded.
 */
class DigestTap {
  readonly #hash = createHash("sha256");
  readonly #uncompressedHash = createHash("sha256");
  readonly #wantUncompressed: boolean;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  #size = 0;
  #head: Buffer = Buffer.alloc(0);
  #decided = false;
  #zstd = false;
  #gunzip: ReturnType<typeof createGunzip> | undefined;
  #gunzipDone: Promise<boolean> | undefined;

  constructor(options: HashOptions) {
    this.#wantUncompressed = options.uncompressedDigest === true;
    this.#onProgress = options.onProgress;
  }

  /** Returns a promise only when the gunzip side needs the caller to wait (backpressure). */
  push(chunk: Buffer): Promise<void> | undefined {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    this.#onProgress?.(this.#size);
    if (!this.#decided) {
      this.#head = Buffer.concat([this.#head, chunk]);
      if (this.#head.length < zstdMagic.length) return undefined;
      this.#decide();
      const head = this.#head;
      this.#head = Buffer.alloc(0);
      return this.#feedGunzip(head);
    }
    return this.#feedGunzip(chunk);
  }

  #decide(): void {
    this.#decided = true;
    this.#zstd = startsWith(this.#head, zstdMagic);
    if (!this.#wantUncompressed || !startsWith(this.#head, gzipMagic)) return;
    const gunzip = createGunzip();
    this.#gunzip = gunzip;
    // Data that starts like gzip but does not gunzip is simply not a gzip layer: no diff ID, no error.
    this.#gunzipDone = new Promise<boolean>((resolve) => {
      gunzip.on("data", (data: Buffer) => this.#uncompressedHash.update(data));
      gunzip.on("end", () => resolve(true));
      gunzip.on("error", () => {
        this.#gunzip = undefined;
        resolve(false);
      });
    });
  }

  #feedGunzip(chunk: Buffer): Promise<void> | undefined {
    const gunzip = this.#gunzip;
    if (gunzip === undefined || chunk.length === 0 || gunzip.write(chunk)) return undefined;
    return Promise.race([
      new Promise<void>((resolve) => gunzip.once("drain", resolve)),
      this.#gunzipDone!.then(() => undefined),
    ]);
  }

  async finish(): Promise<BlobDigests> {
    if (!this.#decided) {
      this.#decide();
      await this.#feedGunzip(this.#head);
    }
    let uncompressedDigest: string | undefined;
    if (this.#gunzip !== undefined) {
      this.#gunzip.end();
      if (await this.#gunzipDone) uncompressedDigest = `sha256:${this.#uncompressedHash.digest("hex")}`;
    }
    return {
      digest: `sha256:${this.#hash.digest("hex")}`,
      size: this.#size,
      uncompressedDigest,
      zstd: this.#zstd,
    };
  }

  destroy(): void {
    this.#gunzip?.destroy();
  }
}

/** The error an abort stands for: the reason when it is one of ours, else an interruption. */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof HyperclairError ? signal.reason : new InterruptedError();
}

/** The event interface shared by Node streams and tar-stream's (streamx) entry streams. */
export interface ChunkSource {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(error?: Error): unknown;
}

type BlobSource = ChunkSource | AsyncIterable<Buffer | Uint8Array>;

function isChunkSource(source: BlobSource): source is ChunkSource {
  return (
    typeof (source as ChunkSource).on === "function" && typeof (source as ChunkSource).pause === "function"
  );
}

/**
 * Feeds every chunk of `source` to `onChunk`, pausing the source while a returned promise is pending.
 * Events rather than async iteration: iterating tar-stream's entries is several times slower.
 */
function consume(
  source: BlobSource,
  onChunk: (chunk: Buffer) => Promise<void> | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!isChunkSource(source)) {
    return (async () => {
      for await (const chunk of source) {
        if (signal?.aborted) throw abortError(signal);
        await onChunk(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      }
    })();
  }
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => {
      const error = abortError(signal!);
      source.destroy(error);
      finish(error);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    source.on("data", (chunk: Buffer) => {
      if (settled) return;
      const wait = onChunk(chunk);
      if (wait === undefined) return;
      source.pause();
      wait.then(
        () => source.resume(),
        (error: Error) => {
          source.destroy(error);
          finish(error);
        },
      );
    });
    source.on("end", () => finish());
    source.on("error", (error: Error) => finish(error));
    source.on("close", () => finish(new Error("premature close: the stream ended in the middle of a blob")));
    source.resume();
  });
}

/** Hashes a stream without storing it (e.g. a blob already inside an OCI layout directory). */
export async function hashStream(source: BlobSource, options: HashOptions = {}): Promise<BlobDigests> {
  const tap = new DigestTap(options);
  try {
    await consume(source, (chunk) => tap.push(chunk), options.signal);
    return await tap.finish();
  } finally {
    tap.destroy();
  }
}

/** Hashes a file, streamed. */
export async function hashFile(path: string, options: HashOptions = {}): Promise<BlobDigests> {
  return hashStream(createReadStream(path, { highWaterMark: 1 << 20 }), options);
}

function hexOf(digest: string): string {
  if (!isDigest(digest)) {
    throw new ImageError(`${JSON.stringify(digest)} is not a sha256 digest`, {
      hint: "hyperclair's layer cache holds sha256 blobs only",
    });
  }
  return digest.slice("sha256:".length);
}

function environmentError(action: string, error: unknown): EnvironmentError {
  const code = (error as NodeJS.ErrnoException).code;
  const hint =
    code === "ENOSPC"
      ? "the disk is full: free space or point cache.dir somewhere larger"
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "make cache.dir writable, or point it at a writable directory"
        : undefined;
  return new EnvironmentError(`${action}: ${(error as Error).message}`, { hint, cause: error });
}

export class LayerCache {
  /** Absolute (or as given) cache root; blobs live under `blobs/sha256/`. */
  readonly dir: string;
  #ready: Promise<void> | undefined;

  constructor(dir: string) {
    if (dir === "") throw new EnvironmentError("no layer cache directory given");
    this.dir = dir;
  }

  /** Where the blob with this digest lives (whether or not it is there yet). */
  pathFor(digest: string): string {
    return join(this.dir, "blobs", "sha256", hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.pathFor(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** The cached blob's path and size, or undefined when it is not cached. */
  async lookup(digest: string): Promise<{ path: string; size: number } | undefined> {
    const path = this.pathFor(digest);
    try {
      const info = await stat(path);
      return info.isFile() ? { path, size: info.size } : undefined;
    } catch {
      return undefined;
    }
  }

  #prepare(): Promise<void> {
    this.#ready ??= (async () => {
      try {
        await mkdir(join(this.dir, "blobs", "sha256"), { recursive: true });
        await mkdir(join(this.dir, "tmp"), { recursive: true });
      } catch (error) {
        this.#ready = undefined;
        throw environmentError(`cannot create the layer cache at ${this.dir}`, error);
      }
    })();
    return this.#ready;
  }

  /**
   * Streams `source` into the cache. When `expectedDigest` is given and already cached, the bytes are
   * still read and hashed (the caller's stream must be consumed, and a lying source is caught) but
   * nothing is written.
   */
  async writeBlob(source: BlobSource, options: BlobWriteOptions = {}): Promise<CachedBlob> {
    const what = options.what ?? "blob";
    const expected = options.expectedDigest;
    if (expected !== undefined) hexOf(expected);
    await this.#prepare();

    if (expected !== undefined && (await this.has(expected))) {
      const digests = await hashStream(source, options);
      checkDigest(what, digests.digest, expected);
      return { ...digests, path: this.pathFor(expected), written: false };
    }

    const tempPath = join(
      this.dir,
      "tmp",
      `${expected === undefined ? "blob" : hexOf(expected).slice(0, 16)}.${process.pid}.${randomBytes(6).toString("hex")}.partial`,
    );
    const tap = new DigestTap(options);
    let file: WriteStream | undefined;
    try {
      file = createWriteStream(tempPath, { flags: "wx", mode: 0o644, highWaterMark: 256 << 10 });
      const sink = file;
      let failure: Error | undefined;
      const opened = new Promise<void>((resolve, reject) => {
        sink.once("open", () => resolve());
        sink.on("error", (error) => {
          failure = environmentError(`cannot write ${what} to the layer cache at ${this.dir}`, error);
          reject(failure);
        });
      });
      opened.catch(() => undefined);
      await consume(
        source,
        (chunk) => {
          if (failure !== undefined) return Promise.reject(failure);
          const hashing = tap.push(chunk);
          const written = sink.write(chunk);
          if (hashing === undefined && written) return undefined;
          return Promise.all([hashing, written ? undefined : once(sink, "drain")]).then(() => undefined);
        },
        options.signal,
      );
      await opened;
      await new Promise<void>((resolve, reject) => {
        sink.end((error?: Error | null) =>
          error ? reject(environmentError(`cannot write ${what} to the layer cache`, error)) : resolve(),
        );
      });
      if (failure !== undefined) throw failure;
      file = undefined;
      const digests = await tap.finish();
      if (expected !== undefined) checkDigest(what, digests.digest, expected);
      const path = this.pathFor(digests.digest);
      const already = await this.has(digests.digest);
      if (already) {
        await rm(tempPath, { force: true });
      } else {
        try {
          await rename(tempPath, path);
        } catch (error) {
          throw environmentError(`cannot move ${what} into the layer cache`, error);
        }
      }
      return { ...digests, path, written: !already };
    } catch (error) {
      tap.destroy();
      if (file !== undefined) {
        const pending = file;
        await new Promise<void>((resolve) => {
          if (pending.closed) resolve();
          else pending.destroy().once("close", () => resolve());
        });
      }
      await rm(tempPath, { force: true }).catch(() => undefined);
      if (options.signal?.aborted) throw abortError(options.signal);
      throw error;
    }
  }

  /** Stores a small blob already in memory (e.g. a JSON blob that turns out to be needed as a layer). */
  async writeBuffer(data: Buffer, options: BlobWriteOptions = {}): Promise<CachedBlob> {
    return this.writeBlob(Readable.from([data]), options);
  }
}

function checkDigest(what: string, actual: string, expected: string): void {
  if (actual !== expected) {
    throw new ImageError(`${what}: content digest ${actual} does not match the expected ${expected}`, {
      hint: "the image data is corrupt or was altered; export or download it again",
    });
  }
}
