// What the `jmp admin` commands share: the data folder and namespace options, and checking
// names and labels the way the controller's Kubernetes-shaped records need them.

import { labelKeyProblem, labelValueProblem, type Store } from "../../controller/mod.ts";
import { CliError, type Command, type Context, parseCommandArgs, usageError } from "../command.ts";
import {
  type ControllerSource,
  defaultDataDir,
  openControllerData,
  readKubeconfig,
  storeStep,
} from "../controller_data.ts";

/** `--data-dir` and `-n/--namespace`, taken by every admin command. */
export const ADMIN_OPTIONS = {
  "data-dir": { type: "string" },
  namespace: { type: "string", short: "n", default: "default" },
  store: { type: "string", default: "sqlite" },
  kubeconfig: { type: "string" },
} as const;

/** Help lines of {@linkcode ADMIN_OPTIONS}. */
export const ADMIN_OPTION_DOCS = [
  { flags: "-n, --namespace NS", summary: "the namespace (default: default)" },
  {
    flags: "    --data-dir DIR",
    summary: "the controller's data folder (default: as `jmp-controller run` chooses it)",
  },
  {
    flags: "    --store kubernetes",
    summary: "a controller keeping its state in Kubernetes (namespace -n; --kubeconfig FILE)",
  },
] as const;

// Kubernetes object names (DNS-1123 subdomain) and namespaces (DNS-1123 label): the records
// mirror upstream's CRDs, and ":" must never appear since it separates a token's subject.
const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The controller to work on: its data folder (`--data-dir`, else the default), or Kubernetes. */
export function controllerOf(
  values: { "data-dir"?: string; store: string; kubeconfig?: string; namespace: string },
): ControllerSource {
  const dataDir = values["data-dir"] ?? defaultDataDir();
  if (values.store === "sqlite") return { dataDir };
  if (values.store !== "kubernetes") {
    throw new CliError(`--store must be sqlite or kubernetes, not "${values.store}"`);
  }
  const kubeconfig = readKubeconfig(values.kubeconfig);
  return { dataDir, kubernetes: { namespace: values.namespace, kubeconfig } };
}

/** The checked `-n/--namespace`. */
export function namespaceOf(values: { namespace: string }, ctx: Context): string {
  const namespace = values.namespace;
  if (namespace.length > 63 || !NAMESPACE_RE.test(namespace)) {
    throw usageError(
      `invalid namespace "${namespace}": lowercase letters, digits and "-", at most 63`,
      ctx,
    );
  }
  return namespace;
}

/** The single NAME positional, checked as a Kubernetes object name. */
export function nameArg(positionals: string[], ctx: Context, what: string): string {
  if (positionals.length !== 1) throw usageError(`give one ${what} NAME`, ctx);
  return checkedName(positionals[0], ctx, what);
}

/** `name` when it is a valid Kubernetes object name; a usage error otherwise. */
export function checkedName(name: string, ctx: Context, what: string): string {
  if (name.length > 253 || !NAME_RE.test(name)) {
    throw usageError(
      `invalid ${what} name "${name}": lowercase letters, digits, "-" and ".", ` +
        "starting and ending with a letter or digit",
      ctx,
    );
  }
  return name;
}

/**
 * Labels from repeated `-l KEY=VALUE` options, with Kubernetes key and value rules.
 *
 * @example
 * ```ts
 * parseLabels(["board=rpi4", "lab=north"], ctx); // { board: "rpi4", lab: "north" }
 * ```
 */
export function parseLabels(given: readonly string[], ctx: Context): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of given) {
    const at = item.indexOf("=");
    if (at <= 0) throw usageError(`invalid label "${item}": expected KEY=VALUE`, ctx);
    const key = item.slice(0, at);
    const value = item.slice(at + 1);
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) throw usageError(`invalid label "${item}": key: ${keyProblem}`, ctx);
    const valueProblem = labelValueProblem(value);
    if (valueProblem) throw usageError(`invalid label "${item}": value ${valueProblem}`, ctx);
    if (key in labels && labels[key] !== value) {
      throw usageError(`label "${key}" given twice with different values`, ctx);
    }
    labels[key] = value;
  }
  return labels;
}

/** Labels as one `k=v,k2=v2` cell, sorted by key. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.keys(labels).sort().map((key) => `${key}=${labels[key]}`).join(",");
}

/**
 * `delete KIND NAME`: removes one record; `remove` does it and says what else ended with it
 * (e.g. " (ended 2 leases)").
 */
export function deleteCommand(
  kind: string,
  summary: string,
  remove: (store: Store, namespace: string, name: string) => Promise<string>,
): Command {
  return {
    name: kind,
    summary,
    usage: "NAME [-n NS] [--data-dir DIR]",
    options: [...ADMIN_OPTION_DOCS],
    async run(args, ctx) {
      const { values, positionals } = parseCommandArgs(
        { args, options: ADMIN_OPTIONS, allowPositionals: true, strict: true },
        ctx,
      );
      const name = nameArg(positionals, ctx, kind);
      const namespace = namespaceOf(values, ctx);
      await using data = await openControllerData(controllerOf(values));
      const note = await storeStep(() => remove(data.store, namespace, name));
      ctx.io.stdout(
        `Deleted ${kind === "policy" ? "access policy" : kind} ${namespace}/${name}${note}\n`,
      );
    },
  };
}
