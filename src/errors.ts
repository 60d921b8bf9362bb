/**
 * The exit-code contract (DESIGN.md "Exit codes"): every failure hyperclair reports is one of these
 * errors, and only `src/cli/main.ts` turns them into a line on stderr and an exit code.
 */
export const ExitCode = {
  ok: 0,
  findings: 1,
  usage: 2,
  external: 3,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorDetails {
  /** What the user can do about it; printed after the message. */
  hint?: string | undefined;
  /** The underlying error, shown with `--debug` only. */
  cause?: unknown;
  /** Extra lines (HTTP exchange, redacted) shown with `--debug` only. */
  debug?: string[] | undefined;
}

export abstract class HyperclairError extends Error {
  abstract readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly debug: string[];

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.hint = details.hint;
    this.debug = details.debug ?? [];
  }
}

/** Wrong command-line usage: unknown flag, missing argument, bad value. */
export class UsageError extends HyperclairError {
  readonly exitCode = ExitCode.usage;
}

/** A configuration file or value that cannot be used. */
export class ConfigError extends HyperclairError {
  readonly exitCode = ExitCode.usage;
}

/** An image reference or image input the user gave that is wrong. */
export class ImageError extends HyperclairError {
  readonly exitCode = ExitCode.usage;
}

/** Clair failed, refused, or could not be reached. */
export class ClairError extends HyperclairError {
  readonly exitCode = ExitCode.external;
  readonly status: number | undefined;

  constructor(message: string, details: ErrorDetails & { status?: number | undefined } = {}) {
    super(message, details);
    this.status = details.status;
  }
}

/** A registry failed, refused, or could not be reached. */
export class RegistryError extends HyperclairError {
  readonly exitCode = ExitCode.external;
}

/** The Docker (or podman) daemon failed or could not be reached. */
export class DaemonError extends HyperclairError {
  readonly exitCode = ExitCode.external;
}

/** Something on this machine failed: disk, permissions, a local port. */
export class EnvironmentError extends HyperclairError {
  readonly exitCode = ExitCode.external;
}

/** The user pressed Ctrl-C (or the process got SIGTERM). */
export class InterruptedError extends HyperclairError {
  readonly exitCode = ExitCode.interrupted;

  constructor(message = "interrupted") {
    super(message);
  }
}
