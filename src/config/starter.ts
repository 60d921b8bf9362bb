import { formatKeyValue } from "./describe.ts";
import type { KeySpec } from "./keys.ts";
import { CONFIG_KEYS, envNameFor } from "./keys.ts";

const HEADER = [
  "# hyperclair configuration.",
  "#",
  "# Read from --config FILE, else the first found of ./.hyperclair.yml,",
  "# $XDG_CONFIG_HOME/hyperclair/config.yml (~/.config/...) and ~/.hyperclair.yml.",
  "# Precedence: defaults < this file < HYPERCLAIR_* environment < command-line flags.",
  "# Every key has an environment variable: the dotted path in upper snake case",
  "# (clair.psk.keyFile -> HYPERCLAIR_CLAIR_PSK_KEY_FILE). Lists there are comma-separated;",
  "# headers are a JSON object or Name=value entries (one per line, or comma-separated).",
  "# The values below are the defaults. Keep this file private (chmod 600) if it holds secrets.",
];

interface Section {
  name: string;
  children: Array<Section | KeySpec>;
}

function buildTree(): Section {
  const root: Section = { name: "", children: [] };
  for (const spec of CONFIG_KEYS) {
    let node = root;
    for (const segment of spec.key.split(".").slice(0, -1)) {
      let child = node.children.find((item): item is Section => "children" in item && item.name === segment);
      if (child === undefined) {
        child = { name: segment, children: [] };
        node.children.push(child);
      }
      node = child;
    }
    node.children.push(spec);
  }
  return root;
}

function renderSection(section: Section, depth: number, lines: string[]): void {
  const indent = "  ".repeat(depth);
  for (const child of section.children) {
    if ("children" in child) {
      if (depth === 0) lines.push("");
      lines.push(`${indent}${child.name}:`);
      renderSection(child, depth + 1, lines);
      continue;
    }
    const name = child.key.split(".").at(-1)!;
    lines.push(`${indent}# ${child.doc} Env: ${envNameFor(child.key)}`);
    lines.push(`${indent}${name}: ${formatKeyValue(child, child.default, { redact: false, yaml: true })}`);
  }
}

/** The commented starter file (`config init`, `.hyperclair.example.yml`): every key at its default. */
export function renderStarterConfig(): string {
  const lines = [...HEADER];
  renderSection(buildTree(), 0, lines);
  return `${lines.join("\n")}\n`;
}
