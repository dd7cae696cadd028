"""The documentation cannot rot: its samples run, and its API reference
covers the package.

**The samples.**  Every fenced code block of the Markdown pages under
``docs/`` is taken, page by page, in order:

* ``python`` blocks run, in one namespace per page (a block may use what an
  earlier block of its page defined), with real servers and clients on
  127.0.0.1.  What they ``print`` is captured.
* A MyST comment line just before a block, ``% test: ...``, says how:

  ``server``
      The block starts a server and serves forever: it runs in a
      background greenlet until it has started a gevent server.  The port
      ``8080`` in it becomes 0 (a free port), and ``8080`` in the blocks
      after it becomes that server's real port.  Servers stay up until the
      end of the page.
  ``companion=echo`` / ``companion=chat``
      Before the block, start an echo server (accepting the first
      subprotocol asked for) or the demo chat server; ``8080`` in the
      following blocks becomes its port.
  ``companion=redis``
      Start a real ``redis-server``; ``6379`` in the blocks becomes its port.
  ``companion=certs``
      Write ``cert.pem``, ``key.pem`` (for 127.0.0.1 and localhost) and
      ``ca.pem`` into the page's working directory (a temporary one).
  ``companion=proxy`` / ``companion=socks``
      Start a real HTTP CONNECT proxy (tinyproxy; ``3128`` in the blocks
      becomes its port) or SOCKS5 proxy (pproxy; ``1080`` becomes its port).
  ``as=geventwebsocket``
      Run the block with ``geventwebsocket.handler`` being
      ``wsframework.wsgi`` — the claim of the page it is on.
  ``against=all``
      Run the block once against each server the page has started.
  ``output`` (on a ``text`` block)
      The block is what the python block just before it printed (each run
      of it); ``output, blocks=2``: what each of the 2 python blocks before
      it printed.
  ``static`` (on ``nginx``, ``javascript``, ``yaml`` or ``text`` blocks)
      Not run: configuration for, or code of, another program.

* ``sh`` blocks: each command must be a known one and is checked:
  ``python -m wsframework ...`` parses with the command line's own parser,
  ``pip install 'wsframework[x]'`` names extras setup.py has, ``gunicorn
  ...`` (after any ``WSFRAMEWORK_SERVER_*=...`` variables) parses with
  gunicorn's parser, its worker class imports and its server config
  variables are valid.
* ``toml`` blocks parse and pass the chat server's settings validation.

Anything else fails, so a new kind of block needs a rule here.

**The reference.**  The docs are built once (into a temporary directory,
warnings are errors) and its ``objects.inv`` must name every public name
of the public modules, every public method, property, attribute and
constant of their classes, every event the code emits, and every config
key of ``SERVER_DEFAULTS``/``CLIENT_DEFAULTS`` (whose descriptions live in
``docs/_ext/wsfdocs.py``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
import types
import zlib
from dataclasses import dataclass, field

import gevent
import gevent.event
import pytest
from gevent.baseserver import BaseServer

import wsframework

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, os.path.join(DOCS, "_ext"))


# ------------------------------------------------------------------ pages
@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    marks: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.lang})"


_FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\S*)\s*$")


def page_blocks(path: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, with their ``% test:``
    marks."""
    lines = open(path, encoding="utf-8").read().splitlines()
    blocks: list[Block] = []
    index = 0
    previous = ""
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        fence, lang = match.groups()
        start = index
        body = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"{path}:{start + 1}: unclosed code block"
        if lang.startswith("{"):
            # A MyST directive (toctree...), not a code block.
            assert lang not in ("{code-block}", "{code}", "{sourcecode}", "{literalinclude}"), (
                f"{path}:{start + 1}: write code as a plain ``` fence, which is tested")
            previous = ""
            index += 1
            continue
        marks = {}
        if previous.startswith("% test:"):
            for item in previous[len("% test:"):].split(","):
                key, _, value = item.strip().partition("=")
                marks[key] = value or True
        blocks.append(Block(os.path.relpath(path, DOCS), start + 1, lang,
                            "\n".join(body) + "\n", marks))
        previous = ""
        index += 1
    return blocks


def markdown_pages() -> list[str]:
    pages = []
    for directory, dirs, files in os.walk(DOCS):
        dirs[:] = [d for d in dirs if not d.startswith("_")]
        pages += [os.path.relpath(os.path.join(directory, f), DOCS)
                  for f in files if f.endswith(".md")]
    return sorted(pages)


