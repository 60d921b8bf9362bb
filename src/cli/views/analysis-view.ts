import { formatPlatform } from "../../image/manifest.ts";
import { type ScanResult, SEVERITIES, type Severity } from "../../report/model.ts";
import type { Output } from "../output.ts";
import { shortDigest } from "./image-view.ts";
import { createTable } from "./table.ts";

const highestFirst = [...SEVERITIES].reverse() as Severity[];
const initials: Record<Severity, string> = {
  Critical: "C",
  High: "H",
  Medium: "M",
  Low: "L",
  Negligible: "N",
  Unknown: "U",
};

function paint(out: Output, severity: Severity, text: string): string {
  if (severity === "Critical" || severity === "High") return out.bad(text);
  return text;
}

/** `analyze`: counts by severity with fixable counts, then the per-layer breakdown. */
export function renderAnalysis(result: ScanResult, out: Output): string {
  const { image, summary } = result;
  const digestNote = image.digestKind === "image-id" ? " (image ID)" : "";
  const lines = [
    out.bold(image.reference),
    `  digest    ${image.digest}${digestNote}`,
    `  platform  ${formatPlatform(image.platform)}`,
    `  clair     ${result.clair.api} API at ${result.clair.url}`,
    `  packages  ${result.packages.length}`,
    "",
    summary.total === 0
      ? out.ok("No vulnerabilities found.")
      : `${summary.total} vulnerabilit${summary.total === 1 ? "y" : "ies"}, ${summary.fixable} fixable`,
  ];
  if (summary.total > 0) {
    const counts = createTable(out, {
      head: ["severity", "count", "fixable"],
      colAligns: ["left", "right", "right"],
    });
    for (const severity of highestFirst) {
      if (summary.bySeverity[severity] === 0) continue;
      counts.push([
        paint(out, severity, severity),
        summary.bySeverity[severity],
        summary.fixableBySeverity[severity],
      ]);
    }
    lines.push(counts.toString());
  }
  const layers = createTable(out, {
    head: ["#", "layer", "created by", "packages", "vulns", highestFirst.map((s) => initials[s]).join(" ")],
    wordWrap: true,
    colWidths: [null, null, 48, null, null, null],
    colAligns: ["right", "left", "left", "right", "right", "left"],
  });
  for (const entry of summary.byLayer) {
    const layer = result.layers[entry.layerIndex];
    layers.push([
      entry.layerIndex,
      layer ? shortDigest(layer.digest) : "?",
      layer?.createdBy ?? "-",
      entry.packages,
      entry.findings,
      highestFirst.map((severity) => entry.bySeverity[severity]).join(" "),
    ]);
  }
  lines.push("", "Per layer:", layers.toString());
  for (const warning of result.warnings) lines.push(`${out.bad("!")} ${warning.message}`);
  return lines.join("\n");
}
