// What the page's modules find in the browser beyond TypeScript's DOM and WebGPU types, for the
// type check only (`tsconfig.json`): the page never loads this file.

interface Window {
  /** The wasm module's exports, which Trunk's loader sets before `TrunkApplicationStarted`. */
  wasmBindings?: typeof import("./invscale-web.js");
}

interface Navigator {
  /** The device's memory in GiB, rounded (the Device Memory API: Chromium's, not every browser's). */
  readonly deviceMemory?: number;
}
