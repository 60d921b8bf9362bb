import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { detectApi } from "../../src/clair/detect.ts";
import { createClairHttp } from "../../src/clair/http.ts";
import { connectClair } from "../../src/clair/index.ts";
import { ClairError, ExitCode } from "../../src/errors.ts";
import { startEmulator } from "../emulator/index.ts";
import { collectDebug, findClosedPort, makeClairConfig } from "./helpers.ts";

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

// Clair's local-dev PSK is base64("secret"); the wrong one is base64("not the key").
const PSK = Buffer.from("secret").toString("base64");
const WRONG_PSK = Buffer.from("not the key").toString("base64");

describe("Clair v1 (emulated Clair 2.x)", () => {
  let clair: Emulator;
  before(async () => {
    clair = await startEmulator({ api: "v1" });
  });
  after(async () => {
    await clair.close();
  });

  it("is detected as v1", async () => {
    const found = await detectApi(makeClairConfig({ url: clair.url }));
    assert.equal(found.api, "v1");
    assert.equal(found.url, clair.url.replace(/\/+$/, ""));
    assert.match(found.evidence, /\/v1\/namespaces/);
  });

  it("is healthy through its health server", async () => {
    const client = await connectClair(
      makeClairConfig({ url: clair.url, health: { url: clair.healthUrl, port: 0 } }),
    );
    const health = await client.health();
    assert.equal(health.api, "v1");
    assert.equal(health.healthy, true, JSON.stringify(health.checks));
    assert.deepEqual(
      health.checks.map((c) => [c.name, c.ok]),
      [
        ["api", true],
        ["health", true],
      ],
    );
  });

  it("carries Clair's own message when the API answers 500", async () => {
    clair.setFaults({ errors: { status: 500, count: 1, route: "/v1/namespaces" } });
    const client = await connectClair(
      makeClairConfig({ url: clair.url, api: "v1", health: { url: clair.healthUrl, port: 0 } }),
    );
    const api = (await client.health()).checks.find((c) => c.name === "api")!;
    assert.equal(api.ok, false);
    assert.match(api.detail, /failed \(HTTP 500 Internal Server Error\): emulated internal error/);
  });

  it("fails the health check when the health port is wrong", async () => {
    const port = await findClosedPort();
    const client = await connectClair(makeClairConfig({ url: clair.url, health: { url: "", port } }));
    const health = await client.health();
    assert.equal(health.healthy, false);
    assert.equal(health.checks.find((c) => c.name === "api")!.ok, true);
    assert.match(health.checks.find((c) => c.name === "health")!.detail, /connection refused/);
  });
});

describe("Clair v4 (emulated, combined mode)", () => {
  let clair: Emulator;
  before(async () => {
    clair = await startEmulator({ api: "v4" });
  });
  after(async () => {
    await clair.close();
  });

  it("is detected as v4 from its index state", async () => {
    const found = await detectApi(makeClairConfig({ url: clair.url }));
    assert.equal(found.api, "v4");
    assert.match(found.evidence, /index_state answered 200/);
  });

  it("is healthy: indexer, healthz and readyz", async () => {
    const client = await connectClair(
      makeClairConfig({ url: clair.url, health: { url: clair.healthUrl, port: 0 } }),
    );
    const health = await client.health();
    assert.equal(health.api, "v4");
    assert.equal(health.healthy, true, JSON.stringify(health.checks));
    assert.deepEqual(
      health.checks.map((c) => [c.name, c.ok]),
      [
        ["indexer", true],
        ["healthz", true],
        ["readyz", true],
      ],
    );
    assert.match(health.version ?? "", /index state/);
  });

  it("carries Clair's own message when the indexer answers 503, and says so when it answers non-JSON", async () => {
    const config = makeClairConfig({ url: clair.url, api: "v4", health: { url: clair.healthUrl, port: 0 } });
    clair.setFaults({ errors: { status: 503, count: 1, route: "index_state" } });
    const failing = (await (await connectClair(config)).health()).checks.find((c) => c.name === "indexer")!;
    assert.equal(failing.ok, false);
    assert.match(failing.detail, /failed \(HTTP 503 Service Unavailable\): emulated unavailable error/);
    clair.setFaults({ nonJson: { count: 1, route: "index_state" } });
    const garbled = (await (await connectClair(config)).health()).checks.find((c) => c.name === "indexer")!;
    assert.equal(garbled.ok, false);
    assert.match(garbled.detail, /answered with something that is not JSON/);
    clair.setFaults({});
  });

  it("fails healthz and readyz when the introspection port is wrong", async () => {
    const port = await findClosedPort();
    const client = await connectClair(
      makeClairConfig({ url: clair.url, health: { url: `http://127.0.0.1:${port}`, port: 0 } }),
    );
    const health = await client.health();
    assert.equal(health.healthy, false);
    assert.deepEqual(
      health.checks.filter((c) => !c.ok).map((c) => c.name),
      ["healthz", "readyz"],
    );
  });
});

