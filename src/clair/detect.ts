import type { ClairConfig } from "../config/types.ts";
import { ClairError } from "../errors.ts";
import { displayUrl } from "../http/common.ts";
import type { ClairApi, ClairDeps } from "./client.ts";
import { type ClairEndpoints, probeTimeout, resolveEndpoints } from "./endpoints.ts";
import { type ClairHttp, type ClairResponse, createClairHttp } from "./http.ts";

export interface Detection {
  api: ClairApi;
  /** For messages: the API base without user info. */
  url: string;
  /** One line saying what showed the API, for `version`, `doctor` and `--debug`. */
  evidence: string;
}

const V4_PROBE = "/indexer/api/v1/index_state";
const V1_PROBE = "/v1/namespaces";

/**
 * Finds out which API `clair.url` serves (v1 of Clair 1.x/2.x, or v4), unless `clair.api` names one.
 * Both probes run at once with a short timeout. A split v4 deployment (`clair.indexer`/`clair.matcher`) is v4;
 * its indexer must answer index_state and its matcher must answer HTTP at all.
 */
export async function detectApi(config: ClairConfig, deps: ClairDeps = {}): Promise<Detection> {
  const endpoints = resolveEndpoints(config);
  if (config.api !== "auto") {
    return { api: config.api, url: displayUrl(endpoints.url), evidence: `clair.api is set to ${config.api}` };
  }
  return detectWith(createClairHttp(config, deps.debug), endpoints, probeTimeout(config));
}

/** Detection over an existing HTTP layer, so the factory signs with the same cached token. */
export async function detectWith(
  http: ClairHttp,
  endpoints: ClairEndpoints,
  timeout: number,
): Promise<Detection> {
  if (endpoints.split) return detectSplit(http, endpoints, timeout);
  const url = endpoints.url;
  const [v4, v1] = await Promise.allSettled([
    http.send({ method: "GET", url: url + V4_PROBE, timeout }),
    http.send({ method: "GET", url: url + V1_PROBE, timeout, auth: false }),
  ]);
  if (v4.status === "fulfilled") {
    const evidence = readV4Evidence(v4.value);
    if (evidence !== undefined) return { api: "v4", url: displayUrl(url), evidence };
  }
  if (v1.status === "fulfilled") {
    const evidence = readV1Evidence(v1.value);
    if (evidence !== undefined) return { api: "v1", url: displayUrl(url), evidence };
  }
  // No HTTP answer at all: the transport error (refused, DNS, TLS, timeout) says it best.
  if (v4.status === "rejected" && v1.status === "rejected") throw v4.reason;
  const seen = (probe: PromiseSettledResult<ClairResponse>): string =>
    probe.status === "fulfilled" ? describeAnswer(probe.value) : errorText(probe.reason);
  const v4Seen = seen(v4);
  const v1Seen = seen(v1);
  const message =
    v4Seen === v1Seen
      ? `${displayUrl(url)} answers ${v1Seen} on both ${V1_PROBE} and ${V4_PROBE}: is this a Clair URL?`
      : `${displayUrl(url)} answers ${v1Seen} on ${V1_PROBE} and ${v4Seen} on ${V4_PROBE}: is this a Clair URL?`;
  throw new ClairError(message, {
    status:
      v4.status === "fulfilled" ? v4.value.status : v1.status === "fulfilled" ? v1.value.status : undefined,
    hint: "set clair.url (--clair-url) to Clair's API address (port 6060 by default), or clair.api to v1 or v4",
    debug: [
      ...(v1.status === "fulfilled" ? v1.value.debug : []),
      ...(v4.status === "fulfilled" ? v4.value.debug : []),
    ],
  });
}

async function detectSplit(http: ClairHttp, endpoints: ClairEndpoints, timeout: number): Promise<Detection> {
  const indexerTarget = { name: "Clair's indexer", setting: "clair.indexer" };
  const matcherTarget = { name: "Clair's matcher", setting: "clair.matcher" };
  const [indexer, matcher] = await Promise.all([
    http.send({ method: "GET", url: endpoints.indexer + V4_PROBE, timeout, target: indexerTarget }),
    // Any HTTP answer shows the matcher is there; `/robots.txt` is the one route Clair never authenticates.
    http.send({
      method: "GET",
      url: `${endpoints.matcher}/robots.txt`,
      timeout,
      target: matcherTarget,
      accept: "*/*",
    }),
  ]);
  const evidence = readV4Evidence(indexer);
  if (evidence === undefined) {
    throw new ClairError(
      `${displayUrl(endpoints.indexer)} answers ${describeAnswer(indexer)} on ${V4_PROBE}: is this Clair v4's indexer?`,
      {
        status: indexer.status,
        hint: "set clair.indexer to the Clair v4 indexer's API address",
        debug: indexer.debug,
      },
    );
  }
  return {
    api: "v4",
    url: displayUrl(endpoints.indexer),
    evidence: `split deployment: indexer ${evidence}; matcher ${displayUrl(endpoints.matcher)} answered HTTP ${matcher.status}`,
  };
}

/**
 * v4 shows itself on `GET /indexer/api/v1/index_state`: 200 `{"state": …}` (NOTES.md §2.4), 401 with an empty
 * body when a PSK is required (§2.2), or a v4 error object `{"code","message"}` when the indexer is failing.
 */
function readV4Evidence(response: ClairResponse): string | undefined {
  const json = response.json as Record<string, unknown> | undefined;
  const where = `GET ${V4_PROBE} answered`;
  if (response.status === 200 && isObject(json) && typeof json["state"] === "string") {
    return `${where} 200 with an index state`;
  }
  if (response.status === 401 && response.body.length === 0) {
    return `${where} 401 with an empty body (Clair v4 with PSK authentication)`;
  }
  if (response.status >= 500 && isObject(json) && typeof json["code"] === "string" && "message" in json) {
    return `${where} ${response.status} with a Clair v4 error`;
  }
  return undefined;
}

/**
 * v1 shows itself on `GET /v1/namespaces`: 200 `{"Namespaces": …}` with `Server: clair` (NOTES.md §1.1, recorded
 * v2.1.0 answers). An empty namespace list may be encoded as `{}`, so the header alone also counts.
 */
function readV1Evidence(response: ClairResponse): string | undefined {
  const json = response.json;
  const server = (response.headers["server"] ?? "").toLowerCase();
  const where = `GET ${V1_PROBE} answered`;
  if (response.status === 200 && isObject(json) && ("Namespaces" in json || server === "clair")) {
    return `${where} 200 with a namespace list`;
  }
  if (response.status >= 500 && isObject(json) && isObject(json["Error"]) && server === "clair") {
    return `${where} ${response.status} with a Clair v1 error`;
  }
  return undefined;
}

function describeAnswer(response: ClairResponse): string {
  const type = response.contentType === "" ? "" : ` (${response.contentType})`;
  return `HTTP ${response.status}${type}`;
}

function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = /\(([^)]*)\)$/.exec(message)?.[1];
  return reason ?? message;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
