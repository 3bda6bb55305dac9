"""The deblurring solvers behind :func:`convmat.deconvolve2d`.

Modules, each importing only ``_core``, ``_engines`` and those listed before
it: ``restore`` (priors, frequency responses, the weight rules: GML, GCV,
the discrepancy principle, the noise level), ``operators`` (each boundary model's
blur and its adjoint, behind one interface), ``admm`` (ADMM with the mask
splitting, and total variation), ``direct`` (small scenes: the normal
equations factorised, and written exactly as a diagonal model for the weight
rules), ``tikhonov`` (one model, kernel and prior: the exact
transform and direct solvers, ADMM and conjugate gradients to a certified
residual, and the weight).
"""
