import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { gzipSync } from "node:zlib";
import {
  apiTarget,
  ClairHttp,
  type ClairResponse,
  extractClairMessage,
  mapStatusError,
  redactHeaders,
  scrubSecrets,
} from "../../src/clair/http.ts";
import { ClairError, ExitCode } from "../../src/errors.ts";
import { collectDebug, findClosedPort, type LocalServer, startHttpServer } from "./helpers.ts";

function response(status: number, body: string, contentType = "application/json"): ClairResponse {
  const bytes = Buffer.from(body);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return {
    method: "GET",
    url: "http://127.0.0.1:6060/indexer/api/v1/index_report/sha256:abc",
    status,
    statusText: "",
    headers: { "content-type": contentType },
    contentType,
    body: bytes,
    json,
    debug: ["GET http://127.0.0.1:6060/indexer/api/v1/index_report/sha256:abc"],
  };
}

function options(overrides: Partial<ConstructorParameters<typeof ClairHttp>[0]> = {}) {
  return {
    timeout: 5_000,
    headers: {},
    tls: { ca: "", insecureSkipVerify: false },
    ...overrides,
  };
}

describe("redaction", () => {
  it("hides Authorization and every clair.headers name, whatever their case", () => {
    const out = redactHeaders(
      { Authorization: "Bearer abc", "X-Api-Key": "k1", Accept: "application/json" },
      new Set(["authorization", "x-api-key"]),
    );
    assert.deepEqual(out, {
      Authorization: "[redacted]",
      "X-Api-Key": "[redacted]",
      Accept: "application/json",
    });
  });

  it("removes secret values wherever they appear in a line", () => {
    assert.equal(
      scrubSecrets('< body: {"echo":"tok123"} tok123', ["tok123"]),
      '< body: {"echo":"[redacted]"} [redacted]',
    );
  });

  it("removes credentials it was not told about, as Clair 2.x echoes a layer's Headers", () => {
    const line = scrubSecrets(
      '< body: {"Layer":{"Headers":{"Authorization":"Bearer eyJhbGc.iOiJ-SUz_I1"}}}',
      [],
    );
    assert.equal(line, '< body: {"Layer":{"Headers":{"Authorization":"Bearer [redacted]"}}}');
    assert.equal(scrubSecrets("Authorization: Basic dXNlcjpwYXNz", []), "Authorization: Basic [redacted]");
  });
});

describe("Clair's error bodies and status mapping", () => {
  it("reads v1 {Error:{Message}}, v4 {code,message} and short text answers", () => {
    assert.equal(
      extractClairMessage(response(400, '{"Error":{"Message":"could not find layer"}}')),
      "could not find layer",
    );
    assert.equal(
      extractClairMessage(response(500, '{"code":"internal-error","message":"fetcher: layer gone"}')),
      "fetcher: layer gone",
    );
    assert.equal(
      extractClairMessage(response(404, "404 page not found\n", "text/plain")),
      "404 page not found",
    );
    assert.equal(extractClairMessage(response(502, "<html>bad gateway</html>", "text/html")), undefined);
  });

  it("maps 5xx to a one-line ClairError (exit 3) that carries Clair's message", () => {
    const error = mapStatusError(response(500, '{"code":"internal-error","message":"database is down"}'), {
      target: apiTarget,
      signed: false,
    });
    assert.equal(error.exitCode, ExitCode.external);
    assert.equal(error.status, 500);
    assert.match(error.message, /failed \(HTTP 500\): database is down$/);
    assert.ok(!error.message.includes("\n"));
    assert.deepEqual(error.debug, ["GET http://127.0.0.1:6060/indexer/api/v1/index_report/sha256:abc"]);
  });

  it("maps 401 to 'Clair refused the request' with a hint that depends on whether a key is configured", () => {
    const noKey = mapStatusError(response(401, ""), { target: apiTarget, signed: false });
    assert.equal(noKey.message, "Clair refused the request (401 Unauthorized)");
    assert.match(noKey.hint ?? "", /this Clair requires a PSK: set clair\.psk\.key/);
    const withKey = mapStatusError(response(401, ""), { target: apiTarget, signed: true, issuer: "ci" });
    assert.match(withKey.hint ?? "", /clair\.psk\.key/);
    assert.match(withKey.hint ?? "", /"ci"/);
  });

  it("uses the per-call message for a status that means something for that call", () => {
    const error = mapStatusError(response(404, '{"code":"not-found","message":"no such manifest"}'), {
      target: apiTarget,
      signed: false,
      message: { message: "Clair has no index report for sha256:abc", hint: "push the image first" },
    });
    assert.equal(error.message, "Clair has no index report for sha256:abc: no such manifest");
    assert.equal(error.hint, "push the image first");
  });
});

