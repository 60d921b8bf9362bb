/**
 * Clair v4 (quay/clair httptransport + ClairCore libindex, NOTES.md §2 and §3.2): synchronous indexing of
 * a manifest whose layers Clair downloads itself, digest and content-type checks, index_state with
 * ETag/If-None-Match, and vulnerability reports matched against the fixture feed on every request.
 */
import { createHash } from "node:crypto";
import type { FaultState } from "./faults.ts";
import { type FeedEntry, findVulnerabilities } from "./feed.ts";
import { decodeGoJson, describeGoJsonKind, GoJsonError } from "./go-json.ts";
import { type ApiRequest, emptyReply, goNotFound, jsonReply, type Reply } from "./http-common.ts";
import {
  type Compression,
  type LayerContents,
  parseApkInstalled,
  parseDpkgStatus,
  parseOsRelease,
  type ReadLayerResult,
  resolveStackFile,
} from "./layer-contents.ts";
import { downloadLayer, type LayerFetch } from "./layer-fetch.ts";

/** Opaque, 32 hex chars like ClairCore's MD5 over the scanner set; fixed because the scanners are. */
export const indexState = createHash("md5").update("emulator: dpkg/1 apk/1 os-release/1").digest("hex");
const digestPattern = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const ociLayerMediaType = /^application\/vnd\.oci\.image\.layer\.v1\.tar(\+(gzip|zstd))?$/;
const headerNamePattern = /^[a-zA-Z0-9\-_]+$/;
const cvssEnrichmentKind =
  "message/vnd.clair.map.vulnerability; enricher=clair.cvss schema=https://csrc.nist.gov/schema/nvd/feed/1.1/cvss-v3.x.json";

interface ManifestLayer {
  hash: string;
  uri: string;
  headers: Record<string, string[]>;
}

interface Manifest {
  hash: string;
  layers: ManifestLayer[];
}

interface WirePackage {
  id: string;
  name: string;
  version: string;
  kind?: string;
  source?: WirePackage;
  normalized_version: string;
  arch?: string;
  cpe: string;
}

interface WireDistribution {
  id: string;
  did: string;
  name: string;
  version: string;
  version_code_name: string;
  version_id: string;
  arch: string;
  cpe: string;
  pretty_name: string;
}

interface WireEnvironment {
  package_db: string;
  introduced_in: string;
  distribution_id: string;
  repository_ids: string[] | null;
}

interface IndexReport {
  manifest_hash: string;
  state: string;
  packages: Record<string, WirePackage>;
  distributions: Record<string, WireDistribution>;
  repository: Record<string, never>;
  environments: Record<string, WireEnvironment[]>;
  success: boolean;
  err: string;
}

/** What the matcher needs besides the report: the feed namespace and the names each package matches by. */
interface StoredIndex {
  report: IndexReport;
  namespace: string;
  matchNames: Map<string, string[]>;
}

class V4Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function apiError(status: number, code: string, message: string): Reply {
  return jsonReply(status, { code, message }, { "X-Content-Type-Options": "nosniff" });
}

const badManifest = (message: string) => new V4Failure(400, "bad-request", message);

/**
 * Decode and check a Manifest: Go's decoding errors for the wrong JSON types, and the manifest/layer
 * JSON Schemas (`schemas/manifest.schema.json`, `layer.schema.json`) for the rest, so a client that sends
 * what the spec forbids finds out here rather than in production.
 */
