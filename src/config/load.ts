import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { Document, Node, YAMLMap } from "yaml";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { KeyValue } from "./keys.ts";
import { CONFIG_KEYS, CONFIG_SECTIONS, envNameFor, findKeySpec, flagNameFor } from "./keys.ts";
import type { LegacyEntry } from "./legacy.ts";
import { findLegacyKey, isLegacySection, translateLegacy } from "./legacy.ts";
import { suggestClosest } from "./suggest.ts";
import { buildConfig } from "./tree.ts";
import type { ConfigIssue, LoadedConfig, ValueSource } from "./types.ts";
import { describeRaw, parseValue } from "./values.ts";

export interface LoadConfigInput {
  /** `--config PATH`; a missing file is an error. */
  configPath?: string | undefined;
  cwd: string;
  home: string;
  env: Record<string, string | undefined>;
  /** Dotted key → value from CLI flags (strings, numbers, booleans, arrays); undefined entries ignored. */
  flags: Record<string, unknown>;
}

/** Names under HYPERCLAIR_ that are not configuration keys but belong to the CLI itself. */
const NON_KEY_ENV = new Set(["HYPERCLAIR_CONFIG", "HYPERCLAIR_DEBUG"]);

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  return path.startsWith("~/") ? join(home, path.slice(2)) : path;
}

/**
 * The config file to read: `--config`, else the first that exists of `./.hyperclair.yml`,
 * `$XDG_CONFIG_HOME/hyperclair/config.yml` (XDG Base Directory: unset or relative means `~/.config`),
 * `~/.hyperclair.yml`. Undefined when there is none, which is fine.
 */
export function discoverConfigFile(
  input: Pick<LoadConfigInput, "configPath" | "cwd" | "home" | "env">,
): string | undefined {
  if (input.configPath !== undefined && input.configPath !== "") {
    return resolve(input.cwd, expandHome(input.configPath, input.home));
  }
  const xdg = input.env["XDG_CONFIG_HOME"];
  const configHome = xdg !== undefined && isAbsolute(xdg) ? xdg : join(input.home, ".config");
  const candidates = [
    join(input.cwd, ".hyperclair.yml"),
    join(configHome, "hyperclair", "config.yml"),
    join(input.home, ".hyperclair.yml"),
  ];
  return candidates.find(isFile);
}

/** A path as the user best recognises it: relative when under the working directory. */
function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

function quoteForShell(text: string): string {
  return /^[\w@%+=:,./~-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

interface Entry {
  value: KeyValue;
  source: ValueSource;
}

interface FileLayer {
  values: Map<string, { value: KeyValue; line: number }>;
  /** With the line they concern, to list them top to bottom like the file. */
  warnings: Array<{ line: number; text: string }>;
  errors: ConfigIssue[];
  read: boolean;
}

function readFileLayer(path: string, display: string, input: LoadConfigInput): FileLayer {
  const layer: FileLayer = { values: new Map(), warnings: [], errors: [], read: false };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === "ENOENT"
        ? "config file not found"
        : code === "EISDIR"
          ? "is a directory, not a config file"
          : `cannot read the config file: ${(error as Error).message}`;
    layer.errors.push({ key: "", file: display, message });
    return layer;
  }
  layer.read = true;

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined): { line: number; column: number } => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const reason = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      layer.errors.push({ key: "", file: display, ...at(error.pos[0]), message: reason });
    }
    return layer;
  }
  for (const warning of doc.warnings) {
    const { line, column } = at(warning.pos[0]);
    layer.warnings.push({ line, text: `${display}:${line}:${column}: ${warning.message.split("\n")[0]}` });
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) return layer;
  if (!isMap(root)) {
    layer.errors.push({
      key: "",
      file: display,
      ...at(root.range?.[0]),
      message: `expected a mapping of settings such as "clair:", got ${describeRaw(root.toJSON())}`,
    });
    return layer;
  }

  const ctx = { origin: "file", home: input.home, configDir: dirname(path) } as const;
  const legacy: LegacyEntry[] = [];
  const resolveNode = (node: unknown): Node | undefined => {
    if (isAlias(node)) return node.resolve(doc as Document.Parsed) as Node | undefined;
    return (node ?? undefined) as Node | undefined;
  };
  const toJS = (node: Node | undefined): unknown => (node === undefined ? null : node.toJS(doc));
  const knownNames = [...CONFIG_KEYS.map((spec) => spec.key), ...CONFIG_SECTIONS];

  const walk = (map: YAMLMap, prefix: string): void => {
    for (const pair of map.items) {
      const keyNode = resolveNode(pair.key);
      const valueNode = resolveNode(pair.value);
      const name = isScalar(keyNode) ? String(keyNode.value) : String(toJS(keyNode));
      const path = prefix === "" ? name : `${prefix}.${name}`;
      const where = at((keyNode ?? valueNode)?.range?.[0]);
      const raw = toJS(valueNode);

      const legacyKey = findLegacyKey(path);
      if (legacyKey !== undefined) {
        if (raw !== null) legacy.push({ key: legacyKey, raw, ...where });
        continue;
      }
      const spec = findKeySpec(path);
      if (spec !== undefined) {
        // `key:` with nothing after it leaves the key unset, as if absent.
        if (raw === null) continue;
        const result = parseValue(spec.type, raw, ctx);
        if (result.ok) {
          layer.values.set(path, { value: result.value, line: where.line });
          continue;
        }
        let location = where;
        if (typeof result.item === "number" && isSeq(valueNode)) {
          location = at(
            (valueNode.items[result.item] as Node | undefined)?.range?.[0] ?? valueNode.range?.[0],
          );
        } else if (typeof result.item === "string" && isMap(valueNode)) {
          const bad = valueNode.items.find(
            (item) => isScalar(item.key) && String(item.key.value) === result.item,
          );
          if (isScalar(bad?.key)) location = at(bad.key.range?.[0]);
        }
        layer.errors.push({ key: path, file: display, line: location.line, message: result.message });
        continue;
      }
      if (CONFIG_SECTIONS.has(path) || isLegacySection(path)) {
        if (raw === null) continue;
        if (isMap(valueNode)) walk(valueNode, path);
        else {
          layer.errors.push({
            key: path,
            file: display,
            line: where.line,
            message: `expected a section of keys (${path}: followed by indented keys), got ${describeRaw(raw)}`,
          });
        }
        continue;
      }
      const suggestion = suggestClosest(path, knownNames);
      layer.warnings.push({
        line: where.line,
        text: `${display}:${where.line}: unknown key ${path}${suggestion === undefined ? "" : `; did you mean ${suggestion}?`}`,
      });
    }
  };
  walk(root, "");

  const translated = translateLegacy(legacy, (key) => layer.values.has(key), ctx);
  for (const { key, value, line } of translated.values) layer.values.set(key, { value, line });
  for (const { line, message } of translated.warnings)
    layer.warnings.push({ line, text: `${display}:${line}: ${message}` });
  for (const { key, line, message } of translated.errors)
    layer.errors.push({ key, file: display, line, message });

  // Anyone who can read the file can use the secret; ssh and docker ask for the same.
  const secrets = CONFIG_KEYS.filter((spec) => {
    const held = layer.values.get(spec.key)?.value;
    return (
      spec.secret &&
      held !== undefined &&
      (typeof held === "string" ? held !== "" : Object.keys(held).length > 0)
    );
  }).map((spec) => spec.key);
  if (secrets.length > 0 && process.platform !== "win32") {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      layer.warnings.push({
        line: 0,
        text:
          `${display} holds secrets (${secrets.join(", ")}) but other users can read it ` +
          `(mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${quoteForShell(display)}`,
      });
    }
  }
  return layer;
}

