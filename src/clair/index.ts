import type { ClairConfig } from "../config/types.ts";
import type { ClairClient, ClairDeps } from "./client.ts";
import { detectWith } from "./detect.ts";
import { probeTimeout, resolveEndpoints } from "./endpoints.ts";
import { createClairHttp } from "./http.ts";
import { V1Client } from "./v1/client.ts";
import { DEFAULT_MATCHER_WAIT, V4Client } from "./v4/client.ts";
import { FileIndexStateStore, indexStatePath } from "./v4/index-states.ts";

export type { ClairApi, ClairClient, ClairDeps, ClairHealth, HealthCheck } from "./client.ts";
export { detectApi } from "./detect.ts";

/**
 * The one factory (STYLE.md rule 3): builds the client for the API `clair.api` names, or for the one
 * detected at `clair.url` when it is `auto`. Configuration problems (bad URL, bad PSK key, unreadable CA)
 * are ConfigErrors; an unreachable or unrecognisable Clair is a ClairError.
 */
export async function connectClair(config: ClairConfig, deps: ClairDeps = {}): Promise<ClairClient> {
  const endpoints = resolveEndpoints(config);
  const http = createClairHttp(config, deps.debug);
  const api =
    config.api === "auto" ? (await detectWith(http, endpoints, probeTimeout(config))).api : config.api;
  if (api === "v1") return new V1Client(http, config, endpoints.url);
  return new V4Client(http, config, endpoints, {
    matcherWait: { ...DEFAULT_MATCHER_WAIT, maxWaitMs: config.reportWait },
    indexStates: deps.cacheDir ? new FileIndexStateStore(indexStatePath(deps.cacheDir)) : undefined,
  });
}
