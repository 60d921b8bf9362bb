import type { ResolvedImage } from "../../image/resolved-image.ts";
import {
  type Cvss,
  compareFindings,
  type Finding,
  normaliseSeverity,
  type ScanPackage,
} from "../../report/model.ts";
import type { ClairWarning } from "../client.ts";
import type {
  DistributionWire,
  EnvironmentWire,
  PackageWire,
  VulnerabilityReportWire,
  VulnerabilityWire,
} from "./wire.ts";

/**
 * Maps Clair v4's vulnerability report (NOTES.md §2.8) into the domain model: one `ScanPackage` per
 * package, one `Finding` per (package, vulnerability) pair of `package_vulnerabilities`, the layer that
 * brought each package in from its environment's `introduced_in`, CVSS from the `clair.cvss` enrichment.
 * Every map may be null and every key missing (§2.11); nothing here throws on a lenient report.
 */
export interface MappedReport {
  packages: ScanPackage[];
  findings: Finding[];
  warnings: ClairWarning[];
}

export function mapVulnerabilityReport(report: VulnerabilityReportWire, image: ResolvedImage): MappedReport {
  const packages = objectOf(report.packages);
  const distributions = objectOf(report.distributions);
  const environments = objectOf(report.environments);
  const vulnerabilities = objectOf(report.vulnerabilities);
  const cvssById = readCvssEnrichment(report.enrichments);

  const layerOf = (digest: string | undefined): number | null => {
    if (digest === undefined || digest === "") return null;
    const layer =
      image.layers.find((l) => l.digest === digest) ?? image.layers.find((l) => l.diffId === digest);
    return layer === undefined ? null : layer.index;
  };
  /** The first environment says where Clair found the package (a package seen twice keeps the lowest). */
  const environmentOf = (packageId: string): EnvironmentWire | undefined =>
    (environments[packageId] ?? []).find((env): env is EnvironmentWire => isObject(env));
  const distributionOf = (env: EnvironmentWire | undefined): string | undefined => {
    const id = text(env?.distribution_id);
    return id === "" ? undefined : describeDistribution(distributions[id]);
  };

  const scanPackages: ScanPackage[] = [];
  const byId = new Map<string, ScanPackage>();
  for (const [id, pkg] of Object.entries(packages)) {
    if (!isObject(pkg)) continue;
    const env = environmentOf(id);
    const scanPackage = toScanPackage(pkg, layerOf(text(env?.introduced_in)), distributionOf(env));
    byId.set(id, scanPackage);
    scanPackages.push(scanPackage);
  }

  const findings: Finding[] = [];
  for (const [packageId, vulnerabilityIds] of Object.entries(objectOf(report.package_vulnerabilities))) {
    for (const vulnerabilityId of vulnerabilityIds ?? []) {
      const vulnerability = vulnerabilities[vulnerabilityId];
      if (!isObject(vulnerability)) continue;
      const pkg = byId.get(packageId) ?? toScanPackage(vulnerability.package ?? {}, null, undefined);
      findings.push(toFinding(vulnerabilityId, vulnerability, pkg, cvssById.get(vulnerabilityId)));
    }
  }

  scanPackages.sort(
    (a, b) =>
      a.name.localeCompare(b.name) ||
      a.version.localeCompare(b.version) ||
      (a.layerIndex ?? -1) - (b.layerIndex ?? -1),
  );
  findings.sort(compareFindings);
  return { packages: scanPackages, findings, warnings: warningsFor(scanPackages, distributions, image) };
}

function toScanPackage(
  pkg: PackageWire,
  layerIndex: number | null,
  distribution: string | undefined,
): ScanPackage {
  const name = text(pkg.name);
  // Debian source names carry their version, e.g. "util-linux (2.33.1-0.1)" (NOTES.md §2.8).
  const source = text(pkg.source?.name).replace(/\s*\(.*\)$/, "");
  return {
    name,
    version: text(pkg.version),
    ...(source !== "" && source !== name ? { source } : {}),
    layerIndex,
    ...(distribution === undefined ? {} : { distribution }),
  };
}

