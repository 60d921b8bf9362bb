import { createCipheriv, createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack } from "tar-stream";
import { type Descriptor, digestHex, fixedMtime, mediaTypes, OciLayoutWriter } from "./oci.ts";

export interface LargeImageOptions {
  /** Output directory (created). */
  dir: string;
  /** Total bytes of file content across all layers (the tars are slightly larger). */
  sizeBytes: number;
  layers: number;
  /** Same seed, same bytes, same digests (default 1). */
  seed?: number;
  /** RepoTag in the docker-archive (default `testimg/large:latest`). */
  repoTag?: string;
}

export interface LargeImageLayer {
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
  /** The gzip blob inside the OCI layout, and the uncompressed tar beside it. */
  gzipPath: string;
  tarPath: string;
}

export interface LargeImage {
  ociDir: string;
  /** `oci:<dir>:large`, for skopeo. */
  ociRef: string;
  /** Legacy-form docker-archive with uncompressed layers, for `docker load`. */
  dockerArchive: string;
  repoTag: string;
  manifestDigest: string;
  configDigest: string;
  layers: LargeImageLayer[];
}

const chunkSize = 1 << 20;

/**
 * Incompressible, reproducible bytes: AES-256-CTR keystream over zeros, keyed by the seed. Fast (AES-NI)
 * and streamed, so a multi-gigabyte layer never sits in memory.
 */
