/**
 * Downloading a layer the way Clair's Go HTTP client does (NOTES.md §3.1, §3.2): the given headers on the
 * GET, Go's default `User-Agent` and transparent gzip, up to 10 redirects, and `Authorization`/`Cookie`
 * dropped when a redirect leaves the original host (net/http `shouldCopyHeaderOnRedirect`).
 * Every HTTP exchange is recorded, with full headers, for tests to assert on.
 */
import { createReadStream } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { createGunzip } from "node:zlib";
import { type ReadLayerResult, readLayer } from "./layer-contents.ts";

export interface LayerFetch {
  url: string;
  headers: Record<string, string | string[]>;
  status: number;
  bytes: number;
  digest: string;
  ok: boolean;
  error?: string;
  at: number;
}

export type DownloadOutcome =
  | { ok: true; status: number; contentType: string; read: ReadLayerResult; record: LayerFetch }
  | { ok: false; status: number; error: string };

export interface DownloadOptions {
  url: string;
  headers: Record<string, string | string[]>;
  /** v4 needs exactly 200; v1 takes any 2xx. */
  acceptStatus: (status: number) => boolean;
  algorithm?: "sha256" | "sha512";
  /** Decide whether the body is acceptable (digest, content type); returns an error message or undefined. */
  judge?: (read: ReadLayerResult, contentType: string) => string | undefined;
  onFetch: (fetch: LayerFetch) => void;
}

const sensitiveOnRedirect = new Set(["authorization", "www-authenticate", "cookie", "cookie2"]);

function isDomainOrSubdomain(sub: string, parent: string): boolean {
  return sub === parent || sub.endsWith(`.${parent}`);
}

function sendGet(url: URL, headers: Record<string, string | string[]>): Promise<IncomingMessage> {
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers }, resolve);
    req.on("error", reject);
    req.end();
  });
}

/** Go's message for a failed round trip: `Get "http://…": dial tcp 127.0.0.1:1: connect: connection refused`. */
function describeNetworkError(url: string, err: NodeJS.ErrnoException): string {
  const u = new URL(url);
  const addr = `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  if (err.code === "ECONNREFUSED") return `Get "${url}": dial tcp ${addr}: connect: connection refused`;
  if (err.code === "ENOTFOUND") return `Get "${url}": dial tcp: lookup ${u.hostname}: no such host`;
  if (err.code === "ECONNRESET") return `Get "${url}": read tcp ${addr}: read: connection reset by peer`;
  return `Get "${url}": ${err.message}`;
}

/** Download and read one layer over http(s), following redirects like Go's http.Client. */
export async function downloadLayer(options: DownloadOptions): Promise<DownloadOutcome> {
  const initial = new URL(options.url);
  let url = initial;
  let headers: Record<string, string | string[]> = {
    "User-Agent": "Go-http-client/1.1",
    "Accept-Encoding": "gzip",
    ...options.headers,
  };
  const userSetEncoding = Object.keys(options.headers).some((k) => k.toLowerCase() === "accept-encoding");
  for (let hop = 0; ; hop++) {
    const at = Date.now();
    let res: IncomingMessage;
    try {
      res = await sendGet(url, headers);
    } catch (err) {
      const error = describeNetworkError(url.href, err as NodeJS.ErrnoException);
      options.onFetch({ url: url.href, headers, status: 0, bytes: 0, digest: "", ok: false, error, at });
      return { ok: false, status: 0, error };
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      res.resume();
      const next = new URL(location, url);
      options.onFetch({
        url: url.href,
        headers,
        status,
        bytes: 0,
        digest: "",
        ok: false,
        error: `redirect to ${next.href}`,
        at,
      });
      if (hop >= 9) return { ok: false, status, error: `Get "${next.href}": stopped after 10 redirects` };
      if (!isDomainOrSubdomain(next.hostname, initial.hostname)) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([k]) => !sensitiveOnRedirect.has(k.toLowerCase())),
        );
      }
      url = next;
      continue;
    }
    if (!options.acceptStatus(status)) {
      // Keep the start of the body for the error message, as ClairCore's CheckResponse does.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res) {
        if (size < 256) chunks.push(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      const error = `unexpected status code: ${status} ${res.statusMessage ?? ""}`.trim();
      options.onFetch({ url: url.href, headers, status, bytes: size, digest: "", ok: false, error, at });
      return { ok: false, status, error };
    }
    const gzipped = !userSetEncoding && res.headers["content-encoding"] === "gzip";
    let read: ReadLayerResult;
    try {
      read = await readLayer(gzipped ? res.pipe(createGunzip()) : res, options.algorithm);
    } catch (err) {
      const error = describeNetworkError(url.href, err as NodeJS.ErrnoException);
      options.onFetch({ url: url.href, headers, status, bytes: 0, digest: "", ok: false, error, at });
      return { ok: false, status, error };
    }
    const contentType = res.headers["content-type"] ?? "";
    const judged = options.judge?.(read, contentType);
    const record: LayerFetch = {
      url: url.href,
      headers,
      status,
      bytes: read.bytes,
      digest: read.digest,
      ok: judged === undefined,
      at,
    };
    if (judged !== undefined) record.error = judged;
    options.onFetch(record);
    if (judged !== undefined) return { ok: false, status, error: judged };
    return { ok: true, status, contentType, read, record };
  }
}

/** Clair 1.x/2.x read a `Path` that is not http(s) as a file on the Clair host (NOTES.md §3.1). */
export async function readLocalLayer(
  path: string,
  onFetch: (fetch: LayerFetch) => void,
): Promise<DownloadOutcome> {
  const at = Date.now();
  try {
    const read = await readLayer(createReadStream(path));
    const record: LayerFetch = {
      url: path,
      headers: {},
      status: 200,
      bytes: read.bytes,
      digest: read.digest,
      ok: true,
      at,
    };
    onFetch(record);
    return { ok: true, status: 200, contentType: "", read, record };
  } catch (err) {
    const error = `open ${path}: ${(err as Error).message}`;
    onFetch({ url: path, headers: {}, status: 0, bytes: 0, digest: "", ok: false, error, at });
    return { ok: false, status: 0, error };
  }
}

/** One log line per fetch; Authorization values never leave the process. */
export function formatFetchLine(fetch: LayerFetch): string {
  const shown = Object.entries(fetch.headers)
    .filter(([k]) => !["user-agent", "accept-encoding"].includes(k.toLowerCase()))
    .map(([k, v]) =>
      k.toLowerCase() === "authorization"
        ? `${k}: [redacted]`
        : `${k}: ${Array.isArray(v) ? v.join(", ") : v}`,
    );
  const verdict = fetch.ok
    ? "ok"
    : fetch.error?.includes("validation failed")
      ? `digest mismatch (${fetch.error})`
      : (fetch.error ?? "failed");
  return (
    `layer fetch GET ${fetch.url} -> ${fetch.status} ${fetch.bytes} bytes ${fetch.digest || "-"} ${verdict}` +
    (shown.length > 0 ? ` [${shown.join("; ")}]` : "")
  );
}