describe("ClairHttp against local servers", () => {
  let html: LocalServer;
  let echo: LocalServer;
  let gzipPlain: LocalServer;
  let failing: LocalServer;

  before(async () => {
    html = await startHttpServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>Welcome to nginx!</title>");
    });
    // Answers with the request headers it got, like a misbehaving proxy would, to prove they are scrubbed.
    echo = await startHttpServer((req, res) => {
      res.writeHead(200, {
        "Content-Type": "application/json",
        "X-Seen-Key": String(req.headers["x-api-key"]),
      });
      res.end(JSON.stringify({ state: "abc", seen: req.headers }));
    });
    // v4's POST index_report answers JSON sniffed as text/plain, and compresses when asked (NOTES.md §2.3).
    gzipPlain = await startHttpServer((req, res) => {
      const gzip = String(req.headers["accept-encoding"] ?? "").includes("gzip");
      res.writeHead(201, {
        "Content-Type": "text/plain; charset=utf-8",
        ...(gzip ? { "Content-Encoding": "gzip" } : {}),
      });
      const body = Buffer.from('{"state":"IndexFinished","success":true}');
      res.end(gzip ? gzipSync(body) : body);
    });
    failing = await startHttpServer((_req, res) => {
      res.writeHead(500, { "Content-Type": "application/json;charset=utf-8", Server: "clair" });
      res.end('{"Error":{"Message":"could not connect to the database"}}');
    });
  });

  after(async () => {
    await Promise.all([html.close(), echo.close(), gzipPlain.close(), failing.close()]);
  });

  it("parses gzipped JSON sent as text/plain", async () => {
    const http = new ClairHttp(options());
    const res = await http.request({
      method: "POST",
      url: `${gzipPlain.url}/x`,
      body: {},
      ok: [201],
      json: true,
    });
    assert.deepEqual(res.json, { state: "IndexFinished", success: true });
  });

  it("turns HTML where JSON was expected into 'something that is not JSON (text/html, 200)'", async () => {
    const http = new ClairHttp(options());
    await assert.rejects(
      http.request({ method: "GET", url: `${html.url}/indexer/api/v1/index_state`, json: true }),
      (error) => {
        assert.ok(error instanceof ClairError);
        assert.equal(
          error.message,
          `Clair at ${html.url}/indexer/api/v1/index_state answered with something that is not JSON (text/html, 200)`,
        );
        assert.match(error.hint ?? "", /is clair\.url \(--clair-url\) pointing at Clair\?/);
        assert.ok(error.debug.some((line) => line.includes("Welcome to nginx!")));
        return true;
      },
    );
  });

  it("includes Clair's v1 error message on a 500", async () => {
    const http = new ClairHttp(options());
    await assert.rejects(
      http.request({ method: "GET", url: `${failing.url}/v1/namespaces`, json: true }),
      (error) => {
        assert.ok(error instanceof ClairError);
        assert.equal(error.status, 500);
        assert.match(error.message, /HTTP 500 Internal Server Error\): could not connect to the database$/);
        return true;
      },
    );
  });

  it("sends clair.headers and the PSK token, and never shows either in debug lines", async () => {
    const { lines, debug } = collectDebug();
    const http = new ClairHttp(
      options({ headers: { "X-Api-Key": "header-secret-1" }, sign: async () => "token-secret-2", debug }),
    );
    const res = await http.request({
      method: "GET",
      url: `${echo.url}/indexer/api/v1/index_state`,
      json: true,
    });
    const seen = (res.json as { seen: Record<string, string> }).seen;
    assert.equal(seen["x-api-key"], "header-secret-1");
    assert.equal(seen["authorization"], "Bearer token-secret-2");
    const text = lines.join("\n");
    assert.ok(lines.length > 3);
    assert.match(text, /^GET http:\/\/127\.0\.0\.1:\d+\/indexer\/api\/v1\/index_state$/m);
    assert.match(text, /^> Authorization: \[redacted\]$/m);
    assert.match(text, /^> X-Api-Key: \[redacted\]$/m);
    assert.match(text, /^< 200 OK/m);
    assert.ok(!text.includes("header-secret-1"), text);
    assert.ok(!text.includes("token-secret-2"), text);
    assert.deepEqual(res.debug, lines);
  });

  it("cuts the body preview in debug lines at 500 bytes", async () => {
    const big = await startHttpServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ state: "x".repeat(2000) }));
    });
    try {
      const http = new ClairHttp(options());
      const res = await http.request({ method: "GET", url: big.url, json: true });
      const bodyLine = res.debug.find((line) => line.startsWith("< body: "))!;
      assert.ok(bodyLine.length < 600, `${bodyLine.length}`);
      assert.match(bodyLine, /… \(2012 bytes\)$/);
    } finally {
      await big.close();
    }
  });

  it("maps a closed port to 'cannot reach Clair at … (connection refused)' with a hint on clair.url", async () => {
    const port = await findClosedPort();
    const http = new ClairHttp(options());
    await assert.rejects(
      http.request({ method: "GET", url: `http://127.0.0.1:${port}/v1/namespaces` }),
      (error) => {
        assert.ok(error instanceof ClairError);
        assert.equal(error.exitCode, ExitCode.external);
        assert.equal(error.message, `cannot reach Clair at http://127.0.0.1:${port} (connection refused)`);
        assert.match(error.hint ?? "", /clair\.url/);
        return true;
      },
    );
  });

  it("keeps the token out of the error and its cause, however deeply it is inspected", async () => {
    const port = await findClosedPort();
    const http = new ClairHttp(
      options({ sign: async () => "token-secret-3", headers: { "X-Api-Key": "header-secret-4" } }),
    );
    const error = await http
      .request({ method: "GET", url: `http://127.0.0.1:${port}/` })
      .catch((e: unknown) => e);
    assert.ok(error instanceof ClairError);
    const dump = inspect(error, { depth: 20, showHidden: true });
    assert.match(dump, /ECONNREFUSED/);
    assert.ok(!dump.includes("token-secret-3"));
    assert.ok(!dump.includes("header-secret-4"));
  });

  it("maps a server that never answers to a timeout naming the limit", async () => {
    const silent = await startHttpServer(() => {});
    try {
      const http = new ClairHttp(options({ timeout: 300 }));
      await assert.rejects(http.request({ method: "GET", url: silent.url }), (error) => {
        assert.ok(error instanceof ClairError);
        assert.equal(error.message, `cannot reach Clair at ${silent.url} (no answer within 300 ms)`);
        return true;
      });
    } finally {
      await silent.close();
    }
  });

  it("maps an unknown host name to 'host not found'", async () => {
    const http = new ClairHttp(options());
    await assert.rejects(
      http.request({ method: "GET", url: "http://clair.invalid:6060/v1/namespaces" }),
      (error) => {
        assert.ok(error instanceof ClairError);
        assert.match(
          error.message,
          /^cannot reach Clair at http:\/\/clair\.invalid:6060 \((host not found|host name lookup failed)\)$/,
        );
        return true;
      },
    );
  });
});
