/**
 * A distribution-API client (https://distribution.github.io/distribution/spec/api/) with the
 * registry auth flows: the `/v2/` probe, Basic, and Bearer tokens from the token server
 * (https://distribution.github.io/distribution/spec/auth/token/), anonymous or with credentials,
 * cached per scope until they expire, fetched again once when the registry rejects a cached one.
 */
import type { Config } from "../../config/types.ts";
import { ImageError, InterruptedError, RegistryError } from "../../errors.ts";
import { displayUrl } from "../../http/common.ts";
import { sha256Digest } from "../manifest.ts";
import type { LayerLocation } from "../resolved-image.ts";
import { type Challenge, parseChallenges, pickChallenge } from "./challenge.ts";
import {
  type FoundCredentials,
  findCredentials,
  type RegistryCredentials,
  registryKey,
} from "./credentials.ts";
import { RegistryTransport, schemeFor, type TransportResponse } from "./transport.ts";

export interface RegistryClientOptions {
  config: Config;
  /** `--username` + `--password-stdin`: win over every stored credential. */
  credentials?: RegistryCredentials | undefined;
  debug?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Defaults to `process.env` (proxies, credential file locations). */
  env?: Record<string, string | undefined> | undefined;
  /** Retry tuning, for tests: attempts and first backoff delay. */
  retry?: { maxAttempts?: number; backoffMs?: number; maxDelayMs?: number } | undefined;
}

interface HostState {
  scheme: "http" | "https";
  /** undefined: the registry asks for no auth. */
  challenge: Challenge | undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface FetchedManifest {
  /** sha256 of exactly these bytes. */
  digest: string;
  /** Content-Type of the answer (parameters stripped). */
  mediaType: string | undefined;
  body: Buffer;
}

export interface RegistryRequestOptions {
  /** Registry host as the API is spoken to, e.g. `127.0.0.1:5000`, `registry-1.docker.io`. */
  host: string;
  /** Repository the request is about, for the token scope (`repository:NAME:pull`). */
  repository: string | undefined;
  method: "GET" | "HEAD";
  path: string;
  accept?: string;
  maxBytes?: number;
}

/** The registry API error codes (spec "Errors") in an answer body, e.g. `MANIFEST_UNKNOWN: manifest unknown`. */
export function describeRegistryErrors(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    if (!Array.isArray(parsed.errors) || parsed.errors.length === 0) return undefined;
    return parsed.errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
  } catch {
    return undefined;
  }
}