function decodeManifest(text: string): Manifest {
  let root: unknown;
  try {
    root = decodeGoJson(text);
  } catch (err) {
    if (err instanceof GoJsonError) throw badManifest(`failed to deserialize manifest: ${err.message}`);
    throw err;
  }
  const typeError = (kind: unknown, field: string, type: string) =>
    badManifest(
      `failed to deserialize manifest: json: cannot unmarshal ${describeGoJsonKind(kind)} into Go struct field ${field} of type ${type}`,
    );
  if (root === null || typeof root !== "object" || Array.isArray(root)) {
    throw badManifest(
      `failed to deserialize manifest: json: cannot unmarshal ${describeGoJsonKind(root)} into Go value of type claircore.Manifest`,
    );
  }
  const obj = root as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== "hash" && key !== "layers")
      throw badManifest(`failed to deserialize manifest: json: unknown field "${key}"`);
  }
  if (obj["hash"] !== undefined && typeof obj["hash"] !== "string")
    throw typeError(obj["hash"], "Manifest.hash", "claircore.Digest");
  const hash = (obj["hash"] as string | undefined) ?? "";
  if (hash !== "" && !digestPattern.test(hash)) {
    throw badManifest(`failed to deserialize manifest: invalid digest "${hash}"`);
  }
  const rawLayers = obj["layers"];
  if (rawLayers !== undefined && rawLayers !== null && !Array.isArray(rawLayers)) {
    throw typeError(rawLayers, "Manifest.layers", "[]*claircore.Layer");
  }
  const layers: ManifestLayer[] = [];
  for (const [index, raw] of ((rawLayers as unknown[] | null) ?? []).entries()) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw typeError(raw, "Manifest.layers", "claircore.Layer");
    }
    const layer = raw as Record<string, unknown>;
    for (const key of Object.keys(layer)) {
      if (!["hash", "uri", "headers", "media_type"].includes(key)) {
        throw badManifest(`failed to deserialize manifest: json: unknown field "${key}"`);
      }
    }
    if (typeof layer["hash"] !== "string" || !digestPattern.test(layer["hash"])) {
      throw badManifest(
        `failed to deserialize manifest: invalid digest ${JSON.stringify(layer["hash"] ?? "")}`,
      );
    }
    if (typeof layer["uri"] !== "string") throw typeError(layer["uri"] ?? null, "Layer.layers.uri", "string");
    let parsed: URL | undefined;
    try {
      parsed = new URL(layer["uri"]);
    } catch {
      parsed = undefined;
    }
    if (
      !parsed ||
      !/^[a-z][a-z0-9+.-]*:$/i.test(parsed.protocol) ||
      !/^[a-z][a-z0-9+.-]*:/i.test(layer["uri"])
    ) {
      throw badManifest(
        `bogus manifest: layer ${index}: uri ${JSON.stringify(layer["uri"])} is not an absolute URI`,
      );
    }
    const headers: Record<string, string[]> = {};
    const rawHeaders = layer["headers"];
    if (rawHeaders !== undefined && rawHeaders !== null) {
      if (typeof rawHeaders !== "object" || Array.isArray(rawHeaders)) {
        throw typeError(rawHeaders, "Layer.layers.headers", "http.Header");
      }
      for (const [name, values] of Object.entries(rawHeaders as Record<string, unknown>)) {
        if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) {
          throw typeError(
            Array.isArray(values) ? values.find((v) => typeof v !== "string") : values,
            "Layer.layers.headers",
            "[]string",
          );
        }
        if (!headerNamePattern.test(name)) {
          throw badManifest(`bogus manifest: layer ${index}: invalid header name ${JSON.stringify(name)}`);
        }
        headers[name] = values as string[];
      }
    }
    const mediaType = layer["media_type"];
    if (mediaType !== undefined && (typeof mediaType !== "string" || !ociLayerMediaType.test(mediaType))) {
      throw badManifest(
        `bogus manifest: layer ${index}: media_type ${JSON.stringify(mediaType)} is not an OCI layer type`,
      );
    }
    layers.push({ hash: layer["hash"], uri: layer["uri"], headers });
  }
  // ClairCore libindex: an empty hash or no layers is "bogus manifest".
  if (hash === "" || layers.length === 0) throw badManifest("bogus manifest");
  return { hash, layers };
}

