import { isAbsolute, join, resolve } from "node:path";
import type { KeyType, KeyValue } from "./keys.ts";

/**
 * Where a raw value comes from. A file gives typed YAML values and is held to them (a number is not a
 * string); the environment gives text that must be parsed; flags give either.
 */
export type ValueOrigin = "file" | "env" | "flag";

export interface ParseContext {
  origin: ValueOrigin;
  home: string;
  /** Directory of the config file, for paths that are relative to it (file origin only). */
  configDir?: string | undefined;
}

export type ParseResult =
  | { ok: true; value: KeyValue }
  /** `item` locates the bad element: a list index or a map entry name. */
  | { ok: false; message: string; item?: number | string };

const fail = (message: string, item?: number | string): ParseResult =>
  item === undefined ? { ok: false, message } : { ok: false, message, item };

/** `"soon"`, `12 (a number)`, `a list`: what the user wrote, for messages. */
export function describeRaw(raw: unknown): string {
  if (typeof raw === "string") return JSON.stringify(raw);
  if (typeof raw === "number") return `${raw} (a number)`;
  if (typeof raw === "boolean") return `${raw} (a boolean)`;
  if (raw === null || raw === undefined) return "nothing";
  if (Array.isArray(raw)) return "a list";
  return "a mapping";
}

/** Text from the environment or a flag; the file must hold a real string. */
function readText(raw: unknown, ctx: ParseContext): string | undefined {
  if (typeof raw === "string") return raw;
  if (ctx.origin !== "file" && (typeof raw === "number" || typeof raw === "boolean")) return String(raw);
  return undefined;
}

function expectedString(raw: unknown, ctx: ParseContext): string {
  const hint = ctx.origin === "file" && (typeof raw === "number" || typeof raw === "boolean");
  return `expected a string, got ${describeRaw(raw)}${hint ? "; put the value in quotes" : ""}`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const DURATION_FULL = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const NUMBER_TEXT = /^\d+(?:\.\d+)?$/;

/** Go-style durations (`1h30m`, `500ms`) as Clair's own config uses; a bare number is seconds. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (NUMBER_TEXT.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  if (!DURATION_FULL.test(trimmed)) return undefined;
  let ms = 0;
  for (const match of trimmed.matchAll(DURATION_PART)) {
    ms += Number(match[1]) * (DURATION_UNITS[match[2] ?? ""] ?? 0);
  }
  return Math.round(ms);
}

/** The shortest text `parseDuration` reads back as the same value. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function parsePort(raw: unknown): number | undefined {
  // A quoted "6061" in a file is still clearly a port; accept it.
  const text = typeof raw === "number" ? String(raw) : typeof raw === "string" ? raw : undefined;
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  const port = Number(text.trim());
  return port <= 65535 ? port : undefined;
}

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

function parseBoolean(raw: unknown): boolean | undefined {
  if (typeof raw === "boolean") return raw;
  if (typeof raw !== "string" && typeof raw !== "number") return undefined;
  const word = String(raw).trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/** An http(s) URL without its trailing slash, or undefined. */
export function normaliseUrl(text: string): string | undefined {
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return undefined;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return undefined;
  return trimmed.replace(/\/+$/, "");
}

// RFC 9110 §5.1: a field name is a token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// RFC 9110 §5.5: CR, LF and NUL are never allowed in a field value.
const HEADER_VALUE_FORBIDDEN = /[\r\n\0]/;

function parseHeaderEntries(entries: Array<[string, unknown]>): ParseResult {
  const headers: Record<string, string> = {};
  for (const [rawName, rawValue] of entries) {
    const name = rawName.trim();
    if (!HEADER_NAME.test(name))
      return fail(`${JSON.stringify(rawName)} is not a valid header name`, rawName);
    if (typeof rawValue !== "string" && typeof rawValue !== "number" && typeof rawValue !== "boolean") {
      return fail(`header ${name}: expected a string value, got ${describeRaw(rawValue)}`, rawName);
    }
    const value = String(rawValue).trim();
    if (HEADER_VALUE_FORBIDDEN.test(value)) {
      return fail(`header ${name}: a value cannot contain line breaks`, rawName);
    }
    headers[name] = value;
  }
  return { ok: true, value: headers };
}

/**
 * Headers from text: a JSON object (`{"Authorization":"Bearer x"}`), or `Name=value` entries one per
 * line, or separated by commas when there is no line break. JSON or lines let a value hold a comma.
 */
function parseHeaderText(text: string): ParseResult {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: true, value: {} };
  if (trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      return fail(`expected a JSON object of headers: ${(error as Error).message}`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      return fail(`expected a JSON object of headers, got ${describeRaw(parsed)}`);
    }
    return parseHeaderEntries(Object.entries(parsed));
  }
  const parts = trimmed.includes("\n") ? trimmed.split(/\r?\n/) : trimmed.split(",");
  const entries: Array<[string, unknown]> = [];
  for (const part of parts) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) return fail(`expected Name=value header entries, got ${JSON.stringify(part.trim())}`);
    entries.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  return parseHeaderEntries(entries);
}

