import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, DaemonError, ExitCode } from "../../../src/errors.ts";
import {
  defaultDockerSocket,
  pingDaemon,
  resolveDaemonEndpoint,
} from "../../../src/image/daemon/connection.ts";
import { inspectDaemonImage } from "../../../src/image/daemon/daemon-source.ts";

const noSocket = () => false;

function endpointFor(
  host: string,
  env: Record<string, string>,
  exists: (path: string) => boolean = noSocket,
) {
  return resolveDaemonEndpoint({ config: { docker: { host } }, env, exists });
}

describe("daemon endpoint: the order docker uses", () => {
  it("takes docker.host from the config over DOCKER_HOST", () => {
    const endpoint = endpointFor("unix:///tmp/from-config.sock", {
      DOCKER_HOST: "unix:///tmp/from-env.sock",
    });
    assert.deepEqual(endpoint, {
      kind: "unix",
      socketPath: "/tmp/from-config.sock",
      source: "config",
      display: "unix:///tmp/from-config.sock",
    });
  });

  it("takes DOCKER_HOST when the config has no docker.host", () => {
    const endpoint = endpointFor("", { DOCKER_HOST: "unix:///tmp/from-env.sock" });
    assert.equal(endpoint.kind === "unix" && endpoint.socketPath, "/tmp/from-env.sock");
    assert.equal(endpoint.source, "DOCKER_HOST");
  });

  it("reads tcp with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH the way the docker CLI does", () => {
    const plain = endpointFor("", { DOCKER_HOST: "tcp://127.0.0.1:2375" });
    assert.deepEqual(plain, {
      kind: "tcp",
      host: "127.0.0.1",
      port: 2375,
      tls: undefined,
      source: "DOCKER_HOST",
      display: "tcp://127.0.0.1:2375",
    });
    const tls = endpointFor("", {
      DOCKER_HOST: "tcp://docker.example:9999",
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: "/certs",
    });
    assert.equal(tls.kind, "tcp");
    assert.deepEqual(tls.kind === "tcp" && tls.tls, {
      ca: "/certs/ca.pem",
      cert: "/certs/cert.pem",
      key: "/certs/key.pem",
    });
    // Without a port, TLS means 2376.
    const defaultPort = endpointFor("", {
      DOCKER_HOST: "tcp://10.0.0.1",
      DOCKER_TLS_VERIFY: "1",
      HOME: "/home/u",
    });
    assert.equal(defaultPort.kind === "tcp" && defaultPort.port, 2376);
    assert.equal(defaultPort.kind === "tcp" && defaultPort.tls?.ca, "/home/u/.docker/ca.pem");
  });

  it("falls back to /var/run/docker.sock, then podman's sockets", () => {
    const docker = endpointFor("", {}, (path) => path === defaultDockerSocket);
    assert.equal(docker.kind === "unix" && docker.socketPath, defaultDockerSocket);
    const rootless = endpointFor("", { XDG_RUNTIME_DIR: "/run/user/1000" }, (path) =>
      path.includes("podman"),
    );
    assert.equal(rootless.kind === "unix" && rootless.socketPath, "/run/user/1000/podman/podman.sock");
    assert.equal(rootless.source, "podman socket");
    const rootful = endpointFor("", {}, (path) => path === "/run/podman/podman.sock");
    assert.equal(rootful.kind === "unix" && rootful.socketPath, "/run/podman/podman.sock");
    // Nothing there: the docker socket is named, so the error says where we looked.
    const none = endpointFor("", {});
    assert.equal(none.display, `unix://${defaultDockerSocket}`);
  });

  it("rejects addresses it cannot use with a config error naming the setting", () => {
    assert.throws(
      () => endpointFor("ssh://user@host", {}),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.exitCode === ExitCode.usage &&
        /docker\.host "ssh:\/\/user@host"/.test(err.message),
    );
    assert.throws(
      () => endpointFor("", { DOCKER_HOST: "unix://" }),
      /DOCKER_HOST "unix:\/\/" names no socket/,
    );
  });
});

describe("daemon unreachable", () => {
  it("a missing socket is a one-line exit-3 DaemonError naming it, with the hint", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hc-daemon-"));
    try {
      const socket = join(dir, "docker.sock");
      await assert.rejects(
        pingDaemon({ config: { docker: { host: `unix://${socket}` } }, env: {} }),
        (err: unknown) => {
          assert.ok(err instanceof DaemonError);
          assert.equal(err.exitCode, ExitCode.external);
          assert.equal(err.message, `cannot reach the Docker daemon at unix://${socket}: socket not found`);
          assert.doesNotMatch(err.message, /\n/);
          assert.match(err.hint ?? "", /DOCKER_HOST or docker\.host/);
          return true;
        },
      );
      // The same for an image lookup, reached through DOCKER_HOST.
      await assert.rejects(
        inspectDaemonImage("alpine", {
          config: { docker: { host: "" } },
          cacheDir: join(dir, "cache"),
          env: { DOCKER_HOST: `unix://${socket}` },
        }),
        (err: unknown) =>
          err instanceof DaemonError &&
          err.message.includes(socket) &&
          /came from DOCKER_HOST/.test(err.hint ?? ""),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a refused tcp connection is an exit-3 DaemonError naming the address", async () => {
    // A port that was just free: listen, note it, close.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await assert.rejects(
      pingDaemon({ config: { docker: { host: `tcp://127.0.0.1:${port}` } }, env: {} }),
      (err: unknown) =>
        err instanceof DaemonError &&
        err.message === `cannot reach the Docker daemon at tcp://127.0.0.1:${port}: connection refused`,
    );
  });
});
