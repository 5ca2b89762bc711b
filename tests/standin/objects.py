# tests/standin/objects.py -- the object store of the RECORDING STAND-IN
# (tests/standin/standin, which execs this for every kubectl call on a
# Lease or a ConfigMap): the fake API server's objects, one process per call.
#
#   python3 objects.py STATE_DIR KUBECTL-ARGS...
#
# Objects are kept as one JSON file each in STATE_DIR (NAMESPACE.KIND.NAME.json,
# KIND lease or configmap), replaced atomically (temp + rename), so a reader
# never sees half an object. Every change holds STATE_DIR/api.lock (flock)
# and takes the next resourceVersion from one counter (STATE_DIR/resourceVersion),
# so several processes calling at once see one consistent cluster. Answers as
# the API server and kubectl do (messages, exit status 1; 64: not scripted):
#   get KIND [NAME] [-o json] [--ignore-not-found]
#   create -f - [-o json]       AlreadyExists; a resourceVersion in the body is refused
#   replace -f - [-o json]      409 Conflict on a stale metadata.resourceVersion
#                               (a Lease without one is Invalid, as on a cluster)
#   patch KIND NAME --type merge -p JSON     (409 likewise)
#   delete KIND NAME [--ignore-not-found]
#   delete --raw /api(s)/.../namespaces/NS/RESOURCE/NAME [-f -]
#                               DeleteOptions in the body: preconditions
#                               {resourceVersion, uid} guard it (409 Conflict)
#   create configmap NAME --from-literal=K=V ...
import fcntl
import json
import os
import sys
import time

KINDS = {"configmap": "configmap", "configmaps": "configmap", "cm": "configmap",
         "lease": "lease", "leases": "lease", "lease.coordination.k8s.io": "lease",
         "leases.coordination.k8s.io": "lease"}
RESOURCE = {"configmap": "configmaps", "lease": "leases.coordination.k8s.io"}
SHORT = {"configmap": "configmap", "lease": "lease.coordination.k8s.io"}
# the flags whose value is the next argument (as the stand-in's words())
VALUED = {"-n", "--namespace", "-o", "--output", "-f", "--filename", "-l", "--selector", "--timeout",
          "-c", "--container", "--tail", "--context", "--kubeconfig", "--field-selector",
          "--from-literal", "--grace-period", "--version", "--values", "-p", "--patch", "--type", "--raw"}


