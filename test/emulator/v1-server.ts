/**
 * Clair 2.x "v1" API (NOTES.md §1, behaviour recorded from a real Clair 2.1.0 in v1/recorded/README.md):
 * one layer per POST chained by ParentName, features from the layer stack, vulnerabilities from the
 * fixture feed, Clair 2.x's envelopes, messages and quirks (random Feature order, Alpine labelled dpkg).
 */

import { findVulnerabilities, listFeedNamespaces } from "./feed.ts";
import { decodeGoJson, describeGoJsonKind, GoJsonError, getGoField } from "./go-json.ts";
import { type ApiRequest, goNotFound, jsonReply, type Reply } from "./http-common.ts";
import {
  type LayerContents,
  parseApkInstalled,
  parseDpkgStatusClair2,
  parseOsRelease,
  resolveStackFile,
} from "./layer-contents.ts";
import { type DownloadOutcome, downloadLayer, type LayerFetch, readLocalLayer } from "./layer-fetch.ts";

/** Clair 2.x's worker engine version, echoed as `IndexedByVersion`. */
const engineVersion = 3;
/** api/v1/routes.go `maxBodySize`. */
const maxBodySize = 1048576;
const supportedFormats = new Set(["docker", "aci"]);

interface StoredFeature {
  name: string;
  version: string;
  addedBy: string;
}

interface StoredLayer {
  name: string;
  parentName: string;
  namespace: string;
  contents: LayerContents;
  features: StoredFeature[];
}

class V1Failure extends Error {
  constructor(
    readonly status: 400 | 422 | 500,
    message: string,
  ) {
    super(message);
  }
}

const v1Headers = { "Content-Type": "application/json;charset=utf-8", Server: "clair" };

function envelope(status: number, value: unknown): Reply {
  return jsonReply(status, value, v1Headers);
}

function errorReply(status: number, message: string): Reply {
  return envelope(status, { Error: { Message: message } });
}

interface PostedLayer {
  Name: string;
  NamespaceName: string;
  Path: string;
  Headers: Record<string, string> | undefined;
  ParentName: string;
  Format: string;
}

const stringFields = ["Name", "NamespaceName", "Path", "ParentName", "Format"] as const;

/** Decode `{"Layer":{…}}` with Go's rules: case-insensitive keys, nulls as zero values, typed errors. */
function decodeLayerEnvelope(text: string): PostedLayer | undefined {
  const root = decodeGoJson(text);
  if (root === null) return undefined;
  if (typeof root !== "object" || Array.isArray(root)) {
    throw new GoJsonError(
      `json: cannot unmarshal ${describeGoJsonKind(root)} into Go value of type v1.LayerEnvelope`,
    );
  }
  const layer = getGoField(root as Record<string, unknown>, "Layer");
  if (layer === null || layer === undefined) return undefined;
  if (typeof layer !== "object" || Array.isArray(layer)) {
    throw new GoJsonError(
      `json: cannot unmarshal ${describeGoJsonKind(layer)} into Go struct field LayerEnvelope.Layer of type v1.Layer`,
    );
  }
  const obj = layer as Record<string, unknown>;
  const out: PostedLayer = {
    Name: "",
    NamespaceName: "",
    Path: "",
    Headers: undefined,
    ParentName: "",
    Format: "",
  };
  for (const field of stringFields) {
    const value = getGoField(obj, field);
    if (value === null || value === undefined) continue;
    if (typeof value !== "string") {
      throw new GoJsonError(
        `json: cannot unmarshal ${describeGoJsonKind(value)} into Go struct field Layer.${field} of type string`,
      );
    }
    out[field] = value;
  }
  const headers = getGoField(obj, "Headers");
  if (headers !== null && headers !== undefined) {
    if (typeof headers !== "object" || Array.isArray(headers)) {
      throw new GoJsonError(
        `json: cannot unmarshal ${describeGoJsonKind(headers)} into Go struct field Layer.Headers of type map[string]string`,
      );
    }
    const map: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
      if (typeof v !== "string") {
        throw new GoJsonError(
          `json: cannot unmarshal ${describeGoJsonKind(v)} into Go struct field Layer.Headers of type string`,
        );
      }
      map[k] = v;
    }
    out.Headers = map;
  }
  const indexed = getGoField(obj, "IndexedByVersion");
  if (indexed !== null && indexed !== undefined && typeof indexed !== "number") {
    throw new GoJsonError(
      `json: cannot unmarshal ${describeGoJsonKind(indexed)} into Go struct field Layer.IndexedByVersion of type int`,
    );
  }
  return out;
}

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let k = out.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    [out[k], out[j]] = [out[j]!, out[k]!];
  }
  return out;
}

