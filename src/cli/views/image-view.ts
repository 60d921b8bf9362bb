import { formatPlatform } from "../../image/manifest.ts";
import type { ResolvedImage } from "../../image/resolved-image.ts";
import type { Output } from "../output.ts";
import { formatBytes } from "../progress.ts";
import { createTable } from "./table.ts";

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

function digestLine(image: ResolvedImage): string {
  return image.digestKind === "image-id"
    ? `${image.digest} (image ID: the daemon holds no manifest digest for this image)`
    : image.digest;
}

/** `pull`'s listing: the image, its platform, and one row per layer. */
export function renderImage(image: ResolvedImage, out: Output): string {
  const header = [
    out.bold(image.reference),
    `  source    ${image.source}`,
    `  digest    ${digestLine(image)}`,
    `  platform  ${formatPlatform(image.platform)}`,
    `  layers    ${image.layers.length}, ${formatBytes(image.layers.reduce((sum, layer) => sum + layer.size, 0))}`,
  ];
  const table = createTable(out, {
    head: ["#", "digest", "size", "created by"],
    colAligns: ["right", "left", "right", "left"],
    wordWrap: true,
    colWidths: [null, null, null, 60],
  });
  for (const layer of image.layers) {
    table.push([layer.index, shortDigest(layer.digest), formatBytes(layer.size), layer.createdBy ?? "-"]);
  }
  return `${header.join("\n")}\n${table.toString()}`;
}
