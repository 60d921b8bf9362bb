import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RegistryError } from "../../../src/errors.ts";
import { parseRetryAfter } from "../../../src/http/common.ts";
import { parseReference } from "../../../src/image/reference.ts";
import { parseChallenges } from "../../../src/image/registry/challenge.ts";
import { isProxyBypassed, proxyFor } from "../../../src/image/registry/proxy.ts";
import { resolveRegistryImage } from "../../../src/image/registry/resolve.ts";
import { schemeFor } from "../../../src/image/registry/transport.ts";
import { harnessEnv } from "../../infra/env.ts";
import {
  type ForwardProxy,
  type IsolatedHome,
  isolatedHome,
  startForwardProxy,
  startFront,
  startTlsFront,
  testConfig,
} from "./helpers.ts";

describe("registry transport, pure parts", () => {
  it("parses WWW-Authenticate challenges, quoted commas included", () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.example/token",
            service: "registry.example",
            scope: "repository:a/b:pull,push",
          },
        },
      ],
    );
    assert.deepEqual(parseChallenges('Basic realm="basic-realm"'), [
      { scheme: "basic", params: { realm: "basic-realm" } },
    ]);
    assert.deepEqual(
      parseChallenges('Basic realm="a \\"q\\"", Bearer realm="r",error="insufficient_scope"').map(
        (c) => c.scheme,
      ),
      ["basic", "bearer"],
    );
    assert.equal(parseChallenges('Basic realm="a \\"q\\""')[0]!.params["realm"], 'a "q"');
  });

  it("reads NO_PROXY the way curl does", () => {
    const cases: Array<[string, string, boolean]> = [
      ["http://127.0.0.1:5000/v2/", "", false],
      ["http://127.0.0.1:5000/v2/", "*", true],
      ["http://127.0.0.1:5000/v2/", "127.0.0.1", true],
      ["http://127.0.0.1:5000/v2/", "127.0.0.1:5000", true],
      ["http://127.0.0.1:5000/v2/", "127.0.0.1:5001", false],
      ["http://127.0.0.1:5000/v2/", "127.0.0.0/8", true],
      ["http://localhost:5000/v2/", "example.com", false],
      ["https://registry.example.com/v2/", "example.com", true],
      ["https://registry.example.com/v2/", ".example.com", true],
      ["https://example.com/v2/", ".example.com", true],
      ["https://notexample.com/v2/", "example.com", false],
      ["https://ghcr.io/v2/", "foo.io, ghcr.io", true],
      ["https://ghcr.io/v2/", "ghcr.io:443", true],
      ["http://[::1]:5000/v2/", "[::1]", true],
    ];
    for (const [url, noProxy, bypassed] of cases) {
      assert.equal(
        isProxyBypassed(new URL(url), noProxy || undefined),
        bypassed,
        `${url} NO_PROXY=${noProxy}`,
      );
    }
  });

  it("picks the proxy variable by scheme, lower case first, and keeps credentials out of the URL", () => {
    const env = {
      HTTPS_PROXY: "http://u:p%40ss@proxy.example:3128",
      http_proxy: "proxy.local:8080",
      HTTP_PROXY: "http://other:1",
    };
    const https = proxyFor(new URL("https://ghcr.io/v2/"), env);
    assert.equal(https?.url.toString(), "http://proxy.example:3128/");
    assert.equal(https?.authorization, `Basic ${Buffer.from("u:p@ss").toString("base64")}`);
    assert.equal(proxyFor(new URL("http://127.0.0.1:5000/v2/"), env)?.url.host, "proxy.local:8080");
    assert.equal(
      proxyFor(new URL("http://127.0.0.1:5000/v2/"), { ...env, no_proxy: "127.0.0.1" }),
      undefined,
    );
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    const now = Date.parse("2024-01-01T00:00:00Z");
    assert.equal(parseRetryAfter("Mon, 01 Jan 2024 00:00:05 GMT", now), 5000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it("speaks plain HTTP only to loopback and registry.insecure hosts", () => {
    assert.equal(schemeFor("127.0.0.1:5000", []), "http");
    assert.equal(schemeFor("localhost", []), "http");
    assert.equal(schemeFor("[::1]:5000", []), "http");
    assert.equal(schemeFor("registry.lan:5000", []), "https");
    assert.equal(schemeFor("registry.lan:5000", ["registry.lan:5000"]), "http");
    assert.equal(schemeFor("registry.lan:5000", ["http://registry.lan"]), "http");
    assert.equal(schemeFor("ghcr.io", ["registry.lan"]), "https");
  });
});

describe("registry transport against the plain registry", () => {
  const env = harnessEnv();
  const config = testConfig();
  const debian11 = env.images.images.debian11;
  let home: IsolatedHome;
  let proxy: ForwardProxy;
  before(async () => {
    home = await isolatedHome();
    proxy = await startForwardProxy();
  });
  after(async () => {
    await proxy.close();
    await home.cleanup();
  });

  it("retries a 429 after the Retry-After delay, then succeeds", async () => {
    let throttled = 0;
    const front = await startFront(env.registry, (request) => {
      if (request.url.includes("/manifests/") && throttled === 0) {
        throttled++;
        return {
          status: 429,
          headers: { "retry-after": "1" },
          body: '{"errors":[{"code":"TOOMANYREQUESTS"}]}',
        };
      }
      return "forward";
    });
    try {
      const started = Date.now();
      const [image] = await resolveRegistryImage(parseReference(`${front.address}/${debian11.refs.oci}`), {
        config,
        env: home.env,
      });
      assert.equal(image!.digest, debian11.ociManifest.digest);
      assert.equal(throttled, 1);
      assert.ok(Date.now() - started >= 950, "waited for Retry-After");
      assert.equal(front.requests.filter((r) => r.url.includes("/manifests/")).length, 2);
    } finally {
      await front.close();
    }
  });

  it("gives up after a bounded number of 503s with a one-line error", async () => {
    const front = await startFront(env.registry, (request) =>
      request.url.includes("/manifests/") ? { status: 503, body: "" } : "forward",
    );
    try {
      const { createRegistryClient } = await import("../../../src/image/registry/client.ts");
      const client = createRegistryClient({
        config,
        env: home.env,
        retry: { maxAttempts: 3, backoffMs: 10 },
      });
      await assert.rejects(
        resolveRegistryImage(parseReference(`${front.address}/${debian11.refs.oci}`), { config, client }),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError);
          assert.match(error.message, /HTTP 503/);
          assert.match(error.hint ?? "", /try again later/);
          return true;
        },
      );
      assert.equal(front.requests.filter((r) => r.url.includes("/manifests/")).length, 3);
    } finally {
      await front.close();
    }
  });

  it("sends requests through HTTP_PROXY, loopback included", async () => {
    proxy.seen.length = 0;
    for (const variable of ["HTTP_PROXY", "http_proxy"]) {
      const [image] = await resolveRegistryImage(parseReference(`${env.registry}/${debian11.refs.oci}`), {
        config,
        env: { ...home.env, [variable]: proxy.url },
      });
      assert.equal(image!.digest, debian11.ociManifest.digest);
    }
    assert.ok(proxy.seen.includes(`GET http://${env.registry}/v2/`));
    assert.ok(proxy.seen.includes(`GET http://${env.registry}/v2/test/debian11/manifests/latest`));
    assert.ok(
      proxy.seen.includes(`GET http://${env.registry}/v2/test/debian11/blobs/${debian11.config.digest}`),
    );
  });

  it("goes direct for hosts NO_PROXY lists, and through the proxy for the others", async () => {
    const [host, port] = env.registry.split(":") as [string, string];
    for (const [noProxy, proxied] of [
      [host, false],
      [`${host}:${port}`, false],
      ["*", false],
      [`${host}:1`, true],
      ["example.com", true],
    ] as const) {
      proxy.seen.length = 0;
      await resolveRegistryImage(parseReference(`${env.registry}/${debian11.refs.oci}`), {
        config,
        env: { ...home.env, HTTP_PROXY: proxy.url, NO_PROXY: noProxy },
      });
      assert.equal(proxy.seen.length > 0, proxied, `NO_PROXY=${noProxy}`);
    }
  });

  it("reaches an https registry through an HTTPS_PROXY CONNECT tunnel, trusting registry.tls.ca", async () => {
    const hostname = "registry.hyperclair.test";
    const front = await startTlsFront(env.registry, hostname, home.dir);
    const tunnel = await startForwardProxy({ connectTo: () => `127.0.0.1:${front.port}` });
    try {
      const reference = parseReference(`${hostname}:${front.port}/${debian11.refs.oci}`);
      const proxied = { ...home.env, HTTPS_PROXY: tunnel.url };
      const [image] = await resolveRegistryImage(reference, {
        config: testConfig({ tls: { ca: front.caFile, insecureSkipVerify: false } }),
        env: proxied,
      });
      assert.equal(image!.digest, debian11.ociManifest.digest);
      assert.equal(
        image!.layers[0]!.location.kind === "registry" &&
          image!.layers[0]!.location.url.startsWith(`https://${hostname}:`),
        true,
      );
      assert.ok(tunnel.seen.includes(`CONNECT ${hostname}:${front.port}`));
      // Without the CA the certificate is not trusted, and the error says what to configure.
      await assert.rejects(resolveRegistryImage(reference, { config, env: proxied }), (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.match(error.hint ?? "", /registry\.tls\.ca/);
        return true;
      });
    } finally {
      await tunnel.close();
      await front.close();
    }
  });

  it("names the proxy when it cannot be reached", async () => {
    await assert.rejects(
      resolveRegistryImage(parseReference(`${env.registry}/${debian11.refs.oci}`), {
        config,
        env: { ...home.env, HTTP_PROXY: "http://127.0.0.1:1" },
      }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.match(error.message, /via proxy http:\/\/127\.0\.0\.1:1/);
        assert.match(error.hint ?? "", /proxy settings/);
        return true;
      },
    );
  });
});
