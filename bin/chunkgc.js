#!/usr/bin/env node
// Installed packages run the compiled build; a checkout without `npm run build` runs the sources directly
// (Node >= 22.18 strips TypeScript types natively).
import { existsSync } from "node:fs";

const compiled = new URL("../dist/cli/main.js", import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL("../src/cli/main.ts", import.meta.url).href);
