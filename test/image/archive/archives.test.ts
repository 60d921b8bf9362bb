/**
 * Every archive form the harness builds of every test image (skopeo's docker-archive, the Docker >= 25
 * OCI-layout docker-archive, skopeo's oci-archive, the OCI layout directory) resolves to the digests
 * and diff IDs recorded in images.json.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { extract } from "tar-stream";
import { ImageError } from "../../../src/errors.ts";
import {
  type ArchiveInput,
  openArchiveImage,
  parseArchiveInput,
} from "../../../src/image/archive/open-archive.ts";
import type { Platform, ResolvedImage } from "../../../src/image/resolved-image.ts";
import { harnessEnv, type TestImageInfo, testImageNames } from "../../infra/env.ts";
import { digestOf, hexOf, listFiles, makeTempDir, packTar, type TarEntry } from "./tar-helpers.ts";

const amd64: Platform = { os: "linux", architecture: "amd64" };
const ociLayer = "application/vnd.oci.image.layer.v1.tar";

function expectedChainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const parent = chain.at(-1);
    chain.push(parent === undefined ? diffId : digestOf(`${parent} ${diffId}`));
  }
  return chain;
}

async function fileDigest(path: string): Promise<string> {
  return `sha256:${createHash("sha256")
    .update(await readFile(path))
    .digest("hex")}`;
}

async function readTarEntries(path: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const reader = extract();
  const done = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const { name, type, linkname } = entry.header;
      if (type === "symlink") entries.push({ name, type, linkname });
      else if (type === "directory") entries.push({ name, type });
      else entries.push({ name, data: Buffer.concat(chunks) });
    }
  })();
  reader.end(await readFile(path));
  await done;
  return entries;
}

/** What every source must agree on for one image: config, diff IDs, chain IDs, history, platform. */
async function assertCommon(image: ResolvedImage, info: TestImageInfo): Promise<void> {
  assert.equal(image.configDigest, info.config.digest);
  assert.deepEqual(image.platform, info.platform);
  assert.deepEqual(
    image.layers.map((layer) => layer.diffId),
    info.layers.map((layer) => layer.diffId),
  );
  assert.deepEqual(
    image.layers.map((layer) => layer.chainId),
    expectedChainIds(info.layers.map((layer) => layer.diffId)),
  );
  assert.deepEqual(
    image.layers.map((layer) => layer.index),
    info.layers.map((_, index) => index),
  );
  for (const [index, layer] of image.layers.entries()) {
    const step = layer.createdBy ?? "";
    assert.ok(step !== "" && info.layers[index]!.createdBy.includes(step.replace(/^RUN /, "")), step);
    assert.equal(layer.location.kind, "cache");
    if (layer.location.kind === "cache") assert.equal(await fileDigest(layer.location.path), layer.digest);
  }
}

