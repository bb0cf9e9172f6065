"""The assignments' rule, checked by their hidden tests: answers use Python and NumPy only.

Otter ships this file inside each autograder zip (``autograder_files``) and copies it next to
the submission, so the hidden tests import it in any grading environment; it needs only the
standard library. Students never need it.

``banned_uses(function, ...)`` inspects what a graded function uses: the modules and objects
its code names (looked up in the notebook's globals, its closure and default arguments), the
notebook functions it calls (recursively), and imports inside it. ``banned_imports()`` lists
the banned modules the notebook imported at all, for answers that are values, not functions.
"""

import sys
import types

# Frameworks and libraries that would do the assignment's work (or hold its answers).
BANNED = ("alexnet_book", "keras", "tensorflow", "tf_keras", "torch", "jax", "flax",
          "skimage", "sklearn", "scipy", "cv2", "PIL")
# Names that import or run code dynamically, out of an inspector's sight.
DYNAMIC = ("__import__", "importlib", "exec", "eval", "compile")


def _module_root(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__.split(".")[0]
    try:
        module = getattr(obj, "__module__", None)
    except Exception:  # an object whose attribute lookup fails is not a banned one
        return ""
    return module.split(".")[0] if isinstance(module, str) else ""


def banned_uses(*functions) -> list[str]:
    """The banned modules (and dynamic-import names) the functions use, sorted."""
    found, seen, todo = set(), set(), list(functions)
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        root = _module_root(obj)
        if root in BANNED:
            found.add(root)
            continue
        for attribute in ("__func__", "__wrapped__", "func"):  # methods, decorators, partials
            inner = getattr(obj, attribute, None) if callable(obj) else None
            if inner is not None:
                todo.append(inner)
        code = getattr(obj, "__code__", None)
        if not isinstance(code, types.CodeType):
            continue
        namespace = getattr(obj, "__globals__", {})
        todo += list(getattr(obj, "__defaults__", None) or ())
        todo += list((getattr(obj, "__kwdefaults__", None) or {}).values())
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        codes = [code]
        while codes:
            current = codes.pop()
            codes += [const for const in current.co_consts if isinstance(const, types.CodeType)]
            for name in current.co_names:
                if name in BANNED or name in DYNAMIC:
                    found.add(name)
                elif name in namespace:
                    todo.append(namespace[name])
    return sorted(found)


def banned_imports() -> list[str]:
    """The banned modules imported in this process (by the notebook: otter imports none)."""
    return sorted({name.split(".")[0] for name in sys.modules} & set(BANNED))


def message(what: str, uses: list[str]) -> str:
    return (f"{what} uses {', '.join(uses)}: the rules allow Python and NumPy only, so this "
            "question's hidden tests give no points (see the rules at the top of the notebook)")
