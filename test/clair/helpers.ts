import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClairConfig } from "../../src/config/types.ts";

/** A complete `clair` section with the product defaults, for tests to override. */
export function makeClairConfig(overrides: Partial<ClairConfig> = {}): ClairConfig {
  return {
    url: "http://127.0.0.1:6060",
    api: "auto",
    indexer: "",
    matcher: "",
    timeout: 5_000,
    reportWait: 10_000,
    health: { url: "", port: 0 },
    psk: { key: "", keyFile: "", issuer: "hyperclair" },
    headers: {},
    tls: { ca: "", insecureSkipVerify: false },
    ...overrides,
  };
}

export interface LocalServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A real HTTP server on loopback, for answers the emulator does not give (HTML, custom errors, echo). */
export async function startHttpServer(handler: http.RequestListener): Promise<LocalServer> {
  return listen(http.createServer(handler), "http");
}

export async function startHttpsServer(
  tls: { key: string; cert: string },
  handler: http.RequestListener,
): Promise<LocalServer> {
  return listen(https.createServer(tls, handler), "https");
}

async function listen(server: http.Server, scheme: string): Promise<LocalServer> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port that nothing listens on (bound, then released). */
export async function findClosedPort(): Promise<number> {
  const server = await startHttpServer(() => {});
  const { port } = server;
  await server.close();
  return port;
}

export interface SelfSignedCert {
  dir: string;
  keyPath: string;
  certPath: string;
  remove(): void;
}

/** A self-signed certificate for `localhost` (and only that name), made by openssl in a temp dir. */
export function makeSelfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), "hyperclair-tls-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return { dir, keyPath, certPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Collects `--debug` lines. */
export function collectDebug(): { lines: string[]; debug: (line: string) => void } {
  const lines: string[] = [];
  return { lines, debug: (line) => lines.push(line) };
}
