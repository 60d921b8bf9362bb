import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ExitCode, ImageError, RegistryError } from "../../../src/errors.ts";
import {
  type DaemonProgressEvent,
  exportDaemonImage,
  inspectDaemonImage,
  resolveDaemonImage,
} from "../../../src/image/daemon/daemon-source.ts";
import { chainIds } from "../../../src/image/manifest.ts";
import { harnessEnv, testImageNames } from "../../infra/env.ts";

const env = harnessEnv();
const daemons = [
  { name: "dockerd", host: env.dockerHost },
  { name: "podman", host: env.podmanHost },
];

for (const daemon of daemons) {
  describe(`daemon source against ${daemon.name}`, () => {
    let work: string;
    const options = (cacheDir: string) => ({ config: { docker: { host: daemon.host } }, cacheDir, env: {} });
    before(async () => {
      work = await mkdtemp(join(tmpdir(), `hc-daemon-${daemon.name}-`));
    });
    after(async () => {
      await rm(work, { recursive: true, force: true });
    });

    for (const name of testImageNames) {
      it(`finds ${name} by familiar name, full name, ID and short ID, with the harness's diff IDs`, async () => {
        const info = env.images.images[name];
        const diffIds = info.layers.map((layer) => layer.diffId);
        const byFamiliar = await inspectDaemonImage(`testimg/${name}:latest`, options(join(work, "unused")));
        assert.deepEqual(byFamiliar.diffIds, diffIds);
        assert.equal(byFamiliar.reference, `docker.io/testimg/${name}:latest`);
        assert.equal(byFamiliar.id, info.config.digest, "the image ID is the config digest");
        // podman's inspect has no variant; the config (read on export) has it.
        assert.equal(byFamiliar.platform.os, info.platform.os);
        assert.equal(byFamiliar.platform.architecture, info.platform.architecture);
        if (daemon.name === "dockerd") {
          // Loaded from an archive: docker has no manifest digest, and the image ID stands in, said so.
          assert.equal(byFamiliar.digestKind, "image-id");
          assert.equal(byFamiliar.digest, info.config.digest);
        } else {
          // podman records the digest of the manifest it wrote when loading; that one is reported.
          assert.equal(byFamiliar.digestKind, "manifest");
          assert.ok(byFamiliar.tags.includes(`docker.io/testimg/${name}@${byFamiliar.digest}`));
          assert.notEqual(byFamiliar.digest, info.config.digest);
        }
        for (const reference of [
          `testimg/${name}`,
          `docker.io/testimg/${name}:latest`,
          info.config.digest,
          info.config.digest.slice("sha256:".length, "sha256:".length + 12),
        ]) {
          const found = await inspectDaemonImage(reference, options(join(work, "unused")));
          assert.equal(found.id, info.config.digest, `${reference} finds the image`);
          assert.deepEqual(found.diffIds, diffIds);
          assert.deepEqual(found.chainIds, chainIds(diffIds));
        }
      });
    }

    it("exports every layer into the cache, digest-checked, with the steps that made them", async () => {
      const cacheDir = join(work, "cache-all");
      for (const name of testImageNames) {
        const info = env.images.images[name];
        const layersSeen: number[] = [];
        const image = await resolveDaemonImage(`testimg/${name}:latest`, {
          ...options(cacheDir),
          onProgress: () => undefined,
        });
        assert.equal(image.source, "daemon");
        assert.equal(image.configDigest, info.config.digest);
        assert.deepEqual(image.platform, info.platform);
        assert.equal(image.layers.length, info.layers.length);
        for (const [index, layer] of image.layers.entries()) {
          const expected = info.layers[index]!;
          layersSeen.push(index);
          assert.equal(layer.diffId, expected.diffId);
          assert.equal(layer.digest, expected.diffId, "the served blob is the uncompressed tar");
          assert.equal(layer.size, expected.uncompressedSize);
          assert.equal(layer.location.kind, "cache");
          assert.equal(
            layer.location.kind === "cache" && layer.location.path,
            join(cacheDir, "blobs", "sha256", expected.diffId.slice("sha256:".length)),
          );
          assert.equal(
            (await stat(layer.location.kind === "cache" ? layer.location.path : "")).size,
            layer.size,
          );
          assert.ok(layer.createdBy !== undefined && layer.createdBy.length > 0, `layer ${index} has a step`);
        }
      }
    });

    it("reads the whiteout image as 3 layers, each with its Dockerfile step", async () => {
      const image = await resolveDaemonImage("testimg/debian11-multi", options(join(work, "cache-multi")));
      assert.equal(image.layers.length, 3);
      assert.equal(
        image.layers[1]!.createdBy,
        "RUN apt-get update && apt-get install -y --no-install-recommends openssl curl && rm -rf /var/lib/apt/lists/*",
      );
      assert.equal(
        image.layers[2]!.createdBy,
        "RUN rm /etc/removeme.conf && rm -rf /var/cache/app && mkdir -p /var/cache/app && echo c > /var/cache/app/c",
      );
    });

    it("does not export an image whose layers are all cached", async () => {
      const cacheDir = join(work, "cache-twice");
      const firstEvents: DaemonProgressEvent[] = [];
      const first = await resolveDaemonImage("testimg/debian11-multi:latest", {
        ...options(cacheDir),
        onProgress: (event) => firstEvents.push(event),
      });
      assert.ok(firstEvents.some((event) => event.kind === "export" && event.phase === "start"));
      assert.ok(firstEvents.some((event) => event.kind === "export" && event.phase === "bytes"));
      const blobs = join(cacheDir, "blobs", "sha256");
      const mtimes = async () =>
        Object.fromEntries(
          await Promise.all(
            (await readdir(blobs)).map(
              async (file) => [file, (await stat(join(blobs, file))).mtimeMs] as const,
            ),
          ),
        );
      const before = await mtimes();
      assert.ok(Object.keys(before).length >= 3);

      const secondEvents: DaemonProgressEvent[] = [];
      const second = await resolveDaemonImage("testimg/debian11-multi:latest", {
        ...options(cacheDir),
        onProgress: (event) => secondEvents.push(event),
        debug: () => undefined,
      });
      assert.deepEqual(
        secondEvents.map((event) => event.kind === "export" && event.phase),
        ["skipped"],
        "no export the second time",
      );
      assert.deepEqual(await mtimes(), before, "no cache file was rewritten");
      assert.deepEqual(second, first, "the same image, steps included (read from the cached config)");
    });

    it("inspects first, then reports each layer as soon as its bytes are cached", async () => {
      const cacheDir = join(work, "cache-pipeline");
      const image = await inspectDaemonImage("testimg/debian11-multi", options(cacheDir));
      const expected = env.images.images["debian11-multi"].layers.map((layer) => layer.diffId);
      assert.deepEqual(image.diffIds, expected, "the diff IDs are known before anything is exported");
      const reported: Array<{ index: number; size: number }> = [];
      const resolved = await exportDaemonImage(image, {
        cacheDir,
        onLayer: (layer) => {
          // The blob is complete in the cache when it is reported.
          const path = layer.location.kind === "cache" ? layer.location.path : "";
          reported.push({ index: layer.index, size: statSync(path).size });
          assert.equal(layer.diffId, expected[layer.index]);
        },
      });
      assert.deepEqual(reported.map((entry) => entry.index).sort(), [0, 1, 2]);
      assert.deepEqual(
        reported.sort((a, b) => a.index - b.index).map((entry) => entry.size),
        resolved.layers.map((layer) => layer.size),
      );
    });

    it("--docker-pull pulls from the registry with progress, then knows the manifest digest", async () => {
      const info = env.images.images.debian11;
      const reference = `${env.registry}/test/debian11:latest`;
      const events: DaemonProgressEvent[] = [];
      const image = await resolveDaemonImage(reference, {
        ...options(join(work, "cache-pull")),
        pull: true,
        onProgress: (event) => events.push(event),
      });
      assert.ok(
        events.some((event) => event.kind === "pull"),
        "the pull's progress events were reported",
      );
      assert.equal(image.reference, reference);
      if (daemon.name === "dockerd") {
        assert.equal(image.digestKind, "manifest");
        assert.equal(image.digest, info.ociManifest.digest);
      } else {
        // podman lists the pulled digest and the one it made at load time under every name, and its pull
        // does not say which it fetched: rather than guess, the image ID stands in.
        assert.ok(image.tags.includes(`${env.registry}/test/debian11@${info.ociManifest.digest}`));
        assert.equal(image.digestKind, "image-id");
        assert.equal(image.digest, info.config.digest);
      }
      assert.deepEqual(
        image.layers.map((layer) => layer.diffId),
        info.layers.map((layer) => layer.diffId),
      );
      // Now the daemon knows the digest: the image is found by it too.
      const byDigest = await inspectDaemonImage(
        `${env.registry}/test/debian11@${info.ociManifest.digest}`,
        options(join(work, "cache-pull")),
      );
      assert.equal(byDigest.id, info.config.digest);
      assert.equal(byDigest.digest, info.ociManifest.digest);
      assert.equal(byDigest.digestKind, "manifest");
    });

    it("--docker-pull with credentials pulls from the basic-auth registry", async () => {
      const image = await inspectDaemonImage(`${env.registryBasic}/test/alpine315:latest`, {
        ...options(join(work, "unused")),
        pull: true,
        credentials: { username: env.user, password: env.pass },
      });
      const digest = env.images.images.alpine315.ociManifest.digest;
      assert.ok(image.tags.includes(`${env.registryBasic}/test/alpine315@${digest}`));
      if (daemon.name === "dockerd") assert.equal(image.digest, digest);
    });

    it("a pull of a missing tag fails with one line from the daemon", async () => {
      const reference = `${env.registry}/test/debian11:no-such-tag`;
      await assert.rejects(
        inspectDaemonImage(reference, { ...options(join(work, "unused")), pull: true }),
        (err: unknown) => {
          assert.ok(err instanceof RegistryError, String(err));
          assert.equal(err.exitCode, ExitCode.external);
          assert.ok(err.message.startsWith(`the daemon could not pull ${reference}: `), err.message);
          assert.doesNotMatch(err.message, /\n/);
          assert.match(err.message, /not found|manifest unknown/i);
          return true;
        },
      );
    });

    it("an unauthorized pull fails with one line and an auth hint", async () => {
      const reference = `${env.registryBasic}/test/debian12:latest`;
      await assert.rejects(
        inspectDaemonImage(reference, { ...options(join(work, "unused")), pull: true }),
        (err: unknown) => {
          assert.ok(err instanceof RegistryError, String(err));
          assert.equal(err.exitCode, ExitCode.external);
          assert.doesNotMatch(err.message, /\n/);
          assert.match(err.message, /unauthori[sz]ed|credentials|authentication required|denied/i);
          assert.match(err.hint ?? "", /--username|login/);
          return true;
        },
      );
      await assert.rejects(
        inspectDaemonImage(reference, {
          ...options(join(work, "unused")),
          pull: true,
          credentials: { username: env.user, password: `${env.pass}-wrong` },
        }),
        (err: unknown) => err instanceof RegistryError && !err.message.includes(`${env.pass}-wrong`),
      );
    });

    it("an image the daemon does not have is an exit-2 error with a hint", async () => {
      await assert.rejects(
        inspectDaemonImage("testimg/not-loaded:latest", options(join(work, "unused"))),
        (err: unknown) => {
          assert.ok(err instanceof ImageError);
          assert.equal(err.exitCode, ExitCode.usage);
          assert.equal(
            err.message,
            `image testimg/not-loaded:latest not found in the Docker daemon at ${daemon.host}`,
          );
          assert.match(err.hint ?? "", /--docker-pull/);
          return true;
        },
      );
    });
  });
}
