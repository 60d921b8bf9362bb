import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { harnessEnv } from "../infra/env.ts";
import { type Credentials, fetchManifest } from "../infra/registry-http.ts";
import { computeDigest, mediaTypes } from "./oci.ts";
import { connectDaemon } from "./publish.ts";

const env = harnessEnv();
const testuser = { user: env.user, pass: env.pass };
const registries: Array<{ label: string; address: string; credentials?: Credentials }> = [
  { label: "plain", address: env.registry },
  { label: "basic", address: env.registryBasic, credentials: testuser },
  { label: "token", address: env.registryToken, credentials: testuser },
];

/** Every tag the harness pushes, with the media type and digest a client must see. */
function expectedTags() {
  const tags: Array<{ ref: string; mediaType: string; digest: string }> = [];
  for (const info of Object.values(env.images.images)) {
    tags.push({ ref: info.refs.oci, mediaType: mediaTypes.ociManifest, digest: info.ociManifest.digest });
    tags.push({
      ref: info.refs.v2s2,
      mediaType: mediaTypes.dockerManifest,
      digest: info.v2s2Manifest.digest,
    });
  }
  const multi = env.images.multiarch;
  tags.push({ ref: multi.refs.oci, mediaType: mediaTypes.ociIndex, digest: multi.ociIndex.digest });
  tags.push({ ref: "test/multiarch:latest", mediaType: mediaTypes.ociIndex, digest: multi.ociIndex.digest });
  tags.push({ ref: multi.refs.v2s2, mediaType: mediaTypes.dockerList, digest: multi.v2s2List.digest });
  return tags;
}

describe("pushed test images", () => {
  for (const registry of registries) {
    it(`every tag on the ${registry.label} registry has the media type and digest images.json records`, async () => {
      for (const tag of expectedTags()) {
        const [repository, reference] = tag.ref.split(":") as [string, string];
        const fetched = await fetchManifest(registry.address, repository, reference, {
          credentials: registry.credentials,
        });
        assert.equal(fetched.status, 200, `${registry.label} ${tag.ref}: ${fetched.body}`);
        assert.equal(fetched.mediaType, tag.mediaType, tag.ref);
        assert.equal(fetched.digest, tag.digest, tag.ref);
        assert.equal(JSON.parse(fetched.body).mediaType, tag.mediaType, tag.ref);
      }
    });
  }

  it("the v2s2 manifests carry the same config and layer blobs as the OCI ones", async () => {
    for (const info of Object.values(env.images.images)) {
      const [repository, reference] = info.refs.v2s2.split(":") as [string, string];
      const fetched = await fetchManifest(env.registry, repository, reference);
      const manifest = JSON.parse(fetched.body) as {
        config: { digest: string };
        layers: Array<{ digest: string; mediaType: string }>;
      };
      assert.equal(manifest.config.digest, info.config.digest);
      assert.equal(info.v2s2Manifest.configDigest, info.config.digest);
      assert.deepEqual(
        manifest.layers.map((l) => l.digest),
        info.layers.map((l) => l.digest),
      );
      assert.ok(manifest.layers.every((l) => l.mediaType === mediaTypes.dockerLayerGzip));
    }
  });

  it("the Docker manifest list points at amd64 and arm64/v8 manifests", async () => {
    const fetched = await fetchManifest(env.registry, "test/multiarch", "v2s2");
    const list = JSON.parse(fetched.body) as {
      manifests: Array<{
        digest: string;
        mediaType: string;
        platform: { architecture: string; variant?: string };
      }>;
    };
    assert.deepEqual(
      list.manifests.map((m) => [m.mediaType, m.platform.architecture, m.platform.variant]),
      [
        [mediaTypes.dockerManifest, "amd64", undefined],
        [mediaTypes.dockerManifest, "arm64", "v8"],
      ],
    );
    assert.deepEqual(
      list.manifests.map((m) => m.digest),
      [
        env.images.images.alpine315.v2s2Manifest.digest,
        env.images.images["alpine315-arm64"].v2s2Manifest.digest,
      ],
    );
  });

  it("layer blobs served by the registry have the digests and sizes images.json records", async () => {
    const layer = env.images.images["debian11-multi"].layers[1];
    assert.ok(layer);
    const response = await fetch(`http://${env.registry}/v2/test/debian11-multi/blobs/${layer.digest}`);
    assert.equal(response.status, 200);
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes.length, layer.size);
    assert.equal(computeDigest(bytes), layer.digest);
  });
});

describe("images loaded into the daemons", () => {
  for (const [label, host] of [
    ["dockerd", env.dockerHost],
    ["podman", env.podmanHost],
  ] as const) {
    it(`${label} has every test image as testimg/<name>:latest with the built config`, async () => {
      const daemon = connectDaemon(host);
      for (const info of Object.values(env.images.images)) {
        const inspect = await daemon.getImage(info.refs.daemon).inspect();
        assert.equal(inspect.Id, info.config.digest, info.name);
        assert.deepEqual(
          inspect.RootFS.Layers,
          info.layers.map((l) => l.diffId),
          info.name,
        );
        assert.ok(
          inspect.RepoTags.some((t) => t === info.refs.daemon || t === `docker.io/${info.refs.daemon}`),
          `${label} tags ${inspect.RepoTags.join(", ")}`,
        );
      }
    });
  }

  it("dockerd reports the images' architecture from the config", async () => {
    const daemon = connectDaemon(env.dockerHost);
    const arm = await daemon.getImage("testimg/alpine315-arm64:latest").inspect();
    assert.equal(arm.Architecture, "arm64");
    const amd = await daemon.getImage("testimg/debian11:latest").inspect();
    assert.equal(amd.Architecture, "amd64");
  });
});

describe("daemons pull from the plain registry", () => {
  for (const [label, host] of [
    ["dockerd", env.dockerHost],
    ["podman", env.podmanHost],
  ] as const) {
    it(`${label} pulls test/debian12:v2s2 over plain HTTP`, async () => {
      const daemon = connectDaemon(host);
      const ref = `${env.registry}/test/debian12:v2s2`;
      const stream = (await daemon.pull(ref)) as NodeJS.ReadableStream;
      let output = "";
      for await (const chunk of stream) output += chunk.toString();
      // podman reports pull failures inside a 200 stream.
      assert.ok(!output.includes('"error"'), output);
      const inspect = await daemon.getImage(ref).inspect();
      assert.equal(inspect.Id, env.images.images.debian12.config.digest);
      assert.ok(
        inspect.RepoDigests.some((d) => d.endsWith(`@${env.images.images.debian12.v2s2Manifest.digest}`)),
        inspect.RepoDigests.join(", "),
      );
    });
  }
});
