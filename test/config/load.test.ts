import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatConfigIssue } from "../../src/config/describe.ts";
import { discoverConfigFile, loadConfig } from "../../src/config/load.ts";
import { loadText, makeDirs, writeFile } from "./temp-dirs.ts";

const lines = (...text: string[]): string => `${text.join("\n")}\n`;

describe("precedence: defaults < file < environment < flags", () => {
  it("takes each key from the highest layer that sets it, and says where from", () => {
    const loaded = loadText(
      lines(
        "clair:",
        "  url: http://file:6060",
        "  api: v1",
        "  timeout: 90s",
        "report:",
        "  dir: file-reports",
      ),
      {
        env: {
          HYPERCLAIR_CLAIR_API: "v4",
          HYPERCLAIR_CLAIR_URL: "http://env:6060",
          HYPERCLAIR_REPORT_DIR: "",
        },
        flags: { "clair.url": "http://flag:6060", "clair.api": undefined },
      },
    );
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.clair.url, "http://flag:6060");
    assert.equal(loaded.config.clair.api, "v4");
    assert.equal(loaded.config.clair.timeout, 90_000);
    // An empty variable counts as unset.
    assert.equal(loaded.config.report.dir, "file-reports");
    assert.equal(loaded.config.policy.ignoreFile, ".hyperclair-ignore.yml");
    assert.deepEqual(loaded.sources.get("clair.url"), { kind: "flag", name: "--clair-url" });
    assert.deepEqual(loaded.sources.get("clair.api"), { kind: "env", name: "HYPERCLAIR_CLAIR_API" });
    assert.deepEqual(loaded.sources.get("clair.timeout"), { kind: "file", file: ".hyperclair.yml", line: 4 });
    assert.deepEqual(loaded.sources.get("policy.ignoreFile"), { kind: "default" });
    assert.equal(loaded.file, join(loaded.cwd, ".hyperclair.yml"));
  });

  it("replaces a whole list or header map from a higher layer rather than merging", () => {
    const loaded = loadText(lines("report:", "  formats: [html, json]", "clair:", "  headers: {X-A: a}"), {
      env: { HYPERCLAIR_REPORT_FORMATS: "sarif" },
      flags: { "clair.headers": { "X-B": "b" } },
    });
    assert.deepEqual(loaded.config.report.formats, ["sarif"]);
    assert.deepEqual(loaded.config.clair.headers, { "X-B": "b" });
  });
});

