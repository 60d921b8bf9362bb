import type { KeyValue } from "./keys.ts";
import { REPORT_FORMATS } from "./keys.ts";
import type { ParseContext } from "./values.ts";
import { describeRaw, normaliseUrl, parseValue } from "./values.ts";

/**
 * hyperclair's 2016 configuration (viper, so keys were case-insensitive):
 *   clair: { uri, port, healthPort, priority, report: { path, format } }
 *   hyperclair: { ip, port, tempFolder, interface }
 *   auth: { insecureSkipVerify }
 * Those files still load; each old key gets one warning naming what replaces it.
 */
export const LEGACY_KEYS = [
  { key: "clair.uri", replacement: "clair.url" },
  { key: "clair.port", replacement: "clair.url" },
  { key: "clair.healthPort", replacement: "clair.health.port" },
  { key: "clair.report.path", replacement: "report.dir" },
  { key: "clair.report.format", replacement: "report.formats" },
  { key: "hyperclair.ip", replacement: "serve.advertise" },
  { key: "hyperclair.port", replacement: "serve.listen" },
  { key: "hyperclair.tempFolder", replacement: "serve.tempDir" },
  { key: "auth.insecureSkipVerify", replacement: "registry.tls.insecureSkipVerify" },
  { key: "clair.priority", ignored: "to fail on a severity, use policy.failOn" },
  { key: "hyperclair.interface", ignored: "to choose the layer server's address, use serve.listen" },
] as const satisfies ReadonlyArray<{ key: string; replacement?: string; ignored?: string }>;

type LegacyKey = (typeof LEGACY_KEYS)[number]["key"];

const LEGACY_SECTIONS = ["hyperclair", "auth", "clair.report"];

/** The canonical spelling of an old key, matched case-insensitively as viper did. */
export function findLegacyKey(path: string): LegacyKey | undefined {
  const lower = path.toLowerCase();
  return LEGACY_KEYS.find((entry) => entry.key.toLowerCase() === lower)?.key;
}

export function isLegacySection(path: string): boolean {
  return LEGACY_SECTIONS.includes(path.toLowerCase());
}

export interface LegacyEntry {
  key: LegacyKey;
  raw: unknown;
  line: number;
  column: number;
}

export interface LegacyOutcome {
  /** New-key values to apply, each located at the old key that produced it. */
  values: Array<{ key: string; value: KeyValue; line: number }>;
  warnings: Array<{ line: number; message: string }>;
  errors: Array<{ key: string; line: number; column: number; message: string }>;
}

// hyperclair 2016 defaults: clair.uri http://localhost, clair.port 6060.
const LEGACY_DEFAULT_URI = "http://localhost";
const LEGACY_DEFAULT_PORT = 6060;

/**
 * `clair.uri` and `clair.port` → one URL. The old client joined them as `uri:port`, so a uri without
 * a port gets clair.port (default 6060); a uri that names its own port keeps it unless clair.port is given.
 */
export function combineLegacyClairUrl(uri: string | undefined, port: number | undefined): string | undefined {
  let text = (uri ?? LEGACY_DEFAULT_URI).trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (port !== undefined) url.port = String(port);
  else if (url.port === "") url.port = String(LEGACY_DEFAULT_PORT);
  return normaliseUrl(url.href);
}

/** `hyperclair.ip` + `hyperclair.port` → the URL Clair fetches layers from. */
function combineAdvertise(ip: string, port: number | undefined): string | undefined {
  const host = ip.includes(":") && !ip.startsWith("[") ? `[${ip}]` : ip;
  return normaliseUrl(port ? `http://${host}:${port}` : `http://${host}`);
}

/**
 * Translate the old keys found in one file into new-key values. `isSet` says whether the file also
 * sets a new key itself, in which case the new key wins.
 */
