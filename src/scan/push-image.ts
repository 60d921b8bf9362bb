/**
 * `push`: get an image's layers to Clair. Registry layers go by their blob URL with a fresh,
 * repository-scoped token; daemon and archive layers are served from the cache by the layer server,
 * only while the push runs (DESIGN.md "Getting layers to Clair").
 */
import type { ClairClient, LayerTarget, SubmitProgress, SubmitResult } from "../clair/client.ts";
import { LayerFetchError } from "../clair/errors.ts";
import { ClairError, InterruptedError } from "../errors.ts";
import type { RegistryClient } from "../image/registry/client.ts";
import type { ResolvedImage, ResolvedLayer } from "../image/resolved-image.ts";
import type { LayerServer, LayerServerEvent } from "../serve/layer-server.ts";
import type { Credentials, ProgressEvent, PullRequest, ScanDeps } from "./pull-image.ts";
import { recordPush } from "./push-record.ts";
import { completeImage, type StagedImage, stageImages } from "./stage-image.ts";

export interface PushOutcome {
  image: ResolvedImage;
  /** `already-indexed`: Clair had the image; nothing was sent. */
  status: "submitted" | "already-indexed";
  submit: SubmitResult | undefined;
  /** Bytes the layer server sent per layer digest (daemon and archive images). */
  served: Record<string, number>;
}

export interface PushProgressEvent extends Omit<ProgressEvent, "step"> {
  step: ProgressEvent["step"] | "submit" | "serve";
}

export interface PushDeps extends Omit<ScanDeps, "onProgress"> {
  onProgress?: ((event: PushProgressEvent) => void) | undefined;
  /** A connected client; `connectClair(config.clair)` otherwise. */
  clair?: ClairClient | undefined;
  /** Submit even when Clair already has the image. */
  force?: boolean | undefined;
}

export async function connectConfiguredClair(
  deps: Pick<ScanDeps, "config" | "debug" | "cacheDir">,
): Promise<ClairClient> {
  const { connectClair } = await import("../clair/index.ts");
  return connectClair(deps.config.clair, { debug: deps.debug, cacheDir: deps.cacheDir });
}

/** Resolves the image (every platform asked for) and pushes each to Clair. */
export async function pushImages(request: PullRequest, deps: PushDeps): Promise<PushOutcome[]> {
  const clair = deps.clair ?? (await connectConfiguredClair(deps));
  const staged = await stageImages(request, deps);
  const outcomes: PushOutcome[] = [];
  for (const image of staged) {
    outcomes.push(await pushStagedImage(clair, image, { ...deps, credentials: request.credentials }));
  }
  return outcomes;
}

/** Pushes one resolved image, unless Clair already has it indexed. */
export function pushResolvedImage(
  clair: ClairClient,
  image: ResolvedImage,
  deps: PushDeps & { credentials?: Credentials | undefined },
): Promise<PushOutcome> {
  return pushStagedImage(clair, completeImage(image), deps);
}

/**
 * Pushes a staged image. For a pipelined daemon image, each layer goes to Clair as soon as it is cached:
 * `layerTarget` waits for that layer alone (v1 posts layer by layer; v4 needs every layer's URL up front).
 */
export async function pushStagedImage(
  clair: ClairClient,
  staged: StagedImage,
  deps: PushDeps & { credentials?: Credentials | undefined },
): Promise<PushOutcome> {
  const provisional = staged.image;
  if (!deps.force && (await clair.knows(provisional, deps.signal))) {
    staged.cancel();
    await remember(clair, provisional, deps);
    return { image: provisional, status: "already-indexed", submit: undefined, served: {} };
  }
  const cached = provisional.layers.filter((layer) => layer.location.kind === "cache");
  const fromRegistry = provisional.layers.some((layer) => layer.location.kind === "registry");
  let registry: RegistryClient | undefined;
  let server: LayerServer | undefined;
  try {
    // Inside the try: a layer server that cannot listen must still stop a background export.
    registry = fromRegistry ? await createRegistry(deps) : undefined;
    server = cached.length > 0 ? await startServer(clair, staged, cached, deps) : undefined;
    const submit = await clair.submit({
      image: provisional,
      layerTarget: async (layer) => {
        await staged.layerReady(layer.index);
        return layerTarget(layer, server, registry);
      },
      onProgress: (event) => deps.onProgress?.(describeSubmit(event, provisional)),
      signal: deps.signal,
    });
    const image = await staged.complete();
    const served = Object.fromEntries(
      cached.map((layer) => [layer.digest, server?.stats(layer.digest).bytes ?? 0]),
    );
    await remember(clair, image, deps);
    return { image, status: "submitted", submit, served };
  } catch (error) {
    staged.cancel();
    if (deps.signal?.aborted) throw new InterruptedError();
    if (error instanceof LayerFetchError) throw await diagnose(error, provisional, clair, server, registry);
    throw error;
  } finally {
    await server?.close();
  }
}

/** The push record lets `delete` see which images share layers; losing it must not fail a push. */
async function remember(clair: ClairClient, image: ResolvedImage, deps: PushDeps): Promise<void> {
  await recordPush(deps.cacheDir, clair.url, image).catch((error: unknown) =>
    deps.debug?.(`could not record the push: ${error instanceof Error ? error.message : String(error)}`),
  );
}

