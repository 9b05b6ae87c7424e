// The one table `deno task bench` prints and writes to results.json: every figure of a run next
// to the reference it is compared to, measured in the same run, and the target set for it.

import type { DriverCallRow } from "./driver_calls.ts";
import type { LeaseRouterRow } from "./lease_router.ts";
import type { ForwardRow } from "./network_forward.ts";
import type { SerialRow } from "./serial_echo.ts";
import type { StartupRow } from "./startup.ts";
import type { StorageRow } from "./storage_write.ts";

/** One transport scenario's medians: a server and a client peer over `unix` or `tcp`. */
export interface ScenarioRow {
  scenario: string;
  /** The peers' keys, as in `--peers`. */
  server: string;
  client: string;
  transport: string;
  mb_per_s: number;
  unary_p50_ms: number | null;
  unary_p99_ms: number | null;
}

/** Everything one run measured; a section that failed or was skipped is empty or absent. */
export interface BenchFigures {
  scenarios: ScenarioRow[];
  driverCalls: DriverCallRow[];
  forwarding: ForwardRow[];
  storage: StorageRow[];
  serial?: SerialRow;
  /** The distributed section, with the servers on Deno and on Bun. */
  leaseRouters: LeaseRouterRow[];
  startup?: StartupRow;
}

/** One line of the table; `met` is null when there is no target or it could not be judged. */
export interface TableRow {
  group: string;
  measure: string;
  value: number;
  unit: string;
  reference: string | null;
  reference_value: number | null;
  /** value / reference_value. */
  ratio: number | null;
  target: string | null;
  met: boolean | null;
}

/** A bound on a figure's own value or on its ratio to the reference. */
interface Target {
  on: "value" | "ratio";
  op: "≥" | "<";
  bound: number;
}

/** A figure before its ratio and verdict are worked out. */
interface Figure {
  measure: string;
  value: number;
  unit: string;
  reference?: { name: string; value: number | null | undefined };
  target?: Target;
}

/**
 * Lays out a run's figures as table rows, grouped; a missing section gives no rows.
 *
 * @example
 * ```ts
 * const rows = buildTable({
 *   scenarios: [],
 *   driverCalls: [],
 *   forwarding: [],
 *   storage: [],
 *   leaseRouters: [],
 * });
 * console.log(formatTable(rows));
 * ```
 */
export function buildTable(figures: BenchFigures): TableRow[] {
  return GROUPS.flatMap(([group, build]) => build(figures).map((figure) => judge(group, figure)));
}

