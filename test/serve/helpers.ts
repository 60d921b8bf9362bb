/**
 * Test helpers for the layer server: blob files on disk and a raw HTTP client that records what really
 * arrived (status, headers, body bytes, whether the body was cut).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Agent, type IncomingHttpHeaders, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

export function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export function digestOf(data: Buffer): string {
  return `sha256:${sha256Hex(data)}`;
}

/** A temp directory removed after the test file. */
export function makeTempDir(prefix = "hc-serve-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface BlobOnDisk {
  digest: string;
  path: string;
  data: Buffer;
}

/** A file of random bytes named after its digest. */
export function writeBlob(dir: string, size: number): BlobOnDisk {
  const data = randomBytes(size);
  const digest = digestOf(data);
  const path = join(dir, digest.replace(":", "-"));
  writeFileSync(path, data);
  return { digest, path, data };
}

export interface Fetched {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The connection closed before the response ended (a cut body). */
  aborted: boolean;
  /** Milliseconds (performance.now) at which the response ended or was cut. */
  endedAt: number;
  /** Arrival times and sizes of the body chunks. */
  chunks: Array<{ at: number; bytes: number }>;
}

export function fetchRaw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? "GET", headers: options.headers ?? {}, agent: options.agent ?? false },
      (res) => {
        const parts: Buffer[] = [];
        const chunks: Fetched["chunks"] = [];
        let settled = false;
        const finish = (aborted: boolean) => {
          if (settled) return;
          settled = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
            aborted,
            endedAt: performance.now(),
            chunks,
          });
        };
        res.on("data", (chunk: Buffer) => {
          parts.push(chunk);
          chunks.push({ at: performance.now(), bytes: chunk.length });
        });
        res.on("end", () => finish(false));
        res.on("error", () => finish(true));
        res.on("aborted", () => finish(true));
        res.on("close", () => finish(!res.complete));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Polls `check` until it returns true (the server records a response just after the client saw its end). */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
