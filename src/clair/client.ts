/**
 * The one view of Clair that the rest of hyperclair sees (STYLE.md rule 3): callers talk to a
 * `ClairClient` and never to v1 (Clair 1.x/2.x) or v4 wire shapes, which stay inside `v1/` and `v4/`.
 */

/** The HTTP API a Clair server speaks: "v1" (Clair 1.x/2.x, `/v1/...`) or "v4" (`/indexer/...`, `/matcher/...`). */
export type ClairApi = "v1" | "v4";

/** What the Clair layer needs from its caller besides the configuration. */
export interface ClairDeps {
  /** Receives one line per detail of each HTTP exchange (secrets already redacted), for `--debug`. */
  debug?: ((line: string) => void) | undefined;
}

/** One ✔/✘ line of a health report. */
export interface HealthCheck {
  /** Short name of what was checked, e.g. `api`, `health`, `healthz`, `readyz`, `indexer`, `matcher`. */
  name: string;
  /** The URL that was requested. */
  url: string;
  ok: boolean;
  /** One short line: what was seen, or what failed and what to do. */
  detail: string;
}

/** The result of `ClairClient.health()`. */
export interface ClairHealth {
  api: ClairApi;
  /** The API base URL (the indexer's in a v4 split deployment). */
  apiUrl: string;
  /** What Clair tells about itself (v4: OpenAPI spec version and index state; v1: the API flavour). */
  version: string | undefined;
  checks: HealthCheck[];
  /** True when every check passed. */
  healthy: boolean;
}

/** A connection to one Clair deployment. Push, report and delete join this interface later. */
export interface ClairClient {
  readonly api: ClairApi;
  /** The API base URL (the indexer's in a v4 split deployment). */
  readonly url: string;
  /** Checks the API and the health endpoints; never throws for an unhealthy Clair, only returns ✘ checks. */
  health(): Promise<ClairHealth>;
}
