/**
 * A layer streams through the parser into the cache without being held in memory: a generated
 * 200 MB docker-archive (never on disk as a whole) must not grow the process by anything near that.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { pack } from "tar-stream";
import { resolveDockerArchive } from "../../../src/image/archive/docker-archive.ts";
import { parseImageTar } from "../../../src/image/archive/image-tar.ts";
import { LayerCache } from "../../../src/image/cache.ts";
import { listFiles, makeTempDir } from "./tar-helpers.ts";

const layerSize = 200 * 1024 * 1024;
const chunkSize = 1024 * 1024;

/** Streams a legacy docker-archive with one `layerSize` layer; its diff ID is known once it ends. */
function generateArchive() {
  const archive = pack();
  const hash = createHash("sha256");
  const diffId = (async () => {
    const block = randomBytes(chunkSize);
    block[0] = 0; // not gzip magic: an uncompressed layer
    const sink = archive.entry({ name: "0123/layer.tar", size: layerSize, mode: 0o644 });
    for (let written = 0; written < layerSize; written += chunkSize) {
      block.writeUInt32BE(written / chunkSize, 4); // every chunk differs
      hash.update(block);
      if (!sink.write(Buffer.from(block)))
        await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
    }
    await new Promise<void>((resolve, reject) =>
      sink.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    const digest = `sha256:${hash.digest("hex")}`;
    const config = JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [digest] },
      history: [{ created_by: "/bin/sh -c make big" }],
    });
    archive.entry({ name: "config.json" }, config);
    archive.entry(
      { name: "manifest.json" },
      JSON.stringify([{ Config: "config.json", RepoTags: ["big:1"], Layers: ["0123/layer.tar"] }]),
    );
    archive.finalize();
    return digest;
  })();
  return { archive, diffId };
}

let temp: { dir: string; remove: () => Promise<void> };
before(async () => {
  temp = await makeTempDir("memory");
});
after(async () => temp.remove());

it("streams a 200 MB layer into the cache with far less memory than its size", async (t) => {
  global.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const cache = new LayerCache(join(temp.dir, "cache"));
  const { archive, diffId } = generateArchive();
  let progress = 0;
  const parsed = await parseImageTar(archive as unknown as import("node:stream").Readable, {
    cache,
    onProgress: (bytes) => {
      progress = bytes;
    },
  });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const expected = await diffId;
  const image = await resolveDockerArchive(parsed, { cache, reference: "big", what: "generated archive" });
  assert.equal(image.layers[0]!.diffId, expected);
  assert.equal(image.layers[0]!.size, layerSize);
  assert.ok(progress > layerSize);
  assert.deepEqual(await listFiles(join(temp.dir, "cache")), [`blobs/sha256/${expected.slice(7)}`]);
  const grownMiB = (peak - baseline) / 1024 / 1024;
  t.diagnostic(`RSS grew by ${grownMiB.toFixed(1)} MiB while streaming ${layerSize / 1024 / 1024} MiB`);
  assert.ok(grownMiB < 64, `RSS grew by ${grownMiB.toFixed(1)} MiB`);
});
