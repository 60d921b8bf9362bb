import type { ClairConfig } from "../../config/types.ts";
import type {
  ClairClient,
  ClairHealth,
  ClairReport,
  DeleteResult,
  HealthCheck,
  SubmitResult,
} from "../client.ts";
import { type ClairEndpoints, probeTimeout, resolveHealthBase } from "../endpoints.ts";
import { runCheck } from "../health-check.ts";
import type { ClairHttp, Target } from "../http.ts";
import type { IndexStateWire, OpenApiWire } from "./wire.ts";

/** A digest no one indexed: the matcher answers 404 for it, which shows it is up and accepts our token. */
const ABSENT_DIGEST = `sha256:${"0".repeat(64)}`;
const STATE_SHOWN = 12;

/**
 * Clair v4 through its indexer and matcher APIs (NOTES.md §2), combined or split. Push, report and delete
 * land here later; the wire shapes stay in `wire.ts`.
 */
export class V4Client implements ClairClient {
  readonly api = "v4";
  readonly url: string;
  readonly #http: ClairHttp;
  readonly #config: ClairConfig;
  readonly #endpoints: ClairEndpoints;

  constructor(http: ClairHttp, config: ClairConfig, endpoints: ClairEndpoints) {
    this.#http = http;
    this.#config = config;
    this.#endpoints = endpoints;
    this.url = endpoints.indexer;
  }

  async health(): Promise<ClairHealth> {
    const timeout = probeTimeout(this.#config);
    const { indexer, matcher, split } = this.#endpoints;
    const indexerTarget: Target = split ? { name: "Clair's indexer", setting: "clair.indexer" } : apiTargetV4;
    const matcherTarget: Target = { name: "Clair's matcher", setting: "clair.matcher" };
    let state: string | undefined;

    const stateUrl = `${indexer}/indexer/api/v1/index_state`;
    const apiChecks: Promise<HealthCheck>[] = [
      runCheck("indexer", stateUrl, async () => {
        const res = await this.#http.request({
          method: "GET",
          url: stateUrl,
          timeout,
          json: true,
          target: indexerTarget,
        });
        const value = (res.json as Partial<IndexStateWire>).state;
        state = typeof value === "string" ? value : undefined;
        return state === undefined ? "indexer answers" : `indexer answers (index state ${shorten(state)})`;
      }),
    ];
    if (split) {
      const reportUrl = `${matcher}/matcher/api/v1/vulnerability_report/${ABSENT_DIGEST}`;
      apiChecks.push(
        runCheck("matcher", reportUrl, async () => {
          await this.#http.request({
            method: "GET",
            url: reportUrl,
            timeout,
            ok: [200, 404],
            target: matcherTarget,
          });
          return "matcher answers";
        }),
      );
    }
    const introspection = this.#introspectionBases().flatMap(({ role, base }) => [
      this.#checkHealthz(role, base, timeout),
      this.#checkReadyz(role, base, timeout),
    ]);
    const [checks, specVersion] = await Promise.all([
      Promise.all([...apiChecks, ...introspection]),
      this.#readSpecVersion(timeout),
    ]);

    const parts = [
      ...(specVersion === undefined ? [] : [`API ${specVersion}`]),
      ...(state === undefined ? [] : [`index state ${shorten(state)}`]),
    ];
    return {
      api: "v4",
      apiUrl: this.url,
      version: parts.length === 0 ? undefined : `Clair v4 (${parts.join(", ")})`,
      checks,
      healthy: checks.every((c) => c.ok),
    };
  }

  /** Each host's introspection server (`introspection_addr`, :8089), once per distinct base. */
  #introspectionBases(): { role: string; base: string }[] {
    const { indexer, matcher, split } = this.#endpoints;
    const indexerBase = resolveHealthBase(this.#config, "v4", indexer);
    if (!split) return [{ role: "", base: indexerBase }];
    const matcherBase = resolveHealthBase(this.#config, "v4", matcher);
    if (matcherBase === indexerBase) return [{ role: "", base: indexerBase }];
    return [
      { role: "indexer ", base: indexerBase },
      { role: "matcher ", base: matcherBase },
    ];
  }

  // `/healthz` answers 200 "ok" or 500 (NOTES.md §2.1); it is not authenticated.
  #checkHealthz(role: string, base: string, timeout: number): Promise<HealthCheck> {
    const url = `${base}/healthz`;
    return runCheck(`${role}healthz`, url, async () => {
      await this.#http.request({
        method: "GET",
        url,
        timeout,
        auth: false,
        accept: "*/*",
        target: healthTarget,
        errors: { 500: { message: "Clair reports itself unhealthy (HTTP 500)", hint: "see Clair's logs" } },
      });
      return "ok";
    });
  }

  // `/readyz` answers 200 once the service has started, else 503 (NOTES.md §2.1).
  #checkReadyz(role: string, base: string, timeout: number): Promise<HealthCheck> {
    const url = `${base}/readyz`;
    return runCheck(`${role}readyz`, url, async () => {
      await this.#http.request({
        method: "GET",
        url,
        timeout,
        auth: false,
        accept: "*/*",
        target: healthTarget,
        errors: {
          503: {
            message: "Clair is not ready (HTTP 503)",
            hint: "it is still starting; try again in a minute",
          },
        },
      });
      return "ready";
    });
  }

  /** `GET /openapi/v1` carries the API spec version in `info.version`; it is informative, so failures are quiet. */
  async #readSpecVersion(timeout: number): Promise<string | undefined> {
    try {
      const res = await this.#http.request({
        method: "GET",
        url: `${this.url}/openapi/v1`,
        timeout,
        json: true,
      });
      const version = (res.json as OpenApiWire).info?.version;
      return typeof version === "string" && version !== "" ? version : undefined;
    } catch {
      return undefined;
    }
  }
  // Placeholders while the submission code is written; replaced before anything calls them.
  knows(): Promise<boolean> {
    throw new Error("not implemented yet");
  }
  submit(): Promise<SubmitResult> {
    throw new Error("not implemented yet");
  }
  report(): Promise<ClairReport> {
    throw new Error("not implemented yet");
  }
  delete(): Promise<DeleteResult> {
    throw new Error("not implemented yet");
  }
}

const apiTargetV4: Target = { name: "Clair", setting: "clair.url (--clair-url)" };
const healthTarget: Target = {
  name: "Clair's introspection server",
  setting: "clair.health.url or clair.health.port",
};

function shorten(state: string): string {
  return state.length > STATE_SHOWN ? state.slice(0, STATE_SHOWN) : state;
}
