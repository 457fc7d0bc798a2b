"""``nas-sr serve``: the study as an interactive web page, read-only, on the standard library's
``ThreadingHTTPServer``.

Routes (GET only): ``/`` the study page, ``/trial/<number>`` a trial's page, ``/static/plotly.min.js``
(the installed plotly package's copy: works offline), ``/favicon.ico`` (204, no icon), and JSON:
``/api/columns``, ``/api/front``, ``/api/hypervolume``, ``/api/trial/<number>``. Every query parameter
is checked against an allow-list before anything is read: column names must be the study's numeric
columns, families and scales the study's own, numbers finite floats, trial numbers integers; anything
else is HTTP 400 with a one-line JSON reason, an unknown path 404. Nothing built from a parameter
reaches SQL, code or a file path.

The database is opened read-only where the storage allows it (SQLite: ``mode=ro``) and no writing
Optuna API is called.

>>> parse_query("x=params&family=espcn&range=params:1e3:", FRONT_PARAMS)
{'x': 'params', 'family': ['espcn'], 'range': ['params:1e3:']}
>>> parse_query("x=1&x=2", FRONT_PARAMS)
Traceback (most recent call last):
...
nas_sr.browse.serve.BadRequest: parameter 'x' given more than once
>>> parse_number("1e999", "range")
Traceback (most recent call last):
...
nas_sr.browse.serve.BadRequest: range: '1e999' is not a finite number
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from nas_sr.browse.dashboard import Dashboard
    from nas_sr.browse.query import StudyView

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Parameters each endpoint takes; ``*`` ones may repeat.
FRONT_PARAMS = {"x": "", "y": "", "z": "", "family": "*", "scale": "*", "range": "*", "hidden": "", "literature": ""}
HYPERVOLUME_PARAMS = {"x": "", "y": "", "z": "", "family": "*", "scale": "*", "range": "*"}
TRIAL_PARAMS = {"photo": ""}
MAX_VALUE = 200
#: Bound of a number in a query: above any metric or cost (FLOPs of the largest SR networks at 4K: ~1e16).
MAX_NUMBER = 1e18
_NUMBER = re.compile(r"^[+-]?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})([eE][+-]?\d{1,3})?$")
_TRIAL = re.compile(r"^/(api/)?trial/([^/]*)$")
FAVICON = "image/x-icon"
#: Content types the browser may keep a day: plotly.js and the (empty) icon never change while serving.
CACHED = ("text/javascript", FAVICON)


class BadRequest(ValueError):
    """A query the server refuses (HTTP 400); the message names the parameter and the value."""


class NotFound(LookupError):
    """No such page or trial (HTTP 404)."""


def parse_query(query: str, allowed: Mapping[str, str]) -> dict[str, Any]:
    """The query string as {name: value} (a list for repeatable names), every name allowed,
    single ones once, every value at most :data:`MAX_VALUE` characters."""
    try:
        pairs = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=64,
                         errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed query string: {str(exc)[:80]}") from None
    out: dict[str, Any] = {}
    for name, values in pairs.items():
        if name not in allowed:
            raise BadRequest(f"unknown parameter {name[:40]!r} (expected {', '.join(allowed)})")
        for value in values:
            if len(value) > MAX_VALUE:
                raise BadRequest(f"parameter {name!r}: value longer than {MAX_VALUE} characters")
        if allowed[name] == "*":
            out[name] = values
        elif len(values) > 1:
            raise BadRequest(f"parameter {name!r} given more than once")
        else:
            out[name] = values[0]
    return out


def parse_number(text: str, name: str) -> float:
    """A finite float written as a plain decimal number; BadRequest otherwise."""
    if not _NUMBER.match(text):
        raise BadRequest(f"{name}: {text[:40]!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"{name}: {text[:40]!r} is not a finite number")
    if abs(value) > MAX_NUMBER:
        raise BadRequest(f"{name}: {text[:40]!r} is out of range (|value| <= {MAX_NUMBER:g})")
    return value


def parse_flag(text: "str | None", name: str, default: bool) -> bool:
    if text is None:
        return default
    if text not in ("0", "1"):
        raise BadRequest(f"{name}: expected 0 or 1, got {text[:40]!r}")
    return text == "1"


def parse_trial_number(text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text):
        raise BadRequest(f"trial number must be an integer below 10^9, got {text[:40]!r}")
    return int(text)


class Choices:
    """The validated choices of a front or hypervolume query against one study."""

    def __init__(self, dashboard: "Dashboard", params: Mapping[str, Any]) -> None:
        columns = dashboard.numeric_columns()
        info = dashboard.columns()

        def column(text: str, name: str) -> str:
            if text not in columns:
                shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
                raise BadRequest(f"{name}: unknown column {text[:40]!r} (numeric columns: {shown})")
            return text

        self.x = column(params.get("x") or info["x"], "x")
        self.y = column(params.get("y") or info["y"], "y")
        self.z = column(params["z"], "z") if params.get("z") else None
        axes = [self.x, self.y] + ([self.z] if self.z else [])
        if len(set(axes)) != len(axes):
            raise BadRequest(f"axes must differ, got {', '.join(axes)}")
        families = dashboard.families()
        self.families = []
        for family in params.get("family", []):
            if family not in families:
                raise BadRequest(f"family: unknown family {family[:40]!r} (study has {', '.join(families)})")
            self.families.append(family)
        scales = dashboard.scales()
        self.scales = []
        for text in params.get("scale", []):
            if not re.fullmatch(r"\d{1,2}", text) or int(text) not in scales:
                raise BadRequest(f"scale: {text[:40]!r} is not a scale of the study ({', '.join(map(str, scales))})")
            self.scales.append(int(text))
        self.ranges: list[tuple[str, float | None, float | None]] = []
        for text in params.get("range", []):
            parts = text.rsplit(":", 2)
            if len(parts) != 3:
                raise BadRequest(f"range: expected COLUMN:LOW:HIGH, got {text[:40]!r}")
            name, low, high = parts
            self.ranges.append((column(name, "range"), parse_number(low, "range") if low else None,
                                parse_number(high, "range") if high else None))
        self.hidden = parse_flag(params.get("hidden"), "hidden", False)
        self.literature = parse_flag(params.get("literature"), "literature", True)

    @property
    def axes(self) -> list[str]:
        return [self.x, self.y] + ([self.z] if self.z else [])


class Handler(BaseHTTPRequestHandler):
    """Routes GET requests to the dashboard; everything else is refused."""

    server: "DashboardServer"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        try:
            status, kind, body = self.route()
        except BadRequest as exc:
            status, kind, body = 400, "application/json", _error(str(exc))
        except NotFound as exc:
            status, kind, body = 404, "application/json", _error(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug answers 500, the server goes on
            print(f"nas-sr serve: error on {self.path[:200]!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            status, kind, body = 500, "application/json", _error(f"internal error ({type(exc).__name__})")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8" if kind.startswith(("text/", "application/json"))
                         else kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "max-age=86400" if kind in CACHED else "no-store")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the browser left the page meanwhile
            self.close_connection = True

    def _refuse(self) -> None:
        body = _error("read-only server: only GET")
        self.send_response(405)
        self.send_header("Allow", "GET")
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def route(self) -> tuple[int, str, bytes]:
        from nas_sr.browse.page import curve_figure_json, study_page, trial_page

        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        dashboard = self.server.dashboard
        if path == "/":  # the page's own choices, kept in its address
            Choices(dashboard, parse_query(query, FRONT_PARAMS))
            return 200, "text/html", study_page(dashboard.view.name).encode()
        if path == "/static/plotly.min.js":
            return 200, "text/javascript", self.server.plotly_js()
        if path == "/favicon.ico":  # every browser asks; a 404 would show as an error in its console
            return 204, FAVICON, b""
        if path == "/api/columns":
            parse_query(query, {})
            return 200, "application/json", json.dumps(dashboard.columns()).encode()
        if path == "/api/front":
            choices = Choices(dashboard, parse_query(query, FRONT_PARAMS))
            figure, meta = dashboard.front(choices.x, choices.y, choices.z, choices.families, choices.scales,
                                           choices.ranges, choices.hidden, choices.literature)
            return 200, "application/json", _figure_body(figure, meta)
        if path == "/api/hypervolume":
            choices = Choices(dashboard, parse_query(query, HYPERVOLUME_PARAMS))
            figure, last = dashboard.hypervolume(choices.axes, choices.families, choices.scales, choices.ranges)
            return 200, "application/json", _figure_body(figure, {"hypervolume": last, "axes": choices.axes})
        match = _TRIAL.match(path)
        if match:
            number = parse_trial_number(match.group(2))
            photo = parse_query(query, TRIAL_PARAMS).get("photo", self.server.photo)
            _check_photo(photo)
            if not dashboard.has_trial(number):
                raise NotFound(f"no trial {number} in study {dashboard.view.name!r}")
            trial = dashboard.trial(number, photo)
            if match.group(1):
                return 200, "application/json", json.dumps(trial).encode()
            page = trial_page(dashboard.view.name, trial, curve_figure_json(trial["curve"], number))
            return 200, "text/html", page.encode()
        raise NotFound(f"no page {path[:80]!r}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        if self.server.verbose:
            super().log_message(format, *args)


class DashboardServer(ThreadingHTTPServer):
    """A threading HTTP server holding one :class:`~nas_sr.browse.dashboard.Dashboard`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], dashboard: "Dashboard", photo: str, verbose: bool) -> None:
        self.dashboard, self.photo, self.verbose = dashboard, photo, verbose
        self._plotly: bytes | None = None
        self._plotly_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def plotly_js(self) -> bytes:
        with self._plotly_lock:
            if self._plotly is None:
                from plotly.offline import get_plotlyjs

                self._plotly = get_plotlyjs().encode()
            return self._plotly

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in str(host) else host}:{port}/"


