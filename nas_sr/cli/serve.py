"""``nas-sr serve``: the interactive, read-only web page of a study (front, filters, trial pages)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("serve", help="serve an interactive web page of a study (read-only)",
                              description="Serve the study as a web page: the Pareto front on any two or three "
                              "numeric columns (family colours, infeasible grey, pruned/failed on demand), filters, "
                              "hypervolume over trials, published VapSR/EMT/HiT-SR/PAN results, and a page per trial "
                              "with its config, costs, training curve and crops (HR | bicubic | candidate). The "
                              "database is opened read-only; plotly.js is served locally (works offline).")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 serves everyone, warned)")
    p.add_argument("--port", type=int, default=8050, help="TCP port (default 8050; 0 picks a free one)")
    p.add_argument("--reference", metavar="STUDY",
                   help="a reference study in the same storage (nas-sr import-esr) drawn on the front")
    p.add_argument("--photo", help="bundled photo of the trial pages' crops (default chelsea)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.browse.serve import make_server

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    server = make_server(args.study, args.storage, args.host, args.port, args.reference, args.photo, args.verbose)
    print(f"serving study {args.study!r} of {args.storage} at {server.url} (read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("stopped", flush=True)
    return 0
