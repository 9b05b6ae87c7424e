// `jmp admin create|get|delete`: clients and exporters of the embedded controller, worked on
// in its data folder directly (the controller may be running). Creating one prints a ready
// config: the advertised endpoint, the controller's CA and a fresh token.

import { Buffer } from "node:buffer";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { isMap, parse, parseDocument, stringify } from "yaml";
import {
  clientConfigPath,
  EXPORTER_API_VERSION,
  exporterConfigPath,
  loadUserConfig,
  type NewClientConfig,
  PRIVATE_FILE_MODE,
  renderClientConfig,
  saveClientConfig,
  setCurrentClient,
  updateYaml,
  writeFileAtomic,
} from "../../config/mod.ts";
import {
  CliError,
  type Command,
  type Context,
  type Group,
  parseCommandArgs,
  usageError,
} from "../command.ts";
import { configStep } from "../config_args.ts";
import { type ControllerInfo, openControllerData, storeStep } from "../controller_data.ts";
import {
  ADMIN_OPTION_DOCS,
  ADMIN_OPTIONS,
  controllerOf,
  deleteCommand,
  nameArg,
  namespaceOf,
  parseLabels,
} from "./admin_args.ts";
import { adminGetGroup } from "./admin_get.ts";
import { applyCommand, deletePolicyCommand } from "./admin_policies.ts";

const CONFIG_FORMATS = ["yaml", "json"] as const;
type ConfigFormat = typeof CONFIG_FORMATS[number];

function configFormat(value: string, ctx: Context): ConfigFormat {
  if (!(CONFIG_FORMATS as readonly string[]).includes(value)) {
    throw usageError(`unknown output format "${value}", expected yaml or json`, ctx);
  }
  return value as ConfigFormat;
}

// Configs carry the CA the way upstream's do: base64 of the PEM; empty means the system's CAs.
function caField(info: ControllerInfo): string {
  return info.ca === null ? "" : Buffer.from(info.ca).toString("base64");
}

/** A config document on stdout in the chosen format (files are always YAML). */
function printConfig(text: string, format: ConfigFormat, ctx: Context): void {
  ctx.io.stdout(format === "yaml" ? text : `${JSON.stringify(parse(text), null, 2)}\n`);
}

/** Writes `--out FILE`, readable by the owner only: it holds a token. */
async function writeOut(file: string, text: string): Promise<void> {
  await configStep(() => writeFileAtomic(file, text, { mode: PRIVATE_FILE_MODE }));
}

const OUTPUT_DOCS = [
  {
    flags: "-o, --output FORMAT",
    summary: "yaml (default) or json; printed only without --save and --out",
  },
  { flags: "    --out FILE", summary: "write the config (YAML, mode 0600) to FILE" },
] as const;

// What `create client` and `create exporter` both take.
const CREATE_OPTIONS = {
  ...ADMIN_OPTIONS,
  label: { type: "string", short: "l", multiple: true, default: [] as string[] },
  save: { type: "boolean", default: false },
  output: { type: "string", short: "o", default: "yaml" },
  out: { type: "string" },
} as const;

export const createClientCommand: Command = {
  name: "client",
  summary: "Register a client and print its config (endpoint, CA, token)",
  usage: "NAME [-n NS] [-l KEY=VALUE ...] [--save] [--allow GLOB,...] [--unsafe] " +
    "[-o yaml|json] [--out FILE] [--data-dir DIR]",
  options: [
    ...ADMIN_OPTION_DOCS,
    { flags: "-l, --label KEY=VALUE", summary: "a label of the client (repeatable)" },
    {
      flags: "    --save",
      summary: "save it as this user's client config NAME (current if there is none)",
    },
    { flags: "    --allow GLOB,...", summary: "driver client modules the config allows" },
    { flags: "    --unsafe", summary: "the config allows every driver client module" },
    {
      flags: "    --oidc-username USER",
      summary: "the user of the controller's --oidc-issuer whose tokens act as this client",
    },
    ...OUTPUT_DOCS,
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        ...CREATE_OPTIONS,
        "oidc-username": { type: "string" },
        allow: { type: "string", default: "" },
        unsafe: { type: "boolean", default: false },
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const name = nameArg(positionals, ctx, "client");
    const namespace = namespaceOf(values, ctx);
    const labels = parseLabels(values.label, ctx);
    const format = configFormat(values.output, ctx);
    // Refused before registering, so that a failed save leaves no orphaned client behind.
    if (values.save && existsSync(clientConfigPath(name))) {
      throw new CliError(
        `client config "${name}" already exists (${clientConfigPath(name)}); ` +
          `delete it first with \`jmp config client delete ${name}\`, or use --out FILE`,
      );
    }
    await using data = await openControllerData(controllerOf(values));
    const record = await storeStep(() =>
      data.store.createClient({ namespace, name, labels, username: values["oidc-username"] })
    );
    const config: NewClientConfig = {
      alias: name,
      name,
      namespace,
      endpoint: data.info.endpoint,
      token: await data.issuer.issueIdentityToken({
        kind: "client",
        namespace,
        name,
        uid: record.uid,
      }),
      ca: caField(data.info),
      insecure: false,
      allow: values.allow.split(",").map((glob) => glob.trim()).filter((glob) => glob !== ""),
      unsafe: values.unsafe,
    };
    await deliverConfig(`client ${namespace}/${name}`, renderClientConfig(config), {
      out: values.out,
      save: values.save ? (status) => saveAsUserClient(config, status) : undefined,
      format,
    }, ctx);
  },
};

