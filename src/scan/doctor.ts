/**
 * `doctor`: checks every hop a scan needs and says, for each broken one, how to fix it. Each hop is
 * checked for real: Clair is asked, the daemon is pinged, the image is resolved, and Clair must
 * download a small probe layer from the layer server.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import type { ClairClient } from "../clair/client.ts";
import type { LoadedConfig } from "../config/types.ts";
import { HyperclairError } from "../errors.ts";
import { MediaType, sha256Digest } from "../image/manifest.ts";
import { parseImageArgument } from "../image/reference.ts";
import type { ResolvedImage } from "../image/resolved-image.ts";
import { type PullRequest, pullImage, type ScanDeps } from "./pull-image.ts";
import { pushResolvedImage } from "./push-image.ts";
import { forgetPushes } from "./push-record.ts";

export type HopStatus = "ok" | "fail" | "skip";

export interface Hop {
  name: string;
  status: HopStatus;
  detail: string;
  /** For a failed hop: what to do. */
  fix?: string | undefined;
}

export interface DoctorRequest {
  loaded: LoadedConfig;
  /** Also check this image's source (registry auth, daemon, archive). */
  image?: PullRequest | undefined;
}

function failure(name: string, error: unknown): Hop {
  if (error instanceof HyperclairError)
    return { name, status: "fail", detail: error.message, fix: error.hint };
  return { name, status: "fail", detail: error instanceof Error ? error.message : String(error) };
}

export async function runDoctor(request: DoctorRequest, deps: ScanDeps): Promise<Hop[]> {
  const hops: Hop[] = [configHop(request.loaded)];
  const { config } = deps;

  let clair: ClairClient | undefined;
  try {
    const { connectClair } = await import("../clair/index.ts");
    clair = await connectClair(config.clair, { debug: deps.debug, cacheDir: deps.cacheDir });
    hops.push({ name: "clair", status: "ok", detail: `${clair.api} API at ${clair.url}` });
  } catch (error) {
    hops.push(failure("clair", error));
  }
  if (clair) {
    const health = await clair.health();
    for (const check of health.checks) {
      const [detail, fix] = check.detail.split("; ", 2) as [string, string | undefined];
      hops.push({
        name: `clair ${check.name}`,
        status: check.ok ? "ok" : "fail",
        detail: check.ok ? `${check.detail} (${check.url})` : `${detail} (${check.url})`,
        fix: check.ok ? undefined : fix,
      });
    }
    if (config.clair.psk.key || config.clair.psk.keyFile) {
      const authOk = health.checks
        .filter((check) => check.name !== "healthz" && check.name !== "readyz")
        .every((c) => c.ok);
      hops.push(
        authOk
          ? {
              name: "clair auth",
              status: "ok",
              detail: `Clair accepts the PSK token (issuer ${config.clair.psk.issuer})`,
            }
          : {
              name: "clair auth",
              status: "fail",
              detail: "Clair did not accept the request",
              fix: "check clair.psk.key and that clair.psk.issuer is in Clair's auth.psk.iss",
            },
      );
    }
  }
  hops.push(tlsHop(config.clair.url, config.clair.tls.ca, config.clair.tls.insecureSkipVerify, hops));

  const input = request.image
    ? parseImageArgument(request.image.image, { local: request.image.local === true })
    : undefined;
  hops.push(await daemonHop(deps, input?.kind === "daemon"));
  if (request.image) {
    try {
      const images = await pullImage(request.image, deps);
      const image = images[0]!;
      hops.push({
        name: input?.kind === "registry" ? "registry" : "image",
        status: "ok",
        detail: `${image.reference} resolved (${image.digest}, ${image.layers.length} layers)`,
      });
    } catch (error) {
      hops.push(failure(input?.kind === "registry" ? "registry" : "image", error));
    }
  }

  if (clair && hops.every((hop) => !hop.name.startsWith("clair") || hop.status === "ok")) {
    hops.push(await probeLayerServer(clair, deps));
  } else {
    hops.push({ name: "layer server", status: "skip", detail: "not checked: Clair must answer first" });
  }
  return hops;
}

function configHop(loaded: LoadedConfig): Hop {
  const where = loaded.file ?? "no configuration file (defaults, environment and flags)";
  const [first] = loaded.errors;
  if (first) {
    const at = first.file ? `${first.file}${first.line ? `:${first.line}` : ""}: ` : "";
    return {
      name: "config",
      status: "fail",
      detail: `${at}${first.key}: ${first.message}${loaded.errors.length > 1 ? ` (and ${loaded.errors.length - 1} more)` : ""}`,
      fix: "fix the value; `hyperclair config` lists every key and its source",
    };
  }
  const warnings = loaded.warnings.length > 0 ? `, ${loaded.warnings.length} warning(s)` : "";
  return { name: "config", status: "ok", detail: `${where}: valid${warnings}` };
}

