import type { ClairConfig } from "../../config/types.ts";
import { ClairError, ImageError } from "../../errors.ts";
import { displayUrl, sleep } from "../../http/common.ts";
import type { ResolvedImage } from "../../image/resolved-image.ts";
import type {
  ClairClient,
  ClairHealth,
  ClairReport,
  DeleteRequest,
  DeleteResult,
  HealthCheck,
  LayerTarget,
  ReportRequest,
  SubmitProgress,
  SubmitRequest,
  SubmitResult,
} from "../client.ts";
import { type ClairEndpoints, probeTimeout, resolveHealthBase } from "../endpoints.ts";
import { LayerFetchError } from "../errors.ts";
import { runCheck } from "../health-check.ts";
import { apiTarget, type ClairHttp, extractClairMessage, type Target } from "../http.ts";
import {
  DEFAULT_RETRY_POLICY,
  type RetryEvent,
  type RetryPolicy,
  requestWithRetry,
  throwIfAborted,
} from "../retry.ts";
import { type IndexStateStore, MemoryIndexStateStore } from "./index-states.ts";
import { mapVulnerabilityReport } from "./report.ts";
import type {
  IndexReportWire,
  IndexStateWire,
  ManifestWire,
  OpenApiWire,
  VulnerabilityReportWire,
} from "./wire.ts";

/** A digest no one indexed: the matcher answers 404 for it, which shows it is up and accepts our token. */
const ABSENT_DIGEST = `sha256:${"0".repeat(64)}`;
const STATE_SHOWN = 12;

/**
 * Clair v4 through its indexer and matcher APIs (NOTES.md §2), combined or split: health, submission of a
 * manifest whose layers Clair downloads itself, the vulnerability report mapped into the domain model,
 * and deletion. The wire shapes stay in `wire.ts`.
 */
export class V4Client implements ClairClient {
  readonly api = "v4";
  readonly url: string;
  readonly #http: ClairHttp;
  readonly #config: ClairConfig;
  readonly #endpoints: ClairEndpoints;
  readonly #retry: RetryPolicy;
  readonly #matcherWait: NonNullable<V4ClientOptions["matcherWait"]>;
  readonly #indexStates: IndexStateStore;
  readonly #indexerTarget: Target;
  readonly #matcherTarget: Target;
  /** What `health` or a first report learnt about Clair's version, for the report's `clair.version`. */
  #version: Promise<string | undefined> | undefined;

  constructor(
    http: ClairHttp,
    config: ClairConfig,
    endpoints: ClairEndpoints,
    options: V4ClientOptions = {},
  ) {
    this.#http = http;
    this.#config = config;
    this.#endpoints = endpoints;
    // Requests go to the endpoints; `url` is for messages and reports, so it carries no user info.
    this.url = displayUrl(endpoints.indexer);
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#matcherWait = options.matcherWait ?? DEFAULT_MATCHER_WAIT;
    this.#indexStates = options.indexStates ?? new MemoryIndexStateStore();
    this.#indexerTarget = endpoints.split ? { name: "Clair's indexer", setting: "clair.indexer" } : apiTarget;
    this.#matcherTarget = endpoints.split ? { name: "Clair's matcher", setting: "clair.matcher" } : apiTarget;
  }

