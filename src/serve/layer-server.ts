import { randomBytes, timingSafeEqual } from "node:crypto";
import { type FileHandle, open, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Readable } from "node:stream";
import { EnvironmentError, InterruptedError } from "../errors.ts";
import { buildAdvertisedBase, formatHost, parseAdvertise, resolveListenAddress } from "./address.ts";
import { parseRange } from "./range.ts";

/**
 * The layer server (DESIGN.md "Getting layers to Clair"): Clair only ever downloads layers from a URL, so
 * blobs of daemon and archive images are served from the local cache over HTTP — under an unguessable
 * per-run path, only the digests of the current push, only while the push runs. Everything else gets a
 * bare 404, so the server tells a stranger nothing.
 *
 * Clair v4 requires exactly 200 and checks sha256 over the raw body (NOTES.md §3.2), so blobs are served
 * byte for byte as `application/octet-stream` (Clair sniffs the compression), streamed from disk.
 */

/** A blob in the cache, complete on disk. */
export interface BlobFile {
  digest: string;
  path: string;
  /** The size the blob must have; a file of another size is refused (500) rather than served. */
  size?: number | undefined;
}

/** A blob still being written (pipelining: Clair may ask for it before the export finished). */
export interface PendingBlob {
  path: string;
  /** Sent as Content-Length when known; without it the response is chunked. */
  expectedSize?: number | undefined;
  /** Resolves when the file is complete; a rejection aborts responses streaming it. */
  done: Promise<void>;
}

/** What went wrong with a request, for progress lines and `explainFetchFailure`. */
export type RequestProblem =
  /** The path was not under this run's token (a stale URL, a proxy rewriting paths, a scanner). */
  | "wrong-path"
  /** The token was right but the digest is not part of this push. */
  | "unknown-digest"
  | "method-not-allowed"
  /** The client went away before the whole body was sent. */
  | "disconnected"
  /** The server was closed while the response was running. */
  | "closed"
  /** The blob could not be read from disk. */
  | "read-error"
  /** The file on disk does not have the declared size. */
  | "size-mismatch"
  /** The pending blob's writer failed. */
  | "blob-failed";

/** One answered request. */
export interface LayerRequestRecord {
  method: string;
  /** The client's address (Clair, or whatever sits between). */
  remote: string;
  /** The digest the path named, when it was under this run's token. */
  digest: string | undefined;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** Body bytes the response should carry (undefined: chunked, size unknown). */
  total: number | undefined;
  /** The whole body was sent (GET), or the headers were (HEAD, error answers). */
  complete: boolean;
  problem: RequestProblem | undefined;
  /** Milliseconds since the epoch at the end of the response. */
  at: number;
}

export type LayerServerEvent =
  | {
      type: "start";
      digest: string;
      method: "GET" | "HEAD";
      remote: string;
      status: number;
      total: number | undefined;
    }
  | { type: "progress"; digest: string; bytes: number; total: number | undefined }
  | ({ type: "end" } & LayerRequestRecord);

export interface LayerStats {
  /** GET and HEAD requests for the blob. */
  requests: number;
  /** Body bytes sent for it (counted as they go out). */
  bytes: number;
  /** GET responses that sent their whole body (counted once the response finished on the server's side). */
  completed: number;
}

export interface LayerServerOptions {
  /** Clair's URL (v4: the indexer's), to choose the address that routes toward it. */
  clairUrl: string;
  /** `serve.listen`: "", "HOST", "HOST:PORT", ":PORT", "[IPV6]:PORT". */
  listen?: string | undefined;
  /** `serve.advertise`: "" or a base URL "http://host[:port]"; no port means the listening port. */
  advertise?: string | undefined;
  blobs: BlobFile[];
  /** Progress: start, progress (throttled), end of each request. Must not throw. */
  onRequest?: ((event: LayerServerEvent) => void) | undefined;
  /** Aborting closes the server. */
  signal?: AbortSignal | undefined;
}

