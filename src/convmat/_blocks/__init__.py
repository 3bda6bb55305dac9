"""Dask machinery of :mod:`convmat.dask` and of ConvOperator on dask batches.

Modules: ``checks`` (dask arrays and kernels, refused before a graph exists),
``window`` (the extended window, halos, one in-memory product per block, the
transpose's fold), ``operator`` (an operator over the chunks of a batch). They
import dask; ``import convmat`` imports none of them.
"""