/** ClairCore fetcher content-type rules (NOTES.md §3.2): sniff for generic types, agree for specific ones. */
function checkContentType(contentType: string, compression: Compression): string | undefined {
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  if (["", "text/plain", "binary/octet-stream", "application/octet-stream"].includes(mediaType))
    return undefined;
  let declared: Compression | undefined;
  if (
    mediaType === "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
    mediaType === "application/gzip" ||
    mediaType === "application/x-gzip" ||
    mediaType.endsWith(".tar+gzip")
  ) {
    declared = "gzip";
  } else if (mediaType === "application/zstd" || mediaType.endsWith(".tar+zstd")) {
    declared = "zstd";
  } else if (mediaType === "application/x-tar" || mediaType.endsWith(".tar")) {
    declared = "none";
  }
  if (declared === undefined) return `fetcher: unknown content-type "${mediaType}"`;
  if (declared !== compression) {
    return `fetcher: mismatched compression (content-type "${mediaType}", found "${compression}")`;
  }
  return undefined;
}

function acceptedType(accept: string | undefined, offered: string): string | undefined {
  if (!accept || accept.trim() === "") return offered;
  for (const part of accept.split(",")) {
    const [range, ...params] = part.trim().split(";");
    const type = range!.trim().toLowerCase();
    if (params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p))) continue;
    if (type === "*/*" || type === "application/*") return offered;
    if (type === offered || type === "application/json") return type;
  }
  return undefined;
}

export interface V4Context {
  faults: FaultState;
  onFetch(fetch: LayerFetch): void;
}

export class V4Emulator {
  private readonly indexes = new Map<string, StoredIndex>();
  private readonly scannedLayers = new Map<string, LayerContents>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly ids = new Map<string, string>();
  private nextId = 1;

  constructor(private readonly ctx: V4Context) {}

  /** Answer `req`, serving only the route families in `serves` (split mode gives each server one). */
  async handle(req: ApiRequest, serves: { indexer: boolean; matcher: boolean }): Promise<Reply> {
    const p = req.path;
    if (p === "/openapi/v1") return this.openapi(req);
    if (serves.indexer && p.startsWith("/indexer/api/v1/")) return this.indexerRoute(req);
    if (serves.matcher && p.startsWith("/matcher/api/v1/")) return this.matcherRoute(req);
    return goNotFound();
  }

  private methodNotAllowed(req: ApiRequest): Reply {
    return apiError(405, "method-not-allowed", `method disallowed: ${req.method}`);
  }

  private openapi(req: ApiRequest): Reply {
    if (req.method !== "GET") return this.methodNotAllowed(req);
    return jsonReply(
      200,
      {
        openapi: "3.1.0",
        info: { title: "Clair Container Analyzer", version: "1.2.0" },
        paths: {},
      },
      { "Content-Type": "application/openapi+json", ETag: `"${indexState}"` },
    );
  }

  private async indexerRoute(req: ApiRequest): Promise<Reply> {
    const rest = req.path.slice("/indexer/api/v1/".length);
    if (rest === "index_report") {
      if (req.method === "POST") return this.postIndexReport(req);
      if (req.method === "DELETE") return this.bulkDelete(req);
      return this.methodNotAllowed(req);
    }
    if (rest.startsWith("index_report/")) {
      const digest = decodeURIComponent(rest.slice("index_report/".length));
      if (req.method === "GET") return this.getIndexReport(req, digest);
      if (req.method === "DELETE") {
        if (!digestPattern.test(digest)) return apiError(400, "bad-request", `malformed path: ${req.path}`);
        this.indexes.delete(digest);
        return emptyReply(204);
      }
      return this.methodNotAllowed(req);
    }
    if (rest === "index_state") {
      if (req.method !== "GET") return this.methodNotAllowed(req);
      if (req.headers["if-none-match"] === `"${indexState}"`)
        return emptyReply(304, { ETag: `"${indexState}"` });
      const type = acceptedType(req.headers.accept, "application/vnd.clair.index_state.v1+json");
      if (!type) return apiError(415, "internal-error", "unable to negotiate common content-type");
      return jsonReply(200, { state: indexState }, { "Content-Type": type, ETag: `"${indexState}"` });
    }
    return goNotFound();
  }

