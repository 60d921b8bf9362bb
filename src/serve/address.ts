import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ConfigError, EnvironmentError } from "../errors.ts";

/**
 * Where the layer server listens and which URL Clair is told to use (DESIGN.md "Getting layers to Clair"):
 * by default the local address that routes toward Clair (loopback when Clair is on loopback) on a random
 * port; `serve.listen` and `serve.advertise` override either half.
 */

/** `serve.listen` split into its parts; an empty host means "the address that routes toward Clair". */
export interface ListenSpec {
  host: string;
  port: number;
}

/** What `resolveListenAddress` decided, before the socket is bound. */
export interface ListenPlan {
  /** The address to bind. */
  host: string;
  /** 0 = any free port. */
  port: number;
  /** The address to advertise when binding a wildcard (0.0.0.0 / ::): the one that routes toward Clair. */
  routeHost: string | undefined;
}

const listenHint =
  'serve.listen takes "", "HOST", "HOST:PORT", ":PORT" or "[IPV6]:PORT" (e.g. "0.0.0.0:8480")';

function parsePort(text: string, value: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) {
    throw new ConfigError(`serve.listen: invalid port in "${value}"`, { hint: listenHint });
  }
  return port;
}

/**
 * Parses `serve.listen`. `:PORT` keeps the default host (the address that routes toward Clair) and fixes
 * the port, so a fixed port for a firewall rule does not also widen the server to every interface; use
 * `0.0.0.0:PORT` for that.
 */
export function parseListen(value: string): ListenSpec {
  const text = value.trim();
  if (text === "") return { host: "", port: 0 };
  if (text.startsWith("[")) {
    const match = /^\[([^\]]+)\](?::(\d*))?$/.exec(text);
    if (!match || isIP(match[1]!) !== 6) {
      throw new ConfigError(`serve.listen: invalid address "${value}"`, { hint: listenHint });
    }
    return { host: match[1]!, port: match[2] ? parsePort(match[2], value) : 0 };
  }
  const colons = text.split(":").length - 1;
  // A bare IPv6 address ("::1", "::") has several colons and no port.
  if (colons > 1) {
    if (isIP(text) !== 6)
      throw new ConfigError(`serve.listen: invalid address "${value}"`, { hint: listenHint });
    return { host: text, port: 0 };
  }
  if (colons === 1) {
    const [host, port] = text.split(":") as [string, string];
    return { host, port: parsePort(port, value) };
  }
  return { host: text, port: 0 };
}

/** `serve.advertise` as a base URL without a trailing slash; `undefined` when unset. */
export interface AdvertiseSpec {
  protocol: "http:" | "https:";
  hostname: string;
  /** undefined = the port the server listens on. */
  port: number | undefined;
  /** A path prefix a proxy in front of the server strips, without trailing slash ("" for none). */
  pathPrefix: string;
}

const advertiseHint =
  'serve.advertise takes a base URL such as "http://host.docker.internal" or "http://10.0.0.5:8480"';

export function parseAdvertise(value: string): AdvertiseSpec | undefined {
  const text = value.trim();
  if (text === "") return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`serve.advertise: "${value}" is not a URL`, { hint: advertiseHint });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`serve.advertise: "${value}" must start with http:// or https://`, {
      hint: advertiseHint,
    });
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new ConfigError(
      `serve.advertise: "${value}" must be a plain base URL (no credentials, query or fragment)`,
      {
        hint: advertiseHint,
      },
    );
  }
  // URL drops a scheme's default port ("http://proxy:80" → port ""), but a port the user wrote is meant.
  const written = /^https?:\/\/(?:\[[^\]]*\]|[^/:?#]*)(?::(\d+))?/i.exec(text)?.[1];
  return {
    protocol: url.protocol,
    hostname: url.hostname,
    port: written === undefined ? undefined : Number(written),
    pathPrefix: url.pathname.replace(/\/+$/, ""),
  };
}

/** Formats a host for a URL or a `host:port` pair: IPv6 literals get brackets. */
export function formatHost(host: string): string {
  return isIP(host) === 6 && !host.startsWith("[") ? `[${host}]` : host;
}

