import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// The bundle is built once with a placeholder base; the Go server rewrites
// it in memory at start-up to server.ui.serve_base ("" for "/"), so one
// embedded bundle serves any path prefix. The string matches Prefect's, so
// operators' habits (and Prefect's own docs) carry over.
const placeholder = '/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER/'

export default defineConfig({
  base: placeholder,
  plugins: [vue()],
  build: {
    // Straight into the Go package that embeds it.
    outDir: '../internal/ui/dist',
    emptyOutDir: true,
    // The bundle is committed: no source maps, and only content hashes in
    // names (Vite's default), so two builds of the same tree are identical.
    sourcemap: false,
    // The component library is pre-bundled into one large module; splitting
    // it further gains nothing, so do not warn about it.
    chunkSizeWarningLimit: 8000,
    reportCompressedSize: false,
  },
})
