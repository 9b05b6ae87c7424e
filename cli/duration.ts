// Durations as users write them for leases (upstream's forms): `30m`, `3h30m`, `1d`, `90s`,
// ISO 8601 `PT1H30M`, clock `01:30:00`, or plain seconds.

const UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** A duration that cannot be read. */
export class DurationError extends Error {
  /** Creates the error. */
  constructor(text: string) {
    super(`"${text}" is not a duration (write e.g. 30m, 1h30m, 2d, 90s, PT1H, 01:30:00)`);
    this.name = "DurationError";
  }
}

/** Milliseconds of the duration `text`; DurationError when it is not one or not positive. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  let ms: number | undefined;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else if (/^(\d+:)?\d{1,2}:\d{2}$/.test(trimmed)) {
    const parts = trimmed.split(":").map(Number);
    while (parts.length < 3) parts.unshift(0);
    ms = ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000;
  } else {
    const iso = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(trimmed);
    if (iso && trimmed.length > 1 && !/T$/i.test(trimmed)) {
      const [, d, h, m, s] = iso.map((v) => Number(v ?? 0));
      ms = ((d * 24 + h) * 60 + m) * 60_000 + s * 1000;
    } else if (/^(\d+(\.\d+)?[dhms])+$/i.test(trimmed)) {
      ms = 0;
      for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)([dhms])/gi)) {
        ms += Number(amount) * UNITS[unit.toLowerCase()];
      }
    }
  }
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) throw new DurationError(text);
  return Math.round(ms);
}

/** A duration for people: `1h30m`, `45s`, `2d3h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("");
}
