import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import { connectClair } from "../../src/clair/index.ts";
import { findClosedPort, type LocalServer, makeClairConfig, startHttpServer } from "./helpers.ts";

// Health answers the emulator may not switch on (a failing database, a matcher still starting), given by
// small servers that answer the way Clair's health and introspection servers do (NOTES.md §1.1, §2.1).

function v1Api(): http.RequestListener {
  return (req, res) => {
    if (req.url === "/v1/namespaces") {
      res.writeHead(200, { "Content-Type": "application/json;charset=utf-8", Server: "clair" });
      res.end('{"Namespaces":[{"Name":"debian:8","VersionFormat":"dpkg"}]}');
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("404 page not found\n");
  };
}

function v4Api(): http.RequestListener {
  return (req, res) => {
    if (req.url === "/indexer/api/v1/index_state") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end('{"state":"aabbccddeeff00112233445566778899"}');
      return;
    }
    if (req.url === "/openapi/v1") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end('{"openapi":"3.1.0","info":{"title":"Clair Container Analyzer","version":"1.2.0"}}');
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end('{"code":"not-found","message":"not found"}');
  };
}

describe("health of a v1 Clair", () => {
  let api: LocalServer;
  let sick: LocalServer;
  let well: LocalServer;

  before(async () => {
    api = await startHttpServer(v1Api());
    well = await startHttpServer((req, res) => {
      res.writeHead(req.url === "/health" ? 200 : 404, { Server: "clair" });
      res.end();
    });
    sick = await startHttpServer((_req, res) => {
      res.writeHead(500, { Server: "clair" });
      res.end();
    });
  });

  after(async () => {
    await Promise.all([api.close(), sick.close(), well.close()]);
  });

  it("is healthy when the API and /health answer 200, and detects v1 on its own", async () => {
    const client = await connectClair(makeClairConfig({ url: api.url, health: { url: well.url, port: 0 } }));
    assert.equal(client.api, "v1");
    const health = await client.health();
    assert.equal(health.api, "v1");
    assert.equal(health.apiUrl, api.url);
    assert.equal(health.healthy, true);
    assert.match(health.version ?? "", /v1 API/);
    assert.deepEqual(
      health.checks.map((c) => [c.name, c.url, c.ok]),
      [
        ["api", `${api.url}/v1/namespaces`, true],
        ["health", `${well.url}/health`, true],
      ],
    );
    assert.match(health.checks[0]!.detail, /1 namespace\)/);
  });

  it("keeps a password in clair.url out of the health report", async () => {
    const withCredentials = api.url.replace("http://", "http://ci:pr0xy-pass@");
    const client = await connectClair(
      makeClairConfig({ url: withCredentials, health: { url: well.url, port: 0 } }),
    );
    const health = await client.health();
    assert.equal(health.healthy, true);
    assert.equal(client.url.replace(/\/$/, ""), api.url);
    assert.equal(health.apiUrl.replace(/\/$/, ""), api.url);
    assert.ok(!JSON.stringify(health).includes("pr0xy-pass"), JSON.stringify(health));
  });

  it("is unhealthy when /health answers 500", async () => {
    const client = await connectClair(makeClairConfig({ url: api.url, health: { url: sick.url, port: 0 } }));
    const health = await client.health();
    assert.equal(health.healthy, false);
    const check = health.checks.find((c) => c.name === "health")!;
    assert.equal(check.ok, false);
    assert.match(check.detail, /^Clair reports itself unhealthy \(HTTP 500\)/);
  });

  it("finds the health server on the API's host at clair.health.port", async () => {
    const client = await connectClair(
      makeClairConfig({ url: api.url, health: { url: "", port: well.port } }),
    );
    const health = await client.health();
    assert.equal(health.checks[1]!.url, `http://127.0.0.1:${well.port}/health`);
    assert.equal(health.healthy, true);
  });

  it("uses port 6061 on the API's host by default", async () => {
    const client = await connectClair(makeClairConfig({ url: api.url, api: "v1" }));
    const health = await client.health();
    assert.equal(health.checks[1]!.url, "http://127.0.0.1:6061/health");
  });

  it("says the health server cannot be reached, with a hint on clair.health.*", async () => {
    const port = await findClosedPort();
    const client = await connectClair(makeClairConfig({ url: api.url, health: { url: "", port } }));
    const health = await client.health();
    const check = health.checks.find((c) => c.name === "health")!;
    assert.equal(check.ok, false);
    assert.match(
      check.detail,
      new RegExp(
        `cannot reach Clair's health server at http://127\\.0\\.0\\.1:${port} \\(connection refused\\)`,
      ),
    );
    assert.match(check.detail, /clair\.health\.url or clair\.health\.port/);
    assert.equal(health.checks.find((c) => c.name === "api")!.ok, true);
  });
});

describe("health of a v4 Clair", () => {
  let api: LocalServer;
  let starting: LocalServer;
  let ready: LocalServer;

  before(async () => {
    api = await startHttpServer(v4Api());
    ready = await startHttpServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(req.url === "/healthz" ? "ok" : "");
    });
    starting = await startHttpServer((req, res) => {
      res.writeHead(req.url === "/readyz" ? 503 : 200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(req.url === "/healthz" ? "ok" : "");
    });
  });

  after(async () => {
    await Promise.all([api.close(), starting.close(), ready.close()]);
  });

  it("reports the spec version and index state, and healthz/readyz", async () => {
    const client = await connectClair(makeClairConfig({ url: api.url, health: { url: ready.url, port: 0 } }));
    assert.equal(client.api, "v4");
    const health = await client.health();
    assert.equal(health.healthy, true);
    assert.equal(health.version, "Clair v4 (API 1.2.0, index state aabbccddeeff)");
    assert.deepEqual(
      health.checks.map((c) => [c.name, c.ok]),
      [
        ["indexer", true],
        ["healthz", true],
        ["readyz", true],
      ],
    );
  });

  it("is unhealthy while /readyz answers 503", async () => {
    const client = await connectClair(
      makeClairConfig({ url: api.url, health: { url: starting.url, port: 0 } }),
    );
    const health = await client.health();
    assert.equal(health.healthy, false);
    const readyz = health.checks.find((c) => c.name === "readyz")!;
    assert.equal(readyz.ok, false);
    assert.match(readyz.detail, /^Clair is not ready \(HTTP 503\)/);
    assert.equal(health.checks.find((c) => c.name === "healthz")!.ok, true);
  });

  it("uses port 8089 on the API's host by default", async () => {
    const client = await connectClair(makeClairConfig({ url: api.url }));
    const health = await client.health();
    assert.equal(health.checks.find((c) => c.name === "healthz")!.url, "http://127.0.0.1:8089/healthz");
  });
});
