"""The grading engine behind ``make grade``: one task per submission, run in parallel with Dask.

A task (:func:`grade_submission`) takes one submission and the student edition it answers, and
returns the submission's scores, hints, autograded notebook and feedback page. It runs in a Dask
worker process, on this machine (a local cluster with one worker per core, by default) or on a
cluster the instructor already runs (``--scheduler ADDRESS``). Inside the task:

1. **Prepare.** The graded notebook is rebuilt around the student edition: every locked cell (the
   chapter's code and the test cells) is taken from the release, so that an edited or deleted
   test cell changes nothing; the student's answer cells, and any cells of their own, are kept in
   place.
2. **Select** (the fast path). Only the cells the answers and the checks depend on are executed:
   :func:`needed_cells` follows the names each cell reads and defines. Code whose names cannot be
   followed (``exec``, ``globals()``, star imports, magics) makes it run the whole notebook.
3. **Execute** in the bubblewrap sandbox of ``tools/sandbox.py``, with the checks in recording
   mode (:mod:`statmech_dl.exercises.answer_records`): each check displays a record of the
   answer's values on the check's inputs. A first cell loads the chapter's checks before any of
   the submission's code runs, and the test cells take them from there (:func:`armed`), so that
   a submission that replaced the checks' module or ``builtins.__import__`` still has its
   answers recorded.
4. **Judge** in the worker's own process, where the submission's code never ran: the genuine check
   replays the record and gives the verdict. A submission that patched the check, ``builtins`` or
   NumPy in its kernel gains nothing. The test cell's outputs are replaced by the verdict.

The grader's process then writes the gradebook (nbgrader's SQLite database) and the files, one
submission at a time under a file lock, so that two graders on one course do not corrupt it. A
worker that dies mid-task loses nothing: Dask runs the task again elsewhere, and the grade is
recorded once, when its result arrives.
"""

import ast
import contextlib
import copy
import fcntl
import importlib
import json
import os
import re
import symtable
import tempfile
import time
import warnings
from pathlib import Path

import nbformat

import sandbox

#: Names whose use makes the names a cell reads or defines impossible to follow.
DYNAMIC = {"exec", "eval", "globals", "locals", "vars", "__import__", "get_ipython", "setattr",
           "delattr", "__builtins__", "__dict__", "importlib", "reload"}

#: Errors of an answer cell that mean the grader stopped it, and what to tell the student.
STOPPED = {"KeyboardInterrupt": "stopped at the time limit", "CellTimeoutError": "stopped at the time limit",
           "MemoryError": "stopped at the memory cap",
           # os.fork and new threads fail with EAGAIN at the sandbox's cap on processes.
           "BlockingIOError": "stopped at the process cap"}

#: The largest executed notebook read back from the sandbox, in bytes.
MAX_NOTEBOOK_BYTES = 200 * 2**20


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def exercise_of(grade_id):
    """The exercise label of a solution or test cell's grade id."""
    return re.sub(r"-(solution-\d+|check)$", "", grade_id)


# --- 1. Prepare -------------------------------------------------------------------------------------

def prepare(submission, release):
    """The notebook to grade: ``release``'s locked cells around ``submission``'s answers.

    Locked cells (nbgrader metadata, not ``solution``) come from the release, whatever the
    submission did to them, and a deleted one is put back at its place. Answer cells (``solution``)
    come from the submission (the release's stub if the student deleted one). Cells the student
    added are kept where they were, stripped of any nbgrader metadata.
    """
    known = {}
    for cell in release.cells:
        gid = _meta(cell).get("grade_id")
        if gid:
            known[gid] = cell
    order = list(known)
    answers = {}
    for cell in submission.cells:
        gid = _meta(cell).get("grade_id")
        if gid in known and _meta(known[gid]).get("solution") and gid not in answers and cell.cell_type == "code":
            answers[gid] = cell.source
    out, emitted, position = [], set(), 0

    def emit(gid):
        cell = copy.deepcopy(known[gid])
        if gid in answers:
            cell.source = answers[gid]
        cell.outputs, cell.execution_count = [], None
        out.append(cell)
        emitted.add(gid)

    for cell in submission.cells:
        gid = _meta(cell).get("grade_id")
        if gid in known:
            if gid in emitted:
                continue                                  # a copied cell counts once
            while position < len(order) and order[position] != gid:
                if order[position] not in emitted:
                    emit(order[position])
                position += 1
            emit(gid)
            continue
        cell = copy.deepcopy(cell)
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        out.append(cell)
    for gid in order:
        if gid not in emitted:
            emit(gid)
    nb = copy.deepcopy(release)
    nb.cells = out
    return nb


