// The `version` command: prints the program's version, runtime and platform as text or JSON.
import { type Command, parseCommandArgs, usageError } from "../command.ts";
import { versionInfo } from "../version.ts";

/**
 * `<program> version [-o text|json]`, also reached as `<program> --version`. Text output is
 * `jmp 0.1.0 (bun 1.4.5, linux-x64)`; JSON output is one {@linkcode VersionInfo} object.
 */
export const versionCommand: Command = {
  name: "version",
  summary: "Print the version, runtime and platform",
  usage: "[-o text|json]",
  options: [{ flags: "-o, --output FORMAT", summary: "text (default) or json" }],
  run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: { output: { type: "string", short: "o", default: "text" } },
      allowPositionals: false,
      strict: true,
    }, ctx);
    const info = versionInfo(ctx.root.name);
    switch (values.output) {
      case "json":
        ctx.io.stdout(`${JSON.stringify(info)}\n`);
        return 0;
      case "text":
        ctx.io.stdout(`${info.name} ${info.version} (${info.runtime}, ${info.platform})\n`);
        return 0;
      default:
        throw usageError(`unknown output format "${values.output}", expected text or json`, ctx);
    }
  },
};
