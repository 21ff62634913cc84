// ssh2's SSH channel window, raised at install time by scripts/patch-ssh2.cjs (ssh2 has no option for it):
// the recorder checks at start-up that the patch is in effect, since an install with `--ignore-scripts`
// or an ssh2 upgrade silently brings back the 2 MiB windows and a third of direct sftp speed.
import { createRequire } from 'node:module';
import type { Logger } from '../../../common/log.js';

/**
 * The window each channel grants its sender, on both legs (ssh2's own is 2 MiB). Keep equal to
 * CHANNEL_WINDOW_MIB in scripts/patch-ssh2.cjs.
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

/** Logs a warning, with what to do, when ssh2's window is not CHANNEL_WINDOW. Returns whether it is. */
export function checkChannelWindow(log: Logger, actual: number | undefined = ssh2ChannelWindow()): boolean {
  if (actual === CHANNEL_WINDOW) return true;
  log.warn('ssh2 channel window is not patched: file transfers through the recorder run slower', {
    windowBytes: actual ?? null,
    expectedBytes: CHANNEL_WINDOW,
    fix: 'reinstall with npm ci, scripts allowed (its postinstall runs scripts/patch-ssh2.cjs), or run node scripts/patch-ssh2.cjs',
  });
  return false;
}
