import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../fs/write-file-atomic.ts";

/**
 * Which indexer state each manifest was indexed under, as seen from this machine. Clair's
 * `GET index_report` carries the *current* state in its ETag, not the one the report was made under
 * (NOTES.md §2.4), so only the client can tell that Clair's scanners changed since it indexed an image;
 * Quay keeps the same record for the same reason. A manifest indexed under an older state is indexed again.
 */
export interface IndexStateStore {
  get(indexer: string, digest: string): Promise<string | undefined>;
  set(indexer: string, digest: string, state: string): Promise<void>;
  delete(indexer: string, digest: string): Promise<void>;
}

/** Lives as long as the process: enough for one `scan` (push, then report). */
export class MemoryIndexStateStore implements IndexStateStore {
  readonly #states = new Map<string, string>();

  async get(indexer: string, digest: string): Promise<string | undefined> {
    return this.#states.get(keyOf(indexer, digest));
  }

  async set(indexer: string, digest: string, state: string): Promise<void> {
    this.#states.set(keyOf(indexer, digest), state);
  }

  async delete(indexer: string, digest: string): Promise<void> {
    this.#states.delete(keyOf(indexer, digest));
  }
}

/** Entries kept in the file; the oldest go first. A forgotten entry only means trusting Clair's report. */
const MAX_ENTRIES = 10_000;

interface StateFile {
  version: 1;
  /** `<indexer URL> <manifest digest>` → index state, oldest first. */
  states: Record<string, string>;
}

/**
 * The record kept across runs in a small JSON file (e.g. in hyperclair's cache directory). A missing or
 * unreadable file counts as empty, and a failed write is ignored: the record is an optimisation, never a
 * reason for a push to fail.
 */
export class FileIndexStateStore implements IndexStateStore {
  readonly #path: string;
  #pending: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
  }

  async get(indexer: string, digest: string): Promise<string | undefined> {
    return (await this.#read())[keyOf(indexer, digest)];
  }

  set(indexer: string, digest: string, state: string): Promise<void> {
    return this.#update((states) => {
      const key = keyOf(indexer, digest);
      delete states[key];
      states[key] = state;
      const keys = Object.keys(states);
      for (const old of keys.slice(0, Math.max(0, keys.length - MAX_ENTRIES))) delete states[old];
    });
  }

  delete(indexer: string, digest: string): Promise<void> {
    return this.#update((states) => {
      delete states[keyOf(indexer, digest)];
    });
  }

  async #read(): Promise<Record<string, string>> {
    try {
      const parsed = JSON.parse(await readFile(this.#path, "utf8")) as Partial<StateFile>;
      if (parsed.version !== 1 || typeof parsed.states !== "object" || parsed.states === null) return {};
      return Object.fromEntries(
        Object.entries(parsed.states).filter(
          (entry): entry is [string, string] => typeof entry[1] === "string",
        ),
      );
    } catch {
      return {};
    }
  }

  /** Writes go one after another within the process, and land by rename so a reader never sees half a file. */
  #update(change: (states: Record<string, string>) => void): Promise<void> {
    const run = this.#pending.then(async () => {
      const states = await this.#read();
      change(states);
      const body: StateFile = { version: 1, states };
      // A read-only cache directory costs a re-index later, nothing more.
      await writeFileAtomic(this.#path, `${JSON.stringify(body)}\n`, { mode: 0o600 }).catch(() => undefined);
    });
    this.#pending = run.catch(() => undefined);
    return run;
  }
}

/** Where a FileIndexStateStore lives inside hyperclair's cache directory. */
export function indexStatePath(cacheDir: string): string {
  return join(cacheDir, "clair-v4-index-states.json");
}

function keyOf(indexer: string, digest: string): string {
  return `${indexer} ${digest}`;
}
