import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer as createTlsServer } from "node:tls";
import { DaemonError } from "../../../src/errors.ts";
import { pingDaemon } from "../../../src/image/daemon/connection.ts";
import { inspectDaemonImage } from "../../../src/image/daemon/daemon-source.ts";
import { harnessEnv } from "../../infra/env.ts";

const env = harnessEnv();
const dockerSocket = env.dockerHost.replace(/^unix:\/\//, "");

/** Relays each connection to dockerd's unix socket: dockerd itself only listens there. */
function relay(client: Socket): void {
  const upstream = connect(dockerSocket);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "ignore" });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as `dockerd --tlsverify` uses them. */
async function makeCertificates(dir: string, caName: string): Promise<void> {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      `/CN=${caName}`,
    ],
    dir,
  );
  await writeFile(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await writeFile(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [who, cn] of [
    ["server", "127.0.0.1"],
    ["client", "client"],
  ] as const) {
    const keyFile = who === "client" ? "key.pem" : "server-key.pem";
    const certFile = who === "client" ? "cert.pem" : "server-cert.pem";
    openssl(
      [
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        `${who}.csr`,
        "-subj",
        `/CN=${cn}`,
      ],
      dir,
    );
    openssl(
      [
        "x509",
        "-req",
        "-in",
        `${who}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        certFile,
        "-days",
        "2",
        "-extfile",
        `${who}.ext`,
      ],
      dir,
    );
  }
}

describe("daemon over tcp, as DOCKER_HOST and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH point at it", () => {
  let work: string;
  let certs: string;
  let otherCerts: string;
  const servers: Server[] = [];
  let plainPort: number;
  let tlsPort: number;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hc-daemon-tcp-"));
    certs = join(work, "certs");
    otherCerts = join(work, "other");
    execFileSync("mkdir", ["-p", certs, otherCerts]);
    await makeCertificates(certs, "hc-test-ca");
    await makeCertificates(otherCerts, "hc-other-ca");
    const plain = createServer(relay);
    servers.push(plain);
    plainPort = await listen(plain);
    const tls = createTlsServer(
      {
        key: readFileSync(join(certs, "server-key.pem")),
        cert: readFileSync(join(certs, "server-cert.pem")),
        ca: readFileSync(join(certs, "ca.pem")),
        requestCert: true,
        rejectUnauthorized: true,
      },
      relay,
    );
    tls.on("tlsClientError", () => undefined);
    servers.push(tls);
    tlsPort = await listen(tls);
  });

  after(async () => {
    for (const server of servers) server.close();
    await rm(work, { recursive: true, force: true });
  });

  it("plain tcp://: reports the daemon's API version and finds images", async () => {
    const variables = { DOCKER_HOST: `tcp://127.0.0.1:${plainPort}` };
    const version = await pingDaemon({ config: { docker: { host: "" } }, env: variables });
    assert.match(version.apiVersion, /^1\.\d+$/);
    assert.equal(version.endpoint.display, `tcp://127.0.0.1:${plainPort}`);
    const image = await inspectDaemonImage("testimg/debian12", {
      config: { docker: { host: "" } },
      cacheDir: join(work, "cache"),
      env: variables,
    });
    assert.equal(image.id, env.images.images.debian12.config.digest);
  });

  it("tcp:// with DOCKER_TLS_VERIFY: mutual TLS with the certificates in DOCKER_CERT_PATH", async () => {
    const variables = {
      DOCKER_HOST: `tcp://127.0.0.1:${tlsPort}`,
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: certs,
    };
    const version = await pingDaemon({ config: { docker: { host: "" } }, env: variables });
    assert.match(version.apiVersion, /^1\.\d+$/);
    const image = await inspectDaemonImage("testimg/alpine315", {
      config: { docker: { host: "" } },
      cacheDir: join(work, "cache"),
      env: variables,
    });
    assert.equal(image.id, env.images.images.alpine315.config.digest);
  });

  it("a daemon certificate from another CA is refused with an exit-3 DaemonError", async () => {
    const variables = {
      DOCKER_HOST: `tcp://127.0.0.1:${tlsPort}`,
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: otherCerts,
    };
    await assert.rejects(pingDaemon({ config: { docker: { host: "" } }, env: variables }), (err: unknown) => {
      assert.ok(err instanceof DaemonError, String(err));
      assert.ok(
        err.message.startsWith(`cannot reach the Docker daemon at tcp://127.0.0.1:${tlsPort}: `),
        err.message,
      );
      return true;
    });
  });

  it("missing certificate files are named", async () => {
    const variables = {
      DOCKER_HOST: `tcp://127.0.0.1:${tlsPort}`,
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: join(work, "nowhere"),
    };
    await assert.rejects(
      pingDaemon({ config: { docker: { host: "" } }, env: variables }),
      new RegExp(`cannot read ${join(work, "nowhere", "ca.pem")}`),
    );
  });
});
