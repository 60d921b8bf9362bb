/**
 * The v1 client against the emulator in Clair 2.x mode with the harness's test images: the emulator
 * downloads every layer from the test's blob server and scans it, so the findings below come from the
 * layer contents and the emulator's fixture feed (test/emulator/feed.ts), through the client's mapping.
 * Run with `bash test/run.sh test/clair/v1`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ClairReport } from "../../../src/clair/client.ts";
import type { ResolvedImage } from "../../../src/image/resolved-image.ts";
import { harnessEnv, type TestImageName } from "../../infra/env.ts";
import { resolveTestImage, startV1, targetOn, type V1Setup } from "./helpers.ts";

interface ExpectedFinding {
  id: string;
  package: string;
  severity: string;
  fixedIn: string | null;
  layerIndex: number;
}

const debian11Findings = (opensslLayer: number, curlLayer: number): ExpectedFinding[] => [
  {
    id: "CVE-2022-2068",
    package: "openssl",
    severity: "High",
    fixedIn: "1.1.1n-0+deb11u4",
    layerIndex: opensslLayer,
  },
  {
    id: "CVE-2022-32221",
    package: "curl",
    severity: "Medium",
    fixedIn: "7.74.0-1.3+deb11u7",
    layerIndex: curlLayer,
  },
  {
    id: "CVE-2022-37434",
    package: "zlib",
    severity: "Critical",
    fixedIn: "1:1.2.11.dfsg-2+deb11u2",
    layerIndex: 0,
  },
  // Unfixed in the feed: Clair 2.x leaves FixedBy out.
  { id: "CVE-2022-3715", package: "bash", severity: "Low", fixedIn: null, layerIndex: 0 },
  {
    id: "CVE-2021-3999",
    package: "glibc",
    severity: "Negligible",
    fixedIn: "2.31-13+deb11u4",
    layerIndex: 0,
  },
];

const expectations: Record<
  "debian11" | "debian11-multi" | "debian12" | "alpine315",
  { distribution: string; packages: Array<[string, string, number]>; findings: ExpectedFinding[] }
> = {
  debian11: {
    distribution: "debian:11",
    // Clair 2.x names Debian packages by their source package: libssl1.1 → openssl, libc6 → glibc, …
    packages: [
      ["base-files", "11.1+deb11u3", 0],
      ["bash", "5.1-2+deb11u1", 0],
      ["curl", "7.74.0-1.3+deb11u1", 0],
      ["glibc", "2.31-13+deb11u3", 0],
      ["openssl", "1.1.1n-0+deb11u3", 0],
      ["zlib", "1:1.2.11.dfsg-2+deb11u1", 0],
    ],
    findings: debian11Findings(0, 0),
  },
  "debian11-multi": {
    distribution: "debian:11",
    packages: [
      ["base-files", "11.1+deb11u3", 0],
      ["bash", "5.1-2+deb11u1", 0],
      ["curl", "7.74.0-1.3+deb11u1", 1],
      ["glibc", "2.31-13+deb11u3", 0],
      ["openssl", "1.1.1n-0+deb11u3", 1],
      ["zlib", "1:1.2.11.dfsg-2+deb11u1", 0],
    ],
    findings: debian11Findings(1, 1),
  },
  debian12: {
    distribution: "debian:12",
    packages: [
      ["base-files", "12.4+deb12u1", 0],
      ["glibc", "2.36-9+deb12u1", 0],
      ["openssl", "3.0.9-1", 0],
      ["zlib", "1:1.2.13.dfsg-1", 0],
    ],
    findings: [
      {
        id: "CVE-2023-4807",
        package: "openssl",
        severity: "High",
        fixedIn: "3.0.11-1~deb12u1",
        layerIndex: 0,
      },
    ],
  },
  alpine315: {
    distribution: "alpine:v3.15",
    // Alpine packages keep their binary names in Clair 2.x.
    packages: [
      ["alpine-baselayout", "3.2.0-r18", 0],
      ["apk-tools", "2.12.7-r3", 0],
      ["busybox", "1.34.1-r3", 0],
      ["libcrypto1.1", "1.1.1l-r7", 0],
      ["libssl1.1", "1.1.1l-r7", 0],
      ["musl", "1.2.2-r7", 0],
      ["zlib", "1.2.11-r3", 0],
    ],
    findings: [
      { id: "CVE-2018-25032", package: "zlib", severity: "Critical", fixedIn: "1.2.12-r0", layerIndex: 0 },
      { id: "CVE-2022-0778", package: "libcrypto1.1", severity: "High", fixedIn: "1.1.1n-r0", layerIndex: 0 },
      { id: "CVE-2022-0778", package: "libssl1.1", severity: "High", fixedIn: "1.1.1n-r0", layerIndex: 0 },
      { id: "CVE-2022-28391", package: "busybox", severity: "Medium", fixedIn: "1.34.1-r5", layerIndex: 0 },
    ],
  },
};

const findingKey = (f: ExpectedFinding) =>
  `${f.id} ${f.package} ${f.severity} ${f.fixedIn ?? "(no fix)"} layer ${f.layerIndex}`;

function assertReport(report: ClairReport, name: keyof typeof expectations): void {
  const want = expectations[name];
  assert.deepEqual(
    report.packages.map((p) => [p.name, p.version, p.layerIndex] as [string, string, number | null]).sort(),
    want.packages,
  );
  assert.ok(report.packages.every((p) => p.distribution === want.distribution));
  assert.deepEqual(
    report.findings.map((f) => findingKey({ ...f, layerIndex: f.layerIndex ?? -1 })).sort(),
    want.findings.map(findingKey).sort(),
  );
  assert.ok(report.findings.every((f) => f.distribution === want.distribution && f.links.length === 1));
  assert.deepEqual(report.warnings, []);
  assert.equal(report.clair.api, "v1");
}

describe("Clair v1 client with the test images", () => {
  let setup: V1Setup;
  const images = new Map<TestImageName, ResolvedImage>();
  before(async () => {
    setup = await startV1();
    const { images: manifest } = harnessEnv();
    for (const name of ["debian11", "debian11-multi", "debian12", "alpine315"] as const) {
      images.set(name, resolveTestImage(manifest.images[name], setup.blobs));
    }
  });
  after(() => setup.close());

  for (const name of ["debian11", "debian12", "alpine315"] as const) {
    it(`${name}: submit, knows and report give the feed's findings`, async () => {
      const image = images.get(name)!;
      assert.equal(await setup.clair.knows(image), false);
      const result = await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
      assert.deepEqual(result, { submitted: 1, skipped: 0, warnings: [] });
      assert.equal(await setup.clair.knows(image), true);
      assertReport(await setup.clair.report({ image }), name);
    });
  }

  it("debian11-multi: layers go bottom-up, named by chain ID, each with its parent and a fresh target", async () => {
    const image = images.get("debian11-multi")!;
    const fetchesBefore = setup.emulator.fetches.length;
    const requestsBefore = setup.emulator.requests.length;
    const servedBefore = setup.blobs.seen.length;
    const calls: number[] = [];
    const events: string[] = [];
    const result = await setup.clair.submit({
      image,
      layerTarget: targetOn(setup.blobs, calls),
      onProgress: (e) => events.push(`${e.kind}${"layerIndex" in e ? ` ${e.layerIndex}` : ""}`),
    });
    assert.deepEqual(result, { submitted: 3, skipped: 0, warnings: [] });
    assert.deepEqual(calls, [0, 1, 2]);
    assert.deepEqual(
      events.filter((e) => e.startsWith("layer-")),
      [
        "layer-submitting 0",
        "layer-done 0",
        "layer-submitting 1",
        "layer-done 1",
        "layer-submitting 2",
        "layer-done 2",
      ],
    );
    // What Clair saw: the three POSTs, and GETs by chain ID (":" escaped in the path).
    const posts = setup.emulator.requests.slice(requestsBefore).filter((r) => r.method === "POST");
    assert.deepEqual(
      posts.map((r) => [r.path, r.status]),
      [
        ["/v1/layers", 201],
        ["/v1/layers", 201],
        ["/v1/layers", 201],
      ],
    );
    // Each layer is looked up once: the top first (a second push stops there), then the rest bottom-up.
    const gets = setup.emulator.requests.slice(requestsBefore).filter((r) => r.method === "GET");
    assert.deepEqual(
      gets.map((r) => decodeURIComponent(r.path)),
      [2, 0, 1].map((index) => `/v1/layers/${image.layers[index]!.chainId}`),
    );
    assert.deepEqual(
      setup.emulator.fetches.slice(fetchesBefore).map((f) => [f.url, f.ok]),
      image.layers.map((l) => [setup.blobs.urlOf(l.digest), true]),
    );
    // Each layer's own Authorization reached the server Clair downloaded from.
    assert.deepEqual(
      setup.blobs.seen.slice(servedBefore).map((s) => [s.path, s.headers.authorization]),
      image.layers.map((l) => [`/blobs/${l.digest}`, `Bearer layer-${l.index}`]),
    );
    // The names Clair stored are the chain IDs: each answers by that name, and the top layer's
    // parent is the middle layer's chain ID.
    for (const layer of image.layers) {
      const res = await fetch(`${setup.emulator.url}/v1/layers/${layer.chainId}`);
      const body = (await res.json()) as { Layer: { Name: string; ParentName?: string } };
      assert.equal(body.Layer.Name, layer.chainId);
      assert.equal(body.Layer.ParentName, image.layers[layer.index - 1]?.chainId);
    }
    assertReport(await setup.clair.report({ image }), "debian11-multi");
  });

  it("a second submit of every image skips every layer and fetches nothing", async () => {
    const fetchesBefore = setup.emulator.fetches.length;
    const servedBefore = setup.blobs.seen.length;
    for (const image of images.values()) {
      const calls: number[] = [];
      const result = await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs, calls) });
      assert.deepEqual(result, { submitted: 0, skipped: image.layers.length, warnings: [] });
      assert.deepEqual(calls, [], "no layer target is asked for");
    }
    assert.equal(setup.emulator.fetches.length, fetchesBefore);
    assert.equal(setup.blobs.seen.length, servedBefore);
  });

  it("Feature order changes between calls; the mapped report does not", async () => {
    const image = images.get("alpine315")!;
    const orders = new Set<string>();
    let first: ClairReport | undefined;
    for (let i = 0; i < 8; i++) {
      const report = await setup.clair.report({ image });
      orders.add(report.packages.map((p) => p.name).join(","));
      if (first === undefined) first = report;
      else {
        assert.deepEqual(
          new Set(report.packages.map((p) => JSON.stringify(p))),
          new Set(first.packages.map((p) => JSON.stringify(p))),
        );
        assert.deepEqual(
          new Set(report.findings.map((f) => JSON.stringify(f))),
          new Set(first.findings.map((f) => JSON.stringify(f))),
        );
      }
    }
    assert.ok(orders.size > 1, "the emulator shuffles Features like Clair 2.x");
  });
});
