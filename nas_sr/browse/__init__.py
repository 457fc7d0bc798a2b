"""Browsing results: a study as pandas tables (:mod:`~nas_sr.browse.query`), an SQL view over Optuna's
schema (:mod:`~nas_sr.browse.sql`), a self-contained HTML report (:mod:`~nas_sr.browse.report`) and the
edge-SR reference table as a study (:mod:`~nas_sr.browse.reference`)."""

from __future__ import annotations

from nas_sr.browse.query import StudyView, open_study

__all__ = ["StudyView", "open_study"]
