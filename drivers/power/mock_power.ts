// A simulated power switch (upstream's MockPower): remembers its state, reads 0 V / 0 A and
// 5 V / 2 A, as upstream's mock does.

import type { Fields } from "../../config/mod.ts";
import type { Driver, DriverContext } from "../framework/mod.ts";
import { powerDriver } from "./power_driver.ts";

/** A MockPower driver with its state visible to tests. */
export interface MockPowerDriver extends Driver {
  /** True after `on()`, false after `off()`, `reset()` and at first. */
  readonly isOn: boolean;
}

/**
 * `type: MockPower`; no config keys. A driver factory whose driver also tells its state.
 *
 * @example
 * ```ts
 * const power = createMockPower(new Fields({}, { file: "bench.yaml", path: "power" }), ctx);
 * power.isOn; // false until a client calls on()
 * ```
 */
export function createMockPower(_config: Fields, _ctx: DriverContext): MockPowerDriver {
  let on = false;
  const driver = powerDriver({
    description: "Mock power switch",
    setPower: (value) => {
      on = value;
    },
    async *read() {
      yield { voltage: 0, current: 0 };
      yield { voltage: 5, current: 2 };
    },
    reset: () => {
      on = false;
    },
  });
  return {
    ...driver,
    get isOn() {
      return on;
    },
  };
}