function toFinding(
  vulnerabilityId: string,
  vulnerability: VulnerabilityWire,
  pkg: ScanPackage,
  cvss: Cvss | undefined,
): Finding {
  const severity = normaliseSeverity(text(vulnerability.normalized_severity));
  const vendorSeverity = text(vulnerability.severity);
  const fixedIn = text(vulnerability.fixed_in_version);
  const distribution = describeDistribution(vulnerability.distribution) ?? pkg.distribution;
  return {
    id: vulnerabilityName(text(vulnerability.name)) || text(vulnerability.id) || vulnerabilityId,
    severity,
    ...(vendorSeverity !== "" && vendorSeverity.toLowerCase() !== severity.toLowerCase()
      ? { vendorSeverity }
      : {}),
    package: pkg.name,
    installedVersion: pkg.version,
    // "" is Clair's "no fix"; odd values such as "0:0" are passed on as Clair gave them (§2.8).
    fixedIn: fixedIn === "" ? null : fixedIn,
    layerIndex: pkg.layerIndex,
    ...(distribution === undefined ? {} : { distribution }),
    links: text(vulnerability.links)
      .split(/\s+/)
      .filter((link) => link !== ""),
    description: text(vulnerability.description),
    ...(cvss === undefined ? {} : { cvss }),
  };
}

/** Some updaters name a vulnerability "CVE-2018-6829 libgcrypt20" or "RHSA-2021:1234: …"; the ID is the first token. */
function vulnerabilityName(name: string): string {
  const first = name.trim().split(/\s+/)[0] ?? "";
  return first.replace(/:$/, "");
}

function describeDistribution(distribution: DistributionWire | null | undefined): string | undefined {
  if (!isObject(distribution)) return undefined;
  const pretty = text(distribution.pretty_name);
  if (pretty !== "") return pretty;
  const joined = [
    text(distribution.name) || text(distribution.did),
    text(distribution.version) || text(distribution.version_id),
  ]
    .filter((part) => part !== "")
    .join(" ");
  return joined === "" ? undefined : joined;
}

function warningsFor(
  packages: ScanPackage[],
  distributions: Record<string, DistributionWire | null>,
  image: ResolvedImage,
): ClairWarning[] {
  const warnings: ClairWarning[] = [];
  if (packages.length === 0) {
    warnings.push({
      code: "no-packages",
      message: `Clair found no packages in ${image.reference}: it has nothing to match vulnerabilities against`,
    });
  }
  if (!Object.values(distributions).some((d) => isObject(d))) {
    warnings.push({
      code: "no-distribution",
      message: `Clair detected no distribution in ${image.reference}: OS package vulnerabilities cannot be matched`,
    });
  }
  return warnings;
}

/**
 * `enrichments` maps a type string to `[{vulnerability id: [record, …]}]` (§2.10). Only the `clair.cvss`
 * enricher is read, matched on its `enricher=` parameter since the schema part changed between releases;
 * records are NVD CVSS v3 objects (feed 1.1) or, in newer claircore, NVD API 2.0 metrics with `cvssData`.
 */
function readCvssEnrichment(enrichments: VulnerabilityReportWire["enrichments"]): Map<string, Cvss> {
  const out = new Map<string, Cvss>();
  for (const [kind, entries] of Object.entries(objectOf(enrichments))) {
    if (/(?:^|[;\s])enricher=([^\s;]+)/.exec(kind)?.[1] !== "clair.cvss") continue;
    for (const entry of entries ?? []) {
      if (!isObject(entry)) continue;
      for (const [vulnerabilityId, records] of Object.entries(entry as Record<string, unknown>)) {
        if (out.has(vulnerabilityId) || !Array.isArray(records)) continue;
        for (const record of records) {
          const cvss = readCvssRecord(record);
          if (cvss !== undefined) {
            out.set(vulnerabilityId, cvss);
            break;
          }
        }
      }
    }
  }
  return out;
}

function readCvssRecord(record: unknown): Cvss | undefined {
  if (!isObject(record)) return undefined;
  const data = isObject((record as { cvssData?: unknown }).cvssData)
    ? (record as { cvssData: Record<string, unknown> }).cvssData
    : (record as Record<string, unknown>);
  const score = data["baseScore"];
  if (typeof score !== "number" || !Number.isFinite(score)) return undefined;
  const vector = typeof data["vectorString"] === "string" ? data["vectorString"] : undefined;
  const version =
    typeof data["version"] === "string" && data["version"] !== ""
      ? data["version"]
      : (/^CVSS:(\d+(?:\.\d+)?)\//.exec(vector ?? "")?.[1] ?? "3");
  return { version, score, ...(vector === undefined ? {} : { vector }) };
}

function objectOf<T>(value: Record<string, T> | null | undefined): Record<string, T> {
  return isObject(value) ? (value as Record<string, T>) : {};
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}
