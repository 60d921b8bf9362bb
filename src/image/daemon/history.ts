/**
 * The Dockerfile step behind each layer of a daemon image. The image config's history (with its
 * `empty_layer` flags) is the authority; when we have not exported the image yet we only have the
 * daemon's `GET /images/{id}/history`, where metadata-only steps (ENV, CMD…) have size 0.
 */
import { type ImageConfig, layerCreatedBy } from "../manifest.ts";

/** One entry of `GET /images/{id}/history` (Engine API "ImageHistory"), newest first. */
export interface DaemonHistoryEntry {
  Id: string;
  CreatedBy: string;
  Size: number;
}

/**
 * Pairs history entries with the image's layers. moby's ImageHistory gives a real layer its diff size
 * and an empty step size 0, so size 0 marks an empty step; when that does not add up to the layer count
 * (a real layer that adds no bytes), only size-0 `#(nop)` steps are taken as empty; else nothing is claimed.
 */
export function createdByFromHistory(
  entries: readonly DaemonHistoryEntry[],
  diffIds: readonly string[],
): Array<string | undefined> {
  const chronological = [...entries].reverse();
  const attempts: Array<(entry: DaemonHistoryEntry) => boolean> = [
    (entry) => entry.Size === 0,
    // ADD and COPY are `#(nop)` steps too, but they have bytes.
    (entry) => entry.Size === 0 && entry.CreatedBy.includes("#(nop)"),
  ];
  for (const isEmpty of attempts) {
    const config: ImageConfig = {
      architecture: "",
      os: "",
      variant: undefined,
      diffIds: [...diffIds],
      history: chronological.map((entry) => ({
        createdBy: entry.CreatedBy === "" ? undefined : entry.CreatedBy,
        emptyLayer: isEmpty(entry),
      })),
    };
    const steps = layerCreatedBy(config);
    if (steps.some((step) => step !== undefined)) return steps;
  }
  return diffIds.map(() => undefined);
}