PAGES = markdown_pages()
_KNOWN_MARKS = {"server", "companion", "as", "against", "output", "blocks", "static"}


# ------------------------------------------------------------- companions
def _echo_handler(request):
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    for message in connection:
        connection.send(message.data)


class PageRun:
    """Runs one page's blocks; owns what they started."""

    def __init__(self, monkeypatch, workdir) -> None:
        self.monkeypatch = monkeypatch
        self.workdir = workdir
        # The page's namespace is a module, so a sample may name itself
        # (``ROOT_URLCONF=__name__`` in a one-file Django project).
        module = types.ModuleType("__docs__")
        module.print = self._print
        monkeypatch.setitem(sys.modules, "__docs__", module)
        self.namespace: dict = module.__dict__
        self.out = io.StringIO()
        self.started: list[BaseServer] = []
        self.greenlets: list[gevent.Greenlet] = []
        self.ports: list[int] = []            # servers of the page, in order
        self.redis = None
        self.proxies: dict[str, object] = {}  # "3128"/"1080" -> the proxy on a free port
        self.outputs: list[list[str]] = []    # per python block: output of each run
        self.server_started = gevent.event.Event()
        original_start = BaseServer.start
        started = self.started
        event = self.server_started

        def start(server, *args, **kwargs):
            result = original_start(server, *args, **kwargs)
            started.append(server)
            event.set()
            return result

        monkeypatch.setattr(BaseServer, "start", start)

        # The greenlets a page's own code spawns (a relay reading Redis)
        # are stopped at the end of the page, before its companions: a
        # sample serves forever, it is not written to outlive Redis.
        original_spawn = gevent.spawn
        greenlets = self.greenlets

        def spawn(*args, **kwargs):
            greenlet = original_spawn(*args, **kwargs)
            if sys._getframe(1).f_code.co_filename.endswith("(python)"):
                greenlets.append(greenlet)
            return greenlet

        monkeypatch.setattr(gevent, "spawn", spawn)

    def _print(self, *args, **kwargs) -> None:
        kwargs.setdefault("file", self.out)
        if kwargs["file"] is sys.stdout:
            kwargs["file"] = self.out
        print(*args, **kwargs)

    # -- companions --
    def companion(self, kind: str, block: Block) -> None:
        if kind == "echo":
            server = wsframework.WebSocketServer.listen(("127.0.0.1", 0))
            server.on("request", _echo_handler)
            server.start()
            self.ports.append(server.port)
        elif kind == "chat":
            from wsframework.apps.chat import make_server
            chat = make_server(port=0)
            chat.start()
            self.ports.append(chat.port)
        elif kind == "redis":
            from tests.redis_server import RedisServer
            self.redis = RedisServer()
            self.redis.start()
        elif kind == "certs":
            import trustme
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            cert.cert_chain_pems[0].write_to_path(os.path.join(self.workdir, "cert.pem"))
            for extra in cert.cert_chain_pems[1:]:
                extra.write_to_path(os.path.join(self.workdir, "cert.pem"), append=True)
            cert.private_key_pem.write_to_path(os.path.join(self.workdir, "key.pem"))
            ca.cert_pem.write_to_path(os.path.join(self.workdir, "ca.pem"))
        elif kind == "proxy":
            from pathlib import Path

            from tests.proxies import tinyproxy
            self.proxies["3128"] = tinyproxy(Path(self.workdir))
        elif kind == "socks":
            from tests.proxies import pproxy
            self.proxies["1080"] = pproxy("socks5")
        else:
            raise AssertionError(f"{block}: unknown companion {kind!r}")

    def substitute(self, code: str, block: Block, port: int | None) -> str:
        for placeholder, proxy in self.proxies.items():
            code = code.replace(f"127.0.0.1:{placeholder}", f"127.0.0.1:{proxy.port}")
        if "6379" in code:
            assert self.redis is not None, f"{block}: uses Redis (6379) but has no companion=redis"
            code = code.replace("6379", str(self.redis.port))
        if "8080" in code:
            assert port is not None, (f"{block}: talks to port 8080 but the page has no "
                                      "server before it (mark one `% test: server` or add "
                                      "a companion)")
            code = code.replace("8080", str(port))
        return code

    # -- running --
    def run_python(self, block: Block) -> None:
        if block.marks.get("as") == "geventwebsocket":
            import types

            from wsframework import wsgi
            package = types.ModuleType("geventwebsocket")
            package.handler = wsgi
            self.monkeypatch.setitem(sys.modules, "geventwebsocket", package)
            self.monkeypatch.setitem(sys.modules, "geventwebsocket.handler", wsgi)
        elif "as" in block.marks:
            raise AssertionError(f"{block}: unknown as={block.marks['as']}")
        if block.marks.get("server"):
            self.run_server(block)
            self.outputs.append([""])
            return
        if block.marks.get("against") == "all":
            assert self.ports, f"{block}: against=all but no server runs"
            targets = list(self.ports)
        else:
            targets = [self.ports[-1] if self.ports else None]
        runs = []
        for port in targets:
            code = self.substitute(block.code, block, port)
            self.out = io.StringIO()
            with gevent.Timeout(40, AssertionError(f"{block}: did not finish in 40 s")):
                exec(compile(code, str(block), "exec"), self.namespace)
            runs.append(self.out.getvalue())
        self.outputs.append(runs)

    def run_server(self, block: Block) -> None:
        code = self.substitute(block.code.replace("8080", "0"), block, None)
        before = len(self.started)
        self.out = io.StringIO()
        self.server_started.clear()
        greenlet = gevent.spawn(exec, compile(code, str(block), "exec"), self.namespace)
        self.greenlets.append(greenlet)
        # Wait for the block to start a server, or to end (a failure).
        gevent.wait([self.server_started, greenlet], timeout=20, count=1)
        if len(self.started) == before:
            if greenlet.dead:
                greenlet.get()                # raises what the block raised
            raise AssertionError(f"{block}: started no server")
        server = self.started[before]
        self.ports.append(server.server_port)

    def close(self) -> None:
        for server in self.started:
            try:
                server.stop(timeout=0)
            except Exception:
                pass
        gevent.killall(self.greenlets, timeout=10)
        if self.redis is not None:
            self.redis.stop()
        for proxy in self.proxies.values():
            proxy.stop()