  private async matcherRoute(req: ApiRequest): Promise<Reply> {
    const rest = req.path.slice("/matcher/api/v1/".length);
    if (!rest.startsWith("vulnerability_report/")) return goNotFound();
    if (req.method !== "GET") return this.methodNotAllowed(req);
    // v4.1+: 202 with no body until the matcher's first updater run has finished.
    if (this.ctx.faults.takeMatcherNotReady()) return emptyReply(202);
    const digest = decodeURIComponent(rest.slice("vulnerability_report/".length));
    if (!digestPattern.test(digest)) return apiError(400, "bad-request", `malformed path: ${req.path}`);
    const stored = this.indexes.get(digest);
    // v4.7.4+: only an IndexFinished report can be matched.
    if (stored?.report.state !== "IndexFinished") {
      return apiError(404, "not-found", `index report for manifest "${digest}" not found`);
    }
    return jsonReply(200, this.buildVulnerabilityReport(stored), { "Cache-Control": "max-age=21600" });
  }

  private getIndexReport(req: ApiRequest, digest: string): Reply {
    if (!digestPattern.test(digest)) return apiError(400, "bad-request", `malformed path: ${req.path}`);
    // The ETag check comes before the lookup in Clair, so a 304 says nothing about existence.
    if (req.headers["if-none-match"] === `"${indexState}"`)
      return emptyReply(304, { ETag: `"${indexState}"` });
    const type = acceptedType(req.headers.accept, "application/vnd.clair.index_report.v1+json");
    if (!type) return apiError(415, "internal-error", "unable to negotiate common content-type");
    const stored = this.indexes.get(digest);
    if (!stored) return apiError(404, "not-found", "index report not found");
    return jsonReply(200, stored.report, { "Content-Type": type, ETag: `"${indexState}"` });
  }

  private async bulkDelete(req: ApiRequest): Promise<Reply> {
    let list: unknown;
    try {
      list = decodeGoJson((await req.readBody()).toString("utf8"));
    } catch (err) {
      if (err instanceof GoJsonError)
        return apiError(400, "bad-request", `failed to deserialize bulk delete: ${err.message}`);
      throw err;
    }
    if (!Array.isArray(list) || list.some((d) => typeof d !== "string" || !digestPattern.test(d))) {
      return apiError(400, "bad-request", "failed to deserialize bulk delete: expected an array of digests");
    }
    const deleted = (list as string[]).filter((d) => this.indexes.delete(d));
    return jsonReply(200, deleted, { "Content-Type": "application/vnd.clair.bulk_delete.v1+json" });
  }

  private async postIndexReport(req: ApiRequest): Promise<Reply> {
    // Clients that remember the index state get 412 when nothing changed; no indexing happens.
    if (req.headers["if-none-match"] === `"${indexState}"`) return emptyReply(412);
    let manifest: Manifest;
    try {
      manifest = decodeManifest((await req.readBody()).toString("utf8"));
    } catch (err) {
      if (err instanceof V4Failure) return apiError(err.status, err.code, err.message);
      throw err;
    }
    // libindex takes a per-manifest lock: concurrent POSTs of one manifest run one after another.
    const previous = this.locks.get(manifest.hash) ?? Promise.resolve();
    const run = previous.then(() => this.indexManifest(manifest));
    this.locks.set(
      manifest.hash,
      run.catch(() => undefined),
    );
    let report: IndexReport;
    try {
      report = await run;
    } catch (err) {
      if (err instanceof V4Failure) return apiError(err.status, err.code, err.message);
      throw err;
    }
    const path = `/indexer/api/v1/index_report/${manifest.hash}`;
    // POST sets no Content-Type; Go's sniffing labels the JSON text/plain.
    return jsonReply(201, report, {
      "Content-Type": "text/plain; charset=utf-8",
      ETag: `"${indexState}"`,
      Location: path,
      Link: [
        `<${path}>; rel="https://projectquay.io/clair/v1/index_report"`,
        `</matcher/api/v1/vulnerability_report/${manifest.hash}>; rel="https://projectquay.io/clair/v1/vulnerability_report"`,
      ],
    });
  }

