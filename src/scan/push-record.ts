/**
 * The images hyperclair pushed to each Clair. Clair 2.x deletes a layer with all its descendants and
 * images share base layers; this record is how `delete` knows which other images stand on a layer.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../fs/write-file-atomic.ts";
import type { ResolvedImage } from "../image/resolved-image.ts";

export interface PushRecord {
  reference: string;
  digest: string;
  chainIds: string[];
  pushedAt: string;
}

interface RecordFile {
  version: 1;
  clairs: Record<string, Record<string, PushRecord>>;
}

const fileName = "clair-pushes.json";

async function readRecordFile(cacheDir: string): Promise<RecordFile> {
  try {
    const parsed = JSON.parse(await readFile(join(cacheDir, fileName), "utf8")) as Partial<RecordFile>;
    if (parsed.version === 1 && typeof parsed.clairs === "object" && parsed.clairs !== null) {
      return { version: 1, clairs: parsed.clairs };
    }
  } catch {
    // Missing or unreadable: start afresh; the record is a convenience, Clair holds the truth.
  }
  return { version: 1, clairs: {} };
}

async function update(cacheDir: string, change: (file: RecordFile) => void): Promise<void> {
  const file = await readRecordFile(cacheDir);
  change(file);
  await writeFileAtomic(join(cacheDir, fileName), `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
}

export function recordPush(cacheDir: string, clairUrl: string, image: ResolvedImage): Promise<void> {
  return update(cacheDir, (file) => {
    const images = file.clairs[clairUrl] ?? {};
    file.clairs[clairUrl] = images;
    images[image.digest] = {
      reference: image.reference,
      digest: image.digest,
      chainIds: image.layers.map((layer) => layer.chainId),
      pushedAt: new Date().toISOString(),
    };
  });
}

export async function readPushes(cacheDir: string, clairUrl: string): Promise<PushRecord[]> {
  const file = await readRecordFile(cacheDir);
  return Object.values(file.clairs[clairUrl] ?? {});
}

export function forgetPushes(cacheDir: string, clairUrl: string, digests: string[]): Promise<void> {
  return update(cacheDir, (file) => {
    const images = file.clairs[clairUrl];
    if (!images) return;
    for (const digest of digests) delete images[digest];
  });
}