def check_calls(source):
    """The names of the checks a test cell calls, in order (``check_x(...)`` or ``mod.check_x(...)``)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name.startswith("check_"):
                names.append((node.lineno, node.col_offset, name))
    return [n for _, _, n in sorted(names)]


# --- 2. Select --------------------------------------------------------------------------------------

#: Calls that do not change their arguments: builtins, and the modules below except their
#: ``random`` submodules (``np.random.shuffle`` shuffles in place).
PURE_BUILTINS = {"print", "len", "float", "int", "str", "repr", "abs", "min", "max", "sum", "sorted",
                 "list", "tuple", "dict", "set", "frozenset", "zip", "enumerate", "range", "isinstance",
                 "round", "any", "all", "format", "map", "filter", "reversed", "type", "bool", "complex",
                 "hasattr", "getattr", "divmod", "pow", "hash", "id", "callable", "issubclass"}
PURE_MODULES = {"np", "numpy", "math", "plt", "matplotlib", "scipy", "stats"}
#: Methods that do not change their object (arrays, tensors, lists, dicts, strings).
PURE_METHODS = {"sum", "mean", "std", "var", "min", "max", "argmin", "argmax", "argsort", "reshape", "copy",
                "astype", "ravel", "flatten", "transpose", "dot", "item", "tolist", "any", "all", "cumsum",
                "cumprod", "prod", "round", "clip", "squeeze", "conj", "nonzero", "index", "count", "keys",
                "values", "items", "get", "format", "startswith", "endswith", "join", "split", "strip",
                "upper", "lower", "replace", "numpy", "detach", "cpu", "clone", "size", "dim", "diagonal",
                "trace", "view", "expand", "repeat", "take", "searchsorted", "real", "imag", "swapaxes"}


#: Methods (of Matplotlib's axes and figures) that read their arguments without changing them;
#: the object they are called on may change.
READING_METHODS = {"plot", "imshow", "scatter", "bar", "barh", "hist", "fill_between", "fill_betweenx",
                   "errorbar", "text", "annotate", "axhline", "axvline", "axhspan", "axvspan", "legend",
                   "loglog", "semilogy", "semilogx", "contour", "contourf", "pcolormesh", "matshow", "step",
                   "stem", "boxplot", "violinplot", "hlines", "vlines", "set_xticks", "set_yticks",
                   "set_xticklabels", "set_yticklabels", "set_title", "set_xlabel", "set_ylabel", "set_xlim",
                   "set_ylim", "suptitle", "colorbar", "quiver", "streamplot", "hexbin", "eventplot"}


#: Functions of the book's library that draw their data arguments and never change them (they
#: change only the axes or figure they draw on, which no answer reads).
READING_FUNCTIONS = {("statmech_dl.plotting", "heatmap"), ("statmech_dl.plotting", "labelled")}


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _mutations(tree, calls=None):
    """Names an expression could change in place: stores into them, their methods, calls with them.

    With a list ``calls``, an argument passed to a plain function name ``f(x)`` is not counted
    but appended to it as ``(f, position or keyword, x)``, for the caller to decide from what
    it knows of ``f``.
    """
    changed = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                        name = _root(sub)
                        if name:
                            changed.add(name)
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                changed.add(node.target.id)
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr not in PURE_METHODS:
                name = _root(f.value)
                if name:
                    changed.add(name)
            callee = _root(f)
            dotted = ast.unparse(f)
            pure = ((isinstance(f, ast.Name) and f.id in PURE_BUILTINS)
                    or (isinstance(f, ast.Attribute) and f.attr in READING_METHODS)
                    or (callee in PURE_MODULES and ".random." not in f".{dotted}."
                        and not any(k.arg == "out" for k in node.keywords)))
            if pure:
                continue
            deferred = calls is not None and isinstance(f, ast.Name)
            for where, arg in [*enumerate(node.args), *((k.arg, k.value) for k in node.keywords)]:
                starred = isinstance(arg, ast.Starred)
                arg = arg.value if starred else arg
                if isinstance(arg, ast.Name):
                    if deferred and not starred and where is not None:
                        calls.append((f.id, where, arg.id))
                    else:
                        changed.add(arg.id)
    return changed


def _parameters_changed(node):
    """``(positional parameter names, parameters the function may change)`` of a ``def``.

    Conservative: a function with ``*args`` or ``**kwargs``, or one that changes a local name
    bound from a parameter (an alias), may change all of them.
    """
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args]
    every = set(names) | {a.arg for a in args.kwonlyargs}
    changed = _mutations(ast.Module(body=node.body, type_ignores=[]))
    aliases = set()
    for _ in range(2):
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.For, ast.With)) and (
                    _loads(sub) & (every | aliases)):
                targets = (sub.targets if isinstance(sub, ast.Assign)
                           else [sub.target] if not isinstance(sub, ast.With)
                           else [i.optional_vars for i in sub.items if i.optional_vars is not None])
                for t in targets:
                    aliases |= _stores(t)
    aliases -= every
    if args.vararg or args.kwarg or changed & aliases:
        return names, every
    return names, changed & every


def cell_names(source):
    """``(defines, reads, imports, changes, functions)`` of a cell's global names, or ``None``.

    ``defines``: names it binds; ``reads``: names it reads (in functions too); ``imports``: names
    bound by imports; ``changes``: names whose object it may change in place at the top level;
    ``functions``: for each function it defines, the global names the function may change.
    ``None`` when they cannot be followed: a syntax error (IPython magics included), a star
    import, or a name from :data:`DYNAMIC`.
    """
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, ast.Name) and node.id in DYNAMIC:
            return None
        if isinstance(node, ast.Attribute) and node.attr in DYNAMIC:
            return None
    defines, reads, imports, nested_reads = set(), set(), set(), set()

    def walk(t, top):
        for s in t.get_symbols():
            name = s.get_name()
            if top:
                if s.is_assigned() or s.is_imported() or s.is_namespace():
                    defines.add(name)
                if s.is_imported():
                    imports.add(name)
                if s.is_referenced():
                    reads.add(name)
            else:
                if s.is_global() and s.is_referenced():
                    reads.add(name)
                    nested_reads.add(name)
                if s.is_declared_global() and s.is_assigned():
                    defines.add(name)
        for child in t.get_children():
            walk(child, False)
    walk(table, True)
    top_level = [node for node in tree.body
                 if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    calls = []
    changes = _mutations(ast.Module(body=top_level, type_ignores=[]), calls)
    exposed, kills = _exposed_reads(tree, nested_reads)
    # A function may change any global it reads in a changing position; locals do not matter,
    # since only names that are live globals are ever looked up.
    functions = {name: _mutations(node) for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 for name in [node.name]}
    parameters = {node.name: _parameters_changed(node) for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    readers = {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom)
               for a in node.names if (node.module, a.name) in READING_FUNCTIONS}
    return {"defines": defines, "reads": reads, "imports": imports, "changes": changes, "calls": calls,
            "parameters": parameters, "readers": readers,
            "functions": functions, "exposed": exposed, "kills": kills, "immutable": _immutable(tree)}


_SCOPES = (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)


def _loads(node):
    """Names read by ``node`` in its own scope (nested scopes' global reads come from symtable).

    A comprehension's first iterable and a lambda's defaults are evaluated in the enclosing
    scope, so they count.
    """
    found, todo = set(), [node]
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            todo.append(n.generators[0].iter)
        elif isinstance(n, ast.Lambda):
            todo.extend(n.args.defaults + [d for d in n.args.kw_defaults if d is not None])
        elif isinstance(n, _SCOPES):
            continue
        else:
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                found.add(n.id)
            todo.extend(ast.iter_child_nodes(n))
    return found


def _stores(target):
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _exposed_reads(tree, nested_reads):
    """``(exposed, kills)``: the names a cell may read before binding them, and those it rebinds first.

    Statements run in order; within an assignment the right side is read first; a ``for`` or
    ``with`` binds its target after reading its iterable or context. A name bound earlier in the
    same block (the body of a loop, say) is not exposed when read later in it, but only bindings
    by statements of the cell's top level are certain for the cells after it (one inside an
    ``if`` may not happen). ``nested_reads`` are the globals read inside functions and classes:
    exposed unless bound at the top level.
    """
    exposed = set()

    def block(statements, bound, top):
        def read(names):
            exposed.update(n for n in names if n not in bound)

        for node in statements:
            if isinstance(node, ast.Assign):
                read(_loads(node.value) | set().union(*(_loads(t) for t in node.targets)))
                bound.update(*(_stores(t) for t in node.targets))
            elif isinstance(node, ast.AugAssign):          # x += 1 reads x first
                read(_loads(node) | _stores(node.target))
            elif isinstance(node, ast.AnnAssign):
                read(_loads(node))
                if node.value:
                    bound.update(_stores(node.target))
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                read(_loads(node.iter))
                block(node.body, bound | _stores(node.target), False)
                block(node.orelse, set(bound), False)
                if top:
                    bound.update(_stores(node.target))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                read(set().union(set(), *(_loads(i.context_expr) for i in node.items)))
                bound.update(*(_stores(i.optional_vars) for i in node.items if i.optional_vars is not None))
                block(node.body, bound, top)
            elif isinstance(node, (ast.If, ast.While)):
                read(_loads(node.test))
                block(node.body, set(bound), False)
                block(node.orelse, set(bound), False)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                block(node.body, set(bound), False)
                for handler in node.handlers:
                    read(_loads(handler.type) if handler.type else set())
                    block(handler.body, set(bound) | ({handler.name} if handler.name else set()), False)
                block(node.orelse, set(bound), False)
                block(node.finalbody, set(bound), False)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                args = getattr(node, "args", None)
                read(set().union(set(), *(_loads(d) for d in node.decorator_list),
                                 *(_loads(d) for d in (args.defaults + [k for k in args.kw_defaults if k]
                                                       if args else getattr(node, "bases", [])))))
                bound.add(node.name)
            else:
                read(_loads(node))

    kills = set()
    block(tree.body, kills, True)
    exposed |= nested_reads - kills
    return exposed, kills


_IMMUTABLE_CALLS = {"int", "float", "len", "str", "round", "bool", "abs", "complex", "index", "count"}


def _immutable_value(node):
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.UnaryOp,)):
        return _immutable_value(node.operand)
    if isinstance(node, ast.BinOp):
        return _immutable_value(node.left) and _immutable_value(node.right)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in _IMMUTABLE_CALLS
    if isinstance(node, ast.Name):
        return False
    return False


def _immutable(tree):
    """``{name: bool}``: whether each top-level assignment of the cell binds an immutable value."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = out.get(t.id, True) and _immutable_value(node.value)
                elif isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple) and len(t.elts) == len(node.value.elts):
                    for e, v in zip(t.elts, node.value.elts):
                        for name in _stores(e):
                            out[name] = out.get(name, True) and _immutable_value(v)
                else:
                    for name in _stores(t):
                        out[name] = False
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.With, ast.NamedExpr)):
            target = node.target if not isinstance(node, ast.With) else None
            for name in (_stores(target) if target is not None else set()):
                out[name] = False
    return out


