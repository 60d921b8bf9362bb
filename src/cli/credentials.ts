import { UsageError } from "../errors.ts";

/** `--username` + `--password-stdin`, read the way `docker login --password-stdin` reads it. */
export async function readCredentials(
  args: { username?: string | undefined; passwordStdin?: boolean | undefined },
  stdin: NodeJS.ReadableStream & { isTTY?: boolean },
): Promise<{ username: string; password: string } | undefined> {
  if (args.passwordStdin && !args.username) {
    throw new UsageError("--password-stdin needs --username", { hint: "pass --username NAME as well" });
  }
  if (!args.username) return undefined;
  if (!args.passwordStdin) {
    throw new UsageError("--username needs the password on standard input", {
      hint: "pipe it in with --password-stdin, e.g. `cat pass.txt | hyperclair … --password-stdin`",
    });
  }
  let text = "";
  for await (const chunk of stdin) text += chunk.toString();
  const password = text.replace(/\r?\n$/, "");
  if (password === "")
    throw new UsageError("no password on standard input", { hint: "pipe the password in" });
  return { username: args.username, password };
}