function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith("127.");
  const lower = address.toLowerCase();
  return lower === "::1" || lower.startsWith("::ffff:127.");
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** Clair's host and port from its URL (the port defaults from the scheme). */
function clairEndpoint(clairUrl: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(clairUrl);
  } catch {
    throw new ConfigError(`clair.url: "${clairUrl}" is not a URL`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  return { host, port };
}

/** Clair's host as IP addresses: a literal as is, a name through the system resolver (as Clair's users' tools would). */
async function resolveClairAddresses(host: string): Promise<Array<{ address: string; family: number }>> {
  const family = isIP(host);
  if (family !== 0) return [{ address: host, family }];
  if (host.toLowerCase() === "localhost" || host.toLowerCase().endsWith(".localhost")) {
    return [{ address: "127.0.0.1", family: 4 }];
  }
  try {
    return await lookup(host, { all: true });
  } catch (cause) {
    throw new EnvironmentError(`cannot resolve Clair's host "${host}" to choose the layer server's address`, {
      cause,
      hint: "check clair.url, or set serve.listen to the local address Clair can reach",
    });
  }
}

/**
 * The local address the kernel would use to send to `address:port`: a UDP socket's `connect()` only picks
 * a route and a source address, no packet leaves the machine.
 */
function findRouteAddress(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(address) === 6 ? "udp6" : "udp4");
    const fail = (cause: unknown) => {
      socket.close();
      reject(
        new EnvironmentError(`no route from this machine to Clair at ${formatHost(address)}:${port}`, {
          cause,
          hint: "set serve.listen to the local address Clair can reach (and serve.advertise if Clair sees it under another)",
        }),
      );
    };
    socket.once("error", fail);
    socket.connect(port, address, () => {
      let local: string;
      try {
        local = socket.address().address;
      } catch (cause) {
        fail(cause);
        return;
      }
      socket.removeListener("error", fail);
      socket.close();
      resolve(local);
    });
  });
}

/** The local address facing Clair: loopback when Clair is on loopback, else the route's source address. */
export async function findAddressTowardClair(clairUrl: string): Promise<string> {
  const { host, port } = clairEndpoint(clairUrl);
  const addresses = await resolveClairAddresses(host);
  const loopback = addresses.find((a) => isLoopbackAddress(a.address));
  if (loopback) return loopback.family === 6 && loopback.address === "::1" ? "::1" : "127.0.0.1";
  // Prefer IPv4, as Go's resolver does for Clair's own dials in dual-stack setups ("happy eyeballs" starts there).
  const target = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (target === undefined) {
    throw new EnvironmentError(`Clair's host "${host}" resolved to no address`, {
      hint: "check clair.url, or set serve.listen to the local address Clair can reach",
    });
  }
  return findRouteAddress(target.address, port);
}

/** Decides the bind address from `serve.listen` and Clair's URL. */
export async function resolveListenAddress(clairUrl: string, listen: string): Promise<ListenPlan> {
  const spec = parseListen(listen);
  if (spec.host === "") {
    return { host: await findAddressTowardClair(clairUrl), port: spec.port, routeHost: undefined };
  }
  if (isWildcard(spec.host)) {
    return { host: spec.host, port: spec.port, routeHost: await findAddressTowardClair(clairUrl) };
  }
  return { host: spec.host, port: spec.port, routeHost: undefined };
}

/**
 * The base URL Clair is given: `serve.advertise` (its port defaulting to the listening port), else the
 * bound address (for a wildcard bind, the address that routes toward Clair).
 */
export function buildAdvertisedBase(
  advertise: AdvertiseSpec | undefined,
  bound: { address: string; port: number },
  routeHost: string | undefined,
): string {
  if (advertise) {
    const port = advertise.port ?? bound.port;
    return `${advertise.protocol}//${formatHost(advertise.hostname)}:${port}${advertise.pathPrefix}`;
  }
  const host = isWildcard(bound.address) && routeHost !== undefined ? routeHost : bound.address;
  return `http://${formatHost(host)}:${bound.port}`;
}