  private idFor(key: string): string {
    let id = this.ids.get(key);
    if (!id) {
      id = String(this.nextId++);
      this.ids.set(key, id);
    }
    return id;
  }

  private async indexManifest(manifest: Manifest): Promise<IndexReport> {
    const known = this.indexes.get(manifest.hash);
    if (known && known.report.state === "IndexFinished") return known.report;

    const failed = (status: number, message: string): V4Failure => {
      const report: IndexReport = {
        manifest_hash: manifest.hash,
        state: "IndexError",
        packages: {},
        distributions: {},
        repository: {},
        environments: {},
        success: false,
        err: message,
      };
      this.indexes.set(manifest.hash, { report, namespace: "", matchNames: new Map() });
      return new V4Failure(
        status,
        status === 400 ? "bad-request" : "internal-error",
        `failed to start scan: ${message}`,
      );
    };

    // FetchLayers: every layer not scanned before, all at once.
    const wanted = new Map<string, ManifestLayer>();
    for (const layer of manifest.layers) {
      if (!this.scannedLayers.has(layer.hash) && !wanted.has(layer.hash)) wanted.set(layer.hash, layer);
    }
    const results = await Promise.all(
      [...wanted.values()].map(async (layer) => {
        const outcome = await downloadLayer({
          url: layer.uri,
          headers: layer.headers,
          acceptStatus: (s) => s === 200,
          algorithm: layer.hash.startsWith("sha512:") ? "sha512" : "sha256",
          judge: (read: ReadLayerResult, contentType: string) => {
            if (read.digest !== layer.hash)
              return `fetcher: validation failed: got "${read.digest}", expected "${layer.hash}"`;
            return checkContentType(contentType, read.compression);
          },
          onFetch: this.ctx.onFetch,
        });
        return { layer, outcome };
      }),
    );
    const fetchErrors = results.flatMap(({ layer, outcome }) =>
      outcome.ok ? [] : [`fetcher: layer "${layer.hash}": ${outcome.error}`],
    );
    if (fetchErrors.length > 0) throw failed(500, `fetcher: encountered errors: ${fetchErrors.join("; ")}`);
    for (const { layer, outcome } of results) {
      if (!outcome.ok) continue;
      if (outcome.read.formatError) {
        throw failed(400, `layer "${layer.hash}": tarfs: format error: ${outcome.read.formatError}`);
      }
      this.scannedLayers.set(layer.hash, outcome.read.contents);
    }

    const stack = manifest.layers.map((l) => this.scannedLayers.get(l.hash)!);
    const stored = this.scanStack(manifest, stack);
    this.indexes.set(manifest.hash, stored);
    return stored.report;
  }