export interface LayerServer {
  /** The URL Clair must fetch the blob from; throws a TypeError for a malformed digest. */
  urlFor(digest: string): string;
  stats(digest: string): LayerStats;
  /** Whether anything at all reached the server (any path, any method). */
  sawAnyRequest(): boolean;
  /** The most recent requests (at most 500), oldest first. */
  requests(): readonly LayerRequestRecord[];
  /** Serves a blob that is still being written; a GET streams it as it grows. */
  addPendingBlob(digest: string, blob: PendingBlob): void;
  /** `listen`: the bound "host:port"; `advertised`: the base URL Clair is given. */
  readonly address: { listen: string; advertised: string };
  /** Closes the listener and every open connection (responses in flight are cut); idempotent. */
  close(): Promise<void>;
}

/** Reads large enough that per-chunk overhead is small next to the copy, small enough to keep memory flat. */
const chunkSize = 1024 * 1024;
/** How often a pending blob's file is re-read once the reader caught up with its writer. */
const tailPollMs = 15;
const progressEveryMs = 200;
const recordLimit = 500;
const digestPattern = /^([a-z0-9]+):([a-f0-9]{32,128})$/;

type Entry =
  | { kind: "file"; path: string; size: number | undefined }
  | { kind: "pending"; path: string; expectedSize: number | undefined; state: PendingState };

interface PendingState {
  settled: boolean;
  error: unknown;
  /** Resolves (never rejects) once `done` settled. */
  whenSettled: Promise<void>;
}

function splitDigest(digest: string): { algorithm: string; hex: string } {
  const match = digestPattern.exec(digest);
  if (!match) throw new TypeError(`not a blob digest: ${digest}`);
  return { algorithm: match[1]!, hex: match[2]! };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

class PendingBlobError extends Error {}

/**
 * Reads a file that another writer is still appending to, from `start`, until the writer reports completion:
 * an empty read means "caught up", not "end of file", until `done` settled (checked before the read, so
 * bytes written just before completion are never missed).
 */
async function* tailFile(
  path: string,
  state: PendingState,
  expectedSize: number | undefined,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  let handle: FileHandle | undefined;
  try {
    while (handle === undefined) {
      const settledBefore = state.settled;
      if (state.error !== undefined)
        throw new PendingBlobError("the blob's writer failed", { cause: state.error });
      if (signal.aborted) throw new PendingBlobError("the layer server closed");
      try {
        handle = await open(path, "r");
      } catch (error) {
        // The writer may not have created the file yet.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT" || settledBefore) throw error;
        await Promise.race([sleep(tailPollMs, signal), state.whenSettled]);
      }
    }
    let position = 0;
    for (;;) {
      if (state.error !== undefined)
        throw new PendingBlobError("the blob's writer failed", { cause: state.error });
      if (signal.aborted) throw new PendingBlobError("the layer server closed");
      const settledBefore = state.settled;
      // With a Content-Length the client sees the end at the last byte, so the last byte waits for `done`:
      // a writer that fails at the very end (e.g. a digest mismatch) must still leave a cut response.
      const length =
        settledBefore || expectedSize === undefined
          ? chunkSize
          : Math.min(chunkSize, expectedSize - 1 - position);
      if (length <= 0) {
        await Promise.race([sleep(tailPollMs, signal), state.whenSettled]);
        continue;
      }
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead > 0) {
        position += bytesRead;
        if (expectedSize !== undefined && position > expectedSize) {
          throw new PendingBlobError(`the blob grew past its expected ${expectedSize} bytes`);
        }
        // A short read (the reader caught up with the writer) must not pin a whole 1 MiB buffer while queued.
        yield bytesRead < length / 2
          ? Buffer.from(buffer.subarray(0, bytesRead))
          : buffer.subarray(0, bytesRead);
        // The last byte of a known size: end now, so the response ends in the same breath as the body.
        if (settledBefore && position === expectedSize) return;
        continue;
      }
      if (settledBefore) {
        if (expectedSize !== undefined && position !== expectedSize) {
          throw new PendingBlobError(`the blob ended at ${position} of ${expectedSize} bytes`);
        }
        return;
      }
      await Promise.race([sleep(tailPollMs, signal), state.whenSettled]);
    }
  } finally {
    await handle?.close();
  }
}

