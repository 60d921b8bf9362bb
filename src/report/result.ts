import type { ClairReport } from "../clair/client.ts";
import type { ResolvedImage } from "../image/resolved-image.ts";
import { compareFindings, SCAN_RESULT_SCHEMA_VERSION, type ScanResult, summarise } from "./model.ts";

export interface ScanResultInput {
  image: ResolvedImage;
  report: ClairReport;
  toolVersion: string;
  now?: Date;
}

/** Joins the resolved image and Clair's report into the versioned result every renderer reads. */
export function createScanResult(input: ScanResultInput): ScanResult {
  const { image, report } = input;
  const layers = image.layers.map((layer) => ({
    index: layer.index,
    digest: layer.digest,
    diffId: layer.diffId,
    size: layer.size,
    createdBy: layer.createdBy,
  }));
  const packages = [...report.packages].sort(
    (a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version),
  );
  const findings = [...report.findings].sort(compareFindings);
  return {
    schemaVersion: SCAN_RESULT_SCHEMA_VERSION,
    generatedAt: (input.now ?? new Date()).toISOString(),
    tool: { name: "hyperclair", version: input.toolVersion },
    image: {
      reference: image.reference,
      digest: image.digest,
      digestKind: image.digestKind,
      configDigest: image.configDigest,
      platform: image.platform,
      source: image.source,
      tags: image.tags,
    },
    clair: report.clair,
    layers,
    packages,
    findings,
    suppressed: [],
    summary: summarise(layers, packages, findings),
    warnings: report.warnings,
  };
}
