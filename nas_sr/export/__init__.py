"""A chosen model out of a study: export to pth/ONNX/TorchScript (checked against PyTorch),
standalone study copies for profiling on a target device and their merge back, re-training.

Importing this package is light; torch, onnx and optuna are imported on first use.
"""

from nas_sr.export.formats import DEFAULT_TOLERANCE, FORMATS, ExportResult, export_model, load_pth
from nas_sr.models.onnx import size_multiple
from nas_sr.export.study_file import MergeReport, export_study, merge_study
from nas_sr.study.trial import find_trial, trial_config, trial_model, trial_state_dict

__all__ = [
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "ExportResult",
    "MergeReport",
    "export_model",
    "export_study",
    "find_trial",
    "load_pth",
    "merge_study",
    "size_multiple",
    "trial_config",
    "trial_model",
    "trial_state_dict",
]
