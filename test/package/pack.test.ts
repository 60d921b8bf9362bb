import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { repoRoot } from "../cli/run-cli.ts";

test("npm pack produces a package that installs globally and runs", { timeout: 240_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "hc-pack-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: repoRoot, encoding: "utf8" }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const [tarball] = packed;
  assert.ok(tarball);
  const paths = tarball.files.map((file) => file.path);
  assert.ok(paths.includes("bin/hyperclair.js"));
  assert.ok(paths.includes("dist/cli/main.js"));
  assert.ok(paths.includes("dist/cli/help/index.txt"), "the --help cache ships");
  assert.ok(paths.includes(".hyperclair.example.yml"));
  assert.ok(
    !paths.some((path) => path.startsWith("test/") || path.startsWith("src/")),
    "no sources or tests",
  );

  const prefix = join(work, "prefix");
  execFileSync(
    "npm",
    ["install", "--global", "--prefix", prefix, "--no-audit", "--no-fund", join(work, tarball.filename)],
    {
      cwd: work,
      stdio: "pipe",
    },
  );
  const env = { PATH: `${join(prefix, "bin")}:${process.env["PATH"]}`, HOME: work };
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  assert.equal(execFileSync("hyperclair", ["--version"], { env, encoding: "utf8" }), `${version}\n`);
  assert.match(execFileSync("hyperclair", ["--help"], { env, encoding: "utf8" }), /hyperclair health/);
  assert.match(
    execFileSync("hyperclair", ["config", "--no-color"], { env, cwd: work, encoding: "utf8" }),
    /clair\.url/,
  );
});
