import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { harnessEnv, type ImagesManifest, type TestImageInfo } from "../infra/env.ts";
import { buildTestImages } from "./build.ts";
import { computeDigest, digestHex, mediaTypes } from "./oci.ts";
import { findEntry, readTar } from "./read-tar.ts";

const env = harnessEnv();
const images = env.images;

/** The digests that must not change between builds. */
function fingerprint(manifest: ImagesManifest) {
  return {
    images: Object.values(manifest.images).map((i) => ({
      name: i.name,
      manifest: i.ociManifest.digest,
      config: i.config.digest,
      layers: i.layers.map((l) => [l.digest, l.diffId, l.size]),
    })),
    index: manifest.multiarch.ociIndex.digest,
  };
}

describe("reproducible build", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("building twice into two directories gives the same digests as the harness's build", async () => {
    const builds: ImagesManifest[] = [];
    for (let i = 0; i < 2; i++) {
      const dir = await mkdtemp(join(tmpdir(), "hc-images-"));
      dirs.push(dir);
      builds.push(await buildTestImages(dir, { archives: false }));
    }
    const [first, second] = builds as [ImagesManifest, ImagesManifest];
    assert.deepEqual(fingerprint(first), fingerprint(second));
    assert.deepEqual(fingerprint(first), fingerprint(images));
    // The archive written without skopeo is byte-for-byte the same too.
    const a = await readFile(first.images.debian11.archives.dockerOciLayout);
    const b = await readFile(second.images.debian11.archives.dockerOciLayout);
    assert.equal(computeDigest(a), computeDigest(b));
  });
});

describe("layer tars", () => {
  it("are sorted, owned by root, dated 2022-06-01, without ./ prefixes, with every parent directory", async () => {
    for (const info of Object.values(images.images)) {
      for (const layer of info.layers) {
        const entries = await readTar(layer.tarPath);
        const names = entries.map((e) => e.name);
        assert.deepEqual(names, [...names].sort(), layer.tarPath);
        for (const entry of entries) {
          assert.equal(entry.uid, 0);
          assert.equal(entry.gid, 0);
          assert.equal(entry.mtime.toISOString(), "2022-06-01T00:00:00.000Z");
          assert.ok(!entry.name.startsWith("./") && !entry.name.startsWith("/"), entry.name);
          const parent = entry.name.replace(/\/?[^/]+\/?$/, "");
          if (parent !== "") assert.ok(names.includes(`${parent}/`), `${entry.name} lacks ${parent}/`);
        }
      }
    }
  });

  it("gzip blobs decompress to the tar whose sha256 is the diff ID", async () => {
    for (const info of Object.values(images.images)) {
      for (const layer of info.layers) {
        const gzip = await readFile(layer.gzipPath);
        assert.equal(computeDigest(gzip), layer.digest);
        assert.equal(gzip.length, layer.size);
        const tar = gunzipSync(gzip);
        assert.equal(computeDigest(tar), layer.diffId);
        assert.deepEqual(tar, await readFile(layer.tarPath));
        // No file name and mtime 0 in the gzip header: nothing that varies between builds.
        assert.equal(gzip.readUInt32LE(4), 0);
        assert.equal(gzip.readUInt8(3) & 0x08, 0);
      }
    }
  });
});

