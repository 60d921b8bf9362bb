import Table from "cli-table3";
import type { Output } from "../output.ts";

/** Row separators off: a table a person scans down, bold headings and grey borders on a colour terminal. */
const compact = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };

export function createTable(
  out: Output,
  options: Omit<Table.TableConstructorOptions, "style" | "chars">,
): Table.Table {
  return new Table({
    ...options,
    chars: compact,
    style: { head: out.color ? ["bold"] : [], border: out.color ? ["grey"] : [] },
  });
}
