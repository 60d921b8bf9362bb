import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  buildLayer,
  debian11OsRelease,
  debian11Status,
  type LayerServer,
  sha256,
  startLayerServer,
} from "./fixtures.ts";
import { type RunningEmulator, startEmulator } from "./index.ts";

const stateRoute = "/indexer/api/v1/index_state";

describe("Clair emulator faults", () => {
  let emulator: RunningEmulator;
  let layers: LayerServer;
  let manifestHash = "";

  before(async () => {
    layers = await startLayerServer();
    emulator = await startEmulator({ api: "v4" });
    const blob = await buildLayer({
      "etc/os-release": debian11OsRelease,
      "var/lib/dpkg/status": debian11Status,
    });
    const manifest = {
      hash: sha256("faults"),
      layers: [{ hash: sha256(blob), uri: layers.serve("/l", { body: blob }) }],
    };
    manifestHash = manifest.hash;
    const res = await fetch(`${emulator.url}/indexer/api/v1/index_report`, {
      method: "POST",
      body: JSON.stringify(manifest),
    });
    assert.equal(res.status, 201);
  });
  after(async () => {
    await emulator.close();
    await layers.close();
  });

  const reportRoute = () => `/matcher/api/v1/vulnerability_report/${manifestHash}`;

  test("latency delays every answer", async () => {
    emulator.setFaults({ latencyMs: 250 });
    const started = Date.now();
    assert.equal((await fetch(`${emulator.url}${stateRoute}`)).status, 200);
    assert.ok(Date.now() - started >= 200, `answered after ${Date.now() - started} ms`);
    emulator.setFaults({});
    const quick = Date.now();
    await fetch(`${emulator.url}${stateRoute}`);
    assert.ok(Date.now() - quick < 200);
  });

  test("an error burst answers 503 for the next N matching requests, then recovers", async () => {
    emulator.setFaults({ errors: { status: 503, count: 2, route: "vulnerability_report" } });
    // Other routes are untouched.
    assert.equal((await fetch(`${emulator.url}${stateRoute}`)).status, 200);
    const first = await fetch(`${emulator.url}${reportRoute()}`);
    assert.equal(first.status, 503);
    assert.equal(((await first.json()) as { code: string }).code, "internal-error");
    assert.equal((await fetch(`${emulator.url}${reportRoute()}`)).status, 503);
    assert.equal((await fetch(`${emulator.url}${reportRoute()}`)).status, 200);
  });

  test("429 with Retry-After for the next N requests", async () => {
    emulator.setFaults({ tooManyRequests: { count: 1, retryAfterSeconds: 7 } });
    const limited = await fetch(`${emulator.url}${stateRoute}`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    assert.deepEqual(await limited.json(), { code: "too-many-requests", message: "server busy" });
    assert.equal((await fetch(`${emulator.url}${stateRoute}`)).status, 200);
  });

  test("matcher not ready: 202 with an empty body for N requests, then 200", async () => {
    emulator.setFaults({ matcherNotReady: { count: 2 } });
    for (let k = 0; k < 2; k++) {
      const res = await fetch(`${emulator.url}${reportRoute()}`);
      assert.equal(res.status, 202);
      assert.equal(await res.text(), "");
    }
    assert.equal((await fetch(`${emulator.url}${reportRoute()}`)).status, 200);
  });

  test("matcher not ready for a time window", async () => {
    emulator.setFaults({ matcherNotReady: { forMs: 300 } });
    assert.equal((await fetch(`${emulator.url}${reportRoute()}`)).status, 202);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal((await fetch(`${emulator.url}${reportRoute()}`)).status, 200);
  });

  test("a connection reset mid-body reaches the client as a socket error", async () => {
    emulator.setFaults({ resetMidBody: { count: 1, route: "vulnerability_report" } });
    const url = new URL(`${emulator.url}${reportRoute()}`);
    const outcome = await new Promise<string>((resolve) => {
      const req = request(url, { agent: false }, (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve(`complete ${res.statusCode}`));
        res.on("error", (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
        res.on("aborted", () => resolve("error aborted"));
      });
      req.on("error", (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      req.end();
    });
    assert.match(outcome, /^error /);
    emulator.setFaults({ resetMidBody: { count: 1, route: "vulnerability_report" } });
    await assert.rejects(fetch(`${emulator.url}${reportRoute()}`).then((r) => r.json()));
    assert.equal((await fetch(`${emulator.url}${reportRoute()}`)).status, 200);
  });

  test("a non-JSON body for the next N requests keeps the status", async () => {
    emulator.setFaults({ nonJson: { count: 1 } });
    const res = await fetch(`${emulator.url}${reportRoute()}`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.throws(() => JSON.parse(text));
    const next = await fetch(`${emulator.url}${reportRoute()}`);
    assert.ok(JSON.parse(await next.text()));
  });

  test("faults given at start apply from the first request, and v1 gets Clair 2.x's timeout body", async () => {
    const v1 = await startEmulator({ api: "v1", faults: { errors: { status: 503, count: 1 } } });
    try {
      const res = await fetch(`${v1.url}/v1/namespaces`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), {
        Error: { Message: "Clair failed to respond within the configured timeout window.", Type: "Timeout" },
      });
      assert.equal((await fetch(`${v1.url}/v1/namespaces`)).status, 200);
      assert.deepEqual(
        v1.requests.map((r) => r.status),
        [503, 200],
      );
    } finally {
      await v1.close();
    }
  });
});

describe("standalone emulator", () => {
  test("prints its URLs, serves, and stops on SIGTERM", async () => {
    const main = path.join(import.meta.dirname, "main.ts");
    const child = spawn(process.execPath, ["--import", "tsx", main, "--api", "v1", "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("\n")) resolve(out.split("\n")[0]!);
        });
        child.on("exit", (code) => reject(new Error(`exited with ${code}`)));
      });
      const api = /api=(\S+)/.exec(line)?.[1];
      assert.ok(api, line);
      const res = await fetch(`${api}/v1/namespaces`);
      assert.equal(res.status, 200);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