def fail(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def parse(argv):
    flags, words, i = {}, [], 0
    while i < len(argv):
        a = argv[i]
        if a in VALUED and i + 1 < len(argv):
            flags.setdefault(a.lstrip("-"), []).append(argv[i + 1])
            i += 2
            continue
        if a.startswith("-") and "=" in a:
            k, v = a.lstrip("-").split("=", 1)
            flags.setdefault(k, []).append(v)
        elif a.startswith("-") and a != "-":
            flags.setdefault(a.lstrip("-"), []).append(True)
        else:
            words.append(a)
        i += 1
    return flags, words


def one(flags, *names):
    for n in names:
        if n in flags:
            return flags[n][0]
    return None


def new_uid():  # a random (version 4) UUID, without importing uuid
    b = bytearray(os.urandom(16))
    b[6], b[8] = (b[6] & 0x0F) | 0x40, (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def stamp():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    def __init__(self, state):
        self.state = state
        self.lockf = None

    def path(self, kind, ns, name):
        return os.path.join(self.state, "%s.%s.%s.json" % (ns, kind, name))

    def read(self, kind, ns, name):
        try:
            with open(self.path(kind, ns, name)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def lock(self):  # held until the process exits
        self.lockf = open(os.path.join(self.state, "api.lock"), "a")
        fcntl.flock(self.lockf, fcntl.LOCK_EX)

    def next_rv(self):  # (holding the lock)
        p = os.path.join(self.state, "resourceVersion")
        try:
            with open(p) as f:
                rv = int(f.read().strip() or 1000)
        except FileNotFoundError:
            rv = 1000
        rv += 1
        self.atomic(p, "%d\n" % rv)
        return str(rv)

    def atomic(self, p, text):
        tmp = "%s.tmp.%d" % (p, os.getpid())
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, p)

    def write(self, kind, ns, name, obj):
        text = json.dumps(obj, indent=4, sort_keys=True) + "\n"
        self.atomic(self.path(kind, ns, name), text)
        return text


def emit(text):
    sys.stdout.write(text)
    sys.exit(0)


def from_stdin(st, verb, ns, ns_given, output):
    try:
        body = json.loads(sys.stdin.read())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        fail("error: error parsing STDIN: not a JSON object")
    kind = KINDS.get(str(body.get("kind") or "").lower())
    if not kind:
        fail("recording stand-in: kubectl %s -f of kind %s is not scripted" % (verb, body.get("kind") or "?"), 64)
    res = RESOURCE[kind]
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        meta = body["metadata"] = {}
    name, ons, rv = meta.get("name") or "", meta.get("namespace") or "", meta.get("resourceVersion") or ""
    if not name:
        fail('error: error when %s "STDIN": resource name may not be empty' % (verb[:-1] + "ing"))
    if ons and ons != ns and ns_given:
        fail('error: the namespace from the provided object "%s" does not match the namespace "%s". '
             "You must pass '--namespace=%s' to perform this operation." % (ons, ns, ons))
    ons = ons or ns
    st.lock()
    cur = st.read(kind, ons, name)
    if verb == "create":
        if rv:
            fail('Error from server (BadRequest): error when creating "STDIN": '
                 "resourceVersion should not be set on objects to be created")
        if cur is not None:
            fail('Error from server (AlreadyExists): error when creating "STDIN": %s "%s" already exists' % (res, name))
        meta.update(resourceVersion=st.next_rv(), namespace=ons, creationTimestamp=stamp(), uid=new_uid())
        word = "created"
    else:
        if cur is None:
            fail('Error from server (NotFound): error when replacing "STDIN": %s "%s" not found' % (res, name))
        if not rv and kind == "lease":
            fail('Error from server (Invalid): error when replacing "STDIN": Lease.coordination.k8s.io "%s" is '
                 "invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update" % name)
        if rv and rv != cur["metadata"]["resourceVersion"]:
            conflict(res, name, 'error when replacing "STDIN"')
        cm = cur["metadata"]
        meta.update(resourceVersion=st.next_rv(), namespace=cm.get("namespace"), uid=cm.get("uid"),
                    creationTimestamp=cm.get("creationTimestamp"))
        word = "replaced"
    text = st.write(kind, ons, name, body)
    emit(text if output == "json" else "%s/%s %s\n" % (SHORT[kind], name, word))


def conflict(res, name, context=None):
    fail("Error from server (Conflict): %sOperation cannot be fulfilled on %s \"%s\": the object has been "
         "modified; please apply your changes to the latest version and try again"
         % (context + ": " if context else "", res, name))


def get(st, kind, ns, name, output, ignore):
    res = RESOURCE[kind]
    if name:
        p = st.path(kind, ns, name)
        try:
            with open(p) as f:
                text = f.read()
        except FileNotFoundError:
            if ignore:
                sys.exit(0)
            fail('Error from server (NotFound): %s "%s" not found' % (res, name))
        if kind == "lease" and output != "json":
            obj = json.loads(text)
            emit("NAME\tHOLDER\tAGE\n%s\t%s\t-\n" % (name, (obj.get("spec") or {}).get("holderIdentity") or ""))
        emit(text)
    if output != "json":
        fail("recording stand-in: list %s only with -o json" % res, 64)
    prefix, items = "%s.%s." % (ns, kind), []
    for f in sorted(os.listdir(st.state)):
        if f.startswith(prefix) and f.endswith(".json"):
            try:
                with open(os.path.join(st.state, f)) as fh:
                    items.append(json.load(fh))
            except FileNotFoundError:
                pass
    emit(json.dumps({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
                    indent=4, sort_keys=True) + "\n")


def merge_patch(a, b):
    if not isinstance(b, dict):
        return b
    out = dict(a) if isinstance(a, dict) else {}
    for k, v in b.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def patch(st, kind, ns, name, ptype, text):
    res = RESOURCE[kind]
    if ptype not in ("merge", "strategic"):
        fail("recording stand-in: kubectl patch --type %s is not scripted" % ptype, 64)
    try:
        p = json.loads(text or "")
    except ValueError:
        p = None
    if not isinstance(p, dict):
        fail('error: unable to parse "%s": not a JSON object' % text)
    st.lock()
    cur = st.read(kind, ns, name)
    if cur is None:
        fail('Error from server (NotFound): %s "%s" not found' % (res, name))
    prv = (p.get("metadata") or {}).get("resourceVersion") if isinstance(p.get("metadata"), dict) else None
    if prv and prv != cur["metadata"]["resourceVersion"]:
        conflict(res, name)
    new = merge_patch(cur, p)
    new.setdefault("metadata", {})["resourceVersion"] = st.next_rv()
    st.write(kind, ns, name, new)
    emit("%s/%s patched\n" % (SHORT[kind], name))


def delete(st, kind, ns, name, ignore, pre=None, raw=False):
    res = RESOURCE[kind]
    st.lock()
    cur = st.read(kind, ns, name)
    if cur is None:
        if ignore:
            sys.exit(0)
        fail('Error from server (NotFound): %s "%s" not found' % (res, name))
    meta = cur.get("metadata") or {}
    pre = pre or {}
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        fail('Error from server (Conflict): Operation cannot be fulfilled on %s "%s": Precondition failed: '
             "UID in precondition: %s, UID in object meta: %s" % (res, name, pre["uid"], meta.get("uid")))
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        fail('Error from server (Conflict): Operation cannot be fulfilled on %s "%s": the ResourceVersion in the '
             "precondition (%s) does not match the ResourceVersion in record (%s). The object might have been "
             "modified" % (res, name, pre["resourceVersion"], meta.get("resourceVersion")))
    os.remove(st.path(kind, ns, name))
    if raw:  # the API server's answer, as --raw prints it
        group = "coordination.k8s.io" if kind == "lease" else ""
        emit(json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "group": group, "kind": res.split(".")[0],
                                     "uid": meta.get("uid")}}) + "\n")
    emit('%s "%s" deleted\n' % (SHORT[kind], name))