# ------------------------------------------------------------ other blocks
def check_shell(block: Block) -> None:
    from wsframework.apps.cli import _parser

    extras = _setup_extras()
    # A command continued with a trailing backslash is one command.
    for raw in block.code.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        if words[:3] == ["python", "-m", "wsframework"]:
            try:
                _parser().parse_args(words[3:])
            except SystemExit:
                raise AssertionError(f"{block}: the CLI refuses {line!r}") from None
        elif words[:2] == ["pip", "install"]:
            for requirement in words[2:]:
                match = re.fullmatch(r"wsframework(?:\[([\w,]+)\])?", requirement)
                assert match, f"{block}: pip install of something else: {requirement}"
                for extra in (match.group(1) or "").split(","):
                    assert not extra or extra in extras, f"{block}: no extra {extra!r}"
        elif words[0] == "gunicorn" or "=" in words[0]:
            check_gunicorn(block, line, words)
        elif words[0] in ("bash", "python", "python3") and words[1].endswith((".sh", ".py")):
            # A script of the repository: nothing outside it.
            script = os.path.normpath(words[1])
            assert not os.path.isabs(script) and not script.startswith(".."), (
                f"{block}: {words[1]} is not in the repository")
            assert os.path.exists(os.path.join(ROOT, script)), f"{block}: no {words[1]}"
            if script in ("bench/run.sh", "bench/run.py"):
                # The benchmark takes these arguments (it checks them, runs nothing).
                done = subprocess.run(
                    [sys.executable, os.path.join(ROOT, "bench", "run.py"), *words[2:], "--dry-run"],
                    capture_output=True, text=True)
                assert done.returncode == 0, f"{block}: bench/run.py refuses {line!r}: {done.stderr}"
        else:
            raise AssertionError(f"{block}: unknown command {line!r}; teach "
                                 "tests/project/test_docs.py how to check it")


