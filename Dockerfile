# log-sidecar image: one process (uvicorn inside `log-sidecar serve`), non-root, read-only root filesystem.
#
#   docker build -t log-sidecar:0.1.0 .
#
# Two stages. `build` starts from BASE_IMAGE (any Debian-based image with python3 and python3-venv),
# installs the project into a virtual environment, and assembles in /rootfs only what runs: the Python
# interpreter, its standard library (minus development tools), the venv, the shared libraries they load
# (found with ldd), a CA bundle and a passwd entry. The final stage is `FROM scratch` plus /rootfs: no
# shell, no package manager, no apt state. Both come from the same BASE_IMAGE, so the build is
# reproducible from that one argument (see docs/deploy.md for building the base offline).
# Offline: put wheels of the project and all its dependencies (`pip wheel -w build/wheelhouse .`, with the
# base image's Python version) into build/wheelhouse; they are then installed with --no-index.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Marks the builder's images (a cache only), so they can be pruned: docker image prune --filter label=log-sidecar.stage=build
LABEL log-sidecar.stage="build"
# 1 keeps kubernetes/aio (the asyncio client, unused) in the image.
ARG KEEP_KUBERNETES_AIO=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/log-sidecar
WORKDIR /src
# .dockerignore lets in only pyproject.toml, README.md, sidecar/ and build/wheelhouse/.
COPY . .
RUN set -eu; \
    if ls build/wheelhouse/*.whl >/dev/null 2>&1; then \
        /opt/log-sidecar/bin/pip install --no-index --find-links build/wheelhouse log-sidecar; \
    else \
        /opt/log-sidecar/bin/pip install .; \
    fi; \
    /opt/log-sidecar/bin/pip uninstall -y pip setuptools wheel >/dev/null 2>&1 || true; \
    site=$(/opt/log-sidecar/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    # The sidecar uses the synchronous kubernetes client; its asyncio twin is 68 MB of the image.
    if [ "${KEEP_KUBERNETES_AIO}" != "1" ]; then rm -rf "$site/kubernetes/aio"; fi; \
    find "$site" -depth -type d \( -name tests -o -name test \) -path "$site/*/*" -prune -exec rm -rf {} + ; \
    # The kubernetes package (thousands of generated model modules) as bytecode only: -OO drops the
    # docstrings, -b writes module.pyc where module.py was, which Python imports without the source.
    # About 57 MB (sources + __pycache__) become 17 MB; tracebacks inside it show no source lines.
    # (kubernetes.watch guesses a result type from docstrings; the sidecar's Watch(return_type="object")
    # does not ask it to.)
    /opt/log-sidecar/bin/python -OO -m compileall -q -b -j 0 "$site/kubernetes" >/dev/null; \
    find "$site/kubernetes" -name '*.py' -delete; \
    find "$site/kubernetes" -depth -type d -name __pycache__ -exec rm -rf {} + ; \
    # Fail the build here, not at run time, if something the code imports was pruned (checked again
    # in the final stage, on the final file system).
    /opt/log-sidecar/bin/python -c "import importlib, pkgutil, sidecar, kubernetes.client, kubernetes.config, kubernetes.watch; [importlib.import_module(m.name) for m in pkgutil.walk_packages(sidecar.__path__, 'sidecar.') if m.name != 'sidecar.__main__']"; \
    /opt/log-sidecar/bin/log-sidecar --help >/dev/null

