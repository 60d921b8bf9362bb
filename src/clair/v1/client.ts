import type { ClairConfig } from "../../config/types.ts";
import { ClairError, UsageError } from "../../errors.ts";
import { displayUrl } from "../../http/common.ts";
import type { ResolvedImage, ResolvedLayer } from "../../image/resolved-image.ts";
import type {
  ClairClient,
  ClairHealth,
  ClairReport,
  ClairWarning,
  DeleteRequest,
  DeleteResult,
  ReportRequest,
  SubmitProgress,
  SubmitRequest,
  SubmitResult,
} from "../client.ts";
import { probeTimeout, resolveHealthBase } from "../endpoints.ts";
import { LayerFetchError } from "../errors.ts";
import { runCheck } from "../health-check.ts";
import {
  type ClairHttp,
  type ClairRequest,
  type ClairResponse,
  extractClairMessage,
  type Target,
} from "../http.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, requestWithRetry, throwIfAborted } from "../retry.ts";
import { mapLayerReport } from "./map-report.ts";
import type { LayerEnvelope, LayerWire, NamespacesEnvelope } from "./wire.ts";

const healthTarget: Target = {
  name: "Clair's health server",
  setting: "clair.health.url or clair.health.port",
};

/** How many layer lookups run at once when a report checks which layers Clair has. */
const LOOKUP_CONCURRENCY = 8;

export interface V1ClientOptions {
  /** Retries on 5xx and 429 (default: the shared policy). */
  retry?: RetryPolicy | undefined;
}

/**
 * Clair 1.x/2.x through its v1 API (NOTES.md §1): layers POSTed one by one bottom-up, named by chain ID
 * (DESIGN.md), findings read from the top layer. The wire shapes stay in `wire.ts`.
 */
export class V1Client implements ClairClient {
  readonly api = "v1";
  /** For messages and reports: the API base without user info. */
  readonly url: string;
  /** Where requests go (it may carry user info for a proxy's basic auth). */
  readonly #base: string;
  readonly #http: ClairHttp;
  readonly #config: ClairConfig;
  readonly #retry: RetryPolicy;

  constructor(http: ClairHttp, config: ClairConfig, url: string, options: V1ClientOptions = {}) {
    this.#http = http;
    this.#config = config;
    this.#base = url;
    this.url = displayUrl(url);
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
  }

