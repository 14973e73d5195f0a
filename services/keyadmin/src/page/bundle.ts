// Bundles the page's script (page/editor.mjs and its modules: CodeMirror with the JSON language and the
// lint gutter) into dist/page/editor.js and its styles (page/keyadmin.css) into dist/page/keyadmin.css
// with esbuild. Run at build time (`pnpm build`) and by the browser test; the service only serves the result.
import { fileURLToPath } from 'node:url'

export const PAGE_ENTRY = fileURLToPath(new URL('../../page/editor.mjs', import.meta.url))
export const PAGE_BUNDLE = fileURLToPath(new URL('../../dist/page/editor.js', import.meta.url))
export const STYLES_ENTRY = fileURLToPath(new URL('../../page/keyadmin.css', import.meta.url))
export const PAGE_STYLES = fileURLToPath(new URL('../../dist/page/keyadmin.css', import.meta.url))

export async function bundlePage(outfile = PAGE_BUNDLE, stylesOutfile = PAGE_STYLES): Promise<void> {
  // Loaded only to bundle: esbuild is a build-time dependency, absent where the service runs (routes/page.ts imports PAGE_BUNDLE from here).
  const { build } = await import('esbuild')
  await Promise.all([
    build({ entryPoints: [PAGE_ENTRY], bundle: true, minify: true, format: 'iife', target: 'es2020', outfile, legalComments: 'linked', logLevel: 'warning' }),
    build({ entryPoints: [STYLES_ENTRY], bundle: true, minify: true, outfile: stylesOutfile, logLevel: 'warning' }),
  ])
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundlePage()