/**
 * Hands a new config out: to `--out` and/or the `save` step when given (with what was done on
 * stdout), else on stdout itself, with the one status line on stderr so that a redirect
 * captures only the config.
 */
async function deliverConfig(
  what: string,
  text: string,
  options: {
    out?: string;
    save?: (status: (line: string) => void) => Promise<void>;
    format: ConfigFormat;
  },
  ctx: Context,
): Promise<void> {
  const toFiles = options.out !== undefined || options.save !== undefined;
  const status = toFiles ? ctx.io.stdout : ctx.io.stderr;
  status(`Created ${what}\n`);
  if (options.out !== undefined) {
    await writeOut(options.out, text);
    status(`Wrote config '${options.out}'\n`);
  }
  await options.save?.(status);
  if (!toFiles) printConfig(text, options.format, ctx);
}

// Saves the config as the user's client NAME, and makes it current when none is.
async function saveAsUserClient(
  config: NewClientConfig,
  status: (text: string) => void,
): Promise<void> {
  const file = await configStep(() => saveClientConfig(config, process.env));
  status(`Saved client config '${file}'\n`);
  const user = await configStep(() => loadUserConfig(process.env));
  if (!user.currentClient) {
    await configStep(() => setCurrentClient(config.alias, process.env));
    status(`Using client config '${config.alias}'\n`);
  }
}

/** What an exporter config needs from the controller. */
interface ExporterIdentity {
  namespace: string;
  name: string;
  endpoint: string;
  token: string;
  ca: string;
}

/**
 * A new exporter config: upstream's ExporterConfig with an empty `export:` for the drivers.
 *
 * @example
 * ```ts
 * renderExporterConfig({ namespace: "default", name: "bench", endpoint: "lab:8082", token, ca: "" });
 * ```
 */
export function renderExporterConfig(identity: ExporterIdentity): string {
  const document = {
    apiVersion: EXPORTER_API_VERSION,
    kind: "ExporterConfig",
    metadata: { namespace: identity.namespace, name: identity.name },
    endpoint: identity.endpoint,
    tls: { ca: identity.ca, insecure: false },
    token: identity.token,
    export: {},
  };
  // lineWidth 0: a token is one long word and must stay on one line.
  return stringify(document, { lineWidth: 0, minContentWidth: 0 });
}

/**
 * `existing` (an exporter config's text) pointed at a new identity: only the connection fields
 * change; comments, drivers and hooks stay as written.
 */
export function updateExporterConfig(existing: string, identity: ExporterIdentity): string {
  const doc = parseDocument(existing);
  const missing = (key: string) => !doc.has(key);
  return updateYaml(existing, [
    ...(missing("apiVersion") ? [[["apiVersion"], EXPORTER_API_VERSION] as const] : []),
    ...(missing("kind") ? [[["kind"], "ExporterConfig"] as const] : []),
    [["metadata", "namespace"], identity.namespace],
    [["metadata", "name"], identity.name],
    [["endpoint"], identity.endpoint],
    [["tls", "ca"], identity.ca],
    [["tls", "insecure"], false],
    [["token"], identity.token],
    ...(missing("export") ? [[["export"], {}] as const] : []),
  ]);
}

