/** Wire shapes of the v1 API (Clair 1.x/2.x `api/v1/models.go`); PascalCase keys, every field omitempty. */

export interface NamespaceWire {
  Name: string;
  VersionFormat?: string;
}

/** `GET /v1/namespaces`. */
export interface NamespacesEnvelope {
  Namespaces?: NamespaceWire[] | null;
  Error?: { Message?: string };
}

/** `{"Error":{"Message":…}}`, the error member of every envelope (NOTES.md §1.2). */
export interface ErrorWire {
  Message?: string;
  Type?: string;
}

/** One vulnerability of a feature in a layer answer; `FixedBy` is absent when there is no fix. */
export interface VulnerabilityWire {
  Name?: string;
  NamespaceName?: string;
  Description?: string;
  Link?: string;
  Severity?: string;
  /** e.g. `{"NVD":{"CVSSv2":{"Score":5,"Vectors":"AV:N/…"},"CVSSv3":{…}}}` (Clair 2.x). */
  Metadata?: Record<string, unknown> | null;
  FixedBy?: string;
}

/** A package Clair found in the layer stack. */
export interface FeatureWire {
  Name?: string;
  NamespaceName?: string;
  /** Clair 2.x only; "dpkg" even for Alpine (recorded). */
  VersionFormat?: string;
  Version?: string;
  Vulnerabilities?: VulnerabilityWire[] | null;
  /** The Name of the layer that introduced the feature. */
  AddedBy?: string;
}

/** `api/v1/models.go` Layer: what is POSTed, and what GET answers. */
export interface LayerWire {
  Name?: string;
  NamespaceName?: string;
  Path?: string;
  Headers?: Record<string, string>;
  ParentName?: string;
  Format?: string;
  /** Worker engine version: 2 in Clair 1.x, 3 in Clair 2.x. */
  IndexedByVersion?: number;
  Features?: FeatureWire[] | null;
}

/** `POST /v1/layers` body and `GET /v1/layers/:name` answer. */
export interface LayerEnvelope {
  Layer?: LayerWire | null;
  Error?: ErrorWire | null;
}
