#!/usr/bin/env python3
"""Checks the deployment files without Docker or Kubernetes.

    /usr/bin/python3 tests/deploy/test_deploy_files.py REPO_ROOT BUILD_DIR

REPO_ROOT holds deploy/ and docker-compose.yml; BUILD_DIR the built binaries
(server/i2s-server, index/i2s-index, client/i2s-client, client/i2s-loadgen).
Checks: every YAML/JSON file parses; promtool check config / check rules /
test rules; every dashboard query is valid PromQL and names real metrics;
compose and Kubernetes agree with the server's flags (ports, probes,
healthchecks, scrape target) and every flag they pass exists in the binaries'
--help; the Dockerfile's runtime packages provide every shared library of the
shipped binaries (ldd + dpkg -S + apt-cache); the Kubernetes objects have
probes, resources, rollout strategy and matching selectors.

Exit 0: all passed; 1: failures (listed at the end); 77: promtool is missing.
"""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("test_deploy_files: PyYAML is missing (apt-get install python3-yaml)")

SERVER_FLAGS_WITH_PORTS = ("listen", "metrics_listen", "http_listen")
# absl's own flags, accepted by every binary but not in our --help
ABSL_BUILTIN_FLAGS = {"help", "helpfull", "helpshort", "version", "flagfile", "fromenv",
                      "tryfromenv", "undefok"}
# the binaries the image ships, by program name -> path under BUILD_DIR
BINARIES = {
    "i2s-server": "server/i2s-server",
    "i2s-index": "index/i2s-index",
    "i2s-client": "client/i2s-client",
    "i2s-loadgen": "client/i2s-loadgen",
}
THREADED_BLAS = ("libopenblas0-pthread", "libopenblas0-openmp")


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failures.append(f"{what}{': ' + detail if detail else ''}")
            print(f"FAIL  {what}{': ' + detail if detail else ''}")
        return cond

    def note(self, what):
        print(f"note  {what}")


C = Checks()


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(argv, **kw)


def interpolate(value):
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default} from the environment."""
    def sub(m):
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        v = os.environ.get(name)
        if op == ":-":
            return v if v else default
        if op == "-":
            return v if v is not None else default
        return v or ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}", sub, value)


def flag_values(argv):
    """{'flag': 'value'} of --flag=value / --flag tokens (value None)."""
    out = {}
    for a in argv:
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            out[name] = value if eq else None
    return out


def port_of(address):
    m = re.fullmatch(r".*:(\d+)", address or "")
    return int(m.group(1)) if m else None


def argv_of(value):
    """A compose/k8s command as argv, compose's ${VAR:-default} interpolated."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(interpolate(value))
    return [interpolate(str(v)) for v in value]


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------------------------------------
def load_files(repo):
    docs = {}
    paths = [os.path.join(repo, "docker-compose.yml")]
    for ext in ("yml", "yaml", "json"):
        paths += glob.glob(os.path.join(repo, "deploy", "**", f"*.{ext}"), recursive=True)
    for path in sorted(paths):
        rel = os.path.relpath(path, repo)
        try:
            with open(path) as f:
                if path.endswith(".json"):
                    docs[rel] = [json.load(f)]
                else:
                    docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
            C.ok(bool(docs[rel]), f"{rel} parses", "empty document")
        except (OSError, ValueError, yaml.YAMLError) as e:
            C.ok(False, f"{rel} parses", str(e).splitlines()[0])
    return docs


def help_flags(build, program):
    path = os.path.join(build, BINARIES[program])
    if not os.access(path, os.X_OK):
        C.ok(False, f"{program} is built", f"{path} missing: build first (tools/build.sh)")
        return None
    r = run([path, "--help"], env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    flags = set(re.findall(r"^\s+--([A-Za-z0-9_]+) \(default:", r.stdout, re.M))
    C.ok(r.returncode == 0 and flags, f"{program} --help lists its flags ({len(flags)})",
         r.stderr.strip()[-300:])
    return flags


def connection_flags(repo):
    """Flags of client/connection.cc (TLS, token): linked into i2s-client and i2s-loadgen
    but not shown by their --help, which lists the program's own file only."""
    try:
        src = open(os.path.join(repo, "client", "connection.cc")).read()
    except OSError:
        return set()
    return set(re.findall(r"ABSL_FLAG\(\s*[\w:<>]+\s*,\s*(\w+)\s*,", src))


class Flags:
    def __init__(self, repo, build):
        self.known = {p: help_flags(build, p) for p in BINARIES}
        extra = connection_flags(repo)
        for p in ("i2s-client", "i2s-loadgen"):
            if self.known[p] is not None:
                self.known[p] |= extra

    def check(self, where, argv):
        """Every --flag of argv exists for its program (argv[0], or after tini --)."""
        argv = list(argv)
        if argv and os.path.basename(argv[0]) == "tini":
            argv = argv[argv.index("--") + 1:] if "--" in argv else argv[1:]
        if not argv:
            return
        program = os.path.basename(argv[0])
        if program not in self.known:
            return
        known = self.known[program]
        if known is None:
            return
        unknown = sorted(n for n in flag_values(argv[1:]) if n not in known | ABSL_BUILTIN_FLAGS)
        C.ok(not unknown, f"{where}: every flag of {program} exists",
             f"{program} --help does not list --{', --'.join(unknown)}")


# ---------------------------------------------------------------------------------------------
def parse_dockerfile(path):
    """[(stage_name, base, [(INSTR, args)])] with continuation lines joined."""
    stages = []
    text = open(path).read()
    logical, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        logical.append(cur + s)
        cur = ""
    for line in logical:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            toks = args.split()
            toks = [t for t in toks if not t.startswith("--")]
            name = toks[2] if len(toks) >= 3 and toks[1].lower() == "as" else None
            stages.append((name, toks[0], []))
        elif stages:
            stages[-1][2].append((instr, args.strip()))
    return stages


def apt_installs(run_args):
    """Package names of `apt-get install` commands in a RUN line."""
    pkgs = []
    for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|\|\||$)", run_args):
        for tok in m.group(1).split():
            if tok.startswith("-") or tok.startswith("$"):
                continue
            pkgs.append(tok)
    return pkgs