/** The token scope for pulling from `repository` (token spec "Resource Scope"). */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export class RegistryClient {
  readonly transport: RegistryTransport;
  readonly #options: RegistryClientOptions;
  readonly #hosts = new Map<string, Promise<HostState>>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #credentials = new Map<string, Promise<FoundCredentials | undefined>>();

  constructor(options: RegistryClientOptions) {
    this.#options = options;
    this.transport = new RegistryTransport({
      config: options.config.registry,
      env: options.env,
      debug: options.debug,
      signal: options.signal,
      maxAttempts: options.retry?.maxAttempts,
      backoffMs: options.retry?.backoffMs,
      maxDelayMs: options.retry?.maxDelayMs,
    });
    this.transport.addSecret(options.credentials?.password);
  }

  /** `http` or `https` for a registry host, from `registry.insecure` and loopback. */
  schemeOf(host: string): "http" | "https" {
    return schemeFor(host, this.#options.config.registry.insecure);
  }

  baseUrl(host: string): string {
    return `${this.schemeOf(host)}://${host}`;
  }

  blobUrl(host: string, repository: string, digest: string): string {
    return `${this.baseUrl(host)}/v2/${repository}/blobs/${digest}`;
  }

  /** The credentials used for `host`: the explicit ones, else the first stored source that has some. */
  credentialsFor(host: string, repository?: string): Promise<FoundCredentials | undefined> {
    const explicit = this.#options.credentials;
    if (explicit !== undefined) {
      return Promise.resolve({
        username: explicit.username,
        password: explicit.password,
        identityToken: undefined,
        source: "--username/--password-stdin",
      });
    }
    const key = `${registryKey(host)}|${repository ?? ""}`;
    let found = this.#credentials.get(key);
    if (found === undefined) {
      found = findCredentials(host, repository, {
        authFile: this.#options.config.registry.authFile,
        env: this.#options.env,
        debug: this.#options.debug,
      }).then((credentials) => {
        this.transport.addSecret(credentials?.password);
        this.transport.addSecret(credentials?.identityToken);
        if (credentials !== undefined) {
          this.#options.debug?.(
            `credentials for ${host}: ${credentials.username ?? "<token>"} from ${credentials.source}`,
          );
        }
        return credentials;
      });
      this.#credentials.set(key, found);
    }
    return found;
  }

  /** Probes `GET /v2/` once per host to learn how it wants to be authenticated (spec "API Version Check"). */
  hostState(host: string): Promise<HostState> {
    let state = this.#hosts.get(host);
    if (state === undefined) {
      state = this.#probe(host);
      this.#hosts.set(host, state);
      state.catch(() => this.#hosts.delete(host));
    }
    return state;
  }

  async #probe(host: string): Promise<HostState> {
    const scheme = this.schemeOf(host);
    const response = await this.transport.request({
      method: "GET",
      url: `${scheme}://${host}/v2/`,
      maxBytes: 1 << 20,
    });
    if (response.status === 200) return { scheme, challenge: undefined };
    if (response.status === 401) {
      const challenge = pickChallenge(parseChallenges(response.headers["www-authenticate"]));
      if (challenge === undefined) {
        throw new RegistryError(
          `registry ${host} asks for authentication with a scheme hyperclair does not speak`,
          {
            hint: `it answered WWW-Authenticate: ${response.headers["www-authenticate"] ?? "(none)"}`,
          },
        );
      }
      return { scheme, challenge };
    }
    throw new RegistryError(
      `${host} does not answer like a registry: GET /v2/ gave HTTP ${response.status}`,
      {
        hint: "check the registry address (the distribution API lives under /v2/)",
      },
    );
  }

  /** A Bearer token for `scope` from the realm of `challenge`, from the cache unless `fresh`. */
  async #token(
    host: string,
    challenge: Challenge,
    scope: string | undefined,
    fresh: boolean,
  ): Promise<string> {
    const realm = challenge.params["realm"];
    if (realm === undefined || realm === "") {
      throw new RegistryError(`registry ${host} sent a Bearer challenge without a realm`, {
        hint: "the registry's token auth is misconfigured",
      });
    }
    const service = challenge.params["service"];
    const credentials = await this.credentialsFor(host);
    const key = [
      realm,
      service ?? "",
      scope ?? "",
      credentials?.username ?? "",
      credentials?.source ?? "",
    ].join("|");
    const cached = this.#tokens.get(key);
    if (!fresh && cached !== undefined && cached.expiresAt > Date.now()) return cached.token;
    this.#tokens.delete(key);

    const url = new URL(realm);
    let response: TransportResponse;
    if (credentials?.identityToken !== undefined) {
      // OAuth2 refresh-token grant (spec "auth/oauth"), what docker does with an identity token.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credentials.identityToken,
        client_id: "hyperclair",
      });
      if (service !== undefined) form.set("service", service);
      if (scope !== undefined) form.set("scope", scope);
      response = await this.transport.request({
        method: "POST",
        url: url.toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        maxBytes: 1 << 20,
      });
    } else {
      if (service !== undefined) url.searchParams.set("service", service);
      if (scope !== undefined) url.searchParams.set("scope", scope);
      const headers: Record<string, string> = {};
      if (credentials?.username !== undefined) {
        url.searchParams.set("account", credentials.username);
        headers["Authorization"] = basicAuthorization(credentials.username, credentials.password ?? "");
      }
      response = await this.transport.request({
        method: "GET",
        url: url.toString(),
        headers,
        maxBytes: 1 << 20,
      });
    }
    if (response.status === 401 || response.status === 403) {
      throw this.#credentialsRejected(
        host,
        credentials,
        `the token server ${displayUrl(`${url.origin}${url.pathname}`)}`,
      );
    }
    if (response.status !== 200) {
      throw new RegistryError(
        `token server ${url.origin}${url.pathname} answered HTTP ${response.status} for ${host}`,
        { hint: "the registry's token service failed; try again later" },
      );
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      parsed = JSON.parse(response.body.toString("utf8")) as typeof parsed;
    } catch {
      throw new RegistryError(`token server ${url.origin}${url.pathname} did not answer JSON`, {
        hint: "the registry's token service is misconfigured",
      });
    }
    const token =
      typeof parsed.token === "string" && parsed.token !== ""
        ? parsed.token
        : typeof parsed.access_token === "string"
          ? parsed.access_token
          : "";
    if (token === "") {
      throw new RegistryError(`token server ${url.origin}${url.pathname} answered without a token`, {
        hint: "the registry's token service is misconfigured",
      });
    }
    this.transport.addSecret(token);
    // Spec: expires_in defaults to 60 s. Renew a little early so a token does not expire in flight.
    const lifetime =
      (typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : 60) * 1000;
    const issued = typeof parsed.issued_at === "string" ? Date.parse(parsed.issued_at) : Number.NaN;
    const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
    const margin = Math.min(10_000, lifetime / 10);
    this.#tokens.set(key, { token, expiresAt: start + lifetime - margin });
    return token;
  }

  #credentialsRejected(
    host: string,
    credentials: FoundCredentials | undefined,
    where: string,
  ): RegistryError {
    if (credentials === undefined) {
      return new RegistryError(`registry ${host} requires authentication`, {
        hint: `log in with \`hyperclair login ${host}\` (or docker/podman login), or pass --username and --password-stdin`,
      });
    }
    const who = credentials.username ?? "the identity token";
    return new RegistryError(
      `${where} rejected the credentials of ${who} for ${host} (from ${credentials.source})`,
      {
        hint: `check the username and password; run \`hyperclair login ${host}\` to store new ones`,
      },
    );
  }

  /** The Authorization header value for a request to `host` about `scope`, or undefined. */
  async #authorization(
    host: string,
    state: HostState,
    scope: string | undefined,
    fresh: boolean,
  ): Promise<string | undefined> {
    const challenge = state.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === "basic") {
      const credentials = await this.credentialsFor(host);
      if (credentials?.username === undefined) return undefined;
      return basicAuthorization(credentials.username, credentials.password ?? "");
    }
    return `Bearer ${await this.#token(host, challenge, scope, fresh)}`;
  }

  /**
   * An authenticated request: the answer is returned for any status but 401, which becomes a
   * RegistryError with an auth hint after one retry with a fresh token.
   */
  async request(request: RegistryRequestOptions): Promise<TransportResponse> {
    const state = await this.hostState(request.host);
    const scope = request.repository === undefined ? undefined : pullScope(request.repository);
    const url = `${state.scheme}://${request.host}${request.path}`;
    const send = async (fresh: boolean) => {
      const headers: Record<string, string> = {};
      if (request.accept !== undefined) headers["Accept"] = request.accept;
      const authorization = await this.#authorization(request.host, state, scope, fresh);
      if (authorization !== undefined) headers["Authorization"] = authorization;
      return this.transport.request({
        method: request.method,
        url,
        headers,
        ...(request.maxBytes === undefined ? {} : { maxBytes: request.maxBytes }),
      });
    };
    let response = await send(false);
    if (response.status === 401 && state.challenge?.scheme === "bearer") {
      // The cached token may have expired or been revoked early: fetch a new one, once.
      this.#options.debug?.(`registry ${request.host} rejected the token; fetching a new one`);
      response = await send(true);
    }
    if (response.status !== 401) return response;

    const challenge = pickChallenge(parseChallenges(response.headers["www-authenticate"]));
    const credentials = await this.credentialsFor(request.host);
    if (
      challenge?.params["error"] === "insufficient_scope" ||
      (state.challenge?.scheme === "bearer" && credentials !== undefined)
    ) {
      const who =
        credentials === undefined
          ? "anonymous clients"
          : `${credentials.username ?? "the identity token"} (from ${credentials.source})`;
      return this.#fail(
        new RegistryError(
          `registry ${request.host} denied pull access to ${request.repository ?? request.path} for ${who}`,
          {
            hint:
              credentials === undefined
                ? `the repository needs credentials: run \`hyperclair login ${request.host}\`, or pass --username and --password-stdin`
                : "the account has no pull access to this repository, or the repository does not exist",
          },
        ),
      );
    }
    if (credentials === undefined) return this.#fail(this.#credentialsRejected(request.host, undefined, ""));
    return this.#fail(this.#credentialsRejected(request.host, credentials, `registry ${request.host}`));
  }

  #fail(error: RegistryError): never {
    if (this.#options.signal?.aborted) throw new InterruptedError();
    throw error;
  }

  /**
   * Fetches a manifest or index by tag or digest, always with the full Accept list, and checks its
   * digest: against the requested digest, and against `Docker-Content-Digest` when the registry sends one.
   */
  async fetchManifest(
    host: string,
    repository: string,
    reference: string,
    accept: string,
    display: string,
  ): Promise<FetchedManifest> {
    const response = await this.request({
      host,
      repository,
      method: "GET",
      path: `/v2/${repository}/manifests/${reference}`,
      accept,
      maxBytes: 4 * 1024 * 1024,
    });
    if (response.status === 404) {
      const detail = describeRegistryErrors(response.body) ?? "not found";
      // The reference names nothing: the user's input (exit 2), as for an image missing from the daemon.
      throw new ImageError(`image ${display} not found in registry ${host} (${detail})`, {
        hint: "check the repository name and tag (or digest); `hyperclair pull` reads registry images unless --local is given",
      });
    }
    if (response.status !== 200) throw this.#statusError(response, `fetching manifest of ${display}`);
    const digest = sha256Digest(response.body);
    const declared = response.headers["docker-content-digest"];
    const wanted = reference.startsWith("sha256:")
      ? reference
      : declared?.startsWith("sha256:")
        ? declared
        : undefined;
    if (wanted !== undefined && wanted !== digest) {
      throw new RegistryError(
        `manifest of ${display} does not match its digest: expected ${wanted}, got ${digest}`,
        {
          hint: "the registry or something between it and hyperclair altered the manifest",
        },
      );
    }
    const mediaType = response.headers["content-type"]?.split(";")[0]?.trim() || undefined;
    return { digest, mediaType, body: response.body };
  }

  /** Fetches a small blob (an image config) and checks it against its digest. */
  async fetchBlob(host: string, repository: string, digest: string, display: string): Promise<Buffer> {
    const response = await this.request({
      host,
      repository,
      method: "GET",
      path: `/v2/${repository}/blobs/${digest}`,
      maxBytes: 64 * 1024 * 1024,
    });
    if (response.status === 404) {
      throw new RegistryError(`blob ${digest} of ${display} not found in registry ${host}`, {
        hint: "the image in the registry is incomplete; push it again",
      });
    }
    if (response.status !== 200) throw this.#statusError(response, `fetching blob ${digest} of ${display}`);
    const actual = sha256Digest(response.body);
    if (digest.startsWith("sha256:") && actual !== digest) {
      throw new RegistryError(`blob ${digest} of ${display} does not match its digest (got ${actual})`, {
        hint: "the registry or something between it and hyperclair altered the blob",
      });
    }
    return response.body;
  }

  #statusError(response: TransportResponse, what: string): RegistryError {
    const detail = describeRegistryErrors(response.body);
    const status = `HTTP ${response.status}${detail === undefined ? "" : ` (${detail})`}`;
    const hint =
      response.status === 429
        ? "the registry keeps rate-limiting; wait and try again, or log in for a higher limit"
        : response.status === 403
          ? "the registry refused access; check the account's permissions"
          : response.status >= 500
            ? "the registry failed; try again later"
            : "the registry refused the request";
    return new RegistryError(`${what}: registry answered ${status}`, { hint });
  }

  /**
   * A fresh `Authorization` header value for a layer blob (what Clair sends when it downloads it):
   * a new repository-scoped token on every call, so Clair never gets one that expires mid-push.
   */
  async authorizationFor(location: LayerLocation): Promise<string | undefined> {
    if (location.kind !== "registry") return undefined;
    const state = await this.hostState(location.registry);
    return this.#authorization(location.registry, state, location.scope, true);
  }

  /**
   * Checks credentials against `host` the way `docker login` does: a `/v2/` round trip with them,
   * through the token server when the registry uses Bearer tokens.
   */
  async verifyCredentials(host: string): Promise<"verified" | "no-auth"> {
    const state = await this.hostState(host);
    if (state.challenge === undefined) return "no-auth";
    const authorization = await this.#authorization(host, state, undefined, true);
    const response = await this.transport.request({
      method: "GET",
      url: `${state.scheme}://${host}/v2/`,
      headers: authorization === undefined ? {} : { Authorization: authorization },
      maxBytes: 1 << 20,
    });
    if (response.status === 200) return "verified";
    if (response.status === 401) {
      throw this.#credentialsRejected(host, await this.credentialsFor(host), `registry ${host}`);
    }
    throw this.#statusError(response, `checking credentials at ${host}`);
  }
}

function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

/** Builds a registry client (one per command run; tokens and probes are cached inside it). */
export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  return new RegistryClient(options);
}
