import { createReadStream } from "node:fs";
import { extract } from "tar-stream";

export interface TarEntry {
  name: string;
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  linkname: string | undefined;
  data: Buffer;
}

/** Reads every entry of a tar (small test archives only: contents are kept in memory). */
export async function readTar(source: string | Buffer): Promise<TarEntry[]> {
  const reader = extract();
  const entries: TarEntry[] = [];
  const input = typeof source === "string" ? createReadStream(source) : undefined;
  if (input === undefined) reader.end(source as Buffer);
  else input.pipe(reader);
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const h = entry.header;
    entries.push({
      name: h.name,
      type: h.type ?? "file",
      size: h.size ?? 0,
      mode: h.mode ?? 0,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtime: h.mtime ?? new Date(0),
      linkname: h.linkname ?? undefined,
      data: Buffer.concat(chunks),
    });
  }
  return entries;
}

export function findEntry(entries: TarEntry[], name: string): TarEntry {
  const found = entries.find((e) => e.name === name);
  if (found === undefined)
    throw new Error(`no ${name} in the archive (has: ${entries.map((e) => e.name).join(", ")})`);
  return found;
}