/** Clair 2.x namespace detectors: os-release (not for Alpine, recorded behaviour) and alpine-release. */
function detectNamespace(stack: LayerContents[]): string {
  const alpine = resolveStackFile(stack, "etc/alpine-release");
  if (alpine) {
    const m = /^(\d+)\.(\d+)/.exec(alpine.toString("utf8").trim());
    if (m) return `alpine:v${m[1]}.${m[2]}`;
  }
  const osRelease =
    resolveStackFile(stack, "etc/os-release") ?? resolveStackFile(stack, "usr/lib/os-release");
  if (osRelease) {
    const fields = parseOsRelease(osRelease.toString("utf8"));
    const id = fields["ID"]?.toLowerCase();
    const versionId = fields["VERSION_ID"];
    if (id && versionId && id !== "alpine") return `${id}:${versionId}`;
  }
  return "";
}

function detectFeatures(stack: LayerContents[]): Array<{ name: string; version: string }> {
  const dpkg = resolveStackFile(stack, "var/lib/dpkg/status");
  const apk = resolveStackFile(stack, "lib/apk/db/installed");
  const features = dpkg ? parseDpkgStatusClair2(dpkg.toString("utf8")) : [];
  if (apk)
    features.push(
      ...parseApkInstalled(apk.toString("utf8")).map((p) => ({ name: p.name, version: p.version })),
    );
  return features;
}

export interface V1Context {
  onFetch(fetch: LayerFetch): void;
}

export class V1Emulator {
  private readonly layers = new Map<string, StoredLayer>();

  constructor(private readonly ctx: V1Context) {}

  /** Route like Clair 2.x: `/v1` prefix to httprouter, everything else Go's plain 404. */
  async handle(req: ApiRequest): Promise<Reply> {
    if (!req.path.startsWith("/v1")) return goNotFound();
    const parts = req.path.split("/").slice(1);
    const allow = (methods: string[]): Reply | undefined =>
      methods.includes(req.method)
        ? undefined
        : {
            status: 405,
            headers: {
              Allow: methods.join(", "),
              "Content-Type": "text/plain; charset=utf-8",
              "X-Content-Type-Options": "nosniff",
            },
            body: "Method Not Allowed\n",
          };
    if (req.path === "/v1/layers") return allow(["POST"]) ?? this.postLayer(req);
    if (parts.length === 3 && parts[1] === "layers" && parts[2] !== "") {
      const name = decodeURIComponent(parts[2]!);
      const denied = allow(["GET", "DELETE"]);
      if (denied) return denied;
      return req.method === "GET" ? this.getLayer(name, req.query) : this.deleteLayer(name);
    }
    if (req.path === "/v1/namespaces") {
      return (
        allow(["GET"]) ??
        envelope(200, { Namespaces: listFeedNamespaces().map((n) => ({ Name: n, VersionFormat: "dpkg" })) })
      );
    }
    if (req.path === "/v1/metrics") {
      return (
        allow(["GET"]) ?? {
          status: 200,
          headers: { "Content-Type": "text/plain; version=0.0.4" },
          body:
            "# HELP clair_api_layers_indexed Layers currently indexed by the emulator.\n" +
            "# TYPE clair_api_layers_indexed gauge\n" +
            `clair_api_layers_indexed ${this.layers.size}\n`,
        }
      );
    }
    return { ...goNotFound(), headers: { ...goNotFound().headers, Server: "clair" } };
  }

  private async postLayer(req: ApiRequest): Promise<Reply> {
    const body = (await req.readBody(maxBodySize)).toString("utf8");
    let layer: PostedLayer | undefined;
    try {
      layer = decodeLayerEnvelope(body);
    } catch (err) {
      if (err instanceof GoJsonError) return errorReply(400, err.message);
      throw err;
    }
    if (!layer) return errorReply(400, "failed to provide layer");
    try {
      await this.processLayer(layer);
    } catch (err) {
      if (err instanceof V1Failure) return errorReply(err.status, err.message);
      throw err;
    }
    // Go struct order of api/v1 Layer; omitempty drops the empty ones.
    const echo: Record<string, unknown> = {};
    if (layer.Name) echo["Name"] = layer.Name;
    if (layer.Path) echo["Path"] = layer.Path;
    if (layer.Headers && Object.keys(layer.Headers).length > 0) echo["Headers"] = layer.Headers;
    if (layer.ParentName) echo["ParentName"] = layer.ParentName;
    if (layer.Format) echo["Format"] = layer.Format;
    echo["IndexedByVersion"] = engineVersion;
    return envelope(201, { Layer: echo });
  }

