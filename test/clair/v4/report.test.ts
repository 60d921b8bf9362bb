import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mapVulnerabilityReport } from "../../../src/clair/v4/report.ts";
import type { ResolvedImage } from "../../../src/image/resolved-image.ts";

const layer = (n: number) => `sha256:${String(n).repeat(64)}`;

const image: ResolvedImage = {
  reference: "docker.io/library/debian:stretch",
  source: "registry",
  digest: `sha256:${"f".repeat(64)}`,
  digestKind: "manifest",
  manifestMediaType: "application/vnd.oci.image.manifest.v1+json",
  configDigest: `sha256:${"e".repeat(64)}`,
  platform: { os: "linux", architecture: "amd64" },
  tags: [],
  layers: [1, 2].map((n, index) => ({
    index,
    digest: layer(n),
    diffId: layer(n + 4),
    size: 1,
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    createdBy: undefined,
    chainId: layer(n + 4),
    location: { kind: "cache", path: "/nowhere" },
  })),
};

/**
 * Shaped like real reports (NOTES.md §2.8, the clair-action debian-stretch example): an updater that
 * names vulnerabilities "CVE-… package", "0:0" as a fixed version, nulls where Go leaves maps empty,
 * keys this client does not know, and the newer NVD API 2.0 CVSS enrichment.
 */
const wire = {
  manifest_hash: image.digest,
  packages: {
    "+pAP/SGMndQP1M8ZKbyUwA==": {
      id: "+pAP/SGMndQP1M8ZKbyUwA==",
      name: "libgcrypt20",
      version: "1.7.6-2+deb9u4",
      kind: "binary",
      source: { id: "9", name: "libgcrypt20 (1.7.6-2+deb9u4)", version: "1.7.6-2+deb9u4", kind: "source" },
      detector: { name: "dpkg" },
    },
    "17": { id: "17", name: "bash", version: "4.4-5", source: null },
    "18": { id: "18", name: "tzdata", version: "2021a" },
  },
  distributions: {
    d33b589f: {
      id: "d33b589f",
      did: "debian",
      name: "Debian GNU/Linux",
      version: "9 (stretch)",
      pretty_name: "",
    },
  },
  repository: null,
  environments: {
    "+pAP/SGMndQP1M8ZKbyUwA==": [
      {
        package_db: "var/lib/dpkg/status",
        introduced_in: layer(2),
        distribution_id: "d33b589f",
        repository_ids: null,
      },
    ],
    "17": [{ introduced_in: layer(1), distribution_id: "" }],
    "18": null,
  },
  vulnerabilities: {
    pQFa: {
      id: "pQFa",
      name: "CVE-2018-6829 libgcrypt20",
      description: "cipher/elgamal.c in Libgcrypt through 1.8.2 …",
      links:
        "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2018-6829  https://security-tracker.debian.org/tracker/CVE-2018-6829",
      severity: "",
      normalized_severity: "Unknown",
      fixed_in_version: "0:0",
      Aliases: ["GHSA-x"],
    },
    WYQm: {
      id: "WYQm",
      name: "RHSA-2021:1234: libgcrypt security update (Important)",
      description: null,
      links: null,
      severity: "Important",
      normalized_severity: "High",
      fixed_in_version: "",
      distribution: { pretty_name: "Red Hat Enterprise Linux 8" },
    },
    bashv: {
      id: "bashv",
      name: "CVE-2019-18276",
      links: "",
      severity: "low",
      normalized_severity: "Low",
      fixed_in_version: null,
    },
  },
  package_vulnerabilities: {
    "+pAP/SGMndQP1M8ZKbyUwA==": ["pQFa", "WYQm", "missing-vuln"],
    "17": ["bashv"],
    "18": null,
  },
  enrichments: {
    "message/vnd.clair.map.vulnerability; enricher=clair.epss schema=none": [{ pQFa: [{ epss: 0.1 }] }],
    "message/vnd.clair.map.vulnerability; enricher=clair.cvss schema=https://csrc.nist.gov/schema/nvd/api/2.0/cve_api_json_2.0.schema":
      [
        {
          pQFa: [
            {
              source: "nvd@nist.gov",
              cvssData: {
                version: "3.1",
                vectorString: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
                baseScore: 5.9,
              },
            },
          ],
          bashv: [{ vectorString: "CVSS:3.0/AV:L/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", baseScore: 7.8 }],
        },
      ],
  },
};

describe("mapping a Clair v4 vulnerability report", () => {
  const mapped = mapVulnerabilityReport(wire as never, image);

  it("makes one finding per (package, vulnerability), skipping ids the report does not define", () => {
    assert.deepEqual(
      mapped.findings.map((f) => [f.id, f.package, f.severity]),
      [
        ["RHSA-2021:1234", "libgcrypt20", "High"],
        ["CVE-2019-18276", "bash", "Low"],
        ["CVE-2018-6829", "libgcrypt20", "Unknown"],
      ],
    );
  });

  it("reads fixed versions, vendor severities, links and distributions leniently", () => {
    const [rhsa, bash, cve] = mapped.findings;
    assert.equal(cve!.fixedIn, "0:0");
    assert.equal(rhsa!.fixedIn, null);
    assert.equal(bash!.fixedIn, null);
    assert.equal(rhsa!.vendorSeverity, "Important");
    assert.equal(bash!.vendorSeverity, undefined, "same word as the normalised severity");
    assert.equal(cve!.vendorSeverity, undefined, "empty vendor severity");
    assert.deepEqual(cve!.links, [
      "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2018-6829",
      "https://security-tracker.debian.org/tracker/CVE-2018-6829",
    ]);
    assert.deepEqual(rhsa!.links, []);
    assert.equal(rhsa!.description, "");
    assert.equal(rhsa!.distribution, "Red Hat Enterprise Linux 8");
    assert.equal(cve!.distribution, "Debian GNU/Linux 9 (stretch)");
    assert.equal(bash!.distribution, undefined);
  });

  it("attributes each package to the layer its environment names", () => {
    assert.deepEqual(
      mapped.packages.map((p) => [p.name, p.layerIndex, p.source]),
      [
        ["bash", 0, undefined],
        ["libgcrypt20", 1, undefined],
        ["tzdata", null, undefined],
      ],
    );
    assert.deepEqual(
      mapped.findings.map((f) => f.layerIndex),
      [1, 0, 1],
    );
  });

  it("takes CVSS from the clair.cvss enrichment in either record shape, and nothing from other enrichers", () => {
    const [rhsa, bash, cve] = mapped.findings;
    assert.deepEqual(cve!.cvss, {
      version: "3.1",
      score: 5.9,
      vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
    });
    assert.deepEqual(bash!.cvss, {
      version: "3.0",
      score: 7.8,
      vector: "CVSS:3.0/AV:L/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
    });
    assert.equal(rhsa!.cvss, undefined);
  });

  it("warns about no packages and no distribution, and survives a report of nulls", () => {
    assert.deepEqual(mapped.warnings, []);
    const empty = mapVulnerabilityReport(
      {
        packages: null,
        distributions: null,
        environments: null,
        vulnerabilities: null,
        package_vulnerabilities: null,
        enrichments: null,
      },
      image,
    );
    assert.deepEqual(empty.findings, []);
    assert.deepEqual(
      empty.warnings.map((w) => w.code),
      ["no-packages", "no-distribution"],
    );
    assert.match(empty.warnings[0]!.message, /docker\.io\/library\/debian:stretch/);
  });
});