describe("image contents", () => {
  const fileOf = async (info: TestImageInfo, layerIndex: number, name: string) => {
    const layer = info.layers[layerIndex];
    assert.ok(layer, `${info.name} layer ${layerIndex}`);
    return findEntry(await readTar(layer.tarPath), name).data.toString("utf8");
  };

  it("debian11 has bullseye's os-release and the dpkg versions the vulnerability feed expects", async () => {
    const info = images.images.debian11;
    const osRelease = await fileOf(info, 0, "etc/os-release");
    assert.match(osRelease, /^PRETTY_NAME="Debian GNU\/Linux 11 \(bullseye\)"$/m);
    assert.match(osRelease, /^VERSION_ID="11"$/m);
    assert.match(osRelease, /^VERSION_CODENAME=bullseye$/m);
    assert.match(osRelease, /^ID=debian$/m);
    assert.equal(await fileOf(info, 0, "etc/debian_version"), "11.3\n");
    const status = await fileOf(info, 0, "var/lib/dpkg/status");
    const stanza = status.split("\n\n").find((s) => s.startsWith("Package: libssl1.1\n"));
    assert.ok(stanza);
    // dpkg's own field order.
    assert.deepEqual(
      stanza
        .split("\n")
        .filter((l) => !l.startsWith(" "))
        .map((l) => l.split(":")[0]),
      [
        "Package",
        "Status",
        "Priority",
        "Section",
        "Installed-Size",
        "Maintainer",
        "Architecture",
        "Multi-Arch",
        "Source",
        "Version",
        "Depends",
        "Description",
      ],
    );
    assert.match(stanza, /^Source: openssl\nVersion: 1\.1\.1n-0\+deb11u3$/m);
    for (const line of [
      "Package: zlib1g",
      "Version: 1:1.2.11.dfsg-2+deb11u1",
      "Version: 7.74.0-1.3+deb11u1",
      "Source: glibc",
      "Source: curl",
    ]) {
      assert.ok(status.includes(`${line}\n`), line);
    }
    assert.deepEqual(
      info.packages.map((p) => `${p.name}=${p.version}`),
      [
        "base-files=11.1+deb11u3",
        "libc6=2.31-13+deb11u3",
        "zlib1g=1:1.2.11.dfsg-2+deb11u1",
        "bash=5.1-2+deb11u1",
        "libssl1.1=1.1.1n-0+deb11u3",
        "openssl=1.1.1n-0+deb11u3",
        "libcurl4=7.74.0-1.3+deb11u1",
        "curl=7.74.0-1.3+deb11u1",
      ],
    );
    await fileOf(info, 0, "bin/sh");
  });

  it("debian11-multi adds packages in layer 2 and whites out files in layer 3", async () => {
    const info = images.images["debian11-multi"];
    assert.equal(info.layers.length, 3);
    assert.ok(!(await fileOf(info, 0, "var/lib/dpkg/status")).includes("Package: openssl\n"));
    assert.ok((await fileOf(info, 0, "etc/removeme.conf")).length > 0);
    const layer2 = await readTar(info.layers[1]?.tarPath ?? "");
    assert.ok(findEntry(layer2, "var/lib/dpkg/status").data.toString().includes("Package: openssl\n"));
    const link = findEntry(layer2, "usr/lib/libssl.so");
    assert.equal(link.type, "symlink");
    assert.equal(link.linkname, "libssl.so.1.1");
    assert.equal(findEntry(layer2, "usr/lib/libssl.so.1.1").size, 64 * 1024);
    const layer3 = await readTar(info.layers[2]?.tarPath ?? "");
    assert.deepEqual(
      layer3.filter((e) => e.type === "file").map((e) => e.name),
      ["etc/.wh.removeme.conf", "var/cache/app/.wh..wh..opq", "var/cache/app/c"],
    );
  });

  it("debian12 and the alpine images carry their distribution's package databases", async () => {
    const bookworm = await fileOf(images.images.debian12, 0, "var/lib/dpkg/status");
    assert.match(bookworm, /^Package: libssl3\n(?:.+\n)*?Source: openssl\nVersion: 3\.0\.9-1$/m);
    assert.match(bookworm, /^Version: 2\.36-9\+deb12u1$/m);
    assert.match(bookworm, /^Version: 1:1\.2\.13\.dfsg-1$/m);
    for (const [name, arch] of [
      ["alpine315", "x86_64"],
      ["alpine315-arm64", "aarch64"],
    ] as const) {
      const info = images.images[name];
      assert.equal(await fileOf(info, 0, "etc/alpine-release"), "3.15.0\n");
      assert.match(await fileOf(info, 0, "etc/os-release"), /^VERSION_ID=3\.15\.0$/m);
      const installed = await fileOf(info, 0, "lib/apk/db/installed");
      const records = installed.trim().split("\n\n");
      assert.equal(records.length, 7);
      const libssl = records.find((r) => r.includes("\nP:libssl1.1\n"));
      assert.match(libssl ?? "", /\nV:1\.1\.1l-r7\n/);
      assert.match(libssl ?? "", /\no:openssl\n/);
      assert.ok(records.every((r) => r.includes(`\nA:${arch}\n`)));
      assert.match(installed, /\nP:musl\nV:1\.2\.2-r7\n/);
      assert.match(installed, /\nP:busybox\nV:1\.34\.1-r3\n/);
    }
  });

  it("configs have platform, diff IDs and history with an empty_layer step", async () => {
    for (const info of Object.values(images.images)) {
      const config = JSON.parse(
        await readFile(join(images.ociDir, "blobs", "sha256", digestHex(info.config.digest)), "utf8"),
      );
      assert.equal(config.architecture, info.platform.architecture);
      assert.equal(config.variant, info.platform.variant);
      assert.deepEqual(
        config.rootfs.diff_ids,
        info.layers.map((l) => l.diffId),
      );
      const history = config.history as Array<{ created_by: string; empty_layer?: boolean }>;
      assert.equal(history.filter((h) => h.empty_layer !== true).length, info.layers.length);
      assert.ok(history.some((h) => h.empty_layer === true && h.created_by.includes("CMD")));
    }
    assert.deepEqual(images.images["alpine315-arm64"].platform, {
      os: "linux",
      architecture: "arm64",
      variant: "v8",
    });
  });
});

