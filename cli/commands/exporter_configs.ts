// `jmp exporter create|list|delete|run`: the exporter configs of this host, as the
// configuration document describes them. `jmp-exporter run NAME` is the same `run`.

import { existsSync, readdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import process from "node:process";
import { stringify } from "yaml";
import {
  applyExporterEnv,
  ConfigError,
  EXPORTER_API_VERSION,
  type ExporterConfig,
  findExporterConfig,
  loadExporterConfig,
  PRIVATE_FILE_MODE,
  redactToken,
  systemConfigDir,
  userConfigDir,
  writeFileAtomic,
} from "../../config/mod.ts";
import { CliError, type Command, type Context, parseCommandArgs, usageError } from "../command.ts";
import { listFormat, renderProvenance, renderRows } from "../output_format.ts";
import { endpointAndToken } from "../prompt.ts";
import { aliasArg, configStep, nameOnly } from "../config_args.ts";
import { runRegisteredExporter } from "../../exporter/mod.ts";
import { TransportError } from "../../transport/mod.ts";
import { logPrinter, serveUntilStopped } from "./exporter_serve.ts";

/** `create NAME [--endpoint E] [--token T] [--namespace NS] [--user] [--force]`. */
export const exporterCreateCommand: Command = {
  name: "create",
  summary: "Create an exporter config (asks for endpoint and token on a terminal)",
  usage: "NAME [--endpoint ENDPOINT] [--token TOKEN] [--namespace NS] [--user] [--force]",
  options: [
    { flags: "    --endpoint ENDPOINT", summary: "the controller's gRPC endpoint (host:port)" },
    { flags: "    --token TOKEN", summary: "the exporter's token" },
    { flags: "    --namespace NS", summary: "its namespace (default: default)" },
    {
      flags: "    --user",
      summary: "write under ~/.config/jumpstarter/exporters instead of /etc/jumpstarter/exporters",
    },
    { flags: "    --force", summary: "replace an existing config of that name" },
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        endpoint: { type: "string" },
        token: { type: "string" },
        namespace: { type: "string", default: "default" },
        user: { type: "boolean", default: false },
        force: { type: "boolean", default: false },
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const name = aliasArg(positionals, ctx, "exporter");
    const dir = values.user ? userConfigDir() : systemConfigDir();
    const file = join(dir, "exporters", `${name}.yaml`);
    if (existsSync(file) && !values.force) {
      throw new CliError(`${file}: already exists; delete it first or pass --force`);
    }
    const { endpoint, token } = await endpointAndToken(values);
    const text = stringify({
      apiVersion: EXPORTER_API_VERSION,
      kind: "ExporterConfig",
      metadata: { namespace: values.namespace, name },
      endpoint,
      token,
      tls: { ca: "", insecure: false },
      export: {},
    });
    await configStep(() => writeFileAtomic(file, text, { mode: PRIVATE_FILE_MODE }));
    ctx.io.stdout(`Created exporter config '${file}'; add drivers under export:\n`);
  },
};

/** `list [-o text|json|yaml|name]`: ALIAS / PATH of every exporter config found. */
export const exporterListCommand: Command = {
  name: "list",
  summary: "List the exporter configs of this host and user",
  usage: "[-o text|json|yaml|name]",
  options: [{ flags: "-o, --output FORMAT", summary: "text (default), json, yaml or name" }],
  run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: { output: { type: "string", short: "o", default: "text" } },
      allowPositionals: false,
      strict: true,
    }, ctx);
    const format = listFormat(values.output, ctx);
    const rows: { alias: string; path: string }[] = [];
    for (const dir of [userConfigDir(), systemConfigDir()].map((d) => join(d, "exporters"))) {
      let names: string[] = [];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith(".yaml")).sort();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== "ENOENT") throw new CliError(`${dir}: cannot list: ${(err as Error).message}`);
      }
      for (const n of names) rows.push({ alias: basename(n, ".yaml"), path: join(dir, n) });
    }
    ctx.io.stdout(renderRows(rows, format, [["ALIAS", "alias"], ["PATH", "path"]], "alias"));
  },
};

