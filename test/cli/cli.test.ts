import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { commandPaths } from "../../src/cli/parser.ts";
import { freshDir, repoRoot, runCli, stderrLines } from "./run-cli.ts";

const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
// Every command and subcommand with a help page of its own.
const commands = commandPaths.map((path) => path.join(" "));

describe("version and help", () => {
  test("--version prints the package version and nothing else", async () => {
    const result = await runCli(["--version"]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${version}\n`);
    assert.equal(result.stderr, "");
  });

  test("--help lists every command and the exit-code contract", async () => {
    const result = await runCli(["--help"]);
    assert.equal(result.code, 0);
    for (const command of commandPaths.filter((path) => path.length === 1).map(([name]) => name)) {
      assert.match(result.stdout, new RegExp(`hyperclair ${command}\\b`));
    }
    assert.match(result.stdout, /Exit codes: 0 ok/);
  });

  for (const command of commands) {
    test(`${command} --help has examples`, async () => {
      const result = await runCli([...command.split(" "), "--help"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Examples:/);
    });

    test(`${command} --help from the start-up cache is exactly the parser's own`, async () => {
      const cached = await runCli([...command.split(" "), "--help"]);
      // Any extra argument bypasses the cache and makes yargs render the page itself.
      const live = await runCli([...command.split(" "), "--no-color", "--help"]);
      assert.equal(cached.stdout, live.stdout);
    });
  }
});

describe("usage errors exit 2 with one line", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["no command", [], /Name a command/],
    ["unknown command", ["frobnicate"], /Unknown argument: frobnicate/],
    ["unknown flag", ["health", "--frobnicate"], /Unknown argument/],
    ["bad choice", ["health", "--format", "xml"], /Invalid values/],
    ["bad --clair-api", ["health", "--clair-api", "v3"], /Invalid values/],
  ];
  for (const [name, args, pattern] of cases) {
    test(name, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      const errors = stderrLines(result).filter((line) => line.startsWith("error:"));
      assert.equal(errors.length, 1, result.stderr);
      assert.match(errors[0]!, pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    });
  }
});

