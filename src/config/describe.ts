import { stringify } from "yaml";
import { displayUrl, REDACTED } from "../http/common.ts";
import type { KeySpec } from "./keys.ts";
import { CONFIG_KEYS } from "./keys.ts";
import { readConfigKey } from "./tree.ts";
import type { ConfigIssue, LoadedConfig, ValueSource } from "./types.ts";
import { formatDuration } from "./values.ts";

/** One YAML scalar as it would appear after `key: `. */
export function formatScalar(value: string | number | boolean): string {
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

/**
 * A key's value as YAML-ish text; with `redact`, secrets (every value of a secret map) become
 * `[redacted]`, and with `yaml` an empty string is written `""` so the text is valid YAML.
 */
export function formatKeyValue(
  spec: KeySpec,
  value: unknown,
  options: { redact: boolean; yaml?: boolean },
): string {
  const hide = (text: string): string => (options.redact && spec.secret && text !== "" ? REDACTED : text);
  if (spec.type.kind === "duration" && typeof value === "number") return formatDuration(value);
  if (Array.isArray(value)) return `[${value.map((item) => formatScalar(String(item))).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const pairs = Object.entries(value as Record<string, string>).map(
      ([name, text]) =>
        `${formatScalar(name)}: ${options.redact && spec.secret ? REDACTED : formatScalar(text)}`,
    );
    return `{${pairs.join(", ")}}`;
  }
  if (typeof value === "string") {
    if (options.yaml) return formatScalar(value);
    // A URL may carry a password for a proxy's basic auth (http://user:pass@host).
    return options.redact && spec.type.kind === "url" ? displayUrl(value) : hide(value);
  }
  return String(value);
}

function formatSource(source: ValueSource | undefined): string {
  switch (source?.kind) {
    case undefined:
    case "default":
      return "default";
    case "file":
      return `${source.file}:${source.line}`;
    case "env":
      return `env ${source.name}`;
    case "flag":
      return `flag ${source.name}`;
  }
}

/** Every leaf key with its effective value (secrets redacted) and where that value came from. */
export function describeConfig(loaded: LoadedConfig): Array<{ key: string; value: string; source: string }> {
  return CONFIG_KEYS.map((spec) => ({
    key: spec.key,
    value: formatKeyValue(spec, readConfigKey(loaded.config, spec.key), { redact: true }),
    source: formatSource(loaded.sources.get(spec.key)),
  }));
}

/** `file:line:col: key: message`, leaving out the parts the issue does not have. */
export function formatConfigIssue(issue: ConfigIssue): string {
  let where = issue.file ?? "";
  if (issue.file !== undefined && issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  return [where, issue.key, issue.message].filter((part) => part !== "").join(": ");
}
