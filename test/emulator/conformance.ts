/**
 * Conformance checks against the shared Clair API material (`../shared/clair-api`): the v4 JSON Schemas
 * and the v1 responses recorded from a real Clair 2.1.0. The project keeps no copy of those files; when
 * they are absent the conformance tests say so and skip.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const repoRoot = path.resolve(import.meta.dirname, "../..");

export function locateClairApiDir(): string {
  const shared = process.env["HYPERCLAIR_SHARED_DIR"] ?? path.resolve(repoRoot, "../shared");
  return path.join(shared, "clair-api");
}

export const clairApiDir = locateClairApiDir();
export const clairApiAvailable = existsSync(path.join(clairApiDir, "schemas"));
export const skipReason = `${clairApiDir} not found: conformance not checked`;

type Schema = Record<string, unknown>;

/**
 * Where every real Clair v4 deviates from its own schemas (NOTES.md §2.8 and §2.11, and the real reports
 * in `examples/`): lower-case package kinds, empty CPE strings, null repository_ids, and vulnerabilities
 * carrying a package without `arch_op`. The emulator answers like the real servers, so these four — and
 * nothing else — are relaxed before validating.
 */
function applyRealServerDeviations(file: string, schema: Schema): Schema {
  const props = schema["properties"] as Record<string, Schema> | undefined;
  switch (file) {
    case "package.schema.json":
      props!["kind"] = { enum: ["BINARY", "SOURCE", "binary", "source"] };
      return schema;
    case "cpe.schema.json": {
      const { $id, $schema, title, description, ...rest } = schema;
      return { $id, $schema, title, description, anyOf: [{ const: "" }, rest] };
    }
    case "environment.schema.json":
      props!["repository_ids"] = { type: ["array", "null"], items: { type: "string" } };
      return schema;
    case "vulnerability_core.schema.json":
      delete schema["dependentRequired"];
      return schema;
    default:
      return schema;
  }
}

export type SchemaName = "index_report" | "vulnerability_report" | "index_state" | "error" | "bulk_delete";

let validators: Map<SchemaName, ValidateFunction> | undefined;

/** Validate `body` against `<name>.schema.json`; returns Ajv's error text, or undefined when valid. */
export function validateAgainstSchema(name: SchemaName, body: unknown): string | undefined {
  if (!validators) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const addFormats = addFormatsModule as unknown as (a: Ajv2020) => void;
    addFormats(ajv);
    const dir = path.join(clairApiDir, "schemas");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".schema.json"))) {
      const schema = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as Schema;
      ajv.addSchema(applyRealServerDeviations(file, schema));
    }
    validators = new Map();
    for (const n of [
      "index_report",
      "vulnerability_report",
      "index_state",
      "error",
      "bulk_delete",
    ] as const) {
      const fn = ajv.getSchema(`https://clairproject.org/api/http/v1/${n}.schema.json`);
      if (!fn) throw new Error(`schema ${n} not found in ${dir}`);
      validators.set(n, fn);
    }
  }
  const validate = validators.get(name)!;
  return validate(body) ? undefined : JSON.stringify(validate.errors);
}

/** The recorded real Clair 2.1.0 GET-layer responses. */
export function loadRecordedV1(): unknown[] {
  const dir = path.join(clairApiDir, "v1", "recorded");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), "utf8")) as unknown);
}

type Kind = "object" | "array" | "string" | "number" | "boolean" | "null";
interface Shape {
  kinds: Set<Kind>;
  /** Keys seen in every sample at this position, and keys seen in any. */
  required?: Set<string>;
  keys?: Map<string, Shape>;
  items?: Shape;
}

const kindOf = (v: unknown): Kind =>
  v === null ? "null" : Array.isArray(v) ? "array" : (typeof v as "object" | "string" | "number" | "boolean");

function learn(shape: Shape | undefined, value: unknown): Shape {
  const s: Shape = shape ?? { kinds: new Set() };
  const kind = kindOf(value);
  s.kinds.add(kind);
  if (kind === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    s.keys ??= new Map();
    s.required = s.required ? new Set([...s.required].filter((k) => keys.includes(k))) : new Set(keys);
    for (const k of keys) s.keys.set(k, learn(s.keys.get(k), obj[k]));
  } else if (kind === "array") {
    for (const item of value as unknown[]) s.items = learn(s.items, item);
  }
  return s;
}

/** A shape learnt from samples: the keys, key sets and value types a real server produced. */
export function learnShape(samples: unknown[]): Shape {
  let shape: Shape | undefined;
  for (const sample of samples) shape = learn(shape, sample);
  return shape!;
}

/** Differences between `value` and the learnt shape (unknown keys, missing keys, other types). */
export function compareToShape(shape: Shape, value: unknown, at = "$"): string[] {
  const kind = kindOf(value);
  if (!shape.kinds.has(kind)) return [`${at}: ${kind}, recorded ${[...shape.kinds].join("|")}`];
  const problems: string[] = [];
  if (kind === "object") {
    const obj = value as Record<string, unknown>;
    for (const k of shape.required ?? []) if (!(k in obj)) problems.push(`${at}.${k}: missing`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = shape.keys?.get(k);
      if (!sub) problems.push(`${at}.${k}: not in the recorded responses`);
      else problems.push(...compareToShape(sub, v, `${at}.${k}`));
    }
  } else if (kind === "array" && shape.items) {
    for (const [i, item] of (value as unknown[]).entries())
      problems.push(...compareToShape(shape.items, item, `${at}[${i}]`));
  }
  return problems;
}
