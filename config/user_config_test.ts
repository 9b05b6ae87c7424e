import { strict as assert } from "node:assert";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { AliasError, ConfigError } from "./errors.ts";
import { loadUserConfig, setCurrentClient, userConfigPath } from "./user_config.ts";

function envFor(dir: string): Record<string, string> {
  return { JMP_CLIENT_CONFIG_HOME: join(dir, "jmp"), HOME: join(dir, "home") };
}

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

Deno.test("the user config lives in the client config home", () => {
  assert.equal(userConfigPath({ JMP_CLIENT_CONFIG_HOME: "/j" }), "/j/config.yaml");
  assert.equal(userConfigPath({ XDG_CONFIG_HOME: "/x" }), "/x/jumpstarter/config.yaml");
});

Deno.test(
  "a missing user config has no current client",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    assert.deepEqual(await loadUserConfig(env), { file: userConfigPath(env) });
  }),
);

Deno.test(
  "the current client is read, and null or empty means none",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = userConfigPath(env);
    write(
      file,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig\nconfig:\n  current-client: lab\n",
    );
    assert.deepEqual(await loadUserConfig(env), { file, currentClient: "lab" });
    write(
      file,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig\nconfig:\n  current-client: null\n",
    );
    assert.equal((await loadUserConfig(env)).currentClient, undefined);
    write(file, "config:\n  current-client: ''\n");
    assert.equal((await loadUserConfig(env)).currentClient, undefined);
  }),
);

Deno.test(
  "a malformed user config is a ConfigError naming the path",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = userConfigPath(env);
    const cases: [string, RegExp][] = [
      ["config:\n  current-clint: lab\n", /: config: unknown key "current-clint"/],
      ["kind: ClientConfig\n", /: kind: must be "UserConfig"/],
      [
        "config:\n  current-client: ../etc\n",
        /: config\.current-client: "\.\.\/etc" is not a client alias/,
      ],
      ["config: [a\n", /invalid YAML/],
      ["- a\n", /must be a mapping/],
    ];
    for (const [text, expected] of cases) {
      write(file, text);
      await assert.rejects(
        loadUserConfig(env),
        (err: unknown) => err instanceof ConfigError && expected.test(err.message),
        text,
      );
    }
  }),
);

Deno.test(
  "setting the current client creates the user config when missing",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    setCurrentClient("lab", env);
    assert.equal(
      readFileSync(userConfigPath(env), "utf8"),
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig\nconfig:\n  current-client: lab\n",
    );
    assert.equal((await loadUserConfig(env)).currentClient, "lab");
    setCurrentClient(undefined, env);
    assert.match(readFileSync(userConfigPath(env), "utf8"), /current-client: null\n/);
    assert.equal((await loadUserConfig(env)).currentClient, undefined);
  }),
);

Deno.test(
  "setting the current client keeps a hand-written comment and other keys",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = userConfigPath(env);
    write(
      file,
      "# my lab setup\napiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig # by hand\n" +
        "config:\n  current-client: old # was the old lab\n",
    );
    setCurrentClient("new", env);
    assert.equal(
      readFileSync(file, "utf8"),
      "# my lab setup\napiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig # by hand\n" +
        "config:\n  current-client: new # was the old lab\n",
    );
    assert.equal((await loadUserConfig(env)).currentClient, "new");
  }),
);

Deno.test(
  "setting the current client in a file without a config mapping adds one",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = userConfigPath(env);
    write(file, "# only a comment\nkind: UserConfig\n");
    setCurrentClient("lab", env);
    assert.match(readFileSync(file, "utf8"), /^# only a comment\nkind: UserConfig\n/);
    assert.equal((await loadUserConfig(env)).currentClient, "lab");
    write(file, "kind: UserConfig\nconfig: null\n");
    setCurrentClient("lab", env);
    assert.equal((await loadUserConfig(env)).currentClient, "lab");
  }),
);

Deno.test(
  "a bad alias or a malformed file is refused without writing",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    assert.throws(() => setCurrentClient("../x", env), AliasError);
    assert.deepEqual(readdirSync(dir), []);
    const file = userConfigPath(env);
    write(file, "config:\n  current-clint: a\n");
    assert.throws(() => setCurrentClient("lab", env), ConfigError);
    assert.equal(readFileSync(file, "utf8"), "config:\n  current-clint: a\n");
    await assert.rejects(loadUserConfig(env), ConfigError);
  }),
);