def needed_cells(nb):
    """The indices of the code cells that grading ``nb`` must execute, or ``None`` for all of them.

    Every answer cell and test cell is needed. Going backwards, so is every earlier cell that
    binds a name a needed cell may read before binding it (a *live* name), or may change a live
    name's object in place: it stores into it, calls one of its methods not known to be pure,
    passes it to a function not known to be pure, or calls a function of the notebook that does.
    Names bound only by imports (modules), and names bound only to numbers and strings, cannot
    be changed in place. ``None`` when a code cell's names cannot be followed (see
    :func:`cell_names`).
    """
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    names = {}
    for i in code:
        found = cell_names(nb.cells[i].source)
        if found is None:
            return None
        names[i] = found
    imported = set().union(set(), *(names[i]["imports"] for i in code))
    assigned_otherwise = set().union(set(), *(names[i]["defines"] - names[i]["imports"] for i in code))
    immutable = {}
    for i in code:
        for name, value in names[i]["immutable"].items():
            immutable[name] = immutable.get(name, True) and value
    for i in code:                       # bound by a def, an import, a for loop...: not a plain value
        for name in names[i]["defines"] - set(names[i]["immutable"]):
            immutable[name] = False
    unchangeable = (imported - assigned_otherwise) | {n for n, v in immutable.items() if v}
    # What each function of the notebook may change, through the functions it reads as well.
    function_changes = {}
    for i in code:
        function_changes.update({k: set(v) for k, v in names[i]["functions"].items()})
    grew = True
    while grew:
        grew = False
        for i in code:
            for fname in names[i]["functions"]:
                extra = set().union(set(), *(function_changes.get(r, set())
                                             for r in names[i]["reads"] if r != fname))
                if not extra <= function_changes[fname]:
                    function_changes[fname] |= extra
                    grew = True
    # A function of the notebook changes the arguments bound to the parameters it changes, if it
    # is defined once (a name defined twice, or not by a def, may be anything).
    definitions = {}
    for i in code:
        for name in names[i]["defines"]:
            definitions[name] = definitions.get(name, 0) + 1
    parameters = {}
    for i in code:
        for name, info in names[i]["parameters"].items():
            if definitions.get(name) == 1:
                parameters[name] = info

    readers = set().union(set(), *(names[i]["readers"] for i in code))
    readers -= {name for name, count in definitions.items() if count > 1}

    def passed_changes(calls):
        changed = set()
        for fname, where, arg in calls:
            if fname in readers:
                continue
            if fname not in parameters:
                changed.add(arg)
                continue
            positional, changing = parameters[fname]
            param = positional[where] if isinstance(where, int) and where < len(positional) else where
            if param not in positional and not isinstance(where, str) or param in changing:
                changed.add(arg)
        return changed

    needed, live = set(), set()
    for i in reversed(code):
        meta = _meta(nb.cells[i])
        n = names[i]
        changes = (n["changes"] | passed_changes(n["calls"])
                   | set().union(set(), *(function_changes.get(r, set()) for r in n["reads"])))
        if (meta.get("solution") or meta.get("grade") or n["defines"] & live
                or (changes - unchangeable) & live):
            needed.add(i)
            live = (live - n["kills"]) | n["exposed"]
    return sorted(needed)


