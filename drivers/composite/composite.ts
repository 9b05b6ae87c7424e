// A driver that only groups others (a board with its power, console and storage): upstream's
// Composite, also the root of every exporter's driver tree.

import type { Driver, DriverFactory } from "../framework/mod.ts";

/** The client class name upstream reports for composites. */
export const COMPOSITE_CLIENT = "jumpstarter_driver_composite.client.CompositeClient";

/**
 * Groups `children` under one node.
 *
 * @example
 * ```ts
 * const board = composite({ power, serial }, "Raspberry Pi 4 on bench 3");
 * ```
 */
export function composite(children: Record<string, Driver>, description?: string): Driver {
  return { client: COMPOSITE_CLIENT, description, methods: {}, children };
}

/** `type: Composite` in an exporter config: no config keys, children from `children:`. */
export const createComposite: DriverFactory = (_config, ctx) => composite(ctx.children);
