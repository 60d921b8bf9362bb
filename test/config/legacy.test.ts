import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatConfigIssue } from "../../src/config/describe.ts";
import { loadText } from "./temp-dirs.ts";

const lines = (...text: string[]): string => `${text.join("\n")}\n`;

// The 2016 hyperclair file, as its README and defaults wrote it.
const OLD_FILE = lines(
  "clair:", //                1
  "  port: 6060", //          2
  "  healthPort: 6061", //    3
  "  uri: http://clair", //   4
  "  priority: Low", //       5
  "  report:", //             6
  "    path: ./reports", //   7
  "    format: HTML", //      8
  "hyperclair:", //           9
  "  ip: 10.0.0.5", //        10
  "  port: 60000", //         11
  "  tempFolder: /tmp/hyperclair", // 12
  "  interface: eth0", //     13
  "auth:", //                 14
  "  insecureSkipVerify: true", // 15
);

describe("hyperclair 2016 configuration files", () => {
  it("map every old key to its replacement", () => {
    const loaded = loadText(OLD_FILE);
    assert.deepEqual(loaded.errors, []);
    const { config } = loaded;
    assert.equal(config.clair.url, "http://clair:6060");
    assert.equal(config.clair.health.port, 6061);
    assert.equal(config.report.dir, "./reports");
    assert.deepEqual(config.report.formats, ["html"]);
    assert.equal(config.serve.advertise, "http://10.0.0.5:60000");
    assert.equal(config.serve.listen, ":60000");
    assert.equal(config.serve.tempDir, "/tmp/hyperclair");
    assert.equal(config.registry.tls.insecureSkipVerify, true);
    // Nothing else changes.
    assert.equal(config.policy.failOn, "");
    // Located at clair.uri, the key that carries the address.
    assert.deepEqual(loaded.sources.get("clair.url"), { kind: "file", file: ".hyperclair.yml", line: 4 });
    assert.deepEqual(loaded.sources.get("registry.tls.insecureSkipVerify"), {
      kind: "file",
      file: ".hyperclair.yml",
      line: 15,
    });
  });

  it("warn once per old key, at its line, naming the new key", () => {
    const loaded = loadText(OLD_FILE);
    const expected: Array<[number, string, string]> = [
      [2, "clair.port", "use clair.url"],
      [3, "clair.healthPort", "use clair.health.port"],
      [4, "clair.uri", "use clair.url"],
      [5, "clair.priority", "is ignored"],
      [7, "clair.report.path", "use report.dir"],
      [8, "clair.report.format", "use report.formats"],
      [10, "hyperclair.ip", "use serve.advertise"],
      [11, "hyperclair.port", "use serve.listen"],
      [12, "hyperclair.tempFolder", "use serve.tempDir"],
      [13, "hyperclair.interface", "is ignored"],
      [15, "auth.insecureSkipVerify", "use registry.tls.insecureSkipVerify"],
    ];
    assert.equal(loaded.warnings.length, expected.length, loaded.warnings.join("\n"));
    for (const [index, [line, key, replacement]] of expected.entries()) {
      const warning = loaded.warnings[index]!;
      assert.ok(warning.startsWith(`.hyperclair.yml:${line}: ${key} `), warning);
      assert.ok(warning.includes(replacement), warning);
    }
    assert.equal(
      loaded.warnings[0],
      ".hyperclair.yml:2: clair.port is deprecated; use clair.url (read here as clair.url: http://clair:6060)",
    );
    assert.equal(
      loaded.warnings[3],
      ".hyperclair.yml:5: clair.priority is no longer supported and is ignored; to fail on a severity, use policy.failOn",
    );
  });

  it("combine clair.uri and clair.port the way the old client did", () => {
    const cases: Array<[string[], string]> = [
      [["  uri: http://clair", "  port: 6060"], "http://clair:6060"],
      [["  uri: clair.example.com"], "http://clair.example.com:6060"],
      [["  uri: https://clair.example.com:8443/"], "https://clair.example.com:8443"],
      [["  uri: http://clair:7000", "  port: 6070"], "http://clair:6070"],
      [["  port: 7000"], "http://localhost:7000"],
      [["  uri: http://clair/api/", "  port: 6060"], "http://clair:6060/api"],
      [["  uri: 10.1.2.3", "  port: '6060'"], "http://10.1.2.3:6060"],
    ];
    for (const [keys, url] of cases) {
      const loaded = loadText(lines("clair:", ...keys));
      assert.deepEqual(loaded.errors, [], keys.join());
      assert.equal(loaded.config.clair.url, url, keys.join());
      assert.equal(loaded.warnings.length, keys.length);
    }
  });

  it("read keys in any case, as the old viper-based client did", () => {
    const loaded = loadText(
      lines(
        "clair:",
        "  healthport: 6061",
        "hyperclair:",
        "  tempfolder: /t",
        "Auth:",
        "  insecureskipverify: yes",
      ),
    );
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.clair.health.port, 6061);
    assert.equal(loaded.config.serve.tempDir, "/t");
    assert.equal(loaded.config.registry.tls.insecureSkipVerify, true);
    assert.match(
      loaded.warnings[0]!,
      /^\.hyperclair\.yml:2: clair\.healthPort is deprecated; use clair\.health\.port/,
    );
  });

  it("let the new key win when both are given, and say so", () => {
    const loaded = loadText(
      lines(
        "clair:",
        "  url: https://new-clair:6060",
        "  uri: http://old-clair",
        "  port: 6060",
        "report:",
        "  dir: out",
      ),
    );
    assert.equal(loaded.config.clair.url, "https://new-clair:6060");
    assert.deepEqual(loaded.sources.get("clair.url"), { kind: "file", file: ".hyperclair.yml", line: 2 });
    assert.deepEqual(loaded.warnings, [
      ".hyperclair.yml:3: clair.uri is deprecated; use clair.url; the file also sets the new key, which wins",
      ".hyperclair.yml:4: clair.port is deprecated; use clair.url; the file also sets the new key, which wins",
    ]);
  });

  it("let the new key win over an old one written earlier in the file", () => {
    const loaded = loadText(
      lines("clair:", "  report:", "    format: json", "report:", "  formats: [sarif]"),
    );
    assert.deepEqual(loaded.config.report.formats, ["sarif"]);
    assert.match(
      loaded.warnings[0]!,
      /clair\.report\.format is deprecated; use report\.formats; .*new key, which wins/,
    );
  });

  it("advertise just the IP when no port was given, with brackets for IPv6", () => {
    const v4 = loadText(lines("hyperclair:", "  ip: 192.168.1.4"));
    assert.equal(v4.config.serve.advertise, "http://192.168.1.4");
    assert.equal(v4.config.serve.listen, "");
    const v6 = loadText(lines("hyperclair:", "  ip: 'fd00::4'", "  port: 9999"));
    assert.equal(v6.config.serve.advertise, "http://[fd00::4]:9999");
    // Port 0 meant "any free port", which an empty listen address already does.
    const anyPort = loadText(lines("hyperclair:", "  port: 0"));
    assert.equal(anyPort.config.serve.listen, "");
    assert.equal(anyPort.warnings.length, 1);
  });

  it("reject an invalid old value at its line, naming the old key", () => {
    const loaded = loadText(
      lines("clair:", "  uri: http://clair", "  port: sixty", "auth:", "  insecureSkipVerify: maybe"),
    );
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [
      '.hyperclair.yml:3: clair.port: expected a port number 0-65535, got "sixty"',
      '.hyperclair.yml:5: auth.insecureSkipVerify: expected true or false, got "maybe"',
    ]);
    // What could be read still is.
    assert.equal(loaded.config.clair.url, "http://clair:6060");
  });

  it("warn about unknown keys in the old sections too", () => {
    const loaded = loadText(lines("hyperclair:", "  tempFoldr: /t"));
    assert.deepEqual(loaded.warnings, [".hyperclair.yml:2: unknown key hyperclair.tempFoldr"]);
  });
});
