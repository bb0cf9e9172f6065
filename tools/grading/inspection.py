"""The notebook's source, read outside any kernel: the banned modules each graded function reaches
(through helpers, globals, builtins or dynamic imports) and what looks like tampering."""

import ast

# Names through which code reaches modules, objects or processes out of a reader's sight: a graded
# function that uses one earns no hidden-test points (as a banned module does).
DYNAMIC = (
    "__import__",
    "importlib",
    "exec",
    "eval",
    "compile",
    "globals",
    "vars",
    "__builtins__",
    "builtins",
    "get_ipython",
    "subprocess",
    "ctypes",
    "sys.modules",
    "multiprocessing",
)
EQUALITY = (
    "__eq__",
    "__ne__",
    "__bool__",
    "__array_ufunc__",
    "__array_function__",
    "__instancecheck__",
    "__subclasscheck__",
)
OS_CALLS = (
    "system",
    "popen",
    "fork",
    "forkpty",
    "kill",
    "killpg",
    "close",
    "closerange",
    "dup",
    "dup2",
    "write",
    "open",
    "fdopen",
    "remove",
    "unlink",
    "rename",
    "renames",
    "replace",
    "rmdir",
    "removedirs",
    "truncate",
    "chmod",
    "putenv",
)
PATH_WRITES = (
    "write_text",
    "write_bytes",
    "unlink",
    "rename",
    "replace",
    "rmdir",
    "touch",
    "chmod",
    "symlink_to",
    "hardlink_to",
)
PROCESS_MODULES = ("subprocess", "multiprocessing", "pty", "ctypes", "signal", "pexpect", "sh")


def cell_text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def python_source(cell: str) -> tuple[str, list[str]]:
    """A code cell as plain Python: IPython magics and shell lines become `pass`; returns the
    source and the magics found."""
    if cell.lstrip().startswith("%%"):
        return "pass", [cell.lstrip().split()[0]]
    lines, magics = [], []
    for line in cell.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("!", "%")):
            magics.append(stripped.split()[0] if stripped.split() else stripped)
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines), magics


def _root(node) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def bound_names(node) -> set[str]:
    """Names a node binds: assignment targets, loop variables, parameters, imports, definitions."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in sub.names}
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            names.add(sub.name)
    return names


def _imports(node, banned) -> set[str]:
    """Banned modules a node imports: import statements and string literals given to
    __import__ or import_module."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            found |= {a.name.split(".")[0] for a in sub.names}
        elif isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
            found.add(sub.module.split(".")[0])
        elif isinstance(sub, ast.Call) and (
            _dotted(sub.func).split(".")[-1] in ("__import__", "import_module")
        ):
            found |= {
                a.value.split(".")[0]
                for a in sub.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
    return found & set(banned)


def _dynamic(node) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in DYNAMIC:
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute) and _dotted(sub) in DYNAMIC:
            found.add(_dotted(sub))
    return found


def _references(node) -> set[str]:
    """Names a definition or statement reads from the notebook's globals."""
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        loaded -= bound_names(node)
    return loaded


def _statements(body):
    """Module-level statements, descending into if/for/while/with/try but not definitions."""
    for statement in body:
        children = [getattr(statement, f, []) for f in ("body", "orelse", "finalbody")]
        children += [h.body for h in getattr(statement, "handlers", [])]
        if isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            yield statement, True
            for child in children:
                yield from _statements(child)
        else:
            yield statement, False


