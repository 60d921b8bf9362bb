/**
 * Reading layer tars the way Clair does: stream the body once, hash the raw bytes while streaming
 * (ClairCore verifies `sha256(body)` before decompression, NOTES.md §3.2), sniff gzip from the magic bytes,
 * keep only the few files the scanners read, and record whiteouts (OCI image spec "Whiteouts") so a later
 * layer can delete or replace a package database.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";

/** The files whose contents decide what Clair reports. */
export const scannedPaths = [
  "etc/os-release",
  "usr/lib/os-release",
  "etc/alpine-release",
  "var/lib/dpkg/status",
  "lib/apk/db/installed",
] as const;
const scannedSet = new Set<string>(scannedPaths);
const maxScannedFileBytes = 64 * 1024 * 1024;

export type Compression = "gzip" | "zstd" | "bzip2" | "xz" | "none";

/** What one layer contributes to the scanned paths. */
export interface LayerContents {
  files: Map<string, Buffer>;
  symlinks: Map<string, string>;
  /** Paths removed by `.wh.<name>` entries. */
  whiteouts: Set<string>;
  /** Directories made opaque by `.wh..wh..opq`: lower layers' content below them is hidden. */
  opaqueDirs: Set<string>;
}

export interface ReadLayerResult {
  digest: string;
  bytes: number;
  compression: Compression;
  contents: LayerContents;
  /** Set when the bytes are not a (possibly gzip-compressed) tar archive. */
  formatError?: string;
}

function normalizeEntryPath(name: string): string {
  const cleaned = posix.normalize(`/${name}`).slice(1);
  return cleaned.endsWith("/") ? cleaned.slice(0, -1) : cleaned;
}

function sniffCompression(head: Buffer): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return "zstd";
  if (head.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  return "none";
}

/** The part of Node and streamx writables the reader uses (tar-stream's extract is a streamx Writable). */
interface ByteSink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

function waitForDrain(stream: ByteSink): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("error", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("error", done);
    stream.on("close", done);
  });
}

/**
 * Read a layer body from `source` exactly once, never holding more than the scanned files in memory.
 * Throws only when `source` itself fails (network); a body that is not a tar is reported in `formatError`
 * after the whole body has been hashed.
 */
