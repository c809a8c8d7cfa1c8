// The JS checker (`scripts/test.sh`): ESLint's recommended rules over the page's scripts, the
// build hook and the browser tests. Omitting a field by destructuring (`{ csv, ...rest }`) and
// an empty `catch {}` (a best-effort read) are the house's idioms, not mistakes.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.worker, ...globals.node },
    },
    rules: {
      "no-unused-vars": ["error", { ignoreRestSiblings: true }],
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
];