describe("file discovery", () => {
  it("prefers ./.hyperclair.yml, then $XDG_CONFIG_HOME/hyperclair/config.yml, then ~/.hyperclair.yml", () => {
    const { cwd, home, root } = makeDirs();
    const xdg = join(root, "xdg");
    const input = { cwd, home, env: { XDG_CONFIG_HOME: xdg } };
    assert.equal(discoverConfigFile(input), undefined);
    const homeFile = writeFile(join(home, ".hyperclair.yml"), "clair: {api: v1}\n");
    assert.equal(discoverConfigFile(input), homeFile);
    const xdgFile = writeFile(join(xdg, "hyperclair", "config.yml"), "clair: {api: v4}\n");
    assert.equal(discoverConfigFile(input), xdgFile);
    const localFile = writeFile(join(cwd, ".hyperclair.yml"), "clair: {api: auto}\n");
    assert.equal(discoverConfigFile(input), localFile);
    // Only the first file found is read.
    assert.equal(loadConfig({ ...input, flags: {} }).config.clair.api, "auto");
  });

  it("falls back to ~/.config when XDG_CONFIG_HOME is unset or relative", () => {
    const { cwd, home } = makeDirs();
    const file = writeFile(join(home, ".config", "hyperclair", "config.yml"), "clair: {api: v1}\n");
    assert.equal(discoverConfigFile({ cwd, home, env: {} }), file);
    assert.equal(discoverConfigFile({ cwd, home, env: { XDG_CONFIG_HOME: "relative/dir" } }), file);
    const loaded = loadConfig({ cwd, home, env: {}, flags: {} });
    assert.equal(loaded.config.clair.api, "v1");
    assert.deepEqual(loaded.sources.get("clair.api"), { kind: "file", file, line: 1 });
  });

  it("skips a directory that has a config file's name", () => {
    const { cwd, home } = makeDirs();
    mkdirSync(join(cwd, ".hyperclair.yml"));
    const file = writeFile(join(home, ".hyperclair.yml"), "clair: {api: v1}\n");
    assert.equal(discoverConfigFile({ cwd, home, env: {} }), file);
  });

  it("--config wins over every other place and is resolved against the working directory", () => {
    const { cwd, home } = makeDirs();
    writeFile(join(cwd, ".hyperclair.yml"), "clair: {api: v1}\n");
    const chosen = writeFile(join(cwd, "conf", "ci.yml"), "clair: {api: v4}\n");
    const loaded = loadConfig({ configPath: "conf/ci.yml", cwd, home, env: {}, flags: {} });
    assert.equal(loaded.file, chosen);
    assert.equal(loaded.config.clair.api, "v4");
  });

  it("reports a missing --config file as an error, not a silent default", () => {
    const { cwd, home } = makeDirs();
    writeFile(join(cwd, ".hyperclair.yml"), "clair: {api: v1}\n");
    const loaded = loadConfig({ configPath: "nope.yml", cwd, home, env: {}, flags: {} });
    assert.equal(loaded.file, undefined);
    assert.deepEqual(loaded.errors.map(formatConfigIssue), ["nope.yml: config file not found"]);
    assert.equal(loaded.config.clair.api, "auto");
  });

  it("accepts an empty file", () => {
    const loaded = loadText("# nothing yet\n");
    assert.deepEqual([loaded.errors, loaded.warnings], [[], []]);
  });
});

describe("validation of file values, with the file's line", () => {
  const cases: Array<[string, string, string]> = [
    ["clair:\n  timeout: soon", "clair.timeout", 'expected a duration such as 90s or 10m, got "soon"'],
    ["clair:\n  timeout: -5", "clair.timeout", "expected a duration such as 90s or 10m, got -5 (a number)"],
    ["clair:\n  api: v3", "clair.api", 'expected one of auto, v1, v4, got "v3"'],
    ["clair:\n  url: clair:6060", "clair.url", "expected an http(s) URL"],
    ["clair:\n  url: ftp://clair", "clair.url", "expected an http(s) URL"],
    ["clair:\n  indexer: 42", "clair.indexer", "expected an http(s) URL, got 42 (a number)"],
    ["clair:\n  health:\n    port: 70000", "clair.health.port", "expected a port number 0-65535, got 70000"],
    [
      "clair:\n  tls:\n    insecureSkipVerify: maybe",
      "clair.tls.insecureSkipVerify",
      'expected true or false, got "maybe"',
    ],
    [
      "clair:\n  psk:\n    issuer: 12",
      "clair.psk.issuer",
      "expected a string, got 12 (a number); put the value in quotes",
    ],
    [
      "clair:\n  headers: [a, b]",
      "clair.headers",
      "expected a mapping of header names to values, got a list",
    ],
    ["clair:\n  headers:\n    bad name: x", "clair.headers", '"bad name" is not a valid header name'],
    ["registry:\n  platform: amd64", "registry.platform", "expected os/arch[/variant]"],
    ["registry:\n  insecure: {a: b}", "registry.insecure", "expected a list of strings, got a mapping"],
    ["serve:\n  listen: host:99999", "serve.listen", "expected host, host:port or :port"],
    ["serve:\n  advertise: not a url", "serve.advertise", "expected an http(s) URL"],
    [
      "policy:\n  failOn: severe",
      "policy.failOn",
      "expected one of unknown, negligible, low, medium, high, critical",
    ],
    ["report:\n  formats: [html, pdf]", "report.formats", 'got "pdf"'],
    ["clair: http://clair:6060", "clair", "expected a section of keys"],
  ];
  for (const [text, key, message] of cases) {
    it(`${key}: ${message}`, () => {
      const loaded = loadText(`# settings\n${text}\n`);
      assert.equal(loaded.errors.length, 1, JSON.stringify(loaded.errors));
      const issue = loaded.errors[0]!;
      assert.equal(issue.key, key);
      assert.equal(issue.file, ".hyperclair.yml");
      // The value's key is on the last line of the snippet (after the comment line).
      assert.equal(issue.line, text.split("\n").length + 1);
      assert.ok(issue.message.includes(message), issue.message);
      assert.ok(formatConfigIssue(issue).startsWith(`.hyperclair.yml:${issue.line}: ${key}: `));
    });
  }

  it("formats the error as the user sees it", () => {
    const loaded = loadText(lines("clair:", "  url: http://clair:6060", "", "  timeout: soon"));
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [
      '.hyperclair.yml:4: clair.timeout: expected a duration such as 90s or 10m, got "soon"',
    ]);
    // The bad value is not used; the default stays.
    assert.equal(loaded.config.clair.timeout, 600_000);
  });

  it("points at the bad item of a list", () => {
    const loaded = loadText(lines("report:", "  formats:", "    - html", "    - pdf"));
    assert.equal(loaded.errors[0]?.line, 4);
  });

  it("reports every bad value, not only the first", () => {
    const loaded = loadText(lines("clair:", "  api: v9", "policy:", "  failOn: bad"));
    assert.deepEqual(
      loaded.errors.map((issue) => [issue.key, issue.line]),
      [
        ["clair.api", 2],
        ["policy.failOn", 4],
      ],
    );
  });

  it("rejects an empty clair.url unless the indexer and matcher are both set", () => {
    const empty = loadText(lines("clair:", '  url: ""'));
    assert.deepEqual(empty.errors.map(formatConfigIssue), [
      ".hyperclair.yml:2: clair.url: Clair's URL is empty; set clair.url (or both clair.indexer and clair.matcher)",
    ]);
    const split = loadText(
      lines("clair:", '  url: ""', "  indexer: http://i:8080", "  matcher: http://m:8080"),
    );
    assert.deepEqual(split.errors, []);
  });
});

