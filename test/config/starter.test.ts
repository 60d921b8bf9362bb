import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CONFIG_KEYS, envNameFor } from "../../src/config/keys.ts";
import { loadConfig } from "../../src/config/load.ts";
import { renderStarterConfig } from "../../src/config/starter.ts";
import { makeDirs } from "./temp-dirs.ts";

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), "..", "..", ".hyperclair.example.yml");

describe("the starter config", () => {
  it("is exactly .hyperclair.example.yml (regenerate it from renderStarterConfig())", () => {
    assert.equal(readFileSync(EXAMPLE, "utf8"), renderStarterConfig());
  });

  it("loads with no warnings and no errors, every key from the file at its default", () => {
    const { cwd, home } = makeDirs();
    copyFileSync(EXAMPLE, join(cwd, ".hyperclair.yml"));
    const fromFile = loadConfig({ cwd, home, env: {}, flags: {} });
    assert.deepEqual(fromFile.errors, []);
    assert.deepEqual(fromFile.warnings, []);
    const defaults = loadConfig({ ...makeDirs(), env: {}, flags: {} });
    assert.deepEqual(fromFile.config, defaults.config);
    for (const spec of CONFIG_KEYS) assert.equal(fromFile.sources.get(spec.key)?.kind, "file", spec.key);
  });

  it("documents every key with a comment naming its environment variable", () => {
    const lines = renderStarterConfig().split("\n");
    for (const spec of CONFIG_KEYS) {
      const name = spec.key.split(".").at(-1)!;
      const keyLine = lines.findIndex(
        (line, index) =>
          line.trim().startsWith(`${name}:`) && lines[index - 1]?.includes(envNameFor(spec.key)),
      );
      assert.ok(keyLine > 0, spec.key);
      assert.ok(lines[keyLine - 1]!.trim().startsWith(`# ${spec.doc}`), spec.key);
    }
  });
});
