import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ImageError, RegistryError } from "../../../src/errors.ts";
import { chainIds, MediaType } from "../../../src/image/manifest.ts";
import { parseReference } from "../../../src/image/reference.ts";
import { resolveRegistryImage } from "../../../src/image/registry/index.ts";
import type { ResolvedImage } from "../../../src/image/resolved-image.ts";
import { harnessEnv, type TestImageInfo, testImageNames } from "../../infra/env.ts";
import { stepText, testConfig } from "./helpers.ts";

const env = harnessEnv();
const config = testConfig();

function checkLayers(image: ResolvedImage, info: TestImageInfo, registry: string, repository: string): void {
  assert.equal(image.layers.length, info.layers.length);
  const chains = chainIds(info.layers.map((l) => l.diffId));
  info.layers.forEach((expected, index) => {
    const layer = image.layers[index]!;
    assert.equal(layer.index, index);
    assert.equal(layer.digest, expected.digest);
    assert.equal(layer.diffId, expected.diffId);
    assert.equal(layer.size, expected.size);
    assert.equal(layer.chainId, chains[index]);
    assert.ok(
      layer.createdBy !== undefined &&
        stepText(expected.createdBy).includes(layer.createdBy.replace(/^RUN /, "")),
    );
    assert.deepEqual(layer.location, {
      kind: "registry",
      url: `http://${registry}/v2/${repository}/blobs/${expected.digest}`,
      registry,
      repository,
      scope: `repository:${repository}:pull`,
    });
  });
}

describe("registry source against the plain registry", () => {
  for (const name of testImageNames) {
    const info = env.images.images[name];
    it(`resolves ${info.refs.oci} (OCI) with the digests the image was built with`, async () => {
      const reference = parseReference(`${env.registry}/${info.refs.oci}`);
      const [image, ...rest] = await resolveRegistryImage(reference, { config });
      assert.equal(rest.length, 0);
      assert.equal(image!.source, "registry");
      assert.equal(image!.reference, `${env.registry}/${info.refs.oci}`);
      assert.equal(image!.digest, info.ociManifest.digest);
      assert.equal(image!.digestKind, "manifest");
      assert.equal(image!.manifestMediaType, MediaType.ociManifest);
      assert.equal(image!.configDigest, info.config.digest);
      assert.deepEqual(image!.platform, info.platform);
      checkLayers(image!, info, env.registry, reference.path);
      assert.ok(image!.layers.every((l) => l.mediaType === MediaType.ociLayerGzip));
    });

    it(`resolves ${info.refs.v2s2} (Docker schema 2)`, async () => {
      const reference = parseReference(`${env.registry}/${info.refs.v2s2}`);
      const [image] = await resolveRegistryImage(reference, { config });
      assert.equal(image!.digest, info.v2s2Manifest.digest);
      assert.equal(image!.manifestMediaType, MediaType.dockerManifest);
      assert.equal(image!.configDigest, info.v2s2Manifest.configDigest);
      checkLayers(image!, info, env.registry, reference.path);
      assert.ok(image!.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip));
    });
  }

  it("resolves by digest, and by tag and digest together (the digest wins)", async () => {
    const info = env.images.images.debian12;
    const repository = info.refs.oci.split(":")[0]!;
    const byDigest = await resolveRegistryImage(
      parseReference(`${env.registry}/${repository}@${info.ociManifest.digest}`),
      { config },
    );
    assert.equal(byDigest[0]!.digest, info.ociManifest.digest);
    // The tag names the OCI manifest, the digest the v2s2 one: the digest is what is fetched.
    const both = await resolveRegistryImage(
      parseReference(`${env.registry}/${repository}:latest@${info.v2s2Manifest.digest}`),
      { config },
    );
    assert.equal(both[0]!.digest, info.v2s2Manifest.digest);
  });

  const multi = env.images.multiarch;
  const amd64 = multi.manifests.find((m) => m.platform.architecture === "amd64")!;
  const arm64 = multi.manifests.find((m) => m.platform.architecture === "arm64")!;
  for (const [tag, kind] of [
    [multi.refs.oci, "OCI index"],
    [multi.refs.v2s2, "Docker manifest list"],
  ] as const) {
    it(`selects linux/amd64 from the ${kind} by default`, async () => {
      const images = await resolveRegistryImage(parseReference(`${env.registry}/${tag}`), { config });
      assert.equal(images.length, 1);
      assert.equal(images[0]!.platform.architecture, "amd64");
      const info = env.images.images[amd64.image];
      if (kind === "OCI index") assert.equal(images[0]!.digest, amd64.digest);
      assert.equal(images[0]!.layers[0]!.diffId, info.layers[0]!.diffId);
    });

    it(`selects --platform linux/arm64 from the ${kind}`, async () => {
      const images = await resolveRegistryImage(parseReference(`${env.registry}/${tag}`), {
        config,
        platform: { os: "linux", architecture: "arm64" },
      });
      assert.equal(images[0]!.platform.architecture, "arm64");
      assert.equal(images[0]!.platform.variant, "v8");
      if (kind === "OCI index") assert.equal(images[0]!.digest, arm64.digest);
      assert.equal(images[0]!.layers[0]!.diffId, env.images.images[arm64.image].layers[0]!.diffId);
    });

    it(`resolves every platform of the ${kind} with allPlatforms`, async () => {
      const images = await resolveRegistryImage(parseReference(`${env.registry}/${tag}`), {
        config,
        allPlatforms: true,
      });
      assert.deepEqual(images.map((i) => i.platform.architecture).sort(), ["amd64", "arm64"]);
    });

    it(`fails with exit 2 listing the platforms when the ${kind} lacks the asked one`, async () => {
      await assert.rejects(
        resolveRegistryImage(parseReference(`${env.registry}/${tag}`), {
          config,
          platform: { os: "linux", architecture: "s390x" },
        }),
        (error: unknown) => {
          assert.ok(error instanceof ImageError);
          assert.equal(error.exitCode, 2);
          assert.match(error.message, /no image for platform linux\/s390x/);
          assert.match(error.hint ?? "", /linux\/amd64, linux\/arm64\/v8/);
          return true;
        },
      );
    });
  }

  it("uses registry.platform from the config as the default platform", async () => {
    const images = await resolveRegistryImage(parseReference(`${env.registry}/${multi.refs.oci}`), {
      config: testConfig({ platform: "linux/arm64" }),
    });
    assert.equal(images[0]!.digest, arm64.digest);
  });

  it("reports a missing tag and a missing repository as not found, exit 2", async () => {
    for (const ref of [
      `${env.registry}/test/debian11:no-such-tag`,
      `${env.registry}/test/no-such-repo:latest`,
    ]) {
      await assert.rejects(resolveRegistryImage(parseReference(ref), { config }), (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.equal(error.exitCode, 2);
        assert.match(error.message, /not found in registry/);
        assert.match(error.message, /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    }
  });

  it("says so when nothing listens at the registry address", async () => {
    await assert.rejects(
      resolveRegistryImage(parseReference("127.0.0.1:1/test/debian11:latest"), { config }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.match(error.message, /cannot reach registry at http:\/\/127\.0\.0\.1:1.*ECONNREFUSED/);
        return true;
      },
    );
  });
});