def exec_form(args):
    try:
        v = json.loads(args)
        return [str(x) for x in v] if isinstance(v, list) else None
    except ValueError:
        return None


def dpkg_owner(paths):
    """{path: package} for the given files (tries the merged-/usr twins)."""
    out = {}

    def query(candidates):
        found = {}
        if not candidates:
            return found
        r = run(["dpkg", "-S"] + sorted(set(candidates)), timeout=120)
        for line in r.stdout.splitlines():
            pkgs, sep, file = line.partition(": ")
            if sep and not pkgs.startswith("diversion"):
                found[file.strip()] = pkgs.split(",")[0].strip().split(":")[0]
        return found

    cands = {}
    for p in paths:
        real = os.path.realpath(p)
        c = [p, real]
        for x in (p, real):
            if x.startswith("/usr/lib/"):
                c.append(x[len("/usr"):])
            elif x.startswith("/lib"):
                c.append("/usr" + x)
        cands[p] = c
    found = query([c for cs in cands.values() for c in cs])
    for p, cs in cands.items():
        for c in cs:
            if c in found:
                out[p] = found[c]
                break
    return out


def apt_closure(pkgs):
    """Packages apt installs for pkgs with --no-install-recommends: Depends and PreDepends,
    first alternative of each OR group (a virtual one: its first provider)."""
    seen, todo = set(), set(pkgs)
    unknown = set()
    while todo:
        batch = sorted(todo - seen)
        todo = set()
        if not batch:
            break
        seen.update(batch)
        r = run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                 "--no-breaks", "--no-replaces", "--no-enhances"] + batch, timeout=120)
        listed = set()
        lines = r.stdout.splitlines()
        i = 0
        choosing = None   # first alternative of the open OR group already taken
        while i < len(lines):
            line = lines[i]
            if not line.startswith(" "):
                listed.add(line.strip())
                choosing = None
                i += 1
                continue
            m = re.match(r"^\s\s(\|?)(Pre)?Depends: (\S+)", line)
            if not m:
                i += 1
                continue
            more, dep = m.group(1) == "|", m.group(3)
            providers = []
            j = i + 1
            while j < len(lines) and lines[j].startswith("    "):
                providers.append(lines[j].strip())
                j += 1
            if choosing is None:
                pick = dep
                if dep.startswith("<"):
                    pick = providers[0] if providers else None
                if pick:
                    todo.add(pick.split(":")[0])
                choosing = True
            if not more:
                choosing = None
            i = j
        unknown |= set(batch) - listed
    return seen, unknown


