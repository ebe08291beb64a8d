import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const webRoot = fileURLToPath(new URL(".", import.meta.url));
const generated = fileURLToPath(new URL("../gen/ts", import.meta.url));
const api = `http://${process.env.TUTORHUB_HTTP_ADDR ?? "127.0.0.1:8080"}`;

// The generated clients live outside web/ (gen/ts), where Node's resolution would look for
// their runtime imports (@bufbuild/protobuf) in a node_modules that does not exist. Resolve
// every bare import of a generated file as if web/ had made it.
function resolveGeneratedImports(): Plugin {
  const fromWeb = `${webRoot}src/main.tsx`;
  return {
    name: "tutorhub:resolve-generated-imports",
    enforce: "pre",
    async resolveId(source, importer, options) {
      if (!importer?.startsWith(generated) || source.startsWith(".") || source.startsWith("/")) {
        return null;
      }
      return this.resolve(source, fromWeb, { ...options, skipSelf: true });
    },
  };
}

export default defineConfig({
  plugins: [resolveGeneratedImports()],
  resolve: {
    alias: { "@gen": generated },
  },
  esbuild: {
    jsx: "automatic",
    jsxImportSource: "preact",
  },
  build: {
    target: "es2022",
    // The polyfill would be an inline script, which the page's CSP refuses.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    fs: { allow: [webRoot, generated] },
    // The API lives on another port in development; the browser sees one origin, as in
    // production, so the session cookie and CSRF header behave the same.
    proxy: {
      "^/(api/|docs|tutorhub\\.v1\\.|grpc\\.)": { target: api, changeOrigin: false },
    },
  },
  preview: {
    host: "127.0.0.1",
    port: 4173,
  },
});
