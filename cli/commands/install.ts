// `jmp install`: an embedded controller on this host in one step. The data folder, CA, token
// keys and state are set up as `jmp-controller run` would, a `default` client config is saved
// and made current, and the controller is either left to a systemd unit or run right here.

import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { clientConfigPath } from "../../config/mod.ts";
import { type Command, type Context, parseCommandArgs } from "../command.ts";
import { selfCommand } from "../self_command.ts";
import { createClientCommand } from "./admin.ts";
import { controllerRunCommand, parseRunArgs, prepareController } from "./controller_run.ts";

/** Where the systemd unit goes by default. */
export const UNIT_FILE = "/etc/systemd/system/jmp-controller.service";

// The run options install passes on to the controller, as given.
const PASSED_ON = ["data-dir", "listen", "router-listen", "advertise", "metrics-listen"] as const;

/** The command that starts the controller: the `jmp-controller` beside this binary, if any. */
function controllerCommand(): string[] {
  const self = selfCommand();
  if (self.length > 1) {
    // Development: the same tree's entry point.
    return [...self.slice(0, -1), join(dirname(self.at(-1)!), "jmp-controller.ts")];
  }
  const beside = join(dirname(process.execPath), "jmp-controller");
  return [existsSync(beside) ? beside : "jmp-controller"];
}

/** A systemd unit that runs `command` with `args`, restarted when it fails. */
export function renderUnit(command: string[], args: string[]): string {
  const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : JSON.stringify(word));
  return [
    "[Unit]",
    "Description=Jumpstarter controller (leases, tokens, router)",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    `ExecStart=${[...command, "run", ...args].map(quote).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=2",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** `install [--systemd [--unit-file F] | --foreground] [run options]`. */
export const installCommand: Command = {
  name: "install",
  summary: "Set up an embedded controller on this host and a default client config for it",
  usage: "[--systemd [--unit-file FILE] | --foreground] [--client NAME] [--data-dir DIR] " +
    "[--listen HOST:PORT] [--router-listen HOST:PORT] [--advertise HOST] [--insecure-plaintext]",
  options: [
    { flags: "    --systemd", summary: `write a systemd unit (${UNIT_FILE}) to run it` },
    { flags: "    --unit-file FILE", summary: "where --systemd writes the unit" },
    { flags: "    --foreground", summary: "run the controller here once set up (Ctrl-C stops)" },
    { flags: "    --client NAME", summary: "the client config to create (default: default)" },
    { flags: "    --data-dir DIR", summary: "as for jmp-controller run" },
    { flags: "    --listen HOST:PORT", summary: "controller address (default 0.0.0.0:8082)" },
    { flags: "    --router-listen HOST:PORT", summary: "router address (default 0.0.0.0:8083)" },
    {
      flags: "    --advertise HOST",
      summary: "the host clients dial (default: this machine's name)",
    },
    { flags: "    --insecure-plaintext", summary: "no TLS (tokens travel in clear text)" },
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: {
        systemd: { type: "boolean", default: false },
        "unit-file": { type: "string", default: UNIT_FILE },
        foreground: { type: "boolean", default: false },
        client: { type: "string", default: "default" },
        "data-dir": { type: "string" },
        listen: { type: "string" },
        "router-listen": { type: "string" },
        advertise: { type: "string" },
        "metrics-listen": { type: "string" },
        "insecure-plaintext": { type: "boolean", default: false },
      },
      strict: true,
    }, ctx);
    const runArgs = [
      ...PASSED_ON.flatMap((key) => (values[key] === undefined ? [] : [`--${key}`, values[key]!])),
      ...(values["insecure-plaintext"] ? ["--insecure-plaintext"] : []),
    ];
    const settings = parseRunArgs(runArgs, ctx);
    // The unit names the data folder: the service may run with another HOME.
    if (!runArgs.includes("--data-dir")) runArgs.unshift("--data-dir", settings.dataDir);
    const info = await prepareController(settings);
    ctx.io.stdout(`Controller data in ${settings.dataDir}; endpoint ${info.endpoint}\n`);
    await saveClient(values.client, settings.dataDir, ctx);
    if (values.systemd) {
      writeFileSync(values["unit-file"], renderUnit(controllerCommand(), runArgs));
      ctx.io.stdout(
        `Wrote ${values["unit-file"]}; start it with:\n` +
          "  systemctl daemon-reload && systemctl enable --now jmp-controller\n",
      );
      return 0;
    }
    if (values.foreground) return await controllerRunCommand.run(runArgs, ctx);
    ctx.io.stdout(
      `Start the controller with:\n  ${[...controllerCommand(), "run", ...runArgs].join(" ")}\n` +
        "(or again with --systemd to have systemd run it, --foreground to run it here)\n",
    );
  },
};

// The client config `name`, unless one exists (installing again keeps it).
async function saveClient(name: string, dataDir: string, ctx: Context): Promise<void> {
  if (existsSync(clientConfigPath(name))) {
    ctx.io.stdout(`Client config '${name}' exists (${clientConfigPath(name)}); kept\n`);
    return;
  }
  await createClientCommand.run([name, "--save", "--data-dir", dataDir], ctx);
}
