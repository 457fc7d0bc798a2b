"""eSR-Bench: search strategies measured on the edge-SR table (an oracle for its 1185 configurations).

:mod:`~nas_sr.bench.esr` (the problems and the hypervolume measure), :mod:`~nas_sr.bench.runner`
(a search answered by the table, summaries over seeds), :mod:`~nas_sr.bench.oracle` (a strategy
that knows the table: what no strategy can beat, with trials in flight). Heavy libraries load on use.
"""