  async health(): Promise<ClairHealth> {
    const timeout = probeTimeout(this.#config);
    const namespacesUrl = `${this.#base}/v1/namespaces`;
    const healthUrl = `${resolveHealthBase(this.#config, "v1", this.#base)}/health`;
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

  async knows(image: ResolvedImage, signal?: AbortSignal): Promise<boolean> {
    const top = image.layers.at(-1);
    if (top === undefined) return false;
    return (await this.#findLayer(top.chainId, "", { signal })) !== undefined;
  }

  /**
   * Clair 2.x indexes one layer per `POST /v1/layers`, each naming its parent (NOTES.md §1.4), so layers go
   * bottom-up. A layer Clair already has (`GET` → 200) is skipped: a re-POST would answer 201 without
   * fetching anything anyway (v1/recorded/README.md), but would cost a registry token or a served blob.
   */
  async submit(request: SubmitRequest): Promise<SubmitResult> {
    const { image, signal } = request;
    const progress = request.onProgress ?? (() => {});
    const call = { signal, progress };
    const layers = image.layers;
    const top = layers.at(-1);
    if (top === undefined) return { submitted: 0, skipped: 0, warnings: [] };
    // One request answers the common case of a second push: Clair has the top layer, hence its chain.
    if ((await this.#findLayer(top.chainId, "", call)) !== undefined) {
      for (const layer of layers) progress({ kind: "layer-skipped", layerIndex: layer.index });
      return { submitted: 0, skipped: layers.length, warnings: [] };
    }
    const warnings: ClairWarning[] = [];
    let submitted = 0;
    let skipped = 0;
    let parent: string | undefined;
    for (const layer of layers) {
      throwIfAborted(signal);
      // The top layer was looked up just above.
      if (layer !== top && (await this.#findLayer(layer.chainId, "", call)) !== undefined) {
        skipped++;
        parent = layer.chainId;
        progress({ kind: "layer-skipped", layerIndex: layer.index });
        continue;
      }
      progress({ kind: "layer-submitting", layerIndex: layer.index });
      const refused = await this.#postLayer(request, layer, parent);
      progress({ kind: "layer-done", layerIndex: layer.index });
      if (refused === undefined) {
        submitted++;
        parent = layer.chainId;
        continue;
      }
      // 422: Clair will not index this layer and keeps no layer of that name. clairctl and clair-scanner go
      // on with the next layer; clairctl then posts it with no parent, which drops every lower layer's
      // packages from the top layer's report. Here the next layer names the last layer Clair did index
      // instead, so the report keeps them. Its name stays its chain ID: Clair's answer for a given chain is
      // the same every time (the refused layer is refused for every image that has it).
      warnings.push(refused);
    }
    return { submitted, skipped, warnings };
  }

  /**
   * `GET /v1/layers/<top>?features&vulnerabilities` holds the features of the whole stack, each with the
   * layer that added it (NOTES.md §1.4). When Clair refused some layers (422 during the push), the report
   * comes from the highest layer it did index, and each layer it lacks becomes a warning, so a report
   * read later says what the push said.
   */
  async report(request: ReportRequest): Promise<ClairReport> {
    const { image, signal } = request;
    const call = { signal, progress: request.onProgress };
    const present = await this.#presentLayers(image, call);
    const highest = [...image.layers].reverse().find((layer) => present[layer.index] === true);
    if (highest === undefined) {
      throw new ClairError(`Clair has no layer of ${image.reference}`, {
        hint: "push the image first (hyperclair push)",
      });
    }
    const answer = await this.#findLayer(highest.chainId, "?features&vulnerabilities", call);
    if (answer === undefined) {
      throw new ClairError(`Clair lost layer ${highest.index} of ${image.reference} while it was read`, {
        hint: "was it deleted at the same time? push the image again",
      });
    }
    const mapped = mapLayerReport(answer, image);
    const missing = image.layers
      .filter((layer) => present[layer.index] !== true)
      .map(
        (layer): ClairWarning => ({
          code: "no-supported-os",
          message: `Clair has not indexed layer ${layer.index} (it refused it: no supported OS or package manager, or an archive it cannot read), so packages that layer adds are not in the report`,
          layerIndex: layer.index,
        }),
      );
    return {
      clair: { url: this.url, api: "v1", version: describeEngine(answer.IndexedByVersion) },
      packages: mapped.packages,
      findings: mapped.findings,
      warnings: [...missing, ...mapped.warnings],
    };
  }

  /**
   * `DELETE /v1/layers/<name>` removes the layer and every layer above it in any image (NOTES.md §1.4), so
   * the caller chooses the layers (see `layer-sharing.ts`); the default is the top layer only. Top-down, so
   * that a layer already removed with a lower one is not mistaken for one that never existed.
   */
  async delete(request: DeleteRequest): Promise<DeleteResult> {
    const { image, signal } = request;
    const top = image.layers.at(-1);
    const requested = request.layerIndexes ?? (top === undefined ? [] : [top.index]);
    const names = [...new Set(requested)]
      .sort((a, b) => b - a)
      .map((index) => {
        const layer = image.layers[index];
        if (layer === undefined) {
          throw new UsageError(`${image.reference} has no layer ${index} (it has ${image.layers.length})`);
        }
        return layer.chainId;
      });
    const deleted: string[] = [];
    const missing: string[] = [];
    for (const name of names) {
      throwIfAborted(signal);
      // DELETE answers 200 with no body (NOTES.md §1.2), or the JSON 404 envelope.
      const res = await this.#request(
        { method: "DELETE", url: this.#layerUrl(name), ok: [200, 404], accept: "*/*" },
        { signal },
      );
      if (res.status === 200) deleted.push(name);
      else if (isV1NotFound(res)) missing.push(name);
      else throw notClairAnswer(res);
    }
    return { deleted, missing };
  }

  /** POSTs one layer; returns the warning when Clair refuses it with 422, throws for any other failure. */
  async #postLayer(
    request: SubmitRequest,
    layer: ResolvedLayer,
    parent: string | undefined,
  ): Promise<ClairWarning | undefined> {
    // Asked right before the POST: registry tokens are short-lived and scoped to the repository.
    const target = await request.layerTarget(layer);
    const posted: LayerWire = { Name: layer.chainId, Path: target.url };
    if (Object.keys(target.headers).length > 0) posted.Headers = target.headers;
    if (parent !== undefined) posted.ParentName = parent;
    posted.Format = "Docker";
    const body: LayerEnvelope = { Layer: posted };
    // A POST is synchronous (Clair downloads and analyses before it answers), so it gets the full timeout;
    // a retry after a 5xx is safe: a layer Clair finished is answered 201 without another download.
    const res = await this.#request(
      { method: "POST", url: `${this.#base}/v1/layers`, body, ok: [201, 400, 422] },
      { signal: request.signal, progress: request.onProgress },
    );
    if (res.status === 201) {
      requireJson(res);
      return undefined;
    }
    const message = extractClairMessage(res);
    if (message === undefined || res.json === undefined) throw notClairAnswer(res);
    if (res.status === 422) {
      return {
        code: "no-supported-os",
        message: `Clair did not index layer ${layer.index}: ${describeRefusal(message)}`,
        layerIndex: layer.index,
      };
    }
    // Clair 2.x answers every download failure alike (refused connection, 404, missing or refused token;
    // v1/recorded/README.md), so the caller, who knows who serves the URL, finds out which hop failed.
    if (message === "could not find layer") {
      throw new LayerFetchError(
        `Clair could not download layer ${layer.index} from ${displayUrl(target.url)}`,
        {
          status: 400,
          layerIndex: layer.index,
          layerUrl: target.url,
          clairMessage: message,
          debug: res.debug,
          hint: "check that Clair can reach that address and that the registry accepts the credentials sent with it",
        },
      );
    }
    if (message.startsWith("worker: parent layer is unknown")) {
      throw new ClairError(`Clair refused layer ${layer.index}: its parent layer is not in Clair`, {
        status: 400,
        debug: res.debug,
        hint: "was the image deleted from Clair while this push ran? push it again",
      });
    }
    throw new ClairError(`Clair refused layer ${layer.index}: ${message}`, { status: 400, debug: res.debug });
  }

  /** Which of the image's layers Clair has, by layer index. */
  async #presentLayers(image: ResolvedImage, call: CallOptions): Promise<boolean[]> {
    const present: boolean[] = image.layers.map(() => false);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < image.layers.length; i = next++) {
        const layer = image.layers[i]!;
        present[i] = (await this.#findLayer(layer.chainId, "", call)) !== undefined;
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, image.layers.length) }, worker));
    return present;
  }

  /** `GET /v1/layers/<name>`: the layer, or undefined when Clair answers its own 404 envelope. */
  async #findLayer(name: string, query: string, call: CallOptions): Promise<LayerWire | undefined> {
    const res = await this.#request(
      { method: "GET", url: `${this.#layerUrl(name)}${query}`, ok: [200, 404] },
      call,
    );
    if (res.status === 404) {
      if (isV1NotFound(res)) return undefined;
      throw notClairAnswer(res);
    }
    const layer = (requireJson(res) as LayerEnvelope).Layer;
    if (typeof layer !== "object" || layer === null) throw notClairAnswer(res);
    return layer;
  }

  // Layer names are chain IDs ("sha256:…"); Clair's router matches on the decoded path, so ":" may be escaped.
  #layerUrl(name: string): string {
    return `${this.#base}/v1/layers/${encodeURIComponent(name)}`;
  }

  /**
   * One request, retried on 429 and 5xx with the shared backoff (NOTES.md §1.2: 500 and 503 are worth
   * retrying unchanged). JSON is checked here rather than by the HTTP layer: a Clair 2.x answer that is not
   * JSON means something else answered, which no retry fixes.
   */
  #request(request: ClairRequest, call: CallOptions): Promise<ClairResponse> {
    return requestWithRetry(this.#http, request, {
      policy: this.#retry,
      signal: call.signal,
      onRetry: (event) =>
        call.progress?.({
          kind: "waiting",
          reason: `Clair answered ${event.reason}; retrying`,
          attempt: event.attempt,
        }),
    });
  }
}

