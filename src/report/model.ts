/**
 * The scan result: one normalised, versioned model that v1 and v4 map into alike, that every renderer
 * reads, and that `--format json` prints. Its JSON Schema is `schemas/scan-result.schema.json`; bump
 * `SCAN_RESULT_SCHEMA_VERSION` on any incompatible change.
 */
import type { ClairApi, ClairWarning } from "../clair/client.ts";
import type { ImageSourceKind, Platform } from "../image/resolved-image.ts";

export const SCAN_RESULT_SCHEMA_VERSION = "1.0";

/** Clair v4's normalized severities, lowest first (NOTES.md §2.9); v1's Defcon1 maps to Critical. */
export const SEVERITIES = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** Any severity string Clair may send (v1 names, v4 normalized names, any case) → the normalised one. */
export function normaliseSeverity(value: string | undefined): Severity {
  const lower = (value ?? "").trim().toLowerCase();
  if (lower === "defcon1") return "Critical";
  return SEVERITIES.find((severity) => severity.toLowerCase() === lower) ?? "Unknown";
}

export interface ScanLayer {
  index: number;
  digest: string;
  diffId: string;
  size: number;
  createdBy: string | undefined;
}

export interface ScanPackage {
  name: string;
  version: string;
  /** Source package name when Clair gives one that differs (v4 `source.name`). */
  source?: string | undefined;
  /** Index into `layers` of the layer that brought the package in; null when Clair does not say. */
  layerIndex: number | null;
  /** e.g. `debian:11` (v1 namespace) or `Debian GNU/Linux 11 (bullseye)` (v4 distribution). */
  distribution?: string | undefined;
}

export interface Cvss {
  version: string;
  score: number;
  vector?: string | undefined;
}

export interface Finding {
  /** Vulnerability ID as Clair names it, e.g. `CVE-2022-0778`. */
  id: string;
  severity: Severity;
  /** The vendor's own severity string, when it differs from the normalised one. */
  vendorSeverity?: string | undefined;
  package: string;
  installedVersion: string;
  /** null when there is no fix. */
  fixedIn: string | null;
  layerIndex: number | null;
  /** Namespace (v1) or distribution (v4) the match was made in. */
  distribution?: string | undefined;
  links: string[];
  description: string;
  cvss?: Cvss | undefined;
}

export interface SuppressedFinding {
  finding: Finding;
  /** Why: `ignore-unfixed`, or the ignore file's rule (`CVE-… until 2027-01-01: reason`). */
  rule: string;
}

export interface SeverityCounts {
  Unknown: number;
  Negligible: number;
  Low: number;
  Medium: number;
  High: number;
  Critical: number;
}

export interface ScanSummary {
  total: number;
  fixable: number;
  bySeverity: SeverityCounts;
  fixableBySeverity: SeverityCounts;
  /** One entry per layer, in layer order. */
  byLayer: Array<{ layerIndex: number; packages: number; findings: number; bySeverity: SeverityCounts }>;
}

export interface ScanResult {
  schemaVersion: typeof SCAN_RESULT_SCHEMA_VERSION;
  generatedAt: string;
  tool: { name: "hyperclair"; version: string };
  image: {
    reference: string;
    digest: string;
    digestKind: "manifest" | "image-id";
    configDigest: string;
    platform: Platform;
    source: ImageSourceKind;
    tags: string[];
  };
  clair: { url: string; api: ClairApi; version?: string | undefined };
  layers: ScanLayer[];
  packages: ScanPackage[];
  findings: Finding[];
  suppressed: SuppressedFinding[];
  summary: ScanSummary;
  warnings: ClairWarning[];
}

export function emptyCounts(): SeverityCounts {
  return { Unknown: 0, Negligible: 0, Low: 0, Medium: 0, High: 0, Critical: 0 };
}

/** Counts by severity, fixable counts and the per-layer breakdown, from the findings that remain. */
export function summarise(layers: ScanLayer[], packages: ScanPackage[], findings: Finding[]): ScanSummary {
  const bySeverity = emptyCounts();
  const fixableBySeverity = emptyCounts();
  const byLayer = layers.map((layer) => ({
    layerIndex: layer.index,
    packages: packages.filter((pkg) => pkg.layerIndex === layer.index).length,
    findings: 0,
    bySeverity: emptyCounts(),
  }));
  for (const finding of findings) {
    bySeverity[finding.severity]++;
    if (finding.fixedIn !== null) fixableBySeverity[finding.severity]++;
    const layer = byLayer.find((entry) => entry.layerIndex === finding.layerIndex);
    if (layer) {
      layer.findings++;
      layer.bySeverity[finding.severity]++;
    }
  }
  return {
    total: findings.length,
    fixable: findings.filter((finding) => finding.fixedIn !== null).length,
    bySeverity,
    fixableBySeverity,
    byLayer,
  };
}

/** Stable order for people and snapshots: severity (highest first), then package, then ID. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    a.package.localeCompare(b.package) ||
    a.id.localeCompare(b.id)
  );
}
