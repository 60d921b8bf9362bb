/**
 * A minimal distribution-API client for the tests and the harness, with the Basic and Bearer
 * challenge handling of https://distribution.github.io/distribution/spec/auth/token/ (plain fetch, so
 * tests check the registries without going through the code under test).
 */

export interface Credentials {
  user: string;
  pass: string;
}

export const manifestAccept = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-param list). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (header === null) return undefined;
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) {
    const [, key, value] = match;
    if (key !== undefined && value !== undefined) params[key] = value;
  }
  return { scheme, params };
}

function basicHeader(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.user}:${credentials.pass}`).toString("base64")}`;
}

export interface TokenResponse {
  status: number;
  token: string | undefined;
  body: Record<string, unknown>;
}

/** Asks a token server for a token (GET, Basic credentials when given), as docker and skopeo do. */
export async function requestToken(
  realm: string,
  service: string,
  scopes: string[],
  credentials?: Credentials,
): Promise<TokenResponse> {
  const url = new URL(realm);
  url.searchParams.set("service", service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const headers: Record<string, string> = {};
  if (credentials !== undefined) headers["authorization"] = basicHeader(credentials);
  const response = await fetch(url, { headers });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  const token = typeof body["token"] === "string" ? body["token"] : undefined;
  return { status: response.status, token, body };
}

export interface RegistryRequest {
  /** host:port of the registry (plain HTTP). */
  registry: string;
  path: string;
  method?: string;
  accept?: string;
  credentials?: Credentials | undefined;
  /** The token scope to ask for when challenged with Bearer. */
  scope?: string;
}

/** One registry request, answering an auth challenge once: what a well-behaved client does. */
export async function requestRegistry(request: RegistryRequest): Promise<Response> {
  const url = `http://${request.registry}${request.path}`;
  const headers: Record<string, string> = {};
  if (request.accept !== undefined) headers["accept"] = request.accept;
  const method = request.method ?? "GET";
  const first = await fetch(url, { method, headers });
  if (first.status !== 401) return first;
  const challenge = parseChallenge(first.headers.get("www-authenticate"));
  if (challenge === undefined) return first;
  await first.arrayBuffer();
  if (challenge.scheme === "basic") {
    if (request.credentials === undefined) return fetch(url, { method, headers });
    return fetch(url, { method, headers: { ...headers, authorization: basicHeader(request.credentials) } });
  }
  const realm = challenge.params["realm"];
  if (realm === undefined) throw new Error(`Bearer challenge without realm from ${request.registry}`);
  const scopes =
    request.scope !== undefined ? [request.scope] : (challenge.params["scope"]?.split(" ") ?? []);
  const token = await requestToken(realm, challenge.params["service"] ?? "", scopes, request.credentials);
  if (token.token === undefined) {
    throw new Error(`token server ${realm} answered ${token.status}: ${JSON.stringify(token.body)}`);
  }
  return fetch(url, { method, headers: { ...headers, authorization: `Bearer ${token.token}` } });
}

export interface FetchedManifest {
  status: number;
  digest: string | undefined;
  mediaType: string | undefined;
  body: string;
}

/** Fetches a manifest with an explicit Accept list (the registry answers 404 for OCI manifests without one). */
export async function fetchManifest(
  registry: string,
  repository: string,
  reference: string,
  options: { accept?: string; credentials?: Credentials | undefined } = {},
): Promise<FetchedManifest> {
  const response = await requestRegistry({
    registry,
    path: `/v2/${repository}/manifests/${reference}`,
    accept: options.accept ?? manifestAccept,
    credentials: options.credentials,
    scope: `repository:${repository}:pull`,
  });
  return {
    status: response.status,
    digest: response.headers.get("docker-content-digest") ?? undefined,
    mediaType: response.headers.get("content-type") ?? undefined,
    body: await response.text(),
  };
}
