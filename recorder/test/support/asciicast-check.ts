// An asciicast v2 checker for tests (https://docs.asciinema.org/manual/asciicast/v2/): every line of a
// cast, header and events. Returns what is wrong, line by line; [] for a valid cast.
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';

export function checkAsciicast(text: string): string[] {
  const errors: string[] = [];
  if (!text.endsWith('\n')) errors.push('the file does not end with a newline');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let header: unknown;
  try {
    header = JSON.parse(lines[0] ?? '');
  } catch {
    return [...errors, 'line 1: the header is not JSON'];
  }
  const h = header as Record<string, unknown>;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return [...errors, 'line 1: the header is not an object'];
  if (h.version !== 2) errors.push(`line 1: version is ${JSON.stringify(h.version)}, not 2`);
  for (const k of ['width', 'height']) {
    if (!Number.isInteger(h[k]) || (h[k] as number) <= 0) errors.push(`line 1: ${k} is not a positive integer`);
  }
  if (h.timestamp !== undefined && !Number.isInteger(h.timestamp)) errors.push('line 1: timestamp is not an integer');
  if (h.env !== undefined && (typeof h.env !== 'object' || h.env === null)) errors.push('line 1: env is not an object');
  let last = 0;
  lines.slice(1).forEach((line, i) => {
    const n = i + 2;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      errors.push(`line ${n}: not JSON`);
      return;
    }
    if (!Array.isArray(ev) || ev.length !== 3) return void errors.push(`line ${n}: not a [time, code, data] array`);
    const [t, code, data] = ev as [unknown, unknown, unknown];
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) errors.push(`line ${n}: time is not a non-negative number`);
    else if (t < last) errors.push(`line ${n}: time ${t} goes back from ${last}`);
    else last = t;
    if (code !== 'o' && code !== 'i' && code !== 'r' && code !== 'm') errors.push(`line ${n}: code ${JSON.stringify(code)} is not o, i, r or m`);
    if (typeof data !== 'string') errors.push(`line ${n}: data is not a string`);
    else if (code === 'r' && !/^\d+x\d+$/.test(data)) errors.push(`line ${n}: resize data "${data}" is not COLSxROWS`);
  });
  return errors;
}

export function checkAsciicastFile(file: string): string[] {
  const raw = readFileSync(file);
  return checkAsciicast((file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8'));
}
