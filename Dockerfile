# The shimmy image for people who build with Docker or Podman:
#   docker build -t localhost/shimmy:dev .        (or `podman build -t localhost/shimmy:dev .`)
#
# NOTE: this file is not built by the project's scripts or tests. The development
# machines have no container engine; `shimmy dev-cluster up` builds the same image without
# one (src/devcluster/images.ts: npm pack + npm install + the host's node, libraries and
# busybox-static in one layer, written by test/node/oci-image). Both give the same paths:
#   /opt/shimmy/node_modules/shimmy   the package, installed from its `npm pack` tarball
#   /usr/local/bin/node               Node.js 20
#   /usr/local/bin/shimmy             entrypoint (-> the package's bin/shimmy.js), so a pod's
#                                     `args: ["sub", "frames"]` runs `shimmy sub frames`
#   user shimmy (uid 10001)           for `securityContext.runAsUser: 10001`; runs as root by default

# Builder: the checkout's dependencies, native/build/libshimmy.so (gcc), dist/ (tsc), then
# the package as users get it.
FROM node:20-bookworm-slim AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build.mjs && mkdir /pkg && npm pack --pack-destination /pkg

# Runtime: the tarball installed without dev dependencies. Same Debian release as the
# builder, so the prebuilt libshimmy.so in the package matches its glibc.
FROM node:20-bookworm-slim
WORKDIR /opt/shimmy
COPY --from=builder /pkg/ ./
RUN npm install --omit=dev --no-audit --no-fund ./shimmy-*.tgz \
 && npm cache clean --force \
 && ln -s /opt/shimmy/node_modules/shimmy/bin/shimmy.js /usr/local/bin/shimmy \
 && groupadd --gid 10001 shimmy \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --shell /bin/sh --no-create-home shimmy
WORKDIR /
ENTRYPOINT ["/usr/local/bin/shimmy"]
