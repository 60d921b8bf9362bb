/**
 * The one view of Clair that the rest of hyperclair sees (STYLE.md rule 3): callers talk to a
 * `ClairClient` and never to v1 (Clair 1.x/2.x) or v4 wire shapes, which stay inside `v1/` and `v4/`.
 */

import type { ResolvedImage, ResolvedLayer } from "../image/resolved-image.ts";
import type { Finding, ScanPackage } from "../report/model.ts";

/** The HTTP API a Clair server speaks: "v1" (Clair 1.x/2.x, `/v1/...`) or "v4" (`/indexer/...`, `/matcher/...`). */
export type ClairApi = "v1" | "v4";

/** What the Clair layer needs from its caller besides the configuration. */
export interface ClairDeps {
  /** Receives one line per detail of each HTTP exchange (secrets already redacted), for `--debug`. */
  debug?: ((line: string) => void) | undefined;
  /** Where v4 keeps the index state each image was indexed under, across runs (the layer cache dir). */
  cacheDir?: string | undefined;
}

/** One ✔/✘ line of a health report. */
export interface HealthCheck {
  /** Short name of what was checked, e.g. `api`, `health`, `healthz`, `readyz`, `indexer`, `matcher`. */
  name: string;
  /** The URL that was requested. */
  url: string;
  ok: boolean;
  /** One short line: what was seen, or what failed and what to do. */
  detail: string;
}

/** The result of `ClairClient.health()`. */
export interface ClairHealth {
  api: ClairApi;
  /** The API base URL (the indexer's in a v4 split deployment). */
  apiUrl: string;
  /** What Clair tells about itself (v4: OpenAPI spec version and index state; v1: the API flavour). */
  version: string | undefined;
  checks: HealthCheck[];
  /** True when every check passed. */
  healthy: boolean;
}

/** Where Clair fetches one layer from, decided by the caller right before Clair needs it. */
export interface LayerTarget {
  /** Registry blob URL, or the layer server's URL for cached blobs. */
  url: string;
  /** Headers Clair must send on its GET (e.g. a fresh repository-scoped `Authorization`). Secret. */
  headers: Record<string, string>;
}

/** Something Clair said that is not a failure but changes what the report means. */
export interface ClairWarning {
  code: "no-supported-os" | "no-packages" | "no-distribution" | "matcher-not-ready";
  message: string;
  /** The layer it concerns, when it concerns one. */
  layerIndex?: number | undefined;
}

export type SubmitProgress =
  | { kind: "layer-skipped"; layerIndex: number }
  | { kind: "layer-submitting"; layerIndex: number }
  | { kind: "layer-done"; layerIndex: number }
  | { kind: "indexing"; layers: number }
  | { kind: "waiting"; reason: string; attempt: number };

export interface SubmitRequest {
  image: ResolvedImage;
  /**
   * Called for each layer Clair will actually fetch, just before it does (registry tokens are fetched
   * per push and expire; layer-server URLs exist only while the push runs).
   */
  layerTarget(layer: ResolvedLayer): Promise<LayerTarget>;
  onProgress?: ((event: SubmitProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface SubmitResult {
  /** Layers (v1) or manifests (v4: 0 or 1) Clair was asked to index now. */
  submitted: number;
  /** What Clair already had and was not asked again. */
  skipped: number;
  warnings: ClairWarning[];
}

export interface ReportRequest {
  image: ResolvedImage;
  onProgress?: ((event: SubmitProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Clair's findings for one image in the domain model (`src/report/model.ts`), before policy. */
export interface ClairReport {
  clair: { url: string; api: ClairApi; version?: string | undefined };
  packages: ScanPackage[];
  findings: Finding[];
  warnings: ClairWarning[];
}

export interface DeleteRequest {
  image: ResolvedImage;
  /**
   * v1 only: which of the image's layers to delete. Clair deletes a layer's descendants with it, and images
   * share base layers, so the caller decides after checking what else stands on them.
   */
  layerIndexes?: number[] | undefined;
  signal?: AbortSignal | undefined;
}

export interface DeleteResult {
  /** v4: the manifest digest; v1: the layer names (chain IDs) Clair deleted. */
  deleted: string[];
  /** What was not there (already deleted, never indexed). */
  missing: string[];
}

/** A connection to one Clair deployment. */
export interface ClairClient {
  readonly api: ClairApi;
  /** The API base URL (the indexer's in a v4 split deployment). */
  readonly url: string;
  /** Checks the API and the health endpoints; never throws for an unhealthy Clair, only returns ✘ checks. */
  health(): Promise<ClairHealth>;
  /** Whether Clair already has the image indexed (v4: IndexFinished under the current index state; v1: its top layer). */
  knows(image: ResolvedImage, signal?: AbortSignal): Promise<boolean>;
  /** Gets the image's layers to Clair, skipping what it already indexed. */
  submit(request: SubmitRequest): Promise<SubmitResult>;
  /** Clair's packages and vulnerabilities for an indexed image. */
  report(request: ReportRequest): Promise<ClairReport>;
  /** Removes the image's index data from Clair. */
  delete(request: DeleteRequest): Promise<DeleteResult>;
}