def base_image_packages():
    """What debian:bookworm-slim holds (minbase: Essential + Priority required, and apt), with
    their dependencies."""
    r = run(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\n"])
    roots = {"apt"}
    for line in r.stdout.splitlines():
        name, essential, priority = (line.split("\t") + ["", ""])[:3]
        if essential == "yes" or priority == "required":
            roots.add(name)
    closure, _ = apt_closure(roots)
    return closure


def check_dockerfile(repo, build, flags):
    path = os.path.join(repo, "deploy", "Dockerfile")
    if not C.ok(os.path.isfile(path), "deploy/Dockerfile exists"):
        return {}
    stages = parse_dockerfile(path)
    names = [s[0] for s in stages]
    build_stage = next((s for s in stages if s[0] == "build"), None)
    C.ok(build_stage is not None and build_stage[1] == "debian:bookworm",
         "Dockerfile: build stage `build` on debian:bookworm",
         f"stages {[(s[0], s[1]) for s in stages]}")
    final = stages[-1]
    C.ok(final[1] == "debian:bookworm-slim", "Dockerfile: final stage on debian:bookworm-slim",
         final[1])
    instrs = final[2]
    by = lambda k: [a for i, a in instrs if i == k]  # noqa: E731

    # scripts the build runs exist
    all_runs = " ".join(a for s in stages for i, a in s[2] if i == "RUN")
    for script in ("tools/build.sh", "tools/assets/setup_assets.sh", "tools/assets/demo_bundle.sh"):
        C.ok(script in all_runs and os.access(os.path.join(repo, script), os.X_OK),
             f"Dockerfile runs {script}, which exists")
    froms = {m for s in stages for i, a in s[2] if i in ("COPY", "RUN")
             for m in re.findall(r"(?:--|,)from=([\w.-]+)", a)}
    for f in sorted(froms):
        C.ok(f in names, f"Dockerfile: from={f} names a stage (or a named build context)")

    runtime_pkgs = [p for a in by("RUN") for p in apt_installs(a)]
    C.ok(bool(runtime_pkgs), f"Dockerfile: runtime apt packages: {' '.join(runtime_pkgs)}")
    C.ok("libopenblas0-serial" in runtime_pkgs and not set(THREADED_BLAS) & set(runtime_pkgs),
         "Dockerfile: runtime installs libopenblas0-serial, not the threaded variants")
    C.ok(any("update-alternatives --set" in a and "libblas.so.3" in a and "openblas-serial" in a
             for a in by("RUN")),
         "Dockerfile: libblas.so.3 alternative set to openblas-serial")
    env = {}
    for a in by("ENV"):
        toks = shlex.split(a)
        if len(toks) == 2 and "=" not in toks[0]:
            env[toks[0]] = toks[1]
        for t in toks:
            k, eq, v = t.partition("=")
            if eq:
                env[k] = v
    C.ok(env.get("OPENBLAS_NUM_THREADS") == "1", "Dockerfile: ENV OPENBLAS_NUM_THREADS=1")
    user = (by("USER") or ["root"])[-1].split(":")[0]
    C.ok(user not in ("root", "0") and user.isdigit(),
         f"Dockerfile: runs as numeric non-root user {user}")
    C.ok(by("STOPSIGNAL") == ["SIGTERM"], "Dockerfile: STOPSIGNAL SIGTERM")

    cmd = exec_form((by("CMD") or [""])[-1]) or []
    entry = exec_form((by("ENTRYPOINT") or ["[]"])[-1]) or []
    C.ok(cmd[:1] == ["i2s-server"], "Dockerfile: CMD runs i2s-server (exec form)", str(cmd))
    flags.check("Dockerfile CMD", entry + cmd)
    fv = flag_values(cmd[1:])
    ports = {f: port_of(fv.get(f)) for f in SERVER_FLAGS_WITH_PORTS}
    C.ok(all(ports.values()), f"Dockerfile: CMD sets {', '.join(SERVER_FLAGS_WITH_PORTS)}",
         str(ports))
    exposed = {int(p.split("/")[0]) for a in by("EXPOSE") for p in a.split()}
    C.ok(set(p for p in ports.values() if p) <= exposed,
         f"Dockerfile: EXPOSE {sorted(exposed)} covers the CMD ports {sorted(ports.values(), key=str)}")
    hc = (by("HEALTHCHECK") or [""])[-1]
    m = re.search(r"(?:^|\s)CMD\s+(.*)$", hc)
    hc_argv = (exec_form(m.group(1)) or shlex.split(m.group(1))) if m else []
    C.ok(hc_argv[:1] == ["i2s-client"] and "health" in hc_argv
         and port_of(flag_values(hc_argv).get("server")) == ports["listen"],
         "Dockerfile: HEALTHCHECK is `i2s-client --server=...:<--listen port> health`", hc)
    flags.check("Dockerfile HEALTHCHECK", hc_argv)

    check_runtime_libraries(build, runtime_pkgs)
    bundle_df = os.path.join(repo, "deploy", "bundle.Dockerfile")
    if os.path.exists(bundle_df):
        bs = parse_dockerfile(bundle_df)
        C.ok(bs and any(i == "COPY" and a.split()[-1].rstrip("/") == "/bundle" for i, a in bs[-1][2]),
             "deploy/bundle.Dockerfile puts the bundle at /bundle")
    return {"ports": ports, "uid": user}


def check_runtime_libraries(build, runtime_pkgs):
    binaries = [os.path.join(build, p) for p in BINARIES.values()]
    binaries = [b for b in binaries if os.path.exists(b)]
    if not binaries:
        return
    libs, needed = {}, set()
    for b in binaries:
        r = run(["ldd", b])
        missing = [l.strip() for l in r.stdout.splitlines() if "not found" in l]
        C.ok(r.returncode == 0 and not missing, f"ldd {os.path.relpath(b, build)} resolves",
             "; ".join(missing))
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line)
            if m:
                libs[m.group(1)] = m.group(2)
        r = run(["readelf", "-d", b])
        needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout))
    owners = dpkg_owner(libs.values())
    unowned = sorted(p for p in libs.values() if p not in owners)
    C.ok(not unowned, f"dpkg -S finds the package of all {len(libs)} shared libraries",
         f"not from a Debian package: {unowned}")
    base = base_image_packages()
    closure, unknown = apt_closure(runtime_pkgs)
    if unknown and not glob.glob("/var/lib/apt/lists/*_Packages*"):
        # without package lists apt-cache knows the installed packages only
        C.note(f"apt has no package lists (apt-get update): not checked: {sorted(unknown)}")
    else:
        C.ok(not unknown, "apt-cache knows every runtime package",
             f"unknown: {sorted(unknown)} (wrong name?)")
    # Direct dependencies (NEEDED) must be installed by name; all of ldd's by apt's closure.
    direct = {owners.get(libs.get(n)) for n in needed if libs.get(n) in owners}
    not_named = sorted(p for p in direct if p not in runtime_pkgs and p not in base)
    C.ok(not not_named,
         f"runtime apt list names the packages of all {len(needed)} NEEDED libraries "
         f"({', '.join(sorted(direct))})",
         f"missing from the runtime stage's apt-get install: {not_named}")
    uncovered = sorted({owners[p] for p in libs.values() if p in owners}
                       - closure - base - set(runtime_pkgs))
    C.ok(not uncovered,
         f"runtime packages + their dependencies provide all {len(libs)} libraries of ldd",
         f"not installed by the runtime stage: {uncovered}")
    C.ok(not set(THREADED_BLAS) & closure,
         "no runtime package pulls a threaded OpenBLAS",
         str(sorted(set(THREADED_BLAS) & closure)))


