import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type {
  ImageLayerInfo,
  ImagesManifest,
  MultiarchInfo,
  TestImageInfo,
  TestImageName,
} from "../infra/env.ts";
import { runCommand, runLimited } from "../infra/processes.ts";
import { type ImageSpec, listImageSpecs } from "./contents.ts";
import {
  computeDigest,
  createLayerTar,
  type Descriptor,
  digestHex,
  fixedMtime,
  gzipDeterministic,
  mediaTypes,
  OciLayoutWriter,
  packTar,
  type TarFileEntry,
} from "./oci.ts";

export interface BuildOptions {
  /** Also write the skopeo-made archives (docker-archive legacy form, oci-archive). Default true. */
  archives?: boolean;
  /** skopeo's signature policy file; a permissive one is written into `outDir` when absent. */
  policyFile?: string;
}

const imageEnv = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

interface BuiltImage {
  spec: ImageSpec;
  manifest: Descriptor;
  config: Descriptor;
  configBytes: string;
  layers: Array<ImageLayerInfo & { tar: Buffer }>;
}

async function buildImage(spec: ImageSpec, oci: OciLayoutWriter, layersDir: string): Promise<BuiltImage> {
  const layers: BuiltImage["layers"] = [];
  for (const [index, layer] of spec.layers.entries()) {
    const tar = await createLayerTar(layer.entries);
    const gzip = gzipDeterministic(tar);
    const blob = await oci.writeBlob(gzip, mediaTypes.ociLayerGzip);
    const tarPath = join(layersDir, `${spec.name}-${index}.tar`);
    await writeFile(tarPath, tar);
    await writeFile(`${tarPath}.gz`, gzip);
    layers.push({
      ...blob,
      diffId: computeDigest(tar),
      uncompressedSize: tar.length,
      gzipPath: `${tarPath}.gz`,
      tarPath,
      createdBy: layer.createdBy,
      tar,
    });
  }
  const created = fixedMtime.toISOString().replace(".000Z", "Z");
  const config = {
    architecture: spec.platform.architecture,
    ...(spec.platform.variant === undefined ? {} : { variant: spec.platform.variant }),
    os: spec.platform.os,
    created,
    config: { Env: imageEnv, Cmd: spec.name.startsWith("alpine") ? ["/bin/sh"] : ["bash"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: [
      ...layers.map((l) => ({ created, created_by: l.createdBy })),
      ...spec.emptySteps.map((step) => ({ created, created_by: step, empty_layer: true })),
    ],
  };
  const configBytes = JSON.stringify(config);
  const configDescriptor = await oci.writeBlob(configBytes, mediaTypes.ociConfig);
  const manifest = await oci.writeJson(
    {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: configDescriptor,
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    },
    mediaTypes.ociManifest,
  );
  oci.addRef(spec.name, manifest);
  return { spec, manifest, config: configDescriptor, configBytes, layers };
}

/**
 * The docker-archive in the OCI-layout form Docker >= 25 writes with `docker save`: an OCI layout whose
 * layer blobs are the *uncompressed* tars (digest = diff ID), plus the legacy `manifest.json` pointing
 * at those blobs (moby image/tarexport/save.go).
 */
async function writeDockerOciLayoutArchive(image: BuiltImage, path: string, repoTag: string): Promise<void> {
  const blobs = new Map<string, Buffer>();
  const addBlob = (data: Buffer | string, mediaType: string): Descriptor => {
    const bytes = Buffer.from(data);
    const digest = computeDigest(bytes);
    blobs.set(digestHex(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const config = addBlob(image.configBytes, mediaTypes.ociConfig);
  const layers = image.layers.map((l) => addBlob(l.tar, mediaTypes.ociLayer));
  const manifest = addBlob(
    JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers }),
    mediaTypes.ociManifest,
  );
  const [repo, tag] = repoTag.split(":") as [string, string];
  const index = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociIndex,
    manifests: [
      {
        ...manifest,
        annotations: {
          "io.containerd.image.name": `docker.io/${repo}:${tag}`,
          "org.opencontainers.image.ref.name": tag,
        },
      },
    ],
  };
  const legacyManifest = [
    {
      Config: `blobs/sha256/${digestHex(config.digest)}`,
      RepoTags: [repoTag],
      Layers: layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
    },
  ];
  const entries: TarFileEntry[] = [
    { name: "blobs/", type: "directory" },
    { name: "blobs/sha256/", type: "directory" },
    ...[...blobs.keys()].sort().map((hex) => ({ name: `blobs/sha256/${hex}`, data: blobs.get(hex) ?? "" })),
    { name: "index.json", data: JSON.stringify(index) },
    { name: "manifest.json", data: JSON.stringify(legacyManifest) },
    { name: "oci-layout", data: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
    { name: "repositories", data: JSON.stringify({ [repo]: { [tag]: digestHex(manifest.digest) } }) },
  ];
  await writeFile(path, await packTar(entries));
}

export async function writePermissivePolicy(path: string): Promise<string> {
  await writeFile(path, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  return path;
}

function describeImage(image: BuiltImage, imagesDir: string, ociDir: string): TestImageInfo {
  const { spec } = image;
  const archives = join(imagesDir, "archives");
  return {
    name: spec.name,
    platform: spec.platform,
    distribution: spec.distribution,
    ociManifest: image.manifest,
    // Filled in by pushTestImages, which reads back what skopeo wrote to the registry.
    v2s2Manifest: { digest: "", size: 0, mediaType: mediaTypes.dockerManifest, configDigest: "" },
    config: image.config,
    layers: image.layers.map(({ tar: _tar, ...layer }) => layer),
    history: [
      ...spec.layers.map((l) => ({ createdBy: l.createdBy, emptyLayer: false })),
      ...spec.emptySteps.map((step) => ({ createdBy: step, emptyLayer: true })),
    ],
    packages: spec.packages,
    archives: {
      docker: join(archives, `${spec.name}.tar`),
      dockerOciLayout: join(archives, `${spec.name}.oci-layout.tar`),
      oci: join(archives, `${spec.name}.oci.tar`),
    },
    ociLayoutRef: `oci:${ociDir}:${spec.name}`,
    refs: {
      oci: `test/${spec.name}:latest`,
      v2s2: `test/${spec.name}:v2s2`,
      daemon: `testimg/${spec.name}:latest`,
    },
  };
}

/**
 * Builds every test image offline into `outDir` (oci/, layers/, archives/, images.json) and returns
 * the description. The same digests come out on every run and every machine.
 */
export async function buildTestImages(outDir: string, options: BuildOptions = {}): Promise<ImagesManifest> {
  const imagesDir = resolve(outDir);
  const ociDir = join(imagesDir, "oci");
  const layersDir = join(imagesDir, "layers");
  const archivesDir = join(imagesDir, "archives");
  await rm(ociDir, { recursive: true, force: true });
  await Promise.all([ociDir, layersDir, archivesDir].map((d) => mkdir(d, { recursive: true })));

  const oci = new OciLayoutWriter(ociDir);
  const built: BuiltImage[] = [];
  for (const spec of listImageSpecs()) built.push(await buildImage(spec, oci, layersDir));

  const byName = (name: TestImageName) => {
    const found = built.find((b) => b.spec.name === name);
    if (found === undefined) throw new Error(`no test image ${name}`);
    return found;
  };
  const members = [byName("alpine315"), byName("alpine315-arm64")];
  const index = await oci.writeJson(
    {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: members.map((m) => ({ ...m.manifest, platform: m.spec.platform })),
    },
    mediaTypes.ociIndex,
  );
  oci.addRef("multiarch", index);
  await oci.finish();

  const images = Object.fromEntries(
    built.map((b) => [b.spec.name, describeImage(b, imagesDir, ociDir)]),
  ) as Record<TestImageName, TestImageInfo>;
  const multiarch: MultiarchInfo = {
    name: "multiarch",
    ociIndex: index,
    v2s2List: { digest: "", size: 0, mediaType: mediaTypes.dockerList },
    manifests: members.map((m) => ({
      image: m.spec.name,
      digest: m.manifest.digest,
      platform: m.spec.platform,
    })),
    archives: { oci: join(archivesDir, "multiarch.oci.tar") },
    ociLayoutRef: `oci:${ociDir}:multiarch`,
    refs: { oci: "test/multiarch:oci", v2s2: "test/multiarch:v2s2" },
  };

  await Promise.all(
    built.map((b) =>
      writeDockerOciLayoutArchive(
        b,
        images[b.spec.name].archives.dockerOciLayout,
        `testimg/${b.spec.name}:latest`,
      ),
    ),
  );

  if (options.archives !== false) {
    const policy = options.policyFile ?? (await writePermissivePolicy(join(imagesDir, "policy.json")));
    // skopeo refuses to overwrite an archive that exists, so start from a clean slate.
    const jobs = built.flatMap((b) => {
      const info = images[b.spec.name];
      return [
        async () => {
          await rm(info.archives.docker, { force: true });
          await runCommand("skopeo", [
            "--policy",
            policy,
            "copy",
            "--quiet",
            info.ociLayoutRef,
            `docker-archive:${info.archives.docker}:${info.refs.daemon}`,
          ]);
        },
        async () => {
          await rm(info.archives.oci, { force: true });
          await runCommand("skopeo", [
            "--policy",
            policy,
            "copy",
            "--quiet",
            info.ociLayoutRef,
            `oci-archive:${info.archives.oci}:${b.spec.name}`,
          ]);
        },
      ];
    });
    jobs.push(async () => {
      await rm(multiarch.archives.oci, { force: true });
      await runCommand("skopeo", [
        "--policy",
        policy,
        "copy",
        "--quiet",
        "--all",
        multiarch.ociLayoutRef,
        `oci-archive:${multiarch.archives.oci}:multiarch`,
      ]);
    });
    await runLimited(4, jobs);
  }

  const manifest: ImagesManifest = {
    version: 1,
    imagesDir,
    ociDir,
    images,
    multiarch,
    publicRef: "public/alpine315:latest",
  };
  await writeImagesManifest(manifest);
  return manifest;
}

export async function writeImagesManifest(manifest: ImagesManifest): Promise<void> {
  await writeFile(join(manifest.imagesDir, "images.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}
