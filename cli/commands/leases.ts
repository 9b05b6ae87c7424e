// `jmp create lease`, `jmp get leases|exporters`, `jmp update lease`, `jmp delete lease`:
// leases and exporters as the client's controller shows them.

import { ConnectError } from "@connectrpc/connect";
import { ControllerConnection, LeaseError, type LeaseInfo } from "../../client/mod.ts";
import { resolveClientConfig } from "../../config/mod.ts";
import { ExporterStatus } from "../../proto/mod.ts";
import { CliError, type Command, type Group, parseCommandArgs, usageError } from "../command.ts";
import { configStep } from "../config_args.ts";
import { DurationError, formatDuration, parseDuration } from "../duration.ts";
import { listFormat, renderRows } from "../output_format.ts";

/** Options that pick the client config, shared by every command that talks to a controller. */
export const CLIENT_OPTIONS = {
  client: { type: "string" },
  "client-config": { type: "string" },
} as const;

/** Their help lines. */
export const CLIENT_OPTION_DOCS = [
  { flags: "    --client ALIAS", summary: "use this client config (default: the current one)" },
  { flags: "    --client-config FILE", summary: "use this client config file" },
];

/** The controller of the chosen client config. */
export async function clientConnection(
  values: { client?: string; "client-config"?: string },
): Promise<ControllerConnection> {
  const { config } = await configStep(() =>
    resolveClientConfig({ alias: values.client, file: values["client-config"] })
  );
  return await controllerStep(() => new ControllerConnection(config));
}

/** Runs a step that talks to the controller; its failures become one-line CLI errors. */
export async function controllerStep<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof ConnectError) throw new CliError(err.rawMessage);
    if (err instanceof LeaseError || err instanceof DurationError) {
      throw new CliError(err.message);
    }
    throw err;
  }
}

/** Reads `--duration`-style option values. */
export function durationOption(value: string, option: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new CliError(`${option}: ${(err as Error).message}`);
  }
}

const OUTPUT = { output: { type: "string", short: "o", default: "text" } } as const;
const OUTPUT_DOC = { flags: "-o, --output FORMAT", summary: "text (default), json, yaml or name" };

function leaseRow(lease: LeaseInfo, now: number) {
  const remaining = lease.state === "Ready" && lease.endTime !== undefined
    ? formatDuration(lease.endTime - now)
    : "";
  return {
    name: lease.name,
    client: lease.client,
    exporter: lease.exporter ?? "",
    selector: lease.selector,
    state: lease.state,
    duration: formatDuration(lease.durationMs),
    expires: lease.state === "Ready" && lease.endTime ? new Date(lease.endTime).toISOString() : "",
    remaining,
    message: lease.message,
  };
}

const createLeaseCommand: Command = {
  name: "lease",
  summary: "Ask for a lease on an exporter chosen by labels (-l) or by name (-n)",
  usage: "(-l SELECTOR | -n EXPORTER) [--duration D] [--wait] [-o FORMAT]",
  options: [
    { flags: "-l, --selector SEL", summary: "labels, e.g. board=rpi4,env!=prod" },
    { flags: "-n, --name EXPORTER", summary: "one exporter by name" },
    { flags: "    --duration D", summary: "how long (30m, 2h, 1d, PT1H; default 30m)" },
    { flags: "    --wait", summary: "wait until the lease is granted" },
    OUTPUT_DOC,
    ...CLIENT_OPTION_DOCS,
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: {
        selector: { type: "string", short: "l" },
        name: { type: "string", short: "n" },
        duration: { type: "string", default: "30m" },
        wait: { type: "boolean", default: false },
        ...OUTPUT,
        ...CLIENT_OPTIONS,
      },
      strict: true,
    }, ctx);
    if (!values.selector && !values.name) throw usageError("give -l SELECTOR or -n EXPORTER", ctx);
    const format = listFormat(values.output, ctx);
    const durationMs = durationOption(values.duration, "--duration");
    using connection = await clientConnection(values);
    let lease = await controllerStep(() =>
      connection.createLease({ selector: values.selector, exporterName: values.name, durationMs })
    );
    if (values.wait && lease.state !== "Ready") {
      lease = await controllerStep(() =>
        connection.waitForLease(lease.name, {
          timeoutMs: connection.config.leases.acquisitionTimeout * 1000,
          onWait: (m) => ctx.io.stderr(`waiting: ${m}\n`),
        })
      );
    }
    ctx.io.stdout(renderRows([leaseRow(lease, Date.now())], format, LEASE_COLUMNS, "name"));
  },
};

const LEASE_COLUMNS = [
  ["NAME", "name"],
  ["CLIENT", "client"],
  ["EXPORTER", "exporter"],
  ["SELECTOR", "selector"],
  ["STATE", "state"],
  ["EXPIRES AT", "expires"],
  ["REMAINING", "remaining"],
] as const;

const getLeasesCommand: Command = {
  name: "leases",
  summary: "List your leases (-A: every client's; -a: ended ones too)",
  usage: "[-a] [-A] [-o FORMAT]",
  options: [
    { flags: "-a, --all", summary: "include ended leases" },
    { flags: "-A, --all-clients", summary: "include other clients' leases" },
    OUTPUT_DOC,
    ...CLIENT_OPTION_DOCS,
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: {
        all: { type: "boolean", short: "a", default: false },
        "all-clients": { type: "boolean", short: "A", default: false },
        ...OUTPUT,
        ...CLIENT_OPTIONS,
      },
      strict: true,
    }, ctx);
    const format = listFormat(values.output, ctx);
    using connection = await clientConnection(values);
    const me = connection.config.metadata.name;
    const leases = (await controllerStep(() => connection.listLeases({ all: values.all })))
      .filter((l) => values["all-clients"] || l.client === me);
    const now = Date.now();
    ctx.io.stdout(renderRows(leases.map((l) => leaseRow(l, now)), format, LEASE_COLUMNS, "name"));
  },
};

