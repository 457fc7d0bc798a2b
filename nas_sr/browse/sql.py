"""SQL over Optuna's schema: one row per trial with its metrics and config flattened.

Optuna keeps a trial's number and state in ``trials``, its objective values in ``trial_values``
(one row per objective index), its user attributes in ``trial_user_attributes`` (``key``,
``value_json``: JSON text) and its constraints in ``trial_system_attributes`` (keys
``constraints:NAME``, feasible when every value <= 0); ``studies`` maps ``study_name`` to ``study_id``.
:data:`TRIALS_SQL` pivots those tables for the attributes ``nas-sr search`` records (SQLite, whose
``json_extract`` reads JSON text; for PostgreSQL write ``(a.value_json::jsonb #>> '{}')`` instead)::

    sqlite3 studies/nas.db "$(python -c 'from nas_sr.browse.sql import TRIALS_SQL; print(TRIALS_SQL)')"

(with ``:study`` replaced by the study name, or bound as a parameter as below).
:func:`create_view` builds the same query over *every* user attribute and config field a study
has, as a (temporary by default) view ``nas_sr_trials``.

>>> print(flat_query(["psnr_val"], ["channels"]).splitlines()[4])
       MAX(CASE WHEN a.key = 'config' THEN json_extract(json_extract(a.value_json, '$'), '$."' || 'channels' || '"') END) AS "cfg_channels"
"""

from __future__ import annotations

import re
import sqlite3
from typing import Sequence

#: One row per trial of study ``:study``: number, state, feasible, value_0/value_1 (the study's
#: objectives in order), family, scale, metrics, costs, config JSON and two config fields.
TRIALS_SQL = """\
SELECT t.number AS number,
       t.state AS state,
       NOT EXISTS (SELECT 1 FROM trial_system_attributes c
                   WHERE c.trial_id = t.trial_id AND c.key LIKE 'constraints:%'
                     AND CAST(c.value_json AS REAL) > 0) AS feasible,
       (SELECT v.value FROM trial_values v WHERE v.trial_id = t.trial_id AND v.objective = 0) AS value_0,
       (SELECT v.value FROM trial_values v WHERE v.trial_id = t.trial_id AND v.objective = 1) AS value_1,
       MAX(CASE WHEN a.key = 'family' THEN json_extract(a.value_json, '$') END) AS family,
       MAX(CASE WHEN a.key = 'scale' THEN json_extract(a.value_json, '$') END) AS scale,
       MAX(CASE WHEN a.key = 'psnr_val' THEN json_extract(a.value_json, '$') END) AS psnr_val,
       MAX(CASE WHEN a.key = 'ssim_val' THEN json_extract(a.value_json, '$') END) AS ssim_val,
       MAX(CASE WHEN a.key = 'params' THEN json_extract(a.value_json, '$') END) AS params,
       MAX(CASE WHEN a.key = 'flops' THEN json_extract(a.value_json, '$') END) AS flops,
       MAX(CASE WHEN a.key = 'latency_ms' THEN json_extract(a.value_json, '$') END) AS latency_ms,
       MAX(CASE WHEN a.key = 'device' THEN json_extract(a.value_json, '$') END) AS device,
       MAX(CASE WHEN a.key = 'config' THEN json_extract(a.value_json, '$') END) AS config,
       MAX(CASE WHEN a.key = 'config' THEN json_extract(json_extract(a.value_json, '$'), '$.channels') END)
           AS cfg_channels,
       MAX(CASE WHEN a.key = 'config' THEN json_extract(json_extract(a.value_json, '$'), '$.kernel_size') END)
           AS cfg_kernel_size
FROM trials t
JOIN studies s ON s.study_id = t.study_id
LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id
WHERE s.study_name = :study
GROUP BY t.trial_id
ORDER BY t.number"""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def flat_query(attrs: Sequence[str], config_fields: Sequence[str] = (), objectives: int = 0) -> str:
    """The :data:`TRIALS_SQL` pattern for any user attributes and config fields (quoted safely),
    with ``value_0..value_{objectives-1}``; bind ``:study``."""
    cols = ['t.number AS "number"', 't.state AS "state"',
            "NOT EXISTS (SELECT 1 FROM trial_system_attributes c WHERE c.trial_id = t.trial_id "
            "AND c.key LIKE 'constraints:%' AND CAST(c.value_json AS REAL) > 0) AS \"feasible\""]
    cols += [f"(SELECT v.value FROM trial_values v WHERE v.trial_id = t.trial_id AND v.objective = {int(i)})"
             f" AS {_ident(f'value_{i}')}" for i in range(objectives)]
    cols += [f"MAX(CASE WHEN a.key = {_literal(k)} THEN json_extract(a.value_json, '$') END) AS {_ident(k)}"
             for k in attrs]
    path = "'$.\"' || {} || '\"'"
    cols += [f"MAX(CASE WHEN a.key = 'config' THEN json_extract(json_extract(a.value_json, '$'), "
             f"{path.format(_literal(f))}) END) AS {_ident('cfg_' + f)}" for f in config_fields]
    return ("SELECT " + ",\n       ".join(cols) + "\nFROM trials t\nJOIN studies s ON s.study_id = t.study_id\n"
            "LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id\nWHERE s.study_name = :study\n"
            "GROUP BY t.trial_id\nORDER BY t.number")


def create_view(con: sqlite3.Connection, study: str, name: str = "nas_sr_trials", temporary: bool = True,
                skip: Sequence[str] = ("curve", "weights_artifact")) -> list[str]:
    """Create view ``name`` flattening every user attribute and config field of ``study`` (one row
    per trial) on an SQLite connection to an Optuna database; returns its columns.

    The study name is baked into the view as a quoted literal; attribute names are quoted identifiers.
    """
    if not _NAME.match(name):
        raise ValueError(f"bad view name {name!r} (letters, digits, underscores)")
    scope = "WHERE s.study_name = ?"
    base = ("FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
            "JOIN studies s ON s.study_id = t.study_id ")
    keys = [k for (k,) in con.execute(f"SELECT DISTINCT a.key {base}{scope} ORDER BY a.key", (study,))
            if k not in skip]
    fields = [f for (f,) in con.execute(
        "SELECT DISTINCT j.key FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
        "JOIN studies s ON s.study_id = t.study_id, json_each(json_extract(a.value_json, '$')) j "
        f"{scope} AND a.key = 'config' AND json_valid(json_extract(a.value_json, '$')) ORDER BY j.key",
        (study,)) if f not in ("family", "scale")]
    (n_obj,) = con.execute("SELECT COUNT(*) FROM study_directions d JOIN studies s ON s.study_id = d.study_id "
                           f"{scope}", (study,)).fetchone()
    head, tail = flat_query(keys, fields, n_obj).rsplit(":study", 1)  # the WHERE clause, last
    query = head + _literal(study) + tail
    con.execute(f"DROP VIEW IF EXISTS {name}")
    con.execute(f"CREATE {'TEMP ' if temporary else ''}VIEW {name} AS {query}")
    return [d[0] for d in con.execute(f"SELECT * FROM {name} LIMIT 0").description]
