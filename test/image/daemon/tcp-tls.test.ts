import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer as createTlsServer } from "node:tls";
import { DaemonError, ExitCode } from "../../../src/errors.ts";
import { pingDaemon } from "../../../src/image/daemon/connection.ts";
import { inspectDaemonImage, resolveDaemonImage } from "../../../src/image/daemon/daemon-source.ts";
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

/**
 * Like relay, but once the client asks for an export (`GET /images/…/get`) it forwards only `limit`
 * bytes of the answer and then drops both connections: a daemon dying mid-export.
 */
function cuttingRelay(limit: number) {
  return (client: Socket): void => {
    const upstream = connect(dockerSocket);
    let cutting = false;
    let forwarded = 0;
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      if (/GET \/[^ ]*images\/[^ ]+\/get /.test(chunk.toString("latin1"))) cutting = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!cutting) {
        client.write(chunk);
        return;
      }
      const room = limit - forwarded;
      forwarded += chunk.length;
      if (room > 0) client.write(chunk.subarray(0, room));
      if (forwarded >= limit) close();
    });
    client.on("error", close);
    upstream.on("error", close);
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  };
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

  it("a daemon that drops the connection mid-export: one exit-3 line, nothing half-written in the cache", async () => {
    const cutter = createServer(cuttingRelay(40 * 1024));
    servers.push(cutter);
    const port = await listen(cutter);
    const cacheDir = join(work, "cache-cut");
    await assert.rejects(
      resolveDaemonImage("testimg/debian11-multi", {
        config: { docker: { host: `tcp://127.0.0.1:${port}` } },
        cacheDir,
        env: {},
      }),
      (err: unknown) => {
        assert.ok(err instanceof DaemonError, String(err));
        assert.equal(err.exitCode, ExitCode.external);
        assert.doesNotMatch(err.message, /\n/);
        assert.match(err.message, /export of docker\.io\/testimg\/debian11-multi:latest/);
        return true;
      },
    );
    // Whatever reached the cache is whole and named by its digest; no temp file is left.
    const blobs = join(cacheDir, "blobs", "sha256");
    for (const file of existsSync(blobs) ? await readdir(blobs) : []) {
      const digest = createHash("sha256")
        .update(await readFile(join(blobs, file)))
        .digest("hex");
      assert.equal(digest, file);
    }
    const temp = join(cacheDir, "tmp");
    assert.deepEqual(existsSync(temp) ? await readdir(temp) : [], []);
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