describe("value normalisation", () => {
  it("reads durations as milliseconds", () => {
    for (const [text, ms] of [
      ["10m", 600_000],
      ["90s", 90_000],
      ["500ms", 500],
      ["1h", 3_600_000],
      ["1h30m", 5_400_000],
      ["1.5s", 1500],
      ["120", 120_000],
      ['"45"', 45_000],
    ] as const) {
      const loaded = loadText(`clair:\n  timeout: ${text}\n`);
      assert.deepEqual(loaded.errors, [], text);
      assert.equal(loaded.config.clair.timeout, ms, text);
    }
  });

  it("removes the trailing slash of URLs and lower-cases severities, APIs and formats", () => {
    const loaded = loadText(
      lines(
        "clair:",
        "  url: https://clair.example.com:6060/",
        "  api: V4",
        "  health:",
        "    url: http://clair:8089/",
        "policy:",
        "  failOn: High",
        "report:",
        "  formats: [HTML, json, html]",
        "serve:",
        "  advertise: http://host.docker.internal:9999/",
      ),
    );
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.clair.url, "https://clair.example.com:6060");
    assert.equal(loaded.config.clair.health.url, "http://clair:8089");
    assert.equal(loaded.config.clair.api, "v4");
    assert.equal(loaded.config.policy.failOn, "high");
    assert.deepEqual(loaded.config.report.formats, ["html", "json"]);
    assert.equal(loaded.config.serve.advertise, "http://host.docker.internal:9999");
  });

  it("accepts the listen forms host, host:port, [v6]:port and :port", () => {
    for (const listen of ["127.0.0.1", "0.0.0.0:8080", "[::1]:8080", ":8080", "localhost"]) {
      const loaded = loadText(`serve:\n  listen: "${listen}"\n`);
      assert.deepEqual(loaded.errors, [], listen);
      assert.equal(loaded.config.serve.listen, listen);
    }
  });

  it("accepts a platform with a variant", () => {
    assert.equal(
      loadText("registry:\n  platform: linux/arm64/v8\n").config.registry.platform,
      "linux/arm64/v8",
    );
  });

  it("finds input files named in a config file next to that file, and expands ~/", () => {
    const { cwd, home, root } = makeDirs();
    const file = writeFile(
      join(root, "etc", "hc.yml"),
      lines(
        "clair:",
        "  tls:",
        "    ca: certs/ca.pem",
        "  psk:",
        "    keyFile: ~/clair.key",
        "report:",
        "  dir: out",
      ),
    );
    const loaded = loadConfig({ configPath: file, cwd, home, env: {}, flags: {} });
    assert.equal(loaded.config.clair.tls.ca, join(root, "etc", "certs", "ca.pem"));
    assert.equal(loaded.config.clair.psk.keyFile, join(home, "clair.key"));
    // Output locations stay relative to where the command runs.
    assert.equal(loaded.config.report.dir, "out");
  });

  it("treats `key:` with no value as unset", () => {
    const loaded = loadText(lines("clair:", "  url:", "  api:"));
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.clair.url, "http://localhost:6060");
  });
});

