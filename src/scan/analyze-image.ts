/**
 * `analyze`: Clair's findings for an image, pushing it first when Clair does not know it.
 */
import { ClairError } from "../errors.ts";
import type { ScanResult } from "../report/model.ts";
import { createScanResult } from "../report/result.ts";
import type { PullRequest } from "./pull-image.ts";
import { connectConfiguredClair, type PushDeps, pushStagedImage } from "./push-image.ts";
import { stageImages } from "./stage-image.ts";

export interface AnalyzeRequest extends PullRequest {
  /** `--no-push`: fail rather than push an image Clair does not know. */
  noPush?: boolean | undefined;
}

export interface AnalyzeDeps extends PushDeps {
  toolVersion: string;
}

export async function analyzeImages(request: AnalyzeRequest, deps: AnalyzeDeps): Promise<ScanResult[]> {
  const clair = deps.clair ?? (await connectConfiguredClair(deps));
  const staged = await stageImages(request, deps);
  const results: ScanResult[] = [];
  for (const entry of staged) {
    let image = entry.image;
    let pushWarnings: ScanResult["warnings"] = [];
    if (await clair.knows(image, deps.signal)) {
      // The report names each layer with its size: a daemon image's export still has to finish.
      image = await entry.complete();
    } else {
      if (request.noPush) {
        entry.cancel();
        throw new ClairError(`Clair has not indexed ${image.reference} (${image.digest})`, {
          hint: "push it first (hyperclair push), or drop --no-push",
        });
      }
      const pushed = await pushStagedImage(clair, entry, {
        ...deps,
        credentials: request.credentials,
        force: true,
      });
      image = pushed.image;
      pushWarnings = pushed.submit?.warnings ?? [];
    }
    deps.onProgress?.({
      step: "submit",
      message: `asking Clair for the vulnerability report of ${image.reference}`,
    });
    const report = await clair.report({
      image,
      signal: deps.signal,
      onProgress: (event) =>
        deps.onProgress?.({
          step: "submit",
          message: event.kind === "waiting" ? `waiting for Clair: ${event.reason}` : "reading the report",
        }),
    });
    const warnings = [
      ...pushWarnings,
      ...report.warnings.filter((w) => !pushWarnings.some((p) => p.code === w.code)),
    ];
    results.push(createScanResult({ image, report: { ...report, warnings }, toolVersion: deps.toolVersion }));
  }
  return results;
}
