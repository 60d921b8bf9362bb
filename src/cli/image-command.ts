import type { PullRequest } from "../scan/pull-image.ts";
import { readCredentials } from "./credentials.ts";
import type { ImageArgs } from "./options.ts";
import type { Output } from "./output.ts";
import { createProgress } from "./progress.ts";
import { createContext, type GlobalArgs, type Runtime, scanDependencies } from "./runtime.ts";

export type ScanDependencies = ReturnType<typeof scanDependencies>;

/**
 * What every command on an image does around its use-case: configuration, registry credentials, the
 * image request, and progress on stderr, stopped before the command writes its document.
 */
export async function runImageCommand<T>(
  argv: GlobalArgs & ImageArgs & { format: string },
  runtime: Runtime,
  useCase: (request: PullRequest, deps: ScanDependencies) => Promise<T>,
): Promise<{ result: T; out: Output }> {
  const context = createContext(argv, runtime);
  const credentials = await readCredentials(argv, runtime.stdin);
  const progress = await createProgress(context.out, runtime.stderr, {
    machineOutput: argv.format === "json",
  });
  try {
    const request: PullRequest = {
      image: argv.image,
      local: argv.local,
      platform: argv.platform,
      allPlatforms: argv.allPlatforms,
      dockerPull: argv.dockerPull,
      credentials,
    };
    const result = await useCase(
      request,
      scanDependencies(context, (event) => progress.update(event)),
    );
    return { result, out: context.out };
  } finally {
    progress.stop();
  }
}