interface CallOptions {
  signal?: AbortSignal | undefined;
  progress?: ((event: SubmitProgress) => void) | undefined;
}

/** Clair's own 404 (`{"Error":{"Message":"the resource cannot be found"}}`), not a proxy's or Go's plain one. */
function isV1NotFound(res: ClairResponse): boolean {
  return res.status === 404 && res.json !== undefined && extractClairMessage(res) !== undefined;
}

function requireJson(res: ClairResponse): unknown {
  if (res.json === undefined) throw notClairAnswer(res);
  return res.json;
}

/** An answer Clair 2.x would not give: a plain-text 404, HTML from a proxy, a 200 that is not JSON. */
function notClairAnswer(res: ClairResponse): ClairError {
  const what = res.contentType === "" ? "no content type" : res.contentType;
  return new ClairError(
    `${displayUrl(res.url)} answered HTTP ${res.status} (${what}) where Clair's v1 API answers JSON`,
    {
      status: res.status,
      debug: res.debug,
      hint: "is clair.url (--clair-url) pointing at a Clair 2.x v1 API?",
    },
  );
}

/** Clair 2.x's 422 messages (NOTES.md §1.2) in words a user can act on. */
function describeRefusal(message: string): string {
  if (message.includes("OS and/or package manager are not supported")) {
    return `no supported OS or package manager found (${message})`;
  }
  if (message.includes("could not extract the archive")) {
    return `the layer is not a tar archive Clair can read, or holds a file over 200 MiB (${message})`;
  }
  return message;
}

/** `IndexedByVersion` is the worker engine version: 1 or 2 in Clair 1.x, 3 in Clair 2.x. */
function describeEngine(version: number | undefined): string {
  if (version === 3) return "Clair 2.x (v1 API, engine 3)";
  if (version === 1 || version === 2) return `Clair 1.x (v1 API, engine ${version})`;
  return version === undefined ? "Clair 1.x/2.x (v1 API)" : `Clair (v1 API, engine ${version})`;
}
