// Power drivers: a mock, command-switched power and an HTTP PDU, all offering on/off/read.

export { createMockPower, type MockPowerDriver } from "./mock_power.ts";
export { createCommandPower } from "./command_power.ts";
export { createHttpPower } from "./http_power.ts";
export { POWER_CLIENT, type PowerDevice, powerDriver, type PowerReading } from "./power_driver.ts";
export { PowerClient } from "./client.ts";
