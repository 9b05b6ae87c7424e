// `j`: drives the exporter of the surrounding `jmp shell`. Its commands are the driver tree:
// `j power on`, `j board shell hello`; each driver's client supplies its verbs.

import process from "node:process";
import {
  configuredAllowList,
  connectExporter,
  DriverCallError,
  type DriverClient,
  HOST_ENV,
} from "../../client/mod.ts";
import { CliError, type Command, type Group, type Io, runProgram } from "../command.ts";

const decoder = new TextDecoder();

function shortClientName(client: DriverClient): string {
  const name = client.clientName;
  return name.slice(Math.max(name.lastIndexOf("."), name.lastIndexOf("#")) + 1) || "client";
}

// One group per driver: its verbs, then its children.
function driverGroup(client: DriverClient, name: string): Group {
  const verbs = client.verbs().map((verb): Command => ({
    name: verb.name,
    summary: verb.summary,
    usage: verb.usage,
    options: verb.options,
    run: async (args, ctx) => {
      const io = {
        stdout: (t: string | Uint8Array) =>
          ctx.io.stdout(typeof t === "string" ? t : decoder.decode(t)),
        stderr: (t: string | Uint8Array) =>
          ctx.io.stderr(typeof t === "string" ? t : decoder.decode(t)),
      };
      try {
        return (await verb.run(args, io)) ?? 0;
      } catch (err) {
        if (err instanceof DriverCallError || isUserFacing(err)) throw new CliError(err.message);
        throw err;
      }
    },
  }));
  const children = [...client.children].map(([childName, child]) => driverGroup(child, childName));
  return {
    name,
    summary: client.description ?? `${shortClientName(client)} driver`,
    commands: [...verbs, ...children],
  };
}

/** The driver tree as indented lines: name, client, description. */
export function renderTree(root: DriverClient): string {
  const rows: [string, string, string][] = [];
  const walk = (client: DriverClient, depth: number) => {
    for (const [name, child] of client.children) {
      rows.push([`${"  ".repeat(depth)}${name}`, shortClientName(child), child.description ?? ""]);
      walk(child, depth + 1);
    }
  };
  walk(root, 0);
  const w0 = Math.max(4, ...rows.map((r) => r[0].length));
  const w1 = Math.max(6, ...rows.map((r) => r[1].length));
  return rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`.trimEnd()).join("\n") +
    "\n";
}

/** The driver tree as JSON: name, client, description, methods and children of each driver. */
export function treeJson(client: DriverClient): unknown {
  return {
    name: client.name,
    uuid: client.uuid,
    client: client.clientName,
    description: client.description ?? null,
    methods: client.methodsDescription,
    children: [...client.children.values()].map(treeJson),
  };
}

const JSON_FLAGS = [["-o", "json"], ["--output", "json"], ["--output=json"], ["-ojson"]];

/** Runs `j` with `args` against the exporter at JUMPSTARTER_HOST. */
export async function runJ(args: string[], io: Io): Promise<number> {
  const host = process.env[HOST_ENV];
  if (!host) {
    io.stderr(
      "error: j drives the exporter of a jmp shell: run it inside `jmp shell` (JUMPSTARTER_HOST is not set)\n",
    );
    return 1;
  }
  let exporter;
  try {
    exporter = await connectExporter(host, {
      allow: await configuredAllowList(process.env),
      onNotice: (message) => io.stderr(`warning: ${message}\n`),
    });
  } catch (err) {
    io.stderr(
      `error: cannot reach the exporter at ${host}: ${err instanceof Error ? err.message : err}\n`,
    );
    return 1;
  }
  try {
    if (args.length === 0) {
      io.stdout(renderTree(exporter.root));
      return 0;
    }
    if (JSON_FLAGS.some((flags) => flags.join(" ") === args.join(" "))) {
      io.stdout(`${JSON.stringify(treeJson(exporter.root), null, 2)}\n`);
      return 0;
    }
    const root = driverGroup(exporter.root, "j");
    root.summary = "Drive the exporter's devices: j <driver> <command> [args]";
    return await runProgram(root, args, io);
  } finally {
    exporter.close();
  }
}

/** `jmp j ...`, what the `j` command of a shell runs. */
export const jCommand: Command = {
  name: "j",
  summary: "Drive the devices of the surrounding jmp shell (what `j` runs)",
  usage: "[-o json] | DRIVER [COMMAND] [ARG...]",
  passThrough: true,
  run: (args, ctx) => runJ(ctx.debug ? ["--debug", ...args] : args, ctx.io),
};

// A verb's own errors (a missing file, a damaged image, a bad option) say all there is to say;
// the built-in error types mean a bug, and keep the hint about --debug.
function isUserFacing(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  if (String((err as NodeJS.ErrnoException).code ?? "").startsWith("ERR_PARSE_ARGS")) return true;
  return ![TypeError, RangeError, ReferenceError, SyntaxError].some((bug) => err instanceof bug);
}
