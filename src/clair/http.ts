import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import type { ClairConfig, TlsConfig } from "../config/types.ts";
import { ClairError, ConfigError, InterruptedError } from "../errors.ts";
import { displayUrl, flattenHeaders, REDACTED } from "../http/common.ts";
import { createPskSigner } from "./psk.ts";

/**
 * The one HTTP layer under both Clair clients (octokit-style layering: transport → defaults/auth/logging →
 * features). It owns the base headers, PSK auth, TLS trust, debug logging with redaction, and the mapping of
 * every failure to a one-line `ClairError` with a hint. Callers above it never see axios.
 */

/** Who answers a request, for messages and hints: "Clair" at `clair.url`, or its health server. */
export interface Target {
  /** Used in messages: "cannot reach {name} at …". */
  name: string;
  /** The settings that choose this address, used in hints. */
  setting: string;
}

export const apiTarget: Target = { name: "Clair", setting: "clair.url (--clair-url)" };

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

/** A per-status message, like dockerode's per-call `statusCodes` map. */
export type StatusMessage = string | { message: string; hint?: string };

export interface ClairRequest {
  method: Method;
  /** Absolute URL. */
  url: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Defaults to `application/json`. */
  accept?: string;
  /** Milliseconds; defaults to the configured `clair.timeout`. */
  timeout?: number;
  /** Send the PSK token (default true). Clair's introspection server is unauthenticated, so health checks skip it. */
  auth?: boolean;
  /** Statuses the caller handles itself; any other becomes a ClairError (default `[200]`). */
  ok?: readonly number[];
  /** Messages for statuses outside `ok` that mean something specific for this call. */
  errors?: Readonly<Partial<Record<number, StatusMessage>>>;
  /**
   * Whether an `ok` answer must be JSON. Clair sends JSON under many Content-Types (v4 POST index_report is
   * sniffed as text/plain, NOTES.md §2.3), so the body is parsed whatever the Content-Type says.
   */
  json?: boolean;
  target?: Target;
  /** Aborts the request (Ctrl-C): a v4 index POST cut short also cancels Clair's work, as it should. */
  signal?: AbortSignal | undefined;
}

export interface ClairResponse {
  method: Method;
  url: string;
  status: number;
  statusText: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Content-Type without parameters, "" when absent. */
  contentType: string;
  body: Buffer;
  /** The parsed body when it is JSON, else undefined. */
  json: unknown;
  /** The redacted exchange, for `--debug`. */
  debug: string[];
}

export interface ClairHttpOptions {
  /** Default request timeout in milliseconds. */
  timeout: number;
  /** `clair.headers`: sent on every request, their values are secrets in output. */
  headers: Record<string, string>;
  tls: TlsConfig;
  sign?: (() => Promise<string>) | undefined;
  /** The issuer the tokens carry, for the 401 hint. */
  pskIssuer?: string | undefined;
  /** Extra strings that must never appear in debug lines (e.g. the PSK key text). */
  secrets?: readonly string[];
  debug?: ((line: string) => void) | undefined;
}

const BODY_PREVIEW_BYTES = 500;
/** Headers that carry credentials whatever the configuration says. */
const ALWAYS_SECRET = ["authorization", "proxy-authorization", "cookie", "set-cookie"];
/** Empty answers that are normal where JSON is otherwise expected (v4 202 "not ready", 204 delete). */
const EMPTY_OK = new Set([202, 204, 304]);

export class ClairHttp {
  readonly #axios: AxiosInstance;
  readonly #options: ClairHttpOptions;
  readonly #secretHeaders: Set<string>;
  readonly #secretValues: Set<string>;

