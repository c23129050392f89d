/**
 * esbuild plugin: leaves grpc-js's server side out of the bundles. grpc-js's index loads its gRPC
 * server, server interceptors and ORCA load reporting, and registers the weighted round robin and
 * outlier detection balancers; an etcd client never serves gRPC, and selects neither balancer (no
 * service config asks for them). These modules become stubs that throw if used anyway, and the two
 * balancers are not registered: about 70 KB less to load.
 *
 * The stubs are only put where grpc-js imports them today; if another grpc-js module starts
 * importing one, the build fails and names it rather than bundle a stub it may call.
 * CommonJS so that both scripts/build.mjs and serverless-esbuild can load it.
 */
const path = require('node:path');

/** Stubbed module → the grpc-js modules allowed to import it, what its stub exports. */
const STUBS = {
  server: { importers: ['index.js'], exports: ['Server'] },
  'server-interceptors': {
    importers: ['index.js'],
    exports: ['ServerListenerBuilder', 'ResponderBuilder', 'ServerInterceptingCall'],
  },
  orca: { importers: ['index.js', 'load-balancer-weighted-round-robin.js'], exports: ['ServerMetricRecorder'] },
  'load-balancer-weighted-round-robin': { importers: ['index.js'], exports: [], setup: true },
  // Outlier detection wraps other balancers only when a service config asks for it (xDS does).
  'load-balancer-outlier-detection': { importers: ['index.js'], exports: [], setup: true },
};

function stubSource(name, { exports, setup }) {
  const lines = [
    `const notBundled = () => { throw new Error('grpc-js ${name} is not bundled: this bundle is an etcd client only'); };`,
  ];
  for (const exported of exports)
    lines.push(`exports.${exported} = class ${exported} { constructor() { notBundled(); } };`);
  // index.js registers every balancer at load; this one is simply not registered.
  if (setup) lines.push('exports.setup = () => {};');
  return lines.join('\n');
}

/** @returns {import('esbuild').Plugin} */
function grpcClientOnlyPlugin() {
  const names = Object.keys(STUBS).join('|');
  return {
    name: 'grpc-js-client-only',
    setup(build) {
      build.onResolve({ filter: new RegExp(`^\\./(${names})$`) }, (args) => {
        if (!/[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/]/.test(args.importer)) return undefined;
        const name = args.path.slice(2);
        const importer = path.basename(args.importer);
        if (!STUBS[name].importers.includes(importer))
          throw new Error(
            `grpc-js ${importer} imports ${args.path}, which build/esbuild-grpc-client.cjs replaces with a stub: check and update it`,
          );
        return { path: name, namespace: 'grpc-js-client-only' };
      });
      build.onLoad({ filter: /.*/, namespace: 'grpc-js-client-only' }, (args) => ({
        contents: stubSource(args.path, STUBS[args.path]),
        loader: 'js',
      }));
    },
  };
}

module.exports = { grpcClientOnlyPlugin };
