/**
 * `delete` through the CLI. v4 forgets the manifest. v1 (Clair 2.x) deletes a layer with all its
 * descendants, and images share base layers: hyperclair must not take another image's layers with it
 * unless told to, and must say what it kept and what it took.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256Digest as sha256 } from "../../src/image/manifest.ts";
import { freshDir, runCli } from "../cli/run-cli.ts";
import { type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { harnessEnv } from "../infra/env.ts";

const env = harnessEnv();
const multi = env.images.images["debian11-multi"];

/**
 * An OCI layout holding the three-layer image and a second image made of its first two layers only,
 * as `FROM base` images are: the two share their base layers in Clair.
 */
function layoutWithSharedBase(): string {
  const dir = freshDir("hc-layout-");
  cpSync(env.images.ociDir, dir, { recursive: true });
  const blob = (digest: string) => join(dir, "blobs", "sha256", digest.slice(7));
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  const entry = index.manifests.find(
    (m) => m.annotations?.["org.opencontainers.image.ref.name"] === "debian11-multi",
  )!;
  const manifest = JSON.parse(readFileSync(blob(entry.digest), "utf8")) as {
    config: { digest: string; size: number };
    layers: unknown[];
  };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), "utf8")) as {
    rootfs: { diff_ids: string[] };
    history?: unknown[];
  };
  const baseConfig = JSON.stringify({
    ...config,
    rootfs: { type: "layers", diff_ids: config.rootfs.diff_ids.slice(0, 2) },
    history: [],
  });
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  writeFileSync(blob(sha256(baseConfig)), baseConfig);
  const baseManifest = JSON.stringify({
    ...manifest,
    config: { ...manifest.config, digest: sha256(baseConfig), size: Buffer.byteLength(baseConfig) },
    layers: manifest.layers.slice(0, 2),
  });
  writeFileSync(blob(sha256(baseManifest)), baseManifest);
  index.manifests.push({
    ...entry,
    digest: sha256(baseManifest),
    size: Buffer.byteLength(baseManifest),
    annotations: { "org.opencontainers.image.ref.name": "base" },
  } as (typeof index.manifests)[number]);
  writeFileSync(join(dir, "index.json"), JSON.stringify(index));
  return dir;
}

describe("delete, Clair 2.x (v1): shared base layers", () => {
  let clair: RunningEmulator;
  let layout: string;
  let cacheDir: string;
  before(async () => {
    clair = await startEmulator({ api: "v1" });
    layout = layoutWithSharedBase();
    cacheDir = freshDir("hc-cache-");
  });
  after(() => clair.close());
  const cli = (args: string[]) =>
    runCli(args, { env: { HYPERCLAIR_CLAIR_URL: clair.url, HYPERCLAIR_CACHE_DIR: cacheDir } });

  test("both images pushed; the base image's layers are the other's first two", async () => {
    for (const name of ["base", "debian11-multi"]) {
      const pushed = await cli(["push", `oci:${layout}:${name}`]);
      assert.equal(pushed.code, 0, pushed.stderr);
    }
    assert.equal(clair.fetches.filter((fetch) => fetch.ok).length, 3, "the shared layers were fetched once");
  });

  test("deleting the base image is refused: the other image stands on all its layers", async () => {
    const result = await cli(["delete", `oci:${layout}:base`]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /shared.*debian11-multi.*--force/);
    const still = await cli(["analyze", `oci:${layout}:base`, "--no-push"]);
    assert.equal(still.code, 0, still.stderr);
  });

  test("deleting the three-layer image removes only its own top layer and says what it kept", async () => {
    const result = await cli(["delete", `oci:${layout}:debian11-multi`, "--format", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const [outcome] = JSON.parse(result.stdout) as Array<{
      deleted: string[];
      kept: Array<{ layerIndex: number }>;
    }>;
    assert.deepEqual(outcome?.deleted.length, 1);
    assert.deepEqual(
      outcome?.kept.map((layer) => layer.layerIndex),
      [0, 1],
    );
    const gone = await cli(["analyze", `oci:${layout}:debian11-multi`, "--no-push"]);
    assert.equal(gone.code, 3, "Clair no longer has the top layer");
    const base = await cli(["analyze", `oci:${layout}:base`, "--no-push", "--format", "json"]);
    assert.equal(base.code, 0, base.stderr);
    assert.ok(
      (JSON.parse(base.stdout) as { findings: unknown[] }).findings.length > 0,
      "the base image kept its findings",
    );
  });

  test("--force deletes shared layers and names the images that lost them", async () => {
    const again = await cli(["push", `oci:${layout}:debian11-multi`]);
    assert.equal(again.code, 0, again.stderr);
    const result = await cli(["delete", `oci:${layout}:base`, "--force"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /lost layers.*debian11-multi/);
    const gone = await cli(["analyze", `oci:${layout}:debian11-multi`, "--no-push"]);
    assert.equal(gone.code, 3, "Clair took the other image's layers too, as the warning said");
  });
});

describe("delete, Clair v4", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4" });
  });
  after(() => clair.close());

  test("the manifest's index report goes; a second delete finds nothing", async () => {
    const cacheDir = freshDir("hc-cache-");
    const cli = (args: string[]) =>
      runCli(args, { env: { HYPERCLAIR_CLAIR_URL: clair.url, HYPERCLAIR_CACHE_DIR: cacheDir } });
    const image = `oci-archive:${multi.archives.oci}`;
    assert.equal((await cli(["push", image])).code, 0);
    const deleted = await cli(["delete", image, "--format", "json"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual((JSON.parse(deleted.stdout) as Array<{ deleted: string[] }>)[0]?.deleted, [
      multi.ociManifest.digest,
    ]);
    const missing = await cli(["delete", image]);
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stdout, /nothing deleted/);
    const report = await cli(["analyze", image, "--no-push"]);
    assert.equal(report.code, 3);
  });
});
