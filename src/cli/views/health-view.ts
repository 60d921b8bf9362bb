import type { ClairHealth } from "../../clair/client.ts";
import type { Output } from "../output.ts";

export function describeApi(api: "v1" | "v4"): string {
  return api === "v1" ? "v1 API (Clair 2.x)" : "v4 API (indexer/matcher)";
}

export function renderHealth(health: ClairHealth, out: Output): string {
  const version = health.version ? `, version ${health.version}` : "";
  const lines = [`Clair at ${health.apiUrl}: ${describeApi(health.api)}${version}`];
  const nameWidth = Math.max(...health.checks.map((check) => check.name.length));
  for (const check of health.checks) {
    const mark = check.ok ? out.ok("✔") : out.bad("✘");
    lines.push(`${mark} ${check.name.padEnd(nameWidth)}  ${check.detail}  ${out.dim(check.url)}`);
  }
  lines.push(health.healthy ? out.ok("healthy") : out.bad("not healthy"));
  return lines.join("\n");
}