  constructor(options: ClairHttpOptions) {
    this.#options = options;
    this.#secretHeaders = new Set([
      ...ALWAYS_SECRET,
      ...Object.keys(options.headers).map((h) => h.toLowerCase()),
    ]);
    this.#secretValues = new Set(
      [...Object.values(options.headers), ...(options.secrets ?? [])].filter((s) => s.length >= 4),
    );
    this.#axios = axios.create({
      httpAgent: new http.Agent({ keepAlive: true }),
      httpsAgent: createHttpsAgent(options.tls),
      validateStatus: () => true,
      responseType: "arraybuffer",
      maxBodyLength: Number.POSITIVE_INFINITY,
      maxContentLength: Number.POSITIVE_INFINITY,
      // Everything we read is JSON or short text; turning off axios' own parsing keeps the raw bytes for
      // the not-JSON check and the debug preview.
      transformResponse: [(data: unknown) => data],
      transitional: { clarifyTimeoutError: true },
    });
  }

  /** Whether requests carry a PSK token. */
  get signs(): boolean {
    return this.#options.sign !== undefined;
  }

  /** Sends a request and returns whatever HTTP answer came back; throws only when there was no answer. */
  async send(request: ClairRequest): Promise<ClairResponse> {
    const target = request.target ?? apiTarget;
    const headers: Record<string, string> = {
      Accept: request.accept ?? "application/json",
      "User-Agent": "hyperclair",
      ...this.#options.headers,
      ...request.headers,
    };
    const secrets = new Set(this.#secretValues);
    if (request.auth !== false && this.#options.sign !== undefined) {
      const token = await this.#options.sign();
      headers["Authorization"] = `Bearer ${token}`;
      secrets.add(token);
    }
    let data: string | undefined;
    if (request.body !== undefined) {
      data = JSON.stringify(request.body);
      headers["Content-Type"] ??= "application/json";
    }
    const lines = [`${request.method} ${displayUrl(request.url)}`];
    for (const [name, value] of Object.entries(redactHeaders(headers, this.#secretHeaders))) {
      lines.push(`> ${name}: ${value}`);
    }
    const started = Date.now();
    let answer: AxiosResponse<Buffer>;
    try {
      answer = await this.#axios.request<Buffer>({
        method: request.method,
        url: request.url,
        headers,
        data,
        timeout: request.timeout ?? this.#options.timeout,
        ...(request.signal ? { signal: request.signal } : {}),
      });
    } catch (error) {
      if (request.signal?.aborted) throw new InterruptedError();
      lines.push(`! ${describeCause(error)} after ${Date.now() - started} ms`);
      const scrubbed = this.#scrub(lines, secrets);
      this.#emit(scrubbed);
      throw mapTransportError(error, request.url, target, request.timeout ?? this.#options.timeout, scrubbed);
    }
    const body = Buffer.isBuffer(answer.data) ? answer.data : Buffer.from(answer.data ?? "");
    const responseHeaders = flattenHeaders(answer.headers as Record<string, unknown>);
    lines.push(`< ${answer.status} ${answer.statusText} (${Date.now() - started} ms)`);
    for (const [name, value] of Object.entries(redactHeaders(responseHeaders, this.#secretHeaders))) {
      lines.push(`< ${name}: ${value}`);
    }
    if (body.length > 0) lines.push(`< body: ${previewBody(body)}`);
    const scrubbed = this.#scrub(lines, secrets);
    this.#emit(scrubbed);
    return {
      method: request.method,
      url: request.url,
      status: answer.status,
      statusText: answer.statusText,
      headers: responseHeaders,
      contentType: (responseHeaders["content-type"] ?? "").split(";")[0]!.trim().toLowerCase(),
      body,
      json: parseJson(body),
      debug: scrubbed,
    };
  }

  /** Sends a request and turns any status outside `request.ok`, and any non-JSON answer where JSON was asked for, into a ClairError. */
  async request(request: ClairRequest): Promise<ClairResponse> {
    const response = await this.send(request);
    const ok = request.ok ?? [200];
    const target = request.target ?? apiTarget;
    if (!ok.includes(response.status)) {
      throw mapStatusError(response, {
        target,
        message: request.errors?.[response.status],
        signed: request.auth !== false && this.signs,
        issuer: this.#options.pskIssuer,
      });
    }
    if (request.json === true && response.json === undefined) {
      if (!(response.body.length === 0 && EMPTY_OK.has(response.status)))
        throw notJsonError(response, target);
    }
    return response;
  }

  #scrub(lines: string[], secrets: Set<string>): string[] {
    return lines.map((line) => scrubSecrets(line, secrets));
  }

  #emit(lines: string[]): void {
    const debug = this.#options.debug;
    if (debug === undefined) return;
    for (const line of lines) debug(line);
  }
}

/** Builds the HTTP layer from `clair.*`: timeout, extra headers, TLS trust, and the PSK signer. */
export function createClairHttp(
  config: ClairConfig,
  debug?: ((line: string) => void) | undefined,
): ClairHttp {
  return new ClairHttp({
    timeout: config.timeout,
    headers: config.headers,
    tls: config.tls,
    sign: createPskSigner(config.psk),
    pskIssuer: config.psk.issuer.trim() === "" ? "hyperclair" : config.psk.issuer.trim(),
    secrets: [config.psk.key.trim()].filter((s) => s !== ""),
    debug,
  });
}

function createHttpsAgent(tls: TlsConfig): https.Agent {
  const options: https.AgentOptions = { keepAlive: true, rejectUnauthorized: !tls.insecureSkipVerify };
  if (tls.ca !== "") {
    let pem: string;
    try {
      pem = readFileSync(tls.ca, "utf8");
    } catch (error) {
      throw new ConfigError(`clair.tls.ca ${tls.ca}: cannot read it`, {
        hint: "point clair.tls.ca at a PEM file with the CA certificate(s) that signed Clair's certificate",
        cause: error,
      });
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new ConfigError(`clair.tls.ca ${tls.ca} holds no PEM certificate`, {
        hint: "the file must contain one or more -----BEGIN CERTIFICATE----- blocks",
      });
    }
    // `ca` replaces Node's bundled roots, so keep them: the extra CA is trusted in addition, not instead.
    options.ca = [...rootCertificates, pem];
  }
  return new https.Agent(options);
}

/** Replaces the value of every credential-bearing header (and every `clair.headers` name) with `[redacted]`. */
export function redactHeaders(
  headers: Record<string, string>,
  secretNames: ReadonlySet<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = secretNames.has(name.toLowerCase()) ? REDACTED : value;
  }
  return out;
}

