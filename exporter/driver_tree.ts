// Builds the exporter's driver tree from its config: one node per export with a fresh uuid, the
// root being a composite of all exports, as upstream does; and the reports GetReport returns.

import { randomUUID } from "node:crypto";
import { dirname } from "node:path";
import {
  ConfigError,
  type DriverInstanceConfig,
  type ExporterConfig,
  Fields,
} from "../config/mod.ts";
import { composite } from "../drivers/composite/mod.ts";
import { CLIENT_LABEL, type Driver, NAME_LABEL } from "../drivers/framework/mod.ts";
import { resolveDriverType } from "../drivers/registry.ts";
import type { DriverInstanceReport } from "../proto/mod.ts";
import type { LogHub } from "./log_hub.ts";

/** One driver in the tree. */
export interface DriverNode {
  readonly uuid: string;
  readonly parentUuid?: string;
  /** The export name; undefined for the root. */
  readonly name?: string;
  /** The YAML path it came from (`export.power`), `export` for the root. */
  readonly path: string;
  readonly driver: Driver;
  readonly description?: string;
  /** Method help, the driver's own overridden by the config's `methods_description`. */
  readonly methodsDescription: Readonly<Record<string, string>>;
  readonly children: readonly DriverNode[];
}

/** The built tree. */
export interface DriverTree {
  readonly root: DriverNode;
  /** Every node, root first, depth first. */
  readonly nodes: readonly DriverNode[];
  /** Looks a node up by uuid. */
  get(uuid: string): DriverNode | undefined;
  /** The reports of GetReport / Register, root first. */
  reports(): Omit<DriverInstanceReport, "$typeName">[];
  /** Closes every driver, children before parents; failures are logged, not thrown. */
  close(): Promise<void>;
}

/**
 * Instantiates every driver of `config`. Fails with a ConfigError naming the export when a type
 * is unknown, a driver rejects its config, or a `ref` points nowhere; drivers already built are
 * closed first.
 *
 * @example
 * ```ts
 * const tree = await buildDriverTree(await loadExporterConfig("bench.yaml"), new LogHub());
 * ```
 */
export async function buildDriverTree(config: ExporterConfig, logs: LogHub): Promise<DriverTree> {
  if (Object.keys(config.export).length === 0) {
    throw new ConfigError(
      config.file,
      "export",
      "lists no drivers: add some (e.g. power: {type: MockPower}) before serving it",
    );
  }
  const built: DriverNode[] = [];
  const rootUuid = randomUUID();
  const byPath = new Map<string, DriverNode>();
  const refs: { instance: DriverInstanceConfig; uuid: string; name: string }[] = [];

  async function buildNode(
    name: string,
    instance: DriverInstanceConfig,
    parentUuid: string,
    dottedName: string,
  ): Promise<DriverNode> {
    const uuid = randomUUID();
    const children: DriverNode[] = [];
    for (const [childName, child] of Object.entries(instance.children)) {
      children.push(await buildNode(childName, child, uuid, `${dottedName}.${childName}`));
    }
    const childDrivers = Object.fromEntries(children.map((c) => [c.name!, c.driver]));
    let driver: Driver;
    if (instance.ref !== undefined) {
      // Filled in once every export exists; a placeholder keeps the order of the reports.
      driver = composite({});
      refs.push({ instance, uuid, name });
    } else if (instance.type === undefined) {
      driver = composite(childDrivers, instance.description);
    } else {
      const factory = await resolveDriverType(instance.type, {
        file: config.file,
        path: `${instance.path}.type`,
        baseDir: dirname(config.file),
      });
      const fields = new Fields(instance.config, {
        file: config.file,
        path: `${instance.path}.config`,
      });
      try {
        driver = await factory(fields, {
          name,
          path: instance.path,
          file: config.file,
          baseDir: dirname(config.file),
          children: childDrivers,
          log: logs.logFor(uuid, name),
        });
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        const reason = err instanceof Error ? err.message : String(err);
        throw new ConfigError(config.file, instance.path, `driver failed to start: ${reason}`);
      }
      fields.done();
    }
    const node: DriverNode = {
      uuid,
      parentUuid,
      name,
      path: instance.path,
      driver,
      description: instance.description ?? driver.description,
      methodsDescription: { ...describeMethods(driver), ...instance.methodsDescription },
      children,
    };
    byPath.set(dottedName, node);
    built.push(node);
    return node;
  }

  const exports: DriverNode[] = [];
  try {
    for (const [name, instance] of Object.entries(config.export)) {
      exports.push(await buildNode(name, instance, rootUuid, name));
    }
  } catch (err) {
    await closeAll(built, logs, rootUuid);
    throw err;
  }

  const resolved = new Map<string, DriverNode>();
  for (const { instance, uuid } of refs) {
    const target = byPath.get(instance.ref!);
    if (!target || target.path === instance.path) {
      await closeAll(built, logs, rootUuid);
      throw new ConfigError(
        config.file,
        `${instance.path}.ref`,
        `"${instance.ref}" is not another export; known: ${
          [...byPath.keys()].filter((p) => byPath.get(p)!.path !== instance.path).join(", ")
        }`,
      );
    }
    resolved.set(uuid, target);
  }

  const root: DriverNode = {
    uuid: rootUuid,
    path: "export",
    driver: composite(Object.fromEntries(exports.map((n) => [n.name!, n.driver]))),
    description: config.description,
    methodsDescription: {},
    children: exports,
  };
  // A `ref` export is the target driver under another name.
  const withRefs = (node: DriverNode): DriverNode => {
    const target = resolved.get(node.uuid);
    const base = target
      ? {
        ...node,
        driver: target.driver,
        description: node.description ?? target.description,
        methodsDescription: target.methodsDescription,
      }
      : node;
    return { ...base, children: base.children.map(withRefs) };
  };
  const finalRoot = withRefs(root);
  const nodes: DriverNode[] = [];
  const walk = (node: DriverNode) => {
    nodes.push(node);
    node.children.forEach(walk);
  };
  walk(finalRoot);
  const index = new Map(nodes.map((n) => [n.uuid, n]));

  return {
    root: finalRoot,
    nodes,
    get: (uuid) => index.get(uuid),
    reports: () => nodes.map(toReport),
    // Depth-first order reversed: children close before their parents.
    close: () => closeAll(nodes.filter((n) => !resolved.has(n.uuid)).reverse(), logs, rootUuid),
  };
}

function describeMethods(driver: Driver): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, method] of Object.entries(driver.methods)) {
    if (method.description) out[name] = method.description;
  }
  return { ...out, ...driver.methodsDescription };
}

function toReport(node: DriverNode): Omit<DriverInstanceReport, "$typeName"> {
  const labels: Record<string, string> = { [CLIENT_LABEL]: node.driver.client };
  if (node.name !== undefined) labels[NAME_LABEL] = node.name;
  return {
    uuid: node.uuid,
    parentUuid: node.parentUuid,
    labels,
    description: node.description,
    methodsDescription: { ...node.methodsDescription },
  };
}

// Closes `nodes` in the order given (children first: `built` is in that order already).
async function closeAll(nodes: readonly DriverNode[], logs: LogHub, rootUuid: string) {
  const log = logs.logFor(rootUuid);
  for (const node of nodes) {
    try {
      await node.driver.close?.();
    } catch (err) {
      log.warn(`closing ${node.name ?? "root"}: ${err instanceof Error ? err.message : err}`);
    }
  }
}
