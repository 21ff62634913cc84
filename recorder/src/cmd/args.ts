// The conventions every trail command shares: strict options, -h/--help prints the usage, a bad option or
// argument prints what is wrong and the usage, exit 2.
import { parseArgs } from 'node:util';

type Option = { readonly type: 'string' | 'boolean'; readonly short?: string };
type Values<O extends Record<string, Option>> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

export interface Parsed<O extends Record<string, Option>> {
  readonly values: Values<O>;
  readonly positionals: string[];
}

/** The parsed arguments, or the exit code when there is nothing to run (usage printed, or --help). */
export function parseCommand<O extends Record<string, Option>>(
  name: string,
  usage: string,
  args: string[],
  options: O,
  allowPositionals = true,
): Parsed<O> | number {
  let values: Values<O> & { help?: boolean };
  let positionals: string[];
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
    values = parsed.values as Values<O> & { help?: boolean };
    positionals = parsed.positionals;
  } catch (err) {
    return usageError(name, usage, (err as Error).message);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  return { values, positionals };
}

/** `srec NAME: message` and the usage on stderr; the exit code for bad usage. */
export function usageError(name: string, usage: string, message: string): number {
  process.stderr.write(`srec ${name}: ${message}\n${usage}`);
  return 2;
}
