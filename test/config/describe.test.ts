import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeConfig, formatConfigIssue } from "../../src/config/describe.ts";
import { CONFIG_KEYS } from "../../src/config/keys.ts";
import { loadText } from "./temp-dirs.ts";

const lines = (...text: string[]): string => `${text.join("\n")}\n`;

describe("describeConfig", () => {
  const loaded = loadText(
    lines(
      "clair:",
      "  url: http://clair:6060",
      "  psk:",
      "    key: c3VwZXJzZWNyZXQ=",
      "  headers:",
      "    Authorization: Bearer t0ken",
      "    X-Tenant: blue",
      "  timeout: 90s",
    ),
    { env: { HYPERCLAIR_REPORT_FORMATS: "json,html" }, flags: { "clair.api": "v4" } },
  );
  const rows = describeConfig(loaded);
  const row = (key: string) => rows.find((candidate) => candidate.key === key);

  it("lists every key once, in table order", () => {
    assert.deepEqual(
      rows.map((candidate) => candidate.key),
      CONFIG_KEYS.map((spec) => spec.key),
    );
  });

  it("shows values as YAML-ish text with their source", () => {
    assert.deepEqual(row("clair.url"), {
      key: "clair.url",
      value: "http://clair:6060",
      source: ".hyperclair.yml:2",
    });
    assert.deepEqual(row("clair.api"), { key: "clair.api", value: "v4", source: "flag --clair-api" });
    assert.deepEqual(row("clair.timeout"), {
      key: "clair.timeout",
      value: "90s",
      source: ".hyperclair.yml:8",
    });
    assert.deepEqual(row("report.formats"), {
      key: "report.formats",
      value: "[json, html]",
      source: "env HYPERCLAIR_REPORT_FORMATS",
    });
    assert.deepEqual(row("policy.ignoreUnfixed"), {
      key: "policy.ignoreUnfixed",
      value: "false",
      source: "default",
    });
    assert.deepEqual(row("registry.insecure"), { key: "registry.insecure", value: "[]", source: "default" });
  });

  it("never shows a secret, but shows that a secret is empty", () => {
    assert.equal(row("clair.psk.key")?.value, "[redacted]");
    assert.equal(row("clair.headers")?.value, "{Authorization: [redacted], X-Tenant: [redacted]}");
    const text = JSON.stringify(rows);
    assert.ok(!text.includes("c3VwZXJzZWNyZXQ") && !text.includes("t0ken") && !text.includes("blue"), text);
    const empty = describeConfig(loadText("clair: {}\n"));
    assert.equal(empty.find((candidate) => candidate.key === "clair.psk.key")?.value, "");
    assert.equal(empty.find((candidate) => candidate.key === "clair.headers")?.value, "{}");
  });

  it("never shows a password given in a URL", () => {
    const withCredentials = describeConfig(
      loadText("", { env: { HYPERCLAIR_CLAIR_URL: "http://ci:pr0xy-pass@clair.example:6060" } }),
    );
    const url = withCredentials.find((candidate) => candidate.key === "clair.url")?.value ?? "";
    assert.match(url, /^http:\/\/clair\.example:6060/);
    assert.ok(!JSON.stringify(withCredentials).includes("pr0xy-pass"));
  });
});

describe("formatConfigIssue", () => {
  it("writes file:line:col: key: message, leaving out what is unknown", () => {
    assert.equal(
      formatConfigIssue({ key: "clair.api", message: "bad", file: "a.yml", line: 3, column: 7 }),
      "a.yml:3:7: clair.api: bad",
    );
    assert.equal(
      formatConfigIssue({ key: "clair.api", message: "bad", file: "a.yml", line: 3 }),
      "a.yml:3: clair.api: bad",
    );
    assert.equal(formatConfigIssue({ key: "clair.api", message: "bad" }), "clair.api: bad");
    assert.equal(
      formatConfigIssue({ key: "", message: "config file not found", file: "x.yml" }),
      "x.yml: config file not found",
    );
  });
});
