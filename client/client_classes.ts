// Chooses the client class of each reported driver: built-in ones by name, others imported from
// the module the driver names, but only when the allow-list permits it.

import { DriverClient, type DriverClientClass } from "../drivers/framework/mod.ts";
import { BUILT_IN_CLIENTS, isModuleName } from "../drivers/registry.ts";
import { ALLOW_ENV, type AllowList } from "./allow_list.ts";

/** The class to use and, when it is not the one the driver asked for, why. */
export interface ClientChoice {
  readonly cls: DriverClientClass;
  readonly notice?: string;
}

/**
 * Resolves client name `name` (reported by driver `driver`). A module that is not allowed is
 * never imported: the generic client stands in and the notice says what to allow.
 *
 * @example
 * ```ts
 * const { cls, notice } = await chooseClientClass("power", label, new AllowList());
 * ```
 */
export async function chooseClientClass(
  driver: string,
  name: string,
  allow: AllowList,
): Promise<ClientChoice> {
  const builtIn = BUILT_IN_CLIENTS[name];
  if (builtIn) return { cls: await builtIn() };
  if (!isModuleName(name)) {
    return {
      cls: DriverClient,
      notice: `driver "${driver}": no client "${name}" here; using the generic client ` +
        `(j ${driver} call METHOD ...)`,
    };
  }
  if (!allow.allows(name)) {
    return {
      cls: DriverClient,
      notice: `driver "${driver}" needs client module "${name}", which is not allowed: add it ` +
        `to drivers.allow in your client config or to ${ALLOW_ENV}; using the generic client`,
    };
  }
  const hash = name.lastIndexOf("#");
  const specifier = hash >= 0 ? name.slice(0, hash) : name;
  const exportName = hash >= 0 ? name.slice(hash + 1) : "default";
  let module: Record<string, unknown>;
  try {
    module = await import(specifier);
  } catch (err) {
    return {
      cls: DriverClient,
      notice: `driver "${driver}": cannot import client module ${specifier}: ${
        err instanceof Error ? err.message.split("\n")[0] : err
      }; using the generic client`,
    };
  }
  const cls = module[exportName];
  if (typeof cls !== "function" || !(cls.prototype instanceof DriverClient)) {
    return {
      cls: DriverClient,
      notice: `driver "${driver}": ${specifier} has no DriverClient class "${exportName}"; ` +
        "using the generic client",
    };
  }
  return { cls: cls as DriverClientClass };
}
