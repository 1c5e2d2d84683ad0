"""nbgrader's autograde steps with the notebook executed in the sandbox of tools/sandbox.py.

The course's ``nbgrader_config.py`` (written by ``tools/course.py build``) sets
``c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS``, so that every
``nbgrader autograde``, from ``make grade`` or by hand, runs the submission in the sandbox. The
grader turns it off only on request (``--unsafe-no-sandbox``, which sets
``STATMECH_SANDBOX=off``); where the sandbox cannot run, grading stops with a message that says
what to install.
"""

import copy
import os

from nbgrader.converters.autograde import Autograde
from nbgrader.preprocessors import Execute

import grading
import sandbox


class SandboxedExecute(Execute):
    """nbgrader's ``Execute``, with the notebook run in the sandbox.

    The course directory (nbgrader's working directory) and the folders listed in
    ``STATMECH_SANDBOX_HIDE`` (the submissions) are hidden from the code; the address space is
    capped at ``STATMECH_SANDBOX_MEMORY_GB`` (8 GB by default).
    """

    def preprocess(self, nb, resources):
        if os.environ.get("STATMECH_SANDBOX", "on") == "off":
            return super().preprocess(nb, resources)
        reason = sandbox.available()
        if reason:
            raise sandbox.SandboxUnavailable(reason)
        hide = [os.getcwd(), *(p for p in os.environ.get("STATMECH_SANDBOX_HIDE", "").split(os.pathsep) if p)]
        memory_gb = float(os.environ.get("STATMECH_SANDBOX_MEMORY_GB", "8"))
        # The test cells take the checks loaded before the submission's code ran (grading.armed);
        # the verdicts are computed here, from the answers' records, where the submission's code
        # never ran, and nbgrader then scores the test cells by their (replaced) outputs.
        # As make grade does, only the cells that the answers and the checks depend on run (all of
        # them when the analysis cannot be sure: grading.needed_cells).
        notebook = resources.get("nbgrader", {}).get("notebook", "")
        executed = copy.deepcopy(nb)
        error, _ = grading.run_and_judge(executed, grading.needed_cells(executed), hide, self.timeout, memory_gb,
                                         True, notebook, self.kernel_name or "python3")
        if error:
            raise RuntimeError(error)
        return executed, resources

#: nbgrader's own autograde preprocessors, with SandboxedExecute in place of Execute.
AUTOGRADE_PREPROCESSORS = [SandboxedExecute if p is Execute else p
                           for p in Autograde.class_traits()["autograde_preprocessors"].default()]
assert SandboxedExecute in AUTOGRADE_PREPROCESSORS
