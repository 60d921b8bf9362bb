/**
 * The HTTP plumbing shared by the v1 and v4 emulators: handlers return a `Reply` (status, headers, body)
 * and one sender writes it, so faults (non-JSON bodies, resets mid-body) and compression apply the same way
 * to every route.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { encodeGoJson } from "./go-json.ts";

export interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  body?: string | Buffer;
}

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Read the body, at most `limit` bytes (the rest is drained), like Go's io.LimitReader. */
  readBody(limit?: number): Promise<Buffer>;
}

export function jsonReply(
  status: number,
  value: unknown,
  headers: Record<string, string | string[]> = {},
): Reply {
  return { status, headers: { "Content-Type": "application/json", ...headers }, body: encodeGoJson(value) };
}

/** Go's `http.NotFound`. */
export function goNotFound(extra: Record<string, string> = {}): Reply {
  return {
    status: 404,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", ...extra },
    body: "404 page not found\n",
  };
}

export function emptyReply(status: number, headers: Record<string, string | string[]> = {}): Reply {
  return { status, headers };
}

export function toApiRequest(req: IncomingMessage): ApiRequest {
  const url = new URL(req.url ?? "/", "http://emulator.invalid");
  let cached: Promise<Buffer> | undefined;
  return {
    method: req.method ?? "GET",
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    readBody(limit = Number.POSITIVE_INFINITY) {
      cached ??= (async () => {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of req) {
          const data = chunk as Buffer;
          if (size < limit) chunks.push(data.subarray(0, Math.max(0, Math.min(data.length, limit - size))));
          size += data.length;
        }
        return Buffer.concat(chunks);
      })();
      return cached;
    },
  };
}

export interface SendOptions {
  /** Compress when the client accepts gzip (both Clair generations do). */
  gzip: boolean;
  nonJson?: boolean;
  resetMidBody?: boolean;
}

const nonJsonBody =
  "<html><head><title>502 Bad Gateway</title></head><body>upstream connect error or disconnect/reset</body></html>\n";

export function sendReply(
  req: IncomingMessage,
  res: ServerResponse,
  reply: Reply,
  options: SendOptions,
): void {
  let body = reply.body === undefined ? undefined : Buffer.from(reply.body);
  const headers: Record<string, string | string[]> = { ...reply.headers };
  if (options.nonJson) body = Buffer.from(nonJsonBody);
  const acceptsGzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  if (options.gzip && acceptsGzip && body && body.length > 0 && !options.nonJson) {
    body = gzipSync(body);
    headers["Content-Encoding"] = "gzip";
    headers["Vary"] = "Accept-Encoding";
  }
  if (body !== undefined) headers["Content-Length"] = String(body.length);
  else if (reply.status !== 204 && reply.status !== 304) headers["Content-Length"] = "0";
  res.writeHead(reply.status, headers);
  if (options.resetMidBody) {
    // Promise the full length, deliver part of it, then drop the connection.
    if (body && body.length > 1) res.write(body.subarray(0, Math.floor(body.length / 2)));
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  res.end(body);
}

export function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve(`http://${shownHost}:${address.port}`);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A server whose every request goes through `handle`; errors become a 500 instead of a hung socket. */
export function createReplyServer(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Server {
  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
        res.end(`emulator error: ${(err as Error).message}\n`);
      } else {
        res.destroy();
      }
    });
  });
}

/** Go's `http.TimeFormat`-free sleep helper. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
