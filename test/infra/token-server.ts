import { createHash, createPublicKey, randomUUID, sign } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { pathToFileURL } from "node:url";

/**
 * A Docker registry token server (https://distribution.github.io/distribution/spec/auth/token/):
 * it answers `GET /token?service=…&scope=…` (and the OAuth2 password grant on `POST /token`,
 * https://distribution.github.io/distribution/spec/auth/oauth/) with an RS256 JWT the registry verifies
 * against the certificate in its `rootcertbundle`.
 */

export interface TokenUser {
  password: string;
  /** Decides which of the requested actions on a resource this user gets. */
  grant: (resource: ResourceScope) => string[];
  /** Lifetime of this user's tokens in seconds, overriding the server default. */
  ttlSeconds?: number;
}

export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServerOptions {
  /** PEM private key matching the certificate the registry trusts. */
  keyFile: string;
  service: string;
  issuer: string;
  /** Default token lifetime in seconds (300). A `ttl` query parameter may shorten it for expiry tests. */
  ttlSeconds?: number;
  users?: Record<string, TokenUser>;
  /** Access for clients without credentials (default: pull on `public/*`, as Docker Hub does). */
  anonymous?: (resource: ResourceScope) => string[];
  port?: number;
}

export interface TokenServer {
  url: string;
  realm: string;
  port: number;
  server: Server;
  /** Requests seen, newest last: lets tests check what a client asked for. */
  requests: Array<{ method: string; url: string; account: string | undefined; granted: ResourceScope[] }>;
  close(): Promise<void>;
}

const allActions = ["pull", "push", "delete", "*"];
const registryLeewaySeconds = 60;

const grantAll = (r: ResourceScope) => r.actions.filter((a) => allActions.includes(a));

/**
 * The users the test registries know: testuser can do everything, reader can only pull test/debian11,
 * and shortlived can do everything with tokens the registry refuses 2 s after issue (expiry tests).
 */
export const defaultTokenUsers: Record<string, TokenUser> = {
  testuser: { password: "testpass", grant: grantAll },
  shortlived: { password: "shortlivedpass", grant: grantAll, ttlSeconds: 2 },
  reader: {
    password: "readerpass",
    grant: (r) =>
      r.type === "repository" && r.name === "test/debian11" ? r.actions.filter((a) => a === "pull") : [],
  },
};

function grantAnonymous(resource: ResourceScope): string[] {
  return resource.type === "repository" && resource.name.startsWith("public/")
    ? resource.actions.filter((a) => a === "pull")
    : [];
}

/**
 * The libtrust key ID the registry matches against a JWT's `kid`: base32 of the first 30 bytes of
 * sha256(SPKI DER), in groups of 4 joined by ':' (docker/libtrust util.go keyIDFromCryptoKey).
 */
export function computeLibtrustKeyId(publicKeyPem: string | Buffer): string {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  const digest = createHash("sha256").update(der).digest().subarray(0, 30);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)?.join(":") ?? out;
}

/** Parses `repository:name:pull,push` (the name may itself hold a ':' for a registry with a port). */
export function parseScope(scope: string): ResourceScope | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter(Boolean),
  };
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

function parseBasic(header: string | undefined): { user: string; pass: string } | undefined {
  if (!header?.toLowerCase().startsWith("basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const privateKey = readFileSync(options.keyFile);
  const kid = computeLibtrustKeyId(createPublicKey(privateKey).export({ type: "spki", format: "pem" }));
  const users = options.users ?? defaultTokenUsers;
  const anonymous = options.anonymous ?? grantAnonymous;
  const defaultTtl = options.ttlSeconds ?? 300;
  const requests: TokenServer["requests"] = [];

  const issue = (account: string | undefined, access: ResourceScope[], ttl: number) => {
    const now = Math.floor(Date.now() / 1000);
    // The registry accepts a token up to 60 s past its exp (distribution registry/auth/token/token.go,
    // Leeway). A token meant to live less than that has its exp set back by the leeway, so the registry
    // refuses it `ttl` seconds after issue, which is what expiry tests need.
    const exp = ttl < registryLeewaySeconds ? now + ttl - registryLeewaySeconds : now + ttl;
    const header = { alg: "RS256", typ: "JWT", kid };
    const claims = {
      iss: options.issuer,
      sub: account ?? "",
      aud: options.service,
      exp,
      // The registry allows 60 s of clock skew on nbf; none is needed on one machine.
      nbf: now,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(signingInput), privateKey);
    return `${signingInput}.${base64url(signature)}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== "/token") return send(404, { errors: [{ code: "NOT_FOUND" }] });

    let params = url.searchParams;
    let credentials = parseBasic(req.headers.authorization);
    if (req.method === "POST") {
      params = new URLSearchParams(await readBody(req));
      const grantType = params.get("grant_type");
      if (grantType === "password") {
        credentials = { user: params.get("username") ?? "", pass: params.get("password") ?? "" };
      } else if (grantType !== null) {
        // Refresh tokens are not issued, so a refresh_token grant cannot succeed.
        return send(400, { error: "unsupported_grant_type" });
      }
    } else if (req.method !== "GET") {
      return send(405, { errors: [{ code: "UNSUPPORTED" }] });
    }

    if (params.get("service") !== null && params.get("service") !== options.service) {
      return send(400, { errors: [{ code: "DENIED", message: `unknown service ${params.get("service")}` }] });
    }

    let grant = anonymous;
    let userTtl: number | undefined;
    const account = credentials?.user;
    if (credentials !== undefined) {
      const user = users[credentials.user];
      if (user === undefined || user.password !== credentials.pass) {
        res.setHeader("www-authenticate", 'Basic realm="token-server"');
        return send(401, {
          errors: [{ code: "UNAUTHORIZED", message: "authentication failed: wrong username or password" }],
        });
      }
      grant = user.grant;
      userTtl = user.ttlSeconds;
    }

    // Several `scope` parameters (or one space-separated list) may arrive; grant each separately and
    // leave out what is not allowed, as the spec says ("the token server grants a subset").
    const granted: ResourceScope[] = [];
    for (const raw of params.getAll("scope").flatMap((s) => s.split(" "))) {
      const scope = parseScope(raw);
      if (scope === undefined) continue;
      const actions = grant(scope);
      if (actions.length > 0) granted.push({ type: scope.type, name: scope.name, actions });
    }
    const asked = Number(params.get("ttl"));
    const base = userTtl ?? defaultTtl;
    const ttl = Number.isFinite(asked) && asked > 0 ? Math.min(asked, base) : base;
    const token = issue(account, granted, ttl);
    requests.push({ method: req.method ?? "GET", url: req.url ?? "", account, granted });
    send(200, { token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("token server has no address");
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    realm: `${url}/token`,
    port: address.port,
    server,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}

/** `tsx test/infra/token-server.ts KEY.pem [PORT]`: a standalone token server for manual experiments. */
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [keyFile, port] = process.argv.slice(2);
  if (keyFile === undefined) {
    process.stderr.write("usage: token-server.ts KEY.pem [PORT]\n");
    process.exit(2);
  }
  const server = await startTokenServer({
    keyFile,
    service: process.env["HC_TOKEN_SERVICE"] ?? "hyperclair-test-registry",
    issuer: process.env["HC_TOKEN_ISSUER"] ?? "hyperclair-test-issuer",
    ...(port === undefined ? {} : { port: Number(port) }),
  });
  process.stdout.write(`${server.realm}\n`);
}