/**
 * Credentials in an Authorization value, wherever they appear: Clair 2.x echoes a posted layer's `Headers`
 * (with the registry token hyperclair passed along) in its answer, and such tokens are not known up front.
 */
const CREDENTIAL_PATTERN = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

/** Removes any occurrence of a secret (a header value or token echoed in a body or URL) from a line. */
export function scrubSecrets(line: string, secrets: Iterable<string>): string {
  let out = line;
  for (const secret of secrets) {
    if (secret !== "") out = out.split(secret).join(REDACTED);
  }
  return out.replace(CREDENTIAL_PATTERN, `$1 ${REDACTED}`);
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function previewBody(body: Buffer): string {
  const head = body.subarray(0, BODY_PREVIEW_BYTES).toString("utf8").replace(/\r?\n/g, "\\n");
  return body.length > BODY_PREVIEW_BYTES ? `${head}… (${body.length} bytes)` : head;
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Clair's own words from an error body: v1 `{"Error":{"Message":…}}` (NOTES.md §1.2), v4 `{"code","message"}`
 * (§2.3), or the first line of a short text answer such as Go's "404 page not found".
 */
export function extractClairMessage(
  response: Pick<ClairResponse, "json" | "body" | "contentType">,
): string | undefined {
  const json = response.json;
  if (typeof json === "object" && json !== null) {
    const v1 = (json as { Error?: { Message?: unknown } }).Error;
    if (typeof v1?.Message === "string" && v1.Message !== "") return v1.Message;
    const v4 = json as { message?: unknown; code?: unknown };
    if (typeof v4.message === "string" && v4.message !== "") return v4.message;
    if (typeof v4.code === "string" && v4.code !== "") return v4.code;
    return undefined;
  }
  if (response.body.length === 0 || response.contentType === "text/html") return undefined;
  const first = response.body.subarray(0, 300).toString("utf8").split(/\r?\n/)[0]?.trim() ?? "";
  return first === "" ? undefined : first.slice(0, 200);
}

/** Turns an HTTP answer outside the expected statuses into a one-line ClairError with a hint. */
export function mapStatusError(
  response: ClairResponse,
  context: {
    target: Target;
    message?: StatusMessage | undefined;
    signed: boolean;
    issuer?: string | undefined;
  },
): ClairError {
  const { status } = response;
  const statusLine = `${status}${response.statusText === "" ? "" : ` ${response.statusText}`}`;
  const clairSays = extractClairMessage(response);
  const common = { status, debug: response.debug };
  if (context.message !== undefined) {
    const { message, hint } =
      typeof context.message === "string" ? { message: context.message, hint: undefined } : context.message;
    return new ClairError(clairSays === undefined ? message : `${message}: ${clairSays}`, {
      ...common,
      hint,
    });
  }
  if (status === 401) {
    // v4's PSK middleware answers 401 with an empty body (NOTES.md §2.2), so the hint is all we can add.
    const hint = context.signed
      ? `check that clair.psk.key is Clair's auth.psk.key and that Clair's auth.psk.iss lists "${context.issuer ?? "hyperclair"}" (clair.psk.issuer); clocks more than a minute apart also fail`
      : "this Clair requires a PSK: set clair.psk.key (or clair.psk.keyFile) to Clair's auth.psk.key";
    return new ClairError("Clair refused the request (401 Unauthorized)", { ...common, hint });
  }
  const where = `${context.target.name} at ${displayUrl(response.url)}`;
  if (status >= 500) {
    return new ClairError(
      `${where} failed (HTTP ${statusLine})${clairSays === undefined ? "" : `: ${clairSays}`}`,
      {
        ...common,
        hint:
          status === 503
            ? "Clair is busy or not ready yet; try again later, and see Clair's logs"
            : "see Clair's logs for the cause",
      },
    );
  }
  return new ClairError(
    `${where} answered HTTP ${statusLine}${clairSays === undefined ? "" : `: ${clairSays}`}`,
    {
      ...common,
      hint: status === 404 ? `is ${context.target.setting} pointing at Clair?` : undefined,
    },
  );
}

function notJsonError(response: ClairResponse, target: Target): ClairError {
  const type =
    response.contentType === ""
      ? response.body.length === 0
        ? "an empty body"
        : "no Content-Type"
      : response.contentType;
  return new ClairError(
    `${target.name} at ${displayUrl(response.url)} answered with something that is not JSON (${type}, ${response.status})`,
    { status: response.status, debug: response.debug, hint: `is ${target.setting} pointing at Clair?` },
  );
}

interface Cause {
  code: string | undefined;
  message: string;
}

/** axios wraps Node's errors, and Node wraps dual-stack connect failures in an AggregateError; find the code. */
function findCause(error: unknown): Cause {
  const seen = new Set<unknown>();
  let current: unknown = error;
  let fallback: Cause | undefined;
  while (typeof current === "object" && current !== null && !seen.has(current)) {
    seen.add(current);
    const { code, message } = current as { code?: unknown; message?: unknown };
    const text = typeof message === "string" ? message : "";
    if (typeof code === "string" && code !== "ERR_BAD_REQUEST" && code !== "ERR_BAD_RESPONSE") {
      // axios' own generic codes say less than the socket error beneath them.
      if (code !== "ERR_NETWORK" && code !== "ECONNABORTED") return { code, message: text };
      fallback ??= { code, message: text };
    }
    fallback ??= { code: undefined, message: text };
    const errors = (current as { errors?: unknown }).errors;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause;
  }
  return fallback ?? { code: undefined, message: String(error) };
}

function describeCause(error: unknown): string {
  const cause = findCause(error);
  return cause.code === undefined ? cause.message : `${cause.code}: ${cause.message}`;
}

const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate signed by an unknown CA",
  UNABLE_TO_GET_ISSUER_CERT: "certificate signed by an unknown CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate signed by an unknown CA",
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate does not match the host name",
};

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPIPE: "connection closed",
};