  /** ScanLayers + Coalesce: distribution, packages and the layer that introduced each package. */
  private scanStack(manifest: Manifest, stack: LayerContents[]): StoredIndex {
    const distribution = this.detectDistribution(stack);
    const distributions: Record<string, WireDistribution> = {};
    let namespace = "";
    if (distribution) {
      distributions[distribution.id] = distribution;
      namespace =
        distribution.did === "alpine"
          ? `alpine:v${/^(\d+\.\d+)/.exec(distribution.version_id)?.[1] ?? distribution.version_id}`
          : `${distribution.did}:${distribution.version_id}`;
    }
    type Found = { pkg: WirePackage; db: string; matchNames: string[]; key: string };
    /** A binary package as ClairCore reports it, with its source package (empty when there is none). */
    const found = (
      db: string,
      key: string,
      p: { name: string; version: string; arch: string },
      sourceKey: string,
      sourceName: string,
      matchNames: string[],
    ): Found => ({
      key,
      db,
      matchNames,
      pkg: {
        id: this.idFor(key),
        name: p.name,
        version: p.version,
        kind: "binary",
        source: sourceName
          ? {
              id: this.idFor(`${sourceKey}|${sourceName}|${p.version}`),
              name: sourceName,
              version: p.version,
              kind: "source",
              normalized_version: "",
              cpe: "",
            }
          : { id: this.idFor("src|"), name: "", version: "", normalized_version: "", cpe: "" },
        normalized_version: "",
        arch: p.arch,
        cpe: "",
      },
    });
    const packagesAt = (prefix: LayerContents[]): Found[] => {
      const all: Found[] = [];
      const dpkg = resolveStackFile(prefix, "var/lib/dpkg/status");
      if (dpkg) {
        for (const p of parseDpkgStatus(dpkg.toString("utf8"))) {
          if (!p.installed) continue;
          const names = [p.name, p.source.replace(/\s*\(.*\)$/, "")].filter((n) => n !== "");
          const key = `dpkg|${p.name}|${p.version}|${p.arch}|${p.source}`;
          all.push(found("var/lib/dpkg/status", key, p, "dpkg-src", p.source, names));
        }
      }
      const apk = resolveStackFile(prefix, "lib/apk/db/installed");
      if (apk) {
        for (const p of parseApkInstalled(apk.toString("utf8"))) {
          const key = `apk|${p.name}|${p.version}|${p.arch}`;
          all.push(found("lib/apk/db/installed", key, p, "apk-src", p.origin, [p.name]));
        }
      }
      return all;
    };
    const perPrefix = stack.map((_, k) => new Set(packagesAt(stack.slice(0, k + 1)).map((f) => f.key)));
    const final = packagesAt(stack);
    const packages: Record<string, WirePackage> = {};
    const environments: Record<string, WireEnvironment[]> = {};
    const matchNames = new Map<string, string[]>();
    for (const found of final) {
      // The package was introduced by the lowest layer from which it stays present up to the top.
      let introduced = stack.length - 1;
      while (introduced > 0 && perPrefix[introduced - 1]!.has(found.key)) introduced--;
      packages[found.pkg.id] = found.pkg;
      matchNames.set(found.pkg.id, found.matchNames);
      environments[found.pkg.id] = [
        {
          package_db: found.db,
          introduced_in: manifest.layers[introduced]!.hash,
          distribution_id: distribution?.id ?? "",
          repository_ids: null,
        },
      ];
    }
    return {
      namespace,
      matchNames,
      report: {
        manifest_hash: manifest.hash,
        state: "IndexFinished",
        packages,
        distributions,
        repository: {},
        environments,
        success: true,
        err: "",
      },
    };
  }

  private detectDistribution(stack: LayerContents[]): WireDistribution | undefined {
    const osRelease =
      resolveStackFile(stack, "etc/os-release") ?? resolveStackFile(stack, "usr/lib/os-release");
    const fields = osRelease ? parseOsRelease(osRelease.toString("utf8")) : {};
    const alpineRelease = resolveStackFile(stack, "etc/alpine-release")?.toString("utf8").trim();
    const did = fields["ID"]?.toLowerCase() ?? (alpineRelease ? "alpine" : undefined);
    if (!did) return undefined;
    const versionId = fields["VERSION_ID"] ?? alpineRelease ?? "";
    const fallbackName = did === "alpine" ? "Alpine Linux" : did;
    const shortAlpine = /^(\d+\.\d+)/.exec(versionId)?.[1] ?? versionId;
    const distribution: WireDistribution = {
      id: "",
      did,
      name: fields["NAME"] ?? fallbackName,
      version: fields["VERSION"] ?? (did === "alpine" ? shortAlpine : versionId),
      version_code_name: fields["VERSION_CODENAME"] ?? "",
      version_id: versionId,
      arch: "",
      cpe: "",
      pretty_name:
        fields["PRETTY_NAME"] ?? (did === "alpine" ? `Alpine Linux v${shortAlpine}` : fallbackName),
    };
    distribution.id = this.idFor(
      `dist|${distribution.did}|${distribution.version_id}|${distribution.pretty_name}`,
    );
    return distribution;
  }

