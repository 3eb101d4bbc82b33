// Vite build of the reading workstation. Django serves dist/ under /static/viewer/ (whitenoise)
// and reads dist/.vite/manifest.json to find the hashed entry (studies/pages/views.py).
import { createLogger, defineConfig } from 'vite';

// The codecs' Emscripten glue imports fs/path/url for Node; the browser never takes that path,
// so Vite's "externalized for browser compatibility" notices are noise in `make viewer`.
const levelArg = process.argv.indexOf('--logLevel');
const logger = createLogger(levelArg > 0 ? process.argv[levelArg + 1] : 'info');
const warn = logger.warn;
logger.warn = (msg, options) => {
  if (msg.includes('externalized for browser compatibility') || msg.includes('PLUGIN_TIMINGS')) return;
  warn(msg, options);
};

export default defineConfig({
  customLogger: logger,
  // Every asset URL relative to the JS that loads it: the bundle works under any static prefix.
  base: './',
  build: {
    outDir: 'dist',
    target: 'es2022',
    manifest: true,
    // Cornerstone3D (vtk.js) is one large chunk; it is cached immutably after the first visit.
    chunkSizeWarningLimit: 8000,
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  // `npm run dev`: the page at /?session=N talks to Django on :8000 (log in there first,
  // then open the dev server on the same host name so the session cookie is sent).
  server: {
    proxy: Object.fromEntries(['/api', '/dicomweb', '/accounts', '/read'].map((p) => [p, 'http://127.0.0.1:8000'])),
  },
  // dicom-image-loader starts its decoder as a module worker.
  worker: { format: 'es' },
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
});
