import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import type { LoadConfigInput } from "../../src/config/load.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { LoadedConfig } from "../../src/config/types.ts";

/** A fresh project directory and home directory, removed after the test file. */
export function makeDirs(): { cwd: string; home: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), "hyperclair-config-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const cwd = join(root, "project");
  const home = join(root, "home");
  mkdirSync(cwd, { recursive: true });
  mkdirSync(home, { recursive: true });
  return { cwd, home, root };
}

export function writeFile(path: string, text: string, mode = 0o600): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  // Set explicitly: the process umask would otherwise change the mode asked for.
  chmodSync(path, mode);
  return path;
}

/** Load `text` as ./.hyperclair.yml of a fresh project, with optional env and flags. */
export function loadText(
  text: string,
  extra: Partial<Pick<LoadConfigInput, "env" | "flags">> & { mode?: number } = {},
): LoadedConfig & { cwd: string; home: string } {
  const { cwd, home } = makeDirs();
  writeFile(join(cwd, ".hyperclair.yml"), text, extra.mode ?? 0o600);
  return { ...loadConfig({ cwd, home, env: extra.env ?? {}, flags: extra.flags ?? {} }), cwd, home };
}
