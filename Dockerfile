# The chunkgc image: the operator (`chunkgc operator`) and the engine its run Jobs start (`chunkgc gc`).
#   docker build -t chunkgc:dev .
# Runs as the numeric user 65532 (the operator's run pods and the Helm chart ask for that uid) and writes nothing
# outside mounted volumes and /tmp, so it works with readOnlyRootFilesystem.
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Compile the TypeScript sources to dist/ (tsc, tsconfig.build.json).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only (no install scripts are needed by any of them).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. The runtime: node, the compiled code, production node_modules; all owned by root, read-only to the user.
FROM ${NODE_IMAGE}
# --max-semi-space-size=16: V8 otherwise grows its young generation to 128 MiB while the sweep parses listing pages
# (objects that outlive a scavenge or two), ~100 MiB of a run's peak RSS; 16 MiB semi-spaces cost a little CPU only.
# --max-old-space-size=128: the mark table lives outside V8's heap, and a run's live heap stays far below 128 MiB at
# 10M chunks; without a cap V8 lets the sweep's garbage pile up to the limit it derives from the memory it sees
# (+130 MiB of peak RSS at 10M chunks). A datastore with hundreds of thousands of snapshots may need more: set
# NODE_OPTIONS in spec.runPod.env (it replaces this whole value).
ENV NODE_ENV=production \
    NODE_OPTIONS="--enable-source-maps --max-semi-space-size=16 --max-old-space-size=128" \
    HOME=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY --from=build /src/dist ./dist
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/chunkgc.js"]
