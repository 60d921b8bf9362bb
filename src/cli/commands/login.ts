import type { Argv, CommandModule } from "yargs";
import { UsageError } from "../../errors.ts";
import { readCredentials } from "../credentials.ts";
import { createContext, type GlobalArgs, type Runtime } from "../runtime.ts";

type LoginArgs = GlobalArgs & {
  registry: string;
  username?: string | undefined;
  passwordStdin?: boolean | undefined;
};
type LogoutArgs = GlobalArgs & { registry: string };

export function loginCommand(runtime: Runtime): CommandModule<GlobalArgs, LoginArgs> {
  return {
    command: "login <registry>",
    describe: "Store registry credentials (checked against the registry first; file mode 0600)",
    builder: (yargs: Argv<GlobalArgs>) =>
      yargs
        .positional("registry", {
          type: "string",
          demandOption: true,
          describe: "Registry host, e.g. ghcr.io",
        })
        .option("username", { alias: "u", type: "string", describe: "User name" })
        .option("password-stdin", { type: "boolean", describe: "Read the password from standard input" })
        .example('echo "$TOKEN" | $0 login ghcr.io -u me --password-stdin', "Log in to a registry")
        .example(
          "$0 login localhost:5000 -u ci --password-stdin < pass.txt",
          "A local registry",
        ) as Argv<LoginArgs>,
    handler: async (argv) => {
      const { out, config } = createContext(argv, runtime);
      if (!argv.username) {
        throw new UsageError("login needs --username", { hint: "pass --username NAME and --password-stdin" });
      }
      const credentials = await readCredentials(argv, runtime.stdin);
      const { login } = await import("../../image/registry/login.ts");
      const result = await login(argv.registry, credentials!.username, credentials!.password, {
        config,
        debug: out.debug,
        signal: runtime.signal,
        env: runtime.env,
      });
      const note = result.verification === "no-auth" ? " (the registry asks for no credentials)" : "";
      out.info(`${out.ok("✔")} logged in to ${result.registry}${note}; credentials stored in ${result.file}`);
    },
  };
}

export function logoutCommand(runtime: Runtime): CommandModule<GlobalArgs, LogoutArgs> {
  return {
    command: "logout <registry>",
    describe: "Remove stored registry credentials",
    builder: (yargs: Argv<GlobalArgs>) =>
      yargs
        .positional("registry", { type: "string", demandOption: true, describe: "Registry host" })
        .example("$0 logout ghcr.io", "Forget the credentials for ghcr.io") as Argv<LogoutArgs>,
    handler: async (argv) => {
      const { out, config } = createContext(argv, runtime);
      const { logout } = await import("../../image/registry/login.ts");
      const result = await logout(argv.registry, {
        config,
        debug: out.debug,
        signal: runtime.signal,
        env: runtime.env,
      });
      out.info(
        result.removed
          ? `${out.ok("✔")} removed the credentials for ${result.registry} from ${result.file}`
          : `no credentials for ${result.registry} in ${result.file}; nothing to remove`,
      );
    },
  };
}
