/**
 * The HTTP layer under the registry client: scheme choice (plain HTTP only for `registry.insecure`
 * hosts and loopback), TLS trust, proxies from the environment, redirects (blob downloads are often
 * redirected to storage), retries of 429 and 5xx with backoff honouring Retry-After, and `--debug`
 * lines with every secret redacted. Network failures become one-line RegistryErrors.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import axios, { type AxiosInstance } from "axios";
import type { RegistryConfig } from "../../config/types.ts";
import { ConfigError, InterruptedError, RegistryError } from "../../errors.ts";
import { displayUrl, flattenHeaders, parseRetryAfter, REDACTED, sleep } from "../../http/common.ts";
import { describeProxy, type ProxyTarget, proxyFor, TunnelingAgent } from "./proxy.ts";

export interface TransportOptions {
  config: RegistryConfig;
  env?: Record<string, string | undefined> | undefined;
  debug?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Attempts per request for 429/5xx/connection resets (default 4). */
  maxAttempts?: number | undefined;
  /** First backoff delay in ms (default 500), doubled per attempt. */
  backoffMs?: number | undefined;
  /** Upper bound for one wait, including Retry-After (default 30 s). */
  maxDelayMs?: number | undefined;
  /** Per-request timeout in ms (default 60 s). */
  timeoutMs?: number | undefined;
}

export interface TransportRequest {
  method: "GET" | "HEAD" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string | undefined;
  /** Largest body accepted, in bytes (manifests and configs are small; default 32 MiB). */
  maxBytes?: number;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

const defaultMaxBytes = 32 * 1024 * 1024;
const secretHeaders = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);
const retriedStatuses = new Set([429, 500, 502, 503, 504]);
const retriedCodes = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "EAI_AGAIN"]);

