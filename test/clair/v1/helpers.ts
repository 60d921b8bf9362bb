import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import type { ClairClient, LayerTarget } from "../../../src/clair/client.ts";
import { connectClair } from "../../../src/clair/index.ts";
import { chainIds } from "../../../src/image/manifest.ts";
import type { ResolvedImage, ResolvedLayer } from "../../../src/image/resolved-image.ts";
import { type RunningEmulator, startEmulator } from "../../emulator/index.ts";
import type { TestImageInfo } from "../../infra/env.ts";
import { makeClairConfig } from "../helpers.ts";

/** A blob served by the test's layer server: a file from the harness's images dir, or bytes built in the test. */
export type BlobSource = { file: string } | { bytes: Buffer };

/** A tiny loopback layer server: `GET /blobs/<digest>` streams the blob; it records every request. */
export interface BlobServer {
  url: string;
  seen: Array<{ method: string; path: string; headers: IncomingHttpHeaders }>;
  add(digest: string, source: BlobSource): void;
  urlOf(digest: string): string;
  close(): Promise<void>;
}

export async function startBlobServer(): Promise<BlobServer> {
  const blobs = new Map<string, BlobSource>();
  const seen: BlobServer["seen"] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    seen.push({ method: req.method ?? "GET", path, headers: req.headers });
    const source = blobs.get(decodeURIComponent(path.replace(/^\/blobs\//, "")));
    if (source === undefined) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    const size = "file" in source ? statSync(source.file).size : source.bytes.length;
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(size) });
    if (req.method === "HEAD") res.end();
    else if ("file" in source) createReadStream(source.file).pipe(res);
    else res.end(source.bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    add: (digest, source) => blobs.set(digest, source),
    urlOf: (digest) => `${url}/blobs/${digest}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The ResolvedImage an image source would produce for a harness test image, its blobs on `blobs`. */
export function resolveTestImage(info: TestImageInfo, blobs: BlobServer): ResolvedImage {
  const chains = chainIds(info.layers.map((l) => l.diffId));
  const layers: ResolvedLayer[] = info.layers.map((layer, index) => {
    blobs.add(layer.digest, { file: layer.gzipPath });
    return {
      index,
      digest: layer.digest,
      diffId: layer.diffId,
      size: layer.size,
      mediaType: layer.mediaType,
      createdBy: layer.createdBy,
      chainId: chains[index]!,
      location: { kind: "cache", path: layer.gzipPath },
    };
  });
  return {
    reference: `test/${info.name}:latest`,
    source: "oci-dir",
    digest: info.ociManifest.digest,
    digestKind: "manifest",
    manifestMediaType: info.ociManifest.mediaType,
    configDigest: info.config.digest,
    platform: info.platform,
    tags: [],
    layers,
  };
}

/** A ResolvedImage made of gzip layer tars built in the test (see `buildLayer` in the emulator's fixtures). */
export function resolveBuiltImage(reference: string, gzips: Buffer[], blobs: BlobServer): ResolvedImage {
  // A blob that is not gzip (a broken layer in a test) stands for itself.
  const diffIds = gzips.map((gzip) => sha256(isGzip(gzip) ? gunzipSync(gzip) : gzip));
  const chains = chainIds(diffIds);
  const layers: ResolvedLayer[] = gzips.map((gzip, index) => {
    const digest = sha256(gzip);
    blobs.add(digest, { bytes: gzip });
    return {
      index,
      digest,
      diffId: diffIds[index]!,
      size: gzip.length,
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      createdBy: undefined,
      chainId: chains[index]!,
      location: { kind: "cache", path: `/nonexistent/${digest}` },
    };
  });
  return {
    reference,
    source: "oci-dir",
    digest: sha256(reference),
    digestKind: "manifest",
    manifestMediaType: undefined,
    configDigest: sha256(`${reference} config`),
    platform: { os: "linux", architecture: "amd64" },
    tags: [],
    layers,
  };
}

function isGzip(data: Buffer): boolean {
  return data[0] === 0x1f && data[1] === 0x8b;
}

/** A `layerTarget` pointing Clair at the blob server, sending a marker header and recording each call. */
export function targetOn(
  blobs: BlobServer,
  calls: number[] = [],
): (layer: ResolvedLayer) => Promise<LayerTarget> {
  return async (layer) => {
    calls.push(layer.index);
    return { url: blobs.urlOf(layer.digest), headers: { Authorization: `Bearer layer-${layer.index}` } };
  };
}

export interface V1Setup {
  emulator: RunningEmulator;
  clair: ClairClient;
  blobs: BlobServer;
  close(): Promise<void>;
}

/** The emulator in Clair 2.x mode, a client for it through the factory, and a blob server. */
export async function startV1(): Promise<V1Setup> {
  const emulator = await startEmulator({ api: "v1" });
  const blobs = await startBlobServer();
  const clair = await connectClair(makeClairConfig({ url: emulator.url, api: "v1", timeout: 30_000 }));
  return {
    emulator,
    clair,
    blobs,
    close: async () => {
      await Promise.all([emulator.close(), blobs.close()]);
    },
  };
}

/** Sorted, comparable views of report content, since Clair's Feature order changes on every call. */
export function sortedKeys<T>(items: T[], key: (item: T) => string): string[] {
  return items.map(key).sort();
}