async function createRegistry(
  deps: PushDeps & { credentials?: Credentials | undefined },
): Promise<RegistryClient> {
  const { createRegistryClient } = await import("../image/registry/client.ts");
  return createRegistryClient({
    config: deps.config,
    credentials: deps.credentials,
    debug: deps.debug,
    signal: deps.signal,
    env: deps.env,
  });
}

async function startServer(
  clair: ClairClient,
  staged: StagedImage,
  layers: ResolvedLayer[],
  deps: PushDeps,
): Promise<LayerServer> {
  const { startLayerServer } = await import("../serve/layer-server.ts");
  const files = layers.map((layer) => ({
    layer,
    path: layer.location.kind === "cache" ? layer.location.path : "",
  }));
  const server = await startLayerServer({
    clairUrl: clair.url,
    listen: deps.config.serve.listen,
    advertise: deps.config.serve.advertise,
    blobs: staged.pipelined
      ? []
      : files.map(({ layer, path }) => ({ digest: layer.digest, path, size: layer.size })),
    signal: deps.signal,
    onRequest: (event) => {
      const progress = describeServe(event, layers);
      if (progress) deps.onProgress?.(progress);
    },
  });
  if (staged.pipelined) {
    // Served once cached: a request that comes early waits for (or streams) the layer's bytes.
    for (const { layer, path } of files) {
      server.addPendingBlob(layer.digest, { path, done: staged.layerReady(layer.index) });
    }
  }
  return server;
}

async function layerTarget(
  layer: ResolvedLayer,
  server: LayerServer | undefined,
  registry: RegistryClient | undefined,
): Promise<LayerTarget> {
  const location = layer.location;
  if (location.kind === "cache") {
    if (!server) throw new Error("a cached layer needs the layer server");
    return { url: server.urlFor(layer.digest), headers: {} };
  }
  // A fresh token for every layer Clair is about to fetch: registry tokens live minutes, v1 pushes are slow.
  const authorization = await registry?.authorizationFor(location);
  return { url: location.url, headers: authorization ? { Authorization: authorization } : {} };
}

/** Turns "Clair could not fetch layer N" into which hop failed, from what this side can observe. */
async function diagnose(
  error: LayerFetchError,
  image: ResolvedImage,
  clair: ClairClient,
  server: LayerServer | undefined,
  registry: RegistryClient | undefined,
): Promise<ClairError> {
  const layer = error.layerIndex === undefined ? undefined : image.layers[error.layerIndex];
  const which = layer ? `layer ${layer.index} (${layer.digest.slice(7, 19)})` : "a layer";
  const clairSaid = error.clairMessage ? ` (Clair said: ${error.clairMessage})` : "";
  if (server && (!layer || layer.location.kind === "cache")) {
    const { explainFetchFailure } = await import("../serve/diagnose.ts");
    const digest = layer?.digest ?? image.layers.find((entry) => entry.location.kind === "cache")!.digest;
    return new ClairError(
      `Clair could not fetch ${which}: ${explainFetchFailure(server, digest, clair.url)}`,
      {
        hint: "run `hyperclair doctor` to check every hop",
        cause: error,
        debug: error.debug,
      },
    );
  }
  if (layer?.location.kind === "registry" && registry) {
    const location = layer.location;
    const verdict = await registry
      .request({
        host: location.registry,
        repository: location.repository,
        method: "HEAD",
        path: new URL(location.url).pathname,
      })
      .then(
        (response) => (response.status === 200 ? "accepted" : `answered ${response.status}`),
        (refused: unknown) =>
          `refused hyperclair too (${refused instanceof Error ? refused.message : String(refused)})`,
      );
    const hint =
      verdict === "accepted"
        ? `the registry serves this blob to hyperclair with the same kind of token, so Clair at ${clair.url} cannot reach ${location.registry} (network, DNS, TLS trust or proxy on Clair's side)`
        : `the registry ${verdict} for this blob: check the credentials for ${location.registry} (hyperclair login) and their pull access to ${location.repository}`;
    return new ClairError(`Clair could not fetch ${which} from ${location.registry}${clairSaid}`, {
      hint,
      cause: error,
      debug: error.debug,
    });
  }
  return error;
}

function describeSubmit(event: SubmitProgress, image: ResolvedImage): PushProgressEvent {
  const total = image.layers.length;
  switch (event.kind) {
    case "layer-skipped":
      return { step: "submit", message: `layer ${event.layerIndex + 1}/${total} already in Clair` };
    case "layer-submitting":
      return { step: "submit", message: `Clair is indexing layer ${event.layerIndex + 1}/${total}` };
    case "layer-done":
      return { step: "submit", message: `layer ${event.layerIndex + 1}/${total} indexed` };
    case "indexing":
      return { step: "submit", message: `Clair is indexing ${event.layers} layers` };
    case "waiting":
      return { step: "submit", message: `waiting for Clair: ${event.reason} (attempt ${event.attempt})` };
  }
}

function describeServe(event: LayerServerEvent, layers: ResolvedLayer[]): PushProgressEvent | undefined {
  if (event.type === "end") return undefined;
  const layer = layers.find((entry) => entry.digest === event.digest);
  const name = layer ? `layer ${layer.index + 1}` : event.digest.slice(7, 19);
  const bytes = event.type === "progress" ? event.bytes : 0;
  return { step: "serve", message: `serving ${name} to Clair`, bytes, total: event.total };
}
