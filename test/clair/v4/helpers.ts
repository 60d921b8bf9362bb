import { createReadStream } from "node:fs";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LayerTarget } from "../../../src/clair/client.ts";
import { resolveEndpoints } from "../../../src/clair/endpoints.ts";
import { createClairHttp } from "../../../src/clair/http.ts";
import type { RetryPolicy } from "../../../src/clair/retry.ts";
import { V4Client, type V4ClientOptions } from "../../../src/clair/v4/client.ts";
import type { ClairConfig } from "../../../src/config/types.ts";
import type { ResolvedImage, ResolvedLayer } from "../../../src/image/resolved-image.ts";
import type { RunningEmulator } from "../../emulator/index.ts";
import { buildTestImages } from "../../images/build.ts";
import type { ImagesManifest, TestImageInfo, TestImageName } from "../../infra/env.ts";
import { makeClairConfig } from "../helpers.ts";

let images: Promise<ImagesManifest> | undefined;

/**
 * The harness's test images when the tests run under it (`bash test/run.sh`), else the same images built
 * offline into a temp dir: the build is deterministic, so the digests are the same either way.
 */
export function loadTestImages(): Promise<ImagesManifest> {
  images ??= (async () => {
    const dir = process.env["HC_IMAGES_DIR"];
    if (dir !== undefined && dir !== "") {
      return JSON.parse(await readFile(join(dir, "images.json"), "utf8")) as ImagesManifest;
    }
    return buildTestImages(await mkdtemp(join(tmpdir(), "hyperclair-v4-images-")), { archives: false });
  })();
  return images;
}

/**
 * A test image as an image source would resolve it. `gzip`: the registry/OCI form (manifest digest,
 * compressed blobs). `tar`: the daemon form (the image ID as digest, uncompressed layer tars whose
 * digests are the diff IDs).
 */
export function resolveTestImage(info: TestImageInfo, form: "gzip" | "tar" = "gzip"): ResolvedImage {
  const tar = form === "tar";
  return {
    reference: tar ? `testimg/${info.name}:latest` : `127.0.0.1:5000/test/${info.name}:latest`,
    source: tar ? "daemon" : "registry",
    digest: tar ? info.config.digest : info.ociManifest.digest,
    digestKind: tar ? "image-id" : "manifest",
    manifestMediaType: tar ? undefined : info.ociManifest.mediaType,
    configDigest: info.config.digest,
    platform: info.platform,
    tags: [],
    layers: info.layers.map(
      (layer, index): ResolvedLayer => ({
        index,
        digest: tar ? layer.diffId : layer.digest,
        diffId: layer.diffId,
        size: tar ? layer.uncompressedSize : layer.size,
        mediaType: tar ? "application/vnd.oci.image.layer.v1.tar" : layer.mediaType,
        createdBy: layer.createdBy,
        chainId: layer.diffId,
        location: { kind: "cache", path: tar ? layer.tarPath : layer.gzipPath },
      }),
    ),
  };
}

export async function testImage(name: TestImageName, form: "gzip" | "tar" = "gzip"): Promise<ResolvedImage> {
  return resolveTestImage((await loadTestImages()).images[name], form);
}

export interface BlobServer {
  url: string;
  /** Every request the server saw. */
  seen: Array<{ method: string; path: string; headers: IncomingHttpHeaders }>;
  /** Answers `path` with `status` (and no blob) from now on. */
  fail(path: string, status: number): void;
  /** Answers `path` with these bytes instead of the file. */
  override(path: string, body: Buffer): void;
  /** Forgets every failure and override. */
  reset(): void;
  /** The `layerTarget` a push would give Clair: `/blobs/<digest>` here, with `headers`. */
  layerTarget(headers?: Record<string, string>): (layer: ResolvedLayer) => Promise<LayerTarget>;
  close(): Promise<void>;
}

/** A loopback server streaming the cached layer files of the images it is given, by digest. */
export async function startBlobServer(imagesToServe: ResolvedImage[]): Promise<BlobServer> {
  const files = new Map<string, string>();
  for (const image of imagesToServe) {
    for (const layer of image.layers) {
      if (layer.location.kind === "cache") files.set(`/blobs/${layer.digest}`, layer.location.path);
    }
  }
  const failures = new Map<string, number>();
  const overrides = new Map<string, Buffer>();
  const seen: BlobServer["seen"] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    seen.push({ method: req.method ?? "GET", path, headers: req.headers });
    const failure = failures.get(path);
    const override = overrides.get(path);
    const file = files.get(path);
    if (failure !== undefined || (override === undefined && file === undefined)) {
      res.writeHead(failure ?? 404, { "Content-Type": "text/plain" });
      res.end("no such blob\n");
      return;
    }
    if (override !== undefined) {
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": override.length });
      res.end(override);
      return;
    }
    void stat(file!).then((info) => {
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": info.size });
      createReadStream(file!).pipe(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    fail: (path, status) => failures.set(path, status),
    override: (path, body) => overrides.set(path, body),
    reset: () => {
      failures.clear();
      overrides.clear();
    },
    layerTarget:
      (headers = {}) =>
      async (layer) => ({ url: `${url}/blobs/${layer.digest}`, headers }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Retries fast enough for tests, still several attempts. */
export const FAST_RETRY: RetryPolicy = {
  attempts: 4,
  initialDelayMs: 20,
  maxDelayMs: 100,
  maxRetryAfterMs: 5_000,
};

/** A V4Client for an emulator, the way `connectClair` builds one, with test-sized waits. */
export function makeV4Client(
  emulator: RunningEmulator,
  overrides: Partial<ClairConfig> = {},
  options: V4ClientOptions = {},
): V4Client {
  const config = makeClairConfig({
    url: emulator.url,
    api: "v4",
    ...(emulator.indexerUrl !== emulator.matcherUrl
      ? { indexer: emulator.indexerUrl, matcher: emulator.matcherUrl }
      : {}),
    health: { url: emulator.healthUrl, port: 0 },
    timeout: 30_000,
    ...overrides,
  });
  return new V4Client(createClairHttp(config), config, resolveEndpoints(config), {
    retry: FAST_RETRY,
    matcherWait: { maxWaitMs: 2_000, initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  });
}
