"""Inside CNNs: the helper package of the course notebooks.

Modules by topic (data flows one way): ``runtime`` -> ``data`` -> ``models`` -> ``training`` ->
topic modules (``counting``, ...) -> notebook.
"""

__version__ = "0.1.0"
