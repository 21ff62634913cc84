// Kubernetes-style quantities (`10Gi`, `500Mi`, `1e9`, `2T`) as byte counts: the recorder's
// tempSizeLimit, the CRD's sizes (whole Mi, Gi or Ti) and the spool limit derived from them.

const UNITS: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };

/** The text of a quantity, for JSON Schema `pattern` (the recorder config's contract uses it). */
export const QUANTITY_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?(e[0-9]+)?\\s*(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?\\s*$';
const QUANTITY = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?\s*$/;

export const MiB = 2 ** 20;

/** Bytes, rounded down; a number is taken as bytes. undefined when it is not a quantity. */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? Math.floor(q) : undefined;
  const m = QUANTITY.exec(q);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * (m[2] ? (UNITS[m[2]] ?? 1) : 1));
}

/** Whole mebibytes of a quantity (`10Gi` -> 10240), or undefined when it is not a whole number of them. */
export function wholeMebibytes(q: string): number | undefined {
  const bytes = parseQuantity(q);
  return bytes !== undefined && bytes % MiB === 0 ? bytes / MiB : undefined;
}