def delete_raw(st, url, fname, ignore):
    parts = url.split("?")[0].strip("/").split("/")
    # api/v1/namespaces/NS/configmaps/NAME or apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME
    try:
        i = parts.index("namespaces")
        ns, resource, name = parts[i + 1], parts[i + 2], parts[i + 3]
    except (ValueError, IndexError):
        fail("recording stand-in: kubectl delete --raw %s is not scripted" % url, 64)
    kind = KINDS.get(resource)
    if not kind or len(parts) != i + 4:
        fail("recording stand-in: kubectl delete --raw %s is not scripted" % url, 64)
    body = {}
    if fname:
        text = sys.stdin.read() if fname == "-" else open(fname).read()
        try:
            body = json.loads(text) if text.strip() else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            fail("Error from server (BadRequest): the body of the request was in an unknown format")
    pre = body.get("preconditions") or {}
    delete(st, kind, ns, name, ignore, pre, raw=True)


def create_configmap(st, ns, name, literals):
    data = {}
    for kv in literals:
        k, _, v = kv.partition("=")
        data[k] = v
    st.lock()
    if st.read("configmap", ns, name) is not None:
        fail('error: failed to create configmap: configmaps "%s" already exists' % name)
    st.write("configmap", ns, name, {"apiVersion": "v1", "data": data, "kind": "ConfigMap", "metadata": {
        "creationTimestamp": stamp(), "name": name, "namespace": ns, "resourceVersion": st.next_rv(),
        "uid": new_uid()}})
    emit("configmap/%s created\n" % name)


def main():
    state, argv = sys.argv[1], sys.argv[2:]
    os.makedirs(state, exist_ok=True)
    st = Store(state)
    # the interpreter itself, for the stand-in's next calls (not a shim)
    if not os.path.exists(os.path.join(state, "python")):
        st.atomic(os.path.join(state, "python"), sys.executable + "\n")
    flags, words = parse(argv)
    given = one(flags, "namespace", "n")
    ns = given or "default"
    output = one(flags, "output", "o") or ""
    ignore = "ignore-not-found" in flags
    verb = words[0] if words else ""
    kind = KINDS.get(words[1]) if len(words) > 1 else None
    name = words[2] if len(words) > 2 else ""
    raw = one(flags, "raw")
    if verb == "delete" and raw:
        delete_raw(st, raw, one(flags, "filename", "f"), ignore)
    if verb in ("create", "replace") and one(flags, "filename", "f") == "-":
        from_stdin(st, verb, ns, given is not None, output)
    if verb == "create" and kind == "configmap":
        create_configmap(st, ns, name, flags.get("from-literal", []))
    if kind and verb == "get":
        get(st, kind, ns, name, output, ignore)
    if kind and verb == "patch":
        patch(st, kind, ns, name, one(flags, "type") or "strategic", one(flags, "patch", "p"))
    if kind and verb == "delete":
        delete(st, kind, ns, name, ignore)
    fail("recording stand-in: kubectl %s is not scripted" % " ".join(argv), 64)


main()
