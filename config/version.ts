// The release version (deno.json's "version"), for every component that reports it.
import denoConfig from "../deno.json" with { type: "json" };

/** The release version, read from the top-level "version" of deno.json. */
export const VERSION: string = denoConfig.version;
