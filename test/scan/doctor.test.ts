/**
 * `doctor` finds each hop the tests break on purpose, says what is wrong and how to fix it, and passes
 * when every hop works.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freshDir, runCli } from "../cli/run-cli.ts";
import { type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { harnessEnv } from "../infra/env.ts";

const env = harnessEnv();
const psk = Buffer.from("doctor test psk").toString("base64");

interface Hop {
  name: string;
  status: "ok" | "fail" | "skip";
  detail: string;
  fix?: string;
}

async function doctor(args: string[], extraEnv: Record<string, string>, cwd?: string, stdin?: string) {
  const result = await runCli(["doctor", ...args, "--format", "json"], {
    env: { HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"), ...extraEnv },
    ...(cwd === undefined ? {} : { cwd }),
    ...(stdin === undefined ? {} : { stdin }),
    timeoutMs: 60_000,
  });
  const { hops } = JSON.parse(result.stdout) as { hops: Hop[] };
  const hop = (name: string) => {
    const found = hops.find((entry) => entry.name === name);
    assert.ok(found, `hop ${name} in ${JSON.stringify(hops)}`);
    return found;
  };
  return { result, hops, hop };
}

describe("doctor", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4", psk });
  });
  after(() => clair.close());
  const good = () => ({
    HYPERCLAIR_CLAIR_URL: clair.url,
    HYPERCLAIR_CLAIR_HEALTH_URL: clair.healthUrl,
    HYPERCLAIR_CLAIR_PSK_KEY: psk,
    DOCKER_HOST: env.dockerHost,
  });

  test("every hop works: all ✔, exit 0, Clair really downloaded the probe layer, and the probe leaves nothing behind", async () => {
    const fetches = clair.fetches.length;
    const cacheDir = freshDir("hc-cache-");
    const { result, hops, hop } = await doctor(
      [
        `${env.registryBasic}/${env.images.images.debian11.refs.oci}`,
        "--username",
        env.user,
        "--password-stdin",
      ],
      { ...good(), HYPERCLAIR_CACHE_DIR: cacheDir },
      undefined,
      env.pass,
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(
      hops.filter((entry) => entry.status === "fail"),
      [],
    );
    assert.equal(hop("docker").status, "ok");
    assert.match(hop("docker").detail, /API 1\.\d+/);
    assert.equal(hop("registry").status, "ok");
    assert.equal(hop("clair auth").status, "ok");
    assert.equal(hop("layer server").status, "ok");
    assert.equal(clair.fetches.slice(fetches).filter((fetch) => fetch.ok).length, 1);
    // The probe is not an image the user pushed: no push record, no cached blob.
    const records = existsSync(join(cacheDir, "clair-pushes.json"))
      ? readFileSync(join(cacheDir, "clair-pushes.json"), "utf8")
      : "";
    assert.doesNotMatch(records, /probe/);
    const blobs = join(cacheDir, "blobs", "sha256");
    assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], []);
  });

  test("the text form: one line per hop with ✔ or ✘", async () => {
    const result = await runCli(["doctor"], {
      env: { ...good(), HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-") },
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.ok(
      lines.every((line) => /^[✔✘–] /.test(line)),
      result.stdout,
    );
  });

  test("wrong Clair URL: ✘ clair with the fix, exit 3", async () => {
    const { result, hop } = await doctor([], { ...good(), HYPERCLAIR_CLAIR_URL: "http://127.0.0.1:9" });
    assert.equal(result.code, 3);
    assert.equal(hop("clair").status, "fail");
    assert.match(hop("clair").fix ?? "", /clair\.url/);
    assert.equal(hop("layer server").status, "skip");
  });

  test("bad PSK: ✘ with the PSK fix", async () => {
    const { result, hops } = await doctor([], {
      ...good(),
      HYPERCLAIR_CLAIR_PSK_KEY: Buffer.from("wrong").toString("base64"),
    });
    assert.equal(result.code, 3);
    const failed = hops.filter((entry) => entry.status === "fail");
    assert.ok(
      failed.some((entry) => /401/.test(entry.detail)),
      JSON.stringify(failed),
    );
    assert.ok(
      failed.some((entry) => /psk/i.test(entry.fix ?? "")),
      JSON.stringify(failed),
    );
  });

  test("daemon socket missing, for a --local image: ✘ docker, exit 3", async () => {
    const { result, hop } = await doctor(["testimg/debian11:latest", "--local"], {
      ...good(),
      DOCKER_HOST: "unix:///nonexistent/docker.sock",
    });
    assert.equal(result.code, 3);
    assert.equal(hop("docker").status, "fail");
    assert.match(hop("docker").detail, /\/nonexistent\/docker\.sock/);
    assert.match(hop("docker").fix ?? "", /DOCKER_HOST|docker\.host/);
  });

  test("registry credentials refused: ✘ registry with the login fix", async () => {
    const { result, hop } = await doctor(
      [
        `${env.registryBasic}/${env.images.images.debian11.refs.oci}`,
        "--username",
        env.user,
        "--password-stdin",
      ],
      good(),
      undefined,
      "wrong-password",
    );
    assert.equal(result.code, 3);
    assert.equal(hop("registry").status, "fail");
    assert.ok(!JSON.stringify(hop("registry")).includes("wrong-password"));
  });

  test("an advertised address Clair cannot reach: ✘ layer server naming serve.advertise", async () => {
    const { result, hop } = await doctor([], { ...good(), HYPERCLAIR_SERVE_ADVERTISE: "http://127.0.0.1:9" });
    assert.equal(result.code, 3);
    assert.equal(hop("layer server").status, "fail");
    assert.match(hop("layer server").detail, /serve\.advertise/);
  });

  test("an invalid configuration file: ✘ config with file:line, exit 2", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, ".hyperclair.yml"), "clair:\n  timeout: soon\n");
    const { result, hop } = await doctor([], good(), dir);
    assert.equal(result.code, 2);
    assert.equal(hop("config").status, "fail");
    assert.match(hop("config").detail, /\.hyperclair\.yml:2/);
  });
});
