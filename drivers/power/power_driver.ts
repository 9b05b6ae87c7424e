// What every power driver offers, as upstream's PowerInterface: on(), off() and a read()
// stream of {voltage, current}. Each device supplies only how to switch and measure.

import { Args, type Driver, NotImplementedError, streaming, unary } from "../framework/mod.ts";
import type { CallContext } from "../framework/mod.ts";

/** The client class name upstream reports for power drivers. */
export const POWER_CLIENT = "jumpstarter_driver_power.client.PowerClient";

/** A reading of a power meter. */
export interface PowerReading {
  voltage: number;
  current: number;
}

/** How one kind of device switches and measures. */
export interface PowerDevice {
  readonly description: string;
  setPower(on: boolean, call: CallContext): Promise<void> | void;
  /** Readings; absent when the device cannot measure. */
  read?(call: CallContext): AsyncIterable<PowerReading>;
  reset?(): Promise<void> | void;
  close?(): Promise<void> | void;
}

/**
 * The driver of a power device.
 *
 * @example
 * ```ts
 * const driver = powerDriver({ description: "relay 1", setPower: (on) => relay(1, on) });
 * ```
 */
export function powerDriver(device: PowerDevice): Driver {
  return {
    client: POWER_CLIENT,
    description: device.description,
    methods: {
      on: unary("Turn the power on", async (args, call) => {
        new Args("on", args, 0);
        await device.setPower(true, call);
        call.log.info("power on");
      }),
      off: unary("Turn the power off", async (args, call) => {
        new Args("off", args, 0);
        await device.setPower(false, call);
        call.log.info("power off");
      }),
      read: streaming("Stream voltage and current readings", async function* (args, call) {
        new Args("read", args, 0);
        if (!device.read) throw new NotImplementedError("this power driver cannot read power");
        yield* device.read(call);
      }),
    },
    reset: device.reset,
    close: device.close,
  };
}
