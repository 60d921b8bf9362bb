import type { Argv, CommandModule } from "yargs";
import { ExitCode } from "../../errors.ts";
import { readCredentials } from "../credentials.ts";
import { imageOptions, textOrJsonOption } from "../options.ts";
import { createContext, type GlobalArgs, type Runtime, scanDependencies } from "../runtime.ts";

type DoctorArgs = GlobalArgs & {
  image?: string | undefined;
  local?: boolean | undefined;
  platform?: string | undefined;
  username?: string | undefined;
  passwordStdin?: boolean | undefined;
  format: "text" | "json";
};

export function doctorCommand(runtime: Runtime): CommandModule<GlobalArgs, DoctorArgs> {
  return {
    command: "doctor [image]",
    describe:
      "Check every hop a scan needs (config, Clair, auth, daemon, registry, layer server, TLS) and say how to fix each broken one",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(imageOptions(yargs))
        .positional("image", {
          type: "string",
          demandOption: false,
          describe: "Also check this image's source",
        })
        .example("$0 doctor", "Can hyperclair reach Clair, and can Clair reach the layer server?")
        .example(
          "$0 doctor registry.example.com/team/app:1.4",
          "Also check the registry credentials for the image",
        )
        .epilogue(
          "Exits 0 when every hop works, 2 when the configuration is invalid, 3 when a hop is broken.",
        ) as Argv<DoctorArgs>,
    handler: async (argv) => {
      const context = createContext(argv, runtime, { tolerateConfigErrors: true });
      const { out, loaded } = context;
      const credentials = await readCredentials(argv, runtime.stdin);
      const { runDoctor } = await import("../../scan/doctor.ts");
      const hops = await runDoctor(
        {
          loaded,
          image:
            argv.image === undefined
              ? undefined
              : { image: argv.image, local: argv.local, platform: argv.platform, credentials },
        },
        scanDependencies(context, () => undefined),
      );
      if (argv.format === "json") {
        out.document(JSON.stringify({ hops }, null, 2));
      } else {
        const width = Math.max(...hops.map((hop) => hop.name.length));
        const marks = { ok: out.ok("✔"), fail: out.bad("✘"), skip: out.dim("–") };
        out.document(
          hops
            .map((hop) => {
              const fix = hop.status === "fail" && hop.fix ? ` — fix: ${hop.fix}` : "";
              return `${marks[hop.status]} ${hop.name.padEnd(width)}  ${hop.detail}${fix}`;
            })
            .join("\n"),
        );
      }
      if (loaded.errors.length > 0) runtime.exitCode = ExitCode.usage;
      else if (hops.some((hop) => hop.status === "fail")) runtime.exitCode = ExitCode.external;
    },
  };
}
