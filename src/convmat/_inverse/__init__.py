"""The deblurring solvers behind :func:`convmat.deconvolve2d`.

Modules, each importing only ``_core``, ``_engines`` and those listed before
it: ``restore`` (priors, frequency responses, the weight rules: GML, GCV,
the discrepancy principle, the noise level), ``operators`` (each boundary model's
blur and its adjoint, behind one interface), ``admm`` (ADMM with the mask
splitting, and with one split on a diagonal model), ``direct`` (small scenes:
the normal equations factorised, and written exactly as a diagonal model for
the weight rules), ``model`` (one boundary model and kernel: its operator, its
diagonal model, the weight its rules choose, the solver it takes),
``transform`` (the exact division of a diagonal model), ``cg`` (conjugate
gradients to a certified residual), ``tikhonov`` (a quadratic prior: the
transform, direct, ADMM and CG solvers, and the weight) and ``tv`` (total
variation: ADMM, and its matched weight).
"""
