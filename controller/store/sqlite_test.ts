// The SQLite store: the conformance suite over database files (siblings: a second connection to
// the same file), and what only SQLite has: WAL, the schema version, a unique index as the last
// guard of "one active lease per exporter", several processes on one file, and bad files.

import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { runToEnd } from "../../tests/fixtures/processes_io.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import { storeConformance, type StoreHarness } from "./conformance.ts";
import { openSqliteStore, SCHEMA_VERSION, type SqliteStore, SqliteStoreError } from "./sqlite.ts";
import {
  assertOneActiveLeasePerExporter,
  assertRefusalsWereNeeded,
  grantAt,
  NS,
  seedRace,
} from "./testdata/race.ts";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "testdata", "grant_worker.ts");

/** Stores on files in one temp folder: each `open` a new file, a sibling another connection. */
function sqliteHarness(): StoreHarness {
  const dir = mkdtempSync(join(tmpdir(), "jmp-store-"));
  let files = 0;
  let last: string | undefined;
  return {
    open() {
      last = join(dir, `state-${files++}.db`);
      return opened(last);
    },
    openSibling() {
      return last === undefined ? Promise.reject(new Error("no store opened yet")) : opened(last);
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

function opened(path: string): Promise<SqliteStore> {
  return new Promise((resolve) => resolve(openSqliteStore(path)));
}

storeConformance("sqlite", () => Promise.resolve(sqliteHarness()));

Deno.test(
  "a new database file is journaled in WAL mode and carries the schema version",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    await openSqliteStore(path).close();
    const db = new DatabaseSync(path);
    try {
      assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
      assert.deepEqual({ ...db.prepare("PRAGMA user_version").get() }, {
        user_version: SCHEMA_VERSION,
      });
    } finally {
      db.close();
    }
  }),
);

Deno.test(
  "the database itself refuses a second active lease on an exporter, even written behind grantLease's back",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    const store = openSqliteStore(path);
    await seedRace(store, 1, 2);
    assert.equal(await store.grantLease(NS, "lease-000", "ex-0", grantAt(1000)), true);
    await store.close();

    const db = new DatabaseSync(path);
    try {
      const sneak = db.prepare(
        "UPDATE leases SET status_exporter = 'ex-0' WHERE name = 'lease-001'",
      );
      assert.throws(() => sneak.run(), /UNIQUE constraint failed/);
      db.exec("UPDATE leases SET ended = 1 WHERE name = 'lease-000'");
      assert.equal(sneak.run().changes, 1, "once the first lease ended the exporter is free");
    } finally {
      db.close();
    }
  }),
);

Deno.test(
  "property: grant workers in three processes on one database file never grant a lease twice",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    const setup = openSqliteStore(path);
    const { exporters } = await seedRace(setup, 10, 200);
    await setup.close();

    const runs = await Promise.all([11, 22, 33].map((seed) =>
      runToEnd(
        [process.execPath, "run", "-A", WORKER, path, String(seed), "150"],
        process.env,
      )
    ));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const wins = runs.map((run) =>
      run.stdout.split("\n").filter(Boolean).map((line) =>
        JSON.parse(line) as { lease: string; exporter: string; at: number }
      )
    );
    assert.ok(wins.filter((won) => won.length > 0).length >= 2, "every grant went to one process");
    const all = wins.flat();
    const names = all.map((won) => won.lease);
    assert.equal(new Set(names).size, names.length, "a lease was granted more than once");

    const store = openSqliteStore(path);
    try {
      const leases = await assertOneActiveLeasePerExporter(store);
      const granted = leases.filter((lease) => lease.status.exporter !== undefined);
      assert.deepEqual(
        granted.map((l) => [l.name, l.status.exporter, l.status.beginTime]).sort(),
        all.map((won) => [won.lease, won.exporter, won.at]).sort(),
      );
      await assertRefusalsWereNeeded(store, exporters, leases);
    } finally {
      await store.close();
    }
  }),
);

Deno.test(
  "a database with a newer schema version is refused, naming the file and both versions",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    await openSqliteStore(path).close();
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();

    assert.throws(() => openSqliteStore(path), (error: unknown) => {
      assert.ok(error instanceof SqliteStoreError);
      assert.equal(error.path, path);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, new RegExp(`version ${SCHEMA_VERSION + 1} is newer`));
      assert.match(error.message, new RegExp(`\\(${SCHEMA_VERSION}\\)`));
      return true;
    });
  }),
);

Deno.test(
  "a file that is not a database, or cannot be opened, is refused with one line naming the file and the cause",
  withTempDir((dir) => {
    const garbage = join(dir, "state.db");
    writeFileSync(garbage, "this is not a database\n".repeat(200));
    const missing = join(dir, "no", "such", "dir", "state.db");
    for (
      const [path, cause] of [[garbage, /not a database/], [missing, /unable to open/]] as const
    ) {
      assert.throws(() => openSqliteStore(path), (error: unknown) => {
        assert.ok(error instanceof SqliteStoreError);
        assert.ok(error.message.startsWith(`cannot open state database ${path}: `), error.message);
        assert.match(error.message, cause);
        assert.equal(error.message.includes("\n"), false);
        return true;
      });
    }
  }),
);
