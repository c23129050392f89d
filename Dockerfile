# The xDS server (`ecs-etcd-registrar xds`) as a container image, for infra/xds-service.yml.
#   docker build -t ecs-etcd-registrar-xds .
#   docker run -e ETCD_ENDPOINTS=http://10.0.1.5:2379 -p 18000:18000 -p 18001:18001 ecs-etcd-registrar-xds
# The build stage bundles the CLI with grpc-js's server side and copies the Envoy protos beside it
# (scripts/build-xds.mjs); the image holds only that bundle on Node 22. The tests and CI run without
# Docker: they run this bundle with plain Node (test/deploy/xds-bundle.test.ts), not this build.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build-xds.mjs /out

FROM node:22-bookworm-slim
WORKDIR /app
COPY --from=build /out/ ./
ENV NODE_ENV=production XDS_PORT=18000 XDS_HEALTH_PORT=18001
EXPOSE 18000 18001
USER node
# 200 once the first read of etcd is served (lib/xds/run.ts); the ECS task definition runs the same check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.XDS_HEALTH_PORT||18001)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/ecs-etcd-registrar.mjs", "xds"]
