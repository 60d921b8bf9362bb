import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { harnessEnv } from "../infra/env.ts";
import { generateLargeImage } from "./large.ts";
import { digestHex } from "./oci.ts";
import { connectDaemon, loadDockerArchive } from "./publish.ts";

async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

describe("generateLargeImage", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("writes an OCI layout whose blobs match their digests, the same for the same seed", async () => {
    const results = [];
    for (let i = 0; i < 2; i++) {
      const dir = await mkdtemp(join(tmpdir(), "hc-large-"));
      dirs.push(dir);
      results.push(await generateLargeImage({ dir, sizeBytes: 6 * 1024 * 1024 + 123, layers: 3 }));
    }
    const [image, again] = results as [Awaited<ReturnType<typeof generateLargeImage>>, unknown];
    assert.equal(image.layers.length, 3);
    for (const layer of image.layers) {
      assert.equal(await hashFile(layer.gzipPath), layer.digest);
      assert.equal(await hashFile(layer.tarPath), layer.diffId);
      // Random data does not compress: the blob is about as large as the content.
      assert.ok(layer.size > 2 * 1024 * 1024, `layer blob of ${layer.size} bytes`);
    }
    const manifestBlob = await readFile(
      join(image.ociDir, "blobs", "sha256", digestHex(image.manifestDigest)),
      "utf8",
    );
    const manifest = JSON.parse(manifestBlob) as { layers: Array<{ digest: string }> };
    assert.deepEqual(
      manifest.layers.map((l) => l.digest),
      image.layers.map((l) => l.digest),
    );
    assert.equal((again as typeof image).manifestDigest, image.manifestDigest);
  });

  it("writes a docker-archive that dockerd loads with the same diff IDs", async () => {
    const env = harnessEnv();
    const dir = await mkdtemp(join(tmpdir(), "hc-large-"));
    dirs.push(dir);
    const image = await generateLargeImage({
      dir,
      sizeBytes: 3 * 1024 * 1024,
      layers: 2,
      seed: 7,
      repoTag: "testimg/large:bench",
    });
    await loadDockerArchive(env.dockerHost, image.dockerArchive);
    const docker = connectDaemon(env.dockerHost);
    const inspect = await docker.getImage("testimg/large:bench").inspect();
    assert.equal(inspect.Id, image.configDigest);
    assert.deepEqual(
      inspect.RootFS.Layers,
      image.layers.map((l) => l.diffId),
    );
    await docker.getImage("testimg/large:bench").remove();
  });
});
