/**
 * What a push or an analysis does when a hop misbehaves, through the CLI: each fault is switched on in
 * the Clair emulator (or the configuration), and the test checks the exit code, the one line the user
 * reads, and what Clair actually saw.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ScanResult } from "../../src/report/model.ts";
import { binPath, freshDir, runCli, stderrLines } from "../cli/run-cli.ts";
import { type EmulatorApi, type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { harnessEnv } from "../infra/env.ts";

const env = harnessEnv();
const archive = `oci-archive:${env.images.images.alpine315.archives.oci}`;

function errorLines(result: { stderr: string }): string[] {
  return stderrLines(result as Parameters<typeof stderrLines>[0]).filter((line) => line.startsWith("error:"));
}

for (const api of ["v1", "v4"] as EmulatorApi[]) {
  describe(`${api}: faults`, () => {
    let clair: RunningEmulator;
    before(async () => {
      clair = await startEmulator({ api });
    });
    after(() => clair.close());
    const clairEnv = (extra: Record<string, string> = {}) => ({
      HYPERCLAIR_CLAIR_URL: clair.url,
      HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"),
      ...extra,
    });

    test("an advertised address Clair cannot reach: diagnosis naming serve.advertise, exit 3", async () => {
      const fetches = clair.fetches.length;
      const result = await runCli(["push", `oci-archive:${env.images.images.debian12.archives.oci}`], {
        env: clairEnv({ HYPERCLAIR_SERVE_ADVERTISE: "http://127.0.0.1:9" }),
      });
      assert.equal(result.code, 3, result.stderr);
      const [line] = errorLines(result);
      assert.match(line ?? "", /could not reach http:\/\/127\.0\.0\.1:9.*serve\.advertise/);
      assert.ok(
        clair.fetches.slice(fetches).every((fetch) => !fetch.ok),
        "Clair got nothing",
      );
    });

    test("a serve.listen port already taken: one line naming the port and what to do, exit 3", async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
      const { port } = taken.address() as AddressInfo;
      try {
        const fetches = clair.fetches.length;
        const result = await runCli(["push", archive], {
          env: clairEnv({ HYPERCLAIR_SERVE_LISTEN: `127.0.0.1:${port}` }),
        });
        assert.equal(result.code, 3, result.stderr);
        const lines = errorLines(result);
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0]!, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
        assert.match(result.stderr, new RegExp(`port ${port} is taken.*serve\\.listen`));
        assert.equal(clair.fetches.length, fetches, "nothing was submitted");
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });

    test("Clair answers 503 twice, then 200: retried, and the analysis completes", async () => {
      clair.setFaults({ errors: { status: 503, count: 2 } });
      try {
        const requests = clair.requests.length;
        const result = await runCli(["analyze", archive, "--format", "json"], { env: clairEnv() });
        assert.equal(result.code, 0, result.stderr);
        const scan = JSON.parse(result.stdout) as ScanResult;
        assert.ok(scan.findings.some((finding) => finding.id === "CVE-2022-0778"));
        assert.equal(clair.requests.slice(requests).filter((request) => request.status === 503).length, 2);
      } finally {
        clair.setFaults({});
      }
    });

    test("an answer that is not JSON: exit 3, one line", async () => {
      // After detection: the answer that matters (v1 layer, v4 vulnerability report) is the broken one.
      clair.setFaults({
        nonJson: { count: 1000, route: api === "v1" ? "/v1/layers" : "vulnerability_report" },
      });
      try {
        const result = await runCli(["analyze", archive], { env: clairEnv() });
        assert.equal(result.code, 3, result.stderr);
        assert.equal(errorLines(result).length, 1, result.stderr);
        assert.match(errorLines(result)[0]!, /JSON/);
      } finally {
        clair.setFaults({});
      }
    });

    test("a second push of the same image sends nothing: Clair fetches no layer", async () => {
      const image = `oci-archive:${env.images.images["debian11-multi"].archives.oci}`;
      const cacheDir = freshDir("hc-cache-");
      const first = await runCli(["push", image, "--format", "json"], {
        env: clairEnv({ HYPERCLAIR_CACHE_DIR: cacheDir }),
      });
      assert.equal(first.code, 0, first.stderr);
      const [pushed] = JSON.parse(first.stdout) as Array<{ status: string; served: Record<string, number> }>;
      assert.equal(pushed?.status, "submitted");
      assert.ok(
        Object.values(pushed!.served).every((bytes) => bytes > 0),
        "every layer served once",
      );
      const fetches = clair.fetches.length;
      const second = await runCli(["push", image, "--format", "json"], {
        env: clairEnv({ HYPERCLAIR_CACHE_DIR: cacheDir }),
      });
      assert.equal(second.code, 0, second.stderr);
      const [again] = JSON.parse(second.stdout) as Array<{ status: string; served: Record<string, number> }>;
      assert.equal(again?.status, "already-indexed");
      assert.deepEqual(again?.served, {});
      assert.equal(clair.fetches.length, fetches);
    });

    test("Ctrl-C during a push: exit 130 promptly, nothing left in the cache's temp dir", async () => {
      // Clair takes 10 s to answer the submission: Ctrl-C lands while hyperclair waits on it.
      clair.setFaults({
        latency: { ms: 10_000, method: "POST", route: api === "v1" ? "/v1/layers" : "index_report" },
      });
      const cacheDir = freshDir("hc-cache-");
      try {
        const child = spawn(
          process.execPath,
          [binPath, "push", `oci-archive:${env.images.images.debian11.archives.oci}`],
          {
            env: {
              PATH: process.env["PATH"] ?? "",
              HOME: freshDir("hc-home-"),
              ...clairEnv({ HYPERCLAIR_CACHE_DIR: cacheDir }),
            },
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let stderr = "";
        const reachedClair = new Promise<void>((resolve) => {
          child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
            stderr += chunk;
            if (/Clair is indexing/.test(stderr)) resolve();
          });
        });
        const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
          child.on("close", (code) => resolve({ code, at: Date.now() })),
        );
        await reachedClair;
        const interruptedAt = Date.now();
        child.kill("SIGINT");
        const { code, at } = await exited;
        assert.equal(code, 130, stderr);
        assert.ok(
          at - interruptedAt < 4_000,
          `exited ${at - interruptedAt} ms after Ctrl-C, not after Clair's 10 s`,
        );
        assert.match(stderr, /interrupted/);
        const temp = join(cacheDir, "tmp");
        const leftovers = (() => {
          try {
            return readdirSync(temp);
          } catch {
            return [];
          }
        })();
        assert.deepEqual(leftovers, []);
      } finally {
        clair.setFaults({});
      }
    });
  });
}

describe("v4: matcher not ready, PSK", () => {
  const psk = Buffer.from("fault-test psk").toString("base64");
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4", psk });
  });
  after(() => clair.close());
  const clairEnv = (extra: Record<string, string> = {}) => ({
    HYPERCLAIR_CLAIR_URL: clair.url,
    HYPERCLAIR_CLAIR_PSK_KEY: psk,
    HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"),
    ...extra,
  });

  test("202 for a while: a bounded wait, then the report", async () => {
    clair.setFaults({ matcherNotReady: { count: 2 } });
    const result = await runCli(["analyze", archive, "--format", "json"], { env: clairEnv() });
    assert.equal(result.code, 0, result.stderr);
    const scan = JSON.parse(result.stdout) as ScanResult;
    assert.equal(scan.findings.length > 0, true);
    assert.deepEqual(scan.warnings, []);
  });

  test("202 for longer than clair.reportWait: a warning, not a crash", async () => {
    clair.setFaults({ matcherNotReady: { count: 1000 } });
    try {
      const started = Date.now();
      const result = await runCli(["analyze", archive, "--format", "json"], {
        env: clairEnv({ HYPERCLAIR_CLAIR_REPORT_WAIT: "2s" }),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(Date.now() - started < 20_000);
      const scan = JSON.parse(result.stdout) as ScanResult;
      assert.ok(scan.warnings.some((warning) => warning.code === "matcher-not-ready"));
    } finally {
      clair.setFaults({});
    }
  });

  test("a bad PSK: exit 3 with a hint, and the key never shows", async () => {
    const wrong = Buffer.from("not the key").toString("base64");
    const result = await runCli(["analyze", archive], { env: clairEnv({ HYPERCLAIR_CLAIR_PSK_KEY: wrong }) });
    assert.equal(result.code, 3, result.stderr);
    const [line] = errorLines(result);
    assert.match(line ?? "", /401/);
    assert.match(line ?? "", /psk/i);
    assert.ok(!result.stderr.includes(wrong));
  });
});