def check_gunicorn(block: Block, line: str, words: list[str]) -> None:
    """``[WSFRAMEWORK_SERVER_X=v ...] gunicorn ARGS``: the variables (and
    ``-e`` ones) pass :func:`wsframework.gunicorn.config_from_environ`, the
    arguments parse with gunicorn's own parser, and the worker class (``-k``)
    is importable."""
    from gunicorn.config import Config
    from gunicorn.util import load_class

    from wsframework.gunicorn import config_from_environ

    environ = {}
    while words and "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        environ[name] = value
    assert words and words[0] == "gunicorn", f"{block}: unknown command {line!r}"
    try:
        args = Config().parser().parse_args(words[1:])
    except SystemExit:
        raise AssertionError(f"{block}: gunicorn refuses {line!r}") from None
    for item in getattr(args, "raw_env", None) or ():
        name, _, value = item.partition("=")
        environ[name] = value
    try:
        config_from_environ(environ)
    except ValueError as exc:
        raise AssertionError(f"{block}: {exc}") from None
    if getattr(args, "worker_class", None):
        load_class(args.worker_class)


def _setup_extras() -> set[str]:
    source = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    body = source[source.index("extras_require"):]
    body = body[:body.index("},")]
    return set(re.findall(r'^\s*"([\w-]+)":', body, re.M))


def check_toml(block: Block) -> None:
    import tomllib

    from wsframework.apps.settings import validate
    validate(tomllib.loads(block.code), str(block))


#: Pages whose samples log an error on purpose (the page says so).
EXPECTED_ERRORS = {
    # The handler accepts a protocol the client did not ask for.
    "tutorial.md": [r"handler for 'request' raised(.|\n)*"
                    r"ValueError: Specified protocol was not requested by the client"],
}


@pytest.mark.parametrize("page", [
    pytest.param(page, marks=pytest.mark.expect_errors(*EXPECTED_ERRORS[page]))
    if page in EXPECTED_ERRORS else page
    for page in PAGES])
def test_page_samples(page, monkeypatch, tmp_path):
    """Every block of the page runs or is checked, and prints what the page
    says it prints."""
    blocks = page_blocks(os.path.join(DOCS, page))
    monkeypatch.chdir(tmp_path)
    run = PageRun(monkeypatch, str(tmp_path))
    python_runs = 0
    environ = dict(os.environ)            # a sample may set variables (DJANGO_SETTINGS_MODULE)
    try:
        for block in blocks:
            unknown = set(block.marks) - _KNOWN_MARKS
            assert not unknown, f"{block}: unknown marks {unknown}"
            if "companion" in block.marks:
                run.companion(block.marks["companion"], block)
            if block.lang == "python":
                run.run_python(block)
                python_runs += 1
            elif block.marks.get("output"):
                count = int(block.marks.get("blocks", 1))
                assert len(run.outputs) >= count, f"{block}: output of no python block"
                for runs in run.outputs[-count:]:
                    for got in runs:
                        assert got == block.code, (
                            f"{block}: the sample printed\n{got}\nthe page says\n{block.code}")
            elif block.lang in ("sh", "console", "bash"):
                check_shell(block)
            elif block.lang == "toml":
                check_toml(block)
            elif block.marks.get("static"):
                assert block.lang in ("nginx", "javascript", "text", "yaml"), (
                    f"{block}: static is for other programs' code, not {block.lang}")
            else:
                raise AssertionError(f"{block}: a {block.lang or 'plain'} block with no "
                                     "rule: mark it (see tests/project/test_docs.py)")
    finally:
        run.close()
        os.environ.clear()
        os.environ.update(environ)


def test_every_page_has_its_samples_run():
    """The samples runner finds Python on the pages that have it (a typo in
    the fence syntax would silently hide a sample)."""
    counts = {page: sum(b.lang == "python" for b in page_blocks(os.path.join(DOCS, page)))
              for page in PAGES}
    for page in ("tutorial.md", "index.md", "howto/limits.md", "howto/backpressure.md",
                 "from-gevent-websocket.md", "from-websocket-client.md", "porting.md"):
        assert counts[page] >= 1, page
    assert sum(counts.values()) >= 40, counts


