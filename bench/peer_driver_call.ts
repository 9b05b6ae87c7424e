// Benchmark client: DriverCall round trips (power `on`) against an exporter, through the client
// library as `j` and tests use it. Prints {"p50_ms", "p99_ms", "calls"} as one JSON line.

import process from "node:process";
import { parseArgs } from "node:util";
import { connectExporter } from "../client/mod.ts";
import { measureLatencies } from "./peer_args.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { target: { type: "string" }, calls: { type: "string", default: "2000" } },
});
if (!values.target) {
  console.error("usage: peer_driver_call.ts --target unix:PATH [--calls 2000]");
  process.exit(2);
}
const exporter = await connectExporter(values.target);
const power = exporter.root.child("power");
const latencies = await measureLatencies(Number(values.calls), () => power.call("on"));
exporter.close();
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify({ calls: latencies.length, p50_ms: at(0.5), p99_ms: at(0.99) }));
