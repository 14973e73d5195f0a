# One image per service, each holding its own code and production dependencies and nothing else:
#   docker build --target upload -t kms-share/upload .      (download, keyadmin, audit, lab alike)
# The upload image holds neither the lab, nor the download code, nor keyadmin; e2e/test/images.test.ts
# runs each `pnpm deploy` line below against the checkout and checks what the folder holds.
ARG NODE_IMAGE=node:24-bookworm-slim

# The workspace, installed once for every image. `pnpm fetch` reads the lockfile alone, so this layer is
# rebuilt only when the lockfile changes, not on every source edit.
FROM ${NODE_IMAGE} AS workspace
RUN npm install -g pnpm@12.4.2
WORKDIR /src
COPY pnpm-lock.yaml pnpm-workspace.yaml .pnpmfile.cjs ./
RUN pnpm fetch
COPY package.json turbo.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
COPY infra ./infra
RUN pnpm install --frozen-lockfile --offline

# Each service: build it and the workspace packages it runs with (production dependencies only: --filter-prod),
# then `pnpm deploy` its package's files (dist) with its production dependencies into /deploy.
FROM workspace AS upload-build
RUN pnpm --filter-prod "@kms-share/upload..." run build
RUN pnpm --filter @kms-share/upload deploy --prod --offline /deploy

FROM workspace AS download-build
RUN pnpm --filter-prod "@kms-share/download..." run build
RUN pnpm --filter @kms-share/download deploy --prod --offline /deploy

# keyadmin and the audit worker are one package (the worker is dist/worker.js).
FROM workspace AS keyadmin-build
RUN pnpm --filter-prod "@kms-share/keyadmin..." run build
RUN pnpm --filter @kms-share/keyadmin deploy --prod --offline /deploy

FROM workspace AS lab-build
RUN pnpm --filter-prod "@kms-share/aws-lab..." run build
RUN pnpm --filter @kms-share/aws-lab deploy --prod --offline /deploy

# infra's templates, synthesized offline (its build runs `cdk synth`): the lab deploys them at start.
FROM workspace AS infra-build
RUN pnpm --filter "@kms-share/infra..." run build

# The runtime images: Node 24 and the deploy folder (owned by root: the service cannot change its own code),
# run as the unprivileged node user (uid 1000).
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
USER node

FROM runtime AS upload
COPY --from=upload-build /deploy /app
ENV PORT=3001
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--scavenger-max-new-space-capacity-mb=4", "--heap-growing-percent=100", "dist/server.js"]

FROM runtime AS download
COPY --from=download-build /deploy /app
USER root
# The cache volume takes its owner and mode from this folder.
RUN mkdir -p /data/cache && chown node:node /data/cache && chmod 0700 /data/cache
USER node
ENV PORT=3002 CACHE_DIR=/data/cache
EXPOSE 3002
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--scavenger-max-new-space-capacity-mb=4", "--heap-growing-percent=100", "dist/server.js"]

FROM runtime AS keyadmin
COPY --from=keyadmin-build /deploy /app
USER root
# keyadmin-mfa: the lab writes userA's profile there for keyadmin alone (compose).
RUN mkdir -p /data/keyadmin-mfa && chown node:node /data/keyadmin-mfa && chmod 0700 /data/keyadmin-mfa
USER node
ENV PORT=3003
EXPOSE 3003
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js"]

# The audit worker: keyadmin's package, its own process and image (it serves no HTTP).
FROM runtime AS audit
COPY --from=keyadmin-build /deploy /app
CMD ["node", "dist/worker.js"]

# The lab: development, tests and workshops only; never deployed next to the services on AWS.
FROM runtime AS lab
COPY --from=lab-build /deploy /app
COPY --from=infra-build /src/infra/cdk.out /app/infra-templates
# The stacks the seed's deploy: section names, deployed at start (the service roles, their instances, the bucket).
ENV LAB_TEMPLATE_DIR=/app/infra-templates
USER root
# Named volumes take their owner from these folders, so the node user can write them; 0700: only it reads them.
RUN mkdir -p /data/lab /data/ca /data/stack-outputs /data/keyadmin-mfa \
 && chown node:node /data/lab /data/ca /data/stack-outputs /data/keyadmin-mfa \
 && chmod 0700 /data/lab /data/keyadmin-mfa
USER node
EXPOSE 4566
CMD ["node", "--initial-old-space-size=64", "dist/server.js"]