# -------------------------------------------------------------- the build
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The docs built once into a temporary directory: (returncode, log,
    html directory, inventory)."""
    out = tmp_path_factory.mktemp("docs")
    html = os.path.join(out, "html")
    process = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-q", "-W", "--keep-going", "-b", "html",
         "-d", os.path.join(out, "doctrees"), DOCS, html],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    inventory = read_inventory(os.path.join(html, "objects.inv"))
    return process.returncode, process.stdout + process.stderr, html, inventory


def read_inventory(path: str) -> dict[str, set[str]]:
    """objects.inv as ``{"py:method": {names}, "std:confval": {...}, ...}``."""
    with open(path, "rb") as f:
        header = [f.readline() for _ in range(4)]
        assert header[0].startswith(b"# Sphinx inventory version 2"), header[0]
        text = zlib.decompress(f.read()).decode("utf-8")
    inventory: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line.rstrip())
        if match:
            inventory.setdefault(match.group(2), set()).add(match.group(1))
    return inventory


def test_docs_build_without_warnings(built):
    returncode, log, _, _ = built
    assert returncode == 0, f"sphinx-build -W failed:\n{log}"


def test_html_code_blocks_are_the_tested_ones(built):
    """Each page of the site shows exactly the code blocks the samples
    test covers: none from another syntax (an rst ``::`` block, a
    docstring example, ``{code-block}``) slips by untested."""
    _, _, html, _ = built
    for directory, _, files in os.walk(html):
        relative_dir = os.path.relpath(directory, html)
        if relative_dir.startswith(("_", ".")):
            continue
        for name in files:
            if not name.endswith(".html") or name in ("genindex.html", "search.html",
                                                      "py-modindex.html"):
                continue
            page = os.path.normpath(os.path.join(relative_dir, name[:-5]))
            shown = open(os.path.join(directory, name), encoding="utf-8").read().count(
                '<div class="highlight-')
            source = os.path.join(DOCS, page + ".md")
            tested = len(page_blocks(source)) if os.path.exists(source) else 0
            assert shown == tested, f"{page}: {shown} code blocks shown, {tested} tested"


# ---------------------------------------------------------- the reference
PUBLIC_MODULES = [
    "wsframework", "wsframework.server", "wsframework.request", "wsframework.connection",
    "wsframework.client", "wsframework.router", "wsframework.w3c", "wsframework.wsgi",
    "wsframework.flask", "wsframework.protocol.frame", "wsframework.protocol.message", "wsframework.exceptions",
    "wsframework.protocol.close_codes", "wsframework.config", "wsframework.deprecation",
    "wsframework.events", "wsframework.protocol.url", "wsframework.metrics", "wsframework.apps.logformat",
    "wsframework.reconnect", "wsframework.gunicorn", "wsframework.django",
]
# Types the public classes hand out, documented though their modules are
# protocol internals.
SUPPORT_CLASSES = [
    "wsframework.protocol.http11.HttpRequest", "wsframework.protocol.http11.HttpResponse",
    "wsframework.protocol.http11.Headers", "wsframework.protocol.extensions.Extension",
    "wsframework.protocol.permessage_deflate.PerMessageDeflate", "wsframework.protocol.framing.Side",
]


def _resolve(name: str):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def _python_names(inventory) -> set[str]:
    return {name for kind, names in inventory.items() if kind.startswith("py:")
            for name in names}


def _documented_ids(inventory) -> dict[int, set[str]]:
    """id(class or function) → the names it is documented under."""
    ids: dict[int, set[str]] = {}
    for kind in ("py:class", "py:exception", "py:function", "py:module"):
        for name in inventory.get(kind, ()):
            obj = _resolve(name)
            if obj is not None:
                ids.setdefault(id(obj), set()).add(name)
    return ids


def public_classes() -> list[type]:
    classes = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and obj not in classes:
                classes.append(obj)
    for path in SUPPORT_CLASSES:
        obj = _resolve(path)
        if obj not in classes:
            classes.append(obj)
    return classes


def init_attributes(klass: type) -> set[str]:
    """Public attributes ``__init__`` assigns to ``self``."""
    init = klass.__dict__.get("__init__")
    if init is None or not inspect.isfunction(init):
        return set()
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    names = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            for item in ast.walk(target):
                if (isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name)
                        and item.value.id == "self" and not item.attr.startswith("_")):
                    names.add(item.attr)
    return names


def public_members(klass: type) -> dict[str, type]:
    """name → the class (of ``klass``'s MRO, in this package) defining it."""
    members: dict[str, type] = {}
    for base in reversed(klass.__mro__):
        if not base.__module__.startswith("wsframework"):
            continue
        for name in list(vars(base)) + sorted(init_attributes(base)):
            if not name.startswith("_"):
                members[name] = base
    return members


def test_public_names_are_in_the_reference(built):
    _, _, _, inventory = built
    names = _python_names(inventory)
    ids = _documented_ids(inventory)
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
                if id(obj) not in ids:
                    missing.append(f"{module_name}.{name}")
            elif (f"{module_name}.{name}" not in names
                  and not (getattr(wsframework, name, None) is obj
                           and f"wsframework.{name}" in names)):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names missing from the API reference: {missing}"


def test_class_members_are_in_the_reference(built):
    """Every public method, property, attribute and constant of every
    public class, its own or inherited from a class of this package."""
    _, _, _, inventory = built
    names = _python_names(inventory)
    ids = _documented_ids(inventory)
    missing = []
    for klass in public_classes():
        assert id(klass) in ids, f"{klass.__qualname__} is not documented"
        for name, owner in public_members(klass).items():
            documented_as = ids.get(id(klass), set()) | ids.get(id(owner), set())
            if not any(f"{prefix}.{name}" in names for prefix in documented_as):
                missing.append(f"{owner.__module__}.{owner.__qualname__}.{name}")
    assert not missing, ("class members missing from the API reference (document them on "
                         "the class's page under docs/reference/): "
                         f"{sorted(set(missing))}")


# -- events
def emitted_events() -> dict[str, set[str]]:
    """Class name → the events the code emits for it, found in the source:
    ``self.emit("name", ...)`` in a public class, any other ``.emit("name")``
    in a module with a single public emitter, and the W3C events."""
    from wsframework.events import EventEmitter

    events: dict[str, set[str]] = {}
    for module_name in PUBLIC_MODULES[1:]:
        module = importlib.import_module(module_name)
        emitters = [getattr(module, n) for n in module.__all__
                    if inspect.isclass(getattr(module, n))
                    and issubclass(getattr(module, n), EventEmitter)
                    and getattr(module, n).__module__ == module_name]
        tree = ast.parse(inspect.getsource(module))
        for owner in [n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))]:
            for call in ast.walk(owner):
                if not (isinstance(call, ast.Call) and call.args
                        and isinstance(call.args[0], ast.Constant)
                        and isinstance(call.args[0].value, str)):
                    continue
                func = call.func
                event = call.args[0].value
                if module_name == "wsframework.w3c" and isinstance(func, ast.Name) and \
                        func.id in ("Event",):
                    events.setdefault("W3CWebSocket", set()).add(event)
                    continue
                if not (isinstance(func, ast.Attribute) and func.attr == "emit"):
                    continue
                if (isinstance(func.value, ast.Name) and func.value.id == "self"
                        and isinstance(owner, ast.ClassDef) and not owner.name.startswith("_")):
                    events.setdefault(owner.name, set()).add(event)
                else:
                    assert len(emitters) == 1, (
                        f"{module_name}:{call.lineno}: cannot tell which class emits "
                        f"{event!r}; teach emitted_events()")
                    events.setdefault(emitters[0].__name__, set()).add(event)
    events.setdefault("W3CWebSocket", set()).update({"message", "close"})  # MessageEvent, CloseEvent
    return events


