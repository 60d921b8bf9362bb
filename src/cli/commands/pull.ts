import type { Argv, CommandModule } from "yargs";
import { runImageCommand } from "../image-command.ts";
import { type ImageArgs, imageOptions, textOrJsonOption } from "../options.ts";
import type { GlobalArgs, Runtime } from "../runtime.ts";

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
      const { result: images, out } = await runImageCommand(argv, runtime, async (request, deps) => {
        const { pullImage } = await import("../../scan/pull-image.ts");
        return pullImage(request, deps);
      });
      if (argv.format === "json") {
        out.document(JSON.stringify({ images }, null, 2));
        return;
      }
      const { renderImage } = await import("../views/image-view.ts");
      out.document(images.map((image) => renderImage(image, out)).join("\n\n"));
    },
  };
}
