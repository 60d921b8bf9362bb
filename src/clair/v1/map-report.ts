import type { ResolvedImage } from "../../image/resolved-image.ts";
import { type Cvss, type Finding, normaliseSeverity, type ScanPackage } from "../../report/model.ts";
import type { ClairWarning } from "../client.ts";
import type { FeatureWire, LayerWire, VulnerabilityWire } from "./wire.ts";

/** What one `GET /v1/layers/<top>?features&vulnerabilities` answer says about an image, in the domain model. */
export interface MappedLayerReport {
  packages: ScanPackage[];
  findings: Finding[];
  warnings: ClairWarning[];
}

/**
 * Maps Clair 2.x's answer for the image's top layer into the model. The answer holds the features of the
 * whole layer stack (NOTES.md §1.4); each feature's `AddedBy` is the Name of the layer that introduced it,
 * which hyperclair chooses as the layer's chain ID, so it maps back to an index in `image.layers`. Features
 * come in a different order on every call (v1/recorded/README.md): nothing here depends on it.
 */
export function mapLayerReport(layer: LayerWire, image: ResolvedImage): MappedLayerReport {
  const indexByName = new Map(image.layers.map((l) => [l.chainId, l.index]));
  const layerIndexOf = (feature: FeatureWire): number | null =>
    feature.AddedBy === undefined ? null : (indexByName.get(feature.AddedBy) ?? null);
  const namespace = nonEmpty(layer.NamespaceName);
  const packages: ScanPackage[] = [];
  const findings: Finding[] = [];
  for (const feature of layer.Features ?? []) {
    const name = feature.Name ?? "";
    const version = feature.Version ?? "";
    const layerIndex = layerIndexOf(feature);
    const distribution = nonEmpty(feature.NamespaceName) ?? namespace;
    packages.push({ name, version, layerIndex, distribution });
    for (const vulnerability of feature.Vulnerabilities ?? []) {
      findings.push(mapVulnerability(vulnerability, { name, version, layerIndex, distribution }));
    }
  }
  const warnings: ClairWarning[] = [];
  if (namespace === undefined) {
    warnings.push({
      code: "no-distribution",
      message:
        "Clair detected no supported distribution in the image, so it matched no vulnerabilities against its packages",
    });
  }
  if (packages.length === 0) {
    warnings.push({
      code: "no-packages",
      message: "Clair found no packages in the image (no dpkg, rpm or apk database it can read)",
    });
  }
  return { packages, findings, warnings };
}

function mapVulnerability(
  vulnerability: VulnerabilityWire,
  feature: { name: string; version: string; layerIndex: number | null; distribution: string | undefined },
): Finding {
  const vendor = nonEmpty(vulnerability.Severity);
  const severity = normaliseSeverity(vendor);
  return {
    id: vulnerability.Name ?? "",
    severity,
    // Clair 2.x's top severity is "Defcon1"; the model calls it Critical and keeps Clair's word beside it.
    vendorSeverity: vendor !== undefined && vendor !== severity ? vendor : undefined,
    package: feature.name,
    installedVersion: feature.version,
    fixedIn: fixedVersion(vulnerability.FixedBy),
    layerIndex: feature.layerIndex,
    distribution: nonEmpty(vulnerability.NamespaceName) ?? feature.distribution,
    links:
      vulnerability.Link !== undefined && vulnerability.Link.trim() !== "" ? [vulnerability.Link.trim()] : [],
    description: vulnerability.Description ?? "",
    cvss: readCvss(vulnerability.Metadata),
  };
}

/**
 * Clair 2.x stores "not fixed" as the version "None" (`versionfmt.MaxVersion`) and leaves `FixedBy` out of
 * layer answers for it; both mean no fix.
 */
function fixedVersion(value: string | undefined): string | null {
  const version = nonEmpty(value);
  return version === undefined || version === "None" ? null : version;
}

/** `Metadata.NVD.CVSSv3` (preferred) or `CVSSv2`, each `{Score, Vectors}` in Clair 2.x (NOTES.md §1.3). */
function readCvss(metadata: Record<string, unknown> | null | undefined): Cvss | undefined {
  const nvd = asRecord(metadata?.["NVD"]);
  if (nvd === undefined) return undefined;
  for (const [key, fallbackVersion] of [
    ["CVSSv3", "3.0"],
    ["CVSSv2", "2.0"],
  ] as const) {
    const entry = asRecord(nvd[key]);
    const score = entry?.["Score"];
    if (typeof score !== "number" || !Number.isFinite(score)) continue;
    const vector =
      typeof entry?.["Vectors"] === "string" && entry["Vectors"] !== "" ? entry["Vectors"] : undefined;
    // A v3 vector names its minor version ("CVSS:3.1/…"); v2 vectors carry none.
    const version = /^CVSS:(\d+\.\d+)\//.exec(vector ?? "")?.[1] ?? fallbackVersion;
    return { version, score, vector };
  }
  return undefined;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