class HttpLayerServer implements LayerServer {
  readonly address: { listen: string; advertised: string };
  private readonly entries = new Map<string, Entry>();
  private readonly counters = new Map<string, LayerStats>();
  private readonly log: LayerRequestRecord[] = [];
  private requestCount = 0;
  private readonly sockets = new Set<Socket>();
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;
  /** Resolves when `close()` starts, to stop waits for pending blobs. */
  private readonly whenClosing: Promise<void>;

  constructor(
    private readonly server: Server,
    private readonly token: string,
    advertised: string,
    listen: string,
    private readonly onRequest: ((event: LayerServerEvent) => void) | undefined,
  ) {
    this.address = { listen, advertised };
    this.whenClosing = new Promise((resolve) => {
      this.closing.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    server.on("connection", (socket: Socket) => {
      if (this.closing.signal.aborted) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : undefined);
      });
    });
  }

  addBlob(blob: BlobFile): void {
    splitDigest(blob.digest);
    this.entries.set(blob.digest, { kind: "file", path: blob.path, size: blob.size });
  }

  addPendingBlob(digest: string, blob: PendingBlob): void {
    splitDigest(digest);
    const state: PendingState = { settled: false, error: undefined, whenSettled: Promise.resolve() };
    const entry: Entry = { kind: "pending", path: blob.path, expectedSize: blob.expectedSize, state };
    state.whenSettled = blob.done.then(
      () => {
        state.settled = true;
        // From now on it is an ordinary blob (Range requests and HEAD answer at once).
        if (this.entries.get(digest) === entry) {
          this.entries.set(digest, { kind: "file", path: blob.path, size: blob.expectedSize });
        }
      },
      (error: unknown) => {
        state.settled = true;
        state.error = error ?? new Error("the blob's writer failed");
      },
    );
    this.entries.set(digest, entry);
  }

  urlFor(digest: string): string {
    const { algorithm, hex } = splitDigest(digest);
    return `${this.address.advertised}/${this.token}/blobs/${algorithm}/${hex}`;
  }

  stats(digest: string): LayerStats {
    const counter = this.counters.get(digest);
    return counter ? { ...counter } : { requests: 0, bytes: 0, completed: 0 };
  }

  sawAnyRequest(): boolean {
    return this.requestCount > 0;
  }

  requests(): readonly LayerRequestRecord[] {
    return [...this.log];
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.closing.abort();
      this.server.close(() => resolve());
      // In-flight responses and idle keep-alive connections both end now: the blobs are no longer served.
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closed;
  }

  private emit(event: LayerServerEvent): void {
    if (!this.onRequest) return;
    try {
      this.onRequest(event);
    } catch {
      // A progress display must not break serving.
    }
  }

  private counter(digest: string): LayerStats {
    let counter = this.counters.get(digest);
    if (!counter) {
      counter = { requests: 0, bytes: 0, completed: 0 };
      this.counters.set(digest, counter);
    }
    return counter;
  }

  private finish(record: Omit<LayerRequestRecord, "at">): void {
    const full: LayerRequestRecord = { ...record, at: Date.now() };
    this.log.push(full);
    if (this.log.length > recordLimit) this.log.shift();
    if (full.digest !== undefined && this.entries.has(full.digest)) {
      if (full.method === "GET" && full.complete && full.status < 300)
        this.counter(full.digest).completed += 1;
    }
    this.emit({ type: "end", ...full });
  }

  /** The digest named by `/<token>/blobs/<algorithm>/<hex>`, or undefined for any other path. */
  private matchPath(url: string): string | undefined {
    const path = url.split("?", 1)[0] ?? "";
    const parts = path.split("/");
    if (parts.length !== 5 || parts[0] !== "" || parts[2] !== "blobs") return undefined;
    const given = Buffer.from(parts[1] ?? "");
    const expected = Buffer.from(this.token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const digest = `${parts[3]}:${parts[4]}`;
    return digestPattern.test(digest) ? digest : undefined;
  }

  private reject(
    req: IncomingMessage,
    res: ServerResponse,
    status: 404 | 405,
    record: Partial<LayerRequestRecord>,
  ) {
    const headers: Record<string, string> = { "Content-Length": "0" };
    if (status === 405) headers["Allow"] = "GET, HEAD";
    res.writeHead(status, headers);
    res.end();
    this.finish({
      method: req.method ?? "",
      remote: req.socket.remoteAddress ?? "",
      digest: record.digest,
      status,
      bytes: 0,
      total: 0,
      complete: true,
      problem: record.problem,
    });
  }

  private fail(req: IncomingMessage, res: ServerResponse, digest: string, problem: RequestProblem): void {
    if (!res.headersSent) {
      res.writeHead(500, { "Content-Length": "0" });
      res.end();
    } else {
      res.destroy();
    }
    this.finish({
      method: req.method ?? "",
      remote: req.socket.remoteAddress ?? "",
      digest,
      status: 500,
      bytes: 0,
      total: 0,
      complete: false,
      problem,
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requestCount += 1;
    if (this.closing.signal.aborted) {
      res.destroy();
      return;
    }
    const digest = this.matchPath(req.url ?? "");
    if (digest === undefined) {
      this.reject(req, res, 404, { problem: "wrong-path" });
      return;
    }
    let entry = this.entries.get(digest);
    if (entry === undefined) {
      this.reject(req, res, 404, { digest, problem: "unknown-digest" });
      return;
    }
    const method = req.method;
    if (method !== "GET" && method !== "HEAD") {
      this.reject(req, res, 405, { digest, problem: "method-not-allowed" });
      return;
    }
    this.counter(digest).requests += 1;
    if (entry.kind === "pending") {
      const plain = method === "GET" && req.headers.range === undefined;
      if (plain) {
        await this.streamPending(req, res, digest, entry);
        return;
      }
      if (method === "HEAD" && entry.expectedSize !== undefined) {
        this.sendHead(req, res, digest, entry.expectedSize);
        return;
      }
      // HEAD without a known size and Range requests need the finished file.
      const { state } = entry;
      await Promise.race([state.whenSettled, this.whenClosing]);
      if (this.closing.signal.aborted) {
        res.destroy();
        return;
      }
      if (state.error !== undefined) {
        this.fail(req, res, digest, "blob-failed");
        return;
      }
      entry = { kind: "file", path: entry.path, size: entry.expectedSize };
    }
    await this.serveFile(req, res, digest, method, entry.path, entry.size);
  }

  private baseHeaders(digest: string): Record<string, string> {
    return {
      "Content-Type": "application/octet-stream",
      "Accept-Ranges": "bytes",
      ETag: `"${digest}"`,
      "Cache-Control": "no-store",
    };
  }

  private sendHead(req: IncomingMessage, res: ServerResponse, digest: string, size: number): void {
    res.writeHead(200, { ...this.baseHeaders(digest), "Content-Length": String(size) });
    res.end();
    const remote = req.socket.remoteAddress ?? "";
    this.emit({ type: "start", digest, method: "HEAD", remote, status: 200, total: 0 });
    this.finish({
      method: "HEAD",
      remote,
      digest,
      status: 200,
      bytes: 0,
      total: 0,
      complete: true,
      problem: undefined,
    });
  }

  private async serveFile(
    req: IncomingMessage,
    res: ServerResponse,
    digest: string,
    method: "GET" | "HEAD",
    path: string,
    declaredSize: number | undefined,
  ): Promise<void> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      this.fail(req, res, digest, "read-error");
      return;
    }
    if (declaredSize !== undefined && declaredSize !== size) {
      // Serving it would only make Clair report a digest mismatch later; refuse it here, visibly.
      this.fail(req, res, digest, "size-mismatch");
      return;
    }
    const remote = req.socket.remoteAddress ?? "";
    const headers = this.baseHeaders(digest);
    const ifRange = req.headers["if-range"];
    const decision =
      ifRange === undefined || ifRange === headers["ETag"]
        ? parseRange(req.headers.range, size)
        : { kind: "full" as const };
    if (decision.kind === "unsatisfiable") {
      res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}`, "Content-Length": "0" });
      res.end();
      this.finish({
        method,
        remote,
        digest,
        status: 416,
        bytes: 0,
        total: 0,
        complete: true,
        problem: undefined,
      });
      return;
    }
    const start = decision.kind === "partial" ? decision.range.start : 0;
    const end = decision.kind === "partial" ? decision.range.end : size - 1;
    const total = end - start + 1;
    const status = decision.kind === "partial" ? 206 : 200;
    if (decision.kind === "partial") headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    headers["Content-Length"] = String(total);
    if (method === "HEAD" || total === 0) {
      res.writeHead(status, headers);
      res.end();
      this.emit({ type: "start", digest, method, remote, status, total: 0 });
      this.finish({ method, remote, digest, status, bytes: 0, total: 0, complete: true, problem: undefined });
      return;
    }
    let handle: FileHandle;
    try {
      // Open before answering, so an unreadable file is a clean 500 rather than a cut 200.
      handle = await open(path, "r");
    } catch {
      this.fail(req, res, digest, "read-error");
      return;
    }
    res.writeHead(status, headers);
    this.emit({ type: "start", digest, method, remote, status, total });
    await this.pumpFile(req, res, digest, handle, start, total, status);
  }

  /**
   * Copies a file range into the response through two reused buffers: a buffer is read into again only
   * once the socket has taken its previous contents, so serving a gigabyte allocates nothing per chunk
   * (garbage buffers would otherwise pile up between collections and grow the process by tens of MB).
   */
  private async pumpFile(
    req: IncomingMessage,
    res: ServerResponse,
    digest: string,
    handle: FileHandle,
    start: number,
    total: number,
    status: number,
  ): Promise<void> {
    const remote = req.socket.remoteAddress ?? "";
    const counter = this.counter(digest);
    const closed = new Promise<void>((resolve) => res.once("close", () => resolve()));
    let gone = false;
    void closed.then(() => {
      gone = true;
    });
    const pool = [Buffer.allocUnsafe(chunkSize), Buffer.allocUnsafe(chunkSize)];
    const written: Array<Promise<void> | undefined> = [undefined, undefined];
    let bytes = 0;
    let lastProgress = performance.now();
    let problem: RequestProblem | undefined;
    try {
      for (let slot = 0; bytes < total && !gone; slot = 1 - slot) {
        // Either the socket took the buffer's last chunk, or the response is gone (a write callback may never come).
        await Promise.race([written[slot], closed]);
        if (gone) break;
        const buffer = pool[slot]!;
        const { bytesRead } = await handle.read(buffer, 0, Math.min(chunkSize, total - bytes), start + bytes);
        if (bytesRead === 0) {
          problem = "read-error";
          break;
        }
        written[slot] = new Promise<void>((resolve) =>
          res.write(buffer.subarray(0, bytesRead), () => resolve()),
        );
        bytes += bytesRead;
        counter.bytes += bytesRead;
        const now = performance.now();
        if (now - lastProgress >= progressEveryMs) {
          lastProgress = now;
          this.emit({ type: "progress", digest, bytes, total });
        }
      }
      await Promise.race([Promise.all(written), closed]);
    } catch {
      problem = "read-error";
    } finally {
      await handle.close().catch(() => undefined);
    }
    if (problem === undefined && !gone) {
      res.end();
    } else if (problem !== undefined) {
      // A cut body must look cut to the client: never end a short response cleanly.
      res.destroy();
    }
    await closed;
    // With a Content-Length the client knows the body is whole at its last byte and may hang up before the
    // server's own end of the response: that is a complete download, not a disconnect.
    const whole = bytes === total && problem === undefined;
    if (!res.writableFinished && !whole) problem ??= this.closing.signal.aborted ? "closed" : "disconnected";
    const complete = problem === undefined && bytes === total;
    this.finish({ method: "GET", remote, digest, status, bytes, total, complete, problem });
  }

  private async streamPending(
    req: IncomingMessage,
    res: ServerResponse,
    digest: string,
    entry: Extract<Entry, { kind: "pending" }>,
  ): Promise<void> {
    const remote = req.socket.remoteAddress ?? "";
    const headers = this.baseHeaders(digest);
    const total = entry.expectedSize;
    // Without a known size the body goes chunked; Clair's Go client reads either.
    if (total !== undefined) headers["Content-Length"] = String(total);
    res.writeHead(200, headers);
    this.emit({ type: "start", digest, method: "GET", remote, status: 200, total });
    const source = Readable.from(tailFile(entry.path, entry.state, total, this.closing.signal), {
      objectMode: false,
      highWaterMark: chunkSize,
    });
    await this.pump(req, res, digest, source, total, 200);
  }

  /** Copies `source` into the response, counting bytes and reporting progress at most every 200 ms. */
  private async pump(
    req: IncomingMessage,
    res: ServerResponse,
    digest: string,
    source: Readable,
    total: number | undefined,
    status: number,
  ): Promise<void> {
    const remote = req.socket.remoteAddress ?? "";
    let bytes = 0;
    let lastProgress = performance.now();
    const counter = this.counter(digest);
    source.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      counter.bytes += chunk.length;
      const now = performance.now();
      if (now - lastProgress >= progressEveryMs) {
        lastProgress = now;
        this.emit({ type: "progress", digest, bytes, total });
      }
    });
    // Plain pipe plus explicit ends rather than stream.pipeline: the response's end is what counts, and a
    // source still winding down (a pending blob's generator closing its file) must not hold the record back.
    const problem = await new Promise<RequestProblem | undefined>((resolve) => {
      let outcome: RequestProblem | undefined;
      source.once("error", (error: unknown) => {
        if (outcome === undefined) {
          outcome = this.closing.signal.aborted
            ? "closed"
            : error instanceof PendingBlobError
              ? "blob-failed"
              : "read-error";
        }
        // A cut body must look cut to the client: never end a short response cleanly.
        res.destroy();
      });
      res.once("close", () => {
        // With a Content-Length the client knows the body is whole at its last byte and may hang up before
        // the server's own end of the response: that is a complete download, not a disconnect.
        const whole = total !== undefined && bytes === total && outcome === undefined;
        if (!res.writableFinished && !whole) {
          outcome ??= this.closing.signal.aborted ? "closed" : "disconnected";
          source.destroy();
        }
        resolve(outcome);
      });
      source.pipe(res);
    });
    const complete = problem === undefined && (total === undefined || bytes === total);
    this.finish({ method: "GET", remote, digest, status, bytes, total, complete, problem });
  }
}

/**
 * Starts the layer server for one push. The caller closes it when the push ends (or passes `signal`).
 */
export async function startLayerServer(options: LayerServerOptions): Promise<LayerServer> {
  if (options.signal?.aborted) throw new InterruptedError();
  const advertise = parseAdvertise(options.advertise ?? "");
  const plan = await resolveListenAddress(options.clairUrl, options.listen ?? "");
  const server = createServer({ keepAliveTimeout: 5_000 });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${formatHost(plan.host)}:${plan.port}`;
      const hint =
        error.code === "EADDRINUSE"
          ? `port ${plan.port} is taken; choose another in serve.listen, or leave the port out for a free one`
          : "set serve.listen to an address of this machine that Clair can reach";
      reject(
        new EnvironmentError(`the layer server cannot listen on ${where}: ${error.code ?? error.message}`, {
          cause: error,
          hint,
        }),
      );
    };
    server.once("error", onError);
    server.listen({ host: plan.host, port: plan.port, exclusive: true }, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const advertised = buildAdvertisedBase(
    advertise,
    { address: bound.address, port: bound.port },
    plan.routeHost,
  );
  const token = randomBytes(32).toString("base64url");
  const layerServer = new HttpLayerServer(
    server,
    token,
    advertised,
    `${formatHost(bound.address)}:${bound.port}`,
    options.onRequest,
  );
  for (const blob of options.blobs) layerServer.addBlob(blob);
  if (options.signal) {
    const signal = options.signal;
    const onAbort = () => void layerServer.close();
    signal.addEventListener("abort", onAbort, { once: true });
    server.once("close", () => signal.removeEventListener("abort", onAbort));
    if (signal.aborted) await layerServer.close();
  }
  return layerServer;
}
