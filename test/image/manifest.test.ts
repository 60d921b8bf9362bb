import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ImageError } from "../../src/errors.ts";
import {
  chainIds,
  formatPlatform,
  type ImageIndex,
  layerCreatedBy,
  MediaType,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectPlatform,
  sha256Digest,
} from "../../src/image/manifest.ts";

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

describe("chain IDs (image-spec config.md)", () => {
  test("the base layer's chain ID is its diff ID; each next one hashes parent chain + space + diff ID", () => {
    const ids = chainIds([digest(1), digest(2), digest(3)]);
    assert.equal(ids[0], digest(1));
    assert.equal(ids[1], sha256Digest(`${digest(1)} ${digest(2)}`));
    assert.equal(ids[2], sha256Digest(`${ids[1]} ${digest(3)}`));
  });

  test("the same diff ID on different parents gets different chain IDs", () => {
    const [, onA] = chainIds([digest(1), digest(9)]);
    const [, onB] = chainIds([digest(2), digest(9)]);
    assert.notEqual(onA, onB);
  });
});

describe("platforms", () => {
  const index: ImageIndex = {
    kind: "index",
    mediaType: MediaType.ociIndex,
    manifests: [
      {
        mediaType: MediaType.ociManifest,
        digest: digest(1),
        size: 1,
        platform: { os: "linux", architecture: "amd64" },
      },
      {
        mediaType: MediaType.ociManifest,
        digest: digest(2),
        size: 1,
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      },
      {
        mediaType: MediaType.ociManifest,
        digest: digest(3),
        size: 1,
        platform: { os: "unknown", architecture: "unknown" },
      },
    ],
  };

  test("parse and format round-trip", () => {
    assert.deepEqual(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64", variant: "v8" });
    assert.equal(formatPlatform(parsePlatform("linux/amd64")), "linux/amd64");
  });

  test("malformed platforms are exit-2 errors that show the expected form", () => {
    for (const bad of ["linux", "linux/", "Linux/AMD64", "a/b/c/d"]) {
      assert.throws(
        () => parsePlatform(bad),
        (error: unknown) => {
          assert.ok(error instanceof ImageError);
          assert.equal(error.exitCode, 2);
          assert.match(error.hint ?? "", /os\/arch/);
          return true;
        },
      );
    }
  });

  test("selection: exact, variant defaulting (arm64 = v8), and no match lists what there is", () => {
    assert.equal(selectPlatform(index, parsePlatform("linux/amd64"), "x").digest, digest(1));
    assert.equal(selectPlatform(index, parsePlatform("linux/arm64"), "x").digest, digest(2));
    assert.equal(selectPlatform(index, parsePlatform("linux/arm64/v8"), "x").digest, digest(2));
    assert.throws(
      () => selectPlatform(index, parsePlatform("linux/s390x"), "test/multiarch:oci"),
      (error: unknown) => {
        assert.ok(error instanceof ImageError);
        assert.match(error.message, /test\/multiarch:oci has no image for platform linux\/s390x/);
        assert.match(error.hint ?? "", /linux\/amd64, linux\/arm64\/v8/);
        assert.doesNotMatch(error.hint ?? "", /unknown/);
        return true;
      },
    );
  });
});

describe("manifests", () => {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: digest(7), size: 10 },
    layers: [{ mediaType: MediaType.dockerLayerGzip, digest: digest(8), size: 20 }],
  });

  test("the Content-Type decides; the document's mediaType is the fallback; OCI may omit it", () => {
    const parsed = parseManifest(manifest, undefined);
    assert.equal(parsed.kind, "manifest");
    assert.equal(parsed.mediaType, MediaType.dockerManifest);
    const bare = parseManifest(JSON.stringify({ schemaVersion: 2, manifests: [] }), undefined);
    assert.equal(bare.kind, "index");
    assert.equal(
      parseManifest(manifest, `${MediaType.ociManifest}; charset=utf-8`).mediaType,
      MediaType.ociManifest,
    );
  });

  test("schema 1 and unknown media types are clear errors", () => {
    assert.throws(
      () => parseManifest(JSON.stringify({ schemaVersion: 1, fsLayers: [] }), undefined),
      /schema 1/,
    );
    assert.throws(
      () => parseManifest("{}", "application/x-unknown"),
      /unsupported media type "application\/x-unknown"/,
    );
    assert.throws(() => parseManifest("not json", MediaType.ociManifest), /not JSON/);
  });

  test("history gives each layer its Dockerfile step, skipping empty layers", () => {
    const config = parseImageConfig(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [digest(1), digest(2)] },
        history: [
          { created_by: "/bin/sh -c #(nop) ADD file:abc in / " },
          { created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
          { created_by: "/bin/sh -c apt-get install -y curl" },
        ],
      }),
    );
    assert.deepEqual(layerCreatedBy(config), ["ADD file:abc in /", "RUN apt-get install -y curl"]);
  });

  test("a history that does not line up with the layers is not trusted", () => {
    const config = parseImageConfig(
      JSON.stringify({ rootfs: { diff_ids: [digest(1), digest(2)] }, history: [{ created_by: "only one" }] }),
    );
    assert.deepEqual(layerCreatedBy(config), [undefined, undefined]);
  });
});
