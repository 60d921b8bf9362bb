import { ClairError, type ErrorDetails } from "../errors.ts";

/** What is known about the layer Clair failed to download. */
export interface LayerFetchDetails extends ErrorDetails {
  status?: number | undefined;
  /** Index into the image's layers (0 = base), when Clair's message names a layer we sent. */
  layerIndex?: number | undefined;
  /** The URL Clair was told to fetch that layer from, when the layer is known. */
  layerUrl?: string | undefined;
  /** Clair's own words, unchanged. */
  clairMessage?: string | undefined;
}

/**
 * Clair could not download a layer it was given: v1 answers 400 "could not find layer" (NOTES.md §3.1),
 * v4 answers 500 with a `fetcher:` message (unexpected status, digest validation, content type; §3.2).
 * A separate class so the push use-case can diagnose the hop that failed (did the layer server see
 * Clair's request? did the registry refuse Clair's token?) instead of printing Clair's message alone.
 */
export class LayerFetchError extends ClairError {
  readonly layerIndex: number | undefined;
  readonly layerUrl: string | undefined;
  readonly clairMessage: string | undefined;

  constructor(message: string, details: LayerFetchDetails = {}) {
    super(message, details);
    this.layerIndex = details.layerIndex;
    this.layerUrl = details.layerUrl;
    this.clairMessage = details.clairMessage;
  }
}
