// `jmp client create|use-config|list-configs|delete-config|show` (and upstream's newer
// `jmp config client create|use|list|delete|show`): the client configs of this user.

import { readFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import process from "node:process";
import {
  deleteClientConfig,
  listClientConfigs,
  loadUserConfig,
  redactToken,
  resolveClientConfig,
  saveClientConfig,
  setCurrentClient,
} from "../../config/mod.ts";
import { CliError, type Command, type Group, parseCommandArgs, usageError } from "../command.ts";
import { listFormat, renderProvenance, renderRows } from "../output_format.ts";
import { endpointAndToken } from "../prompt.ts";
import { aliasArg, configStep, nameOnly } from "../config_args.ts";

// A CA given as a file is stored the way upstream stores it: base64 of the PEM.
function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`--ca ${file}: cannot read: ${(err as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CliError(`--ca ${file}: not a PEM certificate`);
  }
  return Buffer.from(pem).toString("base64");
}

const createCommand: Command = {
  name: "create",
  summary: "Create a client config (asks for endpoint and token on a terminal)",
  usage: "NAME [--endpoint E] [--token T] [--namespace NS] [--name N] [--allow A,B] [--unsafe] " +
    "[--insecure-tls] [--ca FILE] [--force]",
  options: [
    { flags: "    --endpoint ENDPOINT", summary: "the controller's gRPC endpoint (host:port)" },
    { flags: "    --token TOKEN", summary: "the client's token" },
    { flags: "    --namespace NS", summary: "its namespace (default: default)" },
    { flags: "    --name NAME", summary: "its name at the controller (default: the config NAME)" },
    { flags: "    --allow A,B", summary: "driver client modules to allow (fnmatch wildcards)" },
    { flags: "    --unsafe", summary: "allow every driver client module" },
    { flags: "    --insecure-tls", summary: "use TLS without checking the server's certificate" },
    { flags: "    --ca FILE", summary: "trust this CA certificate (PEM file)" },
    { flags: "    --force", summary: "replace an existing config of that name" },
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        endpoint: { type: "string" },
        token: { type: "string" },
        namespace: { type: "string" },
        name: { type: "string" },
        allow: { type: "string" },
        unsafe: { type: "boolean", default: false },
        "insecure-tls": { type: "boolean", default: false },
        ca: { type: "string" },
        force: { type: "boolean", default: false },
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const name = aliasArg(positionals, ctx, "client config");
    const ca = values.ca === undefined ? undefined : readCa(values.ca);
    const { endpoint, token } = await endpointAndToken(values);
    const file = await configStep(() =>
      saveClientConfig(
        {
          alias: name,
          name: values.name,
          namespace: values.namespace,
          endpoint,
          token,
          ca,
          insecure: values["insecure-tls"],
          allow: values.allow?.split(",").map((a) => a.trim()).filter((a) => a !== ""),
          unsafe: values.unsafe,
        },
        process.env,
        { overwrite: values.force },
      )
    );
    ctx.io.stdout(`Created client config '${file}'\n`);
    const user = await configStep(() => loadUserConfig(process.env));
    if (!user.currentClient) {
      await configStep(() => setCurrentClient(name, process.env));
      ctx.io.stdout(`Using client config '${name}'\n`);
    }
  },
};

const useCommand: Command = {
  name: "use",
  summary: "Make a client config the current one",
  usage: "NAME",
  async run(args, ctx) {
    const name = nameOnly(args, ctx, "client config");
    const known = (await configStep(() => listClientConfigs(process.env))).map((c) => c.alias);
    if (!known.includes(name)) {
      throw new CliError(
        `no client config "${name}" (${
          known.length ? `have: ${known.join(", ")}` : "none yet"
        }); ` +
          "create it with `jmp client create`",
      );
    }
    await configStep(() => setCurrentClient(name, process.env));
    ctx.io.stdout(`Using client config '${name}'\n`);
  },
};

const listCommand: Command = {
  name: "list",
  summary: "List the client configs (CURRENT / NAME / ENDPOINT / PATH)",
  usage: "[-o text|json|yaml|name]",
  options: [{ flags: "-o, --output FORMAT", summary: "text (default), json, yaml or name" }],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: { output: { type: "string", short: "o", default: "text" } },
      allowPositionals: false,
      strict: true,
    }, ctx);
    const format = listFormat(values.output, ctx);
    const current = (await configStep(() => loadUserConfig(process.env))).currentClient;
    const rows = (await configStep(() => listClientConfigs(process.env))).map((c) => ({
      current: c.alias === current ? "*" : "",
      name: c.alias,
      endpoint: c.config?.endpoint ?? (c.error ? `(broken: ${c.error})` : ""),
      path: c.file,
    }));
    // Scripts get a boolean where the table shows a star.
    const shown: Record<string, unknown>[] = format === "text"
      ? rows
      : rows.map((r) => ({ ...r, current: r.current === "*" }));
    ctx.io.stdout(renderRows(shown, format, [
      ["CURRENT", "current"],
      ["NAME", "name"],
      ["ENDPOINT", "endpoint"],
      ["PATH", "path"],
    ], "name"));
  },
};

const deleteCommand: Command = {
  name: "delete",
  summary: "Delete a client config (and stop using it if it was current)",
  usage: "NAME",
  async run(args, ctx) {
    const name = nameOnly(args, ctx, "client config");
    const file = await configStep(() => deleteClientConfig(name, process.env));
    ctx.io.stdout(`Deleted client config '${file}'\n`);
    const user = await configStep(() => loadUserConfig(process.env));
    if (user.currentClient === name) {
      await configStep(() => setCurrentClient(undefined, process.env));
    }
  },
};

const showCommand: Command = {
  name: "show",
  summary: "Print the effective client config, with where each value came from",
  usage: "[NAME] [-o text|json]",
  options: [{ flags: "-o, --output FORMAT", summary: "text (default) or json" }],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: { output: { type: "string", short: "o", default: "text" } },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const name = positionals.length ? aliasArg(positionals, ctx, "client config") : undefined;
    const { config, sources } = await configStep(() =>
      resolveClientConfig({ alias: name, env: process.env })
    );
    const shown: Record<string, unknown> = {
      "endpoint": config.endpoint ?? "(not set)",
      "token": redactToken(config.token),
      "metadata.name": config.metadata.name,
      "metadata.namespace": config.metadata.namespace,
      "tls.insecure": config.tls.insecure,
      "tls.ca": config.tls.ca ? `(${config.tls.ca.length} chars)` : "(not set)",
      "drivers.allow": config.drivers.allow.join(",") || "(none)",
      "drivers.unsafe": config.drivers.unsafe,
    };
    if (values.output !== "text" && values.output !== "json") {
      throw usageError(`unknown output format "${values.output}", expected text or json`, ctx);
    }
    ctx.io.stdout(renderProvenance(config.file, shown, sources, values.output));
  },
};

/** `jmp config client ...`: upstream's current spelling. */
export const configClientGroup: Group = {
  name: "client",
  summary: "Client configs: create, use, list, delete, show",
  commands: [createCommand, useCommand, listCommand, deleteCommand, showCommand],
};

/** `jmp client ...`: the configuration document's spelling. */
export const clientGroup: Group = {
  name: "client",
  summary: "Client configs: create, use-config, list-configs, delete-config, show",
  commands: [
    createCommand,
    { ...useCommand, name: "use-config" },
    { ...listCommand, name: "list-configs" },
    { ...deleteCommand, name: "delete-config" },
    showCommand,
  ],
};