function randomStream(seed: number, layer: number, length: number): Readable {
  const key = createHash("sha256").update(`hyperclair-large-image:${seed}`).digest();
  const iv = createHash("md5").update(`layer:${layer}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  const zeros = Buffer.alloc(chunkSize);
  let remaining = length;
  return new Readable({
    read() {
      if (remaining === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, remaining);
      remaining -= n;
      this.push(cipher.update(n === chunkSize ? zeros : zeros.subarray(0, n)));
    },
  });
}

function hashing(hash: Hash, counter: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      callback(null, chunk);
    },
  });
}

/** Writes one layer tar holding a single file of `length` random bytes; returns its diff ID and size. */
async function writeLayerTar(path: string, seed: number, layer: number, length: number) {
  const archive = pack();
  const header = {
    name: `data/blob-${layer}.bin`,
    size: length,
    mode: 0o644,
    mtime: fixedMtime,
    uid: 0,
    gid: 0,
  };
  const dirHeader = {
    name: "data/",
    type: "directory" as const,
    mode: 0o755,
    mtime: fixedMtime,
    uid: 0,
    gid: 0,
  };
  archive.entry(dirHeader);
  const entry = archive.entry(header);
  const hash = createHash("sha256");
  const counter = { bytes: 0 };
  const written = pipeline(archive, hashing(hash, counter), createWriteStream(path));
  await pipeline(randomStream(seed, layer, length), entry);
  archive.finalize();
  await written;
  return { diffId: `sha256:${hash.digest("hex")}`, size: counter.bytes };
}

async function gzipFile(source: string, target: string) {
  const hash = createHash("sha256");
  const counter = { bytes: 0 };
  // Level 1: the data is random, so more effort buys nothing but time.
  await pipeline(
    createReadStream(source),
    createGzip({ level: 1 }),
    hashing(hash, counter),
    createWriteStream(target),
  );
  return { digest: `sha256:${hash.digest("hex")}`, size: counter.bytes };
}

/** Legacy docker-archive (`<v1id>/layer.tar`, `<config>.json`, manifest.json), streamed from the layer files. */
async function writeDockerArchive(
  path: string,
  configBytes: string,
  configDigest: string,
  layers: LargeImageLayer[],
  repoTag: string,
) {
  const archive = pack();
  const written = pipeline(archive, createWriteStream(path));
  const header = (name: string, size?: number) => ({
    name,
    mtime: fixedMtime,
    uid: 0,
    gid: 0,
    mode: size === undefined ? 0o755 : 0o644,
    ...(size === undefined ? { type: "directory" as const } : { size }),
  });
  const configName = `${digestHex(configDigest)}.json`;
  archive.entry(header(configName, Buffer.byteLength(configBytes)), configBytes);
  const layerNames: string[] = [];
  for (const layer of layers) {
    // The layer's directory name only has to be unique; the diff ID is.
    const dir = digestHex(layer.diffId);
    archive.entry(header(`${dir}/`));
    const entry = archive.entry(header(`${dir}/layer.tar`, layer.uncompressedSize));
    await pipeline(createReadStream(layer.tarPath), entry);
    layerNames.push(`${dir}/layer.tar`);
  }
  const manifest = JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: layerNames }]);
  archive.entry(header("manifest.json", Buffer.byteLength(manifest)), manifest);
  const [repo, tag] = repoTag.split(":") as [string, string];
  const top = layerNames.at(-1)?.split("/")[0] ?? "";
  const repositories = JSON.stringify({ [repo]: { [tag]: top } });
  archive.entry(header("repositories", Buffer.byteLength(repositories)), repositories);
  archive.finalize();
  await written;
}

/**
 * Generates a large single-platform image for benchmarks: `layers` layers of random data adding up to
 * `sizeBytes`, as an OCI layout (gzip layers) and a docker-archive that `docker load` accepts.
 */
export async function generateLargeImage(options: LargeImageOptions): Promise<LargeImage> {
  if (options.layers < 1) throw new Error("a large image needs at least one layer");
  const seed = options.seed ?? 1;
  const repoTag = options.repoTag ?? "testimg/large:latest";
  const ociDir = join(options.dir, "oci");
  const tarsDir = join(options.dir, "layers");
  await rm(ociDir, { recursive: true, force: true });
  await mkdir(join(ociDir, "blobs", "sha256"), { recursive: true });
  await mkdir(tarsDir, { recursive: true });

  const perLayer = Math.floor(options.sizeBytes / options.layers);
  const layers: LargeImageLayer[] = [];
  for (let i = 0; i < options.layers; i++) {
    const length = i === options.layers - 1 ? options.sizeBytes - perLayer * (options.layers - 1) : perLayer;
    const tarPath = join(tarsDir, `layer-${i}.tar`);
    const tar = await writeLayerTar(tarPath, seed, i, length);
    const pending = join(ociDir, "blobs", `pending-${i}`);
    const gzip = await gzipFile(tarPath, pending);
    const gzipPath = join(ociDir, "blobs", "sha256", digestHex(gzip.digest));
    await rename(pending, gzipPath);
    layers.push({ ...gzip, diffId: tar.diffId, uncompressedSize: tar.size, gzipPath, tarPath });
  }

  const oci = new OciLayoutWriter(ociDir);
  const created = fixedMtime.toISOString().replace(".000Z", "Z");
  const configBytes = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created,
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({
      created,
      created_by: `/bin/sh -c #(nop) COPY file:blob-${i}.bin in /data/ `,
    })),
  });
  const config = await oci.writeBlob(configBytes, mediaTypes.ociConfig);
  const layerDescriptors: Descriptor[] = layers.map((l) => ({
    mediaType: mediaTypes.ociLayerGzip,
    digest: l.digest,
    size: l.size,
  }));
  const manifest = await oci.writeJson(
    { schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers: layerDescriptors },
    mediaTypes.ociManifest,
  );
  oci.addRef("large", manifest);
  await oci.finish();

  const dockerArchive = join(options.dir, "large.docker.tar");
  await writeDockerArchive(dockerArchive, configBytes, config.digest, layers, repoTag);
  await writeFile(join(options.dir, "large.json"), JSON.stringify({ manifest, config, layers }, null, 2));
  const archiveSize = (await stat(dockerArchive)).size;
  if (archiveSize < options.sizeBytes) throw new Error(`docker-archive ${dockerArchive} is too small`);
  return {
    ociDir,
    ociRef: `oci:${ociDir}:large`,
    dockerArchive,
    repoTag,
    manifestDigest: manifest.digest,
    configDigest: config.digest,
    layers,
  };
}
