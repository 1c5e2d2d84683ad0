# nbgrader configuration of the book's course, copied into the course directory by
# `make assignments` (tools/course.py). Edit this copy in the repository, not the generated one.
c = get_config()  # noqa: F821

c.CourseDirectory.root = "."
c.CourseDirectory.course_id = "statmech-dl"
# One assignment per chapter, with one notebook of the chapter's name.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Student editions keep the text and figures but not the instructor's outputs.
c.ClearOutput.enabled = True
# The stub that replaces each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Grading: a runaway cell is interrupted after this many seconds and scores zero, and the
# remaining cells still run. `make grade` passes its --timeout (120 s by default) on the
# command line.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# A test cell that fails gets zero, its error message (the check's hint) is kept for the
# feedback page, and the cells after it still run.
c.Execute.allow_errors = True
c.Execute.kernel_name = "python3"
# A student who deletes a locked test cell does not escape it: nbgrader puts the cell back
# (from the gradebook) before grading.
c.OverwriteCells.add_missing_cells = True
