# syntax=docker/dockerfile:1
# The one srec image: `srec operator`, `srec recorder` and the auditor's tools from one build, plus
# rsyslogd for the syslog pods the operator runs, so that one pinned image runs them all.
# Multi-stage: the build stage has the compilers for ssh2's native crypto binding; the runtime stage
# has Node, rsyslogd and the pruned node_modules.
# Not built by this repository's tests (no container runtime there). Build: docker build -t srec:0.1.0 .
ARG NODE_VERSION=24.21.0
ARG DEBIAN_RELEASE=bookworm

FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS build
# python3, make and g++ build ssh2's (and cpu-features') native binding during npm ci.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# npm ci's postinstall applies the declared dependency patches (patches/, patch-package) and fails the build
# when one no longer applies; the recorder also reports not ready if ssh2's patched window is not in effect.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund --foreground-scripts \
 && node -e "if (!require('ssh2/lib/protocol/crypto.js').bindingAvailable) { console.error('ssh2 native crypto binding did not build'); process.exit(1) }"
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim
# rsyslogd only: the syslog pods start it themselves (`rsyslogd -n -f <mounted conf>`), never as a service.
# rsyslog-openssl: the `ossl` stream driver, for forwarding to the SIEM over TLS (spec.syslog.tls).
RUN apt-get update \
 && apt-get install -y --no-install-recommends rsyslog rsyslog-openssl \
 && rm -rf /var/lib/apt/lists/* /etc/rsyslog.d/*
ENV NODE_ENV=production
WORKDIR /app
# Root-owned and read-only for the process: the pods run with readOnlyRootFilesystem anyway.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The CRD is the schema `srec validate` and the operator load at run time.
COPY --from=build /app/crds ./crds
# Numeric, so that Kubernetes can check runAsNonRoot without a passwd entry.
USER 65532:65532
# 2222 recorder SSH, 8080 operator probes + metrics, 9090 recorder probes + metrics, 5514 syslog.
EXPOSE 2222 8080 9090 5514
ENTRYPOINT ["node", "/app/bin/srec.js"]
CMD ["--help"]
