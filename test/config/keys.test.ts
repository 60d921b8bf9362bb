import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CONFIG_KEYS, envNameFor, flagNameFor } from "../../src/config/keys.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { makeDirs } from "./temp-dirs.ts";

describe("envNameFor", () => {
  for (const [key, name] of [
    ["clair.url", "HYPERCLAIR_CLAIR_URL"],
    ["clair.psk.keyFile", "HYPERCLAIR_CLAIR_PSK_KEY_FILE"],
    ["clair.tls.insecureSkipVerify", "HYPERCLAIR_CLAIR_TLS_INSECURE_SKIP_VERIFY"],
    ["clair.health.port", "HYPERCLAIR_CLAIR_HEALTH_PORT"],
    ["registry.tls.ca", "HYPERCLAIR_REGISTRY_TLS_CA"],
    ["policy.failOn", "HYPERCLAIR_POLICY_FAIL_ON"],
  ] as const) {
    it(`${key} → ${name}`, () => assert.equal(envNameFor(key), name));
  }

  it("gives every key its own variable", () => {
    const names = CONFIG_KEYS.map((spec) => envNameFor(spec.key));
    assert.equal(new Set(names).size, names.length);
  });
});

describe("flagNameFor", () => {
  it("kebab-cases the dotted path unless the table names the flag", () => {
    assert.equal(flagNameFor("clair.url"), "--clair-url");
    assert.equal(flagNameFor("clair.api"), "--clair-api");
    assert.equal(flagNameFor("clair.tls.insecureSkipVerify"), "--clair-tls-insecure-skip-verify");
    assert.equal(flagNameFor("policy.failOn"), "--fail-on");
  });
});

describe("the key table", () => {
  it("documents every key in one line", () => {
    for (const spec of CONFIG_KEYS) {
      assert.ok(spec.doc.length > 10 && !spec.doc.includes("\n"), spec.key);
    }
  });

  it("gives the documented defaults, covering every field of Config", () => {
    const { cwd, home } = makeDirs();
    const loaded = loadConfig({ cwd, home, env: {}, flags: {} });
    const expected: Config = {
      clair: {
        url: "http://localhost:6060",
        api: "auto",
        indexer: "",
        matcher: "",
        timeout: 600_000,
        reportWait: 120_000,
        health: { url: "", port: 0 },
        psk: { key: "", keyFile: "", issuer: "hyperclair" },
        headers: {},
        tls: { ca: "", insecureSkipVerify: false },
      },
      registry: {
        insecure: [],
        authFile: "",
        platform: "linux/amd64",
        tls: { ca: "", insecureSkipVerify: false },
      },
      docker: { host: "" },
      serve: { listen: "", advertise: "", tempDir: "" },
      cache: { dir: "" },
      report: { dir: "reports", formats: ["html"] },
      policy: { failOn: "", ignoreUnfixed: false, ignoreFile: ".hyperclair-ignore.yml" },
    };
    assert.deepEqual(loaded.config, expected);
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, []);
    assert.equal(loaded.file, undefined);
    for (const spec of CONFIG_KEYS)
      assert.deepEqual(loaded.sources.get(spec.key), { kind: "default" }, spec.key);
  });

  it("hands out copies: changing one loaded config leaves the defaults alone", () => {
    const { cwd, home } = makeDirs();
    const first = loadConfig({ cwd, home, env: {}, flags: {} });
    first.config.report.formats.push("json");
    const second = loadConfig({ cwd, home, env: {}, flags: {} });
    assert.deepEqual(second.config.report.formats, ["html"]);
  });
});
