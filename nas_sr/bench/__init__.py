"""eSR-Bench: search strategies measured on the edge-SR table (an oracle for its 1185 configurations).

:mod:`~nas_sr.bench.esr` (the problems and the hypervolume measure), :mod:`~nas_sr.bench.runner`
(a search answered by the table, summaries over seeds). Heavy libraries load on use.
"""