  /** Clair 2.x `worker.go` ProcessLayer, in its order of checks. */
  private async processLayer(layer: PostedLayer): Promise<void> {
    if (layer.Name === "") throw new V1Failure(400, "could not process a layer which does not have a name");
    if (layer.Path === "") throw new V1Failure(400, "could not process a layer which does not have a path");
    if (layer.Format === "")
      throw new V1Failure(400, "could not process a layer which does not have a format");
    // A known layer is never analysed again, whatever Path and ParentName say now.
    if (this.layers.has(layer.Name)) return;
    let parent: StoredLayer | undefined;
    if (layer.ParentName !== "") {
      parent = this.layers.get(layer.ParentName);
      if (!parent) throw new V1Failure(400, "worker: parent layer is unknown, it must be processed first");
    }
    if (!supportedFormats.has(layer.Format.toLowerCase())) {
      throw new V1Failure(400, `unsupported image format '${layer.Format}'`);
    }
    const outcome: DownloadOutcome = /^https?:\/\//i.test(layer.Path)
      ? await downloadLayer({
          url: layer.Path,
          headers: layer.Headers ?? {},
          acceptStatus: (s) => s >= 200 && s < 300,
          judge: (read) => (read.formatError ? "tarutil: could not extract the archive" : undefined),
          onFetch: this.ctx.onFetch,
        })
      : await readLocalLayer(layer.Path, this.ctx.onFetch);
    if (!outcome.ok) {
      if (outcome.error === "tarutil: could not extract the archive") throw new V1Failure(422, outcome.error);
      throw new V1Failure(400, "could not find layer");
    }
    if (outcome.read.formatError) throw new V1Failure(422, "tarutil: could not extract the archive");

    const stack = [...this.stackOf(parent), outcome.read.contents];
    const namespace = detectNamespace(stack) || parent?.namespace || "";
    const detected = detectFeatures(stack);
    if (detected.length > 0 && namespace === "") {
      throw new V1Failure(422, "worker: OS and/or package manager are not supported");
    }
    const inherited = new Map((parent?.features ?? []).map((f) => [`${f.name}#${f.version}`, f.addedBy]));
    const features = detected.map((f) => ({
      ...f,
      addedBy: inherited.get(`${f.name}#${f.version}`) ?? layer.Name,
    }));
    this.layers.set(layer.Name, {
      name: layer.Name,
      parentName: layer.ParentName,
      namespace,
      contents: outcome.read.contents,
      features,
    });
  }

  private stackOf(layer: StoredLayer | undefined): LayerContents[] {
    const stack: LayerContents[] = [];
    for (let l = layer; l; l = l.parentName ? this.layers.get(l.parentName) : undefined)
      stack.unshift(l.contents);
    return stack;
  }

  private getLayer(name: string, query: URLSearchParams): Reply {
    const layer = this.layers.get(name);
    if (!layer) return errorReply(404, "the resource cannot be found");
    const withVulnerabilities = query.has("vulnerabilities");
    const withFeatures = query.has("features") || withVulnerabilities;
    const out: Record<string, unknown> = { Name: layer.name };
    if (layer.namespace) out["NamespaceName"] = layer.namespace;
    if (layer.parentName) out["ParentName"] = layer.parentName;
    out["IndexedByVersion"] = engineVersion;
    if (withFeatures && layer.features.length > 0) {
      // Clair 2.x returns Features in a different order on every call (recorded); so does the emulator.
      out["Features"] = shuffle(layer.features).map((f) => {
        const feature: Record<string, unknown> = {
          Name: f.name,
          NamespaceName: layer.namespace,
          // Clair 2.x labels every namespace's features dpkg, Alpine included (recorded).
          VersionFormat: "dpkg",
          Version: f.version,
        };
        if (withVulnerabilities) {
          const vulns = findVulnerabilities(layer.namespace, [f.name], f.version).map((e) => {
            const v: Record<string, unknown> = { Name: e.name, NamespaceName: e.namespace };
            if (e.description) v["Description"] = e.description;
            if (e.link) v["Link"] = e.link;
            v["Severity"] = e.severity;
            if (e.nvd) v["Metadata"] = { NVD: e.nvd };
            if (e.fixedIn) v["FixedBy"] = e.fixedIn;
            return v;
          });
          if (vulns.length > 0) feature["Vulnerabilities"] = vulns;
        }
        feature["AddedBy"] = f.addedBy;
        return feature;
      });
    }
    return envelope(200, { Layer: out });
  }

  /** Deleting a layer deletes every layer whose parent chain contains it (recorded). */
  private deleteLayer(name: string): Reply {
    if (!this.layers.has(name)) return errorReply(404, "the resource cannot be found");
    const doomed = new Set([name]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const layer of this.layers.values()) {
        if (!doomed.has(layer.name) && doomed.has(layer.parentName)) {
          doomed.add(layer.name);
          grew = true;
        }
      }
    }
    for (const n of doomed) this.layers.delete(n);
    return { status: 200, headers: { Server: "clair" } };
  }
}

/** Clair 2.x health port: `GET /health` answers 200, empty, `Server: clair`. */
export function handleV1Health(req: ApiRequest): Reply {
  if (req.path === "/health") return { status: 200, headers: { Server: "clair" } };
  return goNotFound();
}
