import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ClairReport, SubmitProgress } from "../../../src/clair/client.ts";
import { LayerFetchError } from "../../../src/clair/errors.ts";
import { FileIndexStateStore, MemoryIndexStateStore } from "../../../src/clair/v4/index-states.ts";
import { ClairError, ExitCode } from "../../../src/errors.ts";
import type { ResolvedImage } from "../../../src/image/resolved-image.ts";
import { type RunningEmulator, startEmulator } from "../../emulator/index.ts";
import type { TestImageName } from "../../infra/env.ts";
import { findClosedPort } from "../helpers.ts";
import { type BlobServer, makeV4Client, startBlobServer, testImage } from "./helpers.ts";

// Clair's local-dev PSK is base64("secret").
const PSK = Buffer.from("secret").toString("base64");
const WRONG_PSK = Buffer.from("not the key").toString("base64");

/** One expected finding: [id, package, severity, fixedIn, layerIndex]. */
type Expected = [string, string, string, string | null, number];

/**
 * What the emulator's fixture feed (test/emulator/feed.ts) must yield for each test image: Debian matches
 * by source package too (openssl → libssl1.1), entries fixed before the installed version never match
 * (CVE-2018-25032 in Debian 11), and bash's CVE has no fix.
 */
const expectedFindings: Record<TestImageName, Expected[]> = {
  debian11: [
    ["CVE-2022-37434", "zlib1g", "Critical", "1:1.2.11.dfsg-2+deb11u2", 0],
    ["CVE-2022-2068", "libssl1.1", "High", "1.1.1n-0+deb11u4", 0],
    ["CVE-2022-2068", "openssl", "High", "1.1.1n-0+deb11u4", 0],
    ["CVE-2022-32221", "curl", "Medium", "7.74.0-1.3+deb11u7", 0],
    ["CVE-2022-32221", "libcurl4", "Medium", "7.74.0-1.3+deb11u7", 0],
    ["CVE-2022-3715", "bash", "Low", null, 0],
    ["CVE-2021-3999", "libc6", "Negligible", "2.31-13+deb11u4", 0],
  ],
  // Base layer: base-files, libc6, zlib1g, bash; layer 1 installs openssl and curl; layer 2 only whiteouts.
  "debian11-multi": [
    ["CVE-2022-37434", "zlib1g", "Critical", "1:1.2.11.dfsg-2+deb11u2", 0],
    ["CVE-2022-2068", "libssl1.1", "High", "1.1.1n-0+deb11u4", 1],
    ["CVE-2022-2068", "openssl", "High", "1.1.1n-0+deb11u4", 1],
    ["CVE-2022-32221", "curl", "Medium", "7.74.0-1.3+deb11u7", 1],
    ["CVE-2022-32221", "libcurl4", "Medium", "7.74.0-1.3+deb11u7", 1],
    ["CVE-2022-3715", "bash", "Low", null, 0],
    ["CVE-2021-3999", "libc6", "Negligible", "2.31-13+deb11u4", 0],
  ],
  debian12: [
    ["CVE-2023-4807", "libssl3", "High", "3.0.11-1~deb12u1", 0],
    ["CVE-2023-4807", "openssl", "High", "3.0.11-1~deb12u1", 0],
  ],
  alpine315: [
    ["CVE-2018-25032", "zlib", "Critical", "1.2.12-r0", 0],
    ["CVE-2022-0778", "libcrypto1.1", "High", "1.1.1n-r0", 0],
    ["CVE-2022-0778", "libssl1.1", "High", "1.1.1n-r0", 0],
    ["CVE-2022-28391", "busybox", "Medium", "1.34.1-r5", 0],
  ],
  "alpine315-arm64": [
    ["CVE-2018-25032", "zlib", "Critical", "1.2.12-r0", 0],
    ["CVE-2022-0778", "libcrypto1.1", "High", "1.1.1n-r0", 0],
    ["CVE-2022-0778", "libssl1.1", "High", "1.1.1n-r0", 0],
    ["CVE-2022-28391", "busybox", "Medium", "1.34.1-r5", 0],
  ],
};

