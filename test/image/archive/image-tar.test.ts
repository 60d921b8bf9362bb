import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ImageError, InterruptedError } from "../../../src/errors.ts";
import { resolveDockerArchive } from "../../../src/image/archive/docker-archive.ts";
import { parseImageTar, type TarLayerBlob } from "../../../src/image/archive/image-tar.ts";
import { openArchiveImage } from "../../../src/image/archive/open-archive.ts";
import { LayerCache } from "../../../src/image/cache.ts";
import {
  digestOf,
  hexOf,
  listFiles,
  makeImage,
  makeLegacyArchive,
  makeTempDir,
  packTar,
  streamOf,
  type TarEntry,
} from "./tar-helpers.ts";

const amd64 = { os: "linux", architecture: "amd64" };

describe("parseImageTar", () => {
  let root: { dir: string; remove: () => Promise<void> };
  let counter = 0;
  const freshCache = () => {
    counter += 1;
    return new LayerCache(join(root.dir, `cache-${counter}`));
  };
  before(async () => {
    root = await makeTempDir("image-tar");
  });
  after(async () => root.remove());

  it("follows podman's symlinked <v1id>/layer.tar entries, even when the link comes before its target", async () => {
    const image = await makeImage(2, "podman");
    const v1ids = image.diffIds.map((diffId) => hexOf(digestOf(`v1 ${diffId}`)));
    // podman's /images/{name}/get: `<diffid>.tar` at the top, `<v1id>/layer.tar` → `../<diffid>.tar`.
    const entries: TarEntry[] = [
      ...v1ids.map((id, index) => ({
        name: `${id}/layer.tar`,
        type: "symlink" as const,
        linkname: `../${hexOf(image.diffIds[index]!)}.tar`,
      })),
      ...image.layers.map((layer, index) => ({ name: `${hexOf(image.diffIds[index]!)}.tar`, data: layer })),
      { name: `${hexOf(image.configDigest)}.json`, data: image.config },
      {
        name: "manifest.json",
        data: JSON.stringify([
          {
            Config: `${hexOf(image.configDigest)}.json`,
            RepoTags: ["localhost/podman/img:1"],
            Layers: v1ids.map((id) => `${id}/layer.tar`),
          },
        ]),
      },
    ];
    const cache = freshCache();
    const parsed = await parseImageTar(streamOf(await packTar(entries)), { cache });
    const resolved = await resolveDockerArchive(parsed, { cache, reference: "podman", what: "podman save" });
    assert.deepEqual(
      resolved.layers.map((layer) => layer.diffId),
      image.diffIds,
    );
    assert.deepEqual(
      resolved.layers.map((layer) => layer.digest),
      image.diffIds,
    );
    assert.deepEqual(
      resolved.layers.map((layer) => layer.createdBy),
      ["RUN echo podman 0", "RUN echo podman 1"],
    );
    assert.deepEqual(resolved.tags, ["localhost/podman/img:1"]);
    for (const layer of resolved.layers) {
      assert.equal(layer.location.kind, "cache");
      if (layer.location.kind === "cache") assert.equal(layer.location.path, cache.pathFor(layer.digest));
    }
  });

  it("announces each layer as soon as it is in the cache, before the tar ends", async () => {
    const image = await makeImage(3, "early");
    const archive = await makeLegacyArchive(image, "early:1");
    const announced: Array<{ blob: TarLayerBlob; bytesReadThen: number }> = [];
    let bytesRead = 0;
    const parsed = await parseImageTar(streamOf(archive, 512), {
      cache: freshCache(),
      onProgress: (bytes) => {
        bytesRead = bytes;
      },
      onLayer: (blob) => announced.push({ blob, bytesReadThen: bytesRead }),
    });
    assert.deepEqual(
      announced.map((entry) => entry.blob.digest),
      image.diffIds,
    );
    assert.ok(announced.every((entry) => entry.bytesReadThen < archive.length));
    assert.equal(bytesRead, archive.length);
    assert.equal(parsed.stats.bytesRead, archive.length);
    assert.equal(parsed.stats.blobsWritten, 3);
  });

  it("has the last entry's layer complete in the cache when it resolves", async () => {
    const layer = Buffer.alloc(5_000_000, 3);
    const archive = await packTar([
      { name: "manifest.json", data: "[]" },
      { name: "x/layer.tar", data: layer },
    ]);
    const cache = freshCache();
    const parsed = await parseImageTar(streamOf(archive, 1 << 20), { cache });
    const blob = parsed.blobs.get("x/layer.tar");
    assert.equal(blob?.digest, digestOf(layer));
    assert.equal(await cache.has(digestOf(layer)), true);
  });

  it("reads a legacy archive with gzip-compressed layer.tar entries, checking the diff ID through gunzip", async () => {
    const image = await makeImage(1, "gz");
    const entries: TarEntry[] = [
      { name: "aaaa/layer.tar", data: image.gzipped[0]! },
      { name: "config.json", data: image.config },
      {
        name: "manifest.json",
        data: JSON.stringify([{ Config: "config.json", Layers: ["aaaa/layer.tar"] }]),
      },
    ];
    const cache = freshCache();
    const parsed = await parseImageTar(streamOf(await packTar(entries)), { cache });
    const resolved = await resolveDockerArchive(parsed, { cache, reference: "gz", what: "gz" });
    assert.equal(resolved.layers[0]!.digest, digestOf(image.gzipped[0]!));
    assert.equal(resolved.layers[0]!.diffId, image.diffIds[0]);
    assert.equal(resolved.layers[0]!.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
  });

  for (const [label, entries] of [
    ["a ../ entry", [{ name: "../evil", data: "pwned" }]],
    ["a nested ../ entry", [{ name: "blobs/../../evil", data: "pwned" }]],
    ["an absolute entry", [{ name: "/tmp/evil", data: "pwned" }]],
    ["a symlink escaping the archive", [{ name: "abc/layer.tar", type: "symlink", linkname: "../../evil" }]],
    ["an absolute symlink", [{ name: "abc/layer.tar", type: "symlink", linkname: "/etc/passwd" }]],
    ["a hard link escaping the archive", [{ name: "x.tar", type: "link", linkname: "../evil" }]],
  ] as Array<[string, TarEntry[]]>) {
    it(`rejects ${label}, writing nothing outside the cache`, async () => {
      const { dir, remove } = await makeTempDir("escape");
      try {
        const cacheDir = join(dir, "a", "cache");
        const image = await makeImage(1, "escape");
        const archive = await packTar([
          { name: "0000/layer.tar", data: image.layers[0]! },
          ...entries,
          { name: "manifest.json", data: "[]" },
        ]);
        await assert.rejects(
          parseImageTar(streamOf(archive), { cache: new LayerCache(cacheDir), what: "evil.tar" }),
          (error: unknown) => {
            assert.ok(error instanceof ImageError);
            assert.match(error.message, /^evil\.tar: .*(absolute|outside the archive|escapes the archive)/);
            return true;
          },
        );
        const files = await listFiles(dir);
        assert.ok(
          files.every((file) => file.startsWith("a/cache/blobs/sha256/")),
          `unexpected files: ${files.join(", ")}`,
        );
      } finally {
        await remove();
      }
    });
  }

  it("rejects a truncated archive and leaves no partial blob", async () => {
    const image = await makeImage(1, "trunc");
    const big = Buffer.alloc(300_000, "z");
    const archive = await packTar([
      { name: "1111/layer.tar", data: image.layers[0]! },
      { name: "2222/layer.tar", data: big },
      { name: "manifest.json", data: "[]" },
    ]);
    const cutAt = 512 + image.layers[0]!.length + 512 + 100_000;
    const cacheDir = join(root.dir, "truncated");
    await assert.rejects(
      parseImageTar(streamOf(archive.subarray(0, cutAt)), {
        cache: new LayerCache(cacheDir),
        what: "cut.tar",
      }),
      (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.match(error.message, /^cut\.tar: .*truncated/);
        return true;
      },
    );
    // The first layer was complete and may stay; the cut one must not appear, under any name.
    assert.deepEqual(await listFiles(cacheDir), [`blobs/sha256/${hexOf(image.diffIds[0]!)}`]);
  });

  it("rejects a layer whose content does not match the config's diff ID", async () => {
    const image = await makeImage(2, "swap");
    const other = await makeImage(1, "intruder");
    const archive = await makeLegacyArchive(
      { ...image, layers: [image.layers[0]!, other.layers[0]!] },
      "swap:1",
    );
    const path = join(root.dir, "swapped.tar");
    await writeFile(path, archive);
    await assert.rejects(
      openArchiveImage(
        { kind: "docker-archive", path },
        { cacheDir: join(root.dir, "swap-cache"), platform: amd64 },
      ),
      (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.match(
          error.message,
          /layer 1 .* has content digest sha256:[0-9a-f]{64}, but the image config expects diff ID/,
        );
        assert.ok(error.message.includes(image.diffIds[1]!));
        assert.ok(error.message.includes(other.diffIds[0]!));
        return true;
      },
    );
  });

  it("rejects an OCI blob whose content does not match its name", async () => {
    const image = await makeImage(1, "oci-bad");
    const wrongName = hexOf(digestOf("not this"));
    const archive = await packTar([{ name: `blobs/sha256/${wrongName}`, data: image.gzipped[0]! }]);
    await assert.rejects(
      parseImageTar(streamOf(archive), { cache: freshCache(), what: "bad.tar" }),
      (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.ok(error.message.includes(digestOf(image.gzipped[0]!)));
        assert.ok(error.message.includes(`sha256:${wrongName}`));
        return true;
      },
    );
  });

  it("refuses metadata entries over the size cap instead of buffering them", async () => {
    const archive = await packTar([{ name: "manifest.json", data: `[${" ".repeat(5000)}]` }]);
    await assert.rejects(
      parseImageTar(streamOf(archive), { cache: freshCache(), maxMetadataBytes: 1024, what: "huge.tar" }),
      /huge\.tar: entry manifest\.json is larger than 1024 bytes/,
    );
  });

  it("rejects input that is not a tar", async () => {
    await assert.rejects(
      parseImageTar(Readable.from([Buffer.from("this is not a tar archive at all".repeat(40))]), {
        cache: freshCache(),
        what: "junk.tar",
      }),
      (error: unknown) => error instanceof ImageError && /^junk\.tar: /.test(error.message),
    );
  });

  it("stops when aborted and removes the blob being written", async () => {
    const controller = new AbortController();
    const cacheDir = join(root.dir, "aborted");
    const big = Buffer.alloc(2_000_000, "q");
    const archive = await packTar([{ name: "3333/layer.tar", data: big }]);
    let sent = 0;
    const input = Readable.from(
      (async function* () {
        for (let at = 0; at < archive.length; at += 65536) {
          if (sent > 500_000) controller.abort();
          sent += 65536;
          yield archive.subarray(at, at + 65536);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })(),
    );
    await assert.rejects(
      parseImageTar(input, { cache: new LayerCache(cacheDir), signal: controller.signal }),
      InterruptedError,
    );
    assert.deepEqual(await listFiles(cacheDir), []);
  });
});