/** `127.0.0.0/8`, `::1`, `localhost`: spoken to over plain HTTP without configuration, as docker does. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** The scheme for a registry host (`host[:port]`): http for loopback and `registry.insecure`, else https. */
export function schemeFor(registryHost: string, insecure: readonly string[]): "http" | "https" {
  const url = new URL(`http://${registryHost}`);
  if (isLoopbackHost(url.hostname)) return "http";
  const host = registryHost.toLowerCase();
  const listed = insecure.some((entry) => {
    const value = entry
      .trim()
      .toLowerCase()
      .replace(/^[a-z]+:\/\//, "")
      .replace(/\/+$/, "");
    return value === host || value === url.hostname.toLowerCase();
  });
  return listed ? "http" : "https";
}

function readCa(path: string): string {
  try {
    const pem = readFileSync(path, "utf8");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return pem;
  } catch (error) {
    throw new ConfigError(`registry.tls.ca ${path}: ${(error as Error).message}`, {
      hint: "point registry.tls.ca at a PEM file with the CA certificate(s) that signed the registry's certificate",
      cause: error,
    });
  }
}

export class RegistryTransport {
  readonly #axios: AxiosInstance;
  readonly #options: TransportOptions;
  readonly #tlsOptions: https.AgentOptions;
  readonly #httpsAgent: https.Agent;
  readonly #tunnels = new Map<string, https.Agent>();
  readonly #secrets = new Set<string>();

  constructor(options: TransportOptions) {
    this.#options = options;
    const tls = options.config.tls;
    this.#tlsOptions = { rejectUnauthorized: !tls.insecureSkipVerify };
    if (tls.ca !== "") {
      // Adding a CA extends the system's trust store rather than replacing it.
      this.#tlsOptions.ca = [...rootCertificates, readCa(tls.ca)];
    }
    this.#httpsAgent = new https.Agent({ ...this.#tlsOptions, keepAlive: true });
    this.#axios = axios.create({
      httpAgent: new http.Agent({ keepAlive: true }),
      validateStatus: () => true,
      responseType: "arraybuffer",
      transformResponse: [(data: unknown) => data],
      // Redirects are followed here, one hop at a time, so each hop gets its own proxy decision and
      // credentials never travel to another host.
      maxRedirects: 0,
      proxy: false,
      decompress: true,
    });
  }

  /** Values that must never appear in debug lines or errors (tokens, passwords). */
  addSecret(value: string | undefined): void {
    if (value !== undefined && value.length >= 4) this.#secrets.add(value);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join(REDACTED);
    return out;
  }

  #debug(line: string): void {
    this.#options.debug?.(this.scrub(line));
  }

  #agentFor(url: URL): { proxy: ProxyTarget | undefined; httpsAgent: https.Agent } {
    const proxy = proxyFor(url, this.#options.env ?? process.env);
    if (proxy === undefined || url.protocol !== "https:") return { proxy, httpsAgent: this.#httpsAgent };
    const key = proxy.url.toString();
    let tunnel = this.#tunnels.get(key);
    if (tunnel === undefined) {
      tunnel = new TunnelingAgent(proxy, this.#tlsOptions) as unknown as https.Agent;
      this.#tunnels.set(key, tunnel);
    }
    return { proxy, httpsAgent: tunnel };
  }

  /** One request with retries and redirects; returns whatever HTTP answer came back in the end. */
  async request(request: TransportRequest): Promise<TransportResponse> {
    const maxAttempts = this.#options.maxAttempts ?? 4;
    const backoff = this.#options.backoffMs ?? 500;
    const maxDelay = this.#options.maxDelayMs ?? 30_000;
    for (let attempt = 1; ; attempt++) {
      let response: TransportResponse | undefined;
      let failure: unknown;
      try {
        response = await this.#follow(request);
      } catch (error) {
        if (error instanceof RegistryError || error instanceof InterruptedError) throw error;
        failure = error;
      }
      const code = (failure as NodeJS.ErrnoException | undefined)?.code;
      const retriable =
        response !== undefined
          ? retriedStatuses.has(response.status)
          : code !== undefined && retriedCodes.has(code);
      if (!retriable || attempt >= maxAttempts) {
        if (response !== undefined) return response;
        throw this.#transportError(failure, request.url);
      }
      const retryAfter =
        response === undefined ? undefined : parseRetryAfter(response.headers["retry-after"]);
      const delay = Math.min(maxDelay, retryAfter ?? backoff * 2 ** (attempt - 1));
      this.#debug(
        `retrying ${request.method} ${displayUrl(request.url)} in ${delay} ms (attempt ${attempt + 1}/${maxAttempts}): ${
          response === undefined ? code : `HTTP ${response.status}`
        }`,
      );
      await sleep(delay, this.#options.signal);
    }
  }

  async #follow(request: TransportRequest): Promise<TransportResponse> {
    let url = request.url;
    let headers = { ...(request.headers ?? {}) };
    let method = request.method;
    let body = request.body;
    const origin = new URL(url).host;
    for (let hop = 0; hop <= 5; hop++) {
      const response = await this.#once({ ...request, url, headers, method, body });
      const location = response.headers["location"];
      if (![301, 302, 303, 307, 308].includes(response.status) || location === undefined) return response;
      const next = new URL(location, url);
      this.#debug(`redirected to ${displayUrl(next.toString())}`);
      // Storage back ends get signed URLs; the registry's credentials stay with the registry.
      if (next.host !== origin) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"),
        );
      }
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && method === "POST")
      ) {
        method = "GET";
        body = undefined;
      }
      url = next.toString();
    }
    throw new RegistryError(`too many redirects from ${displayUrl(request.url)}`, {
      hint: "the registry or its storage redirects in a loop",
    });
  }

  async #once(request: TransportRequest): Promise<TransportResponse> {
    const url = new URL(request.url);
    const { proxy, httpsAgent } = this.#agentFor(url);
    const headers: Record<string, string> = { "User-Agent": "hyperclair", ...request.headers };
    const lines = [
      `${request.method} ${displayUrl(request.url)}${proxy ? ` via proxy ${describeProxy(proxy)}` : ""}`,
    ];
    for (const [name, value] of Object.entries(headers)) {
      lines.push(`> ${name}: ${secretHeaders.has(name.toLowerCase()) ? REDACTED : value}`);
    }
    const started = Date.now();
    if (this.#options.signal?.aborted) throw new InterruptedError();
    try {
      const answer = await this.#axios.request<ArrayBuffer>({
        method: request.method,
        url: request.url,
        headers,
        data: request.body,
        httpsAgent,
        maxContentLength: request.maxBytes ?? defaultMaxBytes,
        timeout: this.#options.timeoutMs ?? 60_000,
        ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
        ...(proxy !== undefined && url.protocol === "http:"
          ? {
              proxy: {
                protocol: proxy.url.protocol.replace(/:$/, ""),
                host: proxy.url.hostname,
                port: Number(proxy.url.port || (proxy.url.protocol === "https:" ? 443 : 80)),
              },
              ...(proxy.authorization === undefined
                ? {}
                : { headers: { ...headers, "Proxy-Authorization": proxy.authorization } }),
            }
          : {}),
      });
      const responseHeaders = flattenHeaders(answer.headers as Record<string, unknown>);
      lines.push(`< ${answer.status} ${answer.statusText} (${Date.now() - started} ms)`);
      for (const [name, value] of Object.entries(responseHeaders)) {
        lines.push(`< ${name}: ${secretHeaders.has(name) ? REDACTED : value}`);
      }
      const data = answer.data as unknown;
      const body = Buffer.isBuffer(data)
        ? data
        : Buffer.from((data as ArrayBuffer | undefined) ?? new ArrayBuffer(0));
      for (const line of lines) this.#debug(line);
      return { status: answer.status, headers: responseHeaders, body, url: request.url };
    } catch (error) {
      if (this.#options.signal?.aborted) throw new InterruptedError();
      lines.push(`! ${(error as Error).message} after ${Date.now() - started} ms`);
      for (const line of lines) this.#debug(line);
      if (
        (error as { code?: string }).code === "ERR_BAD_RESPONSE" &&
        /maxContentLength/.test((error as Error).message)
      ) {
        throw new RegistryError(
          `${displayUrl(request.url)} answered with more than ${request.maxBytes ?? defaultMaxBytes} bytes`,
          {
            hint: "a manifest or config this large is not an image manifest",
          },
        );
      }
      throw error;
    }
  }

  #transportError(error: unknown, url: string): RegistryError {
    const parsed = new URL(url);
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
    const message = this.scrub((error as Error | undefined)?.message ?? String(error));
    const proxy = proxyFor(parsed, this.#options.env ?? process.env);
    const via = proxy === undefined ? "" : ` (via proxy ${describeProxy(proxy)})`;
    let hint = "check the registry address, that it is running, and your network";
    if (/wrong version number|EPROTO|packet length too long/i.test(`${code} ${message}`)) {
      hint = `the registry may speak plain HTTP: add ${parsed.host} to registry.insecure`;
    } else if (/certificate|self[- ]signed|CERT_|unable to verify/i.test(`${code} ${message}`)) {
      hint = "trust the registry's CA with registry.tls.ca, or (unsafe) set registry.tls.insecureSkipVerify";
    } else if (code === "ECONNREFUSED") {
      hint = proxy
        ? `nothing answered; check the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)`
        : `nothing listens at ${parsed.host}; check the registry address and that it runs`;
    } else if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
      hint = `the host name ${parsed.hostname} does not resolve; check the registry address`;
    } else if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
      hint = "the registry did not answer in time; check the network or try again";
    }
    return new RegistryError(
      `cannot reach registry at ${parsed.protocol}//${parsed.host}${via}: ${code || message}`,
      {
        hint,
        cause: error,
      },
    );
  }
}