function parseList(raw: unknown, values: readonly string[] | undefined, ctx: ParseContext): ParseResult {
  let items: unknown[];
  if (Array.isArray(raw)) items = raw;
  else if (typeof raw === "string") items = [raw];
  else return fail(`expected a list of strings, got ${describeRaw(raw)}`);
  const out: string[] = [];
  for (const [index, item] of items.entries()) {
    const text = readText(item, ctx);
    if (text === undefined)
      return fail(`expected a list of strings, item ${index + 1} is ${describeRaw(item)}`, index);
    // Comma splitting lets `--format sarif,html` and `formats: html,json` mean what they look like.
    for (const piece of text.split(",")) {
      let word = piece.trim();
      if (word === "") continue;
      if (values !== undefined) {
        word = word.toLowerCase();
        if (!values.includes(word)) {
          return fail(`expected each of ${values.join(", ")}, got ${JSON.stringify(piece.trim())}`, index);
        }
      }
      if (!out.includes(word)) out.push(word);
    }
  }
  return { ok: true, value: out };
}

// OCI image index §platform: os and architecture, optional variant (e.g. linux/arm64/v8).
const PLATFORM = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(?:\/[a-z0-9_.-]+)?$/;

function parseHostPort(text: string): boolean {
  if (text === "") return true;
  const match = /^(?:\[([0-9A-Fa-f:.%a-z]+)\]|([^\s:/[\]]*))(?::(\d+))?$/.exec(text);
  if (match === null) return false;
  const host = match[1] ?? match[2] ?? "";
  const port = match[3];
  if (host === "" && port === undefined) return false;
  return port === undefined || Number(port) <= 65535;
}

function expandPath(text: string, type: Extract<KeyType, { kind: "path" }>, ctx: ParseContext): string {
  if (text === "") return text;
  if (text === "~") return ctx.home;
  if (text.startsWith("~/")) return join(ctx.home, text.slice(2));
  // Input files named in a config file are found next to it, whatever the working directory.
  if (
    type.relativeTo === "config-file" &&
    ctx.origin === "file" &&
    ctx.configDir !== undefined &&
    !isAbsolute(text)
  ) {
    return resolve(ctx.configDir, text);
  }
  return text;
}

/** Parse and check one raw value against its key's type. */
export function parseValue(type: KeyType, raw: unknown, ctx: ParseContext): ParseResult {
  switch (type.kind) {
    case "string": {
      const text = readText(raw, ctx);
      return text === undefined ? fail(expectedString(raw, ctx)) : { ok: true, value: text };
    }
    case "path": {
      const text = readText(raw, ctx);
      return text === undefined
        ? fail(expectedString(raw, ctx))
        : { ok: true, value: expandPath(text.trim(), type, ctx) };
    }
    case "url": {
      const text = readText(raw, ctx);
      if (text === undefined) return fail(`expected an http(s) URL, got ${describeRaw(raw)}`);
      if (text.trim() === "") return { ok: true, value: "" };
      const url = normaliseUrl(text);
      return url === undefined
        ? fail(`expected an http(s) URL such as http://clair.example.com:6060, got ${describeRaw(raw)}`)
        : { ok: true, value: url };
    }
    case "enum": {
      const text = readText(raw, ctx);
      const word = text?.trim().toLowerCase();
      if (word !== undefined && (type.values.includes(word) || (type.allowEmpty && word === ""))) {
        return { ok: true, value: word };
      }
      const choices = type.values.join(", ") + (type.allowEmpty ? ' or ""' : "");
      return fail(`expected one of ${choices}, got ${describeRaw(raw)}`);
    }
    case "duration": {
      let ms: number | undefined;
      if (typeof raw === "number") ms = Number.isFinite(raw) && raw >= 0 ? Math.round(raw * 1000) : undefined;
      else if (typeof raw === "string") ms = parseDuration(raw);
      return ms === undefined
        ? fail(`expected a duration such as 90s or 10m, got ${describeRaw(raw)}`)
        : { ok: true, value: ms };
    }
    case "port": {
      const port = parsePort(raw);
      return port === undefined
        ? fail(`expected a port number 0-65535, got ${describeRaw(raw)}`)
        : { ok: true, value: port };
    }
    case "boolean": {
      const value = parseBoolean(raw);
      return value === undefined
        ? fail(`expected true or false, got ${describeRaw(raw)}`)
        : { ok: true, value };
    }
    case "list":
      return parseList(raw, type.values, ctx);
    case "map": {
      if (typeof raw === "string" && ctx.origin !== "file") return parseHeaderText(raw);
      if (Array.isArray(raw) && ctx.origin === "flag") {
        // Repeated `--header Name=value` flags.
        return parseHeaderText(raw.map(String).join("\n"));
      }
      if (raw !== null && typeof raw === "object" && !Array.isArray(raw))
        return parseHeaderEntries(Object.entries(raw));
      return fail(`expected a mapping of header names to values, got ${describeRaw(raw)}`);
    }
    case "platform": {
      const text = readText(raw, ctx)?.trim().toLowerCase();
      return text !== undefined && PLATFORM.test(text)
        ? { ok: true, value: text }
        : fail(`expected os/arch[/variant] such as linux/amd64 or linux/arm64/v8, got ${describeRaw(raw)}`);
    }
    case "host-port": {
      const text = readText(raw, ctx)?.trim();
      return text !== undefined && parseHostPort(text)
        ? { ok: true, value: text }
        : fail(`expected host, host:port or :port such as 0.0.0.0:8080, got ${describeRaw(raw)}`);
    }
  }
}