# --- 3. Execute -------------------------------------------------------------------------------------

#: The name the grading kernel binds, before any of the submission's code, to the chapter's
#: genuine checks (:func:`statmech_dl.exercises.answer_records.genuine_checks`).
GENUINE = "_statmech_dl_genuine_checks"


def genuine_imports(source, checks_module):
    """A test cell's code with its imports of ``checks_module`` taken from the genuine checks.

    ``from statmech_dl.exercises import <chapter> as checks`` becomes ``checks = GENUINE``, and
    so on for the other spellings of that import, so that a submission that replaced the module's
    checks, or ``builtins.__import__``, before the test cell ran does not choose which check
    records its answer. Other code is left as it is.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    package, _, chapter = checks_module.rpartition(".")
    lines = source.splitlines()
    for node in sorted(tree.body, key=lambda n: n.lineno, reverse=True):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno != node.end_lineno:
            continue
        statements, changed = [], False
        for alias in node.names:
            bound = alias.asname or alias.name
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == package and alias.name == chapter:
                statements.append(f"{bound} = {GENUINE}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == checks_module:
                statements.append(f"{bound} = {GENUINE}.{alias.name}" if alias.name != "*" else ast.unparse(node))
            elif isinstance(node, ast.Import) and alias.name == checks_module and alias.asname:
                statements.append(f"{bound} = {GENUINE}")
            else:
                statements.append(ast.unparse(type(node)(**{**vars(node), "names": [alias]})))
                continue
            changed = True
        if changed:
            line = lines[node.lineno - 1]
            indent = line[:len(line) - len(line.lstrip())]
            lines[node.lineno - 1] = indent + "; ".join(statements)
    return "\n".join(lines)


def armed(run, checks_module):
    """``run`` (a copy of the cells to execute) with its test cells on the genuine checks.

    A first cell, run before any of the submission's code, binds :data:`GENUINE` to
    ``genuine_checks(checks_module)``; each test cell's import of the checks reads it.
    """
    for cell in run.cells:
        if cell.cell_type == "code" and _meta(cell).get("grade"):
            cell.source = genuine_imports(cell.source, checks_module)
    setup = nbformat.v4.new_code_cell(
        "from statmech_dl.exercises.answer_records import genuine_checks as _statmech_dl_genuine\n"
        f"{GENUINE} = _statmech_dl_genuine({checks_module!r})\n"
        "del _statmech_dl_genuine")
    run.cells.insert(0, setup)
    return run


def execute(nb, cells, hide, timeout, memory_gb, sandboxed=True, checks_module=None, kernel_name="python3"):
    """Execute the code cells ``cells`` of ``nb`` (all if ``None``) in the sandbox; fill in their outputs.

    With ``checks_module`` (``statmech_dl.exercises.<chapter>``), the test cells take their
    checks from :func:`armed`'s first cell, which runs before them all. Returns
    ``(exit_code, stderr)`` of the run; ``nb`` holds whatever ran.
    """
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    cells = code if cells is None else cells
    run = copy.deepcopy(nb)
    run.cells = [copy.deepcopy(nb.cells[i]) for i in cells]
    if checks_module:
        armed(run, checks_module)
    with tempfile.TemporaryDirectory(prefix="grading-") as folder:
        src, dst = Path(folder) / "in.ipynb", Path(folder) / "out.ipynb"
        nbformat.write(run, src)
        code_, err = sandbox.execute_notebook(src, dst, hide, timeout, memory_gb, kernel_name, sandboxed)
        if not dst.exists():
            return code_, err or "the sandbox returned no notebook"
        if dst.stat().st_size > MAX_NOTEBOOK_BYTES:
            return code_, f"the executed notebook is over {MAX_NOTEBOOK_BYTES // 2**20} MB"
        executed = nbformat.read(dst, as_version=4)
    if checks_module:
        setup, *executed.cells = executed.cells
        errors = [o for o in setup.get("outputs", []) if o.get("output_type") == "error"]
        if errors:                               # a broken installation, not the submission
            err = f"the checks could not be loaded: {errors[0].get('ename')}: {errors[0].get('evalue')}\n{err}"
    for i, cell in zip(cells, executed.cells):
        nb.cells[i].outputs = cell.get("outputs", [])
        nb.cells[i].execution_count = cell.get("execution_count")
        if "execution" in cell.get("metadata", {}):             # nbclient's timings of the cell
            nb.cells[i].metadata["execution"] = cell.metadata["execution"]
    return code_, err


# --- 4. Judge ---------------------------------------------------------------------------------------

def _error(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def judge_notebook(nb, checks_module):
    """Judge every test cell of the executed ``nb`` from its answer records; return ``{grade_id: (passed, message)}``.

    ``checks_module`` is the chapter's module of checks (``statmech_dl.exercises.<chapter>``),
    imported in this process. Each test cell's outputs are replaced by the verdicts.
    """
    from statmech_dl.exercises import answer_records

    module = importlib.import_module(checks_module)
    verdicts = {}
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        records, kernel_errors = [], []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "display_data" and answer_records.MIME_TYPE in out.get("data", {}):
                records.append(out["data"][answer_records.MIME_TYPE])
            elif out.get("output_type") == "error":
                kernel_errors.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
        outputs, passed, first_failure = [], True, ""
        for name in check_calls(cell.source):
            mine = [r for r in records if isinstance(r, dict) and r.get("check") == name]
            check = getattr(module, name, None)
            if check is None:
                ok, message = False, f"RuntimeError: {checks_module} has no {name}"
            elif len(mine) == 1 and len(json.dumps(mine[0])) <= answer_records.MAX_RECORD_CHARS:
                ok, message = answer_records.judge(check, mine[0])
            elif len(mine) > 1:
                ok, message = False, "AssertionError: the answer was recorded more than once"
            else:
                ok, message = False, (kernel_errors[0] if kernel_errors
                                      else "AssertionError: the check did not run to its verdict")
            if ok:
                outputs.append(nbformat.v4.new_output("stream", name="stdout", text=message + "\n"))
            else:
                ename, _, evalue = message.partition(": ")
                outputs.append(_error(ename, evalue))
                if passed:
                    first_failure = message
                passed = False
                break                          # the cell's remaining checks did not run either
        cell.outputs = outputs
        verdicts[meta["grade_id"]] = (passed, first_failure)
    return verdicts


def verdicts_from_outputs(nb):
    """``{grade_id: (passed, message)}`` read back from the test cells of a judged notebook."""
    verdicts = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and _meta(cell).get("grade"):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            verdicts[_meta(cell)["grade_id"]] = ((False, f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}")
                                                 if errors else (True, ""))
    return verdicts


def scores_and_hints(nb, verdicts):
    """``({grade_id: (score, max_score)}, {grade_id: hint})`` of a judged notebook."""
    stopped, scores, hints = {}, {}, {}
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta:
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        exercise = exercise_of(meta.get("grade_id", ""))
        if meta.get("solution") and errors and errors[-1].get("ename") in STOPPED:
            ename = errors[-1]["ename"]
            stopped[exercise] = f"answer {STOPPED[ename]} ({ename}); "
        if meta.get("grade"):
            gid = meta["grade_id"]
            points = float(meta.get("points", 0))
            passed, message = verdicts.get(gid, (False, "AssertionError: the check did not run"))
            scores[gid] = (points if passed else 0.0, points)
            if not passed:
                hints[gid] = stopped.get(exercise, "") + message
    return scores, hints


# --- The task ---------------------------------------------------------------------------------------

def feedback_html(nb, student, assignment, scores, hints):
    """The feedback page: the scores, then each exercise's statement, the answer and the verdict.

    The chapter's own text and figures are left out: the student has them, and rendering them
    for every submission would cost more than the rest of the grading.
    """
    from nbconvert import HTMLExporter

    total = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
    rows = "\n".join(f"| `{exercise_of(g)}` | {s:g} / {m:g} | {hints.get(g, '').replace('|', '/')} |"
                     for g, (s, m) in scores.items())
    summary = nbformat.v4.new_markdown_cell(
        f"# Feedback: {assignment}\n\nStudent: `{student}`. Score: **{total[0]:g} / {total[1]:g}**.\n\n"
        f"| exercise | points | hint |\n|---|---|---|\n{rows}\n")
    page = copy.deepcopy(nb)
    page.cells = [summary] + [
        c for c in nb.cells
        if (c.cell_type == "markdown" and c.source.startswith("### Exercise"))
        or (c.cell_type == "code" and (_meta(c).get("solution") or _meta(c).get("grade") or not _meta(c)))]
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(page)
    return body


def run_and_judge(nb, cells, hide, timeout, memory_gb, sandboxed, assignment, kernel_name="python3"):
    """Execute ``nb`` as :func:`execute` does, then judge it in this process (:func:`judge_notebook`).

    The one path from a prepared notebook to its verdicts, shared by ``make grade`` and by nbgrader's
    autograde in the sandbox (``nbgrader_sandbox.py``). Returns ``(error, verdicts)``: ``error`` is
    empty unless no cell produced an output and the run failed (the notebook did not run at all).
    """
    checks_module = f"statmech_dl.exercises.{assignment}"
    code, err = execute(nb, cells, hide, timeout, memory_gb, sandboxed, checks_module, kernel_name)
    error = ""
    if code and not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        error = f"the notebook did not run (exit code {code}): {err[-2000:]}"
    return error, judge_notebook(nb, checks_module)


def grade_submission(task):
    """Grade one submission; the unit of work that a Dask worker runs.

    ``task`` is a dict: ``student``, ``assignment``, ``submission`` (the notebook's text),
    ``release`` (the student edition's text), ``timeout`` (seconds per cell), ``memory_gb``,
    ``hide`` (folders the sandbox hides), ``sandboxed`` and ``fast``. Returns a dict: ``scores``,
    ``hints``, ``autograded`` (the judged notebook's text), ``feedback`` (HTML), ``error``,
    ``fast`` (whether only the needed cells ran), ``seconds`` and ``worker`` (the process id).
    """
    start = time.perf_counter()
    result = {"student": task["student"], "assignment": task["assignment"], "scores": {}, "hints": {},
              "autograded": "", "feedback": "", "error": "", "fast": False, "worker": os.getpid()}
    try:
        submission = nbformat.reads(task["submission"], as_version=4)
        release = nbformat.reads(task["release"], as_version=4)
        nb = prepare(submission, release)
        cells = needed_cells(nb) if task.get("fast", True) else None
        result["fast"] = cells is not None
        result["error"], verdicts = run_and_judge(nb, cells, task.get("hide", ()), task["timeout"],
                                                  task["memory_gb"], task.get("sandboxed", True),
                                                  task["assignment"])
        result["scores"], result["hints"] = scores_and_hints(nb, verdicts)
        result["autograded"] = nbformat.writes(nb)
        result["feedback"] = feedback_html(nb, task["student"], task["assignment"], result["scores"],
                                           result["hints"])
    except Exception as err:                     # reported for this submission; the others go on
        result["error"] = f"grading failed: {type(err).__name__}: {err}"
    result["seconds"] = time.perf_counter() - start
    return result


# --- Running the tasks ------------------------------------------------------------------------------

def run(tasks, on_result, scheduler=None, workers=None):
    """Run every task with Dask and call ``on_result(result)`` in this process as each finishes.

    ``scheduler`` is the address of a running Dask scheduler (its workers must run this
    repository's environment with ``tools/`` on their ``PYTHONPATH``); by default a local
    cluster starts with ``workers`` worker processes (one per core), one task at a time each.
    ``workers=0`` grades in this process, one submission after another.
    """
    if not tasks:
        return
    if workers == 0 and scheduler is None:
        for task in tasks:
            on_result(grade_submission(task))
        return
    import logging

    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler, timeout="30s"))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        futures = {client.submit(grade_submission, task, pure=False,
                                 key=f"grade-{task['assignment']}-{task['student']}-{os.urandom(4).hex()}"): task
                   for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                result = future.result()
            except Exception as err:          # the task itself failed (after Dask's retries)
                result = {"student": task["student"], "assignment": task["assignment"], "scores": {},
                          "hints": {}, "autograded": "", "feedback": "", "fast": False, "seconds": 0.0,
                          "error": f"grading failed on the cluster: {type(err).__name__}: {err}"}
            on_result(result)


def start_cluster(folder, workers=2, nanny=True):
    """Start a Dask scheduler and ``workers`` workers as processes of their own on this machine.

    As a deployment runs them (``dask scheduler``, ``dask worker``), with this folder of tools on
    the workers' ``PYTHONPATH``; the scheduler writes its address to ``folder/scheduler.json``.
    Returns ``(address, [scheduler process, worker processes...])``; the caller kills them.
    """
    import subprocess
    import sys

    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    info = Path(folder) / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
             "env": dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))}
    procs = [subprocess.Popen([dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
                              **quiet)]
    procs += [subprocess.Popen([dask, "worker", "--scheduler-file", str(info), "--nthreads", "1", "--no-dashboard",
                                "--nanny" if nanny else "--no-nanny"], **quiet) for _ in range(workers)]
    try:
        deadline = time.time() + 120
        while not info.exists() and time.time() < deadline:
            time.sleep(0.2)
        with Client(scheduler_file=str(info), timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
            address = client.scheduler.address
    except Exception:
        for proc in procs:
            proc.kill()
        raise
    return address, procs


# --- The gradebook ----------------------------------------------------------------------------------

@contextlib.contextmanager
def course_lock(course):
    """An exclusive lock on the course's gradebook and files (another grader waits)."""
    with open(Path(course) / ".grading.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def record(course, result, submission_text):
    """Write one graded submission into the course: gradebook, submitted, autograded and feedback files.

    Returns the path of the feedback page (``""`` if there is none).
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    student, name = result["student"], result["assignment"]
    with course_lock(course):
        _write(course / "submitted" / student / name / f"{name}.ipynb", submission_text)
        _write(course / "submitted" / student / name / "timestamp.txt",
               time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        if result["error"] and not result["scores"]:
            return ""
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, warnings.catch_warnings():
            # nbgrader's own add_submission trips SQLAlchemy's autoflush warnings (harmless).
            warnings.simplefilter("ignore")
            gb.update_or_create_student(student)
            try:
                gb.find_submission(name, student)
            except MissingEntry:
                gb.add_submission(name, student)
            for gid, (score, _) in result["scores"].items():
                grade = gb.find_grade(gid, name, name, student)
                grade.auto_score = score
                grade.needs_manual_grade = False
            gb.db.commit()
        _write(course / "autograded" / student / name / f"{name}.ipynb", result["autograded"])
        feedback = course / "feedback" / student / name / f"{name}.html"
        _write(feedback, result["feedback"])
    return str(feedback)
