import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { EnvironmentError, UsageError } from "../errors.ts";

export interface AtomicWriteOptions {
  /** File mode of a new file (default 0o644). */
  mode?: number;
  /** Mode of the directory when it has to be created (default 0o755; 0o700 for private files). */
  dirMode?: number;
  /** Refuse (UsageError, exit 2) when the file exists. */
  refuseExisting?: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    const handle = await open(path, constants.O_RDONLY);
    await handle.close();
    return true;
  } catch {
    return false;
  }
}

/** Written beside the target and renamed into place, so a failure never leaves half a file. */
export async function writeFileAtomic(
  target: string,
  data: string | Buffer,
  options: AtomicWriteOptions = {},
) {
  if (options.refuseExisting && (await exists(target))) {
    throw new UsageError(`${target} already exists`, { hint: "pass --force to overwrite it" });
  }
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await mkdir(dirname(target), { recursive: true, mode: options.dirMode ?? 0o755 });
    const handle = await open(temporary, "wx", options.mode ?? 0o644);
    try {
      // The umask may have widened nothing but narrowed the mode; a private file is exactly its mode.
      await handle.chmod(options.mode ?? 0o644);
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new EnvironmentError(`cannot write ${target} (${reason})`, {
      hint: "check that the directory is writable and the disk is not full",
      cause: error,
    });
  }
}
