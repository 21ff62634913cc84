// The one argument parser of srec's commands (node:util parseArgs): strict options, -h/--help prints the usage,
// a bad option or argument prints what is wrong and the usage, exit 2.
import { parseArgs } from 'node:util';

export type Option = { readonly type: 'string' | 'boolean'; readonly short?: string };
type Values<O extends Record<string, Option>> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

export interface Parsed<O extends Record<string, Option>> {
  readonly values: Values<O>;
  readonly positionals: string[];
}

/** The parsed arguments, or what is wrong with them (node's words: `Unknown option '--x'`, ...). */
export function parseOptions<O extends Record<string, Option>>(args: readonly string[], options: O, allowPositionals = true): (Parsed<O> & { help: boolean }) | { error: string } {
  try {
    const parsed = parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
    const { help, ...values } = parsed.values as Values<O> & { help?: boolean };
    return { values: values as unknown as Values<O>, positionals: parsed.positionals, help: help === true };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The parsed arguments, or the exit code when there is nothing to run (usage printed, or --help). */
export function parseCommand<O extends Record<string, Option>>(
  name: string,
  usage: string,
  args: string[],
  options: O,
  allowPositionals = true,
): Parsed<O> | number {
  const parsed = parseOptions(args, options, allowPositionals);
  if ('error' in parsed) return usageError(name, usage, parsed.error);
  if (parsed.help) {
    process.stdout.write(usage);
    return 0;
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/** `srec NAME: message` and the usage on stderr; the exit code for bad usage. */
export function usageError(name: string, usage: string, message: string): number {
  process.stderr.write(`srec ${name}: ${message}\n${usage}`);
  return 2;
}
