import type { KeyValue } from "./keys.ts";
import { CONFIG_KEYS } from "./keys.ts";
import type { Config } from "./types.ts";

/** The value at a dotted path of the configuration (`clair.psk.key`). */
export function readConfigKey(config: Config, key: string): unknown {
  let node: unknown = config;
  for (const segment of key.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** A `Config` holding, for every key of the table, the value `effectiveValue` gives (copied). */
export function buildConfig(effectiveValue: (key: string) => KeyValue): Config {
  const root: Record<string, unknown> = {};
  for (const spec of CONFIG_KEYS) {
    const segments = spec.key.split(".");
    let node = root;
    for (const segment of segments.slice(0, -1)) {
      node[segment] ??= {};
      node = node[segment] as Record<string, unknown>;
    }
    node[segments.at(-1)!] = structuredClone(effectiveValue(spec.key));
  }
  // The table and `types.ts` describe the same shape; test/config checks every field is present.
  return root as unknown as Config;
}
