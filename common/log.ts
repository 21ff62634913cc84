// One JSON logger for every srec process: a fixed message plus key/value metadata.
// Nothing from inside a session (keystrokes, output, file contents) is ever passed here.
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** Component name added to every line, e.g. `operator` or `recorder`. */
  readonly component: string;
  /** @default process.env.SREC_LOG_LEVEL ?? 'info' */
  readonly level?: string;
  /** Write to stderr instead of stdout (commands whose stdout is data). @default false */
  readonly stderr?: boolean;
  /** Silence the logger (tests). @default false */
  readonly silent?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  return winston.createLogger({
    level: opts.level ?? process.env.SREC_LOG_LEVEL ?? 'info',
    silent: opts.silent ?? false,
    defaultMeta: { component: opts.component },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [
      new winston.transports.Console({
        stderrLevels: opts.stderr ? ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] : ['error'],
      }),
    ],
  });
}

/** Reduce an unknown thrown value to a loggable message (never the stack of user data). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
