/** Wire shapes of Clair v4 (quay/clair `httptransport`, claircore); see NOTES.md §2. */

/** `GET /indexer/api/v1/index_state` (§2.4). */
export interface IndexStateWire {
  state: string;
}

/** The part of `GET /openapi/v1` we read: the API spec's version (§2.1). */
export interface OpenApiWire {
  info?: { title?: string; version?: string };
}

/** One layer of the Manifest posted to `index_report` (§2.4); `headers` is a Go `http.Header`. */
export interface ManifestLayerWire {
  hash: string;
  uri: string;
  headers: Record<string, string[]>;
}

/** `POST /indexer/api/v1/index_report` body (§2.4). */
export interface ManifestWire {
  hash: string;
  layers: ManifestLayerWire[];
}

/**
 * Everything below is read leniently (§2.11): any key may be missing or null, and unknown keys are
 * ignored, so every field is optional here and checked where it is used.
 */
export interface PackageWire {
  id?: string | null;
  name?: string | null;
  version?: string | null;
  kind?: string | null;
  source?: PackageWire | null;
  arch?: string | null;
}

export interface DistributionWire {
  id?: string | null;
  did?: string | null;
  name?: string | null;
  version?: string | null;
  version_id?: string | null;
  pretty_name?: string | null;
}

export interface EnvironmentWire {
  package_db?: string | null;
  introduced_in?: string | null;
  distribution_id?: string | null;
  repository_ids?: string[] | null;
}

/** `GET/POST index_report` (§2.4, §2.5). */
export interface IndexReportWire {
  manifest_hash?: string | null;
  state?: string | null;
  packages?: Record<string, PackageWire | null> | null;
  distributions?: Record<string, DistributionWire | null> | null;
  environments?: Record<string, Array<EnvironmentWire | null> | null> | null;
  success?: boolean | null;
  err?: string | null;
}

export interface VulnerabilityWire {
  id?: string | null;
  name?: string | null;
  description?: string | null;
  links?: string | null;
  severity?: string | null;
  normalized_severity?: string | null;
  package?: PackageWire | null;
  distribution?: DistributionWire | null;
  fixed_in_version?: string | null;
}

/** `GET /matcher/api/v1/vulnerability_report/{digest}` (§2.6, §2.8). */
export interface VulnerabilityReportWire {
  manifest_hash?: string | null;
  packages?: Record<string, PackageWire | null> | null;
  distributions?: Record<string, DistributionWire | null> | null;
  environments?: Record<string, Array<EnvironmentWire | null> | null> | null;
  vulnerabilities?: Record<string, VulnerabilityWire | null> | null;
  package_vulnerabilities?: Record<string, string[] | null> | null;
  /** Type string → array of `{vulnerability id: [record, …]}` maps (§2.10). */
  enrichments?: Record<string, unknown[] | null> | null;
}
