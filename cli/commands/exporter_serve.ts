// `jmp-exporter serve` (also `jmp exporter serve`): serves an exporter config's drivers on one
// address without a controller. `jmp shell` runs it on a private Unix socket.

import process from "node:process";
import {
  ConfigError,
  type ExporterConfig,
  findExporterConfig,
  loadExporterConfig,
} from "../../config/mod.ts";
import { type LogEntry, startLocalExporter } from "../../exporter/mod.ts";
import { formatAddress, TransportError } from "../../transport/mod.ts";
import { CliError, type Command, type Context, parseCommandArgs, usageError } from "../command.ts";

/** The line printed on stdout once the exporter accepts calls. */
export const READY_PREFIX = "listening on ";

const LEVELS = ["debug", "info", "warning", "error"] as const;

/** Loads the exporter config named by `--exporter-config FILE` or `--exporter NAME`. */
export async function loadChosenConfig(
  values: { "exporter-config"?: string; exporter?: string },
  ctx: Context,
) {
  const file = values["exporter-config"];
  const name = values.exporter;
  if ((file === undefined) === (name === undefined)) {
    throw usageError("give either --exporter-config FILE or --exporter NAME", ctx);
  }
  try {
    return await loadExporterConfig(file ?? findExporterConfig(name!));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/** Prints log lines at `level` and above on stderr. */
export function logPrinter(level: string): (entry: LogEntry) => void {
  const min = LEVELS.indexOf(level as typeof LEVELS[number]);
  return (entry) => {
    if (LEVELS.indexOf(entry.severity.toLowerCase() as typeof LEVELS[number]) < min) return;
    const who = entry.name ? ` ${entry.name}` : "";
    process.stderr.write(
      `${entry.timestamp.toISOString()} ${entry.severity}${who}: ${entry.message}\n`,
    );
  };
}

/**
 * Serves `config` on `address` until SIGINT/SIGTERM/SIGHUP (or, with `stopWithStdin`, until
 * standard input closes), printing READY_PREFIX and the address once it accepts calls.
 */
export async function serveUntilStopped(
  config: ExporterConfig,
  options: { address: string; logLevel: string; stopWithStdin?: boolean; onReady?: () => void },
): Promise<void> {
  let exporter;
  try {
    exporter = await startLocalExporter(config, {
      address: options.address,
      onLog: logPrinter(options.logLevel),
    });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TransportError) {
      throw new CliError(err.message);
    }
    throw err;
  }
  process.stdout.write(`${READY_PREFIX}${formatAddress(exporter.server.address)}\n`);
  options.onReady?.();
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, resolve);
    if (options.stopWithStdin) process.stdin.on("end", resolve).on("error", resolve).resume();
  });
  process.stdin.destroy();
  await exporter.close();
  // Everything is closed; a read still pending on a tty (a serial console) cannot be
  // cancelled and would keep the process alive, so the daemon ends here.
  process.exit(0);
}

/** `serve --exporter-config FILE | --exporter NAME --listen ADDRESS`. */
export const exporterServeCommand: Command = {
  name: "serve",
  summary: "Serve an exporter config's drivers on a local socket or port, without a controller",
  usage:
    "(--exporter-config FILE | --exporter NAME) [--listen ADDRESS] [--log-level LEVEL] [--stop-with-stdin]",
  options: [
    { flags: "    --exporter-config FILE", summary: "the exporter config file" },
    {
      flags: "    --exporter NAME",
      summary:
        "the config ~/.config/jumpstarter/exporters/NAME.yaml or /etc/jumpstarter/exporters/NAME.yaml",
    },
    {
      flags: "-l, --listen ADDRESS",
      summary: "unix:PATH or host:port (default unix:./NAME.sock); plaintext, for local use",
    },
    { flags: "    --log-level LEVEL", summary: "debug, info (default), warning or error" },
    {
      flags: "    --stop-with-stdin",
      summary: "also stop when standard input closes (a supervising process went away)",
    },
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: {
        "exporter-config": { type: "string" },
        exporter: { type: "string" },
        listen: { type: "string", short: "l" },
        "log-level": { type: "string", default: "info" },
        "stop-with-stdin": { type: "boolean", default: false },
      },
      allowPositionals: false,
      strict: true,
    }, ctx);
    if (!(LEVELS as readonly string[]).includes(values["log-level"])) {
      throw usageError(`--log-level must be one of ${LEVELS.join(", ")}`, ctx);
    }
    const config = await loadChosenConfig(values, ctx);
    await serveUntilStopped(config, {
      address: values.listen ?? `unix:${config.metadata.name}.sock`,
      logLevel: values["log-level"],
      stopWithStdin: values["stop-with-stdin"],
    });
    return 0;
  },
};
