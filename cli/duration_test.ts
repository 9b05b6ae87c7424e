import { strict as assert } from "node:assert";
import { DurationError, formatDuration, parseDuration } from "./duration.ts";

Deno.test("durations in upstream's forms are read", () => {
  const cases: [string, number][] = [
    ["30m", 1_800_000],
    ["3h30m", 12_600_000],
    ["1d", 86_400_000],
    ["90s", 90_000],
    ["1.5h", 5_400_000],
    ["PT1H30M", 5_400_000],
    ["P1DT2H", 93_600_000],
    ["01:30:00", 5_400_000],
    ["5:00", 300_000],
    ["600", 600_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

Deno.test("what is not a positive duration is refused with the forms that work", () => {
  for (const text of ["", "0", "0m", "ten minutes", "5x", "PT", "-5m", "1:2:3:4"]) {
    assert.throws(() => parseDuration(text), DurationError, text);
  }
  assert.throws(() => parseDuration("soon"), /"soon" is not a duration \(write e\.g\. 30m/);
});

Deno.test("durations are shown compactly", () => {
  assert.equal(formatDuration(5_400_000), "1h30m");
  assert.equal(formatDuration(93_784_000), "1d2h3m4s");
  assert.equal(formatDuration(45_000), "45s");
  assert.equal(formatDuration(12), "12ms");
});
