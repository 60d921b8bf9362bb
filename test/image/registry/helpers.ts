import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../src/config/load.ts";
import type { Config, RegistryConfig } from "../../../src/config/types.ts";

/** The default configuration, with `registry.*` overridden. */
export function testConfig(registry: Partial<RegistryConfig> = {}): Config {
  const { config } = loadConfig({ cwd: tmpdir(), home: tmpdir(), env: {}, flags: {} });
  return { ...config, registry: { ...config.registry, ...registry } };
}

export interface IsolatedHome {
  dir: string;
  /** HOME, XDG_CONFIG_HOME, DOCKER_CONFIG, XDG_RUNTIME_DIR inside `dir`; PATH kept; no proxies. */
  env: Record<string, string | undefined>;
  cleanup(): Promise<void>;
}

/** A private HOME so no real credentials or proxies leak into a test. */
export async function isolatedHome(): Promise<IsolatedHome> {
  const dir = await mkdtemp(join(tmpdir(), "hc-reg-"));
  const env = {
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, "config"),
    DOCKER_CONFIG: join(dir, "docker"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    PATH: process.env["PATH"],
  };
  return { dir, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

/** What a front answers to one request: forward it, or answer itself. */
export type FrontDecision = "forward" | { status: number; headers?: Record<string, string>; body?: string };

export interface Front {
  /** `127.0.0.1:PORT` */
  address: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  path: string,
  rewrite?: (headers: http.IncomingHttpHeaders) => void,
): void {
  const [host, port] = target.split(":") as [string, string];
  const upstream = http.request(
    { host, port: Number(port), method: req.method, path, headers: { ...req.headers, host: target } },
    (answer) => {
      const headers = { ...answer.headers };
      rewrite?.(headers);
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", (error) => {
    res.writeHead(502);
    res.end(String(error));
  });
  req.pipe(upstream);
}

/**
 * A loopback front for a registry: each request is forwarded to `target` unless `decide` answers it
 * (e.g. 429 once). `rewriteRealm` points Bearer challenges at the front's `/token`, forwarded to
 * `tokenRealm` with extra query parameters (a short `ttl`).
 */
export async function startFront(
  target: string,
  decide: (request: SeenRequest, index: number) => FrontDecision,
  options: { tokenRealm?: string; tokenQuery?: Record<string, string> } = {},
): Promise<Front> {
  const requests: SeenRequest[] = [];
  let address = "";
  const server = http.createServer((req, res) => {
    const seen = { method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization };
    requests.push(seen);
    if (options.tokenRealm !== undefined && seen.url.startsWith("/token")) {
      const realm = new URL(options.tokenRealm);
      const url = new URL(seen.url, "http://front");
      for (const [key, value] of Object.entries(options.tokenQuery ?? {})) url.searchParams.set(key, value);
      forward(req, res, realm.host, `${realm.pathname}${url.search}`);
      return;
    }
    const decision = decide(seen, requests.length - 1);
    if (decision !== "forward") {
      res.writeHead(decision.status, decision.headers ?? {});
      res.end(decision.body ?? "");
      return;
    }
    forward(req, res, target, seen.url, (headers) => {
      const challenge = headers["www-authenticate"];
      if (options.tokenRealm !== undefined && typeof challenge === "string") {
        headers["www-authenticate"] = challenge.replace(options.tokenRealm, `http://${address}/token`);
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  address = `127.0.0.1:${port}`;
  return {
    address,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}

export interface ForwardProxy {
  url: string;
  /** Absolute-form request URLs and CONNECT authorities that passed through, in order. */
  seen: string[];
  close(): Promise<void>;
}

/** A small HTTP forward proxy (absolute-form requests and CONNECT tunnels) that records what it carried. */
export async function startForwardProxy(
  options: { connectTo?: (authority: string) => string } = {},
): Promise<ForwardProxy> {
  const seen: string[] = [];
  // Tunnelled sockets leave the HTTP server's bookkeeping, so close() must end them itself.
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let target: URL;
    try {
      target = new URL(req.url ?? "");
    } catch {
      res.writeHead(400);
      res.end("absolute-form request expected");
      return;
    }
    forward(req, res, target.host, `${target.pathname}${target.search}`);
  });
  server.on("connect", (req: IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    tunnels.add(client);
    client.on("close", () => tunnels.delete(client));
    const authority = options.connectTo?.(req.url ?? "") ?? req.url ?? "";
    const [host, port] = authority.split(":") as [string, string];
    const upstream = net.connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => client.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const socket of tunnels) socket.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}

/** The Dockerfile step as hyperclair shows it: the shell and `#(nop)` prefixes of the raw history entry dropped. */
export function stepText(raw: string): string {
  return raw
    .replace(/^\/bin\/sh -c /, "")
    .replace(/^#\(nop\)\s+/, "")
    .trim();
}

/** A TLS front for the plain registry with a certificate for `hostname`, signed by a fresh self-signed CA file. */
export async function startTlsFront(
  target: string,
  hostname: string,
  dir: string,
): Promise<{ port: number; caFile: string; close(): Promise<void> }> {
  const keyFile = join(dir, "tls-key.pem");
  const certFile = join(dir, "tls-cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${hostname}`,
      "-addext",
      `subjectAltName=DNS:${hostname}`,
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: "ignore" },
  );
  const server = https.createServer(
    { key: readFileSync(keyFile), cert: readFileSync(certFile) },
    (req, res) => forward(req, res, target, req.url ?? "/"),
  );
  // A failed handshake leaves a socket the HTTP layer never saw; close() must end those too.
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as net.AddressInfo).port,
    caFile: certFile,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}