const getExportersCommand: Command = {
  name: "exporters",
  summary: "List the exporters you can lease, with their labels and status",
  usage: "[-l SELECTOR] [-o FORMAT]",
  options: [
    { flags: "-l, --selector SEL", summary: "only those matching, e.g. board=rpi4" },
    {
      flags: "-o, --output FORMAT",
      summary: "text (default), wide (with messages), json, yaml or name",
    },
    ...CLIENT_OPTION_DOCS,
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: {
        selector: { type: "string", short: "l", default: "" },
        ...OUTPUT,
        ...CLIENT_OPTIONS,
      },
      strict: true,
    }, ctx);
    const wide = values.output === "wide";
    const format = listFormat(wide ? "text" : values.output, ctx);
    using connection = await clientConnection(values);
    const exporters = await controllerStep(() => connection.listExporters(values.selector));
    const rows = exporters.map((e) => ({
      name: e.name,
      labels: Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(","),
      online: e.online,
      status: ExporterStatus[e.status] ?? String(e.status),
      message: e.statusMessage,
    }));
    const columns = [
      ["NAME", "name"],
      ["LABELS", "labels"],
      ["ONLINE", "online"],
      ["STATUS", "status"],
      ...(wide ? [["MESSAGE", "message"]] : []),
    ] as [string, keyof typeof rows[number]][];
    ctx.io.stdout(renderRows(rows, format, columns, "name"));
  },
};

const deleteLeaseCommand: Command = {
  name: "lease",
  summary: "End leases: the named ones, or all of yours with --all",
  usage: "(NAME... | --all)",
  options: [{ flags: "    --all", summary: "every active lease of yours" }, ...CLIENT_OPTION_DOCS],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: { all: { type: "boolean", default: false }, ...CLIENT_OPTIONS },
      allowPositionals: true,
      strict: true,
    }, ctx);
    if (!values.all && positionals.length === 0) {
      throw usageError("which lease? give NAME or --all", ctx);
    }
    using connection = await clientConnection(values);
    const names = values.all
      ? (await controllerStep(() => connection.listLeases()))
        .filter((l) => l.client === connection.config.metadata.name).map((l) => l.name)
      : positionals;
    for (const name of names) {
      await controllerStep(() => connection.releaseLease(name));
      ctx.io.stdout(`lease ${name} released\n`);
    }
  },
};

const updateLeaseCommand: Command = {
  name: "lease",
  summary: "Extend a lease (--extend) or set its duration (--duration, counted from its start)",
  usage: "NAME (--extend D | --duration D) [--allow-shorter]",
  options: [
    { flags: "    --extend D", summary: "add D to the lease's duration (e.g. 30m)" },
    {
      flags: "    --duration D",
      summary: "the new total duration from the lease's start; a shorter one needs --allow-shorter",
    },
    { flags: "    --allow-shorter", summary: "let --duration shorten the lease" },
    OUTPUT_DOC,
    ...CLIENT_OPTION_DOCS,
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        extend: { type: "string" },
        duration: { type: "string" },
        "allow-shorter": { type: "boolean", default: false },
        ...OUTPUT,
        ...CLIENT_OPTIONS,
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const [name] = positionals;
    if (!name) throw usageError("which lease? give its NAME", ctx);
    if ((values.extend === undefined) === (values.duration === undefined)) {
      throw usageError("give either --extend D or --duration D", ctx);
    }
    const format = listFormat(values.output, ctx);
    using connection = await clientConnection(values);
    const lease = await controllerStep(() => connection.getLease(name));
    const total = values.extend !== undefined
      ? lease.durationMs + durationOption(values.extend, "--extend")
      : durationOption(values.duration!, "--duration");
    if (total < lease.durationMs && !values["allow-shorter"]) {
      throw new CliError(
        `--duration ${formatDuration(total)} would shorten lease ${name} ` +
          `(now ${formatDuration(lease.durationMs)}); add --allow-shorter if that is meant`,
      );
    }
    const updated = await controllerStep(() => connection.updateLease(name, total));
    ctx.io.stdout(renderRows([leaseRow(updated, Date.now())], format, LEASE_COLUMNS, "name"));
  },
};

/** `jmp create lease`. */
export const createGroup: Group = {
  name: "create",
  summary: "Create resources on the controller (leases)",
  commands: [createLeaseCommand],
};

/** `jmp get leases|exporters`. */
export const getGroup: Group = {
  name: "get",
  summary: "List leases and exporters on the controller",
  commands: [getLeasesCommand, getExportersCommand],
};

/** `jmp update lease`. */
export const updateGroup: Group = {
  name: "update",
  summary: "Change leases (extend them)",
  commands: [updateLeaseCommand],
};

/** `jmp delete lease`. */
export const deleteGroup: Group = {
  name: "delete",
  summary: "End leases",
  commands: [deleteLeaseCommand, { ...deleteLeaseCommand, name: "leases" }],
};
