/**
 * The layer server feeding the Clair emulator, which downloads every layer itself and (v4) checks the
 * sha256 of the served bytes against the declared hash: the test images' real blobs, as pushes of daemon
 * and archive images serve them (gzip blobs, and uncompressed tars named by diff ID).
 * Runs under the harness: `bash test/run.sh test/serve`.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type LayerServer, type LayerServerEvent, startLayerServer } from "../../src/serve/layer-server.ts";
import { type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { harnessEnv, type TestImageInfo } from "../infra/env.ts";

interface IndexReport {
  state: string;
  success: boolean;
  packages: Record<string, { name: string; version: string }>;
  environments: Record<string, Array<{ introduced_in: string }>>;
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : JSON.parse(text) };
}

/** The layers as pushed from a cache: the gzip blobs (archives, registries) or the uncompressed tars (docker save). */
function blobsOf(image: TestImageInfo, form: "gzip" | "tar") {
  return image.layers.map((layer) =>
    form === "gzip"
      ? { digest: layer.digest, path: layer.gzipPath, size: layer.size }
      : { digest: layer.diffId, path: layer.tarPath, size: layer.uncompressedSize },
  );
}

describe("Clair v4 emulator indexes images served by the layer server", () => {
  const env = harnessEnv();
  let clair: RunningEmulator;

  before(async () => {
    clair = await startEmulator({ api: "v4" });
  });
  after(() => clair.close());

  const cases: Array<[keyof typeof env.images.images, "gzip" | "tar"]> = [
    ["debian11", "gzip"],
    ["debian11-multi", "tar"],
    ["alpine315", "gzip"],
  ];
  for (const [name, form] of cases) {
    test(`${name} (${form} layers): every layer fetched once, in full, and the packages found`, async () => {
      const image = env.images.images[name];
      const blobs = blobsOf(image, form);
      const events: LayerServerEvent[] = [];
      const server: LayerServer = await startLayerServer({
        clairUrl: clair.indexerUrl,
        blobs,
        onRequest: (event) => events.push(event),
      });
      try {
        // The manifest hash only names the image for Clair; make it unique per form so both get indexed.
        const hash = form === "gzip" ? image.ociManifest.digest : image.config.digest;
        const manifest = {
          hash,
          layers: blobs.map((b) => ({ hash: b.digest, uri: server.urlFor(b.digest), headers: {} })),
        };
        const answer = await postJson(`${clair.indexerUrl}/indexer/api/v1/index_report`, manifest);
        assert.equal(answer.status, 201, JSON.stringify(answer.json));
        const report = answer.json as IndexReport;
        assert.equal(report.state, "IndexFinished");
        assert.equal(report.success, true);

        const found = new Set(Object.values(report.packages).map((p) => `${p.name} ${p.version}`));
        for (const pkg of image.packages)
          assert.ok(found.has(`${pkg.name} ${pkg.version}`), `${pkg.name} found`);
        // Each package is attributed to one of the served layers.
        const introducedIn = new Set(
          Object.values(report.environments).flatMap((envs) => envs.map((e) => e.introduced_in)),
        );
        for (const layer of introducedIn)
          assert.ok(
            blobs.some((b) => b.digest === layer),
            layer,
          );

        for (const blob of blobs) {
          assert.deepEqual(
            server.stats(blob.digest),
            { requests: 1, bytes: blob.size, completed: 1 },
            blob.digest,
          );
          const fetched = clair.fetches.filter((f) => f.url === server.urlFor(blob.digest));
          assert.equal(fetched.length, 1);
          assert.equal(fetched[0]!.ok, true);
          assert.equal(fetched[0]!.digest, blob.digest);
          assert.ok(
            events.some(
              (e) => e.type === "end" && e.digest === blob.digest && e.status === 200 && e.complete,
            ),
          );
        }
        assert.equal(server.address.listen.startsWith("127.0.0.1:"), true);

        // A second push of the same image: Clair already knows it, the layer server serves nothing.
        const again = await postJson(`${clair.indexerUrl}/indexer/api/v1/index_report`, manifest);
        assert.equal(again.status, 201, "Clair answers every successful index request 201");
        for (const blob of blobs) assert.equal(server.stats(blob.digest).requests, 1);
      } finally {
        await server.close();
      }
    });
  }

  test("a blob served under the wrong digest fails Clair's check; the server saw the request and sent it whole", async () => {
    const image = env.images.images["debian12"];
    const layer = image.layers[0]!;
    // The tar's bytes declared under the gzip digest: what a cache mix-up would look like to Clair.
    const server = await startLayerServer({
      clairUrl: clair.indexerUrl,
      blobs: [{ digest: layer.digest, path: layer.tarPath }],
    });
    try {
      const answer = await postJson(`${clair.indexerUrl}/indexer/api/v1/index_report`, {
        hash: `sha256:${"e".repeat(64)}`,
        layers: [{ hash: layer.digest, uri: server.urlFor(layer.digest), headers: {} }],
      });
      assert.equal(answer.status, 500, JSON.stringify(answer.json));
      assert.match((answer.json as { message: string }).message, /validation failed/);
      assert.equal(server.stats(layer.digest).completed, 1);
      const fetched = clair.fetches.filter((f) => f.url === server.urlFor(layer.digest));
      assert.deepEqual(
        fetched.map((f) => [f.ok, f.digest]),
        [[false, layer.diffId]],
        "Clair hashed the tar it got, which is the diff ID, not the declared digest",
      );
    } finally {
      await server.close();
    }
  });
});

describe("Clair v1 emulator fetches layers bottom-up from the layer server", () => {
  const env = harnessEnv();
  let clair: RunningEmulator;

  before(async () => {
    clair = await startEmulator({ api: "v1" });
  });
  after(() => clair.close());

  test("debian11-multi: each layer POSTed with its parent, fetched once, packages attributed", async () => {
    const image = env.images.images["debian11-multi"];
    const blobs = blobsOf(image, "gzip");
    const server = await startLayerServer({ clairUrl: clair.url, blobs });
    try {
      let parent: string | undefined;
      for (const [index, blob] of blobs.entries()) {
        const name = `${image.name}-${index}`;
        const layer: Record<string, string> = {
          Name: name,
          Path: server.urlFor(blob.digest),
          Format: "Docker",
        };
        if (parent) layer["ParentName"] = parent;
        const answer = await postJson(`${clair.url}/v1/layers`, { Layer: layer });
        assert.equal(answer.status, 201, JSON.stringify(answer.json));
        parent = name;
      }
      const top = await fetch(`${clair.url}/v1/layers/${parent}?features`);
      const features = (
        (await top.json()) as { Layer: { Features?: Array<{ Name: string; AddedBy: string }> } }
      ).Layer.Features;
      assert.ok(features && features.length > 0);
      // Packages are attributed to the layer that brought them in: the base layer and the one above it.
      const names = blobs.map((_, index) => `${image.name}-${index}`);
      const addedBy = [...new Set(features.map((f) => f.AddedBy))].sort();
      assert.deepEqual(addedBy, names.slice(0, 2));
      for (const blob of blobs) assert.equal(server.stats(blob.digest).completed, 1);
    } finally {
      await server.close();
    }
  });
});
