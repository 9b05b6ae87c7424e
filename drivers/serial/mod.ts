// Serial console driver, its client and the expect-style console for test scripts.

export { createSerial, SERIAL_CLIENT } from "./serial.ts";
export { ESCAPE_BYTE, SerialClient } from "./client.ts";
export { ExpectTimeoutError, SerialConsole } from "./console.ts";
