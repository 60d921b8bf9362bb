/**
 * Mapping Clair 2.x layer answers into the scan-result model. The fixture is an answer recorded from a real
 * Clair v2.1.0 (`GET /v1/layers/layer2-child?features&vulnerabilities`, shared/clair-api/v1/recorded/), whose
 * layers were named `layer1-jessie` and `layer2-child`; here they stand for two layers' chain IDs.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { mapLayerReport } from "../../../src/clair/v1/map-report.ts";
import type { LayerEnvelope, LayerWire } from "../../../src/clair/v1/wire.ts";
import type { ResolvedImage, ResolvedLayer } from "../../../src/image/resolved-image.ts";

const recorded = (
  JSON.parse(
    readFileSync(new URL("./fixtures/clair-2.1.0-get-layer-child.json", import.meta.url), "utf8"),
  ) as LayerEnvelope
).Layer!;

function imageNamed(...names: string[]): ResolvedImage {
  const layers: ResolvedLayer[] = names.map((chainId, index) => ({
    index,
    digest: `sha256:${String(index).repeat(64)}`,
    diffId: `sha256:${String(index).repeat(64)}`,
    size: 1,
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    createdBy: undefined,
    chainId,
    location: { kind: "cache", path: "/dev/null" },
  }));
  return {
    reference: "test/jessie:latest",
    source: "oci-dir",
    digest: `sha256:${"f".repeat(64)}`,
    digestKind: "manifest",
    manifestMediaType: undefined,
    configDigest: `sha256:${"e".repeat(64)}`,
    platform: { os: "linux", architecture: "amd64" },
    tags: [],
    layers,
  };
}

const image = imageNamed("layer1-jessie", "layer2-child");

describe("mapLayerReport (Clair 2.1.0 recorded answer)", () => {
  const mapped = mapLayerReport(recorded, image);

  it("one package per feature, attributed to the layer named in AddedBy", () => {
    assert.deepEqual(mapped.packages.map((p) => [p.name, p.version, p.layerIndex, p.distribution]).sort(), [
      ["bash", "4.3-11+deb8u1", 0, "debian:8"],
      ["curl", "7.38.0-4+deb8u5", 1, "debian:8"],
      ["openssl", "1.0.1t-1+deb8u6", 0, "debian:8"],
      ["zlib", "1:1.2.8.dfsg-2+b1", 0, "debian:8"],
    ]);
  });

  it("one finding per feature vulnerability, with severities normalised and Defcon1 kept as the vendor's", () => {
    const byId = new Map(mapped.findings.map((f) => [f.id, f]));
    assert.equal(mapped.findings.length, 4);
    assert.deepEqual(byId.get("CVE-2099-0001"), {
      id: "CVE-2099-0001",
      severity: "Critical",
      vendorSeverity: "Defcon1",
      package: "zlib",
      installedVersion: "1:1.2.8.dfsg-2+b1",
      fixedIn: "1:1.2.8.dfsg-5",
      layerIndex: 0,
      distribution: "debian:8",
      links: [],
      description: "",
      cvss: undefined,
    });
    // Not fixed: Clair 2.x leaves FixedBy out.
    const shellshock = byId.get("CVE-2014-6271")!;
    assert.equal(shellshock.fixedIn, null);
    assert.equal(shellshock.severity, "High");
    assert.equal(shellshock.vendorSeverity, undefined);
    assert.deepEqual(shellshock.links, ["https://security-tracker.debian.org/tracker/CVE-2014-6271"]);
    assert.equal(shellshock.description, "Shellshock (test entry, no fix)");
    // NVD metadata → CVSS.
    assert.deepEqual(byId.get("CVE-2017-3735")!.cvss, {
      version: "2.0",
      score: 5,
      vector: "AV:N/AC:L/Au:N/C:N/I:N/A:P",
    });
    assert.equal(byId.get("CVE-2016-8615")!.layerIndex, 1);
    assert.equal(byId.get("CVE-2016-8615")!.severity, "Critical");
    assert.deepEqual(mapped.warnings, []);
  });

  it("the order of Features does not change the result", () => {
    const features = [...(recorded.Features ?? [])];
    const reversed = mapLayerReport({ ...recorded, Features: features.reverse() }, image);
    const key = (v: unknown) => JSON.stringify(v);
    assert.deepEqual(new Set(reversed.packages.map(key)), new Set(mapped.packages.map(key)));
    assert.deepEqual(new Set(reversed.findings.map(key)), new Set(mapped.findings.map(key)));
  });

  it("a layer name hyperclair did not choose maps to no layer (null), not to a wrong one", () => {
    const other = mapLayerReport(recorded, imageNamed("sha256:aaaa", "layer2-child"));
    assert.deepEqual(other.packages.map((p) => [p.name, p.layerIndex]).sort(), [
      ["bash", null],
      ["curl", 1],
      ["openssl", null],
      ["zlib", null],
    ]);
  });

  it("CVSSv3 wins over CVSSv2, with the version from its vector", () => {
    const layer: LayerWire = {
      Name: "layer1-jessie",
      NamespaceName: "debian:8",
      Features: [
        {
          Name: "openssl",
          Version: "1",
          AddedBy: "layer1-jessie",
          Vulnerabilities: [
            {
              Name: "CVE-1",
              Severity: "High",
              Metadata: {
                NVD: {
                  CVSSv2: { Score: 5, Vectors: "AV:N/AC:L/Au:N/C:N/I:N/A:P" },
                  CVSSv3: { Score: 7.5, Vectors: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" },
                },
              },
            },
          ],
        },
      ],
    };
    assert.deepEqual(mapLayerReport(layer, image).findings[0]!.cvss, {
      version: "3.1",
      score: 7.5,
      vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    });
  });

  it("no namespace and no features give the no-distribution and no-packages warnings", () => {
    const empty = mapLayerReport({ Name: "layer1-jessie", IndexedByVersion: 3 }, image);
    assert.deepEqual(empty.packages, []);
    assert.deepEqual(empty.findings, []);
    assert.deepEqual(
      empty.warnings.map((w) => w.code),
      ["no-distribution", "no-packages"],
    );
    // Packages without a detected OS: Clair matched nothing against them.
    const noOs = mapLayerReport(
      { Name: "layer1-jessie", Features: [{ Name: "busybox", Version: "1.0", AddedBy: "layer1-jessie" }] },
      image,
    );
    assert.deepEqual(
      noOs.warnings.map((w) => w.code),
      ["no-distribution"],
    );
  });
});
