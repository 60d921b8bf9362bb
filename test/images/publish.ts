import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import Docker from "dockerode";
import type { ImagesManifest, TestImageName } from "../infra/env.ts";
import { runCommand, runLimited } from "../infra/processes.ts";
import { type Credentials, fetchManifest } from "../infra/registry-http.ts";
import { writeImagesManifest } from "./build.ts";
import { mediaTypes } from "./oci.ts";

export interface PushTarget {
  /** host:port, plain HTTP. */
  address: string;
  credentials?: Credentials | undefined;
  /** Also push `public/alpine315:latest` here (the token registry lets anonymous clients pull it). */
  withPublic?: boolean;
}

function skopeoCopy(
  policyFile: string,
  source: string,
  target: PushTarget,
  destRef: string,
  flags: string[],
) {
  const creds =
    target.credentials === undefined
      ? []
      : ["--dest-creds", `${target.credentials.user}:${target.credentials.pass}`];
  return runCommand("skopeo", [
    "--policy",
    policyFile,
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    "--retry-times",
    "2",
    ...creds,
    ...flags,
    source,
    `docker://${target.address}/${destRef}`,
  ]);
}

/**
 * Pushes every test image to every target with skopeo: `test/<name>:latest` as OCI, `test/<name>:v2s2`
 * converted to Docker schema 2, `test/multiarch:{latest,oci}` as an OCI index and `test/multiarch:v2s2`
 * as a Docker manifest list. Then reads the v2s2 digests back from the first target into images.json.
 */
export async function pushTestImages(
  manifest: ImagesManifest,
  targets: PushTarget[],
  policyFile: string,
): Promise<ImagesManifest> {
  if (targets.length === 0) return manifest;
  // One job list per repository and registry: the registry's filesystem storage answers 500 now and
  // then when two pushes write the same repository's links at once, so tags of one repository go in turn.
  const perRepository = new Map<string, Array<() => Promise<unknown>>>();
  const add = (target: PushTarget, destRef: string, job: () => Promise<unknown>) => {
    const key = `${target.address}/${destRef.split(":")[0]}`;
    const list = perRepository.get(key) ?? [];
    list.push(job);
    perRepository.set(key, list);
  };
  for (const target of targets) {
    const copy = (source: string, destRef: string, flags: string[]) =>
      add(target, destRef, () => skopeoCopy(policyFile, source, target, destRef, flags));
    for (const info of Object.values(manifest.images)) {
      copy(info.ociLayoutRef, info.refs.oci, []);
      copy(info.ociLayoutRef, info.refs.v2s2, ["--format", "v2s2"]);
    }
    const multi = manifest.multiarch;
    copy(multi.ociLayoutRef, multi.refs.oci, ["--all"]);
    copy(multi.ociLayoutRef, "test/multiarch:latest", ["--all"]);
    copy(multi.ociLayoutRef, multi.refs.v2s2, ["--all", "--format", "v2s2"]);
    if (target.withPublic === true) copy(manifest.images.alpine315.ociLayoutRef, manifest.publicRef, []);
  }
  const sequences = [...perRepository.values()].map((list) => async () => {
    for (const job of list) await job();
  });
  // skopeo mostly waits on the registries; a few in flight keep both cores busy.
  await runLimited(6, sequences);

  const [first] = targets as [PushTarget];
  const readBack = async (ref: string, accept: string) => {
    const [repository, tag] = ref.split(":") as [string, string];
    const fetched = await fetchManifest(first.address, repository, tag, {
      accept,
      credentials: first.credentials,
    });
    if (fetched.status !== 200 || fetched.digest === undefined) {
      throw new Error(`reading back ${first.address}/${ref} gave ${fetched.status}: ${fetched.body}`);
    }
    return fetched;
  };
  for (const info of Object.values(manifest.images)) {
    const fetched = await readBack(info.refs.v2s2, mediaTypes.dockerManifest);
    const parsed = JSON.parse(fetched.body) as { config: { digest: string } };
    info.v2s2Manifest = {
      digest: fetched.digest ?? "",
      size: Buffer.byteLength(fetched.body),
      mediaType: fetched.mediaType ?? mediaTypes.dockerManifest,
      configDigest: parsed.config.digest,
    };
  }
  const list = await readBack(manifest.multiarch.refs.v2s2, mediaTypes.dockerList);
  manifest.multiarch.v2s2List = {
    digest: list.digest ?? "",
    size: Buffer.byteLength(list.body),
    mediaType: list.mediaType ?? mediaTypes.dockerList,
  };
  await writeImagesManifest(manifest);
  return manifest;
}

export function connectDaemon(host: string): Docker {
  return new Docker({ socketPath: host.replace(/^unix:\/\//, "") });
}

/** `docker load` through the API; load errors arrive inside the 200 response stream, so scan it. */
export async function loadDockerArchive(host: string, archivePath: string): Promise<string> {
  const docker = connectDaemon(host);
  const stream = (await docker.loadImage(createReadStream(archivePath))) as NodeJS.ReadableStream;
  let output = "";
  for await (const chunk of stream) output += chunk.toString();
  for (const line of output.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
    if (event.error !== undefined || event.errorDetail !== undefined) {
      throw new Error(
        `loading ${archivePath} into ${host} failed: ${event.error ?? event.errorDetail?.message}`,
      );
    }
  }
  return output;
}

/** Loads every single-platform image's docker-archive into a daemon as `testimg/<name>:latest`. */
export async function loadTestImages(manifest: ImagesManifest, host: string): Promise<void> {
  const names = Object.keys(manifest.images) as TestImageName[];
  await runLimited(
    2,
    names.map((name) => () => loadDockerArchive(host, manifest.images[name].archives.docker)),
  );
}

/**
 * Writes each image as Docker's own `docker save` writes it (the daemon's legacy form, with regular
 * `<v1id>/layer.tar` files rather than skopeo's symlinks) to `archives/<name>.docker-save.tar`.
 */
export async function saveFromDaemon(manifest: ImagesManifest, host: string): Promise<void> {
  const docker = connectDaemon(host);
  for (const info of Object.values(manifest.images)) {
    const path = info.archives.docker.replace(/\.tar$/, ".docker-save.tar");
    const stream = (await docker.getImage(info.refs.daemon).get()) as NodeJS.ReadableStream;
    await pipeline(stream, createWriteStream(path));
    info.archives.dockerSave = path;
  }
  await writeImagesManifest(manifest);
}
