import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { ConfigError, EnvironmentError } from "../../src/errors.ts";
import { findAddressTowardClair, parseAdvertise, parseListen } from "../../src/serve/address.ts";
import { startLayerServer } from "../../src/serve/layer-server.ts";
import { fetchRaw, makeTempDir, writeBlob } from "./helpers.ts";

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("serve.listen and serve.advertise parsing", () => {
  const cases: Array<[string, { host: string; port: number }]> = [
    ["", { host: "", port: 0 }],
    ["  ", { host: "", port: 0 }],
    ["127.0.0.1", { host: "127.0.0.1", port: 0 }],
    ["0.0.0.0:8480", { host: "0.0.0.0", port: 8480 }],
    [":8480", { host: "", port: 8480 }],
    ["myhost:1", { host: "myhost", port: 1 }],
    ["::1", { host: "::1", port: 0 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["[::]", { host: "::", port: 0 }],
  ];
  for (const [value, expected] of cases) {
    test(`listen "${value}"`, () => assert.deepEqual(parseListen(value), expected));
  }
  for (const bad of ["host:port", "h:70000", "[nothost]:1", "1.2.3.4:-1", "::zz"]) {
    test(`listen "${bad}" is a ConfigError naming serve.listen`, () => {
      assert.throws(
        () => parseListen(bad),
        (error: unknown) => {
          return error instanceof ConfigError && error.message.includes("serve.listen");
        },
      );
    });
  }

  test("advertise forms", () => {
    assert.equal(parseAdvertise(""), undefined);
    assert.deepEqual(parseAdvertise("http://host.docker.internal"), {
      protocol: "http:",
      hostname: "host.docker.internal",
      port: undefined,
      pathPrefix: "",
    });
    assert.deepEqual(parseAdvertise("http://10.0.0.5:8480/"), {
      protocol: "http:",
      hostname: "10.0.0.5",
      port: 8480,
      pathPrefix: "",
    });
    // A port equal to the scheme's default is still the user's choice (a proxy on :80).
    assert.equal(parseAdvertise("http://proxy:80")?.port, 80);
    assert.equal(parseAdvertise("https://proxy.example/layers/")?.pathPrefix, "/layers");
    for (const bad of ["host:8480", "ftp://x", "http://u:p@x", "http://x/?a=1"]) {
      assert.throws(() => parseAdvertise(bad), ConfigError, bad);
    }
  });
});

describe("choosing the address", () => {
  const dir = makeTempDir();
  const blob = writeBlob(dir, 2048);

  for (const clairUrl of [
    "http://127.0.0.1:6060",
    "http://localhost:6060",
    "http://127.0.0.53:8080",
    "http://[::1]:6060",
  ]) {
    test(`Clair at ${clairUrl} (loopback) → the layer server listens on loopback`, async () => {
      const expected = clairUrl.includes("[::1]") ? "::1" : "127.0.0.1";
      assert.equal(await findAddressTowardClair(clairUrl), expected);
    });
  }

  test("the default server on loopback answers on the advertised URL", async () => {
    const server = await startLayerServer({ clairUrl: "http://localhost:6060", blobs: [blob] });
    try {
      assert.match(server.address.listen, /^127\.0\.0\.1:\d+$/);
      assert.equal(server.address.advertised, `http://${server.address.listen}`);
      const got = await fetchRaw(server.urlFor(blob.digest));
      assert.equal(got.status, 200);
      assert.equal(got.body.length, 2048);
    } finally {
      await server.close();
    }
  });

  test("serve.listen HOST:PORT is honoured", async () => {
    const port = await freePort();
    const server = await startLayerServer({
      clairUrl: "http://127.0.0.1:6060",
      listen: `127.0.0.1:${port}`,
      blobs: [blob],
    });
    try {
      assert.equal(server.address.listen, `127.0.0.1:${port}`);
      assert.equal(server.address.advertised, `http://127.0.0.1:${port}`);
      assert.equal((await fetchRaw(server.urlFor(blob.digest))).status, 200);
    } finally {
      await server.close();
    }
  });

  test("serve.listen :PORT keeps the address toward Clair and fixes the port", async () => {
    const port = await freePort();
    const server = await startLayerServer({
      clairUrl: "http://127.0.0.1:6060",
      listen: `:${port}`,
      blobs: [blob],
    });
    try {
      assert.equal(server.address.listen, `127.0.0.1:${port}`);
      assert.equal(
        (await fetchRaw(`http://127.0.0.1:${port}${new URL(server.urlFor(blob.digest)).pathname}`)).status,
        200,
      );
    } finally {
      await server.close();
    }
  });

  test("serve.listen 0.0.0.0 binds every interface and advertises the address toward Clair", async () => {
    const server = await startLayerServer({
      clairUrl: "http://127.0.0.1:6060",
      listen: "0.0.0.0",
      blobs: [blob],
    });
    try {
      const port = server.address.listen.split(":")[1];
      assert.equal(server.address.listen, `0.0.0.0:${port}`);
      assert.equal(server.address.advertised, `http://127.0.0.1:${port}`);
      assert.equal((await fetchRaw(server.urlFor(blob.digest))).status, 200);
    } finally {
      await server.close();
    }
  });

  test("serve.advertise with a port replaces the URL Clair is given; the server still listens where it did", async () => {
    const server = await startLayerServer({
      clairUrl: "http://127.0.0.1:6060",
      advertise: "http://host.docker.internal:9999",
      blobs: [blob],
    });
    try {
      assert.equal(server.address.advertised, "http://host.docker.internal:9999");
      const url = new URL(server.urlFor(blob.digest));
      assert.equal(url.host, "host.docker.internal:9999");
      assert.match(url.pathname, /^\/[A-Za-z0-9_-]{43}\/blobs\/sha256\/[a-f0-9]{64}$/);
      // The same path answers on the real listening address (what a port forward would reach).
      assert.equal((await fetchRaw(`http://${server.address.listen}${url.pathname}`)).status, 200);
    } finally {
      await server.close();
    }
  });

  test("serve.advertise without a port takes the listening port", async () => {
    const server = await startLayerServer({
      clairUrl: "http://127.0.0.1:6060",
      advertise: "http://clair-host-alias",
      blobs: [blob],
    });
    try {
      const port = server.address.listen.split(":").at(-1);
      assert.equal(server.address.advertised, `http://clair-host-alias:${port}`);
    } finally {
      await server.close();
    }
  });

  test("serve.advertise with a path prefix keeps it in front of the per-run path", async () => {
    const server = await startLayerServer({
      clairUrl: "http://127.0.0.1:6060",
      advertise: "http://proxy:8080/layers/",
      blobs: [blob],
    });
    try {
      assert.match(
        server.urlFor(blob.digest),
        /^http:\/\/proxy:8080\/layers\/[A-Za-z0-9_-]{43}\/blobs\/sha256\//,
      );
    } finally {
      await server.close();
    }
  });

  test("a port already taken is an EnvironmentError that says how to fix it", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      await assert.rejects(
        startLayerServer({ clairUrl: "http://127.0.0.1:6060", listen: `127.0.0.1:${port}`, blobs: [] }),
        (error: unknown) =>
          error instanceof EnvironmentError &&
          error.message.includes(`127.0.0.1:${port}`) &&
          (error.hint ?? "").includes("serve.listen"),
      );
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  test("a bad serve.advertise is refused before anything listens", async () => {
    await assert.rejects(
      startLayerServer({ clairUrl: "http://127.0.0.1:6060", advertise: "not a url", blobs: [] }),
      ConfigError,
    );
  });
});
