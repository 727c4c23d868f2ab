"""Papermill engine that runs a notebook with `tessera run`."""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import nbformat
from papermill.engines import Engine
from papermill.exceptions import PapermillException
from papermill.log import logger


def find_tessera():
    """The `tessera` executable: the environment variable TESSERA, else `tessera` on PATH."""
    configured = os.environ.get("TESSERA")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise PapermillException(f"TESSERA={configured} is not an executable file")
        return configured
    found = shutil.which("tessera")
    if not found:
        raise PapermillException("tessera not found: put it on PATH or set TESSERA to its path")
    return found


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _generated(cell):
    """Cells a previous `tessera run` added (its error banner, its parameters table)."""
    return bool(cell.get("metadata", {}).get("tessera", {}).get("generated"))


def _papermill_injected(cell):
    """The code cell papermill injects after the parameters cell (`let x = 3`)."""
    return cell.get("cell_type") == "code" and "injected-parameters" in _tags(cell)


class TesseraEngine(Engine):
    """Runs a Swift notebook with `tessera run` instead of a Jupyter kernel.

    Papermill's injected parameters cell stays in the notebook for the record but is not run:
    Swift's single scope does not allow a second `let` of a name. The parameters papermill
    recorded in `metadata.papermill.parameters` go to `tessera run -f` instead, which sets them
    in the cell tagged `parameters`. Outputs, execution counts and timings of the executed cells
    are copied back into `nb_man.nb`; a cell that failed carries its error output, so papermill
    raises `PapermillExecutionError` with the Swift error's name and message.
    """

    @classmethod
    def nb_kernel_name(cls, nb, name=None):
        return name or nb.metadata.get("kernelspec", {}).get("name") or "swift"

    @classmethod
    def nb_language(cls, nb, language=None):
        return (
            language
            or nb.metadata.get("language_info", {}).get("name")
            or nb.metadata.get("kernelspec", {}).get("language")
            or "swift"
        )

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        execution_timeout=None,
        stdout_file=None,
        stderr_file=None,
        **kwargs,
    ):
        """Runs `nb_man.nb` with `tessera run` and copies the results into it.

        `execution_timeout` (seconds a cell may run) becomes `--timeout`; `log_output` becomes
        `--log-output` (cell output streams to stderr as it happens). Other papermill options
        (kernel start timeout, ...) do not apply and are ignored.
        """
        nb = nb_man.nb
        tessera = find_tessera()
        # Tables and banners of an earlier tessera run describe that run, not this one.
        nb.cells = [cell for cell in nb.cells if not _generated(cell)]
        parameters = dict(nb.metadata.get("papermill", {}).get("parameters") or {})
        to_run = [cell for cell in nb.cells if not _papermill_injected(cell)]

        with tempfile.TemporaryDirectory(prefix="tessera-papermill-") as folder:
            source = os.path.join(folder, "notebook.ipynb")
            executed_path = os.path.join(folder, "executed.ipynb")
            parameters_path = os.path.join(folder, "parameters.json")
            nbformat.write(nbformat.from_dict({**nb, "cells": to_run}), source)
            with open(parameters_path, "w", encoding="utf-8") as f:
                json.dump(parameters, f, allow_nan=False)

            command = [tessera, "run", source, "--output", executed_path, "-f", parameters_path]
            if execution_timeout:
                if not (isinstance(execution_timeout, (int, float)) and math.isfinite(execution_timeout)):
                    raise PapermillException(f"execution timeout must be a number of seconds: {execution_timeout!r}")
                command += ["--timeout", str(execution_timeout)]
            if log_output:
                command.append("--log-output")
            logger.info("Running: %s", " ".join(command))
            # With --log-output tessera streams cell output to stderr: let it through.
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=None if log_output else subprocess.PIPE, text=True,
            )
            # Name the notebook papermill was given, not the temporary copy.
            name = str(kwargs.get("input_path") or "the notebook")
            messages = (result.stderr or "").strip().replace(source, name)
            status = result.returncode
            executed = None
            if status != 2 and os.path.exists(executed_path):
                executed = nbformat.read(executed_path, as_version=4)

        if executed is None:
            raise PapermillException(
                f"tessera run exited with status {status} without writing the notebook"
                + (f":\n{messages}" if messages else "")
            )
        failed = cls._copy_back(nb_man, to_run, executed)
        if nb_man.pbar:
            started = [cell for cell in nb_man.nb.cells if cell.metadata.get("papermill", {}).get("start_time")]
            nb_man.pbar.update(len(started))
        cls._write_streams(to_run, stdout_file, stderr_file)
        if status != 0 and not failed:
            # Stopped without an error output (e.g. by a signal): make papermill report it.
            raise PapermillException(
                f"tessera run exited with status {status}" + (f":\n{messages}" if messages else "")
            )
        if messages:
            logger.debug("tessera run: %s", messages)

    @classmethod
    def _copy_back(cls, nb_man, to_run, executed):
        """Copies outputs, execution counts and timings of `executed` into the cells of `to_run`
        (the same cells in the same order, less the cells tessera generated). Returns whether a
        cell has an error output."""
        results = [cell for cell in executed.cells if not _generated(cell)]
        if len(results) != len(to_run) or any(
            a.get("cell_type") != b.get("cell_type") for a, b in zip(to_run, results)
        ):
            raise PapermillException("tessera run wrote a notebook whose cells do not match the input's")
        nb_man.nb.metadata["tessera"] = executed.metadata.get("tessera", {})
        failed = False
        for cell, result in zip(to_run, results):
            run = result.get("metadata", {}).get("tessera")
            if run is not None:
                cell.metadata["tessera"] = run
            if cell.get("cell_type") != "code":
                continue
            cell.outputs = result.get("outputs", [])
            cell.execution_count = result.get("execution_count")
            record = cell.metadata.setdefault("papermill", {})
            if run and run.get("start"):
                record["start_time"] = run.get("start")
                record["end_time"] = run.get("end")
                record["duration"] = run.get("duration")
            if any(output.get("output_type") == "error" for output in cell.outputs):
                failed = True
                nb_man.cell_exception(cell)
            elif run and run.get("status") == "ok":
                record["status"] = nb_man.COMPLETED
        return failed

    @staticmethod
    def _write_streams(cells, stdout_file, stderr_file):
        """Writes the cells' stdout and stderr to papermill's --stdout-file/--stderr-file."""
        for cell in cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") != "stream":
                    continue
                target = stdout_file if output.get("name") == "stdout" else stderr_file
                if target is not None:
                    target.write(output.get("text", ""))
                    target.flush()


# Papermill has no entry point group for translators; registering on import makes
# `--engine tessera` bring Swift parameters along.
def _register_translator():
    from papermill.translators import papermill_translators

    from .translator import SwiftTranslator

    papermill_translators.register("swift", SwiftTranslator)


_register_translator()