describe("configuration", () => {
  test("a wrong type exits 2 naming file:line and key", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, ".hyperclair.yml"), "clair:\n  url: http://clair:6060\n  timeout: soon\n");
    const result = await runCli(["config"], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\.hyperclair\.yml:3.*clair\.timeout/);
    assert.equal(result.stdout, "");
  });

  test("a YAML syntax error exits 2 with file:line:column", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, ".hyperclair.yml"), "clair:\n  url: [http://clair:6060\n");
    const result = await runCli(["health"], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\.hyperclair\.yml:\d+:\d+/);
  });

  test("--config naming a missing file exits 2", async () => {
    const result = await runCli(["config", "--config", "/nonexistent/hc.yml"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\/nonexistent\/hc\.yml/);
  });

  test("legacy hyperclair keys are read with one deprecation warning each", async () => {
    const dir = freshDir();
    writeFileSync(
      join(dir, ".hyperclair.yml"),
      "clair:\n  uri: http://legacy-clair\n  port: 6060\n  healthPort: 6061\nhyperclair:\n  tempFolder: /tmp/hc\n",
    );
    const result = await runCli(["config", "--format", "json"], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const values = new Map(
      (JSON.parse(result.stdout) as { values: Array<{ key: string; value: string }> }).values.map((row) => [
        row.key,
        row.value,
      ]),
    );
    assert.equal(values.get("clair.url"), "http://legacy-clair:6060");
    assert.equal(values.get("clair.health.port"), "6061");
    assert.equal(values.get("serve.tempDir"), "/tmp/hc");
    const warnings = stderrLines(result).filter((line) => line.startsWith("warning:"));
    for (const [old, replacement] of [
      ["clair.uri", "clair.url"],
      ["clair.port", "clair.url"],
      ["clair.healthPort", "clair.health.port"],
      ["hyperclair.tempFolder", "serve.tempDir"],
    ]) {
      const matching = warnings.filter((line) => line.includes(old!) && line.includes(replacement!));
      assert.equal(matching.length, 1, `one warning for ${old}: ${result.stderr}`);
    }
  });

  test("config shows each value's source; flags beat env beat file; secrets are redacted", async () => {
    const dir = freshDir();
    writeFileSync(
      join(dir, ".hyperclair.yml"),
      "clair:\n  url: http://from-file:6060\n  timeout: 90s\n  psk:\n    key: c2VjcmV0LXBzay12YWx1ZQ==\n",
    );
    chmodSync(join(dir, ".hyperclair.yml"), 0o600);
    const result = await runCli(["config", "--clair-api", "v4"], {
      cwd: dir,
      env: { HYPERCLAIR_CLAIR_URL: "http://from-env:6060" },
    });
    assert.equal(result.code, 0, result.stderr);
    const line = (key: string) => result.stdout.split("\n").find((row) => row.startsWith(`${key} `)) ?? "";
    assert.match(line("clair.url"), /http:\/\/from-env:6060.*env HYPERCLAIR_CLAIR_URL/);
    assert.match(line("clair.api"), /v4.*flag --clair-api/);
    assert.match(line("clair.timeout"), /\.hyperclair\.yml:3/);
    assert.match(line("clair.psk.key"), /\[redacted\]/);
    assert.match(line("registry.platform"), /linux\/amd64.*default/);
    assert.doesNotMatch(result.stdout + result.stderr, /c2VjcmV0LXBzay12YWx1ZQ/);
  });

  test("a config file holding a secret readable by others gets a warning", async () => {
    const dir = freshDir();
    const file = join(dir, ".hyperclair.yml");
    writeFileSync(file, "clair:\n  psk:\n    key: c2VjcmV0\n");
    chmodSync(file, 0o644);
    const result = await runCli(["config"], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning:.*chmod 600/);
  });

  test("config init writes the starter file, which then loads cleanly; it refuses to overwrite", async () => {
    const dir = freshDir();
    const first = await runCli(["config", "init"], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const written = readFileSync(join(dir, ".hyperclair.yml"), "utf8");
    assert.equal(written, readFileSync(join(repoRoot, ".hyperclair.example.yml"), "utf8"));
    const shown = await runCli(["config"], { cwd: dir });
    assert.equal(shown.code, 0, shown.stderr);
    assert.doesNotMatch(shown.stderr, /warning/);
    assert.match(shown.stdout, /configuration file: .*\.hyperclair\.yml/);
    const again = await runCli(["config", "init"], { cwd: dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists.*--force/);
    const forced = await runCli(["config", "init", "--force"], { cwd: dir });
    assert.equal(forced.code, 0, forced.stderr);
  });
});

describe("completion", () => {
  test("bash script", async () => {
    const result = await runCli(["completion", "bash"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /complete -o bashdefault -o default -F _hyperclair_yargs_completions hyperclair/,
    );
  });

  test("zsh script", async () => {
    const result = await runCli(["completion", "zsh"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /#compdef hyperclair/);
  });

  test("the script's callback completes command names", async () => {
    const result = await runCli(["--get-yargs-completions", "hyperclair", "he"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^health$/m);
  });
});

describe("Clair unreachable", () => {
  test("health exits 3 with one line and no stack trace", async () => {
    const result = await runCli(["health", "--clair-url", "http://127.0.0.1:9"]);
    assert.equal(result.code, 3);
    const lines = stderrLines(result);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^error: .*127\.0\.0\.1:9.*(refused|reach)/);
    assert.equal(result.stdout, "");
  });

  test("--debug adds the details", async () => {
    const result = await runCli(["health", "--clair-url", "http://127.0.0.1:9", "--debug"]);
    assert.equal(result.code, 3);
    assert.ok(stderrLines(result).length > 1);
    assert.match(result.stderr, /debug:/);
  });

  test("version still prints the client version, and says Clair is not reachable", async () => {
    const result = await runCli(["version", "--clair-url", "http://127.0.0.1:9"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`hyperclair: ${version.replaceAll(".", "\\.")}`));
    assert.match(result.stdout, /Clair: +not reachable/);
  });
});

test("NO_COLOR and no TTY: no escape codes anywhere", async () => {
  const result = await runCli(["health", "--clair-url", "http://127.0.0.1:9"], { env: { NO_COLOR: "1" } });
  assert.ok(!(result.stdout + result.stderr).includes("\u001b["), "no ANSI escape");
});