export async function readLayer(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  algorithm: "sha256" | "sha512" = "sha256",
): Promise<ReadLayerResult> {
  const hash = createHash(algorithm);
  const contents: LayerContents = {
    files: new Map(),
    symlinks: new Map(),
    whiteouts: new Set(),
    opaqueDirs: new Set(),
  };
  let bytes = 0;
  let compression: Compression = "none";
  let formatError: string | undefined;
  let head: Buffer | undefined = Buffer.alloc(0);
  let sink: ByteSink | undefined;
  let extractDone: Promise<void> = Promise.resolve();

  const fail = (message: string) => {
    formatError ??= message;
  };

  const startSink = () => {
    compression = sniffCompression(head!);
    const extract = tar.extract();
    const extractSink = extract as unknown as ByteSink;
    extractDone = new Promise<void>((resolve) => {
      extract.on("entry", (header, stream, next) => {
        const path = normalizeEntryPath(header.name);
        const base = posix.basename(path);
        const dir = posix.dirname(path) === "." ? "" : posix.dirname(path);
        stream.on("end", () => next());
        if (base === ".wh..wh..opq") {
          contents.opaqueDirs.add(dir);
        } else if (base.startsWith(".wh.")) {
          contents.whiteouts.add(dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`);
        } else if (scannedSet.has(path) && header.type === "symlink" && header.linkname) {
          const target = header.linkname.startsWith("/")
            ? normalizeEntryPath(header.linkname)
            : normalizeEntryPath(posix.join(dir, header.linkname));
          contents.symlinks.set(path, target);
        } else if (scannedSet.has(path) && (header.type === "file" || header.type === "contiguous-file")) {
          const chunks: Buffer[] = [];
          let size = 0;
          stream.on("data", (chunk: unknown) => {
            const data = chunk as Buffer;
            size += data.length;
            if (size <= maxScannedFileBytes) chunks.push(data);
          });
          stream.on("end", () => {
            contents.files.set(path, Buffer.concat(chunks));
          });
          return;
        }
        stream.resume();
      });
      extract.on("finish", () => resolve());
      extract.on("close", () => resolve());
      extract.on("error", (err: Error) => {
        fail(`tar: ${err.message}`);
        resolve();
      });
    });
    if (compression === "gzip") {
      const gunzip = createGunzip();
      gunzip.on("data", (chunk: Buffer) => {
        if (formatError) return;
        if (!extractSink.write(chunk)) {
          gunzip.pause();
          void waitForDrain(extractSink).then(() => gunzip.resume());
        }
      });
      gunzip.on("end", () => extractSink.end());
      gunzip.on("error", (err) => {
        fail(`gzip: ${err.message}`);
        extract.destroy();
      });
      sink = gunzip as unknown as ByteSink;
    } else if (compression === "none") {
      sink = extractSink;
    } else {
      // zstd, bzip2 and xz need decoders Node does not ship; the emulator refuses them as not-a-tar.
      fail(`unsupported compression: ${compression}`);
      extract.destroy();
    }
  };

  const feed = async (chunk: Buffer) => {
    if (formatError || !sink) return;
    if (!sink.write(chunk)) await waitForDrain(sink);
  };

  for await (const raw of source) {
    const chunk = typeof raw === "string" ? Buffer.from(raw) : Buffer.from(raw);
    hash.update(chunk);
    bytes += chunk.length;
    if (head) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 6) continue;
      const first = head;
      startSink();
      head = undefined;
      await feed(first);
    } else {
      await feed(chunk);
    }
  }
  if (head) {
    startSink();
    const first = head;
    head = undefined;
    await feed(first);
  }
  if (sink && !formatError) sink.end();
  await extractDone;
  if (!formatError && bytes === 0) fail("tar: empty archive");
  const result: ReadLayerResult = {
    digest: `${algorithm}:${hash.digest("hex")}`,
    bytes,
    compression,
    contents,
  };
  if (formatError) result.formatError = formatError;
  return result;
}

/** The effective content of `path` in a layer stack (base first), after whiteouts and opaque dirs. */
export function resolveStackFile(stack: LayerContents[], path: string, depth = 0): Buffer | undefined {
  const ancestors: string[] = [];
  for (let dir = posix.dirname(path); dir !== "." && dir !== "/"; dir = posix.dirname(dir))
    ancestors.push(dir);
  for (let k = stack.length - 1; k >= 0; k--) {
    const layer = stack[k]!;
    const file = layer.files.get(path);
    if (file) return file;
    const link = layer.symlinks.get(path);
    if (link !== undefined)
      return depth < 8 ? resolveStackFile(stack.slice(0, k + 1), link, depth + 1) : undefined;
    if (layer.whiteouts.has(path) || ancestors.some((a) => layer.whiteouts.has(a))) return undefined;
    if (ancestors.some((a) => layer.opaqueDirs.has(a)) || layer.opaqueDirs.has("")) return undefined;
  }
  return undefined;
}

/** `KEY=value` lines of os-release(5), quotes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!.trim();
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    out[m[1]!] = value;
  }
  return out;
}

export interface DpkgPackage {
  name: string;
  version: string;
  arch: string;
  /** `Source:` as written, e.g. `util-linux (2.33.1-0.1)`; "" when absent. */
  source: string;
  installed: boolean;
}

/** Every stanza of a dpkg status file, fields as dpkg wrote them. */
export function parseDpkgStatus(text: string): DpkgPackage[] {
  const out: DpkgPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, "m").exec(stanza)?.[1]?.trim() ?? "";
    const name = field("Package");
    const version = field("Version");
    if (!name || !version) continue;
    const status = field("Status");
    out.push({
      name,
      version,
      arch: field("Architecture"),
      source: field("Source"),
      installed: status === "" || status.split(/\s+/)[2] === "installed",
    });
  }
  return out;
}

/**
 * Features as Clair 2.x's dpkg parser yields them (recorded behaviour, v1/recorded/README.md): it reads
 * line by line and emits a feature as soon as it has a name and a version, so a `Source:` line only
 * renames the package when it comes before `Version:`; `Source: name (version)` also sets the version.
 */
export function parseDpkgStatusClair2(text: string): Array<{ name: string; version: string }> {
  const seen = new Map<string, { name: string; version: string }>();
  let name = "";
  let version = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("Package: ")) {
      name = line.slice(9).trim();
    } else if (line.startsWith("Source: ")) {
      const m = /^(\S+)(?:\s+\((.*)\))?/.exec(line.slice(8).trim());
      if (m) {
        name = m[1]!;
        if (m[2]) version = m[2].trim();
      }
    } else if (line.startsWith("Version: ") && version === "") {
      version = line.slice(9).trim();
    }
    if (name !== "" && version !== "") {
      seen.set(`${name}#${version}`, { name, version });
      name = "";
      version = "";
    }
  }
  return [...seen.values()];
}

export interface ApkPackage {
  name: string;
  version: string;
  arch: string;
  origin: string;
}

/** `lib/apk/db/installed`: blank-line separated records of `X:value` lines. */
export function parseApkInstalled(text: string): ApkPackage[] {
  const out: ApkPackage[] = [];
  for (const record of text.split(/\n\s*\n/)) {
    const pkg: ApkPackage = { name: "", version: "", arch: "", origin: "" };
    for (const line of record.split("\n")) {
      const value = line.slice(2).trim();
      if (line.startsWith("P:")) pkg.name = value;
      else if (line.startsWith("V:")) pkg.version = value;
      else if (line.startsWith("A:")) pkg.arch = value;
      else if (line.startsWith("o:")) pkg.origin = value;
    }
    if (pkg.name && pkg.version) out.push(pkg);
  }
  return out;
}