describe("unknown keys", () => {
  it("warns with file:line and suggests the closest known key", () => {
    const loaded = loadText(
      lines("clair:", "  url: http://c:6060", "  tiemout: 10m", "polcy:", "  failOn: high"),
    );
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, [
      ".hyperclair.yml:3: unknown key clair.tiemout; did you mean clair.timeout?",
      ".hyperclair.yml:4: unknown key polcy; did you mean policy?",
    ]);
    assert.equal(loaded.config.clair.timeout, 600_000);
  });

  it("suggests the right spelling for a wrongly-cased key and the right section for a misplaced one", () => {
    const loaded = loadText(
      lines("registry:", "  tls:", "    insecureskipverify: true", "clair:", "  platform: linux/arm64"),
    );
    assert.deepEqual(loaded.warnings, [
      ".hyperclair.yml:3: unknown key registry.tls.insecureskipverify; did you mean registry.tls.insecureSkipVerify?",
      ".hyperclair.yml:5: unknown key clair.platform; did you mean registry.platform?",
    ]);
  });

  it("warns without a guess when nothing is close", () => {
    const loaded = loadText(lines("frobnicate: 1"));
    assert.deepEqual(loaded.warnings, [".hyperclair.yml:1: unknown key frobnicate"]);
  });
});

describe("YAML syntax errors", () => {
  it("give file:line:column and the parser's reason", () => {
    const loaded = loadText(lines("clair:", "  url: http://c:6060", "  api: v4: v1", "  timeout: 1m"));
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [
      ".hyperclair.yml:3:8: Nested mappings are not allowed in compact mappings",
    ]);
    // The file was read even though it could not be used.
    assert.equal(loaded.file, join(loaded.cwd, ".hyperclair.yml"));
    assert.equal(loaded.config.clair.url, "http://localhost:6060");
  });

  it("point at a tab used for indentation", () => {
    const loaded = loadText("clair:\n\turl: http://c:6060\n");
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [
      ".hyperclair.yml:2:1: Tabs are not allowed as indentation",
    ]);
  });

  it("report a duplicated key where it is repeated", () => {
    const loaded = loadText(lines("clair:", "  api: v1", "  api: v4"));
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [".hyperclair.yml:3:3: Map keys must be unique"]);
  });

  it("reject a file that is not a mapping", () => {
    const loaded = loadText(lines("- clair", "- url"));
    assert.equal(loaded.errors.length, 1);
    assert.match(
      formatConfigIssue(loaded.errors[0]!),
      /^\.hyperclair\.yml:1:1: expected a mapping of settings/,
    );
  });
});

