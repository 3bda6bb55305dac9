"""The engines: one convolution matrix applied to batches, and the pipeline that runs them.

Modules, each importing only ``_core`` and those listed before it: ``pool``
(the shared thread pool), ``banded`` (the banded GEMM), ``separable``
(rank-one kernels as a pass along each axis), ``certificate`` (the
FFT's accuracy certified per output, direct sums where it is not: an object
each engine holds), ``engine`` (the matrix applied by each method), ``cost``
(the cost model that picks the fastest method that fits the working-set
budget), ``small`` (small single images by their runs), ``cache``
(engines of one-shot calls), ``fillfft`` (the zero-padded convolution by FFT),
``apply`` (a batch through an engine with scipy's semantics: integers exact,
NaN and inf in place, the fill padding's offset), ``pipeline`` (every product
of arrays: validated request, plan, engine, apply, trim).
"""
