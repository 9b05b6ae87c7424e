// A simulated power switch (upstream's MockPower): remembers its state, reads 0 V / 0 A and
// 5 V / 2 A, as upstream's mock does.

import type { Driver, DriverFactory } from "../framework/mod.ts";
import { powerDriver } from "./power_driver.ts";

/** A MockPower driver with its state visible to tests. */
export interface MockPowerDriver extends Driver {
  readonly isOn: boolean;
}

/** `type: MockPower`; no config. */
export const createMockPower: DriverFactory = (): MockPowerDriver => {
  let on = false;
  const driver = powerDriver({
    description: "Mock power switch",
    setPower: (value) => void (on = value),
    async *read() {
      yield { voltage: 0, current: 0 };
      yield { voltage: 5, current: 2 };
    },
    reset: () => void (on = false),
  });
  return {
    ...driver,
    get isOn() {
      return on;
    },
  };
};