  async health(): Promise<ClairHealth> {
    const timeout = probeTimeout(this.#config);
    const { indexer, matcher, split } = this.#endpoints;
    let state: string | undefined;

    const stateUrl = `${indexer}/indexer/api/v1/index_state`;
    const apiChecks: Promise<HealthCheck>[] = [
      runCheck("indexer", stateUrl, async () => {
        const res = await this.#http.request({
          method: "GET",
          url: stateUrl,
          timeout,
          json: true,
          target: this.#indexerTarget,
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
            target: this.#matcherTarget,
          });
          return "matcher answers";
        }),
      );
    }
    const introspection = this.#introspectionBases().flatMap(({ role, base }) => [
      this.#checkIntrospection("healthz", role, base, timeout),
      this.#checkIntrospection("readyz", role, base, timeout),
    ]);
    const [checks, specVersion] = await Promise.all([
      Promise.all([...apiChecks, ...introspection]),
      this.#readSpecVersion(timeout),
    ]);

    const parts = [
      ...(specVersion === undefined ? [] : [`API ${specVersion}`]),
      ...(state === undefined ? [] : [`index state ${shorten(state)}`]),
    ];
    const version = parts.length === 0 ? undefined : `Clair v4 (${parts.join(", ")})`;
    if (specVersion !== undefined) this.#version = Promise.resolve(`Clair v4 (API ${specVersion})`);
    return {
      api: "v4",
      apiUrl: this.url,
      version,
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

  /**
   * The introspection server (NOTES.md §2.1), not authenticated: `/healthz` answers 200 "ok" or 500,
   * `/readyz` 200 once the service has started, else 503.
   */
  #checkIntrospection(
    path: "healthz" | "readyz",
    role: string,
    base: string,
    timeout: number,
  ): Promise<HealthCheck> {
    const url = `${base}/${path}`;
    const failure =
      path === "healthz"
        ? { 500: { message: "Clair reports itself unhealthy (HTTP 500)", hint: "see Clair's logs" } }
        : {
            503: {
              message: "Clair is not ready (HTTP 503)",
              hint: "it is still starting; try again in a minute",
            },
          };
    return runCheck(`${role}${path}`, url, async () => {
      await this.#http.request({
        method: "GET",
        url,
        timeout,
        auth: false,
        accept: "*/*",
        target: healthTarget,
        errors: failure,
      });
      return path === "healthz" ? "ok" : "ready";
    });
  }

  /** `GET /openapi/v1` carries the API spec version in `info.version`; it is informative, so failures are quiet. */
  async #readSpecVersion(timeout: number): Promise<string | undefined> {
    try {
      const res = await this.#http.request({
        method: "GET",
        url: `${this.#endpoints.indexer}/openapi/v1`,
        timeout,
        json: true,
      });
      const version = (res.json as OpenApiWire).info?.version;
      return typeof version === "string" && version !== "" ? version : undefined;
    } catch {
      return undefined;
    }
  }
  async knows(image: ResolvedImage, signal?: AbortSignal): Promise<boolean> {
    return (await this.#assess(image, signal)).known;
  }

  /**
   * NOTES.md §2.13: skip what Clair indexed under the current index state, else POST the manifest and wait
   * for Clair to fetch and index every layer (the request is synchronous; dropping it cancels Clair's work,
   * so it gets the whole `clair.timeout`).
   */
  async submit(request: SubmitRequest): Promise<SubmitResult> {
    const { image, signal } = request;
    const progress = request.onProgress ?? (() => {});
    const assessed = await this.#assess(image, signal, (event) => progress(waitingEvent(event)));
    if (assessed.known) {
      if (assessed.recorded === undefined) {
        await this.#indexStates.set(this.#endpoints.indexer, image.digest, assessed.state);
      }
      for (const layer of image.layers) progress({ kind: "layer-skipped", layerIndex: layer.index });
      return { submitted: 0, skipped: 1, warnings: [] };
    }

    const targets = new Map<number, LayerTarget>();
    for (const layer of image.layers) {
      throwIfAborted(signal);
      progress({ kind: "layer-submitting", layerIndex: layer.index });
      targets.set(layer.index, await request.layerTarget(layer));
    }
    const manifest: ManifestWire = {
      hash: image.digest,
      layers: image.layers.map((layer) => {
        const target = targets.get(layer.index)!;
        return {
          hash: layer.digest,
          uri: target.url,
          headers: Object.fromEntries(Object.entries(target.headers).map(([name, value]) => [name, [value]])),
        };
      }),
    };
    // Clair had the manifest under a state we recorded and that has changed since: with that state as
    // If-None-Match, Clair re-indexes unless its state went back meanwhile (then 412: still current).
    const ifNoneMatch = assessed.finished ? assessed.recorded : undefined;
    throwIfAborted(signal);
    progress({ kind: "indexing", layers: image.layers.length });
    const response = await requestWithRetry(
      this.#http,
      {
        method: "POST",
        url: `${this.#endpoints.indexer}/indexer/api/v1/index_report`,
        body: manifest,
        headers: ifNoneMatch === undefined ? {} : { "If-None-Match": `"${ifNoneMatch}"` },
        timeout: this.#config.timeout,
        ok: [200, 201, 412],
        json: true,
        target: this.#indexerTarget,
        errors: {
          400: {
            message: `Clair refused to index ${image.reference}`,
            hint: "Clair could not read the manifest or a layer (is every layer a tar archive?); see Clair's message",
          },
        },
      },
      {
        policy: this.#retry,
        signal,
        onRetry: (event) => progress(waitingEvent(event)),
        fail: (response) =>
          response.status >= 500
            ? this.#fetchFailure(extractClairMessage(response), response.status, image, targets)
            : undefined,
      },
    );
    if (response.status === 412) {
      await this.#indexStates.set(this.#endpoints.indexer, image.digest, ifNoneMatch ?? assessed.state);
      for (const layer of image.layers) progress({ kind: "layer-skipped", layerIndex: layer.index });
      return { submitted: 0, skipped: 1, warnings: [] };
    }
    const report = (response.json ?? {}) as IndexReportWire;
    if (report.success === false || report.state === "IndexError") {
      const err =
        typeof report.err === "string" && report.err !== "" ? report.err : `state ${String(report.state)}`;
      throw (
        this.#fetchFailure(err, response.status, image, targets) ??
        new ClairError(`Clair could not index ${image.reference}: ${err}`, {
          status: response.status,
          debug: response.debug,
          hint: "see Clair's logs for the cause",
        })
      );
    }
    const state = unquoteEtag(response.headers["etag"]) ?? assessed.state;
    await this.#indexStates.set(this.#endpoints.indexer, image.digest, state);
    for (const layer of image.layers) progress({ kind: "layer-done", layerIndex: layer.index });
    return { submitted: 1, skipped: 0, warnings: [] };
  }

  /**
   * `GET vulnerability_report` (§2.6): 202 means the matcher's first updater run has not finished, so
   * wait a bounded time, then answer with a `matcher-not-ready` warning instead of failing.
   */
  async report(request: ReportRequest): Promise<ClairReport> {
    const { image, signal } = request;
    const progress = request.onProgress ?? (() => {});
    checkImage(image);
    const url = `${this.#endpoints.matcher}/matcher/api/v1/vulnerability_report/${image.digest}`;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const response = await requestWithRetry(
        this.#http,
        { method: "GET", url, ok: [200, 202, 404], json: true, target: this.#matcherTarget },
        { policy: this.#retry, signal, onRetry: (event) => progress(waitingEvent(event)) },
      );
      if (response.status === 404) {
        throw new ClairError(`Clair has no index report for ${image.digest}; push it first`, {
          status: 404,
          debug: response.debug,
          hint: `hyperclair push ${image.reference}`,
        });
      }
      if (response.status === 200) {
        const mapped = mapVulnerabilityReport((response.json ?? {}) as VulnerabilityReportWire, image);
        return { clair: await this.#describe(), ...mapped };
      }
      const wait = this.#matcherWait;
      const delay = Math.min(wait.initialDelayMs * 2 ** (attempt - 1), wait.maxDelayMs);
      const waited = Date.now() - started;
      if (waited + delay > wait.maxWaitMs) {
        return {
          clair: await this.#describe(),
          packages: [],
          findings: [],
          warnings: [
            {
              code: "matcher-not-ready",
              message: `Clair's matcher was still not ready after ${formatSeconds(waited)} (its vulnerability database is still loading); the report is empty, run it again later`,
            },
          ],
        };
      }
      progress({
        kind: "waiting",
        reason: "Clair's matcher is not ready yet (its vulnerability database is still loading)",
        attempt,
      });
      await sleep(delay, signal);
    }
  }

  /**
   * The bulk form (`DELETE /indexer/api/v1/index_report` with a JSON array) answers with the digests
   * Clair actually deleted, where the single form answers 204 whether or not there was anything (§2.4).
   */
  async delete(request: DeleteRequest): Promise<DeleteResult> {
    const { image, signal } = request;
    checkImage(image);
    const response = await requestWithRetry(
      this.#http,
      {
        method: "DELETE",
        url: `${this.#endpoints.indexer}/indexer/api/v1/index_report`,
        body: [image.digest],
        ok: [200],
        json: true,
        target: this.#indexerTarget,
      },
      { policy: this.#retry, signal },
    );
    await this.#indexStates.delete(this.#endpoints.indexer, image.digest);
    const deleted = Array.isArray(response.json)
      ? (response.json as unknown[]).filter((d) => d === image.digest)
      : [];
    return deleted.length > 0
      ? { deleted: [image.digest], missing: [] }
      : { deleted: [], missing: [image.digest] };
  }

  /** Whether Clair has the image as IndexFinished under the index state it was indexed under (§2.4, §2.13). */
  async #assess(
    image: ResolvedImage,
    signal: AbortSignal | undefined,
    onRetry?: (event: RetryEvent) => void,
  ): Promise<Assessment> {
    checkImage(image);
    const options = { policy: this.#retry, signal, onRetry };
    const stateResponse = await requestWithRetry(
      this.#http,
      {
        method: "GET",
        url: `${this.#endpoints.indexer}/indexer/api/v1/index_state`,
        json: true,
        target: this.#indexerTarget,
      },
      options,
    );
    const body = (stateResponse.json ?? {}) as Partial<IndexStateWire>;
    const state =
      (typeof body.state === "string" && body.state !== "" ? body.state : undefined) ??
      unquoteEtag(stateResponse.headers["etag"]) ??
      "";
    const reportResponse = await requestWithRetry(
      this.#http,
      {
        method: "GET",
        url: `${this.#endpoints.indexer}/indexer/api/v1/index_report/${image.digest}`,
        ok: [200, 404],
        json: true,
        target: this.#indexerTarget,
      },
      options,
    );
    const finished =
      reportResponse.status === 200 &&
      ((reportResponse.json ?? {}) as IndexReportWire).state === "IndexFinished";
    const recorded = await this.#indexStates.get(this.#endpoints.indexer, image.digest);
    // Without a record (first push from this machine) Clair's finished report is trusted as current.
    return { state, finished, recorded, known: finished && (recorded === undefined || recorded === state) };
  }

  /** Turns Clair's message into a LayerFetchError when it says a layer download failed (§3.2). */
  #fetchFailure(
    message: string | undefined,
    status: number,
    image: ResolvedImage,
    targets: ReadonlyMap<number, LayerTarget>,
  ): LayerFetchError | undefined {
    if (message === undefined || !FETCH_FAILURE.test(message)) return undefined;
    const layerIndex = locateLayer(message, image, targets);
    const layerUrl = layerIndex === undefined ? undefined : targets.get(layerIndex)?.url;
    const reason = conciseFetchReason(message);
    const which = layerIndex === undefined ? "a layer" : `layer ${layerIndex}`;
    const from = layerUrl === undefined ? "" : ` from ${displayUrl(layerUrl)}`;
    return new LayerFetchError(`Clair could not fetch ${which} of ${image.reference}${from}: ${reason}`, {
      status,
      layerIndex,
      layerUrl,
      clairMessage: message,
      hint: fetchHint(reason),
    });
  }

  async #describe(): Promise<ClairReport["clair"]> {
    this.#version ??= (async () => {
      const spec = await this.#readSpecVersion(probeTimeout(this.#config));
      return spec === undefined ? undefined : `Clair v4 (API ${spec})`;
    })();
    const version = await this.#version;
    return { url: this.url, api: "v4", ...(version === undefined ? {} : { version }) };
  }
}

