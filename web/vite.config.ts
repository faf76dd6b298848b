import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
/** `npx vite --config web/vite.config.ts` serves the app with hot reload and sends the API to a running `loupe serve`. */
const api = process.env.LOUPE_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    // Charts and the audio view are large libraries; pages load them on demand.
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { '/api': api, '/v1': api },
  },
});
