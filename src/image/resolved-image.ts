/**
 * The one model every image source produces (registry, daemon, archives): what Clair needs to index
 * the image, and what a person needs to read the report.
 */

/** Where the image was read from. */
export type ImageSourceKind = "registry" | "daemon" | "docker-archive" | "oci-archive" | "oci-dir";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

/**
 * How a layer's bytes can be fetched — by Clair, or by the layer server on Clair's behalf.
 * `registry`: Clair downloads the blob from the registry itself, with a fresh repository-scoped token.
 * `cache`: the blob sits in hyperclair's content-addressed cache and is served by `src/serve/`.
 */
export type LayerLocation =
  | {
      kind: "registry";
      /** Absolute blob URL: `{scheme}://{host}/v2/{repository}/blobs/{digest}`. */
      url: string;
      /** Registry host as used for credentials, e.g. `registry-1.docker.io`, `127.0.0.1:5000`. */
      registry: string;
      repository: string;
      /** Token scope Clair's request needs, e.g. `repository:library/alpine:pull`. */
      scope: string;
    }
  | {
      kind: "cache";
      /** Path of the blob in the content-addressed cache (its name is its digest). */
      path: string;
    };

export interface ResolvedLayer {
  /** 0 = base layer. */
  index: number;
  /** Digest of exactly the bytes Clair will fetch (compressed blob digest, or the diff ID for uncompressed tars). */
  digest: string;
  /** Digest of the uncompressed tar (the config's `rootfs.diff_ids[index]`). */
  diffId: string;
  /** Size in bytes of the blob Clair will fetch. */
  size: number;
  mediaType: string;
  /** The Dockerfile step that made the layer (config history, empty layers skipped). */
  createdBy: string | undefined;
  /** OCI chain ID: sha256 over the parent chain and this diff ID (image-spec config.md "Layer ChainID"). */
  chainId: string;
  location: LayerLocation;
}

export interface ResolvedImage {
  /** The reference as the user gave it, normalised (e.g. `docker.io/library/alpine:latest`), or the archive path. */
  reference: string;
  source: ImageSourceKind;
  /**
   * The digest Clair knows the image by. For registry and archive images: the platform manifest digest.
   * For daemon images the daemon may not have a manifest: then it is the image ID (`digestKind: "image-id"`),
   * and the output says so.
   */
  digest: string;
  digestKind: "manifest" | "image-id";
  /** Media type of the (platform) manifest, when there is one. */
  manifestMediaType: string | undefined;
  configDigest: string;
  platform: Platform;
  /** Repository tags and digests the source knows for the image (daemon RepoTags/RepoDigests, archive RepoTags). */
  tags: string[];
  layers: ResolvedLayer[];
}
