// `jmp admin get clients|exporters|leases [NAME]`: the controller's records as tables, or as
// JSON/YAML objects for scripts (times as ISO 8601 there, relative in tables).

import {
  type ClientRecord,
  type ExporterRecord,
  formatSelector,
  isOnline,
  type LeaseRecord,
  plannedEnd,
  type Store,
} from "../../controller/mod.ts";
import { CliError, type Command, type Group, parseCommandArgs, usageError } from "../command.ts";
import { openControllerData, storeStep } from "../controller_data.ts";
import { listFormat, renderRows } from "../output_format.ts";
import { getPoliciesCommand } from "./admin_policies.ts";
import {
  ADMIN_OPTION_DOCS,
  ADMIN_OPTIONS,
  checkedName,
  controllerOf,
  formatLabels,
  namespaceOf,
} from "./admin_args.ts";

/** How one kind of record is fetched and shown. */
interface Listing<R extends { name: string }> {
  singular: string;
  plural: string;
  /** Ended records exist and are hidden unless `--all` (leases). */
  hidesEnded?: boolean;
  one(store: Store, namespace: string, name: string): Promise<R | undefined>;
  all(store: Store, namespace: string, withEnded: boolean): Promise<R[]>;
  /** The object JSON and YAML show. */
  data(record: R, now: number): Record<string, unknown>;
  /** The table's cells, keyed as `columns` says. */
  cells(record: R, now: number): Record<string, string>;
  columns: readonly (readonly [string, string])[];
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** `3m ago` or `in 2h`: enough to read a table at a glance. */
function relative(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return "";
  const seconds = Math.round((ms - now) / 1000);
  const size = Math.abs(seconds);
  const text = size < 60
    ? `${size}s`
    : size < 3600
    ? `${Math.floor(size / 60)}m`
    : size < 86400
    ? `${Math.floor(size / 3600)}h`
    : `${Math.floor(size / 86400)}d`;
  return seconds > 0 ? `in ${text}` : `${text} ago`;
}

const clients: Listing<ClientRecord> = {
  singular: "client",
  plural: "clients",
  one: (store, namespace, name) => store.getClient(namespace, name),
  all: (store, namespace) => store.listClients(namespace),
  data: (c) => ({
    namespace: c.namespace,
    name: c.name,
    uid: c.uid,
    labels: c.labels,
    username: c.username ?? null,
    createdAt: iso(c.createdAt),
  }),
  cells: (c, now) => ({
    name: c.name,
    labels: formatLabels(c.labels),
    created: relative(c.createdAt, now),
  }),
  columns: [["NAME", "name"], ["LABELS", "labels"], ["CREATED", "created"]],
};

// Online as far as the store tells: another process cannot see the controller's open streams,
// so an exporter counts as online while its last report is recent.
function exporterStatus(e: ExporterRecord, now: number): string {
  if (!e.enabled) return "Disabled";
  return isOnline(e, now) ? e.status : "Offline";
}

const exporters: Listing<ExporterRecord> = {
  singular: "exporter",
  plural: "exporters",
  one: (store, namespace, name) => store.getExporter(namespace, name),
  all: (store, namespace) => store.listExporters(namespace),
  data: (e, now) => ({
    namespace: e.namespace,
    name: e.name,
    uid: e.uid,
    labels: e.labels,
    enabled: e.enabled,
    online: isOnline(e, now),
    status: e.status,
    statusMessage: e.statusMessage,
    lastSeen: iso(e.lastSeen),
    version: e.version ?? null,
    devices: e.devices?.length ?? null,
  }),
  cells: (e, now) => ({
    name: e.name,
    labels: formatLabels(e.labels),
    status: exporterStatus(e, now),
    lastSeen: e.lastSeen === null ? "never" : relative(e.lastSeen, now),
  }),
  columns: [
    ["NAME", "name"],
    ["LABELS", "labels"],
    ["STATUS", "status"],
    ["LAST SEEN", "lastSeen"],
  ],
};

/** Ready, Pending, or why it ended (Released, Expired, ...). */
function leaseState(lease: LeaseRecord): string {
  if (!lease.status.ended) return lease.status.exporter === undefined ? "Pending" : "Ready";
  const reason = lease.status.conditions.findLast((c) =>
    (c.type === "Ready" && c.status === "False") ||
    ((c.type === "Unsatisfiable" || c.type === "Invalid") && c.status === "True")
  )?.reason;
  return reason || "Ended";
}

function leaseEnd(lease: LeaseRecord): number | undefined {
  return lease.status.ended ? lease.status.endTime : plannedEnd(lease);
}

const leases: Listing<LeaseRecord> = {
  singular: "lease",
  plural: "leases",
  hidesEnded: true,
  one: (store, namespace, name) => store.getLease(namespace, name),
  all: (store, namespace, withEnded) => store.listLeases(namespace, { includeEnded: withEnded }),
  data: (l) => ({
    namespace: l.namespace,
    name: l.name,
    client: l.client,
    exporter: l.status.exporter ?? null,
    selector: formatSelector(l.selector),
    state: leaseState(l),
    message: l.status.conditions.at(-1)?.message ?? "",
    durationMs: l.durationMs,
    beginTime: iso(l.status.beginTime),
    endTime: iso(leaseEnd(l)),
  }),
  cells: (l, now) => ({
    name: l.name,
    client: l.client,
    exporter: l.status.exporter ?? "",
    selector: formatSelector(l.selector) || (l.exporterName ? `name=${l.exporterName}` : ""),
    state: leaseState(l),
    ends: relative(leaseEnd(l), now),
  }),
  columns: [
    ["NAME", "name"],
    ["CLIENT", "client"],
    ["EXPORTER", "exporter"],
    ["SELECTOR", "selector"],
    ["STATE", "state"],
    ["ENDS", "ends"],
  ],
};

function getCommand<R extends { name: string }>(listing: Listing<R>, name: string): Command {
  const endedOption = listing.hidesEnded
    ? [{ flags: "-a, --all", summary: `also ended ${listing.plural}` }]
    : [];
  return {
    name,
    summary: `List ${listing.plural}, or show the one called NAME`,
    usage: `[NAME] [-n NS]${listing.hidesEnded ? " [-a]" : ""} [-o text|json|yaml|name] ` +
      "[--data-dir DIR]",
    options: [
      ...ADMIN_OPTION_DOCS,
      ...endedOption,
      { flags: "-o, --output FORMAT", summary: "text (default), json, yaml or name" },
    ],
    async run(args, ctx) {
      const { values, positionals } = parseCommandArgs({
        args,
        options: {
          ...ADMIN_OPTIONS,
          all: { type: "boolean", short: "a", default: false },
          output: { type: "string", short: "o", default: "text" },
        },
        allowPositionals: true,
        strict: true,
      }, ctx);
      if (positionals.length > 1) {
        throw usageError(`give at most one ${listing.singular} NAME`, ctx);
      }
      if (values.all && !listing.hidesEnded) throw usageError(`unknown option "--all"`, ctx);
      const namespace = namespaceOf(values, ctx);
      const format = listFormat(values.output, ctx);
      const wanted = positionals[0] === undefined
        ? undefined
        : checkedName(positionals[0], ctx, listing.singular);
      await using data = await openControllerData(controllerOf(values));
      const records = await storeStep(() =>
        fetchRecords(listing, data.store, namespace, wanted, values.all)
      );
      const now = Date.now();
      const rows: Record<string, unknown>[] = format === "text"
        ? records.map((r) => listing.cells(r, now))
        : records.map((r) => listing.data(r, now));
      ctx.io.stdout(renderRows(rows, format, listing.columns, "name"));
    },
  };
}

async function fetchRecords<R extends { name: string }>(
  listing: Listing<R>,
  store: Store,
  namespace: string,
  name: string | undefined,
  withEnded: boolean,
): Promise<R[]> {
  if (name === undefined) return await listing.all(store, namespace, withEnded);
  const record = await listing.one(store, namespace, name);
  if (record === undefined) {
    throw new CliError(`${listing.singular} ${namespace}/${name} not found`);
  }
  return [record];
}

/** `get clients|exporters|leases`, each also in its singular spelling. */
export const adminGetGroup: Group = {
  name: "get",
  summary: "List clients, exporters, leases or access policies (or show one by NAME)",
  commands: [
    getCommand(clients, "clients"),
    getCommand(clients, "client"),
    getCommand(exporters, "exporters"),
    getCommand(exporters, "exporter"),
    getCommand(leases, "leases"),
    getCommand(leases, "lease"),
    getPoliciesCommand,
  ],
};
