import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { harnessVariables } from "./env.ts";
import { reapStaleHarnesses, startHarness } from "./harness.ts";
import { startRegistry } from "./services.ts";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("startHarness", () => {
  it("starts only the services asked for and stop() leaves no process and no state dir behind", async () => {
    const harness = await startHarness({ services: ["registry"], images: false });
    const pids = harness.processes.map((p) => p.pid);
    let stopped = false;
    try {
      assert.equal(pids.length, 1);
      const registry = harness.env[harnessVariables.registry];
      assert.ok(registry);
      assert.equal(harness.env[harnessVariables.dockerHost], undefined);
      assert.equal(harness.env[harnessVariables.imagesDir], undefined);
      const response = await fetch(`http://${registry}/v2/`);
      assert.equal(response.status, 200);
      assert.ok(existsSync(harness.stateDir));
      await harness.stop();
      stopped = true;
      assert.ok(
        pids.every((pid) => !isAlive(pid)),
        "registry process still running",
      );
      assert.ok(!existsSync(harness.stateDir), "state dir still there");
      await assert.rejects(fetch(`http://${registry}/v2/`));
    } finally {
      if (!stopped) await harness.stop();
    }
  });

  it("a service that cannot start fails with its log tail", async () => {
    const dir = await mkdtemp("/tmp/hc-fail-");
    try {
      await assert.rejects(
        startRegistry(dir, "registry (broken token auth)", {
          kind: "token",
          realm: "http://127.0.0.1:1/token",
          service: "s",
          issuer: "i",
          certFile: join(dir, "missing-cert.pem"),
        }),
        (err: Error) => {
          assert.match(err.message, /registry \(broken token auth\) exited/);
          assert.match(err.message, /missing-cert\.pem/);
          return true;
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("reapStaleHarnesses", () => {
  it("stops the services of a harness whose process was killed outright, and removes its state dir", async () => {
    const root = await mkdtemp("/tmp/hc-reap-");
    try {
      const script = `
        import { startHarness } from ${JSON.stringify(new URL("./harness.ts", import.meta.url).href)};
        const h = await startHarness({ services: ["registry"], images: false, stateRoot: ${JSON.stringify(root)} });
        process.stdout.write(JSON.stringify({ stateDir: h.stateDir, pids: h.processes.map((p) => p.pid) }) + "\\n");
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const [line] = (await once(child.stdout.setEncoding("utf8"), "data")) as [string];
      const started = JSON.parse(line) as { stateDir: string; pids: number[] };
      child.kill("SIGKILL");
      await once(child, "exit");
      assert.ok(started.pids.every(isAlive), "the orphaned registry keeps running until reaped");

      const reaped = await reapStaleHarnesses(root);
      assert.deepEqual(reaped, [started.stateDir]);
      assert.ok(
        started.pids.every((pid) => !isAlive(pid)),
        "orphaned registry still running",
      );
      assert.ok(!existsSync(started.stateDir));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("harnessEnv", () => {
  it("outside the harness, names the missing variable and says to use npm test", async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("HC_")));
    const script = `import { harnessEnv } from ${JSON.stringify(new URL("./env.ts", import.meta.url).href)}; harnessEnv();`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const [code] = (await once(child, "exit")) as [number];
    assert.notEqual(code, 0);
    assert.match(
      stderr,
      /run the tests through `npm test`, which starts the services: missing HC_IMAGES_DIR/,
    );
  });
});
