/**
 * HTTP(S) proxies from the environment, read the way curl reads them (https://curl.se/docs/manpage.html
 * "ENVIRONMENT"): `http_proxy` (lower case only; upper case too, as docker does), `HTTPS_PROXY` /
 * `https_proxy`, `NO_PROXY` / `no_proxy`. Loopback is proxied like any other host unless NO_PROXY lists it.
 */
import http from "node:http";
import https from "node:https";
import { type Duplex, PassThrough } from "node:stream";
import tls from "node:tls";

export interface ProxyTarget {
  /** `http://host:port` of the proxy (credentials kept apart in `authorization`). */
  url: URL;
  /** `Basic …` for `Proxy-Authorization`, when the proxy URL carried user:password. */
  authorization: string | undefined;
}

type Env = Record<string, string | undefined>;

function readVariable(env: Env, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function defaultPort(protocol: string): string {
  return protocol === "https:" ? "443" : "80";
}

/** IPv4 dotted quad to a number, or undefined. */
function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/**
 * Whether NO_PROXY excludes `url` from proxying. Entries are comma (or space) separated; `*` matches
 * everything; a name matches itself and its subdomains (a leading dot is optional); an entry with
 * `:port` matches only that port; `a.b.c.d/n` matches an IPv4 range (curl 7.86+).
 */
export function isProxyBypassed(url: URL, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = url.port || defaultPort(url.protocol);
  for (const raw of noProxy.split(/[,\s]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    let entryPort: string | undefined;
    const bracket = entry.match(/^\[([^\]]+)\](?::(\d+))?$/);
    if (bracket) {
      entry = bracket[1]!;
      entryPort = bracket[2];
    } else {
      const colon = entry.lastIndexOf(":");
      if (colon > 0 && entry.indexOf(":") === colon && /^\d+$/.test(entry.slice(colon + 1))) {
        entryPort = entry.slice(colon + 1);
        entry = entry.slice(0, colon);
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    const cidr = entry.match(/^([\d.]+)\/(\d{1,2})$/);
    if (cidr) {
      const network = ipv4ToNumber(cidr[1]!);
      const address = ipv4ToNumber(host);
      const bits = Number(cidr[2]);
      if (network !== undefined && address !== undefined && bits <= 32) {
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        if ((network & mask) >>> 0 === (address & mask) >>> 0) return true;
      }
      continue;
    }
    const name = entry.startsWith(".") ? entry.slice(1) : entry;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** The proxy to use for `url`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: Env = process.env): ProxyTarget | undefined {
  if (isProxyBypassed(url, readVariable(env, "no_proxy"))) return undefined;
  // curl reads http_proxy in lower case only (CGI's HTTP_PROXY header trap); docker and Go read both.
  const raw =
    url.protocol === "https:"
      ? readVariable(env, "https_proxy")
      : (env["http_proxy"] ?? env["HTTP_PROXY"])?.trim() || undefined;
  const chosen = raw ?? readVariable(env, "all_proxy");
  if (chosen === undefined) return undefined;
  const proxyUrl = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(chosen) ? chosen : `http://${chosen}`);
  let authorization: string | undefined;
  if (proxyUrl.username !== "") {
    const user = decodeURIComponent(proxyUrl.username);
    const pass = decodeURIComponent(proxyUrl.password);
    authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    proxyUrl.username = "";
    proxyUrl.password = "";
  }
  return { url: proxyUrl, authorization };
}

/** The proxy's address for messages: scheme, host and port, never credentials. */
export function describeProxy(proxy: ProxyTarget): string {
  return `${proxy.url.protocol}//${proxy.url.host}`;
}

/**
 * An https agent that reaches the origin through an HTTP CONNECT tunnel (RFC 9110 §9.3.6), then
 * speaks TLS to the origin inside it, as curl does for https URLs behind an http proxy.
 */
export class TunnelingAgent extends https.Agent {
  readonly #proxy: ProxyTarget;

  constructor(proxy: ProxyTarget, options: https.AgentOptions) {
    super({ ...options, keepAlive: false });
    this.#proxy = proxy;
  }

  override createConnection(
    requestOptions: https.RequestOptions,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): undefined {
    const options = requestOptions as https.RequestOptions & tls.ConnectionOptions;
    const host = String(options.host ?? options.hostname ?? "");
    const port = Number(options.port ?? 443);
    const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const headers: Record<string, string> = { host: authority };
    if (this.#proxy.authorization !== undefined) headers["proxy-authorization"] = this.#proxy.authorization;
    const request = (this.#proxy.url.protocol === "https:" ? https : http).request({
      host: this.#proxy.url.hostname,
      port: this.#proxy.url.port || defaultPort(this.#proxy.url.protocol),
      method: "CONNECT",
      path: authority,
      headers,
      agent: false,
    });
    request.once("connect", (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        callback?.(
          new Error(
            `proxy ${describeProxy(this.#proxy)} refused CONNECT ${authority}: ${response.statusCode}`,
          ),
          socket,
        );
        return;
      }
      const secure = tls.connect({ ...options, socket, servername: options.servername ?? host });
      callback?.(null, secure);
    });
    request.once("error", (error) => callback?.(error, request.socket ?? new PassThrough()));
    request.end();
    return undefined;
  }
}
