import type { Output } from "./output.ts";

/** A step's progress as use-cases report it (`src/scan/`): a message, and bytes when there are some. */
export interface ProgressUpdate {
  message: string;
  bytes?: number | undefined;
  total?: number | undefined;
}

export interface Progress {
  update(event: ProgressUpdate): void;
  /** Ends the current step with ✔ and a line that stays. */
  done(text: string): void;
  stop(): void;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

function describe(event: ProgressUpdate): string {
  if (event.bytes === undefined) return event.message;
  const total = event.total ? ` / ${formatBytes(event.total)}` : "";
  return `${event.message} (${formatBytes(event.bytes)}${total})`;
}

/**
 * A spinner (ora) on a terminal; plain lines otherwise, one per new message (byte counts are not
 * repeated line by line in CI logs); nothing with --quiet or when stdout carries JSON.
 */
export async function createProgress(
  out: Output,
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  options: { machineOutput: boolean },
): Promise<Progress> {
  if (out.quiet || options.machineOutput) return { update() {}, done() {}, stop() {} };
  // A terminal that reports no width (some ptys) would make the spinner's line counting loop forever.
  if (stderr.isTTY && (stderr.columns ?? 0) > 0) {
    const { default: ora } = await import("ora");
    const spinner = ora({ stream: stderr, color: "cyan", isEnabled: true, discardStdin: false });
    return {
      update(event) {
        spinner.text = describe(event);
        if (!spinner.isSpinning) spinner.start();
      },
      done(text) {
        spinner.stopAndPersist({ symbol: out.ok("✔"), text });
      },
      stop() {
        if (spinner.isSpinning) spinner.stop();
      },
    };
  }
  let last = "";
  return {
    update(event) {
      if (event.message === last) return;
      last = event.message;
      out.info(describe(event));
    },
    done(text) {
      last = "";
      out.info(`✔ ${text}`);
    },
    stop() {},
  };
}
