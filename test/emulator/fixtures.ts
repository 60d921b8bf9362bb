/**
 * Test helpers for the emulator's own tests: tiny layer tars built in memory, a layer server whose
 * answers the test controls, and the package databases of the fixture images.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

export type LayerEntry = string | { symlink: string } | { dir: true };

/** A tar (gzip unless `gzip: false`) holding `files`; `.wh.` names work as whiteouts. */
export async function buildLayer(
  files: Record<string, LayerEntry>,
  options: { gzip?: boolean } = {},
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  const mtime = new Date(0);
  for (const [name, entry] of Object.entries(files)) {
    if (typeof entry === "string") {
      pack.entry({ name, mtime, mode: 0o644 }, entry);
    } else if ("symlink" in entry) {
      pack.entry({ name, mtime, type: "symlink", linkname: entry.symlink });
    } else {
      pack.entry({ name, mtime, type: "directory", mode: 0o755 });
    }
  }
  pack.finalize();
  await done;
  const raw = Buffer.concat(chunks);
  return options.gzip === false ? raw : gzipSync(raw);
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export interface ServedBlob {
  body: Buffer;
  status?: number;
  headers?: Record<string, string>;
  /** Wait this long before answering (to observe concurrent fetches). */
  delayMs?: number;
}

export interface LayerServer {
  url: string;
  /** Every request the server saw. */
  seen: Array<{ path: string; headers: IncomingHttpHeaders }>;
  serve(path: string, blob: ServedBlob): string;
  close(): Promise<void>;
}

/** A layer server on loopback: `serve("/x", {...})` returns the URL Clair should fetch. */
export async function startLayerServer(host = "127.0.0.1"): Promise<LayerServer> {
  const blobs = new Map<string, ServedBlob>();
  const seen: LayerServer["seen"] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    seen.push({ path, headers: req.headers });
    const blob = blobs.get(path);
    if (!blob) {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found\n");
      return;
    }
    setTimeout(() => {
      res.writeHead(blob.status ?? 200, {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(blob.body.length),
        ...blob.headers,
      });
      res.end(blob.body);
    }, blob.delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    serve(path, blob) {
      blobs.set(path, blob);
      return `${url}${path}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export const debian11OsRelease = `PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
`;

export const debian12OsRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;

export const alpineOsRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.15.4
PRETTY_NAME="Alpine Linux v3.15"
`;

/** One dpkg stanza in dpkg's own field order (Source before Version). */
export function dpkgStanza(name: string, version: string, source?: string): string {
  return [
    `Package: ${name}`,
    "Status: install ok installed",
    "Priority: optional",
    "Architecture: amd64",
    ...(source ? [`Source: ${source}`] : []),
    `Version: ${version}`,
    `Description: ${name}`,
    "",
  ].join("\n");
}

export const debian11Status = [
  dpkgStanza("libc6", "2.31-13+deb11u3", "glibc"),
  dpkgStanza("zlib1g", "1:1.2.11.dfsg-2+deb11u1", "zlib"),
  dpkgStanza("bash", "5.1-2+deb11u1"),
  dpkgStanza("openssl", "1.1.1n-0+deb11u3"),
  dpkgStanza("libssl1.1", "1.1.1n-0+deb11u3", "openssl"),
  dpkgStanza("base-files", "11.1+deb11u3"),
].join("\n");

export const curlStanzas = [
  dpkgStanza("curl", "7.74.0-1.3+deb11u1"),
  dpkgStanza("libcurl4", "7.74.0-1.3+deb11u1", "curl"),
].join("\n");

export const debian12Status = [
  dpkgStanza("libssl3", "3.0.9-1", "openssl"),
  dpkgStanza("openssl", "3.0.9-1"),
].join("\n");

export function apkRecord(name: string, version: string, origin: string): string {
  return `C:Q1abc=\nP:${name}\nV:${version}\nA:x86_64\nS:1000\nI:2000\nT:${name}\no:${origin}\n`;
}

export const alpineInstalled = [
  apkRecord("musl", "1.2.2-r7", "musl"),
  apkRecord("busybox", "1.34.1-r3", "busybox"),
  apkRecord("libcrypto1.1", "1.1.1l-r7", "openssl"),
  apkRecord("libssl1.1", "1.1.1l-r7", "openssl"),
  apkRecord("zlib", "1.2.11-r3", "zlib"),
].join("\n");
