// Words as the index sees them, and the phrase a query asks for.
// A token is a run of letters, digits and `_`, lower-cased and cut to MAX_TOKEN characters; the index
// maps tokens to lines, the phrase matcher then checks the real text of those lines.

import { forEachTokenHash, MAX_TOKEN } from './postings.js';

export { MAX_TOKEN };

const WORD_RE = /[\p{L}\p{N}_]/u;

function isWordCode(c: number): boolean {
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
  return WORD_RE.test(String.fromCharCode(c));
}

/** Calls `each` with every token of `text` (duplicates included). */
export function forEachToken(text: string, each: (token: string) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && !isWordCode(text.charCodeAt(i))) i++;
    if (i >= n) return;
    const from = i;
    while (i < n && isWordCode(text.charCodeAt(i))) i++;
    const tok = i - from > MAX_TOKEN ? text.slice(from, from + MAX_TOKEN) : text.slice(from, i);
    each(tok.toLowerCase());
  }
}

export function tokens(text: string): string[] {
  const out: string[] = [];
  forEachToken(text, (t) => out.push(t));
  return out;
}

export interface Phrase {
  /** Distinct tokens every matching line must contain. */
  readonly tokens: readonly string[];
  /** Their hashes, as the index stores them. */
  readonly hashes: readonly number[];
  /** Finds the phrase in a line: whole words at its ends, any run of blanks for a blank. */
  readonly re: RegExp;
}

/**
 * The phrase a query's words make. `sudo su` matches "# sudo su -" but not "sudo sudo": the words are
 * whole at both ends; blanks in the query match any run of blanks. Throws when there is nothing to look up.
 */
export function compilePhrase(words: string, opts: { caseSensitive?: boolean } = {}): Phrase {
  const q = words.trim();
  const toks = [...new Set(tokens(q))];
  if (toks.length === 0) throw new Error('the search words need at least one letter or digit');
  const body = q
    .split(/\s+/)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('\\s+');
  const lead = WORD_RE.test(q[0]!) ? '(?<![\\p{L}\\p{N}_])' : '';
  const tail = WORD_RE.test(q[q.length - 1]!) ? '(?![\\p{L}\\p{N}_])' : '';
  const hashes = new Set<number>();
  forEachTokenHash(q, (h) => hashes.add(h));
  return { tokens: toks, hashes: [...hashes], re: new RegExp(lead + body + tail, opts.caseSensitive ? 'gu' : 'giu') };
}