# ---------------------------------------------------------------------------------------------
def compose_ports(service):
    out = set()
    for p in service.get("ports", []):
        if isinstance(p, dict):
            out.add(int(p["target"]))
        else:
            out.add(int(str(p).split("/")[0].rsplit(":", 1)[-1]))
    return out


def compose_volumes(service):
    """[(source, target, read_only)], ${VAR:-default} interpolated"""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append((interpolate(v.get("source") or "") or None, v["target"],
                        bool(v.get("read_only"))))
        else:
            parts = interpolate(str(v)).split(":")
            # a Windows drive letter never occurs here
            src, dst = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
            out.append((src, dst, len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def under(path, root):
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_compose(repo, docs, flags, prom, grafana):
    doc = (docs.get("docker-compose.yml") or [None])[0]
    if not C.ok(isinstance(doc, dict), "docker-compose.yml present"):
        return {}
    services = doc.get("services", {})
    for name in ("i2s-server", "i2s-index", "prometheus", "grafana"):
        C.ok(name in services, f"compose: service {name}")
    named_volumes = set((doc.get("volumes") or {}).keys())

    # build, contexts and bind mounts point at files that exist
    for name, svc in services.items():
        b = svc.get("build")
        if isinstance(b, dict):
            ctx = os.path.join(repo, interpolate(b.get("context", ".")))
            df = os.path.join(ctx, interpolate(b.get("dockerfile", "Dockerfile")))
            C.ok(os.path.isfile(df), f"compose {name}: dockerfile {os.path.relpath(df, repo)} exists")
            for cname, cpath in (b.get("additional_contexts") or {}).items():
                p = os.path.normpath(os.path.join(repo, interpolate(cpath)))
                if os.path.isdir(p):
                    C.ok(True, f"compose {name}: build context `{cname}` {p} exists")
                else:
                    C.note(f"compose {name}: build context `{cname}` {p} is absent here "
                           "(set I2S_SHARED to build the image)")
        raw = [str(v.get("source") if isinstance(v, dict) else v) for v in svc.get("volumes", [])]
        for (src, dst, _), r in zip(compose_volumes(svc), raw):
            if src is None or src in named_volumes:
                continue
            if not src.startswith((".", "/")):
                C.ok(False, f"compose {name}: volume {src} is declared under volumes:")
                continue
            p = os.path.normpath(os.path.join(repo, src))
            if "${" in r and not os.path.exists(p):
                # an input the user provides (catalogue), defaulting to ../shared
                C.note(f"compose {name}: {src} is absent here (set its variable)")
                continue
            C.ok(os.path.exists(p), f"compose {name}: bind mount {src} exists")

    server = services.get("i2s-server", {})
    argv = argv_of(server.get("command"))
    flags.check("compose i2s-server command", argv)
    fv = flag_values(argv[1:])
    ports = {f: port_of(fv.get(f)) for f in SERVER_FLAGS_WITH_PORTS}
    C.ok(all(ports.values()), f"compose i2s-server: command sets {', '.join(SERVER_FLAGS_WITH_PORTS)}",
         str(ports))
    published = compose_ports(server)
    C.ok({p for p in ports.values() if p} <= published,
         f"compose i2s-server: publishes the ports of its flags {sorted(p for p in ports.values() if p)}",
         f"ports: {sorted(published)}")
    hc = argv_of((server.get("healthcheck") or {}).get("test"))
    if hc[:1] in (["CMD"], ["CMD-SHELL"]):
        hc = hc[1:] if hc[0] == "CMD" else shlex.split(" ".join(hc[1:]))
    C.ok(hc[:1] == ["i2s-client"] and "health" in hc
         and port_of(flag_values(hc).get("server")) == ports["listen"],
         "compose i2s-server: healthcheck is i2s-client health on the --listen port", str(hc))
    flags.check("compose i2s-server healthcheck", hc)

    index = services.get("i2s-index", {})
    iargv = argv_of(index.get("command"))
    flags.check("compose i2s-index command", iargv)
    ifv = flag_values(iargv[1:])
    C.ok(iargv[:1] == ["i2s-index"] and ifv.get("catalogue") and ifv.get("output"),
         "compose i2s-index: runs i2s-index --catalogue --output", str(iargv))
    C.ok(str(index.get("restart", "no")) == "no" or "profiles" in index,
         "compose i2s-index: one-shot (restart: \"no\")")
    dep = (server.get("depends_on") or {})
    dep = dep.get("i2s-index") if isinstance(dep, dict) else None
    C.ok(isinstance(dep, dict) and dep.get("condition") == "service_completed_successfully",
         "compose i2s-server: depends_on i2s-index service_completed_successfully")

    svols = {dst: src for src, dst, _ in compose_volumes(server)}
    ivols = {dst: src for src, dst, _ in compose_volumes(index)}
    bundle, root = fv.get("bundle"), fv.get("bundle_root")
    bmount = next((d for d, s in svols.items() if s == "bundles"), None)
    C.ok("bundles" in named_volumes and bmount is not None,
         "compose i2s-server: named volume `bundles` mounted")
    if bmount and bundle:
        C.ok(under(bundle, bmount), f"compose i2s-server: --bundle={bundle} is on the bundles volume")
        C.ok(root is not None and under(root, bmount) and under(bundle, root),
             f"compose i2s-server: --bundle_root={root} holds --bundle and is on the volume")
        C.ok(ivols.get(bmount) == "bundles" and ifv.get("output")
             and os.path.normpath(ifv["output"]) == os.path.normpath(bundle),
             "compose i2s-index: writes --output to the server's --bundle on the same volume",
             f"--output={ifv.get('output')} --bundle={bundle}")
    cat = ifv.get("catalogue")
    if cat:
        C.ok(any(under(cat, d) for d in ivols), f"compose i2s-index: --catalogue={cat} is mounted")
    grace = int(fv.get("shutdown_grace_ms") or 10000) / 1000
    sgp = str(server.get("stop_grace_period", "10s"))
    m = re.fullmatch(r"(\d+)s", sgp)
    C.ok(m and int(m.group(1)) > grace,
         f"compose i2s-server: stop_grace_period {sgp} > --shutdown_grace_ms {grace:g} s")

    # Prometheus: its config and rules are mounted where prometheus.yml says
    pv = {os.path.normpath(os.path.join(repo, s)): d
          for s, d, _ in compose_volumes(services.get("prometheus", {})) if s and s.startswith(".")}
    prom_yml = os.path.join(repo, "deploy", "prometheus", "prometheus.yml")
    C.ok(pv.get(prom_yml) == "/etc/prometheus/prometheus.yml",
         "compose prometheus: mounts deploy/prometheus/prometheus.yml as /etc/prometheus/prometheus.yml")
    for rf in prom.get("rule_files", []):
        in_container = os.path.normpath(os.path.join("/etc/prometheus", rf))
        src = [s for s, d in pv.items() if d == in_container]
        C.ok(bool(src) and os.path.isfile(src[0])
             and os.path.normpath(os.path.join(os.path.dirname(prom_yml), rf)) == src[0],
             f"compose prometheus: rule file {rf} is mounted as {in_container} from "
             "deploy/prometheus")
    targets = prom.get("targets", [])
    C.ok(f"i2s-server:{ports['metrics_listen']}" in targets,
         f"prometheus.yml scrapes i2s-server:{ports['metrics_listen']} (--metrics_listen)",
         str(targets))

    # Grafana: provisioning and dashboards where the provider looks
    gv = {d: os.path.normpath(os.path.join(repo, s))
          for s, d, _ in compose_volumes(services.get("grafana", {})) if s and s.startswith(".")}
    for path in grafana.get("provider_paths", []):
        src = gv.get(path)
        C.ok(src is not None and glob.glob(os.path.join(src, "*.json")),
             f"compose grafana: dashboard provider path {path} is mounted with dashboards")
    prov = os.path.join(repo, "deploy", "grafana", "provisioning")
    for d in ("datasources", "dashboards"):
        C.ok(gv.get(f"/etc/grafana/provisioning/{d}") == os.path.join(prov, d)
             or gv.get("/etc/grafana/provisioning") == prov,
             f"compose grafana: deploy/grafana/provisioning/{d} mounted at /etc/grafana/provisioning/{d}")
    ds_url = grafana.get("datasource_url", "")
    C.ok(re.fullmatch(r"http://prometheus:9090/?", ds_url or "") is not None,
         "grafana data source points at the compose prometheus service", ds_url)
    return {"ports": ports}


# ---------------------------------------------------------------------------------------------
def check_prometheus(repo, docs):
    rel = os.path.join("deploy", "prometheus", "prometheus.yml")
    cfg = (docs.get(rel) or [{}])[0]
    jobs = [j for j in cfg.get("scrape_configs", []) if j.get("job_name") == "image2song"]
    C.ok(len(jobs) == 1, "prometheus.yml: one scrape job `image2song`")
    job = jobs[0] if jobs else {}
    interval = job.get("scrape_interval", cfg.get("global", {}).get("scrape_interval"))
    C.ok(interval == "5s", f"prometheus.yml: scrape_interval 5s ({interval})")
    C.ok(job.get("metrics_path", "/metrics") == "/metrics", "prometheus.yml: path /metrics")
    targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
    rule_files = cfg.get("rule_files", [])
    # relative paths resolve against the config file's directory, here and in the container
    C.ok(rule_files == ["alerts.yml"],
         "prometheus.yml: rule_files [alerts.yml], next to prometheus.yml", str(rule_files))

    pdir = os.path.join(repo, "deploy", "prometheus")
    r = run(["promtool", "check", "config", os.path.join(pdir, "prometheus.yml")])
    out = (r.stdout + r.stderr).strip()
    C.ok(r.returncode == 0 and f"{len(rule_files)} rule files found" in out,
         f"promtool check config deploy/prometheus/prometheus.yml ({len(rule_files)} rule file)",
         out[-500:])
    alerts_path = os.path.join(pdir, "alerts.yml")
    r = run(["promtool", "check", "rules", alerts_path])
    C.ok(r.returncode == 0, "promtool check rules deploy/prometheus/alerts.yml",
         (r.stdout + r.stderr).strip()[-500:])
    tests = os.path.join(pdir, "alerts_test.yml")
    if os.path.exists(tests):
        r = run(["promtool", "test", "rules", tests], cwd=pdir)
        C.ok(r.returncode == 0, "promtool test rules deploy/prometheus/alerts_test.yml",
             (r.stdout + r.stderr).strip()[-1500:])
    else:
        C.ok(False, "deploy/prometheus/alerts_test.yml exists")

    # the alerts the deployment promises
    try:
        rules = [r for g in yaml.safe_load(open(alerts_path))["groups"] for r in g["rules"]]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        rules = []
    exprs = [(r.get("alert", r.get("record")), " ".join(str(r.get("expr", "")).split()))
             for r in rules]
    want = {
        "error ratio without client errors": lambda e: "i2s_requests_total" in e
        and "INVALID_ARGUMENT" in e and "NOT_FOUND" in e and "OK" in e,
        "Recommend p99 over 0.3 s": lambda e: "histogram_quantile(0.99" in e
        and 'method="Recommend"' in e and "> 0.3" in e,
        "RESOURCE_EXHAUSTED rate": lambda e: 'code="RESOURCE_EXHAUSTED"' in e,
        "target down": lambda e: re.search(r'up\{job="image2song"\} == 0', e),
        "failed bundle loads": lambda e: "i2s_bundle_loads_total" in e and "rejected" in e,
    }
    for what, pred in want.items():
        hit = [n for n, e in exprs if pred(e)]
        C.ok(bool(hit), f"alerts.yml: alert on {what} ({', '.join(hit)})")
    return {"rule_files": rule_files, "targets": targets,
            "exprs": [e for _, e in exprs]}


def check_grafana(repo, docs, tmp):
    ds_rel = os.path.join("deploy", "grafana", "provisioning", "datasources", "prometheus.yml")
    ds = [d for d in ((docs.get(ds_rel) or [{}])[0].get("datasources") or [])]
    uids = {d.get("uid"): d for d in ds}
    C.ok("prometheus" in uids and uids["prometheus"].get("type") == "prometheus",
         "grafana: provisioned Prometheus data source with uid `prometheus`")
    prov_rel = os.path.join("deploy", "grafana", "provisioning", "dashboards")
    provider_paths = [p.get("options", {}).get("path")
                      for rel, d in docs.items() if rel.startswith(prov_rel)
                      for p in (d[0].get("providers") or [])]
    C.ok(bool(provider_paths), "grafana: dashboard provider provisioned")

    dash_rel = os.path.join("deploy", "grafana", "dashboards", "image2song.json")
    dash = (docs.get(dash_rel) or [None])[0]
    ds_url = (uids.get("prometheus") or {}).get("url")
    if not C.ok(isinstance(dash, dict), f"{dash_rel} present"):
        return {"provider_paths": provider_paths, "datasource_url": ds_url}
    panels, stack = [], list(dash.get("panels", []))
    while stack:
        p = stack.pop(0)
        panels.append(p)
        stack.extend(p.get("panels", []))
    ids = [p.get("id") for p in panels]
    C.ok(len(ids) == len(set(ids)) and None not in ids, f"dashboard: {len(panels)} panels, unique ids")
    exprs, bad_vars, bad_ds = [], [], []
    for p in panels:
        for t in p.get("targets", []):
            e = t.get("expr")
            if not e:
                bad_vars.append(f"{p.get('title')}: target {t.get('refId')} has no expr")
                continue
            rest = e.replace("$__rate_interval", "").replace("$__interval", "")
            if "$" in rest:
                bad_vars.append(f"{p.get('title')}: {e}")
            exprs.append((p.get("title"), e.replace("$__rate_interval", "1m")
                          .replace("$__interval", "1m")))
            for d in (p.get("datasource"), t.get("datasource")):
                uid = d.get("uid") if isinstance(d, dict) else d
                if uid not in (None, "prometheus", "${datasource}", "$datasource"):
                    bad_ds.append(f"{p.get('title')}: {d}")
    C.ok(len(exprs) >= 8, f"dashboard: {len(exprs)} queries")
    C.ok(not bad_vars, "dashboard: queries use no Grafana variable but $__rate_interval/$__interval",
         "; ".join(bad_vars))
    C.ok(not bad_ds, "dashboard: panels use the `prometheus` data source", "; ".join(bad_ds))
    # PromQL syntax, checked by promtool as recording rules
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}
    path = os.path.join(tmp, "dashboard_rules.yml")
    with open(path, "w") as f:
        yaml.safe_dump(rules, f)
    r = run(["promtool", "check", "rules", path])
    C.ok(r.returncode == 0, f"dashboard: all {len(exprs)} queries are valid PromQL (promtool)",
         (r.stdout + r.stderr).strip()[-800:])
    joined = " ".join(e for _, e in exprs)
    for metric in ("i2s_requests_total", "i2s_request_duration_seconds_bucket",
                   "i2s_stage_duration_seconds_bucket", "i2s_batch_size", "i2s_queue_depth",
                   "i2s_songs", "i2s_bundle_info", "i2s_bundle_loads_total"):
        C.ok(metric in joined, f"dashboard: a panel shows {metric}")
    C.ok(re.search(r"by \((stage, le|le, stage)\)", joined) is not None,
         "dashboard: latency quantiles per stage (by stage, le)")
    tables = [p for p in panels if any("i2s_bundle_info" in (t.get("expr") or "")
                                       for t in p.get("targets", []))]
    C.ok(any(p.get("type") in ("table", "stat") for p in tables),
         "dashboard: bundle version shown as a table or stat")
    return {"provider_paths": provider_paths, "exprs": [e for _, e in exprs],
            "datasource_url": ds_url}


def check_metric_names(repo, exprs):
    """Every i2s_* metric in the alerts and the dashboard is one the server exports."""
    try:
        src = open(os.path.join(repo, "server", "metrics.cc")).read()
    except OSError:
        C.ok(False, "server/metrics.cc readable")
        return
    names = set(re.findall(r'\.Name\("(i2s_\w+)"\)', src))
    histograms = set(re.findall(r'BuildHistogram\(\)\s*\.Name\("(i2s_\w+)"\)', src))
    known = set(names)
    for h in histograms:
        known |= {h + s for s in ("_bucket", "_sum", "_count")}
    used = set(re.findall(r"\b(i2s_[a-z0-9_]+)\b", " ".join(exprs)))
    used = {u for u in used if not u.startswith("i2s_server") and ":" not in u}
    unknown = sorted(used - known)
    C.ok(not unknown, f"alerts + dashboard use only exported metrics ({len(used)} names)",
         f"not in server/metrics.cc: {unknown}")


# ---------------------------------------------------------------------------------------------
def check_k8s(repo, docs, flags, image):
    kdir = os.path.join("deploy", "k8s")
    kust = (docs.get(os.path.join(kdir, "kustomization.yaml")) or [{}])[0]
    resources = kust.get("resources", [])
    present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(repo, kdir, "*.yaml"))
                     if os.path.basename(p) != "kustomization.yaml")
    C.ok(sorted(resources) == present, f"kustomization.yaml lists {present}", str(resources))
    objs = [o for r in resources for o in docs.get(os.path.join(kdir, r), [])]
    kinds = {}
    for o in objs:
        kinds.setdefault(o.get("kind"), []).append(o)
    for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        C.ok(k in kinds, f"k8s: a {k}")
    deps = kinds.get("Deployment", [])
    if not deps:
        return {}
    d = deps[0]
    name = d["metadata"]["name"]
    spec = d.get("spec", {})
    tmpl = spec.get("template", {})
    labels = tmpl.get("metadata", {}).get("labels", {})
    sel = spec.get("selector", {}).get("matchLabels", {})
    C.ok(d.get("apiVersion") == "apps/v1", "k8s Deployment: apps/v1")
    C.ok(labels_match(sel, labels), "k8s Deployment: selector matches the pod labels")
    ru = spec.get("strategy", {}).get("rollingUpdate", {})
    C.ok(spec.get("strategy", {}).get("type", "RollingUpdate") == "RollingUpdate"
         and str(ru.get("maxUnavailable")) == "0" and str(ru.get("maxSurge")) == "1",
         "k8s Deployment: rolling update maxUnavailable 0, maxSurge 1", str(ru))
    pod = tmpl.get("spec", {})
    containers = pod.get("containers", [])
    c = next((x for x in containers if x.get("name") == "i2s-server"), containers[0] if containers else {})
    argv = argv_of(c.get("command")) + argv_of(c.get("args"))
    flags.check("k8s i2s-server args", argv)
    if argv and os.path.basename(argv[0]) == "tini":
        argv = argv[argv.index("--") + 1:]
    C.ok(argv[:1] == ["i2s-server"], "k8s: container runs i2s-server", str(argv[:1]))
    fv = flag_values(argv[1:])
    ports = {f: port_of(fv.get(f)) for f in SERVER_FLAGS_WITH_PORTS}
    C.ok(all(ports.values()), f"k8s: args set {', '.join(SERVER_FLAGS_WITH_PORTS)}", str(ports))
    cports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    C.ok({p for p in ports.values() if p} <= set(cports.values()),
         f"k8s: containerPorts {sorted(cports.values())} are the flags' ports")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        g = (c.get(probe) or {}).get("grpc") or {}
        C.ok(g.get("port") == ports["listen"],
             f"k8s: {probe} is a gRPC probe on the --listen port {ports['listen']}", str(c.get(probe)))
    st = c.get("startupProbe") or {}
    budget = st.get("periodSeconds", 10) * st.get("failureThreshold", 3)
    C.ok(budget >= 60, f"k8s: startupProbe allows {budget} s for loading + warm-up")
    res = c.get("resources", {})
    C.ok(all(res.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
         "k8s: cpu and memory requests and limits", str(res))
    env = {e.get("name"): e.get("value") for e in c.get("env", [])}
    C.ok(env.get("OPENBLAS_NUM_THREADS") == "1", "k8s: env OPENBLAS_NUM_THREADS=1")
    pre = ((c.get("lifecycle") or {}).get("preStop") or {})
    pre_cmd = argv_of((pre.get("exec") or {}).get("command"))
    sleep_s = int(pre_cmd[1]) if pre_cmd[:1] == ["sleep"] and len(pre_cmd) > 1 else (
        int((pre.get("sleep") or {}).get("seconds", 0)))
    C.ok(sleep_s > 0, f"k8s: preStop sleeps {sleep_s} s before SIGTERM")
    grace = int(fv.get("shutdown_grace_ms") or 10000) / 1000
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    C.ok(tgps > sleep_s + grace,
         f"k8s: terminationGracePeriodSeconds {tgps} > preStop {sleep_s} s + shutdown grace {grace:g} s")
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    C.ok(psc.get("runAsNonRoot") or csc.get("runAsNonRoot"), "k8s: runAsNonRoot")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    C.ok(csc.get("readOnlyRootFilesystem") is True, "k8s: readOnlyRootFilesystem")
    C.ok(csc.get("allowPrivilegeEscalation") is False, "k8s: allowPrivilegeEscalation false")
    images = {x.get("image", "").split(":")[0] for x in containers + pod.get("initContainers", [])}
    C.ok(image in images, f"k8s: the server container uses {image}", str(images))

    # the bundle: a volume that an init container fills and the server reads --bundle from
    bundle = fv.get("bundle")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vol = next((n for p, n in mounts.items() if bundle and under(bundle, p)), None)
    C.ok(vol is not None, f"k8s: --bundle={bundle} is on a mounted volume ({vol})")
    if vol:
        fills = [i.get("name") for i in pod.get("initContainers", [])
                 if any(m["name"] == vol and not m.get("readOnly") for m in i.get("volumeMounts", []))]
        volume = next((v for v in pod.get("volumes", []) if v.get("name") == vol), {})
        C.ok(bool(fills) or "persistentVolumeClaim" in volume,
             f"k8s: volume {vol} is filled by an init container ({', '.join(fills)}) or a PVC")
        root = fv.get("bundle_root")
        C.ok(root is None or under(bundle, root), f"k8s: --bundle_root={root} holds --bundle")
    tmp_writable = any(m.get("mountPath") == "/tmp" for m in c.get("volumeMounts", []))
    C.ok(tmp_writable, "k8s: /tmp is a volume (the root filesystem is read-only)")

    for s in kinds.get("Service", []):
        sname = s["metadata"]["name"]
        ss = s.get("spec", {})
        C.ok(labels_match(ss.get("selector", {}), labels), f"k8s Service {sname}: selector matches the pods")
        for p in ss.get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            C.ok(tp in cports or tp in cports.values(),
                 f"k8s Service {sname}: port {p.get('name')} -> container port {tp}")
    headless = [s for s in kinds.get("Service", []) if s.get("spec", {}).get("clusterIP") == "None"]
    C.ok(any(any(p.get("port") == ports["listen"] for p in s["spec"].get("ports", []))
             for s in headless), "k8s: a headless Service (clusterIP: None) for gRPC")
    normal = [s for s in kinds.get("Service", []) if s.get("spec", {}).get("clusterIP") != "None"]
    C.ok(any({ports["http_listen"], ports["metrics_listen"]} <= {p.get("port") for p in s["spec"].get("ports", [])}
             for s in normal), "k8s: a ClusterIP Service for HTTP and metrics")

    for h in kinds.get("HorizontalPodAutoscaler", []):
        ref = h.get("spec", {}).get("scaleTargetRef", {})
        C.ok(h.get("apiVersion") == "autoscaling/v2", "k8s HPA: autoscaling/v2")
        C.ok(ref.get("kind") == "Deployment" and ref.get("name") == name
             and ref.get("apiVersion") == "apps/v1", f"k8s HPA: targets Deployment {name}")
        C.ok(any((m.get("resource") or {}).get("name") == "cpu" for m in h["spec"].get("metrics", [])),
             "k8s HPA: scales on CPU")
        C.ok(h["spec"].get("minReplicas", 1) >= 2, "k8s HPA: minReplicas >= 2")
        C.ok("replicas" not in spec, "k8s Deployment: no spec.replicas (the HPA owns it)")
    for p in kinds.get("PodDisruptionBudget", []):
        C.ok(p.get("apiVersion") == "policy/v1", "k8s PDB: policy/v1")
        C.ok(labels_match(p.get("spec", {}).get("selector", {}).get("matchLabels", {}), labels),
             "k8s PDB: selector matches the Deployment's pods")
    return {"ports": ports, "uid": str(uid) if uid is not None else None}


# ---------------------------------------------------------------------------------------------
def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    repo, build = (os.path.abspath(a) for a in sys.argv[1:3])
    if shutil.which("promtool") is None:
        print("SKIP: promtool not found (Debian package prometheus)")
        return 77
    print(f"deployment files of {repo}, binaries of {build}")
    docs = load_files(repo)
    flags = Flags(repo, build)
    if flags.known.get("i2s-server") is not None:
        C.ok("http_listen" in flags.known["i2s-server"], "i2s-server has --http_listen")
    with tempfile.TemporaryDirectory(prefix="i2s-deploy-test-") as tmp:
        prom = check_prometheus(repo, docs)
        grafana = check_grafana(repo, docs, tmp)
        check_metric_names(repo, prom.get("exprs", []) + grafana.get("exprs", []))
    docker = check_dockerfile(repo, build, flags)
    compose = check_compose(repo, docs, flags, prom, grafana)
    image = (argv_of((docs.get("docker-compose.yml") or [{}])[0]
                     .get("services", {}).get("i2s-server", {}).get("image", "")) or [""])[0]
    image = interpolate(image).split(":")[0]
    k8s = check_k8s(repo, docs, flags, image)
    # one set of ports everywhere
    C.ok(docker.get("ports") == compose.get("ports") == k8s.get("ports"),
         "Dockerfile CMD, compose and k8s use the same ports",
         f"{docker.get('ports')} / {compose.get('ports')} / {k8s.get('ports')}")
    C.ok(docker.get("uid") and docker.get("uid") == k8s.get("uid"),
         f"k8s runAsUser is the image's USER ({docker.get('uid')})", str(k8s.get("uid")))

    print(f"\n{C.passed} checks passed, {len(C.failures)} failed")
    for f in C.failures:
        print(f"  FAILED: {f}")
    return 1 if C.failures else 0


if __name__ == "__main__":
    sys.exit(main())
