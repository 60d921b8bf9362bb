/** Wire shapes of Clair v4 (quay/clair `httptransport`, claircore); see NOTES.md §2. */

/** `GET /indexer/api/v1/index_state` (§2.4). */
export interface IndexStateWire {
  state: string;
}

/** The part of `GET /openapi/v1` we read: the API spec's version (§2.1). */
export interface OpenApiWire {
  info?: { title?: string; version?: string };
}
