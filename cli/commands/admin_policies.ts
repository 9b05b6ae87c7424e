// `jmp admin apply -f FILE` (ExporterAccessPolicy manifests, as upstream writes them),
// `jmp admin get policies`, `jmp admin delete policy NAME`: who may lease which exporters, at
// which priority and for how long.

import { readFileSync } from "node:fs";
import {
  type AccessPolicyRecord,
  formatSelector,
  parseAccessPolicies,
} from "../../controller/mod.ts";
import { CliError, type Command, parseCommandArgs, usageError } from "../command.ts";
import { configStep } from "../config_args.ts";
import { openControllerData, storeStep } from "../controller_data.ts";
import { formatDuration } from "../duration.ts";
import { listFormat, renderRows } from "../output_format.ts";
import {
  ADMIN_OPTION_DOCS,
  ADMIN_OPTIONS,
  controllerOf,
  deleteCommand,
  namespaceOf,
} from "./admin_args.ts";

/** `apply -f FILE`: creates or replaces the access policies the file holds. */
export const applyCommand: Command = {
  name: "apply",
  summary: "Create or replace access policies from ExporterAccessPolicy manifests",
  usage: "-f FILE [-n NS] [--data-dir DIR]",
  options: [
    {
      flags: "-f, --filename FILE",
      summary: "YAML with one or more ExporterAccessPolicy documents",
    },
    ...ADMIN_OPTION_DOCS,
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: { ...ADMIN_OPTIONS, filename: { type: "string", short: "f" } },
      strict: true,
    }, ctx);
    const file = values.filename;
    if (!file) throw usageError("which manifest? give -f FILE", ctx);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new CliError(`${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    const policies = await configStep(() =>
      parseAccessPolicies(text, file, namespaceOf(values, ctx))
    );
    if (policies.length === 0) throw new CliError(`${file}: holds no ExporterAccessPolicy`);
    await using data = await openControllerData(controllerOf(values));
    for (const policy of policies) {
      await storeStep(() => data.store.putAccessPolicy(policy));
      ctx.io.stdout(`exporteraccesspolicy ${policy.namespace}/${policy.name} applied\n`);
    }
  },
};

function policyRow(policy: AccessPolicyRecord) {
  return {
    name: policy.name,
    exporters: formatSelector(policy.exporterSelector) || "(all)",
    rules: policy.policies.map((r) =>
      `${r.from.map((f) => formatSelector(f.clientSelector) || "(all)").join(" | ")}` +
      ` prio ${r.priority}` +
      (r.maximumDurationMs ? ` max ${formatDuration(r.maximumDurationMs)}` : "") +
      (r.spotAccess ? " spot" : "")
    ).join("; "),
  };
}

/** `get policies`. */
export const getPoliciesCommand: Command = {
  name: "policies",
  summary: "List access policies",
  usage: "[-n NS] [-o text|json|yaml|name] [--data-dir DIR]",
  options: [
    ...ADMIN_OPTION_DOCS,
    { flags: "-o, --output FORMAT", summary: "text (default), json, yaml or name" },
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs({
      args,
      options: { ...ADMIN_OPTIONS, output: { type: "string", short: "o", default: "text" } },
      strict: true,
    }, ctx);
    const format = listFormat(values.output, ctx);
    await using data = await openControllerData(controllerOf(values));
    const policies = await storeStep(() => data.store.listAccessPolicies(namespaceOf(values, ctx)));
    const rows = format === "text" ? policies.map(policyRow) : policies;
    ctx.io.stdout(
      renderRows(
        rows as Record<string, unknown>[],
        format,
        [["NAME", "name"], ["EXPORTERS", "exporters"], ["RULES (clients prio max)", "rules"]],
        "name",
      ),
    );
  },
};

/** `delete policy NAME`. */
export const deletePolicyCommand: Command = deleteCommand(
  "policy",
  "Delete an access policy",
  async (store, namespace, name) => {
    await store.deleteAccessPolicy(namespace, name);
    return "";
  },
);
