import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { ImageError, InterruptedError } from "../../../src/errors.ts";
import { hashStream, LayerCache } from "../../../src/image/cache.ts";
import { digestOf, hexOf, listFiles, makeTempDir, streamOf } from "./tar-helpers.ts";

describe("LayerCache", () => {
  let root: { dir: string; remove: () => Promise<void> };
  before(async () => {
    root = await makeTempDir("cache");
  });
  after(async () => root.remove());

  it("stores a blob under blobs/sha256/<hex> and finds it again", async () => {
    const cache = new LayerCache(join(root.dir, "store"));
    const data = Buffer.from("hello layer\n".repeat(1000));
    const digest = digestOf(data);
    assert.equal(await cache.has(digest), false);
    const blob = await cache.writeBlob(streamOf(data, 777));
    assert.equal(blob.digest, digest);
    assert.equal(blob.size, data.length);
    assert.equal(blob.written, true);
    assert.equal(blob.path, join(root.dir, "store", "blobs", "sha256", hexOf(digest)));
    assert.equal(cache.pathFor(digest), blob.path);
    assert.equal(await cache.has(digest), true);
    assert.deepEqual(await readFile(blob.path), data);
    assert.deepEqual(await listFiles(join(root.dir, "store")), [`blobs/sha256/${hexOf(digest)}`]);
  });

  it("rejects bytes that do not hash to the expected digest, naming both, and leaves nothing behind", async () => {
    const cache = new LayerCache(join(root.dir, "mismatch"));
    const data = Buffer.from("the real bytes");
    const claimed = digestOf("other bytes");
    await assert.rejects(
      cache.writeBlob(streamOf(data), { expectedDigest: claimed, what: "layer 0" }),
      (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.match(error.message, /^layer 0: /);
        assert.ok(error.message.includes(digestOf(data)), error.message);
        assert.ok(error.message.includes(claimed), error.message);
        return true;
      },
    );
    assert.equal(await cache.has(claimed), false);
    assert.equal(await cache.has(digestOf(data)), false);
    assert.deepEqual(await listFiles(join(root.dir, "mismatch")), []);
  });

  it("never leaves a partial blob when the source fails midway", async () => {
    const cache = new LayerCache(join(root.dir, "partial"));
    async function* failing() {
      yield Buffer.alloc(100_000, 1);
      throw new Error("connection reset");
    }
    await assert.rejects(cache.writeBlob(Readable.from(failing())), /connection reset/);
    assert.deepEqual(await listFiles(join(root.dir, "partial")), []);
  });

  it("lets concurrent writers of the same digest both succeed with one intact blob", async () => {
    const cache = new LayerCache(join(root.dir, "concurrent"));
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    const digest = digestOf(data);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => cache.writeBlob(streamOf(data, 65536), { expectedDigest: digest })),
    );
    assert.ok(results.every((result) => result.digest === digest));
    assert.deepEqual(await readFile(cache.pathFor(digest)), data);
    assert.deepEqual(await listFiles(join(root.dir, "concurrent")), [`blobs/sha256/${hexOf(digest)}`]);
  });

  it("does not rewrite a cached blob, but still checks the bytes offered against the digest", async () => {
    const cache = new LayerCache(join(root.dir, "hit"));
    const data = Buffer.from("cached once");
    const digest = digestOf(data);
    await cache.writeBlob(streamOf(data));
    const before = await stat(cache.pathFor(digest));
    const again = await cache.writeBlob(streamOf(data), { expectedDigest: digest });
    assert.equal(again.written, false);
    assert.equal((await stat(cache.pathFor(digest))).mtimeMs, before.mtimeMs);
    await assert.rejects(
      cache.writeBlob(streamOf(Buffer.from("something else")), { expectedDigest: digest }),
      ImageError,
    );
  });

  it("computes a gzip blob's uncompressed digest (the diff ID) while writing", async () => {
    const cache = new LayerCache(join(root.dir, "gzip"));
    const tar = Buffer.alloc(200_000, "a");
    const gzip = gzipSync(tar);
    const blob = await cache.writeBlob(streamOf(gzip, 1000), { uncompressedDigest: true });
    assert.equal(blob.digest, digestOf(gzip));
    assert.equal(blob.uncompressedDigest, digestOf(tar));
    const plain = await cache.writeBlob(streamOf(tar), { uncompressedDigest: true });
    assert.equal(plain.uncompressedDigest, undefined);
  });

  it("treats data that starts like gzip but is not as having no uncompressed digest", async () => {
    const fake = Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(5000, 9)]);
    const digests = await hashStream(streamOf(fake), { uncompressedDigest: true });
    assert.equal(digests.digest, digestOf(fake));
    assert.equal(digests.uncompressedDigest, undefined);
  });

  it("stops and cleans up when aborted", async () => {
    const cache = new LayerCache(join(root.dir, "abort"));
    const controller = new AbortController();
    async function* slow() {
      yield Buffer.alloc(1000, 1);
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 20));
      yield Buffer.alloc(1000, 2);
    }
    await assert.rejects(
      cache.writeBlob(Readable.from(slow()), { signal: controller.signal }),
      InterruptedError,
    );
    assert.deepEqual(await listFiles(join(root.dir, "abort")), []);
  });

  it("refuses digests that are not sha256", async () => {
    const cache = new LayerCache(join(root.dir, "bad"));
    assert.throws(() => cache.pathFor("sha256:../../etc/passwd"), ImageError);
    assert.throws(() => cache.pathFor("md5:abc"), ImageError);
  });
});
