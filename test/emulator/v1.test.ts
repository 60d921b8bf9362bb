import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { clairApiAvailable, compareToShape, learnShape, loadRecordedV1, skipReason } from "./conformance.ts";
import {
  alpineInstalled,
  alpineOsRelease,
  buildLayer,
  curlStanzas,
  debian11OsRelease,
  debian11Status,
  dpkgStanza,
  type LayerServer,
  startLayerServer,
} from "./fixtures.ts";
import { type RunningEmulator, startEmulator } from "./index.ts";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Every JSON answer from a GET on a layer, for the structural comparison with the recorded ones. */
const layerAnswers: unknown[] = [];

async function call(
  emulator: RunningEmulator,
  method: string,
  route: string,
  body?: string,
): Promise<Answer> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = body;
  const res = await fetch(`${emulator.url}${route}`, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (method === "GET" && route.startsWith("/v1/layers/") && res.status === 200) layerAnswers.push(json);
  return { status: res.status, headers: res.headers, text, json };
}

const postLayer = (emulator: RunningEmulator, layer: Record<string, unknown>) =>
  call(emulator, "POST", "/v1/layers", JSON.stringify({ Layer: layer }));

interface FeatureOut {
  Name: string;
  Version: string;
  VersionFormat: string;
  NamespaceName: string;
  AddedBy: string;
  Vulnerabilities?: Array<{ Name: string; Severity: string; FixedBy?: string; Description?: string }>;
}

function featuresOf(answer: Answer): FeatureOut[] {
  return ((answer.json as { Layer: { Features?: FeatureOut[] } }).Layer.Features ?? []) as FeatureOut[];
}

