/**
 * Clair on another host: the Clair emulator runs in a network namespace of its own (a test host made
 * for this run, joined to this machine by a veth pair), so it can reach this machine only through the
 * veth address. hyperclair must pick that address for the layer server, and must say what is wrong when
 * it is told to listen where Clair cannot reach.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freshDir, repoRoot, runCli } from "../cli/run-cli.ts";
import { harnessEnv } from "../infra/env.ts";

const env = harnessEnv();
const id = process.pid % 10_000;
const namespace = `hc-clair-${id}`;
const hostSide = `hca${id}`;
const clairSide = `hcb${id}`;
const subnet = `10.201.${id % 250}`;
const hostAddress = `${subnet}.1`;
const clairAddress = `${subnet}.2`;

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

describe("Clair on another host (a network namespace)", () => {
  let clair: ChildProcess;
  let clairLog = "";

  before(async () => {
    ip("netns", "add", namespace);
    ip("link", "add", hostSide, "type", "veth", "peer", "name", clairSide);
    ip("link", "set", clairSide, "netns", namespace);
    ip("addr", "add", `${hostAddress}/30`, "dev", hostSide);
    ip("link", "set", hostSide, "up");
    ip("netns", "exec", namespace, "ip", "addr", "add", `${clairAddress}/30`, "dev", clairSide);
    ip("netns", "exec", namespace, "ip", "link", "set", clairSide, "up");
    ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up");
    clair = spawn(
      "ip",
      [
        "netns",
        "exec",
        namespace,
        process.execPath,
        "--import",
        "tsx",
        join(repoRoot, "test", "emulator", "main.ts"),
        "--api",
        "v4",
        "--host",
        clairAddress,
        "--port",
        "6060",
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    clair.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      clairLog += chunk;
    });
    await new Promise<void>((resolve, reject) => {
      let out = "";
      clair.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("clair emulator")) resolve();
      });
      clair.once("exit", (code) =>
        reject(new Error(`the emulator in ${namespace} exited ${code}: ${clairLog}`)),
      );
    });
  });

  after(async () => {
    if (clair && clair.exitCode === null) {
      const exited = new Promise((resolve) => clair.once("exit", resolve));
      clair.kill("SIGTERM");
      await exited;
    }
    ip("netns", "del", namespace);
  });

  const clairUrl = `http://${clairAddress}:6060`;
  const image = `oci-archive:${env.images.images.alpine315.archives.oci}`;

  test("the layer server listens on the address that routes toward Clair, and Clair fetches from it", async () => {
    const result = await runCli(["analyze", image, "--format", "json"], {
      env: { HYPERCLAIR_CLAIR_URL: clairUrl, HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-") },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok((JSON.parse(result.stdout) as { findings: unknown[] }).findings.length > 0);
    assert.match(clairLog, new RegExp(`GET http://${hostAddress.replaceAll(".", "\\.")}:\\d+/`));
  });

  test("told to listen on loopback, which Clair cannot reach: the diagnosis names serve.advertise", async () => {
    const result = await runCli(["push", `oci-archive:${env.images.images.debian12.archives.oci}`], {
      env: {
        HYPERCLAIR_CLAIR_URL: clairUrl,
        HYPERCLAIR_SERVE_LISTEN: "127.0.0.1",
        HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"),
      },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`Clair at ${clairUrl} could not reach http://127\\.0\\.0\\.1:\\d+; set serve\\.advertise`),
    );
  });
});
