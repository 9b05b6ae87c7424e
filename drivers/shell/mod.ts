// Shell driver: configured commands run on the exporter host; and the command runner that other
// command-driven drivers share.

export { createShell, SHELL_CLIENT, type ShellDriver, type ShellMethod } from "./shell.ts";
export {
  type CommandEvent,
  runCommand,
  type RunCommandOptions,
  runToCompletion,
} from "./run_command.ts";
export { ShellClient, type ShellOutput } from "./client.ts";
