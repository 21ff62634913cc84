// `srec` from the sources, for tests that need the recorder as its own process (see recorder.ts).
import { main } from '../../../cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`srec: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
