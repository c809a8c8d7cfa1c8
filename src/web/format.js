// @ts-check
// How the page writes numbers: sizes, counts, steps, shares and the tables' values.

/**
 * A number as the tables show it (a dash where there is none).
 * @param {number | null | undefined} x
 */
export function fmt(x, digits = 4) {
  return x == null || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
}

/**
 * Bytes in megabytes ("?" where unknown).
 * @param {number | null | undefined} bytes
 */
export function megabytes(bytes) {
  return bytes == null ? "?" : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

/**
 * A parameter count: 124M, 1.30B.
 * @param {number} n
 */
export function formatParams(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(0)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}K` : String(n);
}

/**
 * Steps on the training axis: 1.2k, 143k.
 * @param {number} n
 */
export function formatStep(n) {
  return n >= 1e3 ? `${+(n / 1e3).toPrecision(3)}k` : String(n);
}

/**
 * A share as a whole percentage.
 * @param {number} x
 */
export function percent(x) {
  return `${Math.round(100 * x)}%`;
}