def inspect_notebook(notebook: dict, banned, given: set[str]) -> dict:
    """What the notebook's source shows, read here, outside any kernel:
    {"imports": banned modules imported anywhere, "uses": {global name: banned modules or dynamic
    names it reaches}, "review": what looks like tampering, "errors": cells that are not Python}."""
    banned = tuple(banned)
    trees, errors, review = [], [], set()
    for number, cell in enumerate(c for c in notebook["cells"] if c.get("cell_type") == "code"):
        text = cell_text(cell.get("source", ""))
        source, magics = python_source(text)
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            errors.append(f"code cell {number + 1} is not Python ({error.msg}, line {error.lineno})")
            continue
        trees.append(tree)
        if text.strip() in given:
            continue
        if any(
            m.startswith("!")
            or m.lstrip("%")
            in ("system", "sx", "bash", "sh", "script", "pip", "conda", "writefile", "run", "load")
            for m in magics
        ):
            review.add(f"runs shell commands or magics ({', '.join(sorted(set(magics)))})")
        review |= _tampering(tree)
    modules = {}  # alias -> module
    for tree in trees:
        for sub in ast.walk(tree):
            if isinstance(sub, ast.Import):
                for a in sub.names:
                    modules[(a.asname or a.name).split(".")[0]] = a.asname and a.name or a.name.split(".")[0]
            elif isinstance(sub, ast.ImportFrom) and sub.module:
                for a in sub.names:
                    modules[a.asname or a.name] = f"{sub.module}.{a.name}"
    for tree in trees:  # patching an imported module or object
        for sub in ast.walk(tree):
            targets = []
            if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = sub.targets if isinstance(sub, (ast.Assign, ast.Delete)) else [sub.target]
            elif (
                isinstance(sub, ast.Call) and getattr(sub.func, "id", "") in ("setattr", "delattr") and sub.args
            ):
                targets = [ast.Attribute(value=sub.args[0], attr="?")]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, (ast.Attribute, ast.Subscript)) and _root(node) in modules:
                        what = (_dotted(node) if isinstance(node, ast.Attribute)
                                else (_dotted(node.value) or _root(node)) + "[...]")
                        module = modules[_root(node)]
                        review.add(f"patches {module}{what[len(_root(node)) :]}")
                        break
    imports = set().union(*(_imports(t, banned) for t in trees)) if trees else set()
    bindings: dict[str, set] = {}
    direct: dict[str, set] = {}
    for tree in trees:
        for statement, compound in _statements(tree.body):
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = {statement.name}
                refs = _references(statement)
                found = _imports(statement, banned) | _dynamic(statement)
            elif isinstance(statement, (ast.Import, ast.ImportFrom)):
                for a in statement.names:
                    name = (a.asname or a.name).split(".")[0]
                    root = (a.name if isinstance(statement, ast.Import) else statement.module or "").split(".")[
                        0
                    ]
                    direct.setdefault(name, set()).update({root} & set(banned))
                continue
            else:
                header = (
                    [statement.test]
                    if isinstance(statement, (ast.If, ast.While))
                    else [statement.iter, statement.target]
                    if isinstance(statement, (ast.For, ast.AsyncFor))
                    else [
                        i
                        for w in getattr(statement, "items", [])
                        for i in (w.context_expr, w.optional_vars)
                        if i
                    ]
                    if compound
                    else [statement]
                )
                if compound and not header:
                    continue
                holder = ast.Module(
                    body=[ast.Expr(h) if isinstance(h, ast.expr) else h for h in header], type_ignores=[]
                )
                refs = _references(holder)
                found = _imports(holder, banned) | _dynamic(holder)
                names = {n for n in bound_names(holder)}
                for sub in ast.walk(holder):  # obj.attr = v, obj[k] = v, setattr(obj, ...), obj.update(...)
                    if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, ast.Store):
                        names.add(_root(sub))
                    elif (
                        isinstance(sub, ast.Call)
                        and isinstance(sub.func, ast.Attribute)
                        and sub.func.attr
                        in ("update", "append", "extend", "insert", "setdefault", "add", "__setitem__")
                    ):
                        names.add(_root(sub.func))
                    elif isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "setattr" and sub.args:
                        names.add(_root(sub.args[0]))
                names.discard("")
            for name in names:
                bindings.setdefault(name, set()).update(refs)
                direct.setdefault(name, set()).update(found)
    import builtins

    builtin_names = set(dir(builtins))
    uses = {name: set(direct.get(name, ())) for name in set(bindings) | set(direct)}
    for name, refs in bindings.items():  # names from nowhere (smuggled through builtins) count too
        if imports and any(r not in bindings and r not in direct and r not in builtin_names for r in refs):
            uses[name] |= imports
    changed = True
    while changed:
        changed = False
        for name, refs in bindings.items():
            reached = set().union(*(uses.get(r, set()) for r in refs)) if refs else set()
            if not reached <= uses[name]:
                uses[name] |= reached
                changed = True
    return {
        "imports": sorted(imports),
        "uses": {k: sorted(v) for k, v in uses.items() if v},
        "review": sorted(review),
        "errors": errors,
    }


def _tampering(tree) -> set[str]:
    """What looks like tampering in one cell."""
    found = set()
    for sub in ast.walk(tree):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name in EQUALITY:
            found.add(f"overrides {sub.name}")
        elif isinstance(sub, ast.Constant) and sub.value in EQUALITY:
            found.add(f"overrides {sub.value}")
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in sub.names] if isinstance(sub, ast.Import) else [sub.module or ""]
            for name in names:
                root = name.split(".")[0]
                if root in PROCESS_MODULES:
                    found.add(f"imports {root} (processes or low-level access)")
                elif root in ("importlib", "builtins", "gc", "inspect", "sys") and isinstance(
                    sub, ast.ImportFrom
                ):
                    found.add(f"imports from {root}")
                elif root in ("importlib", "builtins", "gc"):
                    found.add(f"imports {root}")
                elif root == "otter":
                    found.add("uses otter's internals")
        elif isinstance(sub, ast.Name) and sub.id in (
            "exec",
            "eval",
            "compile",
            "__import__",
            "globals",
            "vars",
            "__builtins__",
            "get_ipython",
            "Checker",
        ):
            found.add(f"runs code dynamically ({sub.id})" if sub.id != "Checker" else "uses otter's internals")
        elif isinstance(sub, ast.Attribute):
            dotted = _dotted(sub)
            if dotted == "sys.modules" or dotted.startswith("sys.modules."):
                found.add("changes sys.modules")
            elif dotted.startswith("os.") and (
                dotted.split(".")[1] in OS_CALLS
                or dotted.split(".")[1].startswith(("exec", "spawn", "posix_spawn"))
            ):
                found.add(f"uses {dotted} (files or processes)")
            elif dotted.startswith(("otter.", "grader.")) and not dotted.startswith(
                ("grader.check", "grader.export")
            ):
                found.add(f"uses otter's internals ({dotted})")
            elif sub.attr in PATH_WRITES and isinstance(sub.ctx, ast.Load):
                found.add(f"writes files (.{sub.attr})")
            elif sub.attr.startswith("__") and sub.attr in (
                "__code__",
                "__globals__",
                "__dict__",
                "__class__",
                "__subclasses__",
                "__closure__",
            ):
                found.add(f"reaches {sub.attr}")
        if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "open":
            mode = (
                sub.args[1]
                if len(sub.args) > 1
                else next((k.value for k in sub.keywords if k.arg == "mode"), None)
            )
            reads = mode is None or (
                isinstance(mode, ast.Constant)
                and isinstance(mode.value, str)
                and not set(mode.value) & set("wax+")
            )
            if not reads:
                found.add("writes files (open)")
    return found