def test_events_are_in_the_reference(built):
    _, _, _, inventory = built
    documented = inventory.get("std:event", set())
    emitted = {f"{cls}.{event}" for cls, names in emitted_events().items() for event in names}
    assert len(emitted) >= 25, emitted
    assert not emitted - documented, (
        f"events missing from the reference (add `.. event::` on the class's page): "
        f"{sorted(emitted - documented)}")
    assert not documented - emitted, (
        f"documented events the code never emits: {sorted(documented - emitted)}")


# -- config keys
def test_config_keys_are_in_the_reference(built):
    from wsfdocs import DESCRIPTIONS

    from wsframework.config import CLIENT_DEFAULTS, SERVER_DEFAULTS

    _, _, html, inventory = built
    keys = set(SERVER_DEFAULTS) | set(CLIENT_DEFAULTS)
    undescribed = sorted(keys - set(DESCRIPTIONS))
    assert not undescribed, (f"config keys without a description: {undescribed} — add them "
                             "to DESCRIPTIONS in docs/_ext/wsfdocs.py")
    assert not set(DESCRIPTIONS) - keys, (
        f"described keys the package does not have: {sorted(set(DESCRIPTIONS) - keys)}")
    assert keys <= inventory.get("std:confval", set()), sorted(
        keys - inventory.get("std:confval", set()))
    page = open(os.path.join(html, "reference", "config.html"), encoding="utf-8").read()
    for key, (default, _) in {**CLIENT_DEFAULTS, **SERVER_DEFAULTS}.items():
        assert f'id="confval-{key}"' in page, key
