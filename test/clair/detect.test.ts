import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { detectApi } from "../../src/clair/detect.ts";
import { connectClair } from "../../src/clair/index.ts";
import { ClairError, ConfigError, ExitCode } from "../../src/errors.ts";
import {
  findClosedPort,
  type LocalServer,
  makeClairConfig,
  makeSelfSignedCert,
  type SelfSignedCert,
  startHttpServer,
  startHttpsServer,
} from "./helpers.ts";

// These servers give the answers the emulator does not: a web server, Go's plain 404, TLS. Detection
// against the emulator's v1 and v4 lives in clair-emulator.test.ts.

describe("detectApi without a Clair", () => {
  let html: LocalServer;
  let notFound: LocalServer;

  before(async () => {
    html = await startHttpServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<html><body>It works!</body></html>");
    });
    notFound = await startHttpServer((_req, res) => {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("404 page not found\n");
    });
  });

  after(async () => {
    await Promise.all([html.close(), notFound.close()]);
  });

  it("names the URL and what both probes saw when nothing answers like Clair", async () => {
    await assert.rejects(detectApi(makeClairConfig({ url: notFound.url })), (error) => {
      assert.ok(error instanceof ClairError);
      assert.equal(error.exitCode, ExitCode.external);
      assert.equal(
        error.message,
        `${notFound.url} answers HTTP 404 (text/plain) on both /v1/namespaces and /indexer/api/v1/index_state: is this a Clair URL?`,
      );
      assert.match(error.hint ?? "", /clair\.url/);
      return true;
    });
  });

  it("does not take a web page for Clair", async () => {
    await assert.rejects(
      detectApi(makeClairConfig({ url: html.url })),
      /answers HTTP 200 \(text\/html\) on both/,
    );
  });

  it("reports a closed port as 'cannot reach Clair … (connection refused)'", async () => {
    const port = await findClosedPort();
    await assert.rejects(detectApi(makeClairConfig({ url: `http://127.0.0.1:${port}` })), (error) => {
      assert.ok(error instanceof ClairError);
      assert.equal(error.message, `cannot reach Clair at http://127.0.0.1:${port} (connection refused)`);
      assert.match(error.hint ?? "", /clair\.url/);
      return true;
    });
  });

  it("skips probing when clair.api names the API", async () => {
    const port = await findClosedPort();
    const found = await detectApi(makeClairConfig({ url: `http://127.0.0.1:${port}/`, api: "v1" }));
    assert.deepEqual(found, {
      api: "v1",
      url: `http://127.0.0.1:${port}`,
      evidence: "clair.api is set to v1",
    });
  });

  it("rejects a URL that is not http(s) as a configuration error", async () => {
    await assert.rejects(detectApi(makeClairConfig({ url: "ftp://clair" })), ConfigError);
    await assert.rejects(detectApi(makeClairConfig({ url: "clair:6060 oops" })), ConfigError);
  });

  it("shows a non-JSON answer as a failed check in health when the API is forced", async () => {
    const client = await connectClair(
      makeClairConfig({ url: html.url, api: "v4", health: { url: html.url, port: 0 } }),
    );
    const health = await client.health();
    const indexer = health.checks.find((c) => c.name === "indexer")!;
    assert.equal(indexer.ok, false);
    assert.match(
      indexer.detail,
      /answered with something that is not JSON \(text\/html, 200\); is clair\.url/,
    );
    assert.equal(health.healthy, false);
  });
});

describe("detectApi over TLS", () => {
  let cert: SelfSignedCert;
  let server: LocalServer;

  before(async () => {
    cert = makeSelfSignedCert();
    const { readFileSync } = await import("node:fs");
    server = await startHttpsServer(
      { key: readFileSync(cert.keyPath, "utf8"), cert: readFileSync(cert.certPath, "utf8") },
      (req, res) => {
        if (req.url === "/indexer/api/v1/index_state") {
          res.writeHead(200, { "Content-Type": "application/vnd.clair.index_state.v1+json" });
          res.end('{"state":"0123456789abcdef0123456789abcdef"}');
          return;
        }
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("404 page not found\n");
      },
    );
  });

  after(async () => {
    await server.close();
    cert.remove();
  });

  it("says a self-signed certificate is a TLS problem and hints at clair.tls.ca", async () => {
    const url = `https://localhost:${server.port}`;
    await assert.rejects(detectApi(makeClairConfig({ url })), (error) => {
      assert.ok(error instanceof ClairError);
      assert.equal(error.exitCode, ExitCode.external);
      assert.equal(error.message, `TLS connection to Clair at ${url} failed (self-signed certificate)`);
      assert.match(error.hint ?? "", /clair\.tls\.ca/);
      assert.match(error.hint ?? "", /clair\.tls\.insecureSkipVerify/);
      return true;
    });
  });

  it("trusts the certificate through clair.tls.ca", async () => {
    const url = `https://localhost:${server.port}`;
    const found = await detectApi(
      makeClairConfig({ url, tls: { ca: cert.certPath, insecureSkipVerify: false } }),
    );
    assert.equal(found.api, "v4");
    assert.equal(found.url, url);
  });

  it("says when the certificate does not name the host, even with its CA trusted", async () => {
    const url = `https://127.0.0.1:${server.port}`;
    await assert.rejects(
      detectApi(makeClairConfig({ url, tls: { ca: cert.certPath, insecureSkipVerify: false } })),
      (error) => {
        assert.ok(error instanceof ClairError);
        assert.equal(
          error.message,
          `TLS connection to Clair at ${url} failed (certificate does not match the host name)`,
        );
        return true;
      },
    );
  });

  it("connects anyway with clair.tls.insecureSkipVerify", async () => {
    const url = `https://127.0.0.1:${server.port}`;
    const found = await detectApi(makeClairConfig({ url, tls: { ca: "", insecureSkipVerify: true } }));
    assert.equal(found.api, "v4");
  });

  it("says when the URL speaks https to a plain HTTP port", async () => {
    const plain = await startHttpServer((_req, res) => res.end());
    try {
      const url = `https://127.0.0.1:${plain.port}`;
      await assert.rejects(detectApi(makeClairConfig({ url })), (error) => {
        assert.ok(error instanceof ClairError);
        assert.equal(
          error.message,
          `TLS connection to Clair at ${url} failed (the server does not speak TLS)`,
        );
        assert.match(error.hint ?? "", /http:\/\//);
        return true;
      });
    } finally {
      await plain.close();
    }
  });

  it("rejects an unreadable clair.tls.ca as a configuration error", async () => {
    await assert.rejects(
      detectApi(
        makeClairConfig({
          url: `https://localhost:${server.port}`,
          tls: { ca: "/nonexistent/ca.pem", insecureSkipVerify: false },
        }),
      ),
      ConfigError,
    );
  });
});