const distributionOf: Record<TestImageName, string> = {
  debian11: "Debian GNU/Linux 11 (bullseye)",
  "debian11-multi": "Debian GNU/Linux 11 (bullseye)",
  debian12: "Debian GNU/Linux 12 (bookworm)",
  alpine315: "Alpine Linux v3.15",
  "alpine315-arm64": "Alpine Linux v3.15",
};

function summariseFindings(report: ClairReport): Expected[] {
  return report.findings.map((f) => [f.id, f.package, f.severity, f.fixedIn, f.layerIndex as number]);
}

async function pushAndReport(
  clair: RunningEmulator,
  image: ResolvedImage,
  blobs: BlobServer,
  overrides: Parameters<typeof makeV4Client>[1] = {},
): Promise<ClairReport> {
  const client = makeV4Client(clair, overrides);
  const submitted = await client.submit({ image, layerTarget: blobs.layerTarget() });
  assert.deepEqual(submitted, { submitted: 1, skipped: 0, warnings: [] });
  return client.report({ image });
}

describe("Clair v4 client against the emulator", () => {
  const names = Object.keys(expectedFindings) as TestImageName[];
  let clair: RunningEmulator;
  let blobs: BlobServer;
  const images = new Map<string, ResolvedImage>();

  before(async () => {
    for (const name of names) {
      images.set(name, await testImage(name));
      images.set(`${name}:tar`, await testImage(name, "tar"));
    }
    blobs = await startBlobServer([...images.values()]);
    clair = await startEmulator({ api: "v4" });
  });
  after(async () => {
    await clair.close();
    await blobs.close();
  });

  for (const name of names) {
    it(`reports the feed's findings for ${name}, each on the layer that brought the package in`, async () => {
      const image = images.get(name)!;
      const report = await pushAndReport(clair, image, blobs);
      assert.deepEqual(summariseFindings(report), expectedFindings[name]);
      assert.deepEqual(report.warnings, []);
      assert.equal(report.clair.api, "v4");
      assert.equal(report.clair.version, "Clair v4 (API 1.2.0)");
      for (const finding of report.findings) {
        assert.equal(finding.distribution, distributionOf[name]);
        assert.equal(
          finding.installedVersion,
          report.packages.find((p) => p.name === finding.package)?.version,
        );
        assert.ok(finding.links.length > 0 && finding.links.every((l) => l.startsWith("https://")));
        assert.notEqual(finding.description, "");
      }
      // Clair fetched every layer, by the digest it was declared with.
      for (const layer of image.layers) {
        assert.ok(
          clair.fetches.some(
            (f) => f.url.endsWith(`/blobs/${layer.digest}`) && f.ok && f.digest === layer.digest,
          ),
          `layer ${layer.index} fetched`,
        );
      }
    });
  }

  it("reports the same findings for the daemon form (uncompressed tars, the image ID as digest)", async () => {
    const image = images.get("debian11-multi:tar")!;
    assert.equal(image.digestKind, "image-id");
    const report = await pushAndReport(clair, image, blobs);
    assert.deepEqual(summariseFindings(report), expectedFindings["debian11-multi"]);
  });

  it("carries vendor severity, CVSS from the clair.cvss enrichment, source packages and distributions", async () => {
    const image = images.get("debian11")!;
    const client = makeV4Client(clair);
    await client.submit({ image, layerTarget: blobs.layerTarget() });
    const report = await client.report({ image });
    const zlib = report.findings.find((f) => f.id === "CVE-2022-37434")!;
    assert.equal(zlib.vendorSeverity, "high");
    assert.deepEqual(zlib.cvss, {
      version: "3.1",
      score: 9.8,
      vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    });
    assert.equal(report.findings.find((f) => f.id === "CVE-2022-32221")!.cvss, undefined);
    const libc = report.packages.find((p) => p.name === "libc6")!;
    assert.deepEqual(libc, {
      name: "libc6",
      version: "2.31-13+deb11u3",
      source: "glibc",
      layerIndex: 0,
      distribution: "Debian GNU/Linux 11 (bullseye)",
    });
    assert.equal(report.packages.length, 8);
    // Alpine's advisories carry no vendor severity: nothing to show besides the normalised one.
    const alpineImage = images.get("alpine315")!;
    await client.submit({ image: alpineImage, layerTarget: blobs.layerTarget() });
    const alpine = await client.report({ image: alpineImage });
    assert.equal(alpine.findings.length, 4);
    assert.ok(alpine.findings.every((f) => f.vendorSeverity === undefined));
  });

  it("sends each layer's headers to Clair as {name: [values]} and Clair uses them on its fetch", async () => {
    const image = await testImage("debian12");
    // Clair never fetches a layer it has scanned before, so this needs a Clair that has seen none.
    const fresh = await startEmulator({ api: "v4" });
    try {
      const client = makeV4Client(fresh);
      await client.submit({ image, layerTarget: blobs.layerTarget({ Authorization: "Bearer layer-token" }) });
      assert.equal(fresh.fetches.length, 1);
      assert.deepEqual(fresh.fetches[0]!.headers["Authorization"], ["Bearer layer-token"]);
      const seen = blobs.seen.filter((s) => s.path === `/blobs/${image.layers[0]!.digest}`).at(-1)!;
      assert.equal(seen.headers.authorization, "Bearer layer-token");
    } finally {
      await fresh.close();
    }
  });

  it("skips a second submit: Clair fetches nothing and is not asked to index again", async () => {
    const image = images.get("alpine315")!;
    const client = makeV4Client(clair);
    assert.equal(await client.knows(image), true); // pushed by the first test
    const fetches = clair.fetches.length;
    const posts = clair.requests.filter((r) => r.method === "POST").length;
    const events: SubmitProgress[] = [];
    const targets: number[] = [];
    const result = await client.submit({
      image,
      layerTarget: async (layer) => {
        targets.push(layer.index);
        return blobs.layerTarget()(layer);
      },
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(result, { submitted: 0, skipped: 1, warnings: [] });
    assert.equal(clair.fetches.length, fetches);
    assert.equal(clair.requests.filter((r) => r.method === "POST").length, posts);
    assert.deepEqual(targets, [], "no layer target asked for: nothing needs serving");
    assert.deepEqual(events, [{ kind: "layer-skipped", layerIndex: 0 }]);
  });

  it("re-indexes an image indexed under an index state that has changed since", async () => {
    const image = images.get("debian12")!;
    const indexStates = new MemoryIndexStateStore();
    // The record says this manifest was indexed when Clair's scanners were in another state.
    await indexStates.set(clair.indexerUrl, image.digest, "0123456789abcdef0123456789abcdef");
    const client = makeV4Client(clair, {}, { indexStates });
    assert.equal(await client.knows(image), false);
    const posts = clair.requests.filter((r) => r.method === "POST" && r.path.endsWith("/index_report"));
    const result = await client.submit({ image, layerTarget: blobs.layerTarget() });
    assert.deepEqual(result, { submitted: 1, skipped: 0, warnings: [] });
    const after = clair.requests.filter((r) => r.method === "POST" && r.path.endsWith("/index_report"));
    assert.equal(after.length, posts.length + 1);
    assert.equal(after.at(-1)!.status, 201);
    // Now recorded under the current state: known again.
    assert.equal(await client.knows(image), true);
    assert.notEqual(
      await indexStates.get(clair.indexerUrl, image.digest),
      "0123456789abcdef0123456789abcdef",
    );
  });

  it("keeps the index-state record across runs in a file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hyperclair-states-"));
    try {
      const path = join(dir, "nested", "states.json");
      const image = images.get("debian11")!;
      await new FileIndexStateStore(path).set(clair.indexerUrl, image.digest, "an-older-state");
      const client = makeV4Client(clair, {}, { indexStates: new FileIndexStateStore(path) });
      assert.equal(await client.knows(image), false);
      await client.submit({ image, layerTarget: blobs.layerTarget() });
      const second = makeV4Client(clair, {}, { indexStates: new FileIndexStateStore(path) });
      assert.equal(await second.knows(image), true);
      assert.notEqual(
        await new FileIndexStateStore(path).get(clair.indexerUrl, image.digest),
        "an-older-state",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("deletes the index report: knows() turns false, a second delete finds nothing", async () => {
    const image = images.get("debian11:tar")!;
    const client = makeV4Client(clair);
    await client.submit({ image, layerTarget: blobs.layerTarget() });
    assert.equal(await client.knows(image), true);
    assert.deepEqual(await client.delete({ image }), { deleted: [image.digest], missing: [] });
    assert.equal(await client.knows(image), false);
    assert.deepEqual(await client.delete({ image }), { deleted: [], missing: [image.digest] });
    await assert.rejects(client.report({ image }), (error: unknown) => {
      assert.ok(error instanceof ClairError);
      assert.equal(error.message, `Clair has no index report for ${image.digest}; push it first`);
      assert.equal(error.hint, `hyperclair push ${image.reference}`);
      assert.equal(error.exitCode, ExitCode.external);
      return true;
    });
  });

  it("waits while the matcher answers 202, then returns the report", async () => {
    const image = images.get("debian12")!;
    const client = makeV4Client(clair);
    await client.submit({ image, layerTarget: blobs.layerTarget() });
    clair.setFaults({ matcherNotReady: { count: 3 } });
    const events: SubmitProgress[] = [];
    const report = await client.report({ image, onProgress: (e) => events.push(e) });
    assert.deepEqual(summariseFindings(report), expectedFindings.debian12);
    assert.deepEqual(report.warnings, []);
    const waits = events.filter((e) => e.kind === "waiting");
    assert.equal(waits.length, 3);
    assert.match(waits[0]!.kind === "waiting" ? waits[0]!.reason : "", /matcher is not ready/);
    const reports = clair.requests.filter((r) => r.path.includes("vulnerability_report"));
    assert.deepEqual(
      reports.slice(-4).map((r) => r.status),
      [202, 202, 202, 200],
    );
  });

  it("gives up on a matcher that stays at 202 with a matcher-not-ready warning, within the bound", async () => {
    const image = images.get("debian12")!;
    const client = makeV4Client(
      clair,
      {},
      { matcherWait: { maxWaitMs: 400, initialDelayMs: 20, maxDelayMs: 100 } },
    );
    clair.setFaults({ matcherNotReady: { forMs: 60_000 } });
    try {
      const started = Date.now();
      const report = await client.report({ image });
      const took = Date.now() - started;
      assert.ok(took < 2_000, `gave up after ${took} ms`);
      assert.deepEqual(report.findings, []);
      assert.equal(report.warnings.length, 1);
      assert.equal(report.warnings[0]!.code, "matcher-not-ready");
      assert.match(report.warnings[0]!.message, /not ready/);
    } finally {
      clair.setFaults({});
    }
  });

  it("retries a 503 from the matcher and from the indexer's POST, then succeeds", async () => {
    const fresh = await startEmulator({ api: "v4" });
    try {
      const image = images.get("alpine315")!;
      const client = makeV4Client(fresh);
      const events: SubmitProgress[] = [];
      await client.submit({
        image,
        layerTarget: blobs.layerTarget(),
        onProgress: (e) => {
          events.push(e);
          // Right before the POST: its first answer is a 503.
          if (e.kind === "indexing") {
            fresh.setFaults({ errors: { status: 503, count: 1, route: "/indexer/api/v1/index_report" } });
          }
        },
      });
      assert.deepEqual(
        fresh.requests.filter((r) => r.method === "POST").map((r) => r.status),
        [503, 201],
      );
      fresh.setFaults({ errors: { status: 503, count: 2, route: "vulnerability_report" } });
      const report = await client.report({ image, onProgress: (e) => events.push(e) });
      assert.deepEqual(summariseFindings(report), expectedFindings.alpine315);
      assert.deepEqual(
        fresh.requests.filter((r) => r.path.includes("vulnerability_report")).map((r) => r.status),
        [503, 503, 200],
      );
      const retries = events.filter((e) => e.kind === "waiting");
      assert.equal(retries.length, 3);
      assert.match(retries[0]!.kind === "waiting" ? retries[0]!.reason : "", /HTTP 503; retrying in/);
    } finally {
      await fresh.close();
    }
  });

  it("honours Retry-After on 429", async () => {
    const image = images.get("alpine315")!;
    const client = makeV4Client(clair);
    clair.setFaults({ tooManyRequests: { count: 1, retryAfterSeconds: 1, route: "vulnerability_report" } });
    const started = Date.now();
    const report = await client.report({ image });
    const took = Date.now() - started;
    assert.ok(took >= 950, `retried after ${took} ms, Retry-After said 1 s`);
    assert.deepEqual(summariseFindings(report), expectedFindings.alpine315);
    assert.deepEqual(
      clair.requests
        .filter((r) => r.path.includes("vulnerability_report"))
        .slice(-2)
        .map((r) => r.status),
      [429, 200],
    );
  });

  it("fails with an exit-3 ClairError when Clair keeps answering something that is not JSON", async () => {
    const image = images.get("alpine315")!;
    const client = makeV4Client(clair);
    clair.setFaults({ nonJson: { count: 10, route: "vulnerability_report" } });
    try {
      await assert.rejects(client.report({ image }), (error: unknown) => {
        assert.ok(error instanceof ClairError);
        assert.equal(error.exitCode, ExitCode.external);
        assert.match(error.message, /not JSON/);
        return true;
      });
    } finally {
      clair.setFaults({});
    }
  });

  it("recovers when one answer is not JSON", async () => {
    const image = images.get("alpine315")!;
    const client = makeV4Client(clair);
    clair.setFaults({ nonJson: { count: 1, route: "vulnerability_report" } });
    const report = await client.report({ image });
    assert.deepEqual(summariseFindings(report), expectedFindings.alpine315);
  });
});

describe("Clair v4 client: layer fetch failures", () => {
  let clair: RunningEmulator;
  let blobs: BlobServer;
  let image: ResolvedImage;

  before(async () => {
    image = await testImage("debian11-multi");
    blobs = await startBlobServer([image]);
  });
  after(async () => {
    await blobs.close();
  });

  it("turns a layer URL answering 404 into a LayerFetchError naming the layer and its URL", async () => {
    clair = await startEmulator({ api: "v4" });
    try {
      const missing = image.layers[1]!;
      blobs.fail(`/blobs/${missing.digest}`, 404);
      const client = makeV4Client(clair);
      await assert.rejects(client.submit({ image, layerTarget: blobs.layerTarget() }), (error: unknown) => {
        assert.ok(error instanceof LayerFetchError, String(error));
        assert.equal(error.exitCode, ExitCode.external);
        assert.equal(error.layerIndex, 1);
        assert.equal(error.layerUrl, `${blobs.url}/blobs/${missing.digest}`);
        assert.match(
          error.message,
          /^Clair could not fetch layer 1 of .* from http:\/\/127\.0\.0\.1:\d+\/blobs\/sha256:/,
        );
        assert.match(error.clairMessage ?? "", /unexpected status code/);
        assert.match(error.hint ?? "", /no such blob/);
        return true;
      });
      // A fetch failure is not retried: sending the same manifest again fails the same way.
      assert.equal(clair.requests.filter((r) => r.method === "POST").length, 1);
      assert.equal(await client.knows(image), false);
    } finally {
      blobs.reset();
      await clair.close();
    }
  });

  it("turns an address Clair cannot reach into a LayerFetchError whose hint names serve.advertise", async () => {
    clair = await startEmulator({ api: "v4" });
    try {
      const closed = await findClosedPort();
      const client = makeV4Client(clair);
      await assert.rejects(
        client.submit({
          image,
          layerTarget: async (layer) => ({
            url: `http://127.0.0.1:${closed}/blobs/${layer.digest}`,
            headers: {},
          }),
        }),
        (error: unknown) => {
          assert.ok(error instanceof LayerFetchError, String(error));
          assert.equal(error.layerIndex, 0);
          assert.match(error.message, /connection refused/);
          assert.match(error.hint ?? "", /serve\.advertise/);
          return true;
        },
      );
    } finally {
      await clair.close();
    }
  });

  it("turns a digest mismatch into a LayerFetchError for that layer", async () => {
    clair = await startEmulator({ api: "v4" });
    const other = await testImage("debian12");
    try {
      const wrong = image.layers[2]!;
      // Valid gzip tar bytes, but not the ones whose digest the manifest declares.
      blobs.override(
        `/blobs/${wrong.digest}`,
        await readFile(other.layers[0]!.location.kind === "cache" ? other.layers[0]!.location.path : ""),
      );
      const client = makeV4Client(clair);
      await assert.rejects(client.submit({ image, layerTarget: blobs.layerTarget() }), (error: unknown) => {
        assert.ok(error instanceof LayerFetchError, String(error));
        assert.equal(error.layerIndex, 2);
        assert.match(error.message, /validation failed/);
        assert.match(error.hint ?? "", /do not hash to its digest/);
        return true;
      });
    } finally {
      blobs.reset();
      await clair.close();
    }
  });
});

describe("Clair v4 client with PSK auth and a split deployment", () => {
  let blobs: BlobServer;
  let image: ResolvedImage;

  before(async () => {
    image = await testImage("debian11");
    blobs = await startBlobServer([image]);
  });
  after(async () => {
    await blobs.close();
  });

  it("pushes and reports with the right PSK", async () => {
    const clair = await startEmulator({ api: "v4", psk: PSK, pskIssuers: ["hyperclair"] });
    try {
      const report = await pushAndReport(clair, image, blobs, {
        psk: { key: PSK, keyFile: "", issuer: "hyperclair" },
      });
      assert.deepEqual(summariseFindings(report), expectedFindings.debian11);
      assert.ok(clair.requests.every((r) => r.status !== 401));
    } finally {
      await clair.close();
    }
  });

  it("fails with a 401 ClairError and a hint with the wrong PSK", async () => {
    const clair = await startEmulator({ api: "v4", psk: PSK, pskIssuers: ["hyperclair"] });
    try {
      const client = makeV4Client(clair, { psk: { key: WRONG_PSK, keyFile: "", issuer: "hyperclair" } });
      await assert.rejects(client.submit({ image, layerTarget: blobs.layerTarget() }), (error: unknown) => {
        assert.ok(error instanceof ClairError);
        assert.equal(error.status, 401);
        assert.equal(error.exitCode, ExitCode.external);
        assert.match(error.message, /401 Unauthorized/);
        assert.match(error.hint ?? "", /clair\.psk\.key/);
        return true;
      });
      assert.equal(clair.fetches.length, 0);
    } finally {
      await clair.close();
    }
  });

  it("indexes through the indexer and reports through the matcher when they are split", async () => {
    const clair = await startEmulator({ api: "v4", split: true });
    try {
      assert.notEqual(clair.indexerUrl, clair.matcherUrl);
      const report = await pushAndReport(clair, image, blobs);
      assert.deepEqual(summariseFindings(report), expectedFindings.debian11);
      // Each half of the emulator answers only its own routes, so the findings prove the routing.
      assert.ok(clair.requests.some((r) => r.path.includes("vulnerability_report") && r.status === 200));
    } finally {
      await clair.close();
    }
  });
});