describe("Clair v4 with PSK authentication (emulated)", () => {
  let clair: Emulator;
  before(async () => {
    clair = await startEmulator({ api: "v4", psk: PSK });
  });
  after(async () => {
    await clair.close();
  });

  it("is detected as v4 without a key, and health says this Clair requires a PSK", async () => {
    const config = makeClairConfig({ url: clair.url, health: { url: clair.healthUrl, port: 0 } });
    const found = await detectApi(config);
    assert.equal(found.api, "v4");
    assert.match(found.evidence, /401/);
    const health = await (await connectClair(config)).health();
    assert.equal(health.healthy, false);
    const indexer = health.checks.find((c) => c.name === "indexer")!;
    assert.equal(indexer.ok, false);
    assert.match(
      indexer.detail,
      /^Clair refused the request \(401 Unauthorized\); this Clair requires a PSK/,
    );
  });

  it("is healthy with the right key", async () => {
    const config = makeClairConfig({
      url: clair.url,
      health: { url: clair.healthUrl, port: 0 },
      psk: { key: PSK, keyFile: "", issuer: "hyperclair" },
    });
    const health = await (await connectClair(config)).health();
    assert.equal(health.healthy, true, JSON.stringify(health.checks));
  });

  it("maps a wrong key to ClairError 401 with a hint, and never shows the key or token", async () => {
    const { lines, debug } = collectDebug();
    const config = makeClairConfig({
      url: clair.url,
      health: { url: clair.healthUrl, port: 0 },
      psk: { key: WRONG_PSK, keyFile: "", issuer: "hyperclair" },
    });
    const http = createClairHttp(config, debug);
    const error: unknown = await http
      .request({
        method: "GET",
        url: `${clair.url.replace(/\/+$/, "")}/indexer/api/v1/index_state`,
        json: true,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof ClairError);
    assert.equal(error.exitCode, ExitCode.external);
    assert.equal(error.status, 401);
    assert.equal(error.message, "Clair refused the request (401 Unauthorized)");
    assert.match(error.hint ?? "", /clair\.psk\.key/);
    assert.match(error.hint ?? "", /clair\.psk\.issuer/);
    const everything = [error.message, error.hint ?? "", ...error.debug, ...lines].join("\n");
    assert.match(everything, /Authorization: \[redacted\]/);
    assert.ok(!everything.includes(WRONG_PSK), "the key leaked");
    assert.ok(!/eyJ[\w-]+\.[\w-]+\.[\w-]+/.test(everything), "a JWT leaked");

    const health = await (await connectClair(config, { debug })).health();
    assert.equal(health.healthy, false);
    assert.ok(!JSON.stringify(health).includes(WRONG_PSK));
  });
});

describe("Clair v4 split deployment (emulated)", () => {
  let clair: Emulator;
  before(async () => {
    clair = await startEmulator({ api: "v4", split: true });
  });
  after(async () => {
    await clair.close();
  });

  it("is v4, probing the indexer's index state and the matcher", async () => {
    const config = makeClairConfig({
      url: "http://127.0.0.1:1",
      indexer: clair.indexerUrl,
      matcher: clair.matcherUrl,
      health: { url: clair.healthUrl, port: 0 },
    });
    const found = await detectApi(config);
    assert.equal(found.api, "v4");
    assert.equal(found.url, clair.indexerUrl.replace(/\/+$/, ""));
    assert.match(found.evidence, /split deployment/);
    const health = await (await connectClair(config)).health();
    assert.equal(health.healthy, true, JSON.stringify(health.checks));
    assert.deepEqual(
      health.checks.map((c) => c.name),
      ["indexer", "matcher", "healthz", "readyz"],
    );
    assert.ok(health.checks[1]!.url.startsWith(clair.matcherUrl.replace(/\/+$/, "")));
  });

  it("fails the matcher check when the matcher is not there", async () => {
    const port = await findClosedPort();
    const config = makeClairConfig({
      indexer: clair.indexerUrl,
      matcher: `http://127.0.0.1:${port}`,
      api: "v4",
      health: { url: clair.healthUrl, port: 0 },
    });
    const health = await (await connectClair(config)).health();
    const matcher = health.checks.find((c) => c.name === "matcher")!;
    assert.equal(matcher.ok, false);
    assert.match(matcher.detail, /cannot reach Clair's matcher .*connection refused.*clair\.matcher/);
    assert.equal(health.healthy, false);
  });
});
