// ssh2's SSH channel window, raised by the declared patch patches/ssh2+<version>.patch (ssh2 has no option
// for it), which npm's postinstall applies with patch-package and which fails the install when ssh2 changed.
// An install with `--ignore-scripts`, a copied node_modules or pnpm brings back ssh2's own 2 MiB windows and a
// third of direct sftp speed: the recorder then reports not ready, so that no pod takes traffic unnoticed.
import { createRequire } from 'node:module';
import type { Logger } from '../../../common/log.js';

/**
 * The window each channel grants its sender, on both legs (ssh2's own is 2 MiB). The patch's
 * `const MAX_WINDOW = 8 * 1024 * 1024;` line must say the same (recorder/test/ssh2-window.test.ts checks).
 *
 * Memory: ssh2 re-opens a window only while the channel's readable buffer (high-water mark = the window) is
 * not full, so when the other leg stalls a relayed channel holds, per direction, up to about three windows:
 * almost two in the receiving channel's buffer (one buffered, one more already granted) and one in the
 * other leg's write buffer, where the pump stops. At 8 MiB that is 24 MiB per direction of a stalled
 * channel (6 MiB with ssh2's 2 MiB), both directions stalled twice that. Measured: one `cat` whose reader
 * stopped raised the recorder's RSS by 32 MiB at 8 MiB windows, 12 MiB at 2 MiB and 68 MiB at 16 MiB.
 */
export const CHANNEL_WINDOW = 8 * 1024 * 1024;

/** The window the loaded ssh2 uses, or undefined if ssh2 no longer has the constant. */
export function ssh2ChannelWindow(): number | undefined {
  const channel = createRequire(import.meta.url)('ssh2/lib/Channel.js') as { MAX_WINDOW?: unknown };
  return typeof channel.MAX_WINDOW === 'number' ? channel.MAX_WINDOW : undefined;
}

/** What /readyz says, and the fix, while the loaded ssh2's window is not CHANNEL_WINDOW; undefined when it is. */
export function channelWindowProblem(actual: number | undefined = ssh2ChannelWindow()): string | undefined {
  if (actual === CHANNEL_WINDOW) return undefined;
  const found = actual === undefined ? 'unknown (ssh2 has no MAX_WINDOW)' : `${actual} bytes`;
  return (
    `ssh2's channel window is ${found}, not the ${CHANNEL_WINDOW} bytes this recorder was built for: ` +
    `reinstall with npm ci with scripts allowed (its postinstall applies patches/ssh2+*.patch with patch-package)`
  );
}

/** Logs an error with the window found and the fix when the patch is not in effect. Returns the problem, if any. */
export function checkChannelWindow(log: Logger, actual: number | undefined = ssh2ChannelWindow()): string | undefined {
  const problem = channelWindowProblem(actual);
  if (problem !== undefined) {
    log.error('ssh2 channel window is not patched: not ready', { windowBytes: actual ?? null, expectedBytes: CHANNEL_WINDOW, problem });
  }
  return problem;
}
