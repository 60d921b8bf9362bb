import assert from "node:assert/strict";
import { appendFile, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { type LayerServer, type LayerServerEvent, startLayerServer } from "../../src/serve/layer-server.ts";
import { type BlobOnDisk, fetchRaw, makeTempDir, sha256Hex, waitFor, writeBlob } from "./helpers.ts";

const clairUrl = "http://127.0.0.1:6060";

describe("layer server: serving registered blobs", () => {
  const dir = makeTempDir();
  // Larger than the server's read chunk, so a body spans several reads; odd sizes catch off-by-one errors.
  const big = writeBlob(dir, 3 * 1024 * 1024 + 123);
  const small = writeBlob(dir, 1000);
  const unregistered = writeBlob(dir, 10);
  const events: LayerServerEvent[] = [];
  let server: LayerServer;

  before(async () => {
    server = await startLayerServer({
      clairUrl,
      blobs: [
        { digest: big.digest, path: big.path, size: big.data.length },
        { digest: small.digest, path: small.path },
      ],
      onRequest: (event) => events.push(event),
    });
  });
  after(() => server.close());

  test("urls live under a per-run 32-byte base64url token and /blobs/sha256/<hex>", async () => {
    const url = new URL(server.urlFor(big.digest));
    const [, token, blobs, algorithm, hex] = url.pathname.split("/");
    assert.match(token ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.equal(blobs, "blobs");
    assert.equal(algorithm, "sha256");
    assert.equal(hex, big.digest.slice("sha256:".length));
    assert.equal(`${url.protocol}//${url.host}`, server.address.advertised);
    const other = await startLayerServer({ clairUrl, blobs: [] });
    try {
      assert.notEqual(new URL(other.urlFor(big.digest)).pathname.split("/")[1], token);
    } finally {
      await other.close();
    }
  });

  test("GET serves exactly the file's bytes with exact Content-Length and octet-stream", async () => {
    const before = server.stats(big.digest);
    const got = await fetchRaw(server.urlFor(big.digest));
    assert.equal(got.status, 200);
    assert.equal(got.aborted, false);
    assert.equal(got.headers["content-length"], String(big.data.length));
    assert.equal(got.headers["content-type"], "application/octet-stream");
    assert.equal(got.headers["accept-ranges"], "bytes");
    assert.equal(got.body.length, big.data.length);
    assert.equal(`sha256:${sha256Hex(got.body)}`, big.digest);
    await waitFor(() => server.stats(big.digest).completed > before.completed, "the response to be recorded");
    const after = server.stats(big.digest);
    assert.deepEqual(after, {
      requests: before.requests + 1,
      bytes: before.bytes + big.data.length,
      completed: before.completed + 1,
    });
    const end = events.findLast((e) => e.type === "end" && e.digest === big.digest);
    assert.ok(end && end.type === "end");
    assert.equal(end.status, 200);
    assert.equal(end.bytes, big.data.length);
    assert.equal(end.complete, true);
    assert.ok(
      events.some((e) => e.type === "start" && e.digest === big.digest && e.total === big.data.length),
    );
  });

  test("HEAD answers the size without a body and counts as a request, not a download", async () => {
    const before = server.stats(small.digest);
    const got = await fetchRaw(server.urlFor(small.digest), { method: "HEAD" });
    assert.equal(got.status, 200);
    assert.equal(got.headers["content-length"], String(small.data.length));
    assert.equal(got.headers["content-type"], "application/octet-stream");
    assert.equal(got.body.length, 0);
    const after = server.stats(small.digest);
    assert.equal(after.requests, before.requests + 1);
    assert.equal(after.completed, before.completed);
    assert.equal(after.bytes, before.bytes);
  });

  const size = 3 * 1024 * 1024 + 123;
  const ranges: Array<[string, number, number]> = [
    ["bytes=0-0", 0, 0],
    ["bytes=100-2000000", 100, 2_000_000],
    [`bytes=${size - 10}-`, size - 10, size - 1],
    ["bytes=-500", size - 500, size - 1],
    [`bytes=5-${size + 1000}`, 5, size - 1],
    [`bytes=-${size + 5}`, 0, size - 1],
  ];
  for (const [header, start, end] of ranges) {
    test(`Range ${header} → 206 with Content-Range and exactly those bytes`, async () => {
      const got = await fetchRaw(server.urlFor(big.digest), { headers: { Range: header } });
      assert.equal(got.status, 206);
      assert.equal(got.headers["content-range"], `bytes ${start}-${end}/${size}`);
      assert.equal(got.headers["content-length"], String(end - start + 1));
      assert.equal(sha256Hex(got.body), sha256Hex(big.data.subarray(start, end + 1)));
    });
  }

  test("HEAD with a Range answers 206 headers only", async () => {
    const got = await fetchRaw(server.urlFor(big.digest), {
      method: "HEAD",
      headers: { Range: "bytes=10-19" },
    });
    assert.equal(got.status, 206);
    assert.equal(got.headers["content-range"], `bytes 10-19/${size}`);
    assert.equal(got.headers["content-length"], "10");
    assert.equal(got.body.length, 0);
  });

  for (const header of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, "bytes=-0"]) {
    test(`unsatisfiable Range ${header} → 416 with bytes */size`, async () => {
      const got = await fetchRaw(server.urlFor(big.digest), { headers: { Range: header } });
      assert.equal(got.status, 416);
      assert.equal(got.headers["content-range"], `bytes */${size}`);
      assert.equal(got.body.length, 0);
    });
  }

  for (const header of ["bytes=0-1,5-6", "items=0-5", "bytes=9-3"]) {
    test(`a Range it does not serve (${header}) is ignored: the whole blob, 200`, async () => {
      const got = await fetchRaw(server.urlFor(small.digest), { headers: { Range: header } });
      assert.equal(got.status, 200);
      assert.equal(got.body.length, small.data.length);
      assert.equal(`sha256:${sha256Hex(got.body)}`, small.digest);
    });
  }

  test("an If-Range that does not match the blob's ETag gets the whole blob", async () => {
    const got = await fetchRaw(server.urlFor(small.digest), {
      headers: { Range: "bytes=0-9", "If-Range": '"sha256:other"' },
    });
    assert.equal(got.status, 200);
    assert.equal(got.body.length, small.data.length);
  });

  test("unknown digests, other tokens and other paths get a bare 404", async () => {
    const good = new URL(server.urlFor(small.digest));
    const token = good.pathname.split("/")[1]!;
    const otherToken = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    const hex = small.digest.slice("sha256:".length);
    const paths = [
      `/${token}/blobs/sha256/${unregistered.digest.slice("sha256:".length)}`,
      `/${otherToken}/blobs/sha256/${hex}`,
      `/blobs/sha256/${hex}`,
      `/${token}/blobs/sha256/${hex}/extra`,
      `/${token}/blobs/sha256/${hex.toUpperCase()}`,
      `/${token}/`,
      "/",
      `/${token}/v2/x/blobs/sha256/${hex}`,
    ];
    for (const path of paths) {
      const got = await fetchRaw(`${good.origin}${path}`);
      assert.equal(got.status, 404, path);
      assert.equal(got.body.length, 0, path);
      assert.equal(got.headers["content-type"], undefined, path);
    }
    assert.equal(server.stats(unregistered.digest).requests, 0);
  });

  test("methods other than GET and HEAD get 405 on a blob path, 404 elsewhere", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const got = await fetchRaw(server.urlFor(small.digest), { method });
      assert.equal(got.status, 405, method);
      assert.equal(got.headers["allow"], "GET, HEAD");
      const elsewhere = await fetchRaw(`${server.address.advertised}/nothing`, { method });
      assert.equal(elsewhere.status, 404, method);
    }
  });

  test("a file whose size differs from the declared size is refused, not served", async () => {
    const dir2 = makeTempDir();
    const blob = writeBlob(dir2, 100);
    const other = await startLayerServer({
      clairUrl,
      blobs: [{ digest: blob.digest, path: blob.path, size: 99 }],
    });
    try {
      const got = await fetchRaw(other.urlFor(blob.digest));
      assert.equal(got.status, 500);
      assert.equal(got.body.length, 0);
      assert.equal(other.requests().at(-1)?.problem, "size-mismatch");
    } finally {
      await other.close();
    }
  });
});