/** Turns "no HTTP answer" (refused, DNS, timeout, TLS) into a one-line ClairError, exit 3. */
export function mapTransportError(
  error: unknown,
  url: string,
  target: Target,
  timeoutMs: number,
  debug: string[],
): ClairError {
  const cause = findCause(error);
  // axios errors hold the request config, Authorization header included; keep only what was wrong.
  const safeCause = Object.assign(new Error(cause.message), { code: cause.code });
  const origin = originOf(url);
  const code = cause.code ?? "";
  const tlsReason =
    TLS_REASONS[code] ??
    (code.startsWith("CERT_") ||
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    code === "EPROTO"
      ? /wrong version number|packet length too long/i.test(cause.message)
        ? "the server does not speak TLS"
        : cause.message
      : undefined);
  if (tlsReason !== undefined) {
    const hint =
      tlsReason === "the server does not speak TLS"
        ? `use http:// in ${target.setting}`
        : code === "ERR_TLS_CERT_ALTNAME_INVALID"
          ? `use the host name the certificate was issued for in ${target.setting}, or set clair.tls.insecureSkipVerify (testing only)`
          : "trust Clair's CA with clair.tls.ca (a PEM file), or set clair.tls.insecureSkipVerify (testing only)";
    return new ClairError(`TLS connection to ${target.name} at ${origin} failed (${tlsReason})`, {
      hint,
      debug,
      cause: safeCause,
    });
  }
  const reason =
    NETWORK_REASONS[code] ??
    (code === "ETIMEDOUT" || code === "ECONNABORTED" || /timeout/i.test(cause.message)
      ? `no answer within ${formatDuration(timeoutMs)}`
      : cause.message === ""
        ? code
        : cause.message);
  return new ClairError(`cannot reach ${target.name} at ${origin} (${reason})`, {
    hint: `check ${target.setting} and that Clair is running there`,
    debug,
    cause: safeCause,
  });
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
