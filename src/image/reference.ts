/**
 * Image references, parsed and normalised the way docker does it: the grammar of
 * distribution/reference (reference.go, normalize.go), so `alpine` means `docker.io/library/alpine:latest`.
 * https://github.com/distribution/reference/blob/main/reference.go
 * Pure functions; every rejection is an ImageError (exit 2) naming the rule broken.
 */
import { ImageError } from "../errors.ts";

export interface ImageReference {
  /** Registry host as the user names it, e.g. `docker.io`, `localhost:5000`, `ghcr.io`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/alpine`. */
  path: string;
  tag?: string | undefined;
  /** When present it wins for fetching; the tag is kept for display. */
  digest?: string | undefined;
  /** The short form docker prints: `alpine:latest`, `user/app:1`, `localhost:5000/x:latest`. */
  familiar: string;
  /** Fully qualified: `docker.io/library/alpine:latest`. */
  canonical: string;
  /** The host the distribution API is spoken to: `registry-1.docker.io` for `docker.io`. */
  apiHost: string;
}

export type ImageInput =
  | { kind: "registry"; reference: ImageReference }
  /**
   * `name` is what the daemon is asked for: the canonical reference, or an image ID (full, `sha256:…`,
   * or a short prefix) as given, which has no reference.
   */
  | { kind: "daemon"; reference: ImageReference | undefined; name: string }
  | { kind: "docker-archive" | "oci-archive" | "oci-dir"; path: string; selector?: string };

/** `docker images` IDs: `sha256:` + 64 hex, 64 hex, or a prefix of at least 12 (as docker prints them). */
const imageIdArgument = /^(?:sha256:[a-f0-9]{64}|[a-f0-9]{12,64})$/;

function daemonInput(text: string): ImageInput {
  if (imageIdArgument.test(text)) return { kind: "daemon", reference: undefined, name: text };
  const reference = parseReference(text);
  return { kind: "daemon", reference, name: reference.canonical };
}

export const defaultDomain = "docker.io";
const legacyDefaultDomain = "index.docker.io";
const dockerHubApiHost = "registry-1.docker.io";
const officialRepoPrefix = "library/";
const nameTotalLengthMax = 255;

// distribution/reference regexp.go, piece by piece so a failure can say which rule it broke.
const domainComponent = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const ipv6Host = /^\[(?:[a-fA-F0-9:]+)\]$/;
const portPattern = /^[0-9]+$/;
const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const sha256Pattern = /^sha256:[a-f0-9]{64}$/;
const identifierPattern = /^[a-f0-9]{64}$/;

function invalid(input: string, rule: string): never {
  throw new ImageError(`invalid reference format ${JSON.stringify(input)}: ${rule}`, {
    hint: "write it as [registry[:port]/]repository[:tag][@digest], e.g. alpine:3.19 or ghcr.io/org/app@sha256:…",
  });
}

function checkDomain(input: string, domain: string): void {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith("[")) {
    const close = domain.indexOf("]");
    host = close < 0 ? domain : domain.slice(0, close + 1);
    const rest = close < 0 ? "" : domain.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) invalid(input, `registry host ${JSON.stringify(domain)} is malformed`);
      port = rest.slice(1);
    }
    if (!ipv6Host.test(host))
      invalid(input, `registry host ${JSON.stringify(domain)} is not a valid IPv6 address`);
  } else {
    const colon = domain.lastIndexOf(":");
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (host === "" || !host.split(".").every((part) => domainComponent.test(part))) {
      invalid(
        input,
        `registry host ${JSON.stringify(host)} must be dot-separated names of letters, digits and inner hyphens`,
      );
    }
  }
  if (port !== undefined && !portPattern.test(port)) {
    invalid(input, `registry port ${JSON.stringify(port)} must be a number`);
  }
}

/** Splits `name` into registry domain and repository path exactly as normalize.go splitDockerDomain does. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = slash < 0 ? "" : name.slice(0, slash);
  // The first component is a registry only when it looks like one: it has a dot or a port, is
  // `localhost`, or has upper-case letters (which a repository path may not have).
  if (
    slash < 0 ||
    (!first.includes(".") && !first.includes(":") && first !== "localhost" && first.toLowerCase() === first)
  ) {
    domain = defaultDomain;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === legacyDefaultDomain) domain = defaultDomain;
  if (domain === defaultDomain && !remainder.includes("/")) remainder = officialRepoPrefix + remainder;
  return { domain, remainder };
}

/**
 * Parses a docker-style image reference and normalises it (distribution/reference ParseNormalizedNamed
 * followed by TagNameOnly: `latest` is added only when neither tag nor digest was given).
 */