def bind_warning(host: str) -> "str | None":
    """The warning line for a host wider than this machine, else None.

    >>> bind_warning("127.0.0.1") is None
    True
    >>> bind_warning("0.0.0.0")[:38]
    'warning: binding 0.0.0.0 serves the st'
    """
    if host in LOCAL_HOSTS:
        return None
    return (f"warning: binding {host} serves the study to every machine that can reach this one, "
            "without authentication (read-only); use --host 127.0.0.1 to keep it local")


def open_read_only(name: str, url: str) -> "StudyView":
    """Study ``name`` of storage ``url``: SQLite opened read-only (``mode=ro``), other storages as
    :func:`~nas_sr.browse.query.open_study` opens them (then only read)."""
    from pathlib import Path

    from nas_sr.browse.query import open_study

    if not url.startswith("sqlite:///") or url.startswith("sqlite:///file:"):
        return open_study(name, url)
    import optuna
    from urllib.parse import quote

    path = Path(url.removeprefix("sqlite:///")).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"no study database at {url}")
    storage = optuna.storages.RDBStorage(f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true",
                                         skip_table_creation=True)
    names = optuna.study.get_all_study_names(storage=storage)
    if name not in names:
        raise ValueError(f"no study {name!r} in {url} (existing: {', '.join(sorted(names)) or 'none'})")
    return open_study(name, storage)


