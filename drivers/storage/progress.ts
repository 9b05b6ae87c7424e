// A one-line progress display for long transfers: bytes, rate and time left, redrawn at most a
// few times a second on a terminal, silent otherwise.

/** Formats a byte count as B, KiB, MiB or GiB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * A progress line written to `out` (a terminal).
 *
 * @example
 * ```ts
 * const progress = new Progress("write", total, (t) => process.stderr.write(t));
 * progress.update(bytes); ... progress.done();
 * ```
 */
export class Progress {
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #out: (text: string) => void;
  readonly #started = performance.now();
  #lastDraw = 0;
  #bytes = 0;

  /** `total` is unknown for streams of unknown length. */
  constructor(label: string, total: number | undefined, out: (text: string) => void) {
    this.#label = label;
    this.#total = total;
    this.#out = out;
  }

  /** Records progress; redraws at most every 200 ms. */
  update(bytes: number): void {
    this.#bytes = bytes;
    const now = performance.now();
    if (now - this.#lastDraw < 200) return;
    this.#lastDraw = now;
    this.#out(`\r${this.line(now)}\x1b[K`);
  }

  /** The final line. */
  done(): void {
    this.#out(`\r${this.line(performance.now())}\x1b[K\n`);
  }

  /** The text of the line at time `now`. */
  line(now: number): string {
    const seconds = Math.max((now - this.#started) / 1000, 1e-3);
    const rate = this.#bytes / seconds;
    const total = this.#total;
    const amount = total
      ? `${formatBytes(this.#bytes)} / ${formatBytes(total)} (${
        Math.floor((100 * this.#bytes) / total)
      }%)`
      : formatBytes(this.#bytes);
    const eta = total && rate > 0 ? `, ${Math.ceil((total - this.#bytes) / rate)} s left` : "";
    return `${this.#label}: ${amount}, ${formatBytes(rate)}/s${eta}`;
  }
}
