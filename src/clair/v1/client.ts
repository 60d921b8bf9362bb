import type { ClairConfig } from "../../config/types.ts";
import type { ClairClient, ClairHealth, ClairReport, DeleteResult, SubmitResult } from "../client.ts";
import { probeTimeout, resolveHealthBase } from "../endpoints.ts";
import { runCheck } from "../health-check.ts";
import type { ClairHttp, Target } from "../http.ts";
import type { NamespacesEnvelope } from "./wire.ts";

const healthTarget: Target = {
  name: "Clair's health server",
  setting: "clair.health.url or clair.health.port",
};

/**
 * Clair 1.x/2.x through its v1 API (NOTES.md §1). Push and report land here later; the wire shapes stay in
 * `wire.ts`.
 */
export class V1Client implements ClairClient {
  readonly api = "v1";
  readonly url: string;
  readonly #http: ClairHttp;
  readonly #config: ClairConfig;

  constructor(http: ClairHttp, config: ClairConfig, url: string) {
    this.#http = http;
    this.#config = config;
    this.url = url;
  }

  async health(): Promise<ClairHealth> {
    const timeout = probeTimeout(this.#config);
    const namespacesUrl = `${this.url}/v1/namespaces`;
    const healthUrl = `${resolveHealthBase(this.#config, "v1", this.url)}/health`;
    const checks = await Promise.all([
      runCheck("api", namespacesUrl, async () => {
        const res = await this.#http.request({ method: "GET", url: namespacesUrl, timeout, json: true });
        const count = (res.json as NamespacesEnvelope).Namespaces?.length ?? 0;
        return `v1 API answers (${count} namespace${count === 1 ? "" : "s"})`;
      }),
      // `GET :6061/health` is 200 when Clair's database answers, 500 when not; empty body (NOTES.md §1.1).
      runCheck("health", healthUrl, async () => {
        await this.#http.request({
          method: "GET",
          url: healthUrl,
          timeout,
          auth: false,
          accept: "*/*",
          target: healthTarget,
          errors: {
            500: {
              message: "Clair reports itself unhealthy (HTTP 500)",
              hint: "its database is not answering; see Clair's logs",
            },
          },
        });
        return "healthy";
      }),
    ]);
    return {
      api: "v1",
      apiUrl: this.url,
      // Clair 1.x/2.x expose no version on the API (IndexedByVersion needs an indexed layer), so the flavour is it.
      version: "Clair 1.x/2.x (v1 API)",
      checks,
      healthy: checks.every((c) => c.ok),
    };
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
