/**
 * On a terminal, progress is an ora spinner on stderr; the document still ends up whole. `script`
 * gives the CLI a real pseudo-terminal.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { harnessEnv } from "../infra/env.ts";
import { binPath, freshDir } from "./run-cli.ts";

const env = harnessEnv();
const run = promisify(execFile);

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

describe("on a terminal", () => {
  let clair: RunningEmulator;
  before(async () => {
    clair = await startEmulator({ api: "v4" });
  });
  after(() => clair.close());

  async function analyzeOnTerminal(stty: string) {
    const command = `${stty}${shellQuote(process.execPath)} ${shellQuote(binPath)} analyze ${shellQuote(
      `oci-archive:${env.images.images.debian11.archives.oci}`,
    )}`;
    return run("script", ["-qec", command, "/dev/null"], {
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: freshDir("hc-home-"),
        TERM: "xterm-256color",
        HYPERCLAIR_CLAIR_URL: clair.url,
        HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"),
      },
      timeout: 60_000,
      encoding: "utf8",
    });
  }

  test("a spinner with colours, then the summary", async () => {
    const { stdout } = await analyzeOnTerminal("stty cols 120 rows 40; ");
    assert.ok(stdout.includes("\u001b[?25l"), "the cursor is hidden while the spinner runs");
    assert.ok(stdout.includes("\u001b[31mCritical"), "severities in colour");
    assert.match(stdout, /7 vulnerabilities, 6 fixable/);
  });

  test("a terminal that reports no width gets plain progress lines, not a hang", async () => {
    const { stdout } = await analyzeOnTerminal("stty cols 0 rows 0; ");
    assert.match(stdout, /resolving oci-archive:/);
    assert.match(stdout, /7 vulnerabilities, 6 fixable/);
  });
});