interface Assessment {
  /** Clair's current index state. */
  state: string;
  /** Clair has an IndexFinished report for the manifest. */
  finished: boolean;
  /** The state we recorded when it was indexed from here, if we did. */
  recorded: string | undefined;
  known: boolean;
}

/** Tunables with product defaults; tests shorten them. */
export interface V4ClientOptions {
  retry?: RetryPolicy | undefined;
  /** How long `report` waits while the matcher answers 202, and its backoff. */
  matcherWait?: { maxWaitMs: number; initialDelayMs: number; maxDelayMs: number } | undefined;
  /** Default: kept in memory for the process; a FileIndexStateStore keeps it across runs. */
  indexStates?: IndexStateStore | undefined;
}

export const DEFAULT_MATCHER_WAIT = { maxWaitMs: 120_000, initialDelayMs: 1_000, maxDelayMs: 10_000 };

/** Words Clair's fetcher uses when a layer download fails (claircore libindex fetcher, NOTES.md §3.2). */
const FETCH_FAILURE = /fetcher:|unexpected status code|validation failed|could not find layer/i;
const DIGEST_IN_TEXT = /sha(?:256:[a-f0-9]{64}|512:[a-f0-9]{128})/g;
const URL_IN_TEXT = /https?:\/\/[^\s"'<>]+/g;
const DIGEST_PATTERN = /^sha(?:256:[a-f0-9]{64}|512:[a-f0-9]{128})$/;

/** The layer a fetch error names: by the digest we declared for it, else by the URL we gave for it. */
function locateLayer(
  message: string,
  image: ResolvedImage,
  targets: ReadonlyMap<number, LayerTarget>,
): number | undefined {
  for (const digest of message.match(DIGEST_IN_TEXT) ?? []) {
    const layer = image.layers.find((l) => l.digest === digest);
    if (layer !== undefined) return layer.index;
  }
  for (const url of message.match(URL_IN_TEXT) ?? []) {
    for (const [index, target] of targets) {
      if (url === target.url || url.replace(/[.,;:)]+$/, "") === target.url) return index;
    }
  }
  return undefined;
}

