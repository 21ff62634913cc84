// The small argument parser of the operator's commands: `-f FILE`, `--flag`, `--key value`, `--key=value`.

export interface ParsedArgs {
  readonly values: ReadonlyMap<string, string>;
  readonly flags: ReadonlySet<string>;
  readonly positional: readonly string[];
}

/** `valued`: options that take a value (long names without dashes; `-f` is `file`). */
export function parseArgs(args: readonly string[], valued: readonly string[], boolean: readonly string[] = []): ParsedArgs | { error: string } {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    const m = /^(?:--([a-z-]+)|-(f))(?:=(.*))?$/.exec(a);
    if (!m) {
      positional.push(a);
      continue;
    }
    const name = m[1] ?? 'file';
    if (boolean.includes(name)) {
      flags.add(name);
      continue;
    }
    if (!valued.includes(name)) return { error: `unknown option ${a}` };
    const v = m[3] ?? args[++i];
    if (v === undefined) return { error: `${a} needs a value` };
    values.set(name, v);
  }
  return { values, flags, positional };
}
