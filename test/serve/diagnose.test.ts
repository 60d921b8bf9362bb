import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { explainFetchFailure } from "../../src/serve/diagnose.ts";
import { type LayerServer, startLayerServer } from "../../src/serve/layer-server.ts";
import { fetchRaw, makeTempDir, waitFor, writeBlob } from "./helpers.ts";

const clairUrl = "http://127.0.0.1:6060";

describe("explaining a failed fetch from what the layer server saw", () => {
  const dir = makeTempDir();
  const layer = writeBlob(dir, 4096);
  const other = writeBlob(dir, 100);

  async function serve(options: { advertise?: string } = {}): Promise<LayerServer> {
    const server = await startLayerServer({
      clairUrl,
      blobs: [
        { digest: layer.digest, path: layer.path },
        { digest: other.digest, path: other.path },
      ],
      ...options,
    });
    after(() => server.close());
    return server;
  }

  test("no request at all: Clair cannot reach the advertised address; set serve.advertise", async () => {
    const server = await serve({ advertise: "http://10.99.0.1:1" });
    assert.equal(server.sawAnyRequest(), false);
    const text = explainFetchFailure(server, layer.digest, clairUrl);
    assert.ok(
      text.startsWith(
        `Clair at ${clairUrl} could not reach http://10.99.0.1:1; set serve.advertise to an address Clair can reach`,
      ),
      text,
    );
    assert.match(text, /saw no request/);
  });

  test("only refused paths (wrong token): says 404, how many, and that the path must be used as given", async () => {
    const server = await serve();
    const url = new URL(server.urlFor(layer.digest));
    const stale = url.pathname.replace(/^\/[^/]+/, "/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert.equal((await fetchRaw(`${url.origin}${stale}`)).status, 404);
    assert.equal((await fetchRaw(`${url.origin}/v2/`)).status, 404);
    await waitFor(() => server.requests().length === 2, "the requests to be recorded");
    assert.equal(server.sawAnyRequest(), true);
    const text = explainFetchFailure(server, layer.digest, clairUrl);
    assert.match(text, /answered 404 to 2 requests from 127\.0\.0\.1/);
    assert.match(text, /outside this push/);
    assert.match(text, /serve\.advertise/);
  });

  test("a download completed: the failure is on Clair's side", async () => {
    const server = await serve();
    assert.equal((await fetchRaw(server.urlFor(layer.digest))).status, 200);
    await waitFor(() => server.stats(layer.digest).completed === 1, "the download to be recorded");
    const text = explainFetchFailure(server, layer.digest, clairUrl);
    assert.match(text, /sent sha256:[a-f0-9]{12} in full \(4096 bytes\) 1 time from 127\.0\.0\.1/);
    assert.match(text, /Clair at http:\/\/127\.0\.0\.1:6060/);
  });

  test("Clair fetched other layers but not this one", async () => {
    const server = await serve();
    assert.equal((await fetchRaw(server.urlFor(other.digest))).status, 200);
    await waitFor(() => server.requests().length === 1, "the request to be recorded");
    const text = explainFetchFailure(server, layer.digest, clairUrl);
    assert.match(
      text,
      /reached the layer server \(1 request from 127\.0\.0\.1\) but never asked for sha256:/,
    );
  });

  test("only a HEAD for the layer: Clair checked it but never downloaded it", async () => {
    const server = await serve();
    assert.equal((await fetchRaw(server.urlFor(layer.digest), { method: "HEAD" })).status, 200);
    await waitFor(() => server.requests().length === 1, "the request to be recorded");
    const text = explainFetchFailure(server, layer.digest, clairUrl);
    assert.match(text, /checked sha256:[a-f0-9]{12} .*\(HEAD\) but never downloaded it/);
  });

  test("the client hung up mid-download: says after how many bytes of how many", async () => {
    const server = await serve();
    const path = join(dir, "pending");
    await writeFile(path, Buffer.alloc(1000, 1));
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const digest = `sha256:${"c".repeat(64)}`;
    server.addPendingBlob(digest, { path, expectedSize: 5000, done });
    await new Promise<void>((resolve, reject) => {
      const req = request(server.urlFor(digest), (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
      req.once("error", reject);
      req.end();
    });
    await waitFor(() => server.requests().length === 1, "the cut response to be recorded");
    finish();
    const text = explainFetchFailure(server, digest, clairUrl);
    assert.match(
      text,
      /started downloading sha256:cccccccccccc .* but the connection closed after 1000 of 5000 bytes/,
    );
  });

  test("a cached file of the wrong size: the layer server could not serve it", async () => {
    const bad = writeBlob(dir, 50);
    const server = await startLayerServer({
      clairUrl,
      blobs: [{ digest: bad.digest, path: bad.path, size: 51 }],
    });
    after(() => server.close());
    assert.equal((await fetchRaw(server.urlFor(bad.digest))).status, 500);
    const text = explainFetchFailure(server, bad.digest, clairUrl);
    assert.match(
      text,
      /could not serve sha256:[a-f0-9]{12} to Clair: the cached file does not have the blob's size/,
    );
  });
});