function locate(key: string, source: ValueSource | undefined): ConfigIssue {
  return source?.kind === "file"
    ? { key, file: source.file, line: source.line, message: "" }
    : { key, message: "" };
}

/**
 * The effective configuration: defaults < config file < HYPERCLAIR_* environment < flags. Never throws
 * for bad input; each problem is in `errors` (the CLI exits 2 when there are any) or `warnings`.
 */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const entries = new Map<string, Entry>(
    CONFIG_KEYS.map((spec) => [spec.key, { value: spec.default, source: { kind: "default" } }]),
  );
  const warnings: string[] = [];
  const errors: ConfigIssue[] = [];

  const path = discoverConfigFile(input);
  let fileRead: string | undefined;
  if (path !== undefined) {
    const display = displayPath(path, input.cwd);
    const layer = readFileLayer(path, display, input);
    if (layer.read) fileRead = path;
    warnings.push(...layer.warnings.sort((a, b) => a.line - b.line).map((warning) => warning.text));
    errors.push(...layer.errors);
    for (const [key, { value, line }] of layer.values) {
      entries.set(key, { value, source: { kind: "file", file: display, line } });
    }
  }

  // An empty variable counts as unset, as with most tools (and `VAR= cmd` in a shell).
  const envNames = new Set<string>();
  for (const spec of CONFIG_KEYS) {
    const name = envNameFor(spec.key);
    envNames.add(name);
    const raw = input.env[name];
    if (raw === undefined || raw === "") continue;
    const result = parseValue(spec.type, raw, { origin: "env", home: input.home });
    if (result.ok) entries.set(spec.key, { value: result.value, source: { kind: "env", name } });
    else errors.push({ key: spec.key, message: `${result.message} (from ${name})` });
  }
  for (const name of Object.keys(input.env)) {
    if (!name.startsWith("HYPERCLAIR_") || envNames.has(name) || NON_KEY_ENV.has(name)) continue;
    const suggestion = suggestClosest(name, envNames, 2);
    if (suggestion !== undefined)
      warnings.push(`${name} is not a hyperclair setting; did you mean ${suggestion}?`);
  }

  for (const [key, raw] of Object.entries(input.flags)) {
    if (raw === undefined) continue;
    const spec = findKeySpec(key);
    if (spec === undefined) {
      errors.push({ key, message: "not a configuration key (from a flag)" });
      continue;
    }
    const name = flagNameFor(key);
    const result = parseValue(spec.type, raw, { origin: "flag", home: input.home });
    if (result.ok) entries.set(key, { value: result.value, source: { kind: "flag", name } });
    else errors.push({ key, message: `${result.message} (from flag ${name})` });
  }

  const effectiveValue = (key: string): KeyValue => entries.get(key)!.value;
  if (
    effectiveValue("clair.url") === "" &&
    (effectiveValue("clair.indexer") === "" || effectiveValue("clair.matcher") === "")
  ) {
    errors.push({
      ...locate("clair.url", entries.get("clair.url")?.source),
      message: "Clair's URL is empty; set clair.url (or both clair.indexer and clair.matcher)",
    });
  }

  return {
    config: buildConfig(effectiveValue),
    sources: new Map([...entries].map(([key, entry]) => [key, entry.source])),
    file: fileRead,
    warnings,
    errors,
  };
}
