import { createHash } from "node:crypto";
import type { Dirent } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

export interface TarEntry {
  name: string;
  data?: Buffer | string;
  type?: "file" | "symlink" | "link" | "directory";
  linkname?: string;
}

export function digestOf(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function hexOf(digest: string): string {
  return digest.slice("sha256:".length);
}

/** Packs entries into a tar in memory (test archives are small). */
export async function packTar(entries: TarEntry[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    archive.on("data", (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    archive.on("end", () => resolve(Buffer.concat(chunks)));
    archive.on("error", reject);
  });
  for (const entry of entries) {
    const type = entry.type ?? "file";
    if (type === "file") {
      archive.entry({ name: entry.name, mode: 0o644 }, Buffer.from(entry.data ?? ""));
    } else if (type === "directory") {
      archive.entry({ name: entry.name, type, mode: 0o755 });
    } else {
      archive.entry({ name: entry.name, type, linkname: entry.linkname ?? "", mode: 0o777 });
    }
  }
  archive.finalize();
  return done;
}

export function streamOf(data: Buffer, chunkSize = 4096): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize) chunks.push(data.subarray(at, at + chunkSize));
  return Readable.from(chunks);
}

/** A small image: `count` layers, each a tar with one file, plus a config whose history names each step. */
export async function makeImage(count: number, seed = "layer") {
  const layers: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    layers.push(await packTar([{ name: `etc/${seed}-${index}`, data: `${seed} ${index}\n`.repeat(50) }]));
  }
  const diffIds = layers.map((layer) => digestOf(layer));
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: diffIds },
    history: [
      ...layers.map((_, index) => ({ created_by: `/bin/sh -c echo ${seed} ${index}` })),
      { created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
    ],
  });
  return { layers, diffIds, config, configDigest: digestOf(config), gzipped: layers.map((l) => gzipSync(l)) };
}

/** The legacy docker-archive `docker save` (Docker < 25) writes: `<v1id>/layer.tar` files. */
export async function makeLegacyArchive(image: Awaited<ReturnType<typeof makeImage>>, repoTag: string) {
  const v1ids = image.diffIds.map((diffId) => hexOf(digestOf(`v1 ${diffId}`)));
  const configName = `${hexOf(image.configDigest)}.json`;
  return packTar([
    ...image.layers.flatMap((layer, index) => [
      { name: `${v1ids[index]}/`, type: "directory" as const },
      { name: `${v1ids[index]}/VERSION`, data: "1.0" },
      { name: `${v1ids[index]}/json`, data: JSON.stringify({ id: v1ids[index] }) },
      { name: `${v1ids[index]}/layer.tar`, data: layer },
    ]),
    { name: configName, data: image.config },
    {
      name: "manifest.json",
      data: JSON.stringify([
        { Config: configName, RepoTags: [repoTag], Layers: v1ids.map((id) => `${id}/layer.tar`) },
      ]),
    },
  ]);
}

export async function makeTempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `hc-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file below `dir`, relative to it. */
export async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (current: string) => {
    let entries: Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else found.push(relative(dir, path));
    }
  };
  await walk(dir);
  return found.sort();
}
