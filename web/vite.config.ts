/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The build is served by ofca itself: GET / renders a Jinja template that links the hashed
// entry files named in the manifest, and /static/dist/ serves them with immutable caching.
// `npm run dev` serves index.html instead and proxies the API and sockets to ofca on :8000.
const backend = process.env.OFCA_DEV_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig({
  base: '/static/dist/',
  plugins: [react()],
  build: {
    outDir: '../src/ofca/static/dist',
    emptyOutDir: true,
    manifest: 'manifest.json',
    sourcemap: false,
    target: 'es2022',
    rollupOptions: {
      input: 'src/main.tsx',
    },
  },
  server: {
    proxy: {
      '/api': backend,
      '/auth': backend,
      '/health': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
  },
});
