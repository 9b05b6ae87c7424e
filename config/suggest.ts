// "Did you mean ...?" for misspelt keys and type names.

/** Edit distance between two strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidates closest to `name` (case-insensitive), best first, at most `limit`; only those
 * near enough to be a plausible typo, or containing `name`.
 *
 * @example
 * ```ts
 * closest("baudrat", ["url", "baudrate"]); // ["baudrate"]
 * ```
 */
export function closest(name: string, candidates: readonly string[], limit = 3): string[] {
  const wanted = name.toLowerCase();
  return candidates
    .map((candidate) => {
      const lower = candidate.toLowerCase();
      const tail = lower.slice(lower.lastIndexOf(".") + 1);
      const d = Math.min(distance(wanted, lower), distance(wanted, tail));
      return { candidate, d: lower.includes(wanted) && wanted.length >= 3 ? 0 : d };
    })
    .filter(({ d }) => d <= Math.max(2, Math.floor(wanted.length / 3)))
    .sort((x, y) =>
      x.d - y.d || x.candidate.length - y.candidate.length ||
      x.candidate.localeCompare(y.candidate)
    )
    .slice(0, limit)
    .map(({ candidate }) => candidate);
}

/** ` (did you mean "a" or "b"?)` or an empty string. */
export function didYouMean(name: string, candidates: readonly string[]): string {
  const near = closest(name, candidates);
  if (near.length === 0) return "";
  return ` (did you mean ${near.map((n) => `"${n}"`).join(" or ")}?)`;
}
