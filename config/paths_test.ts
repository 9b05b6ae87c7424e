import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { AliasError, ConfigError } from "./errors.ts";
import {
  exporterConfigPath,
  exporterConfigPaths,
  findExporterConfig,
  userConfigDir,
  validateAlias,
} from "./paths.ts";

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "jmp-config-paths-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function touch(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, "");
}

Deno.test("userConfigDir uses XDG_CONFIG_HOME when set", () => {
  assert.equal(
    userConfigDir({ XDG_CONFIG_HOME: "/xdg", HOME: "/home/ada" }),
    join("/xdg", "jumpstarter"),
  );
});

Deno.test("userConfigDir falls back to ~/.config without XDG_CONFIG_HOME", () => {
  assert.equal(userConfigDir({ HOME: "/home/ada" }), join("/home/ada", ".config", "jumpstarter"));
  assert.equal(
    userConfigDir({ XDG_CONFIG_HOME: "", HOME: "/home/ada" }),
    join("/home/ada", ".config", "jumpstarter"),
  );
});

Deno.test("userConfigDir ignores a relative XDG_CONFIG_HOME, as the XDG spec says", () => {
  assert.equal(
    userConfigDir({ XDG_CONFIG_HOME: "relative", HOME: "/home/ada" }),
    join("/home/ada", ".config", "jumpstarter"),
  );
});

Deno.test("exporter config paths are searched user directory first, then the system one", () => {
  assert.deepEqual(exporterConfigPaths("bench", { env: { XDG_CONFIG_HOME: "/xdg" } }), [
    join("/xdg", "jumpstarter", "exporters", "bench.yaml"),
    join("/etc/jumpstarter", "exporters", "bench.yaml"),
  ]);
  assert.deepEqual(
    exporterConfigPaths("bench", { env: { HOME: "/home/ada" }, systemDir: "/opt/jmp" }),
    [
      join("/home/ada", ".config", "jumpstarter", "exporters", "bench.yaml"),
      join("/opt/jmp", "exporters", "bench.yaml"),
    ],
  );
});

Deno.test("exporterConfigPath is the user's file, where a new config goes", () => {
  assert.equal(
    exporterConfigPath("bench", { env: { XDG_CONFIG_HOME: "/xdg" } }),
    join("/xdg", "jumpstarter", "exporters", "bench.yaml"),
  );
});

Deno.test("findExporterConfig prefers the user's file over the system one", () => {
  withTempDir((dir) => {
    const options = { env: { XDG_CONFIG_HOME: join(dir, "user") }, systemDir: join(dir, "etc") };
    const user = join(dir, "user", "jumpstarter", "exporters", "bench.yaml");
    const system = join(dir, "etc", "exporters", "bench.yaml");
    touch(system);
    assert.equal(findExporterConfig("bench", options), system);
    touch(user);
    assert.equal(findExporterConfig("bench", options), user);
  });
});

Deno.test("findExporterConfig lists both paths tried when neither exists", () => {
  withTempDir((dir) => {
    const options = { env: { XDG_CONFIG_HOME: join(dir, "user") }, systemDir: join(dir, "etc") };
    const [user, system] = exporterConfigPaths("bench", options);
    assert.throws(() => findExporterConfig("bench", options), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        `exporter "bench": no config file; looked for ${user} and ${system}`,
      );
      return true;
    });
  });
});

Deno.test("validateAlias accepts ordinary names", () => {
  for (const alias of ["bench", "lab-3", "rpi_4.b", "..hidden"]) validateAlias(alias);
});

Deno.test("validateAlias rejects empty, dot names and path separators", () => {
  const cases: [string, string][] = [
    ["", 'alias "": must not be empty'],
    [".", 'alias ".": must not be . or .., it names a file'],
    ["..", 'alias "..": must not be . or .., it names a file'],
    ["a/b", 'alias "a/b": must not contain "/" or "\\": it names a file in a fixed directory'],
    ["a\\b", 'alias "a\\b": must not contain "/" or "\\": it names a file in a fixed directory'],
    [
      "../etc",
      'alias "../etc": must not contain "/" or "\\": it names a file in a fixed directory',
    ],
  ];
  for (const [alias, message] of cases) {
    assert.throws(() => validateAlias(alias), (err: Error) => {
      assert.ok(err instanceof AliasError);
      assert.ok(err instanceof ConfigError, "callers that report ConfigErrors report it too");
      assert.equal(err.alias, alias);
      assert.equal(err.message, message);
      return true;
    });
  }
});

Deno.test("path lookups validate the alias before touching the file system", () => {
  assert.throws(() => findExporterConfig("../../etc/passwd"), AliasError);
  assert.throws(() => exporterConfigPath(""), AliasError);
});
