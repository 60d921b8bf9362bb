import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { clairApiAvailable, type SchemaName, skipReason, validateAgainstSchema } from "./conformance.ts";
import {
  alpineInstalled,
  alpineOsRelease,
  buildLayer,
  curlStanzas,
  debian11OsRelease,
  debian11Status,
  debian12OsRelease,
  debian12Status,
  dpkgStanza,
  type LayerServer,
  sha256,
  startLayerServer,
} from "./fixtures.ts";
import { type RunningEmulator, startEmulator } from "./index.ts";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Every JSON body the tests receive, with the schema it must satisfy. */
const received: Array<{ schema: SchemaName; body: unknown; what: string }> = [];

function schemaFor(method: string, route: string, status: number): SchemaName | undefined {
  if (status >= 400) return "error";
  if (route.includes("/vulnerability_report/")) return "vulnerability_report";
  if (route.endsWith("/index_state")) return "index_state";
  if (method === "DELETE" && route.endsWith("/index_report")) return "bulk_delete";
  if (route.includes("/index_report")) return "index_report";
  return undefined;
}

async function call(
  base: string,
  method: string,
  route: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers: options.headers ?? {} };
  if (options.body !== undefined) {
    init.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const res = await fetch(`${base}${route}`, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const schema = schemaFor(method, route, res.status);
  if (schema && json !== undefined)
    received.push({ schema, body: json, what: `${method} ${route} ${res.status}` });
  return { status: res.status, headers: res.headers, text, json };
}

interface LayerSpec {
  hash: string;
  uri: string;
  headers?: Record<string, string[]>;
}

const manifestOf = (name: string, layers: LayerSpec[]) => ({ hash: sha256(`manifest:${name}`), layers });

interface VulnReport {
  packages: Record<string, { name: string; version: string }>;
  vulnerabilities: Record<
    string,
    {
      name: string;
      severity: string;
      normalized_severity: string;
      fixed_in_version: string;
      description: string;
    }
  >;
  package_vulnerabilities: Record<string, string[]>;
  environments: Record<string, Array<{ introduced_in: string; distribution_id: string }>>;
  enrichments: Record<string, Array<Record<string, unknown>>>;
}

/** `package name → [vulnerability name, normalized severity, fixed in]` for easy assertions. */
function findingsOf(report: VulnReport): Map<string, Array<[string, string, string]>> {
  const out = new Map<string, Array<[string, string, string]>>();
  for (const [pkgId, vulnIds] of Object.entries(report.package_vulnerabilities)) {
    const pkg = report.packages[pkgId]!;
    out.set(
      pkg.name,
      vulnIds.map((id) => {
        const v = report.vulnerabilities[id]!;
        return [v.name, v.normalized_severity, v.fixed_in_version];
      }),
    );
  }
  return out;
}

describe("Clair v4 emulator", () => {
  let emulator: RunningEmulator;
  let layers: LayerServer;
  let base: LayerSpec;
  let child: LayerSpec;
  const logLines: string[] = [];

  before(async () => {
    layers = await startLayerServer();
    emulator = await startEmulator({ api: "v4", log: (l) => logLines.push(l) });
    const baseBlob = await buildLayer({
      "etc/os-release": debian11OsRelease,
      "var/lib/dpkg/status": debian11Status,
    });
    const childBlob = await buildLayer(
      { "var/lib/dpkg/status": `${debian11Status}\n${curlStanzas}` },
      { gzip: false },
    );
    base = { hash: sha256(baseBlob), uri: layers.serve("/base", { body: baseBlob }) };
    child = {
      hash: sha256(childBlob),
      uri: layers.serve("/child", { body: childBlob, headers: { "Content-Type": "application/x-tar" } }),
      headers: { Authorization: ["Bearer layer-token"] },
    };
  });
  after(async () => {
    await emulator.close();
    await layers.close();
  });

  test("vulnerability report before indexing: 404 with ClairCore's message", async () => {
    const digest = sha256("never indexed");
    const answer = await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${digest}`);
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.get("content-type"), "application/json");
    assert.deepEqual(answer.json, {
      code: "not-found",
      message: `index report for manifest "${digest}" not found`,
    });
  });

  test("POST index_report fetches the layers with their headers and answers 201 with ETag, Location and Links", async () => {
    const manifest = manifestOf("debian11", [base, child]);
    const answer = await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: manifest });
    assert.equal(answer.status, 201);
    const state = ((await call(emulator.url, "GET", "/indexer/api/v1/index_state")).json as { state: string })
      .state;
    assert.equal(answer.headers.get("etag"), `"${state}"`);
    assert.equal(answer.headers.get("location"), `/indexer/api/v1/index_report/${manifest.hash}`);
    const links = answer.headers.get("link") ?? "";
    assert.ok(
      links.includes(
        `</indexer/api/v1/index_report/${manifest.hash}>; rel="https://projectquay.io/clair/v1/index_report"`,
      ),
    );
    assert.ok(
      links.includes(
        `</matcher/api/v1/vulnerability_report/${manifest.hash}>; rel="https://projectquay.io/clair/v1/vulnerability_report"`,
      ),
    );
    const report = answer.json as {
      state: string;
      success: boolean;
      packages: Record<string, { name: string }>;
      environments: Record<string, Array<{ introduced_in: string; package_db: string }>>;
    };
    assert.equal(report.state, "IndexFinished");
    assert.equal(report.success, true);
    const introducedBy = new Map(
      Object.entries(report.packages).map(([id, p]) => [p.name, report.environments[id]![0]!.introduced_in]),
    );
    assert.equal(introducedBy.get("libc6"), base.hash);
    assert.equal(introducedBy.get("curl"), child.hash);
    assert.equal(introducedBy.get("libcurl4"), child.hash);
    const childFetch = layers.seen.find((s) => s.path === "/child");
    assert.equal(childFetch?.headers.authorization, "Bearer layer-token");
    const recorded = emulator.fetches.find((f) => f.url === child.uri);
    assert.deepEqual(recorded?.headers["Authorization"], ["Bearer layer-token"]);
    assert.equal(recorded?.digest, child.hash);
    assert.equal(recorded?.ok, true);
  });

  test("the vulnerability report has the feed's findings with vendor and normalized severities", async () => {
    const manifest = manifestOf("debian11", [base, child]);
    const answer = await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${manifest.hash}`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-type"), "application/json");
    const report = answer.json as VulnReport;
    const findings = findingsOf(report);
    assert.deepEqual(findings.get("libssl1.1"), [["CVE-2022-2068", "High", "1.1.1n-0+deb11u4"]]);
    assert.deepEqual(findings.get("openssl"), [["CVE-2022-2068", "High", "1.1.1n-0+deb11u4"]]);
    assert.deepEqual(findings.get("zlib1g"), [["CVE-2022-37434", "Critical", "1:1.2.11.dfsg-2+deb11u2"]]);
    assert.deepEqual(findings.get("bash"), [["CVE-2022-3715", "Low", ""]]);
    assert.deepEqual(findings.get("libc6"), [["CVE-2021-3999", "Negligible", "2.31-13+deb11u4"]]);
    assert.deepEqual(findings.get("curl"), [["CVE-2022-32221", "Medium", "7.74.0-1.3+deb11u7"]]);
    assert.equal(findings.has("base-files"), false);
    const vendor = Object.values(report.vulnerabilities).find((v) => v.name === "CVE-2022-37434");
    assert.equal(vendor?.severity, "high");
    const cvssKey = Object.keys(report.enrichments).find((k) => k.includes("enricher=clair.cvss"));
    assert.ok(cvssKey, "a clair.cvss enrichment is present");
    const cvss = report.enrichments[cvssKey]![0]!;
    const zlibVulnId = Object.entries(report.vulnerabilities).find(
      ([, v]) => v.name === "CVE-2022-37434",
    )![0];
    assert.deepEqual((cvss[zlibVulnId] as Array<{ baseScore: number }>)[0]!.baseScore, 9.8);
    assert.match(answer.text, /\\u003cscript\\u003e/);
  });

  test("Debian 12: 3.0.9-1 is older than 3.0.11-1~deb12u1", async () => {
    const blob = await buildLayer({
      "etc/os-release": debian12OsRelease,
      "var/lib/dpkg/status": debian12Status,
    });
    const manifest = manifestOf("debian12", [
      { hash: sha256(blob), uri: layers.serve("/d12", { body: blob }) },
    ]);
    assert.equal(
      (await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: manifest })).status,
      201,
    );
    const report = (await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${manifest.hash}`))
      .json as VulnReport;
    assert.deepEqual(findingsOf(report).get("libssl3"), [["CVE-2023-4807", "High", "3.0.11-1~deb12u1"]]);
  });

  test("Alpine 3.15: apk packages match by name with apk version ordering", async () => {
    const blob = await buildLayer({
      "etc/os-release": alpineOsRelease,
      "etc/alpine-release": "3.15.4\n",
      "lib/apk/db/installed": alpineInstalled,
    });
    const manifest = manifestOf("alpine", [
      { hash: sha256(blob), uri: layers.serve("/alpine", { body: blob }) },
    ]);
    assert.equal(
      (await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: manifest })).status,
      201,
    );
    const findings = findingsOf(
      (await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${manifest.hash}`))
        .json as VulnReport,
    );
    assert.deepEqual(findings.get("libssl1.1"), [["CVE-2022-0778", "High", "1.1.1n-r0"]]);
    assert.deepEqual(findings.get("libcrypto1.1"), [["CVE-2022-0778", "High", "1.1.1n-r0"]]);
    assert.deepEqual(findings.get("zlib"), [["CVE-2018-25032", "Critical", "1.2.12-r0"]]);
    assert.deepEqual(findings.get("busybox"), [["CVE-2022-28391", "Medium", "1.34.1-r5"]]);
    assert.equal(findings.has("musl"), false);
  });

  test("re-POST of an indexed manifest returns the stored report without fetching", async () => {
    const manifest = manifestOf("debian11", [base, child]);
    const before = layers.seen.length;
    const first = await call(emulator.url, "GET", `/indexer/api/v1/index_report/${manifest.hash}`);
    // Layers that are now wrong do not matter: Clair does not look at them.
    const again = await call(emulator.url, "POST", "/indexer/api/v1/index_report", {
      body: { hash: manifest.hash, layers: [{ hash: sha256("other"), uri: `${layers.url}/gone` }] },
    });
    assert.equal(again.status, 201);
    assert.deepEqual(again.json, first.json);
    assert.equal(layers.seen.length, before);
  });

  test("layers already scanned are not fetched again for another manifest", async () => {
    const extraBlob = await buildLayer({ "etc/motd": "hello\n" });
    const extra = { hash: sha256(extraBlob), uri: layers.serve("/extra", { body: extraBlob }) };
    const before = layers.seen.map((s) => s.path);
    const answer = await call(emulator.url, "POST", "/indexer/api/v1/index_report", {
      body: manifestOf("reuse", [base, extra]),
    });
    assert.equal(answer.status, 201);
    const fetched = layers.seen.map((s) => s.path).slice(before.length);
    assert.deepEqual(fetched, ["/extra"]);
  });

  test("the layers of a manifest are fetched concurrently", async () => {
    const specs = await Promise.all(
      [1, 2, 3].map(async (k) => {
        const blob = await buildLayer({ [`etc/slow-${k}`]: `${k}\n` });
        return { hash: sha256(blob), uri: layers.serve(`/slow-${k}`, { body: blob, delayMs: 300 }) };
      }),
    );
    const started = Date.now();
    const answer = await call(emulator.url, "POST", "/indexer/api/v1/index_report", {
      body: manifestOf("slow", specs),
    });
    assert.equal(answer.status, 201);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 800, `three 300 ms layers took ${elapsed} ms`);
  });

  test("a manifest that does not match the schema: 400 with ClairCore's messages", async () => {
    const route = "/indexer/api/v1/index_report";
    const noLayers = await call(emulator.url, "POST", route, { body: { hash: sha256("x"), layers: [] } });
    assert.equal(noLayers.status, 400);
    assert.deepEqual(noLayers.json, { code: "bad-request", message: "bogus manifest" });
    assert.equal(noLayers.headers.get("content-type"), "application/json");
    const noHash = await call(emulator.url, "POST", route, { body: { layers: [base] } });
    assert.deepEqual(noHash.json, { code: "bad-request", message: "bogus manifest" });
    const syntax = await call(emulator.url, "POST", route, { body: "{hash}" });
    assert.equal(syntax.status, 400);
    assert.equal(
      (syntax.json as { message: string }).message,
      "failed to deserialize manifest: invalid character 'h' looking for beginning of object key string",
    );
    // The v1 habit of string header values is wrong in v4 (map of string arrays).
    const v1Headers = await call(emulator.url, "POST", route, {
      body: { hash: sha256("y"), layers: [{ ...base, headers: { Authorization: "Bearer x" } }] },
    });
    assert.equal(v1Headers.status, 400);
    assert.match(
      (v1Headers.json as { message: string }).message,
      /cannot unmarshal string .* of type \[\]string/,
    );
    const badDigest = await call(emulator.url, "POST", route, {
      body: { hash: sha256("z"), layers: [{ hash: "sha256:abc", uri: base.uri }] },
    });
    assert.equal(badDigest.status, 400);
    const unknownField = await call(emulator.url, "POST", route, {
      body: { hash: sha256("w"), layers: [{ ...base, digest: base.hash }] },
    });
    assert.equal(unknownField.status, 400);
    assert.match((unknownField.json as { message: string }).message, /unknown field "digest"/);
    const relative = await call(emulator.url, "POST", route, {
      body: { hash: sha256("v"), layers: [{ hash: base.hash, uri: "/base" }] },
    });
    assert.equal(relative.status, 400);
    const dockerMediaType = await call(emulator.url, "POST", route, {
      body: {
        hash: sha256("u"),
        layers: [{ ...base, media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip" }],
      },
    });
    assert.equal(dockerMediaType.status, 400);
  });

  /** POST a one-layer manifest whose layer the server answers with `blob`; returns the answer. */
  async function indexOne(
    name: string,
    blob: { body: Buffer; status?: number; headers?: Record<string, string> },
    hash?: string,
  ) {
    const uri = layers.serve(`/${name}`, blob);
    const manifest = manifestOf(name, [{ hash: hash ?? sha256(blob.body), uri }]);
    const answer = await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: manifest });
    return { answer, manifest };
  }

  test("a digest mismatch fails the index: 500, stored report in IndexError, no vulnerability report", async () => {
    const blob = await buildLayer({ "etc/os-release": debian11OsRelease });
    const wrong = sha256("something else");
    const { answer, manifest } = await indexOne("mismatch", { body: blob }, wrong);
    assert.equal(answer.status, 500);
    const message = (answer.json as { code: string; message: string }).message;
    assert.equal((answer.json as { code: string }).code, "internal-error");
    assert.ok(message.includes(`validation failed: got "${sha256(blob)}", expected "${wrong}"`), message);
    const stored = await call(emulator.url, "GET", `/indexer/api/v1/index_report/${manifest.hash}`);
    assert.equal(stored.status, 200);
    const report = stored.json as { state: string; success: boolean; err: string };
    assert.equal(report.state, "IndexError");
    assert.equal(report.success, false);
    assert.ok(report.err.includes("validation failed"));
    const vulns = await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${manifest.hash}`);
    assert.equal(vulns.status, 404);
    const fetch = emulator.fetches.find((f) => f.url.endsWith("/mismatch"));
    assert.equal(fetch?.ok, false);
    assert.equal(fetch?.digest, sha256(blob));
    assert.ok(logLines.some((l) => l.includes("/mismatch") && l.includes("digest mismatch")));
  });

  test("a layer URL that answers 404 or 401 fails the index with 500", async () => {
    const notFound = await call(emulator.url, "POST", "/indexer/api/v1/index_report", {
      // A layer digest Clair has not scanned yet, or it would not fetch at all.
      body: manifestOf("nf", [{ hash: sha256("not there"), uri: `${layers.url}/not-there` }]),
    });
    assert.equal(notFound.status, 500);
    assert.match((notFound.json as { message: string }).message, /unexpected status code: 404/);
    const denied = await indexOne("denied", { body: Buffer.from("denied"), status: 401 });
    assert.equal(denied.answer.status, 500);
    assert.match((denied.answer.json as { message: string }).message, /unexpected status code: 401/);
  });

  test("a 206 answer is not accepted: only exactly 200 is", async () => {
    const blob = await buildLayer({ "etc/hostname": "partial\n" });
    const { answer } = await indexOne("partial", { body: blob, status: 206 });
    assert.equal(answer.status, 500);
    assert.match((answer.json as { message: string }).message, /unexpected status code: 206/);
  });

  test("content types: unknown types and types that contradict the bytes fail; matching ones pass", async () => {
    const gz = await buildLayer({ "etc/hostname": "a\n" });
    const plain = await buildLayer({ "etc/hostname": "b\n" }, { gzip: false });
    const html = await indexOne("html", { body: gz, headers: { "Content-Type": "text/html" } });
    assert.equal(html.answer.status, 500);
    assert.match((html.answer.json as { message: string }).message, /unknown content-type "text\/html"/);
    const mismatch = await indexOne("gzip-label", {
      body: plain,
      headers: { "Content-Type": "application/gzip" },
    });
    assert.equal(mismatch.answer.status, 500);
    assert.match((mismatch.answer.json as { message: string }).message, /mismatched compression/);
    const okTar = await indexOne("tar-label", {
      body: plain,
      headers: { "Content-Type": "application/x-tar" },
    });
    assert.equal(okTar.answer.status, 201);
    const okDocker = await indexOne("docker-label", {
      body: gz,
      headers: { "Content-Type": "application/vnd.docker.image.rootfs.diff.tar.gzip" },
    });
    assert.equal(okDocker.answer.status, 201);
  });

  test("a layer that is not a tar: 400", async () => {
    const { answer } = await indexOne("not-tar", { body: Buffer.from("plain text, not a tar archive\n") });
    assert.equal(answer.status, 400);
    assert.equal((answer.json as { code: string }).code, "bad-request");
  });

  test("redirects are followed and Authorization is dropped when the host changes", async () => {
    const blob = await buildLayer({ "etc/hostname": "redirected\n" });
    const other = await startLayerServer("127.0.0.2");
    try {
      const target = other.serve("/blob", { body: blob });
      const uri = layers.serve("/redirect", {
        body: Buffer.alloc(0),
        status: 307,
        headers: { Location: target },
      });
      const answer = await call(emulator.url, "POST", "/indexer/api/v1/index_report", {
        body: manifestOf("redirect", [
          { hash: sha256(blob), uri, headers: { Authorization: ["Bearer secret"], "X-Trace": ["1"] } },
        ]),
      });
      assert.equal(answer.status, 201);
      assert.equal(layers.seen.find((s) => s.path === "/redirect")?.headers.authorization, "Bearer secret");
      const final = other.seen.find((s) => s.path === "/blob");
      assert.equal(final?.headers.authorization, undefined);
      assert.equal(final?.headers["x-trace"], "1");
    } finally {
      await other.close();
    }
  });

  test("whiteouts: an opaque directory replacing the package DB changes packages and introduced_in", async () => {
    const upper = await buildLayer({
      "var/lib/dpkg/.wh..wh..opq": "",
      "var/lib/dpkg/status": [
        dpkgStanza("bash", "5.1-2+deb11u1"),
        dpkgStanza("zlib1g", "1:1.2.11.dfsg-2+deb11u2", "zlib"),
      ].join("\n"),
    });
    const upperLayer = { hash: sha256(upper), uri: layers.serve("/upper", { body: upper }) };
    const manifest = manifestOf("whiteout", [base, upperLayer]);
    assert.equal(
      (await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: manifest })).status,
      201,
    );
    const report = (await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${manifest.hash}`))
      .json as VulnReport;
    const names = Object.values(report.packages).map((p) => `${p.name} ${p.version}`);
    assert.deepEqual(names.sort(), ["bash 5.1-2+deb11u1", "zlib1g 1:1.2.11.dfsg-2+deb11u2"]);
    const introduced = new Map(
      Object.entries(report.packages).map(([id, p]) => [p.name, report.environments[id]![0]!.introduced_in]),
    );
    assert.equal(introduced.get("bash"), base.hash, "unchanged package keeps the lower layer");
    assert.equal(introduced.get("zlib1g"), upperLayer.hash, "upgraded package comes from the upper layer");
    assert.equal(findingsOf(report).has("zlib1g"), false, "the upgrade fixed zlib");

    const deleter = await buildLayer({ "var/lib/dpkg/.wh.status": "" });
    const deleted = manifestOf("whiteout-delete", [
      base,
      { hash: sha256(deleter), uri: layers.serve("/del", { body: deleter }) },
    ]);
    const answer = await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: deleted });
    assert.deepEqual((answer.json as { packages: object }).packages, {});
  });

  test("index_state: ETag, 304 on If-None-Match; POST with a matching If-None-Match gets 412", async () => {
    const first = await call(emulator.url, "GET", "/indexer/api/v1/index_state");
    assert.equal(first.status, 200);
    const state = (first.json as { state: string }).state;
    assert.match(state, /^[0-9a-f]{32}$/);
    assert.equal(first.headers.get("etag"), `"${state}"`);
    assert.equal(first.headers.get("content-type"), "application/vnd.clair.index_state.v1+json");
    const cached = await call(emulator.url, "GET", "/indexer/api/v1/index_state", {
      headers: { "If-None-Match": `"${state}"` },
    });
    assert.equal(cached.status, 304);
    const json = await call(emulator.url, "GET", "/indexer/api/v1/index_state", {
      headers: { Accept: "application/json" },
    });
    assert.equal(json.headers.get("content-type"), "application/json");
    const refused = await call(emulator.url, "GET", "/indexer/api/v1/index_state", {
      headers: { Accept: "text/html" },
    });
    assert.equal(refused.status, 415);
    const before = layers.seen.length;
    const precondition = await call(emulator.url, "POST", "/indexer/api/v1/index_report", {
      body: manifestOf("precondition", [base]),
      headers: { "If-None-Match": `"${state}"` },
    });
    assert.equal(precondition.status, 412);
    assert.equal(precondition.text, "");
    assert.equal(layers.seen.length, before);
  });

  test("GET and DELETE index_report; bulk delete answers the digests it deleted", async () => {
    const manifest = manifestOf("reuse", [base]);
    const missing = await call(emulator.url, "GET", `/indexer/api/v1/index_report/${sha256("missing")}`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { code: "not-found", message: "index report not found" });
    const malformed = await call(emulator.url, "GET", "/indexer/api/v1/index_report/latest");
    assert.equal(malformed.status, 400);
    const del = await call(emulator.url, "DELETE", `/indexer/api/v1/index_report/${manifest.hash}`);
    assert.equal(del.status, 204);
    assert.equal(del.text, "");
    assert.equal(
      (await call(emulator.url, "GET", `/indexer/api/v1/index_report/${manifest.hash}`)).status,
      404,
    );
    const d12 = manifestOf("debian12", []).hash;
    const bulk = await call(emulator.url, "DELETE", "/indexer/api/v1/index_report", {
      body: [d12, sha256("nope")],
    });
    assert.equal(bulk.status, 200);
    assert.deepEqual(bulk.json, [d12]);
  });

  test("openapi, robots.txt, introspection, and Go's 404 for unknown routes", async () => {
    const spec = await call(emulator.url, "GET", "/openapi/v1");
    assert.equal(spec.status, 200);
    assert.equal((spec.json as { info: { version: string } }).info.version, "1.2.0");
    assert.equal((await call(emulator.url, "GET", "/robots.txt")).status, 200);
    const unknown = await call(emulator.url, "GET", "/indexer/api/v2/index_report");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.text, "404 page not found\n");
    const healthz = await fetch(`${emulator.healthUrl}/healthz`);
    assert.equal(await healthz.text(), "ok");
    const readyz = await fetch(`${emulator.healthUrl}/readyz`);
    assert.equal(readyz.status, 200);
    assert.equal(await readyz.text(), "");
  });

  test("conformance: every v4 answer validates against the Clair JSON Schemas", (t) => {
    if (!clairApiAvailable) {
      t.skip(skipReason);
      return;
    }
    const kinds = new Set(received.map((r) => r.schema));
    for (const kind of [
      "index_report",
      "vulnerability_report",
      "index_state",
      "error",
      "bulk_delete",
    ] as const) {
      assert.ok(kinds.has(kind), `no ${kind} answer was checked`);
    }
    for (const { schema, body, what } of received) {
      assert.equal(
        validateAgainstSchema(schema, body),
        undefined,
        `${what} does not match ${schema}.schema.json`,
      );
    }
  });
});

