import type { Argv, CommandModule } from "yargs";
import { resolveCacheDir } from "../../config/paths.ts";
import { readCredentials } from "../credentials.ts";
import { type ImageArgs, imageOptions, textOrJsonOption } from "../options.ts";
import { createProgress } from "../progress.ts";
import { createContext, type GlobalArgs, type Runtime } from "../runtime.ts";

type PullArgs = GlobalArgs & ImageArgs & { format: "text" | "json" };

export function pullCommand(runtime: Runtime): CommandModule<GlobalArgs, PullArgs> {
  return {
    command: "pull <image>",
    describe: "Resolve an image: manifest, platform, config and layers (with the Dockerfile step of each)",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(imageOptions(yargs))
        .example("$0 pull alpine:3.19", "From Docker Hub")
        .example("$0 pull myapp:dev --local", "From the local Docker daemon")
        .example("$0 pull ghcr.io/org/app:1.2 --platform linux/arm64", "One platform of a multi-arch image")
        .example("$0 pull oci-archive:app.tar --format json", "The resolved model, for scripts"),
    handler: async (argv) => {
      const { out, config } = createContext(argv, runtime);
      const credentials = await readCredentials(argv, runtime.stdin);
      const progress = await createProgress(out, runtime.stderr, { machineOutput: argv.format === "json" });
      const { pullImage } = await import("../../scan/pull-image.ts");
      try {
        const images = await pullImage(
          {
            image: argv.image,
            local: argv.local,
            platform: argv.platform,
            allPlatforms: argv.allPlatforms,
            dockerPull: argv.dockerPull,
            credentials,
          },
          {
            config,
            cacheDir: resolveCacheDir(config, runtime.env, runtime.home),
            env: runtime.env,
            debug: out.debug,
            signal: runtime.signal,
            onProgress: (event) => progress.update(event),
          },
        );
        progress.stop();
        if (argv.format === "json") {
          out.document(JSON.stringify({ images }, null, 2));
          return;
        }
        const { renderImage } = await import("../views/image-view.ts");
        out.document(images.map((image) => renderImage(image, out)).join("\n\n"));
      } finally {
        progress.stop();
      }
    },
  };
}