describe("archive forms", () => {
  let legacy: Awaited<ReturnType<typeof readTar>>;
  before(async () => {
    legacy = await readTar(images.images.debian11.archives.docker);
  });

  it("the legacy docker-archive has manifest.json with the RepoTag, the config and the layers", async () => {
    const info = images.images.debian11;
    const [entry] = JSON.parse(findEntry(legacy, "manifest.json").data.toString()) as Array<{
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }>;
    // skopeo writes the fully qualified name; docker load normalises it back to testimg/debian11:latest.
    assert.deepEqual(entry?.RepoTags, ["docker.io/testimg/debian11:latest"]);
    assert.equal(entry?.Config, `${digestHex(info.config.digest)}.json`);
    const layerPath = entry?.Layers[0] ?? "";
    assert.equal(computeDigest(findEntry(legacy, layerPath).data), info.layers[0]?.diffId);
    assert.ok(legacy.some((e) => e.name === "repositories"));
    assert.ok(legacy.some((e) => /^[0-9a-f]{64}\/layer\.tar$/.test(e.name)));
  });

  it("dockerd's own docker save wrote regular <v1id>/layer.tar files", async () => {
    const path = images.images["debian11-multi"].archives.dockerSave;
    assert.ok(path, "images.json records the docker save archive");
    const entries = await readTar(path);
    const layers = entries.filter((e) => e.name.endsWith("/layer.tar"));
    assert.equal(layers.length, 3);
    assert.ok(layers.every((e) => e.type === "file"));
    assert.deepEqual(
      layers.map((l) => computeDigest(l.data)).sort(),
      images.images["debian11-multi"].layers.map((l) => l.diffId).sort(),
    );
  });

  it("the OCI-layout docker-archive holds uncompressed blobs named by diff ID, as Docker 25 writes", async () => {
    const info = images.images["debian11-multi"];
    const entries = await readTar(info.archives.dockerOciLayout);
    assert.deepEqual(JSON.parse(findEntry(entries, "oci-layout").data.toString()), {
      imageLayoutVersion: "1.0.0",
    });
    const [legacyManifest] = JSON.parse(findEntry(entries, "manifest.json").data.toString()) as Array<{
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }>;
    assert.deepEqual(
      legacyManifest?.Layers,
      info.layers.map((l) => `blobs/sha256/${digestHex(l.diffId)}`),
    );
    assert.equal(legacyManifest?.Config, `blobs/sha256/${digestHex(info.config.digest)}`);
    assert.deepEqual(legacyManifest?.RepoTags, ["testimg/debian11-multi:latest"]);
    for (const layer of info.layers) {
      assert.equal(
        computeDigest(findEntry(entries, `blobs/sha256/${digestHex(layer.diffId)}`).data),
        layer.diffId,
      );
    }
    const index = JSON.parse(findEntry(entries, "index.json").data.toString());
    const manifestDigest = index.manifests[0].digest as string;
    const manifest = JSON.parse(
      findEntry(entries, `blobs/sha256/${digestHex(manifestDigest)}`).data.toString(),
    );
    assert.equal(manifest.mediaType, mediaTypes.ociManifest);
    assert.ok(manifest.layers.every((l: { mediaType: string }) => l.mediaType === mediaTypes.ociLayer));
  });

  it("the oci-archives hold the image's manifest and the multiarch index", async () => {
    const info = images.images.alpine315;
    const entries = await readTar(info.archives.oci);
    const index = JSON.parse(findEntry(entries, "index.json").data.toString());
    assert.equal(index.manifests[0].digest, info.ociManifest.digest);
    findEntry(entries, `blobs/sha256/${digestHex(info.layers[0]?.digest ?? "")}`);

    const multi = await readTar(images.multiarch.archives.oci);
    const multiIndex = JSON.parse(findEntry(multi, "index.json").data.toString());
    assert.equal(multiIndex.manifests[0].digest, images.multiarch.ociIndex.digest);
    const inner = JSON.parse(
      findEntry(multi, `blobs/sha256/${digestHex(images.multiarch.ociIndex.digest)}`).data.toString(),
    );
    assert.deepEqual(
      inner.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
      ["amd64", "arm64"],
    );
  });

  it("the OCI layout dir tags every image by org.opencontainers.image.ref.name", async () => {
    const index = JSON.parse(await readFile(join(images.ociDir, "index.json"), "utf8"));
    const refs = Object.fromEntries(
      index.manifests.map((m: { digest: string; annotations: Record<string, string> }) => [
        m.annotations["org.opencontainers.image.ref.name"],
        m.digest,
      ]),
    );
    for (const info of Object.values(images.images)) assert.equal(refs[info.name], info.ociManifest.digest);
    assert.equal(refs["multiarch"], images.multiarch.ociIndex.digest);
  });
});
