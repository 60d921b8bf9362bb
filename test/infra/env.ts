import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The single-platform test images (see test/images/contents.ts). */
export type TestImageName = "debian11" | "debian11-multi" | "debian12" | "alpine315" | "alpine315-arm64";
export const testImageNames: readonly TestImageName[] = [
  "debian11",
  "debian11-multi",
  "debian12",
  "alpine315",
  "alpine315-arm64",
];

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageLayerInfo {
  /** sha256 of the gzip blob, as in the OCI and v2s2 manifests. */
  digest: string;
  size: number;
  /** The OCI media type (v2s2 manifests use application/vnd.docker.image.rootfs.diff.tar.gzip). */
  mediaType: string;
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  diffId: string;
  uncompressedSize: number;
  /** Absolute paths of the gzip blob and the uncompressed tar under `layers/`. */
  gzipPath: string;
  tarPath: string;
  /** The history step that created this layer. */
  createdBy: string;
}

export interface ExpectedPackage {
  name: string;
  version: string;
  /** The source package (dpkg `Source:`, apk `o:` origin) when it differs from the name. */
  source?: string;
  arch: string;
}

export interface TestImageInfo {
  name: TestImageName;
  platform: Platform;
  distribution: { id: string; versionId: string; prettyName: string };
  /** The OCI image manifest (pushed as `test/<name>:latest`). */
  ociManifest: { digest: string; size: number; mediaType: string };
  /** The Docker schema 2 manifest skopeo wrote for `test/<name>:v2s2`, as read back from the registry. */
  v2s2Manifest: { digest: string; size: number; mediaType: string; configDigest: string };
  config: { digest: string; size: number; mediaType: string };
  layers: ImageLayerInfo[];
  /** Every history entry of the config, in order (one has `empty_layer: true`). */
  history: Array<{ createdBy: string; emptyLayer: boolean }>;
  packages: ExpectedPackage[];
  /** Absolute paths of the image in each archive form. */
  archives: {
    /** docker-archive, legacy form (`<v1id>/layer.tar`), RepoTag `testimg/<name>:latest`. */
    docker: string;
    /** docker-archive, OCI-layout form as Docker >= 25 writes it (uncompressed blobs + manifest.json). */
    dockerOciLayout: string;
    /** oci-archive (OCI layout in a tar, gzip layers). */
    oci: string;
    /** What dockerd's own `docker save` wrote after loading (legacy form, real `<v1id>/layer.tar` files). */
    dockerSave?: string;
  };
  /** Reference inside the OCI layout dir: `oci:<imagesDir>/oci:<name>`. */
  ociLayoutRef: string;
  /** Repository tags pushed to every registry, and the tag loaded into the daemons. */
  refs: { oci: string; v2s2: string; daemon: string };
}

export interface MultiarchInfo {
  name: "multiarch";
  ociIndex: { digest: string; size: number; mediaType: string };
  /** The Docker manifest list from `skopeo copy --all --format v2s2`, read back from the registry. */
  v2s2List: { digest: string; size: number; mediaType: string };
  manifests: Array<{ image: TestImageName; digest: string; platform: Platform }>;
  archives: { oci: string };
  ociLayoutRef: string;
  refs: { oci: string; v2s2: string };
}

/** The contents of `images.json` in HC_IMAGES_DIR. */
export interface ImagesManifest {
  version: 1;
  imagesDir: string;
  ociDir: string;
  images: Record<TestImageName, TestImageInfo>;
  multiarch: MultiarchInfo;
  /** Pushed to the token registry only; anonymous clients may pull it. */
  publicRef: string;
}

export interface HarnessEnv {
  stateDir: string;
  dockerHost: string;
  podmanHost: string;
  registry: string;
  registryBasic: string;
  registryToken: string;
  tokenRealm: string;
  user: string;
  pass: string;
  imagesDir: string;
  images: ImagesManifest;
}

export const harnessVariables = {
  stateDir: "HC_STATE_DIR",
  dockerHost: "HC_DOCKER_HOST",
  podmanHost: "HC_PODMAN_HOST",
  registry: "HC_REGISTRY",
  registryBasic: "HC_REGISTRY_BASIC",
  registryToken: "HC_REGISTRY_TOKEN",
  tokenRealm: "HC_TOKEN_REALM",
  user: "HC_REGISTRY_USER",
  pass: "HC_REGISTRY_PASS",
  imagesDir: "HC_IMAGES_DIR",
} as const;

function readVariable(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`run the tests through \`npm test\`, which starts the services: missing ${name}`);
  }
  return value;
}

let cached: HarnessEnv | undefined;

/** The coordinates of the services `npm test` started; throws when run outside the harness. */
export function harnessEnv(): HarnessEnv {
  if (cached !== undefined) return cached;
  const v = harnessVariables;
  const imagesDir = readVariable(v.imagesDir);
  const env: HarnessEnv = {
    stateDir: readVariable(v.stateDir),
    dockerHost: readVariable(v.dockerHost),
    podmanHost: readVariable(v.podmanHost),
    registry: readVariable(v.registry),
    registryBasic: readVariable(v.registryBasic),
    registryToken: readVariable(v.registryToken),
    tokenRealm: readVariable(v.tokenRealm),
    user: readVariable(v.user),
    pass: readVariable(v.pass),
    imagesDir,
    images: JSON.parse(readFileSync(join(imagesDir, "images.json"), "utf8")) as ImagesManifest,
  };
  cached = env;
  return env;
}