describe("HYPERCLAIR_* environment", () => {
  it("sets every kind of key", () => {
    const { cwd, home } = makeDirs();
    const loaded = loadConfig({
      cwd,
      home,
      flags: {},
      env: {
        HYPERCLAIR_CLAIR_URL: "http://env-clair:6060/",
        HYPERCLAIR_CLAIR_TIMEOUT: "2m",
        HYPERCLAIR_CLAIR_HEALTH_PORT: "8089",
        HYPERCLAIR_CLAIR_PSK_KEY: "c2VjcmV0",
        HYPERCLAIR_CLAIR_PSK_KEY_FILE: "~/k",
        HYPERCLAIR_CLAIR_TLS_INSECURE_SKIP_VERIFY: "yes",
        HYPERCLAIR_REGISTRY_INSECURE: "localhost:5000, registry.lan ,",
        HYPERCLAIR_REGISTRY_TLS_INSECURE_SKIP_VERIFY: "0",
        HYPERCLAIR_POLICY_IGNORE_UNFIXED: "TRUE",
        HYPERCLAIR_POLICY_FAIL_ON: "Critical",
        HYPERCLAIR_REPORT_FORMATS: "sarif,html",
      },
    });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.clair.url, "http://env-clair:6060");
    assert.equal(loaded.config.clair.timeout, 120_000);
    assert.equal(loaded.config.clair.health.port, 8089);
    assert.equal(loaded.config.clair.psk.key, "c2VjcmV0");
    assert.equal(loaded.config.clair.psk.keyFile, join(home, "k"));
    assert.equal(loaded.config.clair.tls.insecureSkipVerify, true);
    assert.deepEqual(loaded.config.registry.insecure, ["localhost:5000", "registry.lan"]);
    assert.equal(loaded.config.registry.tls.insecureSkipVerify, false);
    assert.equal(loaded.config.policy.ignoreUnfixed, true);
    assert.equal(loaded.config.policy.failOn, "critical");
    assert.deepEqual(loaded.config.report.formats, ["sarif", "html"]);
    assert.deepEqual(loaded.sources.get("clair.psk.keyFile"), {
      kind: "env",
      name: "HYPERCLAIR_CLAIR_PSK_KEY_FILE",
    });
  });

  it("reads headers as Name=value pairs, lines, or a JSON object", () => {
    const { cwd, home } = makeDirs();
    const headersFrom = (value: string): Record<string, string> => {
      const loaded = loadConfig({ cwd, home, flags: {}, env: { HYPERCLAIR_CLAIR_HEADERS: value } });
      assert.deepEqual(loaded.errors, [], value);
      return loaded.config.clair.headers;
    };
    assert.deepEqual(headersFrom("X-Tenant=blue, Authorization=Bearer abc=="), {
      "X-Tenant": "blue",
      Authorization: "Bearer abc==",
    });
    assert.deepEqual(headersFrom("Accept=a, b\nX-Tenant=blue\n"), { Accept: "a, b", "X-Tenant": "blue" });
    assert.deepEqual(headersFrom('{"Accept": "a, b", "X-N": 1}'), { Accept: "a, b", "X-N": "1" });
  });

  it("names the variable in the error for an invalid value", () => {
    const { cwd, home } = makeDirs();
    const loaded = loadConfig({
      cwd,
      home,
      flags: {},
      env: {
        HYPERCLAIR_CLAIR_TIMEOUT: "soon",
        HYPERCLAIR_CLAIR_TLS_INSECURE_SKIP_VERIFY: "perhaps",
        HYPERCLAIR_CLAIR_HEALTH_PORT: "http",
        HYPERCLAIR_CLAIR_HEADERS: "no-equals-sign",
        HYPERCLAIR_CLAIR_URL: "localhost:6060",
        HYPERCLAIR_REPORT_FORMATS: "html,pdf",
      },
    });
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [
      'clair.url: expected an http(s) URL such as http://clair.example.com:6060, got "localhost:6060" (from HYPERCLAIR_CLAIR_URL)',
      'clair.timeout: expected a duration such as 90s or 10m, got "soon" (from HYPERCLAIR_CLAIR_TIMEOUT)',
      'clair.health.port: expected a port number 0-65535, got "http" (from HYPERCLAIR_CLAIR_HEALTH_PORT)',
      'clair.headers: expected Name=value header entries, got "no-equals-sign" (from HYPERCLAIR_CLAIR_HEADERS)',
      'clair.tls.insecureSkipVerify: expected true or false, got "perhaps" (from HYPERCLAIR_CLAIR_TLS_INSECURE_SKIP_VERIFY)',
      'report.formats: expected each of html, json, sarif, junit, markdown, table, got "pdf" (from HYPERCLAIR_REPORT_FORMATS)',
    ]);
    // Invalid values leave the lower layer in force.
    assert.equal(loaded.config.clair.url, "http://localhost:6060");
  });

  it("warns about a misspelt variable, and leaves other HYPERCLAIR_ variables alone", () => {
    const { cwd, home } = makeDirs();
    const loaded = loadConfig({
      cwd,
      home,
      flags: {},
      env: { HYPERCLAIR_CLAIR_URI: "http://x", HYPERCLAIR_DEBUG: "1", HYPERCLAIR_SOMETHING_ELSE: "1" },
    });
    assert.deepEqual(loaded.warnings, [
      "HYPERCLAIR_CLAIR_URI is not a hyperclair setting; did you mean HYPERCLAIR_CLAIR_URL?",
    ]);
  });
});

