# One image for the whole workspace; compose picks the service by working_dir and command.
FROM node:24-bookworm-slim AS build
RUN npm install -g pnpm@12.4.2
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml turbo.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
RUN pnpm install --frozen-lockfile
RUN pnpm exec turbo run build --filter=@kms-share/aws-lab --filter=@kms-share/upload --filter=@kms-share/download --filter=@kms-share/keyadmin
# Production dependencies only in the final image.
RUN pnpm install --frozen-lockfile --prod

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# Named volumes take their owner from these folders, so the unprivileged user can write them
# (keyadmin-mfa: the lab writes userA's profile there for keyadmin alone). 0700: only that user reads them.
RUN mkdir -p /data/lab /data/ca /data/cache /data/keyadmin-mfa \
 && chown node:node /data/lab /data/ca /data/cache /data/keyadmin-mfa \
 && chmod 0700 /data/lab /data/cache /data/keyadmin-mfa
USER node
EXPOSE 4566 3001 3002 3003
CMD ["node", "--initial-old-space-size=64", "packages/aws-lab/dist/server.js"]
