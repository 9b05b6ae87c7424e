// Entry point of `jmp`, the Jumpstarter client CLI. Commands are imported on first use, so that
// `jmp --help`, `--version` and each command load only what they need.
import process from "node:process";
import { basename } from "node:path";
import { type Group, lazyCommand, processIo, runProgram } from "./command.ts";
import { helpCommand } from "./commands/help.ts";
import { versionCommand } from "./commands/version.ts";

/** The `jmp` program: its name, summary and command groups. */
export const jmp: Group = {
  name: "jmp",
  summary: "Jumpstarter client: lease and drive remote or local hardware",
  commands: [
    lazyCommand(
      "shell",
      "Open a shell (or run a command) with an exporter's drivers at hand (`j ...`)",
      async () => (await import("./commands/shell.ts")).shellCommand,
    ),
    lazyCommand(
      "create",
      "Create resources on the controller (leases)",
      async () => (await import("./commands/leases.ts")).createGroup,
    ),
    lazyCommand(
      "get",
      "List leases and exporters on the controller",
      async () => (await import("./commands/leases.ts")).getGroup,
    ),
    lazyCommand(
      "update",
      "Change leases (extend them)",
      async () => (await import("./commands/leases.ts")).updateGroup,
    ),
    lazyCommand(
      "delete",
      "End leases",
      async () => (await import("./commands/leases.ts")).deleteGroup,
    ),
    lazyCommand(
      "config",
      "Client and exporter configs (also as `jmp client ...` / `jmp exporter ...`)",
      async () => (await import("./commands/config.ts")).configGroup,
    ),
    lazyCommand(
      "install",
      "Set up an embedded controller on this host and a default client config for it",
      async () => (await import("./commands/install.ts")).installCommand,
    ),
    lazyCommand(
      "client",
      "Client configs: create, use-config, list-configs, delete-config, show",
      async () => (await import("./commands/client_configs.ts")).clientGroup,
    ),
    lazyCommand(
      "exporter",
      "Manage and run the exporter configs of this host",
      async () => (await import("./commands/exporter.ts")).exporterGroup,
    ),
    lazyCommand(
      "j",
      "Drive the devices of the surrounding jmp shell (what `j` runs)",
      async () => (await import("./commands/j.ts")).jCommand,
    ),
    lazyCommand(
      "admin",
      "Manage the embedded controller's clients, exporters and leases",
      async () => (await import("./commands/admin.ts")).adminGroup,
    ),
    helpCommand,
    versionCommand,
  ],
};

/** Runs `jmp` with `argv` (the arguments after the program name); returns the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  // Installed as `j` too (a link to the binary): then it is the driver command.
  if (basename(process.argv0) === "j") {
    return (await import("./commands/j.ts")).runJ([...argv], processIo);
  }
  return runProgram(jmp, argv);
}

// No top-level await: the binaries are compiled to bytecode, which does not allow it.
if (import.meta.main) {
  main().then((code) => {
    process.exitCode = code;
  });
}