# Assemble /rootfs: the same paths as in this stage, only what the sidecar runs on.
RUN set -eu; \
    R=/rootfs; \
    py=/opt/log-sidecar/bin/python3; \
    stdlib=$($py -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])'); \
    dynload=$($py -c 'import sysconfig; print(sysconfig.get_config_var("DESTSHARED"))'); \
    cafile=$($py -c 'import ssl; print(ssl.get_default_verify_paths().openssl_cafile)'); \
    # put PATH...: copy each path to the same place under $R (parent directories resolved), and
    # follow symlinks: a link and every link or file it points to are copied.
    put() { \
        local p d t; \
        for p in "$@"; do \
            d=$(readlink -f "$(dirname "$p")"); p="$d/$(basename "$p")"; \
            if [ ! -e "$R$p" ] && [ ! -L "$R$p" ]; then mkdir -p "$R$d"; cp -a "$p" "$R$d/"; fi; \
            if [ -L "$p" ]; then t=$(readlink "$p"); case "$t" in /*) ;; *) t="$d/$t";; esac; put "$t"; fi; \
        done; \
    }; \
    mkdir -p "$R/etc" "$R/tmp" "$R/opt"; chmod 1777 "$R/tmp"; \
    # merged /usr: /bin, /lib, /lib64 ... stay symlinks into /usr.
    for top in bin sbin lib lib32 lib64 libx32; do if [ -L "/$top" ]; then cp -a "/$top" "$R/"; fi; done; \
    # The standard library, byte-compiled (the root file system is read-only at run time), without
    # what only development or an interactive session uses.
    $py -m compileall -q -j 0 "$stdlib" >/dev/null || true; \
    put "$stdlib"; \
    if [ ! -d "$R$dynload" ]; then put "$dynload"; fi; \
    (cd "$R$stdlib" && rm -rf ensurepip idlelib tkinter turtledemo turtle.py lib2to3 distutils pydoc_data test \
        site-packages dist-packages __phello__ config-*); \
    (cd "$R$dynload" && rm -f _test*.so _ctypes_test*.so _xxtestfuzz*.so xxlimited*.so _xxsubinterpreters*.so \
        _curses*.so readline*.so _dbm*.so _gdbm*.so _sqlite3*.so nis*.so ossaudiodev*.so _tkinter*.so _crypt*.so); \
    find "$R$stdlib" -depth -type d \( -name test -o -name tests -o -name idle_test \) -exec rm -rf {} + ; \
    find "$stdlib" -type l | while read -r link; do put "$link"; done; \
    # The virtual environment, and the interpreter its python links point to.
    cp -a /opt/log-sidecar "$R/opt/"; \
    put /opt/log-sidecar/bin/python /opt/log-sidecar/bin/python3; \
    # Every shared library the interpreter and the extension modules load, with the dynamic loader.
    interp=$(readlink -f "$py"); \
    find "$interp" "$R$dynload" "$R/opt/log-sidecar" -type f \( -name '*.so' -o -name '*.so.*' -o -path "$interp" \) > /tmp/elves; \
    : > /tmp/libraries; \
    while read -r elf; do \
        if ldd "$elf" 2>&1 | grep -q 'not found'; then echo "missing library for $elf:"; ldd "$elf"; exit 1; fi; \
        ldd "$elf" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' >> /tmp/libraries; \
    done < /tmp/elves; \
    sort -u -o /tmp/libraries /tmp/libraries; \
    while read -r lib; do put "$lib"; done < /tmp/libraries; \
    cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$R/etc/" 2>/dev/null || true; \
    ldconfig -r "$R"; \
    # CA bundle where this OpenSSL looks (the API server's CA comes from the service-account mount).
    if [ -e "$cafile" ]; then put "$cafile"; \
    else mkdir -p "$(dirname "$R$cafile")"; cp "$($py -c 'import certifi; print(certifi.where())')" "$R$cafile"; fi; \
    cnf="$(dirname "$cafile")/openssl.cnf"; if [ -e "$cnf" ]; then put "$cnf"; fi; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nlog-sidecar:x:10001:10001:log-sidecar:/tmp:/sbin/nologin\n' > "$R/etc/passwd"; \
    printf 'root:x:0:\nlog-sidecar:x:10001:\n' > "$R/etc/group"; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$R/etc/nsswitch.conf"; \
    for top in bin sbin lib lib32 lib64 libx32; do if [ -L "$R/$top" ] && [ ! -e "$R/$top" ]; then rm "$R/$top"; fi; done; \
    echo "rootfs: $(du -sm "$R" | cut -f1) MB, $(wc -l < /tmp/libraries) shared libraries"

FROM scratch
LABEL org.opencontainers.image.title="log-sidecar" \
      org.opencontainers.image.description="Streams a Kubernetes workload's logs live to a browser over Server-Sent Events" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /rootfs/ /
ENV PATH=/opt/log-sidecar/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    LOG_SIDECAR_HOST=:: \
    LOG_SIDECAR_PORT=8080
# On the final file system (no shell here, exec form): every sidecar module and the kubernetes client
# import, what uvicorn loads at start (uvloop and httptools strictly when installed: uvicorn's "auto"
# would fall back to asyncio and h11 without a word), TLS has CA certificates, inotify works (the file
# source would silently fall back to polling), and the entry point runs.
RUN ["/opt/log-sidecar/bin/python", "-c", "import importlib, importlib.util, pkgutil, ssl, subprocess, urllib.request, sidecar; \
import kubernetes.client, kubernetes.config, kubernetes.watch; \
import uvicorn.loops.auto, uvicorn.loops.asyncio, uvicorn.protocols.http.auto, uvicorn.protocols.http.h11_impl, uvicorn.lifespan.on; \
[importlib.import_module(m) for m in ('uvloop', 'uvicorn.loops.uvloop') if importlib.util.find_spec('uvloop')]; \
[importlib.import_module(m) for m in ('httptools', 'uvicorn.protocols.http.httptools_impl') if importlib.util.find_spec('httptools')]; \
[importlib.import_module(m.name) for m in pkgutil.walk_packages(sidecar.__path__, 'sidecar.') if m.name != 'sidecar.__main__']; \
assert ssl.create_default_context().cert_store_stats()['x509_ca'] > 0, 'no CA certificates'; \
from inotify_simple import INotify; INotify().close(); \
subprocess.run(['log-sidecar', '--help'], check=True, stdout=subprocess.DEVNULL)"]
# uid/gid 10001 (named log-sidecar in /etc/passwd), numeric so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
STOPSIGNAL SIGTERM
# No curl (no shell either): ask /healthz with Python.
HEALTHCHECK --interval=15s --timeout=4s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LOG_SIDECAR_PORT', '8080'), timeout=3)"]
ENTRYPOINT ["log-sidecar", "serve"]