describe("flags", () => {
  it("are validated like environment values, the error naming the flag", () => {
    const { cwd, home } = makeDirs();
    const loaded = loadConfig({
      cwd,
      home,
      env: {},
      flags: { "clair.api": "v5", "clair.url": "http://ok:6060", "policy.failOn": "severe", "no.such": 1 },
    });
    assert.deepEqual(loaded.errors.map(formatConfigIssue), [
      'clair.api: expected one of auto, v1, v4, got "v5" (from flag --clair-api)',
      'policy.failOn: expected one of unknown, negligible, low, medium, high, critical or "", got "severe" (from flag --fail-on)',
      "no.such: not a configuration key (from a flag)",
    ]);
    assert.equal(loaded.config.clair.url, "http://ok:6060");
    assert.equal(loaded.config.clair.api, "auto");
  });

  it("take numbers, booleans and arrays as yargs gives them", () => {
    const { cwd, home } = makeDirs();
    const loaded = loadConfig({
      cwd,
      home,
      env: {},
      flags: {
        "clair.timeout": 30,
        "clair.health.port": 6061,
        "policy.ignoreUnfixed": true,
        "report.formats": ["sarif,html", "json"],
        "clair.headers": ["X-A=1", "X-B=2"],
      },
    });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.clair.timeout, 30_000);
    assert.equal(loaded.config.clair.health.port, 6061);
    assert.equal(loaded.config.policy.ignoreUnfixed, true);
    assert.deepEqual(loaded.config.report.formats, ["sarif", "html", "json"]);
    assert.deepEqual(loaded.config.clair.headers, { "X-A": "1", "X-B": "2" });
    assert.deepEqual(loaded.sources.get("report.formats"), { kind: "flag", name: "--format" });
  });
});

describe("secret file mode", () => {
  const secretText = lines("clair:", "  psk:", "    key: c2VjcmV0");

  it("warns with the exact chmod when a file holding a secret is readable by others", () => {
    const loaded = loadText(secretText, { mode: 0o644 });
    assert.deepEqual(loaded.warnings, [
      ".hyperclair.yml holds secrets (clair.psk.key) but other users can read it (mode 0644); run: chmod 600 .hyperclair.yml",
    ]);
    assert.equal(loaded.config.clair.psk.key, "c2VjcmV0");
  });

  it("warns for group-readable header values too, naming the absolute path outside the project", () => {
    const { cwd, home } = makeDirs();
    const file = writeFile(
      join(home, ".hyperclair.yml"),
      lines("clair:", "  headers:", "    X-Token: t"),
      0o640,
    );
    const loaded = loadConfig({ cwd, home, env: {}, flags: {} });
    assert.deepEqual(loaded.warnings, [
      `${file} holds secrets (clair.headers) but other users can read it (mode 0640); run: chmod 600 ${file}`,
    ]);
  });

  it("stays quiet for mode 0600, and for a readable file without secrets", () => {
    assert.deepEqual(loadText(secretText, { mode: 0o600 }).warnings, []);
    assert.deepEqual(
      loadText(lines("clair:", "  psk:", '    key: ""', "  headers: {}"), { mode: 0o644 }).warnings,
      [],
    );
  });
});
