/**
 * `--docker-pull`: the daemon pulls the image before we read it (Engine API `POST /images/create`).
 * The answer is a JSON-lines progress stream. Docker reports a missing tag or refused credentials as
 * 404/500 before the stream, but failures during the pull inside it; podman reports every failure as
 * HTTP 200 + an `error` event. So every event is checked, on both daemons.
 */
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { DaemonError, type HyperclairError, InterruptedError, RegistryError } from "../../errors.ts";
import { formatPlatform } from "../manifest.ts";
import type { Platform } from "../resolved-image.ts";
import { type DaemonEndpoint, daemonMessage, statusCodeOf, translateDaemonError } from "./connection.ts";
import { parseDaemonName } from "./find-image.ts";

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** One line of the pull's progress stream, as the CLI shows it. */
export interface DaemonPullEvent {
  kind: "pull";
  /** Layer (short digest) the event is about, or the tag for image-wide events. */
  id: string | undefined;
  /** `Pulling fs layer`, `Downloading`, `Pull complete`, `Digest: sha256:…`… */
  status: string;
  current: number | undefined;
  total: number | undefined;
}

export interface PullOptions {
  credentials?: RegistryCredentials | undefined;
  platform?: Platform | undefined;
  onProgress?: ((event: DaemonPullEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface PullResult {
  /** The manifest digest the daemon reported pulling, when it says (docker does, podman does not). */
  digest: string | undefined;
}

interface ProgressLine {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string; code?: number };
  // podman's compat endpoint also sends {"stream": …} lines and a final {"id": <image id>}.
  stream?: string;
}

/** `fromImage` and `tag` for `/images/create`: the digest, when given, is the tag (Engine API "ImageCreate"). */
export function pullParameters(reference: string): { fromImage: string; tag: string; registry: string } {
  const name = parseDaemonName(reference);
  if (name === undefined) {
    throw new RegistryError(`cannot pull ${reference}: not an image name`, {
      hint: "--docker-pull needs a name such as registry.example.com/team/app:1.0, not an image ID",
    });
  }
  const registry = name.repository.split("/")[0]!;
  return { fromImage: name.repository, tag: name.digest ?? name.tag ?? "latest", registry };
}

function registryAuthConfig(credentials: RegistryCredentials | undefined, registry: string) {
  if (credentials === undefined) return undefined;
  // The daemon keys credentials by server address; docker.io's is the v1 index URL (docker/cli `registry.IndexServer`).
  const serveraddress = registry === "docker.io" ? "https://index.docker.io/v1/" : registry;
  return { username: credentials.username, password: credentials.password, serveraddress };
}

function pullFailure(
  reference: string,
  message: string,
  endpoint: DaemonEndpoint,
  cause?: unknown,
): HyperclairError {
  const text = message.replace(/\s+/g, " ").trim();
  const auth = /unauthori[sz]ed|authentication required|denied|credentials|401|403/i.test(text);
  const missing = /not found|manifest unknown|does not exist|404/i.test(text);
  const hint = auth
    ? "the registry refused the daemon's pull: give credentials with --username/--password-stdin or `hyperclair login`, and check the repository name"
    : missing
      ? "check the repository and tag exist in the registry"
      : `the daemon at ${endpoint.display} could not pull; see its log for details`;
  return new RegistryError(`the daemon could not pull ${reference}: ${text}`, { hint, cause });
}

/** Asks the daemon to pull `reference`, reporting progress; resolves when the pull is complete. */
export async function pullDaemonImage(
  docker: Docker,
  endpoint: DaemonEndpoint,
  reference: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const { fromImage, tag, registry } = pullParameters(reference);
  const authconfig = registryAuthConfig(options.credentials, registry);
  const query: Record<string, string> = { fromImage, tag };
  if (options.platform !== undefined) query["platform"] = formatPlatform(options.platform);
  let stream: Readable;
  try {
    const create = docker.createImage.bind(docker) as (
      auth: unknown,
      opts: Record<string, unknown>,
    ) => Promise<NodeJS.ReadableStream>;
    const opts: Record<string, unknown> = { ...query };
    if (options.signal !== undefined) opts["abortSignal"] = options.signal;
    stream = (await create(authconfig, opts)) as Readable;
  } catch (err) {
    if (options.signal?.aborted) throw new InterruptedError();
    // docker answers 404 for a missing tag and 500 for registry refusals ("no basic auth credentials").
    if (statusCodeOf(err) !== undefined) throw pullFailure(reference, daemonMessage(err), endpoint, err);
    throw translateDaemonError(err, endpoint, `pulling ${reference}`);
  }
  const abort = () => stream.destroy(new InterruptedError());
  options.signal?.addEventListener("abort", abort, { once: true });
  let failure: HyperclairError | undefined;
  let sawEvent = false;
  let digest: string | undefined;
  try {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === "") continue;
      let event: ProgressLine;
      try {
        event = JSON.parse(line) as ProgressLine;
      } catch {
        continue;
      }
      sawEvent = true;
      if (event.error !== undefined || event.errorDetail !== undefined) {
        failure ??= pullFailure(
          reference,
          event.error ?? event.errorDetail?.message ?? "unknown error",
          endpoint,
        );
        continue;
      }
      if (event.status !== undefined) {
        // docker ends with `Digest: sha256:…`, the manifest it pulled; podman's compat API does not say.
        digest = event.status.match(/^Digest: (sha256:[a-f0-9]{64})$/)?.[1] ?? digest;
        options.onProgress?.({
          kind: "pull",
          id: event.id,
          status: event.status,
          current: event.progressDetail?.current,
          total: event.progressDetail?.total,
        });
      }
    }
  } catch (err) {
    if (options.signal?.aborted) throw new InterruptedError();
    throw new DaemonError(`the pull of ${reference} broke off: ${daemonMessage(err)}`, {
      hint: `the daemon at ${endpoint.display} closed the progress stream; try again`,
      cause: err,
    });
  } finally {
    options.signal?.removeEventListener("abort", abort);
  }
  if (failure !== undefined) throw failure;
  if (!sawEvent) throw pullFailure(reference, "the daemon sent no progress at all", endpoint);
  return { digest };
}
