-- tests/bench/yaml_gen.lua OUT_MANIFESTS OUT_VALUES [MB]: generate the yaml
-- benchmark inputs with a fixed seed: Kubernetes-manifest-like documents
-- (Deployments, Services, ConfigMaps with block scalars, comments, quoted
-- and plain scalars) and one Helm-values-like nested mapping.
local out_m, out_v, mb = arg[1], arg[2], tonumber(arg[3] or "10")
local target = math.floor(mb * 1024 * 1024)
math.randomseed(42)
local function word() local t = {} for i = 1, math.random(4, 10) do t[i] = string.char(96 + math.random(26)) end return table.concat(t) end

local parts, size, n = {}, 0, 0
while size < target do
  n = n + 1
  local name = word() .. "-" .. n
  local doc = string.format([[
---
# %s: generated
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  namespace: prod
  labels:
    app: %s
    tier: "backend"
    version: "1.%d.%d"
  annotations:
    example.com/checksum: %x%x
spec:
  replicas: %d
  selector:
    matchLabels:
      app: %s
  template:
    metadata:
      labels:
        app: %s
    spec:
      nodeSelector: {mybinder.org/pool-type: core}
      containers:
        - name: %s
          image: "quay.io/jupyterhub/%s:2026.%d.%d"
          imagePullPolicy: IfNotPresent
          args: ["--port=%d", "--log-level", "info", --debug]
          ports:
            - containerPort: %d
              protocol: TCP
          env:
            - name: SPEED
              value: "%d"
            - name: ENABLED
              value: "yes"
            - name: RATIO
              value: "%d.%d"
          resources:
            requests: {cpu: %dm, memory: %dMi}
            limits:
              cpu: "%d"
              memory: %dGi
          readinessProbe:
            httpGet: {path: /health, port: %d}
            periodSeconds: 10
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %s-config
data:
  enabled: "true"
  config.py: |
    c.Spawner.start_timeout = %d
    c.Spawner.http_timeout = %d
    # a comment inside a block scalar
    c.JupyterHub.log_level = 'INFO'
  motd: >
    Welcome to %s, folded
    over two lines.
---
apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  type: ClusterIP
  ports:
  - port: 80
    targetPort: %d
  selector:
    app: %s
]], name, name, name, math.random(20), math.random(99), math.random(1 << 30), math.random(1 << 30),
    math.random(1, 9), name, name, word(), word(), math.random(12), math.random(30), 8000 + n % 1000,
    8000 + n % 1000, math.random(1000), math.random(9), math.random(99), math.random(900), math.random(4096),
    math.random(4), math.random(16), 8000 + n % 1000, name, math.random(600), math.random(60), word(), name,
    8000 + n % 1000, name)
  parts[#parts + 1] = doc
  size = size + #doc
end
local f = assert(io.open(out_m, "wb")); f:write(table.concat(parts)); f:close()

-- a values-like nested mapping of about the same size
local lines, vsize = {"# values for the benchmark chart"}, 0
local k = 0
while vsize < target do
  k = k + 1
  local block = string.format([[
component%d:
  enabled: %s
  replicas: %d
  image:
    name: quay.io/example/%s
    tag: "2026.%d.%d-%d.g%x"
    pullPolicy: IfNotPresent
  # resources for component %d
  resources:
    requests:
      cpu: %dm
      memory: %dMi
    limits:
      cpu: "%d"
      memory: %dGi
  config:
    BinderHub:
      hub_url: https://hub.%s.mybinder.org
      use_registry: true
      build_node_selector: {mybinder.org/pool-type: users}
      banned_specs:
        - ^%s/.*
        - ^%s/%s.*
      per_repo_quota: %d
    extra: null
  ingress:
    hosts: [%s.example.org, %s.example.org]
    annotations:
      kubernetes.io/ingress.class: traefik
      kubernetes.io/tls-acme: "true"
]], k, k % 3 == 0 and "false" or "true", math.random(5), word(), math.random(12), math.random(30), math.random(99),
    math.random(1 << 28), k, math.random(900), math.random(4096), math.random(4), math.random(16), word(), word(),
    word(), word(), math.random(200), word(), word())
  lines[#lines + 1] = block
  vsize = vsize + #block
end
f = assert(io.open(out_v, "wb")); f:write(table.concat(lines, "\n")); f:close()
