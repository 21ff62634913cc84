// Raises ssh2's SSH channel window from 2 MiB to CHANNEL_WINDOW_MIB (run by npm's root postinstall and by
// scripts/ensure-deps.sh; idempotent). ssh2 has no option for it: `MAX_WINDOW` is a module constant in
// ssh2/lib/Channel.js, destructured into client.js and server.js at load. With two hops (person -> recorder
// -> target) of 2 MiB windows too little is in flight and sftp runs at a third of direct (docs/bench.md,
// "sftp"). recorder/src/ssh/window.ts checks at start-up that this patch is in effect.
//
// Usage: node scripts/patch-ssh2.cjs [path/to/ssh2/lib/Channel.js]   (default: the installed ssh2's)
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** Keep equal to CHANNEL_WINDOW in recorder/src/ssh/window.ts (recorder/test/ssh2-window.test.ts checks). */
const CHANNEL_WINDOW_MIB = 8;

// ssh2 1.17's line is `const MAX_WINDOW = 2 * 1024 * 1024;`; any MiB count is accepted, so that a changed
// CHANNEL_WINDOW_MIB rewrites an earlier patch.
const LINE = /^const MAX_WINDOW = (\d+) \* 1024 \* 1024;$/m;
const EXPECTED = 'const MAX_WINDOW = 2 * 1024 * 1024;';

/** `{ text, from, changed }` with the patched text of Channel.js, or `{ error }` when the line is not there. */
function patchSource(text, mib = CHANNEL_WINDOW_MIB) {
  const m = LINE.exec(text);
  if (!m) return { error: 'no line matching `' + EXPECTED + '`' };
  const from = Number(m[1]);
  if (from === mib) return { text, from, changed: false };
  return { text: text.replace(LINE, `const MAX_WINDOW = ${mib} * 1024 * 1024;`), from, changed: true };
}

function channelFile() {
  const root = path.resolve(__dirname, '..');
  try {
    return require.resolve('ssh2/lib/Channel.js', { paths: [root] });
  } catch {
    return undefined;
  }
}

function main(argv) {
  const file = argv[0] ?? channelFile();
  if (file === undefined) {
    console.error('patch-ssh2: ssh2 is not installed (node_modules/ssh2/lib/Channel.js): run npm ci first');
    return 1;
  }
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    console.error(`patch-ssh2: cannot read ${file}: ${err.message}`);
    return 1;
  }
  const r = patchSource(text);
  if (r.error) {
    let version = '';
    try {
      version = ` (ssh2 ${JSON.parse(fs.readFileSync(path.join(path.dirname(file), '..', 'package.json'), 'utf8')).version})`;
    } catch {
      // no package.json beside it: a copy given on the command line
    }
    console.error(
      `patch-ssh2: ${file}${version}: ${r.error}.\n` +
        `  ssh2 changed: find where it sets its channel window and update scripts/patch-ssh2.cjs (and\n` +
        `  recorder/src/ssh/window.ts), or pin ssh2 back. Without the patch the recorder relays with 2 MiB windows\n` +
        `  (sftp at about a third of direct).`,
    );
    return 1;
  }
  if (r.changed) {
    fs.writeFileSync(file, r.text);
    console.log(`patch-ssh2: ssh2 channel window ${r.from} MiB -> ${CHANNEL_WINDOW_MIB} MiB in ${file}`);
  } else {
    console.log(`patch-ssh2: ssh2 channel window already ${CHANNEL_WINDOW_MIB} MiB`);
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { CHANNEL_WINDOW_MIB, patchSource };