export function parseReference(input: string): ImageReference {
  if (input === "") invalid(input, "repository name must have at least one component");
  if (/\s/.test(input)) invalid(input, "it must not contain white space");
  if (identifierPattern.test(input)) {
    invalid(input, "a 64-character hexadecimal string is an image ID, not a repository name");
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) {
      invalid(
        input,
        `digest ${JSON.stringify(digest)} must be algorithm:hex (e.g. sha256: and 64 hex digits)`,
      );
    }
    if (digest.startsWith("sha256:") && !sha256Pattern.test(digest)) {
      invalid(input, `sha256 digest ${JSON.stringify(digest)} must be 64 lower-case hex digits`);
    }
  }

  // The tag is after the last ':' that comes after the last '/', so `host:5000/app` has no tag.
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) {
      invalid(
        input,
        `tag ${JSON.stringify(tag)} must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
      );
    }
  }
  if (rest === "") invalid(input, "repository name must have at least one component");

  const { domain, remainder } = splitDockerDomain(rest);
  if (remainder.toLowerCase() !== remainder) invalid(input, "repository name must be lowercase");
  checkDomain(input, domain);
  const components = remainder.split("/");
  for (const component of components) {
    if (component === "") invalid(input, "repository path components must not be empty");
    if (!pathComponent.test(component)) {
      invalid(
        input,
        `repository path component ${JSON.stringify(component)} must be lower-case letters and digits, separated by '.', '_', '__' or '-'`,
      );
    }
  }
  const name = `${domain}/${remainder}`;
  if (name.length > nameTotalLengthMax) {
    invalid(input, `repository name must not be more than ${nameTotalLengthMax} characters`);
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return buildReference(domain, remainder, tag, digest);
}

function buildReference(
  domain: string,
  path: string,
  tag: string | undefined,
  digest: string | undefined,
): ImageReference {
  const suffix = (tag === undefined ? "" : `:${tag}`) + (digest === undefined ? "" : `@${digest}`);
  let familiarName = `${domain}/${path}`;
  // normalize.go familiarizeName: docker.io and library/ are left out of what people read.
  if (domain === defaultDomain) {
    familiarName =
      path.startsWith(officialRepoPrefix) && path.split("/").length === 2
        ? path.slice(officialRepoPrefix.length)
        : path;
  }
  return {
    domain,
    path,
    tag,
    digest,
    familiar: familiarName + suffix,
    canonical: `${domain}/${path}${suffix}`,
    apiHost: domain === defaultDomain ? dockerHubApiHost : domain,
  };
}

/** What the registry is asked for: the digest when there is one, else the tag. */
export function manifestReferenceOf(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? "latest";
}

const archivePrefixes = {
  "docker-archive:": "docker-archive",
  "oci-archive:": "oci-archive",
  "oci:": "oci-dir",
} as const;

/**
 * A prefix such as `registry:` or `docker:` could also be a registry host with a port (`registry:5000/app`,
 * as in docker's own examples): a port followed by a path means a host, not a source.
 */
function looksLikeHostWithPort(afterPrefix: string): boolean {
  return /^[0-9]+\//.test(afterPrefix);
}

/**
 * Reads an image argument: a docker-style reference, or an explicit source (`registry:REF`,
 * `docker:REF` = `--local`, `docker-archive:PATH[:REF]`, `oci-archive:PATH[:REF]`, `oci:DIR[:REF]`, the
 * transports of skopeo and grype). `docker://REF` is skopeo's spelling of a registry image and is read so.
 */
export function parseImageArgument(arg: string, options: { local?: boolean } = {}): ImageInput {
  const local = options.local === true;
  const conflict = (source: string): never => {
    throw new ImageError(`${JSON.stringify(arg)} names a ${source} but --local asks for the Docker daemon`, {
      hint: "drop --local, or name a daemon image (docker:REF)",
    });
  };
  if (arg.startsWith("docker://")) {
    if (local) conflict("registry image");
    return { kind: "registry", reference: parseReference(arg.slice("docker://".length)) };
  }
  for (const [prefix, kind] of Object.entries(archivePrefixes)) {
    if (!arg.startsWith(prefix)) continue;
    const body = arg.slice(prefix.length);
    if (looksLikeHostWithPort(body)) break;
    if (local) conflict(kind);
    // skopeo splits PATH from the optional image selector at the first ':' (oci_transport.go).
    const colon = body.indexOf(":");
    const path = colon < 0 ? body : body.slice(0, colon);
    const selector = colon < 0 ? undefined : body.slice(colon + 1);
    if (path === "") {
      throw new ImageError(`${JSON.stringify(arg)}: the ${prefix} source needs a path`, {
        hint: `write it as ${prefix}PATH`,
      });
    }
    return selector === undefined || selector === "" ? { kind, path } : { kind, path, selector };
  }
  if (arg.startsWith("registry:") && !looksLikeHostWithPort(arg.slice("registry:".length))) {
    if (local) conflict("registry image");
    return { kind: "registry", reference: parseReference(arg.slice("registry:".length)) };
  }
  if (arg.startsWith("docker:") && !looksLikeHostWithPort(arg.slice("docker:".length))) {
    return daemonInput(arg.slice("docker:".length));
  }
  return local ? daemonInput(arg) : { kind: "registry", reference: parseReference(arg) };
}
