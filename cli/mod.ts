// Public face of cli/: the command framework, version information, the shared commands
// and the three programs (`jmp`, `jmp-exporter`, `jmp-controller`).
export {
  CliError,
  type Command,
  type Context,
  findCommand,
  type Group,
  type Io,
  isGroup,
  type OptionDoc,
  parseCommandArgs,
  processIo,
  renderHelp,
  runProgram,
  UsageError,
  usageError,
} from "./command.ts";
export { helpCommand, versionCommand } from "./commands/mod.ts";
export { platformName, runtimeName, VERSION, type VersionInfo, versionInfo } from "./version.ts";
export { jmp } from "./jmp.ts";
export { jmpExporter } from "./jmp-exporter.ts";
export { jmpController } from "./jmp-controller.ts";
