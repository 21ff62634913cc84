#!/usr/bin/env node
// The `srec` command: the compiled entry point (npm run build writes dist/).
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`srec: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