describe("Clair v4 emulator with a PSK", () => {
  const secret = "a shared secret for tests";
  const psk = Buffer.from(secret).toString("base64");
  let emulator: RunningEmulator;

  before(async () => {
    emulator = await startEmulator({ api: "v4", psk });
  });
  after(() => emulator.close());

  const sign = (claims: Record<string, unknown>, key: Uint8Array = Buffer.from(secret)) =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);
  const now = () => Math.floor(Date.now() / 1000);
  const stateWith = (authorization?: string) =>
    call(
      emulator.url,
      "GET",
      "/indexer/api/v1/index_state",
      authorization ? { headers: { Authorization: authorization } } : {},
    );

  test("a token signed with the decoded key and an accepted issuer passes", async () => {
    for (const iss of ["hyperclair", "clairctl", "quay", "clair-intraservice"]) {
      const token = await sign({ iss, iat: now(), nbf: now() - 60, exp: now() + 60 });
      assert.equal((await stateWith(`Bearer ${token}`)).status, 200, iss);
    }
  });

  test("missing, malformed, wrongly keyed, foreign or expired tokens: 401 with an empty body", async () => {
    const cases: Array<[string, string | undefined]> = [
      ["no header", undefined],
      ["not a bearer token", `Basic ${Buffer.from("u:p").toString("base64")}`],
      ["garbage", "Bearer not.a.jwt"],
      [
        "key used as base64 text",
        `Bearer ${await sign({ iss: "hyperclair", exp: now() + 60 }, Buffer.from(psk))}`,
      ],
      ["wrong issuer", `Bearer ${await sign({ iss: "someone-else", exp: now() + 60 })}`],
      ["no issuer", `Bearer ${await sign({ exp: now() + 60 })}`],
      ["expired beyond the leeway", `Bearer ${await sign({ iss: "hyperclair", exp: now() - 30 })}`],
      ["not yet valid", `Bearer ${await sign({ iss: "hyperclair", nbf: now() + 60 })}`],
      ["issued in the future", `Bearer ${await sign({ iss: "hyperclair", iat: now() + 60 })}`],
    ];
    for (const [name, header] of cases) {
      const answer = await stateWith(header);
      assert.equal(answer.status, 401, name);
      assert.equal(answer.text, "", name);
    }
  });

  test("expiry within the 15 s leeway is still accepted", async () => {
    const token = await sign({ iss: "hyperclair", exp: now() - 5 });
    assert.equal((await stateWith(`Bearer ${token}`)).status, 200);
  });

  test("every API route is covered, introspection is not", async () => {
    assert.equal((await call(emulator.url, "GET", "/openapi/v1")).status, 401);
    assert.equal(
      (await call(emulator.url, "GET", `/matcher/api/v1/vulnerability_report/${sha256("x")}`)).status,
      401,
    );
    assert.equal(
      (await call(emulator.url, "POST", "/indexer/api/v1/index_report", { body: {} })).status,
      401,
    );
    assert.equal((await fetch(`${emulator.healthUrl}/healthz`)).status, 200);
  });
});

