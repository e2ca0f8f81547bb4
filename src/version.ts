// The bundler inlines package.json, so the frontend knows the version it was built as
// and can tell the user plainly when the sidecar was built from another one.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../package.json') as { version: string };

export const FRONTEND_VERSION: string = pkg.version;
