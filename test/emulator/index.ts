/**
 * A Clair emulator for tests: the v1 API of Clair 2.x or the v4 indexer/matcher API, downloading layers
 * itself from the URLs it is given, as strict as the real servers (see ../../../shared/clair-api/NOTES.md).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { type EmulatorFaults, FaultState } from "./faults.ts";
import {
  type ApiRequest,
  closeServer,
  createReplyServer,
  emptyReply,
  jsonReply,
  listen,
  type Reply,
  sendReply,
  sleep,
  toApiRequest,
} from "./http-common.ts";
import { formatFetchLine, type LayerFetch } from "./layer-fetch.ts";
import { createPskVerifier, defaultPskIssuers, type PskVerifier } from "./psk.ts";
import { handleV1Health, V1Emulator } from "./v1-server.ts";
import { handleV4Introspection, V4Emulator } from "./v4-server.ts";

export type { EmulatorFaults } from "./faults.ts";
export type { LayerFetch } from "./layer-fetch.ts";

export type EmulatorApi = "v1" | "v4";

export interface EmulatorOptions {
  api: EmulatorApi;
  host?: string; // default 127.0.0.1
  port?: number; // default 0 (free port)
  healthPort?: number; // default 0
  psk?: string; // base64 key; when set, API routes require the JWT
  pskIssuers?: string[];
  split?: boolean; // v4 only: separate indexer and matcher servers
  faults?: EmulatorFaults;
  log?: (line: string) => void;
}

export interface RunningEmulator {
  api: EmulatorApi;
  url: string; // combined base URL (v1 API base, or v4 combo); in split mode the indexer URL
  indexerUrl: string; // v4 (same as url when combined)
  matcherUrl: string; // v4 (same as url when combined)
  healthUrl: string; // base URL of the health/introspection server, e.g. http://127.0.0.1:PORT
  fetches: LayerFetch[]; // every layer download, in order
  requests: Array<{ method: string; path: string; status: number }>; // every API request answered
  setFaults(faults: EmulatorFaults): void;
  close(): Promise<void>;
}

/** Bodies for injected error bursts, in the shape each server generation (or a proxy before it) uses. */
function faultErrorReply(api: EmulatorApi, status: 500 | 502 | 503): Reply {
  if (status === 502) {
    return { status, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "Bad Gateway\n" };
  }
  if (api === "v1") {
    const headers = { "Content-Type": "application/json;charset=utf-8", Server: "clair" };
    // api.timeout answer of Clair 2.x (http.TimeoutHandler) for 503.
    return status === 503
      ? jsonReply(
          503,
          {
            Error: {
              Message: "Clair failed to respond within the configured timeout window.",
              Type: "Timeout",
            },
          },
          headers,
        )
      : jsonReply(500, { Error: { Message: "emulated internal error" } }, headers);
  }
  return jsonReply(
    status,
    { code: "internal-error", message: `emulated ${status === 503 ? "unavailable" : "internal"} error` },
    { "X-Content-Type-Options": "nosniff" },
  );
}

export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const host = options.host ?? "127.0.0.1";
  const api = options.api;
  const faults = new FaultState(options.faults ?? {});
  const fetches: LayerFetch[] = [];
  const requests: RunningEmulator["requests"] = [];
  const log = options.log ?? (() => {});
  const onFetch = (fetch: LayerFetch) => {
    fetches.push(fetch);
    log(formatFetchLine(fetch));
  };
  const psk: PskVerifier | undefined =
    options.psk !== undefined && api === "v4"
      ? createPskVerifier(options.psk, options.pskIssuers ?? defaultPskIssuers)
      : undefined;
  const v1 = api === "v1" ? new V1Emulator({ onFetch }) : undefined;
  const v4 = api === "v4" ? new V4Emulator({ faults, onFetch }) : undefined;

  /** The request pipeline every API server shares: latency, bursts, auth, handler, body faults. */
  const apiServer = (serves: { indexer: boolean; matcher: boolean }): Server =>
    createReplyServer(async (req: IncomingMessage, res: ServerResponse) => {
      const request: ApiRequest = toApiRequest(req);
      const latency = faults.latencyMs(request.method, request.path);
      if (latency > 0) await sleep(latency);
      let reply: Reply | undefined;
      const tooMany = faults.take("tooManyRequests", request.path);
      if (tooMany) {
        const retry = { "Retry-After": String(tooMany.retryAfterSeconds) };
        reply =
          api === "v4"
            ? jsonReply(
                429,
                { code: "too-many-requests", message: "server busy" },
                { ...retry, "X-Content-Type-Options": "nosniff" },
              )
            : {
                status: 429,
                headers: { ...retry, "Content-Type": "text/plain; charset=utf-8" },
                body: "Too Many Requests\n",
              };
      }
      const burst = reply ? undefined : faults.take("errors", request.path);
      if (burst) reply = faultErrorReply(api, burst.status);
      if (!reply && api === "v4" && request.path === "/robots.txt") {
        reply = {
          status: 200,
          headers: { "Content-Type": "text/plain; charset=utf-8" },
          body: "User-agent: *\nDisallow: /\n",
        };
      }
      if (!reply && psk && !(await psk.verify(req.headers.authorization))) reply = emptyReply(401);
      if (!reply) reply = v1 ? await v1.handle(request) : await v4!.handle(request, serves);
      // Drain what the handler did not read so the connection stays usable.
      await request.readBody();
      const sendOptions = {
        gzip: true,
        nonJson: faults.take("nonJson", request.path) !== undefined,
        resetMidBody: faults.take("resetMidBody", request.path) !== undefined,
      };
      requests.push({ method: request.method, path: request.path, status: reply.status });
      sendReply(req, res, reply, sendOptions);
    });

  const healthServer = createReplyServer(async (req, res) => {
    const request = toApiRequest(req);
    const reply = api === "v1" ? handleV1Health(request) : handleV4Introspection(request);
    sendReply(req, res, reply, { gzip: false });
  });

  const servers: Server[] = [];
  try {
    const split = api === "v4" && options.split === true;
    const main = apiServer({ indexer: true, matcher: !split });
    servers.push(main);
    const url = await listen(main, host, options.port ?? 0);
    let matcherUrl = url;
    if (split) {
      const matcher = apiServer({ indexer: false, matcher: true });
      servers.push(matcher);
      matcherUrl = await listen(matcher, host, 0);
    }
    servers.push(healthServer);
    const healthUrl = await listen(healthServer, host, options.healthPort ?? 0);
    return {
      api,
      url,
      indexerUrl: url,
      matcherUrl,
      healthUrl,
      fetches,
      requests,
      setFaults: (next) => faults.set(next),
      close: async () => {
        await Promise.all(servers.map((s) => closeServer(s)));
      },
    };
  } catch (err) {
    await Promise.all(servers.filter((s) => s.listening).map((s) => closeServer(s)));
    throw err;
  }
}