export function translateLegacy(
  entries: LegacyEntry[],
  isSet: (key: string) => boolean,
  ctx: ParseContext,
): LegacyOutcome {
  const outcome: LegacyOutcome = { values: [], warnings: [], errors: [] };
  const parsed = new Map<LegacyKey, { value: KeyValue; entry: LegacyEntry }>();

  const check = (entry: LegacyEntry, kind: "string" | "port" | "boolean"): void => {
    const result =
      kind === "string" && (typeof entry.raw === "number" || typeof entry.raw === "boolean")
        ? ({ ok: true, value: String(entry.raw) } as const)
        : parseValue({ kind }, entry.raw, ctx);
    if (result.ok && !(kind === "string" && result.value === "")) {
      parsed.set(entry.key, { value: result.value, entry });
    } else if (!result.ok) {
      outcome.errors.push({
        key: entry.key,
        line: entry.line,
        column: entry.column,
        message: result.message,
      });
    }
  };

  for (const entry of entries) {
    switch (entry.key) {
      case "clair.port":
      case "clair.healthPort":
      case "hyperclair.port":
        check(entry, "port");
        break;
      case "auth.insecureSkipVerify":
        check(entry, "boolean");
        break;
      case "clair.report.format": {
        const result = parseValue({ kind: "list", values: REPORT_FORMATS }, entry.raw, ctx);
        if (result.ok) parsed.set(entry.key, { value: result.value, entry });
        else
          outcome.errors.push({
            key: entry.key,
            line: entry.line,
            column: entry.column,
            message: result.message,
          });
        break;
      }
      case "clair.priority":
      case "hyperclair.interface":
        parsed.set(entry.key, { value: "", entry });
        break;
      default:
        check(entry, "string");
    }
  }

  const get = <T extends KeyValue>(key: LegacyKey): T | undefined => parsed.get(key)?.value as T | undefined;
  const produced = new Map<LegacyKey, string[]>();
  const conflicts = new Set<LegacyKey>();
  const apply = (target: string, value: KeyValue, from: LegacyKey[]): void => {
    const present = from.filter((key) => parsed.has(key));
    const first = present[0];
    if (first === undefined) return;
    if (isSet(target)) {
      for (const key of present) conflicts.add(key);
      return;
    }
    outcome.values.push({ key: target, value, line: parsed.get(first)!.entry.line });
    const shown = Array.isArray(value) ? `[${value.join(", ")}]` : String(value);
    for (const key of present) produced.set(key, [...(produced.get(key) ?? []), `${target}: ${shown}`]);
  };

  if (parsed.has("clair.uri") || parsed.has("clair.port")) {
    const url = combineLegacyClairUrl(get<string>("clair.uri"), get<number>("clair.port"));
    if (url === undefined) {
      const entry = (parsed.get("clair.uri") ?? parsed.get("clair.port"))!.entry;
      outcome.errors.push({
        key: entry.key,
        line: entry.line,
        column: entry.column,
        message: `cannot make a URL of ${describeRaw(get("clair.uri"))}; set clair.url instead`,
      });
      parsed.delete("clair.uri");
      parsed.delete("clair.port");
    } else {
      apply("clair.url", url, ["clair.uri", "clair.port"]);
    }
  }
  const healthPort = get<number>("clair.healthPort");
  if (healthPort !== undefined) apply("clair.health.port", healthPort, ["clair.healthPort"]);
  const reportPath = get<string>("clair.report.path");
  if (reportPath !== undefined) apply("report.dir", reportPath, ["clair.report.path"]);
  const formats = get<string[]>("clair.report.format");
  if (formats !== undefined) apply("report.formats", formats, ["clair.report.format"]);
  const ip = get<string>("hyperclair.ip");
  const servePort = get<number>("hyperclair.port");
  if (ip !== undefined) {
    const advertise = combineAdvertise(ip, servePort);
    if (advertise === undefined) {
      const entry = parsed.get("hyperclair.ip")!.entry;
      outcome.errors.push({
        key: entry.key,
        line: entry.line,
        column: entry.column,
        message: `expected an IP address or host name, got ${describeRaw(ip)}`,
      });
      parsed.delete("hyperclair.ip");
    } else {
      apply("serve.advertise", advertise, ["hyperclair.ip", "hyperclair.port"]);
    }
  }
  // Port 0 meant "any free port", which is what an empty serve.listen does.
  if (servePort !== undefined && servePort !== 0) apply("serve.listen", `:${servePort}`, ["hyperclair.port"]);
  const tempFolder = get<string>("hyperclair.tempFolder");
  if (tempFolder !== undefined) apply("serve.tempDir", tempFolder, ["hyperclair.tempFolder"]);
  const skipVerify = get<boolean>("auth.insecureSkipVerify");
  if (skipVerify !== undefined)
    apply("registry.tls.insecureSkipVerify", skipVerify, ["auth.insecureSkipVerify"]);

  for (const spec of LEGACY_KEYS) {
    const found = parsed.get(spec.key);
    if (found === undefined) continue;
    let message: string;
    if ("ignored" in spec) {
      message = `${spec.key} is no longer supported and is ignored; ${spec.ignored}`;
    } else {
      message = `${spec.key} is deprecated; use ${spec.replacement}`;
      const results = produced.get(spec.key);
      if (results !== undefined) message += ` (read here as ${results.join(", ")})`;
      if (conflicts.has(spec.key)) message += `; the file also sets the new key, which wins`;
    }
    outcome.warnings.push({ line: found.entry.line, message });
  }
  return outcome;
}
