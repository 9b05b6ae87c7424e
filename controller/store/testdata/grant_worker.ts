// A separate process racing for grants on a shared database file: it prints one JSON line per
// grant it won and exits non-zero as soon as an exporter holds two active leases.
//
//   deno run -A grant_worker.ts <database> <seed> <steps>

import process from "node:process";
import { openSqliteStore } from "../sqlite.ts";
import { assertOneActiveLeasePerExporter, NS, runRaceWorker, seeded } from "./race.ts";

const [path, seed, steps] = process.argv.slice(2);
const store = openSqliteStore(path);
try {
  await runRaceWorker({
    store,
    exporters: (await store.listExporters(NS)).map((exporter) => exporter.name),
    leases: (await store.listLeases(NS)).map((lease) => lease.name),
    steps: Number(steps),
    random: seeded(Number(seed)),
    clock: Date.now,
    granted: (lease, exporter, at) => console.log(JSON.stringify({ lease, exporter, at })),
    check: async () => void await assertOneActiveLeasePerExporter(store),
  });
} finally {
  await store.close();
}
