"""Execute the runbook notebooks headless (nbclient), in order, and record the run."""

from .runner import NotebookResult, RunReport, notebook_paths, run_notebooks

__all__ = ["NotebookResult", "RunReport", "notebook_paths", "run_notebooks"]
