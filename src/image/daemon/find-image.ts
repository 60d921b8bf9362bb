/**
 * Finding an image in the daemon by name, ID or digest. Docker resolves familiar names itself; podman
 * stores fully qualified names (`docker.io/library/x:tag`, `localhost/x:tag`), so when the daemon does
 * not know the name as written we look again under the names podman would have given it.
 */
import type Docker from "dockerode";
import { ImageError } from "../../errors.ts";
import type { Platform } from "../resolved-image.ts";
import { type DaemonEndpoint, statusCodeOf, translateDaemonError } from "./connection.ts";

/** A name split the way docker's reference grammar does (distribution/reference `ParseNormalizedNamed`). */
export interface DaemonName {
  /** `docker.io/library/alpine`, `localhost/app`, `127.0.0.1:5000/test/debian11`. */
  repository: string;
  /** Whether the user wrote the registry host, or docker.io was assumed. */
  explicitDomain: boolean;
  tag: string | undefined;
  digest: string | undefined;
}

const fullIdPattern = /^(sha256:)?[a-f0-9]{64}$/;
const shortIdPattern = /^(sha256:)?[a-f0-9]{4,63}$/;

/** An image ID, full (`sha256:…` or 64 hex) or short (a hex prefix, as `docker images` shows 12 of them). */
export function looksLikeImageId(text: string): boolean {
  return fullIdPattern.test(text) || (text.startsWith("sha256:") && shortIdPattern.test(text));
}

/**
 * Splits and normalises a name: `alpine` → `docker.io/library/alpine` + tag `latest` (when there is no
 * digest). Returns undefined for what cannot be a name (an ID, or text outside the grammar); the daemon is
 * still asked about it as written.
 */
export function parseDaemonName(text: string): DaemonName | undefined {
  if (looksLikeImageId(text) || text === "") return undefined;
  const at = text.indexOf("@");
  const digest = at < 0 ? undefined : text.slice(at + 1);
  const named = at < 0 ? text : text.slice(0, at);
  if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) return undefined;
  const slash = named.lastIndexOf("/");
  const colon = named.lastIndexOf(":");
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  const name = colon > slash ? named.slice(0, colon) : named;
  if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) return undefined;
  if (!/^[a-zA-Z0-9.:_/[\]-]+$/.test(name) || name.startsWith("/") || name.endsWith("/")) return undefined;
  const [first, ...rest] = name.split("/") as [string, ...string[]];
  // distribution/reference: the first component is a registry host when it has a dot or a port, or is localhost.
  const explicitDomain =
    rest.length > 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  let repository: string;
  if (explicitDomain) repository = name;
  else if (rest.length === 0) repository = `docker.io/library/${name}`;
  else repository = `docker.io/${name}`;
  // Older clients wrote index.docker.io; it is the same registry.
  repository = repository.replace(/^index\.docker\.io\//, "docker.io/");
  return {
    repository,
    explicitDomain,
    tag: tag ?? (digest === undefined ? "latest" : undefined),
    digest,
  };
}

/** `docker.io/library/alpine:latest`, the form every source reports. */
export function formatDaemonName(name: DaemonName): string {
  return `${name.repository}${name.tag === undefined ? "" : `:${name.tag}`}${name.digest === undefined ? "" : `@${name.digest}`}`;
}

/** The fields of `GET /images/{name}/json` we use (Engine API ImageInspect). */
export interface DaemonImageInspect {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Os: string;
  Architecture: string;
  Variant?: string;
  Size?: number;
  RootFS: { Type: string; Layers?: string[] };
}

/** Names podman might have stored `name` under, beyond the one written. */
export function alternativeNames(name: DaemonName): string[] {
  const suffix = `${name.tag === undefined ? "" : `:${name.tag}`}${name.digest === undefined ? "" : `@${name.digest}`}`;
  const names = [`${name.repository}${suffix}`];
  if (!name.explicitDomain) {
    // podman tags images loaded from OCI archives or built locally as localhost/<name>.
    const path = name.repository.replace(/^docker\.io\/(library\/)?/, "");
    names.push(`localhost/${path}${suffix}`);
  }
  return names;
}

/** Whether a RepoTags entry (familiar as docker shows it, or qualified as podman does) names `name`. */
export function repoTagMatches(repoTag: string, name: DaemonName): boolean {
  const parsed = parseDaemonName(repoTag);
  if (parsed === undefined || name.tag === undefined) return false;
  if (parsed.tag !== name.tag) return false;
  if (parsed.repository === name.repository) return true;
  return (
    !name.explicitDomain &&
    parsed.repository === alternativeNames({ ...name, tag: undefined, digest: undefined })[1]
  );
}

/** Whether a RepoDigests entry (`repo@sha256:…`) is of the same repository as `name`. */
export function repoDigestOf(repoDigest: string, name: DaemonName): string | undefined {
  const parsed = parseDaemonName(repoDigest);
  if (parsed?.digest === undefined) return undefined;
  return parsed.repository === name.repository ? parsed.digest : undefined;
}

export function platformOf(inspect: DaemonImageInspect): Platform {
  const variant = inspect.Variant;
  return variant === undefined || variant === ""
    ? { os: inspect.Os, architecture: inspect.Architecture }
    : { os: inspect.Os, architecture: inspect.Architecture, variant };
}

async function inspectByName(
  docker: Docker,
  endpoint: DaemonEndpoint,
  name: string,
): Promise<DaemonImageInspect | undefined> {
  try {
    return (await docker.getImage(name).inspect()) as unknown as DaemonImageInspect;
  } catch (err) {
    // 404 no such image; podman answers 400 or 500 for names it cannot parse the way it wants.
    if (statusCodeOf(err) === 404) return undefined;
    throw translateDaemonError(err, endpoint, `inspecting image ${name}`);
  }
}

export function imageNotFound(reference: string, endpoint: DaemonEndpoint): ImageError {
  return new ImageError(`image ${reference} not found in the Docker daemon at ${endpoint.display}`, {
    hint: "check the name with `docker images`, or add --docker-pull to have the daemon pull it first",
  });
}

/** Inspects the image `reference` names, trying podman's qualified names and the image list when needed. */
export async function findDaemonImage(
  docker: Docker,
  endpoint: DaemonEndpoint,
  reference: string,
): Promise<DaemonImageInspect> {
  const direct = await inspectByName(docker, endpoint, reference);
  if (direct !== undefined) return direct;
  const name = parseDaemonName(reference);
  if (name === undefined) throw imageNotFound(reference, endpoint);
  for (const alternative of alternativeNames(name)) {
    if (alternative === reference) continue;
    const found = await inspectByName(docker, endpoint, alternative);
    if (found !== undefined) return found;
  }
  // Last resort: the image list, matched on normalised names (a daemon's own lookup may be stricter).
  let listed: Array<{ Id: string; RepoTags?: string[] | null; RepoDigests?: string[] | null }>;
  try {
    listed = (await docker.listImages()) as unknown as typeof listed;
  } catch (err) {
    throw translateDaemonError(err, endpoint, "listing images");
  }
  const match = listed.find((image) =>
    name.digest === undefined
      ? (image.RepoTags ?? []).some((tag) => repoTagMatches(tag, name))
      : (image.RepoDigests ?? []).some((entry) => repoDigestOf(entry, name) === name.digest),
  );
  if (match !== undefined) {
    const found = await inspectByName(docker, endpoint, match.Id);
    if (found !== undefined) return found;
  }
  throw imageNotFound(reference, endpoint);
}
