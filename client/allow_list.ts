// Which driver client modules may be imported: a client module is code the exporter names, so
// it runs only if the user allowed its name (fnmatch wildcards), as upstream's drivers.allow.

/** Environment variable with a comma list of allowed names, or `UNSAFE`. */
export const ALLOW_ENV = "JMP_DRIVERS_ALLOW";
/** Environment variable that allows every module when true. */
export const UNSAFE_ENV = "JMP_DRIVERS_UNSAFE";

import { resolveClientConfig } from "../config/mod.ts";

// fnmatch: `*` any run, `?` one character, `[abc]`/`[!abc]` a set; everything else literal.
function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) out += "\\[";
      else {
        let set = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (set.startsWith("!")) set = `^${set.slice(1)}`;
        out += `[${set}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`, "s");
}

/**
 * The allowed client module names.
 *
 * @example
 * ```ts
 * const allow = new AllowList(["npm:@acme/jmp-*"]);
 * allow.allows("npm:@acme/jmp-relay/client#RelayClient"); // true
 * ```
 */
export class AllowList {
  readonly patterns: readonly string[];
  readonly unsafe: boolean;
  readonly #compiled: RegExp[];

  /** Allows names matching `patterns`, or everything when `unsafe`. */
  constructor(patterns: readonly string[] = [], unsafe = false) {
    this.patterns = patterns;
    this.unsafe = unsafe;
    this.#compiled = patterns.map(globToRegExp);
  }

  /**
   * The allow-list of the environment (`JMP_DRIVERS_ALLOW`, `JMP_DRIVERS_UNSAFE`) when set,
   * else of the client config's `drivers` section.
   */
  static fromEnv(
    env: Record<string, string | undefined>,
    config: { allow?: readonly string[]; unsafe?: boolean } = {},
  ): AllowList {
    const unsafeEnv = env[UNSAFE_ENV]?.toLowerCase();
    if (unsafeEnv === "1" || unsafeEnv === "true" || unsafeEnv === "yes") {
      return new AllowList([], true);
    }
    const listed = env[ALLOW_ENV];
    if (listed !== undefined && listed.trim() !== "") {
      const names = listed.split(",").map((n) => n.trim()).filter((n) => n !== "");
      return new AllowList(names.filter((n) => n !== "UNSAFE"), names.includes("UNSAFE"));
    }
    return new AllowList(config.allow ?? [], config.unsafe ?? false);
  }

  /** True when `name` may be imported. */
  allows(name: string): boolean {
    return this.unsafe || this.#compiled.some((re) => re.test(name));
  }

  /** The value to put in JMP_DRIVERS_ALLOW for a child process. */
  toEnv(): string {
    return this.unsafe ? "UNSAFE" : this.patterns.join(",");
  }
}

/**
 * The allow-list in force: the environment's when it sets one, else the `drivers` section of
 * the current client config, else built-in clients only.
 *
 * @example
 * ```ts
 * const allow = await configuredAllowList(process.env);
 * ```
 */
export async function configuredAllowList(
  env: Record<string, string | undefined>,
): Promise<AllowList> {
  if (env[ALLOW_ENV] || env[UNSAFE_ENV]) return AllowList.fromEnv(env);
  try {
    const { config } = await resolveClientConfig({ env });
    return new AllowList(config.drivers.allow, config.drivers.unsafe);
  } catch {
    // No usable client config: a local exporter needs none.
    return new AllowList();
  }
}