describe("Clair v4 emulator in split mode", () => {
  let emulator: RunningEmulator;
  let layers: LayerServer;

  before(async () => {
    layers = await startLayerServer();
    emulator = await startEmulator({ api: "v4", split: true });
  });
  after(async () => {
    await emulator.close();
    await layers.close();
  });

  test("the indexer and the matcher answer only their own routes; the matcher sees the indexer's reports", async () => {
    assert.notEqual(emulator.indexerUrl, emulator.matcherUrl);
    assert.equal(emulator.url, emulator.indexerUrl);
    const blob = await buildLayer({
      "etc/os-release": debian11OsRelease,
      "var/lib/dpkg/status": debian11Status,
    });
    const manifest = manifestOf("split", [{ hash: sha256(blob), uri: layers.serve("/l", { body: blob }) }]);
    const onMatcher = await call(emulator.matcherUrl, "POST", "/indexer/api/v1/index_report", {
      body: manifest,
    });
    assert.equal(onMatcher.status, 404);
    assert.equal(onMatcher.text, "404 page not found\n");
    assert.equal(
      (await call(emulator.indexerUrl, "POST", "/indexer/api/v1/index_report", { body: manifest })).status,
      201,
    );
    const onIndexer = await call(
      emulator.indexerUrl,
      "GET",
      `/matcher/api/v1/vulnerability_report/${manifest.hash}`,
    );
    assert.equal(onIndexer.status, 404);
    assert.equal(onIndexer.text, "404 page not found\n");
    const report = await call(
      emulator.matcherUrl,
      "GET",
      `/matcher/api/v1/vulnerability_report/${manifest.hash}`,
    );
    assert.equal(report.status, 200);
    assert.ok(findingsOf(report.json as VulnReport).has("libssl1.1"));
    assert.equal((await call(emulator.matcherUrl, "GET", "/openapi/v1")).status, 200);
  });
});