describe("layer server: closing", () => {
  const dir = makeTempDir();
  const blob = writeBlob(dir, 64 * 1024);

  test("after close nothing answers, keep-alive sockets are closed, and close is idempotent", async () => {
    const server = await startLayerServer({ clairUrl, blobs: [{ digest: blob.digest, path: blob.path }] });
    const url = server.urlFor(blob.digest);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const got = await fetchRaw(url, { agent });
      assert.equal(got.status, 200);
      // The agent keeps the connection open for reuse; the server must not leave it open after close.
      const idle = Object.values(agent.freeSockets).flat();
      assert.equal(idle.length, 1);
      const socketClosed = new Promise<void>((resolve) => idle[0]!.once("close", () => resolve()));
      // The agent unrefs idle sockets; ref it so the test waits for the server to close it.
      idle[0]!.ref();
      await Promise.all([server.close(), server.close()]);
      await socketClosed;
      await assert.rejects(fetchRaw(url), (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED");
      await server.close();
    } finally {
      agent.destroy();
    }
  });

  test("close cuts a response in flight", async () => {
    const dir2 = makeTempDir();
    const path = join(dir2, "growing");
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const server = await startLayerServer({ clairUrl, blobs: [] });
    const digest = `sha256:${"a".repeat(64)}`;
    server.addPendingBlob(digest, { path, expectedSize: 1000, done });
    await writeFile(path, Buffer.alloc(10));
    const fetching = fetchRaw(server.urlFor(digest));
    await delay(100);
    await server.close();
    const got = await fetching;
    assert.equal(got.aborted, true);
    assert.ok(got.body.length < 1000);
    finish();
    await waitFor(() => server.requests().length > 0, "the response to be recorded");
    assert.equal(server.requests().at(-1)?.problem, "closed");
  });

  test("aborting the signal closes the server", async () => {
    const controller = new AbortController();
    const server = await startLayerServer({
      clairUrl,
      blobs: [{ digest: blob.digest, path: blob.path }],
      signal: controller.signal,
    });
    const url = server.urlFor(blob.digest);
    assert.equal((await fetchRaw(url)).status, 200);
    controller.abort();
    await server.close();
    await assert.rejects(fetchRaw(url), (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED");
  });
});

describe("layer server: blobs still being written", () => {
  const chunk = 256 * 1024;
  const chunks = 8;

  /** Writes `data` into `path` in `chunks` pieces with pauses; resolves `done` after a final pause. */
  function writeSlowly(
    path: string,
    data: Buffer,
    options: { failAfter?: number; createLate?: boolean } = {},
  ) {
    const timeline = { firstWrite: 0, lastWrite: 0, doneAt: 0 };
    const done = (async () => {
      if (options.createLate) await delay(150);
      await writeFile(path, Buffer.alloc(0));
      for (let i = 0; i < chunks; i++) {
        if (options.failAfter === i) {
          await delay(50);
          throw new Error("export failed");
        }
        await appendFile(path, data.subarray(i * chunk, (i + 1) * chunk));
        if (i === 0) timeline.firstWrite = performance.now();
        timeline.lastWrite = performance.now();
        await delay(60);
      }
      // The writer still holds the blob open (e.g. verifying its digest) before declaring it complete.
      await delay(250);
      timeline.doneAt = performance.now();
    })();
    return { done, timeline };
  }

  async function pendingSetup(
    options: { expectedSize?: boolean; failAfter?: number; createLate?: boolean } = {},
  ) {
    const dir = makeTempDir();
    const data = Buffer.alloc(chunk * chunks);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    const digest = `sha256:${sha256Hex(data)}`;
    const path = join(dir, "blob");
    const events: LayerServerEvent[] = [];
    const server = await startLayerServer({ clairUrl, blobs: [], onRequest: (e) => events.push(e) });
    after(() => server.close());
    const writer = writeSlowly(path, data, options);
    writer.done.catch(() => {});
    const pending: { path: string; done: Promise<void>; expectedSize?: number } = { path, done: writer.done };
    if (options.expectedSize) pending.expectedSize = data.length;
    server.addPendingBlob(digest, pending);
    return { server, data, digest, writer, events };
  }

  for (const expectedSize of [true, false]) {
    test(`GET streams the file as it grows and ends only after done (${expectedSize ? "Content-Length" : "chunked"})`, async () => {
      const { server, data, digest, writer, events } = await pendingSetup({ expectedSize, createLate: true });
      const got = await fetchRaw(server.urlFor(digest));
      assert.equal(got.status, 200);
      assert.equal(got.aborted, false);
      assert.equal(got.body.length, data.length);
      assert.equal(sha256Hex(got.body), digest.slice("sha256:".length));
      if (expectedSize) assert.equal(got.headers["content-length"], String(data.length));
      else assert.equal(got.headers["transfer-encoding"], "chunked");
      // Pipelining: the first bytes arrive while the writer is still writing.
      assert.ok(got.chunks[0]!.at < writer.timeline.lastWrite, "first bytes arrived before the last write");
      assert.ok(got.endedAt >= writer.timeline.doneAt, "the response ended after done resolved");
      await waitFor(() => server.stats(digest).completed === 1, "the response to be recorded");
      assert.deepEqual(server.stats(digest), { requests: 1, bytes: data.length, completed: 1 });
      assert.ok(events.some((e) => e.type === "progress" && e.digest === digest && e.bytes < data.length));
      // Once complete it is an ordinary blob: Range works.
      const ranged = await fetchRaw(server.urlFor(digest), { headers: { Range: "bytes=4-7" } });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.body.readUInt32LE(0), 4);
    });
  }

  test("a writer failure aborts the response in flight", async () => {
    const { server, data, digest } = await pendingSetup({ expectedSize: true, failAfter: 3 });
    const got = await fetchRaw(server.urlFor(digest));
    assert.equal(got.status, 200);
    assert.equal(got.aborted, true);
    assert.ok(got.body.length < data.length);
    await waitFor(() => server.requests().length > 0, "the response to be recorded");
    assert.equal(server.requests().at(-1)?.problem, "blob-failed");
    assert.equal(server.stats(digest).completed, 0);
  });

  test("a writer failure aborts a chunked response too", async () => {
    const { server, data, digest } = await pendingSetup({ failAfter: 2 });
    const got = await fetchRaw(server.urlFor(digest));
    assert.equal(got.aborted, true);
    assert.ok(got.body.length < data.length);
  });

  test("HEAD for a pending blob of unknown size waits for completion and gives the final size", async () => {
    const { server, data, digest, writer } = await pendingSetup();
    const got = await fetchRaw(server.urlFor(digest), { method: "HEAD" });
    assert.equal(got.status, 200);
    assert.equal(got.headers["content-length"], String(data.length));
    assert.ok(got.endedAt >= writer.timeline.doneAt);
  });

  test("HEAD for a pending blob of known size answers at once", async () => {
    const { server, data, digest, writer } = await pendingSetup({ expectedSize: true });
    const got = await fetchRaw(server.urlFor(digest), { method: "HEAD" });
    assert.equal(got.headers["content-length"], String(data.length));
    await writer.done;
    assert.ok(got.endedAt < writer.timeline.lastWrite, "HEAD answered before the writer finished");
  });

  test("a pending blob that failed is answered 500 to HEAD", async () => {
    const { server, digest } = await pendingSetup({ failAfter: 1 });
    const got = await fetchRaw(server.urlFor(digest), { method: "HEAD" });
    assert.equal(got.status, 500);
  });
});

// Kept apart so a failure here names the blob helper, not the server.
test("writeBlob names files by digest and fills them", () => {
  const dir = makeTempDir();
  const blob: BlobOnDisk = writeBlob(dir, 10);
  assert.equal(blob.data.length, 10);
  assert.match(blob.digest, /^sha256:[a-f0-9]{64}$/);
});