describe("archive sources", () => {
  const env = harnessEnv();
  const images = env.images;
  let temp: { dir: string; remove: () => Promise<void> };
  let cacheDir: string;
  before(async () => {
    temp = await makeTempDir("archives");
    cacheDir = join(temp.dir, "cache");
  });
  after(async () => temp.remove());
  const open = (input: ArchiveInput, platform: Platform = amd64, allPlatforms = false) =>
    openArchiveImage(input, { cacheDir, platform, allPlatforms });

  for (const name of testImageNames) {
    describe(name, () => {
      const info = images.images[name];

      it("oci-archive: manifest, config and gzip layer digests as pushed", async () => {
        const [image, ...rest] = await open({ kind: "oci-archive", path: info.archives.oci });
        assert.equal(rest.length, 0);
        assert.equal(image!.source, "oci-archive");
        assert.equal(image!.digest, info.ociManifest.digest);
        assert.equal(image!.digestKind, "manifest");
        assert.equal(image!.manifestMediaType, info.ociManifest.mediaType);
        assert.deepEqual(
          image!.layers.map((layer) => [layer.digest, layer.size, layer.mediaType]),
          info.layers.map((layer) => [layer.digest, layer.size, layer.mediaType]),
        );
        await assertCommon(image!, info);
      });

      it("oci: layout directory, layers served from the layout itself", async () => {
        const before = await listFiles(cacheDir);
        const [image] = await open({ kind: "oci-dir", path: images.ociDir, selector: name });
        assert.equal(image!.source, "oci-dir");
        assert.equal(image!.digest, info.ociManifest.digest);
        assert.deepEqual(
          image!.layers.map((layer) => layer.location),
          info.layers.map((layer) => ({
            kind: "cache",
            path: join(images.ociDir, "blobs", "sha256", hexOf(layer.digest)),
          })),
        );
        assert.ok(image!.tags.includes(name));
        await assertCommon(image!, info);
        assert.deepEqual(
          await listFiles(cacheDir),
          before,
          "an OCI layout directory needs no copy in the cache",
        );
      });

      it("docker-archive, both forms: uncompressed layers, one manifest digest", async () => {
        const [legacy] = await open({ kind: "docker-archive", path: info.archives.docker });
        const [ociForm] = await open({ kind: "docker-archive", path: info.archives.dockerOciLayout });
        for (const image of [legacy!, ociForm!]) {
          assert.equal(image.source, "docker-archive");
          assert.equal(image.digestKind, "manifest");
          assert.deepEqual(
            image.layers.map((layer) => [layer.digest, layer.size, layer.mediaType]),
            info.layers.map((layer) => [layer.diffId, layer.uncompressedSize, ociLayer]),
          );
          assert.ok(
            image.tags.some((tag) => tag.endsWith(info.refs.daemon)),
            `tags ${image.tags.join(", ")}`,
          );
          await assertCommon(image, info);
        }
        // The legacy form has no manifest: the one built for it matches the one Docker 25 writes.
        assert.match(legacy!.digest, /^sha256:[0-9a-f]{64}$/);
        assert.equal(legacy!.digest, ociForm!.digest);
        assert.notEqual(legacy!.digest, info.ociManifest.digest);
      });

      it("docker-archive written by dockerd's own docker save", async () => {
        const path = info.archives.dockerSave;
        assert.ok(path, "the harness records the archive dockerd saved");
        const [saved] = await open({ kind: "docker-archive", path });
        const [skopeo] = await open({ kind: "docker-archive", path: info.archives.docker });
        assert.deepEqual(
          saved!.layers.map((layer) => [layer.digest, layer.size]),
          info.layers.map((layer) => [layer.diffId, layer.uncompressedSize]),
        );
        assert.deepEqual(saved!.tags, [info.refs.daemon]);
        assert.equal(saved!.digest, skopeo!.digest);
        await assertCommon(saved!, info);
      });
    });
  }

  it("keeps each image's docker-archive digest distinct (it follows the content)", async () => {
    const digests = new Set<string>();
    for (const name of testImageNames) {
      const [image] = await open({ kind: "docker-archive", path: images.images[name].archives.docker });
      digests.add(image!.digest);
    }
    assert.equal(digests.size, testImageNames.length);
  });

  it("gives the whiteout image its three layers with the Dockerfile step of each", async () => {
    const [image] = await open({ kind: "oci-archive", path: images.images["debian11-multi"].archives.oci });
    assert.equal(image!.layers.length, 3);
    const steps = image!.layers.map((layer) => layer.createdBy ?? "");
    assert.match(steps[0]!, /^ADD file:[0-9a-f]+ in \/$/);
    assert.match(steps[1]!, /^RUN apt-get update && apt-get install/);
    assert.match(steps[2]!, /^RUN rm \/etc\/removeme\.conf/);
  });

  for (const kind of ["oci-archive", "oci-dir"] as const) {
    describe(`multiarch (${kind})`, () => {
      const input: ArchiveInput =
        kind === "oci-dir"
          ? { kind, path: images.ociDir, selector: "multiarch" }
          : { kind, path: images.multiarch.archives.oci };
      const wanted = (platform: Platform) =>
        images.multiarch.manifests.find(
          (entry) =>
            entry.platform.architecture === platform.architecture && entry.platform.os === platform.os,
        )!;

      it("selects the platform asked for", async () => {
        for (const platform of [amd64, { os: "linux", architecture: "arm64", variant: "v8" }]) {
          const [image, ...rest] = await open(input, platform);
          assert.equal(rest.length, 0);
          assert.equal(image!.digest, wanted(platform).digest);
          assert.deepEqual(image!.platform, wanted(platform).platform);
          await assertCommon(image!, images.images[wanted(platform).image]);
        }
      });

      it("fails with exit 2 listing the platforms there are when the platform is missing", async () => {
        await assert.rejects(open(input, { os: "linux", architecture: "s390x" }), (error: unknown) => {
          assert.ok(error instanceof ImageError);
          assert.equal(error.exitCode, 2);
          assert.match(error.message, /has no image for platform linux\/s390x/);
          assert.match(error.hint ?? "", /linux\/amd64, linux\/arm64\/v8/);
          return true;
        });
      });

      it("resolves every platform with allPlatforms", async () => {
        const all = await open(input, amd64, true);
        assert.deepEqual(
          all.map((image) => image.digest),
          images.multiarch.manifests.map((entry) => entry.digest),
        );
      });
    });
  }

  it("asks which image when an OCI layout holds several, and names them", async () => {
    await assert.rejects(open({ kind: "oci-dir", path: images.ociDir }), (error: unknown) => {
      assert.ok(error instanceof ImageError);
      assert.match(error.message, /holds 6 images/);
      for (const name of [...testImageNames, "multiarch"]) assert.ok(error.hint?.includes(name), error.hint);
      return true;
    });
    await assert.rejects(
      open({ kind: "oci-dir", path: images.ociDir, selector: "nope" }),
      /has no image named "nope"/,
    );
  });

  it("picks an image from a multi-image docker-archive by tag or @N, and lists the tags otherwise", async () => {
    const first = await readTarEntries(images.images.debian11.archives.docker);
    const second = await readTarEntries(images.images.alpine315.archives.docker);
    const manifest = (entries: TarEntry[]) =>
      JSON.parse(String(entries.find((entry) => entry.name === "manifest.json")!.data)) as unknown[];
    const seen = new Set<string>();
    const merged = [...first, ...second].filter((entry) => {
      if (entry.name === "manifest.json" || entry.name === "repositories" || seen.has(entry.name))
        return false;
      seen.add(entry.name);
      return true;
    });
    merged.push({
      name: "manifest.json",
      data: JSON.stringify([...manifest(first), ...manifest(second)]),
    });
    const path = join(temp.dir, "two-images.tar");
    await writeFile(path, await packTar(merged));

    await assert.rejects(open({ kind: "docker-archive", path }), (error: unknown) => {
      assert.ok(error instanceof ImageError);
      assert.match(error.message, /holds 2 images/);
      assert.ok(
        error.hint?.includes("testimg/debian11:latest") && error.hint.includes("testimg/alpine315:latest"),
      );
      return true;
    });
    const byTag = await open(await parseArchiveInput("docker-archive", `${path}:testimg/alpine315:latest`));
    assert.equal(byTag[0]!.configDigest, images.images.alpine315.config.digest);
    const shortTag = await open({ kind: "docker-archive", path, selector: "testimg/debian11" });
    assert.equal(shortTag[0]!.configDigest, images.images.debian11.config.digest);
    const qualified = await open({
      kind: "docker-archive",
      path,
      selector: "docker.io/testimg/debian11:latest",
    });
    assert.equal(qualified[0]!.configDigest, images.images.debian11.config.digest);
    const byIndex = await open(await parseArchiveInput("docker-archive", `${path}:@1`));
    assert.equal(byIndex[0]!.configDigest, images.images.alpine315.config.digest);
    assert.match(byIndex[0]!.reference, /two-images\.tar:@1$/);
    await assert.rejects(
      open({ kind: "docker-archive", path, selector: "testimg/nope:1" }),
      /has no image tagged/,
    );
    await assert.rejects(open({ kind: "docker-archive", path, selector: "@2" }), /there is no image @2/);
  });

  it("writes nothing new when the same archive is opened again (cache hit)", async () => {
    const ownCache = join(temp.dir, "hit-cache");
    const path = images.images["debian11-multi"].archives.docker;
    const written: boolean[][] = [[], []];
    for (const round of [0, 1]) {
      await openArchiveImage(
        { kind: "docker-archive", path },
        { cacheDir: ownCache, platform: amd64, onLayer: (blob) => written[round]!.push(blob.written) },
      );
    }
    assert.deepEqual(written, [
      [true, true, true],
      [false, false, false],
    ]);
    const files = await listFiles(ownCache);
    assert.equal(files.length, 3);
    assert.ok(files.every((file) => file.startsWith("blobs/sha256/")));
    const times = await Promise.all(files.map(async (file) => (await stat(join(ownCache, file))).mtimeMs));
    await openArchiveImage(
      { kind: "oci-archive", path: images.images["debian11-multi"].archives.oci },
      {
        cacheDir: ownCache,
        platform: amd64,
      },
    );
    const filesAfter = await listFiles(ownCache);
    assert.equal(filesAfter.length, 6, "the gzip blobs of the oci-archive are new");
    const timesAfter = await Promise.all(
      files.map(async (file) => (await stat(join(ownCache, file))).mtimeMs),
    );
    assert.deepEqual(timesAfter, times);
  });

  it("rejects an OCI layout directory whose layer blob was altered", async () => {
    const copy = join(temp.dir, "altered-layout");
    await cp(images.ociDir, copy, { recursive: true });
    const layer = images.images.debian12.layers[0]!;
    const blobPath = join(copy, "blobs", "sha256", hexOf(layer.digest));
    const bytes = await readFile(blobPath);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10]! + 1) % 256;
    await writeFile(blobPath, bytes);
    await assert.rejects(open({ kind: "oci-dir", path: copy, selector: "debian12" }), (error: unknown) => {
      assert.ok(error instanceof ImageError);
      assert.ok(error.message.includes(layer.digest), error.message);
      assert.match(error.message, /has content digest sha256:[0-9a-f]{64}/);
      return true;
    });
  });

  it("reports a missing path and the wrong kind of path plainly", async () => {
    await assert.rejects(
      open({ kind: "docker-archive", path: join(temp.dir, "absent.tar") }),
      /docker-archive .*absent\.tar: no such file/,
    );
    await assert.rejects(
      open({ kind: "oci-dir", path: images.images.debian11.archives.oci }),
      /not a directory/,
    );
    await assert.rejects(
      open({ kind: "docker-archive", path: images.images.debian11.archives.oci }),
      (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.match(error.message, /no manifest\.json, so this is not a docker-archive/);
        assert.match(error.hint ?? "", /oci-archive:/);
        return true;
      },
    );
  });
});