  /** Matching runs on every request against the feed (nothing is stored), like Clair's matcher. */
  private buildVulnerabilityReport(stored: StoredIndex) {
    const { report } = stored;
    const vulnerabilities: Record<string, unknown> = {};
    const packageVulnerabilities: Record<string, string[]> = {};
    const cvss: Record<string, unknown[]> = {};
    const distribution = Object.values(report.distributions)[0];
    for (const pkg of Object.values(report.packages)) {
      const entries = stored.namespace
        ? findVulnerabilities(stored.namespace, stored.matchNames.get(pkg.id) ?? [pkg.name], pkg.version)
        : [];
      if (entries.length === 0) continue;
      packageVulnerabilities[pkg.id] = entries.map((e) => {
        const id = `${e.id}${this.vulnSuffix(e, pkg)}`;
        vulnerabilities[id] = this.wireVulnerability(id, e, pkg, distribution);
        if (e.cvss) cvss[id] = [e.cvss];
        return id;
      });
    }
    return {
      manifest_hash: report.manifest_hash,
      packages: report.packages,
      distributions: report.distributions,
      repository: report.repository,
      environments: report.environments,
      vulnerabilities,
      package_vulnerabilities: packageVulnerabilities,
      enrichments: Object.keys(cvss).length > 0 ? { [cvssEnrichmentKind]: [cvss] } : {},
    };
  }

  /** One feed entry can name several packages; each (entry, package name) is its own vulnerability row. */
  private vulnSuffix(entry: FeedEntry, pkg: WirePackage): string {
    return entry.packages.length > 1 ? String(entry.packages.indexOf(pkg.name) + 1) : "";
  }

  private wireVulnerability(
    id: string,
    e: FeedEntry,
    pkg: WirePackage,
    distribution: WireDistribution | undefined,
  ) {
    const debian = e.namespace.startsWith("debian:");
    const vulnerablePackage =
      debian && pkg.source?.name ? pkg.source.name.replace(/\s*\(.*\)$/, "") : pkg.name;
    const out: Record<string, unknown> = {
      id,
      updater: debian
        ? `debian/updater/${distribution?.version_code_name || e.namespace.slice(7)}`
        : `alpine-main-${e.namespace.slice(7)}-updater`,
      name: e.name,
      description: e.description,
      issued: e.issued,
      links: e.link,
      severity: e.vendorSeverity,
      normalized_severity: e.severity,
      package: {
        id: "",
        name: vulnerablePackage,
        version: "",
        kind: debian ? "source" : "binary",
        normalized_version: "",
        cpe: "",
      },
    };
    if (distribution) out["distribution"] = { ...distribution, id: "" };
    out["fixed_in_version"] = e.fixedIn;
    return out;
  }
}

/** Clair v4 introspection server: `/healthz` "ok", `/readyz` empty 200, `/metrics`. */
export function handleV4Introspection(req: ApiRequest): Reply {
  if (req.path === "/healthz") {
    return { status: 200, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "ok" };
  }
  if (req.path === "/readyz") {
    if (req.method !== "GET") return { status: 405, headers: {} };
    return { status: 200, headers: {} };
  }
  if (req.path === "/metrics") {
    return {
      status: 200,
      headers: { "Content-Type": "text/plain; version=0.0.4" },
      body: "# TYPE clair_emulator_up gauge\nclair_emulator_up 1\n",
    };
  }
  return goNotFound();
}