describe("Clair v1 emulator", () => {
  let emulator: RunningEmulator;
  let layers: LayerServer;
  const logLines: string[] = [];
  let baseUrl = "";
  let childUrl = "";

  before(async () => {
    layers = await startLayerServer();
    emulator = await startEmulator({ api: "v1", log: (l) => logLines.push(l) });
    baseUrl = layers.serve("/base.tar.gz", {
      body: await buildLayer({ "etc/os-release": debian11OsRelease, "var/lib/dpkg/status": debian11Status }),
    });
    childUrl = layers.serve("/child.tar", {
      body: await buildLayer({ "var/lib/dpkg/status": `${debian11Status}\n${curlStanzas}` }, { gzip: false }),
    });
  });
  after(async () => {
    await emulator.close();
    await layers.close();
  });

  test("POST answers 201 with the echo, Clair's headers and IndexedByVersion 3", async () => {
    const answer = await postLayer(emulator, { Name: "base", Path: baseUrl, Format: "Docker" });
    assert.equal(answer.status, 201);
    assert.equal(answer.headers.get("content-type"), "application/json;charset=utf-8");
    assert.equal(answer.headers.get("server"), "clair");
    assert.equal(
      answer.text,
      `{"Layer":{"Name":"base","Path":"${baseUrl}","Format":"Docker","IndexedByVersion":3}}\n`,
    );
  });

  test("features carry source names, the namespace, AddedBy and the feed's findings", async () => {
    const answer = await call(emulator, "GET", "/v1/layers/base?features&vulnerabilities");
    assert.equal(answer.status, 200);
    const layer = (answer.json as { Layer: Record<string, unknown> }).Layer;
    assert.equal(layer["NamespaceName"], "debian:11");
    const byName = new Map(featuresOf(answer).map((f) => [f.Name, f]));
    assert.deepEqual([...byName.keys()].sort(), ["base-files", "bash", "glibc", "openssl", "zlib"]);
    for (const f of byName.values()) {
      assert.equal(f.AddedBy, "base");
      assert.equal(f.VersionFormat, "dpkg");
      assert.equal(f.NamespaceName, "debian:11");
    }
    assert.deepEqual(
      byName.get("openssl")?.Vulnerabilities?.map((v) => [v.Name, v.Severity, v.FixedBy]),
      [["CVE-2022-2068", "High", "1.1.1n-0+deb11u4"]],
    );
    // The zlib entry fixed in an older version must not match; the newer one must.
    assert.deepEqual(
      byName.get("zlib")?.Vulnerabilities?.map((v) => v.Name),
      ["CVE-2022-37434"],
    );
    const bash = byName.get("bash")?.Vulnerabilities ?? [];
    assert.equal(bash.length, 1);
    assert.equal(bash[0]!.Severity, "Low");
    assert.equal("FixedBy" in bash[0]!, false, "an unfixed vulnerability has no FixedBy");
    assert.equal(byName.get("glibc")?.Vulnerabilities?.[0]?.Severity, "Negligible");
    assert.equal(byName.get("base-files")?.Vulnerabilities, undefined);
    // Go escapes <, > and & in JSON.
    assert.match(answer.text, /\\u003cscript\\u003e/);
    assert.doesNotMatch(answer.text, /<script>/);
  });

  test("without a query the layer comes back without Features", async () => {
    const answer = await call(emulator, "GET", "/v1/layers/base");
    assert.equal(answer.text, '{"Layer":{"Name":"base","NamespaceName":"debian:11","IndexedByVersion":3}}\n');
  });

  test("a child inherits the namespace; AddedBy names the layer that brought each feature; headers reach the layer server", async () => {
    const answer = await postLayer(emulator, {
      Name: "child",
      Path: childUrl,
      ParentName: "base",
      Format: "Docker",
      Headers: { Authorization: "Bearer child-token" },
    });
    assert.equal(answer.status, 201);
    const seen = layers.seen.filter((s) => s.path === "/child.tar");
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers.authorization, "Bearer child-token");
    const fetch = emulator.fetches.find((f) => f.url === childUrl);
    assert.equal(fetch?.headers["Authorization"], "Bearer child-token");
    assert.equal(fetch?.ok, true);
    const line = logLines.find((l) => l.includes("/child.tar"));
    assert.ok(line?.includes("Authorization: [redacted]"), line);
    assert.ok(!line?.includes("child-token"), "the log never shows the Authorization value");

    const got = await call(emulator, "GET", "/v1/layers/child?vulnerabilities");
    const layer = (got.json as { Layer: Record<string, unknown> }).Layer;
    assert.equal(layer["NamespaceName"], "debian:11");
    assert.equal(layer["ParentName"], "base");
    const byName = new Map(featuresOf(got).map((f) => [f.Name, f]));
    assert.equal(byName.get("curl")?.AddedBy, "child");
    assert.equal(byName.get("openssl")?.AddedBy, "base");
    assert.equal(byName.get("curl")?.Vulnerabilities?.[0]?.FixedBy, "7.74.0-1.3+deb11u7");
  });

  test("Features come back in a different order between calls, with the same set", async () => {
    const orders = new Set<string>();
    let reference: string | undefined;
    for (let k = 0; k < 12; k++) {
      const names = featuresOf(await call(emulator, "GET", "/v1/layers/child?features")).map((f) => f.Name);
      orders.add(names.join(","));
      const sorted = [...names].sort().join(",");
      reference ??= sorted;
      assert.equal(sorted, reference);
    }
    assert.ok(orders.size > 1, "the order never changed in 12 calls");
  });

  test("re-POST of an indexed layer answers 201 and downloads nothing", async () => {
    const before = layers.seen.length;
    const answer = await postLayer(emulator, {
      Name: "base",
      Path: `${layers.url}/elsewhere`,
      ParentName: "no-such-parent",
      Format: "Docker",
    });
    assert.equal(answer.status, 201);
    assert.equal(
      answer.text,
      `{"Layer":{"Name":"base","Path":"${layers.url}/elsewhere","ParentName":"no-such-parent","Format":"Docker","IndexedByVersion":3}}\n`,
    );
    assert.equal(layers.seen.length, before);
  });

  test("unknown Format: 400 unsupported image format, nothing fetched", async () => {
    const before = layers.seen.length;
    const answer = await postLayer(emulator, { Name: "oci", Path: baseUrl, Format: "OCI" });
    assert.equal(answer.status, 400);
    assert.equal(answer.text, `{"Error":{"Message":"unsupported image format 'OCI'"}}\n`);
    assert.equal(answer.headers.get("content-type"), "application/json;charset=utf-8");
    assert.equal(layers.seen.length, before);
  });

  test("unknown ParentName: 400 parent layer is unknown", async () => {
    const answer = await postLayer(emulator, {
      Name: "orphan",
      Path: baseUrl,
      ParentName: "nope",
      Format: "Docker",
    });
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.json, {
      Error: { Message: "worker: parent layer is unknown, it must be processed first" },
    });
  });

  test("a Path that cannot be fetched: 400 could not find layer (404, refused connection)", async () => {
    const missing = await postLayer(emulator, {
      Name: "missing",
      Path: `${layers.url}/nope.tar`,
      Format: "Docker",
    });
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.json, { Error: { Message: "could not find layer" } });
    const refused = await postLayer(emulator, {
      Name: "refused",
      Path: "http://127.0.0.1:1/x.tar",
      Format: "Docker",
    });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.json, { Error: { Message: "could not find layer" } });
    const getMissing = await call(emulator, "GET", "/v1/layers/missing");
    assert.equal(getMissing.status, 404);
    assert.deepEqual(getMissing.json, { Error: { Message: "the resource cannot be found" } });
  });

  test("a body that is not a tar: 422 tarutil: could not extract the archive", async () => {
    const url = layers.serve("/text", { body: Buffer.from("this is not a tar archive at all\n") });
    const answer = await postLayer(emulator, { Name: "text", Path: url, Format: "Docker" });
    assert.equal(answer.status, 422);
    assert.deepEqual(answer.json, { Error: { Message: "tarutil: could not extract the archive" } });
  });

  test("invalid JSON: 400 with Go's decoder message", async () => {
    const answer = await call(emulator, "POST", "/v1/layers", "{not json}");
    assert.equal(answer.status, 400);
    assert.equal(
      answer.text,
      `{"Error":{"Message":"invalid character 'n' looking for beginning of object key string"}}\n`,
    );
    const truncated = await call(emulator, "POST", "/v1/layers", '{"Layer":{"Name":"x"');
    assert.deepEqual(truncated.json, { Error: { Message: "unexpected EOF" } });
    const wrongType = await call(emulator, "POST", "/v1/layers", '{"Layer":{"Name":42}}');
    assert.equal(wrongType.status, 400);
    assert.match((wrongType.json as { Error: { Message: string } }).Error.Message, /cannot unmarshal number/);
  });

  test("bodies are read through a 1 MiB limit", async () => {
    const padding = "x".repeat(1024 * 1024);
    const answer = await call(
      emulator,
      "POST",
      "/v1/layers",
      JSON.stringify({ Layer: { Name: "big", Path: baseUrl, Format: "Docker", Padding: padding } }),
    );
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.json, { Error: { Message: "unexpected EOF" } });
  });

  test("a layer with packages but no detectable OS: 422; Alpine needs etc/alpine-release", async () => {
    const osReleaseOnly = layers.serve("/alpine-osrelease.tar.gz", {
      body: await buildLayer({ "etc/os-release": alpineOsRelease, "lib/apk/db/installed": alpineInstalled }),
    });
    const refused = await postLayer(emulator, {
      Name: "alpine-no-release",
      Path: osReleaseOnly,
      Format: "Docker",
    });
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.json, {
      Error: { Message: "worker: OS and/or package manager are not supported" },
    });

    const alpine = layers.serve("/alpine.tar.gz", {
      body: await buildLayer({
        "etc/os-release": alpineOsRelease,
        "etc/alpine-release": "3.15.4\n",
        "lib/apk/db/installed": alpineInstalled,
      }),
    });
    assert.equal((await postLayer(emulator, { Name: "alpine", Path: alpine, Format: "docker" })).status, 201);
    const got = await call(emulator, "GET", "/v1/layers/alpine?vulnerabilities");
    assert.equal((got.json as { Layer: { NamespaceName: string } }).Layer.NamespaceName, "alpine:v3.15");
    const byName = new Map(featuresOf(got).map((f) => [f.Name, f]));
    assert.equal(byName.get("libssl1.1")?.VersionFormat, "dpkg");
    assert.deepEqual(
      byName.get("libssl1.1")?.Vulnerabilities?.map((v) => [v.Name, v.Severity]),
      [["CVE-2022-0778", "High"]],
    );
    assert.equal(byName.get("libcrypto1.1")?.Vulnerabilities?.[0]?.FixedBy, "1.1.1n-r0");
    assert.equal(byName.get("zlib")?.Vulnerabilities?.[0]?.Severity, "Critical");
    assert.equal(byName.get("busybox")?.Vulnerabilities?.[0]?.FixedBy, "1.34.1-r5");
    assert.equal(byName.get("musl")?.Vulnerabilities, undefined);
  });

  test("dpkg field order: Source only renames the package when it precedes Version", async () => {
    const versionFirst = [
      "Package: libssl1.1",
      "Status: install ok installed",
      "Version: 1.1.1n-0+deb11u3",
      "Source: openssl",
      "",
      "Package: zlib1g",
      "Source: zlib (1:1.2.11.dfsg-2+deb11u1)",
      "Version: 9.9",
      "",
    ].join("\n");
    const url = layers.serve("/order.tar.gz", {
      body: await buildLayer({ "etc/os-release": debian11OsRelease, "var/lib/dpkg/status": versionFirst }),
    });
    assert.equal((await postLayer(emulator, { Name: "order", Path: url, Format: "Docker" })).status, 201);
    const features = featuresOf(await call(emulator, "GET", "/v1/layers/order?features"));
    assert.deepEqual(features.map((f) => `${f.Name} ${f.Version}`).sort(), [
      "libssl1.1 1.1.1n-0+deb11u3",
      "zlib 1:1.2.11.dfsg-2+deb11u1",
    ]);
  });

  test("whiteouts: a later layer deleting or replacing the package DB changes the features", async () => {
    const deleted = layers.serve("/wh-delete.tar.gz", {
      body: await buildLayer({ "var/lib/dpkg/.wh.status": "" }),
    });
    assert.equal(
      (await postLayer(emulator, { Name: "wh-delete", Path: deleted, ParentName: "base", Format: "Docker" }))
        .status,
      201,
    );
    assert.equal(featuresOf(await call(emulator, "GET", "/v1/layers/wh-delete?features")).length, 0);

    const replaced = layers.serve("/wh-replace.tar.gz", {
      body: await buildLayer({
        "var/lib/.wh..wh..opq": "",
        "var/lib/dpkg/status": dpkgStanza("bash", "5.1-2+deb11u1"),
      }),
    });
    assert.equal(
      (
        await postLayer(emulator, {
          Name: "wh-replace",
          Path: replaced,
          ParentName: "base",
          Format: "Docker",
        })
      ).status,
      201,
    );
    const features = featuresOf(await call(emulator, "GET", "/v1/layers/wh-replace?features"));
    assert.deepEqual(
      features.map((f) => [f.Name, f.AddedBy]),
      [["bash", "base"]],
    );
  });

  test("a Path that is not a URL is a file on the Clair host", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "clair-emulator-"));
    try {
      const file = path.join(dir, "layer.tar.gz");
      await writeFile(
        file,
        await buildLayer({ "etc/os-release": debian11OsRelease, "var/lib/dpkg/status": debian11Status }),
      );
      assert.equal((await postLayer(emulator, { Name: "local", Path: file, Format: "Docker" })).status, 201);
      assert.equal(featuresOf(await call(emulator, "GET", "/v1/layers/local?features")).length, 5);
      const missing = await postLayer(emulator, {
        Name: "local-missing",
        Path: path.join(dir, "nope"),
        Format: "Docker",
      });
      assert.deepEqual(missing.json, { Error: { Message: "could not find layer" } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("DELETE cascades to every descendant and answers 200 with an empty body", async () => {
    const url = layers.serve("/empty.tar", {
      body: await buildLayer({ "etc/motd": "hi\n" }, { gzip: false }),
    });
    for (const [name, parent] of [
      ["c1", "base"],
      ["c2", "c1"],
      ["c3", "c2"],
      ["d1", "base"],
    ]) {
      assert.equal(
        (await postLayer(emulator, { Name: name, Path: url, ParentName: parent, Format: "Docker" })).status,
        201,
      );
    }
    const del = await call(emulator, "DELETE", "/v1/layers/c1");
    assert.equal(del.status, 200);
    assert.equal(del.text, "");
    assert.equal(del.headers.get("content-type"), null);
    for (const gone of ["c1", "c2", "c3"])
      assert.equal((await call(emulator, "GET", `/v1/layers/${gone}`)).status, 404);
    for (const kept of ["base", "d1"])
      assert.equal((await call(emulator, "GET", `/v1/layers/${kept}`)).status, 200);
    assert.equal((await call(emulator, "DELETE", "/v1/layers/c1")).status, 404);
  });

  test("namespaces, metrics, plain 404 outside /v1, 405 for a wrong method, health on its own port", async () => {
    const ns = await call(emulator, "GET", "/v1/namespaces");
    assert.equal(ns.status, 200);
    assert.ok(
      (ns.json as { Namespaces: Array<{ Name: string; VersionFormat: string }> }).Namespaces.some(
        (n) => n.Name === "debian:11" && n.VersionFormat === "dpkg",
      ),
    );
    const metrics = await call(emulator, "GET", "/v1/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^# HELP/m);
    const outside = await call(emulator, "GET", "/v2/layers");
    assert.equal(outside.status, 404);
    assert.equal(outside.text, "404 page not found\n");
    assert.equal((await call(emulator, "PUT", "/v1/layers")).status, 405);
    const health = await fetch(`${emulator.healthUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("server"), "clair");
    assert.equal(await health.text(), "");
    assert.ok(emulator.requests.some((r) => r.method === "PUT" && r.status === 405));
  });

  test("conformance: every layer answer has the shape of the recorded Clair 2.1.0 responses", (t) => {
    if (!clairApiAvailable) {
      t.skip(skipReason);
      return;
    }
    const shape = learnShape(loadRecordedV1());
    assert.ok(layerAnswers.length >= 10, `only ${layerAnswers.length} answers collected`);
    for (const answer of layerAnswers) {
      // Bare GETs and layers without findings are subsets of the recorded shape; compare those keys too.
      const problems = compareToShape(shape, answer).filter(
        (p) => !/\.(Features|ParentName|NamespaceName|Vulnerabilities): missing$/.test(p),
      );
      assert.deepEqual(problems, [], JSON.stringify(answer).slice(0, 300));
    }
  });
});
