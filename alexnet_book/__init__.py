"""alexnet_book: the small library the chapters of *AlexNet, from paper to practice* share.

Modules: ``profile`` (scale), ``device`` (where it computes), ``data`` (Fashion-MNIST,
offline), ``models`` and ``layers`` (the networks), ``augment`` (section 4.1's
augmentation), ``pipeline`` (tf.data), ``training`` (the paper's recipe and the chapters'
one training run), ``speed`` (precision, XLA, throughput), ``tracking`` (W&B and
codecarbon), ``results`` (stored measurements), ``plots`` (figures), ``page`` (a
chapter's Key results box), ``claims`` (the paper's claims, tested: a package), ``stats``
(intervals, verdicts, power) and ``cli`` (shared argument types).
"""

__version__ = "0.1.0"