/** `delete NAME`: removes the config `run NAME` would use. */
export const exporterDeleteCommand: Command = {
  name: "delete",
  summary: "Delete an exporter config",
  usage: "NAME",
  async run(args, ctx) {
    const name = nameOnly(args, ctx, "exporter");
    const file = await configStep(() => findExporterConfig(name));
    try {
      rmSync(file);
    } catch (err) {
      throw new CliError(`${file}: cannot delete: ${(err as Error).message}`);
    }
    ctx.io.stdout(`Deleted exporter config '${file}'\n`);
  },
};

// The config file named by NAME or -c PATH.
function chosenFile(config: string | undefined, positionals: string[], ctx: Context) {
  if ((config === undefined) === (positionals.length === 0)) {
    throw usageError("give an exporter NAME or -c PATH", ctx);
  }
  return configStep(() => config ?? findExporterConfig(aliasArg(positionals, ctx, "exporter")));
}

/** `show NAME | -c PATH [-o text|json]`: the effective config, token redacted. */
export const exporterShowCommand: Command = {
  name: "show",
  summary: "Print the effective exporter config, with where each value came from",
  usage: "(NAME | -c PATH) [-o text|json]",
  options: [
    { flags: "-c, --config PATH", summary: "an exporter config file instead of a NAME" },
    { flags: "-o, --output FORMAT", summary: "text (default) or json" },
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        output: { type: "string", short: "o", default: "text" },
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    if (values.output !== "text" && values.output !== "json") {
      throw usageError(`unknown output format "${values.output}", expected text or json`, ctx);
    }
    const file = await chosenFile(values.config, positionals, ctx);
    const { config, sources } = applyExporterEnv(await configStep(() => loadExporterConfig(file)));
    const shown = {
      "endpoint": config.endpoint ?? "(not set)",
      "token": redactToken(config.token),
      "metadata.name": config.metadata.name,
      "metadata.namespace": config.metadata.namespace ?? "(not set)",
      "tls.insecure": config.tls.insecure,
      "export": Object.keys(config.export).join(", "),
    };
    ctx.io.stdout(renderProvenance(config.file, shown, sources, values.output));
  },
};

/** `run NAME | -c PATH [--listen ADDRESS]`. */
export const exporterRunCommand: Command = {
  name: "run",
  summary: "Run an exporter: registered with its controller, or served locally without one",
  usage: "(NAME | -c PATH) [--listen ADDRESS] [--log-level LEVEL]",
  options: [
    { flags: "-c, --config PATH", summary: "an exporter config file instead of a NAME" },
    {
      flags: "-l, --listen ADDRESS",
      summary: "a config without endpoint: where to serve (default unix:$TMPDIR/NAME.sock)",
    },
    { flags: "    --log-level LEVEL", summary: "debug, info (default), warning or error" },
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        listen: { type: "string", short: "l" },
        "log-level": { type: "string", default: "info" },
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const file = await chosenFile(values.config, positionals, ctx);
    process.stdout.write(`Using exporter config '${file}'\n`);
    const { config } = applyExporterEnv(await configStep(() => loadExporterConfig(file)));
    if (config.endpoint) {
      if (values.listen) {
        throw usageError("--listen is for configs without an endpoint (local serving)", ctx);
      }
      return await runRegistered(config, values["log-level"]);
    }
    const address = values.listen ??
      `unix:${join(process.env.TMPDIR || "/tmp", `${config.metadata.name}.sock`)}`;
    await serveUntilStopped(config, { address, logLevel: values["log-level"] });
  },
};

// Registered mode: until SIGINT/SIGTERM, reconnecting whenever the controller is away.
async function runRegistered(config: ExporterConfig, logLevel: string): Promise<number> {
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => stop.abort());
  }
  const log = logPrinter(logLevel);
  try {
    await runRegisteredExporter(config, {
      signal: stop.signal,
      onLog: log,
      onState: (message) =>
        log({ uuid: "", severity: "INFO", message, source: 0, timestamp: new Date() }),
    });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TransportError) {
      throw new CliError(err.message);
    }
    throw err;
  }
  // A pending read on a tty (a serial console) cannot be cancelled: end here.
  process.exit(0);
}