function tlsHop(url: string, ca: string, insecure: boolean, hops: Hop[]): Hop {
  if (!url.startsWith("https:"))
    return { name: "tls", status: "skip", detail: "Clair is spoken to over plain HTTP" };
  const clairHop = hops.find((hop) => hop.name === "clair");
  if (insecure) {
    return {
      name: "tls",
      status: "ok",
      detail: "certificate checks are off (clair.tls.insecureSkipVerify)",
    };
  }
  if (clairHop?.status === "fail" && /TLS|certificate/i.test(clairHop.detail)) {
    return {
      name: "tls",
      status: "fail",
      detail: "Clair's certificate is not trusted",
      fix: "set clair.tls.ca to the CA that signed it",
    };
  }
  return {
    name: "tls",
    status: clairHop?.status === "ok" ? "ok" : "skip",
    detail:
      clairHop?.status === "ok"
        ? `Clair's certificate is trusted${ca ? ` (with ${ca})` : ""}`
        : "not checked",
  };
}

async function daemonHop(deps: ScanDeps, needed: boolean): Promise<Hop> {
  try {
    const { pingDaemon } = await import("../image/daemon/connection.ts");
    const version = await pingDaemon({ config: deps.config, env: deps.env });
    const product = version.product ? `${version.product} ` : "";
    return {
      name: "docker",
      status: "ok",
      detail: `${product}${version.version} (API ${version.apiVersion}) at ${version.endpoint.display}`,
    };
  } catch (error) {
    const hop = failure("docker", error);
    // The daemon matters only for local images; without one, registry and archive scans still work.
    return needed
      ? hop
      : { ...hop, status: "skip", detail: `${hop.detail} (needed only for --local images)` };
  }
}

/**
 * Clair must download a one-file layer from the layer server. The layer's bytes are new on every run, so
 * no Clair can answer from what it indexed before; afterwards the probe is deleted from Clair, from the
 * push record and from the cache, so repeated runs leave nothing behind.
 */
async function probeLayerServer(clair: ClairClient, deps: ScanDeps): Promise<Hop> {
  let probe: ResolvedImage | undefined;
  try {
    probe = await createProbeImage(deps.cacheDir);
    const outcome = await pushResolvedImage(clair, probe, { ...deps, onProgress: undefined, force: true });
    const served = Object.values(outcome.served).reduce((sum, bytes) => sum + bytes, 0);
    return {
      name: "layer server",
      status: served > 0 ? "ok" : "fail",
      detail:
        served > 0
          ? `Clair downloaded the probe layer from the layer server (${served} bytes)`
          : "Clair accepted the probe without downloading it",
      fix: served > 0 ? undefined : "Clair may be answering from a cache; try again",
    };
  } catch (error) {
    return failure("layer server", error);
  } finally {
    if (probe) {
      await clair.delete({ image: probe, layerIndexes: [0] }).catch(() => undefined);
      await forgetPushes(deps.cacheDir, clair.url, [probe.digest]).catch(() => undefined);
      const { location } = probe.layers[0]!;
      if (location.kind === "cache") await rm(location.path, { force: true });
    }
  }
}

async function createProbeImage(cacheDir: string): Promise<ResolvedImage> {
  const { pack } = await import("tar-stream");
  const { LayerCache } = await import("../image/cache.ts");
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on("data", (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    archive.on("end", resolve);
    archive.on("error", reject);
  });
  archive.entry(
    { name: "hyperclair-probe", mtime: new Date(0) },
    `probe ${randomBytes(16).toString("hex")}\n`,
  );
  archive.finalize();
  await ended;
  const blob = await new LayerCache(cacheDir).writeBuffer(Buffer.concat(chunks));
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [blob.digest] },
  });
  const configDigest = sha256Digest(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
    layers: [{ mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.size }],
  });
  return {
    reference: "hyperclair doctor probe",
    source: "oci-dir",
    digest: sha256Digest(manifest),
    digestKind: "manifest",
    manifestMediaType: MediaType.ociManifest,
    configDigest,
    platform: { os: "linux", architecture: "amd64" },
    tags: [],
    layers: [
      {
        index: 0,
        digest: blob.digest,
        diffId: blob.digest,
        size: blob.size,
        mediaType: MediaType.ociLayer,
        createdBy: undefined,
        chainId: blob.digest,
        location: { kind: "cache", path: blob.path },
      },
    ],
  };
}
