"""alexnet_book: the small library the chapters of *AlexNet, from paper to practice* share.

Modules: ``profile`` (scale), ``data`` (Fashion-MNIST, offline), ``tracking`` (W&B and
codecarbon), ``models`` and ``layers`` (the networks), ``plots`` (figures).
"""

__version__ = "0.1.0"