/** The first failure without Clair's wrappers ("failed to start scan: fetcher: encountered errors: …"). */
function conciseFetchReason(message: string): string {
  const inner = message
    .replace(/^failed to start scan:\s*/i, "")
    .replace(/^fetcher: encountered errors:\s*/i, "");
  const first = inner.split(/;\s+(?=fetcher:)/)[0] ?? inner;
  return first.replace(/^fetcher: layer "sha[^"]+":\s*/i, "").trim();
}

function fetchHint(reason: string): string {
  if (/validation failed/i.test(reason)) {
    return "the bytes served for the layer do not hash to its digest: Clair checks every layer's sha256";
  }
  if (/status code:?\s*(401|403)/i.test(reason)) {
    return "the registry refused Clair's request: check the credentials hyperclair uses for that registry";
  }
  if (/status code:?\s*404/i.test(reason)) {
    return "Clair reached the URL but there was no such blob there: check the registry's repository, or that the layer server was still serving it";
  }
  if (/content-type|compression/i.test(reason)) {
    return "the layer was served with a Content-Type Clair does not accept; serve it as application/octet-stream";
  }
  return "Clair must reach that URL itself: check that the address is reachable from Clair's host (for layers hyperclair serves, set serve.advertise to an address Clair can reach)";
}

function waitingEvent(event: RetryEvent): SubmitProgress {
  return {
    kind: "waiting",
    reason: `Clair answered ${event.reason}; retrying in ${formatSeconds(event.delayMs)}`,
    attempt: event.attempt,
  };
}

function checkImage(image: ResolvedImage): void {
  // Clair rejects anything but a sha256/sha512 digest as the manifest hash (§2.4).
  if (!DIGEST_PATTERN.test(image.digest)) {
    throw new ImageError(`${image.reference} has no usable digest (${image.digest || "none"}) for Clair`, {
      hint: "Clair v4 identifies an image by its sha256 manifest digest",
    });
  }
  if (image.layers.length === 0) {
    throw new ImageError(`${image.reference} has no layers: Clair v4 cannot index an empty image`);
  }
}

/** `"abc"` or `W/"abc"` → `abc`. */
function unquoteEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  const value = etag
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
  return value === "" ? undefined : value;
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

const healthTarget: Target = {
  name: "Clair's introspection server",
  setting: "clair.health.url or clair.health.port",
};

function shorten(state: string): string {
  return state.length > STATE_SHOWN ? state.slice(0, STATE_SHOWN) : state;
}
