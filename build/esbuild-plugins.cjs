// esbuild plugins for serverless-esbuild (`custom.esbuild.plugins` in serverless.yml).
const { etcdProtosPlugin } = require('./esbuild-etcd-protos.cjs');

module.exports = [etcdProtosPlugin()];