def make_server(study: str, storage: str, host: str = "127.0.0.1", port: int = 8050,
                reference: "str | None" = None, photo: "str | None" = None, verbose: bool = False,
                ttl: float = 10.0) -> DashboardServer:
    """The server of ``study`` (and reference study ``reference`` of the same storage), bound but not
    yet serving (``serve_forever``); prints :func:`bind_warning` to stderr for a wide host."""
    from nas_sr.browse.crops import DEFAULT_PHOTO
    from nas_sr.browse.dashboard import Dashboard
    from nas_sr.study.storage import artifact_dir

    photo = photo or DEFAULT_PHOTO
    _check_photo(photo, ValueError)
    view = open_read_only(study, storage)
    ref = open_read_only(reference, storage) if reference else None
    if ref is not None and not ref.is_reference:
        print(f"note: study {reference!r} is not marked reference: true (nas-sr import-esr); drawn as literature "
              "anyway", file=sys.stderr)
    artifacts = artifact_dir(storage)
    dashboard = Dashboard(view, ref, artifacts if artifacts.is_dir() else None, ttl=ttl)
    dashboard.columns()  # the trials read once now, so the first page answers from memory
    import plotly.graph_objects  # noqa: F401 - imported now rather than during the first front request
    warning = bind_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    try:
        return DashboardServer((host, port), dashboard, photo, verbose)
    except OSError as exc:
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _check_photo(photo: str, error: type = BadRequest) -> None:
    from nas_sr.data.bundled import BUNDLED

    if photo not in BUNDLED:
        raise error(f"photo: unknown photo {photo[:40]!r} (bundled: {', '.join(sorted(BUNDLED))})")


def _figure_body(figure: Any, meta: Mapping[str, Any]) -> bytes:
    return ('{"figure": ' + figure.to_json() + ', "meta": ' + json.dumps(meta) + "}").encode()


def _error(reason: str) -> bytes:
    return json.dumps({"error": reason}).encode()
