import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { runCli, stderrLines } from "./run-cli.ts";

const psk = Buffer.from("a shared secret for the test clair").toString("base64");

function clairEnv(emulator: RunningEmulator, extra: Record<string, string> = {}): Record<string, string> {
  return { HYPERCLAIR_CLAIR_URL: emulator.url, HYPERCLAIR_CLAIR_HEALTH_URL: emulator.healthUrl, ...extra };
}

describe("health and version against a v1 Clair (2.x)", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v1" });
  });
  after(() => clair.close());

  test("health names the v1 API and says healthy", async () => {
    const result = await runCli(["health"], { env: clairEnv(clair) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /v1 API \(Clair 2\.x\)/);
    assert.match(result.stdout, /healthy/);
    assert.ok(clair.requests.some((request) => request.path.startsWith("/v1/")));
  });

  test("health --format json", async () => {
    const result = await runCli(["health", "--format", "json"], { env: clairEnv(clair) });
    assert.equal(result.code, 0, result.stderr);
    const health = JSON.parse(result.stdout) as { api: string; healthy: boolean; checks: unknown[] };
    assert.equal(health.api, "v1");
    assert.equal(health.healthy, true);
    assert.ok(health.checks.length >= 2);
  });

  test("version reports the flavour", async () => {
    const result = await runCli(["version"], { env: clairEnv(clair) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Clair: +v1 API/);
  });

  test("a health port where nothing listens: not healthy, exit 3", async () => {
    const result = await runCli(["health"], {
      env: clairEnv(clair, { HYPERCLAIR_CLAIR_HEALTH_URL: "http://127.0.0.1:9" }),
    });
    assert.equal(result.code, 3);
    assert.match(result.stdout, /✘/);
    assert.match(result.stderr, /not healthy/);
  });
});

describe("health and version against a v4 Clair", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4" });
  });
  after(() => clair.close());

  test("health names the v4 API, checks healthz and readyz", async () => {
    const result = await runCli(["health"], { env: clairEnv(clair) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /v4 API/);
    assert.match(result.stdout, /healthz/);
    assert.match(result.stdout, /readyz/);
  });

  test("version reports the flavour", async () => {
    const result = await runCli(["version", "--format", "json"], { env: clairEnv(clair) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { clair: { api: string } }).clair.api, "v4");
  });

  test("--clair-api v1 against a v4 server fails with exit 3, not a crash", async () => {
    const result = await runCli(["health", "--clair-api", "v1"], { env: clairEnv(clair) });
    assert.equal(result.code, 3);
    assert.equal(stderrLines(result).filter((line) => line.startsWith("error:")).length, 1, result.stderr);
  });
});

describe("v4 with a required PSK", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4", psk });
  });
  after(() => clair.close());

  test("with the key: healthy, and the key never shows, even with --debug", async () => {
    const result = await runCli(["health", "--debug"], {
      env: clairEnv(clair, { HYPERCLAIR_CLAIR_PSK_KEY: psk }),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /v4 API/);
    assert.ok(!(result.stdout + result.stderr).includes(psk));
    assert.ok(!(result.stdout + result.stderr).includes("eyJ"), "no JWT in the output");
  });

  test("without a key: detected as v4, exit 3 with a PSK hint", async () => {
    const result = await runCli(["health"], { env: clairEnv(clair) });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /401/);
    assert.match(result.stderr, /psk/i);
  });

  test("with a wrong key: exit 3, one line, hint, no secret", async () => {
    const wrong = Buffer.from("not the right secret").toString("base64");
    const result = await runCli(["health"], { env: clairEnv(clair, { HYPERCLAIR_CLAIR_PSK_KEY: wrong }) });
    assert.equal(result.code, 3);
    const lines = stderrLines(result);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /401/);
    assert.ok(!result.stderr.includes(wrong));
  });
});

describe("v4 split indexer and matcher", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4", split: true });
  });
  after(() => clair.close());

  test("health checks both", async () => {
    const result = await runCli(["health", "--format", "json"], {
      env: {
        HYPERCLAIR_CLAIR_INDEXER: clair.indexerUrl,
        HYPERCLAIR_CLAIR_MATCHER: clair.matcherUrl,
        HYPERCLAIR_CLAIR_HEALTH_URL: clair.healthUrl,
      },
    });
    assert.equal(result.code, 0, result.stderr);
    const health = JSON.parse(result.stdout) as { api: string; checks: Array<{ url: string }> };
    assert.equal(health.api, "v4");
    assert.ok(health.checks.some((check) => check.url.startsWith(clair.indexerUrl)));
    assert.ok(health.checks.some((check) => check.url.startsWith(clair.matcherUrl)));
  });
});

test("an answer that is not JSON: exit 3, one line", async () => {
  const { createServer } = await import("node:http");
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html" }).end("<html>login page</html>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    const result = await runCli(["health", "--clair-url", `http://127.0.0.1:${port}`, "--clair-api", "v4"]);
    assert.equal(result.code, 3);
    const lines = stderrLines(result);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /not JSON/);
  } finally {
    server.close();
  }
});