/** The table as text: one heading line per group, columns sized to their contents. */
export function formatTable(rows: TableRow[]): string {
  const cells = rows.map((row) => [
    `  ${row.measure}`,
    `${number(row.value)} ${row.unit}`,
    row.reference ?? "-",
    row.reference_value === null ? "-" : `${number(row.reference_value)} ${row.unit}`,
    row.ratio === null ? "-" : `${row.ratio.toFixed(2)}x`,
    row.target ?? "-",
    row.met === null ? "-" : row.met ? "yes" : "NO",
  ]);
  const widths = HEADINGS.map((heading, i) =>
    Math.max(heading.length, ...cells.map((line) => line[i].length))
  );
  const line = (values: string[]) =>
    values.map((v, i) => (RIGHT_ALIGNED.has(i) ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join("  ").trimEnd();
  const out = [line(HEADINGS), widths.map((w) => "-".repeat(w)).join("  ")];
  rows.forEach((row, i) => {
    if (row.group !== rows[i - 1]?.group) out.push(row.group);
    out.push(line(cells[i]));
  });
  return out.join("\n");
}

/** One line counting the targets met and missed. */
export function tallyTargets(rows: TableRow[]): string {
  const targeted = rows.filter((row) => row.target !== null);
  const met = targeted.filter((row) => row.met === true).length;
  const missed = targeted.filter((row) => row.met === false).length;
  const unjudged = targeted.length - met - missed;
  return `targets: ${met} met, ${missed} missed` +
    (unjudged ? `, ${unjudged} without a reference to judge by` : "");
}

const HEADINGS = ["measured", "ours", "reference", "its value", "ratio", "target", "met"];
const RIGHT_ALIGNED = new Set([1, 3, 4]);

// "deno" -> "Deno", as the runtime is named elsewhere in the table.
function runtimeName(runtime: string): string {
  return runtime[0].toUpperCase() + runtime.slice(1);
}

// Three significant-ish digits: 0.145 ms, 16.8 ms, 446 MB/s.
function number(value: number): string {
  const size = Math.abs(value);
  return value.toFixed(size >= 100 ? 0 : size >= 10 ? 1 : 3);
}

function judge(group: string, figure: Figure): TableRow {
  const referenceValue = figure.reference?.value ?? null;
  const ratio = referenceValue ? figure.value / referenceValue : null;
  const target = figure.target;
  return {
    group,
    measure: figure.measure,
    value: figure.value,
    unit: figure.unit,
    reference: figure.reference?.name ?? null,
    reference_value: referenceValue,
    ratio,
    target: target ? describe(target, figure.unit) : null,
    met: target ? meets(target, target.on === "ratio" ? ratio : figure.value) : null,
  };
}

// "≥ 1.00x" for a bound on the ratio, "< 2 ms" for one on the value.
function describe(target: Target, unit: string): string {
  const bound = target.on === "ratio" ? `${target.bound.toFixed(2)}x` : `${target.bound} ${unit}`;
  return `${target.op} ${bound}`;
}

// Null when there is nothing to judge by (the reference is missing).
function meets(target: Target, judged: number | null): boolean | null {
  if (judged === null) return null;
  return target.op === "≥" ? judged >= target.bound : judged < target.bound;
}

// The transport scenarios, by the keys main.ts gives its peers.
interface Scenario {
  name: string;
  server: string;
  client: string;
}
function scenario(name: string, server: string, client = server): Scenario {
  return { name, server, client };
}
const OURS = scenario("ours on Deno", "ours");
const OURS_BUN = scenario("ours on Bun", "oursBun");
const GRPCIO = scenario("Python grpcio", "grpcio");
const RAW = scenario("raw node:http2 on Deno", "raw");
const RAW_BUN = scenario("raw node:http2 on Bun", "rawBun");
const GENERIC = scenario("connect-es generic path on Deno", "generic");
const GRPCIO_TO_OURS_BUN = scenario("grpcio client -> ours on Bun", "oursBun", "grpcio");

const AT_LEAST_GRPCIO: Target = { on: "ratio", op: "≥", bound: 1 };
const STREAM_COMPARISONS: [Scenario, Scenario, Target?][] = [
  [OURS, GRPCIO, AT_LEAST_GRPCIO],
  [OURS_BUN, GRPCIO, AT_LEAST_GRPCIO],
  [OURS, RAW],
  [OURS_BUN, RAW_BUN],
  [OURS, GENERIC],
  [GRPCIO_TO_OURS_BUN, GRPCIO],
];
const UNARY_MEASURED = [OURS, OURS_BUN, RAW, RAW_BUN, GENERIC, GRPCIO_TO_OURS_BUN];

function find(rows: ScenarioRow[], transport: string, s: Scenario): ScenarioRow | undefined {
  return rows.find((row) =>
    row.transport === transport && row.server === s.server && row.client === s.client
  );
}

function transports(rows: ScenarioRow[]): string[] {
  return [...new Set(rows.map((row) => row.transport))];
}

function directStreams({ scenarios }: BenchFigures): Figure[] {
  return transports(scenarios).flatMap((transport) =>
    STREAM_COMPARISONS.flatMap(([measured, reference, target]) => {
      const row = find(scenarios, transport, measured);
      if (!row) return [];
      return [{
        measure: `${transport}: ${measured.name}`,
        value: row.mb_per_s,
        unit: "MB/s",
        reference: { name: reference.name, value: find(scenarios, transport, reference)?.mb_per_s },
        target,
      }];
    })
  );
}

function unaryRoundTrips({ scenarios }: BenchFigures): Figure[] {
  return transports(scenarios).flatMap((transport) => {
    const grpcio = find(scenarios, transport, GRPCIO);
    return UNARY_MEASURED.flatMap((measured) => {
      const row = find(scenarios, transport, measured);
      return (["p50", "p99"] as const).flatMap((q) => {
        const value = row?.[`unary_${q}_ms`];
        if (value === undefined || value === null) return [];
        return [{
          measure: `${transport}: ${measured.name}, ${q}`,
          value,
          unit: "ms",
          reference: { name: `${GRPCIO.name}, ${q}`, value: grpcio?.[`unary_${q}_ms`] },
        }];
      });
    });
  });
}

function relayedStreams({ forwarding, storage, leaseRouters }: BenchFigures): Figure[] {
  return [
    ...forwarding.map((row) => ({
      measure: `network forward, exporter on ${runtimeName(row.runtime)}`,
      value: row.forward_mb_per_s,
      unit: "MB/s",
      reference: { name: "direct loopback", value: row.direct_mb_per_s },
    })),
    ...storage.map((row) => ({
      measure: `storage write, exporter on ${runtimeName(row.runtime)}`,
      value: row.exporter_mb_per_s,
      unit: "MB/s",
      reference: { name: "plain copy", value: row.copy_mb_per_s },
    })),
    ...leaseRouters.flatMap((row) => {
      const viaRouter = (target: Target): Figure => ({
        measure: `through the router (${runtimeName(row.servers)})`,
        value: row.router_mb_per_s,
        unit: "MB/s",
        reference: { name: "served directly (unix)", value: row.direct_mb_per_s },
        target,
      });
      return [
        viaRouter({ on: "value", op: "≥", bound: 117 }),
        viaRouter({ on: "ratio", op: "≥", bound: 0.5 }),
      ];
    }),
  ];
}

function driverCalls({ driverCalls, leaseRouters, scenarios }: BenchFigures): Figure[] {
  const grpcio = find(scenarios, "unix", GRPCIO);
  const local = driverCalls.flatMap((row): Figure[] => [
    {
      measure: `local (unix), exporter on ${runtimeName(row.runtime)}, p50`,
      value: row.p50_ms,
      unit: "ms",
      reference: { name: "Python grpcio unary (unix), p50", value: grpcio?.unary_p50_ms },
      target: { on: "ratio", op: "<", bound: 1 },
    },
    {
      measure: `local (unix), exporter on ${runtimeName(row.runtime)}, p99`,
      value: row.p99_ms,
      unit: "ms",
      reference: { name: "Python grpcio unary (unix), p99", value: grpcio?.unary_p99_ms },
      target: { on: "value", op: "<", bound: 2 },
    },
  ]);
  return [
    ...local,
    ...leaseRouters.flatMap((row): Figure[] => [
      {
        measure: `through the router (${runtimeName(row.servers)}), p50`,
        value: row.router_call_p50_ms,
        unit: "ms",
        reference: { name: "served directly (unix), p50", value: row.direct_call_p50_ms },
      },
      {
        measure: `through the router (${runtimeName(row.servers)}), p99`,
        value: row.router_call_p99_ms,
        unit: "ms",
        reference: { name: "served directly (unix), p99", value: row.direct_call_p99_ms },
      },
    ]),
  ];
}

function forwardRoundTrips({ forwarding }: BenchFigures): Figure[] {
  return forwarding.flatMap((row): Figure[] => [
    {
      measure: `network forward, exporter on ${runtimeName(row.runtime)}, p50`,
      value: row.forward_p50_ms,
      unit: "ms",
      reference: { name: "direct loopback, p50", value: row.direct_p50_ms },
    },
    {
      measure: `network forward, exporter on ${runtimeName(row.runtime)}, p99`,
      value: row.forward_p99_ms,
      unit: "ms",
    },
  ]);
}

function serialEchoes({ serial, leaseRouters }: BenchFigures): Figure[] {
  const figures: Figure[] = [];
  if (serial) {
    figures.push(
      {
        measure: "through the exporter (Deno), p50",
        value: serial.exporter_p50_ms,
        unit: "ms",
        reference: { name: "directly on the pty, p50", value: serial.direct_p50_ms },
      },
      {
        measure: "added by the exporter, p50",
        value: serial.exporter_p50_ms - serial.direct_p50_ms,
        unit: "ms",
        target: { on: "value", op: "<", bound: 1 },
      },
      { measure: "through the exporter (Deno), p99", value: serial.exporter_p99_ms, unit: "ms" },
    );
  }
  for (const row of leaseRouters) {
    figures.push(
      {
        measure: `through the router (${runtimeName(row.servers)}), p50`,
        value: row.router_serial_p50_ms,
        unit: "ms",
        reference: { name: "through the exporter, p50", value: serial?.exporter_p50_ms },
        target: { on: "value", op: "<", bound: 3 },
      },
      {
        measure: `through the router (${runtimeName(row.servers)}), p99`,
        value: row.router_serial_p99_ms,
        unit: "ms",
        reference: { name: "through the exporter, p99", value: serial?.exporter_p99_ms },
      },
    );
  }
  return figures;
}

function leaseGrants({ leaseRouters }: BenchFigures): Figure[] {
  return leaseRouters.flatMap((row): Figure[] => {
    const who = `${row.waiting_clients} waiting clients, controller on ${runtimeName(row.servers)}`;
    return [
      {
        measure: `grant to the next of ${who}, p50`,
        value: row.handover_p50_ms,
        unit: "ms",
        target: { on: "value", op: "<", bound: 20 },
      },
      { measure: `grant to the next of ${who}, p99`, value: row.handover_p99_ms, unit: "ms" },
    ];
  });
}

function startUp({ startup }: BenchFigures): Figure[] {
  if (!startup) return [];
  return [
    {
      measure: "cold start of the compiled jmp --help",
      value: startup.jmp_help_p50_ms,
      unit: "ms",
      reference: { name: "node -e 0", value: startup.node_p50_ms },
      target: { on: "value", op: "<", bound: 50 },
    },
    {
      measure: "idle compiled exporter, resident memory",
      value: startup.exporter_idle_rss_mb,
      unit: "MB",
      target: { on: "value", op: "<", bound: 60 },
    },
  ];
}

const GROUPS: [string, (figures: BenchFigures) => Figure[]][] = [
  ["byte stream, direct (32 KiB messages)", directStreams],
  ["byte stream through an exporter or the router", relayedStreams],
  ["unary round trip, direct", unaryRoundTrips],
  ["DriverCall power.on round trip, client library", driverCalls],
  ["network forward round trip", forwardRoundTrips],
  ["serial echo of a line through a pty loop", serialEchoes],
  ["leases", leaseGrants],
  ["start-up and memory", startUp],
];