// The text of the exporter config `--save` would update, undefined when there is none yet.
// Checked before registering: a file that cannot be updated in place must not be replaced.
function existingExporterConfig(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`${file}: cannot read: ${(err as Error).message}`);
  }
  const doc = parseDocument(text);
  const problem = doc.errors.length > 0
    ? doc.errors[0].message.split("\n")[0]
    : doc.contents !== null && !isMap(doc.contents)
    ? "not a mapping of keys"
    : undefined;
  if (problem !== undefined) {
    throw new CliError(`${file}: cannot update it (${problem}); fix or move it, then retry`);
  }
  return text;
}

const createExporterCommand: Command = {
  name: "exporter",
  summary: "Register an exporter and print its config (endpoint, CA, token)",
  usage: "NAME [-l KEY=VALUE ...] [-n NS] [--save] [-o yaml|json] [--out FILE] [--data-dir DIR]",
  options: [
    ...ADMIN_OPTION_DOCS,
    { flags: "-l, --label KEY=VALUE", summary: "a label leases select on (repeatable)" },
    {
      flags: "    --save",
      summary:
        "write ~/.config/jumpstarter/exporters/NAME.yaml (an existing one keeps its export:)",
    },
    ...OUTPUT_DOCS,
  ],
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        ...CREATE_OPTIONS,
      },
      allowPositionals: true,
      strict: true,
    }, ctx);
    const name = nameArg(positionals, ctx, "exporter");
    const namespace = namespaceOf(values, ctx);
    const labels = parseLabels(values.label, ctx);
    const format = configFormat(values.output, ctx);
    const saveTo = values.save ? exporterConfigPath(name) : undefined;
    const existing = saveTo === undefined ? undefined : existingExporterConfig(saveTo);
    await using data = await openControllerData(controllerOf(values));
    const record = await storeStep(() => data.store.createExporter({ namespace, name, labels }));
    const identity: ExporterIdentity = {
      namespace,
      name,
      endpoint: data.info.endpoint,
      token: await data.issuer.issueIdentityToken({
        kind: "exporter",
        namespace,
        name,
        uid: record.uid,
      }),
      ca: caField(data.info),
    };
    const text = renderExporterConfig(identity);
    await deliverConfig(`exporter ${namespace}/${name}`, text, {
      out: values.out,
      save: saveTo === undefined ? undefined : (status) => {
        const updated = existing === undefined ? text : updateExporterConfig(existing, identity);
        return saveExporterConfig(saveTo, updated, existing !== undefined, status);
      },
      format,
    }, ctx);
  },
};

async function saveExporterConfig(
  file: string,
  text: string,
  updated: boolean,
  status: (line: string) => void,
): Promise<void> {
  await writeOut(file, text);
  status(
    updated
      ? `Updated exporter config '${file}' (its export: section is unchanged)\n`
      : `Saved exporter config '${file}'; add drivers under export:\n`,
  );
}

const deleteClientCommand = deleteCommand(
  "client",
  "Delete a client (its leases end; its tokens stop working)",
  async (store, namespace, name) => {
    const leases = await store.listLeases(namespace, { client: name });
    await store.deleteClient(namespace, name);
    return endedNote(leases.length);
  },
);

const deleteExporterCommand = deleteCommand(
  "exporter",
  "Delete an exporter (its lease ends; its token stops working)",
  async (store, namespace, name) => {
    const active = await store.activeLeaseOf(namespace, name);
    await store.deleteExporter(namespace, name);
    return endedNote(active ? 1 : 0);
  },
);

function endedNote(count: number): string {
  if (count === 0) return "";
  return ` (ended ${count} lease${count === 1 ? "" : "s"})`;
}

const adminCreateGroup: Group = {
  name: "create",
  summary: "Register a client or an exporter and print its config",
  commands: [createClientCommand, createExporterCommand],
};

const adminDeleteGroup: Group = {
  name: "delete",
  summary: "Delete a client, an exporter or an access policy",
  commands: [deleteClientCommand, deleteExporterCommand, deletePolicyCommand],
};

/** `jmp admin ...`: upstream's spelling, on the embedded controller's data folder. */
export const adminGroup: Group = {
  name: "admin",
  summary: "Manage the embedded controller's clients, exporters and leases",
  commands: [adminCreateGroup, adminGetGroup, adminDeleteGroup, applyCommand],
};
