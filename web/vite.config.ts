// Builds the console (index.html, served at /) and the app (app/index.html, at /app/, with its
// service worker at /app/sw.js) into one directory that portierd serves. Hashed assets go to
// /assets/ (cached for a year); each page's JavaScript is checked against its gzipped budget.
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

// Gzipped JavaScript each page may load (issue 9): the app 80 KiB, the console 200 KiB.
const BUDGET: Record<string, number> = { app: 80 * 1024, console: 200 * 1024 };

function budget(): Plugin {
  return {
    name: 'portier-budget',
    apply: 'build',
    generateBundle(_opts, bundle) {
      const chunks = new Map<string, { code: string; imports: string[] }>();
      for (const [file, out] of Object.entries(bundle))
        if (out.type === 'chunk') chunks.set(file, { code: out.code, imports: out.imports });
      const report: string[] = [];
      for (const out of Object.values(bundle)) {
        if (out.type !== 'chunk' || !out.isEntry || !(out.name in BUDGET)) continue;
        // The entry and everything it imports statically: what the page loads first.
        const seen = new Set<string>();
        const walk = (f: string) => {
          if (seen.has(f)) return;
          seen.add(f);
          for (const i of chunks.get(f)?.imports ?? []) walk(i);
        };
        walk(out.fileName);
        let bytes = 0;
        for (const f of seen) bytes += gzipSync(chunks.get(f)?.code ?? '', { level: 9 }).length;
        const limit = BUDGET[out.name] as number;
        report.push(`${out.name}: ${(bytes / 1024).toFixed(1)} KiB gzipped JS (budget ${limit / 1024} KiB)`);
        if (bytes > limit) this.error(`size budget: the ${out.name} loads ${bytes} bytes of gzipped JavaScript, over ${limit}`);
      }
      this.emitFile({ type: 'asset', fileName: 'size-report.txt', source: report.join('\n') + '\n' });
      for (const line of report) console.log(`  ${line}`);
    },
  };
}

// Pre-compressed copies (file.gz) that portierd sends to browsers accepting gzip.
function gzipCopies(): Plugin {
  return {
    name: 'portier-gzip',
    apply: 'build',
    generateBundle(_opts, bundle) {
      for (const [file, out] of Object.entries(bundle)) {
        if (!/\.(js|css|html|svg|webmanifest)$/.test(file)) continue;
        const src = out.type === 'chunk' ? out.code : out.source;
        if (typeof src === 'string' ? src.length < 1024 : src.byteLength < 1024) continue;
        this.emitFile({ type: 'asset', fileName: `${file}.gz`, source: gzipSync(src, { level: 9 }) });
      }
    },
  };
}

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: process.env.PORTIER_WEB_OUT || 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or data: URIs: the Content-Security-Policy forbids them.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rolldownOptions: {
      input: { console: 'index.html', app: 'app/index.html', sw: 'src/app/sw.ts' },
      output: {
        entryFileNames: (c) => (c.name === 'sw' ? 'app/sw.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  plugins: [budget(), gzipCopies()],
  server: {
    proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } },
  },
});
