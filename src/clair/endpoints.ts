import type { ClairConfig } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import type { ClairApi } from "./client.ts";

/** Probes and health checks must be cheap: a down Clair should not keep `health` waiting for the full timeout. */
const PROBE_TIMEOUT_MS = 10_000;

/** Default health ports: v1 `api.healthport` (NOTES.md §1.1), v4 `introspection_addr` (§2.1). */
const DEFAULT_HEALTH_PORT: Record<ClairApi, number> = { v1: 6061, v4: 8089 };

/** Where one Clair deployment answers. */
export interface ClairEndpoints {
  /** The API base (the indexer's in a v4 split deployment). */
  url: string;
  /** v4 only: where `/indexer/...` and `/matcher/...` go. Equal to `url` unless split. */
  indexer: string;
  matcher: string;
  /** Indexer and matcher on different bases (`clair.indexer` / `clair.matcher`). */
  split: boolean;
}

export function probeTimeout(config: ClairConfig): number {
  return config.timeout > 0 ? Math.min(config.timeout, PROBE_TIMEOUT_MS) : PROBE_TIMEOUT_MS;
}

/** Resolves `clair.url`, `clair.indexer` and `clair.matcher` into bases without a trailing slash. */
export function resolveEndpoints(config: ClairConfig): ClairEndpoints {
  const url = normalizeBase(config.url, "clair.url");
  const indexer = config.indexer.trim() === "" ? "" : normalizeBase(config.indexer, "clair.indexer");
  const matcher = config.matcher.trim() === "" ? "" : normalizeBase(config.matcher, "clair.matcher");
  const split = indexer !== "" || matcher !== "";
  if (split && config.api === "v1") {
    throw new ConfigError("clair.indexer and clair.matcher are for Clair v4, but clair.api is v1", {
      hint: "remove clair.indexer/clair.matcher, or set clair.api to v4 or auto",
    });
  }
  const indexerBase = indexer === "" ? url : indexer;
  const matcherBase = matcher === "" ? url : matcher;
  return {
    url: indexerBase,
    indexer: indexerBase,
    matcher: matcherBase,
    split: split && indexerBase !== matcherBase,
  };
}

/**
 * The base URL of the health server for one API host: `clair.health.url` as given, else the API URL's host
 * on `clair.health.port` (or the API's default). Both Clair generations serve health over plain HTTP, even
 * when the API is behind TLS (v1 `api.go` RunHealth, v4 `introspection/server.go`).
 */
export function resolveHealthBase(config: ClairConfig, api: ClairApi, apiBase: string): string {
  if (config.health.url.trim() !== "") return normalizeBase(config.health.url, "clair.health.url");
  const port = config.health.port > 0 ? config.health.port : DEFAULT_HEALTH_PORT[api];
  const { hostname } = new URL(apiBase);
  const host = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}

function normalizeBase(value: string, setting: string): string {
  const trimmed = value.trim();
  if (trimmed === "") {
    throw new ConfigError(`${setting} is empty`, {
      hint: `set ${setting} (or --clair-url) to Clair's API URL`,
    });
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new ConfigError(`${setting} is not a URL: ${trimmed}`, {
      hint: "write it as http://host:port or https://host:port",
    });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`${setting} must be an http:// or https:// URL, not ${parsed.protocol}`, {
      hint: "write it as http://host:port or https://host:port",
    });
  }
  parsed.search = "";
  parsed.hash = "";
  return parsed.toString().replace(/\/+$/, "");
}
