import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import type { TreeEntry } from "./contents.ts";

/** Media types from the OCI image spec (image-spec/media-types.md) and Docker's manifest v2 schema 2. */
export const mediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** Every test file carries this mtime, so the tars (and their digests) never change. */
export const fixedMtime = new Date("2022-06-01T00:00:00Z");

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export function computeDigest(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function digestHex(digest: string): string {
  return digest.replace(/^sha256:/, "");
}

export interface TarFileEntry {
  name: string;
  data?: Buffer | string;
  type?: "file" | "directory" | "symlink";
  linkname?: string;
  mode?: number;
}

/** Packs entries in the given order with root ownership and the fixed mtime (ustar headers). */
export async function packTar(entries: TarFileEntry[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of archive) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const type = entry.type ?? "file";
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === "file" ? 0o644 : type === "directory" ? 0o755 : 0o777),
      mtime: fixedMtime,
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
    };
    if (type === "file") {
      archive.entry(header, entry.data === undefined ? Buffer.alloc(0) : Buffer.from(entry.data));
    } else {
      archive.entry(header);
    }
  }
  archive.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/**
 * A layer tar the way `tar --sort=name --owner=0 --group=0 --numeric-owner` writes one: every parent
 * directory as its own entry (name ending in '/'), names without a './' prefix, sorted bytewise so a
 * directory always precedes its contents.
 */
export async function createLayerTar(tree: TreeEntry[]): Promise<Buffer> {
  const entries = new Map<string, TarFileEntry>();
  for (const item of tree) {
    const parts = item.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = `${parts.slice(0, i).join("/")}/`;
      entries.set(dir, { name: dir, type: "directory" });
    }
    entries.set(
      item.path,
      item.type === "file"
        ? { name: item.path, data: item.content, ...(item.mode === undefined ? {} : { mode: item.mode }) }
        : { name: item.path, type: "symlink", linkname: item.target },
    );
  }
  const sorted = [...entries.values()].sort((a, b) =>
    Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)),
  );
  return packTar(sorted);
}

/** gzip without a file name and with mtime 0 (zlib's defaults), at a fixed level: same bytes every run. */
export function gzipDeterministic(data: Buffer): Buffer {
  return gzipSync(data, { level: 9 });
}

/** Content-addressed blob store of an OCI image layout (image-spec/image-layout.md). */
export class OciLayoutWriter {
  readonly dir: string;
  private readonly refs: Array<Descriptor & { annotations: Record<string, string> }> = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  async writeBlob(data: Buffer | string, mediaType: string): Promise<Descriptor> {
    const bytes = Buffer.from(data);
    const digest = computeDigest(bytes);
    const blobDir = join(this.dir, "blobs", "sha256");
    await mkdir(blobDir, { recursive: true });
    await writeFile(join(blobDir, digestHex(digest)), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Serialises JSON once, so the digest is of exactly the bytes stored. */
  async writeJson(value: unknown, mediaType: string): Promise<Descriptor> {
    return this.writeBlob(JSON.stringify(value), mediaType);
  }

  addRef(name: string, descriptor: Descriptor): void {
    this.refs.push({ ...descriptor, annotations: { "org.opencontainers.image.ref.name": name } });
  }

  async finish(): Promise<void> {
    await writeFile(join(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: this.refs };
    await writeFile(join(this.dir, "index.json"), JSON.stringify(index));
  }
}
